package app

import (
	"context"
	"fmt"

	"github.com/caarlos0/env/v11"

	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/billing"
	"github.com/mailferry/mailferry/services/discovery"
	"github.com/mailferry/mailferry/services/exporter"
	"github.com/mailferry/mailferry/services/mapping"
	"github.com/mailferry/mailferry/services/project"
	"github.com/mailferry/mailferry/services/telemetry"
	"github.com/mailferry/mailferry/services/transfer"
)

// runner runs one service on its dependencies until ctx ends.
type runner func(ctx context.Context, d *svc.Deps) error

// runnerFor returns the runner of a service, each reading its own
// configuration from the environment.
func runnerFor(name string) (runner, error) {
	switch name {
	case "project":
		return func(ctx context.Context, d *svc.Deps) error {
			s, err := newProject(d)
			if err != nil {
				return err
			}
			return s.Run(ctx)
		}, nil
	case "billing":
		return build(billing.New), nil
	case "discovery":
		return build(discovery.New), nil
	case "mapping":
		return build(mapping.New), nil
	case "telemetry":
		return build(telemetry.New), nil
	case "transfer":
		return build(transfer.New), nil
	case "exporter":
		return build(exporter.New), nil
	}
	return nil, fmt.Errorf("no service called %q; services are %v", name, ServiceNames())
}

func newProject(d *svc.Deps) (*project.Service, error) {
	cfg, err := env.ParseAs[project.Config]()
	if err != nil {
		return nil, fmt.Errorf("project configuration: %w", err)
	}
	return project.New(d, cfg)
}

// build adapts a service constructor with an env-parsed Config.
func build[C any, S interface{ Run(context.Context) error }](newFn func(*svc.Deps, C) (S, error)) runner {
	return func(ctx context.Context, d *svc.Deps) error {
		cfg, err := env.ParseAs[C]()
		if err != nil {
			return fmt.Errorf("%s configuration: %w", d.Name, err)
		}
		s, err := newFn(d, cfg)
		if err != nil {
			return err
		}
		return s.Run(ctx)
	}
}
