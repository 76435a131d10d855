package bus_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/bus/bustest"
)

// TestBusRestart: the nats-server goes away and comes back on the same port
// with the same store; publishers and handlers carry on, and nothing
// published before the restart is lost or handled twice.
func TestBusRestart(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	srv := bustest.RunServer(t, store)
	url := srv.ClientURL()
	b := bustest.Open(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var handled atomic.Int64
	seen := map[int]bool{}
	dup := make(chan int, 100)
	got := make(chan int, 100)
	if err := b.Handle(bus.Consumer{Name: "restart", Stream: "PROJECT", Subject: []string{"project.test.restart"}}, func(ctx context.Context, env bus.Envelope) error {
		handled.Add(1)
		got <- env.Event.(pinged).N
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Run(ctx) }()
	<-b.Running()
	for i := 1; i <= 5; i++ {
		if _, err := b.Publish(ctx, "project.test.restart", pinged{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	collect := func(until int) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for len(seen) < until {
			select {
			case n := <-got:
				if seen[n] {
					dup <- n
				}
				seen[n] = true
			case <-deadline:
				t.Fatalf("handled %d of %d events", len(seen), until)
			}
		}
	}
	collect(5)

	tcpPort := srv.Addr().(*net.TCPAddr).Port
	srv.Shutdown()
	srv.WaitForShutdown()
	bustest.RunServerOn(t, store, tcpPort)

	// Publishing works again once the client has reconnected.
	bustest.Eventually(t, 30*time.Second, "publish after restart", func() bool {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		_, err := b.Publish(pctx, "project.test.restart", pinged{N: 6}, bus.WithID("after-restart-6"))
		return err == nil
	})
	if _, err := b.Publish(ctx, "project.test.restart", pinged{N: 7}); err != nil {
		t.Fatal(err)
	}
	collect(7)
	select {
	case n := <-dup:
		t.Fatalf("event %d handled twice", n)
	default:
	}
	if handled.Load() != 7 {
		t.Fatalf("handled %d times, want 7", handled.Load())
	}
}
