// Command billing runs the billing service on its own: the credit ledger's
// reactors and the balance, ledger and quote queries.
package main

import (
	"context"
	"fmt"

	"github.com/caarlos0/env/v11"

	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/billing"
)

func main() {
	svc.Main("billing", func(ctx context.Context, d *svc.Deps) error {
		cfg, err := env.ParseAs[billing.Config]()
		if err != nil {
			return fmt.Errorf("billing configuration: %w", err)
		}
		s, err := billing.New(d, cfg)
		if err != nil {
			return err
		}
		return s.Run(ctx)
	})
}
