// Package runner is the agent's work loop: one long poll to the platform
// at any time, each call it receives executed on the local connector in
// its own goroutine (up to a concurrency limit), each result uploaded
// back. A lost platform connection is retried with growing, jittered
// delays; a revoked credential ends the loop.
package runner

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/mailferry/mailferry/libs/connectors/agent/wire"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/services/connector-agent/internal/platformclient"
)

// ErrRevoked ends Run when the platform revoked the agent.
var ErrRevoked = errors.New("the platform revoked this agent: register it again with a new token (connector-agent register)")

// ErrUnknown ends Run when the platform does not know the credential.
var ErrUnknown = errors.New("the platform does not accept this agent's credential: register it again with a new token (connector-agent register)")

// Config of a runner.
type Config struct {
	Client *platformclient.Client
	// Local is the local connector; nil when none is configured, in
	// which case every call is answered with LocalErr.
	Local    platform.Connector
	LocalErr error
	// Platform is the local connector's kind, reported to the platform.
	Platform string
	// Scrub blanks the local secrets out of error texts.
	Scrub   func(string) string
	Version string
	OS      string
	// Concurrency bounds the calls executed at once (default 16; EWS
	// allows 27 concurrent requests per account by default).
	Concurrency int
	// PollWait asks the platform to hold polls this long at most
	// (default and maximum wire.MaxPollWait).
	PollWait time.Duration
	// CallTimeout bounds one call on the local platform (default 10 min).
	CallTimeout time.Duration
	// MaxBackoff caps the wait between reconnection attempts (default
	// 30s).
	MaxBackoff time.Duration
	Log        *slog.Logger
}

// Runner runs the work loop.
type Runner struct {
	cfg Config
	log *slog.Logger

	mu          sync.Mutex
	running     map[string]bool
	lastOK      time.Time
	lastErr     string
	lastErrAt   time.Time
	slotFreed   chan struct{}
	fatal       error
	fatalCancel context.CancelFunc
}

// New returns a runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Client == nil {
		return nil, errors.New("runner: nil client")
	}
	if cfg.Local == nil && cfg.LocalErr == nil {
		return nil, errors.New("runner: no local connector and no reason why")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.PollWait <= 0 || cfg.PollWait > wire.MaxPollWait {
		cfg.PollWait = wire.MaxPollWait
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Minute
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Scrub == nil {
		cfg.Scrub = func(s string) string { return s }
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg, log: cfg.Log, running: map[string]bool{}, slotFreed: make(chan struct{}, 1)}, nil
}

// status is what the next poll reports.
func (r *Runner) status() wire.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := wire.Status{Version: r.cfg.Version, OS: r.cfg.OS, Platform: r.cfg.Platform, Health: wire.HealthOK, LastError: r.lastErr, LastErrorAt: r.lastErrAt}
	switch {
	case r.cfg.Local == nil:
		st.Health = wire.HealthUnconfigured
		st.LastError = r.cfg.Scrub(r.cfg.LocalErr.Error())
	case !r.lastErrAt.IsZero() && r.lastErrAt.After(r.lastOK):
		st.Health = wire.HealthDegraded
	}
	return st
}

// itemLevel are the codes that say something about one item or request,
// not about the local platform's health.
var itemLevel = map[errs.Code]bool{
	errs.NotFound: true, errs.ItemTooLarge: true, errs.CorruptItem: true, errs.MailboxMissing: true,
	errs.Invalid: true, errs.Throttled: true, errs.Conflict: true, platform.CopiedWithWarnings: true,
}

func (r *Runner) record(e *wire.Error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now().UTC()
	switch {
	case e == nil:
		r.lastOK = now
	case itemLevel[e.Code]:
	default:
		text := e.Cause
		if e.Code != "" {
			text = string(e.Code) + ": " + e.Cause
		}
		r.lastErr, r.lastErrAt = text, now
	}
}

// Run polls until ctx ends (nil) or the platform refuses the agent.
func (r *Runner) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.mu.Lock()
	r.fatalCancel = cancel
	r.mu.Unlock()
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	failures := 0
	var downSince time.Time
	for ctx.Err() == nil {
		capacity := cap(sem) - len(sem)
		req := wire.PollRequest{Status: r.status(), Capacity: capacity, Running: r.runningIDs(), WaitSeconds: int(r.cfg.PollWait / time.Second)}
		pctx, pcancel := context.WithTimeout(ctx, r.cfg.PollWait+30*time.Second)
		if capacity == 0 {
			// A heartbeat while every slot is busy; a freed slot ends it
			// so that the next poll can take work.
			go func() {
				select {
				case <-r.slotFreed:
					pcancel()
				case <-pctx.Done():
				}
			}()
		}
		calls, err := r.cfg.Client.Poll(pctx, req)
		pcancel()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if capacity == 0 && errors.Is(err, context.Canceled) {
				continue
			}
			switch status := platformclient.StatusOf(err); {
			case status == http.StatusUnauthorized && errs.Is(err, wire.CodeRevoked):
				return ErrRevoked
			case status == http.StatusUnauthorized:
				return ErrUnknown
			}
			failures++
			if downSince.IsZero() {
				downSince = time.Now()
				r.log.Warn("platform unreachable; retrying", "error", err)
			} else if failures%10 == 0 {
				r.log.Warn("platform still unreachable", "since", downSince.UTC().Format(time.RFC3339), "attempts", failures, "error", err)
			}
			if !sleep(ctx, backoff(failures, r.cfg.MaxBackoff)) {
				break
			}
			continue
		}
		if !downSince.IsZero() {
			r.log.Info("platform reachable again", "after", time.Since(downSince).Round(time.Second).String())
		} else if failures == 0 && calls == nil {
			r.log.Debug("poll ended without work")
		}
		failures, downSince = 0, time.Time{}
		for _, c := range calls {
			sem <- struct{}{}
			r.mu.Lock()
			r.running[c.ID] = true
			r.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.handle(ctx, c)
				r.mu.Lock()
				delete(r.running, c.ID)
				r.mu.Unlock()
				<-sem
				select {
				case r.slotFreed <- struct{}{}:
				default:
				}
			}()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fatal
}

func (r *Runner) runningIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.running))
	for id := range r.running {
		ids = append(ids, id)
	}
	return ids
}

// stop ends Run with err (a revoked credential noticed by a call).
func (r *Runner) stop(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fatal == nil {
		r.fatal = err
	}
	if r.fatalCancel != nil {
		r.fatalCancel()
	}
}

// handle executes one call and uploads its result.
func (r *Runner) handle(ctx context.Context, c wire.Call) {
	log := r.log.With("call_op", c.Op)
	content := c.Content
	if c.NeedsFetch() {
		var err error
		content, err = retry(ctx, func(ctx context.Context) ([]byte, error) { return r.cfg.Client.Content(ctx, c.ID, c.ContentSize) })
		if err != nil {
			if r.refused(err) || ctx.Err() != nil || platformclient.StatusOf(err) == http.StatusGone {
				return
			}
			log.Warn("call dropped: its content could not be downloaded", "error", err)
			return
		}
	}
	var res wire.Result
	var out []byte
	if r.cfg.Local == nil {
		res = wire.Result{CallID: c.ID, Error: wire.EncodeError(errs.Wrap(errs.UnsupportedPlatform, r.cfg.LocalErr, "the agent has no local platform configured", "configure it on the agent's server: connector-agent configure exchange ..."), r.cfg.Scrub)}
	} else {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		res, out = wire.Answer(cctx, r.cfg.Local, c, content, r.cfg.Scrub)
		cancel()
		r.record(res.Error)
	}
	content = nil
	if res.Error != nil && !itemLevel[res.Error.Code] {
		log.Warn("local platform failed", "code", res.Error.Code, "error", res.Error.Cause)
	}
	_, err := retry(ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.cfg.Client.Result(ctx, res, out)
	})
	switch {
	case err == nil, ctx.Err() != nil, r.refused(err):
	case platformclient.StatusOf(err) == http.StatusGone:
		log.Info("result dropped: its caller no longer waits (it timed out or sent the call again)")
	default:
		log.Warn("result dropped: the platform did not take it", "error", err)
	}
}

// refused stops the runner when the platform no longer accepts the agent.
func (r *Runner) refused(err error) bool {
	if platformclient.StatusOf(err) != http.StatusUnauthorized {
		return false
	}
	if errs.Is(err, wire.CodeRevoked) {
		r.stop(ErrRevoked)
	} else {
		r.stop(ErrUnknown)
	}
	return true
}

// retry repeats op while the platform is unreachable or busy, for up to
// two minutes: a result is worth keeping through a platform restart.
func retry[T any](ctx context.Context, op func(context.Context) (T, error)) (T, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for i := 1; ; i++ {
		v, err := op(ctx)
		status := platformclient.StatusOf(err)
		transient := err != nil && (status == 0 || status == http.StatusServiceUnavailable || status == http.StatusBadGateway || status == http.StatusGatewayTimeout || status == http.StatusInternalServerError)
		if !transient || ctx.Err() != nil || time.Now().After(deadline) {
			return v, err
		}
		if !sleep(ctx, backoff(i, 10*time.Second)) {
			return v, err
		}
	}
}

// backoff is 0.5s doubling up to limit, with ±20% jitter so that many
// agents do not reconnect in step after a platform restart.
func backoff(attempt int, limit time.Duration) time.Duration {
	d := 500 * time.Millisecond << min(attempt-1, 10)
	d = min(d, limit)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
