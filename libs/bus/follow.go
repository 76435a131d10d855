package bus

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Follower keeps an in-memory read model up to date by replaying streams
// from their beginning and then following them. Every process builds its
// own read model this way, so there is no shared database and a restart
// simply replays. Apply calls never overlap and follow stream order within each stream.
type Follower struct {
	mu   sync.Mutex
	cond *sync.Cond
	seq  map[string]uint64
	ccs  []jetstream.ConsumeContext
}

// Follow starts following whole streams (a read model sees every sequence,
// which is what makes WaitFor exact), calling apply for each event it can
// decode. It returns once the existing history is replayed, so the read
// model is current.
func (b *Bus) Follow(ctx context.Context, streams []string, apply func(Envelope)) (*Follower, error) {
	f := &Follower{seq: map[string]uint64{}}
	f.cond = sync.NewCond(&f.mu)
	// One lock for all streams: apply never runs concurrently, so read
	// models need no locking of their own against it.
	var applyMu sync.Mutex
	for _, stream := range streams {
		spec := struct{ Stream string }{stream}
		var cons jetstream.Consumer
		err := retryStartup(ctx, func(ctx context.Context) error {
			var err error
			cons, err = b.js.OrderedConsumer(ctx, spec.Stream, jetstream.OrderedConsumerConfig{})
			return err
		})
		if err != nil {
			f.Stop()
			return nil, fmt.Errorf("bus: follow %s: %w", spec.Stream, err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			md, err := m.Metadata()
			if err != nil {
				return
			}
			env := decodeMsg(m.Subject(), m.Headers(), m.Data())
			env.Seq = md.Sequence.Stream
			if err := env.decode(); err != nil {
				b.log.Debug("follow: event not decoded", "stream", spec.Stream, "type", env.Type, "error", err)
			} else {
				applyMu.Lock()
				apply(env)
				applyMu.Unlock()
			}
			f.mu.Lock()
			f.seq[spec.Stream] = env.Seq
			f.cond.Broadcast()
			f.mu.Unlock()
		})
		if err != nil {
			f.Stop()
			return nil, fmt.Errorf("bus: follow %s: %w", spec.Stream, err)
		}
		f.ccs = append(f.ccs, cc)
		st, err := b.js.Stream(ctx, spec.Stream)
		if err != nil {
			f.Stop()
			return nil, err
		}
		info, err := st.Info(ctx)
		if err != nil {
			f.Stop()
			return nil, err
		}
		if info.State.Msgs == 0 {
			// Everything aged out (or nothing was ever published): the
			// last sequence will never be delivered, so there is nothing
			// to wait for.
			continue
		}
		if err := f.WaitFor(ctx, spec.Stream, info.State.LastSeq); err != nil {
			f.Stop()
			return nil, err
		}
	}
	b.onClose(f.Stop)
	return f, nil
}

// WaitFor blocks until the read model has seen stream sequence seq, so an
// API can read its own writes. Sequences of other subjects count: the read
// model has seen everything up to seq on the stream.
func (f *Follower) WaitFor(ctx context.Context, stream string, seq uint64) error {
	if seq == 0 {
		return nil
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			f.mu.Lock()
			f.cond.Broadcast()
			f.mu.Unlock()
		case <-done:
		}
	}()
	defer close(done)
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.seq[stream] < seq {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.cond.Wait()
	}
	return nil
}

// Stop stops following.
func (f *Follower) Stop() {
	for _, cc := range f.ccs {
		cc.Stop()
	}
}
