// Package retry repeats platform calls the platform throttled, waiting as
// long as its Retry-After asked. Throttling is normal on every real platform
// (Graph 429, Gmail rateLimitExceeded, EWS ErrorServerBusy), so it must slow
// discovery down, never fail it.
package retry

import (
	"context"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
)

// Policy bounds the waiting.
type Policy struct {
	// Attempts is how many throttled answers in a row one call may get
	// before the throttling error is returned.
	Attempts int
	// Default is the wait when the platform names none.
	Default time.Duration
	// Max caps a single wait, so a bogus Retry-After cannot stall a run.
	Max time.Duration
	// OnWait, if set, is told about every wait (for logs).
	OnWait func(wait time.Duration, err *errs.Error)
}

// DefaultPolicy suits discovery: patient, because nothing is spent while
// it waits.
var DefaultPolicy = Policy{Attempts: 50, Default: time.Second, Max: 5 * time.Minute}

// Do calls fn until it succeeds, fails with anything but errs.Throttled, the
// attempts run out or ctx ends.
func Do[T any](ctx context.Context, p Policy, fn func(context.Context) (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := fn(ctx)
		e, ok := errs.As(err)
		if err == nil || !ok || e.Code != errs.Throttled || attempt >= p.Attempts {
			return v, err
		}
		wait := e.RetryAfter
		if wait <= 0 {
			wait = p.Default
		}
		if p.Max > 0 && wait > p.Max {
			wait = p.Max
		}
		if p.OnWait != nil {
			p.OnWait(wait, e)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			var zero T
			return zero, ctx.Err()
		case <-t.C:
		}
	}
}
