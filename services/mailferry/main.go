// Command mailferry is the mailferry platform in one binary: the CLI over
// the API, `mailferry serve <service>` for one service per process, and
// `mailferry up`, every service in one process.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mailferry/mailferry/services/mailferry/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mailferry:", err)
		stop()
		os.Exit(1)
	}
}
