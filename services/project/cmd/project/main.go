// Command project runs the project service (the HTTP API) on its own.
package main

import (
	"context"

	"github.com/caarlos0/env/v11"

	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/project"
)

func main() {
	svc.Main("project", func(ctx context.Context, d *svc.Deps) error {
		cfg, err := env.ParseAs[project.Config]()
		if err != nil {
			return err
		}
		s, err := project.New(d, cfg)
		if err != nil {
			return err
		}
		return s.Run(ctx)
	})
}
