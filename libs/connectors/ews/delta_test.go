package ews_test

import (
	"testing"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// TestDeltaAfterChanges: a full enumeration pages with NextToken and ends
// with a DeltaToken (the sync state); after a message arrives, one is
// recategorised, one only read and one deleted, the delta lists exactly
// those four: the new one, the two changed ones with new change keys, the
// deleted one as deleted. A sync state of another folder is errs.Invalid,
// on which the engine falls back to a full enumeration.
func TestDeltaAfterChanges(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	mb := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 40, Seed: testSeed, Profile: tenantgen.Light})[0]
	cfg := configFor(t, sb)
	cfg.PageSize = 4
	c := open(t, cfg)
	ctx := ctxFor(t)
	raw := rawClient(sb)
	inbox := folderByRole(t, c, mb, platform.RoleInbox)
	before, delta, pages := enumerate(t, c, mb, inbox.ID, "")
	if len(before) < 4 || pages < 2 {
		t.Fatalf("the inbox lists %d items in %d pages; the test needs four items and paging", len(before), pages)
	}
	if same, _, _ := enumerate(t, c, mb, inbox.ID, delta); len(same) != 0 {
		t.Fatalf("a delta without changes lists %+v", same)
	}
	keys := map[string]string{}
	for _, r := range before {
		if r.ChangeKey == "" || r.Deleted || r.Kind != platform.Mail || r.Size <= 0 {
			t.Fatalf("listed %+v: want a live mail item with a change key and a size", r)
		}
		keys[r.ID] = r.ChangeKey
	}
	newID, err := open(t, configFor(t, sb)).WriteItem(ctx, mb, inbox.ID, platformtest.Message("arrived", 900), "mf-arrived")
	if err != nil {
		t.Fatal(err)
	}
	recat, read, gone := before[0], before[1], before[2]
	if err := update(ctx, raw, mb, recat.ID, false, categorize("Delta")); err != nil {
		t.Fatal(err)
	}
	if err := update(ctx, raw, mb, read.ID, false, soap.SetItemField{Path: soap.Field("message:IsRead"), Message: &soap.Message{IsRead: soap.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	if err := remove(ctx, raw, mb, gone.ID); err != nil {
		t.Fatal(err)
	}
	changes, delta2, _ := enumerate(t, c, mb, inbox.ID, delta)
	got := map[string]platform.ItemRef{}
	for _, r := range changes {
		got[r.ID] = r
	}
	if len(changes) != 4 || len(got) != 4 {
		t.Fatalf("the delta lists %+v, want four items", changes)
	}
	if r := got[newID]; r.Deleted || r.ChangeKey == "" {
		t.Errorf("the new message is listed as %+v", r)
	}
	for _, x := range []platform.ItemRef{recat, read} {
		if r := got[x.ID]; r.Deleted || r.ChangeKey == "" || r.ChangeKey == keys[x.ID] {
			t.Errorf("changed item %s is listed as %+v (change key before %s)", x.ID, r, keys[x.ID])
		}
	}
	if r := got[gone.ID]; !r.Deleted || r.FolderID != inbox.ID {
		t.Errorf("the deleted message is listed as %+v", r)
	}
	if again, _, _ := enumerate(t, c, mb, inbox.ID, delta2); len(again) != 0 {
		t.Errorf("after the delta another one lists %+v", again)
	}
	sent := folderByRole(t, c, mb, platform.RoleSent)
	if _, err := c.Items(ctx, mb, sent.ID, delta2); !errs.Is(err, errs.Invalid) {
		t.Errorf("the inbox's sync state used on Sent Items: %v, want %s", err, errs.Invalid)
	}
}
