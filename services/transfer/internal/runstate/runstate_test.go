package runstate

import (
	"testing"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/transfer"
)

func fold(evs ...events.Event) State {
	s := New()
	for _, e := range evs {
		s = Fold(s, e)
	}
	return s
}

func TestFinish(t *testing.T) {
	t.Parallel()
	started := transfer.RunStarted{RunID: "r", ProjectID: "p", AccountID: "a", Mode: "full", Mailboxes: 2}
	tests := []struct {
		name  string
		evs   []events.Event
		due   bool
		state string
	}{
		{"not started", []events.Event{transfer.MailboxCompleted{SourceID: "a"}}, false, ""},
		{"one of two", []events.Event{started, transfer.MailboxCompleted{SourceID: "a"}}, false, ""},
		{"same mailbox twice is one", []events.Event{started, transfer.MailboxCompleted{SourceID: "a"}, transfer.MailboxCompleted{SourceID: "a"}}, false, ""},
		{"all completed", []events.Event{started, transfer.MailboxCompleted{SourceID: "a"}, transfer.MailboxCompleted{SourceID: "b"}}, true, Completed},
		{"any failed", []events.Event{started, transfer.MailboxCancelled{SourceID: "a"}, transfer.MailboxFailed{SourceID: "b"}}, true, Failed},
		{"any cancelled", []events.Event{started, transfer.MailboxCompleted{SourceID: "a"}, transfer.MailboxCancelled{SourceID: "b"}}, true, Cancelled},
		{"already finished", []events.Event{started, transfer.MailboxCompleted{SourceID: "a"}, transfer.MailboxCompleted{SourceID: "b"}, transfer.RunFinished{State: Completed}}, false, ""},
		{"zero mailboxes", []events.Event{transfer.RunStarted{RunID: "r"}}, true, Completed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, due := fold(tt.evs...).Finish()
			if due != tt.due || f.State != tt.state {
				t.Fatalf("Finish() = %+v, %v; want state %q due %v", f, due, tt.state, tt.due)
			}
		})
	}
}

func TestFirstOutcomeWinsAndCounts(t *testing.T) {
	t.Parallel()
	s := fold(transfer.RunStarted{RunID: "r", Mailboxes: 3},
		transfer.MailboxStarted{SourceID: "a"},
		transfer.MailboxFailed{SourceID: "a"}, transfer.MailboxCompleted{SourceID: "a"},
		transfer.MailboxCompleted{SourceID: "b"}, transfer.MailboxCancelled{SourceID: "c"})
	if !s.Begun["a"] || s.Begun["b"] {
		t.Fatalf("begun %v", s.Begun)
	}
	if !s.HasEnded("a") || s.Ended["a"] != Failed {
		t.Fatalf("ended %v", s.Ended)
	}
	f, ok := s.Finish()
	if !ok || f.Completed != 1 || f.Failed != 1 || f.Cancelled != 1 || f.State != Failed {
		t.Fatalf("finish %+v %v", f, ok)
	}
}

func TestFoldDoesNotMutatePreviousState(t *testing.T) {
	t.Parallel()
	before := fold(transfer.RunStarted{Mailboxes: 2}, transfer.MailboxCompleted{SourceID: "a"})
	after := Fold(before, transfer.MailboxCompleted{SourceID: "b"})
	if len(before.Ended) != 1 || len(after.Ended) != 2 {
		t.Fatalf("before %v after %v", before.Ended, after.Ended)
	}
}
