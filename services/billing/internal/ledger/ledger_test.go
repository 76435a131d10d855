package ledger

import (
	"reflect"
	"testing"
	"time"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/billing"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/events/transfer"
)

const acct, proj, proj2 = "a1", "p1", "p2"

func fold(evs ...events.Event) *Account {
	a := New(acct)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, ev := range evs {
		a.Apply(ev, at.Add(time.Duration(i)*time.Second))
	}
	return a
}

func bought(n int) billing.CreditsPurchased {
	return billing.CreditsPurchased{AccountID: acct, Amount: n}
}

func held(run, p string, mbx ...string) billing.CreditsHeld {
	return billing.CreditsHeld{AccountID: acct, ProjectID: p, RunID: run, Mailboxes: append([]string{}, mbx...)}
}

func consumed(run, p, m string) billing.CreditConsumed {
	return billing.CreditConsumed{AccountID: acct, ProjectID: p, RunID: run, MailboxID: m}
}

func released(run, p string, mbx ...string) billing.HoldReleased {
	return billing.HoldReleased{AccountID: acct, ProjectID: p, RunID: run, Mailboxes: append([]string{}, mbx...)}
}

func fullRun(run, p string, mbx ...string) project.RunRequested {
	r := project.RunRequested{RunID: run, ProjectID: p, AccountID: acct, Mode: events.ModeFull}
	for _, m := range mbx {
		r.Pairs = append(r.Pairs, events.Pair{SourceID: m, SourceAddress: m + "@src", DestinationAddress: m + "@dst"})
	}
	return r
}

func TestHold(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		history []events.Event
		req     project.RunRequested
		want    events.Event
	}{
		{
			name:    "balance covers the run",
			history: []events.Event{bought(3)},
			req:     fullRun("r1", proj, "m1", "m2"),
			want:    held("r1", proj, "m1", "m2"),
		},
		{
			name:    "exactly enough",
			history: []events.Event{bought(2)},
			req:     fullRun("r1", proj, "m2", "m1", "m1"),
			want:    held("r1", proj, "m1", "m2"),
		},
		{
			name:    "insufficient: needs 3, has 2",
			history: []events.Event{bought(2)},
			req:     fullRun("r1", proj, "m1", "m2", "m3"),
			want:    billing.HoldRejected{AccountID: acct, ProjectID: proj, RunID: "r1", Needed: 3, Available: 2},
		},
		{
			name:    "no purchase at all",
			history: nil,
			req:     fullRun("r1", proj, "m1"),
			want:    billing.HoldRejected{AccountID: acct, ProjectID: proj, RunID: "r1", Needed: 1, Available: 0},
		},
		{
			name:    "another run's hold reduces what is available",
			history: []events.Event{bought(3), held("r0", proj2, "x1", "x2")},
			req:     fullRun("r1", proj, "m1", "m2"),
			want:    billing.HoldRejected{AccountID: acct, ProjectID: proj, RunID: "r1", Needed: 2, Available: 1},
		},
		{
			name:    "re-run of a charged project needs nothing, even with no balance",
			history: []events.Event{bought(2), held("r0", proj, "m1", "m2"), consumed("r0", proj, "m1"), consumed("r0", proj, "m2"), released("r0", proj)},
			req:     fullRun("r1", proj, "m1", "m2"),
			want:    held("r1", proj),
		},
		{
			name:    "charged in another project is charged again",
			history: []events.Event{bought(2), held("r0", proj2, "m1"), consumed("r0", proj2, "m1"), released("r0", proj2)},
			req:     fullRun("r1", proj, "m1"),
			want:    held("r1", proj, "m1"),
		},
		{
			name:    "held by an active run of the project: waiting, not needed",
			history: []events.Event{bought(2), held("r0", proj, "m1")},
			req:     fullRun("r1", proj, "m1", "m2"),
			want:    billing.CreditsHeld{AccountID: acct, ProjectID: proj, RunID: "r1", Mailboxes: []string{"m2"}, Waiting: []string{"m1"}},
		},
		{
			name:    "held by a released run counts again",
			history: []events.Event{bought(1), held("r0", proj, "m1"), released("r0", proj, "m1")},
			req:     fullRun("r1", proj, "m1"),
			want:    held("r1", proj, "m1"),
		},
		{
			name:    "already held: no second decision",
			history: []events.Event{bought(5), held("r1", proj, "m1")},
			req:     fullRun("r1", proj, "m1"),
			want:    nil,
		},
		{
			name:    "already rejected: no second decision",
			history: []events.Event{billing.HoldRejected{AccountID: acct, ProjectID: proj, RunID: "r1", Needed: 1}, bought(5)},
			req:     fullRun("r1", proj, "m1"),
			want:    nil,
		},
		{
			name:    "not a full run",
			history: []events.Event{bought(5)},
			req:     func() project.RunRequested { r := fullRun("r1", proj, "m1"); r.Mode = events.ModeDelta; return r }(),
			want:    nil,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := fold(c.history...).Hold(c.req)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Hold = %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestHoldWithNothingNeededHasEmptyList(t *testing.T) {
	t.Parallel()
	got, ok := fold().Hold(fullRun("r1", proj)).(billing.CreditsHeld)
	if !ok || got.Mailboxes == nil || len(got.Mailboxes) != 0 {
		t.Fatalf("Hold of an empty run = %#v, want CreditsHeld with an empty, non-nil list", got)
	}
}

func TestConsume(t *testing.T) {
	t.Parallel()
	started := func(run, p, m, mode string) transfer.MailboxStarted {
		return transfer.MailboxStarted{RunID: run, ProjectID: p, AccountID: acct, Mode: mode, SourceID: m}
	}
	cases := []struct {
		name    string
		history []events.Event
		ev      transfer.MailboxStarted
		want    events.Event
	}{
		{"first start", []events.Event{bought(1), held("r1", proj, "m1")}, started("r1", proj, "m1", events.ModeFull), consumed("r1", proj, "m1")},
		{"resumed in the same run", []events.Event{bought(1), held("r1", proj, "m1"), consumed("r1", proj, "m1")}, started("r1", proj, "m1", events.ModeFull), nil},
		{"another run of the project", []events.Event{bought(1), consumed("r1", proj, "m1")}, started("r2", proj, "m1", events.ModeFull), nil},
		{"another project", []events.Event{bought(2), consumed("r1", proj, "m1")}, started("r2", proj2, "m1", events.ModeFull), consumed("r2", proj2, "m1")},
		{"delta is free", []events.Event{bought(1)}, started("r1", proj, "m1", events.ModeDelta), nil},
		{"prestage is free", []events.Event{bought(1)}, started("r1", proj, "m1", events.ModePrestage), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := fold(c.history...).Consume(c.ev)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Consume = %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	t.Parallel()
	fin := transfer.RunFinished{RunID: "r1", ProjectID: proj, AccountID: acct, State: "cancelled"}
	cases := []struct {
		name    string
		history []events.Event
		want    events.Event
	}{
		{"unstarted mailboxes released", []events.Event{bought(3), held("r1", proj, "m1", "m2", "m3"), consumed("r1", proj, "m2")}, released("r1", proj, "m1", "m3")},
		{"everything consumed closes the hold empty", []events.Event{bought(1), held("r1", proj, "m1"), consumed("r1", proj, "m1")}, released("r1", proj)},
		{"already released", []events.Event{bought(1), held("r1", proj, "m1"), released("r1", proj, "m1")}, nil},
		{"no hold", []events.Event{bought(1)}, nil},
		{"rejected run", []events.Event{billing.HoldRejected{AccountID: acct, ProjectID: proj, RunID: "r1", Needed: 2}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := fold(c.history...).Release(fin)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Release = %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestPurchase(t *testing.T) {
	t.Parallel()
	req := project.CreditsPurchaseRequested{RequestID: "q1", AccountID: acct, Amount: 5, Reference: "inv-1"}
	cases := []struct {
		name    string
		history []events.Event
		req     project.CreditsPurchaseRequested
		want    events.Event
		wantErr bool
	}{
		{"positive amount", nil, req, billing.CreditsPurchased{AccountID: acct, Amount: 5, Reference: "inv-1", RequestID: "q1"}, false},
		{"request already recorded", []events.Event{billing.CreditsPurchased{AccountID: acct, Amount: 5, RequestID: "q1"}}, req, nil, false},
		{"zero amount", nil, project.CreditsPurchaseRequested{RequestID: "q2", AccountID: acct}, nil, true},
		{"negative amount", nil, project.CreditsPurchaseRequested{RequestID: "q2", AccountID: acct, Amount: -3}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := fold(c.history...).Purchase(c.req)
			if (err != nil) != c.wantErr || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Purchase = %#v, %v; want %#v, error %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestBalanceAfterHistory(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                                 string
		history                              []events.Event
		purchased, consumed, held, available int
	}{
		{"empty", nil, 0, 0, 0, 0},
		{"bought", []events.Event{bought(5), bought(2)}, 7, 0, 0, 7},
		{"held", []events.Event{bought(5), held("r1", proj, "m1", "m2")}, 5, 0, 2, 3},
		{"consumed out of the hold", []events.Event{bought(5), held("r1", proj, "m1", "m2"), consumed("r1", proj, "m1")}, 5, 1, 1, 3},
		{"consumed twice in a project counts once", []events.Event{bought(5), held("r1", proj, "m1"), consumed("r1", proj, "m1"), consumed("r2", proj, "m1")}, 5, 1, 0, 4},
		{"released", []events.Event{bought(5), held("r1", proj, "m1", "m2"), consumed("r1", proj, "m1"), released("r1", proj, "m2")}, 5, 1, 0, 4},
		{"rejected holds nothing", []events.Event{bought(1), billing.HoldRejected{AccountID: acct, ProjectID: proj, RunID: "r1", Needed: 3, Available: 1}}, 1, 0, 0, 1},
		{
			name: "a released mailbox another active run waits for passes to it",
			history: []events.Event{
				bought(2), held("r1", proj, "m1"),
				billing.CreditsHeld{AccountID: acct, ProjectID: proj, RunID: "r2", Mailboxes: []string{"m2"}, Waiting: []string{"m1"}},
				released("r1", proj, "m1"),
			},
			purchased: 2, held: 2, available: 0,
		},
		{
			name: "a consumed mailbox leaves the other run's hold",
			history: []events.Event{
				bought(2), held("r1", proj, "m1"),
				billing.CreditsHeld{AccountID: acct, ProjectID: proj, RunID: "r2", Mailboxes: []string{}, Waiting: []string{"m1"}},
				consumed("r2", proj, "m1"), released("r1", proj), released("r2", proj),
			},
			purchased: 2, consumed: 1, held: 0, available: 1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a := fold(c.history...)
			if a.Purchased != c.purchased || a.Consumed != c.consumed || a.Held() != c.held || a.Available() != c.available {
				t.Fatalf("purchased %d consumed %d held %d available %d; want %d %d %d %d",
					a.Purchased, a.Consumed, a.Held(), a.Available(), c.purchased, c.consumed, c.held, c.available)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	a := fold(bought(5), held("r0", proj, "m1", "m2"), consumed("r0", proj, "m1"), held("r9", proj2, "x"))
	got := a.Quote(proj, []string{"m1", "m2", "m3", "m4", "m3", ""})
	// m1 charged; m2 held by the active r0; m3, m4 need a credit each.
	want := Quote{Needed: 2, Available: 5 - 1 - 1 - 1, AlreadyCharged: 1, Charged: []string{"m1"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Quote = %+v, want %+v", got, want)
	}
}

func TestLedgerEntries(t *testing.T) {
	t.Parallel()
	a := fold(
		billing.CreditsPurchased{AccountID: acct, Amount: 3, Reference: "inv-9"},
		held("r1", proj, "m1", "m2"),
		consumed("r1", proj, "m1"),
		released("r1", proj, "m2"),
		billing.HoldRejected{AccountID: acct, ProjectID: proj, RunID: "r2", Needed: 4, Available: 2},
	)
	var got []Entry
	for _, e := range a.Entries {
		if e.Time.IsZero() {
			t.Fatalf("entry %+v has no time", e)
		}
		e.Time = time.Time{}
		got = append(got, e)
	}
	want := []Entry{
		{Type: EntryPurchase, Amount: 3, Reference: "inv-9"},
		{Type: EntryHold, Amount: 2, RunID: "r1", ProjectID: proj},
		{Type: EntryConsume, Amount: -1, RunID: "r1", ProjectID: proj, MailboxID: "m1"},
		{Type: EntryRelease, Amount: 1, RunID: "r1", ProjectID: proj},
		{Type: EntryRejected, RunID: "r2", ProjectID: proj, Reference: "needs 4 credits, has 2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("entries\n%+v\nwant\n%+v", got, want)
	}
}
