package telemetry_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/progress"
	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/libs/analytics"
	"github.com/mailferry/mailferry/libs/analytics/analyticstest"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/telemetry"
	"github.com/mailferry/mailferry/services/telemetry/internal/board"
)

var vaultKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

func TestMain(m *testing.M) { analyticstest.Main(m) }

// start runs a telemetry service on its own bus connection and returns that
// bus, so a test can close it to "stop the process".
func start(t *testing.T, url string, store analytics.Config) *bus.Bus {
	t.Helper()
	b, _ := startService(t, url, telemetry.Config{RateWindow: 5, Analytics: store})
	return b
}

func startService(t *testing.T, url string, cfg telemetry.Config) (*bus.Bus, *telemetry.Service) {
	t.Helper()
	ctx := context.Background()
	b := bustest.Open(t, url)
	d, err := svc.WithBus(ctx, "telemetry", b, svc.Config{VaultKey: vaultKey}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := telemetry.New(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return b, s
}

type publisher struct {
	t *testing.T
	b *bus.Bus
}

func (p publisher) transfer(ev events.Event, runID string) {
	p.t.Helper()
	if _, err := p.b.Publish(context.Background(), transfer.RunSubject(runID), ev); err != nil {
		p.t.Fatal(err)
	}
}

func (p publisher) progress(ev progress.MailboxProgress) {
	p.t.Helper()
	if _, err := p.b.Publish(context.Background(), progress.Subject(ev.RunID, ev.SourceID), ev); err != nil {
		p.t.Fatal(err)
	}
}

func mp(run, src string, at time.Time, items int, bytes int64) progress.MailboxProgress {
	return progress.MailboxProgress{RunID: run, ProjectID: "p1", AccountID: "a1", SourceID: src, SourceAddress: src + "@source.test",
		State: board.Running, Health: progress.Healthy, Folder: "Inbox", Items: items, Bytes: bytes, TotalItems: 120, At: at.UnixMilli()}
}

func query[T any](t *testing.T, b *bus.Bus, endpoint string, req any) (T, error) {
	t.Helper()
	var out T
	err := b.Query(context.Background(), "telemetry", endpoint, req, &out)
	return out, err
}

func TestProgressReadModel(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	client := bustest.Open(t, srv.ClientURL())
	pub := publisher{t, client}
	now := time.Now()
	t0 := now.Add(-10 * time.Minute)

	// An earlier run of the project, finished.
	pub.transfer(transfer.RunStarted{RunID: "r0", ProjectID: "p1", AccountID: "a1", Mode: events.ModePrestage, Mailboxes: 1}, "r0")
	pub.transfer(transfer.MailboxStarted{RunID: "r0", ProjectID: "p1", AccountID: "a1", SourceID: "m1", Worker: "w1"}, "r0")
	pub.transfer(transfer.MailboxCompleted{RunID: "r0", ProjectID: "p1", AccountID: "a1", SourceID: "m1", Counts: transfer.Counts{Folders: 12}}, "r0")
	pub.transfer(transfer.RunFinished{RunID: "r0", ProjectID: "p1", AccountID: "a1", State: board.Completed, Completed: 1}, "r0")

	// Half of its history is there before the service starts, half after.
	pub.transfer(transfer.RunStarted{RunID: "r1", ProjectID: "p1", AccountID: "a1", Mode: events.ModeFull, Mailboxes: 4}, "r1")
	for _, src := range []string{"m1", "m2", "m3"} {
		pub.transfer(transfer.MailboxStarted{RunID: "r1", ProjectID: "p1", AccountID: "a1", SourceID: src, Worker: "w1"}, "r1")
	}
	pub.progress(mp("r1", "m1", t0, 0, 0))
	pub.progress(mp("r1", "m1", t0.Add(30*time.Second), 30, 3000))

	store := analyticstest.Config(t)
	svcBus := start(t, srv.ClientURL(), store)

	// m1 keeps going: 60 items a minute, 100 bytes a second, 60 left.
	pub.progress(mp("r1", "m1", t0.Add(60*time.Second), 60, 6000))
	// m2 finishes; a progress snapshot taken after its end arrives late.
	pub.progress(mp("r1", "m2", t0, 40, 4000))
	pub.transfer(transfer.MailboxCompleted{RunID: "r1", ProjectID: "p1", AccountID: "a1", SourceID: "m2", Counts: transfer.Counts{Copied: 38, AlreadyPresent: 2, Bytes: 4000}}, "r1")
	late := mp("r1", "m2", now.Add(time.Minute), 999, 99999)
	pub.progress(late)
	// m3 fails on revoked consent.
	pub.transfer(transfer.MailboxFailed{RunID: "r1", ProjectID: "p1", AccountID: "a1", SourceID: "m3", Code: string(errs.AuthFailed),
		Cause: "admin consent was revoked", Action: "grant consent again and retry the mailbox", Counts: transfer.Counts{Copied: 5, Failed: 1}}, "r1")
	// A sentinel after the late snapshot on the same stream: once it shows,
	// the late one has been applied (streams are followed in order).
	sentinel := mp("r1", "m4", now, 0, 0)
	sentinel.State = board.Queued
	pub.progress(sentinel)

	var run board.Run
	bustest.Eventually(t, 10*time.Second, "run r1 to show every event", func() bool {
		var err error
		run, err = query[board.Run](t, client, "run", telemetry.RunRequest{RunID: "r1"})
		return err == nil && run.Total == 4 && run.Totals.Failed == 1 && run.Totals.Completed == 1
	})
	want := board.Totals{Mailboxes: 4, Queued: 1, Running: 1, Completed: 1, Failed: 1, Items: 60 + 40, Bytes: 6000 + 4000}
	if run.Totals != want || run.State != board.Running || run.Mode != events.ModeFull || run.ProjectID != "p1" || run.AccountID != "a1" {
		t.Fatalf("run %+v\ntotals %+v, want %+v", run, run.Totals, want)
	}
	byID := map[string]board.Mailbox{}
	for _, m := range run.Mailboxes {
		byID[m.SourceID] = m
	}
	m1 := byID["m1"]
	if m1.State != board.Running || m1.ItemsPerMinute != 60 || m1.BytesPerSecond != 100 || m1.EtaSeconds == nil || *m1.EtaSeconds != 60 {
		t.Fatalf("m1 rates %+v", m1)
	}
	if m1.SourceAddress != "m1@source.test" || m1.Folder != "Inbox" || m1.StartedAt == nil || !m1.StartedAt.Equal(time.UnixMilli(t0.UnixMilli())) {
		t.Fatalf("m1 %+v", m1)
	}
	m2 := byID["m2"]
	if m2.State != board.Completed || m2.Items != 40 || m2.Health != progress.Completed || m2.Final == nil || m2.Final.Copied != 38 || m2.ItemsPerMinute != 0 || m2.EtaSeconds != nil {
		t.Fatalf("m2 after a late snapshot %+v", m2)
	}
	m3 := byID["m3"]
	if m3.State != board.Failed || m3.Error == nil || m3.Error.Code != string(errs.AuthFailed) || m3.Error.Action == "" || m3.Final.Failed != 1 {
		t.Fatalf("m3 %+v", m3)
	}
	if m4 := byID["m4"]; m4.State != board.Queued {
		t.Fatalf("m4 %+v", m4)
	}

	// Paging (known addresses first, then m3 whose address no progress
	// told) and the state filter.
	page, err := query[board.Run](t, client, "run", telemetry.RunRequest{RunID: "r1", Offset: 1, Limit: 2})
	if err != nil || page.Total != 4 || len(page.Mailboxes) != 2 || page.Mailboxes[0].SourceID != "m2" || page.Mailboxes[1].SourceID != "m4" {
		t.Fatalf("page %+v %v", page, err)
	}
	running, err := query[board.Run](t, client, "run", telemetry.RunRequest{RunID: "r1", State: board.Running})
	if err != nil || running.Total != 1 || running.Mailboxes[0].SourceID != "m1" || running.Totals != want {
		t.Fatalf("running %+v %v", running, err)
	}
	if _, err := query[board.Run](t, client, "run", telemetry.RunRequest{RunID: "r1", State: "paused"}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("bad state filter: %v", err)
	}
	if _, err := query[board.Run](t, client, "run", telemetry.RunRequest{RunID: "nope"}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown run: %v", err)
	}

	// One mailbox with its snapshots.
	mb, err := query[board.MailboxDetail](t, client, "mailbox", telemetry.MailboxRequest{RunID: "r1", SourceID: "m1"})
	if err != nil || len(mb.Snapshots) != 3 || mb.Snapshots[2].Items != 60 || mb.ItemsPerMinute != 60 {
		t.Fatalf("mailbox %+v %v", mb, err)
	}
	if _, err := query[board.MailboxDetail](t, client, "mailbox", telemetry.MailboxRequest{RunID: "r1", SourceID: "zz"}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown mailbox: %v", err)
	}

	// The run finishes; the project lists both runs, newest first.
	pub.transfer(transfer.RunFinished{RunID: "r1", ProjectID: "p1", AccountID: "a1", State: board.Failed, Completed: 1, Failed: 1}, "r1")
	var proj board.Project
	bustest.Eventually(t, 10*time.Second, "r1 to finish", func() bool {
		proj, err = query[board.Project](t, client, "project", telemetry.ProjectRequest{ProjectID: "p1"})
		return err == nil && len(proj.Runs) == 2 && proj.Runs[0].State == board.Failed
	})
	if proj.Runs[0].RunID != "r1" || proj.Runs[1].RunID != "r0" || proj.Runs[1].Mode != events.ModePrestage || proj.Runs[0].FinishedAt == nil || proj.Runs[0].Totals != want {
		t.Fatalf("project %+v", proj)
	}

	// Restart: the old process goes away, a new one on a new connection
	// rebuilds the same answers from the streams.
	requests := []struct {
		endpoint string
		req      any
	}{
		{"run", telemetry.RunRequest{RunID: "r1"}},
		{"run", telemetry.RunRequest{RunID: "r0"}},
		{"project", telemetry.ProjectRequest{ProjectID: "p1"}},
		{"mailbox", telemetry.MailboxRequest{RunID: "r1", SourceID: "m1"}},
		{"mailbox", telemetry.MailboxRequest{RunID: "r1", SourceID: "m2"}},
	}
	before := make([]json.RawMessage, len(requests))
	for i, r := range requests {
		if before[i], err = query[json.RawMessage](t, client, r.endpoint, r.req); err != nil {
			t.Fatal(err)
		}
	}
	_ = svcBus.Close()
	stopped, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Query(stopped, "telemetry", "run", telemetry.RunRequest{RunID: "r1"}, nil); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("with the service stopped: %v", err)
	}
	start(t, srv.ClientURL(), store)
	for i, r := range requests {
		after, err := query[json.RawMessage](t, client, r.endpoint, r.req)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before[i], after) {
			t.Fatalf("%s %+v after restart:\n%s\nbefore:\n%s", r.endpoint, r.req, after, before[i])
		}
	}
}

func TestNewRejectsNilDeps(t *testing.T) {
	t.Parallel()
	if _, err := telemetry.New(nil, telemetry.Config{}); err == nil {
		t.Fatal("New accepted nil deps")
	}
	if _, err := telemetry.New(&svc.Deps{}, telemetry.Config{}); err == nil {
		t.Fatal("New accepted deps without a bus")
	}
}
