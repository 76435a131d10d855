package google_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"

	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

func TestGmailUserQuotaIsChargedPerMethod(t *testing.T) {
	// 30 units: one import (25) and one list (5) fit, the next get does not.
	sb := start(t, sandbox.Config{Domain: "acme.example", Limits: sandbox.Limits{Window: time.Hour, GmailUserUnits: 30}})
	sb.AddUser("ana@acme.example", "Ana Lima")
	sb.AddUser("bob@acme.example", "Bob Stone")
	ana := gmailFor(t, sb, "ana@acme.example")
	m, err := ana.Users.Messages.Import("me", &gmail.Message{}).Media(strings.NewReader(sampleMIME)).Do()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ana.Users.Messages.List("me").Do(); err != nil {
		t.Fatal(err)
	}
	_, err = ana.Users.Messages.Get("me", m.Id).Do()
	ge := apiErr(t, err)
	if ge.Code != 429 || reason(ge) != "userRateLimitExceeded" || ge.Errors[0].Message == "" ||
		!strings.Contains(ge.Message, "Queries per minute per user") {
		t.Fatalf("over quota: %d %s %q", ge.Code, reason(ge), ge.Message)
	}
	if sb.Throttled() != 1 || sb.GmailUnits("ana@acme.example") != 30 {
		t.Fatalf("throttled %d, units %d", sb.Throttled(), sb.GmailUnits("ana@acme.example"))
	}
	// Other users have their own budget.
	if _, err := gmailFor(t, sb, "bob@acme.example").Users.Messages.List("me").Do(); err != nil {
		t.Fatalf("bob: %v", err)
	}
	// Google has answered the same refusal with 403 for years.
	sb.SetLimits(sandbox.Limits{Window: time.Hour, GmailUserUnits: 30, UserQuotaStatus: 403})
	_, err = ana.Users.Messages.Get("me", m.Id).Do()
	if ge := apiErr(t, err); ge.Code != 403 || reason(ge) != "userRateLimitExceeded" {
		t.Fatalf("403 variant: %d %s", ge.Code, reason(ge))
	}
}

func TestGmailQuotaWindowRefills(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example", Limits: sandbox.Limits{Window: 200 * time.Millisecond, GmailUserUnits: 10}})
	sb.AddUser("ana@acme.example", "Ana Lima")
	svc := gmailFor(t, sb, "ana@acme.example")
	throttled := false
	for range 3 {
		if _, err := svc.Users.Messages.List("me").Do(); err != nil {
			if ge := apiErr(t, err); ge.Code != 429 {
				t.Fatal(err)
			}
			throttled = true
		}
	}
	if !throttled {
		t.Fatal("three lists (15 units) fitted a 10-unit budget")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := svc.Users.Messages.List("me").Do()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the window never refilled: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestGmailProjectQuotaAnswers403RateLimitExceeded(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example", Limits: sandbox.Limits{Window: time.Hour, GmailProjectUnits: 10}})
	sb.AddUser("ana@acme.example", "Ana Lima")
	sb.AddUser("bob@acme.example", "Bob Stone")
	for range 2 {
		if _, err := gmailFor(t, sb, "ana@acme.example").Users.Messages.List("me").Do(); err != nil {
			t.Fatal(err)
		}
	}
	_, err := gmailFor(t, sb, "bob@acme.example").Users.Messages.List("me").Do()
	if ge := apiErr(t, err); ge.Code != 403 || reason(ge) != "rateLimitExceeded" || !strings.Contains(ge.Message, "'Queries per minute'") {
		t.Fatalf("project quota: %d %s %q", ge.Code, reason(ge), ge.Message)
	}
}

func TestGmailConcurrentRequestsPerUserAreLimited(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example", Limits: sandbox.Limits{GmailConcurrent: 2},
		Faults: sandbox.Faults{Latency: 300 * time.Millisecond}})
	sb.AddUser("ana@acme.example", "Ana Lima")
	svc := gmailFor(t, sb, "ana@acme.example")
	if _, err := svc.Users.GetProfile("me").Do(); err != nil { // fetch the token first
		t.Fatal(err)
	}
	var mu sync.Mutex
	ok, refused := 0, 0
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			_, err := svc.Users.Labels.List("me").Do()
			mu.Lock()
			defer mu.Unlock()
			var ge *googleapi.Error
			switch {
			case err == nil:
				ok++
			case errors.As(err, &ge) && ge.Code == 429 && ge.Message == "Too many concurrent requests for user":
				refused++
			}
		})
	}
	wg.Wait()
	if ok < 2 || refused == 0 || ok+refused != 6 {
		t.Fatalf("ok %d, refused %d", ok, refused)
	}
}

func TestFaultsFailAndDropRequests(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	svc := gmailFor(t, sb, "ana@acme.example")
	if _, err := svc.Users.GetProfile("me").Do(); err != nil {
		t.Fatal(err)
	}
	sb.SetFaults(sandbox.Faults{FailEvery: 2})
	var failed int
	for range 4 {
		if _, err := svc.Users.GetProfile("me").Do(); err != nil {
			if ge := apiErr(t, err); ge.Code != 503 || reason(ge) != "backendError" {
				t.Fatalf("fault: %d %s", ge.Code, reason(ge))
			}
			failed++
		}
	}
	if failed != 2 {
		t.Fatalf("%d of 4 failed", failed)
	}
	sb.SetFaults(sandbox.Faults{DropEvery: 1})
	_, err := svc.Users.GetProfile("me").Do()
	var ge *googleapi.Error
	if err == nil || errors.As(err, &ge) {
		t.Fatalf("dropped connection gave %v", err)
	}
}
