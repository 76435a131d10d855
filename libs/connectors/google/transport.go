package google

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mailferry/mailferry/libs/pacing"
)

// costKey carries the quota units of a request whose cost the path does
// not tell (a batch: the sum of its parts).
type costKey struct{}

func withCost(ctx context.Context, units int) context.Context {
	return context.WithValue(ctx, costKey{}, units)
}

// gmailUnits is what a Gmail request costs in quota units, from Google's
// table (developers.google.com/gmail/api/reference/quota).
func gmailUnits(r *http.Request) int {
	if n, ok := r.Context().Value(costKey{}).(int); ok {
		return n
	}
	p, m := r.URL.Path, r.Method
	switch {
	case r.URL.Query().Get("upload_id") != "":
		return 0 // a chunk of an upload charged when it started
	case strings.HasSuffix(p, "/messages/import"), strings.HasSuffix(p, "/messages") && m == http.MethodPost:
		return 25
	case strings.HasSuffix(p, "/history"):
		return 2
	case strings.HasSuffix(p, "/profile"):
		return 1
	case strings.Contains(p, "/labels"):
		if m == http.MethodGet {
			return 1
		}
		return 5
	case strings.HasSuffix(p, "/batchDelete"), strings.HasSuffix(p, "/batchModify"):
		return 50
	case m == http.MethodDelete:
		return 10
	}
	return 5 // messages.get, messages.list, modify, trash
}

// pacer keeps each user (and optionally the whole connector) below
// Google's published quotas, so that a mailbox moving at full speed is
// paced rather than refused: a token bucket per user and API refilled at
// 95 % of the quota, with a burst just large enough for the largest call.
// Google counts in fixed per-minute windows; a bucket at 95 % with a small
// burst never puts more than the quota into any minute.
type pacer struct {
	gmailRate, calRate float64 // units per second, 0 = off
	pplRate            float64
	gmailBurst         int
	project            *rate.Limiter
	mu                 sync.Mutex
	users              map[string]*rate.Limiter
}

func newPacer(cfg Config) *pacer {
	p := &pacer{users: map[string]*rate.Limiter{}}
	if cfg.GmailUnitsPerMinute > 0 {
		p.gmailRate = float64(cfg.GmailUnitsPerMinute) * 0.95 / 60
		// A burst of 2 s of quota (500 units at Google's 15,000): a
		// minute then never sees more than 95 % + 3 % of the quota.
		p.gmailBurst = max(cfg.GmailUnitsPerMinute/30, 25)
	}
	if cfg.CalendarRequestsPerMinute > 0 {
		p.calRate = float64(cfg.CalendarRequestsPerMinute) * 0.95 / 60
	}
	if cfg.PeopleRequestsPerMinute > 0 {
		p.pplRate = float64(cfg.PeopleRequestsPerMinute) * 0.95 / 60
	}
	if cfg.ProjectUnitsPerMinute > 0 {
		p.project = rate.NewLimiter(rate.Limit(float64(cfg.ProjectUnitsPerMinute)*0.95/60), max(cfg.ProjectUnitsPerMinute/30, 25))
	}
	return p
}

func (p *pacer) limiter(key string, r float64, burst int) *rate.Limiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.users[key]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(r), burst)
		p.users[key] = l
	}
	return l
}

// wait blocks until the request's units are available for its user.
func (p *pacer) wait(r *http.Request, mailbox string) error {
	if mailbox == "" {
		return nil
	}
	ctx := r.Context()
	switch api := apiOf(r.URL.Path); {
	case api == "gmail" && p.gmailRate > 0:
		n := gmailUnits(r)
		if p.project != nil {
			if err := waitUnits(ctx, p.project, n); err != nil {
				return err
			}
		}
		return waitUnits(ctx, p.limiter("gmail|"+mailbox, p.gmailRate, p.gmailBurst), n)
	case api == "calendar" && p.calRate > 0:
		return p.limiter("cal|"+mailbox, p.calRate, 10).Wait(ctx)
	case api == "people" && p.pplRate > 0:
		return p.limiter("ppl|"+mailbox, p.pplRate, 3).Wait(ctx)
	}
	return nil
}

// waitUnits takes n units from a bucket, in pieces no larger than its
// burst: a batch costs more than the burst, and must be paced for all of
// it, not refused.
func waitUnits(ctx context.Context, l *rate.Limiter, n int) error {
	for n > 0 {
		k := min(n, l.Burst())
		if err := l.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func apiOf(path string) string {
	switch {
	case strings.Contains(path, "/gmail/v1"):
		return "gmail"
	case strings.Contains(path, "/calendar/v3/"):
		return "calendar"
	case strings.Contains(path, "/v1/people"), strings.Contains(path, "/v1/contactGroups"):
		return "people"
	}
	return ""
}

// throttleState counts consecutive throttled answers per mailbox, so that
// the wait offered to the engine grows while Google keeps refusing.
type throttleState struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *throttleState) hit(mailbox string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[string]int{}
	}
	t.n[mailbox]++
}

func (t *throttleState) ok(mailbox string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.n, mailbox)
}

func (t *throttleState) count(mailbox string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n[mailbox]
}

// wait is the back-off to offer after a throttled answer without
// Retry-After: ThrottleBackoff doubled per consecutive refusal, at most
// 64 s (Google's advice for exponential back-off).
func (c *Connector) throttleWait(mailbox string, header http.Header) time.Duration {
	if header != nil {
		if d := pacing.ParseRetryAfter(header.Get("Retry-After"), time.Now()); d > 0 {
			return d
		}
	}
	return pacing.Backoff(max(c.throttle.count(mailbox), 1), c.cfg.ThrottleBackoff, 64*time.Second)
}

// gatedTransport paces and gates every request of a user below the
// oauth2 transport, so that token refreshes stay out of the count and
// every API call, batch and upload chunk is in it. The slot is given back
// when the response headers arrive: Google's answers to these calls are
// small, and a caller that never closes a body must not freeze a mailbox.
// Nothing here retries: a throttled answer goes back to the caller as
// errs.Throttled with a wait, and writes are retried by the engine
// behind FindByMarker, which keeps them idempotent.
type gatedTransport struct {
	next    http.RoundTripper
	c       *Connector
	mailbox string
}

func (t *gatedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.c.pace.wait(req, t.mailbox); err != nil {
		return nil, err
	}
	release, err := t.c.gates.Acquire(req.Context(), t.mailbox)
	if err != nil {
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	throttled := err == nil && isThrottle(resp)
	release(throttled)
	switch {
	case throttled:
		t.c.throttle.hit(t.mailbox)
	case err == nil && resp.StatusCode < 300:
		t.c.throttle.ok(t.mailbox)
	}
	return resp, err
}

// isThrottle recognises Google's quota refusals: 429, or 403 with reason
// rateLimitExceeded or userRateLimitExceeded. A 403 body is read and put
// back for the client library to decode.
func isThrottle(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return true
	case http.StatusForbidden:
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if err != nil {
			return false
		}
		return isRateLimitReason(string(b))
	}
	return false
}

func isRateLimitReason(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "ratelimitexceeded") || strings.Contains(s, "rate_limit_exceeded")
}
