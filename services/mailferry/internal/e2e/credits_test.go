package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/services/mailferry/internal/client"
)

// discoverAndMap runs discovery and excludes the mapping's exceptions, so
// the project's runnable mailboxes are the sandbox's matched ones.
func discoverAndMap(t *testing.T, a api, pid string) {
	t.Helper()
	var created struct {
		Run run `json:"run"`
	}
	a.must("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "discovery"}, &created)
	if r := a.waitRun(created.Run.ID, 2*time.Minute); r.State != "completed" {
		t.Fatalf("discovery: %+v", r)
	}
	var mp struct {
		Entries []mappingEntry `json:"entries"`
	}
	a.must("GET", "/api/projects/"+pid+"/mapping?exceptionsOnly=true", nil, &mp)
	for _, e := range mp.Entries {
		a.must("PATCH", "/api/projects/"+pid+"/mapping", map[string]any{"edits": []any{map[string]string{"source": e.Source.PrimaryAddress, "action": "exclude"}}}, nil)
	}
}

func destinationItems(t *testing.T, sb *sandbox) int {
	n := 0
	mbs, _ := sb.dst.ListMailboxes(t.Context())
	for _, m := range mbs {
		n += sb.dst.Count(m.ID)
	}
	return n
}

// TestInsufficientCredits: a full run the balance cannot cover is refused
// up front with "needs N credits, has M", and nothing moves.
func TestInsufficientCredits(t *testing.T) {
	sb := newSandbox(t, 4, 10) // 3 mapped mailboxes
	c := startCluster(t)
	a, _, _, pid := setup(t, c.api, sb, 2)
	discoverAndMap(t, a, pid)

	var resp struct {
		Run run `json:"run"`
	}
	code, err := a.do("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "full"}, &resp)
	apiErr, ok := err.(*client.APIError)
	if code != 402 || !ok || apiErr.Code != "credits_insufficient" || apiErr.Cause != "needs 3 credits, has 2" {
		t.Fatalf("got %d %v, want 402 credits_insufficient \"needs 3 credits, has 2\"", code, err)
	}
	if resp.Run.State != "rejected" {
		t.Fatalf("run state %q", resp.Run.State)
	}
	var bal balance
	a.must("GET", "/api/credits", nil, &bal)
	if bal.Available != 2 || bal.Held != 0 || bal.Consumed != 0 {
		t.Fatalf("balance after a refused run: %+v", bal)
	}
	time.Sleep(300 * time.Millisecond) // give a wrong transfer a chance to show
	dump := bustest.Dump(t, c.bus)
	if strings.Contains(dump, "transfer.run_started") || strings.Contains(dump, "transfer.mailbox_job") {
		t.Fatal("a transfer job was emitted for a refused run")
	}
	if n := destinationItems(t, sb); n != 0 {
		t.Fatalf("%d items moved for a refused run", n)
	}
	// Nor can a free delta run move mailboxes no full run paid for.
	if code, err := a.do("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "delta"}, nil); code != 422 {
		t.Fatalf("delta without a full run: %d %v, want 422", code, err)
	}
}

// TestCreditRace: two full runs race for a balance that covers one; exactly
// one proceeds and the balance is never overdrawn.
func TestCreditRace(t *testing.T) {
	sb := newSandbox(t, 4, 5)
	c := startCluster(t)
	a, _, _, pidA := setup(t, c.api, sb, 4) // each project needs 3
	var p struct {
		ID string `json:"id"`
	}
	a.must("POST", "/api/projects", map[string]string{"name": "second", "source": "memory", "destination": "memory"}, &p)
	pidB := p.ID
	for side, tn := range map[string]*memory.Tenant{"source": sb.src, "destination": sb.dst} {
		a.must("PUT", "/api/projects/"+pidB+"/credentials/"+side, map[string]any{"fields": map[string]string{"endpoint": sb.url, "tenant": tn.Name()}, "secrets": map[string]string{"token": tn.Token()}}, nil)
	}
	discoverAndMap(t, a, pidA)
	discoverAndMap(t, a, pidB)

	codes := make([]int, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, pid := range []string{pidA, pidB} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i], _ = a.do("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "full"}, nil)
		}()
	}
	close(start)
	wg.Wait()
	won, lost := 0, 0
	for _, code := range codes {
		switch code {
		case 201:
			won++
		case 402:
			lost++
		}
	}
	if won != 1 || lost != 1 {
		t.Fatalf("answers %v: want exactly one run approved (201) and one refused (402)", codes)
	}
	bustest.Eventually(t, 2*time.Minute, "the winning run to consume its credits", func() bool {
		var bal balance
		a.do("GET", "/api/credits", nil, &bal)
		return bal.Consumed == 3 && bal.Held == 0
	})
	var bal balance
	a.must("GET", "/api/credits", nil, &bal)
	if bal.Available != 1 {
		t.Fatalf("balance %+v: want 1 available", bal)
	}
}

type progressRun struct {
	Totals struct {
		Items int `json:"items"`
	} `json:"totals"`
}

// TestCancelReleasesHolds: cancelling a full run stops it; mailboxes that
// never started are not charged and their holds are released.
func TestCancelReleasesHolds(t *testing.T) {
	sb := newSandbox(t, 4, 40)
	sb.dst.SetFaults(memory.Faults{WriteDelay: 50 * time.Millisecond})
	c := startCluster(t, "MAILFERRY_TRANSFER_CONCURRENCY=1")
	a, _, _, pid := setup(t, c.api, sb, 3)
	discoverAndMap(t, a, pid)
	var created struct {
		Run run `json:"run"`
	}
	a.must("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "full"}, &created)
	bustest.Eventually(t, time.Minute, "items moving", func() bool {
		var p progressRun
		a.do("GET", "/api/runs/"+created.Run.ID+"/progress", nil, &p)
		return p.Totals.Items >= 3
	})
	a.must("POST", "/api/runs/"+created.Run.ID+"/cancel", nil, nil)
	if r := a.waitRun(created.Run.ID, 2*time.Minute); r.State != "cancelled" {
		t.Fatalf("run ended %s, want cancelled", r.State)
	}
	var bal balance
	bustest.Eventually(t, time.Minute, "holds released", func() bool {
		a.do("GET", "/api/credits", nil, &bal)
		return bal.Held == 0
	})
	if bal.Consumed < 1 || bal.Consumed >= 3 || bal.Available != 3-bal.Consumed {
		t.Fatalf("balance after cancel %+v: want only started mailboxes charged and the rest released", bal)
	}
	if n := destinationItems(t, sb); n >= 120 {
		t.Fatalf("cancel did not stop the run: %d items moved", n)
	}
	// A free delta run afterwards covers only the mailboxes that were paid for.
	var delta struct {
		Run struct {
			ID        string `json:"id"`
			Mailboxes int    `json:"mailboxes"`
		} `json:"run"`
	}
	a.must("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "delta"}, &delta)
	if delta.Run.Mailboxes != bal.Consumed {
		t.Fatalf("delta run covers %d mailboxes, but only %d were charged", delta.Run.Mailboxes, bal.Consumed)
	}
}

// TestPurchaseRetryWithIdempotencyKey: an operator retrying a purchase after
// a timeout, with the same Idempotency-Key, buys once.
func TestPurchaseRetryWithIdempotencyKey(t *testing.T) {
	sb := newSandbox(t, 2, 1)
	c := startCluster(t)
	a, _, acct, pid := setup(t, c.api, sb, 0)
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("POST", c.api+"/api/accounts/"+acct+"/credits", strings.NewReader(`{"amount": 7, "reference": "po-1"}`))
		req.Header.Set("Authorization", "Bearer "+operatorKey)
		req.Header.Set("Idempotency-Key", "po-1-attempt")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("purchase attempt %d: %d", i, resp.StatusCode)
		}
	}
	var bal balance
	a.must("GET", "/api/credits", nil, &bal)
	if bal.Purchased != 7 {
		t.Fatalf("three attempts with one key bought %d credits, want 7", bal.Purchased)
	}

	// A run naming mailboxes is all or nothing unless told otherwise.
	discoverAndMap(t, a, pid)
	code, _ := a.do("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "prestage", "mailboxes": []string{sb.sources[0].PrimaryAddress, "typo@source.example"}}, nil)
	if code != 422 {
		t.Fatalf("a run naming an unknown mailbox: %d, want 422", code)
	}
	var ok struct {
		Run struct {
			Mailboxes int `json:"mailboxes"`
		} `json:"run"`
	}
	a.must("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "prestage", "mailboxes": []string{sb.sources[0].PrimaryAddress, "typo@source.example"}, "allowPartial": true}, &ok)
	if ok.Run.Mailboxes != 1 {
		t.Fatalf("partial run covers %d mailboxes, want 1", ok.Run.Mailboxes)
	}
}

// TestBadDestinationChargesNothing: credentials that broke after discovery
// fail every mailbox with a clear code before it starts, so no credit is
// consumed and every hold comes back.
func TestBadDestinationChargesNothing(t *testing.T) {
	sb := newSandbox(t, 3, 5)
	c := startCluster(t)
	a, _, _, pid := setup(t, c.api, sb, 5)
	discoverAndMap(t, a, pid)
	a.must("PUT", "/api/projects/"+pid+"/credentials/destination", map[string]any{"fields": map[string]string{"endpoint": sb.url, "tenant": "dst"}, "secrets": map[string]string{"token": "revoked-token"}}, nil)
	var created struct {
		Run run `json:"run"`
	}
	a.must("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "full"}, &created)
	if r := a.waitRun(created.Run.ID, 2*time.Minute); r.State != "failed" {
		t.Fatalf("run ended %s, want failed", r.State)
	}
	var prog struct {
		Mailboxes []struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		} `json:"mailboxes"`
	}
	bustest.Eventually(t, time.Minute, "mailbox errors in progress", func() bool {
		a.do("GET", "/api/runs/"+created.Run.ID+"/progress", nil, &prog)
		return len(prog.Mailboxes) == 2 && prog.Mailboxes[0].Error.Code != ""
	})
	for _, m := range prog.Mailboxes {
		if m.Error.Code != "platform_auth_failed" {
			t.Fatalf("mailbox error %q, want platform_auth_failed", m.Error.Code)
		}
	}
	var bal balance
	bustest.Eventually(t, time.Minute, "holds released", func() bool {
		a.do("GET", "/api/credits", nil, &bal)
		return bal.Held == 0
	})
	if bal.Consumed != 0 || bal.Available != 5 {
		t.Fatalf("balance %+v: nothing may be charged for mailboxes that never started", bal)
	}
}
