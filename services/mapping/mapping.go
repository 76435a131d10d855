// Package mapping is the mapping service: it turns each completed discovery
// into suggested source-to-destination mailbox pairs with the exceptions a
// person must resolve, applies the edits and CSV imports the project
// service relays, and answers the mapping and the pairs a run may move over
// NATS request-reply (query.mapping.*).
//
// The mapping of a project is one aggregate on the MAPPING stream
// (mapping.project.<projectId>), written only by this service's two
// reactors: mapping-discovery (DISCOVERY, discovery.run.>) and
// mapping-edits (PROJECT, project.project.>). Queries answer from a read
// model that follows DISCOVERY and MAPPING. The rules themselves live in
// internal/suggest, internal/mapcsv and internal/plan.
package mapping

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/mapping/internal/plan"
)

// Consumer names of the reactors.
const (
	ConsumerDiscovery = "mapping-discovery"
	ConsumerEdits     = "mapping-edits"
)

// Config is the service's configuration.
type Config struct {
	// MaxPage bounds the page size of query.mapping.get; the console shows
	// up to 10,000 rows at once.
	MaxPage int `env:"MAILFERRY_MAPPING_MAX_PAGE" envDefault:"10000"`
}

// Service is the mapping service.
type Service struct {
	d    *svc.Deps
	cfg  Config
	log  *slog.Logger
	repo *bus.Repo[plan.State]
	rm   *readModel
}

// New returns the service; it does not touch the bus until Start or Run.
func New(d *svc.Deps, cfg Config) (*Service, error) {
	if d == nil || d.Bus == nil || d.Log == nil {
		return nil, errors.New("mapping: New needs deps with a bus and a logger")
	}
	if cfg.MaxPage <= 0 {
		cfg.MaxPage = 10000
	}
	repo, err := bus.NewRepo(d.Bus, streamMapping, func() plan.State { return plan.State{} },
		func(s plan.State, env bus.Envelope) plan.State { return plan.Fold(s, env.Event) })
	if err != nil {
		return nil, err
	}
	return &Service{d: d, cfg: cfg, log: d.Log.With("component", "mapping"), repo: repo, rm: newReadModel()}, nil
}

// Start builds the read model (replaying DISCOVERY and MAPPING), then
// registers the queries and the reactors. Handlers run once d.Bus.Run is
// called.
func (s *Service) Start(ctx context.Context) error {
	f, err := s.d.Bus.Follow(ctx, []string{streamDiscovery, streamMapping}, s.rm.apply)
	if err != nil {
		return fmt.Errorf("mapping: read model: %w", err)
	}
	s.rm.follower = f
	if err := s.d.Bus.Serve("mapping", "1.0.0", s.queries()); err != nil {
		return err
	}
	if err := s.d.Bus.Handle(bus.Consumer{Name: ConsumerDiscovery, Stream: streamDiscovery, Subject: []string{"discovery.run.>"}}, s.onDiscovery); err != nil {
		return err
	}
	if err := s.d.Bus.Handle(bus.Consumer{Name: ConsumerEdits, Stream: streamProject, Subject: []string{"project.project.>"}}, s.onProject); err != nil {
		return err
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
