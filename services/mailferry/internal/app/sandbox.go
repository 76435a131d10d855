package app

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/sandbox/google"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

const sandboxUsage = "usage: mailferry sandbox m365|google|exchange [--addr HOST:PORT] [--seed N] [--users N] [--messages N]"

// sandbox serves a sandbox tenant on its own, for people trying mailferry
// without a tenant and for other tools.
func sandbox(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", sandboxUsage)
	}
	var serve func(ctx context.Context, addr string, seed int64, users, messages int, w io.Writer) error
	switch args[0] {
	case "m365":
		serve = graph.Serve
	case "google":
		serve = google.Serve
	case "exchange":
		serve = ews.Serve
	default:
		return fmt.Errorf("unknown sandbox %q; %s", args[0], sandboxUsage)
	}
	fs := flag.NewFlagSet("sandbox "+args[0], flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	seed := fs.Int64("seed", 1, "seed of the generated tenant")
	users := fs.Int("users", 10, "mailboxes")
	messages := fs.Int("messages", 50, "messages per mailbox")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	return serve(ctx, *addr, *seed, *users, *messages, stdout)
}
