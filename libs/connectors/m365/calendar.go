package m365

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
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
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/pim"
	"github.com/mailferry/mailferry/libs/platform"
)

// Folder ids of calendars and contact folders carry their kind, so that
// Items, EnsureFolder and WriteItem know which Graph resource an id names
// without a lookup. Mail folder ids are Graph's own.
const (
	calendarPrefix = "calendar:"
	contactsPrefix = "contacts:"
	calTokenPrefix = "mfcal1:"
	// MeetingProperty holds, as JSON, what the invitation-free write
	// cannot put on the event itself: the original UID, organizer,
	// attendees with their responses and the online-meeting URL.
	MeetingProperty = "String {6f2bd7c4-7a3e-4a56-9b7d-2f1c0e3a5b10} Name mailferryMeeting"
)

// Calendar enumeration window: calendarView/delta needs one, and only
// instances inside it are seen. Twenty years back and five ahead of the
// start of the full enumeration, on 1 January, fixed for all later delta
// rounds of that token.
const (
	windowYearsBack  = 20
	windowYearsAhead = 5
)

func calendarWindow(now time.Time) (time.Time, time.Time) {
	y := now.UTC().Year()
	return time.Date(y-windowYearsBack, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(y+windowYearsAhead, 1, 1, 0, 0, 0, 0, time.UTC)
}

// calendarFolders lists the mailbox's calendars; the default one has the
// calendar role. Calendars are flat in Graph (calendar groups are not
// folders), so none has a parent.
func (c *Connector) calendarFolders(ctx context.Context, mailboxID string) ([]platform.Folder, error) {
	g := graphError{what: "the calendars of mailbox " + mailboxID, perm: permCal}
	b := c.user(mailboxID).Calendars()
	resp, err := b.Get(ctx, &users.ItemCalendarsRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemCalendarsRequestBuilderGetQueryParameters{
			Select: []string{"id", "name", "isDefaultCalendar"}, Top: ptr(int32(250)),
		},
	})
	var out []platform.Folder
	for {
		if err != nil {
			return nil, g.fail(err)
		}
		for _, cal := range resp.GetValue() {
			f := platform.Folder{ID: calendarPrefix + str(cal.GetId()), Name: str(cal.GetName()), Kind: platform.Event}
			if d := cal.GetIsDefaultCalendar(); d != nil && *d {
				f.Role = platform.RoleCalendar
			}
			out = append(out, f)
		}
		next := str(resp.GetOdataNextLink())
		if next == "" {
			return out, nil
		}
		resp, err = b.WithUrl(next).Get(ctx, nil)
	}
}

// ensureCalendar returns the default calendar for the calendar role, or
// the calendar of that name, creating it.
func (c *Connector) ensureCalendar(ctx context.Context, mailboxID string, f platform.Folder) (platform.Folder, error) {
	cals, err := c.calendarFolders(ctx, mailboxID)
	if err != nil {
		return platform.Folder{}, err
	}
	for _, x := range cals {
		if f.Role == platform.RoleCalendar && x.Role == platform.RoleCalendar {
			return x, nil
		}
	}
	if f.Role != platform.RoleNone && f.Role != platform.RoleCalendar {
		return platform.Folder{}, errs.Field("role", fmt.Sprintf("%q is not a calendar role", f.Role))
	}
	if f.Role == platform.RoleCalendar {
		return platform.Folder{}, errs.New(errs.NotFound, "mailbox "+mailboxID+" has no default calendar", "check that the mailbox is licensed for Exchange Online")
	}
	if strings.TrimSpace(f.Name) == "" {
		return platform.Folder{}, errs.Field("name", "a calendar without a role needs a name")
	}
	for _, x := range cals {
		if strings.EqualFold(x.Name, f.Name) {
			return x, nil
		}
	}
	body := models.NewCalendar()
	body.SetName(ptr(f.Name))
	created, err := c.user(mailboxID).Calendars().Post(ctx, body, nil)
	if err != nil {
		ferr := graphError{what: "calendar " + f.Name, perm: permCal}.fail(err)
		if !errs.Is(ferr, errs.Conflict) {
			return platform.Folder{}, ferr
		}
		// Created meanwhile by a retried request: list again.
		cals, err := c.calendarFolders(ctx, mailboxID)
		if err != nil {
			return platform.Folder{}, err
		}
		for _, x := range cals {
			if strings.EqualFold(x.Name, f.Name) {
				return x, nil
			}
		}
		return platform.Folder{}, ferr
	}
	return platform.Folder{ID: calendarPrefix + str(created.GetId()), Name: str(created.GetName()), Kind: platform.Event}, nil
}

// calToken is the state carried in calendar paging tokens: Graph's link
// and, within one round, hashes of the series already listed, because
// calendarView/delta returns every instance of a series and the contract
// lists each item once.
type calToken struct {
	Link string   `json:"l"`
	Seen []string `json:"s,omitempty"`
}

func (c *Connector) decodeCalToken(token string) (calToken, error) {
	var t calToken
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, calTokenPrefix))
	if !strings.HasPrefix(token, calTokenPrefix) || err != nil || json.Unmarshal(raw, &t) != nil ||
		!strings.HasPrefix(t.Link, c.graph+"/") {
		return t, errs.New(errs.Invalid, "the paging token is not one this connector issued",
			"start a full enumeration with an empty token")
	}
	return t, nil
}

func encodeCalToken(t calToken) string {
	b, _ := json.Marshal(t)
	return calTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func seriesHash(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:8])
}

// eventSize estimates an event's size: Graph reports none for events.
func eventSize(e models.Eventable) int64 {
	n := 512 + len(str(e.GetSubject()))
	if b := e.GetBody(); b != nil {
		n += len(str(b.GetContent()))
	}
	n += 96 * len(e.GetAttendees())
	return int64(n)
}

// calendarItems enumerates a calendar through calendarView/delta over the
// enumeration window. Occurrences and exceptions are listed as their
// series master (the item ReadItem renders with its recurrence), single
// events as themselves.
func (c *Connector) calendarItems(ctx context.Context, mailboxID, calID, folderID, token string) (platform.ItemPage, error) {
	g := graphError{what: "calendar " + calID + " of mailbox " + mailboxID, perm: permCal}
	headers := abs.NewRequestHeaders()
	headers.Add("Prefer", "odata.maxpagesize="+strconv.Itoa(c.cfg.PageSize))
	b := c.user(mailboxID).Calendars().ByCalendarId(calID).CalendarView().Delta()
	cfg := &users.ItemCalendarsItemCalendarViewDeltaRequestBuilderGetRequestConfiguration{Headers: headers}
	var st calToken
	if token == "" {
		from, to := calendarWindow(time.Now())
		cfg.QueryParameters = &users.ItemCalendarsItemCalendarViewDeltaRequestBuilderGetQueryParameters{
			StartDateTime: ptr(from.Format(time.RFC3339)), EndDateTime: ptr(to.Format(time.RFC3339)),
		}
	} else {
		var err error
		if st, err = c.decodeCalToken(token); err != nil {
			return platform.ItemPage{}, err
		}
		b = b.WithUrl(st.Link)
	}
	resp, err := b.GetAsDeltaGetResponse(ctx, cfg)
	if err != nil {
		return platform.ItemPage{}, g.fail(err)
	}
	seen := map[string]bool{}
	for _, h := range st.Seen {
		seen[h] = true
	}
	page := platform.ItemPage{Items: []platform.ItemRef{}}
	for _, e := range resp.GetValue() {
		id := str(e.GetId())
		if _, removed := e.GetAdditionalData()["@removed"]; removed {
			page.Items = append(page.Items, platform.ItemRef{ID: id, FolderID: folderID, Kind: platform.Event, Deleted: true})
			continue
		}
		ck := str(e.GetChangeKey())
		if m := str(e.GetSeriesMasterId()); m != "" {
			id = m
			// An instance's change key is not the series' version (see
			// eventVersion), so it is marked as never matching one:
			// whoever compares versions reads the series to decide.
			ck = "instance:" + ck
		}
		h := seriesHash(id)
		if seen[h] {
			continue
		}
		seen[h] = true
		page.Items = append(page.Items, platform.ItemRef{ID: id, FolderID: folderID, Kind: platform.Event,
			ChangeKey: ck, Size: eventSize(e)})
	}
	if next := str(resp.GetOdataNextLink()); next != "" {
		hs := make([]string, 0, len(seen))
		for h := range seen {
			hs = append(hs, h)
		}
		sort.Strings(hs)
		page.NextToken = encodeCalToken(calToken{Link: next, Seen: hs})
		return page, nil
	}
	delta := str(resp.GetOdataDeltaLink())
	if delta == "" {
		return platform.ItemPage{}, errs.New(errs.Internal, "Microsoft Graph ended a calendar delta round without a delta link",
			"report this to mailferry support")
	}
	page.DeltaToken = encodeCalToken(calToken{Link: delta})
	return page, nil
}

// meetingData is the JSON of MeetingProperty.
type meetingData struct {
	UID       string         `json:"uid,omitempty"`
	Organizer *attendeeData  `json:"organizer,omitempty"`
	Attendees []attendeeData `json:"attendees,omitempty"`
	JoinURL   string         `json:"joinUrl,omitempty"`
}

type attendeeData struct {
	Name     string `json:"name,omitempty"`
	Address  string `json:"address"`
	Role     string `json:"role,omitempty"`
	PartStat string `json:"partstat,omitempty"`
	CUType   string `json:"cutype,omitempty"`
	RSVP     string `json:"rsvp,omitempty"`
}

var eventSelect = []string{"id", "changeKey", "subject", "body", "start", "end", "isAllDay", "originalStartTimeZone",
	"originalEndTimeZone", "recurrence", "attendees", "organizer", "isOrganizer", "responseStatus", "isReminderOn",
	"reminderMinutesBeforeStart", "isOnlineMeeting", "onlineMeeting", "onlineMeetingUrl", "showAs", "sensitivity",
	"importance", "categories", "location", "iCalUId", "isCancelled", "type", "seriesMasterId", "originalStart",
	"createdDateTime", "lastModifiedDateTime", "cancelledOccurrences", "exceptionOccurrences"}

func expandProps(ids ...string) string {
	var q []string
	for _, id := range ids {
		q = append(q, "id eq '"+id+"'")
	}
	return "singleValueExtendedProperties($filter=" + strings.Join(q, " or ") + ")"
}

func propValue(props []models.SingleValueLegacyExtendedPropertyable, id string) string {
	for _, p := range props {
		if strings.EqualFold(str(p.GetId()), id) {
			return str(p.GetValue())
		}
	}
	return ""
}

// readEvent renders an event (a series with its exceptions and cancelled
// occurrences, or a single event) as iCalendar.
func (c *Connector) readEvent(ctx context.Context, mailboxID string, ref platform.ItemRef) (platform.Item, error) {
	g := graphError{what: "event " + ref.ID, perm: permCal}
	headers := abs.NewRequestHeaders()
	headers.Add("Prefer", `outlook.body-content-type="text"`)
	e, err := c.user(mailboxID).Events().ByEventId(ref.ID).Get(ctx, &users.ItemEventsEventItemRequestBuilderGetRequestConfiguration{
		Headers: headers,
		QueryParameters: &users.ItemEventsEventItemRequestBuilderGetQueryParameters{
			Select: eventSelect, Expand: []string{expandProps(MeetingProperty)},
		},
	})
	if err != nil {
		return platform.Item{}, g.fail(err)
	}
	var md meetingData
	if v := propValue(e.GetSingleValueExtendedProperties(), MeetingProperty); v != "" {
		_ = json.Unmarshal([]byte(v), &md) // a foreign value is ignored, not fatal
	}
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, "-//mailferry//Microsoft 365 connector//EN")
	cal.Props.SetText(ical.PropCalendarScale, "GREGORIAN")
	loc, ok := zoneOf(str(e.GetOriginalStartTimeZone()))
	if !ok {
		loc = time.UTC
	}
	start, _ := graphTime(e.GetStart())
	master := c.vevent(e, md, loc, nil)
	var children []*ical.Component
	if e.GetRecurrence() != nil {
		rule, err := rruleOf(e.GetRecurrence(), start.In(loc))
		if err != nil {
			return platform.Item{}, errs.Wrap(errs.CorruptItem, err, "the recurrence of event "+ref.ID+" cannot be read", "report this to mailferry support")
		}
		master.Props.Set(&ical.Prop{Name: ical.PropRecurrenceRule, Params: ical.Params{}, Value: rule})
		// cancelledOccurrences name the day of each deleted occurrence
		// ("OID.<master id>.<yyyy-mm-dd>") in the recurrence time zone.
		rloc := loc
		if rg := e.GetRecurrence().GetRangeEscaped(); rg != nil {
			if l, ok := zoneOf(str(rg.GetRecurrenceTimeZone())); ok && str(rg.GetRecurrenceTimeZone()) != "" {
				rloc = l
			}
		}
		ls := start.In(rloc)
		var exdates []string
		for _, oid := range e.GetCancelledOccurrences() {
			i := strings.LastIndexByte(oid, '.')
			if i < 0 {
				continue
			}
			d, err := time.Parse("2006-01-02", oid[i+1:])
			if err != nil {
				continue
			}
			at := time.Date(d.Year(), d.Month(), d.Day(), ls.Hour(), ls.Minute(), ls.Second(), 0, rloc)
			exdates = append(exdates, icalStamp(at, loc, derefBool(e.GetIsAllDay())))
		}
		sort.Strings(exdates)
		for _, x := range exdates {
			p := &ical.Prop{Name: ical.PropExceptionDates, Params: ical.Params{}, Value: x}
			if derefBool(e.GetIsAllDay()) {
				p.Params.Set(ical.ParamValue, "DATE")
			} else if loc != time.UTC {
				p.Params.Set(ical.PropTimezoneID, loc.String())
			}
			master.Props.Add(p)
		}
		// Exceptions carry the series' UID. A series created natively in
		// Exchange has no kept UID of ours: its master's iCalUId is it.
		mdx := md
		if mdx.UID == "" {
			mdx.UID = str(e.GetICalUId())
		}
		for _, x := range e.GetExceptionOccurrences() {
			orig := x.GetOriginalStart()
			if orig == nil {
				continue
			}
			children = append(children, c.vevent(x, mdx, loc, orig))
		}
	}
	if loc != time.UTC {
		cal.Children = append(cal.Children, vtimezone(loc, start.In(loc).Year()))
	}
	cal.Children = append(cal.Children, master)
	cal.Children = append(cal.Children, children...)
	var buf bytes.Buffer
	if err := ical.NewEncoder(&buf).Encode(cal); err != nil {
		return platform.Item{}, errs.Wrap(errs.CorruptItem, err, "event "+ref.ID+" cannot be rendered as iCalendar", "report this to mailferry support")
	}
	return platform.Item{
		Ref:         platform.ItemRef{ID: str(e.GetId()), FolderID: ref.FolderID, Kind: platform.Event, ChangeKey: eventVersion(e), Size: eventSize(e)},
		ContentType: platform.ContentCalendar,
		Content:     buf.Bytes(),
		Categories:  e.GetCategories(),
	}, nil
}

func derefBool(b *bool) bool { return b != nil && *b }

// eventVersion is the version of an event as ReadItem renders it. For a
// series that is more than the master's change key: its exceptions are
// items of their own, so editing or cancelling one occurrence need not
// change the master's key. The exceptions' keys and the cancelled
// occurrences are hashed into the version too.
func eventVersion(e models.Eventable) string {
	ck := str(e.GetChangeKey())
	xs, cs := e.GetExceptionOccurrences(), e.GetCancelledOccurrences()
	if len(xs) == 0 && len(cs) == 0 {
		return ck
	}
	keys := make([]string, 0, len(xs)+len(cs))
	for _, x := range xs {
		keys = append(keys, "x:"+str(x.GetId())+":"+str(x.GetChangeKey()))
	}
	for _, c := range cs {
		keys = append(keys, "c:"+c)
	}
	sort.Strings(keys)
	h := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	return ck + "." + hex.EncodeToString(h[:8])
}

func icalStamp(t time.Time, loc *time.Location, date bool) string { return pim.Stamp(t, loc, date) }

var tagRE = regexp.MustCompile(`(?s)<[^>]*>`)

var partstats = map[models.ResponseType]string{
	models.ACCEPTED_RESPONSETYPE: "ACCEPTED", models.DECLINED_RESPONSETYPE: "DECLINED",
	models.TENTATIVELYACCEPTED_RESPONSETYPE: "TENTATIVE", models.NONE_RESPONSETYPE: "NEEDS-ACTION",
	models.NOTRESPONDED_RESPONSETYPE: "NEEDS-ACTION", models.ORGANIZER_RESPONSETYPE: "ACCEPTED",
}

func mailto(addr string) string { return "mailto:" + addr }

// vevent renders one event; orig is the original start of an exception.
func (c *Connector) vevent(e models.Eventable, md meetingData, loc *time.Location, orig *time.Time) *ical.Component {
	v := ical.NewEvent()
	text := func(name, value string) {
		if value != "" {
			v.Props.SetText(name, value)
		}
	}
	uid := md.UID
	if uid == "" {
		uid = str(e.GetICalUId())
		if orig != nil {
			// Exchange gives each occurrence its own iCalUId (the date is
			// in bytes 16-19); iCalendar wants the series' UID.
			uid = ""
		}
	}
	v.Props.SetText(ical.PropUID, uid)
	stamp := time.Now().UTC()
	if t := e.GetLastModifiedDateTime(); t != nil {
		stamp = t.UTC()
		v.Props.Set(&ical.Prop{Name: ical.PropLastModified, Params: ical.Params{}, Value: stamp.Format("20060102T150405Z")})
	}
	v.Props.Set(&ical.Prop{Name: ical.PropDateTimeStamp, Params: ical.Params{}, Value: stamp.Format("20060102T150405Z")})
	if t := e.GetCreatedDateTime(); t != nil {
		v.Props.Set(&ical.Prop{Name: ical.PropCreated, Params: ical.Params{}, Value: t.UTC().Format("20060102T150405Z")})
	}
	allDay := derefBool(e.GetIsAllDay())
	for _, x := range []struct {
		name string
		d    models.DateTimeTimeZoneable
	}{{ical.PropDateTimeStart, e.GetStart()}, {ical.PropDateTimeEnd, e.GetEnd()}} {
		t, ok := graphTime(x.d)
		if !ok {
			continue
		}
		p := &ical.Prop{Name: x.name, Params: ical.Params{}}
		if allDay {
			p.Params.Set(ical.ParamValue, "DATE")
			p.Value = t.In(loc).Format("20060102")
		} else {
			setLocal(p, t, loc)
		}
		v.Props.Set(p)
	}
	if orig != nil {
		p := &ical.Prop{Name: ical.PropRecurrenceID, Params: ical.Params{}}
		if allDay {
			p.Params.Set(ical.ParamValue, "DATE")
			p.Value = orig.In(loc).Format("20060102")
		} else {
			setLocal(p, *orig, loc)
		}
		v.Props.Set(p)
	}
	text(ical.PropSummary, str(e.GetSubject()))
	if l := e.GetLocation(); l != nil {
		text(ical.PropLocation, str(l.GetDisplayName()))
	}
	if b := e.GetBody(); b != nil && str(b.GetContent()) != "" {
		content := str(b.GetContent())
		if b.GetContentType() != nil && *b.GetContentType() == models.HTML_BODYTYPE {
			p := &ical.Prop{Name: "X-ALT-DESC", Params: ical.Params{}, Value: ""}
			p.Params.Set("FMTTYPE", "text/html")
			p.SetText(content)
			v.Props.Set(p)
			content = strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(content, "")))
		}
		text(ical.PropDescription, content)
	}
	if cats := e.GetCategories(); len(cats) > 0 {
		p := ical.NewProp(ical.PropCategories)
		p.SetTextList(cats)
		v.Props.Set(p)
	}
	if s := e.GetSensitivity(); s != nil {
		switch *s {
		case models.PRIVATE_SENSITIVITY, models.PERSONAL_SENSITIVITY:
			text(ical.PropClass, "PRIVATE")
		case models.CONFIDENTIAL_SENSITIVITY:
			text(ical.PropClass, "CONFIDENTIAL")
		}
	}
	if i := e.GetImportance(); i != nil {
		switch *i {
		case models.HIGH_IMPORTANCE:
			v.Props.Set(&ical.Prop{Name: ical.PropPriority, Params: ical.Params{}, Value: "1"})
		case models.LOW_IMPORTANCE:
			v.Props.Set(&ical.Prop{Name: ical.PropPriority, Params: ical.Params{}, Value: "9"})
		}
	}
	if s := e.GetShowAs(); s != nil {
		transp := "OPAQUE"
		if *s == models.FREE_FREEBUSYSTATUS {
			transp = "TRANSPARENT"
		}
		text(ical.PropTransparency, transp)
		text("X-MICROSOFT-CDO-BUSYSTATUS", strings.ToUpper(s.String()))
	}
	if derefBool(e.GetIsCancelled()) {
		text(ical.PropStatus, "CANCELLED")
	} else {
		text(ical.PropStatus, "CONFIRMED")
	}
	// Attendees: Graph's own when the event is a real meeting, else the
	// ones the invitation-free write kept in MeetingProperty.
	org, atts := md.Organizer, md.Attendees
	if len(e.GetAttendees()) > 0 {
		atts = nil
		for _, a := range e.GetAttendees() {
			ea := a.GetEmailAddress()
			if ea == nil || str(ea.GetAddress()) == "" {
				continue
			}
			ad := attendeeData{Name: str(ea.GetName()), Address: str(ea.GetAddress()), Role: "REQ-PARTICIPANT", PartStat: "NEEDS-ACTION"}
			if t := a.GetTypeEscaped(); t != nil {
				switch *t {
				case models.OPTIONAL_ATTENDEETYPE:
					ad.Role = "OPT-PARTICIPANT"
				case models.RESOURCE_ATTENDEETYPE:
					ad.Role, ad.CUType = "NON-PARTICIPANT", "RESOURCE"
				}
			}
			if s := a.GetStatus(); s != nil && s.GetResponse() != nil {
				ad.PartStat = partstats[*s.GetResponse()]
			}
			atts = append(atts, ad)
		}
		org = nil
		if o := e.GetOrganizer(); o != nil && o.GetEmailAddress() != nil {
			org = &attendeeData{Name: str(o.GetEmailAddress().GetName()), Address: str(o.GetEmailAddress().GetAddress())}
		}
	}
	if len(atts) > 0 && org != nil && org.Address != "" {
		p := &ical.Prop{Name: ical.PropOrganizer, Params: ical.Params{}, Value: mailto(org.Address)}
		if org.Name != "" {
			p.Params.Set(ical.ParamCommonName, org.Name)
		}
		v.Props.Set(p)
	}
	for _, a := range atts {
		p := &ical.Prop{Name: ical.PropAttendee, Params: ical.Params{}, Value: mailto(a.Address)}
		if a.Name != "" {
			p.Params.Set(ical.ParamCommonName, a.Name)
		}
		if a.CUType != "" {
			p.Params.Set(ical.ParamCalendarUserType, a.CUType)
		}
		if a.Role != "" {
			p.Params.Set(ical.ParamRole, a.Role)
		}
		if a.PartStat != "" {
			p.Params.Set(ical.ParamParticipationStatus, a.PartStat)
		}
		if a.RSVP != "" {
			p.Params.Set(ical.ParamRSVP, a.RSVP)
		}
		v.Props.Add(p)
	}
	join := md.JoinURL
	if om := e.GetOnlineMeeting(); om != nil && str(om.GetJoinUrl()) != "" {
		join = str(om.GetJoinUrl())
	} else if u := str(e.GetOnlineMeetingUrl()); u != "" {
		join = u
	}
	if join != "" {
		p := &ical.Prop{Name: "CONFERENCE", Params: ical.Params{}, Value: join}
		p.Params.Set(ical.ParamValue, "URI")
		p.Params.Set("FEATURE", "AUDIO,VIDEO")
		p.Params.Set("LABEL", "Online meeting")
		v.Props.Set(p)
		text("X-MICROSOFT-SKYPETEAMSMEETINGURL", join)
	}
	if derefBool(e.GetIsReminderOn()) {
		a := ical.NewComponent(ical.CompAlarm)
		a.Props.SetText(ical.PropAction, "DISPLAY")
		a.Props.SetText(ical.PropDescription, "Reminder")
		mins := 0
		if m := e.GetReminderMinutesBeforeStart(); m != nil {
			mins = int(*m)
		}
		a.Props.Set(&ical.Prop{Name: ical.PropTrigger, Params: ical.Params{}, Value: fmt.Sprintf("-PT%dM", mins)})
		v.Children = append(v.Children, a)
	}
	return v.Component
}

// parsedEvent is a VCALENDAR reduced to its master and exceptions.
type parsedEvent = pim.Event

func parseCalendar(raw []byte) (*parsedEvent, error) { return pim.ParseEvent(raw) }

// eventBody builds the Graph event of one VEVENT: everything except
// attendees, which Graph would invite.
func eventBody(v *ical.Component, p *parsedEvent, exception bool) (models.Eventable, time.Time, error) {
	e := models.NewEvent()
	start, _, date, err := propTime(v.Props.Get(ical.PropDateTimeStart), p.Loc)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("DTSTART: %w", err)
	}
	var end time.Time
	switch {
	case v.Props.Get(ical.PropDateTimeEnd) != nil:
		if end, _, _, err = propTime(v.Props.Get(ical.PropDateTimeEnd), p.Loc); err != nil {
			return nil, time.Time{}, fmt.Errorf("DTEND: %w", err)
		}
	case v.Props.Get(ical.PropDuration) != nil:
		d, err := v.Props.Get(ical.PropDuration).Duration()
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("DURATION: %w", err)
		}
		end = start.Add(d)
	case date:
		end = start.AddDate(0, 0, 1)
	default:
		end = start
	}
	zone := p.Zone
	if date {
		// All-day: midnight to midnight in the zone Graph is given.
		zone = "UTC"
		e.SetIsAllDay(ptr(true))
		e.SetStart(dateTimeTZ(start, zone))
		e.SetEnd(dateTimeTZ(end, zone))
	} else {
		e.SetIsAllDay(ptr(false))
		e.SetStart(dateTimeTZ(start.In(p.Loc), zone))
		e.SetEnd(dateTimeTZ(end.In(p.Loc), zone))
	}
	textOf := func(name string) string {
		if x := v.Props.Get(name); x != nil {
			s, _ := x.Text()
			return s
		}
		return ""
	}
	e.SetSubject(ptr(textOf(ical.PropSummary)))
	body := models.NewItemBody()
	if h := v.Props.Get("X-ALT-DESC"); h != nil && strings.EqualFold(h.Params.Get("FMTTYPE"), "text/html") {
		s, _ := h.Text()
		body.SetContentType(ptr(models.HTML_BODYTYPE))
		body.SetContent(ptr(s))
	} else {
		body.SetContentType(ptr(models.TEXT_BODYTYPE))
		body.SetContent(ptr(textOf(ical.PropDescription)))
	}
	e.SetBody(body)
	if l := textOf(ical.PropLocation); l != "" {
		loc := models.NewLocation()
		loc.SetDisplayName(ptr(l))
		e.SetLocation(loc)
	}
	var cats []string
	for _, x := range v.Props.Values(ical.PropCategories) {
		l, _ := x.TextList()
		cats = append(cats, l...)
	}
	if len(cats) > 0 {
		e.SetCategories(cats)
	}
	switch strings.ToUpper(textOf(ical.PropClass)) {
	case "PRIVATE":
		e.SetSensitivity(ptr(models.PRIVATE_SENSITIVITY))
	case "CONFIDENTIAL":
		e.SetSensitivity(ptr(models.CONFIDENTIAL_SENSITIVITY))
	default:
		e.SetSensitivity(ptr(models.NORMAL_SENSITIVITY))
	}
	if pr := v.Props.Get(ical.PropPriority); pr != nil {
		n, _ := strconv.Atoi(strings.TrimSpace(pr.Value))
		switch {
		case n >= 1 && n <= 4:
			e.SetImportance(ptr(models.HIGH_IMPORTANCE))
		case n >= 6:
			e.SetImportance(ptr(models.LOW_IMPORTANCE))
		default:
			e.SetImportance(ptr(models.NORMAL_IMPORTANCE))
		}
	}
	showAs := models.BUSY_FREEBUSYSTATUS
	if strings.EqualFold(textOf(ical.PropTransparency), "TRANSPARENT") {
		showAs = models.FREE_FREEBUSYSTATUS
	}
	if s := textOf("X-MICROSOFT-CDO-BUSYSTATUS"); s != "" {
		if st, err := models.ParseFreeBusyStatus(strings.ToLower(s)); err == nil && st != nil {
			showAs = *st.(*models.FreeBusyStatus)
		}
	}
	e.SetShowAs(ptr(showAs))
	// Reminder: the first display or audio alarm relative to the start.
	e.SetIsReminderOn(ptr(false))
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
		e.SetIsReminderOn(ptr(true))
		e.SetReminderMinutesBeforeStart(ptr(int32(-d / time.Minute)))
		break
	}
	if !exception {
		if rr := v.Props.Get(ical.PropRecurrenceRule); rr != nil {
			ls := start.In(p.Loc)
			if date {
				ls = start
			}
			rec, err := recurrenceOf(rr.Value, ls, p.Zone)
			if err != nil {
				return nil, time.Time{}, err
			}
			e.SetRecurrence(rec)
		}
	}
	return e, start, nil
}

// meetingOf keeps what the events API would turn into invitations.
func meetingOf(v *ical.Component, uid string) meetingData {
	md := meetingData{UID: uid}
	person := func(p ical.Prop) attendeeData {
		return attendeeData{Name: p.Params.Get(ical.ParamCommonName), Address: strings.TrimPrefix(strings.TrimPrefix(p.Value, "mailto:"), "MAILTO:"),
			Role: p.Params.Get(ical.ParamRole), PartStat: p.Params.Get(ical.ParamParticipationStatus),
			CUType: p.Params.Get(ical.ParamCalendarUserType), RSVP: p.Params.Get(ical.ParamRSVP)}
	}
	if o := v.Props.Get(ical.PropOrganizer); o != nil {
		a := person(*o)
		md.Organizer = &attendeeData{Name: a.Name, Address: a.Address}
	}
	for _, a := range v.Props.Values(ical.PropAttendee) {
		md.Attendees = append(md.Attendees, person(a))
	}
	for _, name := range []string{"CONFERENCE", "X-MICROSOFT-SKYPETEAMSMEETINGURL", "X-GOOGLE-CONFERENCE"} {
		if p := v.Props.Get(name); p != nil && md.JoinURL == "" {
			md.JoinURL = strings.TrimSpace(p.Value)
		}
	}
	return md
}

// transactionID makes a retried create of the same item return the event
// created the first time (Graph's documented use of transactionId). The
// version is part of it: a new version of the item is a new event.
func transactionID(mailboxID, marker, version string) string {
	h := sha256.Sum256([]byte(strings.ToLower(mailboxID) + "\x00" + marker + "\x00" + version))
	return "mf-" + hex.EncodeToString(h[:16])
}

// writeEvent creates an event from iCalendar without sending anything:
// the event is created without attendees (Graph invites every attendee of
// an event it creates or updates), the attendees and their responses are
// kept in MeetingProperty, cancelled occurrences are deleted and
// exceptions patched on the attendee-less series, and the marker comes
// last. See docs/m365.md for what this keeps and loses.
func (c *Connector) writeEvent(ctx context.Context, mailboxID, calID string, item platform.Item, marker string) (string, error) {
	version := item.Ref.ChangeKey
	if id, found, err := c.findEventIn(ctx, mailboxID, calID, marker, version); err != nil || found {
		return id, err
	}
	p, err := parseCalendar(item.Content)
	if err != nil {
		return "", errs.Wrap(errs.CorruptItem, err, "the event is not valid iCalendar: "+err.Error(), "the item is listed in the reconciliation report")
	}
	ev, masterStart, err := eventBody(p.Master, p, false)
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "the event cannot be stored in Microsoft 365: "+err.Error(),
			"the item is listed in the reconciliation report; recreate it by hand")
	}
	if len(item.Categories) > 0 {
		ev.SetCategories(mergeStrings(ev.GetCategories(), item.Categories))
	}
	md := meetingOf(p.Master, p.UID)
	raw, _ := json.Marshal(md)
	ev.SetSingleValueExtendedProperties([]models.SingleValueLegacyExtendedPropertyable{extProp(MeetingProperty, string(raw))})
	ev.SetTransactionId(ptr(transactionID(mailboxID, marker, version)))
	// Never set: attendees (Exchange would send meeting requests) and
	// isOnlineMeeting (it would create a new online meeting).
	g := graphError{what: "calendar " + calID + " of mailbox " + mailboxID, perm: permCal}
	created, err := c.user(mailboxID).Calendars().ByCalendarId(calID).Events().Post(ctx, ev, nil)
	if err != nil {
		return "", g.fail(err)
	}
	id := str(created.GetId())
	if err := c.applyExceptions(ctx, mailboxID, id, p, masterStart); err != nil {
		c.discardEvent(mailboxID, id)
		return "", err
	}
	patch := models.NewEvent()
	patch.SetSingleValueExtendedProperties(markProps(marker, version))
	if _, err := c.user(mailboxID).Events().ByEventId(id).Patch(ctx, patch, nil); err != nil {
		c.discardEvent(mailboxID, id)
		return "", graphError{what: "event " + id, perm: permCal}.fail(err)
	}
	c.markers.note(mailboxID, marker, platform.Placed{ID: id, FolderID: calendarPrefix + calID, Version: version})
	return id, nil
}

func mergeStrings(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// applyExceptions deletes the series' cancelled occurrences (EXDATE and
// exceptions with STATUS:CANCELLED) and patches its modified ones. The
// series has no attendees, so neither sends anything.
func (c *Connector) applyExceptions(ctx context.Context, mailboxID, masterID string, p *parsedEvent, masterStart time.Time) error {
	if p.Master.Props.Get(ical.PropRecurrenceRule) == nil {
		return nil
	}
	type change struct {
		orig time.Time
		v    *ical.Component // nil: delete
	}
	var changes []change
	for _, x := range p.Master.Props.Values(ical.PropExceptionDates) {
		for _, val := range strings.Split(x.Value, ",") {
			xp := ical.Prop{Name: x.Name, Params: x.Params, Value: val}
			t, _, _, err := propTime(&xp, p.Loc)
			if err == nil {
				changes = append(changes, change{orig: t})
			}
		}
	}
	for _, v := range p.Exceptions {
		t, _, _, err := propTime(v.Props.Get(ical.PropRecurrenceID), p.Loc)
		if err != nil {
			continue
		}
		if s := v.Props.Get(ical.PropStatus); s != nil && strings.EqualFold(s.Value, "CANCELLED") {
			v = nil
		}
		changes = append(changes, change{orig: t, v: v})
	}
	if len(changes) == 0 {
		return nil
	}
	from, to := changes[0].orig, changes[0].orig
	for _, ch := range changes {
		from, to = minTime(from, ch.orig), maxTime(to, ch.orig)
	}
	g := graphError{what: "event " + masterID, perm: permCal}
	b := c.user(mailboxID).Events().ByEventId(masterID).Instances()
	resp, err := b.Get(ctx, &users.ItemEventsItemInstancesRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemEventsItemInstancesRequestBuilderGetQueryParameters{
			StartDateTime: ptr(from.AddDate(0, 0, -2).UTC().Format(time.RFC3339)),
			EndDateTime:   ptr(to.AddDate(0, 0, 2).UTC().Format(time.RFC3339)),
			Select:        []string{"id", "originalStart", "start"}, Top: ptr(int32(1000)),
		},
	})
	byOrig := map[int64]string{}
	for {
		if err != nil {
			return g.fail(err)
		}
		for _, in := range resp.GetValue() {
			if o := in.GetOriginalStart(); o != nil {
				byOrig[o.UTC().Unix()] = str(in.GetId())
			}
		}
		next := str(resp.GetOdataNextLink())
		if next == "" {
			break
		}
		resp, err = b.WithUrl(next).Get(ctx, nil)
	}
	allDay := p.Master.Props.Get(ical.PropDateTimeStart).Params.Get(ical.ParamValue) == "DATE" || len(p.Master.Props.Get(ical.PropDateTimeStart).Value) == 8
	for _, ch := range changes {
		key := ch.orig.UTC().Unix()
		if allDay {
			// A DATE names the day; the occurrence starts at midnight UTC
			// (all-day events are written in UTC).
			key = time.Date(ch.orig.Year(), ch.orig.Month(), ch.orig.Day(), 0, 0, 0, 0, time.UTC).Unix()
		}
		occ, ok := byOrig[key]
		if !ok {
			// An EXDATE or RECURRENCE-ID off the pattern names nothing.
			continue
		}
		if ch.v == nil {
			if err := c.user(mailboxID).Events().ByEventId(occ).Delete(ctx, nil); err != nil {
				if ferr := g.fail(err); !errs.Is(ferr, errs.NotFound) {
					return ferr
				}
			}
			continue
		}
		patch, _, err := eventBody(ch.v, p, true)
		if err != nil {
			return errs.Wrap(errs.Invalid, err, "an exception of the series cannot be stored in Microsoft 365: "+err.Error(),
				"the item is listed in the reconciliation report")
		}
		if _, err := c.user(mailboxID).Events().ByEventId(occ).Patch(ctx, patch, nil); err != nil {
			return g.fail(err)
		}
	}
	_ = masterStart
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// discardEvent deletes a half-written series. It has no attendees, so the
// delete sends no cancellation.
func (c *Connector) discardEvent(mailboxID, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = c.user(mailboxID).Events().ByEventId(id).Delete(ctx, nil)
}

// findEventIn returns the id of the event in one calendar that carries
// the marker and version, if there is one.
func (c *Connector) findEventIn(ctx context.Context, mailboxID, calID, marker, version string) (string, bool, error) {
	filter := markerFilter(marker)
	resp, err := c.user(mailboxID).Calendars().ByCalendarId(calID).Events().Get(ctx, &users.ItemCalendarsItemEventsRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemCalendarsItemEventsRequestBuilderGetQueryParameters{
			Filter: &filter, Select: []string{"id"}, Expand: []string{expandMarks}, Top: ptr(int32(10)),
		},
	})
	if err != nil {
		return "", false, graphError{what: "calendar " + calID + " of mailbox " + mailboxID, perm: permCal}.fail(err)
	}
	for _, e := range resp.GetValue() {
		if propValue(e.GetSingleValueExtendedProperties(), VersionProperty) == version {
			return str(e.GetId()), true, nil
		}
	}
	return "", false, nil
}
