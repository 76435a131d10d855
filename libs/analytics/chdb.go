package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	chdbpurego "github.com/chdb-io/chdb-go/chdb-purego"

	// Must be linked wherever chdb-go is: it finds libchdb before chdb-go
	// loads it (see its doc).
	_ "github.com/mailferry/mailferry/libs/analytics/chdbenv"
)

// engine is the process's one chDB instance: libchdb allows one open
// connection per process, so every embedded Store shares it (each with its
// own database) and statements run one at a time.
var engine struct {
	mu   sync.Mutex
	conn chdbpurego.ChdbConn
	path string
	refs int
	// db is the connection's current database (USE is session state).
	db string
}

// chdbStore is the embedded back end.
type chdbStore struct {
	db     string
	mu     sync.Mutex
	closed bool
}

func openChDB(ctx context.Context, path, database string) (Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	engine.mu.Lock()
	defer engine.mu.Unlock()
	if engine.conn != nil && engine.path != path {
		return nil, fmt.Errorf("analytics: chDB has %s open and runs one data directory per process; cannot open %s too", engine.path, path)
	}
	if engine.conn == nil {
		if err := os.MkdirAll(path, 0o700); err != nil {
			return nil, fmt.Errorf("analytics: chDB data directory: %w", err)
		}
		conn, err := chdbpurego.NewConnectionFromConnString(path)
		if err != nil {
			return nil, fmt.Errorf("analytics: open chDB at %s: %w", path, err)
		}
		engine.conn, engine.path, engine.db = conn, path, ""
	}
	engine.refs++
	s := &chdbStore{db: database}
	if _, err := runLocked("", "CREATE DATABASE IF NOT EXISTS "+database, ""); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

func (s *chdbStore) Backend() string  { return BackendChDB }
func (s *chdbStore) Database() string { return s.db }

func (s *chdbStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	engine.mu.Lock()
	defer engine.mu.Unlock()
	s.release()
	return nil
}

// release drops one reference; engine.mu is held.
func (s *chdbStore) release() {
	engine.refs--
	if engine.refs == 0 && engine.conn != nil {
		engine.conn.Close()
		engine.conn, engine.path, engine.db = nil, "", ""
	}
}

func (s *chdbStore) run(ctx context.Context, query, format string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, errors.New("analytics: the store is closed")
	}
	engine.mu.Lock()
	defer engine.mu.Unlock()
	return runLocked(s.db, query, format)
}

// runLocked runs one statement in database db ("" for any); engine.mu is
// held. A statement cannot be interrupted once handed to the engine, so
// ctx is only checked before.
func runLocked(db, query, format string) ([]byte, error) {
	if engine.conn == nil {
		return nil, errors.New("analytics: chDB is closed")
	}
	if db != "" && engine.db != db {
		if err := exec1("USE " + db); err != nil {
			return nil, err
		}
		engine.db = db
	}
	if format == "" {
		format = "TabSeparated"
	}
	res, err := engine.conn.Query(query, format)
	if err != nil {
		return nil, fmt.Errorf("analytics: %w", errors.New(cleanError(err.Error())))
	}
	if res == nil {
		return nil, nil
	}
	defer res.Free()
	if err := res.Error(); err != nil {
		return nil, fmt.Errorf("analytics: %w", errors.New(cleanError(err.Error())))
	}
	return bytes.Clone(res.Buf()), nil
}

func exec1(query string) error {
	res, err := engine.conn.Query(query, "TabSeparated")
	if err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	if res != nil {
		res.Free()
	}
	return nil
}

// cleanError trims the engine's stack traces and trailing noise.
func cleanError(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "\nStack trace"); i >= 0 {
		s = s[:i]
	}
	return s
}

func (s *chdbStore) Exec(ctx context.Context, query string, args ...any) error {
	q, err := Bind(query, args...)
	if err != nil {
		return err
	}
	_, err = s.run(ctx, q, "")
	return err
}

// insertChunk bounds the rows of one INSERT statement: big enough for the
// engine to write large parts, small enough to keep the statement text in
// a few megabytes.
const insertChunk = 20000

func (s *chdbStore) Insert(ctx context.Context, table string, columns []string, rows [][]any) error {
	if !identifier.MatchString(table) {
		return fmt.Errorf("analytics: %q is not a table name", table)
	}
	for _, c := range columns {
		if !identifier.MatchString(c) {
			return fmt.Errorf("analytics: %q is not a column name", c)
		}
	}
	head := "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES "
	for start := 0; start < len(rows); start += insertChunk {
		end := min(start+insertChunk, len(rows))
		var b strings.Builder
		b.WriteString(head)
		for i, row := range rows[start:end] {
			if len(row) != len(columns) {
				return fmt.Errorf("analytics: insert into %s: row %d has %d values for %d columns", table, start+i, len(row), len(columns))
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('(')
			for j, v := range row {
				if j > 0 {
					b.WriteByte(',')
				}
				lit, err := literal(v, false)
				if err != nil {
					return fmt.Errorf("analytics: insert into %s, column %s: %w", table, columns[j], err)
				}
				b.WriteString(lit)
			}
			b.WriteByte(')')
		}
		if _, err := s.run(ctx, b.String(), ""); err != nil {
			return fmt.Errorf("analytics: insert into %s: %w", table, err)
		}
	}
	return nil
}

func (s *chdbStore) Query(ctx context.Context, query string, args ...any) (*Rows, error) {
	q, err := Bind(query, args...)
	if err != nil {
		return nil, err
	}
	out, err := s.run(ctx, q, "JSONCompactEachRowWithNamesAndTypes")
	if err != nil {
		return nil, err
	}
	return parseCompact(out)
}

// parseCompact reads JSONCompactEachRowWithNamesAndTypes: a row of names, a
// row of types, then the data rows.
func parseCompact(out []byte) (*Rows, error) {
	rows := &Rows{Columns: []Column{}, Values: [][]any{}}
	if len(bytes.TrimSpace(out)) == 0 {
		return rows, nil
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var names, types []string
	if err := dec.Decode(&names); err != nil {
		return nil, fmt.Errorf("analytics: result header: %w", err)
	}
	if err := dec.Decode(&types); err != nil {
		return nil, fmt.Errorf("analytics: result types: %w", err)
	}
	if len(names) != len(types) {
		return nil, errors.New("analytics: result header and types differ in length")
	}
	for i := range names {
		rows.Columns = append(rows.Columns, Column{Name: names[i], Type: types[i]})
	}
	for {
		var raw []any
		err := dec.Decode(&raw)
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("analytics: result row %d: %w", len(rows.Values)+1, err)
		}
		if len(raw) != len(types) {
			return nil, fmt.Errorf("analytics: result row %d has %d values for %d columns", len(rows.Values)+1, len(raw), len(types))
		}
		row := make([]any, len(raw))
		for i, v := range raw {
			if row[i], err = fromJSON(v, types[i]); err != nil {
				return nil, fmt.Errorf("analytics: column %s: %w", names[i], err)
			}
		}
		rows.Values = append(rows.Values, row)
	}
}
