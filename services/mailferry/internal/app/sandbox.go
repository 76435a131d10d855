package app

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

// sandbox serves a sandbox tenant on its own, for people trying mailferry
// without a tenant and for other tools.
func sandbox(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "m365" {
		return fmt.Errorf("usage: mailferry sandbox m365 [--addr HOST:PORT] [--seed N] [--users N] [--messages N] (google and exchange sandboxes come with their connectors)")
	}
	fs := flag.NewFlagSet("sandbox m365", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	seed := fs.Int64("seed", 1, "seed of the generated tenant")
	users := fs.Int("users", 10, "mailboxes")
	messages := fs.Int("messages", 50, "messages per mailbox")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	return graph.Serve(ctx, *addr, *seed, *users, *messages, stdout)
}
