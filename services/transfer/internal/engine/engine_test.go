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

// folderPaths names each folder of a mailbox by its path from the root,
// which is what maps a source folder to its destination counterpart.
func folderPaths(t *testing.T, c platform.Source, mb string) map[string]string {
	t.Helper()
	fs, err := c.Folders(context.Background(), mb)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]platform.Folder{}
	for _, f := range fs {
		byID[f.ID] = f
	}
	out := map[string]string{}
	for _, f := range fs {
		p := f.Name
		for d := f; d.ParentID != ""; {
			d = byID[d.ParentID]
			p = d.Name + "/" + p
		}
		out[f.ID] = p
	}
	return out
}

// assertExact checks that exactly the wanted source items are at the
// destination, each once, in the counterpart of its source folder, stored
// with the source's version, with identical content, read state, flag and
// categories, and that no version of any item was written twice.
func (f fixture) assertExact(t *testing.T, want func(platform.ItemRef) bool) {
	t.Helper()
	ctx := context.Background()
	srcPaths, dstPaths := folderPaths(t, f.src, f.srcID), folderPaths(t, f.dst, f.dstID)
	n := 0
	for _, ref := range f.sourceItems(t) {
		copies, err := f.dst.FindByMarker(ctx, f.dstID, Marker(f.srcID, ref.ID))
		if err != nil {
			t.Fatal(err)
		}
		if !want(ref) {
			if len(copies) != 0 {
				t.Fatalf("item %s (%s) should not have moved", ref.ID, ref.Kind)
			}
			continue
		}
		n++
		if len(copies) != 1 {
			t.Fatalf("item %s (%s) has %d copies at the destination, want 1: %+v", ref.ID, ref.Kind, len(copies), copies)
		}
		c := copies[0]
		if c.Version != ref.ChangeKey {
			t.Fatalf("item %s: the copy has version %q, the source %q", ref.ID, c.Version, ref.ChangeKey)
		}
		if srcPaths[ref.FolderID] != dstPaths[c.FolderID] {
			t.Fatalf("item %s is in %q at the source, its copy in %q", ref.ID, srcPaths[ref.FolderID], dstPaths[c.FolderID])
		}
		a, err := f.src.ReadItem(ctx, f.srcID, ref)
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.dst.ReadItem(ctx, f.dstID, platform.ItemRef{ID: c.ID})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Content, b.Content) || b.Ref.Kind != ref.Kind {
			t.Fatalf("item %s differs at the destination", ref.ID)
		}
		if a.Read != b.Read || a.Flagged != b.Flagged || strings.Join(a.Categories, ",") != strings.Join(b.Categories, ",") {
			t.Fatalf("item %s: read %v flagged %v categories %v at the source, %v %v %v at the destination",
				ref.ID, a.Read, a.Flagged, a.Categories, b.Read, b.Flagged, b.Categories)
		}
	}
	if got := f.dst.Count(f.dstID); got != n {
		t.Fatalf("destination holds %d items, want %d", got, n)
	}
	for m, c := range f.dst.WrittenMarkers(f.dstID) {
		if c != 1 {
			t.Fatalf("a version of marker %s was written %d times", m, c)
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

// refsIn lists the items of one source folder.
func (f fixture) refsIn(t *testing.T, folderID string) []platform.ItemRef {
	t.Helper()
	var out []platform.ItemRef
	for _, r := range f.sourceItems(t) {
		if r.FolderID == folderID {
			out = append(out, r)
		}
	}
	return out
}

// userEdit changes an item as its user would: it reads the item, lets edit
// change it and stores it back under the same id.
func (f fixture) userEdit(t *testing.T, ref platform.ItemRef, edit func(*platform.Item)) {
	t.Helper()
	ctx := context.Background()
	it, err := f.src.ReadItem(ctx, f.srcID, ref)
	if err != nil {
		t.Fatal(err)
	}
	edit(&it)
	if _, err := f.src.ChangeItem(ctx, f.srcID, ref.ID, it); err != nil {
		t.Fatal(err)
	}
}

// TestDeltaMirrorsTheSource: after a full run the source gets a new item,
// a message read and flagged, a message whose content changed, an edited
// event, a deleted message and two moves (into a folder copied after the
// one left, and into one copied before it). One delta run makes the
// destination identical to the source again, each item exactly once, and a
// second delta finds nothing to do.
func TestDeltaMirrorsTheSource(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 120)
	ctx := context.Background()
	store := &MemStore{}
	if _, err := Run(ctx, f.src, f.dst, store, f.opts("r1", events.ModeFull), nil); err != nil {
		t.Fatal(err)
	}
	inbox, _ := f.src.FolderByRole(f.srcID, platform.RoleInbox)
	archive, _ := f.src.FolderByRole(f.srcID, platform.RoleArchive)
	cal, _ := f.src.FolderByRole(f.srcID, platform.RoleCalendar)
	mail := f.refsIn(t, inbox.ID)
	if len(mail) < 4 {
		t.Fatalf("the seeded inbox has %d messages, want at least 4", len(mail))
	}
	var later platform.ItemRef // a message in a user folder, copied after the inbox
	for _, r := range f.sourceItems(t) {
		if r.Kind == platform.Mail && r.FolderID != inbox.ID && r.FolderID != archive.ID {
			later = r
		}
	}
	evs := f.refsIn(t, cal.ID)
	if later.ID == "" || len(evs) == 0 {
		t.Fatal("the seed has no message outside the inbox or no event")
	}

	msg := "Message-ID: <after-full@src.example>\r\nSubject: arrived later\r\n\r\nbody\r\n"
	if _, err := f.src.AddItem(ctx, f.srcID, inbox.ID, platform.Item{Ref: platform.ItemRef{Kind: platform.Mail}, Content: []byte(msg)}); err != nil {
		t.Fatal(err)
	}
	f.userEdit(t, mail[0], func(it *platform.Item) { it.Read, it.Flagged = !it.Read, !it.Flagged })
	f.userEdit(t, mail[1], func(it *platform.Item) {
		it.Content = append(append([]byte(nil), it.Content...), "\r\nP.S. edited after the full run\r\n"...)
		it.Categories = append(it.Categories, "Edited")
	})
	f.userEdit(t, evs[0], func(it *platform.Item) {
		it.Content = bytes.Replace(it.Content, []byte("SUMMARY:"), []byte("SUMMARY:Moved to 3pm – "), 1)
	})
	if err := f.src.RemoveItem(ctx, f.srcID, mail[2].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.src.MoveItem(ctx, f.srcID, mail[3].ID, archive.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.src.MoveItem(ctx, f.srcID, later.ID, inbox.ID); err != nil {
		t.Fatal(err)
	}

	var last Progress
	cp, err := Run(ctx, f.src, f.dst, store, f.opts("r2", events.ModeDelta), func(p Progress) { last = p })
	if err != nil {
		t.Fatal(err)
	}
	f.assertExact(t, all)
	// The inbox is copied before the archive and the user folders, so
	// the move into the archive is a deletion there and a new copy here,
	// and the move into the inbox replaces the copy in its old folder.
	want := transferCounts{Copied: 2, Updated: 4, Deleted: 2}
	if got := countsOf(cp); got != want {
		t.Fatalf("delta counts %+v, want %+v", cp.Counts, want)
	}
	if last.Updated != 4 || last.Deleted != 2 || last.Items != 8 {
		t.Fatalf("last progress %+v", last)
	}

	cp, err = Run(ctx, f.src, f.dst, store, f.opts("r3", events.ModeDelta), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := countsOf(cp); got != (transferCounts{}) {
		t.Fatalf("a delta without changes: %+v", cp.Counts)
	}
	f.assertExact(t, all)
}

type transferCounts struct{ Copied, AlreadyPresent, Updated, Deleted int }

func countsOf(cp *Checkpoint) transferCounts {
	return transferCounts{cp.Counts.Copied, cp.Counts.AlreadyPresent, cp.Counts.Updated, cp.Counts.Deleted}
}

// TestFullRerunRefreshesChangedItems: a full re-run replaces what changed
// and counts the rest as already present; deletions are left to delta runs.
func TestFullRerunRefreshesChangedItems(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 40)
	ctx := context.Background()
	store := &MemStore{}
	if _, err := Run(ctx, f.src, f.dst, store, f.opts("r1", events.ModeFull), nil); err != nil {
		t.Fatal(err)
	}
	inbox, _ := f.src.FolderByRole(f.srcID, platform.RoleInbox)
	f.userEdit(t, f.refsIn(t, inbox.ID)[0], func(it *platform.Item) { it.Flagged = !it.Flagged })
	cp, err := Run(ctx, f.src, f.dst, store, f.opts("r2", events.ModeFull), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := countsOf(cp), (transferCounts{AlreadyPresent: 39, Updated: 1}); got != want {
		t.Fatalf("full re-run counts %+v, want %+v", cp.Counts, want)
	}
	f.assertExact(t, all)
}

// TestStoppedBetweenWriteAndDeleteStaysExact: the destination refuses to
// delete the old copy of a changed item, so the delta run stops with both
// copies stored. The resumed run keeps the current one and deletes the
// other; nothing is lost and nothing is left twice.
func TestStoppedBetweenWriteAndDeleteStaysExact(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 40)
	ctx := context.Background()
	store := &MemStore{}
	if _, err := Run(ctx, f.src, f.dst, store, f.opts("r1", events.ModeFull), nil); err != nil {
		t.Fatal(err)
	}
	inbox, _ := f.src.FolderByRole(f.srcID, platform.RoleInbox)
	changed := f.refsIn(t, inbox.ID)[0]
	f.userEdit(t, changed, func(it *platform.Item) { it.Read = !it.Read })
	f.dst.SetFaults(memory.Faults{FailDeletes: 2})
	o := f.opts("r2", events.ModeDelta)
	o.Retries = 1
	if _, err := Run(ctx, f.src, f.dst, store, o, nil); errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("delta with failing deletes: %v, want %s", err, errs.Unavailable)
	}
	copies, err := f.dst.FindByMarker(ctx, f.dstID, Marker(f.srcID, changed.ID))
	if err != nil || len(copies) != 2 {
		t.Fatalf("after the stop the destination holds %+v (%v), want the old and the new version", copies, err)
	}
	cp, err := Run(ctx, f.src, f.dst, store, f.opts("r2", events.ModeDelta), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Counts.AlreadyPresent != 1 || cp.Counts.Copied != 0 {
		t.Fatalf("resumed counts %+v, want the new copy found present", cp.Counts)
	}
	f.assertExact(t, all)
}

// TestDeletionOnlyInItsFolder: with immutable ids a moved item keeps its
// id, and the deletion reported for the folder it left must not remove the
// copy already made in the folder it entered, whichever is copied first.
func TestDeletionOnlyInItsFolder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 30)
	ctx := context.Background()
	store := &MemStore{}
	if _, err := Run(ctx, f.src, f.dst, store, f.opts("r1", events.ModeFull), nil); err != nil {
		t.Fatal(err)
	}
	inbox, _ := f.src.FolderByRole(f.srcID, platform.RoleInbox)
	deleted, _ := f.src.FolderByRole(f.srcID, platform.RoleDeleted)
	ref := f.refsIn(t, inbox.ID)[0]
	for i, to := range []string{deleted.ID, inbox.ID, deleted.ID} {
		if _, err := f.src.MoveItem(ctx, f.srcID, ref.ID, to); err != nil {
			t.Fatal(err)
		}
		if _, err := Run(ctx, f.src, f.dst, store, f.opts(fmt.Sprintf("d%d", i), events.ModeDelta), nil); err != nil {
			t.Fatal(err)
		}
		f.assertExact(t, all)
	}
}

// TestCopiedWithWarningsIsCountedAndListed: an item the destination stores
// but cannot hold whole (the memory platform's WarnOn fault stands for
// Microsoft 365 and a contact field it has no place for) is a copy, counted
// in Copied and in Warnings, and listed with what was not kept; a re-run
// finds it present, and a new version of it warns again.
func TestCopiedWithWarningsIsCountedAndListed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 20)
	ctx := context.Background()
	contacts, ok := f.src.FolderByRole(f.srcID, platform.RoleContacts)
	if !ok {
		t.Fatal("the source has no contacts folder")
	}
	card := "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ada Overflow\r\nEMAIL:a@example.org\r\nX-UNHELD:kept in the notes\r\nEND:VCARD\r\n"
	ref, err := f.src.AddItem(ctx, f.srcID, contacts.ID, platform.Item{Ref: platform.ItemRef{Kind: platform.Contact},
		ContentType: platform.ContentVCard, Content: []byte(card)})
	if err != nil {
		t.Fatal(err)
	}
	f.dst.SetFaults(memory.Faults{WarnOn: "X-UNHELD"})
	cp, err := Run(ctx, f.src, f.dst, &MemStore{}, f.opts("r1", events.ModeFull), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Counts.Copied != 21 || cp.Counts.Warnings != 1 || cp.Counts.Failed != 0 || cp.Counts.Skipped != 0 {
		t.Fatalf("counts %+v, want 21 copied of which 1 with a warning", cp.Counts)
	}
	if len(cp.Items) != 1 {
		t.Fatalf("listed items %+v, want the one copied with a warning", cp.Items)
	}
	it := cp.Items[0]
	if it.ItemID != ref.ID || it.Outcome != OutcomeCopiedWithWarnings || it.Code != string(platform.CopiedWithWarnings) ||
		!strings.Contains(it.Reason, "X-UNHELD") || it.FolderID != contacts.ID {
		t.Fatalf("listed item %+v", it)
	}
	f.assertExact(t, all)

	store := &MemStore{}
	cp, err = Run(ctx, f.src, f.dst, store, f.opts("r2", events.ModeFull), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Counts.AlreadyPresent != 21 || cp.Counts.Warnings != 0 || len(cp.Items) != 0 {
		t.Fatalf("re-run: counts %+v, items %+v", cp.Counts, cp.Items)
	}
	f.userEdit(t, ref, func(it *platform.Item) {
		it.Content = bytes.Replace(it.Content, []byte("Ada Overflow"), []byte("Ada Overflow-Smith"), 1)
	})
	cp, err = Run(ctx, f.src, f.dst, store, f.opts("r3", events.ModeFull), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Counts.Updated != 1 || cp.Counts.Warnings != 1 || len(cp.Items) != 1 || cp.Items[0].Outcome != OutcomeCopiedWithWarnings {
		t.Fatalf("changed item: counts %+v, items %+v", cp.Counts, cp.Items)
	}
	f.assertExact(t, all)
}

// estimating is a source whose exact Stats is expensive and whose estimate
// is cheap, as with Gmail.
type estimating struct {
	*memory.Tenant
	exact atomic.Int64
}

func (e *estimating) Stats(ctx context.Context, mb string) (platform.Stats, error) {
	e.exact.Add(1)
	return e.Tenant.Stats(ctx, mb)
}

func (e *estimating) EstimateStats(ctx context.Context, mb string) (platform.Stats, error) {
	st, err := e.Tenant.Stats(ctx, mb)
	st.Mail += 5 // an estimate, visibly not the exact count
	return st, err
}

// TestProgressTotalComesFromTheEstimate: a mailbox starts copying on the
// source's estimate rather than waiting for an exact count.
func TestProgressTotalComesFromTheEstimate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 30)
	src := &estimating{Tenant: f.src}
	var first Progress
	seen := false
	if _, err := Run(context.Background(), src, f.dst, &MemStore{}, f.opts("r1", events.ModeFull), func(p Progress) {
		if !seen {
			first, seen = p, true
		}
	}); err != nil {
		t.Fatal(err)
	}
	if first.TotalItems != 35 {
		t.Errorf("first progress total %d, want the estimate's 35", first.TotalItems)
	}
	if n := src.exact.Load(); n != 0 {
		t.Errorf("the exact Stats was asked %d times during the copy", n)
	}
	f.assertExact(t, all)
}
