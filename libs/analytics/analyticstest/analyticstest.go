// Package analyticstest gives tests a real analytics store: the embedded
// chDB engine, one data directory per test process (libchdb allows one per
// process) and a fresh database per test, so tests stay independent and
// may run in parallel.
package analyticstest

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mailferry/mailferry/libs/analytics"
)

var (
	dirOnce sync.Once
	dir     string
	dirErr  error
	seq     atomic.Int64
)

// Main runs the tests of a package that uses this one and removes the
// shared data directory afterwards; call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}

// Dir is the process's chDB data directory (DataDir of a Config).
func Dir(t testing.TB) string {
	t.Helper()
	dirOnce.Do(func() { dir, dirErr = os.MkdirTemp("", "mailferry-chdb-test-") })
	if dirErr != nil {
		t.Fatal(dirErr)
	}
	return dir
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// Database returns a database name no other test of the process uses.
func Database(t testing.TB) string {
	name := strings.ToLower(unsafeChars.ReplaceAllString(t.Name(), "_"))
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("t%d_%s", seq.Add(1), name)
}

// Config is the embedded configuration of a fresh database.
func Config(t testing.TB) analytics.Config {
	return analytics.Config{DataDir: Dir(t), Database: Database(t)}
}

// Open opens a fresh, migrated embedded store, closed (and its database
// dropped) when the test ends.
func Open(t testing.TB) analytics.Store {
	t.Helper()
	ctx := context.Background()
	s, err := analytics.Open(ctx, Config(t))
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
}
