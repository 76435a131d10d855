package pacing

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
	g := NewGates(4)
	ctx := context.Background()
	hit := func(mb string, throttled bool) {
		rel, err := g.Acquire(ctx, mb)
		if err != nil {
			t.Fatal(err)
		}
		rel(throttled)
	}
	if c := g.Concurrency("a"); c != 4 {
		t.Fatalf("start at %d, want the cap 4", c)
	}
	hit("a", true)
	hit("a", true)
	if c := g.Concurrency("a"); c != 1 {
		t.Fatalf("after two 429s: %d, want 1", c)
	}
	hit("a", true)
	if c := g.Concurrency("a"); c != 1 {
		t.Fatalf("never below 1, got %d", c)
	}
	if c := g.Concurrency("B"); c != 4 {
		t.Fatalf("another mailbox was slowed down: %d", c)
	}
	for i := 0; i < 10+20+30; i++ {
		hit("A", false) // mailbox ids are case-insensitive
	}
	if c := g.Concurrency("a"); c != 4 {
		t.Fatalf("after a run of successes: %d, want back at 4", c)
	}

	g.Throttled("e")
	if c := g.Concurrency("e"); c != 2 {
		t.Fatalf("a throttle seen in a batch answer left the limit at %d, want 2", c)
	}

	// Under load the in-flight count never passes the current limit.
	hit("c", true) // limit 2
	var inFlight, peak atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rel, err := g.Acquire(ctx, "c")
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
	for i := 0; i < g.Concurrency("d"); i++ {
		rel, _ := g.Acquire(ctx, "d")
		blockers = append(blockers, rel)
	}
	cancel()
	if _, err := g.Acquire(cctx, "d"); err == nil {
		t.Fatal("a full mailbox gate ignored a cancelled context")
	}
	for _, rel := range blockers {
		rel(false)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"7", 7 * time.Second},
		{"0.2", time.Second}, // never less than a second
		{"Mon, 02 Mar 2026 09:00:30 GMT", 30 * time.Second},
		{"Mon, 02 Mar 2026 08:00:00 GMT", time.Second}, // a date in the past
		{"soon", 0},
		{"", 0},
	} {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 9: 30 * time.Second} {
		if got := Backoff(n, time.Second, 30*time.Second); got != want {
			t.Errorf("Backoff(%d) = %s, want %s", n, got, want)
		}
	}
}

// TestGatesStartBelowTheCap: a mailbox starts at the starting limit and
// climbs to the cap with successes, never past it.
func TestGatesStartBelowTheCap(t *testing.T) {
	t.Parallel()
	g := NewGatesFrom(27, 8)
	if c := g.Concurrency("m"); c != 8 {
		t.Fatalf("start at %d, want 8", c)
	}
	for i := 0; i < 10000; i++ {
		rel, err := g.Acquire(context.Background(), "m")
		if err != nil {
			t.Fatal(err)
		}
		rel(false)
	}
	if c := g.Concurrency("m"); c != 27 {
		t.Fatalf("after many successes: %d, want the cap 27", c)
	}
	if c := NewGatesFrom(4, 9).Concurrency("x"); c != 4 {
		t.Fatalf("a start above the cap gives %d, want 4", c)
	}
	if c := NewGatesFrom(4, 0).Concurrency("x"); c != 1 {
		t.Fatalf("a start of 0 gives %d, want 1", c)
	}
}
