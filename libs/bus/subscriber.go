package bus

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// subscriber is a watermill message.Subscriber over one durable JetStream
// pull consumer. It does what watermill-nats/v2's jetstream.Subscriber
// (v2.1.3) does, with one difference that matters: on shutdown it stops
// taking messages and waits for every in-flight delivery to return before
// it closes the output channel. The upstream subscriber closes that channel
// while a delivery may still be sending on it, which the race detector
// reports and which can panic with "send on closed channel" at shutdown.
// Messages are decoded with watermill-nats' own unmarshaler (see
// unmarshaler), so the wire format is exactly watermill-nats'.
type subscriber struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	consumer func(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error)
	ackWait  time.Duration
	opts     []jetstream.PullConsumeOpt

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	subs    sync.WaitGroup
}

func newSubscriber(nc *nats.Conn, ackWait time.Duration, opts []jetstream.PullConsumeOpt,
	consumer func(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error)) (*subscriber, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &subscriber{nc: nc, js: js, consumer: consumer, ackWait: ackWait, opts: opts, closing: make(chan struct{})}, nil
}

// Subscribe starts consuming; the topic is ignored (the consumer is fixed).
func (s *subscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("bus: subscriber closed")
	}
	s.subs.Add(1)
	s.mu.Unlock()
	cons, err := s.consumer(ctx, s.js)
	if err != nil {
		s.subs.Done()
		return nil, err
	}
	out := make(chan *message.Message)
	stop := make(chan struct{})
	var (
		gate     sync.Mutex
		stopped  bool
		inFlight sync.WaitGroup
	)
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		gate.Lock()
		if stopped {
			gate.Unlock()
			return // not acknowledged: redelivered to whoever consumes next
		}
		inFlight.Add(1)
		gate.Unlock()
		defer inFlight.Done()
		s.deliver(ctx, stop, msg, out)
	}, s.opts...)
	if err != nil {
		s.subs.Done()
		return nil, err
	}
	go func() {
		defer s.subs.Done()
		select {
		case <-ctx.Done():
		case <-s.closing:
		}
		gate.Lock()
		stopped = true
		gate.Unlock()
		close(stop)
		cc.Stop()
		// Only once no delivery can send on out is it closed.
		inFlight.Wait()
		close(out)
	}()
	return out, nil
}

// deliver hands one message to the router and settles it with the server
// as the handler decides: ack, nak with the backoff delay, or nothing
// (redelivery after the ack wait) when the handler runs out of time or the
// subscriber stops.
func (s *subscriber) deliver(ctx context.Context, stop <-chan struct{}, msg jetstream.Msg, out chan<- *message.Message) {
	m, err := unmarshaler{}.Unmarshal(msg)
	if err != nil {
		_ = msg.Term() // undecodable on the wire: no retry can fix it
		return
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.SetContext(mctx)
	select {
	case out <- m:
	case <-stop:
		return
	}
	timeout := time.NewTimer(s.ackWait)
	defer timeout.Stop()
	select {
	case <-m.Acked():
		_ = msg.DoubleAck(mctx)
	case <-m.Nacked():
		var delivered uint64 = 1
		if md, err := msg.Metadata(); err == nil {
			delivered = md.NumDelivered
		}
		_ = msg.NakWithDelay(backoff{}.WaitTime(delivered))
	case <-timeout.C:
	case <-stop:
	}
}

// Close stops every subscription, waits for them, and closes the connection.
func (s *subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.subs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	return s.nc.Drain()
}
