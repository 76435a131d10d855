package ews

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	ical "github.com/emersion/go-ical"
	"github.com/teambition/rrule-go"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/pim"
	"github.com/mailferry/mailferry/libs/platform"
)

// eventShape reads a calendar item with everything its iCalendar needs.
var eventShape = soap.ItemShape{BaseShape: soap.ShapeAllProperties, BodyType: "Text",
	AdditionalProperties: &soap.Paths{
		FieldURI: []soap.FieldURI{{FieldURI: "item:Body"}, {FieldURI: "item:Categories"}, {FieldURI: "item:Size"},
			{FieldURI: "item:ReminderIsSet"}, {FieldURI: "item:ReminderMinutesBeforeStart"}, {FieldURI: "calendar:UID"},
			{FieldURI: "calendar:StartTimeZone"}, {FieldURI: "calendar:EndTimeZone"}, {FieldURI: "calendar:Recurrence"},
			{FieldURI: "calendar:ModifiedOccurrences"}, {FieldURI: "calendar:DeletedOccurrences"}, {FieldURI: "calendar:Organizer"},
			{FieldURI: "calendar:RequiredAttendees"}, {FieldURI: "calendar:OptionalAttendees"}, {FieldURI: "calendar:Resources"}},
		ExtendedFieldURI: []soap.ExtendedFieldURI{propMeeting},
	}}

// meetingData is what propMeeting keeps of a meeting written here: the
// organizer the source named and the attendees' answers, which EWS does
// not take on creation.
type meetingData struct {
	UID       string         `json:"uid,omitempty"`
	Organizer *attendeeData  `json:"organizer,omitempty"`
	Attendees []attendeeData `json:"attendees,omitempty"`
}

type attendeeData struct {
	Name     string `json:"name,omitempty"`
	Address  string `json:"address"`
	Role     string `json:"role,omitempty"`
	PartStat string `json:"partstat,omitempty"`
	CUType   string `json:"cutype,omitempty"`
}

var partstatOf = map[string]string{"Accept": "ACCEPTED", "Tentative": "TENTATIVE", "Decline": "DECLINED",
	"NoResponseReceived": "NEEDS-ACTION", "Unknown": "NEEDS-ACTION", "Organizer": "ACCEPTED"}

var responseOf = map[string]string{"ACCEPTED": "Accept", "TENTATIVE": "Tentative", "DECLINED": "Decline", "NEEDS-ACTION": "NoResponseReceived"}

// readEvent renders a calendar item as iCalendar: the master (or single
// item) with its recurrence, deleted occurrences as EXDATE and modified
// occurrences as VEVENTs with a RECURRENCE-ID, in the item's time zone
// with a VTIMEZONE, attendees with their answers and the organizer.
func (c *Connector) readEvent(ctx context.Context, mb string, ref platform.ItemRef) (platform.Item, error) {
	it, err := c.getOne(ctx, mb, ref.ID, eventShape)
	if err != nil {
		return platform.Item{}, err
	}
	ci := it.CalendarItem
	if ci == nil {
		return platform.Item{}, errs.New(errs.CorruptItem, "item "+ref.ID+" of mailbox "+mb+" is a "+it.Kind()+", not a calendar item",
			"the item is listed in the reconciliation report")
	}
	var md meetingData
	if v := extValue(ci.ExtendedProperty, propMeeting); v != "" {
		_ = json.Unmarshal([]byte(v), &md) // a foreign value is ignored, not fatal
	}
	loc := itemZone(ci)
	uid := ci.UID
	if uid == "" {
		uid = md.UID
	}
	if uid == "" {
		sum := sha256.Sum256([]byte(mb + "\x00" + ci.ItemID.ID))
		uid = "mailferry-" + hex.EncodeToString(sum[:16])
	}
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, "-//mailferry//Exchange connector//EN")
	cal.Props.SetText(ical.PropCalendarScale, "GREGORIAN")
	allDay := boolOf(ci.IsAllDayEvent)
	master := vevent(ci, md, uid, loc, nil, allDay)
	var children []*ical.Component
	if ci.Recurrence != nil && ci.Start != nil {
		rule, err := rruleOf(ci.Recurrence, ci.Start.In(loc), allDay)
		if err != nil {
			return platform.Item{}, errs.Wrap(errs.CorruptItem, err, "the recurrence of item "+ref.ID+" of mailbox "+mb+" cannot be read",
				"report this to mailferry support")
		}
		master.Props.Set(&ical.Prop{Name: ical.PropRecurrenceRule, Params: ical.Params{}, Value: rule})
		if ci.DeletedOccurrences != nil {
			var ex []time.Time
			for _, d := range ci.DeletedOccurrences.DeletedOccurrence {
				ex = append(ex, d.Start.Time)
			}
			sort.Slice(ex, func(i, j int) bool { return ex[i].Before(ex[j]) })
			for _, t := range ex {
				p := &ical.Prop{Name: ical.PropExceptionDates, Params: ical.Params{}}
				setTime(p, t, loc, allDay)
				master.Props.Add(p)
			}
		}
		if ci.ModifiedOccurrences != nil && len(ci.ModifiedOccurrences.Occurrence) > 0 {
			occs, err := c.occurrences(ctx, mb, ci.ModifiedOccurrences.Occurrence)
			if err != nil {
				return platform.Item{}, err
			}
			for i, oc := range occs {
				orig := ci.ModifiedOccurrences.Occurrence[i].OriginalStart.Time
				children = append(children, vevent(oc, md, uid, loc, &orig, allDay))
			}
		}
	}
	if loc != time.UTC && ci.Start != nil {
		cal.Children = append(cal.Children, pim.VTimezone(loc, ci.Start.In(loc).Year()))
	}
	cal.Children = append(cal.Children, master)
	cal.Children = append(cal.Children, children...)
	var buf bytes.Buffer
	if err := ical.NewEncoder(&buf).Encode(cal); err != nil {
		return platform.Item{}, errs.Wrap(errs.CorruptItem, err, "item "+ref.ID+" of mailbox "+mb+" cannot be rendered as iCalendar", "report this to mailferry support")
	}
	out := platform.Item{
		Ref:         platform.ItemRef{ID: ci.ItemID.ID, FolderID: ref.FolderID, Kind: platform.Event, Size: int64(derefInt(ci.Size)), ChangeKey: ci.ItemID.ChangeKey},
		ContentType: platform.ContentCalendar,
		Content:     buf.Bytes(),
	}
	if out.Ref.FolderID == "" && ci.ParentFolderID != nil {
		out.Ref.FolderID = ci.ParentFolderID.ID
	}
	if ci.Categories != nil {
		out.Categories = ci.Categories.String
	}
	return out, nil
}

// occurrences reads modified occurrences in one GetItem.
func (c *Connector) occurrences(ctx context.Context, mb string, list []soap.OccurrenceInfo) ([]*soap.CalendarItem, error) {
	ids := make([]soap.ItemID, len(list))
	for i, o := range list {
		ids[i] = soap.ItemID{ID: o.ItemID.ID}
	}
	shape := eventShape
	shape.AdditionalProperties = &soap.Paths{FieldURI: eventShape.AdditionalProperties.FieldURI}
	var resp soap.GetItemResponse
	// The second read of a series: patient, like the later steps of a
	// listing (readFolders).
	if err := c.patient(ctx, mb, &soap.GetItem{ItemShape: shape, ItemIDs: *soap.ItemList(ids...)}, &resp); err != nil {
		return nil, err
	}
	if err := soap.Check("GetItem", resp.ResponseMessages.Messages); err != nil {
		return nil, c.fail(err, what{mailbox: mb, thing: "an occurrence"})
	}
	out := make([]*soap.CalendarItem, 0, len(list))
	for _, m := range resp.ResponseMessages.Messages {
		if len(m.Items.Items) != 1 || m.Items.Items[0].CalendarItem == nil {
			return nil, errs.New(errs.Internal, "Exchange returned an occurrence that is not a calendar item", "report this to mailferry support")
		}
		out = append(out, m.Items.Items[0].CalendarItem)
	}
	if len(out) != len(list) {
		return nil, errs.New(errs.Internal, "Exchange returned fewer occurrences than asked for", "report this to mailferry support")
	}
	return out, nil
}

// itemZone is the zone a calendar item was scheduled in.
func itemZone(ci *soap.CalendarItem) *time.Location {
	for _, name := range []string{tzID(ci.StartTimeZone), ci.TimeZone} {
		if name == "" {
			continue
		}
		if loc, ok := pim.Zone(name); ok {
			return loc
		}
	}
	return time.UTC
}

func tzID(d *soap.TimeZoneDefinition) string {
	if d == nil {
		return ""
	}
	if d.ID != "" {
		return d.ID
	}
	return d.Name
}

// setTime sets a DATE (all-day) or DATE-TIME property in loc.
func setTime(p *ical.Prop, t time.Time, loc *time.Location, date bool) {
	if date {
		p.Params.Set(ical.ParamValue, "DATE")
		p.Value = t.In(loc).Format("20060102")
		return
	}
	pim.SetLocal(p, t, loc)
}

var tagRE = regexp.MustCompile(`(?s)<[^>]*>`)

// vevent renders one calendar item; orig is an exception's original start.
func vevent(ci *soap.CalendarItem, md meetingData, uid string, loc *time.Location, orig *time.Time, allDay bool) *ical.Component {
	v := ical.NewEvent()
	text := func(name, value string) {
		if value != "" {
			v.Props.SetText(name, value)
		}
	}
	utc := func(name string, t *soap.DateTime) {
		if t != nil {
			v.Props.Set(&ical.Prop{Name: name, Params: ical.Params{}, Value: t.UTC().Format("20060102T150405Z")})
		}
	}
	v.Props.SetText(ical.PropUID, uid)
	stamp := ci.LastModifiedTime
	if stamp == nil {
		stamp = soap.NewDateTime(time.Now())
	}
	utc(ical.PropDateTimeStamp, stamp)
	utc(ical.PropCreated, ci.DateTimeCreated)
	utc(ical.PropLastModified, ci.LastModifiedTime)
	for _, x := range []struct {
		name string
		t    *soap.DateTime
	}{{ical.PropDateTimeStart, ci.Start}, {ical.PropDateTimeEnd, ci.End}} {
		if x.t == nil {
			continue
		}
		p := &ical.Prop{Name: x.name, Params: ical.Params{}}
		setTime(p, x.t.Time, loc, allDay)
		v.Props.Set(p)
	}
	if orig != nil {
		p := &ical.Prop{Name: ical.PropRecurrenceID, Params: ical.Params{}}
		setTime(p, *orig, loc, allDay)
		v.Props.Set(p)
	}
	text(ical.PropSummary, str(ci.Subject))
	text(ical.PropLocation, str(ci.Location))
	if b := ci.Body; b != nil && strings.TrimSpace(b.Value) != "" {
		content := b.Value
		if strings.EqualFold(b.BodyType, "HTML") {
			p := &ical.Prop{Name: "X-ALT-DESC", Params: ical.Params{}}
			p.Params.Set("FMTTYPE", "text/html")
			p.SetText(content)
			v.Props.Set(p)
			content = strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(content, "")))
		}
		text(ical.PropDescription, content)
	}
	if ci.Categories != nil && len(ci.Categories.String) > 0 {
		p := ical.NewProp(ical.PropCategories)
		p.SetTextList(ci.Categories.String)
		v.Props.Set(p)
	}
	switch ci.Sensitivity {
	case "Private", "Personal":
		text(ical.PropClass, "PRIVATE")
	case "Confidential":
		text(ical.PropClass, "CONFIDENTIAL")
	}
	switch ci.Importance {
	case "High":
		v.Props.Set(&ical.Prop{Name: ical.PropPriority, Params: ical.Params{}, Value: "1"})
	case "Low":
		v.Props.Set(&ical.Prop{Name: ical.PropPriority, Params: ical.Params{}, Value: "9"})
	}
	if s := ci.LegacyFreeBusyStatus; s != "" {
		transp := "OPAQUE"
		if s == "Free" {
			transp = "TRANSPARENT"
		}
		text(ical.PropTransparency, transp)
		text("X-MICROSOFT-CDO-BUSYSTATUS", strings.ToUpper(s))
	}
	if boolOf(ci.IsCancelled) {
		text(ical.PropStatus, "CANCELLED")
	} else {
		text(ical.PropStatus, "CONFIRMED")
	}
	atts := attendeesOf(ci, md)
	if len(atts) > 0 {
		org := md.Organizer
		if org == nil && ci.Organizer != nil && ci.Organizer.Mailbox.EmailAddress != "" {
			org = &attendeeData{Name: ci.Organizer.Mailbox.Name, Address: ci.Organizer.Mailbox.EmailAddress}
		}
		if org != nil && org.Address != "" {
			p := &ical.Prop{Name: ical.PropOrganizer, Params: ical.Params{}, Value: "mailto:" + org.Address}
			if org.Name != "" {
				p.Params.Set(ical.ParamCommonName, org.Name)
			}
			v.Props.Set(p)
		}
		for _, a := range atts {
			p := &ical.Prop{Name: ical.PropAttendee, Params: ical.Params{}, Value: "mailto:" + a.Address}
			if a.Name != "" {
				p.Params.Set(ical.ParamCommonName, a.Name)
			}
			if a.CUType != "" {
				p.Params.Set(ical.ParamCalendarUserType, a.CUType)
			}
			p.Params.Set(ical.ParamRole, a.Role)
			p.Params.Set(ical.ParamParticipationStatus, a.PartStat)
			v.Props.Add(p)
		}
	}
	if boolOf(ci.ReminderIsSet) {
		mins, _ := strconv.Atoi(strings.TrimSpace(ci.ReminderMinutesBeforeStart))
		a := ical.NewComponent(ical.CompAlarm)
		a.Props.SetText(ical.PropAction, "DISPLAY")
		a.Props.SetText(ical.PropDescription, "Reminder")
		a.Props.Set(&ical.Prop{Name: ical.PropTrigger, Params: ical.Params{}, Value: fmt.Sprintf("-PT%dM", mins)})
		v.Children = append(v.Children, a)
	}
	return v.Component
}

// attendeesOf lists a calendar item's attendees with their answers: what
// Exchange knows, and where it knows no answer, what the source said
// (propMeeting).
func attendeesOf(ci *soap.CalendarItem, md meetingData) []attendeeData {
	kept := map[string]attendeeData{}
	for _, a := range md.Attendees {
		kept[strings.ToLower(a.Address)] = a
	}
	var out []attendeeData
	for _, l := range []struct {
		list *soap.Attendees
		role string
	}{{ci.RequiredAttendees, "REQ-PARTICIPANT"}, {ci.OptionalAttendees, "OPT-PARTICIPANT"}, {ci.Resources, "NON-PARTICIPANT"}} {
		if l.list == nil {
			continue
		}
		for _, a := range l.list.Attendee {
			addr := a.Mailbox.EmailAddress
			if addr == "" {
				continue
			}
			ad := attendeeData{Name: a.Mailbox.Name, Address: addr, Role: l.role, PartStat: partstatOf[a.ResponseType]}
			if l.role == "NON-PARTICIPANT" {
				ad.CUType = "RESOURCE"
			}
			if k, ok := kept[strings.ToLower(addr)]; ok {
				if (ad.PartStat == "" || ad.PartStat == "NEEDS-ACTION") && k.PartStat != "" {
					ad.PartStat = k.PartStat
				}
				if k.Role != "" {
					ad.Role = k.Role
				}
				if k.CUType != "" {
					ad.CUType = k.CUType
				}
			}
			if ad.PartStat == "" {
				ad.PartStat = "NEEDS-ACTION"
			}
			out = append(out, ad)
		}
	}
	return out
}

// Days of the week as EWS and iCalendar name them, Sunday first.
var ewsDays = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

var ewsIndexes = map[string]int{"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}

var ewsMonths = []string{"", "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

// icalDays turns EWS's DaysOfWeek ("Monday Wednesday", "Weekday", ...)
// into iCalendar's BYDAY list.
func icalDays(s string) (string, error) {
	var out []string
	for _, d := range strings.Fields(s) {
		switch d {
		case "Day":
			return "SU,MO,TU,WE,TH,FR,SA", nil
		case "Weekday":
			return "MO,TU,WE,TH,FR", nil
		case "WeekendDay":
			return "SU,SA", nil
		}
		i := slices.Index(ewsDays, d)
		if i < 0 {
			return "", fmt.Errorf("unknown day %q", d)
		}
		out = append(out, pim.Days[i])
	}
	if len(out) == 0 {
		return "", fmt.Errorf("no days of the week")
	}
	return strings.Join(out, ","), nil
}

// rruleOf renders an EWS recurrence as an RRULE value. start is the
// series' start in its zone: UNTIL is the range's last day at the start's
// time of day, in UTC (a DATE for all-day series) as RFC 5545 wants.
func rruleOf(r *soap.Recurrence, start time.Time, allDay bool) (string, error) {
	var parts []string
	interval := func(n int) {
		if n > 1 {
			parts = append(parts, "INTERVAL="+strconv.Itoa(n))
		}
	}
	switch {
	case r.DailyRecurrence != nil:
		parts = append(parts, "FREQ=DAILY")
		interval(r.DailyRecurrence.Interval)
	case r.WeeklyRecurrence != nil:
		days, err := icalDays(r.WeeklyRecurrence.DaysOfWeek)
		if err != nil {
			return "", err
		}
		parts = append(parts, "FREQ=WEEKLY", "BYDAY="+days)
		interval(r.WeeklyRecurrence.Interval)
		if i := slices.Index(ewsDays, r.WeeklyRecurrence.FirstDayOfWeek); i >= 0 && r.WeeklyRecurrence.Interval > 1 {
			parts = append(parts, "WKST="+pim.Days[i])
		}
	case r.AbsoluteMonthlyRecurrence != nil:
		parts = append(parts, "FREQ=MONTHLY", "BYMONTHDAY="+strconv.Itoa(r.AbsoluteMonthlyRecurrence.DayOfMonth))
		interval(r.AbsoluteMonthlyRecurrence.Interval)
	case r.RelativeMonthlyRecurrence != nil:
		days, err := icalDays(r.RelativeMonthlyRecurrence.DaysOfWeek)
		if err != nil {
			return "", err
		}
		idx, ok := ewsIndexes[r.RelativeMonthlyRecurrence.DayOfWeekIndex]
		if !ok {
			return "", fmt.Errorf("unknown week index %q", r.RelativeMonthlyRecurrence.DayOfWeekIndex)
		}
		parts = append(parts, "FREQ=MONTHLY", "BYDAY="+days, "BYSETPOS="+strconv.Itoa(idx))
		interval(r.RelativeMonthlyRecurrence.Interval)
	case r.AbsoluteYearlyRecurrence != nil:
		m := slices.Index(ewsMonths, r.AbsoluteYearlyRecurrence.Month)
		if m < 1 {
			return "", fmt.Errorf("unknown month %q", r.AbsoluteYearlyRecurrence.Month)
		}
		parts = append(parts, "FREQ=YEARLY", "BYMONTH="+strconv.Itoa(m), "BYMONTHDAY="+strconv.Itoa(r.AbsoluteYearlyRecurrence.DayOfMonth))
	case r.RelativeYearlyRecurrence != nil:
		m := slices.Index(ewsMonths, r.RelativeYearlyRecurrence.Month)
		days, err := icalDays(r.RelativeYearlyRecurrence.DaysOfWeek)
		idx, ok := ewsIndexes[r.RelativeYearlyRecurrence.DayOfWeekIndex]
		if m < 1 || err != nil || !ok {
			return "", fmt.Errorf("unreadable yearly pattern %+v", *r.RelativeYearlyRecurrence)
		}
		parts = append(parts, "FREQ=YEARLY", "BYMONTH="+strconv.Itoa(m), "BYDAY="+days, "BYSETPOS="+strconv.Itoa(idx))
	default:
		return "", fmt.Errorf("a recurrence without a pattern")
	}
	switch {
	case r.NumberedRecurrence != nil && r.NumberedRecurrence.NumberOfOccurrences != nil:
		parts = append(parts, "COUNT="+strconv.Itoa(*r.NumberedRecurrence.NumberOfOccurrences))
	case r.EndDateRecurrence != nil && r.EndDateRecurrence.EndDate != nil:
		d := r.EndDateRecurrence.EndDate.Time
		if allDay {
			parts = append(parts, "UNTIL="+d.Format("20060102"))
		} else {
			until := time.Date(d.Year(), d.Month(), d.Day(), start.Hour(), start.Minute(), start.Second(), 0, start.Location())
			parts = append(parts, "UNTIL="+until.UTC().Format("20060102T150405Z"))
		}
	}
	return strings.Join(parts, ";"), nil
}

// recurrenceOf turns an RRULE into an EWS recurrence starting at start
// (in the series' zone). Rules EWS cannot express (BYHOUR, BYWEEKNO,
// several month days, yearly rules with an interval, sub-daily
// frequencies, ...) are refused with the reason, never approximated.
func recurrenceOf(rule string, start time.Time) (*soap.Recurrence, error) {
	kv := map[string]string{}
	for _, part := range strings.Split(rule, ";") {
		k, v, _ := strings.Cut(part, "=")
		k = strings.ToUpper(strings.TrimSpace(k))
		if k == "" {
			continue
		}
		kv[k] = strings.ToUpper(strings.TrimSpace(v))
	}
	for k := range kv {
		switch k {
		case "FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "WKST":
		default:
			return nil, fmt.Errorf("the rule part %s has no Exchange equivalent", k)
		}
	}
	interval := 1
	if v := kv["INTERVAL"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("INTERVAL=%s is not a positive number", v)
		}
		interval = n
	}
	type byday struct{ n, day int }
	var days []byday
	if v := kv["BYDAY"]; v != "" {
		for _, d := range strings.Split(v, ",") {
			i := len(d) - 2
			if i < 0 || slices.Index(pim.Days, d[i:]) < 0 {
				return nil, fmt.Errorf("BYDAY=%s is not a list of weekdays", v)
			}
			n := 0
			if i > 0 {
				var err error
				if n, err = strconv.Atoi(d[:i]); err != nil {
					return nil, fmt.Errorf("BYDAY=%s is not a list of weekdays", v)
				}
			}
			days = append(days, byday{n, slices.Index(pim.Days, d[i:])})
		}
	}
	dayNames := func() (string, error) {
		set := map[int]bool{}
		for _, d := range days {
			if d.n != 0 && len(days) > 1 {
				return "", fmt.Errorf("BYDAY=%s mixes numbered weekdays", kv["BYDAY"])
			}
			set[d.day] = true
		}
		switch {
		case len(set) == 7:
			return "Day", nil
		case len(set) == 5 && !set[0] && !set[6]:
			return "Weekday", nil
		case len(set) == 2 && set[0] && set[6]:
			return "WeekendDay", nil
		}
		var l []string
		for i := range ewsDays {
			if set[i] {
				l = append(l, ewsDays[i])
			}
		}
		return strings.Join(l, " "), nil
	}
	index := func() (string, error) {
		n := 0
		if v := kv["BYSETPOS"]; v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil {
				return "", fmt.Errorf("BYSETPOS=%s is not one number", v)
			}
		} else if len(days) == 1 {
			n = days[0].n
		}
		for name, i := range ewsIndexes {
			if i == n {
				return name, nil
			}
		}
		return "", fmt.Errorf("the week index %d has no Exchange equivalent (first to fourth, or last)", n)
	}
	monthDay := func() (int, error) {
		v := kv["BYMONTHDAY"]
		if v == "" {
			return start.Day(), nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 31 {
			return 0, fmt.Errorf("BYMONTHDAY=%s has no Exchange equivalent (one day from 1 to 31)", v)
		}
		return n, nil
	}
	month := func() (string, error) {
		v := kv["BYMONTH"]
		if v == "" {
			return ewsMonths[start.Month()], nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 12 {
			return "", fmt.Errorf("BYMONTH=%s has no Exchange equivalent (one month)", v)
		}
		return ewsMonths[n], nil
	}
	r := &soap.Recurrence{}
	switch kv["FREQ"] {
	case "DAILY":
		if len(days) > 0 {
			if interval > 1 {
				return nil, fmt.Errorf("a daily rule with both INTERVAL and BYDAY has no Exchange equivalent")
			}
			names, err := dayNames()
			if err != nil {
				return nil, err
			}
			r.WeeklyRecurrence = &soap.WeeklyRecurrence{Interval: 1, DaysOfWeek: names}
		} else {
			r.DailyRecurrence = &soap.IntervalPattern{Interval: interval}
		}
	case "WEEKLY":
		if len(days) == 0 {
			days = []byday{{0, int(start.Weekday())}}
		}
		names, err := dayNames()
		if err != nil {
			return nil, err
		}
		w := &soap.WeeklyRecurrence{Interval: interval, DaysOfWeek: names}
		if wk := kv["WKST"]; wk != "" {
			if i := slices.Index(pim.Days, wk); i >= 0 {
				w.FirstDayOfWeek = ewsDays[i]
			}
		} else if interval > 1 {
			w.FirstDayOfWeek = "Monday" // RFC 5545's default week start
		}
		r.WeeklyRecurrence = w
	case "MONTHLY":
		if len(days) > 0 {
			names, err := dayNames()
			if err != nil {
				return nil, err
			}
			idx, err := index()
			if err != nil {
				return nil, err
			}
			r.RelativeMonthlyRecurrence = &soap.RelativeMonthlyRecurrence{Interval: interval, DaysOfWeek: names, DayOfWeekIndex: idx}
		} else {
			d, err := monthDay()
			if err != nil {
				return nil, err
			}
			r.AbsoluteMonthlyRecurrence = &soap.AbsoluteMonthlyRecurrence{Interval: interval, DayOfMonth: d}
		}
	case "YEARLY":
		if interval > 1 {
			return nil, fmt.Errorf("a yearly rule with INTERVAL=%d has no Exchange 2013 equivalent", interval)
		}
		m, err := month()
		if err != nil {
			return nil, err
		}
		if len(days) > 0 {
			names, err := dayNames()
			if err != nil {
				return nil, err
			}
			idx, err := index()
			if err != nil {
				return nil, err
			}
			r.RelativeYearlyRecurrence = &soap.RelativeYearlyRecurrence{DaysOfWeek: names, DayOfWeekIndex: idx, Month: m}
		} else {
			d, err := monthDay()
			if err != nil {
				return nil, err
			}
			r.AbsoluteYearlyRecurrence = &soap.AbsoluteYearlyRecurrence{DayOfMonth: d, Month: m}
		}
	default:
		return nil, fmt.Errorf("FREQ=%s has no Exchange equivalent", kv["FREQ"])
	}
	rng := &soap.RecurrenceRange{StartDate: soap.Date{Time: time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)}}
	switch {
	case kv["COUNT"] != "":
		n, err := strconv.Atoi(kv["COUNT"])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("COUNT=%s is not a positive number", kv["COUNT"])
		}
		rng.NumberOfOccurrences = &n
		r.NumberedRecurrence = rng
	case kv["UNTIL"] != "":
		u, err := pim.ParseTime(kv["UNTIL"], start.Location())
		if err != nil {
			return nil, fmt.Errorf("UNTIL=%s: %w", kv["UNTIL"], err)
		}
		u = u.In(start.Location())
		rng.EndDate = &soap.Date{Time: time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)}
		r.EndDateRecurrence = rng
	default:
		r.NoEndRecurrence = rng
	}
	return r, nil
}

// instanceIndex is the 1-based position of the occurrence starting at at
// among all occurrences of a rule (deleted ones count: EWS numbers the
// pattern's occurrences, not what remains of them); 0 when at is none.
func instanceIndex(rule string, start, at time.Time) int {
	opt, err := rrule.StrToROptionInLocation(rule, start.Location())
	if err != nil {
		return 0
	}
	opt.Dtstart = start
	r, err := rrule.NewRRule(*opt)
	if err != nil {
		return 0
	}
	next := r.Iterator()
	for i := 1; i <= 5000; i++ {
		t, ok := next()
		if !ok || t.After(at) {
			return 0
		}
		if t.Equal(at) {
			return i
		}
	}
	return 0
}

// calendarItem builds the EWS calendar item of one VEVENT. Exceptions
// (exception true) carry only what an occurrence can change.
func calendarItem(v *ical.Component, p *pim.Event, exception bool) (*soap.CalendarItem, time.Time, bool, error) {
	start, _, date, err := pim.PropTime(v.Props.Get(ical.PropDateTimeStart), p.Loc)
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("DTSTART: %w", err)
	}
	var end time.Time
	switch {
	case v.Props.Get(ical.PropDateTimeEnd) != nil:
		if end, _, _, err = pim.PropTime(v.Props.Get(ical.PropDateTimeEnd), p.Loc); err != nil {
			return nil, time.Time{}, false, fmt.Errorf("DTEND: %w", err)
		}
	case v.Props.Get(ical.PropDuration) != nil:
		d, err := v.Props.Get(ical.PropDuration).Duration()
		if err != nil {
			return nil, time.Time{}, false, fmt.Errorf("DURATION: %w", err)
		}
		end = start.Add(d)
	case date:
		end = start.AddDate(0, 0, 1)
	default:
		end = start
	}
	if end.Before(start) {
		end = start
	}
	ci := &soap.CalendarItem{}
	ci.Subject = soap.String(pim.Text(v, ical.PropSummary))
	if h := v.Props.Get("X-ALT-DESC"); h != nil && strings.EqualFold(h.Params.Get("FMTTYPE"), "text/html") {
		s, _ := h.Text()
		ci.Body = &soap.Body{BodyType: "HTML", Value: s}
	} else if d := pim.Text(v, ical.PropDescription); d != "" {
		ci.Body = &soap.Body{BodyType: "Text", Value: d}
	}
	ci.Start, ci.End = soap.NewDateTime(start), soap.NewDateTime(end)
	ci.IsAllDayEvent = soap.Bool(date)
	if l := pim.Text(v, ical.PropLocation); l != "" || exception {
		ci.Location = soap.String(l)
	}
	busy := "Busy"
	if strings.EqualFold(pim.Text(v, ical.PropTransparency), "TRANSPARENT") {
		busy = "Free"
	}
	switch strings.ToUpper(pim.Text(v, "X-MICROSOFT-CDO-BUSYSTATUS")) {
	case "FREE":
		busy = "Free"
	case "TENTATIVE":
		busy = "Tentative"
	case "OOF":
		busy = "OOF"
	case "BUSY", "WORKINGELSEWHERE":
		busy = "Busy"
	}
	ci.LegacyFreeBusyStatus = busy
	if exception {
		return ci, start, date, nil
	}
	switch strings.ToUpper(pim.Text(v, ical.PropClass)) {
	case "PRIVATE":
		ci.Sensitivity = "Private"
	case "CONFIDENTIAL":
		ci.Sensitivity = "Confidential"
	default:
		ci.Sensitivity = "Normal"
	}
	if pr := v.Props.Get(ical.PropPriority); pr != nil {
		n, _ := strconv.Atoi(strings.TrimSpace(pr.Value))
		switch {
		case n >= 1 && n <= 4:
			ci.Importance = "High"
		case n >= 6:
			ci.Importance = "Low"
		}
	}
	if cats := pim.Categories(v); len(cats) > 0 {
		ci.Categories = &soap.Strings{String: cats}
	}
	ci.ReminderIsSet = soap.Bool(false)
	for _, a := range v.Children {
		if a.Name != ical.CompAlarm {
			continue
		}
		tr := a.Props.Get(ical.PropTrigger)
		if tr == nil || strings.EqualFold(tr.Params.Get("RELATED"), "END") || tr.Params.Get(ical.ParamValue) == "DATE-TIME" {
			continue
		}
		d, err := tr.Duration()
		if err != nil || d > 0 {
			continue
		}
		ci.ReminderIsSet = soap.Bool(true)
		ci.ReminderMinutesBeforeStart = strconv.Itoa(int(-d / time.Minute))
		break
	}
	ci.UID = p.UID
	zone := "UTC"
	if !date {
		if z, ok := windowsZone(p.Loc); ok {
			zone = z
		}
	}
	ci.StartTimeZone = &soap.TimeZoneDefinition{ID: zone}
	ci.EndTimeZone = &soap.TimeZoneDefinition{ID: zone}
	if rr := v.Props.Get(ical.PropRecurrenceRule); rr != nil {
		ls := start.In(p.Loc)
		if date || zone == "UTC" {
			ls = start.UTC()
		}
		rec, err := recurrenceOf(rr.Value, ls)
		if err != nil {
			return nil, time.Time{}, false, err
		}
		ci.Recurrence = rec
	}
	for _, a := range v.Props.Values(ical.PropAttendee) {
		addr := pim.Address(a.Value)
		if addr == "" || !strings.Contains(addr, "@") {
			continue
		}
		at := soap.Attendee{Mailbox: soap.EmailAddress{Name: a.Params.Get(ical.ParamCommonName), EmailAddress: addr, RoutingType: "SMTP"},
			ResponseType: responseOf[strings.ToUpper(a.Params.Get(ical.ParamParticipationStatus))]}
		cu, role := strings.ToUpper(a.Params.Get(ical.ParamCalendarUserType)), strings.ToUpper(a.Params.Get(ical.ParamRole))
		switch {
		case cu == "RESOURCE" || cu == "ROOM" || role == "NON-PARTICIPANT":
			if ci.Resources == nil {
				ci.Resources = &soap.Attendees{}
			}
			ci.Resources.Attendee = append(ci.Resources.Attendee, at)
		case role == "OPT-PARTICIPANT":
			if ci.OptionalAttendees == nil {
				ci.OptionalAttendees = &soap.Attendees{}
			}
			ci.OptionalAttendees.Attendee = append(ci.OptionalAttendees.Attendee, at)
		default:
			if ci.RequiredAttendees == nil {
				ci.RequiredAttendees = &soap.Attendees{}
			}
			ci.RequiredAttendees.Attendee = append(ci.RequiredAttendees.Attendee, at)
		}
	}
	return ci, start, date, nil
}

// meetingOf keeps what EWS will not take of a meeting.
func meetingOf(v *ical.Component, uid string) meetingData {
	md := meetingData{UID: uid}
	if o := v.Props.Get(ical.PropOrganizer); o != nil {
		md.Organizer = &attendeeData{Name: o.Params.Get(ical.ParamCommonName), Address: pim.Address(o.Value)}
	}
	for _, a := range v.Props.Values(ical.PropAttendee) {
		md.Attendees = append(md.Attendees, attendeeData{Name: a.Params.Get(ical.ParamCommonName), Address: pim.Address(a.Value),
			Role: a.Params.Get(ical.ParamRole), PartStat: strings.ToUpper(a.Params.Get(ical.ParamParticipationStatus)),
			CUType: a.Params.Get(ical.ParamCalendarUserType)})
	}
	return md
}

// incomplete is the version a series carries while its exceptions are
// written: a copy found with it is not a finished copy of any version, so
// a run that stopped there replaces it like an old version.
const incomplete = "mailferry-incomplete:"

// writeEvent stores a calendar item from iCalendar with
// SendMeetingInvitations="SendToNone": its attendees are kept and nobody
// is invited. A series' modified occurrences are then changed and its
// deleted ones deleted by InstanceIndex, both again telling nobody. A
// single item carries its marker and version from the start; a series
// carries them with the version marked incomplete until its exceptions
// are written, so that an interrupted write is never taken for a finished
// one.
func (c *Connector) writeEvent(ctx context.Context, mb, folderID string, item platform.Item, marker string) (string, error) {
	version := item.Ref.ChangeKey
	if id, ok, err := c.findInFolder(ctx, mb, folderID, marker, version); err != nil || ok {
		return id, err
	}
	if err := c.tooLarge(item); err != nil {
		return "", err
	}
	p, err := pim.ParseEvent(item.Content)
	if err != nil {
		return "", errs.Wrap(errs.CorruptItem, err, "the calendar item is not valid iCalendar: "+err.Error(), "the item is listed in the reconciliation report")
	}
	ci, start, date, err := calendarItem(p.Master, p, false)
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "the calendar item cannot be stored in Exchange: "+err.Error(),
			"the item is listed in the reconciliation report; recreate it by hand")
	}
	if len(item.Categories) > 0 {
		if ci.Categories == nil {
			ci.Categories = &soap.Strings{}
		}
		for _, cat := range item.Categories {
			if !slices.Contains(ci.Categories.String, cat) {
				ci.Categories.String = append(ci.Categories.String, cat)
			}
		}
	}
	md, _ := json.Marshal(meetingOf(p.Master, p.UID))
	exdates := p.Master.Props.Values(ical.PropExceptionDates)
	series := ci.Recurrence != nil && (len(p.Exceptions) > 0 || len(exdates) > 0)
	written := version
	if series {
		written = incomplete + version
	}
	ci.ExtendedProperty = append(markProps(marker, written), soap.NewExtendedProperty(propMeeting, string(md)))
	w := what{mailbox: mb, thing: "a calendar item in folder " + folderID}
	id, err := c.create(ctx, mb, folderID, marker, written, &soap.CreateItem{SendMeetingInvitations: "SendToNone",
		SavedItemFolderID: &soap.TargetFolderID{FolderID: &soap.FolderID{ID: folderID}},
		Items:             soap.Items{Items: []soap.AnyItem{{CalendarItem: ci}}}}, w)
	if err != nil || !series {
		return id, err
	}
	loc := p.Loc
	if date {
		loc = time.UTC
	}
	lost, err := c.applyExceptions(ctx, mb, id, p, start.In(loc), exdates)
	if err == nil {
		err = c.setVersion(ctx, mb, id, version)
	}
	if err != nil {
		c.discard(mb, id)
		return "", err
	}
	if len(lost) > 0 {
		return id, platform.Warning(strings.Join(lost, "; "))
	}
	return id, nil
}

// applyExceptions changes the modified occurrences of a new series and
// deletes its deleted ones. What Exchange refuses of one occurrence (an
// exception moved past its neighbour, a RECURRENCE-ID that is no
// occurrence) is returned as lost, not failed: the series is kept.
func (c *Connector) applyExceptions(ctx context.Context, mb, masterID string, p *pim.Event, start time.Time, exdates []ical.Prop) ([]string, error) {
	rule := p.Master.Props.Get(ical.PropRecurrenceRule).Value
	var lost []string
	var changes []soap.ItemChange
	var changed []string
	for _, ex := range p.Exceptions {
		rid, _, _, err := pim.PropTime(ex.Props.Get(ical.PropRecurrenceID), p.Loc)
		if err != nil {
			lost = append(lost, "an exception without a readable RECURRENCE-ID")
			continue
		}
		idx := instanceIndex(rule, start, rid)
		if idx == 0 {
			lost = append(lost, "the exception of "+rid.UTC().Format(time.RFC3339)+", not an occurrence of the series")
			continue
		}
		oc, _, _, err := calendarItem(ex, p, true)
		if err != nil {
			lost = append(lost, "the exception of "+rid.UTC().Format(time.RFC3339)+": "+err.Error())
			continue
		}
		ch := soap.ItemChange{OccurrenceItemID: &soap.OccurrenceItemID{RecurringMasterID: masterID, InstanceIndex: idx}}
		set := func(uri string, v *soap.CalendarItem) {
			ch.Updates.SetItemField = append(ch.Updates.SetItemField, soap.SetItemField{Path: soap.Field(uri), CalendarItem: v})
		}
		set("item:Subject", &soap.CalendarItem{ItemFields: soap.ItemFields{Subject: oc.Subject}})
		if oc.Body != nil {
			set("item:Body", &soap.CalendarItem{ItemFields: soap.ItemFields{Body: oc.Body}})
		}
		set("calendar:Start", &soap.CalendarItem{Start: oc.Start})
		set("calendar:End", &soap.CalendarItem{End: oc.End})
		set("calendar:Location", &soap.CalendarItem{Location: oc.Location})
		set("calendar:LegacyFreeBusyStatus", &soap.CalendarItem{LegacyFreeBusyStatus: oc.LegacyFreeBusyStatus})
		changes = append(changes, ch)
		changed = append(changed, rid.UTC().Format(time.RFC3339))
	}
	if len(changes) > 0 {
		var resp soap.UpdateItemResponse
		if err := c.patient(ctx, mb, &soap.UpdateItem{ConflictResolution: "AlwaysOverwrite", SendMeetingInvitationsOrCancellations: "SendToNone",
			ItemChanges: soap.ItemChanges{ItemChange: changes}}, &resp); err != nil {
			return nil, err
		}
		for i, m := range resp.ResponseMessages.Messages {
			if err := soap.CheckOne("UpdateItem", m); err != nil {
				if !occurrenceRefusal(err) {
					return nil, c.fail(err, what{mailbox: mb, thing: "an occurrence of item " + masterID})
				}
				lost = append(lost, "the exception of "+changed[min(i, len(changed)-1)]+" ("+soap.Code(err)+")")
			}
		}
	}
	var occ []soap.OccurrenceItemID
	var deleted []string
	for _, x := range exdates {
		t, _, _, err := pim.PropTime(&x, p.Loc)
		if err != nil {
			lost = append(lost, "a deleted occurrence with an unreadable EXDATE")
			continue
		}
		if idx := instanceIndex(rule, start, t); idx > 0 {
			occ = append(occ, soap.OccurrenceItemID{RecurringMasterID: masterID, InstanceIndex: idx})
			deleted = append(deleted, t.UTC().Format(time.RFC3339))
		}
	}
	if len(occ) > 0 {
		var resp soap.DeleteItemResponse
		if err := c.patient(ctx, mb, &soap.DeleteItem{DeleteType: "HardDelete", SendMeetingCancellations: "SendToNone",
			ItemIDs: soap.ItemIDs{OccurrenceItemID: occ}}, &resp); err != nil {
			return nil, err
		}
		for i, m := range resp.ResponseMessages.Messages {
			if err := soap.CheckOne("DeleteItem", m); err != nil {
				if soap.Code(err) == "ErrorCalendarOccurrenceIsDeletedFromRecurrence" {
					continue
				}
				if !occurrenceRefusal(err) {
					return nil, c.fail(err, what{mailbox: mb, thing: "an occurrence of item " + masterID})
				}
				lost = append(lost, "the deletion of the occurrence of "+deleted[min(i, len(deleted)-1)]+" ("+soap.Code(err)+")")
			}
		}
	}
	return lost, nil
}

// occurrenceRefusal says whether Exchange refused one occurrence for
// calendar reasons (moved over a neighbour, out of range), as opposed to
// failing.
func occurrenceRefusal(err error) bool {
	code := soap.Code(err)
	return strings.HasPrefix(code, "ErrorOccurrence") || strings.HasPrefix(code, "ErrorCalendar")
}

// setVersion finishes a series: its version becomes the source's.
func (c *Connector) setVersion(ctx context.Context, mb, id, version string) error {
	ch := soap.ItemChange{ItemID: &soap.ItemID{ID: id}}
	if version == "" {
		ch.Updates.DeleteItemField = []soap.DeleteItemField{{Path: soap.Extended(propVersion)}}
	} else {
		ch.Updates.SetItemField = []soap.SetItemField{{Path: soap.Extended(propVersion),
			CalendarItem: &soap.CalendarItem{ItemFields: soap.ItemFields{ExtendedProperty: []soap.ExtendedProperty{soap.NewExtendedProperty(propVersion, version)}}}}}
	}
	var resp soap.UpdateItemResponse
	if err := c.patient(ctx, mb, &soap.UpdateItem{ConflictResolution: "AlwaysOverwrite", SendMeetingInvitationsOrCancellations: "SendToNone",
		ItemChanges: soap.ItemChanges{ItemChange: []soap.ItemChange{ch}}}, &resp); err != nil {
		return err
	}
	return c.fail(soap.Check("UpdateItem", resp.ResponseMessages.Messages), what{mailbox: mb, thing: "item " + id})
}

// discard deletes a half-written item, telling nobody. It runs on its own
// context: the caller's may be what ended. If it fails, the item keeps
// its incomplete version and a later run replaces it.
func (c *Connector) discard(mb, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = c.DeleteItem(ctx, mb, platform.Placed{ID: id})
}
