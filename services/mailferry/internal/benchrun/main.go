// Command benchrun is `make bench`: it measures the event bus and a whole
// migration and writes the numbers to bench/results.md. Speed is measured
// here, never asserted in tests.
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
	"github.com/mailferry/mailferry/libs/tenantgen"
	"github.com/mailferry/mailferry/services/mailferry/internal/client"
)

// m365PerMailbox messages make the single-mailbox run span several of the
// throttle's windows.
const m365PerMailbox = 600

// benchEvent is the event the bus benchmark publishes.
type benchEvent struct {
	N int `json:"n"`
}

func (benchEvent) EventType() string { return "bench.event" }

func main() {
	out := flag.String("out", "bench/results.md", "results file")
	binary := flag.String("bin", "bin/mailferry", "mailferry binary")
	events := flag.Int("events", 20000, "events for the bus benchmark")
	mailboxes := flag.Int("mailboxes", 1000, "mailboxes for the migration benchmark")
	items := flag.Int("items", 100, "items per mailbox")
	flag.IntVar(&analyticsCfg.progressRows, "progress-rows", 1_000_000, "progress rows for the chDB ingest benchmark")
	flag.IntVar(&analyticsCfg.logRows, "log-rows", 10_000_000, "mailbox log rows for the log query benchmark")
	flag.IntVar(&analyticsCfg.logQueries, "log-queries", 200, "log queries timed")
	only := flag.String("only", "", "run only this part: analytics, google, console, ews, migration (with the telemetry service's memory) or export (and write to -out)")
	flag.Parse()
	if handled, err := runOnly(*only, *out, *binary, *mailboxes, *items); handled {
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *only == "analytics" || *only == "google" || *only == "console" || *only == "ews" {
		var b strings.Builder
		fmt.Fprintf(&b, "# Benchmarks (%s only)\n\n", *only)
		part := func() error { return benchAnalytics(context.Background(), &b) }
		if *only == "google" {
			part = func() error { return benchGoogleAll(context.Background(), &b, *binary) }
		}
		if *only == "console" {
			part = func() error { return benchConsole(context.Background(), *binary, &b) }
		}
		if *only == "ews" {
			part = func() error { return benchEWSAll(context.Background(), &b, *binary) }
		}
		if err := part(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		fmt.Fprint(os.Stderr, b.String())
		if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*out, *binary, *events, *mailboxes, *items); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(out, binary string, nEvents, nMailboxes, nItems int) error {
	ctx := context.Background()
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` on %s: %s, %d CPUs, %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), runtime.Version())

	fmt.Fprintln(os.Stderr, "bench: event bus ...")
	pub, dedup, cons, err := benchBus(ctx, nEvents)
	if err != nil {
		return err
	}
	fmt.Fprintf(&b, "## Event bus (embedded nats-server, file storage)\n\n| measure | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| publish, acknowledged by JetStream | %.0f events/s |\n", pub)
	fmt.Fprintf(&b, "| re-publish of the same ids (server-side dedup) | %.0f events/s, %d stored of %d sent |\n", dedup.rate, dedup.stored, dedup.sent)
	fmt.Fprintf(&b, "| consume through a watermill handler (retry, poison queue, dedup by id) | %.0f events/s |\n\n", cons)

	fmt.Fprintf(os.Stderr, "bench: full run of %d mailboxes x %d items ...\n", nMailboxes, nItems)
	m, err := benchMigration(ctx, binary, nMailboxes, nItems)
	if err != nil {
		return err
	}
	fmt.Fprintf(&b, "## Full run over the memory platform (`mailferry up`, one process)\n\n")
	fmt.Fprintf(&b, "%d mailboxes x %d items (%d items, %.1f MB), memory sandbox served over HTTP on loopback by the benchmark process.\n\n", nMailboxes, nItems, m.items, float64(m.bytes)/1e6)
	fmt.Fprintf(&b, "| measure | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| discovery of %d mailboxes | %s |\n", nMailboxes, m.discovery.Round(time.Millisecond))
	fmt.Fprintf(&b, "| full run, request to completed | %s |\n", m.run.Round(time.Millisecond))
	fmt.Fprintf(&b, "| items per second | %.0f |\n", float64(m.items)/m.run.Seconds())
	fmt.Fprintf(&b, "| peak RSS of the platform process | %.0f MB |\n", float64(m.peakRSS)/1e6)
	fmt.Fprintln(&b)
	analyticsCfg.telemetryPeak, analyticsCfg.telemetryFinal, analyticsCfg.telemetryMailbx = m.telemetryPeak, m.telemetryFinal, nMailboxes
	if err := benchAnalytics(ctx, &b); err != nil {
		return err
	}
	if err := benchExportSection(ctx, &b); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "bench: Microsoft 365, one mailbox at Graph's rates ...")
	// Graph's rates (10,000 requests per 10 minutes, 150 MB per 5 minutes)
	// over shorter windows, so the run spans several of them in two minutes.
	rates := graph.Limits{RequestsPerWindow: 333, Window: 20 * time.Second, Concurrent: 4, UploadBytes: 5 << 20, UploadWindow: 10 * time.Second}
	single, err := benchM365(ctx, binary, 1, m365PerMailbox, rates, tenantgen.Realistic)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "bench: Microsoft 365, many mailboxes, throttling off ...")
	many, err := benchM365(ctx, binary, 100, 40, graph.Limits{}, tenantgen.Light)
	if err != nil {
		return err
	}
	writeM365(&b, single, many)
	if err := benchGoogleAll(ctx, &b, binary); err != nil {
		return err
	}
	if err := benchEWSAll(ctx, &b, binary); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "bench: the console's mapping table of 10,000 mailboxes in Chromium ...")
	if err := benchConsole(ctx, binary, &b); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	fmt.Fprint(os.Stderr, b.String())
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

type dedupResult struct {
	rate         float64
	sent, stored int
}

func benchBus(ctx context.Context, n int) (float64, dedupResult, float64, error) {
	events.Register[benchEvent](events.Spec{Name: "bench.event", Version: 1, Subject: "project.bench.{n}", Publishers: []string{"bench"}, Consumers: []string{"bench"}, Doc: "benchmark"})
	dir, err := os.MkdirTemp("", "mailferry-bench-")
	if err != nil {
		return 0, dedupResult{}, 0, err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := bus.Open(ctx, bus.Config{DataDir: dir, Name: "bench"}, log)
	if err != nil {
		return 0, dedupResult{}, 0, err
	}
	defer b.Close()
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := b.Publish(ctx, "project.bench."+strconv.Itoa(i%100), benchEvent{N: i}, bus.WithID("ev-"+strconv.Itoa(i))); err != nil {
			return 0, dedupResult{}, 0, err
		}
	}
	pubRate := float64(n) / time.Since(start).Seconds()
	start = time.Now()
	dn := n / 4
	for i := 0; i < dn; i++ {
		if _, err := b.Publish(ctx, "project.bench."+strconv.Itoa(i%100), benchEvent{N: i}, bus.WithID("ev-"+strconv.Itoa(i))); err != nil {
			return 0, dedupResult{}, 0, err
		}
	}
	d := dedupResult{rate: float64(dn) / time.Since(start).Seconds(), sent: n + dn}
	st, _ := b.JetStream().Stream(ctx, "PROJECT")
	info, err := st.Info(ctx)
	if err != nil {
		return 0, d, 0, err
	}
	d.stored = int(info.State.Msgs)
	var got atomic.Int64
	done := make(chan struct{})
	if err := b.Handle(bus.Consumer{Name: "bench", Stream: "PROJECT", Subject: []string{"project.bench.>"}}, func(ctx context.Context, env bus.Envelope) error {
		if got.Add(1) == int64(n) {
			close(done)
		}
		return nil
	}); err != nil {
		return 0, d, 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start = time.Now()
	go func() { _ = b.Run(rctx) }()
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		return 0, d, 0, fmt.Errorf("consumed only %d of %d events", got.Load(), n)
	}
	return pubRate, d, float64(n) / time.Since(start).Seconds(), nil
}

type migration struct {
	items          int
	bytes          int64
	discovery, run time.Duration
	peakRSS        int64
	// telemetryPeak and telemetryFinal are the resident memory of a
	// telemetry process of its own following the run.
	telemetryPeak, telemetryFinal int64
}

func benchMigration(ctx context.Context, binary string, nMailboxes, nItems int) (migration, error) {
	var m migration
	store := memory.NewStore()
	src := store.AddTenant("src", "source.example")
	dst := store.AddTenant("dst", "dest.example")
	mbs := memory.Seed(src, memory.SeedSpec{Mailboxes: nMailboxes, ItemsPerMailbox: nItems, Seed: 7})
	for _, mb := range mbs {
		st, _ := src.Stats(ctx, mb.ID)
		m.items += st.Mail + st.Events + st.Contacts
		m.bytes += st.SizeBytes
		local := strings.SplitN(mb.PrimaryAddress, "@", 2)[0]
		dst.AddMailbox(platform.Mailbox{PrimaryAddress: local + "@dest.example", DisplayName: mb.DisplayName})
	}
	sandbox := httptest.NewServer(memory.NewHandler(store))
	defer sandbox.Close()
	creds := func(t *memory.Tenant) map[string]any {
		return map[string]any{"fields": map[string]string{"endpoint": sandbox.URL, "tenant": t.Name()}, "secrets": map[string]string{"token": t.Token()}}
	}
	p, err := startPlatform(binary)
	if err != nil {
		return m, err
	}
	defer p.stop()
	watch, err := watchTelemetry(binary, filepath.Join(os.TempDir(), "mailferry-bench-up.log"))
	if err != nil {
		return m, err
	}
	m.discovery, m.run, err = p.migrate(ctx, nMailboxes, "memory", "memory", creds(src), creds(dst), true)
	m.peakRSS = peakRSS(p.cmd.Process.Pid)
	m.telemetryPeak, m.telemetryFinal = watch.finish()
	return m, err
}

// platformProc is a `mailferry up` process without its demo.
type platformProc struct {
	cmd   *exec.Cmd
	api   string
	opKey string
}

// startPlatform starts `mailferry up` with env added to its environment.
func startPlatform(binary string, env ...string) (*platformProc, error) {
	dir, err := os.MkdirTemp("", "mailferry-bench-up-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &platformProc{api: "http://" + addr, opKey: "bench-operator"}
	p.cmd = exec.Command(binary, "up")
	p.cmd.Env = append(os.Environ(), "MAILFERRY_DATA_DIR="+dir, "MAILFERRY_HTTP_ADDR="+addr, "MAILFERRY_DEMO=false",
		"MAILFERRY_OPERATOR_KEY="+p.opKey, "MAILFERRY_LOG_LEVEL=warn", "OTEL_TRACES_EXPORTER=none",
		"MAILFERRY_VAULT_KEY="+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	p.cmd.Env = append(p.cmd.Env, env...)
	logf, _ := os.Create(filepath.Join(os.TempDir(), "mailferry-bench-up.log"))
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitFor(2*time.Minute, func() bool {
		resp, err := http.Get(p.api + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}); err != nil {
		p.stop()
		return nil, fmt.Errorf("platform did not start (log: %s)", logf.Name())
	}
	return p, nil
}

func (p *platformProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}

// migrate creates an account with credits and a project between two
// platforms, runs discovery and a full run, and times both.
func (p *platformProc) migrate(ctx context.Context, credits int, srcKind, dstKind string, srcCreds, dstCreds map[string]any, withCalendar bool) (time.Duration, time.Duration, error) {
	op := client.New(p.api, p.opKey)
	var acct struct {
		AccountID string `json:"accountId"`
		APIKey    string `json:"apiKey"`
	}
	if err := op.JSON(ctx, "POST", "/api/accounts", map[string]string{"name": "bench"}, &acct); err != nil {
		return 0, 0, err
	}
	if err := op.JSON(ctx, "POST", "/api/accounts/"+acct.AccountID+"/credits", map[string]any{"amount": credits}, nil); err != nil {
		return 0, 0, err
	}
	c := client.New(p.api, acct.APIKey)
	var pr struct {
		ID string `json:"id"`
	}
	if err := c.JSON(ctx, "POST", "/api/projects", map[string]string{"name": "bench", "source": srcKind, "destination": dstKind}, &pr); err != nil {
		return 0, 0, err
	}
	if err := c.JSON(ctx, "PUT", "/api/projects/"+pr.ID+"/credentials/source", srcCreds, nil); err != nil {
		return 0, 0, err
	}
	if err := c.JSON(ctx, "PUT", "/api/projects/"+pr.ID+"/credentials/destination", dstCreds, nil); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	runID, err := startRun(ctx, c, pr.ID, map[string]any{"mode": "discovery"})
	if err != nil {
		return 0, 0, err
	}
	if err := waitRun(ctx, c, runID); err != nil {
		return 0, 0, err
	}
	disc := time.Since(start)
	start = time.Now()
	if runID, err = startRun(ctx, c, pr.ID, map[string]any{"mode": "full", "calendar": withCalendar, "contacts": withCalendar}); err != nil {
		return disc, 0, err
	}
	if err := waitRun(ctx, c, runID); err != nil {
		return disc, 0, err
	}
	return disc, time.Since(start), nil
}

func startRun(ctx context.Context, c *client.Client, projectID string, body map[string]any) (string, error) {
	var out struct {
		Run struct {
			ID string `json:"id"`
		} `json:"run"`
	}
	err := c.JSON(ctx, "POST", "/api/projects/"+projectID+"/runs", body, &out)
	return out.Run.ID, err
}

func waitRun(ctx context.Context, c *client.Client, id string) error {
	var state string
	err := waitFor(60*time.Minute, func() bool {
		var r struct {
			State  string `json:"state"`
			Reason string `json:"reason"`
		}
		if c.JSON(ctx, "GET", "/api/runs/"+id, nil, &r) != nil {
			return false
		}
		state = r.State + " " + r.Reason
		return r.State == "completed" || r.State == "failed" || r.State == "cancelled" || r.State == "rejected"
	})
	if err != nil {
		return err
	}
	if !strings.HasPrefix(state, "completed") {
		return fmt.Errorf("run %s ended %s", id, state)
	}
	return nil
}

func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

// peakRSS reads the high-water mark of a process's resident memory.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
