package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailferry/mailferry/events"
)

// Config says where the bus is.
type Config struct {
	// URL of an external NATS server or cluster; empty starts an embedded one.
	URL string `env:"MAILFERRY_NATS_URL"`
	// DataDir holds the embedded server's JetStream store.
	DataDir string `env:"MAILFERRY_DATA_DIR" envDefault:".data"`
	// Listen is where the embedded server accepts clients, so other
	// processes (`mailferry serve ...`) can join it.
	Listen string `env:"MAILFERRY_NATS_LISTEN" envDefault:"127.0.0.1:0"`
	// Replicas of each stream: 1 embedded, 3 on a cluster.
	Replicas int `env:"MAILFERRY_NATS_REPLICAS" envDefault:"1"`
	// AckWait is how long a consumer waits for a handler before the event
	// is redelivered (to this or another process).
	AckWait time.Duration `env:"MAILFERRY_ACK_WAIT" envDefault:"30s"`
	// Name identifies the connection in NATS monitoring (the service name).
	Name string `env:"-"`
}

// Bus is a connection to the event bus. It is safe for concurrent use.
type Bus struct {
	cfg    Config
	log    *slog.Logger
	wlog   watermill.LoggerAdapter
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	url    string
	router *message.Router

	mu      sync.Mutex
	closers []func()
	kv      map[string]jetstream.KeyValue
}

// Open connects to the bus, starting an embedded server when cfg.URL is empty.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Bus, error) {
	if log == nil {
		return nil, errors.New("bus: nil logger")
	}
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	b := &Bus{cfg: cfg, log: log, wlog: watermill.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug}), kv: map[string]jetstream.KeyValue{}}
	b.url = cfg.URL
	if cfg.URL == "" {
		if cfg.DataDir == "" {
			return nil, errors.New("bus: MAILFERRY_DATA_DIR is required for the embedded server")
		}
		srv, err := startEmbedded(cfg.DataDir, cfg.Listen)
		if err != nil {
			return nil, err
		}
		b.srv = srv
		b.url = srv.ClientURL()
		log.Info("embedded NATS JetStream started", "url", b.url, "store", cfg.DataDir)
	}
	nc, err := b.connect("")
	if err != nil {
		b.Close()
		return nil, err
	}
	b.nc = nc
	b.js, err = jetstream.New(nc)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	if err := b.EnsureStreams(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// connect opens a NATS connection that survives server restarts: it keeps
// reconnecting forever, because a bus restart is a normal event.
func (b *Bus) connect(suffix string) (*nats.Conn, error) {
	name := b.cfg.Name
	if name == "" {
		name = "mailferry"
	}
	opts := []nats.Option{
		nats.Name(name + suffix),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if err != nil && !c.IsClosed() && !c.IsDraining() {
				b.log.Warn("bus disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { b.log.Info("bus reconnected", "url", c.ConnectedUrlRedacted()) }),
	}
	if b.srv != nil {
		opts = append(opts, nats.InProcessServer(b.srv))
	}
	nc, err := nats.Connect(b.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect %s: %w", redact(b.url), err)
	}
	return nc, nil
}

// redact hides credentials a NATS URL may carry.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	return p.Redacted()
}

// URL is the client URL of the bus (the embedded server's when embedded).
// It may carry credentials: log RedactedURL instead.
func (b *Bus) URL() string { return b.url }

// RedactedURL is URL with any password hidden, for logs.
func (b *Bus) RedactedURL() string { return redact(b.url) }

// Conn is the underlying NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream is the JetStream context.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Server is the embedded server, or nil when connected to an external one.
func (b *Bus) Server() *server.Server { return b.srv }

// Logger is the bus logger.
func (b *Bus) Logger() *slog.Logger { return b.log }

// EnsureStreams creates or updates every stream of events.Streams.
func (b *Bus) EnsureStreams(ctx context.Context) error {
	for _, s := range events.Streams {
		cfg := jetstream.StreamConfig{
			Name:       s.Name,
			Subjects:   s.Subjects,
			Storage:    jetstream.FileStorage,
			Replicas:   b.cfg.Replicas,
			Duplicates: 10 * time.Minute,
			MaxMsgSize: maxPayload,
		}
		if s.MaxAgeHours > 0 {
			cfg.MaxAge = time.Duration(s.MaxAgeHours) * time.Hour
		}
		if s.WorkQueue {
			cfg.Retention = jetstream.WorkQueuePolicy
		}
		if err := retryStartup(ctx, func(ctx context.Context) error {
			// Every process ensures the streams at start; an update of an
			// unchanged stream is needless work for the server (and races
			// in nats-server with consumers being created meanwhile).
			if st, err := b.js.Stream(ctx, cfg.Name); err == nil && sameStream(st.CachedInfo().Config, cfg) {
				return nil
			}
			_, err := b.js.CreateOrUpdateStream(ctx, cfg)
			return err
		}); err != nil {
			return fmt.Errorf("bus: stream %s: %w", s.Name, err)
		}
	}
	return nil
}

// sameStream reports whether an existing stream already has the settings
// mailferry asks for.
func sameStream(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) && have.MaxAge == want.MaxAge &&
		have.Retention == want.Retention && have.Replicas == want.Replicas &&
		have.MaxMsgSize == want.MaxMsgSize && have.Duplicates == want.Duplicates && have.Storage == want.Storage
}

// retryStartup retries an operation while JetStream is still starting or a
// cluster is electing a leader, which is normal for the first seconds.
func retryStartup(ctx context.Context, op func(context.Context) error) error {
	var err error
	for attempt := 0; attempt < 60; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = op(cctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		}
	}
	return err
}

// KV returns (creating if needed) a key-value bucket. ttl > 0 expires keys
// that were not updated for that long, which is how leases work.
func (b *Bus) KV(ctx context.Context, bucket string, ttl time.Duration) (jetstream.KeyValue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if kv, ok := b.kv[bucket]; ok {
		return kv, nil
	}
	var kv jetstream.KeyValue
	err := retryStartup(ctx, func(ctx context.Context) error {
		var err error
		kv, err = b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:   bucket,
			TTL:      ttl,
			Storage:  jetstream.FileStorage,
			Replicas: b.cfg.Replicas,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bus: kv %s: %w", bucket, err)
	}
	b.kv[bucket] = kv
	return kv, nil
}

// Close stops handlers, closes connections and shuts the embedded server down.
func (b *Bus) Close() error {
	b.mu.Lock()
	closers := b.closers
	b.closers = nil
	b.mu.Unlock()
	if b.router != nil {
		_ = b.router.Close()
	}
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	if b.nc != nil {
		_ = b.nc.Drain()
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
	return nil
}

func (b *Bus) onClose(f func()) {
	b.mu.Lock()
	b.closers = append(b.closers, f)
	b.mu.Unlock()
}
