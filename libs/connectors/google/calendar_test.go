package google_test

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	ical "github.com/emersion/go-ical"
	"google.golang.org/api/calendar/v3"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

// meetingICS is a weekly meeting organised by someone outside the
// Workspace, in Berlin time, with one occurrence moved, one cancelled, an
// attendee of every answer, an optional one, a room and a reminder.
func meetingICS(uid string) string {
	return strings.Join([]string{
		"BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//mailferry//test//EN",
		"BEGIN:VEVENT",
		"UID:" + uid,
		"DTSTAMP:20260301T120000Z",
		"DTSTART;TZID=Europe/Berlin:20260302T090000",
		"DTEND;TZID=Europe/Berlin:20260302T100000",
		"RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=MO",
		"EXDATE;TZID=Europe/Berlin:20260316T090000",
		"SUMMARY:Weekly planning – Müller GmbH",
		"DESCRIPTION:Agenda:\\n1. Status\\n2. Risks",
		"LOCATION:Raum 4.12",
		"SEQUENCE:3",
		"CATEGORIES:Kunde,Blue category",
		"ORGANIZER;CN=Jana Müller:mailto:jana@partner.example",
		"ATTENDEE;CN=Jana Müller;ROLE=CHAIR;PARTSTAT=ACCEPTED:mailto:jana@partner.example",
		"ATTENDEE;CN=Ana Lima;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:ana@acme.example",
		"ATTENDEE;CN=Bob Stone;ROLE=REQ-PARTICIPANT;PARTSTAT=DECLINED:mailto:bob@partner.example",
		"ATTENDEE;CN=Cleo;ROLE=OPT-PARTICIPANT;PARTSTAT=TENTATIVE:mailto:cleo@partner.example",
		"ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:dan@partner.example",
		"ATTENDEE;CUTYPE=RESOURCE;ROLE=NON-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:room-412@partner.example",
		"BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Reminder", "TRIGGER:-PT15M", "END:VALARM",
		"END:VEVENT",
		"BEGIN:VEVENT",
		"UID:" + uid,
		"DTSTAMP:20260301T120000Z",
		"RECURRENCE-ID;TZID=Europe/Berlin:20260309T090000",
		"DTSTART;TZID=Europe/Berlin:20260309T140000",
		"DTEND;TZID=Europe/Berlin:20260309T150000",
		"SUMMARY:Weekly planning (moved)",
		"ORGANIZER;CN=Jana Müller:mailto:jana@partner.example",
		"ATTENDEE;CN=Ana Lima;PARTSTAT=TENTATIVE:mailto:ana@acme.example",
		"END:VEVENT",
		"END:VCALENDAR", ""}, "\r\n")
}

type eventFacts struct {
	UID, Start, RRule, Summary string
	ExDates, Exceptions        []string
	Attendees                  []string // address:partstat[:role]
	Organizer                  string
	Alarms                     []string
	Categories                 []string
}

func factsOf(t *testing.T, raw []byte) eventFacts {
	t.Helper()
	cal, err := ical.NewDecoder(bytes.NewReader(raw)).Decode()
	if err != nil {
		t.Fatalf("not iCalendar: %v\n%s", err, raw)
	}
	var f eventFacts
	for _, ev := range cal.Events() {
		if rid := ev.Props.Get(ical.PropRecurrenceID); rid != nil {
			st := ev.Props.Get(ical.PropDateTimeStart)
			f.Exceptions = append(f.Exceptions, rid.Params.Get(ical.PropTimezoneID)+"|"+rid.Value+"->"+st.Value)
			continue
		}
		f.UID = ev.Props.Get(ical.PropUID).Value
		st := ev.Props.Get(ical.PropDateTimeStart)
		f.Start = st.Params.Get(ical.PropTimezoneID) + "|" + st.Value
		if r := ev.Props.Get(ical.PropRecurrenceRule); r != nil {
			f.RRule = r.Value
		}
		f.Summary, _ = ev.Props.Text(ical.PropSummary)
		for _, x := range ev.Props.Values(ical.PropExceptionDates) {
			f.ExDates = append(f.ExDates, x.Params.Get(ical.PropTimezoneID)+"|"+x.Value)
		}
		if o := ev.Props.Get(ical.PropOrganizer); o != nil {
			f.Organizer = strings.ToLower(o.Value)
		}
		for _, a := range ev.Props.Values(ical.PropAttendee) {
			s := strings.ToLower(strings.TrimPrefix(strings.ToLower(a.Value), "mailto:")) + ":" + a.Params.Get(ical.ParamParticipationStatus)
			if r := a.Params.Get(ical.ParamRole); r == "OPT-PARTICIPANT" {
				s += ":optional"
			}
			if a.Params.Get(ical.ParamCalendarUserType) == "RESOURCE" {
				s += ":resource"
			}
			f.Attendees = append(f.Attendees, s)
		}
		for _, a := range ev.Children {
			if a.Name == ical.CompAlarm {
				f.Alarms = append(f.Alarms, a.Props.Get(ical.PropTrigger).Value)
			}
		}
		for _, c := range ev.Props.Values(ical.PropCategories) {
			l, _ := c.TextList()
			f.Categories = append(f.Categories, l...)
		}
	}
	for _, l := range [][]string{f.ExDates, f.Exceptions, f.Attendees, f.Categories} {
		sort.Strings(l)
	}
	return f
}

// TestEventImportSendsNothing writes a meeting series with attendees
// through events.import: nothing is sent (the sandbox counts invitations,
// updates and cancellations), the iCalUID, organizer, attendees and their
// answers, recurrence, exceptions, time zone and reminder come back, and
// replacing and deleting the copy sends nothing either.
func TestEventImportSendsNothing(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	c := open(t, configFor(sb))
	ctx := ctxFor(t)
	mb := "ana@" + sb.Domain()
	sb.AddUser(mb, "Ana Lima")
	cal := folderByRole(t, c, mb, platform.RoleCalendar)
	uid := "040000008200E00074C5B7101A82E0080000000090d1f2@partner.example"
	src := platform.Item{Ref: platform.ItemRef{Kind: platform.Event, ChangeKey: "v1"}, ContentType: platform.ContentCalendar,
		Content: []byte(meetingICS(uid)), Categories: []string{"Red category"}}
	id, err := c.WriteItem(ctx, mb, cal.ID, src, "mf-meeting")
	if err != nil {
		t.Fatalf("WriteItem: %v", err)
	}
	if n := len(sb.Invitations()); n != 0 || sb.SentMessages() != 0 {
		t.Fatalf("importing a meeting sent %d invitations and %d messages", n, sb.SentMessages())
	}
	// What Calendar holds, seen by the user through the official client.
	got, err := calendarAs(t, sb, mb).Events.Get("primary", eventID(id)).Do()
	if err != nil {
		t.Fatal(err)
	}
	if got.ICalUID != uid || got.Organizer == nil || got.Organizer.Email != "jana@partner.example" || len(got.Attendees) != 6 {
		t.Fatalf("stored event: uid %q organizer %+v %d attendees", got.ICalUID, got.Organizer, len(got.Attendees))
	}
	answers := map[string]string{}
	for _, a := range got.Attendees {
		answers[a.Email] = a.ResponseStatus
	}
	for addr, want := range map[string]string{"ana@acme.example": "accepted", "bob@partner.example": "declined",
		"cleo@partner.example": "tentative", "dan@partner.example": "needsAction"} {
		if answers[addr] != want {
			t.Errorf("attendee %s answered %q, want %q", addr, answers[addr], want)
		}
	}

	want := factsOf(t, []byte(meetingICS(uid)))
	want.Categories = append(want.Categories, "Red category")
	sort.Strings(want.Categories)
	refs, _, _ := enumerate(t, c, mb, cal.ID, "")
	if len(refs) != 1 || refs[0].ID != id {
		t.Fatalf("the calendar lists %+v, want just %s (exceptions are read with their series)", refs, id)
	}
	it, err := c.ReadItem(ctx, mb, refs[0])
	if err != nil {
		t.Fatal(err)
	}
	back := factsOf(t, it.Content)
	if fmt.Sprintf("%+v", back) != fmt.Sprintf("%+v", want) {
		t.Errorf("read back\n got %+v\nwant %+v", back, want)
	}
	if !bytes.Contains(it.Content, []byte("BEGIN:VTIMEZONE")) || !bytes.Contains(it.Content, []byte("TZID:Europe/Berlin")) {
		t.Errorf("no VTIMEZONE for Europe/Berlin:\n%s", it.Content)
	}

	// A new version replaces the copy; the old one's deletion, the
	// deletion of the series and a re-run send nothing.
	v2 := src
	v2.Ref.ChangeKey = "v2"
	v2.Content = []byte(strings.Replace(meetingICS(uid), "Raum 4.12", "Raum 5.01", 1))
	id2, err := c.WriteItem(ctx, mb, cal.ID, v2, "mf-meeting")
	if err != nil || id2 == id {
		t.Fatalf("new version: %q, %v (first copy %q)", id2, err, id)
	}
	if err := c.DeleteItem(ctx, mb, platform.Placed{ID: id, FolderID: cal.ID, Version: "v1"}); err != nil {
		t.Fatal(err)
	}
	found, err := c.FindByMarker(ctx, mb, "mf-meeting")
	if err != nil || len(found) != 1 || found[0].ID != id2 || found[0].Version != "v2" {
		t.Fatalf("after replacing: %+v, %v", found, err)
	}
	if again, err := c.WriteItem(ctx, mb, cal.ID, v2, "mf-meeting"); err != nil || again != id2 {
		t.Fatalf("re-run wrote %q, %v", again, err)
	}
	if err := c.DeleteItem(ctx, mb, found[0]); err != nil {
		t.Fatal(err)
	}
	if refs, _, _ := enumerate(t, c, mb, cal.ID, ""); len(refs) != 0 {
		t.Errorf("after deleting the copy the calendar lists %+v", refs)
	}
	if n := len(sb.Invitations()); n != 0 || sb.SentMessages() != 0 {
		t.Fatalf("%d invitations and %d messages sent", n, sb.SentMessages())
	}
}

// TestCalendarDelta: the sync token reports a changed exception as its
// series (with a version that matches no copy, so the series is read), a
// deleted series as deleted, and an expired token as invalid_input so that
// the engine enumerates in full.
func TestCalendarDelta(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	c := open(t, configFor(sb))
	ctx := ctxFor(t)
	mb := "ana@" + sb.Domain()
	sb.AddUser(mb, "Ana Lima")
	cal := folderByRole(t, c, mb, platform.RoleCalendar)
	id, err := c.WriteItem(ctx, mb, cal.ID, platform.Item{Ref: platform.ItemRef{ChangeKey: "v1"}, ContentType: platform.ContentCalendar,
		Content: []byte(meetingICS("series-1@partner.example"))}, "mf-series")
	if err != nil {
		t.Fatal(err)
	}
	_, delta, _ := enumerate(t, c, mb, cal.ID, "")
	svc := calendarAs(t, sb, mb)
	inst, err := svc.Events.Instances("primary", eventID(id)).Do()
	if err != nil || len(inst.Items) < 4 {
		t.Fatalf("instances: %v, %v", inst, err)
	}
	if _, err := svc.Events.Patch("primary", inst.Items[3].Id, &calendar.Event{Summary: "moved by its owner"}).SendUpdates("none").Do(); err != nil {
		t.Fatal(err)
	}
	changed, delta2, _ := enumerate(t, c, mb, cal.ID, delta)
	if len(changed) != 1 || changed[0].ID != eventID(id) || changed[0].Deleted || !strings.HasPrefix(changed[0].ChangeKey, "instance:") {
		t.Fatalf("delta after editing one occurrence: %+v", changed)
	}
	it, err := c.ReadItem(ctx, mb, changed[0])
	if err != nil {
		t.Fatal(err)
	}
	if n := len(factsOf(t, it.Content).Exceptions); n != 2 {
		t.Errorf("the series now has %d exceptions, want 2", n)
	}
	if err := svc.Events.Delete("primary", eventID(id)).SendUpdates("none").Do(); err != nil {
		t.Fatal(err)
	}
	gone, _, _ := enumerate(t, c, mb, cal.ID, delta2)
	if !slices.ContainsFunc(gone, func(r platform.ItemRef) bool { return r.ID == eventID(id) && r.Deleted }) {
		t.Errorf("delta after deleting the series: %+v", gone)
	}
	sb.ExpireSyncTokens(mb)
	if _, err := c.Items(ctx, mb, cal.ID, delta2); !errs.Is(err, errs.Invalid) {
		t.Errorf("an expired sync token: %v, want invalid_input", err)
	}
}
