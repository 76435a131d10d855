package google_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/api/people/v1"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

const cardAna = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:3f1c\r\nFN:Ana Lima\r\nN:Lima;Ana;;Dr.;\r\nNICKNAME:Aninha\r\n" +
	"EMAIL;TYPE=work;PREF=1:ana@acme.example\r\nEMAIL;TYPE=home:ana.lima@mail.example\r\nEMAIL:ana@old.example\r\nEMAIL;TYPE=work:a.lima@acme.example\r\n" +
	"TEL;TYPE=cell:+49 170 1234567\r\nTEL;TYPE=work,voice:+49 30 555 0100\r\nTEL;TYPE=home,fax:+49 30 555 0101\r\nTEL;TYPE=home,voice:+49 30 555 0102\r\n" +
	"ADR;TYPE=work:;;Unter den Linden 1;Berlin;;10117;Germany\r\nADR;TYPE=home:;;Rua Augusta 10;Lisboa;;1100-053;Portugal\r\nADR:;;Third Street 3;Porto;;4000;Portugal\r\n" +
	"BDAY:19850412\r\nANNIVERSARY:20100605\r\nNOTE:Met at the migration workshop.\r\nORG:Acme GmbH;Sales\r\nTITLE:Account Manager\r\n" +
	"URL:https://acme.example/ana\r\nIMPP:xmpp:ana@chat.example\r\nRELATED;TYPE=spouse;VALUE=text:Rui Lima\r\nX-FAVOURITE-COLOUR:teal\r\n" +
	"CATEGORIES:Kunden,VIP\r\nEND:VCARD\r\n"

// TestContactsGroupsAndDelta writes a contact with more addresses, phones
// and e-mails than Exchange can hold, into a group folder with categories:
// everything comes back, the groups are contact groups, and the sync
// token reports a contact moved to another group, a deleted one, and
// expires as invalid_input.
func TestContactsGroupsAndDelta(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	c := open(t, configFor(sb))
	ctx := ctxFor(t)
	mb := "ana@" + sb.Domain()
	sb.AddUser(mb, "Ana Lima")
	partners, err := c.EnsureFolder(ctx, mb, platform.Folder{Name: "Partners", Kind: platform.Contact})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.EnsureFolder(ctx, mb, platform.Folder{Name: "partners", Kind: platform.Contact})
	if err != nil || again.ID != partners.ID {
		t.Fatalf("EnsureFolder twice: %+v then %+v, %v", partners, again, err)
	}
	id, err := c.WriteItem(ctx, mb, partners.ID, platform.Item{Ref: platform.ItemRef{ChangeKey: "v1"}, ContentType: platform.ContentVCard,
		Content: []byte(cardAna), Categories: []string{"Newsletter"}}, "mf-ana")
	if err != nil {
		t.Fatal(err)
	}
	groups, err := peopleAs(t, sb, mb).ContactGroups.List().Do()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups.ContactGroups {
		if g.GroupType == "USER_CONTACT_GROUP" {
			names = append(names, g.Name)
		}
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "Kunden,Newsletter,Partners,VIP" {
		t.Errorf("contact groups %v, want the folder's and one per category", names)
	}
	refs, delta, _ := enumerate(t, c, mb, partners.ID, "")
	if len(refs) != 1 || refs[0].ID != id {
		t.Fatalf("the Partners folder lists %+v, want just %s", refs, id)
	}
	it, err := c.ReadItem(ctx, mb, refs[0])
	if err != nil {
		t.Fatal(err)
	}
	got, want := contactFactsOf(t, it.Content), contactFactsOf(t, []byte(cardAna))
	if got != want {
		t.Errorf("read back\n got %+v\nwant %+v", got, want)
	}
	for _, s := range []string{"NICKNAME:Aninha", "ANNIVERSARY:20100605", "TITLE:Account Manager", "IMPP:xmpp:ana@chat.example",
		"RELATED;TYPE=spouse;VALUE=text:Rui Lima", "X-FAVOURITE-COLOUR:teal", "UID:urn:uuid:3f1c"} {
		if !strings.Contains(string(it.Content), s) {
			t.Errorf("the vCard read back lacks %q:\n%s", s, it.Content)
		}
	}
	slices.Sort(it.Categories)
	if strings.Join(it.Categories, ",") != "Kunden,Newsletter,VIP" {
		t.Errorf("categories %v, want the groups other than the folder's", it.Categories)
	}
	contactsFolder := folderByRole(t, c, mb, platform.RoleContacts)
	if refs, _, _ := enumerate(t, c, mb, contactsFolder.ID, ""); len(refs) != 0 {
		t.Errorf("the contact is listed in My Contacts too: %+v", refs)
	}
	_, contactsDelta, _ := enumerate(t, c, mb, contactsFolder.ID, "")

	// The user takes the contact out of Partners: it leaves that folder
	// for its first remaining group's.
	svc := peopleAs(t, sb, mb)
	partnersRN := strings.TrimPrefix(partners.ID, "contacts:")
	if _, err := svc.ContactGroups.Members.Modify(partnersRN, &people.ModifyContactGroupMembersRequest{ResourceNamesToRemove: []string{id}}).Do(); err != nil {
		t.Fatal(err)
	}
	moved, delta2, _ := enumerate(t, c, mb, partners.ID, delta)
	if len(moved) != 1 || moved[0].ID != id || !moved[0].Deleted {
		t.Errorf("Partners delta after the move: %+v, want %s deleted", moved, id)
	}
	if unchanged, _, _ := enumerate(t, c, mb, contactsFolder.ID, contactsDelta); slices.ContainsFunc(unchanged, func(r platform.ItemRef) bool { return !r.Deleted }) {
		t.Errorf("My Contacts delta lists %+v; the contact is in a group", unchanged)
	}
	if _, err := svc.People.DeleteContact(id).Do(); err != nil {
		t.Fatal(err)
	}
	gone, _, _ := enumerate(t, c, mb, partners.ID, delta2)
	if !slices.ContainsFunc(gone, func(r platform.ItemRef) bool { return r.ID == id && r.Deleted }) {
		t.Errorf("delta after the deletion: %+v", gone)
	}
	sb.ExpireSyncTokens(mb)
	if _, err := c.Items(ctx, mb, partners.ID, delta2); !errs.Is(err, errs.Invalid) {
		t.Errorf("an expired sync token: %v, want invalid_input", err)
	}
}
