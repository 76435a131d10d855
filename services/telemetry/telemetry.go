// Package telemetry is the telemetry service. It follows the PROJECT,
// TRANSFER and PROGRESS streams into two read models: an in-memory board of
// every run's mailboxes (progress, rates, ETA, health judged when asked)
// and ClickHouse tables (libs/analytics: progress history, the
// chronological mailbox log, the item ledger) written by the projection
// package. It answers over NATS request-reply (query.telemetry.*): run,
// project and mailbox progress, the fleet's mailboxes that need attention,
// the mailbox log, the reconciliation report and analysts' read-only SQL.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mailferry/mailferry/libs/analytics"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/telemetry/internal/board"
	"github.com/mailferry/mailferry/services/telemetry/internal/projection"
)

// Config is the telemetry service's configuration.
type Config struct {
	// RateWindow is how many recent progress snapshots per mailbox the rates
	// and ETA are measured over (about one a second per mailbox).
	RateWindow int `env:"MAILFERRY_TELEMETRY_RATE_WINDOW" envDefault:"10"`
	// StallAfter is how long a running mailbox may go without progress
	// before its health is stalled.
	StallAfter time.Duration `env:"MAILFERRY_TELEMETRY_STALL_AFTER" envDefault:"5m"`
	// SlowItemsPerMinute: a running mailbox moving fewer items a minute
	// (and fewer than 100 KB a second) is slow; 0 switches slow off.
	SlowItemsPerMinute float64 `env:"MAILFERRY_TELEMETRY_SLOW_ITEMS_PER_MINUTE" envDefault:"10"`
	// FlushEvery is how often new rows are written to ClickHouse.
	FlushEvery time.Duration `env:"MAILFERRY_TELEMETRY_FLUSH" envDefault:"500ms"`
	// Analytics selects the ClickHouse back end: embedded chDB under
	// MAILFERRY_DATA_DIR, or a server at MAILFERRY_CLICKHOUSE_DSN.
	Analytics analytics.Config
}

// Service is the telemetry service.
type Service struct {
	d     *svc.Deps
	cfg   Config
	board *board.Board
	// sinks receive every followed event after the board.
	sinks []func(bus.Envelope)

	store analytics.Store
	proj  *projection.Projection
	stop  context.CancelFunc
	done  chan struct{}
	once  sync.Once
}

// Streams the read models follow. PROJECT first, so projects are known
// before their runs; PROGRESS before TRANSFER so a replay applies the
// progress history before the end events (the board converges either way;
// this order just keeps the work done on replay small).
var followed = []string{"PROJECT", "PROGRESS", "TRANSFER"}

// New returns the service; it rejects missing dependencies.
func New(d *svc.Deps, cfg Config) (*Service, error) {
	if d == nil || d.Bus == nil || d.Log == nil {
		return nil, errors.New("telemetry: nil dependencies")
	}
	if cfg.RateWindow == 0 {
		cfg.RateWindow = board.DefaultWindow
	}
	if cfg.RateWindow < 2 {
		return nil, fmt.Errorf("telemetry: MAILFERRY_TELEMETRY_RATE_WINDOW must be at least 2, got %d", cfg.RateWindow)
	}
	if cfg.StallAfter < 0 || cfg.SlowItemsPerMinute < 0 || cfg.FlushEvery < 0 {
		return nil, errors.New("telemetry: MAILFERRY_TELEMETRY_STALL_AFTER, _SLOW_ITEMS_PER_MINUTE and _FLUSH cannot be negative")
	}
	if cfg.FlushEvery == 0 {
		cfg.FlushEvery = 500 * time.Millisecond
	}
	rules := board.Rules{StallAfter: cfg.StallAfter, SlowItemsPerMinute: cfg.SlowItemsPerMinute, SlowBytesPerSecond: board.DefaultRules.SlowBytesPerSecond}
	return &Service{d: d, cfg: cfg, board: board.NewWithRules(cfg.RateWindow, rules)}, nil
}

// Board is the in-memory read model (tests set its clock).
func (s *Service) Board() *board.Board { return s.board }

// Store is the analytics store, once started.
func (s *Service) Store() analytics.Store { return s.store }

// Positions says how far each stream's rows are written to ClickHouse.
func (s *Service) Positions() map[string]uint64 { return s.proj.Positions() }

// Flush writes the rows waiting for ClickHouse now.
func (s *Service) Flush(ctx context.Context) error { return s.proj.Flush(ctx) }

// openStore opens and migrates the analytics store and starts the
// projection's writer.
func (s *Service) openStore(ctx context.Context) error {
	st, err := analytics.Open(ctx, s.cfg.Analytics)
	if err != nil {
		return fmt.Errorf("telemetry: analytics store: %w", err)
	}
	if applied, err := analytics.Migrate(ctx, st); err != nil {
		_ = st.Close()
		return fmt.Errorf("telemetry: analytics schema: %w", err)
	} else if len(applied) > 0 {
		s.d.Log.Info("analytics schema migrated", "versions", applied, "backend", st.Backend(), "database", st.Database())
	}
	proj, err := projection.New(ctx, st, s.d.Log)
	if err != nil {
		_ = st.Close()
		return err
	}
	s.store, s.proj = st, proj
	s.sinks = append(s.sinks, proj.Apply)
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		proj.Run(wctx, s.cfg.FlushEvery)
	}()
	return nil
}

// Close stops writing (after a last flush) and closes the store.
func (s *Service) Close() error {
	var err error
	s.once.Do(func() {
		if s.stop == nil {
			return
		}
		s.stop()
		<-s.done
		err = s.store.Close()
	})
	return err
}

// Start replays the streams into the read model and serves the queries; it
// returns once the read model is current.
func (s *Service) Start(ctx context.Context) error {
	if err := s.openStore(ctx); err != nil {
		return err
	}
	if _, err := s.d.Bus.Follow(ctx, followed, s.apply); err != nil {
		_ = s.Close()
		return fmt.Errorf("telemetry: follow: %w", err)
	}
	if err := s.d.Bus.Serve("telemetry", "1.0.0", s.endpoints()); err != nil {
		return fmt.Errorf("telemetry: serve: %w", err)
	}
	// Once Start returns the queries must be answerable: flushing makes
	// the server know the endpoint subscriptions.
	if err := s.d.Bus.Conn().FlushTimeout(10 * time.Second); err != nil {
		return fmt.Errorf("telemetry: serve: %w", err)
	}
	s.d.Log.Info("telemetry read model ready", "streams", followed, "rateWindow", s.cfg.RateWindow,
		"analytics", s.store.Backend(), "database", s.store.Database())
	return nil
}

// Run starts the service and blocks until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	defer s.Close()
	return s.d.Bus.Run(ctx)
}

func (s *Service) apply(env bus.Envelope) {
	s.board.Apply(env.Event, env.Time)
	for _, sink := range s.sinks {
		sink(env)
	}
}
