package telemetry_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/progress"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/libs/analytics"
	"github.com/mailferry/mailferry/libs/analytics/analyticstest"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/services/telemetry"
	"github.com/mailferry/mailferry/services/telemetry/internal/board"
	"github.com/mailferry/mailferry/services/telemetry/internal/projection"
)

// history publishes a small but complete history: a project, a run whose
// first mailbox is throttled, retries, has an item skipped and one failed,
// is resumed and completes, a second mailbox that fails, and a second run
// still going. Each event gets its own millisecond, so the log's order is
// the order of publication.
func history(t *testing.T, b *bus.Bus) (published map[string]uint64) {
	t.Helper()
	ctx := context.Background()
	published = map[string]uint64{}
	pub := func(subject string, ev events.Event) {
		t.Helper()
		seq, err := b.Publish(ctx, subject, ev)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(subject, "progress."):
			published["PROGRESS"] = seq
		case strings.HasPrefix(subject, "transfer."):
			published["TRANSFER"] = seq
		default:
			published["PROJECT"] = seq
		}
		time.Sleep(3 * time.Millisecond)
	}
	now := func() int64 { return time.Now().UnixMilli() }
	prog := func(run, src string, items int, health string, wait int64) {
		pub(progress.Subject(run, src), progress.MailboxProgress{RunID: run, ProjectID: "p1", AccountID: "a1", SourceID: src,
			SourceAddress: src + "@source.test", State: board.Running, Health: health, RetryAfterMs: wait, Folder: "Inbox",
			Items: items, Bytes: int64(items) * 1000, TotalItems: 6, At: now()})
	}
	pub(project.ProjectSubject("p1"), project.ProjectCreated{ProjectID: "p1", AccountID: "a1", Name: "Contoso", Source: "m365", Destination: "google"})
	pub(transfer.RunSubject("r1"), transfer.RunStarted{RunID: "r1", ProjectID: "p1", AccountID: "a1", Mode: events.ModeFull, Mailboxes: 2})
	pub(transfer.RunSubject("r1"), transfer.MailboxStarted{RunID: "r1", ProjectID: "p1", AccountID: "a1", SourceID: "m1", SourceAddress: "m1@source.test", Worker: "w1", Shard: 3})
	prog("r1", "m1", 1, progress.Healthy, 0)
	prog("r1", "m1", 2, progress.Throttled, 2000)
	prog("r1", "m1", 2, progress.Throttled, 2000)
	item := func(folderID, folder, id, outcome, code, reason string) transfer.ItemOutcome {
		o := transfer.ItemOutcome{FolderID: folderID, Folder: folder, ItemID: id, Kind: "mail", Outcome: outcome, Code: code, Reason: reason, Size: 1000, At: now()}
		if code == "" {
			o.DestinationID, o.ContentHash = "d-"+id, strings.Repeat("ab", 32)
		}
		return o
	}
	pub(transfer.ItemsSubject("r1", "m1"), transfer.ItemOutcomes{RunID: "r1", ProjectID: "p1", AccountID: "a1", SourceID: "m1", SourceAddress: "m1@source.test",
		Items: []transfer.ItemOutcome{
			item("f1", "Inbox", "i1", transfer.OutcomeCopied, "", ""),
			item("f1", "Inbox", "i2", transfer.OutcomeCopied, "", ""),
			item("f1", "Inbox", "i3", transfer.OutcomeSkipped, string(errs.ItemTooLarge), "the item is 200 MB, over the destination's limit"),
		},
		Retries: []transfer.Retry{{At: now(), Code: string(errs.Unavailable), Cause: "the server is busy", Attempt: 1, WaitMs: 500}}})
	prog("r1", "m1", 3, progress.Healthy, 0)
	pub(transfer.RunSubject("r1"), transfer.MailboxStarted{RunID: "r1", ProjectID: "p1", AccountID: "a1", SourceID: "m1", SourceAddress: "m1@source.test", Worker: "w2", Shard: 3, Resumed: true})
	pub(transfer.ItemsSubject("r1", "m1"), transfer.ItemOutcomes{RunID: "r1", ProjectID: "p1", AccountID: "a1", SourceID: "m1", SourceAddress: "m1@source.test",
		Items: []transfer.ItemOutcome{
			// Repeated after the resume: found by marker.
			item("f1", "Inbox", "i2", transfer.OutcomeAlreadyPresent, "", ""),
			item("f1", "Inbox", "i4", transfer.OutcomeCopied, "", ""),
			item("f2", "Archive", "i5", transfer.OutcomeFailed, string(errs.CorruptItem), "the message is not valid MIME"),
			item("f2", "Archive", "i6", transfer.OutcomeAlreadyPresent, "", ""),
		}})
	pub(transfer.RunSubject("r1"), transfer.MailboxCompleted{RunID: "r1", ProjectID: "p1", AccountID: "a1", SourceID: "m1",
		Counts: transfer.Counts{Copied: 3, AlreadyPresent: 2, Skipped: 1, Failed: 1, Bytes: 3000, Folders: 2}})
	pub(transfer.RunSubject("r1"), transfer.MailboxFailed{RunID: "r1", ProjectID: "p1", AccountID: "a1", SourceID: "m2",
		Code: string(errs.AuthFailed), Cause: "admin consent was revoked", Action: "grant consent again and run the mailbox again"})
	pub(transfer.RunSubject("r1"), transfer.RunFinished{RunID: "r1", ProjectID: "p1", AccountID: "a1", State: board.Failed, Completed: 1, Failed: 1})
	// A second run, still going.
	pub(transfer.RunSubject("r2"), transfer.RunStarted{RunID: "r2", ProjectID: "p1", AccountID: "a1", Mode: events.ModeDelta, Mailboxes: 1})
	pub(transfer.RunSubject("r2"), transfer.MailboxStarted{RunID: "r2", ProjectID: "p1", AccountID: "a1", SourceID: "m3", SourceAddress: "m3@source.test", Worker: "w1"})
	prog("r2", "m3", 1, progress.Healthy, 0)
	return published
}

// caughtUp waits until the service wrote every published event's rows.
func caughtUp(t *testing.T, s *telemetry.Service, published map[string]uint64) {
	t.Helper()
	bustest.Eventually(t, 20*time.Second, "the projection to write every event", func() bool {
		_ = s.Flush(context.Background())
		pos := s.Positions()
		for stream, seq := range published {
			if pos[stream] < seq {
				return false
			}
		}
		return true
	})
}

var tables = []string{"projects", "mailbox_progress", "mailbox_log", "item_ledger"}

// dump reads every projection table in a stable order.
func dump(t *testing.T, s analytics.Store) map[string][][]any {
	t.Helper()
	out := map[string][][]any{}
	for _, table := range tables {
		rows, err := s.Query(context.Background(), "SELECT * FROM "+table+" FINAL ORDER BY ALL")
		if err != nil {
			t.Fatal(err)
		}
		out[table] = rows.Values
	}
	return out
}

func sameTables(t *testing.T, what string, got, want map[string][][]any) {
	t.Helper()
	for _, table := range tables {
		if !reflect.DeepEqual(got[table], want[table]) {
			t.Errorf("%s: table %s differs:\n got %d rows %v\nwant %d rows %v", what, table, len(got[table]), got[table], len(want[table]), want[table])
		}
	}
}

// TestReplayRebuildsIdenticalTables stops the service and replays the
// streams from their start three ways: into the same tables with the
// written positions kept, with them forgotten (every row inserted twice),
// and into an empty database. All three give the same tables.
func TestReplayRebuildsIdenticalTables(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	client := bustest.Open(t, srv.ClientURL())
	published := history(t, client)
	cfg := telemetry.Config{RateWindow: 5, Analytics: analyticstest.Config(t)}

	first, s1 := startService(t, srv.ClientURL(), cfg)
	caughtUp(t, s1, published)
	want := dump(t, s1.Store())
	if len(want["mailbox_log"]) < 10 || len(want["item_ledger"]) != 6 || len(want["mailbox_progress"]) != 5 || len(want["projects"]) != 1 {
		t.Fatalf("tables after the first pass: %v", want)
	}
	_ = first.Close()
	_ = s1.Close()

	// Same tables, positions kept: nothing is inserted again.
	_, s2 := startService(t, srv.ClientURL(), cfg)
	caughtUp(t, s2, published)
	sameTables(t, "restart", dump(t, s2.Store()), want)
	// Positions forgotten: every row is inserted a second time.
	if err := s2.Store().Exec(context.Background(), "TRUNCATE TABLE ingest_position"); err != nil {
		t.Fatal(err)
	}
	_ = s2.Close()
	_, s3 := startService(t, srv.ClientURL(), cfg)
	caughtUp(t, s3, published)
	sameTables(t, "replay over the same tables", dump(t, s3.Store()), want)
	_ = s3.Close()
	// An empty database.
	fresh := cfg
	fresh.Analytics = analyticstest.Config(t)
	_, s4 := startService(t, srv.ClientURL(), fresh)
	caughtUp(t, s4, published)
	sameTables(t, "replay into an empty database", dump(t, s4.Store()), want)
}

func TestLogReportFleetAndSQL(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	client := bustest.Open(t, srv.ClientURL())
	published := history(t, client)
	_, s := startService(t, srv.ClientURL(), telemetry.Config{RateWindow: 5, Analytics: analyticstest.Config(t)})
	caughtUp(t, s, published)

	// The mailbox log, by address, explains every step in order.
	page, err := query[projection.LogPage](t, client, "log", telemetry.LogRequest{ProjectID: "p1", Mailbox: "M1@source.test"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, l := range page.Lines {
		kinds = append(kinds, l.Kind)
	}
	wantKinds := []string{projection.KindMailboxStarted, projection.KindThrottled, projection.KindItemSkipped, projection.KindRetry,
		projection.KindThrottleEnded, projection.KindMailboxResumed, projection.KindItemFailed, projection.KindMailboxCompleted}
	if !reflect.DeepEqual(kinds, wantKinds) || page.Total != uint64(len(wantKinds)) || page.SourceID != "m1" {
		t.Fatalf("m1 log kinds %v (total %d), want %v", kinds, page.Total, wantKinds)
	}
	byKind := map[string]projection.LogLine{}
	for _, l := range page.Lines {
		byKind[l.Kind] = l
	}
	if l := byKind[projection.KindThrottled]; l.RetryAfterMs != 2000 || l.Level != projection.Warning || !strings.Contains(l.Message, "2s") || l.Action == "" {
		t.Errorf("throttled line %+v", l)
	}
	if l := byKind[projection.KindRetry]; l.Code != string(errs.Unavailable) || l.Cause != "the server is busy" || l.RetryAfterMs != 500 {
		t.Errorf("retry line %+v", l)
	}
	if l := byKind[projection.KindItemFailed]; l.Level != projection.Error || l.Code != string(errs.CorruptItem) || l.Cause == "" || l.Action == "" || !strings.Contains(l.Message, "i5") {
		t.Errorf("item failed line %+v", l)
	}
	if l := byKind[projection.KindMailboxCompleted]; l.Items != 7 || l.Bytes != 3000 {
		t.Errorf("completed line %+v", l)
	}
	// Level, time and paging filters.
	errPage, err := query[projection.LogPage](t, client, "log", telemetry.LogRequest{ProjectID: "p1", Level: projection.Error})
	if err != nil {
		t.Fatal(err)
	}
	var errKinds []string
	for _, l := range errPage.Lines {
		errKinds = append(errKinds, l.Kind)
	}
	if !reflect.DeepEqual(errKinds, []string{projection.KindItemFailed, projection.KindMailboxFailed, projection.KindRunFinished}) {
		t.Errorf("project errors %v", errKinds)
	}
	if l := errPage.Lines[1]; l.Code != string(errs.AuthFailed) || l.Cause != "admin consent was revoked" || l.Action == "" {
		t.Errorf("mailbox failed line %+v", l)
	}
	from := byKind[projection.KindThrottled].At
	to := byKind[projection.KindMailboxResumed].At
	window, err := query[projection.LogPage](t, client, "log", telemetry.LogRequest{ProjectID: "p1", Mailbox: "m1",
		From: from.Format(time.RFC3339Nano), To: to.Format(time.RFC3339Nano), Offset: 1, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if window.Total != 4 || len(window.Lines) != 2 || window.Lines[0].Kind != projection.KindItemSkipped || window.Lines[1].Kind != projection.KindRetry {
		t.Errorf("time window page %+v", window)
	}
	for _, bad := range []telemetry.LogRequest{{}, {ProjectID: "p1", Level: "debug"}, {ProjectID: "p1", From: "yesterday"}, {ProjectID: "p1", Limit: 5000}} {
		if _, err := query[projection.LogPage](t, client, "log", bad); !errs.Is(err, errs.Invalid) {
			t.Errorf("log %+v: %v", bad, err)
		}
	}
	if _, err := query[projection.LogPage](t, client, "log", telemetry.LogRequest{ProjectID: "p1", Mailbox: "nobody@source.test"}); !errs.Is(err, errs.NotFound) {
		t.Errorf("unknown mailbox: %v", err)
	}

	// The reconciliation: per folder, and exactly the items not copied.
	rep, err := query[projection.Report](t, client, "report", telemetry.ReportRequest{ProjectID: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	want := projection.Counts{Source: 6, Destination: 4, Copied: 2, AlreadyPresent: 2, Skipped: 1, Failed: 1}
	if rep.Totals != want || len(rep.Mailboxes) != 1 || len(rep.Mailboxes[0].Folders) != 2 {
		t.Fatalf("report totals %+v, want %+v; mailboxes %+v", rep.Totals, want, rep.Mailboxes)
	}
	if f := rep.Mailboxes[0].Folders; f[0].Folder != "Archive" || f[0].Source != 2 || f[0].Destination != 1 || f[1].Folder != "Inbox" || f[1].Source != 4 || f[1].Destination != 3 {
		t.Errorf("folders %+v", f)
	}
	if rep.ItemsTotal != 2 || len(rep.Items) != 2 || rep.Items[0].ItemID != "i5" || rep.Items[0].Code != string(errs.CorruptItem) || rep.Items[1].ItemID != "i3" || rep.Items[1].Reason == "" {
		t.Errorf("listed items %+v", rep.Items)
	}
	csvPage, err := query[telemetry.CSVPage](t, client, "report", telemetry.ReportRequest{ProjectID: "p1", Mailbox: "m1", Format: "csv"})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(csvPage.CSV), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "record,mailbox,source_id,folder") || !strings.HasPrefix(lines[1], "folder,m1@source.test,m1,Archive,f2,2,1,") ||
		!strings.Contains(lines[4], "i3,skipped,item_too_large") || csvPage.Next != -1 {
		t.Errorf("CSV:\n%s\nnext %d", csvPage.CSV, csvPage.Next)
	}
	second, err := query[telemetry.CSVPage](t, client, "report", telemetry.ReportRequest{ProjectID: "p1", Format: "csv", Offset: 1, Limit: 1})
	if err != nil || strings.Count(second.CSV, "\n") != 1 || !strings.HasPrefix(second.CSV, "item,") || second.Next != -1 {
		t.Errorf("second CSV page %+v %v", second, err)
	}
	run1, err := query[projection.Report](t, client, "report", telemetry.ReportRequest{ProjectID: "p1", RunID: "r2"})
	if err != nil || run1.Totals != (projection.Counts{}) || len(run1.Items) != 0 {
		t.Errorf("report of a run without items: %+v %v", run1, err)
	}

	// The fleet: r2's mailbox is healthy now, stalled ten minutes on.
	fleet, err := query[board.Fleet](t, client, "fleet", telemetry.FleetRequest{AccountID: "a1"})
	if err != nil || len(fleet.Mailboxes) != 0 || fleet.Counts[progress.Healthy] != 1 {
		t.Fatalf("fleet now %+v %v", fleet, err)
	}
	s.Board().SetClock(func() time.Time { return time.Now().Add(10 * time.Minute) })
	fleet, err = query[board.Fleet](t, client, "fleet", telemetry.FleetRequest{AccountID: "a1"})
	if err != nil || len(fleet.Mailboxes) != 1 || fleet.Mailboxes[0].SourceID != "m3" || fleet.Mailboxes[0].Health != board.Stalled ||
		fleet.Mailboxes[0].ProjectID != "p1" || fleet.Mailboxes[0].HealthReason == "" {
		t.Fatalf("fleet later %+v %v", fleet, err)
	}
	if f, _ := query[board.Fleet](t, client, "fleet", telemetry.FleetRequest{AccountID: "a2"}); len(f.Mailboxes) != 0 {
		t.Errorf("another account's fleet %+v", f)
	}

	// Analysts' SQL: read-only, joins allowed.
	res, err := query[projection.SQLResult](t, client, "sql", telemetry.SQLRequest{Query: `SELECT p.source_platform AS platform, l.code, count() AS n
FROM mailbox_log AS l FINAL JOIN projects AS p FINAL ON p.project_id = l.project_id
WHERE l.level = 'error' GROUP BY platform, l.code ORDER BY n DESC, l.code`})
	if err != nil {
		t.Fatal(err)
	}
	if res.Backend != analytics.BackendChDB || len(res.Rows) != 3 || res.Rows[0][0] != "m365" || fmt.Sprint(res.Rows[0][2]) != "1" {
		t.Errorf("SQL %+v", res)
	}
	for _, bad := range []string{"INSERT INTO projects (project_id) VALUES ('x')", "SELECT * FROM file('/etc/passwd', 'LineAsString')", "SELECT nope FROM projects"} {
		if _, err := query[projection.SQLResult](t, client, "sql", telemetry.SQLRequest{Query: bad}); !errs.Is(err, errs.Invalid) {
			t.Errorf("SQL %q: %v", bad, err)
		}
	}
}

// TestDocumentedQueriesRun runs every example of docs/analytics.md over a
// small history, through the analysts' read-only path.
func TestDocumentedQueriesRun(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/analytics.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 3 {
		t.Fatalf("only %d SQL examples in docs/analytics.md", len(blocks))
	}
	srv := bustest.RunServer(t, "")
	client := bustest.Open(t, srv.ClientURL())
	published := history(t, client)
	_, s := startService(t, srv.ClientURL(), telemetry.Config{RateWindow: 5, Analytics: analyticstest.Config(t)})
	caughtUp(t, s, published)
	for _, b := range blocks {
		res, err := projection.SQL(context.Background(), s.Store(), b[1])
		if err != nil {
			t.Errorf("%v in:\n%s", err, b[1])
			continue
		}
		if len(res.Rows) == 0 {
			t.Errorf("no rows from:\n%s", b[1])
		}
	}
}
