// Package exporter is the exporter service: when MAILFERRY_KAFKA_BROKERS is
// set it copies the event catalog's domain events (every registered event
// but the work queue's mailbox jobs; never the poison queue) from the
// JetStream streams to Kafka, through franz-go's idempotent producer.
//
// One topic per bounded context (MAILFERRY_KAFKA_TOPIC_PREFIX + "project",
// "discovery", "mapping", "billing", "transfer", "progress"), each record
// keyed by its aggregate id (the id part of the subject, so one
// aggregate's events stay in order in one partition), its value the event's
// JSON body, its headers the envelope (type, version, event id,
// correlation, causation, time, subject, W3C trace context).
//
// Delivery is at least once: a durable consumer per stream
// (exporter-kafka-<stream>) fetches a batch, produces it, and acknowledges
// each JetStream message only once Kafka has acknowledged its record. While
// Kafka is away the batch is held (and kept from redelivery) and produced
// again until it is taken; a restarted exporter resumes at the first
// unacknowledged event. Duplicates need a crash between Kafka's ack and
// ours; consumers can drop them by Mailferry-Event-Id. One exporter process
// at a time keeps per-aggregate order (a second one would share batches).
package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kgo"

	_ "github.com/mailferry/mailferry/events/all" // the whole catalog
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/svc"
)

// ConsumerPrefix + the lower-cased stream name is the durable consumer of a
// stream.
const ConsumerPrefix = "exporter-kafka-"

// Config is read from MAILFERRY_KAFKA_* variables.
type Config struct {
	// Brokers are the seed brokers; empty switches the export off.
	Brokers []string `env:"MAILFERRY_KAFKA_BROKERS" envSeparator:","`
	// TopicPrefix is put before the bounded context's name.
	TopicPrefix string `env:"MAILFERRY_KAFKA_TOPIC_PREFIX" envDefault:"mailferry."`
	// SASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: none),
	// with SASLUser and SASLPassword.
	SASLMechanism string `env:"MAILFERRY_KAFKA_SASL_MECHANISM"`
	SASLUser      string `env:"MAILFERRY_KAFKA_SASL_USER"`
	SASLPassword  string `env:"MAILFERRY_KAFKA_SASL_PASSWORD"`
	// TLS dials the brokers over TLS, trusting TLSCAFile (PEM) when set and
	// the system roots otherwise.
	TLS       bool   `env:"MAILFERRY_KAFKA_TLS"`
	TLSCAFile string `env:"MAILFERRY_KAFKA_TLS_CA_FILE"`
	// Batch is the most events fetched and produced at once per stream.
	Batch int `env:"MAILFERRY_KAFKA_BATCH" envDefault:"500"`
	// AckWait is how long JetStream waits for the exporter before it hands
	// a batch out again; the exporter renews it while Kafka is slow.
	AckWait time.Duration `env:"MAILFERRY_KAFKA_ACK_WAIT" envDefault:"30s"`
	// Retry is the first wait before a batch Kafka refused is produced
	// again (doubling up to a minute).
	Retry time.Duration `env:"MAILFERRY_KAFKA_RETRY" envDefault:"1s"`
	// ShutdownGrace bounds how long a stopping exporter waits for Kafka to
	// answer the batch in flight before handing it back to JetStream.
	ShutdownGrace time.Duration `env:"MAILFERRY_KAFKA_SHUTDOWN_GRACE" envDefault:"10s"`
}

func (c *Config) defaults() {
	if c.TopicPrefix == "" {
		c.TopicPrefix = "mailferry."
	}
	if c.Batch <= 0 {
		c.Batch = 500
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.Retry <= 0 {
		c.Retry = time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 10 * time.Second
	}
	var brokers []string
	for _, b := range c.Brokers {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	c.Brokers = brokers
}

// Service is the exporter.
type Service struct {
	d   *svc.Deps
	cfg Config
	log *slog.Logger
	cat catalog
	// opts are the Kafka client's options (nil when the export is off).
	opts []kgo.Opt
	// unknown holds the event types met that are not in the catalog.
	unknown sync.Map
}

// New checks the configuration; nothing connects until Run.
func New(d *svc.Deps, cfg Config) (*Service, error) {
	if d == nil || d.Bus == nil || d.Log == nil {
		return nil, errors.New("exporter: bus and logger are required")
	}
	cfg.defaults()
	cat, err := newCatalog(cfg.TopicPrefix)
	if err != nil {
		return nil, err
	}
	s := &Service{d: d, cfg: cfg, log: d.Log, cat: cat}
	if len(cfg.Brokers) > 0 {
		if s.opts, err = clientOptions(cfg, d.Log); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Enabled reports whether Kafka brokers are configured.
func (s *Service) Enabled() bool { return len(s.cfg.Brokers) > 0 }

// Run exports until ctx ends. With no brokers it only waits, so `mailferry
// up` can run it unconditionally.
func (s *Service) Run(ctx context.Context) error {
	if !s.Enabled() {
		s.log.Info("event export to Kafka is off; set MAILFERRY_KAFKA_BROKERS to switch it on")
		<-ctx.Done()
		return nil
	}
	kc, err := kgo.NewClient(s.opts...)
	if err != nil {
		return fmt.Errorf("exporter: kafka client: %w", err)
	}
	// Close fails what is still buffered; by then every batch has either
	// been acknowledged on both sides or handed back to JetStream.
	defer kc.Close()
	s.log.Info("exporting events to Kafka", "brokers", strings.Join(s.cfg.Brokers, ","), "topics", strings.Join(s.cat.topics(), ","))
	var wg sync.WaitGroup
	for _, stream := range s.cat.streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.exportStream(ctx, kc, stream)
		}()
	}
	wg.Wait()
	return nil
}

// consumerName is the durable consumer exporting a stream.
func consumerName(stream string) string { return ConsumerPrefix + strings.ToLower(stream) }

// exportStream runs one stream's durable consumer until ctx ends, one
// batch at a time (MaxAckPending is one batch), so each aggregate's events
// reach Kafka in stream order.
func (s *Service) exportStream(ctx context.Context, kc *kgo.Client, stream string) {
	cfg := jetstream.ConsumerConfig{
		Durable:       consumerName(stream),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxAckPending: s.cfg.Batch,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	log := s.log.With("stream", stream, "consumer", cfg.Durable)
	js := s.d.Bus.JetStream()
	var cons jetstream.Consumer
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		cons, err = js.CreateOrUpdateConsumer(cctx, stream, cfg)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("cannot create the export consumer; retrying", "error", err)
		if !sleep(ctx, time.Second) {
			return
		}
	}
	// Events still pending are a batch of an exporter that stopped before
	// Kafka or JetStream heard back. JetStream hands them out again once
	// due (at once when handed back, after their ack wait when the
	// exporter died), ahead of newer ones, but until then it would hand out
	// newer ones: waiting keeps each aggregate in order.
	if info, err := cons.Info(ctx); err == nil && info.NumAckPending > 0 {
		log.Info("events of a previous exporter are pending; waiting for them to come back first",
			"events", info.NumAckPending, "wait", s.cfg.AckWait.String())
		if !sleep(ctx, s.cfg.AckWait) {
			return
		}
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(s.cfg.Batch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() == nil {
				log.Debug("fetch failed; retrying", "error", err)
				sleep(ctx, 500*time.Millisecond)
			}
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) > 0 {
			s.exportBatch(ctx, kc, msgs, log)
		}
	}
}

// exportBatch produces msgs and acknowledges each one Kafka took. Records
// Kafka refused are produced again, in order, with a growing wait, until
// taken or ctx ends; meanwhile the batch's messages are kept in progress so
// JetStream does not hand them to anyone else.
func (s *Service) exportBatch(ctx context.Context, kc *kgo.Client, msgs []jetstream.Msg, log *slog.Logger) {
	var pending []item
	for _, m := range msgs {
		rec, ok := s.cat.record(m.Subject(), m.Headers(), m.Data())
		if !ok {
			// Not a catalog event of this binary (a type a newer
			// publisher added, say): nothing to export, and nothing a
			// retry could change. Said once per type.
			if _, said := s.unknown.LoadOrStore(m.Headers().Get(bus.HeaderType), true); !said {
				log.Warn("not an event of this exporter's catalog; not exported", "type", m.Headers().Get(bus.HeaderType), "subject", m.Subject())
			}
			_ = m.Ack()
			continue
		}
		pending = append(pending, item{msg: m, rec: rec})
	}
	if len(pending) == 0 {
		return
	}
	stop := s.keepInProgress(msgs)
	defer stop()
	// Produces run on their own context: on shutdown the batch in flight
	// gets ShutdownGrace to be acknowledged rather than failing at once.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-pctx.Done():
			return
		}
		t := time.NewTimer(s.cfg.ShutdownGrace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-pctx.Done():
		}
	}()
	wait := s.cfg.Retry
	for attempt := 1; ; attempt++ {
		errs, ok := s.produce(ctx, pctx, kc, pending, log)
		if !ok {
			// Stopping, and Kafka did not answer within the grace: what
			// it did take will come again from the next exporter (a
			// duplicate, which at least once allows).
			handBack(stop, pending)
			return
		}
		// Kafka fails a partition's records from the first failure on, so
		// what failed is, per partition, the tail: acking the rest and
		// producing the failures again keeps each aggregate in order.
		var failed []item
		var firstErr error
		for i, it := range pending {
			if errs[i] == nil {
				_ = it.msg.Ack()
				continue
			}
			if firstErr == nil {
				firstErr = errs[i]
			}
			// A fresh record for the next attempt: the client keeps
			// state in a record it was handed.
			r := it.rec
			failed = append(failed, item{msg: it.msg, rec: &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}})
		}
		if len(failed) == 0 {
			return
		}
		if ctx.Err() != nil {
			// Stopping: hand the rest back at once, in order, so the next
			// exporter starts with them.
			handBack(stop, failed)
			return
		}
		log.Warn("Kafka did not take every event; producing them again", "failed", len(failed), "of", len(msgs),
			"attempt", attempt, "retry_in", wait.String(), "error", firstErr)
		if !sleep(ctx, wait) {
			handBack(stop, failed)
			return
		}
		wait = min(2*wait, time.Minute)
		pending = failed
	}
}

// item is one event of a batch: its bus message and Kafka record.
type item struct {
	msg jetstream.Msg
	rec *kgo.Record
}

// stallWarning is how long a batch waits for Kafka before the wait is
// logged (and again every time as long after).
const stallWarning = 30 * time.Second

// produce hands every record to the client and waits for Kafka's answers,
// which the client retries for as long as Kafka is unreachable. ok is false
// when pctx ended first (the stopping exporter's grace ran out): the client
// does not cancel records already sent, whose fate is then unknown.
func (s *Service) produce(ctx, pctx context.Context, kc *kgo.Client, pending []item, log *slog.Logger) ([]error, bool) {
	// Callbacks may still run after a give-up: they write to this slice
	// only, which is not read then.
	errs := make([]error, len(pending))
	var wg sync.WaitGroup
	for i, it := range pending {
		wg.Add(1)
		kc.Produce(pctx, it.rec, func(_ *kgo.Record, err error) {
			errs[i] = err
			wg.Done()
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	start := time.Now()
	t := time.NewTicker(stallWarning)
	defer t.Stop()
	for {
		select {
		case <-done:
			return errs, true
		case <-pctx.Done():
			return nil, false
		case <-t.C:
			if ctx.Err() == nil {
				log.Warn("Kafka has not acknowledged a batch yet; holding its events", "events", len(pending),
					"waiting", time.Since(start).Round(time.Second).String())
			}
		}
	}
}

// handBack returns events to JetStream for the next exporter, once the
// batch is no longer kept in progress (which would hold them again).
func handBack(stopInProgress func(), items []item) {
	stopInProgress()
	for _, it := range items {
		_ = it.msg.Nak()
	}
}

// keepInProgress tells JetStream every AckWait/3 that the batch is still
// being worked on, so a Kafka outage delays it instead of redelivering it.
// stop may be called more than once.
func (s *Service) keepInProgress(msgs []jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(s.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, m := range msgs {
					_ = m.InProgress()
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
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
