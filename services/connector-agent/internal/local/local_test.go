package local

import (
	"context"
	"testing"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

func TestScrubber(t *testing.T) {
	t.Parallel()
	scrub := Scrubber(map[string]string{"password": "Winter2026!", "longer": "Winter2026!-and-more", "pin": "123"})
	tests := map[string]string{
		"401 for CORP\\svc with Winter2026!":            "401 for CORP\\svc with [redacted]",
		"echo Winter2026!-and-more back":                "echo [redacted] back",
		"a short value like 123 stays, it is no secret": "a short value like 123 stays, it is no secret",
	}
	for in, want := range tests {
		if got := scrub(in); got != want {
			t.Errorf("scrub(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := Open(ctx, platform.Memory, map[string]string{"endpoint": "http://127.0.0.1:1", "tenant": "t"}, map[string]string{"token": "tok-1234"}); err != nil {
		t.Errorf("memory: %v", err)
	}
	// The EWS connector is linked: its settings are checked on opening.
	if _, err := Open(ctx, platform.Exchange, map[string]string{"ewsUrl": "https://mail.example/EWS/Exchange.asmx", "username": `CORP\svc`}, map[string]string{"password": "Winter2026!"}); err != nil {
		t.Errorf("exchange: %v", err)
	}
	if _, err := Open(ctx, platform.Exchange, map[string]string{"ewsUrl": "https://mail.example/EWS/Exchange.asmx", "username": `CORP\svc`, "auth": "kerberos"}, map[string]string{"password": "Winter2026!"}); !errs.Is(err, errs.Invalid) {
		t.Errorf("exchange with an unknown auth: %v, want %s", err, errs.Invalid)
	}
	if _, err := Open(ctx, platform.M365, nil, nil); !errs.Is(err, errs.Invalid) {
		t.Errorf("a cloud platform on the agent: %v, want %s", err, errs.Invalid)
	}
}
