// Package billing is the credit service. It keeps one ledger per account on
// the BILLING stream (subject billing.account.<accountId>) and decides on
// it with optimistic concurrency, so two runs racing for one balance can
// never overdraw it:
//
//   - billing-purchases turns project.credits_purchase_requested into
//     billing.credits_purchased;
//   - billing-runs holds credits for full runs (billing.credits_held) or
//     refuses them (billing.hold_rejected, "needs N credits, has M");
//   - billing-transfer consumes one credit when a full run's mailbox starts
//     (once per mailbox and project) and releases a run's unused holds when
//     it finishes.
//
// Discovery, pre-stage and delta runs never reach billing. The queries
// query.billing.balance, query.billing.ledger and query.billing.quote answer
// from a read model every process rebuilds from the stream.
package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/billing"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/billing/internal/ledger"
)

// Stream is the billing context's stream.
const Stream = "BILLING"

// Durable consumer names.
const (
	ConsumerPurchases = "billing-purchases"
	ConsumerRuns      = "billing-runs"
	ConsumerTransfer  = "billing-transfer"
)

// Config is the billing service's configuration.
type Config struct {
	// LedgerLimit caps the ledger query to an account's newest entries, so
	// an old, busy account cannot produce an oversized reply.
	LedgerLimit int `env:"MAILFERRY_BILLING_LEDGER_LIMIT" envDefault:"1000"`
}

// Service is the billing service.
type Service struct {
	d   *svc.Deps
	cfg Config
	log *slog.Logger

	// decideMu serialises this process's decisions. The account fold
	// mutates the cached state in place (copying a whole ledger per event
	// would make replays quadratic), so two reactors of one process must
	// not fold and decide on the same cached account at once. Other
	// processes have their own cache; the expected sequence on append
	// settles races with them.
	decideMu sync.Mutex
	repo     *bus.Repo[*ledger.Account]

	rm       *readModel
	follower *bus.Follower

	startOnce sync.Once
	startErr  error
}

// New returns the billing service. It needs a bus and a logger.
func New(d *svc.Deps, cfg Config) (*Service, error) {
	if d == nil || d.Bus == nil || d.Log == nil {
		return nil, errors.New("billing: New needs deps with a bus and a logger")
	}
	if cfg.LedgerLimit <= 0 {
		cfg.LedgerLimit = 1000
	}
	repo, err := bus.NewRepo(d.Bus, Stream,
		func() *ledger.Account { return ledger.New("") },
		func(a *ledger.Account, env bus.Envelope) *ledger.Account {
			a.Apply(env.Event, env.Time)
			return a
		})
	if err != nil {
		return nil, fmt.Errorf("billing: %w", err)
	}
	return &Service{d: d, cfg: cfg, log: d.Log.With("component", "billing"), repo: repo, rm: newReadModel()}, nil
}

// Run registers the reactors, the read model and the queries, then runs
// until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	return s.d.Bus.Run(ctx)
}

// Start registers everything without blocking: the read model is replayed
// when it returns. The handlers run once the bus runs.
func (s *Service) Start(ctx context.Context) error {
	s.startOnce.Do(func() { s.startErr = s.start(ctx) })
	return s.startErr
}

func (s *Service) start(ctx context.Context) error {
	b := s.d.Bus
	f, err := b.Follow(ctx, []string{Stream}, s.rm.apply)
	if err != nil {
		return fmt.Errorf("billing: read model: %w", err)
	}
	s.follower = f
	consumers := []struct {
		c bus.Consumer
		h bus.Handler
	}{
		{bus.Consumer{Name: ConsumerPurchases, Stream: "PROJECT", Subject: []string{"project.account.>"}}, s.onPurchase},
		{bus.Consumer{Name: ConsumerRuns, Stream: "PROJECT", Subject: []string{"project.run.>"}}, s.onRun},
		{bus.Consumer{Name: ConsumerTransfer, Stream: "TRANSFER", Subject: []string{"transfer.run.>"}}, s.onTransfer},
	}
	for _, c := range consumers {
		if err := b.Handle(c.c, c.h); err != nil {
			return fmt.Errorf("billing: consumer %s: %w", c.c.Name, err)
		}
	}
	if err := b.Serve("billing", "1.0.0", s.queries()); err != nil {
		return fmt.Errorf("billing: queries: %w", err)
	}
	return nil
}

// decide appends what decide returns to the account's ledger under a
// deterministic event id, so a redelivered event never counts twice: the
// second decision sees the first in the state (and the server drops a
// republished id).
func (s *Service) decide(ctx context.Context, accountID, eventID string, decide func(*ledger.Account) (events.Event, error)) (events.Event, error) {
	s.decideMu.Lock()
	defer s.decideMu.Unlock()
	var decided events.Event
	_, err := s.repo.Update(ctx, billing.AccountSubject(accountID), func(a *ledger.Account) (bus.Decision, error) {
		ev, err := decide(a)
		decided = ev
		if err != nil || ev == nil {
			return nil, err
		}
		return bus.Decision{ev}, nil
	}, bus.WithID(eventID))
	if err != nil {
		return nil, fmt.Errorf("billing: account %s: %w", accountID, err)
	}
	return decided, nil
}

func (s *Service) onPurchase(ctx context.Context, env bus.Envelope) error {
	req, ok := env.Event.(project.CreditsPurchaseRequested)
	if !ok {
		return nil
	}
	log := s.log.With("account_id", req.AccountID, "request_id", req.RequestID, "event_id", env.ID)
	if req.AccountID == "" || req.Amount <= 0 {
		// Nothing can make this request valid; project validates before
		// publishing, so this is a bug upstream worth a log line, not a
		// poison-queue retry loop.
		log.Error("purchase request ignored: it needs an account and a positive amount", "amount", req.Amount)
		return nil
	}
	id := req.RequestID
	if id == "" {
		id = env.ID
	}
	ev, err := s.decide(ctx, req.AccountID, "purchase-"+id, func(a *ledger.Account) (events.Event, error) {
		return a.Purchase(req)
	})
	if err != nil {
		return err
	}
	if ev != nil {
		log.Info("credits purchased", "amount", req.Amount)
	}
	return nil
}

func (s *Service) onRun(ctx context.Context, env bus.Envelope) error {
	req, ok := env.Event.(project.RunRequested)
	if !ok || req.Mode != events.ModeFull {
		return nil
	}
	log := s.log.With("account_id", req.AccountID, "project_id", req.ProjectID, "run_id", req.RunID, "event_id", env.ID)
	if req.AccountID == "" || req.RunID == "" {
		log.Error("full run request ignored: it names no account or run")
		return nil
	}
	ev, err := s.decide(ctx, req.AccountID, "hold-"+req.RunID, func(a *ledger.Account) (events.Event, error) {
		return a.Hold(req), nil
	})
	if err != nil {
		return err
	}
	switch e := ev.(type) {
	case billing.CreditsHeld:
		log.Info("credits held", "mailboxes", len(e.Mailboxes), "waiting", len(e.Waiting))
	case billing.HoldRejected:
		log.Info("full run rejected", "reason", ledger.Reason(e.Needed, e.Available))
	}
	return nil
}

func (s *Service) onTransfer(ctx context.Context, env bus.Envelope) error {
	switch e := env.Event.(type) {
	case transfer.MailboxStarted:
		if e.Mode != events.ModeFull || e.AccountID == "" {
			return nil
		}
		ev, err := s.decide(ctx, e.AccountID, "consume-"+e.ProjectID+"-"+e.SourceID, func(a *ledger.Account) (events.Event, error) {
			return a.Consume(e), nil
		})
		if err != nil {
			return err
		}
		if ev != nil {
			s.log.Info("credit consumed", "account_id", e.AccountID, "project_id", e.ProjectID, "run_id", e.RunID, "mailbox_id", e.SourceID)
		}
	case transfer.RunFinished:
		if e.AccountID == "" {
			return nil
		}
		ev, err := s.decide(ctx, e.AccountID, "release-"+e.RunID, func(a *ledger.Account) (events.Event, error) {
			return a.Release(e), nil
		})
		if err != nil {
			return err
		}
		if r, ok := ev.(billing.HoldReleased); ok {
			s.log.Info("holds released", "account_id", e.AccountID, "run_id", e.RunID, "mailboxes", len(r.Mailboxes), "state", e.State)
		}
	}
	return nil
}
