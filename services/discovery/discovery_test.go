package discovery

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/discovery"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/svc"
)

// harness is one nats-server, one sandbox served over HTTP, the discovery
// service on its own bus connection and a second connection playing the
// project service and the API.
type harness struct {
	t     *testing.T
	url   string
	key   string
	store *memory.Store
	srv   *httptest.Server
	api   *bus.Bus
	deps  *svc.Deps
}

func newBareHarness(t *testing.T) *harness {
	t.Helper()
	ns := bustest.RunServer(t, "")
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	store := memory.NewStore()
	srv := httptest.NewServer(memory.NewHandler(store))
	t.Cleanup(srv.Close)
	h := &harness{t: t, url: ns.ClientURL(), key: base64.StdEncoding.EncodeToString(k[:]), store: store, srv: srv}
	h.api = bustest.Open(t, h.url)
	return h
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := newBareHarness(t)
	h.deps = h.startService(Config{})
	return h
}

// startService starts a discovery service on a fresh bus connection and
// returns its deps; cancelling ctx and closing the bus is a crash.
func (h *harness) startService(cfg Config) *svc.Deps {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(cancel)
	return h.startServiceCtx(ctx, cfg)
}

func (h *harness) startServiceCtx(ctx context.Context, cfg Config) *svc.Deps {
	h.t.Helper()
	b := bustest.Open(h.t, h.url)
	d, err := svc.WithBus(ctx, "discovery", b, svc.Config{VaultKey: h.key}, bustest.Logger(h.t))
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := New(d, cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		h.t.Fatal(err)
	}
	go func() { _ = b.Run(ctx) }()
	<-b.Running()
	return d
}

func (h *harness) publish(subject string, ev events.Event, id string) {
	h.t.Helper()
	if _, err := h.api.Publish(context.Background(), subject, ev, bus.WithID(id)); err != nil {
		h.t.Fatal(err)
	}
}

type side struct {
	tenant *memory.Tenant
	token  string // overrides the tenant's token when set
}

// project sets a project up the way the project service does: the
// secret goes to the vault, the events carry the fields and the reference.
func (h *harness) project(pid string, src, dst *side) {
	h.t.Helper()
	ctx := context.Background()
	h.publish(project.ProjectSubject(pid), project.ProjectCreated{ProjectID: pid, AccountID: "acc", Name: pid, Source: "memory", Destination: "memory"}, "created-"+pid)
	for name, sd := range map[string]*side{SideSource: src, SideDestination: dst} {
		if sd == nil {
			continue
		}
		token := sd.tenant.Token()
		if sd.token != "" {
			token = sd.token
		}
		ref := "projects/" + pid + "/" + name
		if err := h.deps.Vault.Put(ctx, ref, map[string]string{"token": token}); err != nil {
			h.t.Fatal(err)
		}
		h.publish(project.ProjectSubject(pid), project.CredentialsSet{ProjectID: pid, AccountID: "acc", Side: name, Platform: "memory",
			VaultRef: ref, Fields: map[string]string{"endpoint": h.srv.URL, "tenant": sd.tenant.Name()}}, "creds-"+pid+"-"+name)
	}
}

func (h *harness) approve(pid, runID string) {
	h.t.Helper()
	h.publish(project.RunSubject(runID), project.RunRequested{RunID: runID, ProjectID: pid, AccountID: "acc", Mode: events.ModeDiscovery}, "requested-"+runID)
	h.publish(project.RunSubject(runID), project.RunApproved{RunID: runID, ProjectID: pid, AccountID: "acc", Mode: events.ModeDiscovery}, "approved-"+runID)
}

func (h *harness) results(req ResultsRequest) (ResultsResponse, error) {
	var resp ResultsResponse
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := h.api.Query(ctx, "discovery", "results", req, &resp)
	return resp, err
}

// wait waits until the run has ended and returns its results with every
// mailbox of the side on one page.
func (h *harness) wait(pid, runID, side string) ResultsResponse {
	h.t.Helper()
	var resp ResultsResponse
	bustest.Eventually(h.t, 60*time.Second, "discovery run "+runID+" to end", func() bool {
		var err error
		resp, err = h.results(ResultsRequest{ProjectID: pid, RunID: runID, Side: side, Limit: 1000})
		return err == nil && resp.State != StateRunning
	})
	return resp
}

// runEvents returns the messages on the run's subject.
func (h *harness) runEvents(runID string) []jetstream.RawStreamMsg {
	h.t.Helper()
	envs, _, err := h.api.Load(context.Background(), "DISCOVERY", discovery.RunSubject(runID), 0)
	if err != nil {
		h.t.Fatal(err)
	}
	out := make([]jetstream.RawStreamMsg, 0, len(envs))
	st, err := h.api.JetStream().Stream(context.Background(), "DISCOVERY")
	if err != nil {
		h.t.Fatal(err)
	}
	for _, e := range envs {
		m, err := st.GetMsg(context.Background(), e.Seq)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, *m)
	}
	return out
}

// expected computes one mailbox's counts straight from the tenant, in
// process, before any faults are injected.
type folderCount struct {
	items int
	bytes int64
}

func expected(t *testing.T, tn *memory.Tenant, mailboxID string) (platform.Stats, map[string]folderCount) {
	t.Helper()
	ctx := context.Background()
	st, err := tn.Stats(ctx, mailboxID)
	if err != nil {
		t.Fatal(err)
	}
	folders, err := tn.Folders(ctx, mailboxID)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]platform.Folder{}
	for _, f := range folders {
		names[f.ID] = f
	}
	out := map[string]folderCount{}
	for _, f := range folders {
		path := f.Name
		for p := f; p.ParentID != ""; {
			p = names[p.ParentID]
			path = p.Name + "/" + path
		}
		var fc folderCount
		for token := ""; ; {
			page, err := tn.Items(ctx, mailboxID, f.ID, token)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				fc.items++
				fc.bytes += it.Size
			}
			if page.NextToken == "" {
				break
			}
			token = page.NextToken
		}
		out[path] = fc
	}
	return st, out
}

func byAddress(r ResultsResponse) map[string]MailboxResult {
	out := map[string]MailboxResult{}
	for _, m := range r.Mailboxes {
		out[m.Mailbox.PrimaryAddress] = m
	}
	return out
}

func checkMailbox(t *testing.T, got MailboxResult, st platform.Stats, folders map[string]folderCount) {
	t.Helper()
	if got.Stats != st {
		t.Errorf("%s: stats %+v, want %+v", got.Mailbox.PrimaryAddress, got.Stats, st)
	}
	if len(got.Folders) != len(folders) {
		t.Errorf("%s: %d folders, want %d", got.Mailbox.PrimaryAddress, len(got.Folders), len(folders))
	}
	var items int
	var size int64
	for _, f := range got.Folders {
		want, ok := folders[f.Path]
		if !ok {
			t.Errorf("%s: unexpected folder %q", got.Mailbox.PrimaryAddress, f.Path)
			continue
		}
		if f.Items != want.items || f.Bytes != want.bytes {
			t.Errorf("%s/%s: %d items %d bytes, want %d items %d bytes", got.Mailbox.PrimaryAddress, f.Path, f.Items, f.Bytes, want.items, want.bytes)
		}
		items += f.Items
		size += f.Bytes
	}
	if items != st.Mail+st.Events+st.Contacts || size != st.SizeBytes {
		t.Errorf("%s: folders add up to %d items %d bytes, stats say %d items %d bytes", got.Mailbox.PrimaryAddress, items, size, st.Mail+st.Events+st.Contacts, st.SizeBytes)
	}
}

func TestDiscoveryCountsEveryMailboxAndFolderAndWritesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	src := h.store.AddTenant("src", "source.test")
	src.SetPageSize(7) // several pages per folder
	seeded := memory.Seed(src, memory.SeedSpec{Mailboxes: 4, ItemsPerMailbox: 60, Seed: 7})
	// A hand-built mailbox with numbers known without asking the tenant.
	hand := src.AddMailbox(platform.Mailbox{PrimaryAddress: "hand@source.test", DisplayName: "Hand Made"})
	inbox, _ := src.FolderByRole(hand.ID, platform.RoleInbox)
	projects, err := src.EnsureFolder(ctx, hand.ID, platform.Folder{ParentID: inbox.ID, Name: "Projects", Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	y2026, err := src.EnsureFolder(ctx, hand.ID, platform.Folder{ParentID: projects.ID, Name: "2026", Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{100, 200, 300} {
		if _, err := src.AddItem(ctx, hand.ID, y2026.ID, platform.Item{Ref: platform.ItemRef{Kind: platform.Mail}, Content: bytes.Repeat([]byte{'a' + byte(i)}, n)}); err != nil {
			t.Fatal(err)
		}
	}
	dst := h.store.AddTenant("dst", "destination.test")
	dstBoxes := memory.Seed(dst, memory.SeedSpec{Mailboxes: 3, ItemsPerMailbox: 10, Seed: 8})
	before := map[string]int{}
	for _, m := range dstBoxes {
		before[m.ID] = dst.Count(m.ID)
	}

	want := map[string]platform.Stats{}
	wantFolders := map[string]map[string]folderCount{}
	for _, m := range append(seeded, hand) {
		want[m.PrimaryAddress], wantFolders[m.PrimaryAddress] = expected(t, src, m.ID)
	}

	h.project("p1", &side{tenant: src}, &side{tenant: dst})
	h.approve("p1", "run1")
	res := h.wait("p1", "run1", SideSource)

	if res.State != StateCompleted || res.Failure != nil {
		t.Fatalf("state %s, failure %+v", res.State, res.Failure)
	}
	if res.SourceMailboxes != 5 || res.DestinationMailboxes != 3 || res.Total != 5 || len(res.Mailboxes) != 5 {
		t.Fatalf("source %d destination %d total %d page %d", res.SourceMailboxes, res.DestinationMailboxes, res.Total, len(res.Mailboxes))
	}
	if len(res.Blockers) != 0 {
		t.Fatalf("unexpected blockers %+v", res.Blockers)
	}
	got := byAddress(res)
	var totals Totals
	for addr, st := range want {
		checkMailbox(t, got[addr], st, wantFolders[addr])
		totals.Mail += st.Mail
		totals.Events += st.Events
		totals.Contacts += st.Contacts
		totals.SizeBytes += st.SizeBytes
		totals.Folders += st.Folders
	}
	if res.Totals != totals {
		t.Errorf("totals %+v, want %+v", res.Totals, totals)
	}
	// The hand-built mailbox, against numbers that do not come from the tenant.
	hm := got["hand@source.test"]
	if hm.Stats.Mail != 3 || hm.Stats.SizeBytes != 600 || hm.Stats.LargestItem != 300 || hm.Stats.Folders != 10 {
		t.Errorf("hand-made stats %+v", hm.Stats)
	}
	found := false
	for _, f := range hm.Folders {
		if f.Path == "Inbox/Projects/2026" {
			found = f.Items == 3 && f.Bytes == 600 && f.Kind == "mail"
		}
	}
	if !found {
		t.Errorf("folder Inbox/Projects/2026 with 3 items of 600 bytes missing: %+v", hm.Folders)
	}
	if _, ok := wantFolders[seeded[0].PrimaryAddress]["Projects/2026/Q1 Planung"]; !ok {
		t.Errorf("seeded folder tree not nested: %v", wantFolders[seeded[0].PrimaryAddress])
	}

	dres := h.wait("p1", "run1", SideDestination)
	if dres.Total != 3 {
		t.Fatalf("destination mailboxes %d, want 3", dres.Total)
	}
	for _, m := range dres.Mailboxes {
		st, _ := expected(t, dst, m.Mailbox.ID)
		if m.Side != SideDestination || m.Stats != st {
			t.Errorf("destination %s: %+v, want %+v", m.Mailbox.PrimaryAddress, m.Stats, st)
		}
	}
	// Discovery never writes to the destination.
	for _, m := range dstBoxes {
		if n := dst.Count(m.ID); n != before[m.ID] {
			t.Errorf("destination %s holds %d items, had %d", m.PrimaryAddress, n, before[m.ID])
		}
		if w := dst.WrittenMarkers(m.ID); len(w) != 0 {
			t.Errorf("destination %s was written to: %v", m.PrimaryAddress, w)
		}
	}
	// One event per mailbox and side, then completed, last.
	msgs := h.runEvents("run1")
	if len(msgs) != 5+3+1 {
		t.Fatalf("%d events on the run subject, want 9", len(msgs))
	}
	if typ := msgs[len(msgs)-1].Header.Get(bus.HeaderType); typ != "discovery.completed" {
		t.Fatalf("last event is %s", typ)
	}
}

func TestBlockers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	src := h.store.AddTenant("src", "source.test")
	memory.Seed(src, memory.SeedSpec{Mailboxes: 3, ItemsPerMailbox: 20, Seed: 3})
	big := src.AddMailbox(platform.Mailbox{PrimaryAddress: "big@source.test"})
	inbox, _ := src.FolderByRole(big.ID, platform.RoleInbox)
	if _, err := src.AddItem(ctx, big.ID, inbox.ID, platform.Item{Content: bytes.Repeat([]byte("x"), 3<<20)}); err != nil {
		t.Fatal(err)
	}
	dst := h.store.AddTenant("dst", "destination.test")
	memory.Seed(dst, memory.SeedSpec{Mailboxes: 1, ItemsPerMailbox: 1, Seed: 4})
	dst.SetLimits(platform.Limits{MaxItemBytes: 2 << 20})

	t.Run("destination credentials missing", func(t *testing.T) {
		h.project("nodst", &side{tenant: src}, nil)
		h.approve("nodst", "run-nodst")
		res := h.wait("nodst", "run-nodst", SideSource)
		if res.State != StateCompleted || res.SourceMailboxes != 4 || res.DestinationMailboxes != 0 {
			t.Fatalf("%+v", res)
		}
		if len(res.Blockers) != 1 || res.Blockers[0].Code != "destination_credentials_missing" || res.Blockers[0].Action == "" {
			t.Fatalf("blockers %+v", res.Blockers)
		}
	})
	t.Run("item over the destination limit", func(t *testing.T) {
		h.project("limit", &side{tenant: src}, &side{tenant: dst})
		h.approve("limit", "run-limit")
		res := h.wait("limit", "run-limit", SideSource)
		var over []string
		for _, m := range res.Mailboxes {
			if m.Stats.LargestItem > 2<<20 {
				over = append(over, m.Mailbox.PrimaryAddress)
			}
		}
		if len(over) != 1 || over[0] != "big@source.test" {
			t.Fatalf("mailboxes over the limit: %v", over)
		}
		if len(res.Blockers) != 1 {
			t.Fatalf("blockers %+v", res.Blockers)
		}
		b := res.Blockers[0]
		if b.Code != "item_too_large" || b.Mailbox != "big@source.test" ||
			!strings.Contains(b.Detail, "3.0 MB") || !strings.Contains(b.Detail, "2.0 MB") || !strings.Contains(b.Detail, "big@source.test") {
			t.Fatalf("blocker %+v", b)
		}
	})
	t.Run("destination unreachable", func(t *testing.T) {
		h.project("baddst", &side{tenant: src}, &side{tenant: dst, token: "not-the-token"})
		h.approve("baddst", "run-baddst")
		res := h.wait("baddst", "run-baddst", SideSource)
		if res.State != StateCompleted || res.SourceMailboxes != 4 {
			t.Fatalf("%+v", res)
		}
		if len(res.Blockers) != 1 || res.Blockers[0].Code != "destination_unreachable" ||
			!strings.Contains(res.Blockers[0].Detail, "platform_auth_failed") {
			t.Fatalf("blockers %+v", res.Blockers)
		}
	})
}

func TestWrongSourceTokenFailsWithoutLeakingIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	src := h.store.AddTenant("src", "source.test")
	memory.Seed(src, memory.SeedSpec{Mailboxes: 2, ItemsPerMailbox: 5, Seed: 1})
	const wrong = "wrong-token-0123456789abcdef"
	h.project("p", &side{tenant: src, token: wrong}, nil)
	h.approve("p", "run-bad")
	res := h.wait("p", "run-bad", SideSource)
	if res.State != StateFailed || res.Failure == nil || res.Failure.Code != "platform_auth_failed" ||
		res.Failure.Cause == "" || res.Failure.Action == "" {
		t.Fatalf("state %s failure %+v", res.State, res.Failure)
	}
	msgs := h.runEvents("run-bad")
	if len(msgs) != 1 || msgs[0].Header.Get(bus.HeaderType) != "discovery.failed" {
		t.Fatalf("%d events, first %v", len(msgs), msgs)
	}
	for _, secret := range []string{wrong, src.Token()} {
		if bytes.Contains(msgs[0].Data, []byte(secret)) || strings.Contains(fmt.Sprint(msgs[0].Header), secret) {
			t.Fatalf("the failure event carries a secret: %s", msgs[0].Data)
		}
	}
}

func TestNoSourceCredentials(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.project("p", nil, nil)
	h.approve("p", "run-nocreds")
	res := h.wait("p", "run-nocreds", SideSource)
	if res.State != StateFailed || res.Failure == nil || res.Failure.Code != "credentials_missing" || res.Failure.Action == "" {
		t.Fatalf("state %s failure %+v", res.State, res.Failure)
	}
}

func TestThrottledDiscoveryStillCountsExactly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	src := h.store.AddTenant("src", "source.test")
	seeded := memory.Seed(src, memory.SeedSpec{Mailboxes: 3, ItemsPerMailbox: 30, Seed: 11})
	src.SetPageSize(10)
	want := map[string]platform.Stats{}
	wantFolders := map[string]map[string]folderCount{}
	for _, m := range seeded {
		want[m.PrimaryAddress], wantFolders[m.PrimaryAddress] = expected(t, src, m.ID)
	}
	src.SetFaults(memory.Faults{ThrottleEvery: 6, RetryAfter: time.Millisecond})
	h.project("p", &side{tenant: src}, nil)
	h.approve("p", "run-throttled")
	res := h.wait("p", "run-throttled", SideSource)
	if res.State != StateCompleted || res.Total != 3 {
		t.Fatalf("state %s failure %+v total %d", res.State, res.Failure, res.Total)
	}
	got := byAddress(res)
	for addr, st := range want {
		checkMailbox(t, got[addr], st, wantFolders[addr])
	}
}

func TestRedeliveredRunPublishesNoDuplicates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	src := h.store.AddTenant("src", "source.test")
	memory.Seed(src, memory.SeedSpec{Mailboxes: 3, ItemsPerMailbox: 10, Seed: 5})
	dst := h.store.AddTenant("dst", "destination.test")
	memory.Seed(dst, memory.SeedSpec{Mailboxes: 2, ItemsPerMailbox: 5, Seed: 6})
	h.project("p", &side{tenant: src}, &side{tenant: dst})
	h.approve("p", "run-a")
	h.wait("p", "run-a", SideSource)
	n := len(h.runEvents("run-a"))
	if n != 3+2+1 {
		t.Fatalf("%d events, want 6", n)
	}
	// The same approval again: once with its own id (the stream drops
	// it), once as a new event (the reactor handles it again).
	ev := project.RunApproved{RunID: "run-a", ProjectID: "p", AccountID: "acc", Mode: events.ModeDiscovery}
	h.publish(project.RunSubject("run-a"), ev, "approved-run-a")
	h.publish(project.RunSubject("run-a"), ev, "approved-run-a-again")
	// The reactor handles events in order, so once a later run has ended
	// the repeated approval has been handled.
	h.approve("p", "run-b")
	h.wait("p", "run-b", SideSource)
	if got := len(h.runEvents("run-a")); got != n {
		t.Fatalf("run-a has %d events after the repeat, had %d", got, n)
	}
	// The latest run is the default.
	res, err := h.results(ResultsRequest{ProjectID: "p"})
	if err != nil || res.RunID != "run-b" {
		t.Fatalf("latest run %q, %v", res.RunID, err)
	}
}

func TestResumedRunKeepsWhatWasPublished(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	src := h.store.AddTenant("src", "source.test")
	boxes := memory.Seed(src, memory.SeedSpec{Mailboxes: 3, ItemsPerMailbox: 10, Seed: 5})
	h.project("p", &side{tenant: src}, nil)
	// A worker crashed after publishing the first mailbox; a marker count
	// shows whether the resumed run read it again.
	first := discovery.MailboxDiscovered{RunID: "run-r", ProjectID: "p", Side: SideSource, Mailbox: boxes[0], Stats: platform.Stats{Mail: 12345}}
	h.publish(discovery.RunSubject("run-r"), first, discoveredID("run-r", SideSource, boxes[0].ID))
	h.approve("p", "run-r")
	res := h.wait("p", "run-r", SideSource)
	if res.State != StateCompleted || res.Total != 3 {
		t.Fatalf("%+v", res)
	}
	if got := byAddress(res)[boxes[0].PrimaryAddress].Stats.Mail; got != 12345 {
		t.Fatalf("the mailbox published before the crash was read again (mail %d)", got)
	}
	msgs := h.runEvents("run-r")
	seen := map[string]bool{}
	for _, m := range msgs {
		id := m.Header.Get("Nats-Msg-Id")
		if seen[id] {
			t.Fatalf("event %s published twice", id)
		}
		seen[id] = true
	}
	if len(msgs) != 3+1 {
		t.Fatalf("%d events, want 4", len(msgs))
	}
}

func TestWorkerCrashMidDiscoveryIsResumedByAnother(t *testing.T) {
	t.Parallel()
	h := newBareHarness(t)
	src := h.store.AddTenant("src", "source.test")
	seeded := memory.Seed(src, memory.SeedSpec{Mailboxes: 4, ItemsPerMailbox: 20, Seed: 9})
	want := map[string]platform.Stats{}
	wantFolders := map[string]map[string]folderCount{}
	for _, m := range seeded {
		want[m.PrimaryAddress], wantFolders[m.PrimaryAddress] = expected(t, src, m.ID)
	}
	cfg := Config{Parallelism: 1, AckWait: 3 * time.Second}
	// Worker A reads slowly (throttled) and dies after its first mailbox.
	src.SetFaults(memory.Faults{ThrottleEvery: 8})
	ctxA, crashA := context.WithCancel(context.Background())
	a := h.startServiceCtx(ctxA, cfg)
	h.deps = a
	h.project("p", &side{tenant: src}, nil)
	h.approve("p", "run-crash")
	bustest.Eventually(t, 30*time.Second, "worker A to publish a mailbox", func() bool {
		return len(h.runEvents("run-crash")) > 0
	})
	crashA()
	_ = a.Bus.Close()
	src.SetFaults(memory.Faults{})
	// Worker B gets the approval again once A's ack wait has passed.
	h.deps = h.startService(cfg)
	res := h.wait("p", "run-crash", SideSource)
	if res.State != StateCompleted || res.Total != 4 {
		t.Fatalf("state %s failure %+v total %d", res.State, res.Failure, res.Total)
	}
	got := byAddress(res)
	for addr, st := range want {
		checkMailbox(t, got[addr], st, wantFolders[addr])
	}
	msgs := h.runEvents("run-crash")
	seen := map[string]bool{}
	for _, m := range msgs {
		id := m.Header.Get("Nats-Msg-Id")
		if seen[id] {
			t.Fatalf("event %s published twice", id)
		}
		seen[id] = true
	}
	if len(msgs) != 4+1 {
		t.Fatalf("%d events on the run subject, want 5", len(msgs))
	}
}

func TestResultsPagingSortingFiltering(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	src := h.store.AddTenant("src", "source.test")
	seeded := memory.Seed(src, memory.SeedSpec{Mailboxes: 12, ItemsPerMailbox: 8, Seed: 2})
	h.project("p", &side{tenant: src}, nil)

	if _, err := h.results(ResultsRequest{ProjectID: "p"}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("before any discovery: %v", err)
	} else if e, _ := errs.As(err); e.Cause != "no discovery has run for this project yet" || e.Action != "start a discovery run" {
		t.Fatalf("not found error %+v", e)
	}
	if _, err := h.results(ResultsRequest{ProjectID: "nope"}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown project: %v", err)
	}

	h.approve("p", "run-q")
	h.wait("p", "run-q", SideSource)

	page, err := h.results(ResultsRequest{ProjectID: "p", Offset: 5, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 12 || len(page.Mailboxes) != 5 || page.Mailboxes[0].Mailbox.PrimaryAddress != seeded[5].PrimaryAddress ||
		page.Mailboxes[4].Mailbox.PrimaryAddress != seeded[9].PrimaryAddress {
		t.Fatalf("page 2: total %d, %v", page.Total, page.Mailboxes)
	}
	bySize, err := h.results(ResultsRequest{ProjectID: "p", Sort: "size", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(bySize.Mailboxes); i++ {
		if bySize.Mailboxes[i-1].Stats.SizeBytes < bySize.Mailboxes[i].Stats.SizeBytes {
			t.Fatalf("size order broken at %d", i)
		}
	}
	byItems, err := h.results(ResultsRequest{ProjectID: "p", Sort: "items", Order: "asc"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(byItems.Mailboxes); i++ {
		a, b := byItems.Mailboxes[i-1].Stats, byItems.Mailboxes[i].Stats
		if a.Mail+a.Events+a.Contacts > b.Mail+b.Events+b.Contacts {
			t.Fatalf("items order broken at %d", i)
		}
	}
	filtered, err := h.results(ResultsRequest{ProjectID: "p", Filter: "USER001"})
	if err != nil {
		t.Fatal(err)
	}
	if filtered.Total != 3 || filtered.Totals.Folders == 0 {
		t.Fatalf("filter user001: total %d (%v)", filtered.Total, filtered.Mailboxes)
	}
	byName, err := h.results(ResultsRequest{ProjectID: "p", Filter: seeded[3].DisplayName})
	if err != nil || byName.Total < 1 || byAddress(byName)[seeded[3].PrimaryAddress].Mailbox.ID == "" {
		t.Fatalf("filter by display name: %+v, %v", byName, err)
	}
	if _, err := h.results(ResultsRequest{ProjectID: "p", Sort: "name"}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("bad sort: %v", err)
	}
	if _, err := h.results(ResultsRequest{ProjectID: "p", RunID: "other"}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown run: %v", err)
	}
	if _, err := h.results(ResultsRequest{}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("no project: %v", err)
	}
}

func TestNewRejectsMissingDeps(t *testing.T) {
	t.Parallel()
	if _, err := New(nil, Config{}); err == nil {
		t.Fatal("New(nil) succeeded")
	}
	if _, err := New(&svc.Deps{}, Config{}); err == nil {
		t.Fatal("New with empty deps succeeded")
	}
}
