package ews_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/mail"
	"sort"
	"strings"
	"testing"
	"time"

	ical "github.com/emersion/go-ical"
	"github.com/emersion/go-vcard"

	"github.com/mailferry/mailferry/libs/pim"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// copyAll copies every folder of a mailbox the way the transfer engine
// does (folder by role or name under its mapped parent, one marker per
// source item) and calls each with every item read. It returns how many
// items were written or found.
func copyAll(t *testing.T, ctx context.Context, src platform.Source, srcMB string, dst platform.Destination, dstMB, prefix string, each func(platform.Item)) int {
	t.Helper()
	folders, err := src.Folders(ctx, srcMB)
	if err != nil {
		t.Fatal(err)
	}
	mapped := map[string]string{}
	n := 0
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
				each(it)
			}
			if id, err := dst.WriteItem(ctx, dstMB, df.ID, it, prefix+r.ID); err != nil && !(platform.IsWarning(err) && id != "") {
				t.Fatalf("WriteItem(%s, %s): %v", f.Name, r.ID, err)
			}
			n++
		}
	}
	return n
}

// mailEssentials is what must survive of a message.
type mailEssentials struct {
	Hash, MessageID, Subject, From, To string
	Date                               time.Time
	Read, Flagged                      bool
}

func mailOf(t *testing.T, it platform.Item) mailEssentials {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(it.Content))
	if err != nil {
		t.Fatalf("not RFC 5322: %v", err)
	}
	sum := sha256.Sum256(it.Content)
	subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	e := mailEssentials{Hash: hex.EncodeToString(sum[:]), MessageID: m.Header.Get("Message-ID"), Subject: subj, Read: it.Read, Flagged: it.Flagged}
	if d, err := m.Header.Date(); err == nil {
		e.Date = d.UTC()
	}
	if l, err := m.Header.AddressList("From"); err == nil && len(l) > 0 {
		e.From = strings.ToLower(l[0].Address)
	}
	if l, err := m.Header.AddressList("To"); err == nil {
		var to []string
		for _, a := range l {
			to = append(to, strings.ToLower(a.Address))
		}
		sort.Strings(to)
		e.To = strings.Join(to, ",")
	}
	return e
}

// eventEssentials is what must survive of a calendar item.
type eventEssentials struct {
	UID, Summary, Start, RRule, Organizer string
	ExDates, Exceptions                   int
	Attendees                             string // address=partstat, sorted
}

func eventOf(t *testing.T, it platform.Item) eventEssentials {
	t.Helper()
	p, err := pim.ParseEvent(it.Content)
	if err != nil {
		t.Fatalf("not iCalendar: %v\n%s", err, it.Content)
	}
	m := p.Master
	e := eventEssentials{UID: p.UID, Summary: pim.Text(m, ical.PropSummary), Exceptions: len(p.Exceptions),
		ExDates: len(m.Props.Values(ical.PropExceptionDates))}
	if st, _, _, err := pim.PropTime(m.Props.Get(ical.PropDateTimeStart), p.Loc); err == nil {
		e.Start = st.UTC().Format(time.RFC3339)
	}
	if rr := m.Props.Get(ical.PropRecurrenceRule); rr != nil {
		parts := strings.Split(rr.Value, ";")
		sort.Strings(parts)
		e.RRule = strings.Join(parts, ";")
	}
	if o := m.Props.Get(ical.PropOrganizer); o != nil {
		e.Organizer = strings.ToLower(pim.Address(o.Value))
	}
	var atts []string
	for _, a := range m.Props.Values(ical.PropAttendee) {
		atts = append(atts, strings.ToLower(pim.Address(a.Value))+"="+a.Params.Get(ical.ParamParticipationStatus))
	}
	sort.Strings(atts)
	e.Attendees = strings.Join(atts, ",")
	return e
}

// contactEssentials is what must survive of a contact.
type contactEssentials struct {
	FN, Emails, Birthday string
	Phones, Addresses    int
}

func contactOf(t *testing.T, it platform.Item) contactEssentials {
	t.Helper()
	card, err := vcard.NewDecoder(bytes.NewReader(it.Content)).Decode()
	if err != nil {
		t.Fatalf("not a vCard: %v", err)
	}
	emails := card.Values(vcard.FieldEmail)
	sort.Strings(emails)
	return contactEssentials{FN: card.PreferredValue(vcard.FieldFormattedName), Emails: strings.ToLower(strings.Join(emails, ",")),
		Birthday: card.PreferredValue(vcard.FieldBirthday), Phones: len(card[vcard.FieldTelephone]), Addresses: len(card.Addresses())}
}

// TestMemoryToExchangeAndBack copies a seeded mailbox (mail, recurring
// meetings with exceptions and attendees, contacts) from the memory
// platform into Exchange and back out to another memory mailbox, and
// compares at each hop what must survive: for mail the MIME byte for byte
// (the sandbox keeps it; its SHA-256 is compared), Message-ID, dates,
// sender, recipients, subject, read and flag state; for calendar items
// the UID, start, rule, deleted occurrences, exceptions, organizer and
// attendees with their answers; for contacts the name, addresses,
// phones, postal addresses and birthday. A re-run writes nothing, and the
// sandbox sent nothing, invitations included (newSandbox's cleanup).
func TestMemoryToExchangeAndBack(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	store := memory.NewStore()
	src := store.AddTenant("src", "fabrikam.test")
	srcMB := memory.Seed(src, memory.SeedSpec{Mailboxes: 1, ItemsPerMailbox: 60, Seed: 11})[0]
	back := store.AddTenant("back", "fabrikam.test")
	backMB := back.AddMailbox(platform.Mailbox{PrimaryAddress: "back@fabrikam.test"})

	sb := newSandbox(t, sandbox.Config{})
	c := open(t, configFor(t, sb))
	dst := addMailbox(t, sb, "roundtrip")

	mails := map[string]mailEssentials{}       // by Message-ID
	events := map[string]eventEssentials{}     // by UID
	contacts := map[string]contactEssentials{} // by FN
	kinds := map[platform.ItemKind]int{}
	copied := copyAll(t, ctx, src, srcMB.ID, c, dst, "mf-in-", func(it platform.Item) {
		kinds[it.Ref.Kind]++
		switch it.Ref.Kind {
		case platform.Mail:
			e := mailOf(t, it)
			mails[e.MessageID] = e
		case platform.Event:
			e := eventOf(t, it)
			events[e.UID] = e
		case platform.Contact:
			e := contactOf(t, it)
			contacts[e.FN] = e
		}
	})
	if kinds[platform.Mail] == 0 || kinds[platform.Event] == 0 || kinds[platform.Contact] == 0 {
		t.Fatalf("the seeded mailbox gave %v; the test needs every kind", kinds)
	}
	st, err := c.Stats(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mail+st.Events+st.Contacts != copied || st.Mail != kinds[platform.Mail] || st.Events != kinds[platform.Event] {
		t.Fatalf("Exchange holds %+v after copying %d items (%v)", st, copied, kinds)
	}
	requests := sb.Requests()
	if again := copyAll(t, ctx, src, srcMB.ID, c, dst, "mf-in-", nil); again != copied {
		t.Fatalf("the re-run copied %d items, want %d", again, copied)
	}
	if st2, _ := c.Stats(ctx, dst); st2 != st {
		t.Fatalf("the re-run changed Exchange: %+v, then %+v", st, st2)
	}
	t.Logf("%d items copied in; the re-run took %d requests and wrote nothing", copied, sb.Requests()-requests)

	recurring, withExceptions, withAttendees := 0, 0, 0
	n := copyAll(t, ctx, c, dst, back, backMB.ID, "mf-out-", func(it platform.Item) {
		switch it.Ref.Kind {
		case platform.Mail:
			got := mailOf(t, it)
			if want, ok := mails[got.MessageID]; !ok || got != want {
				t.Errorf("message %s read back from Exchange as\n %+v\nwant\n %+v", got.MessageID, got, want)
			}
			if it.Received.IsZero() {
				t.Errorf("message %s has no received time", got.MessageID)
			}
		case platform.Event:
			got := eventOf(t, it)
			if want, ok := events[got.UID]; !ok || got != want {
				t.Errorf("calendar item %s read back from Exchange as\n %+v\nwant\n %+v", got.UID, got, want)
			}
			if got.RRule != "" {
				recurring++
			}
			if got.Exceptions > 0 {
				withExceptions++
			}
			if got.Attendees != "" {
				withAttendees++
			}
		case platform.Contact:
			got := contactOf(t, it)
			if want, ok := contacts[got.FN]; !ok || got != want {
				t.Errorf("contact %q read back from Exchange as\n %+v\nwant\n %+v", got.FN, got, want)
			}
		}
	})
	if n != copied || back.Count(backMB.ID) != copied {
		t.Errorf("copied %d items back out (the memory mailbox holds %d), want %d", n, back.Count(backMB.ID), copied)
	}
	if recurring == 0 || withAttendees == 0 {
		t.Errorf("of the calendar items %d were recurring and %d had attendees; the seed must give both", recurring, withAttendees)
	}
	t.Logf("round trip: %d messages, %d calendar items (%d recurring, %d with exceptions, %d with attendees), %d contacts",
		kinds[platform.Mail], kinds[platform.Event], recurring, withExceptions, withAttendees, kinds[platform.Contact])
}

// essentials gathers what must survive of every item a copy reads.
type essentials struct {
	t        *testing.T
	mails    map[string]mailEssentials
	events   map[string]eventEssentials
	contacts map[string]contactEssentials
	kinds    map[platform.ItemKind]int
	// exceptions counts series with modified occurrences.
	exceptions int
}

func newEssentials(t *testing.T) *essentials {
	return &essentials{t: t, mails: map[string]mailEssentials{}, events: map[string]eventEssentials{},
		contacts: map[string]contactEssentials{}, kinds: map[platform.ItemKind]int{}}
}

func (e *essentials) record(it platform.Item) {
	e.kinds[it.Ref.Kind]++
	switch it.Ref.Kind {
	case platform.Mail:
		m := mailOf(e.t, it)
		e.mails[m.MessageID] = m
	case platform.Event:
		ev := eventOf(e.t, it)
		e.events[ev.UID] = ev
		if ev.Exceptions > 0 {
			e.exceptions++
		}
	case platform.Contact:
		ct := contactOf(e.t, it)
		e.contacts[ct.FN] = ct
	}
}

// compare checks every item of another hop against the first.
func (e *essentials) compare(hop string, other *essentials) {
	t := e.t
	t.Helper()
	if fmt.Sprint(e.kinds) != fmt.Sprint(other.kinds) {
		t.Errorf("%s: %v items, want %v", hop, other.kinds, e.kinds)
	}
	for id, got := range other.mails {
		if want := e.mails[id]; got != want {
			t.Errorf("%s: message %s is\n %+v\nwant\n %+v", hop, id, got, want)
		}
	}
	for uid, got := range other.events {
		if want := e.events[uid]; got != want {
			t.Errorf("%s: calendar item %s is\n %+v\nwant\n %+v", hop, uid, got, want)
		}
	}
	for fn, got := range other.contacts {
		if want := e.contacts[fn]; got != want {
			t.Errorf("%s: contact %q is\n %+v\nwant\n %+v", hop, fn, got, want)
		}
	}
}

// TestExchangeToMemoryAndBack reads a seeded Exchange mailbox (mail,
// weekly series with a deleted and a moved occurrence and attendees with
// their answers, contacts and a distribution list) into the memory
// platform and writes it back into another Exchange mailbox: what must
// survive is the same at each hop, exceptions included.
func TestExchangeToMemoryAndBack(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	sb := newSandbox(t, sandbox.Config{})
	srcMB := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 25, EventsPerUser: 16, ContactsPerUser: 5, Seed: testSeed, Profile: tenantgen.Light})[0]
	c := open(t, configFor(t, sb))
	store := memory.NewStore()
	mid := store.AddTenant("mid", "fabrikam.test")
	midMB := mid.AddMailbox(platform.Mailbox{PrimaryAddress: "mid@fabrikam.test"})
	dst := addMailbox(t, sb, "backagain")

	first, second, third := newEssentials(t), newEssentials(t), newEssentials(t)
	n := copyAll(t, ctx, c, srcMB, mid, midMB.ID, "mf-out-", first.record)
	copyAll(t, ctx, mid, midMB.ID, c, dst, "mf-in-", second.record)
	back := open(t, configFor(t, sb)) // a fresh connector: nothing cached
	last := store.AddTenant("last", "fabrikam.test")
	copyAll(t, ctx, back, dst, last, last.AddMailbox(platform.Mailbox{PrimaryAddress: "last@fabrikam.test"}).ID, "mf-last-", third.record)
	if first.exceptions == 0 || first.kinds[platform.Contact] == 0 {
		t.Fatalf("the seeded mailbox gave %v with %d series with exceptions; the test needs them", first.kinds, first.exceptions)
	}
	first.compare("in the memory platform", second)
	first.compare("back in Exchange", third)
	src, err := c.Stats(ctx, srcMB)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Stats(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	if got.Mail != src.Mail || got.Events != src.Events || got.Contacts != src.Contacts {
		t.Errorf("Exchange mailboxes: source %+v, copy %+v", src, got)
	}
	t.Logf("%d items, %d series with exceptions, each the same at every hop", n, first.exceptions)
}
