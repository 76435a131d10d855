// Package analytics is mailferry's ClickHouse store: one interface, two
// back ends running the same ClickHouse SQL.
//
//   - Embedded (default): chDB, ClickHouse in-process through
//     github.com/chdb-io/chdb-go and the libchdb shared library (see
//     chdbenv), with its data under MAILFERRY_DATA_DIR/chdb.
//   - Server: a ClickHouse server or cluster over the native protocol
//     through clickhouse-go/v2, when MAILFERRY_CLICKHOUSE_DSN is set.
//
// Query arguments are bound into the SQL text by this package (the `?`
// placeholders), so both back ends receive exactly the same statement, and
// results come back as the same Go types from both (see Rows). The schema
// is versioned in migrations/ and applied by Migrate.
package analytics

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Config selects and configures the back end.
type Config struct {
	// DSN, when set, selects the ClickHouse server back end, e.g.
	// clickhouse://user:password@host:9000/mailferry?dial_timeout=5s.
	DSN string `env:"MAILFERRY_CLICKHOUSE_DSN"`
	// DataDir holds the embedded engine's data (in DataDir/chdb).
	DataDir string `env:"MAILFERRY_DATA_DIR" envDefault:".data"`
	// Database is the database mailferry's tables live in; created when
	// missing.
	Database string `env:"MAILFERRY_ANALYTICS_DATABASE" envDefault:"mailferry"`
}

// Store is a ClickHouse database. Implementations are safe for concurrent
// use.
type Store interface {
	// Exec runs one statement that returns no rows (DDL, OPTIMIZE,
	// INSERT ... SELECT), with args bound to its `?` placeholders.
	Exec(ctx context.Context, query string, args ...any) error
	// Insert appends rows to table in one batch; each row holds one value
	// per column, of the Go type matching the column (string, uint64,
	// int64, float64, bool, time.Time, []string).
	Insert(ctx context.Context, table string, columns []string, rows [][]any) error
	// Query runs one statement that returns rows, with args bound to its
	// `?` placeholders.
	Query(ctx context.Context, query string, args ...any) (*Rows, error)
	// Backend names the engine: "chdb" or "clickhouse".
	Backend() string
	// Database is the database the store's statements run in.
	Database() string
	Close() error
}

// Back-end names.
const (
	BackendChDB       = "chdb"
	BackendClickHouse = "clickhouse"
)

// Column is one result column: its name and ClickHouse type.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Rows is a query's whole result. Values are normalised to the same Go
// types on both back ends: Int* as int64, UInt* as uint64, Float* and
// Decimal as float64, Bool as bool, Date and DateTime* as time.Time in UTC
// (or the column's time zone), String, FixedString, UUID, Enum and other
// scalars as string, Nullable as nil or the value, Array and Tuple as
// []any, Map as map[string]any.
type Rows struct {
	Columns []Column `json:"columns"`
	Values  [][]any  `json:"rows"`
}

// Len is the number of rows.
func (r *Rows) Len() int { return len(r.Values) }

// Maps returns the rows as maps from column name to value.
func (r *Rows) Maps() []map[string]any {
	out := make([]map[string]any, len(r.Values))
	for i, row := range r.Values {
		m := make(map[string]any, len(r.Columns))
		for j, c := range r.Columns {
			m[c.Name] = row[j]
		}
		out[i] = m
	}
	return out
}

// ErrReadOnly is returned by ReadOnly for statements that are not queries.
var ErrReadOnly = errors.New("analytics: only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN statements are allowed")

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Open opens the configured back end and creates its database when
// missing. It does not migrate: call Migrate.
func Open(ctx context.Context, cfg Config) (Store, error) {
	if cfg.Database == "" {
		cfg.Database = "mailferry"
	}
	if !identifier.MatchString(cfg.Database) {
		return nil, fmt.Errorf("analytics: MAILFERRY_ANALYTICS_DATABASE %q is not a plain identifier", cfg.Database)
	}
	if cfg.DSN != "" {
		return openServer(ctx, cfg.DSN, cfg.Database)
	}
	dir := cfg.DataDir
	if dir == "" {
		dir = ".data"
	}
	abs, err := filepath.Abs(filepath.Join(dir, "chdb"))
	if err != nil {
		return nil, fmt.Errorf("analytics: data directory: %w", err)
	}
	return openChDB(ctx, abs, cfg.Database)
}

// ReadOnly checks that sql is one statement that only reads (SELECT,
// WITH, SHOW, DESCRIBE, DESC, EXPLAIN, without a FORMAT clause, since the
// store picks the format) and returns it ready to run: SELECT and WITH
// queries get `SETTINGS readonly = 1`, which also refuses table functions
// such as file() and url(). The check is on top of, not instead of, the
// engine's own read-only mode.
func ReadOnly(sql string) (string, error) {
	body := strings.TrimSpace(stripComments(sql))
	body = strings.TrimSpace(strings.TrimSuffix(body, ";"))
	if body == "" {
		return "", fmt.Errorf("%w: the query is empty", ErrReadOnly)
	}
	if hasTopLevelSemicolon(body) {
		return "", fmt.Errorf("%w: send one statement at a time", ErrReadOnly)
	}
	first := strings.ToUpper(strings.FieldsFunc(body, func(r rune) bool {
		return r == ' ' || r == '\n' || r == '\t' || r == '\r' || r == '('
	})[0])
	if hasKeyword(body, "FORMAT") {
		return "", fmt.Errorf("%w: leave out the FORMAT clause; the answer's format is chosen for you", ErrReadOnly)
	}
	switch first {
	case "SELECT", "WITH":
		return body + "\nSETTINGS readonly = 1", nil
	case "SHOW", "DESCRIBE", "DESC", "EXPLAIN":
		return body, nil
	}
	return "", fmt.Errorf("%w, not %s", ErrReadOnly, first)
}

// scan walks sql outside string literals, quoted identifiers and
// comments, calling visit with each byte offset of plain text.
func scan(sql string, visit func(i int) bool) {
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == '\'' || c == '"' || c == '`':
			for i++; i < len(sql) && sql[i] != c; i++ {
				if sql[i] == '\\' {
					i++
				}
			}
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-', c == '#':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return
			}
			i += end + 3
		default:
			if !visit(i) {
				return
			}
		}
	}
}

func stripComments(sql string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(sql); i++ {
		switch {
		case sql[i] == '\'' || sql[i] == '"' || sql[i] == '`':
			q := sql[i]
			for i++; i < len(sql) && sql[i] != q; i++ {
				if sql[i] == '\\' {
					i++
				}
			}
		case sql[i] == '-' && i+1 < len(sql) && sql[i+1] == '-', sql[i] == '#':
			b.WriteString(sql[last:i])
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
			last = i
		case sql[i] == '/' && i+1 < len(sql) && sql[i+1] == '*':
			b.WriteString(sql[last:i])
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return b.String()
			}
			i += end + 3
			last = i + 1
			b.WriteByte(' ')
		}
	}
	if last < len(sql) {
		b.WriteString(sql[last:])
	}
	return b.String()
}

func hasTopLevelSemicolon(sql string) bool {
	found := false
	scan(sql, func(i int) bool {
		found = sql[i] == ';'
		return !found
	})
	return found
}

// hasKeyword reports whether word appears as a bare word outside literals.
func hasKeyword(sql, word string) bool {
	found := false
	n := len(word)
	isWord := func(c byte) bool {
		return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
	}
	scan(sql, func(i int) bool {
		if i+n <= len(sql) && strings.EqualFold(sql[i:i+n], word) &&
			(i == 0 || !isWord(sql[i-1])) && (i+n == len(sql) || !isWord(sql[i+n])) {
			found = true
		}
		return !found
	})
	return found
}

// Bind returns query with each `?` placeholder (outside literals and
// comments) replaced by args rendered as ClickHouse literals.
func Bind(query string, args ...any) (string, error) {
	if len(args) == 0 {
		return query, nil
	}
	var b strings.Builder
	last, n := 0, 0
	var err error
	scan(query, func(i int) bool {
		if query[i] != '?' {
			return true
		}
		if n >= len(args) {
			err = fmt.Errorf("analytics: %d arguments for more placeholders", len(args))
			return false
		}
		lit, lerr := literal(args[n], true)
		if lerr != nil {
			err = lerr
			return false
		}
		b.WriteString(query[last:i])
		b.WriteString(lit)
		last = i + 1
		n++
		return true
	})
	if err != nil {
		return "", err
	}
	if n != len(args) {
		return "", fmt.Errorf("analytics: %d placeholders for %d arguments", n, len(args))
	}
	b.WriteString(query[last:])
	return b.String(), nil
}

// timeLayout is how times are written into ClickHouse literals.
const timeLayout = "2006-01-02 15:04:05.000"

// literal renders v as a ClickHouse literal. In queries times become
// explicit UTC DateTime64 values; in VALUES they are plain strings the
// column parses in its own (UTC) time zone, which keeps the insert on the
// engine's fast path.
func literal(v any, inQuery bool) (string, error) {
	switch x := v.(type) {
	case nil:
		return "NULL", nil
	case string:
		return quote(x), nil
	case bool:
		if x {
			return "true", nil
		}
		return "false", nil
	case int:
		return fmt.Sprint(x), nil
	case int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x), nil
	case float32, float64:
		return fmt.Sprint(x), nil
	case time.Time:
		s := x.UTC().Format(timeLayout)
		if inQuery {
			return "toDateTime64('" + s + "', 3, 'UTC')", nil
		}
		return "'" + s + "'", nil
	case []string:
		parts := make([]string, len(x))
		for i, s := range x {
			parts[i] = quote(s)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	}
	return "", fmt.Errorf("analytics: cannot bind a %T", v)
}

func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
