package ews_test

import (
	"strings"
	"testing"
	"time"

	ical "github.com/emersion/go-ical"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/pim"
	"github.com/mailferry/mailferry/libs/platform"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
)

// series is a weekly meeting in Berlin across the start of summer time,
// organised by someone else, with answers, a room, a reminder, one
// deleted and one moved occurrence.
const series = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" +
	"BEGIN:VEVENT\r\nUID:series-1@mailferry.test\r\nDTSTAMP:20260301T090000Z\r\n" +
	"DTSTART;TZID=Europe/Berlin:20260303T090000\r\nDTEND;TZID=Europe/Berlin:20260303T093000\r\n" +
	"RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=10\r\nEXDATE;TZID=Europe/Berlin:20260317T090000\r\n" +
	"SUMMARY:Jour fixe\r\nLOCATION:Raum 4.11\r\nDESCRIPTION:Agenda follows.\r\nCATEGORIES:Team\r\n" +
	"ORGANIZER;CN=Olga Organizer:mailto:olga@partner.example\r\n" +
	"ATTENDEE;CN=Anna;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:anna@partner.example\r\n" +
	"ATTENDEE;CN=Bert;ROLE=REQ-PARTICIPANT;PARTSTAT=DECLINED:mailto:bert@partner.example\r\n" +
	"ATTENDEE;CN=Cleo;ROLE=OPT-PARTICIPANT;PARTSTAT=TENTATIVE:mailto:cleo@partner.example\r\n" +
	"ATTENDEE;CN=Raum 4.11;CUTYPE=RESOURCE;ROLE=NON-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:room411@partner.example\r\n" +
	"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n" +
	"END:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:series-1@mailferry.test\r\nDTSTAMP:20260301T090000Z\r\n" +
	"RECURRENCE-ID;TZID=Europe/Berlin:20260324T090000\r\n" +
	"DTSTART;TZID=Europe/Berlin:20260324T110000\r\nDTEND;TZID=Europe/Berlin:20260324T113000\r\n" +
	"SUMMARY:Jour fixe (moved)\r\nLOCATION:Raum 2.01\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

// allDay is a monthly all-day event on the second Monday, until the end
// of the year.
const allDay = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" +
	"BEGIN:VEVENT\r\nUID:allday-1@mailferry.test\r\nDTSTAMP:20260301T090000Z\r\n" +
	"DTSTART;VALUE=DATE:20260309\r\nDTEND;VALUE=DATE:20260310\r\nRRULE:FREQ=MONTHLY;BYDAY=2MO;UNTIL=20261231\r\n" +
	"SUMMARY:Payroll day\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

func event(raw, version string) platform.Item {
	return platform.Item{Ref: platform.ItemRef{Kind: platform.Event, ChangeKey: version}, ContentType: platform.ContentCalendar, Content: []byte(raw)}
}

// TestMeetingsKeepTheirShapeAndInviteNobody writes a meeting series and an
// all-day series and reads them back: the rule, the zone (occurrences after
// the change to summer time stay at 09:00 in Berlin), the deleted and the
// moved occurrence, the organizer, the attendees with their answers, the
// reminder and the categories survive, and Exchange sent nothing (the
// sandbox counts every meeting message; newSandbox's cleanup asserts none).
// A rule Exchange cannot express is refused and leaves nothing behind.
func TestMeetingsKeepTheirShapeAndInviteNobody(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	c := open(t, configFor(t, sb))
	ctx := ctxFor(t)
	mb := addMailbox(t, sb, "calendar")
	cal := folderByRole(t, c, mb, platform.RoleCalendar)

	id, err := c.WriteItem(ctx, mb, cal.ID, event(series, "s-v1"), "mf-series")
	if err != nil {
		t.Fatalf("WriteItem: %v", err)
	}
	if found, err := c.FindByMarker(ctx, mb, "mf-series"); err != nil || len(found) != 1 || found[0].Version != "s-v1" {
		t.Fatalf("FindByMarker after the series: %+v %v", found, err)
	}
	// The sandbox expands the series in its Windows zone: the sixth
	// occurrence (7 April, summer time) is at 09:00 Berlin, 07:00 UTC.
	var gr soap.GetItemResponse
	if err := rawClient(sb).Call(ctx, mb, &soap.GetItem{ItemShape: soap.ItemShape{BaseShape: soap.ShapeDefault},
		ItemIDs: soap.ItemIDs{OccurrenceItemID: []soap.OccurrenceItemID{{RecurringMasterID: id, InstanceIndex: 6}}}}, &gr); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("GetItem", gr.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	if got := gr.ResponseMessages.Messages[0].Items.Items[0].CalendarItem.Start.UTC(); !got.Equal(time.Date(2026, 4, 7, 7, 0, 0, 0, time.UTC)) {
		t.Errorf("the sixth occurrence starts at %s, want 09:00 Berlin summer time", got)
	}

	it, err := c.ReadItem(ctx, mb, platform.ItemRef{ID: id, FolderID: cal.ID, Kind: platform.Event})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pim.ParseEvent(it.Content)
	if err != nil {
		t.Fatalf("read back: %v\n%s", err, it.Content)
	}
	m := p.Master
	berlin, _ := time.LoadLocation("Europe/Berlin")
	checks := []struct{ what, got, want string }{
		{"UID", p.UID, "series-1@mailferry.test"},
		{"zone", p.Loc.String(), "Europe/Berlin"},
		{"DTSTART", m.Props.Get(ical.PropDateTimeStart).Value, "20260303T090000"},
		{"RRULE", m.Props.Get(ical.PropRecurrenceRule).Value, "FREQ=WEEKLY;BYDAY=TU;COUNT=10"},
		{"SUMMARY", pim.Text(m, ical.PropSummary), "Jour fixe"},
		{"LOCATION", pim.Text(m, ical.PropLocation), "Raum 4.11"},
		{"CATEGORIES", strings.Join(pim.Categories(m), ","), "Team"},
		{"ORGANIZER", m.Props.Get(ical.PropOrganizer).Value, "mailto:olga@partner.example"},
	}
	if x := m.Props.Values(ical.PropExceptionDates); len(x) == 1 {
		checks = append(checks, struct{ what, got, want string }{"EXDATE", x[0].Value, "20260317T090000"})
	} else {
		t.Errorf("%d EXDATEs, want 1", len(x))
	}
	if len(p.Exceptions) == 1 {
		ex := p.Exceptions[0]
		rid, _, _, _ := pim.PropTime(ex.Props.Get(ical.PropRecurrenceID), berlin)
		st, _, _, _ := pim.PropTime(ex.Props.Get(ical.PropDateTimeStart), berlin)
		checks = append(checks, struct{ what, got, want string }{"RECURRENCE-ID", rid.In(berlin).Format("2006-01-02 15:04"), "2026-03-24 09:00"},
			struct{ what, got, want string }{"moved start", st.In(berlin).Format("2006-01-02 15:04"), "2026-03-24 11:00"},
			struct{ what, got, want string }{"moved summary", pim.Text(ex, ical.PropSummary), "Jour fixe (moved)"})
	} else {
		t.Errorf("%d exceptions, want 1", len(p.Exceptions))
	}
	answers := map[string]string{}
	for _, a := range m.Props.Values(ical.PropAttendee) {
		answers[pim.Address(a.Value)] = a.Params.Get(ical.ParamRole) + "/" + a.Params.Get(ical.ParamParticipationStatus)
	}
	for addr, want := range map[string]string{"anna@partner.example": "REQ-PARTICIPANT/ACCEPTED", "bert@partner.example": "REQ-PARTICIPANT/DECLINED",
		"cleo@partner.example": "OPT-PARTICIPANT/TENTATIVE", "room411@partner.example": "NON-PARTICIPANT/ACCEPTED"} {
		checks = append(checks, struct{ what, got, want string }{"attendee " + addr, answers[addr], want})
	}
	alarms := 0
	for _, ch := range m.Children {
		if ch.Name == ical.CompAlarm && ch.Props.Get(ical.PropTrigger).Value == "-PT15M" {
			alarms++
		}
	}
	checks = append(checks, struct{ what, got, want string }{"reminder", strings.Repeat("x", alarms), "x"})
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: %q, want %q", ch.what, ch.got, ch.want)
		}
	}

	// Replacing the series with a new version deletes the old one: again
	// without telling anyone.
	id2, err := c.WriteItem(ctx, mb, cal.ID, event(series, "s-v2"), "mf-series")
	if err != nil || id2 == id {
		t.Fatalf("the second version: %q %v", id2, err)
	}
	if err := c.DeleteItem(ctx, mb, platform.Placed{ID: id, FolderID: cal.ID}); err != nil {
		t.Fatal(err)
	}

	dayID, err := c.WriteItem(ctx, mb, cal.ID, event(allDay, "d-v1"), "mf-allday")
	if err != nil {
		t.Fatalf("the all-day series: %v", err)
	}
	day, err := c.ReadItem(ctx, mb, platform.ItemRef{ID: dayID, Kind: platform.Event})
	if err != nil {
		t.Fatal(err)
	}
	dp, err := pim.ParseEvent(day.Content)
	if err != nil {
		t.Fatal(err)
	}
	if st := dp.Master.Props.Get(ical.PropDateTimeStart); st.Value != "20260309" || st.Params.Get(ical.ParamValue) != "DATE" {
		t.Errorf("all-day start %+v", st)
	}
	if rr := dp.Master.Props.Get(ical.PropRecurrenceRule).Value; rr != "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=2;UNTIL=20261231" {
		t.Errorf("all-day rule %q", rr)
	}
	if tr := pim.Text(dp.Master, ical.PropTransparency); tr != "TRANSPARENT" {
		t.Errorf("all-day transparency %q", tr)
	}

	biennial := strings.Replace(allDay, "FREQ=MONTHLY;BYDAY=2MO;UNTIL=20261231", "FREQ=YEARLY;INTERVAL=2", 1)
	if _, err := c.WriteItem(ctx, mb, cal.ID, event(biennial, "b-v1"), "mf-biennial"); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "INTERVAL") {
		t.Errorf("a biennial rule: %v, want %s naming INTERVAL", err, errs.Invalid)
	}
	if found, _ := c.FindByMarker(ctx, mb, "mf-biennial"); len(found) != 0 {
		t.Errorf("the refused item left %+v", found)
	}
	st, err := c.Stats(ctx, mb)
	if err != nil || st.Events != 2 {
		t.Errorf("the calendar holds %d items (%v), want the new series and the all-day one", st.Events, err)
	}
}

// TestInvitationCounterCounts: the sandbox's count of meeting messages,
// which every calendar test relies on to prove that nothing was sent,
// does count an invitation when one is asked for.
func TestInvitationCounterCounts(t *testing.T) {
	t.Parallel()
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	sb.Seed(sandbox.SeedSpec{Seed: testSeed})
	mb := sb.Mailboxes()[0].SMTP
	ci := &soap.CalendarItem{Start: soap.NewDateTime(time.Now()), End: soap.NewDateTime(time.Now().Add(time.Hour)),
		RequiredAttendees: &soap.Attendees{Attendee: []soap.Attendee{{Mailbox: soap.EmailAddress{EmailAddress: "anna@partner.example"}}}}}
	ci.Subject = soap.String("invite")
	var resp soap.CreateItemResponse
	if err := rawClient(sb).Call(ctxFor(t), mb, &soap.CreateItem{SendMeetingInvitations: "SendToAllAndSaveCopy",
		Items: soap.Items{Items: []soap.AnyItem{{CalendarItem: ci}}}}, &resp); err != nil {
		t.Fatal(err)
	}
	if inv := sb.Invitations(); len(inv) != 1 || inv[0].Recipients[0] != "anna@partner.example" {
		t.Fatalf("an invitation asked for is counted as %+v", inv)
	}
}
