package google_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-vcard"

	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

// essentials is what must survive a migration of a message.
type essentials struct {
	MessageID, Subject, From string
	To, Cc                   []string
	Date                     time.Time
	// Parts are the SHA-256 of every leaf part's decoded content, sorted:
	// bodies and attachments.
	Parts []string
}

func essentialsOf(t *testing.T, raw []byte) essentials {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not RFC 5322: %v", err)
	}
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(m.Header.Get("Subject"))
	e := essentials{MessageID: m.Header.Get("Message-ID"), Subject: subj}
	if d, err := m.Header.Date(); err == nil {
		e.Date = d.UTC()
	}
	if l, err := m.Header.AddressList("From"); err == nil && len(l) > 0 {
		e.From = strings.ToLower(l[0].Address)
	}
	for _, h := range []struct {
		name string
		dst  *[]string
	}{{"To", &e.To}, {"Cc", &e.Cc}} {
		if l, err := m.Header.AddressList(h.name); err == nil {
			for _, a := range l {
				*h.dst = append(*h.dst, strings.ToLower(a.Address))
			}
		}
		sort.Strings(*h.dst)
	}
	body, _ := io.ReadAll(m.Body)
	leaves(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), body, &e.Parts)
	sort.Strings(e.Parts)
	return e
}

func leaves(ctype, cte string, body []byte, out *[]string) {
	mt, params, _ := mime.ParseMediaType(ctype)
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(p)
			leaves(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), b, out)
		}
	}
	data := body
	switch strings.ToLower(cte) {
	case "base64":
		if d, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), "")); err == nil {
			data = d
		}
	case "quoted-printable":
		data, _ = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	}
	*out = append(*out, fmt.Sprintf("%x", sha256.Sum256(data)))
}

// placedFacts are the folder, flags and categories an item travels with.
type placedFacts struct {
	Folder        string
	Read, Flagged bool
	Categories    string
}

// copyAll copies every folder of a mailbox the way the transfer engine
// does (folder by role or by name under its mapped parent, a marker per
// source item) and calls each for every item read. It returns the number
// of items per kind.
func copyAll(t *testing.T, ctx context.Context, src platform.Source, srcMB string, dst platform.Destination, dstMB, prefix string,
	each func(f platform.Folder, path string, it platform.Item)) map[platform.ItemKind]int {
	t.Helper()
	folders, err := src.Folders(ctx, srcMB)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]platform.Folder{}
	for _, f := range folders {
		byID[f.ID] = f
	}
	mapped := map[string]string{}
	n := map[platform.ItemKind]int{}
	for _, f := range folders {
		df, err := dst.EnsureFolder(ctx, dstMB, platform.Folder{Name: f.Name, Role: f.Role, ParentID: mapped[f.ParentID], Kind: f.Kind})
		if err != nil {
			t.Fatalf("EnsureFolder(%s): %v", f.Name, err)
		}
		mapped[f.ID] = df.ID
		refs, _, _ := enumerate(t, src, srcMB, f.ID, "")
		for _, r := range refs {
			it, err := src.ReadItem(ctx, srcMB, r)
			if err != nil {
				t.Fatalf("ReadItem(%s): %v", r.ID, err)
			}
			if each != nil {
				each(f, folderPath(byID, f), it)
			}
			if _, err := dst.WriteItem(ctx, dstMB, df.ID, it, prefix+r.ID); err != nil {
				t.Fatalf("WriteItem(%s in %s): %v", r.ID, f.Name, err)
			}
			n[f.Kind]++
		}
	}
	return n
}

// folderPath names a folder by its role, or by its names from the top.
// Gmail nests nothing under its system folders: a folder under the inbox
// comes back as a top-level one (docs/google.md), so the path of a user
// folder starts at its first user ancestor.
func folderPath(byID map[string]platform.Folder, f platform.Folder) string {
	if f.Role != platform.RoleNone {
		return "role:" + string(f.Role)
	}
	p := f.Name
	for f.ParentID != "" {
		f = byID[f.ParentID]
		if f.Role != platform.RoleNone {
			break
		}
		p = f.Name + "/" + p
	}
	return p
}

func sortedJoin(l []string) string {
	l = slices.Clone(l)
	sort.Strings(l)
	return strings.Join(l, ",")
}

type contactFacts struct{ FN, Emails, Phones, Addresses, Birthday, Note, Org string }

// key tells contacts apart: two people may share a name.
func (f contactFacts) key() string { return f.FN + "|" + f.Emails }

func contactFactsOf(t *testing.T, raw []byte) contactFacts {
	t.Helper()
	card, err := vcard.NewDecoder(bytes.NewReader(raw)).Decode()
	if err != nil {
		t.Fatalf("not a vCard: %v", err)
	}
	var emails, phones, addrs []string
	for _, f := range card[vcard.FieldEmail] {
		emails = append(emails, strings.ToLower(f.Value))
	}
	for _, f := range card[vcard.FieldTelephone] {
		phones = append(phones, strings.TrimPrefix(f.Value, "tel:"))
	}
	for _, a := range card.Addresses() {
		addrs = append(addrs, strings.Join([]string{a.StreetAddress, a.Locality, a.PostalCode, a.Country}, "|"))
	}
	bday := strings.ReplaceAll(card.Value(vcard.FieldBirthday), "-", "")
	org, _, _ := strings.Cut(card.Value(vcard.FieldOrganization), ";")
	return contactFacts{FN: card.Value(vcard.FieldFormattedName), Emails: sortedJoin(emails), Phones: sortedJoin(phones),
		Addresses: sortedJoin(addrs), Birthday: bday, Note: strings.TrimSpace(card.Value(vcard.FieldNote)), Org: org}
}

// TestRoundTripMemoryGoogleMemory copies a seeded mailbox (mail in nested
// folders with flags and categories, meetings, contacts) from the memory
// platform into Google and back out to another memory mailbox, comparing
// at each hop what must survive: Message-ID, date, sender, recipients,
// subject and the hash of every body part and attachment; folder, read
// state, flag and categories; a meeting's UID, times, recurrence,
// exceptions and attendees with their answers; a contact's addresses,
// phones and e-mails. A re-run writes nothing.
func TestRoundTripMemoryGoogleMemory(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	store := memory.NewStore()
	src := store.AddTenant("src", "fabrikam.test")
	srcMB := memory.Seed(src, memory.SeedSpec{Mailboxes: 1, ItemsPerMailbox: 90, Seed: 11})[0]
	back := store.AddTenant("back", "fabrikam.test")
	backMB := back.AddMailbox(platform.Mailbox{PrimaryAddress: "back@fabrikam.test"})

	sb := newSandbox(t, sandbox.Config{})
	cfg := configFor(sb)
	cfg.PageSize = 7
	c := open(t, cfg)
	dst := "dest@" + sb.Domain()
	sb.AddUser(dst, "Destination")

	mailWant := map[string]essentials{}
	placeWant := map[string]placedFacts{}
	eventWant := map[string]eventFacts{}
	contactWant := map[string]contactFacts{}
	record := func(f platform.Folder, path string, it platform.Item) {
		switch f.Kind {
		case platform.Mail:
			e := essentialsOf(t, it.Content)
			mailWant[e.MessageID] = e
			placeWant[e.MessageID] = placedFacts{Folder: path, Read: it.Read, Flagged: it.Flagged, Categories: sortedJoin(it.Categories)}
		case platform.Event:
			ev := factsOf(t, it.Content)
			ev.Categories = append(ev.Categories, it.Categories...)
			slices.Sort(ev.Categories)
			ev.Categories = slices.Compact(ev.Categories)
			eventWant[ev.UID] = ev
		case platform.Contact:
			cf := contactFactsOf(t, it.Content)
			contactWant[cf.key()] = cf
		}
	}
	in := copyAll(t, ctx, src, srcMB.ID, c, dst, "mf-in-", record)
	if in[platform.Mail] == 0 || in[platform.Event] == 0 || in[platform.Contact] == 0 || len(mailWant) != in[platform.Mail] {
		t.Fatalf("copied %v with %d distinct Message-IDs", in, len(mailWant))
	}
	if n := messageCount(t, sb, dst); n != in[platform.Mail] {
		t.Errorf("Gmail holds %d messages, %d were copied", n, in[platform.Mail])
	}
	requests := sb.Requests()
	if again := copyAll(t, ctx, src, srcMB.ID, c, dst, "mf-in-", nil); fmt.Sprint(again) != fmt.Sprint(in) || messageCount(t, sb, dst) != in[platform.Mail] {
		t.Errorf("re-run: %v, Gmail holds %d, want still %v", again, messageCount(t, sb, dst), in)
	}
	t.Logf("first run %d requests, re-run %d requests", requests, sb.Requests()-requests)

	check := func(hop string) func(platform.Folder, string, platform.Item) {
		return func(f platform.Folder, path string, it platform.Item) {
			switch f.Kind {
			case platform.Mail:
				got := essentialsOf(t, it.Content)
				w, ok := mailWant[got.MessageID]
				if !ok {
					t.Errorf("%s: unexpected Message-ID %q", hop, got.MessageID)
					return
				}
				if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", w) {
					t.Errorf("%s: %s\n got %+v\nwant %+v", hop, got.MessageID, got, w)
				}
				gp := placedFacts{Folder: path, Read: it.Read, Flagged: it.Flagged, Categories: sortedJoin(it.Categories)}
				if gp != placeWant[got.MessageID] {
					t.Errorf("%s: %s placed %+v, want %+v", hop, got.MessageID, gp, placeWant[got.MessageID])
				}
			case platform.Event:
				got := factsOf(t, it.Content)
				got.Categories = append(got.Categories, it.Categories...)
				slices.Sort(got.Categories)
				got.Categories = slices.Compact(got.Categories)
				if w := eventWant[got.UID]; fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", w) {
					t.Errorf("%s: event %s\n got %+v\nwant %+v", hop, got.UID, got, w)
				}
			case platform.Contact:
				got := contactFactsOf(t, it.Content)
				if w := contactWant[got.key()]; got != w {
					t.Errorf("%s: contact %q\n got %+v\nwant %+v", hop, got.FN, got, w)
				}
			}
		}
	}
	out := copyAll(t, ctx, c, dst, back, backMB.ID, "mf-out-", check("Google"))
	if fmt.Sprint(out) != fmt.Sprint(in) {
		t.Errorf("copied %v back out, want %v", out, in)
	}
	if got := back.Count(backMB.ID); got != in[platform.Mail]+in[platform.Event]+in[platform.Contact] {
		t.Errorf("memory destination holds %d items, want %d", got, in[platform.Mail]+in[platform.Event]+in[platform.Contact])
	}
	// What landed back in memory, read from there.
	third := store.AddTenant("third", "fabrikam.test")
	thirdMB := third.AddMailbox(platform.Mailbox{PrimaryAddress: "third@fabrikam.test"})
	if n := copyAll(t, ctx, back, backMB.ID, third, thirdMB.ID, "mf-3-", check("memory")); fmt.Sprint(n) != fmt.Sprint(in) {
		t.Errorf("read %v from the memory copy, want %v", n, in)
	}
}
