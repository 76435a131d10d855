package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
)

func TestErrorRoundTrip(t *testing.T) {
	t.Parallel()
	const secret = "Sup3r-Secret-Passw0rd"
	scrub := func(s string) string { return strings.ReplaceAll(s, secret, "[redacted]") }
	tests := []struct {
		name      string
		err       error
		code      errs.Code
		coded     bool
		after     time.Duration
		field     string
		wantCause string
	}{
		{"coded", errs.New(errs.NotFound, "mailbox x does not exist", "list again"), errs.NotFound, true, 0, "", "mailbox x does not exist"},
		{"throttled keeps Retry-After", errs.Throttle(1500*time.Millisecond, "server busy"), errs.Throttled, true, 1500 * time.Millisecond, "", "server busy"},
		{"field", errs.Field("ewsUrl", "not a URL"), errs.Invalid, true, 0, "ewsUrl", "not a URL"},
		{"wrapped keeps the inner text", errs.Wrap(errs.AuthFailed, errors.New("401 for user svc with password "+secret), "EWS refused the account", "check it"), errs.AuthFailed, true, 0, "", "EWS refused the account: 401 for user svc with password [redacted]"},
		{"uncoded stays uncoded", fmt.Errorf("dial tcp 10.0.0.5:443: %w", errors.New("connection refused")), errs.Internal, false, 0, "", "dial tcp 10.0.0.5:443: connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(EncodeError(tc.err, scrub))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), secret) {
				t.Fatalf("the secret is on the wire: %s", data)
			}
			var back Error
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			got := back.Err()
			e, coded := errs.As(got)
			if coded != tc.coded || errs.CodeOf(got) != tc.code {
				t.Fatalf("got %#v: coded %v code %s, want coded %v code %s", got, coded, errs.CodeOf(got), tc.coded, tc.code)
			}
			if !coded {
				if got.Error() != tc.wantCause {
					t.Errorf("text %q, want %q", got.Error(), tc.wantCause)
				}
				return
			}
			if e.Cause != tc.wantCause || e.RetryAfter != tc.after || e.Field != tc.field {
				t.Errorf("got cause %q after %s field %q, want %q %s %q", e.Cause, e.RetryAfter, e.Field, tc.wantCause, tc.after, tc.field)
			}
		})
	}
	if EncodeError(nil, nil) != nil || (*Error)(nil).Err() != nil {
		t.Error("nil must stay nil")
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"agt_0123456789abcdef":         true,
		"AbC-_123xyzAbC-_123xyz":       true,
		"short":                        false,
		"agt_0123.456789":              false,
		"agt_*":                        false,
		"agt_>12345678":                false,
		"agt_0123456789 abcdef":        false,
		strings.Repeat("a", 81):        false,
		"agent.call.agt_0123456789abc": false,
	} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

// TestDispatchWithoutOptionalInterfaces: a local connector without the
// optional interfaces answers as the engine expects of such a connector.
func TestDispatchWithoutOptionalInterfaces(t *testing.T) {
	t.Parallel()
	tn := memory.NewStore().AddTenant("plain", "plain.test")
	plain := struct{ platform.Connector }{tn} // hides CreateMailbox
	ctx := context.Background()
	res, _ := Answer(ctx, plain, Call{ID: "c1", Op: OpCreateMailbox, Args: Args{Mailbox: &platform.Mailbox{PrimaryAddress: "x@plain.test"}}}, nil, nil)
	if res.Error == nil || res.Error.Code != errs.MailboxMissing {
		t.Errorf("create without a provisioner: %+v, want %s", res.Error, errs.MailboxMissing)
	}
	res, _ = Answer(ctx, plain, Call{ID: "c2", Op: OpNativeReadFormat}, nil, nil)
	if res.Error != nil || string(res.Value) != `""` {
		t.Errorf("native format without a native path: %s %+v, want no format", res.Value, res.Error)
	}
	res, _ = Answer(ctx, plain, Call{ID: "c3", Op: "teleport"}, nil, nil)
	if res.Error == nil || res.Error.Code != errs.UnsupportedPlatform {
		t.Errorf("unknown op: %+v", res.Error)
	}
	res, _ = Answer(ctx, plain, Call{ID: "c4", Op: OpReadItem}, nil, nil)
	if res.Error == nil || res.Error.Field != "ref" {
		t.Errorf("read without a ref: %+v", res.Error)
	}
}
