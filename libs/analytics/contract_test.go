package analytics_test

import (
	"context"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/analytics"
	"github.com/mailferry/mailferry/libs/analytics/analyticstest"
)

func TestMain(m *testing.M) { analyticstest.Main(m) }

// backends returns a fresh store per back end: always chDB, and the
// ClickHouse server when MAILFERRY_CLICKHOUSE_DSN points at one.
func backends(t *testing.T) map[string]func(t *testing.T) analytics.Store {
	return map[string]func(t *testing.T) analytics.Store{
		"chdb": func(t *testing.T) analytics.Store { return analyticstest.Open(t) },
		"server": func(t *testing.T) analytics.Store {
			dsn := os.Getenv("MAILFERRY_CLICKHOUSE_DSN")
			ctx := context.Background()
			s, err := analytics.Open(ctx, analytics.Config{DSN: dsn, Database: analyticstest.Database(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = s.Exec(context.Background(), "DROP DATABASE IF EXISTS "+s.Database())
				_ = s.Close()
			})
			if _, err := analytics.Migrate(ctx, s); err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

// TestContract runs the same checks against every back end.
func TestContract(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			if name == "server" && os.Getenv("MAILFERRY_CLICKHOUSE_DSN") == "" {
				t.Skip("MAILFERRY_CLICKHOUSE_DSN is not set, so the ClickHouse server back end is not tested here; " +
					"set it to clickhouse://user:password@host:9000 of a ClickHouse server (22.x or newer) to run this suite against it")
			}
			t.Run("types round-trip", func(t *testing.T) { t.Parallel(); testTypes(t, open(t)) })
			t.Run("bound arguments", func(t *testing.T) { t.Parallel(); testBind(t, open(t)) })
			t.Run("replacing tables dedup replays", func(t *testing.T) { t.Parallel(); testReplacing(t, open(t)) })
			t.Run("migrations", func(t *testing.T) { t.Parallel(); testMigrations(t, open(t)) })
			t.Run("read-only queries", func(t *testing.T) { t.Parallel(); testReadOnly(t, open(t)) })
			t.Run("errors", func(t *testing.T) { t.Parallel(); testErrors(t, open(t)) })
		})
	}
}

func testTypes(t *testing.T, s analytics.Store) {
	ctx := context.Background()
	if err := s.Exec(ctx, `CREATE TABLE typed (
		id UInt64, i Int64, f Float64, b Bool, s String, lc LowCardinality(String),
		at DateTime64(3, 'UTC'), tags Array(String), n Nullable(String)
	) ENGINE = MergeTree ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	nasty := "it's a \\ back\\slash, a 'quote', ü, 日本, \n newline; DROP TABLE typed --"
	rows := [][]any{
		{uint64(math.MaxUint64), int64(math.MinInt64), 1.5, true, nasty, "x", at, []string{"a", "b'c"}, "set"},
		{uint64(2), int64(-3), -0.25, false, "", "", at.Add(time.Hour).In(time.FixedZone("CET", 3600)), []string{}, nil},
	}
	cols := []string{"id", "i", "f", "b", "s", "lc", "at", "tags", "n"}
	if err := s.Insert(ctx, "typed", cols, rows); err != nil {
		t.Fatal(err)
	}
	got, err := s.Query(ctx, "SELECT id, i, f, b, s, lc, at, tags, n, map('k', id) AS m, toStartOfHour(at) AS hour FROM typed ORDER BY id DESC")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{uint64(math.MaxUint64), int64(math.MinInt64), 1.5, true, nasty, "x", at, []any{"a", "b'c"}, "set", map[string]any{"k": uint64(math.MaxUint64)}, at.Truncate(time.Hour)},
		{uint64(2), int64(-3), -0.25, false, "", "", at.Add(time.Hour), []any{}, nil, map[string]any{"k": uint64(2)}, at.Add(time.Hour).Truncate(time.Hour)},
	}
	if got.Len() != 2 {
		t.Fatalf("%d rows", got.Len())
	}
	for i := range want {
		for j := range want[i] {
			g, w := got.Values[i][j], want[i][j]
			if gt, ok := g.(time.Time); ok {
				if wt := w.(time.Time); !gt.Equal(wt) {
					t.Errorf("row %d %s: %v, want %v", i, got.Columns[j].Name, gt, wt)
				}
				continue
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("row %d %s (%s): %#v, want %#v", i, got.Columns[j].Name, got.Columns[j].Type, g, w)
			}
		}
	}
	if got.Columns[6].Type != "DateTime64(3, 'UTC')" || got.Columns[8].Type != "Nullable(String)" {
		t.Errorf("column types %+v", got.Columns)
	}
	if m := got.Maps(); m[1]["s"] != "" || m[0]["id"] != uint64(math.MaxUint64) {
		t.Errorf("maps %+v", m)
	}
	// An empty answer still names its columns.
	empty, err := s.Query(ctx, "SELECT id, s FROM typed WHERE id = 0")
	if err != nil || empty.Len() != 0 {
		t.Fatalf("empty: %+v %v", empty, err)
	}
}

func testBind(t *testing.T, s analytics.Store) {
	ctx := context.Background()
	if err := s.Exec(ctx, "CREATE TABLE kv (k String, at DateTime64(3, 'UTC'), n UInt64) ENGINE = MergeTree ORDER BY k"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.Insert(ctx, "kv", []string{"k", "at", "n"}, [][]any{{"a", at, uint64(1)}, {"b?'", at.Add(time.Minute), uint64(2)}, {"c", at.Add(time.Hour), uint64(3)}}); err != nil {
		t.Fatal(err)
	}
	// The `?` inside the literal is text, not a placeholder; the bound
	// string cannot escape its quotes.
	got, err := s.Query(ctx, "SELECT k, n FROM kv WHERE (k = ? OR k = 'b?''') AND at >= ? AND at < ? AND n IN (?) ORDER BY k",
		"x' OR 1=1 --", at, at.Add(2*time.Minute), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != 1 || got.Values[0][0] != "b?'" || got.Values[0][1] != uint64(2) {
		t.Fatalf("bound query: %+v", got.Values)
	}
	if _, err := s.Query(ctx, "SELECT ?", 1, 2); err == nil {
		t.Error("more arguments than placeholders accepted")
	}
	if _, err := s.Query(ctx, "SELECT ?, ?", 1); err == nil {
		t.Error("fewer arguments than placeholders accepted")
	}
}

func testReplacing(t *testing.T, s analytics.Store) {
	ctx := context.Background()
	if err := s.Exec(ctx, "CREATE TABLE ev (id String, at DateTime64(3, 'UTC'), v UInt64) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(at) ORDER BY (id, at)"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	batch := [][]any{{"e1", at, uint64(1)}, {"e2", at, uint64(2)}}
	for range 3 {
		if err := s.Insert(ctx, "ev", []string{"id", "at", "v"}, batch); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Query(ctx, "SELECT count(), sum(v) FROM ev FINAL")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Values, [][]any{{uint64(2), uint64(3)}}) {
		t.Fatalf("replayed inserts: %+v", got.Values)
	}
}

func testMigrations(t *testing.T, s analytics.Store) {
	ctx := context.Background()
	ms, err := analytics.Migrations()
	if err != nil || len(ms) == 0 {
		t.Fatalf("migrations: %v %v", ms, err)
	}
	// The store came migrated: a second run applies nothing.
	again, err := analytics.Migrate(ctx, s)
	if err != nil || len(again) != 0 {
		t.Fatalf("second migration applied %v: %v", again, err)
	}
	got, err := s.Query(ctx, "SELECT version FROM schema_migrations FINAL ORDER BY version")
	if err != nil || got.Len() != len(ms) || got.Values[len(ms)-1][0] != uint64(ms[len(ms)-1].Version) {
		t.Fatalf("schema_migrations: %+v %v", got, err)
	}
	for _, table := range []string{"projects", "mailbox_progress", "mailbox_log", "item_ledger", "ingest_position"} {
		r, err := s.Query(ctx, "SELECT engine, partition_key FROM system.tables WHERE database = currentDatabase() AND name = ?", table)
		if err != nil || r.Len() != 1 || r.Values[0][0] != "ReplacingMergeTree" {
			t.Errorf("table %s: %+v %v", table, r, err)
		}
	}
}

func testReadOnly(t *testing.T, s analytics.Store) {
	ctx := context.Background()
	for _, bad := range []string{
		"INSERT INTO projects (project_id) VALUES ('x')",
		"DROP TABLE projects",
		"SELECT 1; DROP TABLE projects",
		"SET readonly = 0",
		"SELECT 1 FORMAT CSV",
		"  -- just a comment",
		"ALTER TABLE projects DELETE WHERE 1",
	} {
		if _, err := analytics.ReadOnly(bad); !errors.Is(err, analytics.ErrReadOnly) {
			t.Errorf("ReadOnly accepted %q: %v", bad, err)
		}
	}
	for _, good := range []string{
		"SELECT count() FROM projects;",
		"WITH 1 AS x SELECT x -- trailing comment",
		"SHOW TABLES",
		"DESCRIBE TABLE mailbox_log",
		"EXPLAIN SELECT 1",
		"SELECT 'a;b', 'FORMAT' AS `format`",
	} {
		q, err := analytics.ReadOnly(good)
		if err != nil {
			t.Errorf("ReadOnly refused %q: %v", good, err)
			continue
		}
		if _, err := s.Query(ctx, q); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	// The engine's read-only mode refuses what slips past the check, such
	// as table functions that read the host's files.
	q, err := analytics.ReadOnly("SELECT * FROM file('/etc/hostname', 'LineAsString')")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Query(ctx, q); err == nil || !strings.Contains(err.Error(), "readonly") && !strings.Contains(err.Error(), "READONLY") {
		t.Errorf("file() under readonly: %v", err)
	}
	// Read-only is per statement: the store still writes afterwards.
	if err := s.Insert(ctx, "ingest_position", []string{"stream", "seq"}, [][]any{{"X", uint64(1)}}); err != nil {
		t.Errorf("insert after a read-only query: %v", err)
	}
}

func testErrors(t *testing.T, s analytics.Store) {
	ctx := context.Background()
	if _, err := s.Query(ctx, "SELECT * FROM no_such_table"); err == nil || !strings.Contains(err.Error(), "no_such_table") {
		t.Errorf("unknown table: %v", err)
	}
	if err := s.Insert(ctx, "projects", []string{"project_id", "bad name"}, [][]any{{"a", "b"}}); err == nil {
		t.Error("a column name that is not an identifier was accepted")
	}
	if err := s.Insert(ctx, "projects", []string{"project_id"}, [][]any{{"a", "b"}}); err == nil {
		t.Error("a row longer than its columns was accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Query(cancelled, "SELECT 1"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestOneDataDirectoryPerProcess(t *testing.T) {
	ctx := context.Background()
	a := analyticstest.Open(t)
	_, err := analytics.Open(ctx, analytics.Config{DataDir: t.TempDir(), Database: "other"})
	if err == nil || !strings.Contains(err.Error(), "one data directory per process") {
		t.Fatalf("a second data directory: %v", err)
	}
	if _, err := a.Query(ctx, "SELECT 1"); err != nil {
		t.Fatalf("the open store after the refusal: %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	ctx := context.Background()
	if _, err := analytics.Open(ctx, analytics.Config{Database: "x; DROP"}); err == nil {
		t.Error("a database name that is not an identifier was accepted")
	}
	_, err := analytics.Open(ctx, analytics.Config{DSN: "clickhouse://user:s3cret@[bad"})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad DSN: %v", err)
	}
}
