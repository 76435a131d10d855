// Command mapping runs the mapping service as its own process.
package main

import (
	"context"
	"fmt"

	"github.com/caarlos0/env/v11"

	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/mapping"
)

func main() {
	svc.Main("mapping", func(ctx context.Context, d *svc.Deps) error {
		var cfg mapping.Config
		if err := env.Parse(&cfg); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		s, err := mapping.New(d, cfg)
		if err != nil {
			return err
		}
		return s.Run(ctx)
	})
}
