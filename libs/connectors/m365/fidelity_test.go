package m365_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mailferry/mailferry/libs/connectors/m365"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

// tenantPair is two sandbox tenants with a connector each, as a tenant
// to tenant move has them. grant runs before the connectors take their
// first token, which carries the roles consented at that moment.
type tenantPair struct {
	src, dst   *graph.Sandbox
	sc, dc     *m365.Connector
	suid, duid string
}

func newTenantPair(t *testing.T, spec graph.SeedSpec, grant func(src, dst *graph.Sandbox)) tenantPair {
	t.Helper()
	p := tenantPair{src: newSandbox(t, graph.Config{}), dst: newSandbox(t, graph.Config{})}
	t.Cleanup(func() {
		for name, sb := range map[string]*graph.Sandbox{"source": p.src, "destination": p.dst} {
			if inv := sb.Invitations(); len(inv) != 0 {
				t.Errorf("the %s tenant sent meeting messages: %+v", name, inv)
			}
		}
	})
	if grant != nil {
		grant(p.src, p.dst)
	}
	p.suid = p.src.Seed(spec)[0]
	p.duid = p.dst.AddUser("moved@"+p.dst.Domain(), "Moved User")
	p.sc, p.dc = open(t, configFor(p.src)), open(t, configFor(p.dst))
	return p
}

// someMail returns a mail folder of the mailbox holding messages, and them.
func someMail(t *testing.T, c *m365.Connector, mb string) (platform.Folder, []platform.ItemRef) {
	t.Helper()
	folders, err := c.Folders(ctxFor(t), mb)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range folders {
		if f.Kind != platform.Mail {
			continue
		}
		if refs, _, _ := enumerate(t, c, mb, f.ID, ""); len(refs) > 0 {
			return f, refs
		}
	}
	t.Fatalf("mailbox %s holds no mail", mb)
	return platform.Folder{}, nil
}

func grantImportExport(src, dst *graph.Sandbox) {
	src.Grant(graph.RoleMailboxImportExport)
	dst.Grant(graph.RoleMailboxImportExport, graph.RoleMailboxItemReadWrite)
}

// copyNative moves every item of a source folder into a destination folder
// by the native path and returns source id -> destination id.
func copyNative(t *testing.T, ctx context.Context, p tenantPair, srcFolder, dstFolder string) map[string]string {
	t.Helper()
	refs, _, _ := enumerate(t, p.sc, p.suid, srcFolder, "")
	if len(refs) == 0 {
		t.Fatalf("source folder %s is empty", srcFolder)
	}
	out := map[string]string{}
	for _, r := range refs {
		it, err := p.sc.ReadNative(ctx, p.suid, r)
		if err != nil {
			t.Fatalf("ReadNative %s: %v", r.ID, err)
		}
		if it.Format != m365.NativeFormat || len(it.Data) == 0 || it.Ref.ChangeKey != r.ChangeKey {
			t.Fatalf("ReadNative %s: format %q, %d bytes, version %q (listed %q)", r.ID, it.Format, len(it.Data), it.Ref.ChangeKey, r.ChangeKey)
		}
		id, err := p.dc.WriteNative(ctx, p.duid, dstFolder, it, "mf-native-"+r.ID)
		if err != nil {
			t.Fatalf("WriteNative %s: %v", r.ID, err)
		}
		out[r.ID] = id
	}
	return out
}

// stored is a sandbox item snapshot without what mailferry adds to its
// copy: the marker and version properties (returned) and the modification
// time setting them moves.
func stored(t *testing.T, sb *graph.Sandbox, user, id string) (map[string]any, map[string]string) {
	t.Helper()
	raw, err := sb.ItemSnapshot(user, id)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	marks := map[string]string{}
	for _, kind := range []string{"message", "event", "contact"} {
		x, ok := m[kind].(map[string]any)
		if !ok {
			continue
		}
		delete(x, "modified")
		var kept []any
		props, _ := x["props"].([]any)
		for _, p := range props {
			pm := p.(map[string]any)
			if id := pm["id"].(string); id == m365.MarkerProperty || id == m365.VersionProperty {
				marks[id] = pm["value"].(string)
				continue
			}
			kept = append(kept, p)
		}
		if kept == nil {
			delete(x, "props")
		} else {
			x["props"] = kept
		}
	}
	return m, marks
}

// TestNativeMeetingsArriveWhole copies a seeded calendar (series organised
// by the owner with attendees, responses, a moved and a deleted
// occurrence and a Teams meeting; a colleague's series with the owner's
// response and a cancelled occurrence; single meetings; all-day and plain
// appointments) and a contacts folder from one tenant to another. Every
// field the sandbox stores arrives identical, nothing is sent, the marker
// finds each copy, a second run writes nothing, and an old version is
// removed without a cancellation.
func TestNativeMeetingsArriveWhole(t *testing.T) {
	t.Parallel()
	p := newTenantPair(t, graph.SeedSpec{Users: 1, EventsPerUser: 10, ContactsPerUser: 6, Seed: 21}, grantImportExport)
	ctx := ctxFor(t)
	ns, nd, format, ok, err := platform.NativePath(ctx, p.sc, p.dc)
	if err != nil || !ok || format != m365.NativeFormat || ns == nil || nd == nil {
		t.Fatalf("NativePath: ok=%v format=%q err=%v", ok, format, err)
	}
	for _, role := range []platform.Role{platform.RoleCalendar, platform.RoleContacts} {
		sf := folderByRole(t, p.sc, p.suid, role)
		df, err := p.dc.EnsureFolder(ctx, p.duid, platform.Folder{Name: sf.Name, Role: role, Kind: sf.Kind})
		if err != nil {
			t.Fatal(err)
		}
		copies := copyNative(t, ctx, p, sf.ID, df.ID)
		var meetings int
		for sid, did := range copies {
			want, _ := stored(t, p.src, p.suid, sid)
			got, marks := stored(t, p.dst, p.duid, did)
			if !reflect.DeepEqual(want, got) {
				a, _ := json.Marshal(want)
				b, _ := json.Marshal(got)
				t.Errorf("%s arrived changed:\n src %s\n dst %s", sid, a, b)
			}
			if marks[m365.MarkerProperty] != "mf-native-"+sid || marks[m365.VersionProperty] == "" {
				t.Errorf("copy of %s carries marks %v", sid, marks)
			}
			if ev, ok := got["event"].(map[string]any); ok && ev["attendees"] != nil {
				meetings++
			}
			found, err := p.dc.FindByMarker(ctx, p.duid, "mf-native-"+sid)
			if err != nil || len(found) != 1 || found[0].ID != did || found[0].FolderID != df.ID {
				t.Errorf("FindByMarker(%s): %+v, %v; want the copy %s in %s", sid, found, err, did, df.ID)
			}
		}
		if role == platform.RoleCalendar && meetings < 6 {
			t.Errorf("only %d of the copied events are meetings with attendees", meetings)
		}
		// A second run finds every copy and writes nothing.
		before := p.dst.EventCount(p.duid) + p.dst.ContactCount(p.duid)
		if again := copyNative(t, ctx, p, sf.ID, df.ID); !reflect.DeepEqual(again, copies) {
			t.Errorf("a second run wrote new copies: %v, first run %v", again, copies)
		}
		if after := p.dst.EventCount(p.duid) + p.dst.ContactCount(p.duid); after != before {
			t.Errorf("a second run changed the item count from %d to %d", before, after)
		}
	}
	if n := p.dst.ImportSessionsCreated(); n != 1 {
		t.Errorf("%d import sessions created; one per mailbox is reused until it expires", n)
	}

	// The organiser's copy of a series is the meeting, as Outlook sees it.
	cal := folderByRole(t, p.dc, p.duid, platform.RoleCalendar)
	refs, _, _ := enumerate(t, p.dc, p.duid, cal.ID, "")
	var series platform.Placed
	for _, r := range refs {
		it, err := p.dc.ReadItem(ctx, p.duid, r)
		if err != nil {
			t.Fatal(err)
		}
		ics := string(it.Content)
		if strings.Contains(ics, "ATTENDEE") && strings.Contains(ics, "RECURRENCE-ID") && strings.Contains(ics, "PARTSTAT=ACCEPTED") &&
			strings.Contains(ics, "teams.microsoft.com") && series.ID == "" {
			series = platform.Placed{ID: r.ID, FolderID: cal.ID}
		}
	}
	if series.ID == "" {
		t.Fatal("no imported series reads back with attendees, responses, an exception and its Teams link")
	}
	// Removing an old version: a store delete, no cancellation (the
	// Invitations check at cleanup would fail otherwise).
	events := p.dst.EventCount(p.duid)
	if err := p.dc.DeleteNative(ctx, p.duid, series); err != nil {
		t.Fatalf("DeleteNative: %v", err)
	}
	if err := p.dc.DeleteNative(ctx, p.duid, series); err != nil {
		t.Fatalf("DeleteNative of a copy already gone: %v", err)
	}
	if n := p.dst.EventCount(p.duid); n != events-1 {
		t.Errorf("after DeleteNative %d events, want %d", n, events-1)
	}
	p.dst.Revoke(graph.RoleMailboxItemReadWrite)
	var other platform.Placed
	for _, r := range refs {
		if r.ID != series.ID {
			other = platform.Placed{ID: r.ID, FolderID: cal.ID}
			break
		}
	}
	err = p.dc.DeleteNative(ctx, p.duid, other)
	checkErr(t, "DeleteNative without MailboxItem.ReadWrite.All", err, m365.CodeConsentMissing, "MailboxItem.ReadWrite.All")
}

// TestNativeMailKeepsMIME copies mail natively: each message's MIME is the
// source's byte for byte (SHA-256), its read state, flag, categories and
// dates too; a renewed import session is used after the old one expired;
// a second run writes nothing.
func TestNativeMailKeepsMIME(t *testing.T) {
	t.Parallel()
	p := newTenantPair(t, graph.SeedSpec{Users: 1, MessagesPerUser: 20, Seed: 22}, grantImportExport)
	ctx := ctxFor(t)
	sf := folderByRole(t, p.sc, p.suid, platform.RoleInbox)
	df := folderByRole(t, p.dc, p.duid, platform.RoleInbox)
	refs, _, _ := enumerate(t, p.sc, p.suid, sf.ID, "")
	if len(refs) < 4 {
		t.Fatalf("seeded inbox has %d messages", len(refs))
	}
	for i, r := range refs {
		if i == len(refs)/2 {
			p.dst.ExpireImportSessions()
		}
		it, err := p.sc.ReadNative(ctx, p.suid, r)
		if err != nil {
			t.Fatal(err)
		}
		id, err := p.dc.WriteNative(ctx, p.duid, df.ID, it, "mf-mail-"+r.ID)
		if err != nil {
			t.Fatalf("WriteNative %s: %v", r.ID, err)
		}
		want, err := p.sc.ReadItem(ctx, p.suid, r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.dc.ReadItem(ctx, p.duid, platform.ItemRef{ID: id, FolderID: df.ID, Kind: platform.Mail})
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(got.Content) != sha256.Sum256(want.Content) {
			t.Errorf("%s: the MIME changed (%d -> %d bytes)", r.ID, len(want.Content), len(got.Content))
		}
		if got.Read != want.Read || got.Flagged != want.Flagged || !slices.Equal(got.Categories, want.Categories) || !got.Received.Equal(want.Received) {
			t.Errorf("%s: read %v/%v flagged %v/%v categories %v/%v received %v/%v", r.ID, want.Read, got.Read,
				want.Flagged, got.Flagged, want.Categories, got.Categories, want.Received, got.Received)
		}
		if again, err := p.dc.WriteNative(ctx, p.duid, df.ID, it, "mf-mail-"+r.ID); err != nil || again != id {
			t.Fatalf("second write of %s: %q, %v; want %q", r.ID, again, err, id)
		}
	}
	if n := p.dst.MessageCount(p.duid); n != len(refs) {
		t.Errorf("destination holds %d messages, want %d", n, len(refs))
	}
	if n := p.dst.ImportSessionsCreated(); n != 2 {
		t.Errorf("%d import sessions created, want 2 (one renewed after expiry)", n)
	}
}

// TestNativeNeedsPermission: without MailboxItem.ImportExport.All the
// native path is not offered, and calls made anyway fail with a coded
// error naming the permission; export alone is enough at the source.
func TestNativeNeedsPermission(t *testing.T) {
	t.Parallel()
	p := newTenantPair(t, graph.SeedSpec{Users: 1, MessagesPerUser: 2, Seed: 23}, nil)
	ctx := ctxFor(t)
	for name, f := range map[string]func(context.Context) (string, error){"read": p.sc.NativeReadFormat, "write": p.dc.NativeWriteFormat} {
		if got, err := f(ctx); err != nil || got != "" {
			t.Errorf("Native%sFormat without the permission: %q, %v; want it not offered", name, got, err)
		}
	}
	if _, _, _, ok, err := platform.NativePath(ctx, p.sc, p.dc); ok || err != nil {
		t.Errorf("NativePath without the permission: ok=%v err=%v", ok, err)
	}
	_, refs := someMail(t, p.sc, p.suid)
	_, err := p.sc.ReadNative(ctx, p.suid, refs[0])
	checkErr(t, "ReadNative", err, m365.CodeConsentMissing, "MailboxItem.ImportExport.All")
	it := platform.NativeItem{Ref: refs[0], Format: m365.NativeFormat, Data: []byte("opaque")}
	_, err = p.dc.WriteNative(ctx, p.duid, folderByRole(t, p.dc, p.duid, platform.RoleInbox).ID, it, "mf-denied")
	checkErr(t, "WriteNative", err, m365.CodeConsentMissing, "MailboxItem.ImportExport.All")
	_, err = p.dc.WriteNative(ctx, p.duid, "AAMk", platform.NativeItem{Format: "text/calendar", Data: []byte("x")}, "mf-x")
	checkErr(t, "WriteNative of another format", err, errs.Invalid, "cannot be imported")

	// Export alone offers reading, not writing.
	src := newSandbox(t, graph.Config{})
	src.Grant(graph.RoleMailboxExport)
	sc := open(t, configFor(src))
	if got, err := sc.NativeReadFormat(ctx); err != nil || got != m365.NativeFormat {
		t.Errorf("NativeReadFormat with MailboxItem.Export.All: %q, %v", got, err)
	}
	if got, err := sc.NativeWriteFormat(ctx); err != nil || got != "" {
		t.Errorf("NativeWriteFormat with MailboxItem.Export.All only: %q, %v", got, err)
	}
}

// TestNativeMarkFailureImportsOnce: when the marker cannot be set after
// the import (here Mail.ReadWrite is revoked in between), the error says
// so, and the retry marks the item already imported instead of importing
// it again.
func TestNativeMarkFailureImportsOnce(t *testing.T) {
	t.Parallel()
	p := newTenantPair(t, graph.SeedSpec{Users: 1, MessagesPerUser: 3, Seed: 24}, func(src, dst *graph.Sandbox) {
		grantImportExport(src, dst)
		dst.Grant("Mail.Read")
	})
	ctx := ctxFor(t)
	if _, err := p.dc.Verify(ctx); err != nil { // takes the token while Mail.ReadWrite is granted
		t.Fatal(err)
	}
	_, refs := someMail(t, p.sc, p.suid)
	dinbox := folderByRole(t, p.dc, p.duid, platform.RoleInbox)
	it, err := p.sc.ReadNative(ctx, p.suid, refs[0])
	if err != nil {
		t.Fatal(err)
	}
	p.dst.Revoke("Mail.ReadWrite")
	_, err = p.dc.WriteNative(ctx, p.duid, dinbox.ID, it, "mf-retry")
	checkErr(t, "WriteNative while the marker cannot be set", err, m365.CodeConsentMissing, "Mail.ReadWrite")
	if n := p.dst.MessageCount(p.duid); n != 1 {
		t.Fatalf("after the failed marking the mailbox holds %d messages, want the 1 imported", n)
	}
	p.dst.Grant("Mail.ReadWrite")
	id, err := p.dc.WriteNative(ctx, p.duid, dinbox.ID, it, "mf-retry")
	if err != nil {
		t.Fatal(err)
	}
	if n := p.dst.MessageCount(p.duid); n != 1 {
		t.Errorf("the retry imported again: %d messages", n)
	}
	found, err := p.dc.FindByMarker(ctx, p.duid, "mf-retry")
	if err != nil || len(found) != 1 || found[0].ID != id || found[0].Version != refs[0].ChangeKey {
		t.Errorf("FindByMarker after the retry: %+v, %v", found, err)
	}
}
