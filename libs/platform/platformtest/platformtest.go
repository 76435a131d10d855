// Package platformtest is the connector contract suite. Every connector (the
// in-memory sandbox, Microsoft 365, Google Workspace, Exchange) runs it, so
// that discovery and transfer can rely on the behaviour platform documents
// rather than on what one connector happens to do.
//
// Each subtest asks for its own fixture, so subtests run in parallel without
// seeing each other's writes; fixtures should be cheap (a fresh sandbox
// tenant, not a fresh server).
package platformtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// Fixture is what a connector under test provides.
type Fixture struct {
	// Connector is the connector under test.
	Connector platform.Connector
	// Seeded is the id of a mailbox with items in at least one mail, one
	// calendar and one contact folder.
	Seeded string
	// Empty is the id of a mailbox without items, for writes.
	Empty string
	// AddItem adds an item to a mailbox the way new mail arrives (not
	// through the connector's WriteItem), for the delta test.
	AddItem func(ctx context.Context, mailboxID, folderID string, item platform.Item) (platform.ItemRef, error)
	// ChangeItem changes an item of a mailbox the way its user would (not
	// through the connector under test), so that its ChangeKey changes: a
	// message's read state or flag, an event's or contact's categories. The
	// change must not be one that makes the platform notify anyone.
	ChangeItem func(ctx context.Context, mailboxID string, ref platform.ItemRef) error
	// RemoveItem deletes an item of a mailbox for good, the way its user
	// would, for the delta test of deletions.
	RemoveItem func(ctx context.Context, mailboxID string, ref platform.ItemRef) error
	// WantPaging makes the suite fail unless some folder of Seeded takes
	// more than one page, so that paging is really exercised. Set it when
	// the fixture can choose a small page size or seed enough items.
	WantPaging bool
	// ExactSizes makes the suite require ItemRef.Size to equal the length
	// of the content ReadItem returns. Platforms that report a store size
	// (Microsoft Graph) leave it off.
	ExactSizes bool
}

// MaxTooLargeProbe is the largest Limits().MaxItemBytes for which the suite
// builds an over-limit item; fixtures of connectors with larger limits must
// lower them (sandboxes can) or the size-limit test is skipped.
const MaxTooLargeProbe = 64 << 20

// Run runs the contract suite. newFixture is called once per subtest.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f Fixture)
	}{
		{"MailboxesListed", testMailboxesListed},
		{"WellKnownFolders", testWellKnownFolders},
		{"EnumerationMatchesStats", testEnumerationMatchesStats},
		{"ReadItemContentParses", testReadItemContent},
		{"EnsureFolderIdempotent", testEnsureFolderIdempotent},
		{"WriteItemFindByMarker", testWriteFind},
		{"WriteTwiceStoresOnce", testWriteTwice},
		{"VersionsAndDelete", testVersions},
		{"ChangedItemReplacesItsCopy", testChangedItem},
		{"DeltaReturnsOnlyNew", testDelta},
		{"DeltaReportsDeletions", testDeltaDeleted},
		{"ItemTooLarge", testTooLarge},
		{"UnknownIsNotFound", testNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newFixture(t))
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func testMailboxesListed(t *testing.T, f Fixture) {
	mbs, err := f.Connector.ListMailboxes(ctxFor(t))
	if err != nil {
		t.Fatalf("ListMailboxes: %v", err)
	}
	seen := map[string]bool{}
	for _, m := range mbs {
		if m.ID == "" || !strings.Contains(m.PrimaryAddress, "@") {
			t.Errorf("mailbox %+v: want an id and an email address", m)
		}
		if seen[m.ID] {
			t.Errorf("mailbox id %q listed twice", m.ID)
		}
		seen[m.ID] = true
	}
	for _, id := range []string{f.Seeded, f.Empty} {
		if !seen[id] {
			t.Errorf("mailbox %q missing from ListMailboxes (%d listed)", id, len(mbs))
		}
	}
}

func folderByRole(t *testing.T, folders []platform.Folder, r platform.Role) platform.Folder {
	t.Helper()
	for _, f := range folders {
		if f.Role == r {
			return f
		}
	}
	t.Fatalf("no folder with role %q", r)
	return platform.Folder{}
}

func testWellKnownFolders(t *testing.T, f Fixture) {
	for _, mb := range []string{f.Seeded, f.Empty} {
		folders, err := f.Connector.Folders(ctxFor(t), mb)
		if err != nil {
			t.Fatalf("Folders(%s): %v", mb, err)
		}
		ids := map[string]bool{}
		roles := map[platform.Role]int{}
		for _, fo := range folders {
			if fo.ID == "" || ids[fo.ID] {
				t.Errorf("folder %+v: empty or repeated id", fo)
			}
			ids[fo.ID] = true
			if fo.Role != platform.RoleNone {
				roles[fo.Role]++
			}
		}
		for _, fo := range folders {
			if fo.ParentID != "" && !ids[fo.ParentID] {
				t.Errorf("folder %q has parent %q, which is not listed", fo.Name, fo.ParentID)
			}
		}
		want := map[platform.Role]platform.ItemKind{
			platform.RoleInbox: platform.Mail, platform.RoleSent: platform.Mail,
			platform.RoleDrafts: platform.Mail, platform.RoleDeleted: platform.Mail,
			platform.RoleCalendar: platform.Event, platform.RoleContacts: platform.Contact,
		}
		for role, kind := range want {
			if roles[role] != 1 {
				t.Errorf("mailbox %s: %d folders with role %q, want 1", mb, roles[role], role)
				continue
			}
			if got := folderByRole(t, folders, role).Kind; got != kind {
				t.Errorf("mailbox %s: role %q has kind %q, want %q", mb, role, got, kind)
			}
		}
	}
}

// enumerate pages through a folder and checks the page invariants.
func enumerate(t *testing.T, c platform.Source, mb, folder, token string) (refs []platform.ItemRef, delta string, pages int) {
	t.Helper()
	ctx := ctxFor(t)
	seen := map[string]bool{}
	for {
		p, err := c.Items(ctx, mb, folder, token)
		if err != nil {
			t.Fatalf("Items(%s, %s): %v", mb, folder, err)
		}
		pages++
		if (p.NextToken == "") == (p.DeltaToken == "") {
			t.Fatalf("page %d of folder %s: want exactly one of NextToken and DeltaToken, got %q and %q",
				pages, folder, p.NextToken, p.DeltaToken)
		}
		for _, r := range p.Items {
			if seen[r.ID] {
				t.Fatalf("folder %s: item %s listed twice in one enumeration", folder, r.ID)
			}
			seen[r.ID] = true
			if r.ID == "" {
				t.Errorf("folder %s: item without id", folder)
			}
			if r.FolderID != "" && r.FolderID != folder {
				t.Errorf("item %s: FolderID %q, enumerated from %q", r.ID, r.FolderID, folder)
			}
		}
		refs = append(refs, p.Items...)
		if p.DeltaToken != "" {
			return refs, p.DeltaToken, pages
		}
		if pages > 100000 {
			t.Fatalf("folder %s: more than 100000 pages, the tokens do not advance", folder)
		}
		token = p.NextToken
	}
}

func testEnumerationMatchesStats(t *testing.T, f Fixture) {
	ctx := ctxFor(t)
	folders, err := f.Connector.Folders(ctx, f.Seeded)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.Connector.Stats(ctx, f.Seeded)
	if err != nil {
		t.Fatal(err)
	}
	var got platform.Stats
	got.Folders = len(folders)
	multiPage := false
	kinds := map[platform.ItemKind]bool{}
	for _, fo := range folders {
		refs, _, pages := enumerate(t, f.Connector, f.Seeded, fo.ID, "")
		multiPage = multiPage || pages > 1
		for _, r := range refs {
			if r.Deleted {
				t.Errorf("item %s: a full enumeration listed a deleted item", r.ID)
			}
			if r.Kind != fo.Kind {
				t.Errorf("item %s has kind %q in %q folder %q", r.ID, r.Kind, fo.Kind, fo.Name)
			}
			kinds[r.Kind] = true
			switch r.Kind {
			case platform.Mail:
				got.Mail++
			case platform.Event:
				got.Events++
			case platform.Contact:
				got.Contacts++
			}
			got.SizeBytes += r.Size
			got.LargestItem = max(got.LargestItem, r.Size)
		}
	}
	if got != st {
		t.Errorf("enumeration adds up to %+v, Stats says %+v", got, st)
	}
	for _, k := range []platform.ItemKind{platform.Mail, platform.Event, platform.Contact} {
		if !kinds[k] {
			t.Errorf("seeded mailbox has no %s items; the fixture must seed all kinds", k)
		}
	}
	if f.WantPaging && !multiPage {
		t.Errorf("no folder took more than one page; paging was not exercised")
	}
}

func testReadItemContent(t *testing.T, f Fixture) {
	ctx := ctxFor(t)
	folders, err := f.Connector.Folders(ctx, f.Seeded)
	if err != nil {
		t.Fatal(err)
	}
	checked := map[platform.ItemKind]int{}
	for _, fo := range folders {
		refs, _, _ := enumerate(t, f.Connector, f.Seeded, fo.ID, "")
		for i, r := range refs {
			if i >= 5 {
				break
			}
			it, err := f.Connector.ReadItem(ctx, f.Seeded, r)
			if err != nil {
				t.Fatalf("ReadItem(%s): %v", r.ID, err)
			}
			if it.Ref.ID != r.ID {
				t.Errorf("ReadItem(%s) returned item %s", r.ID, it.Ref.ID)
			}
			if f.ExactSizes && int64(len(it.Content)) != r.Size {
				t.Errorf("item %s: listed size %d, content is %d bytes", r.ID, r.Size, len(it.Content))
			}
			if err := CheckContent(r.Kind, it); err != nil {
				t.Errorf("item %s in %q: %v", r.ID, fo.Name, err)
			}
			checked[r.Kind]++
		}
	}
	for _, k := range []platform.ItemKind{platform.Mail, platform.Event, platform.Contact} {
		if checked[k] == 0 {
			t.Errorf("no %s item was read", k)
		}
	}
}

// CheckContent reports whether an item's content is well-formed for its
// kind: RFC 5322 with parseable MIME parts for mail, an iCalendar VEVENT for
// events, a vCard for contacts.
func CheckContent(kind platform.ItemKind, it platform.Item) error {
	switch kind {
	case platform.Mail:
		if it.ContentType != platform.ContentMIME {
			return fmt.Errorf("content type %q, want %q", it.ContentType, platform.ContentMIME)
		}
		return checkMIME(it.Content)
	case platform.Event:
		if it.ContentType != platform.ContentCalendar {
			return fmt.Errorf("content type %q, want %q", it.ContentType, platform.ContentCalendar)
		}
		s := string(it.Content)
		for _, want := range []string{"BEGIN:VCALENDAR", "BEGIN:VEVENT", "UID:", "DTSTART", "END:VEVENT", "END:VCALENDAR"} {
			if !strings.Contains(s, want) {
				return fmt.Errorf("calendar item without %s", want)
			}
		}
	case platform.Contact:
		if it.ContentType != platform.ContentVCard {
			return fmt.Errorf("content type %q, want %q", it.ContentType, platform.ContentVCard)
		}
		s := string(it.Content)
		for _, want := range []string{"BEGIN:VCARD", "VERSION:", "FN:", "END:VCARD"} {
			if !strings.Contains(s, want) {
				return fmt.Errorf("contact without %s", want)
			}
		}
	default:
		return fmt.Errorf("unknown item kind %q", kind)
	}
	return nil
}

func checkMIME(raw []byte) error {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("not RFC 5322: %v", err)
	}
	if m.Header.Get("Message-ID") == "" {
		return errors.New("no Message-ID")
	}
	if _, err := m.Header.Date(); err != nil {
		return fmt.Errorf("Date: %v", err)
	}
	if _, err := m.Header.AddressList("From"); err != nil {
		return fmt.Errorf("From: %v", err)
	}
	if _, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		return fmt.Errorf("Subject: %v", err)
	}
	return checkPart(m.Header.Get("Content-Type"), m.Body, 0)
}

func checkPart(ctype string, body io.Reader, depth int) error {
	if ctype == "" {
		ctype = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("Content-Type %q: %v", ctype, err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		_, err := io.Copy(io.Discard, body)
		return err
	}
	if depth > 10 {
		return errors.New("multipart nested deeper than 10")
	}
	mr := multipart.NewReader(body, params["boundary"])
	parts := 0
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s part %d: %v", mt, parts+1, err)
		}
		parts++
		if cd := p.Header.Get("Content-Disposition"); cd != "" {
			if _, _, err := mime.ParseMediaType(cd); err != nil {
				return fmt.Errorf("Content-Disposition %q: %v", cd, err)
			}
		}
		if err := checkPart(p.Header.Get("Content-Type"), p, depth+1); err != nil {
			return err
		}
	}
	if parts == 0 {
		return fmt.Errorf("%s without parts", mt)
	}
	return nil
}

var msgCounter atomic.Int64

// Message returns a small RFC 5322 message with a unique Message-ID, padded
// to at least minSize bytes.
func Message(subject string, minSize int) platform.Item {
	id := fmt.Sprintf("<contract-%d-%d@mailferry.test>", time.Now().UnixNano(), msgCounter.Add(1))
	var b bytes.Buffer
	fmt.Fprintf(&b, "Message-ID: %s\r\nDate: Mon, 02 Mar 2026 09:00:00 +0100\r\n", id)
	fmt.Fprintf(&b, "From: Contract Test <contract@mailferry.test>\r\nTo: Someone <someone@mailferry.test>\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", mime.QEncoding.Encode("utf-8", subject))
	b.WriteString("Hello from the connector contract suite.\r\n")
	line := strings.Repeat("x", 70) + "\r\n"
	for b.Len() < minSize {
		b.WriteString(line)
	}
	return platform.Item{
		Ref:         platform.ItemRef{Kind: platform.Mail},
		ContentType: platform.ContentMIME,
		Content:     b.Bytes(),
		Received:    time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
	}
}

func messageID(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("content is not RFC 5322: %v", err)
	}
	return m.Header.Get("Message-ID")
}

func testEnsureFolderIdempotent(t *testing.T, f Fixture) {
	ctx := ctxFor(t)
	c := f.Connector
	a, err := c.EnsureFolder(ctx, f.Empty, platform.Folder{Name: "Contract Projects", Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.EnsureFolder(ctx, f.Empty, platform.Folder{Name: "Contract Projects", Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == "" || a.ID != b.ID {
		t.Fatalf("EnsureFolder twice gave ids %q and %q, want one non-empty id", a.ID, b.ID)
	}
	child1, err := c.EnsureFolder(ctx, f.Empty, platform.Folder{ParentID: a.ID, Name: "2026", Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	child2, err := c.EnsureFolder(ctx, f.Empty, platform.Folder{ParentID: a.ID, Name: "2026", Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	if child1.ID != child2.ID || child1.ID == a.ID || child1.ParentID != a.ID {
		t.Fatalf("nested EnsureFolder: %+v then %+v under %s", child1, child2, a.ID)
	}
	folders, err := c.Folders(ctx, f.Empty)
	if err != nil {
		t.Fatal(err)
	}
	var named, nested int
	for _, fo := range folders {
		if fo.Name == "Contract Projects" {
			named++
		}
		if fo.ID == child1.ID {
			nested++
			if fo.ParentID != a.ID {
				t.Errorf("listed folder %q has parent %q, want %q", fo.Name, fo.ParentID, a.ID)
			}
		}
	}
	if named != 1 || nested != 1 {
		t.Errorf("Folders lists the folder %d times and its child %d times, want 1 and 1", named, nested)
	}
	inbox := folderByRole(t, folders, platform.RoleInbox)
	got, err := c.EnsureFolder(ctx, f.Empty, platform.Folder{Name: inbox.Name, Role: platform.RoleInbox, Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != inbox.ID {
		t.Errorf("EnsureFolder(role inbox) = %q, want the existing inbox %q", got.ID, inbox.ID)
	}
}

func inboxOf(t *testing.T, c platform.Connector, mb string) platform.Folder {
	t.Helper()
	folders, err := c.Folders(ctxFor(t), mb)
	if err != nil {
		t.Fatal(err)
	}
	return folderByRole(t, folders, platform.RoleInbox)
}

func testWriteFind(t *testing.T, f Fixture) {
	ctx := ctxFor(t)
	c := f.Connector
	inbox := inboxOf(t, c, f.Empty)
	marker := fmt.Sprintf("mf-contract-%d", msgCounter.Add(1))
	if got, err := c.FindByMarker(ctx, f.Empty, marker); err != nil || len(got) != 0 {
		t.Fatalf("FindByMarker before writing: %+v, %v", got, err)
	}
	msg := Message("Contract write – ünïcode", 2048)
	msg.Ref.ChangeKey = "contract-v1"
	id, err := c.WriteItem(ctx, f.Empty, inbox.ID, msg, marker)
	if err != nil {
		t.Fatalf("WriteItem: %v", err)
	}
	if id == "" {
		t.Fatal("WriteItem returned an empty id")
	}
	want := platform.Placed{ID: id, FolderID: inbox.ID, Version: "contract-v1"}
	if got, err := c.FindByMarker(ctx, f.Empty, marker); err != nil || len(got) != 1 || got[0] != want {
		t.Fatalf("FindByMarker = %+v, %v; want just %+v", got, err, want)
	}
	it, err := c.ReadItem(ctx, f.Empty, platform.ItemRef{ID: id, FolderID: inbox.ID, Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	if want, have := messageID(t, msg.Content), messageID(t, it.Content); want != have {
		t.Errorf("written Message-ID %q, read back %q", want, have)
	}
	refs, _, _ := enumerate(t, c, f.Empty, inbox.ID, "")
	if len(refs) != 1 || refs[0].ID != id {
		t.Errorf("inbox lists %v, want just %s", refs, id)
	}
	if got, err := c.FindByMarker(ctx, f.Empty, marker+"-other"); err != nil || len(got) != 0 {
		t.Errorf("FindByMarker of an unwritten marker: %+v, %v", got, err)
	}
}

func testWriteTwice(t *testing.T, f Fixture) {
	ctx := ctxFor(t)
	c := f.Connector
	inbox := inboxOf(t, c, f.Empty)
	marker := fmt.Sprintf("mf-contract-twice-%d", msgCounter.Add(1))
	first, err := c.WriteItem(ctx, f.Empty, inbox.ID, Message("first", 1024), marker)
	if err != nil {
		t.Fatal(err)
	}
	// A retry after a lost response resends the same item; a re-run may even
	// carry a re-encoded copy. Either way nothing new may be stored.
	for i := 0; i < 2; i++ {
		again, err := c.WriteItem(ctx, f.Empty, inbox.ID, Message("second", 1024), marker)
		if err != nil {
			t.Fatal(err)
		}
		if again != first {
			t.Fatalf("second write with the same marker returned %q, want %q", again, first)
		}
	}
	st, err := c.Stats(ctx, f.Empty)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mail != 1 {
		t.Errorf("after three writes with one marker Stats.Mail = %d, want 1", st.Mail)
	}
	refs, _, _ := enumerate(t, c, f.Empty, inbox.ID, "")
	if len(refs) != 1 {
		t.Errorf("inbox lists %d items, want 1", len(refs))
	}
}

func testDelta(t *testing.T, f Fixture) {
	ctx := ctxFor(t)
	c := f.Connector
	inbox := inboxOf(t, c, f.Seeded)
	before, delta, _ := enumerate(t, c, f.Seeded, inbox.ID, "")
	unchanged, delta2, _ := enumerate(t, c, f.Seeded, inbox.ID, delta)
	if len(unchanged) != 0 {
		t.Errorf("delta without changes returned %d items", len(unchanged))
	}
	ref, err := f.AddItem(ctx, f.Seeded, inbox.ID, Message("arrived after the full run", 1500))
	if err != nil {
		t.Fatalf("AddItem: %v", err)
	}
	changed, _, _ := enumerate(t, c, f.Seeded, inbox.ID, delta2)
	if len(changed) != 1 || changed[0].ID != ref.ID || changed[0].Deleted {
		t.Fatalf("delta after one new item returned %+v, want just %s", changed, ref.ID)
	}
	for _, r := range before {
		if r.ID == ref.ID {
			t.Fatalf("new item id %s was already used by an existing item", ref.ID)
		}
	}
	it, err := c.ReadItem(ctx, f.Seeded, changed[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckContent(platform.Mail, it); err != nil {
		t.Errorf("new item: %v", err)
	}
	after, _, _ := enumerate(t, c, f.Seeded, inbox.ID, "")
	if len(after) != len(before)+1 {
		t.Errorf("full enumeration after the delta lists %d items, want %d", len(after), len(before)+1)
	}
}

// testVersions: another version of an item is another copy, the same
// version in the same folder is not, and DeleteItem removes exactly the
// copy it is given, again and again without error.
func testVersions(t *testing.T, f Fixture) {
	ctx := ctxFor(t)
	c := f.Connector
	inbox := inboxOf(t, c, f.Empty)
	marker := fmt.Sprintf("mf-contract-versions-%d", msgCounter.Add(1))
	v1 := Message("version one", 1024)
	v1.Ref.ChangeKey = "contract-v1"
	id1, err := c.WriteItem(ctx, f.Empty, inbox.ID, v1, marker)
	if err != nil {
		t.Fatal(err)
	}
	v2 := v1
	v2.Ref.ChangeKey = "contract-v2"
	v2.Read, v2.Flagged = true, true
	id2, err := c.WriteItem(ctx, f.Empty, inbox.ID, v2, marker)
	if err != nil {
		t.Fatal(err)
	}
	if id2 == id1 {
		t.Fatalf("a new version was not stored: both writes returned %q", id1)
	}
	if again, err := c.WriteItem(ctx, f.Empty, inbox.ID, v2, marker); err != nil || again != id2 {
		t.Fatalf("writing version 2 again = %q, %v; want %q", again, err, id2)
	}
	got, err := c.FindByMarker(ctx, f.Empty, marker)
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]platform.Placed{}
	for _, p := range got {
		versions[p.Version] = p
	}
	old := platform.Placed{ID: id1, FolderID: inbox.ID, Version: "contract-v1"}
	cur := platform.Placed{ID: id2, FolderID: inbox.ID, Version: "contract-v2"}
	if len(got) != 2 || versions["contract-v1"] != old || versions["contract-v2"] != cur {
		t.Fatalf("FindByMarker after two versions = %+v, want %+v and %+v", got, old, cur)
	}
	for i := 0; i < 2; i++ {
		if err := c.DeleteItem(ctx, f.Empty, old); err != nil {
			t.Fatalf("DeleteItem (attempt %d): %v", i+1, err)
		}
	}
	if got, err := c.FindByMarker(ctx, f.Empty, marker); err != nil || len(got) != 1 || got[0] != cur {
		t.Fatalf("FindByMarker after deleting version 1 = %+v, %v; want just %+v", got, err, cur)
	}
	refs, _, _ := enumerate(t, c, f.Empty, inbox.ID, "")
	if len(refs) != 1 || refs[0].ID != id2 {
		t.Fatalf("inbox lists %+v, want just %s", refs, id2)
	}
	it, err := c.ReadItem(ctx, f.Empty, refs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !it.Read || !it.Flagged {
		t.Errorf("the copy of version 2 reads back read=%v flagged=%v, want both", it.Read, it.Flagged)
	}
	if err := c.DeleteItem(ctx, f.Empty, cur); err != nil {
		t.Fatal(err)
	}
	if got, err := c.FindByMarker(ctx, f.Empty, marker); err != nil || len(got) != 0 {
		t.Fatalf("FindByMarker after deleting every copy = %+v, %v", got, err)
	}
}

// testChangedItem copies one item of each kind, changes it at the source
// and replaces the copy the way a delta run does: the new version first,
// then the old copy deleted. Exactly one copy remains, with the new version.
func testChangedItem(t *testing.T, f Fixture) {
	if f.ChangeItem == nil {
		t.Fatal("the fixture has no ChangeItem hook")
	}
	ctx := ctxFor(t)
	c := f.Connector
	srcFolders, err := c.Folders(ctx, f.Seeded)
	if err != nil {
		t.Fatal(err)
	}
	dstFolders, err := c.Folders(ctx, f.Empty)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []platform.Role{platform.RoleInbox, platform.RoleCalendar, platform.RoleContacts} {
		t.Run(string(role), func(t *testing.T) {
			sf, df := folderByRole(t, srcFolders, role), folderByRole(t, dstFolders, role)
			refs, delta, _ := enumerate(t, c, f.Seeded, sf.ID, "")
			if len(refs) == 0 {
				t.Fatalf("the seeded %s folder is empty", role)
			}
			ref := refs[0]
			before, err := c.ReadItem(ctx, f.Seeded, ref)
			if err != nil {
				t.Fatal(err)
			}
			marker := fmt.Sprintf("mf-contract-changed-%d", msgCounter.Add(1))
			first, err := c.WriteItem(ctx, f.Empty, df.ID, before, marker)
			if err != nil {
				t.Fatalf("WriteItem: %v", err)
			}
			old := platform.Placed{ID: first, FolderID: df.ID, Version: before.Ref.ChangeKey}
			if got, err := c.FindByMarker(ctx, f.Empty, marker); err != nil || len(got) != 1 || got[0] != old {
				t.Fatalf("FindByMarker after the first copy = %+v, %v; want just %+v", got, err, old)
			}

			if err := f.ChangeItem(ctx, f.Seeded, ref); err != nil {
				t.Fatalf("ChangeItem: %v", err)
			}
			changed, _, _ := enumerate(t, c, f.Seeded, sf.ID, delta)
			listed := false
			for _, r := range changed {
				if r.ID == ref.ID {
					listed = listed || !r.Deleted
				}
			}
			if !listed {
				t.Fatalf("the delta after the change lists %+v, not the changed item %s", changed, ref.ID)
			}
			after, err := c.ReadItem(ctx, f.Seeded, ref)
			if err != nil {
				t.Fatal(err)
			}
			if after.Ref.ChangeKey == "" || after.Ref.ChangeKey == before.Ref.ChangeKey {
				t.Fatalf("change key %q before and %q after the change, want two different ones", before.Ref.ChangeKey, after.Ref.ChangeKey)
			}
			second, err := c.WriteItem(ctx, f.Empty, df.ID, after, marker)
			if err != nil {
				t.Fatalf("WriteItem of the new version: %v", err)
			}
			if second == first {
				t.Fatalf("the new version was not stored: both writes returned %q", first)
			}
			if err := c.DeleteItem(ctx, f.Empty, old); err != nil {
				t.Fatalf("DeleteItem of the old copy: %v", err)
			}
			cur := platform.Placed{ID: second, FolderID: df.ID, Version: after.Ref.ChangeKey}
			if got, err := c.FindByMarker(ctx, f.Empty, marker); err != nil || len(got) != 1 || got[0] != cur {
				t.Fatalf("FindByMarker after the replacement = %+v, %v; want just %+v", got, err, cur)
			}
			copies, _, _ := enumerate(t, c, f.Empty, df.ID, "")
			if len(copies) != 1 || copies[0].ID != second {
				t.Fatalf("the destination %s folder lists %+v, want just %s", role, copies, second)
			}
			back, err := c.ReadItem(ctx, f.Empty, copies[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckContent(ref.Kind, back); err != nil {
				t.Errorf("the new copy: %v", err)
			}
			if ref.Kind == platform.Mail && (back.Read != after.Read || back.Flagged != after.Flagged) {
				t.Errorf("the new copy has read=%v flagged=%v, the source read=%v flagged=%v", back.Read, back.Flagged, after.Read, after.Flagged)
			}
		})
	}
}

// testDeltaDeleted: an item removed at the source comes back from the
// next delta as Deleted, and full enumerations no longer list it.
func testDeltaDeleted(t *testing.T, f Fixture) {
	if f.RemoveItem == nil {
		t.Fatal("the fixture has no RemoveItem hook")
	}
	ctx := ctxFor(t)
	c := f.Connector
	inbox := inboxOf(t, c, f.Seeded)
	before, delta, _ := enumerate(t, c, f.Seeded, inbox.ID, "")
	if len(before) == 0 {
		t.Fatal("the seeded inbox is empty")
	}
	gone := before[len(before)-1]
	if err := f.RemoveItem(ctx, f.Seeded, gone); err != nil {
		t.Fatalf("RemoveItem: %v", err)
	}
	changed, _, _ := enumerate(t, c, f.Seeded, inbox.ID, delta)
	if len(changed) != 1 || changed[0].ID != gone.ID || !changed[0].Deleted {
		t.Fatalf("delta after one deletion returned %+v, want just %s deleted", changed, gone.ID)
	}
	after, _, _ := enumerate(t, c, f.Seeded, inbox.ID, "")
	if len(after) != len(before)-1 {
		t.Errorf("full enumeration after the deletion lists %d items, want %d", len(after), len(before)-1)
	}
	for _, r := range after {
		if r.ID == gone.ID {
			t.Errorf("full enumeration still lists the deleted item %s", gone.ID)
		}
	}
}

func testTooLarge(t *testing.T, f Fixture) {
	ctx := ctxFor(t)
	c := f.Connector
	limit := c.Limits().MaxItemBytes
	if limit <= 0 {
		t.Fatalf("Limits().MaxItemBytes = %d, want a positive limit", limit)
	}
	if limit > MaxTooLargeProbe {
		t.Skipf("limit %d bytes is over %d; lower it in the fixture to run this test", limit, MaxTooLargeProbe)
	}
	inbox := inboxOf(t, c, f.Empty)
	msg := Message("too large", int(limit)+1)
	size := len(msg.Content)
	marker := fmt.Sprintf("mf-contract-large-%d", msgCounter.Add(1))
	_, err := c.WriteItem(ctx, f.Empty, inbox.ID, msg, marker)
	if !errs.Is(err, errs.ItemTooLarge) {
		t.Fatalf("writing %d bytes over a limit of %d: err = %v, want code %s", size, limit, err, errs.ItemTooLarge)
	}
	if e, _ := errs.As(err); !strings.Contains(e.Cause, strconv.Itoa(size)) {
		t.Errorf("cause %q does not name the item's size %d", e.Cause, size)
	}
	if got, err := c.FindByMarker(ctx, f.Empty, marker); err != nil || len(got) != 0 {
		t.Errorf("refused item is findable by marker: %+v, %v", got, err)
	}
	// The boundary is inclusive: an item of exactly the limit goes through.
	// Platforms that count a store size rather than the MIME size cannot
	// promise that, so they only have to take an item well under the limit.
	fits := int(limit)
	if !f.ExactSizes {
		fits = int(limit) / 2
	}
	ok := Message("fits", 0)
	ok.Content = append(ok.Content, bytes.Repeat([]byte("y"), fits-len(ok.Content))...)
	if _, err := c.WriteItem(ctx, f.Empty, inbox.ID, ok, marker+"-fits"); err != nil {
		t.Errorf("writing %d bytes under a limit of %d: %v", len(ok.Content), limit, err)
	}
	st, err := c.Stats(ctx, f.Empty)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mail != 1 {
		t.Errorf("Stats after one refused and one accepted item: %d mail, want 1", st.Mail)
	}
	if f.ExactSizes && st.LargestItem != limit {
		t.Errorf("Stats.LargestItem = %d, want the accepted item's %d bytes", st.LargestItem, limit)
	}
}

func testNotFound(t *testing.T, f Fixture) {
	ctx := ctxFor(t)
	c := f.Connector
	const missing = "mailferry-no-such-mailbox"
	type check struct {
		what string
		err  error
	}
	var checks []check
	add := func(what string, err error) { checks = append(checks, check{what, err}) }
	_, err := c.Folders(ctx, missing)
	add("Folders(unknown mailbox)", err)
	_, err = c.Stats(ctx, missing)
	add("Stats(unknown mailbox)", err)
	_, err = c.Items(ctx, missing, "x", "")
	add("Items(unknown mailbox)", err)
	_, err = c.Items(ctx, f.Seeded, "mailferry-no-such-folder", "")
	add("Items(unknown folder)", err)
	_, err = c.ReadItem(ctx, f.Seeded, platform.ItemRef{ID: "mailferry-no-such-item"})
	add("ReadItem(unknown item)", err)
	_, err = c.WriteItem(ctx, missing, "x", Message("nowhere", 0), "mf-contract-nowhere")
	add("WriteItem(unknown mailbox)", err)
	_, err = c.EnsureFolder(ctx, missing, platform.Folder{Name: "x", Kind: platform.Mail})
	add("EnsureFolder(unknown mailbox)", err)
	for _, ch := range checks {
		if !errs.Is(ch.err, errs.NotFound) {
			t.Errorf("%s: err = %v, want code %s", ch.what, ch.err, errs.NotFound)
		}
	}
}
