package bus

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// maxPayload is raised from NATS' 1 MB default because a run request for
// thousands of mailboxes carries every pair. External servers need the same
// max_payload (see the README).
const maxPayload = 8 << 20

// startEmbedded starts a nats-server with JetStream in dataDir, listening on
// listen (host:port, port 0 or -1 for a random one).
func startEmbedded(dataDir, listen string) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("bus: MAILFERRY_NATS_LISTEN %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("bus: MAILFERRY_NATS_LISTEN port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "mailferry-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "jetstream"),
		MaxPayload: maxPayload,
		NoSigs:     true,
		NoLog:      true,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded nats-server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("bus: embedded nats-server did not become ready")
	}
	return ns, nil
}
