package board

import (
	"strings"
	"testing"
	"time"

	"github.com/mailferry/mailferry/events/progress"
	"github.com/mailferry/mailferry/events/transfer"
)

func TestHealthIsJudgedWhenAsked(t *testing.T) {
	t.Parallel()
	type p struct {
		sec, items, failed int
		bytes              int64
		health             string
		waitMs             int64
	}
	rules := Rules{StallAfter: time.Minute, SlowItemsPerMinute: 10, SlowBytesPerSecond: 1000}
	cases := []struct {
		name   string
		snaps  []p
		now    int // seconds after t0
		health string
		reason string
	}{
		{"healthy", []p{{0, 0, 0, 0, progress.Healthy, 0}, {10, 100, 0, 100000, progress.Healthy, 0}}, 11, progress.Healthy, ""},
		{"throttled within its wait", []p{{0, 0, 0, 0, progress.Healthy, 0}, {10, 100, 0, 100000, progress.Throttled, 30000}}, 80, progress.Throttled, "wait 30s"},
		{"throttled too long is stalled", []p{{0, 0, 0, 0, progress.Healthy, 0}, {10, 100, 0, 100000, progress.Throttled, 30000}}, 101, Stalled, "no progress since"},
		{"back from throttling", []p{{0, 0, 0, 0, progress.Throttled, 5000}, {10, 100, 0, 100000, progress.Healthy, 0}}, 11, progress.Healthy, ""},
		{"stalled", []p{{0, 0, 0, 0, progress.Healthy, 0}, {10, 100, 0, 100000, progress.Healthy, 0}}, 71, Stalled, "more than 1m0s ago"},
		{"failing", []p{{0, 10, 0, 0, progress.Healthy, 0}, {10, 20, 6, 100000, progress.Healthy, 0}}, 11, progress.Failing, "6 of the last 10 items failed"},
		{"a few failures are not failing", []p{{0, 10, 0, 0, progress.Healthy, 0}, {10, 20, 2, 100000, progress.Healthy, 0}}, 11, progress.Healthy, ""},
		{"slow", []p{{0, 0, 0, 0, progress.Healthy, 0}, {30, 2, 0, 300, progress.Healthy, 0}}, 31, Slow, "4.0 items a minute"},
		{"few items but many bytes is not slow", []p{{0, 0, 0, 0, progress.Healthy, 0}, {30, 2, 0, 3000000, progress.Healthy, 0}}, 31, progress.Healthy, ""},
		{"too short to judge slow", []p{{0, 0, 0, 0, progress.Healthy, 0}, {5, 0, 0, 0, progress.Healthy, 0}}, 6, progress.Healthy, ""},
	}
	for _, c := range cases {
		b := NewWithRules(10, rules)
		b.SetClock(func() time.Time { return at(c.now) })
		b.Apply(transfer.MailboxStarted{RunID: "r", ProjectID: "p", AccountID: "a", SourceID: "m"}, at(0))
		for _, s := range c.snaps {
			b.Apply(progress.MailboxProgress{RunID: "r", ProjectID: "p", AccountID: "a", SourceID: "m", State: Running, Health: s.health,
				RetryAfterMs: s.waitMs, Items: s.items, Failed: s.failed, Bytes: s.bytes, TotalItems: 1000, At: at(s.sec).UnixMilli()}, at(s.sec))
		}
		m, err := b.Mailbox("r", "m")
		if err != nil {
			t.Fatal(err)
		}
		if m.Health != c.health || !strings.Contains(m.HealthReason, c.reason) || (c.reason == "" && m.HealthReason != "") {
			t.Errorf("%s: %s (%q), want %s (%q)", c.name, m.Health, m.HealthReason, c.health, c.reason)
		}
		if (m.Health == progress.Throttled) != (m.RetryAfterMs > 0) {
			t.Errorf("%s: retryAfterMs %d with health %s", c.name, m.RetryAfterMs, m.Health)
		}
	}
}

func TestFleetListsWhatNeedsAttention(t *testing.T) {
	t.Parallel()
	b := NewWithRules(10, Rules{StallAfter: time.Minute})
	b.SetClock(func() time.Time { return at(300) })
	for _, src := range []string{"ok", "hung"} {
		b.Apply(transfer.MailboxStarted{RunID: "r1", ProjectID: "p1", AccountID: "a", SourceID: src}, at(0))
	}
	b.Apply(progress.MailboxProgress{RunID: "r1", ProjectID: "p1", AccountID: "a", SourceID: "ok", State: Running, Health: progress.Healthy, At: at(299).UnixMilli()}, at(299))
	b.Apply(progress.MailboxProgress{RunID: "r1", ProjectID: "p1", AccountID: "a", SourceID: "hung", State: Running, Health: progress.Healthy, At: at(10).UnixMilli()}, at(10))
	b.Apply(transfer.MailboxFailed{RunID: "r1", ProjectID: "p1", AccountID: "a", SourceID: "bad", Code: "platform_auth_failed", Cause: "consent revoked"}, at(20))
	// Another account, and an ended run of this one: not listed.
	b.Apply(transfer.MailboxStarted{RunID: "r2", ProjectID: "p2", AccountID: "b", SourceID: "x"}, at(0))
	b.Apply(transfer.MailboxFailed{RunID: "r3", ProjectID: "p1", AccountID: "a", SourceID: "old", Code: "x", Cause: "y"}, at(0))
	b.Apply(transfer.RunFinished{RunID: "r3", ProjectID: "p1", AccountID: "a", State: Failed}, at(1))
	f := b.Fleet(FleetQuery{AccountID: "a"})
	if len(f.Mailboxes) != 2 || f.Mailboxes[0].SourceID != "bad" || f.Mailboxes[0].Health != progress.Failing ||
		f.Mailboxes[1].SourceID != "hung" || f.Mailboxes[1].Health != Stalled || f.Mailboxes[1].ProjectID != "p1" {
		t.Fatalf("fleet %+v", f.Mailboxes)
	}
	if f.Counts[progress.Healthy] != 1 {
		t.Errorf("counts %v", f.Counts)
	}
	if g := b.Fleet(FleetQuery{AccountID: "a", Health: []string{progress.Healthy}}); len(g.Mailboxes) != 1 || g.Mailboxes[0].SourceID != "ok" {
		t.Errorf("healthy fleet %+v", g.Mailboxes)
	}
}
