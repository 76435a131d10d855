package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/errs"
)

// pinged is a test-only event on the PROJECT stream.
type pinged struct {
	N int `json:"n"`
}

func (pinged) EventType() string { return "test.pinged" }

func init() {
	events.Register[pinged](events.Spec{Name: "test.pinged", Version: 1, Subject: "project.test.{id}", Publishers: []string{"test"}, Consumers: []string{"test"}, Doc: "test"})
}

func streamCount(t *testing.T, b *bus.Bus, subject string) uint64 {
	t.Helper()
	st, err := b.JetStream().Stream(context.Background(), "PROJECT")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

func TestRepublishedEventIsDeduplicated(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := b.Publish(ctx, "project.test.dedup", pinged{N: 1}, bus.WithID("same-event")); err != nil {
			t.Fatal(err)
		}
	}
	if n := streamCount(t, b, "project.test.dedup"); n != 1 {
		t.Fatalf("stream holds %d copies of one event, want 1", n)
	}
}

func TestEnvelopeTravelsInHeaders(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	ctx := bus.ContextWithCorrelation(context.Background(), "corr-1")
	if _, err := b.Publish(ctx, "project.test.env", pinged{N: 7}, bus.WithID("ev-1")); err != nil {
		t.Fatal(err)
	}
	envs, last, err := b.Load(ctx, "PROJECT", "project.test.env", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(envs) != 1 || last == 0 {
		t.Fatalf("loaded %d events, last %d", len(envs), last)
	}
	e := envs[0]
	if e.ID != "ev-1" || e.Type != "test.pinged" || e.Version != 1 || e.CorrelationID != "corr-1" || e.Time.IsZero() {
		t.Fatalf("envelope %+v", e)
	}
	if p, ok := e.Event.(pinged); !ok || p.N != 7 {
		t.Fatalf("decoded %#v", e.Event)
	}
}

type counter struct{ n int }

// TestAppendConflictUnderConcurrency has many writers increment one
// aggregate at once: every increment lands exactly once and in order,
// because losers of the expected-sequence race decide again.
func TestAppendConflictUnderConcurrency(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	const writers, each = 8, 10
	var conflicts atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		// Separate connections and repos: separate processes in spirit.
		b := bustest.Open(t, srv.ClientURL())
		repo, err := bus.NewRepo(b, "PROJECT", func() counter { return counter{} }, func(s counter, env bus.Envelope) counter {
			p := env.Event.(pinged)
			if p.N != s.n+1 {
				panic(fmt.Sprintf("out of order: state %d, event %d", s.n, p.N))
			}
			return counter{n: p.N}
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := repo.Update(context.Background(), "project.test.counter", func(s counter) (bus.Decision, error) {
					return bus.Decision{pinged{N: s.n + 1}}, nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b := bustest.Open(t, srv.ClientURL())
	if n := streamCount(t, b, "project.test.counter"); n != writers*each {
		t.Fatalf("aggregate has %d events, want %d", n, writers*each)
	}
	// A stale expected sequence is refused with the typed error.
	_, err := b.Publish(context.Background(), "project.test.counter", pinged{N: 1}, bus.ExpectLastSeq(1))
	if !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("stale append: %v, want ErrConflict", err)
	}
	_ = conflicts.Load()
}

// TestCrashedHandlerIsRedelivered: a consumer process takes an event and
// dies without acknowledging it; another process with the same durable
// consumer receives it after the ack wait.
func TestCrashedHandlerIsRedelivered(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cons := bus.Consumer{Name: "redeliver", Stream: "PROJECT", Subject: []string{"project.test.crash"}}

	first := bustest.Open(t, srv.ClientURL(), func(c *bus.Config) { c.AckWait = time.Second })
	took := make(chan struct{})
	var once sync.Once
	if err := first.Handle(cons, func(ctx context.Context, env bus.Envelope) error {
		once.Do(func() { close(took) })
		<-ctx.Done() // hangs like a process that froze and then died
		return ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = first.Run(ctx) }()
	<-first.Running()
	pub := bustest.Open(t, srv.ClientURL())
	if _, err := pub.Publish(ctx, "project.test.crash", pinged{N: 42}, bus.WithID("crash-1")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-took:
	case <-time.After(10 * time.Second):
		t.Fatal("first consumer never got the event")
	}
	// The crash: the connection goes away without an ack.
	first.Conn().Close()

	second := bustest.Open(t, srv.ClientURL(), func(c *bus.Config) { c.AckWait = time.Second })
	got := make(chan bus.Envelope, 1)
	if err := second.Handle(cons, func(ctx context.Context, env bus.Envelope) error {
		got <- env
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = second.Run(ctx) }()
	select {
	case env := <-got:
		if env.ID != "crash-1" || env.Delivered < 2 {
			t.Fatalf("redelivered %s (delivery %d), want crash-1 delivered at least twice", env.ID, env.Delivered)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("event was not redelivered after the handler crashed")
	}
}

// TestPoisonQueue: an event its handler always fails on is retried, then
// parked on the poison subject with the reason, and the consumer moves on.
func TestPoisonQueue(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var attempts atomic.Int64
	handled := make(chan int, 10)
	err := b.Handle(bus.Consumer{Name: "poisoned", Stream: "PROJECT", Subject: []string{"project.test.poison"}, Retries: 2, Deliveries: 1},
		func(ctx context.Context, env bus.Envelope) error {
			p := env.Event.(pinged)
			if p.N == 13 {
				attempts.Add(1)
				return errors.New("cannot handle 13")
			}
			handled <- p.N
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Run(ctx) }()
	<-b.Running()
	for _, n := range []int{13, 14} {
		if _, err := b.Publish(ctx, "project.test.poison", pinged{N: n}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case n := <-handled:
		if n != 14 {
			t.Fatalf("handled %d", n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("consumer stuck behind the poisoned event")
	}
	if a := attempts.Load(); a != 3 {
		t.Fatalf("poisoned event tried %d times, want 1 + 2 retries", a)
	}
	st, err := b.JetStream().Stream(ctx, "POISON")
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, bus.PoisonSubject("poisoned"))
	if err != nil {
		t.Fatalf("nothing on the poison queue: %v", err)
	}
	if reason := m.Header.Get("reason_poisoned"); reason == "" {
		t.Fatalf("poisoned message has no reason header: %v", m.Header)
	}
}

// TestHandledEventIsSkippedWhenRedelivered: idempotency by event id across
// consumers' restarts, independent of the server's dedup window.
func TestHandledEventIsSkippedWhenRedelivered(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int64
	if err := b.Handle(bus.Consumer{Name: "idem", Stream: "PROJECT", Subject: []string{"project.test.idem.>"}}, func(ctx context.Context, env bus.Envelope) error {
		calls.Add(1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Run(ctx) }()
	<-b.Running()
	// Same event id on two subjects: the server cannot dedup it (different
	// messages), the consumer must.
	for _, s := range []string{"project.test.idem.a", "project.test.idem.b"} {
		if _, err := b.Publish(ctx, s, pinged{N: 1}, bus.WithID("twin")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Publish(ctx, "project.test.idem.c", pinged{N: 2}); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, 10*time.Second, "two distinct events handled", func() bool { return calls.Load() >= 2 })
	time.Sleep(200 * time.Millisecond) // let a wrong third call show up
	if c := calls.Load(); c != 2 {
		t.Fatalf("handler called %d times, want 2", c)
	}
}

// TestTransientFailureIsRedeliveredNotPoisoned: a handler that fails for a
// while (a dependency restarting) gets the event again after its in-process
// retries, instead of losing it to the poison queue.
func TestTransientFailureIsRedeliveredNotPoisoned(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var attempts atomic.Int64
	done := make(chan bus.Envelope, 1)
	err := b.Handle(bus.Consumer{Name: "transient", Stream: "PROJECT", Subject: []string{"project.test.transient"}, Retries: 1},
		func(ctx context.Context, env bus.Envelope) error {
			if attempts.Add(1) <= 4 { // two whole deliveries fail
				return errors.New("billing is restarting")
			}
			done <- env
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Run(ctx) }()
	<-b.Running()
	if _, err := b.Publish(ctx, "project.test.transient", pinged{N: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case env := <-done:
		if env.Delivered != 3 {
			t.Fatalf("handled on delivery %d, want 3", env.Delivered)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("event never handled (%d attempts)", attempts.Load())
	}
	st, _ := b.JetStream().Stream(ctx, "POISON")
	if _, err := st.GetLastMsgForSubject(ctx, bus.PoisonSubject("transient")); err == nil {
		t.Fatal("a transient failure was sent to the poison queue")
	}
}

// TestFollowAfterEverythingAgedOut: a stream whose messages have all expired
// (or been purged) still has a last sequence; following it must not wait
// for a message that will never come.
func TestFollowAfterEverythingAgedOut(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		if _, err := b.Publish(ctx, "progress.mailbox.r.k", pinged{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := b.JetStream().Stream(ctx, "PROGRESS")
	if err := st.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	var seen atomic.Int64
	if _, err := b.Follow(ctx, []string{"PROGRESS"}, func(bus.Envelope) { seen.Add(1) }); err != nil {
		t.Fatalf("follow: %v", err)
	}
	if _, err := b.Publish(ctx, "progress.mailbox.r.k", pinged{N: 9}); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, 10*time.Second, "the new event followed", func() bool { return seen.Load() == 1 })
}

// TestParallelConsumer: with Parallel > 1 a long handler does not hold up
// the next event (one tenant's big discovery must not block another's).
func TestParallelConsumer(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var inFlight, peak atomic.Int64
	release := make(chan struct{})
	var handled atomic.Int64
	err := b.Handle(bus.Consumer{Name: "parallel", Stream: "PROJECT", Subject: []string{"project.test.parallel"}, Parallel: 3},
		func(ctx context.Context, env bus.Envelope) error {
			n := inFlight.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-release
			inFlight.Add(-1)
			handled.Add(1)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Run(ctx) }()
	<-b.Running()
	for i := 0; i < 3; i++ {
		if _, err := b.Publish(ctx, "project.test.parallel", pinged{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	bustest.Eventually(t, 20*time.Second, "three events in flight at once", func() bool { return peak.Load() == 3 })
	close(release)
	bustest.Eventually(t, 20*time.Second, "all handled", func() bool { return handled.Load() == 3 })
}

// TestQueryWaitsForAStartingService: a query sent while its service is
// still starting is answered once it is up, instead of failing at once.
func TestQueryWaitsForAStartingService(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	client := bustest.Open(t, srv.ClientURL())
	server := bustest.Open(t, srv.ClientURL())
	go func() {
		time.Sleep(300 * time.Millisecond) // the service comes up late
		_ = server.Serve("late", "1.0.0", map[string]bus.QueryFunc{"ping": func(context.Context, json.RawMessage) (any, error) {
			return map[string]string{"pong": "yes"}, nil
		}})
	}()
	var out map[string]string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Query(ctx, "late", "ping", map[string]string{}, &out); err != nil || out["pong"] != "yes" {
		t.Fatalf("query to a starting service: %v %v", out, err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if err := client.Query(short, "absent", "ping", map[string]string{}, nil); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("query to a service that never comes: %v, want unavailable", err)
	}
}

// TestDriftedStreamIsRestored: processes starting against existing streams
// skip the update when nothing changed, but a stream whose settings drifted
// is still brought back, in place, to what mailferry needs.
func TestDriftedStreamIsRestored(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	ctx := context.Background()
	st, err := b.JetStream().Stream(ctx, "PROGRESS")
	if err != nil {
		t.Fatal(err)
	}
	created := st.CachedInfo().Created
	bustest.Open(t, srv.ClientURL()) // another process starting
	js := b.JetStream()
	cfg := st.CachedInfo().Config
	cfg.MaxAge = time.Hour
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	bustest.Open(t, srv.ClientURL())
	st, err = js.Stream(ctx, "PROGRESS")
	if err != nil {
		t.Fatal(err)
	}
	if st.CachedInfo().Config.MaxAge != 14*24*time.Hour || !st.CachedInfo().Created.Equal(created) {
		t.Fatalf("drifted stream not restored in place: max age %s", st.CachedInfo().Config.MaxAge)
	}
}
