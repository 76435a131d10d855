package google_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/calendar/v3"

	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

func importedSeries() *calendar.Event {
	return &calendar.Event{
		ICalUID:     "series-7@partner.example",
		Summary:     "Jour fixe",
		Description: "Weekly status with the partner",
		Location:    "Room 4.12",
		Start:       &calendar.EventDateTime{DateTime: "2026-01-05T09:00:00-05:00", TimeZone: "America/New_York"},
		End:         &calendar.EventDateTime{DateTime: "2026-01-05T09:30:00-05:00", TimeZone: "America/New_York"},
		Recurrence:  []string{"RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6", "EXDATE;TZID=America/New_York:20260119T090000"},
		Organizer:   &calendar.EventOrganizer{Email: "lead@partner.example", DisplayName: "Partner Lead"},
		Attendees: []*calendar.EventAttendee{
			{Email: "lead@partner.example", ResponseStatus: "accepted", Organizer: true},
			{Email: "ana@acme.example", ResponseStatus: "tentative"},
			{Email: "bob@acme.example", ResponseStatus: "declined", Optional: true},
		},
		Sequence: 3,
	}
}

func TestCalendarImportKeepsICalUIDAndSendsNothing(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	svc := calendarFor(t, sb, "ana@acme.example")
	master, err := svc.Events.Import("primary", importedSeries()).Do()
	if err != nil {
		t.Fatal(err)
	}
	if master.ICalUID != "series-7@partner.example" || master.Organizer.Email != "lead@partner.example" || master.Sequence != 3 {
		t.Fatalf("imported %+v organizer %+v", master, master.Organizer)
	}
	// A moved occurrence and a cancelled one, imported as exceptions.
	moved := importedSeries()
	moved.Recurrence = nil
	moved.OriginalStartTime = &calendar.EventDateTime{DateTime: "2026-01-12T09:00:00-05:00", TimeZone: "America/New_York"}
	moved.Start = &calendar.EventDateTime{DateTime: "2026-01-13T14:00:00-05:00", TimeZone: "America/New_York"}
	moved.End = &calendar.EventDateTime{DateTime: "2026-01-13T14:30:00-05:00", TimeZone: "America/New_York"}
	ex, err := svc.Events.Import("primary", moved).Do()
	if err != nil {
		t.Fatal(err)
	}
	if ex.RecurringEventId != master.Id || ex.Id != master.Id+"_20260112T140000Z" {
		t.Fatalf("exception %s of %s", ex.Id, ex.RecurringEventId)
	}
	cancelled := importedSeries()
	cancelled.Recurrence = nil
	cancelled.Status = "cancelled"
	cancelled.OriginalStartTime = &calendar.EventDateTime{DateTime: "2026-01-26T09:00:00-05:00", TimeZone: "America/New_York"}
	if _, err := svc.Events.Import("primary", cancelled).Do(); err != nil {
		t.Fatal(err)
	}
	// Importing again is idempotent on the iCalUID.
	again, err := svc.Events.Import("primary", importedSeries()).Do()
	if err != nil || again.Id != master.Id {
		t.Fatalf("re-import gave %s, want %s (%v)", again.Id, master.Id, err)
	}
	got, err := svc.Events.Get("primary", master.Id).Do()
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[string]string{}
	for _, a := range got.Attendees {
		statuses[a.Email] = a.ResponseStatus
	}
	if statuses["ana@acme.example"] != "tentative" || statuses["bob@acme.example"] != "declined" || statuses["lead@partner.example"] != "accepted" {
		t.Fatalf("attendees %v", statuses)
	}
	// The primary calendar is in UTC (AddUser); times come back in it,
	// the event's own zone stays named.
	if got.Start.DateTime != "2026-01-05T14:00:00Z" || got.Start.TimeZone != "America/New_York" {
		t.Fatalf("start %+v", got.Start)
	}
	ny, err := svc.Events.Get("primary", master.Id).TimeZone("America/New_York").Do()
	if err != nil || ny.Start.DateTime != "2026-01-05T09:00:00-05:00" {
		t.Fatalf("start in New York %+v %v", ny.Start, err)
	}
	// Masters and exceptions (singleEvents=false): the cancelled exception
	// only with showDeleted.
	list, err := svc.Events.List("primary").Do()
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("events %d %v", len(list.Items), err)
	}
	withDeleted, err := svc.Events.List("primary").ShowDeleted(true).Do()
	if err != nil || len(withDeleted.Items) != 3 {
		t.Fatalf("events with deleted %d %v", len(withDeleted.Items), err)
	}
	// Six Mondays, one excluded, one cancelled: four instances, one moved.
	inst, err := svc.Events.Instances("primary", master.Id).Do()
	if err != nil {
		t.Fatal(err)
	}
	var starts []string
	for _, i := range inst.Items {
		starts = append(starts, i.Start.DateTime)
		if i.RecurringEventId != master.Id || i.ICalUID != master.ICalUID {
			t.Fatalf("instance %+v", i)
		}
	}
	want := []string{"2026-01-05T14:00:00Z", "2026-01-13T19:00:00Z", "2026-02-02T14:00:00Z", "2026-02-09T14:00:00Z"}
	if !slices.Equal(starts, want) {
		t.Fatalf("instances %v, want %v", starts, want)
	}
	expanded, err := svc.Events.List("primary").SingleEvents(true).OrderBy("startTime").
		TimeMin("2026-01-10T00:00:00Z").TimeMax("2026-02-05T00:00:00Z").Do()
	if err != nil || len(expanded.Items) != 2 || expanded.Items[0].Id != ex.Id {
		t.Fatalf("expanded %d %v", len(expanded.Items), err)
	}
	byUID, err := svc.Events.List("primary").ICalUID("series-7@partner.example").ShowDeleted(true).Do()
	if err != nil || len(byUID.Items) != 3 {
		t.Fatalf("by iCalUID %d %v", len(byUID.Items), err)
	}
	if len(sb.Invitations()) != 0 || sb.SentMessages() != 0 {
		t.Fatalf("import sent %v", sb.Invitations())
	}
	_, err = svc.Events.Import("primary", &calendar.Event{Start: moved.Start, End: moved.End}).Do()
	if ge := apiErr(t, err); ge.Code != 400 || reason(ge) != "required" {
		t.Fatalf("import without iCalUID: %d %s", ge.Code, reason(ge))
	}
}

func TestCalendarInsertRecordsTheInvitationsItWouldSend(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	svc := calendarFor(t, sb, "ana@acme.example")
	ev := func() *calendar.Event {
		return &calendar.Event{Summary: "Kick-off",
			Start:     &calendar.EventDateTime{DateTime: "2026-04-01T10:00:00+02:00", TimeZone: "Europe/Berlin"},
			End:       &calendar.EventDateTime{DateTime: "2026-04-01T11:00:00+02:00", TimeZone: "Europe/Berlin"},
			Attendees: []*calendar.EventAttendee{{Email: "ana@acme.example"}, {Email: "bob@acme.example"}, {Email: "carla@customer.example"}}}
	}
	quiet, err := svc.Events.Insert("primary", ev()).SendUpdates("none").Do()
	if err != nil {
		t.Fatal(err)
	}
	if len(sb.Invitations()) != 0 || quiet.Organizer.Email != "ana@acme.example" || !quiet.Organizer.Self ||
		quiet.ICalUID != quiet.Id+"@google.com" {
		t.Fatalf("sendUpdates=none: %v, organizer %+v", sb.Invitations(), quiet.Organizer)
	}
	for _, a := range quiet.Attendees {
		if a.ResponseStatus != "needsAction" || a.Self != (a.Email == "ana@acme.example") {
			t.Fatalf("attendee %+v", a)
		}
	}
	loud, err := svc.Events.Insert("primary", ev()).SendUpdates("all").Do()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sb.Invitations()); n != 2 || sb.SentMessages() != 2 {
		t.Fatalf("sendUpdates=all sent %d", n)
	}
	if _, err := svc.Events.Insert("primary", ev()).SendUpdates("externalOnly").Do(); err != nil {
		t.Fatal(err)
	}
	inv := sb.Invitations()
	if len(inv) != 3 || inv[2].To != "carla@customer.example" || inv[0].Kind != "invitation" {
		t.Fatalf("externalOnly: %+v", inv)
	}
	if err := svc.Events.Delete("primary", loud.Id).SendUpdates("all").Do(); err != nil {
		t.Fatal(err)
	}
	inv = sb.Invitations()
	if len(inv) != 5 || inv[4].Kind != "cancellation" || inv[4].EventID != loud.Id {
		t.Fatalf("cancellations: %+v", inv)
	}
	err = svc.Events.Delete("primary", loud.Id).Do()
	if ge := apiErr(t, err); ge.Code != 410 || reason(ge) != "deleted" {
		t.Fatalf("second delete: %d %s", ge.Code, reason(ge))
	}
	dup := ev()
	dup.Id = quiet.Id
	_, err = svc.Events.Insert("primary", dup).Do()
	if ge := apiErr(t, err); ge.Code != 409 || reason(ge) != "duplicate" {
		t.Fatalf("duplicate id: %d %s", ge.Code, reason(ge))
	}
	bad := ev()
	bad.End = &calendar.EventDateTime{DateTime: "2026-04-01T09:00:00+02:00"}
	_, err = svc.Events.Insert("primary", bad).Do()
	if ge := apiErr(t, err); ge.Code != 400 || reason(ge) != "timeRangeEmpty" {
		t.Fatalf("end before start: %d %s", ge.Code, reason(ge))
	}
}

func TestCalendarSyncTokensReturnOnlyChanges(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	email := sb.Seed(sandbox.SeedSpec{Users: 1, EventsPerUser: 7, Seed: 4})[0]
	svc := calendarFor(t, sb, email)
	var ids []string
	token := ""
	pages := 0
	err := svc.Events.List("primary").MaxResults(3).Pages(t.Context(), func(r *calendar.Events) error {
		pages++
		for _, e := range r.Items {
			ids = append(ids, e.Id)
		}
		token = r.NextSyncToken
		if r.NextPageToken != "" && r.NextSyncToken != "" {
			t.Error("a page with both tokens")
		}
		return nil
	})
	if err != nil || token == "" || len(ids) < 7 || pages < 3 {
		t.Fatalf("full sync: %d events, %d pages, token %q, %v", len(ids), pages, token, err)
	}
	added, err := svc.Events.Insert("primary", &calendar.Event{Summary: "New",
		Start: &calendar.EventDateTime{Date: "2026-05-04"}, End: &calendar.EventDateTime{Date: "2026-05-05"}}).Do()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Events.Patch("primary", ids[0], &calendar.Event{Summary: "Renamed"}).Do(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Events.Delete("primary", ids[1]).Do(); err != nil {
		t.Fatal(err)
	}
	delta, err := svc.Events.List("primary").SyncToken(token).Do()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range delta.Items {
		got[e.Id] = e.Status + ":" + e.Summary
	}
	want := map[string]string{added.Id: "confirmed:New", ids[0]: "confirmed:Renamed", ids[1]: "cancelled:"}
	if len(got) != 3 || got[added.Id] != want[added.Id] || got[ids[0]] != want[ids[0]] || got[ids[1]] != want[ids[1]] {
		t.Fatalf("delta %v, want %v", got, want)
	}
	quiet, err := svc.Events.List("primary").SyncToken(delta.NextSyncToken).Do()
	if err != nil || len(quiet.Items) != 0 || quiet.NextSyncToken == "" {
		t.Fatalf("no changes: %d items %v", len(quiet.Items), err)
	}
	_, err = svc.Events.List("primary").SyncToken(token).TimeMin("2026-01-01T00:00:00Z").Do()
	if ge := apiErr(t, err); ge.Code != 400 {
		t.Fatalf("sync token with timeMin: %d", ge.Code)
	}
	sb.ExpireSyncTokens(email)
	_, err = svc.Events.List("primary").SyncToken(delta.NextSyncToken).Do()
	if ge := apiErr(t, err); ge.Code != 410 || reason(ge) != "fullSyncRequired" {
		t.Fatalf("expired token: %d %s", ge.Code, reason(ge))
	}
}

func TestCalendarSeededEventsAreRealistic(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	email := sb.Seed(sandbox.SeedSpec{Users: 1, EventsPerUser: 12, Seed: 9})[0]
	svc := calendarFor(t, sb, email)
	cl, err := svc.CalendarList.List().Do()
	if err != nil || len(cl.Items) != 1 || !cl.Items[0].Primary || cl.Items[0].Id != email || cl.Items[0].TimeZone != "Europe/Berlin" {
		t.Fatalf("calendar list %+v %v", cl, err)
	}
	list, err := svc.Events.List("primary").ShowDeleted(true).Do()
	if err != nil {
		t.Fatal(err)
	}
	var series, exceptions, withAttendees int
	zones := map[string]bool{}
	for _, e := range list.Items {
		if len(e.Recurrence) > 0 {
			series++
		}
		if e.RecurringEventId != "" {
			exceptions++
		}
		if len(e.Attendees) > 0 {
			withAttendees++
		}
		if e.Start != nil && e.Start.TimeZone != "" {
			zones[e.Start.TimeZone] = true
		}
		if e.ICalUID == "" || strings.HasSuffix(e.ICalUID, "@google.com") {
			t.Fatalf("seeded event without its own iCalUID: %+v", e)
		}
	}
	if series == 0 || withAttendees == 0 || len(zones) < 2 {
		t.Fatalf("series %d, exceptions %d, with attendees %d, zones %v", series, exceptions, withAttendees, zones)
	}
	for _, e := range list.Items {
		if len(e.Recurrence) == 0 {
			continue
		}
		inst, err := svc.Events.Instances("primary", e.Id).Do()
		if err != nil || len(inst.Items) == 0 {
			t.Fatalf("instances of %s: %v", e.Id, err)
		}
		break
	}
	// A secondary calendar is listed and holds its own events.
	sec, err := svc.Calendars.Insert(&calendar.Calendar{Summary: "Projekte", TimeZone: "Asia/Tokyo"}).Do()
	if err != nil || !strings.HasSuffix(sec.Id, "@group.calendar.google.com") {
		t.Fatalf("secondary %+v %v", sec, err)
	}
	if _, err := svc.Events.Insert(sec.Id, &calendar.Event{Summary: "x", Start: &calendar.EventDateTime{Date: "2026-05-04"},
		End: &calendar.EventDateTime{Date: "2026-05-05"}}).Do(); err != nil {
		t.Fatal(err)
	}
	secEvents, err := svc.Events.List(sec.Id).Do()
	if err != nil || len(secEvents.Items) != 1 || secEvents.TimeZone != "Asia/Tokyo" {
		t.Fatalf("secondary events %v", err)
	}
	cl, _ = svc.CalendarList.List().Do()
	if len(cl.Items) != 2 {
		t.Fatalf("calendar list has %d entries", len(cl.Items))
	}
}

func TestCalendarQuotaPerUser(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example", Limits: sandbox.Limits{Window: time.Hour, CalendarUserRequests: 2}})
	sb.AddUser("ana@acme.example", "Ana Lima")
	svc := calendarFor(t, sb, "ana@acme.example")
	for range 2 {
		if _, err := svc.CalendarList.List().Do(); err != nil {
			t.Fatal(err)
		}
	}
	_, err := svc.CalendarList.List().Do()
	if ge := apiErr(t, err); ge.Code != 403 || reason(ge) != "userRateLimitExceeded" {
		t.Fatalf("over quota: %d %s", ge.Code, reason(ge))
	}
}
