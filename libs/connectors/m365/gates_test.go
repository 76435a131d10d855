package m365

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGatesAdaptToThrottling: 429s halve a mailbox's concurrency down to
// one request at a time; successes earn it back up to the cap; mailboxes
// do not affect each other; the cap is never exceeded.
func TestGatesAdaptToThrottling(t *testing.T) {
	t.Parallel()
	g := newGates(4)
	ctx := context.Background()
	hit := func(mb string, throttled bool) {
		rel, err := g.acquire(ctx, mb)
		if err != nil {
			t.Fatal(err)
		}
		rel(throttled)
	}
	if c := g.concurrency("a"); c != 4 {
		t.Fatalf("start at %d, want the cap 4", c)
	}
	hit("a", true)
	hit("a", true)
	if c := g.concurrency("a"); c != 1 {
		t.Fatalf("after two 429s: %d, want 1", c)
	}
	hit("a", true)
	if c := g.concurrency("a"); c != 1 {
		t.Fatalf("never below 1, got %d", c)
	}
	if c := g.concurrency("B"); c != 4 {
		t.Fatalf("another mailbox was slowed down: %d", c)
	}
	for i := 0; i < 10+20+30; i++ {
		hit("A", false) // mailbox ids are case-insensitive
	}
	if c := g.concurrency("a"); c != 4 {
		t.Fatalf("after a run of successes: %d, want back at 4", c)
	}

	// Under load the in-flight count never passes the current limit.
	hit("c", true) // limit 2
	var inFlight, peak atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rel, err := g.acquire(ctx, "c")
			if err != nil {
				t.Error(err)
				return
			}
			n := inFlight.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(2 * time.Millisecond)
			inFlight.Add(-1)
			rel(false)
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 2 || p < 1 {
		t.Fatalf("peak %d in flight with a limit of 2", p)
	}
	cctx, cancel := context.WithCancel(ctx)
	blockers := []func(bool){}
	for i := 0; i < g.concurrency("d"); i++ {
		rel, _ := g.acquire(ctx, "d")
		blockers = append(blockers, rel)
	}
	cancel()
	if _, err := g.acquire(cctx, "d"); err == nil {
		t.Fatal("a full mailbox gate ignored a cancelled context")
	}
	for _, rel := range blockers {
		rel(false)
	}
}
