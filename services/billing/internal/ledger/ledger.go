// Package ledger is the credit account aggregate: the billing events of one
// account folded into a state, and the pure decisions taken on it (hold a
// full run's credits, consume a mailbox's credit, release what a run did not
// use). Nothing here touches the bus, so every credit rule is table-tested.
//
// Credit rules: one credit per source mailbox, charged once per project;
// re-running, retrying or resuming a charged mailbox is free. A run is held
// for the mailboxes that are neither charged in its project nor held by
// another active run of that project, and only if the balance covers them.
package ledger

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/billing"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/events/transfer"
)

// Ledger entry types, as shown to people.
const (
	EntryPurchase = "purchase"
	EntryHold     = "hold"
	EntryRejected = "hold_rejected"
	EntryConsume  = "consume"
	EntryRelease  = "release"
)

// Entry is one line of an account's ledger. Amount is signed for money
// movements (+purchase, -consume); holds and releases show the number of
// mailboxes (credits) they reserved or gave back.
type Entry struct {
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`
	Amount    int       `json:"amount"`
	RunID     string    `json:"runId"`
	ProjectID string    `json:"projectId"`
	MailboxID string    `json:"mailboxId"`
	Reference string    `json:"reference"`
	// RequestID is the purchase request a purchase came from, so the API
	// can tell when its own request was recorded.
	RequestID string `json:"requestId,omitempty"`
}

// Run is what the account knows about one full run.
type Run struct {
	ProjectID string
	// Wanted are every source mailbox of the run, held or not: a mailbox
	// another run of the project held when this one asked passes to this
	// run if the other releases it.
	Wanted map[string]bool
	// Held are the mailboxes still reserved for the run (not consumed, not
	// released).
	Held map[string]bool
	// Rejected runs never held anything.
	Rejected bool
	// Closed runs were released; they hold nothing any more.
	Closed bool
}

func (r *Run) active() bool { return !r.Rejected && !r.Closed }

// Account is the folded state of one account's billing events. The zero
// value is not ready: use New.
type Account struct {
	ID        string
	Purchased int
	Consumed  int
	// Runs by run id, and the order they were decided in (which run a
	// released mailbox passes to must not depend on map order).
	Runs     map[string]*Run
	runOrder []string
	// Charged mailboxes per project.
	Charged map[string]map[string]bool
	// Purchases already recorded, by request id.
	Purchases map[string]bool
	Entries   []Entry
}

// New returns an account with no history.
func New(id string) *Account {
	return &Account{
		ID:        id,
		Runs:      map[string]*Run{},
		Charged:   map[string]map[string]bool{},
		Purchases: map[string]bool{},
	}
}

// Held is the number of credits reserved by active runs.
func (a *Account) Held() int {
	n := 0
	for _, r := range a.Runs {
		if r.active() {
			n += len(r.Held)
		}
	}
	return n
}

// Available is what a new hold may use: purchased - consumed - held.
func (a *Account) Available() int { return a.Purchased - a.Consumed - a.Held() }

// IsCharged says whether a mailbox was already charged in a project.
func (a *Account) IsCharged(projectID, mailboxID string) bool {
	return a.Charged[projectID][mailboxID]
}

// Apply folds one event into the account, mutating it. at is the event's
// time, recorded in the ledger entries. Events of other accounts or types
// are ignored.
func (a *Account) Apply(ev events.Event, at time.Time) {
	switch e := ev.(type) {
	case billing.CreditsPurchased:
		if e.RequestID != "" {
			a.Purchases[e.RequestID] = true
		}
		a.Purchased += e.Amount
		a.Entries = append(a.Entries, Entry{Time: at, Type: EntryPurchase, Amount: e.Amount, Reference: e.Reference, RequestID: e.RequestID})
	case billing.CreditsHeld:
		r := a.run(e.RunID, e.ProjectID)
		for _, m := range e.Mailboxes {
			r.Wanted[m] = true
			r.Held[m] = true
		}
		for _, m := range e.Waiting {
			r.Wanted[m] = true
		}
		a.Entries = append(a.Entries, Entry{Time: at, Type: EntryHold, Amount: len(e.Mailboxes), RunID: e.RunID, ProjectID: e.ProjectID})
	case billing.HoldRejected:
		r := a.run(e.RunID, e.ProjectID)
		r.Rejected = true
		a.Entries = append(a.Entries, Entry{Time: at, Type: EntryRejected, RunID: e.RunID, ProjectID: e.ProjectID, Reference: Reason(e.Needed, e.Available)})
	case billing.CreditConsumed:
		if a.IsCharged(e.ProjectID, e.MailboxID) {
			return
		}
		set := a.Charged[e.ProjectID]
		if set == nil {
			set = map[string]bool{}
			a.Charged[e.ProjectID] = set
		}
		set[e.MailboxID] = true
		a.Consumed++
		// The credit now comes out of the balance itself: whichever run of
		// the project reserved it no longer does.
		for _, r := range a.Runs {
			if r.ProjectID == e.ProjectID {
				delete(r.Held, e.MailboxID)
			}
		}
		a.Entries = append(a.Entries, Entry{Time: at, Type: EntryConsume, Amount: -1, RunID: e.RunID, ProjectID: e.ProjectID, MailboxID: e.MailboxID})
	case billing.HoldReleased:
		r, ok := a.Runs[e.RunID]
		if !ok || r.Closed {
			return
		}
		r.Closed = true
		freed := 0
		for _, m := range e.Mailboxes {
			if !r.Held[m] {
				continue
			}
			delete(r.Held, m)
			if next := a.waiting(r.ProjectID, m); next != nil {
				next.Held[m] = true
				continue
			}
			freed++
		}
		// Anything still listed was never released explicitly; a closed
		// run holds nothing either way.
		r.Held = map[string]bool{}
		a.Entries = append(a.Entries, Entry{Time: at, Type: EntryRelease, Amount: freed, RunID: e.RunID, ProjectID: r.ProjectID})
	}
}

// run returns the run, creating it.
func (a *Account) run(runID, projectID string) *Run {
	r, ok := a.Runs[runID]
	if !ok {
		r = &Run{ProjectID: projectID, Wanted: map[string]bool{}, Held: map[string]bool{}}
		a.Runs[runID] = r
		a.runOrder = append(a.runOrder, runID)
	}
	return r
}

// waiting returns the first active run of the project that wants mailbox m
// but does not hold it (because another run held it when it asked).
func (a *Account) waiting(projectID, m string) *Run {
	if a.IsCharged(projectID, m) {
		return nil
	}
	for _, id := range a.runOrder {
		r := a.Runs[id]
		if r.ProjectID == projectID && r.active() && r.Wanted[m] && !r.Held[m] {
			return r
		}
	}
	return nil
}

// heldByActive says whether an active run other than except holds m in the
// project.
func (a *Account) heldByActive(projectID, m, except string) bool {
	for id, r := range a.Runs {
		if id != except && r.ProjectID == projectID && r.active() && r.Held[m] {
			return true
		}
	}
	return false
}

// Reason is the plain sentence a rejected run carries.
func Reason(needed, available int) string {
	return fmt.Sprintf("needs %d credits, has %d", needed, available)
}

// Hold decides on a full run request: CreditsHeld (possibly with no
// mailboxes, when everything is already charged or held, so the run is
// approved) or HoldRejected. It returns nil when the run was already decided
// or is not a full run.
func (a *Account) Hold(req project.RunRequested) events.Event {
	if req.Mode != events.ModeFull {
		return nil
	}
	if _, decided := a.Runs[req.RunID]; decided {
		return nil
	}
	need, waiting := a.needed(req.ProjectID, sourceIDs(req.Pairs), req.RunID)
	if avail := a.Available(); len(need) > avail {
		return billing.HoldRejected{AccountID: req.AccountID, ProjectID: req.ProjectID, RunID: req.RunID, Needed: len(need), Available: avail}
	}
	return billing.CreditsHeld{AccountID: req.AccountID, ProjectID: req.ProjectID, RunID: req.RunID, Mailboxes: need, Waiting: waiting}
}

// needed splits ids into the mailboxes a run would have to hold and those
// another active run of the project holds already; charged ones are in
// neither.
func (a *Account) needed(projectID string, ids []string, runID string) (need, waiting []string) {
	need = []string{}
	for _, m := range ids {
		switch {
		case a.IsCharged(projectID, m):
		case a.heldByActive(projectID, m, runID):
			waiting = append(waiting, m)
		default:
			need = append(need, m)
		}
	}
	return need, waiting
}

// sourceIDs returns the distinct, non-empty source ids of pairs, sorted.
func sourceIDs(pairs []events.Pair) []string {
	var ids []string
	for _, p := range pairs {
		if p.SourceID != "" {
			ids = append(ids, p.SourceID)
		}
	}
	return distinct(ids)
}

func distinct(ids []string) []string {
	out := slices.Clone(ids)
	sort.Strings(out)
	return slices.Compact(out)
}

// Consume decides on a started mailbox: one CreditConsumed for a full run's
// mailbox not yet charged in its project, otherwise nil.
func (a *Account) Consume(m transfer.MailboxStarted) events.Event {
	if m.Mode != events.ModeFull || m.SourceID == "" || a.IsCharged(m.ProjectID, m.SourceID) {
		return nil
	}
	return billing.CreditConsumed{AccountID: m.AccountID, ProjectID: m.ProjectID, RunID: m.RunID, MailboxID: m.SourceID}
}

// Release decides on a finished run: HoldReleased with the mailboxes it
// still holds (possibly none, which closes the hold), or nil when the run
// had no hold or was already released.
func (a *Account) Release(f transfer.RunFinished) events.Event {
	r, ok := a.Runs[f.RunID]
	if !ok || !r.active() {
		return nil
	}
	held := make([]string, 0, len(r.Held))
	for m := range r.Held {
		held = append(held, m)
	}
	sort.Strings(held)
	return billing.HoldReleased{AccountID: f.AccountID, ProjectID: r.ProjectID, RunID: f.RunID, Mailboxes: held}
}

// Purchase decides on a purchase request: CreditsPurchased, or nil when the
// request was already recorded. A non-positive amount is an error: no retry
// can fix it.
func (a *Account) Purchase(p project.CreditsPurchaseRequested) (events.Event, error) {
	if p.Amount <= 0 {
		return nil, fmt.Errorf("purchase %s for account %s: amount %d is not positive", p.RequestID, p.AccountID, p.Amount)
	}
	if p.RequestID != "" && a.Purchases[p.RequestID] {
		return nil, nil
	}
	return billing.CreditsPurchased{AccountID: p.AccountID, Amount: p.Amount, Reference: p.Reference, RequestID: p.RequestID}, nil
}

// Quote is what a full run of some mailboxes of a project would cost now.
type Quote struct {
	Needed         int `json:"needed"`
	Available      int `json:"available"`
	AlreadyCharged int `json:"alreadyCharged"`
	// Charged lists the given mailboxes already charged in the project:
	// the ones a free delta run may move.
	Charged []string `json:"charged"`
}

// Quote prices a full run of mailboxIDs in a project, with the same rules as
// Hold. Mailboxes held by an active run count as neither needed nor charged.
func (a *Account) Quote(projectID string, mailboxIDs []string) Quote {
	ids := distinct(slices.DeleteFunc(slices.Clone(mailboxIDs), func(s string) bool { return s == "" }))
	q := Quote{Available: a.Available(), Charged: []string{}}
	for _, m := range ids {
		if a.IsCharged(projectID, m) {
			q.AlreadyCharged++
			q.Charged = append(q.Charged, m)
		}
	}
	need, _ := a.needed(projectID, ids, "")
	q.Needed = len(need)
	return q
}
