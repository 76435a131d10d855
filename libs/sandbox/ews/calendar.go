package ews

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	_ "time/tzdata" // recurrences expand in the series' zone on any machine

	"github.com/teambition/rrule-go"

	"github.com/mailferry/mailferry/libs/ews/soap"
)

// windowsZones maps the Windows zone ids EWS uses to IANA zones, for the
// zones the seed and the tests use; others expand in UTC.
var windowsZones = map[string]string{
	"UTC": "UTC", "GMT Standard Time": "Europe/London", "W. Europe Standard Time": "Europe/Berlin",
	"Romance Standard Time": "Europe/Paris", "Central Europe Standard Time": "Europe/Budapest",
	"Eastern Standard Time": "America/New_York", "Pacific Standard Time": "America/Los_Angeles",
	"Tokyo Standard Time": "Asia/Tokyo",
}

func zoneOf(ci *soap.CalendarItem) *time.Location {
	if ci.StartTimeZone != nil {
		if name, ok := windowsZones[ci.StartTimeZone.ID]; ok {
			if loc, err := time.LoadLocation(name); err == nil {
				return loc
			}
		}
	}
	return time.UTC
}

// prepareCalendarItem sets what the store derives for a new calendar item.
func (c *call) prepareCalendarItem(it *item, now time.Time) *soap.ResponseMessage {
	ci := it.data.CalendarItem
	d := &ci.ItemFields
	d.ItemClass = firstNonEmpty(d.ItemClass, "IPM.Appointment")
	if ci.Start == nil {
		ci.Start = soap.NewDateTime(now.Truncate(time.Hour))
	}
	if ci.End == nil {
		ci.End = soap.NewDateTime(ci.Start.Add(30 * time.Minute))
	}
	if ci.End.Before(ci.Start.Time) {
		return fail("ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate")
	}
	if ci.UID == "" {
		sum := sha256.Sum256([]byte(c.mbx.address + now.String() + it.id))
		ci.UID = strings.ToUpper(hex.EncodeToString(sum[:16]))
	}
	if ci.Organizer == nil {
		ci.Organizer = &soap.SingleRecipient{Mailbox: soap.EmailAddress{Name: c.mbx.name, EmailAddress: c.mbx.address, RoutingType: "SMTP", MailboxType: "Mailbox"}}
	}
	// Occurrence lists are the server's to keep: clients change them
	// through occurrence ids.
	ci.ModifiedOccurrences, ci.DeletedOccurrences, ci.FirstOccurrence, ci.LastOccurrence = nil, nil, nil, nil
	c.deriveCalendar(it)
	if ci.Recurrence != nil {
		if _, err := expand(ci); err != nil {
			return fail("ErrorCalendarInvalidRecurrence", "The recurrence pattern is invalid: "+err.Error())
		}
	}
	if ci.LegacyFreeBusyStatus == "" {
		ci.LegacyFreeBusyStatus = "Busy"
	}
	it.size = approxSize(it.data)
	return nil
}

func (c *call) deriveCalendar(it *item) {
	ci := it.data.CalendarItem
	meeting := attendeeCount(ci) > 0
	ci.IsMeeting = soap.Bool(meeting)
	ci.IsRecurring = soap.Bool(ci.Recurrence != nil)
	if it.master == nil {
		ci.CalendarItemType = "Single"
		if ci.Recurrence != nil {
			ci.CalendarItemType = "RecurringMaster"
		}
	}
	if ci.MyResponseType == "" {
		ci.MyResponseType = "Organizer"
		if !c.isOrganizer(ci) {
			ci.MyResponseType = "NoResponseReceived"
		}
	}
	if ci.MeetingRequestWasSent == nil {
		ci.MeetingRequestWasSent = soap.Bool(false)
	}
}

func (c *call) isOrganizer(ci *soap.CalendarItem) bool {
	return ci.Organizer == nil || strings.EqualFold(ci.Organizer.Mailbox.EmailAddress, c.mbx.address)
}

func attendeeCount(ci *soap.CalendarItem) int {
	n := 0
	for _, l := range []*soap.Attendees{ci.RequiredAttendees, ci.OptionalAttendees, ci.Resources} {
		if l != nil {
			n += len(l.Attendee)
		}
	}
	return n
}

func attendeeAddrs(ci *soap.CalendarItem) []string {
	var out []string
	for _, l := range []*soap.Attendees{ci.RequiredAttendees, ci.OptionalAttendees, ci.Resources} {
		if l != nil {
			for _, a := range l.Attendee {
				out = append(out, a.Mailbox.EmailAddress)
			}
		}
	}
	return out
}

func subjectOf(f *soap.ItemFields) string {
	if f.Subject != nil {
		return *f.Subject
	}
	return ""
}

// invite records a meeting message the server would have sent. Called
// with the sandbox lock held.
func (c *call) invite(it *item, kind string) {
	ci := it.data.CalendarItem
	if ci == nil {
		if it.master != nil {
			ci = it.master.data.CalendarItem
		}
		if ci == nil {
			return
		}
	}
	if attendeeCount(ci) == 0 || !c.isOrganizer(ci) {
		return
	}
	c.s.invites = append(c.s.invites, Invitation{Mailbox: c.mbx.address, Kind: kind, Subject: subjectOf(&ci.ItemFields), Recipients: attendeeAddrs(ci)})
	ci.MeetingRequestWasSent = soap.Bool(true)
}

func (c *call) inviteOnCreate(it *item, mode string) {
	if mode != "SendToNone" {
		c.invite(it, "request")
	}
}

func (c *call) afterCalendarUpdate(it *item, mode string) {
	c.deriveCalendar(it)
	if it.master != nil {
		it.occModified = true
		it.data.CalendarItem.CalendarItemType = "Exception"
		c.mbx.touch(it.master, false)
	}
	switch mode {
	case "SendOnlyToAll", "SendOnlyToChanged", "SendToAllAndSaveCopy", "SendToChangedAndSaveCopy":
		c.invite(it, "update")
	}
}

func (c *call) cancelOnDelete(it *item, mode string) {
	if mode != "SendToNone" {
		c.invite(it, "cancellation")
	}
	for _, occ := range it.exceptions {
		delete(c.mbx.items, occ.id)
	}
}

var weekdays = map[string]rrule.Weekday{"Monday": rrule.MO, "Tuesday": rrule.TU, "Wednesday": rrule.WE, "Thursday": rrule.TH,
	"Friday": rrule.FR, "Saturday": rrule.SA, "Sunday": rrule.SU}

var dayIndex = map[string]int{"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}

var months = map[string]int{"January": 1, "February": 2, "March": 3, "April": 4, "May": 5, "June": 6, "July": 7,
	"August": 8, "September": 9, "October": 10, "November": 11, "December": 12}

func dayList(s string) []rrule.Weekday {
	var out []rrule.Weekday
	for _, d := range strings.Fields(s) {
		switch d {
		case "Day":
			return []rrule.Weekday{rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU}
		case "Weekday":
			return []rrule.Weekday{rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR}
		case "WeekendDay":
			return []rrule.Weekday{rrule.SA, rrule.SU}
		}
		if w, ok := weekdays[d]; ok {
			out = append(out, w)
		}
	}
	return out
}

// maxOccurrences bounds a series without end, as Outlook's expansion of
// one does in practice.
const maxOccurrences = 1000

// expand lists the original starts of a series, in UTC.
func expand(ci *soap.CalendarItem) ([]time.Time, error) {
	r := ci.Recurrence
	loc := zoneOf(ci)
	start := ci.Start.In(loc)
	opt := rrule.ROption{Dtstart: start, Interval: 1}
	switch {
	case r.DailyRecurrence != nil:
		opt.Freq, opt.Interval = rrule.DAILY, r.DailyRecurrence.Interval
	case r.WeeklyRecurrence != nil:
		opt.Freq, opt.Interval = rrule.WEEKLY, r.WeeklyRecurrence.Interval
		opt.Byweekday = dayList(r.WeeklyRecurrence.DaysOfWeek)
		if len(opt.Byweekday) == 0 {
			return nil, errorf("weekly recurrence without days")
		}
	case r.AbsoluteMonthlyRecurrence != nil:
		opt.Freq, opt.Interval = rrule.MONTHLY, r.AbsoluteMonthlyRecurrence.Interval
		opt.Bymonthday = []int{r.AbsoluteMonthlyRecurrence.DayOfMonth}
	case r.RelativeMonthlyRecurrence != nil:
		opt.Freq, opt.Interval = rrule.MONTHLY, r.RelativeMonthlyRecurrence.Interval
		opt.Byweekday = dayList(r.RelativeMonthlyRecurrence.DaysOfWeek)
		opt.Bysetpos = []int{dayIndex[r.RelativeMonthlyRecurrence.DayOfWeekIndex]}
	case r.AbsoluteYearlyRecurrence != nil:
		opt.Freq = rrule.YEARLY
		opt.Bymonth = []int{months[r.AbsoluteYearlyRecurrence.Month]}
		opt.Bymonthday = []int{r.AbsoluteYearlyRecurrence.DayOfMonth}
	case r.RelativeYearlyRecurrence != nil:
		opt.Freq = rrule.YEARLY
		opt.Bymonth = []int{months[r.RelativeYearlyRecurrence.Month]}
		opt.Byweekday = dayList(r.RelativeYearlyRecurrence.DaysOfWeek)
		opt.Bysetpos = []int{dayIndex[r.RelativeYearlyRecurrence.DayOfWeekIndex]}
	default:
		return nil, errorf("no recurrence pattern")
	}
	if opt.Interval < 1 {
		opt.Interval = 1
	}
	switch {
	case r.NumberedRecurrence != nil && r.NumberedRecurrence.NumberOfOccurrences != nil:
		opt.Count = *r.NumberedRecurrence.NumberOfOccurrences
	case r.EndDateRecurrence != nil && r.EndDateRecurrence.EndDate != nil:
		e := r.EndDateRecurrence.EndDate.Time
		opt.Until = time.Date(e.Year(), e.Month(), e.Day(), 23, 59, 59, 0, loc)
	case r.NoEndRecurrence != nil:
		opt.Count = maxOccurrences
	default:
		return nil, errorf("no recurrence range")
	}
	if opt.Count > maxOccurrences || opt.Count < 0 {
		opt.Count = maxOccurrences
	}
	rule, err := rrule.NewRRule(opt)
	if err != nil {
		return nil, err
	}
	all := rule.All()
	if len(all) == 0 {
		return nil, errorf("the recurrence has no occurrence")
	}
	out := make([]time.Time, len(all))
	for i, t := range all {
		out[i] = t.UTC()
	}
	return out, nil
}

type recurrenceError string

func (e recurrenceError) Error() string { return string(e) }

func errorf(s string) error { return recurrenceError(s) }

// occurrence returns the item of an occurrence, materialising it (with
// its own id, as EWS gives occurrences derived ids) on first use.
func (c *call) occurrence(oid soap.OccurrenceItemID) (*item, *soap.ResponseMessage) {
	master, e := c.lookupItem(oid.RecurringMasterID)
	if e != nil {
		return nil, e
	}
	ci := master.data.CalendarItem
	if ci == nil || ci.Recurrence == nil {
		return nil, fail("ErrorCalendarCannotUseIdForOccurrenceId", "The ID of a single or recurring master item cannot be used as an occurrence id.")
	}
	starts, err := expand(ci)
	if err != nil {
		return nil, fail("ErrorCalendarInvalidRecurrence", err.Error())
	}
	idx := oid.InstanceIndex
	if idx < 1 || idx > len(starts) {
		return nil, fail("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "The occurrence index is out of the recurrence range.")
	}
	if _, gone := master.deletedOcc[idx]; gone {
		return nil, fail("ErrorCalendarOccurrenceIsDeletedFromRecurrence", "The occurrence has been deleted from the recurrence.")
	}
	if occ := master.exceptions[idx]; occ != nil {
		return occ, nil
	}
	dur := ci.End.Sub(ci.Start.Time)
	oc := *ci
	oc.Recurrence, oc.ModifiedOccurrences, oc.DeletedOccurrences = nil, nil, nil
	oc.Start, oc.End = soap.NewDateTime(starts[idx-1]), soap.NewDateTime(starts[idx-1].Add(dur))
	oc.OriginalStart = soap.NewDateTime(starts[idx-1])
	oc.RecurrenceID = soap.NewDateTime(starts[idx-1])
	oc.CalendarItemType = "Occurrence"
	oc.IsRecurring = soap.Bool(true)
	occ := &item{id: c.mbx.newID('I'), mbx: c.mbx, folder: master.folder, data: soap.AnyItem{CalendarItem: &oc},
		ext: map[string]soap.ExtendedProperty{}, master: master, instance: idx, parsed: true, size: master.size}
	occ.arrived, occ.changed, occ.readChanged = master.arrived, master.changed, master.readChanged
	if master.exceptions == nil {
		master.exceptions = map[int]*item{}
	}
	master.exceptions[idx] = occ
	c.mbx.items[occ.id] = occ
	return occ, nil
}

func (c *call) occurrenceForUpdate(oid soap.OccurrenceItemID) (*item, *soap.ResponseMessage) {
	return c.occurrence(oid)
}

func (c *call) deleteOccurrence(oid soap.OccurrenceItemID, mode string) *soap.ResponseMessage {
	occ, e := c.occurrence(oid)
	if e != nil {
		return e
	}
	master := occ.master
	if master.deletedOcc == nil {
		master.deletedOcc = map[int]time.Time{}
	}
	master.deletedOcc[occ.instance] = occ.data.CalendarItem.OriginalStart.Time
	delete(master.exceptions, occ.instance)
	delete(c.mbx.items, occ.id)
	c.mbx.touch(master, false)
	if mode != "SendToNone" {
		c.invite(occ, "cancellation")
	}
	return nil
}

// seriesView adds the server-kept occurrence lists to a master's view.
func seriesView(it *item, ci *soap.CalendarItem) {
	if ci == nil || it.master != nil {
		return
	}
	var mod []soap.OccurrenceInfo
	for idx := 1; idx <= maxOccurrences && len(mod) < len(it.exceptions); idx++ {
		occ := it.exceptions[idx]
		if occ == nil || !occ.occModified {
			continue
		}
		oc := occ.data.CalendarItem
		mod = append(mod, soap.OccurrenceInfo{ItemID: *occ.itemID(), Start: *oc.Start, End: *oc.End, OriginalStart: *oc.OriginalStart})
	}
	if len(mod) > 0 {
		ci.ModifiedOccurrences = &soap.Occurrences{Occurrence: mod}
	}
	if len(it.deletedOcc) > 0 {
		d := &soap.DeletedOccurrences{}
		for idx := 1; idx <= maxOccurrences; idx++ {
			if t, ok := it.deletedOcc[idx]; ok {
				d.DeletedOccurrence = append(d.DeletedOccurrence, struct {
					Start soap.DateTime `xml:"http://schemas.microsoft.com/exchange/services/2006/types Start"`
				}{soap.DateTime{Time: t}})
			}
		}
		ci.DeletedOccurrences = d
	}
}
