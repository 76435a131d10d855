package analytics

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change: migrations/NNNN_name.sql.
type Migration struct {
	Version    uint32
	Name       string
	Statements []string
}

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[uint32]string{}
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil || v == 0 {
			return nil, fmt.Errorf("analytics: migration %s is not named NNNN_name.sql", e.Name())
		}
		if prev, dup := seen[uint32(v)]; dup {
			return nil, fmt.Errorf("analytics: migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[uint32(v)] = e.Name()
		body, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: uint32(v), Name: name, Statements: statements(string(body))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// statements splits a migration file on the semicolons that end
// statements (outside literals and comments), dropping empty ones.
func statements(sql string) []string {
	var out []string
	last := 0
	scan(sql, func(i int) bool {
		if sql[i] == ';' {
			out = append(out, sql[last:i])
			last = i + 1
		}
		return true
	})
	out = append(out, sql[last:])
	kept := out[:0]
	for _, s := range out {
		if strings.TrimSpace(stripComments(s)) != "" {
			kept = append(kept, strings.TrimSpace(s))
		}
	}
	return kept
}

// Migrate applies the migrations the store's database does not have yet,
// in order, recording each in schema_migrations. Every statement is
// idempotent (IF NOT EXISTS), so a migration interrupted half way, or two
// processes migrating at once, end in the same schema.
func Migrate(ctx context.Context, s Store) ([]uint32, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	if err := s.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version UInt32,
	name String,
	applied_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree
ORDER BY version`); err != nil {
		return nil, fmt.Errorf("analytics: schema_migrations: %w", err)
	}
	rows, err := s.Query(ctx, "SELECT DISTINCT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("analytics: schema_migrations: %w", err)
	}
	have := map[uint64]bool{}
	for _, r := range rows.Values {
		if v, ok := r[0].(uint64); ok {
			have[v] = true
		}
	}
	var applied []uint32
	for _, m := range ms {
		if have[uint64(m.Version)] {
			continue
		}
		for i, st := range m.Statements {
			if err := s.Exec(ctx, st); err != nil {
				return applied, fmt.Errorf("analytics: migration %04d_%s, statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		if err := s.Insert(ctx, "schema_migrations", []string{"version", "name", "applied_at"},
			[][]any{{m.Version, m.Name, time.Now().UTC()}}); err != nil {
			return applied, fmt.Errorf("analytics: record migration %d: %w", m.Version, err)
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}
