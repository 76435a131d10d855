package graph_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

func dt(v, zone string) models.DateTimeTimeZoneable {
	d := models.NewDateTimeTimeZone()
	d.SetDateTime(ptr(v))
	d.SetTimeZone(ptr(zone))
	return d
}

func markerProps(marker string) []models.SingleValueLegacyExtendedPropertyable {
	p := models.NewSingleValueLegacyExtendedProperty()
	p.SetId(ptr(markerID))
	p.SetValue(ptr(marker))
	return []models.SingleValueLegacyExtendedPropertyable{p}
}

func newEvent(subject, start, end, zone, marker string, attendees ...string) models.Eventable {
	e := models.NewEvent()
	e.SetSubject(ptr(subject))
	b := models.NewItemBody()
	b.SetContentType(ptr(models.HTML_BODYTYPE))
	b.SetContent(ptr("<p>Tagesordnung für die Sitzung</p>"))
	e.SetBody(b)
	e.SetStart(dt(start, zone))
	e.SetEnd(dt(end, zone))
	var as []models.Attendeeable
	for _, a := range attendees {
		at := models.NewAttendee()
		ea := models.NewEmailAddress()
		ea.SetAddress(ptr(a))
		at.SetEmailAddress(ea)
		typ := models.REQUIRED_ATTENDEETYPE
		at.SetTypeEscaped(&typ)
		as = append(as, at)
	}
	if as != nil {
		e.SetAttendees(as)
	}
	if marker != "" {
		e.SetSingleValueExtendedProperties(markerProps(marker))
	}
	return e
}

// eventDeltaRound runs one calendarView/delta round from link ("" starts
// one) and returns the items and the deltaLink.
func eventDeltaRound(t *testing.T, gc *msgraphsdk.GraphServiceClient, uid, link string) ([]models.Eventable, string) {
	t.Helper()
	ctx := context.Background()
	hdr := abstractions.NewRequestHeaders()
	hdr.Add("Prefer", "odata.maxpagesize=4")
	var items []models.Eventable
	for pages := 1; ; pages++ {
		cfg := &users.ItemCalendarViewDeltaRequestBuilderGetRequestConfiguration{Headers: hdr}
		var res users.ItemCalendarViewDeltaGetResponseable
		var err error
		if link == "" {
			cfg.QueryParameters = &users.ItemCalendarViewDeltaRequestBuilderGetQueryParameters{
				StartDateTime: ptr("2026-01-01T00:00:00"), EndDateTime: ptr("2026-12-31T00:00:00")}
			res, err = gc.Users().ByUserId(uid).CalendarView().Delta().GetAsDeltaGetResponse(ctx, cfg)
		} else {
			res, err = users.NewItemCalendarViewDeltaRequestBuilder(link, gc.GetAdapter()).GetAsDeltaGetResponse(ctx, cfg)
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(res.GetValue()) > 4 {
			t.Fatalf("page of %d ignores maxpagesize", len(res.GetValue()))
		}
		items = append(items, res.GetValue()...)
		if nl := res.GetOdataNextLink(); nl != nil {
			link = *nl
			continue
		}
		if res.GetOdataDeltaLink() == nil {
			t.Fatal("last page has no deltaLink")
		}
		return items, *res.GetOdataDeltaLink()
	}
}

func TestEventsCreateListPageAndDelta(t *testing.T) {
	sb := start(t, graph.Config{})
	uid := sb.AddUser("hana@"+sb.Domain(), "Hana Hoshino")
	gc := sdkClient(t, sb)
	ctx := context.Background()
	var ids []string
	for i := range 9 {
		s := fmt.Sprintf("2026-02-%02dT09:00:00", 2+i)
		e := fmt.Sprintf("2026-02-%02dT10:30:00", 2+i)
		ev, err := gc.Users().ByUserId(uid).Events().Post(ctx, newEvent(fmt.Sprintf("Termin %d", i), s, e, "W. Europe Standard Time", fmt.Sprintf("mf1-ev%d", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *ev.GetId())
		if i == 0 {
			// Stored in UTC, created in Berlin time (UTC+1 in February).
			if got := *ev.GetStart().GetDateTime(); got != "2026-02-02T08:00:00.0000000" || *ev.GetStart().GetTimeZone() != "UTC" {
				t.Fatalf("start %s %s", got, *ev.GetStart().GetTimeZone())
			}
			if *ev.GetOriginalStartTimeZone() != "W. Europe Standard Time" || *ev.GetTypeEscaped() != models.SINGLEINSTANCE_EVENTTYPE ||
				!*ev.GetIsOrganizer() || !strings.HasPrefix(*ev.GetICalUId(), "040000008200E00074C5B7101A82E008") {
				t.Fatalf("event shape: %v %v %v", *ev.GetOriginalStartTimeZone(), ev.GetTypeEscaped(), *ev.GetICalUId())
			}
		}
	}
	if sb.SentMessages() != 0 || len(sb.Invitations()) != 0 {
		t.Fatalf("events without attendees sent %d messages", sb.SentMessages())
	}
	// Paging with $select and $top through the SDK's page iterator.
	res, err := gc.Users().ByUserId(uid).Calendar().Events().Get(ctx, &users.ItemCalendarEventsRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemCalendarEventsRequestBuilderGetQueryParameters{Top: ptr(int32(4)), Select: []string{"subject", "start", "iCalUId"}}})
	if err != nil {
		t.Fatal(err)
	}
	it, err := msgraphcore.NewPageIterator[models.Eventable](res, gc.GetAdapter(), models.CreateEventCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	if err := it.Iterate(ctx, func(e models.Eventable) bool {
		if e.GetBody() != nil {
			t.Error("$select ignored: body returned")
		}
		listed = append(listed, *e.GetId())
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 9 {
		t.Fatalf("listed %d events", len(listed))
	}
	// The Prefer time zone converts the times returned.
	hdr := abstractions.NewRequestHeaders()
	hdr.Add("Prefer", `outlook.timezone="Pacific Standard Time"`)
	got, err := gc.Users().ByUserId(uid).Events().ByEventId(ids[0]).Get(ctx, &users.ItemEventsEventItemRequestBuilderGetRequestConfiguration{Headers: hdr})
	if err != nil || *got.GetStart().GetDateTime() != "2026-02-02T00:00:00.0000000" || *got.GetStart().GetTimeZone() != "Pacific Standard Time" {
		t.Fatalf("prefer time zone: %v %v", err, got.GetStart().GetDateTime())
	}

	items, delta := eventDeltaRound(t, gc, uid, "")
	if len(items) != 9 {
		t.Fatalf("initial delta round: %d", len(items))
	}
	if items, _ := eventDeltaRound(t, gc, uid, delta); len(items) != 0 {
		t.Fatalf("unchanged calendar reported %d", len(items))
	}
	patch := models.NewEvent()
	patch.SetSubject(ptr("Termin verschoben"))
	if _, err := gc.Users().ByUserId(uid).Events().ByEventId(ids[3]).Patch(ctx, patch, nil); err != nil {
		t.Fatal(err)
	}
	if err := gc.Users().ByUserId(uid).Events().ByEventId(ids[5]).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	items, _ = eventDeltaRound(t, gc, uid, delta)
	if len(items) != 2 {
		t.Fatalf("after one update and one delete: %d items", len(items))
	}
	for _, it := range items {
		removed := it.GetAdditionalData()["@removed"] != nil
		switch *it.GetId() {
		case ids[3]:
			if removed || *it.GetSubject() != "Termin verschoben" {
				t.Fatal("updated event not reported as updated")
			}
		case ids[5]:
			if !removed {
				t.Fatal("deleted event not reported as removed")
			}
		default:
			t.Fatalf("unexpected %s", *it.GetId())
		}
	}
	if sb.SentMessages() != 0 {
		t.Fatalf("appointments sent %d messages", sb.SentMessages())
	}
}

func weeklySeries(subject string, count int32) models.Eventable {
	e := newEvent(subject, "2026-03-02T14:00:00", "2026-03-02T15:00:00", "Europe/Paris", "")
	rec := models.NewPatternedRecurrence()
	p := models.NewRecurrencePattern()
	typ := models.WEEKLY_RECURRENCEPATTERNTYPE
	p.SetTypeEscaped(&typ)
	p.SetInterval(ptr(int32(1)))
	p.SetDaysOfWeek([]models.DayOfWeek{models.MONDAY_DAYOFWEEK})
	rec.SetPattern(p)
	r := models.NewRecurrenceRange()
	rt := models.NUMBERED_RECURRENCERANGETYPE
	r.SetTypeEscaped(&rt)
	d, _ := time.Parse("2006-01-02", "2026-03-02")
	sd := serialization.NewDateOnly(d)
	r.SetStartDate(sd)
	r.SetNumberOfOccurrences(ptr(count))
	rec.SetRangeEscaped(r)
	e.SetRecurrence(rec)
	return e
}

func instances(t *testing.T, gc *msgraphsdk.GraphServiceClient, uid, id string) []models.Eventable {
	t.Helper()
	res, err := gc.Users().ByUserId(uid).Events().ByEventId(id).Instances().Get(context.Background(),
		&users.ItemEventsItemInstancesRequestBuilderGetRequestConfiguration{QueryParameters: &users.ItemEventsItemInstancesRequestBuilderGetQueryParameters{
			StartDateTime: ptr("2026-01-01T00:00:00"), EndDateTime: ptr("2027-01-01T00:00:00"), Top: ptr(int32(50))}})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetValue()
}

func TestRecurrenceWithExceptionAndCancelledOccurrence(t *testing.T) {
	sb := start(t, graph.Config{})
	uid := sb.AddUser("ivo@"+sb.Domain(), "Ivo Ivanov")
	gc := sdkClient(t, sb)
	ctx := context.Background()
	master, err := gc.Users().ByUserId(uid).Events().Post(ctx, weeklySeries("Jour fixe", 6), nil)
	if err != nil {
		t.Fatal(err)
	}
	if *master.GetTypeEscaped() != models.SERIESMASTER_EVENTTYPE {
		t.Fatalf("type %v", master.GetTypeEscaped())
	}
	occ := instances(t, gc, uid, *master.GetId())
	if len(occ) != 6 {
		t.Fatalf("%d occurrences", len(occ))
	}
	// Summer time starts on 29 March in Paris: 14:00 local stays 14:00,
	// so the UTC hour moves from 13 to 12.
	if *occ[0].GetStart().GetDateTime() != "2026-03-02T13:00:00.0000000" || *occ[4].GetStart().GetDateTime() != "2026-03-30T12:00:00.0000000" {
		t.Fatalf("occurrence times %s %s", *occ[0].GetStart().GetDateTime(), *occ[4].GetStart().GetDateTime())
	}
	if *occ[1].GetSeriesMasterId() != *master.GetId() || *occ[1].GetTypeEscaped() != models.OCCURRENCE_EVENTTYPE ||
		*occ[1].GetICalUId() == *master.GetICalUId() {
		t.Fatal("occurrence shape")
	}
	patch := models.NewEvent()
	patch.SetSubject(ptr("Jour fixe (verlegt)"))
	patch.SetStart(dt("2026-03-09T16:00:00", "Europe/Paris"))
	patch.SetEnd(dt("2026-03-09T17:00:00", "Europe/Paris"))
	if _, err := gc.Users().ByUserId(uid).Events().ByEventId(*occ[1].GetId()).Patch(ctx, patch, nil); err != nil {
		t.Fatal(err)
	}
	if err := gc.Users().ByUserId(uid).Events().ByEventId(*occ[3].GetId()).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	after := instances(t, gc, uid, *master.GetId())
	if len(after) != 5 {
		t.Fatalf("after delete: %d occurrences", len(after))
	}
	var exc []models.Eventable
	for _, e := range after {
		if *e.GetId() == *occ[3].GetId() {
			t.Fatal("deleted occurrence still listed")
		}
		if *e.GetTypeEscaped() == models.EXCEPTION_EVENTTYPE {
			exc = append(exc, e)
		}
	}
	if len(exc) != 1 || *exc[0].GetSubject() != "Jour fixe (verlegt)" || *exc[0].GetStart().GetDateTime() != "2026-03-09T15:00:00.0000000" {
		t.Fatalf("exceptions: %d", len(exc))
	}
	m, err := gc.Users().ByUserId(uid).Events().ByEventId(*master.GetId()).Get(ctx, &users.ItemEventsEventItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemEventsEventItemRequestBuilderGetQueryParameters{Select: []string{"subject", "cancelledOccurrences", "exceptionOccurrences"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c := m.GetCancelledOccurrences(); len(c) != 1 || !strings.HasSuffix(c[0], ".2026-03-23") {
		t.Fatalf("cancelledOccurrences %v", c)
	}
	if len(m.GetExceptionOccurrences()) != 1 {
		t.Fatalf("exceptionOccurrences %d", len(m.GetExceptionOccurrences()))
	}

	// A seeded attendee copy: the organiser cancelled one occurrence,
	// which stays in the series marked isCancelled.
	seeded := sb.Seed(graph.SeedSpec{Users: 1, Seed: 3, EventsPerUser: 5, FirstIndex: 7})[0]
	evs, err := gc.Users().ByUserId(seeded).Events().Get(ctx, &users.ItemEventsRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemEventsRequestBuilderGetQueryParameters{Top: ptr(int32(50))}})
	if err != nil {
		t.Fatal(err)
	}
	var cancelled, organized int
	for _, e := range evs.GetValue() {
		if *e.GetTypeEscaped() != models.SERIESMASTER_EVENTTYPE || len(e.GetAttendees()) == 0 {
			continue
		}
		for _, o := range instances(t, gc, seeded, *e.GetId()) {
			if *o.GetIsCancelled() {
				cancelled++
				if *e.GetIsOrganizer() || !strings.HasPrefix(*o.GetSubject(), "Canceled: ") {
					t.Fatal("cancelled occurrence on an organiser's copy or without the Canceled prefix")
				}
			}
		}
		if *e.GetIsOrganizer() {
			organized++
		}
	}
	if cancelled != 1 || organized != 1 {
		t.Fatalf("seeded series: %d cancelled occurrences, %d organised", cancelled, organized)
	}
	if sb.SentMessages() != 0 {
		t.Fatalf("seeding and appointments sent %d", sb.SentMessages())
	}
}

func TestInvitationsAreCountedOnlyForMeetings(t *testing.T) {
	sb := start(t, graph.Config{})
	uid := sb.AddUser("jan@"+sb.Domain(), "Jan Jensen")
	gc := sdkClient(t, sb)
	ctx := context.Background()
	ev := gc.Users().ByUserId(uid).Events()
	plain, err := ev.Post(ctx, newEvent("Fokuszeit", "2026-04-01T09:00:00", "2026-04-01T11:00:00", "UTC", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Per-user changes of an appointment send nothing.
	cat := models.NewEvent()
	cat.SetCategories([]string{"Blue category"})
	cat.SetReminderMinutesBeforeStart(ptr(int32(30)))
	if _, err := ev.ByEventId(*plain.GetId()).Patch(ctx, cat, nil); err != nil {
		t.Fatal(err)
	}
	if sb.SentMessages() != 0 {
		t.Fatalf("appointment sent %d", sb.SentMessages())
	}
	// Adding attendees turns it into a meeting: they get the request.
	add := newEvent("Fokuszeit", "2026-04-01T09:00:00", "2026-04-01T11:00:00", "UTC", "", "ana@example.com", "bo@example.org")
	if _, err := ev.ByEventId(*plain.GetId()).Patch(ctx, add, nil); err != nil {
		t.Fatal(err)
	}
	if sb.SentMessages() != 1 {
		t.Fatalf("after adding attendees: %d", sb.SentMessages())
	}
	inv := sb.Invitations()
	if len(inv) != 1 || inv[0].Kind != "request" || !slices.Equal(inv[0].Recipients, []string{"ana@example.com", "bo@example.org"}) {
		t.Fatalf("invitations %+v", inv)
	}
	// A meeting created with attendees sends its request.
	mtg, err := ev.Post(ctx, newEvent("Review", "2026-04-02T09:00:00", "2026-04-02T10:00:00", "UTC", "", "cy@example.net"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Categories on a meeting are the organiser's own: nothing is sent.
	if _, err := ev.ByEventId(*mtg.GetId()).Patch(ctx, cat, nil); err != nil {
		t.Fatal(err)
	}
	if sb.SentMessages() != 2 {
		t.Fatalf("after meeting create and category change: %d", sb.SentMessages())
	}
	// A new time is an update; cancel sends a cancellation.
	move := models.NewEvent()
	move.SetStart(dt("2026-04-02T13:00:00", "UTC"))
	move.SetEnd(dt("2026-04-02T14:00:00", "UTC"))
	if _, err := ev.ByEventId(*mtg.GetId()).Patch(ctx, move, nil); err != nil {
		t.Fatal(err)
	}
	if err := ev.ByEventId(*mtg.GetId()).Cancel().Post(ctx, users.NewItemEventsItemCancelPostRequestBody(), nil); err != nil {
		t.Fatal(err)
	}
	inv = sb.Invitations()
	if sb.SentMessages() != 4 || inv[2].Kind != "update" || inv[3].Kind != "cancellation" || inv[3].Recipients[0] != "cy@example.net" {
		t.Fatalf("update and cancellation: %d %+v", sb.SentMessages(), inv)
	}
	if _, err := ev.ByEventId(*mtg.GetId()).Get(ctx, nil); err == nil {
		t.Fatal("cancelled meeting is still in the calendar")
	}
	// The organiser deleting a meeting also cancels it.
	if err := ev.ByEventId(*plain.GetId()).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if sb.SentMessages() != 5 {
		t.Fatalf("delete of a meeting: %d", sb.SentMessages())
	}
}

func TestMarkerFilterFindsEventsAndContacts(t *testing.T) {
	sb := start(t, graph.Config{})
	uid := sb.AddUser("kim@"+sb.Domain(), "Kim Kowalski")
	gc := sdkClient(t, sb)
	ctx := context.Background()
	for i, m := range []string{"mf1-a", "mf1-b", "mf1-c"} {
		if _, err := gc.Users().ByUserId(uid).Events().Post(ctx, newEvent("E", fmt.Sprintf("2026-05-0%dT09:00:00", i+1), fmt.Sprintf("2026-05-0%dT10:00:00", i+1), "UTC", m), nil); err != nil {
			t.Fatal(err)
		}
		c := models.NewContact()
		c.SetGivenName(ptr("N" + m))
		c.SetSingleValueExtendedProperties(markerProps(m))
		if _, err := gc.Users().ByUserId(uid).Contacts().Post(ctx, c, nil); err != nil {
			t.Fatal(err)
		}
	}
	flt := fmt.Sprintf("singleValueExtendedProperties/any(ep: ep/id eq '%s' and ep/value eq 'mf1-b')", markerID)
	exp := fmt.Sprintf("singleValueExtendedProperties($filter=id eq '%s')", markerID)
	evs, err := gc.Users().ByUserId(uid).Events().Get(ctx, &users.ItemEventsRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemEventsRequestBuilderGetQueryParameters{Filter: &flt, Expand: []string{exp}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs.GetValue()) != 1 || *evs.GetValue()[0].GetSingleValueExtendedProperties()[0].GetValue() != "mf1-b" {
		t.Fatalf("events by marker: %d", len(evs.GetValue()))
	}
	cs, err := gc.Users().ByUserId(uid).Contacts().Get(ctx, &users.ItemContactsRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemContactsRequestBuilderGetQueryParameters{Filter: &flt}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.GetValue()) != 1 || *cs.GetValue()[0].GetGivenName() != "Nmf1-b" {
		t.Fatalf("contacts by marker: %d", len(cs.GetValue()))
	}
}

func TestCalendarsAndContactsNeedTheirRoles(t *testing.T) {
	sb := start(t, graph.Config{})
	uid := sb.AddUser("lea@"+sb.Domain(), "Lea")
	gc := sdkClient(t, sb)
	ctx := context.Background()
	if _, err := gc.Users().ByUserId(uid).Calendars().Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	sb.Revoke("Calendars.ReadWrite")
	_, err := gc.Users().ByUserId(uid).Events().Get(ctx, nil)
	if code, status := odataErr(t, err); code != "ErrorAccessDenied" || status != 403 {
		t.Fatalf("events after revoke: %s %d", code, status)
	}
	if _, err := gc.Users().ByUserId(uid).Contacts().Get(ctx, nil); err != nil {
		t.Fatalf("contacts need only their own role: %v", err)
	}
	sb.Grant("Calendars.Read")
	// Roles come with the token, so the read role needs a new one.
	gc = sdkClient(t, sb)
	if _, err := gc.Users().ByUserId(uid).Calendar().Get(ctx, nil); err != nil {
		t.Fatalf("read with Calendars.Read: %v", err)
	}
	_, err = gc.Users().ByUserId(uid).Events().Post(ctx, newEvent("x", "2026-05-01T09:00:00", "2026-05-01T10:00:00", "UTC", ""), nil)
	if code, status := odataErr(t, err); code != "ErrorAccessDenied" || status != 403 {
		t.Fatalf("write with Calendars.Read: %s %d", code, status)
	}
	sb.Revoke("Contacts.ReadWrite")
	_, err = gc.Users().ByUserId(uid).ContactFolders().Get(ctx, nil)
	if code, status := odataErr(t, err); code != "ErrorAccessDenied" || status != 403 {
		t.Fatalf("contacts after revoke: %s %d", code, status)
	}
}
