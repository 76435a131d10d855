package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
)

type fixture struct {
	src, dst     *memory.Tenant
	srcID, dstID string
}

func newFixture(t *testing.T, items int) fixture {
	t.Helper()
	st := memory.NewStore()
	src := st.AddTenant("src", "src.example")
	dst := st.AddTenant("dst", "dst.example")
	mbs := memory.Seed(src, memory.SeedSpec{Mailboxes: 1, ItemsPerMailbox: items, Seed: 7})
	d := dst.AddMailbox(platform.Mailbox{PrimaryAddress: "user0001@dst.example"})
	src.SetPageSize(7)
	return fixture{src: src, dst: dst, srcID: mbs[0].ID, dstID: d.ID}
}

func (f fixture) opts(runID, mode string) Options {
	return Options{RunID: runID, Mode: mode, Calendar: true, Contacts: true,
		SourceMailbox: f.srcID, DestinationMailbox: f.dstID, Backoff: time.Millisecond}
}

// sourceItems lists every item of the source mailbox by kind.
func (f fixture) sourceItems(t *testing.T) []platform.ItemRef {
	t.Helper()
	ctx := context.Background()
	folders, err := f.src.Folders(ctx, f.srcID)
	if err != nil {
		t.Fatal(err)
	}
	var out []platform.ItemRef
	for _, fo := range folders {
		tok := ""
		for {
			p, err := f.src.Items(ctx, f.srcID, fo.ID, tok)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p.Items...)
			if p.NextToken == "" {
				break
			}
			tok = p.NextToken
		}
	}
	return out
}

// assertExact checks that exactly the wanted source items are at the
// destination, each written once, with identical content.
func (f fixture) assertExact(t *testing.T, want func(platform.ItemRef) bool) {
	t.Helper()
	ctx := context.Background()
	n := 0
	for _, ref := range f.sourceItems(t) {
		id, found, err := f.dst.FindByMarker(ctx, f.dstID, Marker(f.srcID, ref.ID))
		if err != nil {
			t.Fatal(err)
		}
		if !want(ref) {
			if found {
				t.Fatalf("item %s (%s) should not have moved", ref.ID, ref.Kind)
			}
			continue
		}
		n++
		if !found {
			t.Fatalf("item %s (%s) is missing at the destination", ref.ID, ref.Kind)
		}
		a, err := f.src.ReadItem(ctx, f.srcID, ref)
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.dst.ReadItem(ctx, f.dstID, platform.ItemRef{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Content, b.Content) || b.Ref.Kind != ref.Kind {
			t.Fatalf("item %s differs at the destination", ref.ID)
		}
	}
	if got := f.dst.Count(f.dstID); got != n {
		t.Fatalf("destination holds %d items, want %d", got, n)
	}
	written := f.dst.WrittenMarkers(f.dstID)
	if len(written) != n {
		t.Fatalf("%d markers written, want %d", len(written), n)
	}
	for m, c := range written {
		if c != 1 {
			t.Fatalf("marker %s written %d times", m, c)
		}
	}
}

func all(platform.ItemRef) bool { return true }

func TestMarkerIsStable(t *testing.T) {
	t.Parallel()
	m := Marker("mbx", "itm")
	if !strings.HasPrefix(m, "mf1-") || len(m) != 36 || m != Marker("mbx", "itm") || m == Marker("mbx", "itm2") || Marker("a", "bc") == Marker("ab", "c") {
		t.Fatalf("marker %q", m)
	}
}

func TestFullCopyIsExact(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 120)
	cp, err := Run(context.Background(), f.src, f.dst, &MemStore{}, f.opts("r1", events.ModeFull), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.assertExact(t, all)
	if cp.Counts.Copied != 120 || cp.Counts.AlreadyPresent != 0 || cp.Counts.Bytes == 0 || !cp.Done {
		t.Fatalf("counts %+v", cp.Counts)
	}
	// The user folder tree keeps its shape under the mapped parents.
	ctx := context.Background()
	dfs, _ := f.dst.Folders(ctx, f.dstID)
	byID := map[string]platform.Folder{}
	for _, d := range dfs {
		byID[d.ID] = d
	}
	path := func(d platform.Folder) string {
		p := d.Name
		for d.ParentID != "" {
			d = byID[d.ParentID]
			p = d.Name + "/" + p
		}
		return p
	}
	paths := map[string]bool{}
	for _, d := range dfs {
		paths[path(d)] = true
	}
	for _, want := range []string{"Projects/2026/Q1 Planung", "Inbox/Newsletters", "Customers", "Calendar", "Contacts"} {
		if !paths[want] {
			t.Fatalf("destination folders %v lack %s", paths, want)
		}
	}
	if len(dfs) != cp.Counts.Folders {
		t.Fatalf("%d destination folders, %d mapped", len(dfs), cp.Counts.Folders)
	}
	for _, fs := range cp.Folders {
		if fs.DeltaToken == "" || fs.PageToken != "" || fs.Done {
			t.Fatalf("folder state after a full run %+v", fs)
		}
	}
}

func TestRerunAddsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 60)
	store := &MemStore{}
	if _, err := Run(context.Background(), f.src, f.dst, store, f.opts("r1", events.ModeFull), nil); err != nil {
		t.Fatal(err)
	}
	cp, err := Run(context.Background(), f.src, f.dst, store, f.opts("r2", events.ModeFull), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Counts.Copied != 0 || cp.Counts.AlreadyPresent != 60 {
		t.Fatalf("second run counts %+v", cp.Counts)
	}
	f.assertExact(t, all)
}

func TestDeltaCopiesOnlyNewItems(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 50)
	store := &MemStore{}
	ctx := context.Background()
	if _, err := Run(ctx, f.src, f.dst, store, f.opts("r1", events.ModeFull), nil); err != nil {
		t.Fatal(err)
	}
	inbox, _ := f.src.FolderByRole(f.srcID, platform.RoleInbox)
	for i := 0; i < 3; i++ {
		msg := fmt.Sprintf("Message-ID: <new%d@src.example>\r\nSubject: new %d\r\n\r\nbody\r\n", i, i)
		if _, err := f.src.AddItem(ctx, f.srcID, inbox.ID, platform.Item{Ref: platform.ItemRef{Kind: platform.Mail}, Content: []byte(msg)}); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := Run(ctx, f.src, f.dst, store, f.opts("r2", events.ModeDelta), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Counts.Copied != 3 || cp.Counts.AlreadyPresent != 0 {
		t.Fatalf("delta counts %+v, want only the 3 new items", cp.Counts)
	}
	f.assertExact(t, all)
	// A delta with nothing new moves nothing and looks at nothing.
	cp, err = Run(ctx, f.src, f.dst, store, f.opts("r3", events.ModeDelta), nil)
	if err != nil || cp.Counts.Copied+cp.Counts.AlreadyPresent != 0 {
		t.Fatalf("empty delta %+v %v", cp.Counts, err)
	}
}

func TestDeltaWithoutTokensEnumeratesFully(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 30)
	cp, err := Run(context.Background(), f.src, f.dst, &MemStore{}, f.opts("r1", events.ModeDelta), nil)
	if err != nil || cp.Counts.Copied != 30 {
		t.Fatalf("delta without a prior full run: %+v %v", cp.Counts, err)
	}
	f.assertExact(t, all)
}

func TestPrestageCreatesFoldersOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 40)
	store := &MemStore{}
	cp, err := Run(context.Background(), f.src, f.dst, store, f.opts("r1", events.ModePrestage), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.dst.Count(f.dstID) != 0 || cp.Counts.Copied != 0 {
		t.Fatalf("prestage moved items: %d", f.dst.Count(f.dstID))
	}
	dfs, _ := f.dst.Folders(context.Background(), f.dstID)
	sfs, _ := f.src.Folders(context.Background(), f.srcID)
	if len(dfs) != len(sfs) || cp.Counts.Folders != len(sfs) {
		t.Fatalf("destination has %d folders, source %d", len(dfs), len(sfs))
	}
	for _, fs := range cp.Folders {
		if fs.DeltaToken != "" || fs.DestinationID == "" {
			t.Fatalf("prestage folder state %+v", fs)
		}
	}
	// A full run afterwards fills the same folders.
	if _, err := Run(context.Background(), f.src, f.dst, store, f.opts("r2", events.ModeFull), nil); err != nil {
		t.Fatal(err)
	}
	dfs2, _ := f.dst.Folders(context.Background(), f.dstID)
	if len(dfs2) != len(dfs) {
		t.Fatalf("full run after prestage made %d folders, had %d", len(dfs2), len(dfs))
	}
	f.assertExact(t, all)
}

func TestCalendarAndContactsSwitches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		calendar, contacts bool
	}{
		{"mail only", false, false},
		{"calendar", true, false},
		{"contacts", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, 60)
			o := f.opts("r1", events.ModeFull)
			o.Calendar, o.Contacts = tt.calendar, tt.contacts
			if _, err := Run(context.Background(), f.src, f.dst, &MemStore{}, o, nil); err != nil {
				t.Fatal(err)
			}
			f.assertExact(t, func(r platform.ItemRef) bool {
				return r.Kind == platform.Mail || r.Kind == platform.Event && tt.calendar || r.Kind == platform.Contact && tt.contacts
			})
			_, hasCal := f.dst.FolderByRole(f.dstID, platform.RoleCalendar)
			_, hasCon := f.dst.FolderByRole(f.dstID, platform.RoleContacts)
			// The destination mailbox has its well-known folders anyway;
			// what matters is that no item of a switched-off kind moved,
			// which assertExact checked.
			if !hasCal || !hasCon {
				t.Fatal("well-known folders missing")
			}
		})
	}
}

func TestThrottlingStaysExact(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 80)
	f.src.SetFaults(memory.Faults{ThrottleEvery: 3, RetryAfter: time.Millisecond})
	f.dst.SetFaults(memory.Faults{ThrottleEvery: 4, RetryAfter: 2 * time.Millisecond})
	var throttled atomic.Int64
	cp, err := Run(context.Background(), f.src, f.dst, &MemStore{}, f.opts("r1", events.ModeFull), func(p Progress) {
		if p.Throttled > 0 {
			throttled.Store(int64(p.Throttled))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	f.src.SetFaults(memory.Faults{})
	f.dst.SetFaults(memory.Faults{})
	if throttled.Load() == 0 {
		t.Fatal("throttling was never reported")
	}
	if cp.Counts.Copied != 80 {
		t.Fatalf("counts %+v", cp.Counts)
	}
	f.assertExact(t, all)
}

func TestOversizedItemIsSkippedWithReason(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 20)
	ctx := context.Background()
	f.dst.SetLimits(platform.Limits{MaxItemBytes: 1 << 20})
	inbox, _ := f.src.FolderByRole(f.srcID, platform.RoleInbox)
	big := append([]byte("Subject: big\r\n\r\n"), bytes.Repeat([]byte("x"), 2<<20)...)
	ref, err := f.src.AddItem(ctx, f.srcID, inbox.ID, platform.Item{Ref: platform.ItemRef{Kind: platform.Mail}, Content: big})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := Run(ctx, f.src, f.dst, &MemStore{}, f.opts("r1", events.ModeFull), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Counts.Skipped != 1 || cp.Counts.Copied != 20 {
		t.Fatalf("counts %+v", cp.Counts)
	}
	if len(cp.Items) != 1 || cp.Items[0].ItemID != ref.ID || cp.Items[0].Code != string(errs.ItemTooLarge) || cp.Items[0].Outcome != OutcomeSkipped || !strings.Contains(cp.Items[0].Reason, "limit") || cp.Items[0].Folder != "Inbox" {
		t.Fatalf("listed items %+v", cp.Items)
	}
	f.assertExact(t, func(r platform.ItemRef) bool { return r.ID != ref.ID })
}

// dropAfter is a store that stops saving after n saves, as a process
// killed between a write and its checkpoint leaves things.
type dropAfter struct {
	MemStore
	n atomic.Int64
}

func (d *dropAfter) Save(ctx context.Context, cp *Checkpoint) error {
	if d.n.Add(-1) < 0 {
		return nil
	}
	return d.MemStore.Save(ctx, cp)
}

func TestResumeContinuesWhereItStopped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	store := &MemStore{}
	var handled atomic.Int64
	o := f.opts("r1", events.ModeFull)
	o.Cancelled = func() bool { return handled.Add(1) > 45 }
	cp, err := Run(context.Background(), f.src, f.dst, store, o, nil)
	if !errors.Is(err, ErrCancelled) {
		t.Fatalf("first attempt: %v", err)
	}
	if cp.Counts.Copied != 45 || f.dst.Count(f.dstID) != 45 {
		t.Fatalf("first attempt copied %d (%d at destination)", cp.Counts.Copied, f.dst.Count(f.dstID))
	}
	saved, _ := store.Load(context.Background())
	inProgress := 0
	for _, fs := range saved.Folders {
		if fs.Started && !fs.Done {
			inProgress++
		}
	}
	if saved.RunID != "r1" || inProgress != 1 {
		t.Fatalf("checkpoint after the interruption: %+v", saved)
	}
	cp, err = Run(context.Background(), f.src, f.dst, store, f.opts("r1", events.ModeFull), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The resume started at the saved item: nothing was looked at twice.
	if cp.Counts.Copied != 100 || cp.Counts.AlreadyPresent != 0 {
		t.Fatalf("after resume %+v", cp.Counts)
	}
	f.assertExact(t, all)
}

func TestResumeFromStaleCheckpointStaysExact(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	store := &dropAfter{}
	store.n.Store(4)
	var handled atomic.Int64
	o := f.opts("r1", events.ModeFull)
	o.Cancelled = func() bool { return handled.Add(1) > 60 }
	if _, err := Run(context.Background(), f.src, f.dst, store, o, nil); !errors.Is(err, ErrCancelled) {
		t.Fatalf("first attempt: %v", err)
	}
	store.n.Store(1 << 30)
	cp, err := Run(context.Background(), f.src, f.dst, store, f.opts("r1", events.ModeFull), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Counts.AlreadyPresent == 0 || cp.Counts.Copied+cp.Counts.AlreadyPresent != 100 {
		t.Fatalf("after resume from an old checkpoint %+v", cp.Counts)
	}
	f.assertExact(t, all)
}

// flaky fails the first n ReadItem calls with a transient error.
type flaky struct {
	*memory.Tenant
	n atomic.Int64
}

func (f *flaky) ReadItem(ctx context.Context, mb string, ref platform.ItemRef) (platform.Item, error) {
	if f.n.Add(-1) >= 0 {
		return platform.Item{}, errs.New(errs.Unavailable, "flaky", "retry")
	}
	return f.Tenant.ReadItem(ctx, mb, ref)
}

func TestTransientErrorsAreRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 20)
	src := &flaky{Tenant: f.src}
	src.n.Store(3)
	if _, err := Run(context.Background(), src, f.dst, &MemStore{}, f.opts("r1", events.ModeFull), nil); err != nil {
		t.Fatal(err)
	}
	f.assertExact(t, all)

	g := newFixture(t, 20)
	src = &flaky{Tenant: g.src}
	src.n.Store(1000)
	_, err := Run(context.Background(), src, g.dst, &MemStore{}, g.opts("r1", events.ModeFull), nil)
	if errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("persistent failure: %v", err)
	}
}

func TestAuthFailureStopsTheMailbox(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10)
	f.dst.SetFaults(memory.Faults{FailAuth: true})
	_, err := Run(context.Background(), f.src, f.dst, &MemStore{}, f.opts("r1", events.ModeFull), nil)
	if errs.CodeOf(err) != errs.AuthFailed {
		t.Fatalf("err %v, want %s", err, errs.AuthFailed)
	}
}

func TestProgressCountsUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 30)
	var last Progress
	if _, err := Run(context.Background(), f.src, f.dst, &MemStore{}, f.opts("r1", events.ModeFull), func(p Progress) { last = p }); err != nil {
		t.Fatal(err)
	}
	if last.Items != 30 || last.TotalItems != 30 || last.Bytes == 0 {
		t.Fatalf("last progress %+v", last)
	}
}

func TestRejectsUnknownMode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	if _, err := Run(context.Background(), f.src, f.dst, &MemStore{}, f.opts("r1", events.ModeDiscovery), nil); errs.CodeOf(err) != errs.Invalid {
		t.Fatalf("err %v", err)
	}
}

func TestResolveDestination(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	ctx := context.Background()
	o := Options{Backoff: time.Millisecond}
	tests := []struct {
		name string
		pair events.Pair
		want string
		code errs.Code
	}{
		{"by id", events.Pair{DestinationID: f.dstID, DestinationAddress: "other@dst.example"}, f.dstID, ""},
		{"by address", events.Pair{DestinationAddress: "USER0001@dst.example"}, f.dstID, ""},
		{"missing", events.Pair{DestinationAddress: "nobody@dst.example"}, "", errs.MailboxMissing},
	}
	for _, tt := range tests {
		got, err := ResolveDestination(ctx, f.dst, tt.pair, o)
		if got != tt.want || (tt.code != "" && errs.CodeOf(err) != tt.code) || (tt.code == "" && err != nil) {
			t.Errorf("%s: got %q, %v", tt.name, got, err)
		}
	}
	id, err := ResolveDestination(ctx, f.dst, events.Pair{DestinationAddress: "new@dst.example", Create: true}, o)
	if err != nil || id == "" {
		t.Fatalf("create: %q %v", id, err)
	}
	if m, ok := f.dst.MailboxByAddress("new@dst.example"); !ok || m.ID != id {
		t.Fatalf("created mailbox %+v %v", m, ok)
	}
	again, err := ResolveDestination(ctx, f.dst, events.Pair{DestinationAddress: "new@dst.example", Create: true}, o)
	if err != nil || again != id {
		t.Fatalf("second resolve created another mailbox: %q %v", again, err)
	}
}
