// Package runstate folds a run's transfer events (the aggregate on
// transfer.run.<runId>) into the state the coordinator decides on: how many
// mailboxes the run has, which of them ended and how, and whether the run
// already finished. Distinct source ids are counted, so a mailbox reported
// twice (at-least-once delivery) never finishes a run early.
package runstate

import (
	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/transfer"
)

// Mailbox outcomes.
const (
	Completed = "completed"
	Failed    = "failed"
	Cancelled = "cancelled"
)

// State is a run's transfer aggregate.
type State struct {
	Started   bool
	RunID     string
	ProjectID string
	AccountID string
	Mode      string
	Mailboxes int
	// Begun holds the source ids with a MailboxStarted.
	Begun map[string]bool
	// Ended maps a source id to its first outcome.
	Ended    map[string]string
	Finished bool
	Outcome  string
}

// New returns the state of a run nothing happened to.
func New() State { return State{Begun: map[string]bool{}, Ended: map[string]string{}} }

// Fold applies one event. Maps are copied before they change, because the
// bus caches states and other goroutines may be reading the previous one.
func Fold(s State, ev events.Event) State {
	switch e := ev.(type) {
	case transfer.RunStarted:
		if !s.Started {
			s.Started = true
			s.RunID, s.ProjectID, s.AccountID, s.Mode, s.Mailboxes = e.RunID, e.ProjectID, e.AccountID, e.Mode, e.Mailboxes
		}
	case transfer.MailboxStarted:
		if !s.Begun[e.SourceID] {
			s.Begun = with(s.Begun, e.SourceID, true)
		}
	case transfer.MailboxCompleted:
		s = s.end(e.SourceID, Completed)
	case transfer.MailboxFailed:
		s = s.end(e.SourceID, Failed)
	case transfer.MailboxCancelled:
		s = s.end(e.SourceID, Cancelled)
	case transfer.RunFinished:
		s.Finished = true
		s.Outcome = e.State
	}
	return s
}

func (s State) end(sourceID, outcome string) State {
	if _, done := s.Ended[sourceID]; done {
		return s
	}
	s.Ended = with(s.Ended, sourceID, outcome)
	return s
}

func with[V any](m map[string]V, k string, v V) map[string]V {
	out := make(map[string]V, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}

// HasEnded reports whether a mailbox of the run already ended.
func (s State) HasEnded(sourceID string) bool {
	_, ok := s.Ended[sourceID]
	return ok
}

// Finish returns the RunFinished the run is due, if every mailbox ended and
// the run has not finished yet. The run failed if any mailbox failed, else
// it was cancelled if any was cancelled, else it completed.
func (s State) Finish() (transfer.RunFinished, bool) {
	if !s.Started || s.Finished || len(s.Ended) < s.Mailboxes {
		return transfer.RunFinished{}, false
	}
	f := transfer.RunFinished{RunID: s.RunID, ProjectID: s.ProjectID, AccountID: s.AccountID}
	for _, o := range s.Ended {
		switch o {
		case Completed:
			f.Completed++
		case Failed:
			f.Failed++
		case Cancelled:
			f.Cancelled++
		}
	}
	switch {
	case f.Failed > 0:
		f.State = Failed
	case f.Cancelled > 0:
		f.State = Cancelled
	default:
		f.State = Completed
	}
	return f, true
}
