package transfer

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/progress"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/transfer/internal/engine"
)

var vaultKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// harness is a sandbox source and destination served over HTTP, a real
// nats-server, and a project whose credentials sit in the vault, set up the
// way the project service does it.
type harness struct {
	t         *testing.T
	srv       *server.Server
	pub       *bus.Bus
	src, dst  *memory.Tenant
	sources   []platform.Mailbox
	projectID string
	accountID string
}

func newHarness(t *testing.T, mailboxes, items int) *harness {
	t.Helper()
	h := &harness{t: t, srv: bustest.RunServer(t, ""), projectID: "prj-1", accountID: "acc-1"}
	st := memory.NewStore()
	h.src = st.AddTenant("src", "src.example")
	h.dst = st.AddTenant("dst", "dst.example")
	h.sources = memory.Seed(h.src, memory.SeedSpec{Mailboxes: mailboxes, ItemsPerMailbox: items, Seed: 3})
	h.src.SetPageSize(10)
	hs := httptest.NewServer(memory.NewHandler(st))
	t.Cleanup(hs.Close)

	h.pub = bustest.Open(t, h.srv.ClientURL())
	ctx := context.Background()
	d, err := svc.WithBus(ctx, "project", h.pub, svc.Config{VaultKey: vaultKey}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	subj := project.ProjectSubject(h.projectID)
	h.publish(subj, project.ProjectCreated{ProjectID: h.projectID, AccountID: h.accountID, Name: "p", Source: "memory", Destination: "memory"})
	for side, tn := range map[string]*memory.Tenant{sideSource: h.src, sideDestination: h.dst} {
		ref := "projects/" + h.projectID + "/" + side
		if err := d.Vault.Put(ctx, ref, map[string]string{"token": tn.Token()}); err != nil {
			t.Fatal(err)
		}
		h.publish(subj, project.CredentialsSet{ProjectID: h.projectID, AccountID: h.accountID, Side: side, Platform: "memory",
			VaultRef: ref, Fields: map[string]string{"endpoint": hs.URL, "tenant": tn.Name()}})
	}
	return h
}

func (h *harness) publish(subject string, ev events.Event) {
	h.t.Helper()
	if _, err := h.pub.Publish(context.Background(), subject, ev); err != nil {
		h.t.Fatal(err)
	}
}

// service starts a transfer service on its own bus connection; it stops
// when the test ends. The returned bus is that connection.
func (h *harness) service(cfg Config) (*Service, *bus.Bus) {
	h.t.Helper()
	b := bustest.Open(h.t, h.srv.ClientURL())
	d, err := svc.WithBus(context.Background(), "transfer", b, svc.Config{VaultKey: vaultKey}, bustest.Logger(h.t))
	if err != nil {
		h.t.Fatal(err)
	}
	if cfg.Shards == 0 {
		cfg.Shards = 4
	}
	cfg.Lease, cfg.AckWait, cfg.RetryBackoff = 2*time.Second, 3*time.Second, 10*time.Millisecond
	s, err := New(d, cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			// Show where it hangs, so a rare shutdown hang can be fixed.
			var buf strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
			h.t.Errorf("transfer service did not stop; goroutines:\n%s", buf.String())
		}
	})
	<-b.Running()
	return s, b
}

func (h *harness) pairs(create bool) []events.Pair {
	out := make([]events.Pair, 0, len(h.sources))
	for _, m := range h.sources {
		out = append(out, events.Pair{SourceID: m.ID, SourceAddress: m.PrimaryAddress,
			DestinationAddress: strings.Replace(m.PrimaryAddress, "src.example", "dst.example", 1), Create: create})
	}
	return out
}

func (h *harness) requestRun(runID, mode string, pairs []events.Pair) {
	h.t.Helper()
	subj := project.RunSubject(runID)
	h.publish(subj, project.RunRequested{RunID: runID, ProjectID: h.projectID, AccountID: h.accountID, Mode: mode,
		Mail: true, Calendar: true, Contacts: true, Pairs: pairs})
	h.publish(subj, project.RunApproved{RunID: runID, ProjectID: h.projectID, AccountID: h.accountID, Mode: mode})
}

func (h *harness) runEvents(runID string) []bus.Envelope {
	h.t.Helper()
	envs, _, err := h.pub.Load(context.Background(), "TRANSFER", transfer.RunSubject(runID), 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return envs
}

func ofType[T events.Event](envs []bus.Envelope) []T {
	var out []T
	for _, e := range envs {
		if v, ok := e.Event.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func (h *harness) waitFinished(runID string, timeout time.Duration) transfer.RunFinished {
	h.t.Helper()
	var f []transfer.RunFinished
	bustest.Eventually(h.t, timeout, "run "+runID+" to finish", func() bool {
		f = ofType[transfer.RunFinished](h.runEvents(runID))
		return len(f) > 0
	})
	return f[0]
}

// assertExact checks every item of every source mailbox is at its
// destination mailbox exactly once, with the same content.
func (h *harness) assertExact(sources ...platform.Mailbox) {
	h.t.Helper()
	ctx := context.Background()
	for _, m := range sources {
		dm, ok := h.dst.MailboxByAddress(strings.Replace(m.PrimaryAddress, "src.example", "dst.example", 1))
		if !ok {
			h.t.Fatalf("destination of %s was not created", m.PrimaryAddress)
		}
		folders, _ := h.src.Folders(ctx, m.ID)
		n := 0
		for _, f := range folders {
			tok := ""
			for {
				p, err := h.src.Items(ctx, m.ID, f.ID, tok)
				if err != nil {
					h.t.Fatal(err)
				}
				for _, ref := range p.Items {
					n++
					copies, err := h.dst.FindByMarker(ctx, dm.ID, engine.Marker(m.ID, ref.ID))
					if err != nil || len(copies) != 1 {
						h.t.Fatalf("%s: item %s has %d copies at the destination, want 1 (%v)", m.PrimaryAddress, ref.ID, len(copies), err)
					}
					a, _ := h.src.ReadItem(ctx, m.ID, ref)
					b, _ := h.dst.ReadItem(ctx, dm.ID, platform.ItemRef{ID: copies[0].ID})
					if string(a.Content) != string(b.Content) {
						h.t.Fatalf("%s: item %s differs", m.PrimaryAddress, ref.ID)
					}
				}
				if p.NextToken == "" {
					break
				}
				tok = p.NextToken
			}
		}
		if got := h.dst.Count(dm.ID); got != n {
			h.t.Fatalf("%s: destination holds %d items, source %d", m.PrimaryAddress, got, n)
		}
		for marker, c := range h.dst.WrittenMarkers(dm.ID) {
			if c != 1 {
				h.t.Fatalf("%s: marker %s written %d times", m.PrimaryAddress, marker, c)
			}
		}
	}
}

func (h *harness) shards() ShardsResponse {
	h.t.Helper()
	var r ShardsResponse
	if err := h.pub.Query(context.Background(), "transfer", "shards", struct{}{}, &r); err != nil {
		h.t.Fatal(err)
	}
	return r
}

func TestNewRejectsMissingDeps(t *testing.T) {
	t.Parallel()
	if _, err := New(nil, Config{}); err == nil {
		t.Fatal("nil deps accepted")
	}
	if _, err := New(&svc.Deps{}, Config{}); err == nil {
		t.Fatal("empty deps accepted")
	}
}

func TestFullRunOverTwoWorkers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 6, 40)
	s1, _ := h.service(Config{Worker: "w1", Concurrency: 2})
	bustest.Eventually(t, 15*time.Second, "a lone worker to take every shard", func() bool {
		return len(s1.ownedShards()) == 4
	})
	s2, _ := h.service(Config{Worker: "w2", Concurrency: 2})

	// Shards spread evenly once both workers see each other: the first
	// gives back what is above its fair share.
	bustest.Eventually(t, 15*time.Second, "shards spread over two workers", func() bool {
		return len(s1.ownedShards()) == 2 && len(s2.ownedShards()) == 2
	})
	r := h.shards()
	owners := map[string]int{}
	for _, o := range r.Shards {
		owners[o.Worker]++
	}
	if len(r.Shards) != 4 || owners["w1"] != 2 || owners["w2"] != 2 || len(r.Workers) != 2 {
		t.Fatalf("shards query %+v", r)
	}

	h.requestRun("run-full", events.ModeFull, h.pairs(true))
	f := h.waitFinished("run-full", 60*time.Second)
	if f.State != "completed" || f.Completed != 6 || f.Failed+f.Cancelled != 0 {
		t.Fatalf("run finished %+v", f)
	}
	h.assertExact(h.sources...)

	envs := h.runEvents("run-full")
	if n := len(ofType[transfer.RunFinished](envs)); n != 1 {
		t.Fatalf("RunFinished appended %d times by two coordinators", n)
	}
	if st := ofType[transfer.RunStarted](envs); len(st) != 1 || st[0].Mailboxes != 6 {
		t.Fatalf("run started %+v", st)
	}
	// One start per mailbox: no mailbox ran on two workers.
	starts := map[string]int{}
	for _, st := range ofType[transfer.MailboxStarted](envs) {
		starts[st.SourceID]++
		if st.Resumed || (st.Worker != "w1" && st.Worker != "w2") {
			t.Fatalf("mailbox started %+v", st)
		}
	}
	for _, m := range h.sources {
		if starts[m.ID] != 1 {
			t.Fatalf("mailbox %s started %d times", m.ID, starts[m.ID])
		}
	}
	for _, c := range ofType[transfer.MailboxCompleted](envs) {
		if c.Counts.Copied != 40 || c.Counts.AlreadyPresent != 0 || c.Counts.Folders == 0 {
			t.Fatalf("completed %+v", c)
		}
	}

	// The checkpoint query answers with the finished state.
	var cp engine.Checkpoint
	if err := h.pub.Query(context.Background(), "transfer", "checkpoint", CheckpointRequest{ProjectID: h.projectID, SourceID: h.sources[0].ID}, &cp); err != nil {
		t.Fatal(err)
	}
	if cp.RunID != "run-full" || !cp.Done || cp.Counts.Copied != 40 {
		t.Fatalf("checkpoint %+v", cp)
	}
	err := h.pub.Query(context.Background(), "transfer", "checkpoint", CheckpointRequest{ProjectID: h.projectID, SourceID: "nope"}, &cp)
	if errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("checkpoint of an unknown mailbox: %v", err)
	}

	// Progress ended with a final completed event per mailbox.
	last := lastProgress(t, h.pub, "run-full")
	for _, m := range h.sources {
		p := last[m.ID]
		if p.State != "completed" || p.Health != progress.Completed || p.Items != 40 || p.TotalItems != 40 {
			t.Fatalf("last progress of %s: %+v", m.ID, p)
		}
	}

	// A delta run after new mail copies only the new items.
	inbox, _ := h.src.FolderByRole(h.sources[0].ID, platform.RoleInbox)
	if _, err := h.src.AddItem(context.Background(), h.sources[0].ID, inbox.ID, platform.Item{Content: []byte("Subject: later\r\n\r\nhi\r\n")}); err != nil {
		t.Fatal(err)
	}
	h.requestRun("run-delta", events.ModeDelta, h.pairs(true))
	if f := h.waitFinished("run-delta", 60*time.Second); f.State != "completed" {
		t.Fatalf("delta %+v", f)
	}
	copied := 0
	for _, c := range ofType[transfer.MailboxCompleted](h.runEvents("run-delta")) {
		copied += c.Counts.Copied
		if c.Counts.AlreadyPresent != 0 {
			t.Fatalf("delta looked at old items: %+v", c)
		}
	}
	if copied != 1 {
		t.Fatalf("delta copied %d items, want 1", copied)
	}
	h.assertExact(h.sources...)
}

func lastProgress(t *testing.T, b *bus.Bus, runID string) map[string]progress.MailboxProgress {
	t.Helper()
	ctx := context.Background()
	st, err := b.JetStream().Stream(ctx, "PROGRESS")
	if err != nil {
		t.Fatal(err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"progress.mailbox." + runID + ".>"}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]progress.MailboxProgress{}
	info, _ := st.Info(ctx)
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return out
		}
		ev, err := events.Decode(m.Headers().Get(bus.HeaderType), 1, m.Data())
		if err != nil {
			t.Fatal(err)
		}
		p := ev.(progress.MailboxProgress)
		out[p.SourceID] = p
		if md, _ := m.Metadata(); md != nil && md.Sequence.Stream >= info.State.LastSeq {
			return out
		}
	}
}

func TestRunWithoutPairsFinishesAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0, 0)
	h.service(Config{Worker: "w1"})
	h.requestRun("run-empty", events.ModeFull, nil)
	if f := h.waitFinished("run-empty", 20*time.Second); f.State != "completed" || f.Completed != 0 {
		t.Fatalf("finished %+v", f)
	}
}

func TestMissingDestinationFailsTheMailbox(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 2, 5)
	h.service(Config{Worker: "w1"})
	pairs := h.pairs(false)
	h.dst.AddMailbox(platform.Mailbox{PrimaryAddress: pairs[0].DestinationAddress})
	h.requestRun("run-missing", events.ModeFull, pairs)
	f := h.waitFinished("run-missing", 30*time.Second)
	if f.State != "failed" || f.Completed != 1 || f.Failed != 1 {
		t.Fatalf("finished %+v", f)
	}
	fails := ofType[transfer.MailboxFailed](h.runEvents("run-missing"))
	if len(fails) != 1 || fails[0].SourceID != pairs[1].SourceID || fails[0].Code != string(errs.MailboxMissing) || fails[0].Action == "" || !strings.Contains(fails[0].Cause, pairs[1].DestinationAddress) {
		t.Fatalf("failures %+v", fails)
	}
	h.assertExact(h.sources[0])
}

func TestCancelStopsTheRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 4, 30)
	h.dst.SetFaults(memory.Faults{WriteDelay: 50 * time.Millisecond})
	h.service(Config{Worker: "w1", Shards: 1, Concurrency: 1})
	h.requestRun("run-cancel", events.ModeFull, h.pairs(true))
	bustest.Eventually(t, 20*time.Second, "a mailbox to start", func() bool {
		return len(ofType[transfer.MailboxStarted](h.runEvents("run-cancel"))) > 0
	})
	h.publish(project.RunSubject("run-cancel"), project.RunCancelRequested{RunID: "run-cancel", ProjectID: h.projectID, AccountID: h.accountID})
	f := h.waitFinished("run-cancel", 30*time.Second)
	if f.State != "cancelled" || f.Cancelled < 3 || f.Failed != 0 {
		t.Fatalf("finished %+v", f)
	}
	envs := h.runEvents("run-cancel")
	started := ofType[transfer.MailboxStarted](envs)
	if len(started) != 1 {
		t.Fatalf("%d mailboxes started after the cancel", len(started))
	}
	notStarted := 0
	for _, c := range ofType[transfer.MailboxCancelled](envs) {
		if c.Started != (c.SourceID == started[0].SourceID) {
			t.Fatalf("cancelled %+v, started was %s", c, started[0].SourceID)
		}
		if !c.Started {
			notStarted++
		}
	}
	if notStarted != 3 {
		t.Fatalf("%d queued mailboxes cancelled, want 3", notStarted)
	}
	// The running mailbox stopped before its end.
	for _, m := range h.sources {
		if dm, ok := h.dst.MailboxByAddress(strings.Replace(m.PrimaryAddress, "src.example", "dst.example", 1)); ok && h.dst.Count(dm.ID) >= 30 {
			t.Fatalf("%s was copied completely despite the cancel", m.PrimaryAddress)
		}
	}
}

func TestWorkerDyingMidMailboxIsResumedElsewhere(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1, 60)
	h.dst.SetFaults(memory.Faults{WriteDelay: 30 * time.Millisecond})
	h.service(Config{Worker: "coordinator", NoWorker: true, Shards: 2})
	_, busA := h.service(Config{Worker: "wa", NoCoordinator: true, Shards: 2})
	h.requestRun("run-die", events.ModeFull, h.pairs(true))
	dest := strings.Replace(h.sources[0].PrimaryAddress, "src.example", "dst.example", 1)
	bustest.Eventually(t, 20*time.Second, "worker A to be in the middle of the mailbox", func() bool {
		dm, ok := h.dst.MailboxByAddress(dest)
		return ok && h.dst.Count(dm.ID) >= 15
	})
	busA.Conn().Close()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.service(Config{Worker: "wb", NoCoordinator: true, Shards: 2})
	}()
	wg.Wait()
	f := h.waitFinished("run-die", 60*time.Second)
	if f.State != "completed" || f.Completed != 1 {
		t.Fatalf("finished %+v", f)
	}
	h.assertExact(h.sources...)
	envs := h.runEvents("run-die")
	starts := ofType[transfer.MailboxStarted](envs)
	if len(starts) < 2 || starts[0].Worker != "wa" || starts[0].Resumed {
		t.Fatalf("starts %+v", starts)
	}
	lastStart := starts[len(starts)-1]
	if lastStart.Worker != "wb" || !lastStart.Resumed {
		t.Fatalf("the mailbox was not resumed by worker B: %+v", starts)
	}
	done := ofType[transfer.MailboxCompleted](envs)
	if len(done) != 1 || done[0].Counts.Copied+done[0].Counts.AlreadyPresent != 60 || done[0].Counts.Copied == 60 {
		t.Fatalf("completed %+v (B must have continued, not started over)", done)
	}
}

func TestLockedMailboxWaitsForItsLock(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1, 10)
	h.service(Config{Worker: "w1", Shards: 1})
	ctx := context.Background()
	locks, err := h.pub.KV(ctx, BucketLocks, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	key := checkpointKey(h.projectID, h.sources[0].ID)
	// Another worker holds the mailbox (renewing its lock).
	stop := make(chan struct{})
	var renewer sync.WaitGroup
	renewer.Add(1)
	go func() {
		defer renewer.Done()
		rev, err := locks.Create(ctx, key, []byte("elsewhere"))
		if err != nil {
			t.Error(err)
			return
		}
		for {
			select {
			case <-stop:
				_ = locks.Delete(ctx, key, jetstream.LastRevision(rev))
				return
			case <-time.After(300 * time.Millisecond):
				if rev, err = locks.Update(ctx, key, []byte("elsewhere"), rev); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	h.requestRun("run-locked", events.ModeFull, h.pairs(true))
	js := h.pub.JetStream()
	bustest.Eventually(t, 20*time.Second, "the job to be delivered and put back", func() bool {
		c, err := js.Consumer(ctx, WorkStream, ShardConsumerPrefix+"0")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.Delivered.Consumer >= 2
	})
	if n := len(ofType[transfer.MailboxStarted](h.runEvents("run-locked"))); n != 0 {
		t.Fatalf("the mailbox started %d times while another worker held it", n)
	}
	close(stop)
	renewer.Wait()
	if f := h.waitFinished("run-locked", 30*time.Second); f.State != "completed" {
		t.Fatalf("finished %+v", f)
	}
	h.assertExact(h.sources...)
}
