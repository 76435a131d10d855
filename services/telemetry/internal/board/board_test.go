package board

import (
	"reflect"
	"testing"
	"time"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/progress"
	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/libs/errs"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func snap(sec, items int, bytes int64, total int) snapshot {
	return snapshot{at: at(sec), items: items, bytes: bytes, totalItems: total}
}

func TestRates(t *testing.T) {
	t.Parallel()
	i64 := func(v int64) *int64 { return &v }
	cases := []struct {
		name     string
		window   []snapshot
		ipm, bps float64
		eta      *int64
	}{
		{"empty", nil, 0, 0, nil},
		{"one snapshot has no rate", []snapshot{snap(0, 10, 100, 100)}, 0, 0, nil},
		{"steady", []snapshot{snap(0, 0, 0, 0), snap(10, 20, 5000, 0), snap(20, 40, 10000, 0)}, 120, 500, nil},
		{"eta from total", []snapshot{snap(0, 0, 0, 100), snap(30, 30, 3000, 100)}, 60, 100, i64(70)},
		{"eta rounds up", []snapshot{snap(0, 0, 0, 10), snap(60, 7, 0, 10)}, 7, 0, i64(26)},
		{"done means zero eta", []snapshot{snap(0, 0, 0, 5), snap(2, 5, 10, 5)}, 150, 5, i64(0)},
		{"stalled has no eta", []snapshot{snap(0, 5, 10, 50), snap(10, 5, 10, 50)}, 0, 0, nil},
		{"counter reset restarts measurement", []snapshot{snap(0, 50, 5000, 0), snap(10, 100, 9000, 0), snap(20, 10, 1000, 0), snap(40, 50, 3000, 0)}, 120, 100, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ipm, bps, eta := rates(c.window)
			if ipm != c.ipm || bps != c.bps || !reflect.DeepEqual(eta, c.eta) {
				t.Fatalf("rates = %v, %v, %v; want %v, %v, %v", ipm, bps, deref(eta), c.ipm, c.bps, deref(c.eta))
			}
		})
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

type timed struct {
	ev events.Event
	at time.Time
}

func prog(src string, state string, sec, items int, bytes int64) timed {
	return timed{ev: progress.MailboxProgress{RunID: "r1", ProjectID: "p1", AccountID: "a1", SourceID: src, SourceAddress: src + "@src.test",
		State: state, Health: progress.Healthy, Items: items, Bytes: bytes, TotalItems: 100, Folder: "Inbox", At: at(sec).UnixMilli()}}
}

func TestMailboxStates(t *testing.T) {
	t.Parallel()
	started := timed{transfer.RunStarted{RunID: "r1", ProjectID: "p1", AccountID: "a1", Mode: events.ModeFull, Mailboxes: 3}, at(0)}
	mstart := func(src string, sec int) timed {
		return timed{transfer.MailboxStarted{RunID: "r1", ProjectID: "p1", SourceID: src, Worker: "w1"}, at(sec)}
	}
	done := func(src string, sec int) timed {
		return timed{transfer.MailboxCompleted{RunID: "r1", ProjectID: "p1", SourceID: src, Counts: transfer.Counts{Copied: 90, AlreadyPresent: 10, Bytes: 9000}}, at(sec)}
	}
	cases := []struct {
		name   string
		events []timed
		state  string
		items  int
		totals Totals
	}{
		{"announced mailboxes count as queued", []timed{started},
			"", 0, Totals{Mailboxes: 3, Queued: 3}},
		{"progress makes a mailbox running", []timed{started, prog("m1", Running, 1, 10, 100)},
			Running, 10, Totals{Mailboxes: 3, Queued: 2, Running: 1, Items: 10, Bytes: 100}},
		{"queued progress never demotes", []timed{started, mstart("m1", 1), prog("m1", Queued, 2, 0, 0)},
			Running, 0, Totals{Mailboxes: 3, Queued: 2, Running: 1}},
		{"late progress after completion is ignored", []timed{started, mstart("m1", 1), prog("m1", Running, 2, 50, 500), done("m1", 3), prog("m1", Running, 4, 60, 600)},
			Completed, 50, Totals{Mailboxes: 3, Queued: 2, Completed: 1, Items: 50, Bytes: 500}},
		{"progress state completed alone does not end", []timed{started, prog("m1", Completed, 2, 100, 500)},
			Running, 100, Totals{Mailboxes: 3, Queued: 2, Running: 1, Items: 100, Bytes: 500}},
		{"failed keeps its error", []timed{started, mstart("m1", 1), {transfer.MailboxFailed{RunID: "r1", SourceID: "m1", Code: "platform_auth_failed", Cause: "consent revoked", Action: "grant consent"}, at(5)}},
			Failed, 0, Totals{Mailboxes: 3, Queued: 2, Failed: 1}},
		{"cancelled before start", []timed{started, {transfer.MailboxCancelled{RunID: "r1", SourceID: "m1"}, at(5)}, prog("m1", Running, 6, 1, 1)},
			Cancelled, 0, Totals{Mailboxes: 3, Queued: 2, Cancelled: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := New(DefaultWindow)
			for _, e := range c.events {
				b.Apply(e.ev, e.at)
			}
			r, err := b.Run(RunQuery{RunID: "r1"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Totals != c.totals {
				t.Fatalf("totals %+v, want %+v", r.Totals, c.totals)
			}
			if c.state == "" {
				return
			}
			m, err := b.Mailbox("r1", "m1")
			if err != nil {
				t.Fatal(err)
			}
			if m.State != c.state || m.Items != c.items {
				t.Fatalf("mailbox state %s items %d, want %s %d", m.State, m.Items, c.state, c.items)
			}
			if c.state == Failed && (m.Error == nil || m.Error.Code != "platform_auth_failed" || m.Health != progress.Failing) {
				t.Fatalf("failed mailbox error %+v health %s", m.Error, m.Health)
			}
			if c.state == Completed && (m.Final == nil || m.Final.Copied != 90 || m.Health != progress.Completed || m.FinishedAt == nil || !m.FinishedAt.Equal(at(3))) {
				t.Fatalf("completed mailbox %+v", m.Mailbox)
			}
		})
	}
}

// A live follower sees events interleaved as they happen; a replay sees
// all progress first. Both must give the same answers.
func TestReplayOrderConverges(t *testing.T) {
	t.Parallel()
	var transferEvs, progressEvs, live []timed
	add := func(e timed) {
		live = append(live, e)
		if _, ok := e.ev.(progress.MailboxProgress); ok {
			progressEvs = append(progressEvs, e)
		} else {
			transferEvs = append(transferEvs, e)
		}
	}
	add(timed{transfer.RunStarted{RunID: "r1", ProjectID: "p1", AccountID: "a1", Mode: events.ModeFull, Mailboxes: 3}, at(0)})
	add(timed{transfer.MailboxStarted{RunID: "r1", ProjectID: "p1", SourceID: "m1"}, at(1)})
	add(timed{transfer.MailboxStarted{RunID: "r1", ProjectID: "p1", SourceID: "m2"}, at(1)})
	for i := 2; i < 20; i++ {
		add(prog("m1", Running, i, i*5, int64(i)*500))
		add(prog("m2", Running, i, i*2, int64(i)*100))
	}
	add(timed{transfer.MailboxCompleted{RunID: "r1", SourceID: "m1", Counts: transfer.Counts{Copied: 95}}, at(20)})
	// m3's end overtakes its only snapshot on the live follower.
	add(timed{transfer.MailboxStarted{RunID: "r1", ProjectID: "p1", SourceID: "m3"}, at(15)})
	add(timed{transfer.MailboxCompleted{RunID: "r1", SourceID: "m3"}, at(20)})
	add(prog("m3", Running, 10, 7, 700))
	add(prog("m1", Running, 21, 999, 99999)) // late: after the end
	add(prog("m2", Running, 21, 42, 2100))

	liveB, replayB := New(5), New(5)
	for _, e := range live {
		liveB.Apply(e.ev, e.at)
	}
	for _, e := range append(progressEvs, transferEvs...) {
		replayB.Apply(e.ev, e.at)
	}
	for _, src := range []string{"m1", "m2", "m3"} {
		l, _ := liveB.Mailbox("r1", src)
		r, _ := replayB.Mailbox("r1", src)
		if !reflect.DeepEqual(l, r) {
			t.Fatalf("%s differs:\nlive   %+v\nreplay %+v", src, l, r)
		}
		if src != "m3" && len(l.Snapshots) != 5 {
			t.Fatalf("%s keeps %d snapshots, want the window of 5", src, len(l.Snapshots))
		}
	}
	l, _ := liveB.Run(RunQuery{RunID: "r1"})
	r, _ := replayB.Run(RunQuery{RunID: "r1"})
	if !reflect.DeepEqual(l, r) {
		t.Fatalf("run differs:\nlive   %+v\nreplay %+v", l, r)
	}
	if l.Totals.Completed != 2 || l.Totals.Running != 1 || l.Totals.Items != 95+42+7 {
		t.Fatalf("totals %+v", l.Totals)
	}
}

func TestRunPagingAndFilter(t *testing.T) {
	t.Parallel()
	b := New(DefaultWindow)
	b.Apply(transfer.RunStarted{RunID: "r1", ProjectID: "p1", Mode: events.ModeFull, Mailboxes: 5}, at(0))
	for i, src := range []string{"e", "d", "c", "b", "a"} {
		b.Apply(prog(src, Running, i+1, 1, 1).ev, time.Time{})
	}
	b.Apply(transfer.MailboxCompleted{RunID: "r1", SourceID: "c"}, at(9))
	b.Apply(transfer.MailboxStarted{RunID: "r1", SourceID: "0-no-address"}, at(9))
	cases := []struct {
		q     RunQuery
		total int
		want  []string
	}{
		{RunQuery{RunID: "r1"}, 6, []string{"a", "b", "c", "d", "e", "0-no-address"}},
		{RunQuery{RunID: "r1", Offset: 1, Limit: 2}, 6, []string{"b", "c"}},
		{RunQuery{RunID: "r1", Offset: 4, Limit: 5}, 6, []string{"e", "0-no-address"}},
		{RunQuery{RunID: "r1", Offset: 9}, 6, nil},
		{RunQuery{RunID: "r1", State: Running}, 5, []string{"a", "b", "d", "e", "0-no-address"}},
		{RunQuery{RunID: "r1", State: Completed}, 1, []string{"c"}},
	}
	for _, c := range cases {
		r, err := b.Run(c.q)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range r.Mailboxes {
			got = append(got, m.SourceID)
		}
		if r.Total != c.total || !reflect.DeepEqual(got, c.want) {
			t.Fatalf("%+v: total %d %v, want %d %v", c.q, r.Total, got, c.total, c.want)
		}
	}
	if _, err := b.Run(RunQuery{RunID: "nope"}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown run: %v", err)
	}
	if _, err := b.Mailbox("r1", "nope"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown mailbox: %v", err)
	}
}

func TestProjectRunsNewestFirst(t *testing.T) {
	t.Parallel()
	b := New(DefaultWindow)
	b.Apply(transfer.RunStarted{RunID: "old", ProjectID: "p1", Mode: events.ModePrestage, Mailboxes: 1}, at(0))
	b.Apply(transfer.RunFinished{RunID: "old", ProjectID: "p1", State: Completed, Completed: 1}, at(5))
	b.Apply(transfer.RunStarted{RunID: "new", ProjectID: "p1", Mode: events.ModeFull, Mailboxes: 2}, at(10))
	b.Apply(transfer.RunStarted{RunID: "other", ProjectID: "p2", Mode: events.ModeFull}, at(20))
	p := b.Project("p1")
	if len(p.Runs) != 2 || p.Runs[0].RunID != "new" || p.Runs[1].RunID != "old" {
		t.Fatalf("runs %+v", p.Runs)
	}
	if p.Runs[1].State != Completed || p.Runs[1].FinishedAt == nil || p.Runs[0].State != Running || p.Runs[0].Totals.Queued != 2 {
		t.Fatalf("runs %+v", p.Runs)
	}
	if got := b.Project("none"); got.Runs == nil || len(got.Runs) != 0 {
		t.Fatalf("empty project %+v", got)
	}
}
