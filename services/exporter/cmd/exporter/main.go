// Command exporter runs the exporter service on its own.
package main

import (
	"context"
	"fmt"

	"github.com/caarlos0/env/v11"

	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/exporter"
)

func main() {
	svc.Main("exporter", func(ctx context.Context, d *svc.Deps) error {
		var cfg exporter.Config
		if err := env.Parse(&cfg); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		s, err := exporter.New(d, cfg)
		if err != nil {
			return err
		}
		return s.Run(ctx)
	})
}
