// Command transfer runs the transfer service: the run coordinator and
// mailbox workers (scale it out by starting more processes).
package main

import (
	"context"
	"fmt"

	"github.com/caarlos0/env/v11"

	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/transfer"
)

func main() {
	svc.Main("transfer", func(ctx context.Context, d *svc.Deps) error {
		var cfg transfer.Config
		if err := env.Parse(&cfg); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		s, err := transfer.New(d, cfg)
		if err != nil {
			return err
		}
		return s.Run(ctx)
	})
}
