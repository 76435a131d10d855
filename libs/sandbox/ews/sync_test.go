package ews_test

import (
	"fmt"
	"testing"

	"github.com/mailferry/mailferry/libs/ews/soap"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// syncAll pages SyncFolderItems until IncludesLastItemInRange and returns
// the changes and the final state.
func syncAll(t *testing.T, c *soap.Client, as, folder, state string, max int) ([]soap.SyncChange, string, int) {
	t.Helper()
	var all []soap.SyncChange
	pages := 0
	for {
		var resp soap.SyncFolderItemsResponse
		if err := c.Call(ctx(t), as, &soap.SyncFolderItems{ItemShape: soap.ItemShape{BaseShape: soap.ShapeIDOnly,
			AdditionalProperties: &soap.Paths{FieldURI: []soap.FieldURI{{FieldURI: "message:IsRead"}, {FieldURI: "item:Subject"}}}},
			SyncFolderID: *soap.FolderRef(folder), SyncState: state, MaxChangesReturned: max}, &resp); err != nil {
			t.Fatal(err)
		}
		m := resp.ResponseMessages.Messages[0]
		if err := soap.CheckOne("SyncFolderItems", m); err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, m.Changes.Changes...)
		state = m.SyncState
		if *m.IncludesLastItemInRange {
			return all, state, pages
		}
		if pages > 1000 {
			t.Fatal("sync does not end")
		}
	}
}

func TestSyncFolderItemsDelta(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := service(sb)
	as := userAddr(sb, 1)
	total, _ := sb.FolderItemCount(as, "inbox")
	changes, state, pages := syncAll(t, svc, as, "inbox", "", 3)
	if len(changes) != total || pages != (total+2)/3 {
		t.Fatalf("initial sync: %d changes in %d pages, inbox holds %d", len(changes), pages, total)
	}
	ids := map[string]bool{}
	for _, c := range changes {
		if c.Kind != "Create" || c.Item.Message == nil {
			t.Fatalf("initial sync change %+v", c)
		}
		ids[c.Item.Message.ItemID.ID] = true
	}
	if len(ids) != total {
		t.Fatalf("initial sync repeated items: %d distinct of %d", len(ids), total)
	}
	if again, _, _ := syncAll(t, svc, as, "inbox", state, 10); len(again) != 0 {
		t.Fatalf("nothing changed, yet %d changes", len(again))
	}

	// One of each change.
	raw, _ := tenantgen.RenderMail(testSeed, 77, 1, "source.example", tenantgen.Options{Profile: tenantgen.Light})
	created := createMIME(t, svc, as, "inbox", raw, "m-new")
	var victims []soap.ItemID
	for _, c := range changes[:3] {
		victims = append(victims, *c.Item.Message.ItemID)
	}
	update := func(id soap.ItemID, f soap.SetItemField) {
		ch := soap.ItemChange{ItemID: &soap.ItemID{ID: id.ID}}
		ch.Updates.SetItemField = []soap.SetItemField{f}
		var ur soap.UpdateItemResponse
		if err := svc.Call(ctx(t), as, &soap.UpdateItem{ConflictResolution: "AlwaysOverwrite", MessageDisposition: "SaveOnly",
			ItemChanges: soap.ItemChanges{ItemChange: []soap.ItemChange{ch}}}, &ur); err != nil {
			t.Fatal(err)
		}
		if err := soap.Check("UpdateItem", ur.ResponseMessages.Messages); err != nil {
			t.Fatal(err)
		}
	}
	update(victims[0], soap.SetItemField{Path: soap.Field("item:Categories"), Message: &soap.Message{ItemFields: soap.ItemFields{Categories: &soap.Strings{String: []string{"Delta"}}}}})
	m, err := getMessage(t, svc, as, victims[1], soap.ItemShape{BaseShape: soap.ShapeDefault})
	if err != nil {
		t.Fatal(err)
	}
	update(victims[1], soap.SetItemField{Path: soap.Field("message:IsRead"), Message: &soap.Message{IsRead: soap.Bool(!*m.IsRead)}})
	var dr soap.DeleteItemResponse
	if err := svc.Call(ctx(t), as, &soap.DeleteItem{DeleteType: "HardDelete", ItemIDs: *soap.ItemList(victims[2])}, &dr); err != nil {
		t.Fatal(err)
	}

	delta, state2, _ := syncAll(t, svc, as, "inbox", state, 2)
	got := map[string]string{}
	for _, c := range delta {
		id := ""
		switch {
		case c.ItemID != nil:
			id = c.ItemID.ID
		case c.Item.Message != nil:
			id = c.Item.Message.ItemID.ID
		}
		got[id] = c.Kind
		if c.Kind == "ReadFlagChange" && c.IsRead == *m.IsRead {
			t.Error("ReadFlagChange carries the old flag")
		}
	}
	want := map[string]string{created.ID: "Create", victims[0].ID: "Update", victims[1].ID: "ReadFlagChange", victims[2].ID: "Delete"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delta %v, want %v", got, want)
	}
	if again, _, _ := syncAll(t, svc, as, "inbox", state2, 10); len(again) != 0 {
		t.Fatalf("after the delta, %d changes", len(again))
	}

	// A state is bound to its folder.
	var resp soap.SyncFolderItemsResponse
	if err := svc.Call(ctx(t), as, &soap.SyncFolderItems{ItemShape: soap.ItemShape{BaseShape: soap.ShapeIDOnly},
		SyncFolderID: *soap.FolderRef("sentitems"), SyncState: state2, MaxChangesReturned: 5}, &resp); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("SyncFolderItems", resp.ResponseMessages.Messages); soap.Code(err) != "ErrorInvalidSyncStateData" {
		t.Fatalf("state of another folder: %v", err)
	}
}

func TestSyncFolderHierarchy(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := service(sb)
	as := userAddr(sb, 2)
	sync := func(state string) soap.SyncFolderHierarchyResponseMessage {
		var resp soap.SyncFolderHierarchyResponse
		if err := svc.Call(ctx(t), as, &soap.SyncFolderHierarchy{FolderShape: soap.FolderShape{BaseShape: soap.ShapeAllProperties}, SyncState: state}, &resp); err != nil {
			t.Fatal(err)
		}
		m := resp.ResponseMessages.Messages[0]
		if err := soap.CheckOne("SyncFolderHierarchy", m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	first := sync("")
	if len(first.Changes.Changes) < 20 {
		t.Fatalf("initial hierarchy has %d folders", len(first.Changes.Changes))
	}
	var cr soap.CreateFolderResponse
	if err := svc.Call(ctx(t), as, &soap.CreateFolder{ParentFolderID: *soap.FolderRef("inbox"),
		Folders: soap.Folders{Folders: []soap.Folder{{DisplayName: "Migrated"}, {Kind: "CalendarFolder", DisplayName: "Team calendar"}}}}, &cr); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("CreateFolder", cr.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	next := sync(first.SyncState)
	kinds := map[string]string{}
	for _, c := range next.Changes.Changes {
		kinds[c.Folder.DisplayName] = c.Kind
	}
	if kinds["Migrated"] != "Create" || kinds["Team calendar"] != "Create" || kinds["Inbox"] != "Update" || len(kinds) != 3 {
		t.Fatalf("hierarchy delta %v", kinds)
	}
	cr = soap.CreateFolderResponse{}
	if err := svc.Call(ctx(t), as, &soap.CreateFolder{ParentFolderID: *soap.FolderRef("inbox"),
		Folders: soap.Folders{Folders: []soap.Folder{{DisplayName: "migrated"}}}}, &cr); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("CreateFolder", cr.ResponseMessages.Messages); soap.Code(err) != "ErrorFolderExists" {
		t.Fatalf("duplicate folder: %v", err)
	}
}
