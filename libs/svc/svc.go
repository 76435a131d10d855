// Package svc is the process scaffolding every service shares: configuration
// from MAILFERRY_* variables, the JSON logger, tracing, the bus connection
// and the vault. A service's main stays a few lines long.
package svc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/connect"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/obs"
	"github.com/mailferry/mailferry/libs/vault"
)

// Config is what every service reads from the environment.
type Config struct {
	Bus      bus.Config
	LogLevel string `env:"MAILFERRY_LOG_LEVEL" envDefault:"info"`
	VaultKey string `env:"MAILFERRY_VAULT_KEY"`
}

// LoadConfig reads Config from the environment.
func LoadConfig() (Config, error) {
	var c Config
	if err := env.Parse(&c); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// Deps are a service's connections.
type Deps struct {
	Name   string
	Bus    *bus.Bus
	Log    *slog.Logger
	Vault  *vault.Vault
	Opener *connect.Opener
}

// Open connects a service named name. The returned close function closes
// the bus (and with it an embedded server).
func Open(ctx context.Context, name string, cfg Config, log *slog.Logger) (*Deps, error) {
	if log == nil {
		return nil, errors.New("svc: nil logger")
	}
	cfg.Bus.Name = name
	b, err := bus.Open(ctx, cfg.Bus, log)
	if err != nil {
		return nil, err
	}
	d, err := WithBus(ctx, name, b, cfg, log)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return d, nil
}

// WithBus builds Deps around an already open bus.
func WithBus(ctx context.Context, name string, b *bus.Bus, cfg Config, log *slog.Logger) (*Deps, error) {
	if cfg.Bus.URL != "" && cfg.VaultKey == "" {
		// A key file of its own would make this process unable to read
		// what the others sealed, and the failure would only show in a run.
		return nil, errs.New(errs.Invalid, "MAILFERRY_VAULT_KEY is required when MAILFERRY_NATS_URL is set",
			"give every service process the same MAILFERRY_VAULT_KEY (head -c 32 /dev/urandom | base64)")
	}
	key, err := vault.LoadKey(cfg.VaultKey, cfg.Bus.DataDir)
	if err != nil {
		return nil, err
	}
	kv, err := b.KV(ctx, vault.Bucket, 0)
	if err != nil {
		return nil, err
	}
	v, err := vault.New(key, kv)
	if err != nil {
		return nil, err
	}
	op, err := connect.NewOpener(v, nil, connect.WithAgents(b))
	if err != nil {
		return nil, err
	}
	return &Deps{Name: name, Bus: b, Log: log, Vault: v, Opener: op}, nil
}

// Logger returns the standard JSON logger of a service, writing to w.
func Logger(w io.Writer, service, level string) *slog.Logger {
	return obs.NewLogger(w, level, service, bus.CorrelationFrom)
}

// Tracing sets up OpenTelemetry for a service; call the returned function
// on shutdown.
func Tracing(ctx context.Context, service string) (func(), error) {
	shutdown, err := obs.SetupTracing(ctx, service)
	if err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdown(ctx)
	}, nil
}
