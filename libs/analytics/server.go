package analytics

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// serverStore is the ClickHouse server back end (native protocol).
type serverStore struct {
	conn driver.Conn
	db   string
}

func openServer(ctx context.Context, dsn, database string) (Store, error) {
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		// The DSN may hold a password: never repeat it.
		return nil, fmt.Errorf("analytics: MAILFERRY_CLICKHOUSE_DSN is not a valid ClickHouse DSN (clickhouse://user:password@host:9000/database)")
	}
	// The database may not exist yet, and a connection naming a missing
	// database is refused: create it over a connection to the default one.
	boot := *opts
	boot.Auth.Database = "default"
	c, err := clickhouse.Open(&boot)
	if err != nil {
		return nil, fmt.Errorf("analytics: connect to ClickHouse: %w", err)
	}
	err = c.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+database)
	_ = c.Close()
	if err != nil {
		return nil, fmt.Errorf("analytics: create database %s: %w", database, err)
	}
	opts.Auth.Database = database
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("analytics: connect to ClickHouse: %w", err)
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("analytics: ClickHouse does not answer: %w", err)
	}
	return &serverStore{conn: conn, db: database}, nil
}

func (s *serverStore) Backend() string  { return BackendClickHouse }
func (s *serverStore) Database() string { return s.db }
func (s *serverStore) Close() error     { return s.conn.Close() }

func (s *serverStore) Exec(ctx context.Context, query string, args ...any) error {
	q, err := Bind(query, args...)
	if err != nil {
		return err
	}
	if err := s.conn.Exec(ctx, q); err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	return nil
}

// Insert sends the rows as one native batch: columnar blocks, the way
// ClickHouse wants large inserts.
func (s *serverStore) Insert(ctx context.Context, table string, columns []string, rows [][]any) error {
	if !identifier.MatchString(table) {
		return fmt.Errorf("analytics: %q is not a table name", table)
	}
	for _, c := range columns {
		if !identifier.MatchString(c) {
			return fmt.Errorf("analytics: %q is not a column name", c)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+table+" ("+strings.Join(columns, ", ")+")")
	if err != nil {
		return fmt.Errorf("analytics: insert into %s: %w", table, err)
	}
	defer batch.Close()
	for i, row := range rows {
		if len(row) != len(columns) {
			return fmt.Errorf("analytics: insert into %s: row %d has %d values for %d columns", table, i, len(row), len(columns))
		}
		if err := batch.Append(row...); err != nil {
			return fmt.Errorf("analytics: insert into %s, row %d: %w", table, i, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("analytics: insert into %s: %w", table, err)
	}
	return nil
}

func (s *serverStore) Query(ctx context.Context, query string, args ...any) (*Rows, error) {
	q, err := Bind(query, args...)
	if err != nil {
		return nil, err
	}
	rs, err := s.conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	defer rs.Close()
	types := rs.ColumnTypes()
	out := &Rows{Columns: make([]Column, len(types)), Values: [][]any{}}
	for i, t := range types {
		out.Columns[i] = Column{Name: t.Name(), Type: t.DatabaseTypeName()}
	}
	for rs.Next() {
		dest := make([]any, len(types))
		for i, t := range types {
			dest[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rs.Scan(dest...); err != nil {
			return nil, fmt.Errorf("analytics: %w", err)
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			row[i] = normalize(reflect.ValueOf(d).Elem().Interface())
		}
		out.Values = append(out.Values, row)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	return out, nil
}
