package ews_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/mailferry/mailferry/libs/ews/soap"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// marker is the named property mailferry stamps on every item it writes.
var marker = soap.ExtendedFieldURI{PropertySetID: "c11ff724-aa03-4555-9952-8fa248a11c3e", PropertyName: "MailferryMarker", PropertyType: "String"}

func TestFindFolderAndPagedFindItem(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := service(sb)
	as := userAddr(sb, 1)
	var ff soap.FindFolderResponse
	if err := svc.Call(ctx(t), as, &soap.FindFolder{Traversal: "Deep", FolderShape: soap.FolderShape{BaseShape: soap.ShapeDefault,
		AdditionalProperties: &soap.Paths{FieldURI: []soap.FieldURI{{FieldURI: "folder:ParentFolderId"}, {FieldURI: "folder:FolderClass"}}}},
		ParentFolderIDs: *soap.FolderList("msgfolderroot")}, &ff); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("FindFolder", ff.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	names := map[string]soap.Folder{}
	for _, f := range ff.ResponseMessages.Messages[0].RootFolder.Folders.Folders {
		names[f.DisplayName] = f
	}
	for _, want := range []string{"Inbox", "Sent Items", "Deleted Items", "Drafts", "Junk Email", "Archive", "Calendar", "Contacts",
		"Projects", "Q1 Planung", "Müller GmbH", "Verträge", "Newsletters"} {
		if _, ok := names[want]; !ok {
			t.Errorf("FindFolder Deep lacks %q", want)
		}
	}
	if f := names["Calendar"]; f.Kind != "CalendarFolder" || f.FolderClass != "IPF.Appointment" {
		t.Errorf("calendar folder %+v", f)
	}
	if names["Newsletters"].ParentFolderID.ID != names["Inbox"].FolderID.ID {
		t.Error("Newsletters is not below the inbox")
	}

	total, err := sb.FolderItemCount(as, "inbox")
	if err != nil || total < 5 {
		t.Fatalf("inbox holds %d items: %v", total, err)
	}
	seen := map[string]bool{}
	offset, pages := 0, 0
	for {
		var fi soap.FindItemResponse
		if err := svc.Call(ctx(t), as, &soap.FindItem{Traversal: "Shallow", ItemShape: soap.ItemShape{BaseShape: soap.ShapeDefault},
			IndexedPageItemView: &soap.IndexedPageView{MaxEntriesReturned: 4, Offset: offset, BasePoint: "Beginning"},
			ParentFolderIDs:     *soap.FolderList("inbox")}, &fi); err != nil {
			t.Fatal(err)
		}
		if err := soap.Check("FindItem", fi.ResponseMessages.Messages); err != nil {
			t.Fatal(err)
		}
		root := fi.ResponseMessages.Messages[0].RootFolder
		pages++
		if *root.TotalItemsInView != total {
			t.Fatalf("TotalItemsInView %d, store %d", *root.TotalItemsInView, total)
		}
		for _, it := range root.Items.Items {
			m := it.Message
			if m == nil || m.Subject == nil || m.From == nil || m.DateTimeReceived == nil || m.IsRead == nil {
				t.Fatalf("default shape lacks properties: %+v", it)
			}
			if m.Body != nil || m.MimeContent != nil {
				t.Fatal("FindItem returned a body")
			}
			if seen[m.ItemID.ID] {
				t.Fatalf("item %s on two pages", m.ItemID.ID)
			}
			seen[m.ItemID.ID] = true
		}
		offset = *root.IndexedPagingOffset
		if *root.IncludesLastItemInRange {
			break
		}
		if pages > total {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != total || pages != (total+3)/4 {
		t.Fatalf("paged %d items in %d pages, want %d in %d", len(seen), pages, total, (total+3)/4)
	}
}

// createMIME stores raw MIME in a folder as a received, read message with
// the marker, as the connector does.
func createMIME(t *testing.T, c *soap.Client, as, folder string, raw []byte, mark string) soap.ItemID {
	t.Helper()
	msg := &soap.Message{IsRead: soap.Bool(true)}
	msg.MimeContent = &soap.MimeContent{CharacterSet: "UTF-8", Value: base64.StdEncoding.EncodeToString(raw)}
	msg.ExtendedProperty = []soap.ExtendedProperty{
		soap.NewExtendedProperty(marker, mark),
		soap.NewExtendedProperty(soap.ExtendedFieldURI{PropertyTag: "0x0E07", PropertyType: "Integer"}, "1"),
	}
	var resp soap.CreateItemResponse
	if err := c.Call(ctx(t), as, &soap.CreateItem{MessageDisposition: "SaveOnly", SavedItemFolderID: soap.FolderRef(folder),
		Items: soap.Items{Items: []soap.AnyItem{{Message: msg}}}}, &resp); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("CreateItem", resp.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	return *resp.ResponseMessages.Messages[0].Items.Items[0].Message.ItemID
}

func getMessage(t *testing.T, c *soap.Client, as string, id soap.ItemID, shape soap.ItemShape) (*soap.Message, error) {
	t.Helper()
	var resp soap.GetItemResponse
	if err := c.Call(ctx(t), as, &soap.GetItem{ItemShape: shape, ItemIDs: *soap.ItemList(id)}, &resp); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("GetItem", resp.ResponseMessages.Messages); err != nil {
		return nil, err
	}
	return resp.ResponseMessages.Messages[0].Items.Items[0].Message, nil
}

func TestMIMERoundTripMarkerAndChanges(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := service(sb)
	as := userAddr(sb, 1)
	raw, meta := tenantgen.RenderMail(testSeed, 42, 3, "source.example", tenantgen.Options{Profile: tenantgen.Light})
	before, _ := sb.FolderItemCount(as, "Projects")
	var ff soap.FindFolderResponse
	if err := svc.Call(ctx(t), as, &soap.FindFolder{Traversal: "Shallow", FolderShape: soap.FolderShape{BaseShape: soap.ShapeDefault},
		ParentFolderIDs: *soap.FolderList("msgfolderroot")}, &ff); err != nil {
		t.Fatal(err)
	}
	var projects string
	for _, f := range ff.ResponseMessages.Messages[0].RootFolder.Folders.Folders {
		if f.DisplayName == "Projects" {
			projects = f.FolderID.ID
		}
	}
	id := createMIME(t, svc, as, projects, raw, "src-mailbox|item-42-3")
	if after, _ := sb.FolderItemCount(as, "Projects"); after != before+1 {
		t.Fatalf("Projects holds %d items, want %d", after, before+1)
	}

	m, err := getMessage(t, svc, as, id, soap.ItemShape{BaseShape: soap.ShapeAllProperties, IncludeMimeContent: soap.Bool(true),
		AdditionalProperties: &soap.Paths{ExtendedFieldURI: []soap.ExtendedFieldURI{marker}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := base64.StdEncoding.DecodeString(m.MimeContent.Value)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(raw) {
		t.Fatal("MIME changed on the round trip")
	}
	if *m.Subject != meta.Subject || m.InternetMessageID != meta.MessageID || !*m.IsRead || *m.IsDraft || *m.Size != len(raw) {
		t.Fatalf("properties from MIME: subject %q id %q read %v draft %v size %d", *m.Subject, m.InternetMessageID, *m.IsRead, *m.IsDraft, *m.Size)
	}
	if len(m.ExtendedProperty) != 1 || *m.ExtendedProperty[0].Value != "src-mailbox|item-42-3" {
		t.Fatalf("marker not returned: %+v", m.ExtendedProperty)
	}

	// FindItem with a restriction on the marker is how the connector finds
	// its earlier copies.
	find := func(mark string) []soap.AnyItem {
		var fi soap.FindItemResponse
		if err := svc.Call(ctx(t), as, &soap.FindItem{Traversal: "Shallow", ItemShape: soap.ItemShape{BaseShape: soap.ShapeIDOnly,
			AdditionalProperties: &soap.Paths{ExtendedFieldURI: []soap.ExtendedFieldURI{marker}}},
			IndexedPageItemView: &soap.IndexedPageView{MaxEntriesReturned: 10, BasePoint: "Beginning"},
			Restriction:         &soap.Restriction{Expr: soap.IsEqualTo(soap.Extended(marker), mark)},
			ParentFolderIDs:     *soap.FolderList(projects)}, &fi); err != nil {
			t.Fatal(err)
		}
		if err := soap.Check("FindItem", fi.ResponseMessages.Messages); err != nil {
			t.Fatal(err)
		}
		return fi.ResponseMessages.Messages[0].RootFolder.Items.Items
	}
	if hits := find("src-mailbox|item-42-3"); len(hits) != 1 || hits[0].Message.ItemID.ID != id.ID {
		t.Fatalf("marker search found %d items", len(hits))
	}
	if hits := find("src-mailbox|item-42-4"); len(hits) != 0 {
		t.Fatalf("marker search for another marker found %d items", len(hits))
	}

	// UpdateItem: read flag, categories, flag, importance and the marker.
	set := func(uri string, m *soap.Message) soap.SetItemField {
		return soap.SetItemField{Path: soap.Field(uri), Message: m}
	}
	change := soap.ItemChange{ItemID: &id}
	change.Updates.SetItemField = []soap.SetItemField{
		set("message:IsRead", &soap.Message{IsRead: soap.Bool(false)}),
		set("item:Categories", &soap.Message{ItemFields: soap.ItemFields{Categories: &soap.Strings{String: []string{"Kunde", "Rot"}}}}),
		set("item:Flag", &soap.Message{ItemFields: soap.ItemFields{Flag: &soap.Flag{FlagStatus: "Flagged"}}}),
		set("item:Importance", &soap.Message{ItemFields: soap.ItemFields{Importance: "High"}}),
		{Path: soap.Extended(marker), Message: &soap.Message{ItemFields: soap.ItemFields{ExtendedProperty: []soap.ExtendedProperty{soap.NewExtendedProperty(marker, "v2")}}}},
	}
	var ur soap.UpdateItemResponse
	if err := svc.Call(ctx(t), as, &soap.UpdateItem{ConflictResolution: "NeverOverwrite", MessageDisposition: "SaveOnly",
		ItemChanges: soap.ItemChanges{ItemChange: []soap.ItemChange{change}}}, &ur); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("UpdateItem", ur.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	newKey := ur.ResponseMessages.Messages[0].Items.Items[0].Message.ItemID.ChangeKey
	if newKey == id.ChangeKey {
		t.Fatal("the change key did not change")
	}
	m, err = getMessage(t, svc, as, id, soap.ItemShape{BaseShape: soap.ShapeAllProperties,
		AdditionalProperties: &soap.Paths{ExtendedFieldURI: []soap.ExtendedFieldURI{marker}}})
	if err != nil {
		t.Fatal(err)
	}
	if *m.IsRead || strings.Join(m.Categories.String, ",") != "Kunde,Rot" || m.Flag.FlagStatus != "Flagged" || m.Importance != "High" || *m.ExtendedProperty[0].Value != "v2" {
		t.Fatalf("after UpdateItem: read %v categories %v flag %+v importance %s marker %s", *m.IsRead, m.Categories, m.Flag, m.Importance, *m.ExtendedProperty[0].Value)
	}

	// The old change key now conflicts.
	stale := soap.ItemChange{ItemID: &id}
	stale.Updates.SetItemField = []soap.SetItemField{set("message:IsRead", &soap.Message{IsRead: soap.Bool(true)})}
	ur = soap.UpdateItemResponse{}
	if err := svc.Call(ctx(t), as, &soap.UpdateItem{ConflictResolution: "NeverOverwrite", MessageDisposition: "SaveOnly",
		ItemChanges: soap.ItemChanges{ItemChange: []soap.ItemChange{stale}}}, &ur); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("UpdateItem", ur.ResponseMessages.Messages); soap.Code(err) != "ErrorIrresolvableConflict" {
		t.Fatalf("stale change key: %v", err)
	}

	var dr soap.DeleteItemResponse
	if err := svc.Call(ctx(t), as, &soap.DeleteItem{DeleteType: "HardDelete", ItemIDs: *soap.ItemList(id)}, &dr); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("DeleteItem", dr.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	if _, err := getMessage(t, svc, as, id, soap.ItemShape{BaseShape: soap.ShapeIDOnly}); soap.Code(err) != "ErrorItemNotFound" {
		t.Fatalf("deleted item: %v", err)
	}
	if _, err := getMessage(t, svc, as, soap.ItemID{ID: "not-an-id"}, soap.ItemShape{BaseShape: soap.ShapeIDOnly}); soap.Code(err) != "ErrorInvalidIdMalformed" {
		t.Fatalf("malformed id: %v", err)
	}
}

func TestCreateItemRules(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := service(sb)
	as := userAddr(sb, 2)
	raw, _ := tenantgen.RenderMail(testSeed, 9, 1, "source.example", tenantgen.Options{Profile: tenantgen.Light})
	mime := &soap.MimeContent{Value: base64.StdEncoding.EncodeToString(raw)}
	cases := []struct {
		name        string
		req         soap.CreateItem
		code        string
		draft, read bool
	}{
		{"no disposition", soap.CreateItem{}, "ErrorMessageDispositionRequired", false, false},
		{"without message flags it is a draft", soap.CreateItem{MessageDisposition: "SaveOnly"}, "", true, true},
		{"not MIME", soap.CreateItem{MessageDisposition: "SaveOnly"}, "ErrorMimeContentConversionFailed", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := &soap.Message{}
			msg.MimeContent = mime
			if tc.name == "not MIME" {
				msg.MimeContent = &soap.MimeContent{Value: "!!!"}
			}
			tc.req.Items = soap.Items{Items: []soap.AnyItem{{Message: msg}}}
			var resp soap.CreateItemResponse
			if err := svc.Call(ctx(t), as, &tc.req, &resp); err != nil {
				t.Fatal(err)
			}
			err := soap.Check("CreateItem", resp.ResponseMessages.Messages)
			if soap.Code(err) != tc.code {
				t.Fatalf("got %v, want %q", err, tc.code)
			}
			if tc.code != "" {
				return
			}
			m, err := getMessage(t, svc, as, *resp.ResponseMessages.Messages[0].Items.Items[0].Message.ItemID, soap.ItemShape{BaseShape: soap.ShapeAllProperties})
			if err != nil {
				t.Fatal(err)
			}
			if *m.IsDraft != tc.draft || *m.IsRead != tc.read || m.ParentFolderID.ID != getFolder(t, svc, as, "drafts").FolderID.ID {
				t.Fatalf("draft %v read %v folder %s", *m.IsDraft, *m.IsRead, m.ParentFolderID.ID)
			}
		})
	}
	if sb.SentMessages() != 0 {
		t.Fatalf("%d messages sent", sb.SentMessages())
	}
}

func TestResolveNames(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := service(sb)
	resolve := func(q string) (soap.ResolveNamesResponseMessage, error) {
		var resp soap.ResolveNamesResponse
		if err := svc.Call(ctx(t), "", &soap.ResolveNames{ReturnFullContactData: true, SearchScope: "ActiveDirectory", UnresolvedEntry: q}, &resp); err != nil {
			t.Fatal(err)
		}
		m := resp.ResponseMessages.Messages[0]
		return m, soap.CheckOne("ResolveNames", m)
	}
	all, err := resolve("user")
	if err != nil || all.ResponseCode != "ErrorNameResolutionMultipleResults" || len(all.ResolutionSet.Resolution) != 3 {
		t.Fatalf("prefix: %v %+v", err, all.ResponseMessage)
	}
	one, err := resolve("SMTP:" + userAddr(sb, 2))
	if err != nil || len(one.ResolutionSet.Resolution) != 1 || one.ResolutionSet.Resolution[0].Contact.DisplayName == "" {
		t.Fatalf("exact: %v %+v", err, one)
	}
	if _, err := resolve("nobody-at-all"); soap.Code(err) != "ErrorNameResolutionNoResults" {
		t.Fatalf("no match: %v", err)
	}
	var re *soap.ResponseError
	if _, err := resolve("zz"); !errors.As(err, &re) {
		t.Fatalf("no match is not a ResponseError: %v", err)
	}
}
