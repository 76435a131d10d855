package graph

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// mailboxThrottle keeps one mailbox's counters. Windows are fixed: they
// start with the first request after the previous window ended, which is
// simpler than Exchange's sliding accounting but gives the same budget.
type mailboxThrottle struct {
	mu       sync.Mutex
	inflight int
	winStart time.Time
	count    int
	upStart  time.Time
	upBytes  int64
}

// admit applies the per-mailbox limits to one request carrying n body
// bytes. On refusal it has written the 429; otherwise the caller must
// call release when the request is done.
func (s *Sandbox) admit(w http.ResponseWriter, userID string, n int64) (release func(), ok bool) {
	s.mu.Lock()
	l := s.limits
	s.mu.Unlock()
	v, _ := s.throttle.LoadOrStore(userID, &mailboxThrottle{})
	t := v.(*mailboxThrottle)
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.Concurrent > 0 && t.inflight >= l.Concurrent {
		s.tooMany(w, time.Second, "Application is over its MailboxConcurrency limit.")
		return nil, false
	}
	if l.RequestsPerWindow > 0 && l.Window > 0 {
		if now.Sub(t.winStart) >= l.Window {
			t.winStart, t.count = now, 0
		}
		if t.count >= l.RequestsPerWindow {
			s.tooMany(w, t.winStart.Add(l.Window).Sub(now), "Application is over its MailboxRequestCount limit.")
			return nil, false
		}
	}
	if l.UploadBytes > 0 && l.UploadWindow > 0 && n > 0 {
		if now.Sub(t.upStart) >= l.UploadWindow {
			t.upStart, t.upBytes = now, 0
		}
		// A single request bigger than the whole budget is let through on
		// an empty window, or it could never succeed.
		if t.upBytes > 0 && t.upBytes+n > l.UploadBytes {
			s.tooMany(w, t.upStart.Add(l.UploadWindow).Sub(now), "Application is over its IncomingBytes limit.")
			return nil, false
		}
		t.upBytes += n
	}
	if l.RequestsPerWindow > 0 && l.Window > 0 {
		t.count++
	}
	t.inflight++
	return func() {
		t.mu.Lock()
		t.inflight--
		t.mu.Unlock()
	}, true
}

// tooMany answers 429 with Retry-After in whole seconds, at least one, as
// Graph does.
func (s *Sandbox) tooMany(w http.ResponseWriter, wait time.Duration, msg string) {
	s.throttled.Add(1)
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	graphError(w, http.StatusTooManyRequests, "ApplicationThrottled", msg)
}
