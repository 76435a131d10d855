package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mailferry/mailferry/events/progress"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/exporter"
)

// benchExport publishes n progress events (the busiest stream: 1,000
// mailboxes reporting) to an embedded bus, then times the exporter copying
// them to a kfake cluster in the same process, from its start until the
// last one is acknowledged on both sides.
func benchExport(ctx context.Context, n int) (float64, error) {
	dir, err := os.MkdirTemp("", "mailferry-bench-export-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := bus.Open(ctx, bus.Config{DataDir: dir, Name: "bench-export"}, log)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	for i := 0; i < n; i++ {
		mb := fmt.Sprintf("%016x", i%1000)
		ev := progress.MailboxProgress{RunID: "run_bench", ProjectID: "prj_bench", AccountID: "acc_bench", SourceID: "mbx-" + mb,
			SourceAddress: "user" + mb + "@source.example", State: "running", Health: progress.Healthy, Folder: "Inbox",
			Items: i / 1000, Bytes: int64(i/1000) * 75000, TotalItems: 10000, At: time.Now().UnixMilli()}
		if _, err := b.Publish(ctx, progress.Subject("run_bench", mb), ev); err != nil {
			return 0, err
		}
	}
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		return 0, err
	}
	defer kafka.Close()
	s, err := exporter.New(&svc.Deps{Name: "exporter", Bus: b, Log: log}, exporter.Config{Brokers: kafka.ListenAddrs()})
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- s.Run(rctx) }()
	defer func() { cancel(); <-done }()
	name := exporter.ConsumerPrefix + strings.ToLower("PROGRESS")
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if cons, err := b.JetStream().Consumer(ctx, "PROGRESS", name); err == nil {
			// Everything up to the last sequence acknowledged: Kafka took
			// it all.
			if info, err := cons.Info(ctx); err == nil && info.AckFloor.Stream >= uint64(n) {
				return float64(n) / time.Since(start).Seconds(), nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the exporter did not export %d events in time", n)
		}
	}
}

// exportEvents sizes the Kafka export benchmark.
var exportEvents int

func init() {
	flag.IntVar(&exportEvents, "export-events", 50_000, "events for the Kafka export benchmark")
}

// runOnly runs `-only migration` (the full run with the telemetry
// service's memory while its mailboxes run) or `-only export` and writes
// that section to out; handled is false for the other parts.
func runOnly(part, out, binary string, nMailboxes, nItems int) (handled bool, err error) {
	if part != "migration" && part != "export" {
		return false, nil
	}
	ctx := context.Background()
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks (%s only)\n\nWritten by `benchrun -only %s` on %s: %s, %d CPUs, %s.\n\n", part, part,
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	if part == "export" {
		if err := benchExportSection(ctx, &b); err != nil {
			return true, err
		}
	} else {
		fmt.Fprintf(os.Stderr, "bench: full run of %d mailboxes x %d items ...\n", nMailboxes, nItems)
		m, err := benchMigration(ctx, binary, nMailboxes, nItems)
		if err != nil {
			return true, err
		}
		fmt.Fprintf(&b, "## Full run over the memory platform (`mailferry up`, one process)\n\n")
		fmt.Fprintf(&b, "%d mailboxes x %d items (%d items, %.1f MB).\n\n| measure | value |\n|---|---|\n", nMailboxes, nItems, m.items, float64(m.bytes)/1e6)
		fmt.Fprintf(&b, "| full run, request to completed | %s |\n", m.run.Round(time.Millisecond))
		fmt.Fprintf(&b, "| items per second | %.0f |\n", float64(m.items)/m.run.Seconds())
		fmt.Fprintf(&b, "| peak RSS of the platform process | %.0f MB |\n", float64(m.peakRSS)/1e6)
		writeTelemetryMemory(&b, analyticsResult{telemetryPeak: m.telemetryPeak, telemetryFinal: m.telemetryFinal, telemetryMailbx: nMailboxes})
		fmt.Fprintln(&b)
	}
	fmt.Fprint(os.Stderr, b.String())
	return true, os.WriteFile(out, []byte(b.String()), 0o644)
}

// benchExportSection measures the Kafka export and writes its section.
func benchExportSection(ctx context.Context, b *strings.Builder) error {
	fmt.Fprintf(os.Stderr, "bench: export of %d events to Kafka (kfake) ...\n", exportEvents)
	rate, err := benchExport(ctx, exportEvents)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "## Event export to Kafka (franz-go idempotent producer into an in-process kfake broker)\n\n| measure | value |\n|---|---|\n")
	fmt.Fprintf(b, "| %d progress events from JetStream to Kafka, each acknowledged by Kafka before JetStream (batches of 500) | %.0f events/s |\n\n", exportEvents, rate)
	return nil
}
