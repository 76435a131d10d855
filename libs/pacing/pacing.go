// Package pacing keeps connectors within a platform's per-mailbox limits:
// an adaptive concurrency gate per mailbox (fewer requests in flight while
// the platform throttles, more again as it recovers) and the parsing of the
// Retry-After a throttling platform sends. Microsoft 365 (Graph) and Google
// Workspace (Gmail, Calendar, People) both throttle per mailbox and both
// punish clients that keep hammering, so both connectors share it.
package pacing

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Gates holds one adaptive gate per mailbox, so that no mailbox has more
// requests in flight than its platform allows, and fewer while the platform
// throttles it: each throttled request halves the mailbox's concurrency, and
// a run of successes earns one slot back (additive increase, multiplicative
// decrease, as TCP does), so a throttled mailbox stops hammering and
// recovers by itself. Mailbox keys are case-insensitive (addresses).
type Gates struct {
	max, start int
	mu         sync.Mutex
	m          map[string]*gate
}

type gate struct {
	limit, inFlight, successes int
	changed                    chan struct{} // closed and replaced on every release
}

// NewGates returns gates allowing at most n requests in flight per mailbox
// (n < 1 counts as 1).
func NewGates(n int) *Gates { return NewGatesFrom(n, n) }

// NewGatesFrom returns gates allowing at most n requests in flight per
// mailbox that start each mailbox at start (within 1..n) and earn the rest
// with successes. A platform whose limit is generous but shared by every
// client of the mailbox (Exchange's 27 concurrent EWS requests per user)
// is then approached rather than hit at once.
func NewGatesFrom(n, start int) *Gates {
	n = max(n, 1)
	return &Gates{max: n, start: min(max(start, 1), n), m: map[string]*gate{}}
}

func (g *Gates) get(mailbox string) *gate {
	key := strings.ToLower(mailbox)
	gt, ok := g.m[key]
	if !ok {
		gt = &gate{limit: g.start, changed: make(chan struct{})}
		g.m[key] = gt
	}
	return gt
}

// Acquire waits for a slot of the mailbox; the caller calls release once
// with whether the request was throttled. An empty mailbox takes no slot
// (tenant-wide calls are not a mailbox's).
func (g *Gates) Acquire(ctx context.Context, mailbox string) (release func(throttled bool), err error) {
	if mailbox == "" {
		return func(bool) {}, nil
	}
	for {
		g.mu.Lock()
		gt := g.get(mailbox)
		if gt.inFlight < gt.limit {
			gt.inFlight++
			g.mu.Unlock()
			var once sync.Once
			return func(throttled bool) { once.Do(func() { g.release(gt, throttled) }) }, nil
		}
		wait := gt.changed
		g.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (g *Gates) release(gt *gate, throttled bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gt.inFlight--
	switch {
	case throttled:
		gt.limit = max(1, gt.limit/2)
		gt.successes = 0
	case gt.limit < g.max:
		gt.successes++
		if gt.successes >= 10*gt.limit {
			gt.limit++
			gt.successes = 0
		}
	}
	close(gt.changed)
	gt.changed = make(chan struct{})
}

// Throttled records a refusal seen outside Acquire and release, such as a
// throttled part inside a batch answer that was itself a success: the
// mailbox's concurrency halves as if a request had been throttled.
func (g *Gates) Throttled(mailbox string) {
	if mailbox == "" {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	gt := g.get(mailbox)
	gt.limit = max(1, gt.limit/2)
	gt.successes = 0
}

// Concurrency is how many requests the mailbox may have in flight now.
func (g *Gates) Concurrency(mailbox string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.get(mailbox).limit
}

// ParseRetryAfter reads a Retry-After value (delay seconds or an HTTP
// date) as a wait of at least a second; 0 when v is neither.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return max(time.Duration(s*float64(time.Second)), time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), time.Second)
	}
	return 0
}

// Backoff is the wait before attempt n (1, 2, ...) of something throttled
// without a Retry-After: base doubled per attempt up to ceiling, so that
// a platform that names no wait is still not hammered.
func Backoff(n int, base, ceiling time.Duration) time.Duration {
	if n < 1 {
		n = 1
	}
	d := base
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}
