// Package telemetry is the telemetry service: it follows the TRANSFER and
// PROGRESS streams into a per-mailbox progress read model and answers the
// run, project and mailbox progress queries over NATS request-reply
// (query.telemetry.*). Later parts (the ClickHouse store, health rules, the
// mailbox log) hang off the same follower as further sinks.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/telemetry/internal/board"
)

// Config is the telemetry service's configuration.
type Config struct {
	// RateWindow is how many recent progress snapshots per mailbox the rates
	// and ETA are measured over (about one a second per mailbox).
	RateWindow int `env:"MAILFERRY_TELEMETRY_RATE_WINDOW" envDefault:"10"`
}

// Service is the telemetry service.
type Service struct {
	d     *svc.Deps
	cfg   Config
	board *board.Board
	// sinks receive every followed event after the board; the ClickHouse
	// store and the health rules join here.
	sinks []func(bus.Envelope)
}

// Streams the read model follows. PROGRESS comes first so a replay applies
// the progress history before the end events (the board converges either
// way; this order just keeps the work done on replay small).
var followed = []string{"PROGRESS", "TRANSFER"}

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
	return &Service{d: d, cfg: cfg, board: board.New(cfg.RateWindow)}, nil
}

// Start replays the streams into the read model and serves the queries; it
// returns once the read model is current.
func (s *Service) Start(ctx context.Context) error {
	if _, err := s.d.Bus.Follow(ctx, followed, s.apply); err != nil {
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
	s.d.Log.Info("telemetry read model ready", "streams", followed, "rateWindow", s.cfg.RateWindow)
	return nil
}

// Run starts the service and blocks until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	return s.d.Bus.Run(ctx)
}

func (s *Service) apply(env bus.Envelope) {
	s.board.Apply(env.Event, env.Time)
	for _, sink := range s.sinks {
		sink(env)
	}
}
