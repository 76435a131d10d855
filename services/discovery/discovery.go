// Package discovery is the discovery service: for a run in mode discovery it
// reads every reachable mailbox of a project's source (and destination, when
// its credentials are set) and publishes counts, sizes, folders and the
// blockers it finds, all before anything is spent. It never writes to either
// side. Its read model answers query.discovery.results for the API and the
// console.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/svc"
)

// Config is read from MAILFERRY_DISCOVERY_* variables.
type Config struct {
	// Parallelism is how many mailboxes are read at once. Platforms
	// throttle per mailbox, so more mailboxes at once is what makes a
	// discovery of thousands fast.
	Parallelism int `env:"MAILFERRY_DISCOVERY_PARALLELISM" envDefault:"8"`
	// AckWait is how long one discovery may run before the bus assumes the
	// worker died and hands the run to another process, which resumes it.
	AckWait time.Duration `env:"MAILFERRY_DISCOVERY_ACK_WAIT" envDefault:"30m"`
}

// Consumer is the durable name of the reactor that runs discoveries.
const Consumer = "discovery-runs"

// Service is the discovery service.
type Service struct {
	d     *svc.Deps
	cfg   Config
	model *model
	f     *bus.Follower
}

// New returns the service; zero Config fields take their defaults.
func New(d *svc.Deps, cfg Config) (*Service, error) {
	if d == nil || d.Bus == nil || d.Log == nil || d.Vault == nil || d.Opener == nil {
		return nil, errors.New("discovery: New needs a bus, a logger, a vault and a connector opener")
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 8
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Minute
	}
	return &Service{d: d, cfg: cfg, model: newModel()}, nil
}

// Start registers the read model, the reactor and the queries without
// blocking. The read model is current when it returns.
func (s *Service) Start(ctx context.Context) error {
	f, err := s.d.Bus.Follow(ctx, []string{"PROJECT", "DISCOVERY"}, s.model.apply)
	if err != nil {
		return fmt.Errorf("discovery: read model: %w", err)
	}
	s.f = f
	if err := s.d.Bus.Handle(bus.Consumer{
		Name:    Consumer,
		Stream:  "PROJECT",
		Subject: []string{"project.run.>"},
		AckWait: s.cfg.AckWait,
		// Runs are independent: one tenant's long discovery must not hold
		// up another's.
		Parallel: 4,
	}, s.handleRun); err != nil {
		return fmt.Errorf("discovery: reactor: %w", err)
	}
	if err := s.d.Bus.Serve("discovery", "1.0.0", map[string]bus.QueryFunc{
		"results": s.queryResults,
	}); err != nil {
		return fmt.Errorf("discovery: queries: %w", err)
	}
	return nil
}

// Run starts the service and blocks until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	return s.d.Bus.Run(ctx)
}
