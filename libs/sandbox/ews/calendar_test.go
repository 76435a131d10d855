package ews_test

import (
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/ews/soap"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
)

func meeting(subject string, start time.Time, weekly int) *soap.CalendarItem {
	ci := &soap.CalendarItem{
		Start: soap.NewDateTime(start), End: soap.NewDateTime(start.Add(time.Hour)),
		Location:      soap.String("Room 4.01"),
		StartTimeZone: &soap.TimeZoneDefinition{ID: "W. Europe Standard Time"},
		EndTimeZone:   &soap.TimeZoneDefinition{ID: "W. Europe Standard Time"},
		RequiredAttendees: &soap.Attendees{Attendee: []soap.Attendee{
			{Mailbox: soap.EmailAddress{Name: "Zoë Müller", EmailAddress: "zoe@partner.example"}, ResponseType: "Accept"},
			{Mailbox: soap.EmailAddress{Name: "Wei Chen", EmailAddress: "wei@partner.example"}, ResponseType: "Tentative"},
		}},
		OptionalAttendees: &soap.Attendees{Attendee: []soap.Attendee{
			{Mailbox: soap.EmailAddress{Name: "Ana Silva", EmailAddress: "ana@partner.example"}, ResponseType: "Decline"},
		}},
	}
	ci.Subject = &subject
	ci.Body = &soap.Body{BodyType: "HTML", Value: "<p>Agenda</p>"}
	if weekly > 0 {
		ci.Recurrence = &soap.Recurrence{WeeklyRecurrence: &soap.WeeklyRecurrence{Interval: 1, DaysOfWeek: "Monday"},
			NumberedRecurrence: &soap.RecurrenceRange{StartDate: soap.Date{Time: start}, NumberOfOccurrences: soap.Int(weekly)}}
	}
	return ci
}

func createCalendarItem(t *testing.T, c *soap.Client, as string, ci *soap.CalendarItem, invitations string) (soap.ItemID, error) {
	t.Helper()
	var resp soap.CreateItemResponse
	if err := c.Call(ctx(t), as, &soap.CreateItem{SendMeetingInvitations: invitations, SavedItemFolderID: soap.FolderRef("calendar"),
		Items: soap.Items{Items: []soap.AnyItem{{CalendarItem: ci}}}}, &resp); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("CreateItem", resp.ResponseMessages.Messages); err != nil {
		return soap.ItemID{}, err
	}
	return *resp.ResponseMessages.Messages[0].Items.Items[0].CalendarItem.ItemID, nil
}

func getCalendarItem(t *testing.T, c *soap.Client, as string, ids soap.ItemIDs) *soap.CalendarItem {
	t.Helper()
	var resp soap.GetItemResponse
	if err := c.Call(ctx(t), as, &soap.GetItem{ItemShape: soap.ItemShape{BaseShape: soap.ShapeAllProperties}, ItemIDs: ids}, &resp); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("GetItem", resp.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	return resp.ResponseMessages.Messages[0].Items.Items[0].CalendarItem
}

func TestMeetingsAreWrittenWithoutInvitations(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := service(sb)
	as := userAddr(sb, 1)
	start := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC) // a Monday, 09:00 in Berlin
	// The series keeps its wall-clock time across the change to summer
	// time on 29 March: the fifth Monday is at 07:00 UTC.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}

	if _, err := createCalendarItem(t, svc, as, meeting("No attribute", start, 0), ""); soap.Code(err) != "ErrorSendMeetingInvitationsRequired" {
		t.Fatalf("without SendMeetingInvitations: %v", err)
	}
	id, err := createCalendarItem(t, svc, as, meeting("Weekly sync", start, 10), "SendToNone")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sb.Invitations()); n != 0 {
		t.Fatalf("SendToNone sent %d invitations", n)
	}
	master := getCalendarItem(t, svc, as, *soap.ItemList(id))
	if master.CalendarItemType != "RecurringMaster" || !*master.IsMeeting || *master.MeetingRequestWasSent ||
		master.RequiredAttendees.Attendee[1].ResponseType != "Tentative" || master.UID == "" || master.Body.Value != "<p>Agenda</p>" {
		t.Fatalf("master %+v", master)
	}

	// Move the third occurrence by an hour and delete the fifth, as a
	// migration writes a series' exceptions.
	occ := soap.OccurrenceItemID{RecurringMasterID: id.ID, InstanceIndex: 3}
	third := getCalendarItem(t, svc, as, soap.ItemIDs{OccurrenceItemID: []soap.OccurrenceItemID{occ}})
	if third.CalendarItemType != "Occurrence" || !third.Start.Equal(start.AddDate(0, 0, 14)) {
		t.Fatalf("third occurrence %s %v", third.CalendarItemType, third.Start)
	}
	ch := soap.ItemChange{OccurrenceItemID: &occ}
	ch.Updates.SetItemField = []soap.SetItemField{
		{Path: soap.Field("calendar:Start"), CalendarItem: &soap.CalendarItem{Start: soap.NewDateTime(third.Start.Add(time.Hour))}},
		{Path: soap.Field("calendar:End"), CalendarItem: &soap.CalendarItem{End: soap.NewDateTime(third.End.Add(time.Hour))}},
	}
	update := func(mode string) error {
		var ur soap.UpdateItemResponse
		if err := svc.Call(ctx(t), as, &soap.UpdateItem{ConflictResolution: "AlwaysOverwrite", SendMeetingInvitationsOrCancellations: mode,
			ItemChanges: soap.ItemChanges{ItemChange: []soap.ItemChange{ch}}}, &ur); err != nil {
			t.Fatal(err)
		}
		return soap.Check("UpdateItem", ur.ResponseMessages.Messages)
	}
	if err := update(""); soap.Code(err) != "ErrorSendMeetingInvitationsOrCancellationsRequired" {
		t.Fatalf("update without the attribute: %v", err)
	}
	if err := update("SendToNone"); err != nil {
		t.Fatal(err)
	}
	var dr soap.DeleteItemResponse
	if err := svc.Call(ctx(t), as, &soap.DeleteItem{DeleteType: "HardDelete", SendMeetingCancellations: "SendToNone",
		ItemIDs: soap.ItemIDs{OccurrenceItemID: []soap.OccurrenceItemID{{RecurringMasterID: id.ID, InstanceIndex: 5}}}}, &dr); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("DeleteItem", dr.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	master = getCalendarItem(t, svc, as, *soap.ItemList(id))
	if master.ModifiedOccurrences == nil || len(master.ModifiedOccurrences.Occurrence) != 1 ||
		!master.ModifiedOccurrences.Occurrence[0].OriginalStart.Equal(start.AddDate(0, 0, 14)) ||
		!master.ModifiedOccurrences.Occurrence[0].Start.Equal(start.AddDate(0, 0, 14).Add(time.Hour)) {
		t.Fatalf("modified occurrences %+v", master.ModifiedOccurrences)
	}
	if master.DeletedOccurrences == nil || len(master.DeletedOccurrences.DeletedOccurrence) != 1 ||
		!master.DeletedOccurrences.DeletedOccurrence[0].Start.Equal(time.Date(2026, 3, 30, 9, 0, 0, 0, berlin)) {
		t.Fatalf("deleted occurrences %+v", master.DeletedOccurrences)
	}
	gone := getOccurrenceErr(t, svc, as, soap.OccurrenceItemID{RecurringMasterID: id.ID, InstanceIndex: 5})
	if gone != "ErrorCalendarOccurrenceIsDeletedFromRecurrence" {
		t.Fatalf("deleted occurrence: %s", gone)
	}
	if out := getOccurrenceErr(t, svc, as, soap.OccurrenceItemID{RecurringMasterID: id.ID, InstanceIndex: 11}); out != "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange" {
		t.Fatalf("occurrence 11 of 10: %s", out)
	}
	if n := len(sb.Invitations()); n != 0 {
		t.Fatalf("a SendToNone migration sent %d meeting messages", n)
	}

	// What a migration must never do is counted.
	id2, err := createCalendarItem(t, svc, as, meeting("Announced", start, 0), "SendToAllAndSaveCopy")
	if err != nil {
		t.Fatal(err)
	}
	inv := sb.Invitations()
	if len(inv) != 1 || inv[0].Kind != "request" || len(inv[0].Recipients) != 3 || inv[0].Mailbox != as {
		t.Fatalf("invitations %+v", inv)
	}
	if !*getCalendarItem(t, svc, as, *soap.ItemList(id2)).MeetingRequestWasSent {
		t.Fatal("MeetingRequestWasSent is false after sending")
	}
	if err := svc.Call(ctx(t), as, &soap.DeleteItem{DeleteType: "HardDelete", SendMeetingCancellations: "SendToAllAndSaveCopy",
		ItemIDs: *soap.ItemList(id2)}, &dr); err != nil {
		t.Fatal(err)
	}
	if inv := sb.Invitations(); len(inv) != 2 || inv[1].Kind != "cancellation" {
		t.Fatalf("after deleting with cancellations: %+v", inv)
	}
}

func getOccurrenceErr(t *testing.T, c *soap.Client, as string, oid soap.OccurrenceItemID) string {
	t.Helper()
	var resp soap.GetItemResponse
	if err := c.Call(ctx(t), as, &soap.GetItem{ItemShape: soap.ItemShape{BaseShape: soap.ShapeIDOnly},
		ItemIDs: soap.ItemIDs{OccurrenceItemID: []soap.OccurrenceItemID{oid}}}, &resp); err != nil {
		t.Fatal(err)
	}
	return soap.Code(soap.Check("GetItem", resp.ResponseMessages.Messages))
}

func TestSeededCalendarHasSeriesWithExceptions(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := service(sb)
	as := userAddr(sb, 3)
	var fi soap.FindItemResponse
	if err := svc.Call(ctx(t), as, &soap.FindItem{Traversal: "Shallow", ItemShape: soap.ItemShape{BaseShape: soap.ShapeAllProperties},
		ParentFolderIDs: *soap.FolderList("calendar")}, &fi); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("FindItem", fi.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	items := fi.ResponseMessages.Messages[0].RootFolder.Items.Items
	if len(items) != 4 {
		t.Fatalf("calendar holds %d items, want the 4 seeded", len(items))
	}
	series, attendees := 0, 0
	for _, it := range items {
		ci := it.CalendarItem
		if ci.CalendarItemType == "RecurringMaster" {
			series++
			if ci.DeletedOccurrences == nil {
				t.Errorf("seeded series %q has no deleted occurrence (EXDATE)", *ci.Subject)
			}
		}
		if ci.RequiredAttendees != nil {
			attendees += len(ci.RequiredAttendees.Attendee)
		}
		if ci.StartTimeZone == nil || ci.StartTimeZone.ID == "" {
			t.Errorf("seeded item %q has no time zone", *ci.Subject)
		}
	}
	if series == 0 || attendees == 0 {
		t.Fatalf("seeded calendar: %d series, %d attendees", series, attendees)
	}
}
