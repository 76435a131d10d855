package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mailferry/mailferry/libs/analytics"
)

// analyticsCommand runs log, report, sql and fleet.
func (c *cli) analyticsCommand(ctx context.Context, cmd string, rest []string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	switch cmd {
	case "log":
		level := fs.String("level", "", "minimum level: info, warning or error")
		from := fs.String("from", "", "RFC 3339 time")
		to := fs.String("to", "", "RFC 3339 time")
		run := fs.String("run", "", "run id")
		offset := fs.String("offset", "", "offset")
		limit := fs.String("limit", "", "limit")
		asJSON := fs.Bool("json", false, "print the API's JSON")
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 2, "log PROJECT MAILBOX [--level L] [--from T] [--to T] [--run RUN] [--offset N] [--limit N] [--json]")); err != nil {
			return err
		}
		q := url.Values{}
		for k, v := range map[string]string{"level": *level, "from": *from, "to": *to, "runId": *run, "offset": *offset, "limit": *limit} {
			if v != "" {
				q.Set(k, v)
			}
		}
		path := "/api/projects/" + url.PathEscape(pos[0]) + "/mailboxes/" + url.PathEscape(pos[1]) + "/log?" + q.Encode()
		if *asJSON {
			return c.print(ctx, http.MethodGet, path, nil)
		}
		var page struct {
			Total  int `json:"total"`
			Offset int `json:"offset"`
			Lines  []struct {
				At      time.Time `json:"at"`
				RunID   string    `json:"runId"`
				Level   string    `json:"level"`
				Kind    string    `json:"kind"`
				Message string    `json:"message"`
				Code    string    `json:"code"`
				Cause   string    `json:"cause"`
				Action  string    `json:"action"`
			} `json:"lines"`
		}
		if err := c.c.JSON(ctx, http.MethodGet, path, nil, &page); err != nil {
			return err
		}
		for _, l := range page.Lines {
			fmt.Fprintf(c.out, "%s  %-7s  %-17s  %s", l.At.UTC().Format("2006-01-02 15:04:05.000"), l.Level, l.Kind, l.Message)
			if l.Code != "" && l.Level != "info" {
				fmt.Fprintf(c.out, "  [%s]", l.Code)
			}
			if l.Action != "" && l.Level != "info" {
				fmt.Fprintf(c.out, "  -> %s", l.Action)
			}
			fmt.Fprintln(c.out)
		}
		if shown := page.Offset + len(page.Lines); shown < page.Total {
			fmt.Fprintf(c.out, "(%d of %d lines; --offset %d for more)\n", len(page.Lines), page.Total, shown)
		}
		return nil
	case "report":
		format := fs.String("format", "json", "csv or json")
		mailbox := fs.String("mailbox", "", "one mailbox (source address or id)")
		run := fs.String("run", "", "one run")
		out := fs.String("out", "", "write to this file")
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 1, "report PROJECT [--format csv|json] [--mailbox M] [--run RUN] [--out FILE]")); err != nil {
			return err
		}
		if *format != "csv" && *format != "json" {
			return fmt.Errorf("--format must be csv or json, not %q", *format)
		}
		q := url.Values{}
		if *mailbox != "" {
			q.Set("mailbox", *mailbox)
		}
		if *run != "" {
			q.Set("runId", *run)
		}
		path := "/api/projects/" + url.PathEscape(pos[0]) + "/reconciliation"
		if *format == "csv" {
			path += ".csv"
		} else {
			q.Set("limit", "5000")
		}
		data, _, err := c.c.Do(ctx, http.MethodGet, path+"?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		if *format == "json" {
			data = []byte(indent(data) + "\n")
		}
		if *out != "" {
			return os.WriteFile(*out, data, 0o644)
		}
		_, err = c.out.Write(data)
		return err
	case "fleet":
		health := fs.String("health", "", "comma-separated health values (default stalled,failing)")
		if _, err := parse(fs, rest); err != nil {
			return err
		}
		q := url.Values{}
		if *health != "" {
			q.Set("health", *health)
		}
		return c.print(ctx, http.MethodGet, "/api/fleet?"+q.Encode(), nil)
	case "sql":
		asJSON := fs.Bool("json", false, "print JSON instead of a table")
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 1, `sql "SELECT ..." [--json]`)); err != nil {
			return err
		}
		res, err := c.sql(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			b, _ := json.MarshalIndent(res, "", "  ")
			fmt.Fprintln(c.out, string(b))
			return nil
		}
		printTable(c.out, res)
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// sqlResult is what `mailferry sql` prints.
type sqlResult struct {
	Backend   string             `json:"backend"`
	Columns   []analytics.Column `json:"columns"`
	Rows      [][]any            `json:"rows"`
	Truncated bool               `json:"truncated,omitempty"`
	Note      string             `json:"note,omitempty"`
}

// sql runs a read-only query against whichever back end is configured: a
// ClickHouse server named by MAILFERRY_CLICKHOUSE_DSN directly (its rows
// are read-only per statement), else the embedded engine through the API,
// since only the process running telemetry may open its data.
func (c *cli) sql(ctx context.Context, query string) (sqlResult, error) {
	if dsn := os.Getenv("MAILFERRY_CLICKHOUSE_DSN"); dsn != "" {
		q, err := analytics.ReadOnly(query)
		if err != nil {
			return sqlResult{}, err
		}
		cfg := analytics.Config{DSN: dsn, Database: os.Getenv("MAILFERRY_ANALYTICS_DATABASE")}
		st, err := analytics.Open(ctx, cfg)
		if err != nil {
			return sqlResult{}, err
		}
		defer st.Close()
		rows, err := st.Query(ctx, q)
		if err != nil {
			return sqlResult{}, err
		}
		return sqlResult{Backend: st.Backend(), Columns: rows.Columns, Rows: rows.Values}, nil
	}
	var res sqlResult
	err := c.c.JSON(ctx, http.MethodPost, "/api/sql", map[string]string{"query": query}, &res)
	return res, err
}

func printTable(w io.Writer, res sqlResult) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	names := make([]string, len(res.Columns))
	for i, c := range res.Columns {
		names[i] = c.Name
	}
	fmt.Fprintln(tw, strings.Join(names, "\t"))
	for _, r := range res.Rows {
		cells := make([]string, len(r))
		for i, v := range r {
			switch x := v.(type) {
			case nil:
				cells[i] = "NULL"
			case string:
				cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(x)
			default:
				b, _ := json.Marshal(x)
				cells[i] = strings.Trim(string(b), `"`)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "(%d rows, %s)\n", len(res.Rows), res.Backend)
	if res.Note != "" {
		fmt.Fprintln(w, res.Note)
	}
}
