package bus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mailferry/mailferry/events"
)

// Repo is an event-sourced aggregate store. State S is folded from the
// aggregate's events; Update decides new events from the current state and
// appends them with the expected last subject sequence, retrying the whole
// decision when another writer won. Folded states are cached with their
// sequence, so an update reads only what is new.
type Repo[S any] struct {
	bus    *Bus
	stream string
	init   func() S
	fold   func(S, Envelope) S

	mu    sync.Mutex
	cache map[string]cached[S]
}

// maxCached bounds the aggregates a Repo keeps folded in memory.
const maxCached = 10000

type cached[S any] struct {
	state S
	seq   uint64
}

// NewRepo returns a repository of aggregates on stream. init returns a fresh
// state; fold applies one event and must not keep references to its input
// state it later mutates (return the new state).
func NewRepo[S any](b *Bus, stream string, init func() S, fold func(S, Envelope) S) (*Repo[S], error) {
	if b == nil || init == nil || fold == nil {
		return nil, errors.New("bus: NewRepo needs a bus, init and fold")
	}
	return &Repo[S]{bus: b, stream: stream, init: init, fold: fold, cache: map[string]cached[S]{}}, nil
}

// Get returns the current state of the aggregate at subject and its sequence.
func (r *Repo[S]) Get(ctx context.Context, subject string) (S, uint64, error) {
	r.mu.Lock()
	c, ok := r.cache[subject]
	r.mu.Unlock()
	if !ok {
		c = cached[S]{state: r.init()}
	}
	envs, last, err := r.bus.Load(ctx, r.stream, subject, c.seq)
	if err != nil {
		return c.state, 0, err
	}
	if last < c.seq {
		// The stream was recreated (tests, disaster recovery): start over.
		c = cached[S]{state: r.init()}
		envs, last, err = r.bus.Load(ctx, r.stream, subject, 0)
		if err != nil {
			return c.state, 0, err
		}
	}
	for _, env := range envs {
		c.state = r.fold(c.state, env)
	}
	c.seq = last
	r.mu.Lock()
	if len(r.cache) >= maxCached {
		// Aggregates of finished runs are rarely touched again; starting
		// the cache over bounds memory and costs one replay per aggregate.
		clear(r.cache)
	}
	r.cache[subject] = c
	r.mu.Unlock()
	return c.state, c.seq, nil
}

// Decision is what Update's decide function returns: the events to append.
type Decision []events.Event

// Update loads the aggregate, asks decide for new events and appends them
// atomically with respect to other writers. decide may be called several
// times; it must be a pure function of the state. It returns the state after
// the append.
func (r *Repo[S]) Update(ctx context.Context, subject string, decide func(S) (Decision, error), opts ...PublishOption) (S, error) {
	const attempts = 25
	var zero S
	for attempt := 0; attempt < attempts; attempt++ {
		state, seq, err := r.Get(ctx, subject)
		if err != nil {
			return zero, err
		}
		evs, err := decide(state)
		if err != nil {
			return state, err
		}
		if len(evs) == 0 {
			return state, nil
		}
		err = r.append(ctx, subject, seq, evs, opts)
		if errors.Is(err, ErrConflict) {
			// Another writer won: back off a little, with jitter, so racing
			// writers do not collide forever, then decide again.
			select {
			case <-ctx.Done():
				return zero, ctx.Err()
			case <-time.After(time.Duration(rand.IntN(5*(attempt+1))+1) * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return zero, err
		}
		state, _, err = r.Get(ctx, subject)
		return state, err
	}
	return zero, fmt.Errorf("%w: %s after %d attempts", ErrConflict, subject, attempts)
}

// append publishes evs in order; the first with the expected sequence, each
// following one expecting its predecessor's, so the batch is never
// interleaved with another writer's events.
func (r *Repo[S]) append(ctx context.Context, subject string, seq uint64, evs []events.Event, opts []PublishOption) error {
	var base publishOpts
	for _, opt := range opts {
		opt(&base)
	}
	for i, ev := range evs {
		o := append([]PublishOption{ExpectLastSeq(seq)}, opts...)
		if i > 0 && base.id != "" {
			// A deterministic id keeps retries deduplicated, but the events
			// of one batch need distinct ones.
			o = append(o, WithID(fmt.Sprintf("%s-%d", base.id, i)))
		}
		next, err := r.bus.Publish(ctx, subject, ev, o...)
		if err != nil {
			if i > 0 && errors.Is(err, ErrConflict) {
				return fmt.Errorf("bus: partial append to %s: %w", subject, err)
			}
			return err
		}
		seq = next
	}
	return nil
}
