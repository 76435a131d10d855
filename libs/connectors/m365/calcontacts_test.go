package m365_test

import (
	"bytes"
	"encoding/base64"
	"sort"
	"strings"
	"testing"
	"time"

	ical "github.com/emersion/go-ical"
	"github.com/emersion/go-vcard"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

// A weekly series in Berlin time organised by someone else, with
// attendees' responses, a reminder, a Teams link, one occurrence moved by
// an hour (an exception) and one cancelled (EXDATE).
const seriesICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" +
	"BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n" +
	"BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n" +
	"BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n" +
	"END:VTIMEZONE\r\n" +
	"BEGIN:VEVENT\r\nUID:series-4711@mailferry.test\r\nDTSTAMP:20260302T090000Z\r\n" +
	"DTSTART;TZID=Europe/Berlin:20260309T100000\r\nDTEND;TZID=Europe/Berlin:20260309T110000\r\n" +
	"RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=8\r\nEXDATE;TZID=Europe/Berlin:20260323T100000\r\n" +
	"SUMMARY:Weekly sync – Größenplanung\r\nLOCATION:Room 4.12\r\nDESCRIPTION:Agenda: review\\, decide.\r\n" +
	"ORGANIZER;CN=Chris Organizer:mailto:chris@partner.example\r\n" +
	"ATTENDEE;CN=Ana;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:ana@partner.example\r\n" +
	"ATTENDEE;CN=Bo;ROLE=OPT-PARTICIPANT;PARTSTAT=DECLINED:mailto:bo@other.example\r\n" +
	"ATTENDEE;CN=Cy;ROLE=REQ-PARTICIPANT;PARTSTAT=TENTATIVE:mailto:cy@other.example\r\n" +
	"CONFERENCE;VALUE=URI;FEATURE=VIDEO:https://teams.microsoft.com/l/meetup-join/abc\r\n" +
	"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT10M\r\nEND:VALARM\r\n" +
	"END:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:series-4711@mailferry.test\r\nDTSTAMP:20260302T090000Z\r\n" +
	"RECURRENCE-ID;TZID=Europe/Berlin:20260330T100000\r\n" +
	"DTSTART;TZID=Europe/Berlin:20260330T110000\r\nDTEND;TZID=Europe/Berlin:20260330T120000\r\n" +
	"SUMMARY:Weekly sync (moved)\r\nLOCATION:Room 4.12\r\n" +
	"END:VEVENT\r\nEND:VCALENDAR\r\n"

type eventFacts struct {
	UID, Summary, Rule, Join string
	Start, End               time.Time
	TZID                     string
	ExDates                  []time.Time
	Exceptions               map[int64]time.Time // RECURRENCE-ID -> DTSTART
	Attendees                map[string]string   // address -> PARTSTAT
	Organizer                string
	Alarm                    string
}

func factsOf(t *testing.T, raw []byte) eventFacts {
	t.Helper()
	cal, err := ical.NewDecoder(bytes.NewReader(raw)).Decode()
	if err != nil {
		t.Fatalf("not iCalendar: %v\n%s", err, raw)
	}
	f := eventFacts{Exceptions: map[int64]time.Time{}, Attendees: map[string]string{}}
	at := func(p *ical.Prop) time.Time {
		loc := time.UTC
		if tz := p.Params.Get(ical.PropTimezoneID); tz != "" {
			if l, err := time.LoadLocation(tz); err == nil {
				loc = l
			}
		}
		v, err := p.DateTime(loc)
		if err != nil {
			t.Fatalf("%s %q: %v", p.Name, p.Value, err)
		}
		return v.UTC()
	}
	for _, ev := range cal.Events() {
		if rid := ev.Props.Get(ical.PropRecurrenceID); rid != nil {
			f.Exceptions[at(rid).Unix()] = at(ev.Props.Get(ical.PropDateTimeStart))
			continue
		}
		f.UID = ev.Props.Get(ical.PropUID).Value
		f.Summary, _ = ev.Props.Text(ical.PropSummary)
		st := ev.Props.Get(ical.PropDateTimeStart)
		f.Start, f.TZID = at(st), st.Params.Get(ical.PropTimezoneID)
		f.End = at(ev.Props.Get(ical.PropDateTimeEnd))
		if r := ev.Props.Get(ical.PropRecurrenceRule); r != nil {
			parts := strings.Split(r.Value, ";")
			sort.Strings(parts)
			f.Rule = strings.Join(parts, ";")
		}
		for _, x := range ev.Props.Values(ical.PropExceptionDates) {
			f.ExDates = append(f.ExDates, at(&x))
		}
		for _, a := range ev.Props.Values(ical.PropAttendee) {
			f.Attendees[strings.ToLower(strings.TrimPrefix(a.Value, "mailto:"))] = a.Params.Get(ical.ParamParticipationStatus)
		}
		if o := ev.Props.Get(ical.PropOrganizer); o != nil {
			f.Organizer = strings.ToLower(strings.TrimPrefix(o.Value, "mailto:"))
		}
		if c := ev.Props.Get("CONFERENCE"); c != nil {
			f.Join = c.Value
		}
		for _, a := range ev.Children {
			if a.Name == ical.CompAlarm {
				f.Alarm = a.Props.Get(ical.PropTrigger).Value
			}
		}
	}
	return f
}

func roleFolder(t *testing.T, c platform.Source, mb string, r platform.Role) platform.Folder {
	t.Helper()
	return folderByRole(t, c, mb, r)
}

// TestEventRoundTripSendsNothing moves a recurring meeting with an
// exception, a cancelled occurrence, attendees, a time zone, a reminder
// and a Teams link memory -> Microsoft 365 -> memory. Everything must
// come back, and the sandbox must record no invitation at all.
func TestEventRoundTripSendsNothing(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{})
	c := open(t, configFor(sb))
	ctx := ctxFor(t)
	mb := sb.AddUser("dana@"+sb.Domain(), "Dana")
	store := memory.NewStore()
	mem := store.AddTenant("mem", "fabrikam.test")
	src := mem.AddMailbox(platform.Mailbox{PrimaryAddress: "src@fabrikam.test"})
	dst := mem.AddMailbox(platform.Mailbox{PrimaryAddress: "dst@fabrikam.test"})
	item := platform.Item{Ref: platform.ItemRef{Kind: platform.Event}, ContentType: platform.ContentCalendar, Content: []byte(seriesICS)}
	srcCal := roleFolder(t, mem, src.ID, platform.RoleCalendar)
	srcID, err := mem.WriteItem(ctx, src.ID, srcCal.ID, item, "seed-1")
	if err != nil {
		t.Fatal(err)
	}
	orig, err := mem.ReadItem(ctx, src.ID, platform.ItemRef{ID: srcID, FolderID: srcCal.ID, Kind: platform.Event})
	if err != nil {
		t.Fatal(err)
	}

	cal := roleFolder(t, c, mb, platform.RoleCalendar)
	id, err := c.WriteItem(ctx, mb, cal.ID, orig, "mf-ev-1")
	if err != nil {
		t.Fatalf("WriteItem(event): %v", err)
	}
	if again, err := c.WriteItem(ctx, mb, cal.ID, orig, "mf-ev-1"); err != nil || again != id {
		t.Fatalf("second write = %q, %v; want %q", again, err, id)
	}
	if got, err := c.FindByMarker(ctx, mb, "mf-ev-1"); err != nil || len(got) != 1 || got[0].ID != id || got[0].FolderID != cal.ID {
		t.Fatalf("FindByMarker(event) = %+v %v, want %s in %s", got, err, id, cal.ID)
	}
	if n := sb.EventCount(mb); n != 1 {
		t.Errorf("the calendar holds %d events, want 1", n)
	}
	refs, _, _ := enumerate(t, c, mb, cal.ID, "")
	if len(refs) != 1 || refs[0].ID != id {
		t.Errorf("the calendar lists %+v, want just the series %s", refs, id)
	}
	back, err := c.ReadItem(ctx, mb, platform.ItemRef{ID: id, FolderID: cal.ID, Kind: platform.Event})
	if err != nil {
		t.Fatal(err)
	}
	if err := platformtest.CheckContent(platform.Event, back); err != nil {
		t.Fatalf("read back: %v\n%s", err, back.Content)
	}
	dstCal := roleFolder(t, mem, dst.ID, platform.RoleCalendar)
	finalID, err := mem.WriteItem(ctx, dst.ID, dstCal.ID, back, "mf-back-1")
	if err != nil {
		t.Fatal(err)
	}
	final, err := mem.ReadItem(ctx, dst.ID, platform.ItemRef{ID: finalID, FolderID: dstCal.ID, Kind: platform.Event})
	if err != nil {
		t.Fatal(err)
	}

	want, got := factsOf(t, orig.Content), factsOf(t, final.Content)
	if got.UID != want.UID || got.Summary != want.Summary || !got.Start.Equal(want.Start) || !got.End.Equal(want.End) || got.TZID != want.TZID {
		t.Errorf("series: got %+v\nwant %+v", got, want)
	}
	if got.Rule != want.Rule {
		t.Errorf("RRULE %q, want %q", got.Rule, want.Rule)
	}
	if len(got.ExDates) != 1 || !got.ExDates[0].Equal(want.ExDates[0]) {
		t.Errorf("EXDATE %v, want %v (the cancelled occurrence)", got.ExDates, want.ExDates)
	}
	if len(got.Exceptions) != 1 {
		t.Errorf("exceptions %v, want %v", got.Exceptions, want.Exceptions)
	}
	for k, v := range want.Exceptions {
		if !got.Exceptions[k].Equal(v) {
			t.Errorf("exception of %v starts %v, want %v", time.Unix(k, 0).UTC(), got.Exceptions[k], v)
		}
	}
	if len(got.Attendees) != 3 || got.Organizer != want.Organizer {
		t.Errorf("attendees %v organizer %q, want %v %q", got.Attendees, got.Organizer, want.Attendees, want.Organizer)
	}
	for a, ps := range want.Attendees {
		if got.Attendees[a] != ps {
			t.Errorf("attendee %s: PARTSTAT %q, want %q", a, got.Attendees[a], ps)
		}
	}
	if got.Alarm != "-PT10M" || got.Join != want.Join {
		t.Errorf("alarm %q join %q, want -PT10M and %q", got.Alarm, got.Join, want.Join)
	}
	if inv := sb.Invitations(); len(inv) != 0 || sb.SentMessages() != 0 {
		t.Errorf("the migration sent %d messages: %+v", sb.SentMessages(), inv)
	}
}

// TestSeededCalendarToMemoryAndBack copies every seeded Graph event (real
// meetings with attendees, exceptions, cancellations, all-day events) to
// memory and the memory platform's seeded events to Microsoft 365: all
// arrive once, attendees survive, nothing is sent.
func TestSeededCalendarToMemoryAndBack(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{})
	cfg := configFor(sb)
	cfg.PageSize = 4
	c := open(t, cfg)
	ctx := ctxFor(t)
	mb := sb.Seed(graph.SeedSpec{Users: 2, EventsPerUser: 10, ContactsPerUser: 9, Seed: 3})[0]
	store := memory.NewStore()
	mem := store.AddTenant("mem", "fabrikam.test")
	dst := mem.AddMailbox(platform.Mailbox{PrimaryAddress: "dst@fabrikam.test"})
	copied := map[platform.ItemKind]int{}
	folders, err := c.Folders(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range folders {
		if f.Kind == platform.Mail {
			continue
		}
		df, err := mem.EnsureFolder(ctx, dst.ID, platform.Folder{Name: f.Name, Role: f.Role, Kind: f.Kind})
		if err != nil {
			t.Fatal(err)
		}
		refs, _, _ := enumerate(t, c, mb, f.ID, "")
		for _, r := range refs {
			it, err := c.ReadItem(ctx, mb, r)
			if err != nil {
				t.Fatalf("ReadItem(%s): %v", r.ID, err)
			}
			if err := platformtest.CheckContent(r.Kind, it); err != nil {
				t.Errorf("%s: %v\n%s", r.ID, err, it.Content)
			}
			if _, err := mem.WriteItem(ctx, dst.ID, df.ID, it, "mf-"+r.ID); err != nil {
				t.Fatal(err)
			}
			copied[r.Kind]++
		}
	}
	if copied[platform.Event] != sb.EventCount(mb) || copied[platform.Contact] != sb.ContactCount(mb) {
		t.Errorf("copied %v, the mailbox holds %d events and %d contacts", copied, sb.EventCount(mb), sb.ContactCount(mb))
	}

	// The memory platform's own seeded events and contacts into an empty
	// Microsoft 365 mailbox.
	src := memory.Seed(mem, memory.SeedSpec{Mailboxes: 1, ItemsPerMailbox: 60, Seed: 9})[0]
	target := sb.AddUser("target@"+sb.Domain(), "Target")
	sfolders, err := mem.Folders(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	written := map[platform.ItemKind]int{}
	for _, f := range sfolders {
		if f.Kind == platform.Mail {
			continue
		}
		df, err := c.EnsureFolder(ctx, target, platform.Folder{Name: f.Name, Role: f.Role, Kind: f.Kind})
		if err != nil {
			t.Fatalf("EnsureFolder(%+v): %v", f, err)
		}
		refs, _, _ := enumerate(t, mem, src.ID, f.ID, "")
		for _, r := range refs {
			it, err := mem.ReadItem(ctx, src.ID, r)
			if err != nil {
				t.Fatal(err)
			}
			id, err := c.WriteItem(ctx, target, df.ID, it, "mf-mem-"+r.ID)
			if err != nil {
				t.Fatalf("WriteItem(%s): %v\n%s", r.ID, err, it.Content)
			}
			back, err := c.ReadItem(ctx, target, platform.ItemRef{ID: id, FolderID: df.ID, Kind: r.Kind})
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind == platform.Event {
				w, g := factsOf(t, it.Content), factsOf(t, back.Content)
				if g.UID != w.UID || len(g.Attendees) != len(w.Attendees) || !g.Start.Equal(w.Start) || g.Rule != w.Rule ||
					len(g.ExDates) != len(w.ExDates) || len(g.Exceptions) != len(w.Exceptions) {
					t.Errorf("event %s came back as %+v, want %+v", r.ID, g, w)
				}
			}
			written[r.Kind]++
		}
	}
	if written[platform.Event] == 0 || written[platform.Contact] == 0 {
		t.Fatalf("the memory seed gave %v; want events and contacts", written)
	}
	if sb.EventCount(target) != written[platform.Event] || sb.ContactCount(target) != written[platform.Contact] {
		t.Errorf("target holds %d events and %d contacts, want %v", sb.EventCount(target), sb.ContactCount(target), written)
	}
	if n := len(sb.Invitations()); n != 0 {
		t.Errorf("%d invitations sent", n)
	}
}

// A 1x1 PNG.
var pngPixel, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")

func contactCard() string {
	return "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:6f1c2a3b-1111-4222-8333-944455556666\r\n" +
		"FN:Jürgen Müller-Lüdenscheidt\r\nN:Müller-Lüdenscheidt;Jürgen;Karl;Dr.;Jr.\r\nNICKNAME:Jogi\r\n" +
		"EMAIL;TYPE=work;PREF=1:juergen@partner.example\r\nEMAIL;TYPE=home:jm@home.example\r\n" +
		"EMAIL:j.m@third.example\r\nEMAIL:fourth@overflow.example\r\nEMAIL;TYPE=home:fifth@overflow.example\r\n" +
		"TEL;VALUE=uri;TYPE=\"work,voice\";PREF=1:tel:+49-30-555-0101\r\nTEL;VALUE=uri;TYPE=cell:tel:+49-170-555-0102\r\n" +
		"TEL;VALUE=uri;TYPE=home:tel:+49-30-555-0103\r\nTEL;TYPE=fax:+49-30-555-0109\r\n" +
		"ADR;TYPE=work:;;Friedrichstraße 123;Berlin;;10117;Germany\r\nADR;TYPE=home:;;Hauptstr. 5;Potsdam;BB;14467;Germany\r\n" +
		"ADR:;;1 Other Rd;London;;N1 9GU;UK\r\n" +
		"BDAY:19800412\r\nNOTE:Met at the migration workshop\\, prefers email.\r\nORG:Partner AG;Einkauf\r\nTITLE:Projektleiter\r\n" +
		"IMPP:xmpp:juergen@partner.example\r\nURL:https://partner.example/juergen\r\nCATEGORIES:Kunden,VIP\r\n" +
		"RELATED;TYPE=spouse;VALUE=text:Anna\r\n" +
		"PHOTO:data:image/png;base64," + base64.StdEncoding.EncodeToString(pngPixel) + "\r\n" +
		"END:VCARD\r\n"
}

func cardOf(t *testing.T, raw []byte) vcard.Card {
	t.Helper()
	c, err := vcard.NewDecoder(bytes.NewReader(raw)).Decode()
	if err != nil {
		t.Fatalf("not a vCard: %v\n%s", err, raw)
	}
	return c
}

func values(c vcard.Card, k string) []string {
	var out []string
	for _, f := range c[k] {
		out = append(out, strings.TrimPrefix(strings.ToLower(f.Value), "tel:"))
	}
	sort.Strings(out)
	return out
}

// TestContactRoundTrip moves a contact with more than Exchange holds (five
// addresses, a fax number) and a photo memory -> Microsoft 365 -> memory:
// every field comes back, the photo byte for byte.
func TestContactRoundTrip(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{})
	c := open(t, configFor(sb))
	ctx := ctxFor(t)
	mb := sb.AddUser("erin@"+sb.Domain(), "Erin")
	store := memory.NewStore()
	mem := store.AddTenant("mem", "fabrikam.test")
	dst := mem.AddMailbox(platform.Mailbox{PrimaryAddress: "dst@fabrikam.test"})
	item := platform.Item{Ref: platform.ItemRef{Kind: platform.Contact}, ContentType: platform.ContentVCard, Content: []byte(contactCard())}

	kunden, err := c.EnsureFolder(ctx, mb, platform.Folder{Name: "Kunden", Kind: platform.Contact})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.EnsureFolder(ctx, mb, platform.Folder{Name: "kunden", Kind: platform.Contact}); err != nil || again.ID != kunden.ID {
		t.Fatalf("EnsureFolder twice: %+v, %v; want %s", again, err, kunden.ID)
	}
	root := roleFolder(t, c, mb, platform.RoleContacts)
	if kunden.ParentID != root.ID {
		t.Errorf("new contact folder has parent %q, want the default folder %q", kunden.ParentID, root.ID)
	}
	// Exchange holds three addresses and no fax number: the contact is
	// stored, and the write says what is kept only in the notes, by
	// property name (the values are personal data).
	id, err := c.WriteItem(ctx, mb, kunden.ID, item, "mf-ct-1")
	if id == "" || !platform.IsWarning(err) {
		t.Fatalf("WriteItem(contact with overflow) = %q, %v; want the id with a %s warning", id, err, platform.CopiedWithWarnings)
	}
	e, _ := errs.As(err)
	t.Logf("warning: %s", e.Cause)
	for _, want := range []string{"EMAIL", "EMAIL (home)", "TEL (fax)", "notes"} {
		if !strings.Contains(e.Cause, want) {
			t.Errorf("warning %q does not name %q", e.Cause, want)
		}
	}
	if strings.Contains(e.Cause, "overflow.example") || strings.Contains(e.Cause, "555-0109") {
		t.Errorf("warning %q quotes the values", e.Cause)
	}
	if again, err := c.WriteItem(ctx, mb, kunden.ID, item, "mf-ct-1"); again != id || !platform.IsWarning(err) {
		t.Fatalf("second write = %q, %v; want %s with the same warning", again, err, id)
	}
	// A contact that fits has no warning.
	plain := platform.Item{Ref: platform.ItemRef{Kind: platform.Contact}, ContentType: platform.ContentVCard,
		Content: []byte("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Plain Fit\r\nEMAIL:plain@fits.example\r\nTEL;TYPE=cell:+1-555-0100\r\nEND:VCARD\r\n")}
	if pid, err := c.WriteItem(ctx, mb, kunden.ID, plain, "mf-ct-plain"); pid == "" || err != nil {
		t.Errorf("WriteItem(contact that fits) = %q, %v", pid, err)
	}
	if got, err := c.FindByMarker(ctx, mb, "mf-ct-1"); err != nil || len(got) != 1 || got[0].ID != id || got[0].FolderID != kunden.ID {
		t.Fatalf("FindByMarker(contact) = %+v %v, want %s in %s", got, err, id, kunden.ID)
	}
	if n := sb.ContactCount(mb); n != 2 {
		t.Errorf("%d contacts stored, want 2", n)
	}
	back, err := c.ReadItem(ctx, mb, platform.ItemRef{ID: id, FolderID: kunden.ID, Kind: platform.Contact})
	if err != nil {
		t.Fatal(err)
	}
	dstFolder, err := mem.EnsureFolder(ctx, dst.ID, platform.Folder{Name: "Kunden", Kind: platform.Contact})
	if err != nil {
		t.Fatal(err)
	}
	fid, err := mem.WriteItem(ctx, dst.ID, dstFolder.ID, back, "mf-back")
	if err != nil {
		t.Fatal(err)
	}
	final, err := mem.ReadItem(ctx, dst.ID, platform.ItemRef{ID: fid, FolderID: dstFolder.ID, Kind: platform.Contact})
	if err != nil {
		t.Fatal(err)
	}
	want, got := cardOf(t, item.Content), cardOf(t, final.Content)
	for _, k := range []string{vcard.FieldUID, vcard.FieldFormattedName, vcard.FieldName, vcard.FieldNickname, vcard.FieldEmail,
		vcard.FieldTelephone, vcard.FieldAddress, vcard.FieldBirthday, vcard.FieldNote, vcard.FieldOrganization, vcard.FieldTitle,
		vcard.FieldIMPP, vcard.FieldURL, vcard.FieldRelated} {
		if w, g := values(want, k), values(got, k); strings.Join(w, "|") != strings.Join(g, "|") {
			t.Errorf("%s: got %q, want %q", k, g, w)
		}
	}
	for _, f := range got[vcard.FieldEmail] {
		if strings.EqualFold(f.Value, "juergen@partner.example") && !f.Params.HasType("work") {
			t.Errorf("the work address lost its TYPE: %+v", f.Params)
		}
	}
	if g, w := strings.Join(got.Categories(), ","), "Kunden,VIP"; g != w {
		t.Errorf("categories %q, want %q", g, w)
	}
	p := got.Get(vcard.FieldPhoto)
	if p == nil {
		t.Fatal("the photo was lost")
	}
	_, data, _ := strings.Cut(p.Value, ",")
	if b, err := base64.StdEncoding.DecodeString(data); err != nil || !bytes.Equal(b, pngPixel) {
		t.Errorf("photo came back as %q", p.Value)
	}
	if sb.SentMessages() != 0 {
		t.Errorf("%d messages sent", sb.SentMessages())
	}
}
