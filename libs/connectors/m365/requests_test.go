package m365_test

import (
	"fmt"
	"testing"

	"github.com/mailferry/mailferry/libs/connectors/m365"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

// TestRequestsPerMigratedMessage counts the Graph requests the destination
// spends per message, doing for each item what the transfer engine does
// (FindByMarker, then WriteItem when there is no copy), first into a fresh
// mailbox and then again with a new connector, as a re-run's job has.
// Graph's budget is 10,000 requests per mailbox per 10 minutes, so the
// request count per item is a mailbox's throughput ceiling. The old path
// spent 3 per new message (the engine's marker query, WriteItem's own
// query, the create) and 1 per message already present.
func TestRequestsPerMigratedMessage(t *testing.T) {
	t.Parallel()
	const n = 40
	sb := newSandbox(t, graph.Config{})
	ctx := ctxFor(t)
	mb := sb.AddUser("rita@"+sb.Domain(), "Rita Counts")
	items := make([]platform.Item, n)
	for i := range items {
		items[i] = platformtest.Message(fmt.Sprintf("Counted %d", i), 2000)
		items[i].Ref.ChangeKey = fmt.Sprintf("v%d", i)
	}
	marker := func(i int) string { return fmt.Sprintf("mf1-requests-%02d", i) }

	c := open(t, configFor(sb))
	inbox, err := c.EnsureFolder(ctx, mb, platform.Folder{Role: platform.RoleInbox, Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	before := sb.Requests()
	for i, it := range items {
		found, err := c.FindByMarker(ctx, mb, marker(i))
		if err != nil || len(found) != 0 {
			t.Fatalf("FindByMarker(%d) in a fresh mailbox = %+v, %v", i, found, err)
		}
		if _, err := c.WriteItem(ctx, mb, inbox.ID, it, marker(i)); err != nil {
			t.Fatalf("WriteItem(%d): %v", i, err)
		}
	}
	fresh := sb.Requests() - before
	perItem := float64(fresh) / n
	t.Logf("fresh mailbox: %d requests for %d messages (%.2f per message)", fresh, n, perItem)
	// Two per message (the check just before the create, the create with
	// marker, version, flags and dates) plus the one-off index scan.
	if perItem > 2.25 {
		t.Errorf("%.2f requests per new message (%d for %d), want at most 2.25", perItem, fresh, n)
	}
	if got := sb.MessageCount(mb); got != n {
		t.Errorf("the mailbox holds %d messages, want %d", got, n)
	}

	// A re-run's job opens its own connector: the index is read anew, in
	// pages, and answers every lookup.
	c2 := open(t, configFor(sb))
	before = sb.Requests()
	for i, it := range items {
		found, err := c2.FindByMarker(ctx, mb, marker(i))
		if err != nil || len(found) != 1 || found[0].FolderID != inbox.ID || found[0].Version != it.Ref.ChangeKey {
			t.Fatalf("FindByMarker(%d) on the re-run = %+v, %v; want the copy in the inbox with version %s", i, found, err, it.Ref.ChangeKey)
		}
	}
	rerun := sb.Requests() - before
	t.Logf("re-run: %d requests for %d messages already present (%.2f per message)", rerun, n, float64(rerun)/n)
	if float64(rerun)/n > 0.25 {
		t.Errorf("%d requests to find %d copies, want at most %.0f", rerun, n, 0.25*n)
	}
}

// TestMarkerIndexNeverDuplicates shows that the index only saves lookups:
// a copy written by another worker after the index was read, which the
// index cannot know, is found by WriteItem's own query and not written
// again; and a mailbox too large to index is looked up message by message.
func TestMarkerIndexNeverDuplicates(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{})
	ctx := ctxFor(t)
	mb := sb.AddUser("otto@"+sb.Domain(), "Otto Workers")
	c1 := open(t, configFor(sb))
	c2 := open(t, configFor(sb))
	inbox, err := c1.EnsureFolder(ctx, mb, platform.Folder{Role: platform.RoleInbox, Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	msg := platformtest.Message("Written by two workers", 500)
	msg.Ref.ChangeKey = "v1"
	if found, err := c1.FindByMarker(ctx, mb, "mf1-two-workers"); err != nil || len(found) != 0 {
		t.Fatalf("first lookup = %+v, %v", found, err)
	}
	id2, err := c2.WriteItem(ctx, mb, inbox.ID, msg, "mf1-two-workers")
	if err != nil {
		t.Fatal(err)
	}
	// c1's index was read before c2 wrote: it may still say "none", but
	// the write must not make a second copy.
	id1, err := c1.WriteItem(ctx, mb, inbox.ID, msg, "mf1-two-workers")
	if err != nil || id1 != id2 {
		t.Fatalf("WriteItem after another worker wrote = %q, %v; want its copy %q", id1, err, id2)
	}
	if n := sb.MessageCount(mb); n != 1 {
		t.Fatalf("the mailbox holds %d messages after two workers wrote one, want 1", n)
	}
	if found, err := c1.FindByMarker(ctx, mb, "mf1-two-workers"); err != nil || len(found) != 1 || found[0].ID != id2 {
		t.Errorf("FindByMarker after the write = %+v, %v; want the one copy", found, err)
	}

	// More messages than the scan reads: messages are then looked up one
	// query each, and still found.
	for i := 0; i < 6; i++ {
		m := platformtest.Message(fmt.Sprintf("Filler %d", i), 300)
		if _, err := c2.WriteItem(ctx, mb, inbox.ID, m, fmt.Sprintf("mf1-filler-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	c3 := open(t, configFor(sb))
	m365.SetMarkerScanLimits(c3, 2, 2) // 4 messages at most; the mailbox has 7
	for i := 0; i < 6; i++ {
		before := sb.Requests()
		found, err := c3.FindByMarker(ctx, mb, fmt.Sprintf("mf1-filler-%d", i))
		if err != nil || len(found) != 1 || found[0].FolderID != inbox.ID {
			t.Fatalf("FindByMarker(filler %d) in a mailbox too large to index = %+v, %v", i, found, err)
		}
		if i > 0 && sb.Requests()-before != 1 {
			t.Errorf("lookup %d in a mailbox too large to index cost %d requests, want 1 query", i, sb.Requests()-before)
		}
	}
	if found, err := c3.FindByMarker(ctx, mb, "mf1-never-written"); err != nil || len(found) != 0 {
		t.Errorf("FindByMarker of an unknown marker = %+v, %v", found, err)
	}
}
