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
	"time"

	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/mailferry/internal/client"
)

// Version is set at build time.
var version = "dev"

const usage = `mailferry migrates mailboxes between Microsoft 365, Google Workspace and Exchange.

Platform:
  mailferry up                         run every service in this process (embedded NATS, demo sandbox)
  mailferry serve SERVICE              run one service (project, discovery, mapping, billing, transfer, telemetry)
  mailferry services                   list the services
  mailferry sandbox m365|google|exchange [--addr HOST:PORT] [--seed N] [--users N] [--messages N]
                                       serve a Microsoft 365 (Graph) sandbox tenant over HTTPS; prints its
                                       base URL, authority, CA file and working credentials as JSON on line 1
  mailferry version

API client (MAILFERRY_API_URL, default http://127.0.0.1:8080; MAILFERRY_API_KEY):
  mailferry account create NAME                         (operator key)
  mailferry account show
  mailferry key create [--label L] | key list | key revoke KEYID
  mailferry credits balance | ledger
  mailferry credits add --account ID --amount N [--reference R]   (operator key)
  mailferry project create --name N --source P --destination P  (P: m365, google, exchange, memory)
  mailferry project list | show PROJECT
  mailferry creds set PROJECT source|destination --field k=v ... [--secret k=v ...] [--secrets-file F.json]
  mailferry creds show PROJECT source|destination
  mailferry creds verify PROJECT source|destination    (authenticates and lists missing permissions by name)
  mailferry setup m365 [--tenant ID] [--client ID]     (app permissions, manifest and admin-consent link)
  mailferry discovery show PROJECT [--side source|destination] [--sort address|size|items] [--filter S] [--offset N] [--limit N]
  mailferry mapping show PROJECT [--exceptions] [--offset N] [--limit N]
  mailferry mapping set PROJECT SOURCE DESTINATION
  mailferry mapping exclude PROJECT SOURCE
  mailferry mapping create PROJECT SOURCE DESTINATION     (flag the destination for automatic creation)
  mailferry mapping export PROJECT [FILE]
  mailferry mapping import PROJECT FILE
  mailferry run start PROJECT --mode discovery|prestage|full|delta [--no-calendar] [--no-contacts] [--mailbox ADDR ...] [--wait]
  mailferry run list PROJECT | show RUN | cancel RUN | progress RUN [--wait]
  mailferry log PROJECT MAILBOX [--level info|warning|error] [--from T] [--to T] [--run RUN] [--offset N] [--limit N] [--json]
                                       a mailbox's chronological log (MAILBOX: source address or id)
  mailferry report PROJECT [--format csv|json] [--mailbox M] [--run RUN] [--out FILE]
                                       reconciliation: per folder source vs destination, every item not copied
  mailferry fleet [--health stalled,failing,...]      mailboxes of the account's runs that need attention now
  mailferry sql "SELECT ..." [--json]  read-only SQL (docs/analytics.md): on MAILFERRY_CLICKHOUSE_DSN directly,
                                       else through the API with the operator key
  mailferry openapi

Secrets given with --secret end up in your shell history; prefer --secrets-file.
`

// Main runs the mailferry command line.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version":
		fmt.Fprintln(stdout, "mailferry", version)
		return nil
	case "services":
		fmt.Fprintln(stdout, strings.Join(ServiceNames(), "\n"))
		return nil
	case "up":
		return Up(ctx, stdout, stderr)
	case "sandbox":
		return sandbox(ctx, args[1:], stdout)
	case "serve":
		if len(args) != 2 {
			return fmt.Errorf("usage: mailferry serve SERVICE (one of %s)", strings.Join(ServiceNames(), ", "))
		}
		r, err := runnerFor(args[1])
		if err != nil {
			return err
		}
		return svc.RunProcess(ctx, args[1], r)
	}
	c := client.New(envOr("MAILFERRY_API_URL", "http://127.0.0.1:8080"), os.Getenv("MAILFERRY_API_KEY"))
	cli := &cli{c: c, out: stdout}
	err := cli.dispatch(ctx, args)
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && len(apiErr.Body) > 0 {
		// The whole answer may say more (row errors, the rejected run).
		fmt.Fprintln(stderr, indent(apiErr.Body))
	}
	return err
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type cli struct {
	c   *client.Client
	out io.Writer
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func (c *cli) print(ctx context.Context, method, path string, body any) error {
	var raw json.RawMessage
	if err := c.c.JSON(ctx, method, path, body, &raw); err != nil {
		return err
	}
	fmt.Fprintln(c.out, indent(raw))
	return nil
}

func indent(raw []byte) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// parse parses flags that may come after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func need(pos []string, n int, what string) error {
	if len(pos) != n {
		return fmt.Errorf("usage: mailferry %s", what)
	}
	return nil
}

func (c *cli) dispatch(ctx context.Context, args []string) error {
	switch args[0] {
	case "log", "report", "sql", "fleet":
		return c.analyticsCommand(ctx, args[0], args[1:])
	}
	cmd := args[0]
	sub := ""
	rest := args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") && cmd != "openapi" {
		sub, rest = rest[0], rest[1:]
	}
	fs := flag.NewFlagSet(cmd+" "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	switch cmd + " " + sub {
	case "openapi ":
		return c.print(ctx, http.MethodGet, "/api/openapi.json", nil)
	case "account create":
		pos, err := parse(fs, rest)
		if err != nil || need(pos, 1, "account create NAME") != nil {
			return errors.Join(err, need(pos, 1, "account create NAME"))
		}
		return c.print(ctx, http.MethodPost, "/api/accounts", map[string]string{"name": pos[0]})
	case "account show":
		return c.print(ctx, http.MethodGet, "/api/account", nil)
	case "key create":
		label := fs.String("label", "", "label")
		if _, err := parse(fs, rest); err != nil {
			return err
		}
		return c.print(ctx, http.MethodPost, "/api/accounts/"+c.selfAccount(ctx)+"/keys", map[string]string{"label": *label})
	case "key list":
		return c.print(ctx, http.MethodGet, "/api/accounts/"+c.selfAccount(ctx)+"/keys", nil)
	case "key revoke":
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 1, "key revoke KEYID")); err != nil {
			return err
		}
		if _, _, err := c.c.Do(ctx, http.MethodDelete, "/api/accounts/"+c.selfAccount(ctx)+"/keys/"+url.PathEscape(pos[0]), nil); err != nil {
			return err
		}
		fmt.Fprintln(c.out, "revoked", pos[0])
		return nil
	case "credits balance":
		return c.print(ctx, http.MethodGet, "/api/credits", nil)
	case "credits ledger":
		return c.print(ctx, http.MethodGet, "/api/credits/ledger", nil)
	case "credits add":
		acct := fs.String("account", "", "account id")
		amount := fs.Int("amount", 0, "credits")
		ref := fs.String("reference", "", "reference")
		if _, err := parse(fs, rest); err != nil {
			return err
		}
		return c.print(ctx, http.MethodPost, "/api/accounts/"+url.PathEscape(*acct)+"/credits", map[string]any{"amount": *amount, "reference": *ref})
	case "project create":
		name := fs.String("name", "", "name")
		src := fs.String("source", "", "source platform")
		dst := fs.String("destination", "", "destination platform")
		if _, err := parse(fs, rest); err != nil {
			return err
		}
		return c.print(ctx, http.MethodPost, "/api/projects", map[string]string{"name": *name, "source": *src, "destination": *dst})
	case "project list":
		return c.print(ctx, http.MethodGet, "/api/projects", nil)
	case "project show":
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 1, "project show PROJECT")); err != nil {
			return err
		}
		return c.print(ctx, http.MethodGet, "/api/projects/"+url.PathEscape(pos[0]), nil)
	case "creds set":
		var fields, secrets multi
		fs.Var(&fields, "field", "k=v")
		fs.Var(&secrets, "secret", "k=v")
		file := fs.String("secrets-file", "", "JSON object of secrets")
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 2, "creds set PROJECT SIDE --field k=v [--secret k=v] [--secrets-file F]")); err != nil {
			return err
		}
		body := map[string]map[string]string{"fields": kv(fields), "secrets": kv(secrets)}
		if *file != "" {
			b, err := os.ReadFile(*file)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(b, &map[string]any{}); err != nil {
				return fmt.Errorf("%s: not a JSON object: %w", *file, err)
			}
			var m map[string]string
			if err := json.Unmarshal(b, &m); err != nil {
				return fmt.Errorf("%s: values must be strings: %w", *file, err)
			}
			for k, v := range m {
				body["secrets"][k] = v
			}
		}
		return c.print(ctx, http.MethodPut, "/api/projects/"+url.PathEscape(pos[0])+"/credentials/"+url.PathEscape(pos[1]), body)
	case "creds show":
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 2, "creds show PROJECT SIDE")); err != nil {
			return err
		}
		return c.print(ctx, http.MethodGet, "/api/projects/"+url.PathEscape(pos[0])+"/credentials/"+url.PathEscape(pos[1]), nil)
	case "setup m365":
		tenant := fs.String("tenant", "", "tenant id or domain")
		clientID := fs.String("client", "", "application (client) id")
		if _, err := parse(fs, rest); err != nil {
			return err
		}
		return c.print(ctx, http.MethodGet, "/api/setup/m365?"+url.Values{"tenantId": {*tenant}, "clientId": {*clientID}}.Encode(), nil)
	case "creds verify":
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 2, "creds verify PROJECT SIDE")); err != nil {
			return err
		}
		return c.print(ctx, http.MethodPost, "/api/projects/"+url.PathEscape(pos[0])+"/credentials/"+url.PathEscape(pos[1])+"/verify", nil)
	case "discovery show":
		q := url.Values{}
		for _, k := range []string{"side", "sort", "filter", "offset", "limit", "runId"} {
			fs.String(k, "", k)
		}
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 1, "discovery show PROJECT")); err != nil {
			return err
		}
		fs.Visit(func(f *flag.Flag) { q.Set(f.Name, f.Value.String()) })
		return c.print(ctx, http.MethodGet, "/api/projects/"+url.PathEscape(pos[0])+"/discovery?"+q.Encode(), nil)
	case "mapping show":
		exc := fs.Bool("exceptions", false, "exceptions only")
		off := fs.String("offset", "", "offset")
		lim := fs.String("limit", "", "limit")
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 1, "mapping show PROJECT")); err != nil {
			return err
		}
		q := url.Values{}
		if *exc {
			q.Set("exceptionsOnly", "true")
		}
		if *off != "" {
			q.Set("offset", *off)
		}
		if *lim != "" {
			q.Set("limit", *lim)
		}
		return c.print(ctx, http.MethodGet, "/api/projects/"+url.PathEscape(pos[0])+"/mapping?"+q.Encode(), nil)
	case "mapping set", "mapping create", "mapping exclude":
		pos, err := parse(fs, rest)
		if err != nil {
			return err
		}
		edit := map[string]string{"action": map[string]string{"set": "migrate", "create": "create", "exclude": "exclude"}[sub]}
		if sub == "exclude" {
			if err := need(pos, 2, "mapping exclude PROJECT SOURCE"); err != nil {
				return err
			}
		} else {
			if err := need(pos, 3, "mapping "+sub+" PROJECT SOURCE DESTINATION"); err != nil {
				return err
			}
			edit["destination"] = pos[2]
		}
		edit["source"] = pos[1]
		return c.print(ctx, http.MethodPatch, "/api/projects/"+url.PathEscape(pos[0])+"/mapping", map[string]any{"edits": []any{edit}})
	case "mapping export":
		pos, err := parse(fs, rest)
		if err != nil || len(pos) < 1 || len(pos) > 2 {
			return errors.Join(err, errors.New("usage: mailferry mapping export PROJECT [FILE]"))
		}
		data, _, err := c.c.Do(ctx, http.MethodGet, "/api/projects/"+url.PathEscape(pos[0])+"/mapping.csv", nil)
		if err != nil {
			return err
		}
		if len(pos) == 2 {
			return os.WriteFile(pos[1], data, 0o644)
		}
		_, err = c.out.Write(data)
		return err
	case "mapping import":
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 2, "mapping import PROJECT FILE")); err != nil {
			return err
		}
		data, err := os.ReadFile(pos[1])
		if err != nil {
			return err
		}
		raw, _, err := c.c.Do(ctx, http.MethodPut, "/api/projects/"+url.PathEscape(pos[0])+"/mapping.csv", data)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.out, indent(raw))
		return nil
	case "run start":
		mode := fs.String("mode", "", "discovery|prestage|full|delta")
		noCal := fs.Bool("no-calendar", false, "skip calendars")
		noCon := fs.Bool("no-contacts", false, "skip contacts")
		wait := fs.Bool("wait", false, "wait for the run to end")
		var mbx multi
		fs.Var(&mbx, "mailbox", "source address")
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 1, "run start PROJECT --mode MODE")); err != nil {
			return err
		}
		cal, con := !*noCal, !*noCon
		var resp struct {
			Run struct {
				ID string `json:"id"`
			} `json:"run"`
		}
		var raw json.RawMessage
		if err := c.c.JSON(ctx, http.MethodPost, "/api/projects/"+url.PathEscape(pos[0])+"/runs", map[string]any{"mode": *mode, "calendar": cal, "contacts": con, "mailboxes": []string(mbx)}, &raw); err != nil {
			return err
		}
		fmt.Fprintln(c.out, indent(raw))
		if !*wait {
			return nil
		}
		_ = json.Unmarshal(raw, &resp)
		return c.waitRun(ctx, resp.Run.ID)
	case "run list":
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 1, "run list PROJECT")); err != nil {
			return err
		}
		return c.print(ctx, http.MethodGet, "/api/projects/"+url.PathEscape(pos[0])+"/runs", nil)
	case "run show":
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 1, "run show RUN")); err != nil {
			return err
		}
		return c.print(ctx, http.MethodGet, "/api/runs/"+url.PathEscape(pos[0]), nil)
	case "run cancel":
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 1, "run cancel RUN")); err != nil {
			return err
		}
		return c.print(ctx, http.MethodPost, "/api/runs/"+url.PathEscape(pos[0])+"/cancel", nil)
	case "run progress":
		wait := fs.Bool("wait", false, "wait for the run to end")
		pos, err := parse(fs, rest)
		if err := errors.Join(err, need(pos, 1, "run progress RUN")); err != nil {
			return err
		}
		if *wait {
			if err := c.waitRun(ctx, pos[0]); err != nil {
				return err
			}
		}
		return c.print(ctx, http.MethodGet, "/api/runs/"+url.PathEscape(pos[0])+"/progress", nil)
	}
	return fmt.Errorf("unknown command %q; see mailferry help", strings.TrimSpace(cmd+" "+sub))
}

func kv(list []string) map[string]string {
	m := map[string]string{}
	for _, s := range list {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	return m
}

func (c *cli) selfAccount(ctx context.Context) string {
	var me struct {
		Account struct {
			ID string `json:"id"`
		} `json:"account"`
	}
	_ = c.c.JSON(ctx, http.MethodGet, "/api/account", nil, &me)
	return me.Account.ID
}

// waitRun polls a run until it ends, printing state changes.
func (c *cli) waitRun(ctx context.Context, id string) error {
	last := ""
	for {
		var run struct {
			State  string `json:"state"`
			Reason string `json:"reason"`
		}
		if err := c.c.JSON(ctx, http.MethodGet, "/api/runs/"+url.PathEscape(id), nil, &run); err != nil {
			return err
		}
		if run.State != last {
			fmt.Fprintf(c.out, "run %s: %s %s\n", id, run.State, run.Reason)
			last = run.State
		}
		switch run.State {
		case "completed", "cancelled", "rejected":
			return nil
		case "failed":
			return fmt.Errorf("run %s failed: %s", id, run.Reason)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
