package google_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"mime/multipart"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/api/gmail/v1"

	"github.com/mailferry/mailferry/libs/connectors/google"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

// TestLabelsBecomeFolders enumerates a seeded Gmail mailbox (nested user
// labels, messages in several labels at once, system labels, tabs, stars,
// spam and trash): every message is listed exactly once, in the folder of
// its first label, with its other labels as categories; in the
// folder-per-label mode a message is listed once per label.
func TestLabelsBecomeFolders(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	mb := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 120, Seed: 3})[0]
	total := messageCount(t, sb, mb)
	for _, mode := range []google.LabelMode{google.LabelsFirstFolder, google.LabelsFolderPerLabel} {
		t.Run(string(mode), func(t *testing.T) {
			cfg := configFor(sb)
			cfg.Labels = mode
			c := open(t, cfg)
			folders, err := c.Folders(ctxFor(t), mb)
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]platform.Folder{}
			path := func(f platform.Folder) string {
				p := f.Name
				for f.ParentID != "" {
					f = byID[f.ParentID]
					p = f.Name + "/" + p
				}
				return p
			}
			for _, f := range folders {
				byID[f.ID] = f
			}
			listed := map[string][]string{} // Gmail id -> folder paths
			multi := 0
			for _, f := range folders {
				if f.Kind != platform.Mail {
					continue
				}
				refs, _, _ := enumerate(t, c, mb, f.ID, "")
				for _, r := range refs {
					id, _, _ := strings.Cut(r.ID, "~")
					listed[id] = append(listed[id], path(f))
				}
			}
			if len(listed) != total {
				t.Fatalf("%d distinct messages listed, the mailbox holds %d", len(listed), total)
			}
			for id, paths := range listed {
				if len(paths) > 1 {
					multi++
					if mode == google.LabelsFirstFolder {
						t.Errorf("message %s listed in %v: one copy per message", id, paths)
					}
				}
			}
			if mode == google.LabelsFolderPerLabel && multi == 0 {
				t.Error("no message was listed in two folders; the seed has messages with several labels")
			}
			var nested bool
			for _, paths := range listed {
				for _, p := range paths {
					nested = nested || strings.Count(p, "/") >= 2
				}
			}
			if !nested {
				t.Error("no message in a folder two levels deep: nested labels were not nested folders")
			}
		})
	}
	// A message in a project label and the customer label: in the folder
	// whose name sorts first, the other label a category.
	c := open(t, configFor(sb))
	svc := gmailAs(t, sb, mb)
	labels, err := svc.Users.Labels.List("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, l := range labels.Labels {
		names[l.Id] = l.Name
	}
	checked := 0
	for _, l := range labels.Labels {
		if l.Type != "user" || !strings.HasPrefix(l.Name, "Customers") {
			continue
		}
		msgs, err := svc.Users.Messages.List("me").LabelIds(l.Id).Do()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs.Messages {
			full, err := svc.Users.Messages.Get("me", m.Id).Format("minimal").Do()
			if err != nil {
				t.Fatal(err)
			}
			var user []string
			for _, id := range full.LabelIds {
				if strings.HasPrefix(id, "Label_") {
					user = append(user, names[id])
				}
			}
			if len(user) < 2 || slices.Contains(full.LabelIds, "INBOX") || slices.Contains(full.LabelIds, "TRASH") || slices.Contains(full.LabelIds, "SPAM") {
				continue
			}
			it, err := c.ReadItem(ctxFor(t), mb, platform.ItemRef{ID: m.Id, Kind: platform.Mail})
			if err != nil {
				t.Fatal(err)
			}
			sort.Slice(user, func(i, j int) bool { return strings.ToLower(user[i]) < strings.ToLower(user[j]) })
			for _, other := range user[1:] {
				if !slices.Contains(it.Categories, other) {
					t.Errorf("message %s with labels %v: categories %v lack %q", m.Id, user, it.Categories, other)
				}
			}
			if slices.Contains(it.Categories, user[0]) {
				t.Errorf("message %s: the folder's label %q is also a category", m.Id, user[0])
			}
			checked++
		}
	}
	if checked == 0 {
		t.Error("no message with two user labels was checked")
	}
}

// TestMailDeltaViaHistory: after a full round, the History API reports
// what was imported, relabelled and deleted since, each in the folders it
// concerns: a message moved out of a folder is deleted there and new in
// the folder it moved to.
func TestMailDeltaViaHistory(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	c := open(t, configFor(sb))
	ctx := ctxFor(t)
	mb := "delta@" + sb.Domain()
	sb.AddUser(mb, "Delta User")
	inbox := folderByRole(t, c, mb, platform.RoleInbox)
	projects, err := c.EnsureFolder(ctx, mb, platform.Folder{Name: "Projects", Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 4; i++ {
		id, err := c.WriteItem(ctx, mb, inbox.ID, platformtest.Message(fmt.Sprintf("inbox %d", i), 900), fmt.Sprintf("mf-d-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	_, inboxDelta, _ := enumerate(t, c, mb, inbox.ID, "")
	_, projDelta, _ := enumerate(t, c, mb, projects.ID, "")

	svc := gmailAs(t, sb, mb)
	// Starred: still in the inbox, changed. Moved: out of the inbox into
	// Projects. Deleted. And a new one imported by the connector.
	if _, err := svc.Users.Messages.Modify("me", ids[0], &gmail.ModifyMessageRequest{AddLabelIds: []string{"STARRED"}}).Do(); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Users.Messages.Modify("me", ids[1], &gmail.ModifyMessageRequest{AddLabelIds: []string{projects.ID}, RemoveLabelIds: []string{"INBOX"}}).Do(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Users.Messages.Delete("me", ids[2]).Do(); err != nil {
		t.Fatal(err)
	}
	newID, err := c.WriteItem(ctx, mb, inbox.ID, platformtest.Message("arrived later", 900), "mf-d-new")
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ := enumerate(t, c, mb, inbox.ID, inboxDelta)
	want := map[string]bool{ids[0]: false, ids[1]: true, ids[2]: true, newID: false} // id -> deleted
	if len(got) != len(want) {
		t.Errorf("inbox delta %+v, want %v", got, want)
	}
	for _, r := range got {
		del, ok := want[r.ID]
		if !ok || r.Deleted != del {
			t.Errorf("inbox delta item %+v, want deleted=%v (listed: %v)", r, del, ok)
		}
	}
	moved, _, _ := enumerate(t, c, mb, projects.ID, projDelta)
	var in []string
	for _, r := range moved {
		if !r.Deleted {
			in = append(in, r.ID)
		}
	}
	if !slices.Equal(in, []string{ids[1]}) {
		t.Errorf("Projects delta %+v, want %s added", moved, ids[1])
	}
	// The copy moved by the user is now found in its new folder.
	if found, err := c.FindByMarker(ctx, mb, "mf-d-1"); err != nil || len(found) != 1 {
		t.Fatalf("FindByMarker after the move: %+v, %v", found, err)
	}
	sb.ExpireHistory(mb)
	if _, err := c.Items(ctx, mb, inbox.ID, inboxDelta); !errs.Is(err, errs.Invalid) {
		t.Errorf("a history id Gmail no longer keeps: %v, want invalid_input", err)
	}
}

// bigMessage is a multipart message with one attachment of size bytes.
func bigMessage(t *testing.T, size int) (platform.Item, [32]byte) {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	var parts bytes.Buffer
	mw := multipart.NewWriter(&parts)
	tp, _ := mw.CreatePart(map[string][]string{"Content-Type": {"text/plain; charset=utf-8"}})
	tp.Write([]byte("See the attached archive.\r\n"))
	ap, _ := mw.CreatePart(map[string][]string{"Content-Type": {"application/octet-stream"},
		"Content-Disposition": {`attachment; filename="big.bin"`}, "Content-Transfer-Encoding": {"base64"}})
	enc := make([]byte, 0, size*4/3+size/38+8)
	b64 := []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
	for i := 0; i < len(data); i += 57 {
		chunk := data[i:min(i+57, len(data))]
		for j := 0; j < len(chunk); j += 3 {
			var v uint32
			n := min(3, len(chunk)-j)
			for k := 0; k < 3; k++ {
				v <<= 8
				if k < n {
					v |= uint32(chunk[j+k])
				}
			}
			out := []byte{b64[v>>18&63], b64[v>>12&63], b64[v>>6&63], b64[v&63]}
			if n < 3 {
				out[3] = '='
			}
			if n < 2 {
				out[2] = '='
			}
			enc = append(enc, out...)
		}
		enc = append(enc, '\r', '\n')
	}
	ap.Write(enc)
	mw.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "Message-ID: <big-%d@mailferry.test>\r\nDate: Mon, 02 Mar 2026 09:00:00 +0100\r\n", size)
	fmt.Fprintf(&b, "From: Big Sender <big@mailferry.test>\r\nTo: someone@mailferry.test\r\nSubject: big\r\nMIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%s\r\n\r\n", mw.Boundary())
	b.Write(parts.Bytes())
	return platform.Item{Ref: platform.ItemRef{Kind: platform.Mail}, ContentType: platform.ContentMIME, Content: b.Bytes(), Read: true}, sha256.Sum256(data)
}

// TestLargeMessageResumable writes a message above the client library's
// 16 MB chunk size, which goes through a resumable upload session, and
// reads it back byte for byte (apart from mailferry's headers).
func TestLargeMessageResumable(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{MaxMessageBytes: 40 << 20})
	c := open(t, configFor(sb))
	ctx := ctxFor(t)
	mb := "big@" + sb.Domain()
	sb.AddUser(mb, "Big Mailbox")
	inbox := folderByRole(t, c, mb, platform.RoleInbox)
	msg, sum := bigMessage(t, 13<<20) // about 17.5 MB once base64-encoded
	if len(msg.Content) <= 16<<20 {
		t.Fatalf("the message is %d bytes; it must exceed the 16 MB chunk size", len(msg.Content))
	}
	id, err := c.WriteItem(ctx, mb, inbox.ID, msg, "mf-big")
	if err != nil {
		t.Fatalf("WriteItem(%d bytes): %v", len(msg.Content), err)
	}
	it, err := c.ReadItem(ctx, mb, platform.ItemRef{ID: id, FolderID: inbox.ID, Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(it.Content, msg.Content[bytes.Index(msg.Content, []byte("Message-ID")):]) {
		t.Error("the message read back differs from the one written")
	}
	if e := essentialsOf(t, it.Content); len(e.Parts) != 2 || !slices.Contains(e.Parts, fmt.Sprintf("%x", sum)) {
		t.Errorf("attachment hash not found among %v", e.Parts)
	}
	if !bytes.HasPrefix(it.Content, []byte(google.HeaderMarker+": mf-big\r\n")) {
		t.Errorf("the copy does not start with the marker header: %q", it.Content[:80])
	}
}

// TestThrottlingStorm writes from many goroutines into one mailbox whose
// quota is tiny and whose concurrency is capped: throttling comes back as
// errs.Throttled with a wait (the connector itself never sleeps it out),
// the caller waits as the engine does, and every item lands exactly once.
func TestThrottlingStorm(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{Limits: sandbox.Limits{Window: 250 * time.Millisecond, GmailUserUnits: 150, GmailConcurrent: 2}})
	cfg := configFor(sb)
	cfg.MaxConcurrentPerMailbox = 6 // more than the sandbox allows
	c := open(t, cfg)
	ctx := ctxFor(t)
	mb := "storm@" + sb.Domain()
	sb.AddUser(mb, "Storm")
	var inbox platform.Folder
	retry(t, func() (err error) {
		folders, err := c.Folders(ctx, mb)
		for _, f := range folders {
			if f.Role == platform.RoleInbox {
				inbox = f
			}
		}
		return err
	}, nil)
	const n = 40
	var throttles atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				msg := platformtest.Message(fmt.Sprintf("storm %d", i), 800)
				retry(t, func() error {
					_, err := c.WriteItem(ctx, mb, inbox.ID, msg, fmt.Sprintf("mf-storm-%d", i))
					return err
				}, &throttles)
			}
		}(w)
	}
	wg.Wait()
	sb.SetLimits(sandbox.Limits{})
	if got := messageCount(t, sb, mb); got != n {
		t.Errorf("after the storm the mailbox holds %d messages, want exactly %d", got, n)
	}
	if throttles.Load() == 0 || sb.Throttled() == 0 {
		t.Errorf("no throttling seen (connector %d, sandbox %d); the storm did not storm", throttles.Load(), sb.Throttled())
	}
	for i := 0; i < n; i++ {
		if found, err := c.FindByMarker(ctx, mb, fmt.Sprintf("mf-storm-%d", i)); err != nil || len(found) != 1 {
			t.Errorf("marker %d: %+v, %v", i, found, err)
		}
	}
}

// retry calls fn, waiting out throttling as the transfer engine does.
func retry(t *testing.T, fn func() error, throttles *atomic.Int64) {
	t.Helper()
	for i := 0; ; i++ {
		err := fn()
		if err == nil {
			return
		}
		e, ok := errs.As(err)
		if ok && e.Code == errs.Unavailable && i < 50 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !ok || e.Code != errs.Throttled || i > 2000 {
			t.Errorf("call failed: %v", err)
			return
		}
		if e.RetryAfter <= 0 {
			t.Errorf("throttled without a wait: %v", err)
		}
		if throttles != nil {
			throttles.Add(1)
		}
		time.Sleep(min(e.RetryAfter, 300*time.Millisecond))
	}
}

// TestDraftsStayDrafts: a message written to the Drafts folder is a Gmail
// draft (messages.import cannot apply DRAFT; drafts.create sends nothing),
// with its other labels, found again by its marker, listed in Drafts, and
// deleted for good.
func TestDraftsStayDrafts(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	c := open(t, configFor(sb))
	ctx := ctxFor(t)
	mb := "drafter@" + sb.Domain()
	sb.AddUser(mb, "Drafter")
	drafts := folderByRole(t, c, mb, platform.RoleDrafts)
	msg := platformtest.Message("unfinished thoughts", 600)
	msg.Flagged, msg.Categories = true, []string{"Important"}
	id, err := c.WriteItem(ctx, mb, drafts.ID, msg, "mf-draft")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.WriteItem(ctx, mb, drafts.ID, msg, "mf-draft"); err != nil || again != id {
		t.Fatalf("writing the draft again: %q, %v; want %q", again, err, id)
	}
	m, err := gmailAs(t, sb, mb).Users.Messages.Get("me", id).Format("minimal").Do()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"DRAFT", "STARRED", "IMPORTANT"} {
		if !slices.Contains(m.LabelIds, l) {
			t.Errorf("the draft's labels %v lack %s", m.LabelIds, l)
		}
	}
	list, err := gmailAs(t, sb, mb).Users.Drafts.List("me").Do()
	if err != nil || len(list.Drafts) != 1 || list.Drafts[0].Message.Id != id {
		t.Fatalf("drafts.list: %+v, %v", list, err)
	}
	refs, _, _ := enumerate(t, c, mb, drafts.ID, "")
	if len(refs) != 1 || refs[0].ID != id {
		t.Fatalf("the Drafts folder lists %+v, want just %s", refs, id)
	}
	found, err := c.FindByMarker(ctx, mb, "mf-draft")
	if err != nil || len(found) != 1 || found[0].FolderID != drafts.ID {
		t.Fatalf("FindByMarker: %+v, %v", found, err)
	}
	if err := c.DeleteItem(ctx, mb, found[0]); err != nil {
		t.Fatal(err)
	}
	if refs, _, _ := enumerate(t, c, mb, drafts.ID, ""); len(refs) != 0 {
		t.Errorf("after DeleteItem the Drafts folder lists %+v", refs)
	}
}
