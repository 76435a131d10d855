package google

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

var (
	calRead        = []string{ScopeCalendar, ScopeCalendarReadonly}
	calWrite       = []string{ScopeCalendar}
	calEventsRead  = []string{ScopeCalendar, ScopeCalendarReadonly, ScopeCalendarEvents, ScopeCalendarEventsRO}
	calEventsWrite = []string{ScopeCalendar, ScopeCalendarEvents}
)

func calNotFound(w http.ResponseWriter) { googleError(w, http.StatusNotFound, "notFound", "Not Found") }

func calInvalid(w http.ResponseWriter, reason, msg string) {
	writeErr(w, apiErr{code: http.StatusBadRequest, reason: reason, msg: msg})
}

// routeCalendar serves calendar/v3. Every request costs one unit of the
// per-user and per-project request quotas.
func (s *Sandbox) routeCalendar(c *call) {
	u := c.g.subject
	if u == nil {
		googleError(c.w, http.StatusForbidden, "forbidden", "Forbidden")
		return
	}
	seg := segments(c.r.URL.Path, "/calendar/v3/")
	m := c.r.Method
	switch {
	case len(seg) >= 3 && seg[0] == "users" && seg[1] == "me" && seg[2] == "calendarList":
		s.calendarList(c, u, seg[3:])
	case len(seg) == 1 && seg[0] == "calendars" && m == http.MethodPost:
		if c.admit("calendar.calendars.insert", 1, calWrite...) {
			s.calendarInsert(c, u)
		}
	case len(seg) == 2 && seg[0] == "calendars":
		s.calendarResource(c, u, seg[1])
	case len(seg) == 3 && seg[0] == "calendars" && seg[2] == "clear" && m == http.MethodPost:
		if c.admit("calendar.calendars.clear", 1, calWrite...) {
			s.calendarClear(c, u, seg[1])
		}
	case len(seg) >= 3 && seg[0] == "calendars" && seg[2] == "events":
		s.calendarEvents(c, u, seg[1], seg[3:])
	default:
		calNotFound(c.w)
	}
}

func calETag(t time.Time, seq uint64) string {
	return fmt.Sprintf("%q", fmt.Sprint(t.UnixMicro()+int64(seq)))
}

func (s *Sandbox) listEntryJSON(cal *calendar) map[string]any {
	m := map[string]any{
		"kind": "calendar#calendarListEntry", "etag": calETag(cal.updated, cal.seq), "id": cal.id,
		"summary": cal.summary, "timeZone": cal.timeZone, "colorId": "14", "backgroundColor": "#9fe1e7",
		"foregroundColor": "#000000", "selected": true, "accessRole": "owner", "defaultReminders": []any{},
		"conferenceProperties": map[string]any{"allowedConferenceSolutionTypes": []string{"hangoutsMeet"}},
	}
	if cal.description != "" {
		m["description"] = cal.description
	}
	if cal.location != "" {
		m["location"] = cal.location
	}
	if cal.primary {
		m["primary"] = true
		m["defaultReminders"] = []any{map[string]any{"method": "popup", "minutes": 10}}
		m["notificationSettings"] = map[string]any{"notifications": []any{
			map[string]any{"type": "eventCreation", "method": "email"}, map[string]any{"type": "eventChange", "method": "email"},
			map[string]any{"type": "eventCancellation", "method": "email"}, map[string]any{"type": "eventResponse", "method": "email"},
		}}
	}
	return m
}

func calendarJSON(cal *calendar) map[string]any {
	m := map[string]any{"kind": "calendar#calendar", "etag": calETag(cal.updated, cal.seq), "id": cal.id,
		"summary": cal.summary, "timeZone": cal.timeZone,
		"conferenceProperties": map[string]any{"allowedConferenceSolutionTypes": []string{"hangoutsMeet"}}}
	if cal.description != "" {
		m["description"] = cal.description
	}
	if cal.location != "" {
		m["location"] = cal.location
	}
	return m
}

func (s *Sandbox) calendarList(c *call, u *user, rest []string) {
	switch {
	case len(rest) == 0 && c.r.Method == http.MethodGet:
		if !c.admit("calendar.calendarList.list", 1, calRead...) {
			return
		}
		maxResults, ok := c.intParam("maxResults", 100, 1, 250)
		if !ok {
			return
		}
		start := 0
		if tok := c.q.Get("pageToken"); tok != "" {
			if start, ok = decodeOffset(tok); !ok {
				calInvalid(c.w, "invalid", "Invalid page token value.")
				return
			}
		}
		s.mu.Lock()
		all := u.cal.order
		start = min(start, len(all))
		end := min(start+maxResults, len(all))
		items := make([]map[string]any, 0, end-start)
		for _, cal := range all[start:end] {
			items = append(items, s.listEntryJSON(cal))
		}
		s.mu.Unlock()
		out := map[string]any{"kind": "calendar#calendarList", "etag": fmt.Sprintf("%q", shortHash(u.email, fmt.Sprint(len(all)))), "items": items}
		if end < len(all) {
			out["nextPageToken"] = encodeOffset(end)
		} else {
			out["nextSyncToken"] = "CL" + encodeOffset(len(all))
		}
		c.ok(out)
	case len(rest) == 1 && c.r.Method == http.MethodGet:
		if !c.admit("calendar.calendarList.get", 1, calRead...) {
			return
		}
		s.mu.Lock()
		cal := u.cal.lookup(rest[0])
		var out map[string]any
		if cal != nil {
			out = s.listEntryJSON(cal)
		}
		s.mu.Unlock()
		if out == nil {
			calNotFound(c.w)
			return
		}
		c.ok(out)
	default:
		methodNotAllowed(c.w)
	}
}

type calendarIn struct {
	Summary     *string `json:"summary"`
	Description *string `json:"description"`
	Location    *string `json:"location"`
	TimeZone    *string `json:"timeZone"`
}

func (in calendarIn) apply(w http.ResponseWriter, cal *calendar) bool {
	if in.TimeZone != nil {
		if _, err := time.LoadLocation(*in.TimeZone); err != nil || *in.TimeZone == "" || *in.TimeZone == "Local" {
			calInvalid(w, "invalid", "Invalid time zone definition.")
			return false
		}
		cal.timeZone = *in.TimeZone
	}
	if in.Summary != nil {
		cal.summary = *in.Summary
	}
	if in.Description != nil {
		cal.description = *in.Description
	}
	if in.Location != nil {
		cal.location = *in.Location
	}
	return true
}

func (s *Sandbox) calendarInsert(c *call, u *user) {
	var in calendarIn
	if !c.decode(&in) {
		return
	}
	if in.Summary == nil || strings.TrimSpace(*in.Summary) == "" {
		calInvalid(c.w, "required", "Missing title.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u.cal.n++
	cal := &calendar{id: shortHash(u.email, "cal", fmt.Sprint(u.cal.n)) + randomHex(8) + "@group.calendar.google.com",
		timeZone: u.cal.primary.timeZone, events: map[string]*event{}, updated: time.Now().UTC()}
	if !in.apply(c.w, cal) {
		return
	}
	u.cal.cals[cal.id] = cal
	u.cal.order = append(u.cal.order, cal)
	c.ok(calendarJSON(cal))
}

func (s *Sandbox) calendarResource(c *call, u *user, id string) {
	m := c.r.Method
	scopes, name := calWrite, "calendar.calendars.update"
	if m == http.MethodGet {
		scopes, name = calRead, "calendar.calendars.get"
	}
	if !c.admit(name, 1, scopes...) {
		return
	}
	var in calendarIn
	if (m == http.MethodPatch || m == http.MethodPut) && !c.decode(&in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cal := u.cal.lookup(id)
	if cal == nil {
		calNotFound(c.w)
		return
	}
	switch m {
	case http.MethodGet:
		c.ok(calendarJSON(cal))
	case http.MethodPatch, http.MethodPut:
		if in.apply(c.w, cal) {
			cal.updated = time.Now().UTC()
			c.ok(calendarJSON(cal))
		}
	case http.MethodDelete:
		if cal.primary {
			calInvalid(c.w, "cannotDeletePrimaryCalendar", "Cannot delete primary calendar.")
			return
		}
		delete(u.cal.cals, cal.id)
		u.cal.order = slices.DeleteFunc(u.cal.order, func(x *calendar) bool { return x == cal })
		c.noContent()
	default:
		methodNotAllowed(c.w)
	}
}

func (s *Sandbox) calendarClear(c *call, u *user, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cal := u.cal.lookup(id)
	if cal == nil {
		calNotFound(c.w)
		return
	}
	now := time.Now().UTC()
	for _, e := range cal.order {
		if e.status != "cancelled" {
			e.status = "cancelled"
			cal.touch(e, now)
		}
	}
	c.noContent()
}

// --- events ---

func (s *Sandbox) calendarEvents(c *call, u *user, calID string, rest []string) {
	m := c.r.Method
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		if c.admit("calendar.events.list", 1, calEventsRead...) {
			s.eventList(c, u, calID)
		}
	case len(rest) == 0 && m == http.MethodPost:
		if c.admit("calendar.events.insert", 1, calEventsWrite...) {
			s.eventWrite(c, u, calID, "insert", "")
		}
	case len(rest) == 1 && rest[0] == "import" && m == http.MethodPost:
		if c.admit("calendar.events.import", 1, calEventsWrite...) {
			s.eventWrite(c, u, calID, "import", "")
		}
	case len(rest) == 1 && m == http.MethodGet:
		if c.admit("calendar.events.get", 1, calEventsRead...) {
			s.eventGet(c, u, calID, rest[0])
		}
	case len(rest) == 1 && (m == http.MethodPut || m == http.MethodPatch):
		if c.admit("calendar.events.update", 1, calEventsWrite...) {
			kind := "update"
			if m == http.MethodPatch {
				kind = "patch"
			}
			s.eventWrite(c, u, calID, kind, rest[0])
		}
	case len(rest) == 1 && m == http.MethodDelete:
		if c.admit("calendar.events.delete", 1, calEventsWrite...) {
			s.eventDelete(c, u, calID, rest[0])
		}
	case len(rest) == 2 && rest[1] == "instances" && m == http.MethodGet:
		if c.admit("calendar.events.instances", 1, calEventsRead...) {
			s.eventInstances(c, u, calID, rest[0])
		}
	default:
		methodNotAllowed(c.w)
	}
}

func htmlLink(e *event, cal *calendar) string {
	return "https://www.google.com/calendar/event?eid=" + base64.RawURLEncoding.EncodeToString([]byte(e.id+" "+cal.id))
}

// eventJSON renders an event as Calendar returns it, its times in out.
// Cancelled events carry only what identifies them, as in Google's
// incremental results.
func (s *Sandbox) eventJSON(cal *calendar, e *event, out *time.Location) map[string]any {
	m := map[string]any{"kind": "calendar#event", "etag": calETag(e.updated, e.seq), "id": e.id, "status": e.status}
	if e.recurringEventID != "" {
		m["recurringEventId"] = e.recurringEventID
		m["originalStartTime"] = e.origStart
	}
	if e.status == "cancelled" {
		return m
	}
	for k, v := range e.body {
		if _, set := m[k]; !set {
			m[k] = v
		}
	}
	m["htmlLink"] = htmlLink(e, cal)
	m["created"] = rfc3339ms(e.created)
	m["updated"] = rfc3339ms(e.updated)
	m["creator"] = e.creator
	m["organizer"] = e.organizer
	m["iCalUID"] = e.iCalUID
	m["sequence"] = e.sequence
	m["start"] = e.start.json(out)
	m["end"] = e.end.json(out)
	if _, ok := m["reminders"]; !ok {
		m["reminders"] = map[string]any{"useDefault": true}
	}
	if _, ok := m["eventType"]; !ok {
		m["eventType"] = "default"
	}
	if att, ok := e.body["attendees"].([]any); ok {
		list := make([]any, 0, len(att))
		orgEmail, _ := e.organizer["email"].(string)
		for _, a := range att {
			am, _ := a.(map[string]any)
			if am == nil {
				continue
			}
			am = maps.Clone(am)
			if _, ok := am["responseStatus"]; !ok {
				am["responseStatus"] = "needsAction"
			}
			email, _ := am["email"].(string)
			if owner := s.calOwnerEmail(cal); owner != "" && strings.EqualFold(email, owner) {
				am["self"] = true
			}
			if strings.EqualFold(email, orgEmail) {
				am["organizer"] = true
			}
			list = append(list, am)
		}
		m["attendees"] = list
	}
	return m
}

func (s *Sandbox) calOwnerEmail(cal *calendar) string {
	if cal.primary {
		return cal.id
	}
	return ""
}

// zoneFor is the zone of a response: the timeZone parameter, else the
// calendar's.
func (c *call) zoneFor(cal *calendar) (*time.Location, bool) {
	name := c.q.Get("timeZone")
	if name == "" {
		name = cal.timeZone
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		calInvalid(c.w, "invalid", "Invalid time zone definition.")
		return nil, false
	}
	return loc, true
}

// eventsOf lists the calendar's events for a full (non-incremental) list:
// masters, single events and exceptions, or with singleEvents the
// expanded instances.
func (cal *calendar) eventsOf(single, showDeleted bool, tmin, tmax time.Time) []*event {
	var out []*event
	overlaps := func(e *event) bool {
		return (tmax.IsZero() || e.start.t.Before(tmax)) && (tmin.IsZero() || e.end.t.After(tmin))
	}
	for _, e := range cal.order {
		if e.status == "cancelled" && !showDeleted {
			continue
		}
		isMaster := len(recurrenceOf(e.body)) > 0 && e.recurringEventID == ""
		switch {
		case single && e.recurringEventID != "":
			continue // instances come with their master's expansion
		case single && isMaster:
			if e.status == "cancelled" {
				continue
			}
			for _, t := range occurrences(e, tmin.Add(-e.end.t.Sub(e.start.t)), tmax, maxInstances) {
				inst := cal.instance(e, t)
				if inst.status == "cancelled" && !showDeleted || !overlaps(inst) {
					continue
				}
				out = append(out, inst)
			}
		case isMaster:
			if tmax.IsZero() || e.start.t.Before(tmax) {
				if tmin.IsZero() || len(occurrences(e, tmin.Add(-e.end.t.Sub(e.start.t)), tmax, 1)) > 0 {
					out = append(out, e)
				}
			}
		default:
			if overlaps(e) || e.status == "cancelled" {
				out = append(out, e)
			}
		}
	}
	return out
}

func parseRFC3339Param(c *call, name string) (time.Time, bool) {
	v := c.q.Get(name)
	if v == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		calInvalid(c.w, "badRequest", "Bad Request")
		return time.Time{}, false
	}
	return t, true
}

func (s *Sandbox) eventList(c *call, u *user, calID string) {
	maxResults, ok := c.intParam("maxResults", 250, 1, 2500)
	if !ok {
		return
	}
	tmin, ok1 := parseRFC3339Param(c, "timeMin")
	tmax, ok2 := parseRFC3339Param(c, "timeMax")
	updatedMin, ok3 := parseRFC3339Param(c, "updatedMin")
	if !ok1 || !ok2 || !ok3 {
		return
	}
	if !tmin.IsZero() && !tmax.IsZero() && !tmax.After(tmin) {
		writeErr(c.w, apiErr{code: 400, reason: "timeRangeEmpty", domain: "calendar", location: "timeMax", locationType: "parameter",
			msg: "The specified time range is empty."})
		return
	}
	single, showDeleted := c.boolParam("singleEvents"), c.boolParam("showDeleted")
	orderBy := c.q.Get("orderBy")
	if orderBy == "startTime" && !single {
		calInvalid(c.w, "badRequest", "The requested ordering is not available for the particular query.")
		return
	}
	syncTok := c.q.Get("syncToken")
	if syncTok != "" {
		for _, p := range []string{"iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty", "timeMin", "timeMax", "updatedMin"} {
			if c.q.Get(p) != "" {
				calInvalid(c.w, "invalid", "Sync token cannot be used with the parameter "+p+".")
				return
			}
		}
	}
	start := 0
	if tok := c.q.Get("pageToken"); tok != "" {
		var ok bool
		if start, ok = decodeOffset(tok); !ok {
			calInvalid(c.w, "invalid", "Invalid page token value.")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cal := u.cal.lookup(calID)
	if cal == nil {
		calNotFound(c.w)
		return
	}
	loc, ok := c.zoneFor(cal)
	if !ok {
		return
	}
	var list []*event
	if syncTok != "" {
		since, ok := parseSyncToken(syncTok, cal)
		if !ok {
			writeErr(c.w, apiErr{code: http.StatusGone, reason: "fullSyncRequired", domain: "calendar",
				msg: "Sync token is no longer valid, a full sync is required."})
			return
		}
		// Incremental results always carry deletions.
		for _, e := range cal.order {
			if e.seq > since {
				list = append(list, e)
			}
		}
		sort.SliceStable(list, func(i, j int) bool { return list[i].seq < list[j].seq })
	} else {
		list = cal.eventsOf(single, showDeleted, tmin, tmax)
		uid, q := c.q.Get("iCalUID"), strings.ToLower(c.q.Get("q"))
		list = slices.DeleteFunc(list, func(e *event) bool {
			if uid != "" && e.iCalUID != uid {
				return true
			}
			if !updatedMin.IsZero() && e.updated.Before(updatedMin) {
				return true
			}
			if q != "" {
				text := strings.ToLower(fmt.Sprint(e.body["summary"], " ", e.body["description"], " ", e.body["location"]))
				return !strings.Contains(text, q)
			}
			return false
		})
		switch orderBy {
		case "startTime":
			sort.SliceStable(list, func(i, j int) bool { return list[i].start.t.Before(list[j].start.t) })
		case "updated":
			sort.SliceStable(list, func(i, j int) bool { return list[i].updated.Before(list[j].updated) })
		}
	}
	start = min(start, len(list))
	end := min(start+maxResults, len(list))
	items := make([]map[string]any, 0, end-start)
	for _, e := range list[start:end] {
		items = append(items, s.eventJSON(cal, e, loc))
	}
	out := map[string]any{
		"kind": "calendar#events", "etag": calETag(cal.updated, cal.seq), "summary": cal.summary,
		"description": cal.description, "updated": rfc3339ms(cal.updated), "timeZone": cal.timeZone,
		"accessRole": "owner", "defaultReminders": []any{}, "items": items,
	}
	if end < len(list) {
		out["nextPageToken"] = encodeOffset(end)
	} else {
		out["nextSyncToken"] = syncToken(cal)
	}
	c.ok(out)
}

// findEvent resolves an event id, including the id of an occurrence that
// has no exception of its own.
func (cal *calendar) findEvent(id string) *event {
	if e := cal.events[id]; e != nil {
		return e
	}
	masterID, suffix, ok := strings.Cut(id, "_")
	if !ok {
		return nil
	}
	m := cal.events[masterID]
	if m == nil || len(recurrenceOf(m.body)) == 0 {
		return nil
	}
	var t time.Time
	var err error
	if m.start.allDay {
		t, err = time.Parse("20060102", suffix)
	} else {
		t, err = time.Parse("20060102T150405Z", suffix)
	}
	if err != nil {
		return nil
	}
	for _, occ := range occurrences(m, t, t.Add(time.Second), 1) {
		if occ.Equal(t) {
			return cal.instance(m, occ)
		}
	}
	return nil
}

func (s *Sandbox) eventGet(c *call, u *user, calID, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cal := u.cal.lookup(calID)
	if cal == nil {
		calNotFound(c.w)
		return
	}
	e := cal.findEvent(id)
	if e == nil {
		calNotFound(c.w)
		return
	}
	loc, ok := c.zoneFor(cal)
	if !ok {
		return
	}
	c.ok(s.eventJSON(cal, e, loc))
}

func (s *Sandbox) eventInstances(c *call, u *user, calID, id string) {
	maxResults, ok := c.intParam("maxResults", 250, 1, 2500)
	if !ok {
		return
	}
	tmin, ok1 := parseRFC3339Param(c, "timeMin")
	tmax, ok2 := parseRFC3339Param(c, "timeMax")
	if !ok1 || !ok2 {
		return
	}
	start := 0
	if tok := c.q.Get("pageToken"); tok != "" {
		if start, ok = decodeOffset(tok); !ok {
			calInvalid(c.w, "invalid", "Invalid page token value.")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cal := u.cal.lookup(calID)
	if cal == nil {
		calNotFound(c.w)
		return
	}
	m := cal.events[id]
	if m == nil || m.status == "cancelled" {
		calNotFound(c.w)
		return
	}
	loc, ok := c.zoneFor(cal)
	if !ok {
		return
	}
	var list []*event
	if len(recurrenceOf(m.body)) == 0 {
		list = []*event{m}
	} else {
		for _, t := range occurrences(m, tmin, tmax, maxInstances) {
			inst := cal.instance(m, t)
			if inst.status != "cancelled" || c.boolParam("showDeleted") {
				list = append(list, inst)
			}
		}
	}
	start = min(start, len(list))
	end := min(start+maxResults, len(list))
	items := make([]map[string]any, 0, end-start)
	for _, e := range list[start:end] {
		items = append(items, s.eventJSON(cal, e, loc))
	}
	out := map[string]any{"kind": "calendar#events", "etag": calETag(cal.updated, cal.seq), "summary": cal.summary,
		"updated": rfc3339ms(cal.updated), "timeZone": cal.timeZone, "accessRole": "owner", "defaultReminders": []any{}, "items": items}
	if end < len(list) {
		out["nextPageToken"] = encodeOffset(end)
	}
	c.ok(out)
}

// serverFields are managed by Calendar and never taken from a client's
// body as they are.
var serverFields = []string{"kind", "etag", "id", "htmlLink", "created", "updated", "creator", "organizer",
	"iCalUID", "recurringEventId", "originalStartTime", "status", "sequence"}

// eventWrite serves insert, import, update and patch.
func (s *Sandbox) eventWrite(c *call, u *user, calID, kind, id string) {
	var body map[string]any
	if !c.decode(&body) {
		return
	}
	if body == nil {
		body = map[string]any{}
	}
	sendUpdates := c.q.Get("sendUpdates")
	if sendUpdates == "" && c.boolParam("sendNotifications") {
		sendUpdates = "all"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cal := u.cal.lookup(calID)
	if cal == nil {
		calNotFound(c.w)
		return
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	owner := map[string]any{"email": u.email, "self": true}
	if cal.primary {
		if n := u.fullName(); n != "" {
			owner["displayName"] = n
		}
	}
	var e *event
	isNew := false
	switch kind {
	case "insert":
		e = &event{created: now, creator: owner, organizer: owner}
		if v, _ := body["id"].(string); v != "" {
			if !validEventID(v) {
				calInvalid(c.w, "invalid", "Invalid resource id value.")
				return
			}
			if cal.events[v] != nil {
				writeErr(c.w, apiErr{code: http.StatusConflict, reason: "duplicate", msg: "The requested identifier already exists."})
				return
			}
			e.id = v
		} else {
			e.id = u.cal.newEventID(cal, "insert")
		}
		e.iCalUID, _ = body["iCalUID"].(string)
		if e.iCalUID == "" {
			e.iCalUID = e.id + "@google.com"
		}
		isNew = true
	case "import":
		uid, _ := body["iCalUID"].(string)
		if uid == "" {
			calInvalid(c.w, "required", "Missing iCalUID.")
			return
		}
		var ok bool
		if e, isNew, ok = s.importTarget(c, u, cal, uid, body, now, owner); !ok {
			return
		}
	default:
		old := cal.findEvent(id)
		if old == nil {
			calNotFound(c.w)
			return
		}
		if old.status == "cancelled" && body["status"] != "confirmed" && body["status"] != "tentative" {
			writeErr(c.w, apiErr{code: http.StatusGone, reason: "deleted", msg: "Resource has been deleted"})
			return
		}
		e = old
		if cal.events[old.id] == nil { // an occurrence becomes an exception
			cal.add(old)
			old.body = maps.Clone(old.body)
		}
		if kind == "patch" {
			merged := maps.Clone(e.body)
			maps.Copy(merged, body)
			merged["start"], merged["end"] = orDefault(body["start"], e.start.json(time.UTC)), orDefault(body["end"], e.end.json(time.UTC))
			body = merged
		}
	}
	if !s.applyEventBody(c, cal, e, body, kind) {
		return
	}
	if kind == "update" || kind == "patch" {
		e.sequence++
	}
	cal.touch(e, now)
	if isNew {
		e.created = now
		cal.add(e)
	}
	if kind != "import" {
		s.notifyLocked(u, e, sendUpdates, map[bool]string{true: "invitation", false: "update"}[isNew])
	}
	loc, _ := time.LoadLocation(cal.timeZone)
	c.ok(s.eventJSON(cal, e, loc))
}

func orDefault(v, def any) any {
	if v == nil {
		return def
	}
	return v
}

// importTarget finds what an import writes: an existing event with the
// iCalUID (import is idempotent on it), the exception of a series when
// the body names an original start, or a new event.
func (s *Sandbox) importTarget(c *call, u *user, cal *calendar, uid string, body map[string]any, now time.Time, owner map[string]any) (*event, bool, bool) {
	organizer := owner
	if org, _ := body["organizer"].(map[string]any); org != nil {
		organizer = maps.Clone(org)
		if email, _ := org["email"].(string); strings.EqualFold(email, u.email) {
			organizer["self"] = true
		}
	}
	if ost, ok := body["originalStartTime"]; ok {
		master := cal.byICalUID(uid)
		if master == nil || len(recurrenceOf(master.body)) == 0 {
			calInvalid(c.w, "invalid", "The recurring event this instance belongs to was not found.")
			return nil, false, false
		}
		suffix, ok := origKey(ost)
		if !ok {
			calInvalid(c.w, "invalid", "Invalid originalStartTime.")
			return nil, false, false
		}
		id := master.id + "_" + suffix
		if ex := cal.events[id]; ex != nil {
			ex.organizer = organizer
			return ex, false, true
		}
		om, _ := ost.(map[string]any)
		return &event{id: id, iCalUID: uid, recurringEventID: master.id, origStart: om, created: now,
			creator: owner, organizer: organizer}, true, true
	}
	if e := cal.byICalUID(uid); e != nil {
		e.organizer = organizer
		return e, false, true
	}
	id, _ := body["id"].(string)
	if id != "" && (!validEventID(id) || cal.events[id] != nil) {
		calInvalid(c.w, "invalid", "Invalid resource id value.")
		return nil, false, false
	}
	if id == "" {
		id = u.cal.newEventID(cal, uid)
	}
	return &event{id: id, iCalUID: uid, created: now, creator: owner, organizer: organizer}, true, true
}

// applyEventBody validates a body and makes it the event's.
func (s *Sandbox) applyEventBody(c *call, cal *calendar, e *event, body map[string]any, kind string) bool {
	start, err := parseEvTime(body["start"])
	if err != nil {
		if err == errMissingZone {
			calInvalid(c.w, "invalid", "Missing time zone definition for start time.")
		} else if body["start"] == nil {
			calInvalid(c.w, "required", "Missing start time.")
		} else {
			calInvalid(c.w, "invalid", "Invalid start time.")
		}
		return false
	}
	end, err := parseEvTime(body["end"])
	if err != nil {
		if err == errMissingZone {
			calInvalid(c.w, "invalid", "Missing time zone definition for end time.")
		} else if body["end"] == nil {
			calInvalid(c.w, "required", "Missing end time.")
		} else {
			calInvalid(c.w, "invalid", "Invalid end time.")
		}
		return false
	}
	if end.t.Before(start.t) || start.allDay != end.allDay || end.t.Equal(start.t) && start.allDay {
		writeErr(c.w, apiErr{code: 400, reason: "timeRangeEmpty", domain: "calendar", msg: "The specified time range is empty."})
		return false
	}
	if rec := recurrenceOf(body); len(rec) > 0 {
		if e.recurringEventID != "" {
			calInvalid(c.w, "invalid", "Invalid recurrence rule.")
			return false
		}
		if !start.allDay && start.tz == "" {
			calInvalid(c.w, "invalid", "Missing time zone definition for start time.")
			return false
		}
		probe := &event{body: body, start: start, end: end}
		if _, err := ruleSet(probe); err != nil {
			calInvalid(c.w, "invalid", "Invalid recurrence rule.")
			return false
		}
	}
	if att, ok := body["attendees"].([]any); ok {
		for _, a := range att {
			am, _ := a.(map[string]any)
			if email, _ := am["email"].(string); !strings.Contains(email, "@") {
				calInvalid(c.w, "invalid", "Invalid attendee email.")
				return false
			}
		}
	}
	status, _ := body["status"].(string)
	switch status {
	case "":
		status = "confirmed"
	case "confirmed", "tentative":
	case "cancelled":
		if kind != "import" && e.recurringEventID == "" {
			calInvalid(c.w, "invalid", "Invalid value for: status")
			return false
		}
	default:
		calInvalid(c.w, "invalid", "Invalid value for: status")
		return false
	}
	if kind == "import" {
		if n, ok := body["sequence"].(float64); ok {
			e.sequence = int64(n)
		}
	}
	clean := maps.Clone(body)
	for _, f := range serverFields {
		delete(clean, f)
	}
	e.body, e.start, e.end, e.status = clean, start, end, status
	return true
}

// notifyLocked records the mail Calendar sends for sendUpdates: every
// attendee but the organizer ("all") or those outside the domain
// ("externalOnly").
func (s *Sandbox) notifyLocked(u *user, e *event, sendUpdates, kind string) {
	if sendUpdates != "all" && sendUpdates != "externalOnly" {
		return
	}
	att, _ := e.body["attendees"].([]any)
	orgEmail, _ := e.organizer["email"].(string)
	for _, a := range att {
		am, _ := a.(map[string]any)
		email, _ := am["email"].(string)
		if email == "" || strings.EqualFold(email, orgEmail) || strings.EqualFold(email, u.email) {
			continue
		}
		if sendUpdates == "externalOnly" && strings.HasSuffix(strings.ToLower(email), "@"+s.domain) {
			continue
		}
		s.invites = append(s.invites, Invitation{Organizer: u.email, EventID: e.id, ICalUID: e.iCalUID, To: strings.ToLower(email), Kind: kind})
		s.sent.Add(1)
	}
}

func (s *Sandbox) eventDelete(c *call, u *user, calID, id string) {
	sendUpdates := c.q.Get("sendUpdates")
	if sendUpdates == "" && c.boolParam("sendNotifications") {
		sendUpdates = "all"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cal := u.cal.lookup(calID)
	if cal == nil {
		calNotFound(c.w)
		return
	}
	e := cal.findEvent(id)
	if e == nil {
		calNotFound(c.w)
		return
	}
	if e.status == "cancelled" {
		writeErr(c.w, apiErr{code: http.StatusGone, reason: "deleted", msg: "Resource has been deleted"})
		return
	}
	now := time.Now().UTC()
	if cal.events[e.id] == nil { // deleting one occurrence leaves a cancelled exception
		cal.add(e)
	}
	e.status = "cancelled"
	cal.touch(e, now)
	for _, ex := range cal.order {
		if ex.recurringEventID == e.id && ex.status != "cancelled" {
			ex.status = "cancelled"
			cal.touch(ex, now)
		}
	}
	s.notifyLocked(u, e, sendUpdates, "cancellation")
	c.noContent()
}
