package ews_test

import (
	"strings"
	"testing"

	"github.com/emersion/go-vcard"

	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/platform"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/sandbox/ews/schemacheck"
)

// TestListMailboxesPastTheResolveNamesCap: ResolveNames answers at most
// 100 names, so a directory of 250 users whose addresses all start alike
// ("user0001"...) is only listed whole by going deeper below every prefix
// that fills an answer. Every mailbox comes once, by its address.
func TestListMailboxesPastTheResolveNamesCap(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	users := sb.Seed(sandbox.SeedSpec{Users: 250, Seed: testSeed})
	c := open(t, configFor(t, sb))
	mbs, err := c.ListMailboxes(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range mbs {
		if got[m.ID] || m.ID != m.PrimaryAddress || m.DisplayName == "" {
			t.Errorf("mailbox %+v listed twice or without its name", m)
		}
		got[m.ID] = true
	}
	for _, u := range append(users, sandbox.ServiceAccount+"@"+sb.Domain()) {
		if !got[u] {
			t.Errorf("mailbox %s is missing", u)
		}
	}
	if len(mbs) != 251 {
		t.Errorf("%d mailboxes listed, want 251", len(mbs))
	}
	resolves := 0
	var docs [][]byte
	for _, x := range sb.Exchanges() {
		if x.Op == "ResolveNames" {
			resolves++
			docs = append(docs, x.Request, x.Response)
		}
	}
	schemacheck.Check(t, "ResolveNames", docs)
	// Another connector of the process (the next transfer job) reuses the
	// walk for a while.
	again, err := open(t, configFor(t, sb)).ListMailboxes(ctxFor(t))
	if err != nil || len(again) != len(mbs) {
		t.Fatalf("the second listing: %d mailboxes, %v", len(again), err)
	}
	for _, x := range sb.Exchanges() {
		if x.Op == "ResolveNames" {
			t.Fatalf("the second listing walked the directory again")
		}
	}
	if _, err := c.Folders(ctxFor(t), users[0]); err != nil { // something for the cleanup to validate
		t.Fatal(err)
	}
	t.Logf("251 mailboxes listed with %d ResolveNames calls", resolves)
}

// TestContactOverflowIsKeptAndReported: what a contact has no field for
// (a fourth e-mail address, a third work phone, a photo) is kept in its
// notes where it can be, and the write reports it as copied with
// warnings, naming the fields and not their values.
func TestContactOverflowIsKeptAndReported(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	c := open(t, configFor(t, sb))
	ctx := ctxFor(t)
	mb := addMailbox(t, sb, "contacts")
	folder := folderByRole(t, c, mb, platform.RoleContacts)
	card := "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Dora Dürr\r\nN:Dürr;Dora;;;\r\nORG:Dürr AG;Einkauf\r\nTITLE:Leiterin\r\n" +
		"EMAIL;PREF=1:dora@duerr.example\r\nEMAIL:d.duerr@duerr.example\r\nEMAIL:dora@home.example\r\nEMAIL:dora@fourth.example\r\n" +
		"TEL;TYPE=work,voice:+49 30 1\r\nTEL;TYPE=work,voice:+49 30 2\r\nTEL;TYPE=work,voice:+49 30 3\r\nTEL;TYPE=cell:+49 170 1\r\n" +
		"TEL:+49 30 4\r\n" +
		"ADR;TYPE=work:;;Hauptstr. 1;Berlin;;10115;Germany\r\nADR;TYPE=home:;;Nebenweg 2;Potsdam;;14467;Germany\r\n" +
		"BDAY:19800229\r\nNOTE:Met at the fair.\r\nURL:https://duerr.example\r\nPHOTO:data:image/png;base64,iVBORw0KGgo=\r\nEND:VCARD\r\n"
	id, err := c.WriteItem(ctx, mb, folder.ID, platform.Item{Ref: platform.ItemRef{Kind: platform.Contact, ChangeKey: "c1"},
		ContentType: platform.ContentVCard, Content: []byte(card)}, "mf-dora")
	if !platform.IsWarning(err) || id == "" {
		t.Fatalf("WriteItem: %q %v, want an id with a warning", id, err)
	}
	for _, want := range []string{"e-mail address", "phone number", "photo"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("warning %q does not name the %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "fourth.example") || strings.Contains(err.Error(), "+49 30 4") {
		t.Errorf("the warning carries values: %v", err)
	}
	if again, err := c.WriteItem(ctx, mb, folder.ID, platform.Item{Ref: platform.ItemRef{Kind: platform.Contact, ChangeKey: "c1"},
		ContentType: platform.ContentVCard, Content: []byte(card)}, "mf-dora"); again != id || err != nil {
		t.Fatalf("the retried write: %q %v, want the stored copy %q and no error", again, err, id)
	}
	it, err := c.ReadItem(ctx, mb, platform.ItemRef{ID: id, Kind: platform.Contact})
	if err != nil {
		t.Fatal(err)
	}
	back, err := vcard.NewDecoder(strings.NewReader(string(it.Content))).Decode()
	if err != nil {
		t.Fatal(err)
	}
	note := back.PreferredValue(vcard.FieldNote)
	for _, want := range []string{"Met at the fair.", "dora@fourth.example", "+49 30 4"} {
		if !strings.Contains(note, want) {
			t.Errorf("the notes %q do not keep %q", note, want)
		}
	}
	if n := len(back.Values(vcard.FieldEmail)); n != 3 {
		t.Errorf("%d e-mail addresses read back, want 3", n)
	}
	if b := back.PreferredValue(vcard.FieldBirthday); b != "19800229" {
		t.Errorf("birthday %q", b)
	}
	if org := back.PreferredValue(vcard.FieldOrganization); org != "Dürr AG;Einkauf" {
		t.Errorf("organisation %q", org)
	}
	// A group becomes a distribution list with its members.
	group := "BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:group\r\nFN:Einkauf\r\nMEMBER:mailto:dora@duerr.example\r\nMEMBER:mailto:emil@duerr.example\r\nEND:VCARD\r\n"
	gid, err := c.WriteItem(ctx, mb, folder.ID, platform.Item{Ref: platform.ItemRef{Kind: platform.Contact}, ContentType: platform.ContentVCard, Content: []byte(group)}, "mf-group")
	if err != nil {
		t.Fatal(err)
	}
	var gr soap.GetItemResponse
	if err := rawClient(sb).Call(ctx, mb, &soap.GetItem{ItemShape: soap.ItemShape{BaseShape: soap.ShapeAllProperties}, ItemIDs: *soap.ItemList(soap.ItemID{ID: gid})}, &gr); err != nil {
		t.Fatal(err)
	}
	dl := gr.ResponseMessages.Messages[0].Items.Items[0].DistributionList
	if dl == nil || dl.DisplayName != "Einkauf" || dl.Members == nil || len(dl.Members.Member) != 2 {
		t.Fatalf("the group is stored as %+v", gr.ResponseMessages.Messages[0].Items.Items[0])
	}
	g, err := c.ReadItem(ctx, mb, platform.ItemRef{ID: gid, Kind: platform.Contact})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"KIND:group", "MEMBER:mailto:dora@duerr.example", "MEMBER:mailto:emil@duerr.example"} {
		if !strings.Contains(string(g.Content), want) {
			t.Errorf("the group reads back without %s:\n%s", want, g.Content)
		}
	}
}
