package google

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	ical "github.com/emersion/go-ical"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/people/v1"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/pim"
	"github.com/mailferry/mailferry/libs/platform"
)

// Private extended properties mailferry keeps on the events it imports.
// The marker and version find copies again; categories and the online
// meeting's address have no Calendar field of their own.
const (
	propMarker     = "mailferryMarker"
	propVersion    = "mailferryVersion"
	propCategories = "mailferryCategories"
	propJoinURL    = "mailferryJoinUrl"
)

const calTokenPrefix = "gc1:"

func calOp(mailboxID, what string) op {
	return op{what: what, mailbox: mailboxID, scope: ScopeCalendar}
}

// calendarFolders lists the calendars the user owns (not those of other
// people they subscribed to); the primary one has the calendar role.
// Calendars are flat.
func (c *Connector) calendarFolders(ctx context.Context, mailboxID string) ([]platform.Folder, error) {
	svc, err := c.calendarFor(mailboxID)
	if err != nil {
		return nil, err
	}
	var out []platform.Folder
	token := ""
	for {
		call := svc.CalendarList.List().MaxResults(250).Context(ctx)
		if token != "" {
			call = call.PageToken(token)
		}
		resp, err := call.Do()
		if err != nil {
			return nil, c.fail(calOp(mailboxID, "the calendars of mailbox "+mailboxID), err)
		}
		for _, e := range resp.Items {
			if e.AccessRole != "owner" {
				continue
			}
			f := platform.Folder{ID: calendarPrefix + e.Id, Name: e.Summary, Kind: platform.Event}
			if e.Primary {
				f.Role, f.Name = platform.RoleCalendar, "Calendar"
			}
			c.others.setDefaults(mailboxID, e.Id, e.DefaultReminders)
			out = append(out, f)
		}
		if token = resp.NextPageToken; token == "" {
			return out, nil
		}
	}
}

// ensureCalendar returns the primary calendar for the calendar role, or
// the owned calendar of that name, creating it.
func (c *Connector) ensureCalendar(ctx context.Context, mailboxID string, f platform.Folder) (platform.Folder, error) {
	cals, err := c.calendarFolders(ctx, mailboxID)
	if err != nil {
		return platform.Folder{}, err
	}
	switch f.Role {
	case platform.RoleCalendar:
		for _, x := range cals {
			if x.Role == platform.RoleCalendar {
				return x, nil
			}
		}
		return platform.Folder{}, errs.New(errs.NotFound, "mailbox "+mailboxID+" has no primary calendar", "check that Calendar is on for the user")
	case platform.RoleNone:
	default:
		return platform.Folder{}, errs.Field("role", fmt.Sprintf("%q is not a calendar role", f.Role))
	}
	if strings.TrimSpace(f.Name) == "" {
		return platform.Folder{}, errs.Field("name", "a calendar without a role needs a name")
	}
	for _, x := range cals {
		if x.Role == platform.RoleNone && strings.EqualFold(x.Name, f.Name) {
			return x, nil
		}
	}
	svc, err := c.calendarFor(mailboxID)
	if err != nil {
		return platform.Folder{}, err
	}
	created, err := svc.Calendars.Insert(&calendar.Calendar{Summary: f.Name}).Context(ctx).Do()
	if err != nil {
		return platform.Folder{}, c.fail(calOp(mailboxID, "calendar "+f.Name), err)
	}
	return platform.Folder{ID: calendarPrefix + created.Id, Name: created.Summary, Kind: platform.Event}, nil
}

// calToken is the state of a calendar paging token: Google's page token
// (of a full or an incremental round) and, within an incremental round,
// hashes of the series already listed, since every changed exception of a
// series names its master and the contract lists each item once.
type calToken struct {
	Page string   `json:"p,omitempty"`
	Sync string   `json:"s,omitempty"` // the sync token a delta round started from
	Seen []string `json:"x,omitempty"`
}

func encodeCal(t calToken) string {
	b, _ := json.Marshal(t)
	return calTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func decodeCal(token string) (calToken, error) {
	var t calToken
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, calTokenPrefix))
	if !strings.HasPrefix(token, calTokenPrefix) || err != nil || json.Unmarshal(raw, &t) != nil {
		return t, errs.New(errs.Invalid, "the paging token is not one this connector issued", "start a full enumeration with an empty token")
	}
	return t, nil
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:4])
}

// eventSize estimates an event's size: Calendar reports none.
func eventSize(e *calendar.Event) int64 {
	return int64(512 + len(e.Summary) + len(e.Description) + len(e.Location) + 96*len(e.Attendees))
}

// copyID is the id of an event as an item. Calendar's events.import keeps
// an event per iCalUID and calendar: importing a new version of a copy
// updates that event in place. The platform contract wants another
// version to be another copy, so a copy mailferry wrote is named by its
// event id and (after "~") a hash of the version it holds: the new version
// has a new item id, and deleting the old one is a no-op once the event
// holds another version (deleteEvent). Other events are their event id.
func copyID(e *calendar.Event) string {
	if e.ExtendedProperties != nil && e.ExtendedProperties.Private[propMarker] != "" {
		return e.Id + "~" + shortHash(e.ExtendedProperties.Private[propVersion])
	}
	return e.Id
}

func splitCopyID(id string) (eventID, versionHash string) {
	eventID, versionHash, _ = strings.Cut(id, "~")
	return
}

const eventListFields = "items(id,etag,status,recurringEventId,summary,description,location,attendees/email,extendedProperties),nextPageToken,nextSyncToken"

// calendarItems enumerates a calendar: series masters and single events,
// not the exceptions (ReadItem renders them with their master). The
// delta token is Calendar's sync token; an exception changed or
// cancelled since names its master, listed with a version that matches
// no copy, so that the engine reads the series.
func (c *Connector) calendarItems(ctx context.Context, mailboxID, folderID, token string) (platform.ItemPage, error) {
	calID := strings.TrimPrefix(folderID, calendarPrefix)
	svc, err := c.calendarFor(mailboxID)
	if err != nil {
		return platform.ItemPage{}, err
	}
	var st calToken
	if token != "" {
		if st, err = decodeCal(token); err != nil {
			return platform.ItemPage{}, err
		}
	}
	call := svc.Events.List(calID).MaxResults(int64(min(c.cfg.PageSize*5, 2500))).Fields(eventListFields).Context(ctx)
	switch {
	case st.Page != "":
		call = call.PageToken(st.Page)
		if st.Sync != "" {
			call = call.SyncToken(st.Sync)
		}
	case st.Sync != "":
		call = call.SyncToken(st.Sync)
	default:
		call = call.ShowDeleted(false)
	}
	resp, err := call.Do()
	if err != nil {
		ferr := c.fail(calOp(mailboxID, "calendar "+calID+" of mailbox "+mailboxID), err)
		if st.Sync != "" && errs.Is(ferr, errs.Invalid) {
			return platform.ItemPage{}, errs.Wrap(errs.Invalid, ferr, "Calendar no longer accepts the sync token of calendar "+calID,
				"nothing: mailferry enumerates the calendar in full; items already copied are found by their marker")
		}
		return platform.ItemPage{}, ferr
	}
	seen := map[string]bool{}
	for _, h := range st.Seen {
		seen[h] = true
	}
	page := platform.ItemPage{Items: []platform.ItemRef{}}
	for _, e := range resp.Items {
		switch {
		case e.RecurringEventId != "" && st.Sync == "":
			// An exception in a full round: its master is listed.
		case e.RecurringEventId != "":
			h := shortHash(e.RecurringEventId)
			if seen[h] {
				continue
			}
			seen[h] = true
			page.Items = append(page.Items, platform.ItemRef{ID: e.RecurringEventId, FolderID: folderID, Kind: platform.Event,
				ChangeKey: "instance:" + e.Etag, Size: eventSize(e)})
		case e.Status == "cancelled":
			page.Items = append(page.Items, platform.ItemRef{ID: e.Id, FolderID: folderID, Kind: platform.Event, Deleted: true})
		default:
			id := copyID(e)
			h := shortHash(e.Id)
			if seen[h] {
				continue
			}
			seen[h] = true
			page.Items = append(page.Items, platform.ItemRef{ID: id, FolderID: folderID, Kind: platform.Event,
				ChangeKey: strings.Trim(e.Etag, `"`), Size: eventSize(e)})
		}
	}
	if resp.NextPageToken != "" {
		next := calToken{Page: resp.NextPageToken, Sync: st.Sync}
		if st.Sync != "" {
			for h := range seen {
				next.Seen = append(next.Seen, h)
			}
			sort.Strings(next.Seen)
		}
		page.NextToken = encodeCal(next)
		return page, nil
	}
	if resp.NextSyncToken == "" {
		return platform.ItemPage{}, errs.New(errs.Internal, "Calendar ended a listing without a sync token", "report this to mailferry support")
	}
	page.DeltaToken = encodeCal(calToken{Sync: resp.NextSyncToken})
	return page, nil
}

// seriesOf returns an event and, for a series, its exceptions and
// cancelled occurrences (every event of its iCalUID).
func (c *Connector) seriesOf(ctx context.Context, svc *calendar.Service, mailboxID, calID, eventID string) (*calendar.Event, []*calendar.Event, error) {
	o := calOp(mailboxID, "event "+eventID)
	e, err := svc.Events.Get(calID, eventID).Context(ctx).Do()
	if err != nil {
		return nil, nil, c.fail(o, err)
	}
	if e.Status == "cancelled" {
		return nil, nil, errs.New(errs.NotFound, "event "+eventID+" was deleted", "nothing: the next delta reports it")
	}
	if len(e.Recurrence) == 0 || e.ICalUID == "" {
		return e, nil, nil
	}
	var xs []*calendar.Event
	token := ""
	for {
		call := svc.Events.List(calID).ICalUID(e.ICalUID).ShowDeleted(true).MaxResults(2500).Context(ctx)
		if token != "" {
			call = call.PageToken(token)
		}
		resp, err := call.Do()
		if err != nil {
			return nil, nil, c.fail(o, err)
		}
		for _, x := range resp.Items {
			if x.RecurringEventId == e.Id && x.OriginalStartTime != nil {
				xs = append(xs, x)
			}
		}
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].Id < xs[j].Id })
	return e, xs, nil
}

// seriesVersion is the version of an event as ReadItem renders it: its
// etag, and for a series with exceptions a hash of theirs, since changing
// one occurrence need not change the master's etag.
func seriesVersion(e *calendar.Event, xs []*calendar.Event) string {
	v := strings.Trim(e.Etag, `"`)
	if len(xs) == 0 {
		return v
	}
	keys := make([]string, 0, len(xs))
	for _, x := range xs {
		keys = append(keys, x.Id+":"+x.Status+":"+x.Etag)
	}
	sort.Strings(keys)
	return v + "." + shortHash(strings.Join(keys, "\n"))
}

// readEvent renders an event or series as iCalendar: the master with its
// recurrence, exceptions as VEVENTs with RECURRENCE-ID, cancelled
// occurrences as EXDATE, attendees with their answers, reminders as
// VALARMs, and the zone as a VTIMEZONE.
func (c *Connector) readEvent(ctx context.Context, mailboxID string, ref platform.ItemRef) (platform.Item, error) {
	calID := strings.TrimPrefix(ref.FolderID, calendarPrefix)
	if calID == "" {
		calID = "primary"
	}
	svc, err := c.calendarFor(mailboxID)
	if err != nil {
		return platform.Item{}, err
	}
	eventID, _ := splitCopyID(ref.ID)
	e, xs, err := c.seriesOf(ctx, svc, mailboxID, calID, eventID)
	if err != nil {
		return platform.Item{}, err
	}
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, "-//mailferry//Google Workspace connector//EN")
	cal.Props.SetText(ical.PropCalendarScale, "GREGORIAN")
	loc := time.UTC
	if e.Start != nil && e.Start.TimeZone != "" {
		if l, ok := pim.Zone(e.Start.TimeZone); ok {
			loc = l
		}
	}
	defaults := c.others.defaults(mailboxID, calID)
	master := vevent(e, loc, defaults)
	var children []*ical.Component
	for _, x := range xs {
		orig, date, ok := evTime(x.OriginalStartTime, loc)
		if !ok {
			continue
		}
		if x.Status == "cancelled" {
			p := &ical.Prop{Name: ical.PropExceptionDates, Params: ical.Params{}, Value: pim.Stamp(orig, loc, date)}
			if date {
				p.Params.Set(ical.ParamValue, "DATE")
			} else if loc != time.UTC {
				p.Params.Set(ical.PropTimezoneID, loc.String())
			}
			master.Props.Add(p)
			continue
		}
		v := vevent(x, loc, defaults)
		v.Props.Del(ical.PropRecurrenceRule)
		v.Props.SetText(ical.PropUID, e.ICalUID)
		rid := &ical.Prop{Name: ical.PropRecurrenceID, Params: ical.Params{}}
		if date {
			rid.Params.Set(ical.ParamValue, "DATE")
			rid.Value = orig.Format("20060102")
		} else {
			pim.SetLocal(rid, orig, loc)
		}
		v.Props.Set(rid)
		children = append(children, v)
	}
	if loc != time.UTC {
		start, _, _ := evTime(e.Start, loc)
		cal.Children = append(cal.Children, pim.VTimezone(loc, start.Year()))
	}
	cal.Children = append(cal.Children, master)
	cal.Children = append(cal.Children, children...)
	var buf bytes.Buffer
	if err := ical.NewEncoder(&buf).Encode(cal); err != nil {
		return platform.Item{}, errs.Wrap(errs.CorruptItem, err, "event "+ref.ID+" cannot be rendered as iCalendar", "report this to mailferry support")
	}
	return platform.Item{
		Ref:         platform.ItemRef{ID: copyID(e), FolderID: ref.FolderID, Kind: platform.Event, ChangeKey: seriesVersion(e, xs), Size: eventSize(e)},
		ContentType: platform.ContentCalendar,
		Content:     buf.Bytes(),
		Categories:  categoriesOf(e),
	}, nil
}

func categoriesOf(e *calendar.Event) []string {
	if e.ExtendedProperties == nil || e.ExtendedProperties.Private[propCategories] == "" {
		return nil
	}
	var l []string
	_ = json.Unmarshal([]byte(e.ExtendedProperties.Private[propCategories]), &l) // a foreign value is ignored
	return l
}

// evTime reads an EventDateTime: its instant (a date is midnight UTC of
// that day) and whether it is a date.
func evTime(d *calendar.EventDateTime, fallback *time.Location) (time.Time, bool, bool) {
	if d == nil {
		return time.Time{}, false, false
	}
	if d.Date != "" {
		t, err := time.Parse("2006-01-02", d.Date)
		return t, true, err == nil
	}
	t, err := time.Parse(time.RFC3339Nano, d.DateTime)
	if err != nil {
		loc := fallback
		if l, ok := pim.Zone(d.TimeZone); ok && d.TimeZone != "" {
			loc = l
		}
		t, err = time.ParseInLocation("2006-01-02T15:04:05", d.DateTime, loc)
	}
	return t, false, err == nil
}

var partstat = map[string]string{"accepted": "ACCEPTED", "declined": "DECLINED", "tentative": "TENTATIVE", "needsAction": "NEEDS-ACTION"}

// vevent renders one Calendar event as a VEVENT.
func vevent(e *calendar.Event, loc *time.Location, defaults []*calendar.EventReminder) *ical.Component {
	v := ical.NewEvent()
	text := func(name, value string) {
		if value != "" {
			v.Props.SetText(name, value)
		}
	}
	v.Props.SetText(ical.PropUID, e.ICalUID)
	stamp := time.Now().UTC()
	if t, err := time.Parse(time.RFC3339Nano, e.Updated); err == nil {
		stamp = t.UTC()
		v.Props.Set(&ical.Prop{Name: ical.PropLastModified, Params: ical.Params{}, Value: stamp.Format("20060102T150405Z")})
	}
	v.Props.Set(&ical.Prop{Name: ical.PropDateTimeStamp, Params: ical.Params{}, Value: stamp.Format("20060102T150405Z")})
	if t, err := time.Parse(time.RFC3339Nano, e.Created); err == nil {
		v.Props.Set(&ical.Prop{Name: ical.PropCreated, Params: ical.Params{}, Value: t.UTC().Format("20060102T150405Z")})
	}
	for _, x := range []struct {
		name string
		d    *calendar.EventDateTime
	}{{ical.PropDateTimeStart, e.Start}, {ical.PropDateTimeEnd, e.End}} {
		t, date, ok := evTime(x.d, loc)
		if !ok {
			continue
		}
		p := &ical.Prop{Name: x.name, Params: ical.Params{}}
		if date {
			p.Params.Set(ical.ParamValue, "DATE")
			p.Value = t.Format("20060102")
		} else {
			pim.SetLocal(p, t, loc)
		}
		v.Props.Set(p)
	}
	for _, line := range e.Recurrence {
		if p, ok := recurrenceProp(line); ok {
			v.Props.Add(p)
		}
	}
	text(ical.PropSummary, e.Summary)
	text(ical.PropLocation, e.Location)
	text(ical.PropDescription, e.Description)
	if e.Sequence > 0 {
		v.Props.Set(&ical.Prop{Name: ical.PropSequence, Params: ical.Params{}, Value: strconv.FormatInt(e.Sequence, 10)})
	}
	switch e.Status {
	case "tentative":
		text(ical.PropStatus, "TENTATIVE")
	case "cancelled":
		text(ical.PropStatus, "CANCELLED")
	default:
		text(ical.PropStatus, "CONFIRMED")
	}
	if e.Transparency == "transparent" {
		text(ical.PropTransparency, "TRANSPARENT")
	} else {
		text(ical.PropTransparency, "OPAQUE")
	}
	switch e.Visibility {
	case "private":
		text(ical.PropClass, "PRIVATE")
	case "confidential":
		text(ical.PropClass, "CONFIDENTIAL")
	case "public":
		text(ical.PropClass, "PUBLIC")
	}
	if cats := categoriesOf(e); len(cats) > 0 {
		p := ical.NewProp(ical.PropCategories)
		p.SetTextList(cats)
		v.Props.Set(p)
	}
	if len(e.Attendees) > 0 && e.Organizer != nil && e.Organizer.Email != "" {
		p := &ical.Prop{Name: ical.PropOrganizer, Params: ical.Params{}, Value: "mailto:" + e.Organizer.Email}
		if e.Organizer.DisplayName != "" {
			p.Params.Set(ical.ParamCommonName, e.Organizer.DisplayName)
		}
		v.Props.Set(p)
	}
	for _, a := range e.Attendees {
		if a == nil || a.Email == "" {
			continue
		}
		p := &ical.Prop{Name: ical.PropAttendee, Params: ical.Params{}, Value: "mailto:" + a.Email}
		if a.DisplayName != "" {
			p.Params.Set(ical.ParamCommonName, a.DisplayName)
		}
		role := "REQ-PARTICIPANT"
		switch {
		case a.Resource:
			role = "NON-PARTICIPANT"
			p.Params.Set(ical.ParamCalendarUserType, "RESOURCE")
		case a.Optional:
			role = "OPT-PARTICIPANT"
		}
		if a.Organizer {
			role = "CHAIR"
		}
		p.Params.Set(ical.ParamRole, role)
		ps := partstat[a.ResponseStatus]
		if ps == "" {
			ps = "NEEDS-ACTION"
		}
		p.Params.Set(ical.ParamParticipationStatus, ps)
		v.Props.Add(p)
	}
	join := e.HangoutLink
	if e.ConferenceData != nil {
		for _, ep := range e.ConferenceData.EntryPoints {
			if ep != nil && ep.EntryPointType == "video" && ep.Uri != "" {
				join = ep.Uri
				break
			}
		}
	}
	if join == "" && e.ExtendedProperties != nil {
		join = e.ExtendedProperties.Private[propJoinURL]
	}
	if join != "" {
		p := &ical.Prop{Name: "CONFERENCE", Params: ical.Params{}, Value: join}
		p.Params.Set(ical.ParamValue, "URI")
		p.Params.Set("FEATURE", "AUDIO,VIDEO")
		v.Props.Set(p)
		text("X-GOOGLE-CONFERENCE", join)
	}
	reminders := defaults
	if e.Reminders != nil && !e.Reminders.UseDefault {
		reminders = e.Reminders.Overrides
	}
	for _, r := range reminders {
		if r == nil {
			continue
		}
		a := ical.NewComponent(ical.CompAlarm)
		action := "DISPLAY"
		if r.Method == "email" {
			action = "EMAIL"
			a.Props.SetText(ical.PropSummary, "Reminder")
		}
		a.Props.SetText(ical.PropAction, action)
		a.Props.SetText(ical.PropDescription, "Reminder")
		a.Props.Set(&ical.Prop{Name: ical.PropTrigger, Params: ical.Params{}, Value: fmt.Sprintf("-PT%dM", r.Minutes)})
		v.Children = append(v.Children, a)
	}
	return v.Component
}

// recurrenceProp reads one of Calendar's recurrence lines
// ("RRULE:FREQ=WEEKLY", "EXDATE;TZID=Europe/Berlin:20260309T090000").
func recurrenceProp(line string) (*ical.Prop, bool) {
	head, value, ok := strings.Cut(line, ":")
	if !ok {
		return nil, false
	}
	parts := strings.Split(head, ";")
	name := strings.ToUpper(strings.TrimSpace(parts[0]))
	switch name {
	case ical.PropRecurrenceRule, ical.PropExceptionDates, ical.PropRecurrenceDates:
	default:
		return nil, false
	}
	p := &ical.Prop{Name: name, Params: ical.Params{}, Value: strings.TrimSpace(value)}
	for _, kv := range parts[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			p.Params.Set(strings.ToUpper(strings.TrimSpace(k)), strings.Trim(strings.TrimSpace(v), `"`))
		}
	}
	return p, true
}

// recurrenceLine renders a RRULE, EXDATE or RDATE property as a Calendar
// recurrence line, with Windows zone names turned into IANA ones.
func recurrenceLine(p ical.Prop) string {
	var b strings.Builder
	b.WriteString(p.Name)
	if v := p.Params.Get(ical.ParamValue); v != "" {
		b.WriteString(";VALUE=" + v)
	}
	if tz := p.Params.Get(ical.PropTimezoneID); tz != "" {
		if l, ok := pim.Zone(tz); ok {
			tz = l.String()
		}
		b.WriteString(";TZID=" + tz)
	}
	b.WriteString(":" + p.Value)
	return b.String()
}

// eventDateTime turns a DTSTART/DTEND/RECURRENCE-ID into Calendar's form.
func eventDateTime(t time.Time, loc *time.Location, date bool) *calendar.EventDateTime {
	if date {
		return &calendar.EventDateTime{Date: t.Format("2006-01-02")}
	}
	if loc == nil {
		loc = time.UTC
	}
	return &calendar.EventDateTime{DateTime: t.In(loc).Format(time.RFC3339), TimeZone: loc.String()}
}

// eventOf builds the Calendar event of one VEVENT (a master when
// exception is false): everything events.import keeps, attendees and
// their answers included, since import sends nothing.
func eventOf(v *ical.Component, p *pim.Event, exception bool) (*calendar.Event, error) {
	start, sloc, date, err := pim.PropTime(v.Props.Get(ical.PropDateTimeStart), p.Loc)
	if err != nil {
		return nil, fmt.Errorf("DTSTART: %w", err)
	}
	var end time.Time
	switch {
	case v.Props.Get(ical.PropDateTimeEnd) != nil:
		if end, _, _, err = pim.PropTime(v.Props.Get(ical.PropDateTimeEnd), p.Loc); err != nil {
			return nil, fmt.Errorf("DTEND: %w", err)
		}
	case v.Props.Get(ical.PropDuration) != nil:
		d, err := v.Props.Get(ical.PropDuration).Duration()
		if err != nil {
			return nil, fmt.Errorf("DURATION: %w", err)
		}
		end = start.Add(d)
	case date:
		end = start.AddDate(0, 0, 1)
	default:
		end = start
	}
	if date && !end.After(start) {
		end = start.AddDate(0, 0, 1)
	}
	e := &calendar.Event{
		Summary:     pim.Text(v, ical.PropSummary),
		Location:    pim.Text(v, ical.PropLocation),
		Description: pim.Text(v, ical.PropDescription),
		Start:       eventDateTime(start, sloc, date),
		End:         eventDateTime(end, sloc, date),
		Reminders:   &calendar.EventReminders{ForceSendFields: []string{"UseDefault"}},
	}
	if h := v.Props.Get("X-ALT-DESC"); h != nil && strings.EqualFold(h.Params.Get("FMTTYPE"), "text/html") {
		if s, err := h.Text(); err == nil && s != "" {
			e.Description = s // Calendar descriptions take HTML
		}
	}
	if s := v.Props.Get(ical.PropSequence); s != nil {
		e.Sequence, _ = strconv.ParseInt(strings.TrimSpace(s.Value), 10, 64)
	}
	if strings.EqualFold(pim.Text(v, ical.PropStatus), "TENTATIVE") {
		e.Status = "tentative"
	}
	if strings.EqualFold(pim.Text(v, ical.PropTransparency), "TRANSPARENT") {
		e.Transparency = "transparent"
	}
	switch strings.ToUpper(pim.Text(v, ical.PropClass)) {
	case "PRIVATE":
		e.Visibility = "private"
	case "CONFIDENTIAL":
		e.Visibility = "confidential"
	case "PUBLIC":
		e.Visibility = "public"
	}
	if o := v.Props.Get(ical.PropOrganizer); o != nil && pim.Address(o.Value) != "" {
		e.Organizer = &calendar.EventOrganizer{Email: pim.Address(o.Value), DisplayName: o.Params.Get(ical.ParamCommonName)}
	}
	for _, a := range v.Props.Values(ical.PropAttendee) {
		addr := pim.Address(a.Value)
		if !strings.Contains(addr, "@") {
			continue
		}
		at := &calendar.EventAttendee{Email: addr, DisplayName: a.Params.Get(ical.ParamCommonName), ResponseStatus: "needsAction"}
		for k, v := range partstat {
			if strings.EqualFold(a.Params.Get(ical.ParamParticipationStatus), v) {
				at.ResponseStatus = k
			}
		}
		switch strings.ToUpper(a.Params.Get(ical.ParamRole)) {
		case "OPT-PARTICIPANT", "NON-PARTICIPANT":
			at.Optional = true
		}
		if ct := strings.ToUpper(a.Params.Get(ical.ParamCalendarUserType)); ct == "RESOURCE" || ct == "ROOM" {
			at.Resource, at.Optional = true, false
		}
		if e.Organizer != nil && strings.EqualFold(addr, e.Organizer.Email) {
			at.Organizer = true
		}
		e.Attendees = append(e.Attendees, at)
	}
	for _, a := range v.Children {
		if a.Name != ical.CompAlarm || len(e.Reminders.Overrides) == 5 {
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
		method := "popup"
		if strings.EqualFold(pim.Text(a, ical.PropAction), "EMAIL") {
			method = "email"
		}
		e.Reminders.Overrides = append(e.Reminders.Overrides, &calendar.EventReminder{Method: method, Minutes: min(int64(-d/time.Minute), 40320),
			ForceSendFields: []string{"Minutes"}})
	}
	if !exception {
		for _, name := range []string{ical.PropRecurrenceRule, ical.PropRecurrenceDates, ical.PropExceptionDates} {
			for _, rp := range v.Props.Values(name) {
				e.Recurrence = append(e.Recurrence, recurrenceLine(rp))
			}
		}
	}
	priv := map[string]string{}
	for _, name := range []string{"CONFERENCE", "X-GOOGLE-CONFERENCE", "X-MICROSOFT-SKYPETEAMSMEETINGURL"} {
		if cp := v.Props.Get(name); cp != nil && strings.TrimSpace(cp.Value) != "" {
			priv[propJoinURL] = strings.TrimSpace(cp.Value)
			break
		}
	}
	if cats := pim.Categories(v); len(cats) > 0 {
		b, _ := json.Marshal(cats)
		priv[propCategories] = string(b)
	}
	if len(priv) > 0 {
		e.ExtendedProperties = &calendar.EventExtendedProperties{Private: priv}
	}
	return e, nil
}

// writeEvent imports an event or series with events.import, which keeps
// the iCalUID, the organizer and the attendees with their answers and
// sends nothing (never events.insert, which would invite). A series is
// imported master first, then each exception (cancelled occurrences as
// EXDATE), then the master again with the marker, so that a marked copy
// is complete. Importing an iCalUID the calendar holds updates that event:
// a retried write after a lost answer stores nothing twice.
func (c *Connector) writeEvent(ctx context.Context, mailboxID, folderID string, item platform.Item, marker string) (string, error) {
	calID := strings.TrimPrefix(folderID, calendarPrefix)
	version := item.Ref.ChangeKey
	if found, err := c.findEvents(ctx, mailboxID, marker); err != nil {
		return "", err
	} else {
		for _, p := range found {
			if p.FolderID == folderID && p.Version == version {
				return p.ID, nil
			}
		}
	}
	p, err := pim.ParseEvent(item.Content)
	if err != nil {
		return "", errs.Wrap(errs.CorruptItem, err, "the event is not valid iCalendar: "+err.Error(), "the item is listed in the reconciliation report")
	}
	if p.UID == "" {
		p.UID = "mailferry-" + marker + "@mailferry.invalid"
	}
	master, err := eventOf(p.Master, p, false)
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "the event cannot be stored in Google Calendar: "+err.Error(),
			"the item is listed in the reconciliation report; recreate it by hand")
	}
	master.ICalUID = p.UID
	if len(item.Categories) > 0 {
		cats := append(categoriesOf(master), item.Categories...)
		slices.Sort(cats)
		cats = slices.Compact(cats)
		b, _ := json.Marshal(cats)
		if master.ExtendedProperties == nil {
			master.ExtendedProperties = &calendar.EventExtendedProperties{Private: map[string]string{}}
		}
		master.ExtendedProperties.Private[propCategories] = string(b)
	}
	// Cancelled occurrences become EXDATEs of the master.
	var exceptions []*ical.Component
	for _, x := range p.Exceptions {
		if strings.EqualFold(pim.Text(x, ical.PropStatus), "CANCELLED") {
			if rid := x.Props.Get(ical.PropRecurrenceID); rid != nil {
				master.Recurrence = append(master.Recurrence, recurrenceLine(ical.Prop{Name: ical.PropExceptionDates, Params: rid.Params, Value: rid.Value}))
			}
			continue
		}
		exceptions = append(exceptions, x)
	}
	if len(master.Recurrence) == 0 {
		exceptions = nil
	}
	svc, err := c.calendarFor(mailboxID)
	if err != nil {
		return "", err
	}
	o := calOp(mailboxID, "calendar "+calID+" of mailbox "+mailboxID)
	mark := func(e *calendar.Event) {
		if e.ExtendedProperties == nil {
			e.ExtendedProperties = &calendar.EventExtendedProperties{Private: map[string]string{}}
		}
		if e.ExtendedProperties.Private == nil {
			e.ExtendedProperties.Private = map[string]string{}
		}
		e.ExtendedProperties.Private[propMarker] = marker
		e.ExtendedProperties.Private[propVersion] = version
	}
	importOne := func(e *calendar.Event) (*calendar.Event, error) {
		got, err := svc.Events.Import(calID, e).Context(ctx).Do()
		if err != nil {
			ferr := c.fail(o, err)
			if ambiguous(ferr) {
				c.others.staleEvents(mailboxID)
			}
			return nil, ferr
		}
		return got, nil
	}
	unmarked := *master
	if len(exceptions) == 0 {
		mark(master)
	} else if master.ExtendedProperties != nil {
		// The first import carries no marker: a series interrupted before
		// its exceptions is not mistaken for a finished copy.
		priv := map[string]string{}
		for k, v := range master.ExtendedProperties.Private {
			if k != propMarker && k != propVersion {
				priv[k] = v
			}
		}
		unmarked.ExtendedProperties = &calendar.EventExtendedProperties{Private: priv}
	}
	first := master
	if len(exceptions) > 0 {
		first = &unmarked
	}
	got, err := importOne(first)
	if err != nil {
		return "", err
	}
	if len(exceptions) > 0 {
		for _, x := range exceptions {
			ev, err := eventOf(x, p, true)
			if err != nil {
				return "", errs.Wrap(errs.Invalid, err, "an exception of the series cannot be stored in Google Calendar: "+err.Error(),
					"the item is listed in the reconciliation report")
			}
			orig, oloc, odate, err := pim.PropTime(x.Props.Get(ical.PropRecurrenceID), p.Loc)
			if err != nil {
				continue
			}
			if oloc == nil {
				oloc = p.Loc
			}
			ev.ICalUID, ev.RecurringEventId, ev.OriginalStartTime = p.UID, got.Id, eventDateTime(orig, oloc, odate)
			if _, err := importOne(ev); err != nil {
				return "", err
			}
		}
		mark(master)
		if got, err = importOne(master); err != nil {
			return "", err
		}
	}
	id := copyID(got)
	if got.ExtendedProperties == nil || got.ExtendedProperties.Private[propMarker] == "" {
		// Google answered without the properties: name the copy by what
		// was written.
		id = got.Id + "~" + shortHash(version)
	}
	c.others.noteEvent(mailboxID, marker, platform.Placed{ID: id, FolderID: folderID, Version: version})
	return id, nil
}

// deleteEvent removes a copy: the event, unless it already holds another
// version (replaced in place by a later import, see copyID). sendUpdates
// is none: deleting a migrated meeting notifies nobody.
func (c *Connector) deleteEvent(ctx context.Context, mailboxID string, p platform.Placed) error {
	calID := strings.TrimPrefix(p.FolderID, calendarPrefix)
	eventID, vh := splitCopyID(p.ID)
	svc, err := c.calendarFor(mailboxID)
	if err != nil {
		return err
	}
	o := calOp(mailboxID, "event "+eventID)
	gone := func(err error) bool {
		ferr := c.fail(o, err)
		return errs.Is(ferr, errs.NotFound) || errs.Is(ferr, errs.Invalid) // 410: deleted already
	}
	if vh != "" {
		e, err := svc.Events.Get(calID, eventID).Fields("id,status,extendedProperties").Context(ctx).Do()
		if err != nil {
			if gone(err) {
				c.others.forgetEvent(mailboxID, p.ID)
				return nil
			}
			return c.fail(o, err)
		}
		if e.Status == "cancelled" || copyID(e) != p.ID {
			c.others.forgetEvent(mailboxID, p.ID)
			return nil
		}
	}
	if err := svc.Events.Delete(calID, eventID).SendUpdates("none").Context(ctx).Do(); err != nil && !gone(err) {
		return c.fail(o, err)
	}
	c.others.forgetEvent(mailboxID, p.ID)
	return nil
}

// otherIndexes are the marker indexes of events and contacts, and the
// calendars' default reminders: Calendar and People have no query a
// lookup by marker could use across calendars and groups, and both are
// cheap to read whole (2,500 events or 1,000 contacts a request). They are
// read once per mailbox, kept up to date by this connector's writes and
// deletions, and read again after otherTTL or a write with an unknown
// outcome.
type otherIndexes struct {
	mu       sync.Mutex
	events   map[string]*placedIndex
	contacts map[string]*placedIndex
	defs     map[string][]*calendar.EventReminder
	listed   map[string]*people.Person // contacts listed and not read yet
}

type placedIndex struct {
	built  time.Time
	stale  bool
	copies map[string][]platform.Placed
}

const otherTTL = 10 * time.Minute

func (x *otherIndexes) setDefaults(mailboxID, calID string, r []*calendar.EventReminder) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.defs == nil {
		x.defs = map[string][]*calendar.EventReminder{}
	}
	x.defs[strings.ToLower(mailboxID)+"\x00"+calID] = r
}

func (x *otherIndexes) defaults(mailboxID, calID string) []*calendar.EventReminder {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.defs[strings.ToLower(mailboxID)+"\x00"+calID]
}

func indexIn(m *map[string]*placedIndex, mailboxID string) *placedIndex {
	if *m == nil {
		*m = map[string]*placedIndex{}
	}
	k := strings.ToLower(mailboxID)
	ix := (*m)[k]
	if ix == nil {
		ix = &placedIndex{}
		(*m)[k] = ix
	}
	return ix
}

func (ix *placedIndex) note(marker string, p platform.Placed) {
	if ix.copies == nil {
		return
	}
	l := slices.DeleteFunc(ix.copies[marker], func(q platform.Placed) bool {
		// A new version of an event replaces its old copy in place.
		e1, _ := splitCopyID(q.ID)
		e2, _ := splitCopyID(p.ID)
		return q.ID == p.ID || kindOfFolder(p.FolderID) == platform.Event && e1 == e2 && q.FolderID == p.FolderID
	})
	ix.copies[marker] = append(l, p)
}

func (ix *placedIndex) forget(id string) {
	for marker, ps := range ix.copies {
		kept := slices.DeleteFunc(ps, func(p platform.Placed) bool { return p.ID == id })
		if len(kept) == 0 {
			delete(ix.copies, marker)
		} else {
			ix.copies[marker] = kept
		}
	}
}

func (x *otherIndexes) noteEvent(mailboxID, marker string, p platform.Placed) {
	x.mu.Lock()
	defer x.mu.Unlock()
	indexIn(&x.events, mailboxID).note(marker, p)
}

func (x *otherIndexes) forgetEvent(mailboxID, id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	indexIn(&x.events, mailboxID).forget(id)
}

func (x *otherIndexes) staleEvents(mailboxID string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	indexIn(&x.events, mailboxID).stale = true
}

// findEvents looks a marker up among the events of the owned calendars.
func (c *Connector) findEvents(ctx context.Context, mailboxID, marker string) ([]platform.Placed, error) {
	c.others.mu.Lock()
	ix := indexIn(&c.others.events, mailboxID)
	fresh := ix.copies != nil && !ix.stale && time.Since(ix.built) < otherTTL
	c.others.mu.Unlock()
	if !fresh {
		copies, err := c.scanEvents(ctx, mailboxID)
		if err != nil {
			return nil, err
		}
		c.others.mu.Lock()
		ix.copies, ix.built, ix.stale = copies, time.Now(), false
		c.others.mu.Unlock()
	}
	c.others.mu.Lock()
	defer c.others.mu.Unlock()
	return slices.Clone(ix.copies[marker]), nil
}

func (c *Connector) scanEvents(ctx context.Context, mailboxID string) (map[string][]platform.Placed, error) {
	cals, err := c.calendarFolders(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	svc, err := c.calendarFor(mailboxID)
	if err != nil {
		return nil, err
	}
	copies := map[string][]platform.Placed{}
	for _, f := range cals {
		calID := strings.TrimPrefix(f.ID, calendarPrefix)
		token := ""
		for {
			call := svc.Events.List(calID).ShowDeleted(false).MaxResults(2500).
				Fields("items(id,status,recurringEventId,extendedProperties),nextPageToken").Context(ctx)
			if token != "" {
				call = call.PageToken(token)
			}
			resp, err := call.Do()
			if err != nil {
				return nil, c.fail(calOp(mailboxID, "calendar "+f.Name), err)
			}
			for _, e := range resp.Items {
				if e.RecurringEventId != "" || e.ExtendedProperties == nil {
					continue
				}
				if m := e.ExtendedProperties.Private[propMarker]; m != "" {
					copies[m] = append(copies[m], platform.Placed{ID: copyID(e), FolderID: f.ID, Version: e.ExtendedProperties.Private[propVersion]})
				}
			}
			if token = resp.NextPageToken; token == "" {
				break
			}
		}
	}
	return copies, nil
}
