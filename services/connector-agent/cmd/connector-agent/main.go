// Command connector-agent is mailferry's outbound-only connector for
// Exchange on-premises, built for Windows (a service) and Linux.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	connectoragent "github.com/mailferry/mailferry/services/connector-agent"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "connector-agent:", err)
		stop()
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	return connectoragent.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}
