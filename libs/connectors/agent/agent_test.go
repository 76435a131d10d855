package agent_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/connectors/agent"
	"github.com/mailferry/mailferry/libs/connectors/agent/wire"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
)

var agentSeq atomic.Int64

func newAgentID() string { return fmt.Sprintf("agt_test%08d", agentSeq.Add(1)) }

// loop is what the agent program and the project's HTTP handlers do
// together, without HTTP: poll a relay, run each call on the local
// connector, deliver the result through a relay (possibly another
// instance's).
type loop struct {
	id      string
	local   platform.Connector
	poll    *agent.Relay
	deliver *agent.Relay
	// drop, when it returns true for a call, loses the call as a poll
	// answer lost on the way to the agent would.
	drop func(wire.Call) bool
	// calls counts the calls executed.
	calls atomic.Int64
}

func (l *loop) run(ctx context.Context, t *testing.T) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		calls, err := l.poll.Poll(pctx, l.id, 8, nil)
		cancel()
		if err != nil {
			if ctx.Err() == nil && !errs.Is(err, agent.CodeRevoked) && !errs.Is(err, errs.Unavailable) {
				t.Errorf("poll: %v", err)
			}
			return
		}
		for _, c := range calls {
			if l.drop != nil && l.drop(c) {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.calls.Add(1)
				content := c.Content
				if c.NeedsFetch() {
					var buf bytes.Buffer
					if _, err := l.deliver.Content(ctx, l.id, c.ID, &buf); err != nil {
						t.Errorf("fetch content of %s: %v", c.Op, err)
						return
					}
					content = buf.Bytes()
				}
				res, out := wire.Answer(ctx, l.local, c, content, nil)
				meta, _ := json.Marshal(res)
				if err := l.deliver.Deliver(ctx, l.id, c.ID, meta, res.ContentSize, bytes.NewReader(out)); err != nil && ctx.Err() == nil && err != agent.ErrGone {
					t.Errorf("deliver %s: %v", c.Op, err)
				}
			}()
		}
	}
}

type env struct {
	b      *bus.Bus
	relays []*agent.Relay
}

// newEnv starts a nats-server and n relays, each on its own connection
// as separate project instances would be.
func newEnv(t *testing.T, n int, ro agent.RelayOptions) *env {
	t.Helper()
	srv := bustest.RunServer(t, "")
	e := &env{b: bustest.Open(t, srv.ClientURL())}
	for i := 0; i < n; i++ {
		rb := bustest.Open(t, srv.ClientURL())
		r, err := agent.NewRelay(rb.Conn(), ro)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		e.relays = append(e.relays, r)
	}
	return e
}

func (e *env) serve(t *testing.T, l *loop) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.run(ctx, t) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (e *env) connector(t *testing.T, id string, o agent.Options) *agent.Connector {
	t.Helper()
	if o.Info == nil {
		o.Info = func(context.Context, string) (agent.Info, error) {
			return agent.Info{AgentID: id, Name: "test agent", Connected: true, LastContact: time.Now()}, nil
		}
	}
	c, err := agent.New(e.b, id, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestContractThroughAgent runs the connector contract suite against the
// proxy: every call crosses NATS and a relay to a memory tenant, the
// oversized write through the streamed content download.
func TestContractThroughAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1, agent.RelayOptions{})
	store := memory.NewStore()
	var n atomic.Int64
	platformtest.Run(t, func(t *testing.T) platformtest.Fixture {
		tn := store.AddTenant(fmt.Sprintf("t%d", n.Add(1)), "contoso.test")
		tn.SetPageSize(7)
		tn.SetLimits(platform.Limits{MaxItemBytes: 512 << 10})
		seeded := memory.Seed(tn, memory.SeedSpec{Mailboxes: 1, ItemsPerMailbox: 40, Seed: 3})[0]
		empty := tn.AddMailbox(platform.Mailbox{PrimaryAddress: "empty@contoso.test"})
		id := newAgentID()
		e.serve(t, &loop{id: id, local: tn, poll: e.relays[0], deliver: e.relays[0]})
		return platformtest.Fixture{
			Connector: e.connector(t, id, agent.Options{}),
			Seeded:    seeded.ID, Empty: empty.ID,
			AddItem: tn.AddItem,
			ChangeItem: func(ctx context.Context, mb string, ref platform.ItemRef) error {
				it, err := tn.ReadItem(ctx, mb, ref)
				if err != nil {
					return err
				}
				it.Read, it.Flagged = true, !it.Flagged
				_, err = tn.ChangeItem(ctx, mb, ref.ID, it)
				return err
			},
			RemoveItem: func(ctx context.Context, mb string, ref platform.ItemRef) error {
				return tn.RemoveItem(ctx, mb, ref.ID)
			},
			WantPaging: true, ExactSizes: true,
		}
	})
}

// TestLargeItemsStream moves a 40 MB message both ways: its content
// crosses in chunks, never as one NATS message, and arrives intact.
func TestLargeItemsStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1, agent.RelayOptions{})
	store := memory.NewStore()
	tn := store.AddTenant("big", "big.test")
	mb := tn.AddMailbox(platform.Mailbox{PrimaryAddress: "big@big.test"})
	id := newAgentID()
	e.serve(t, &loop{id: id, local: tn, poll: e.relays[0], deliver: e.relays[0]})
	c := e.connector(t, id, agent.Options{})
	ctx := context.Background()
	inbox, _ := tn.FolderByRole(mb.ID, platform.RoleInbox)
	big := platformtest.Message("a large attachment", 40<<20)
	wantSum := sha256.Sum256(big.Content)

	wid, err := c.WriteItem(ctx, mb.ID, inbox.ID, big, "marker-big")
	if err != nil {
		t.Fatalf("write 40 MB through the agent: %v", err)
	}
	got, err := tn.ReadItem(ctx, mb.ID, platform.ItemRef{ID: wid, FolderID: inbox.ID, Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got.Content) != wantSum {
		t.Fatalf("written content differs: %d bytes arrived of %d", len(got.Content), len(big.Content))
	}
	back, err := c.ReadItem(ctx, mb.ID, got.Ref)
	if err != nil {
		t.Fatalf("read 40 MB through the agent: %v", err)
	}
	if sha256.Sum256(back.Content) != wantSum {
		t.Fatalf("read content differs: %d bytes arrived of %d", len(back.Content), len(big.Content))
	}
	// Over the hop's limit nothing is sent at all.
	huge := platform.Item{Ref: platform.ItemRef{Kind: platform.Mail}, ContentType: platform.ContentMIME, Content: make([]byte, wire.MaxContent+1)}
	if _, err := c.WriteItem(ctx, mb.ID, inbox.ID, huge, "marker-huge"); !errs.Is(err, errs.ItemTooLarge) {
		t.Fatalf("an item over %d bytes: err = %v, want %s", wire.MaxContent, err, errs.ItemTooLarge)
	}
}

// TestErrorsKeepTheirCodes: a coded error of the local platform arrives
// with its code, cause and Retry-After.
func TestErrorsKeepTheirCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1, agent.RelayOptions{})
	store := memory.NewStore()
	tn := store.AddTenant("codes", "codes.test")
	mb := tn.AddMailbox(platform.Mailbox{PrimaryAddress: "a@codes.test"})
	id := newAgentID()
	e.serve(t, &loop{id: id, local: tn, poll: e.relays[0], deliver: e.relays[0]})
	c := e.connector(t, id, agent.Options{})
	ctx := context.Background()
	tests := []struct {
		name   string
		faults memory.Faults
		call   func() error
		code   errs.Code
		after  time.Duration
	}{
		{"not found", memory.Faults{}, func() error { _, err := c.Folders(ctx, "no-such-mailbox"); return err }, errs.NotFound, 0},
		{"throttled", memory.Faults{ThrottleEvery: 1, RetryAfter: 7 * time.Second}, func() error { _, err := c.Stats(ctx, mb.ID); return err }, errs.Throttled, 7 * time.Second},
		{"auth", memory.Faults{FailAuth: true}, func() error { _, err := c.ListMailboxes(ctx); return err }, errs.AuthFailed, 0},
	}
	for _, tc := range tests {
		tn.SetFaults(tc.faults)
		err := tc.call()
		e, ok := errs.As(err)
		if !ok || e.Code != tc.code || e.RetryAfter != tc.after || e.Cause == "" {
			t.Errorf("%s: err = %#v, want code %s, Retry-After %s and a cause", tc.name, err, tc.code, tc.after)
		}
	}
	tn.SetFaults(memory.Faults{})
	if v, err := c.Verify(ctx); err != nil || len(v.Missing) != 0 {
		t.Fatalf("verify through the agent: %+v %v", v, err)
	}
	created, err := c.CreateMailbox(ctx, platform.Mailbox{PrimaryAddress: "new@codes.test", DisplayName: "New"})
	if got, ok := tn.MailboxByAddress("new@codes.test"); err != nil || !ok || got.ID != created.ID {
		t.Fatalf("create a mailbox through the agent: %+v %v", created, err)
	}
}

// TestOfflineNamesTheAgent: with nobody holding the agent, a call fails
// with agent_offline naming the agent and its last contact, after
// OfflineWait.
func TestOfflineNamesTheAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, agent.RelayOptions{})
	last := time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		info agent.Info
		code errs.Code
		want []string
	}{
		{"connected a moment ago", agent.Info{Name: "vienna-dc1", Connected: true, LastContact: time.Now()}, agent.CodeOffline, []string{"vienna-dc1", "last contact"}},
		{"gone for long", agent.Info{Name: "vienna-dc1", LastContact: last}, agent.CodeOffline, []string{"vienna-dc1", "2026-03-01T08:30:00Z"}},
		{"never connected", agent.Info{Name: "fresh"}, agent.CodeOffline, []string{"fresh", "never been in contact"}},
		{"revoked", agent.Info{Name: "old", Revoked: true}, agent.CodeRevoked, []string{"old", "revoked"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := newAgentID()
			c := e.connector(t, id, agent.Options{OfflineWait: 300 * time.Millisecond, Info: func(context.Context, string) (agent.Info, error) { return tc.info, nil }})
			_, err := c.ListMailboxes(context.Background())
			ce, ok := errs.As(err)
			if !ok || ce.Code != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			for _, w := range append(tc.want, id) {
				if !strings.Contains(ce.Cause, w) {
					t.Errorf("cause %q does not mention %q", ce.Cause, w)
				}
			}
			if ce.Action == "" {
				t.Error("no action")
			}
		})
	}
}

// TestResultsThroughAnotherInstance: the agent polls one project instance
// and posts results to another, as a load balancer may send them.
func TestResultsThroughAnotherInstance(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2, agent.RelayOptions{})
	store := memory.NewStore()
	tn := store.AddTenant("two", "two.test")
	memory.Seed(tn, memory.SeedSpec{Mailboxes: 3, ItemsPerMailbox: 5, Seed: 1})
	id := newAgentID()
	e.serve(t, &loop{id: id, local: tn, poll: e.relays[0], deliver: e.relays[1]})
	c := e.connector(t, id, agent.Options{})
	mbs, err := c.ListMailboxes(context.Background())
	if err != nil || len(mbs) != 3 {
		t.Fatalf("list through two instances: %d mailboxes, %v", len(mbs), err)
	}
}

// TestAgentMovesToAnotherInstance: a call queued at the instance the
// agent left goes back to its caller when that instance's linger ends and
// reaches the agent at its new instance.
func TestAgentMovesToAnotherInstance(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2, agent.RelayOptions{Linger: 200 * time.Millisecond})
	store := memory.NewStore()
	tn := store.AddTenant("move", "move.test")
	memory.Seed(tn, memory.SeedSpec{Mailboxes: 2, ItemsPerMailbox: 3, Seed: 1})
	id := newAgentID()
	// The agent holds a poll at instance 0 with no room for work, so a
	// call can only queue there.
	pctx, leave := context.WithCancel(context.Background())
	defer leave()
	polled := make(chan error, 1)
	go func() { _, err := e.relays[0].Poll(pctx, id, 0, nil); polled <- err }()
	bustest.Eventually(t, 5*time.Second, "the heartbeat poll at instance 0", func() bool { return e.relays[0].Pending(id) == 0 && pollHeld(e.relays[0], id) })
	c := e.connector(t, id, agent.Options{Liveness: 5 * time.Second})
	done := make(chan error, 1)
	var mbs []platform.Mailbox
	go func() { var err error; mbs, err = c.ListMailboxes(context.Background()); done <- err }()
	bustest.Eventually(t, 5*time.Second, "the call queued at instance 0", func() bool { return e.relays[0].Pending(id) == 1 })
	// The agent moves to instance 1.
	leave()
	if err := <-polled; err != nil {
		t.Fatal(err)
	}
	e.serve(t, &loop{id: id, local: tn, poll: e.relays[1], deliver: e.relays[1]})
	if err := <-done; err != nil || len(mbs) != 2 {
		t.Fatalf("the call queued at the instance the agent left: %d mailboxes, %v", len(mbs), err)
	}
}

// pollHeld reports whether r has a session for id (a poll or its linger).
func pollHeld(r *agent.Relay, id string) bool { return r.Holds(id) }

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestLostCallIsSentAgain: a call lost on the way to the agent is sent
// again after the liveness interval, and the idempotent write stores the
// item once.
func TestLostCallIsSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1, agent.RelayOptions{})
	store := memory.NewStore()
	tn := store.AddTenant("lost", "lost.test")
	mb := tn.AddMailbox(platform.Mailbox{PrimaryAddress: "a@lost.test"})
	inbox, _ := tn.FolderByRole(mb.ID, platform.RoleInbox)
	id := newAgentID()
	var dropped atomic.Int64
	l := &loop{id: id, local: tn, poll: e.relays[0], deliver: e.relays[0], drop: func(c wire.Call) bool {
		return c.Op == wire.OpWriteItem && dropped.Add(1) == 1
	}}
	e.serve(t, l)
	c := e.connector(t, id, agent.Options{Liveness: 300 * time.Millisecond})
	if _, err := c.WriteItem(context.Background(), mb.ID, inbox.ID, platformtest.Message("once", 1000), "m-once"); err != nil {
		t.Fatal(err)
	}
	if dropped.Load() < 2 {
		t.Fatalf("the write was sent %d times; the lost first attempt was not sent again", dropped.Load())
	}
	for marker, n := range tn.WrittenMarkers(mb.ID) {
		if n != 1 {
			t.Errorf("marker %s written %d times", marker, n)
		}
	}
}

// TestRevokeFailsQueuedCalls: a call waiting for a busy agent fails with
// agent_revoked the moment the agent is revoked.
func TestRevokeFailsQueuedCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1, agent.RelayOptions{})
	id := newAgentID()
	// A heartbeat poll: the agent is there but has no room for work.
	pollDone := make(chan error, 1)
	go func() {
		_, err := e.relays[0].Poll(ctxTimeout(t, 20*time.Second), id, 0, nil)
		pollDone <- err
	}()
	c := e.connector(t, id, agent.Options{})
	callDone := make(chan error, 1)
	go func() { _, err := c.ListMailboxes(context.Background()); callDone <- err }()
	bustest.Eventually(t, 5*time.Second, "the call queued", func() bool { return e.relays[0].Pending(id) == 1 })
	e.relays[0].Revoke(id)
	if err := <-callDone; !errs.Is(err, agent.CodeRevoked) {
		t.Fatalf("queued call: err = %v, want %s", err, agent.CodeRevoked)
	}
	if err := <-pollDone; !errs.Is(err, agent.CodeRevoked) {
		t.Fatalf("open poll: err = %v, want %s", err, agent.CodeRevoked)
	}
}
