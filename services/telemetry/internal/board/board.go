// Package board is telemetry's per-mailbox progress read model: runs and
// their mailboxes, built from the TRANSFER and PROGRESS streams.
//
// The two streams are separate, so their events interleave in any order: a
// replay after a restart sees all progress before the transfer events, a live
// follower may see a mailbox's last progress after it ended. The rules below
// make both orders converge on the same answers:
//   - states only move forward (queued, running, then an end state); the end
//     states come from transfer events alone, never from progress;
//   - a progress snapshot taken after the mailbox ended (At later than the
//     end event's time) is dropped, whichever arrives first;
//   - counters are those of the newest snapshot kept.
package board

import (
	"sort"
	"sync"
	"time"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/progress"
	"github.com/mailferry/mailferry/events/transfer"
)

// Mailbox and run states.
const (
	Queued    = "queued"
	Running   = "running"
	Completed = "completed"
	Failed    = "failed"
	Cancelled = "cancelled"
)

// States are the valid mailbox states, in the order they move through.
var States = []string{Queued, Running, Completed, Failed, Cancelled}

// lateSlack is how many snapshots beyond the window a mailbox keeps, so
// dropping the few taken after its end (seen first on a replay) still leaves
// a full window, as a live follower that ignored them has.
const lateSlack = 4

// DefaultWindow is how many recent snapshots each mailbox keeps for rates:
// at about one snapshot a second, ten seconds of history.
const DefaultWindow = 10

func ended(state string) bool { return state == Completed || state == Failed || state == Cancelled }

// snapshot is one progress event as kept in a mailbox's window.
type snapshot struct {
	at           time.Time
	items        int
	bytes        int64
	totalItems   int
	failed       int
	folder       string
	health       string
	retryAfterMs int64
}

type mailbox struct {
	runID, sourceID, address string
	state                    string
	worker                   string
	resumed                  bool
	cur                      snapshot // newest snapshot kept (or zero)
	window                   []snapshot
	started, updated, end    time.Time
	final                    *transfer.Counts
	err                      *ErrorInfo
}

type run struct {
	id, projectID, accountID, mode, state string
	declared                              int // mailboxes announced by run_started
	started, finished, firstSeen          time.Time
	mailboxes                             map[string]*mailbox
}

// Board is the read model. It is safe for concurrent use: events are
// applied by one follower while queries read.
type Board struct {
	mu        sync.RWMutex
	window    int
	rules     Rules
	runs      map[string]*run
	byProject map[string]map[string]*run
	// now is the clock health is judged by (a test's own in tests).
	now func() time.Time
}

// New returns an empty board keeping window snapshots per mailbox (at least
// two, since a rate needs two points), judging health by DefaultRules.
func New(window int) *Board { return NewWithRules(window, DefaultRules) }

// NewWithRules returns an empty board judging health by rules.
func NewWithRules(window int, rules Rules) *Board {
	if window < 2 {
		window = DefaultWindow
	}
	return &Board{window: window, rules: rules.withDefaults(), runs: map[string]*run{}, byProject: map[string]map[string]*run{}, now: time.Now}
}

// SetClock replaces the clock health is judged by.
func (b *Board) SetClock(now func() time.Time) {
	b.mu.Lock()
	b.now = now
	b.mu.Unlock()
}

// Apply folds one event into the board. at is the event's publication time
// (envelope time), used for the times transfer events carry no field for.
// Events the board does not track are ignored.
func (b *Board) Apply(ev events.Event, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case progress.MailboxProgress:
		b.applyProgress(e)
	case transfer.RunStarted:
		r := b.run(e.RunID, e.ProjectID, e.AccountID, at)
		r.mode = e.Mode
		r.declared = e.Mailboxes
		r.started = at
	case transfer.RunFinished:
		r := b.run(e.RunID, e.ProjectID, e.AccountID, at)
		r.state = e.State
		r.finished = at
	case transfer.MailboxStarted:
		r := b.run(e.RunID, e.ProjectID, e.AccountID, at)
		if r.mode == "" {
			r.mode = e.Mode
		}
		m := r.mailbox(e.SourceID)
		m.worker, m.resumed = e.Worker, e.Resumed
		if e.SourceAddress != "" {
			m.address = e.SourceAddress
		}
		m.advance(Running)
		m.startedAt(at)
		m.seen(at)
	case transfer.MailboxCompleted:
		c := e.Counts
		m := b.run(e.RunID, e.ProjectID, e.AccountID, at).mailbox(e.SourceID)
		m.final = &c
		m.finish(Completed, at)
	case transfer.MailboxFailed:
		c := e.Counts
		m := b.run(e.RunID, e.ProjectID, e.AccountID, at).mailbox(e.SourceID)
		m.final = &c
		m.err = &ErrorInfo{Code: e.Code, Cause: e.Cause, Action: e.Action}
		m.finish(Failed, at)
	case transfer.MailboxCancelled:
		m := b.run(e.RunID, e.ProjectID, e.AccountID, at).mailbox(e.SourceID)
		m.finish(Cancelled, at)
	}
}

// run returns the run, creating it from whichever of its events comes first.
func (b *Board) run(id, projectID, accountID string, at time.Time) *run {
	r, ok := b.runs[id]
	if !ok {
		r = &run{id: id, state: Running, firstSeen: at, mailboxes: map[string]*mailbox{}}
		b.runs[id] = r
	}
	if r.projectID == "" && projectID != "" {
		r.projectID = projectID
		if b.byProject[projectID] == nil {
			b.byProject[projectID] = map[string]*run{}
		}
		b.byProject[projectID][id] = r
	}
	if r.accountID == "" {
		r.accountID = accountID
	}
	if r.firstSeen.IsZero() || (!at.IsZero() && at.Before(r.firstSeen)) {
		r.firstSeen = at
	}
	return r
}

func (r *run) mailbox(sourceID string) *mailbox {
	m, ok := r.mailboxes[sourceID]
	if !ok {
		m = &mailbox{runID: r.id, sourceID: sourceID, state: Queued}
		r.mailboxes[sourceID] = m
	}
	return m
}

func (b *Board) applyProgress(p progress.MailboxProgress) {
	if p.RunID == "" || p.SourceID == "" {
		return
	}
	at := time.UnixMilli(p.At)
	m := b.run(p.RunID, p.ProjectID, p.AccountID, time.Time{}).mailbox(p.SourceID)
	if m.address == "" {
		m.address = p.SourceAddress
	}
	if ended(m.state) && (m.end.IsZero() || at.After(m.end)) {
		return // taken after the mailbox ended: late, and never reopens it
	}
	s := snapshot{at: at, items: p.Items, bytes: p.Bytes, totalItems: p.TotalItems, failed: p.Failed, folder: p.Folder, health: p.Health, retryAfterMs: p.RetryAfterMs}
	m.insert(s, b.window+lateSlack)
	if p.State != Queued {
		// Even for an ended mailbox: its end may have overtaken this
		// snapshot, which a replay would have seen first.
		m.startedAt(at)
	}
	if !ended(m.state) {
		// Progress moves a mailbox forward to running at most; only
		// transfer events end it.
		if p.State == Queued {
			m.advance(Queued)
		} else {
			m.advance(Running)
		}
		m.seen(at)
	}
}

// insert keeps the window sorted by time, replacing a snapshot of the same
// instant (a redelivered event), and the current counters on the newest.
func (m *mailbox) insert(s snapshot, window int) {
	i := sort.Search(len(m.window), func(i int) bool { return !m.window[i].at.Before(s.at) })
	if i < len(m.window) && m.window[i].at.Equal(s.at) {
		m.window[i] = s
	} else {
		m.window = append(m.window, snapshot{})
		copy(m.window[i+1:], m.window[i:])
		m.window[i] = s
	}
	if len(m.window) > window {
		m.window = append(m.window[:0], m.window[len(m.window)-window:]...)
	}
	m.cur = m.window[len(m.window)-1]
}

func rank(state string) int {
	switch state {
	case Queued:
		return 0
	case Running:
		return 1
	}
	return 2
}

// advance moves the state forward, never back: a late "running" cannot
// reopen an ended mailbox nor a "queued" demote a running one.
func (m *mailbox) advance(state string) {
	if rank(state) > rank(m.state) {
		m.state = state
	}
}

// startedAt keeps the earliest start seen, whichever stream told it first.
func (m *mailbox) startedAt(at time.Time) {
	if !at.IsZero() && (m.started.IsZero() || at.Before(m.started)) {
		m.started = at
	}
}

func (m *mailbox) seen(at time.Time) {
	if at.After(m.updated) {
		m.updated = at
	}
}

// finish ends the mailbox. The end event is authoritative, so it may also
// correct an earlier end state (a failure reported after a cancel, say).
// Snapshots taken after the end are dropped, so a replay that saw them
// first answers like a live follower that ignored them.
func (m *mailbox) finish(state string, at time.Time) {
	m.state = state
	if m.end.IsZero() || (!at.IsZero() && at.Before(m.end)) {
		m.end = at
	}
	if !m.end.IsZero() {
		keep := m.window[:0]
		for _, s := range m.window {
			if !s.at.After(m.end) {
				keep = append(keep, s)
			}
		}
		m.window = keep
		if len(m.window) > 0 {
			m.cur = m.window[len(m.window)-1]
		} else if m.cur.at.After(m.end) {
			m.cur = snapshot{}
		}
	}
	if !m.end.IsZero() {
		m.updated = m.end
	}
}
