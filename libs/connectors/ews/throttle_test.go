package ews_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
)

// retry calls fn the way the transfer engine does: throttled answers are
// waited out for as long as they ask, transient failures tried again.
func retry(t *testing.T, ctx context.Context, fn func() error, throttles *atomic.Int64, seen func(*errs.Error)) {
	t.Helper()
	for i := 0; ; i++ {
		err := fn()
		if err == nil {
			return
		}
		e, ok := errs.As(err)
		if ok && e.Code == errs.Unavailable && i < 50 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !ok || e.Code != errs.Throttled || i > 500 {
			t.Errorf("call failed: %v", err)
			return
		}
		if e.RetryAfter <= 0 {
			t.Errorf("throttled without a wait: %v", err)
		}
		if throttles != nil {
			throttles.Add(1)
		}
		if seen != nil {
			seen(e)
		}
		select {
		case <-ctx.Done():
			t.Errorf("context ended while throttled: %v", err)
			return
		case <-time.After(min(e.RetryAfter, 2*time.Second)):
		}
	}
}

// TestThrottlingStorm writes from many goroutines into one mailbox whose
// throttling budget and concurrency are small: ErrorServerBusy reaches the
// caller as errs.Throttled carrying Exchange's BackOffMilliseconds (what
// the engine shows as "throttled" and waits), the mailbox's concurrency
// drops, and every item lands exactly once.
func TestThrottlingStorm(t *testing.T) {
	t.Parallel()
	// 10 requests of budget at once, recharging 50 a second; 3 at a time.
	sb := newSandbox(t, sandbox.Config{Limits: sandbox.Limits{MaxConcurrency: 3, Burst: 200 * time.Millisecond,
		RequestCost: 20 * time.Millisecond, RechargePerHour: time.Hour}, Faults: sandbox.Faults{Latency: 5 * time.Millisecond}})
	cfg := configFor(t, sb)
	cfg.MaxConcurrentPerMailbox, cfg.StartConcurrentPerMailbox = 10, 10 // more than the sandbox allows
	c := open(t, cfg)
	ctx := ctxFor(t)
	mb := addMailbox(t, sb, "storm")
	var inbox platform.Folder
	retry(t, ctx, func() error {
		folders, err := c.Folders(ctx, mb)
		for _, f := range folders {
			if f.Role == platform.RoleInbox {
				inbox = f
			}
		}
		return err
	}, nil, nil)
	const n = 40
	var throttles atomic.Int64
	var mu sync.Mutex
	var waits []time.Duration
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				msg := platformtest.Message(fmt.Sprintf("storm %d", i), 800)
				retry(t, ctx, func() error {
					_, err := c.WriteItem(ctx, mb, inbox.ID, msg, fmt.Sprintf("mf-storm-%d", i))
					return err
				}, &throttles, func(e *errs.Error) {
					if !strings.Contains(e.Cause, "ErrorServerBusy") || !strings.Contains(e.Action, "waits") {
						t.Errorf("throttling error %+v does not say what happened", e)
					}
					mu.Lock()
					waits = append(waits, e.RetryAfter)
					mu.Unlock()
				})
			}
		}(w)
	}
	wg.Wait()
	if got, _ := sb.FolderItemCount(mb, "inbox"); got != n {
		t.Errorf("after the storm the inbox holds %d messages, want exactly %d", got, n)
	}
	for i := 0; i < n; i++ {
		var found []platform.Placed
		retry(t, ctx, func() (err error) { found, err = c.FindByMarker(ctx, mb, fmt.Sprintf("mf-storm-%d", i)); return err }, nil, nil)
		if len(found) != 1 {
			t.Errorf("marker %d: %d copies", i, len(found))
		}
	}
	if throttles.Load() == 0 || sb.Throttled() == 0 {
		t.Fatalf("no throttling seen (connector %d, sandbox %d); the storm did not storm", throttles.Load(), sb.Throttled())
	}
	if c.Concurrency(mb) >= 10 {
		t.Errorf("the mailbox's concurrency is still %d after %d throttled answers", c.Concurrency(mb), throttles.Load())
	}
	t.Logf("%d throttled answers (waits %v); concurrency now %d", throttles.Load(), waits, c.Concurrency(mb))
}

// TestServerBusyCarriesTheBackOff: a mailbox whose budget is spent gets
// errs.Throttled with the wait Exchange named (BackOffMilliseconds), and
// the call works after that wait.
func TestServerBusyCarriesTheBackOff(t *testing.T) {
	t.Parallel()
	// Five requests of budget; one more every 300 ms.
	sb := newSandbox(t, sandbox.Config{Limits: sandbox.Limits{Burst: 250 * time.Millisecond, RequestCost: 50 * time.Millisecond,
		RechargePerHour: 600 * time.Second}})
	c := open(t, configFor(t, sb))
	mb := addMailbox(t, sb, "busy")
	if _, err := c.Folders(ctxFor(t), mb); err != nil { // three requests
		t.Fatal(err)
	}
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = c.FindByMarker(ctxFor(t), mb, "mf-busy") // one request each
	}
	e, ok := errs.As(err)
	if !ok || e.Code != errs.Throttled || e.RetryAfter <= 0 || e.RetryAfter > 300*time.Millisecond {
		t.Fatalf("a spent budget: %v, want %s with a wait of at most 300ms", err, errs.Throttled)
	}
	if !strings.Contains(e.Cause, mb) || !strings.Contains(e.Cause, "ErrorServerBusy") || !strings.Contains(e.Cause, e.RetryAfter.String()) {
		t.Errorf("cause %q does not say who is throttled, why and for how long", e.Cause)
	}
	time.Sleep(e.RetryAfter + 50*time.Millisecond)
	if _, err := c.FindByMarker(ctxFor(t), mb, "mf-busy"); err != nil {
		t.Fatalf("after the back-off: %v", err)
	}
}

// TestLostAnswerWritesOnce: the connection drops after Exchange has stored
// the item and before the answer arrives. The connector never sends the
// CreateItem again blindly: it finds the item by its marker, so every
// message is stored exactly once although the answers to some creates
// were lost.
func TestLostAnswerWritesOnce(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	c := open(t, configFor(t, sb))
	ctx := ctxFor(t)
	mb := addMailbox(t, sb, "flaky")
	inbox := folderByRole(t, c, mb, platform.RoleInbox)
	sb.Exchanges() // only the writes count below
	sb.SetFaults(sandbox.Faults{DropResponseEvery: 3})
	const n = 20
	for i := 0; i < n; i++ {
		msg := platformtest.Message(fmt.Sprintf("flaky %d", i), 600)
		retry(t, ctx, func() error {
			_, err := c.WriteItem(ctx, mb, inbox.ID, msg, fmt.Sprintf("mf-flaky-%d", i))
			return err
		}, nil, nil)
	}
	sb.SetFaults(sandbox.Faults{})
	answered := 0
	for _, x := range sb.Exchanges() {
		if x.Op == "CreateItem" {
			answered++
		}
	}
	if got, _ := sb.FolderItemCount(mb, "inbox"); got != n {
		t.Fatalf("the inbox holds %d messages, want exactly %d", got, n)
	}
	if answered >= n {
		t.Fatalf("all %d creates were answered; no answer was lost, so nothing was proven", answered)
	}
	for i := 0; i < n; i++ {
		found, err := c.FindByMarker(ctx, mb, fmt.Sprintf("mf-flaky-%d", i))
		if err != nil || len(found) != 1 {
			t.Errorf("marker %d: %+v %v", i, found, err)
		}
	}
	t.Logf("%d messages stored once each; %d of their creates lost their answers", n, n-answered)
}
