package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Handler handles one event. Returning an error retries it with backoff;
// after the retries it goes to the poison queue. Delivery is at least once,
// so handlers must be idempotent; the bus also skips events already handled
// by the same consumer (by event id).
type Handler func(ctx context.Context, env Envelope) error

// permanent marks an error no retry can fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err so the event goes straight to the poison queue.
func Permanent(err error) error { return permanent{err} }

// Consumer describes one durable consumer.
type Consumer struct {
	// Name is the durable name, unique per service and purpose, e.g.
	// "billing-runs". Processes sharing a name share the work.
	Name    string
	Stream  string
	Subject []string
	// MaxDeliver bounds redeliveries after crashes or ack timeouts
	// (default unlimited: a crash loop must not lose an event).
	MaxDeliver int
	// Retries in process, with backoff, within one delivery (default 5).
	Retries int
	// Deliveries before the poison queue (default 20): after the in-process
	// retries an event is handed back to the server and redelivered with a
	// growing delay, so an outage of a few minutes (a leader election, a
	// service restarting) delays events instead of parking them.
	Deliveries int
	// DeliverNew starts a new consumer at new events instead of the
	// stream's beginning.
	DeliverNew bool
	// AckWait overrides the bus's AckWait for this consumer, for handlers
	// that legitimately run long (a discovery of thousands of mailboxes):
	// the event is redelivered only once this much time has passed.
	AckWait time.Duration
	// Parallel is how many events this process handles at once (default
	// 1). Above 1, events are no longer handled in stream order, so only
	// reactors whose decisions are independent per event (each run's
	// discovery) or guarded by expected-sequence appends may use it.
	Parallel int
}

// PoisonSubject is where a consumer's failed events go.
func PoisonSubject(consumer string) string { return "poison." + consumer }

// Handle registers h on a durable consumer. Call Run to start.
func (b *Bus) Handle(c Consumer, h Handler) error {
	if c.Name == "" || c.Stream == "" || len(c.Subject) == 0 || h == nil {
		return errors.New("bus: Handle needs a name, stream, subjects and handler")
	}
	if strings.ContainsAny(c.Name, ".*> ") {
		return fmt.Errorf("bus: consumer name %q may not contain '.', '*', '>' or spaces", c.Name)
	}
	if c.Retries == 0 {
		c.Retries = 5
	}
	if c.Deliveries <= 0 {
		c.Deliveries = 20
	}
	if c.AckWait <= 0 {
		c.AckWait = b.cfg.AckWait
	}
	dedup, err := b.KV(context.Background(), "handled", 7*24*time.Hour)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.router == nil {
		r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, b.wlog)
		if err != nil {
			return err
		}
		r.AddMiddleware(middleware.Recoverer)
		b.router = r
	}
	poison, err := wmjs.NewPublisher(wmjs.PublisherConfig{
		Conn:            b.nc,
		Logger:          b.wlog,
		ConfigureStream: func(topic string) jetstream.StreamConfig { return jetstream.StreamConfig{Name: topic} },
	})
	if err != nil {
		return err
	}
	pq, err := middleware.PoisonQueueWithFilter(poison, PoisonSubject(c.Name), func(err error) bool {
		var perm permanent
		return errors.As(err, &perm)
	})
	if err != nil {
		return err
	}
	retry := middleware.Retry{
		MaxRetries:      c.Retries,
		InitialInterval: 50 * time.Millisecond,
		MaxInterval:     2 * time.Second,
		Multiplier:      2,
		ShouldRetry: func(p middleware.RetryParams) bool {
			var perm permanent
			return !errors.As(p.Err, &perm)
		},
		Logger: b.wlog,
	}
	if c.Parallel < 1 {
		c.Parallel = 1
	}
	// watermill hands a subscription's events to its handler one at a
	// time, so parallelism is several subscriptions of one durable consumer.
	for i := 0; i < c.Parallel; i++ {
		sub, err := b.subscriber(c)
		if err != nil {
			return err
		}
		name := c.Name
		if i > 0 {
			name = fmt.Sprintf("%s-%d", c.Name, i+1)
		}
		handler := b.router.AddConsumerHandler(name, c.Name, sub, func(msg *message.Message) error {
			return b.dispatch(msg, c.Name, h, dedup)
		})
		// Outermost first: the poison queue sees an error only once every
		// retry has failed.
		handler.AddMiddleware(pq, lastDelivery(c.Deliveries), retry.Middleware)
	}
	return nil
}

// consumeOptions: with Parallel, each subscription takes one event at a
// time; otherwise the first to pull would buffer every pending event and
// handle them in turn, and nothing would run in parallel. A single
// subscription keeps the default batching, which is faster.
func consumeOptions(c Consumer) []jetstream.PullConsumeOpt {
	if c.Parallel > 1 {
		return []jetstream.PullConsumeOpt{jetstream.PullMaxMessages(1)}
	}
	return nil
}

// subscriber returns a watermill subscriber, on its own connection, bound
// to the durable consumer c.
func (b *Bus) subscriber(c Consumer) (*subscriber, error) {
	nc, err := b.connect("-" + c.Name)
	if err != nil {
		return nil, err
	}
	cons := c
	sub, err := newSubscriber(nc, cons.AckWait, consumeOptions(c), func(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
		cfg := jetstream.ConsumerConfig{
			Durable:        cons.Name,
			AckPolicy:      jetstream.AckExplicitPolicy,
			AckWait:        cons.AckWait,
			MaxDeliver:     cons.MaxDeliver,
			FilterSubjects: cons.Subject,
			MaxAckPending:  cons.Parallel,
		}
		if cons.DeliverNew {
			cfg.DeliverPolicy = jetstream.DeliverNewPolicy
		}
		var jc jetstream.Consumer
		err := retryStartup(ctx, func(ctx context.Context) error {
			var err error
			jc, err = js.CreateOrUpdateConsumer(ctx, cons.Stream, cfg)
			return err
		})
		return jc, err
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return sub, nil
}

// lastDelivery turns the error of an event's last allowed delivery into a
// permanent one, so the poison queue takes it instead of another redelivery.
func lastDelivery(limit int) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if err != nil {
				var perm permanent
				if n, _ := strconv.Atoi(msg.Metadata.Get(metaDelivered)); n >= limit && !errors.As(err, &perm) {
					err = Permanent(fmt.Errorf("gave up after %d deliveries: %w", n, err))
				}
			}
			return out, err
		}
	}
}

// backoff is the redelivery delay after a failed delivery: 1s, 2s, 4s ...
// up to a minute.
type backoff struct{}

func (backoff) WaitTime(delivered uint64) time.Duration {
	if delivered < 1 {
		return time.Second
	}
	if delivered > 6 {
		return time.Minute
	}
	return time.Second << (delivered - 1)
}

// dispatch decodes, traces and deduplicates one event, then calls h.
func (b *Bus) dispatch(msg *message.Message, consumer string, h Handler, dedup jetstream.KeyValue) error {
	env := envelopeFromMessage(msg)
	ctx := otel.GetTextMapPropagator().Extract(msg.Context(), metadataCarrier(msg.Metadata))
	ctx, span := otel.Tracer("mailferry/bus").Start(ctx, "handle "+env.Type,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", env.Subject),
			attribute.String("messaging.consumer.group.name", consumer),
			attribute.String("messaging.message.id", env.ID),
			attribute.String("mailferry.correlation_id", env.CorrelationID),
		))
	defer span.End()
	key := consumer + "." + dedupKey(env.ID)
	if _, err := dedup.Get(ctx, key); err == nil {
		b.log.Debug("event already handled", "consumer", consumer, "event_id", env.ID, "type", env.Type)
		return nil
	}
	if err := env.decode(); err != nil {
		span.RecordError(err)
		b.log.Error("event cannot be decoded; sent to the poison queue", "consumer", consumer, "event_id", env.ID, "type", env.Type, "error", err)
		return Permanent(err)
	}
	ctx = ContextWithEnvelope(ctx, env)
	if err := h(ctx, env); err != nil {
		span.RecordError(err)
		b.log.Warn("handler failed", "consumer", consumer, "event_id", env.ID, "type", env.Type,
			"correlation_id", env.CorrelationID, "error", err)
		return err
	}
	if _, err := dedup.Put(context.WithoutCancel(ctx), key, nil); err != nil {
		// The event was handled; failing to record it only means a
		// redelivery would run the (idempotent) handler again.
		b.log.Warn("cannot record handled event", "consumer", consumer, "event_id", env.ID, "error", err)
	}
	return nil
}

// dedupKey makes an event id safe as a KV key.
func dedupKey(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, id)
}

// Run runs every registered handler until ctx ends or the bus closes.
func (b *Bus) Run(ctx context.Context) error {
	b.mu.Lock()
	r := b.router
	b.mu.Unlock()
	if r == nil {
		<-ctx.Done()
		return nil
	}
	err := r.Run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Running is closed once the handlers are subscribed.
func (b *Bus) Running() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.router == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return b.router.Running()
}
