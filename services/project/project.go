// Package project is the project service: the only entry point of mailferry.
// It serves the JSON API (and, through it, the CLI), owns accounts, API keys,
// projects, credential references and runs, and approves runs: at once for
// discovery, pre-stage and delta, after billing has held credits for full
// runs. Everything else it shows it asks the owning service over NATS
// request-reply; it never reads another service's storage.
package project

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/billing"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/project/internal/model"
)

// Config of the project service.
type Config struct {
	HTTPAddr string `env:"MAILFERRY_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	// OperatorKey may create accounts and add credits. Empty disables
	// operator actions.
	OperatorKey string `env:"MAILFERRY_OPERATOR_KEY"`
	// DecisionWait is how long creating a run waits for its approval or
	// rejection before answering 202 with state "requested".
	DecisionWait time.Duration `env:"MAILFERRY_DECISION_WAIT" envDefault:"10s"`
	// AllowSandbox accepts the memory sandbox platform in projects. It is
	// off by default: a sandbox endpoint is any URL the caller names, and
	// the workers would call it with the project's token.
	AllowSandbox bool `env:"MAILFERRY_ALLOW_SANDBOX" envDefault:"false"`
}

// Service is the project service.
type Service struct {
	d     *svc.Deps
	cfg   Config
	model *model.Model
	runs  *bus.Repo[runState]
	ready chan struct{}
	addr  chan string
	fol   *bus.Follower
	// agents are the outbound connector agents (agents.go).
	agents *agentState
	// stopping is closed when the HTTP server shuts down, ending the open
	// event streams (events.go) that would otherwise hold it up.
	stopping chan struct{}
	stopOnce sync.Once
}

// New returns the service.
func New(d *svc.Deps, cfg Config) (*Service, error) {
	if d == nil || d.Bus == nil || d.Log == nil || d.Vault == nil {
		return nil, errors.New("project: missing dependencies")
	}
	runs, err := bus.NewRepo(d.Bus, "PROJECT", func() runState { return runState{} }, foldRun)
	if err != nil {
		return nil, err
	}
	return &Service{d: d, cfg: cfg, model: model.New(), runs: runs, ready: make(chan struct{}), addr: make(chan string, 1), agents: newAgentState(), stopping: make(chan struct{})}, nil
}

// Addr returns the address the API listens on, once it listens.
func (s *Service) Addr(ctx context.Context) (string, error) {
	select {
	case a := <-s.addr:
		s.addr <- a
		return a, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Run serves the API and the approval reactors until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if err := s.startAgents(ctx); err != nil {
		return err
	}
	fol, err := s.d.Bus.Follow(ctx, model.Streams, s.apply)
	if err != nil {
		return err
	}
	s.fol = fol
	if err := s.serveAgentQuery(); err != nil {
		return err
	}
	if err := s.d.Bus.Handle(bus.Consumer{Name: "project-runs", Stream: "PROJECT", Subject: []string{"project.run.>"}, Parallel: 4}, s.onRunEvent); err != nil {
		return err
	}
	if err := s.d.Bus.Handle(bus.Consumer{Name: "project-billing", Stream: "BILLING", Subject: []string{"billing.account.>"}}, s.onBillingEvent); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("project: listen on MAILFERRY_HTTP_ADDR %s: %w", s.cfg.HTTPAddr, err)
	}
	s.addr <- ln.Addr().String()
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(s.stopStreams)
	errc := make(chan error, 2)
	go func() { errc <- s.d.Bus.Run(ctx) }()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	s.d.Log.Info("API listening", "addr", ln.Addr().String())
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.stopStreams()
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shut)
	return err
}

// runState is the run aggregate as the approval reactor needs it.
type runState struct {
	requested *project.RunRequested
	decided   bool
}

func foldRun(s runState, env bus.Envelope) runState {
	switch e := env.Event.(type) {
	case project.RunRequested:
		s.requested = &e
	case project.RunApproved, project.RunRejected:
		s.decided = true
	}
	return s
}

// onRunEvent approves runs that need no credits.
func (s *Service) onRunEvent(ctx context.Context, env bus.Envelope) error {
	e, ok := env.Event.(project.RunRequested)
	if !ok || e.Mode == events.ModeFull {
		return nil
	}
	return s.decide(ctx, e.RunID, true, "", "")
}

// onBillingEvent turns billing's decision on a full run into the run's.
func (s *Service) onBillingEvent(ctx context.Context, env bus.Envelope) error {
	switch e := env.Event.(type) {
	case billing.CreditsHeld:
		return s.decide(ctx, e.RunID, true, "", "")
	case billing.HoldRejected:
		return s.decide(ctx, e.RunID, false, string(errs.CreditsShort),
			fmt.Sprintf("needs %d credits, has %d", e.Needed, e.Available))
	}
	return nil
}

func (s *Service) decide(ctx context.Context, runID string, approve bool, code, reason string) error {
	_, err := s.runs.Update(ctx, project.RunSubject(runID), func(st runState) (bus.Decision, error) {
		if st.requested == nil {
			return nil, fmt.Errorf("run %s has no request yet", runID)
		}
		if st.decided {
			return nil, nil
		}
		r := st.requested
		if approve {
			return bus.Decision{project.RunApproved{RunID: r.RunID, ProjectID: r.ProjectID, AccountID: r.AccountID, Mode: r.Mode}}, nil
		}
		return bus.Decision{project.RunRejected{RunID: r.RunID, ProjectID: r.ProjectID, AccountID: r.AccountID, Code: code, Reason: reason}}, nil
	}, bus.WithID("decision-"+runID))
	return err
}
