// Package connectoragent is mailferry's outbound-only connector: a small
// program installed inside a customer's network, next to an Exchange
// server the platform cannot (and should not) reach. It registers once
// with a one-time token, keeps the Exchange credentials sealed on its own
// server, and serves the platform's connector calls by long-polling the
// platform over HTTPS and streaming the results back. It never listens on
// a port. See docs/connector-agent.md.
package connectoragent

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/mailferry/mailferry/libs/connectors/agent/wire"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/services/connector-agent/internal/local"
	"github.com/mailferry/mailferry/services/connector-agent/internal/platformclient"
	"github.com/mailferry/mailferry/services/connector-agent/internal/runner"
	"github.com/mailferry/mailferry/services/connector-agent/internal/store"
	"github.com/mailferry/mailferry/services/connector-agent/internal/winsvc"
)

// Version is set at build time: -ldflags "-X github.com/mailferry/mailferry/services/connector-agent.Version=1.2.3".
var Version = "dev"

func version() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}

const usage = `connector-agent: mailferry's outbound-only connector for Exchange on-premises.

  connector-agent register --url https://PLATFORM --token TOKEN [--name NAME] [--ca-file PEM]
  connector-agent configure exchange --ews-url URL --user ACCOUNT --password-stdin [--field KEY=VALUE ...]
  connector-agent configure memory --endpoint URL --tenant NAME --token-stdin     (sandbox, for trials)
  connector-agent check                      verify the local platform with the stored credentials
  connector-agent status                     show the stored settings (never the secrets)
  connector-agent run                        serve in the foreground until interrupted
  connector-agent install | uninstall        the Windows service (as administrator)
  connector-agent service                    entry point of the Windows service
  connector-agent version

Every command takes --dir DIR (default ` + "%s" + `; or MAILFERRY_AGENT_DIR).
`

// Main runs the command line args.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, store.DefaultDir())
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "register":
		return register(ctx, rest, stdout)
	case "configure":
		return configure(ctx, rest, stdin, stdout)
	case "check":
		return check(ctx, rest, stdout)
	case "status":
		return status(rest, stdout)
	case "run":
		return run(ctx, rest, stderr)
	case "service":
		return service(rest)
	case "install":
		return install(rest, stdout)
	case "uninstall":
		if err := winsvc.Uninstall(); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "service", winsvc.Name, "removed; its directory with the sealed credentials is left in place")
		return nil
	case "version":
		fmt.Fprintln(stdout, version(), runtime.GOOS+"/"+runtime.GOARCH)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, usage, store.DefaultDir())
		return nil
	}
	fmt.Fprintf(stderr, usage, store.DefaultDir())
	return fmt.Errorf("unknown command %q", cmd)
}

func flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dir := fs.String("dir", store.DefaultDir(), "the agent's directory (settings and sealed secrets)")
	return fs, dir
}

func register(ctx context.Context, args []string, stdout io.Writer) error {
	fs, dir := flags("register")
	url := fs.String("url", "", "the platform's address, https://...")
	token := fs.String("token", "", "the one-time registration token (POST /api/agents/tokens)")
	host, _ := os.Hostname()
	name := fs.String("name", host, "the agent's name as the platform shows it")
	caFile := fs.String("ca-file", "", "a PEM bundle to trust for the platform's certificate, besides the system's")
	insecure := fs.Bool("insecure-http", false, "allow plain http:// to another machine (laboratories only)")
	force := fs.Bool("force", false, "replace an existing registration")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || *token == "" {
		return errors.New("register needs --url and --token")
	}
	st, err := store.Open(*dir)
	if err != nil {
		return err
	}
	if a, _, err := st.LoadAgent(); err == nil && !*force {
		return fmt.Errorf("this agent is already registered as %s (%s) with %s; pass --force to register it again", a.AgentID, a.Name, a.PlatformURL)
	}
	if *caFile != "" {
		abs, err := filepath.Abs(*caFile)
		if err != nil {
			return err
		}
		*caFile = abs
	}
	c, err := platformclient.New(platformclient.Config{URL: *url, CAFile: *caFile, InsecureHTTP: *insecure, UserAgent: userAgent()})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	resp, err := c.Register(rctx, wire.RegisterRequest{Token: *token, Name: *name, Version: version(), OS: runtime.GOOS + "/" + runtime.GOARCH})
	if err != nil {
		return fmt.Errorf("registration refused: %w", err)
	}
	a := store.Agent{PlatformURL: strings.TrimRight(*url, "/"), AgentID: resp.AgentID, AccountID: resp.AccountID, Name: *name, CAFile: *caFile, InsecureHTTP: *insecure}
	if err := st.SaveAgent(a, resp.Credential); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "registered as agent %s (%s) with %s; its credential is sealed in %s (%s)\n", resp.AgentID, *name, a.PlatformURL, st.Dir(), st.Sealing())
	fmt.Fprintf(stdout, "in the project, set the Exchange credentials to {\"fields\": {\"agentId\": %q}} and no secrets\n", resp.AgentID)
	return nil
}

// fieldFlags collects repeated --field KEY=VALUE.
type fieldFlags map[string]string

func (f fieldFlags) String() string { return "" }

func (f fieldFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return errors.New("want KEY=VALUE")
	}
	f[k] = val
	return nil
}

func readSecretLine(stdin io.Reader, what string) (string, error) {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the %s from standard input: %w", what, err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("no %s on standard input", what)
	}
	return line, nil
}

func configure(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("configure what? exchange (or memory, the sandbox)")
	}
	kind, args := platform.Kind(args[0]), args[1:]
	fs, dir := flags("configure " + string(kind))
	extra := fieldFlags{}
	var c store.Connector
	secrets := map[string]string{}
	var readSecret func() error
	switch kind {
	case platform.Exchange:
		ews := fs.String("ews-url", "", "the EWS endpoint, https://mail.example.com/EWS/Exchange.asmx")
		user := fs.String("user", "", "the account with impersonation rights (DOMAIN\\user or user@domain)")
		pw := fs.Bool("password-stdin", false, "read the account's password from standard input (required)")
		fs.Var(extra, "field", "another setting of the EWS connector, KEY=VALUE (repeatable)")
		readSecret = func() error {
			if *ews == "" || *user == "" || !*pw {
				return errors.New("configure exchange needs --ews-url, --user and --password-stdin")
			}
			p, err := readSecretLine(stdin, "password")
			if err != nil {
				return err
			}
			c = store.Connector{Platform: string(kind), Fields: map[string]string{"ewsUrl": *ews, "username": *user}}
			secrets["password"] = p
			return nil
		}
	case platform.Memory:
		endpoint := fs.String("endpoint", "", "the sandbox's URL")
		tenant := fs.String("tenant", "", "the sandbox tenant")
		tok := fs.Bool("token-stdin", false, "read the tenant's token from standard input (required)")
		readSecret = func() error {
			if *endpoint == "" || *tenant == "" || !*tok {
				return errors.New("configure memory needs --endpoint, --tenant and --token-stdin")
			}
			t, err := readSecretLine(stdin, "token")
			if err != nil {
				return err
			}
			c = store.Connector{Platform: string(kind), Fields: map[string]string{"endpoint": *endpoint, "tenant": *tenant}}
			secrets["token"] = t
			return nil
		}
	default:
		return fmt.Errorf("an agent serves exchange (or memory, the sandbox), not %q", kind)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := readSecret(); err != nil {
		return err
	}
	for k, v := range extra {
		c.Fields[k] = v
	}
	// Opening checks the settings' shape (a URL is a URL) before they
	// are kept; `check` then talks to the platform.
	if _, err := local.Open(ctx, kind, c.Fields, secrets); err != nil {
		return fmt.Errorf("these settings cannot be used: %w", errors.New(local.Scrubber(secrets)(err.Error())))
	}
	st, err := store.Open(*dir)
	if err != nil {
		return err
	}
	if err := st.SaveConnector(c, secrets); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "configured %s (%s); secrets sealed in %s (%s); run `connector-agent check` to test them\n", kind, describe(c.Fields), st.Dir(), st.Sealing())
	return nil
}

func describe(fields map[string]string) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+fields[k])
	}
	return strings.Join(parts, ", ")
}

// openLocal opens the configured local connector.
func openLocal(ctx context.Context, st *store.Store) (platform.Connector, store.Connector, func(string) string, error) {
	c, secrets, err := st.LoadConnector()
	if err != nil {
		return nil, c, func(s string) string { return s }, err
	}
	scrub := local.Scrubber(secrets)
	conn, err := local.Open(ctx, platform.Kind(c.Platform), c.Fields, secrets)
	if err != nil {
		return nil, c, scrub, errors.New(scrub(err.Error()))
	}
	return conn, c, scrub, nil
}

func check(ctx context.Context, args []string, stdout io.Writer) error {
	fs, dir := flags("check")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := store.Open(*dir)
	if err != nil {
		return err
	}
	conn, c, scrub, err := openLocal(ctx, st)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	res, _ := wire.Answer(cctx, conn, wire.Call{Op: wire.OpVerify}, nil, scrub)
	if res.Error != nil {
		return fmt.Errorf("the %s platform refused: %w", c.Platform, res.Error.Err())
	}
	mbs, err := conn.ListMailboxes(cctx)
	if err != nil {
		return errors.New(scrub(err.Error()))
	}
	fmt.Fprintf(stdout, "%s (%s): credentials work, %d mailboxes reachable\n", c.Platform, describe(c.Fields), len(mbs))
	return nil
}

func status(args []string, stdout io.Writer) error {
	fs, dir := flags("status")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := store.Open(*dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "directory: %s (secrets: %s)\n", st.Dir(), st.Sealing())
	if a, _, err := st.LoadAgent(); err != nil {
		fmt.Fprintf(stdout, "platform: %v\n", err)
	} else {
		fmt.Fprintf(stdout, "platform: %s, agent %s (%s)\n", a.PlatformURL, a.AgentID, a.Name)
	}
	if c, _, err := st.LoadConnector(); err != nil {
		fmt.Fprintf(stdout, "local platform: %v\n", err)
	} else {
		fmt.Fprintf(stdout, "local platform: %s (%s)\n", c.Platform, describe(c.Fields))
	}
	fmt.Fprintf(stdout, "version: %s %s/%s\n", version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

func userAgent() string {
	return "mailferry-connector-agent/" + version() + " (" + runtime.GOOS + "/" + runtime.GOARCH + ")"
}

// runOptions are the flags of run and service.
type runOptions struct {
	dir         *string
	concurrency *int
	pollWait    *time.Duration
	logLevel    *string
}

func runFlags(name string, args []string) (runOptions, error) {
	fs, dir := flags(name)
	o := runOptions{dir: dir,
		concurrency: fs.Int("concurrency", 16, "calls executed at once on the local platform"),
		pollWait:    fs.Duration("poll-wait", wire.MaxPollWait, "how long the platform holds a poll without work (at most 25s)"),
		logLevel:    fs.String("log-level", "info", "debug, info, warn or error"),
	}
	return o, fs.Parse(args)
}

func logger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})).With("service", "connector-agent")
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := runFlags("run", args)
	if err != nil {
		return err
	}
	return serve(ctx, o, logger(stderr, *o.logLevel))
}

// serve runs the work loop with the stored settings.
func serve(ctx context.Context, o runOptions, log *slog.Logger) error {
	st, err := store.Open(*o.dir)
	if err != nil {
		return err
	}
	a, cred, err := st.LoadAgent()
	if err != nil {
		return err
	}
	client, err := platformclient.New(platformclient.Config{URL: a.PlatformURL, CAFile: a.CAFile, InsecureHTTP: a.InsecureHTTP, Credential: cred, UserAgent: userAgent()})
	if err != nil {
		return err
	}
	conn, c, scrub, localErr := openLocal(ctx, st)
	if localErr != nil {
		log.Warn("no usable local platform; calls are answered with this error until it is configured", "error", localErr.Error())
	}
	r, err := runner.New(runner.Config{
		Client: client, Local: conn, LocalErr: localErr, Platform: c.Platform, Scrub: scrub,
		Version: version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Concurrency: *o.concurrency, PollWait: *o.pollWait, Log: log,
	})
	if err != nil {
		return err
	}
	log.Info("agent started", "agent_id", a.AgentID, "name", a.Name, "platform_url", a.PlatformURL, "local_platform", c.Platform, "version", version())
	err = r.Run(ctx)
	if err != nil {
		log.Error("agent stopped", "error", err.Error())
	} else {
		log.Info("agent stopped")
	}
	return err
}

func service(args []string) error {
	o, err := runFlags("service", args)
	if err != nil {
		return err
	}
	// A service has no console: it logs to a file in its directory.
	if err := os.MkdirAll(*o.dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(*o.dir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	log := logger(f, *o.logLevel)
	return winsvc.Run(func(ctx context.Context) error {
		err := serve(ctx, o, log)
		if errors.Is(err, runner.ErrRevoked) || errors.Is(err, runner.ErrUnknown) {
			// Restarting would not help; the log says what to do.
			return nil
		}
		return err
	})
}

func install(args []string, stdout io.Writer) error {
	fs, dir := flags("install")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := store.Open(*dir)
	if err != nil {
		return err
	}
	if _, _, err := st.LoadAgent(); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if err := winsvc.Install(exe, st.Dir()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "service %s installed (automatic start, restarted on failure); start it with: sc start %s\n", winsvc.Name, winsvc.Name)
	return nil
}
