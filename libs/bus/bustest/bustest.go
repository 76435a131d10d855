// Package bustest starts real nats-servers for tests: in-process, random
// port, JetStream in a temp dir, the way nats-server's own tests do.
package bustest

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/libs/bus"
)

// RunServer starts a JetStream nats-server on a random port, stopped when
// the test ends. storeDir "" uses a fresh temp dir.
func RunServer(t testing.TB, storeDir string) *server.Server {
	t.Helper()
	if storeDir == "" {
		storeDir = t.TempDir()
	}
	return RunServerOn(t, storeDir, server.RANDOM_PORT)
}

// RunServerOn starts a server on a given port, so a test can restart "the
// same" server (same port, same store) and prove clients reconnect.
func RunServerOn(t testing.TB, storeDir string, port int) *server.Server {
	t.Helper()
	opts := &server.Options{
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   storeDir,
		MaxPayload: 8 << 20,
		NoSigs:     true,
		NoLog:      true,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// Logger returns a logger that writes to the test log only when -v is set,
// through a text handler on stderr filtered at warn, so failing tests still
// show what went wrong.
func Logger(t testing.TB) *slog.Logger {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("MAILFERRY_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// Open connects a bus to url, closed when the test ends.
func Open(t testing.TB, url string, opts ...func(*bus.Config)) *bus.Bus {
	t.Helper()
	cfg := bus.Config{URL: url, AckWait: 2 * time.Second, Name: t.Name()}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, Logger(t))
	if err != nil {
		t.Fatalf("bus: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Eventually polls cond until it holds or the timeout passes; tests use it
// instead of sleeping.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Dump returns every message of every stream, headers and bodies, as one
// string, for tests that prove something never travelled on the bus.
func Dump(t testing.TB, b *bus.Bus) string {
	t.Helper()
	ctx := context.Background()
	var sb strings.Builder
	for _, s := range events.Streams {
		st, err := b.JetStream().Stream(ctx, s.Name)
		if err != nil {
			t.Fatalf("dump %s: %v", s.Name, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatalf("dump %s: %v", s.Name, err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil {
				continue // deleted (work queue, age limit)
			}
			sb.WriteString(m.Subject + " ")
			for k, v := range m.Header {
				sb.WriteString(k + "=" + strings.Join(v, ",") + " ")
			}
			sb.Write(m.Data)
			sb.WriteString("\n")
		}
	}
	return sb.String()
}
