package svc

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Main runs one service as its own process: it stops on SIGINT or SIGTERM,
// reads the configuration, sets up logs and traces, connects the bus and
// calls run until it returns. It exits non-zero on error.
func Main(name string, run func(ctx context.Context, d *Deps) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := RunProcess(ctx, name, run); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// RunProcess is Main without the signal handling and exit, for tests and
// for `mailferry serve`.
func RunProcess(ctx context.Context, name string, run func(ctx context.Context, d *Deps) error) error {
	cfg, err := LoadConfig()
	if err != nil {
		return err
	}
	log := Logger(os.Stderr, name, cfg.LogLevel)
	stopTracing, err := Tracing(ctx, name)
	if err != nil {
		return err
	}
	defer stopTracing()
	d, err := Open(ctx, name, cfg, log)
	if err != nil {
		return err
	}
	defer d.Bus.Close()
	log.Info("service started", "bus", d.Bus.RedactedURL())
	err = run(ctx, d)
	log.Info("service stopped", "error", err)
	return err
}
