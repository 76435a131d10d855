package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/services/billing/internal/ledger"
)

// readModel is every account's ledger, folded from the BILLING stream.
type readModel struct {
	mu       sync.RWMutex
	accounts map[string]*ledger.Account
}

func newReadModel() *readModel { return &readModel{accounts: map[string]*ledger.Account{}} }

func (m *readModel) apply(env bus.Envelope) {
	id, ok := strings.CutPrefix(env.Subject, "billing.account.")
	if !ok || id == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[id]
	if !ok {
		a = ledger.New(id)
		m.accounts[id] = a
	}
	a.Apply(env.Event, env.Time)
}

// read calls f with the account (an empty one when it has no history: an
// account that never bought credits has a zero balance, not an error).
func (m *readModel) read(id string, f func(*ledger.Account)) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	a, ok := m.accounts[id]
	if !ok {
		a = ledger.New(id)
	}
	f(a)
}

// BalanceRequest asks for an account's balance.
type BalanceRequest struct {
	AccountID string `json:"accountId"`
}

// Balance is an account's credit balance.
type Balance struct {
	AccountID string `json:"accountId"`
	Purchased int    `json:"purchased"`
	Consumed  int    `json:"consumed"`
	Held      int    `json:"held"`
	Available int    `json:"available"`
}

// LedgerRequest asks for an account's ledger.
type LedgerRequest struct {
	AccountID string `json:"accountId"`
}

// Ledger is an account's newest ledger entries, oldest first.
type Ledger struct {
	AccountID string         `json:"accountId"`
	Entries   []ledger.Entry `json:"entries"`
}

// QuoteRequest asks what a full run of some mailboxes of a project costs.
type QuoteRequest struct {
	AccountID  string   `json:"accountId"`
	ProjectID  string   `json:"projectId"`
	MailboxIDs []string `json:"mailboxIds"`
}

// Quote is the answer: credits the run needs, the balance available and how
// many of the mailboxes are already charged in the project (free).
type Quote = ledger.Quote

func (s *Service) queries() map[string]bus.QueryFunc {
	return map[string]bus.QueryFunc{
		"balance": func(ctx context.Context, raw json.RawMessage) (any, error) {
			var req BalanceRequest
			if err := s.parse(ctx, raw, &req, &req.AccountID); err != nil {
				return nil, err
			}
			var out Balance
			s.rm.read(req.AccountID, func(a *ledger.Account) {
				out = Balance{AccountID: req.AccountID, Purchased: a.Purchased, Consumed: a.Consumed, Held: a.Held(), Available: a.Available()}
			})
			return out, nil
		},
		"ledger": func(ctx context.Context, raw json.RawMessage) (any, error) {
			var req LedgerRequest
			if err := s.parse(ctx, raw, &req, &req.AccountID); err != nil {
				return nil, err
			}
			out := Ledger{AccountID: req.AccountID, Entries: []ledger.Entry{}}
			s.rm.read(req.AccountID, func(a *ledger.Account) {
				es := a.Entries
				if len(es) > s.cfg.LedgerLimit {
					es = es[len(es)-s.cfg.LedgerLimit:]
				}
				out.Entries = append(out.Entries, es...)
			})
			return out, nil
		},
		"quote": func(ctx context.Context, raw json.RawMessage) (any, error) {
			var req QuoteRequest
			if err := s.parse(ctx, raw, &req, &req.AccountID); err != nil {
				return nil, err
			}
			if req.ProjectID == "" {
				return nil, errs.Field("projectId", "is required")
			}
			var out Quote
			s.rm.read(req.AccountID, func(a *ledger.Account) { out = a.Quote(req.ProjectID, req.MailboxIDs) })
			return out, nil
		},
	}
}

// parse decodes a request that must name an account, then waits until the
// read model has seen everything the BILLING stream holds, so an answer
// reflects every decision already appended (by any process).
func (s *Service) parse(ctx context.Context, raw json.RawMessage, req any, accountID *string) error {
	if err := json.Unmarshal(raw, req); err != nil {
		return errs.Wrap(errs.Invalid, err, "the request is not valid JSON", "send a JSON object with an accountId")
	}
	if *accountID == "" {
		return errs.Field("accountId", "is required")
	}
	st, err := s.d.Bus.JetStream().Stream(ctx, Stream)
	if err != nil {
		return fmt.Errorf("billing: stream %s: %w", Stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("billing: stream %s: %w", Stream, err)
	}
	if err := s.follower.WaitFor(ctx, Stream, info.State.LastSeq); err != nil {
		return errs.Wrap(errs.Unavailable, err, "the billing read model is catching up", "retry in a few seconds")
	}
	return nil
}
