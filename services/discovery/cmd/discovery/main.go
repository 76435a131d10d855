// Command discovery runs the discovery service as its own process.
package main

import (
	"context"
	"fmt"

	"github.com/caarlos0/env/v11"

	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/discovery"
)

func main() {
	svc.Main("discovery", func(ctx context.Context, d *svc.Deps) error {
		var cfg discovery.Config
		if err := env.Parse(&cfg); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		s, err := discovery.New(d, cfg)
		if err != nil {
			return err
		}
		return s.Run(ctx)
	})
}
