package graph

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// calStore is a mailbox's calendars and their events. Series masters and
// single instances are stored; occurrences are computed from the master,
// exceptions are stored on it, keyed by their original start.
type calStore struct {
	cals   map[string]*calendar
	order  []*calendar
	def    *calendar
	events map[string]*event // masters and single instances, by id
	tombs  []evTomb
}

type calendar struct {
	id, name, color, changeKey string
	isDefault                  bool
}

// evTomb remembers an event as it was before it was deleted or its
// series changed shape, so that delta can report the instances that went.
type evTomb struct {
	snap *event
	seq  int64
}

type emailAddr struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

type attendee struct {
	Type     string    `json:"type"`
	Response string    `json:"response"`
	Time     time.Time `json:"time"`
	Email    emailAddr `json:"emailAddress"`
}

type event struct {
	id, calID, uid, changeKey string
	created, modified         time.Time
	seq                       int64
	txID                      string

	subject, bodyType, body string
	start, end              time.Time
	startTZ, endTZ          string
	allDay                  bool
	rec                     *recurrence
	attendees               []attendee
	organizer               emailAddr
	isOrganizer             bool
	response                string
	responseTime            time.Time
	reminderOn              bool
	reminderMinutes         int
	online                  bool
	onlineProvider          string
	joinURL                 string
	showAs, sensitivity     string
	importance              string
	categories              []string
	location                map[string]any
	locations               []map[string]any
	responseRequested       bool
	allowNewTimeProposals   bool
	hideAttendees           bool
	cancelled               bool // isCancelled: the organizer cancelled it (seen on attendee copies)
	props                   []extProp

	// Series masters only.
	exceptions map[int64]*event // by original start (Unix seconds)
	deleted    map[int64]int64  // occurrences deleted by the organizer: original start -> seq

	// Exceptions only.
	master   *event
	original time.Time
}

// Invitation is a meeting message the service would have sent: a request,
// an update or a cancellation from an organizer's mailbox.
type Invitation struct {
	Mailbox    string   // the organizer's mailbox (user principal name)
	Kind       string   // "request", "update" or "cancellation"
	Subject    string   // the event's subject
	EventID    string   // the event (or occurrence) it is about
	Recipients []string // attendee addresses, as they would be addressed
}

// Invitations lists the meeting messages sent so far, oldest first; each
// also counts in SentMessages.
func (s *Sandbox) Invitations() []Invitation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Invitation, len(s.invites))
	for i, v := range s.invites {
		v.Recipients = slices.Clone(v.Recipients)
		out[i] = v
	}
	return out
}

// EventCount is the number of series masters and single instances in a
// user's calendars (0 when the user is unknown).
func (s *Sandbox) EventCount(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil || u.cal == nil {
		return 0
	}
	return len(u.cal.events)
}

func (s *Sandbox) inviteLocked(u *user, kind string, ev *event, id string, to []attendee) {
	if len(to) == 0 {
		return
	}
	inv := Invitation{Mailbox: u.upn, Kind: kind, Subject: ev.subject, EventID: id}
	for _, a := range to {
		inv.Recipients = append(inv.Recipients, a.Email.Address)
	}
	s.invites = append(s.invites, inv)
	s.sent.Add(1)
}

func (s *Sandbox) provisionCalendarLocked(u *user) {
	u.cal = &calStore{cals: map[string]*calendar{}, events: map[string]*event{}}
	c := &calendar{id: s.newIDLocked("calendar"), name: "Calendar", color: "auto", isDefault: true}
	c.changeKey = changeKey(s.nextSeqLocked())
	u.cal.cals[c.id] = c
	u.cal.order = append(u.cal.order, c)
	u.cal.def = c
}

// uidFor makes a PidLidGlobalObjectId-shaped iCalUId: Outlook's class id,
// four bytes for an instance date (zero for the series), a creation time
// and the event's own 16 bytes.
func uidFor(seed []byte) string {
	h := sha256.Sum256(seed)
	return "040000008200E00074C5B7101A82E008" + "00000000" + strings.ToUpper(hex.EncodeToString(h[:8])) +
		"0000000000000000" + "10000000" + strings.ToUpper(hex.EncodeToString(h[8:24]))
}

// occurrenceUID puts the occurrence date into bytes 16-19, as Exchange
// does, so each occurrence has its own iCalUId.
func occurrenceUID(uid string, orig time.Time) string {
	if len(uid) < 40 {
		return uid
	}
	d := fmt.Sprintf("%04X%02X%02X", orig.Year(), int(orig.Month()), orig.Day())
	return uid[:32] + d + uid[40:]
}

// occurrenceID names an occurrence by its master and original start;
// decoding it finds both again, as Exchange's occurrence ids do.
func occurrenceID(masterID string, orig time.Time) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(orig.Unix()))
	return base64.URLEncoding.EncodeToString(append(append([]byte{0x00, 0x00, 0x33, 0x00}, b[:]...), []byte(masterID)...))
}

func decodeOccurrenceID(id string) (string, int64, bool) {
	raw, err := base64.URLEncoding.DecodeString(id)
	if err != nil || len(raw) < 13 || raw[2] != 0x33 || raw[0] != 0 || raw[1] != 0 {
		return "", 0, false
	}
	return string(raw[12:]), int64(binary.BigEndian.Uint64(raw[4:12])), true
}

// occurrenceIDString is the occurrenceId form Graph uses in
// cancelledOccurrences: OID.<master id>.<date>.
func occurrenceIDString(masterID string, orig time.Time, loc *time.Location) string {
	return "OID." + masterID + "." + orig.In(loc).Format("2006-01-02")
}

// inst is one event as a client sees it: a single instance, a master, an
// occurrence (computed) or an exception (stored).
type inst struct {
	ev     *event // the stored event (master for an occurrence)
	occ    bool   // a computed occurrence of ev
	orig   time.Time
	id     string
	seq    int64
	start  time.Time
	end    time.Time
	master *event
}

func (e *event) kind() string {
	switch {
	case e.master != nil:
		return "exception"
	case e.rec != nil:
		return "seriesMaster"
	}
	return "singleInstance"
}

// instancesLocked expands a master into its occurrences and exceptions
// overlapping [from, to), without the deleted ones.
func instancesLocked(m *event, from, to time.Time) []inst {
	if m.rec == nil {
		if m.start.Before(to) && m.end.After(from) || m.start.Equal(from) {
			return []inst{{ev: m, id: m.id, seq: m.seq, start: m.start, end: m.end}}
		}
		return nil
	}
	dur := m.end.Sub(m.start)
	var out []inst
	seen := map[int64]bool{}
	for _, o := range m.rec.expand(m.start, to) {
		k := o.Unix()
		seen[k] = true
		if _, gone := m.deleted[k]; gone {
			continue
		}
		if x := m.exceptions[k]; x != nil {
			if x.start.Before(to) && x.end.After(from) {
				out = append(out, inst{ev: x, id: x.id, seq: max(x.seq, m.seq), start: x.start, end: x.end, orig: o, master: m})
			}
			continue
		}
		if o.Add(dur).After(from) || o.Equal(from) {
			out = append(out, inst{ev: m, occ: true, orig: o, id: occurrenceID(m.id, o), seq: m.seq, start: o, end: o.Add(dur), master: m})
		}
	}
	// Exceptions moved into the window from an original start after it.
	for k, x := range m.exceptions {
		if seen[k] {
			continue
		}
		if _, gone := m.deleted[k]; gone {
			continue
		}
		if x.start.Before(to) && x.end.After(from) && x.original.After(to) {
			out = append(out, inst{ev: x, id: x.id, seq: max(x.seq, m.seq), start: x.start, end: x.end, orig: x.original, master: m})
		}
	}
	return out
}

// isOccurrence says whether orig is an original start of the series.
func isOccurrence(m *event, orig time.Time) bool {
	if m.rec == nil {
		return false
	}
	return slices.ContainsFunc(m.rec.expand(m.start, orig.Add(time.Second)), func(t time.Time) bool { return t.Equal(orig) })
}

// findEventLocked resolves an event id: a master or single instance, an
// exception or a computed occurrence.
func findEventLocked(u *user, id string) (inst, bool) {
	if e := u.cal.events[id]; e != nil {
		return inst{ev: e, id: e.id, seq: e.seq, start: e.start, end: e.end}, true
	}
	mid, unix, ok := decodeOccurrenceID(id)
	if !ok {
		return inst{}, false
	}
	m := u.cal.events[mid]
	if m == nil || m.rec == nil {
		return inst{}, false
	}
	orig := time.Unix(unix, 0).UTC()
	if _, gone := m.deleted[unix]; gone {
		return inst{}, false
	}
	if x := m.exceptions[unix]; x != nil {
		return inst{ev: x, id: x.id, seq: max(x.seq, m.seq), start: x.start, end: x.end, orig: orig, master: m}, true
	}
	if !isOccurrence(m, orig) {
		return inst{}, false
	}
	dur := m.end.Sub(m.start)
	return inst{ev: m, occ: true, orig: orig, id: id, seq: m.seq, start: orig, end: orig.Add(dur), master: m}, true
}

var eventProps = lowerSet("id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "transactionId",
	"originalStartTimeZone", "originalEndTimeZone", "iCalUId", "reminderMinutesBeforeStart", "isReminderOn",
	"hasAttachments", "subject", "bodyPreview", "importance", "sensitivity", "isAllDay", "isCancelled", "isOrganizer",
	"responseRequested", "seriesMasterId", "showAs", "type", "webLink", "onlineMeetingUrl", "isOnlineMeeting",
	"onlineMeetingProvider", "allowNewTimeProposals", "isDraft", "hideAttendees", "recurrence", "responseStatus", "body",
	"start", "end", "location", "locations", "attendees", "organizer", "onlineMeeting", "originalStart",
	"cancelledOccurrences", "exceptionOccurrences")

// dtz renders an instant as dateTimeTimeZone in the zone the client
// preferred (UTC by default, as Graph does).
func dtz(t time.Time, zone string, loc *time.Location) map[string]any {
	return map[string]any{"dateTime": t.In(loc).Format(graphLocal), "timeZone": zone}
}

// preferredZone reads Prefer: outlook.timezone="...".
func preferredZone(r *http.Request) (string, *time.Location) {
	for _, h := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(h, ",") {
			part = strings.TrimSpace(part)
			if v, ok := strings.CutPrefix(strings.ToLower(part), "outlook.timezone="); ok {
				name := strings.Trim(part[len(part)-len(v):], `"`)
				if loc, ok := zoneOf(name); ok {
					return name, loc
				}
			}
		}
	}
	return "UTC", time.UTC
}

func attendeesJSON(l []attendee) []map[string]any {
	out := []map[string]any{}
	for _, a := range l {
		out = append(out, map[string]any{"type": a.Type,
			"status":       map[string]any{"response": a.Response, "time": gtimeZero(a.Time)},
			"emailAddress": map[string]any{"name": a.Email.Name, "address": a.Email.Address}})
	}
	return out
}

func gtimeZero(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return gtime(t)
}

func preview(s, typ string) string {
	if strings.EqualFold(typ, "html") {
		s = htmlToText(s)
	}
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 255 {
		s = string(r[:255])
	}
	return s
}

// eventJSONLocked renders one instance as Graph does; sel nil means all
// default properties.
func (s *Sandbox) eventJSONLocked(u *user, in inst, sel []string, exp *expandOpt, zone string, loc *time.Location) map[string]any {
	e := in.ev
	typ := e.kind()
	if in.occ {
		typ = "occurrence"
	}
	uid := e.uid
	if in.master != nil {
		uid = occurrenceUID(in.master.uid, in.orig)
	}
	loc0 := e.location
	if loc0 == nil {
		loc0 = map[string]any{"displayName": "", "locationType": "default", "uniqueIdType": "unknown", "address": map[string]any{}, "coordinates": map[string]any{}}
	}
	locs := e.locations
	if locs == nil {
		locs = []map[string]any{}
	}
	j := map[string]any{
		"@odata.etag": `W/"` + e.changeKey + `"`, "id": in.id,
		"createdDateTime": gtime(e.created), "lastModifiedDateTime": gtime(e.modified), "changeKey": e.changeKey,
		"categories": nonNil(e.categories), "transactionId": nilIfEmpty(e.txID),
		"originalStartTimeZone": e.startTZ, "originalEndTimeZone": e.endTZ, "iCalUId": uid,
		"reminderMinutesBeforeStart": e.reminderMinutes, "isReminderOn": e.reminderOn, "hasAttachments": false,
		"subject": e.subject, "bodyPreview": preview(e.body, e.bodyType), "importance": e.importance,
		"sensitivity": e.sensitivity, "isAllDay": e.allDay, "isCancelled": e.cancelled, "isOrganizer": e.isOrganizer,
		"responseRequested": e.responseRequested, "seriesMasterId": nil, "showAs": e.showAs, "type": typ,
		"webLink":          "https://outlook.office365.com/owa/?itemid=" + in.id + "&exvsurl=1&path=/calendar/item",
		"onlineMeetingUrl": nil, "isOnlineMeeting": e.online, "onlineMeetingProvider": e.onlineProvider,
		"allowNewTimeProposals": e.allowNewTimeProposals, "isDraft": false, "hideAttendees": e.hideAttendees,
		"recurrence": nil, "onlineMeeting": nil,
		"responseStatus": map[string]any{"response": e.response, "time": gtimeZero(e.responseTime)},
		"body":           map[string]any{"contentType": e.bodyType, "content": e.body},
		"start":          dtz(in.start, zone, loc), "end": dtz(in.end, zone, loc),
		"location": loc0, "locations": locs, "attendees": attendeesJSON(e.attendees),
		"organizer": map[string]any{"emailAddress": map[string]any{"name": e.organizer.Name, "address": e.organizer.Address}},
	}
	if e.online && e.joinURL != "" {
		j["onlineMeeting"] = map[string]any{"joinUrl": e.joinURL}
	}
	if in.master != nil {
		j["seriesMasterId"] = in.master.id
		j["originalStart"] = gtime(in.orig)
	}
	if e.rec != nil && !in.occ {
		j["recurrence"] = e.rec
	}
	if sel == nil {
		delete(j, "cancelledOccurrences")
	} else {
		if typ == "seriesMaster" && slices.ContainsFunc(sel, func(x string) bool { return strings.EqualFold(x, "cancelledOccurrences") }) {
			rl, _ := zoneOf(e.rec.Range.RecurrenceTimeZone)
			c := []string{}
			for k := range e.deleted {
				c = append(c, occurrenceIDString(e.id, time.Unix(k, 0).UTC(), rl))
			}
			slices.Sort(c)
			j["cancelledOccurrences"] = c
		}
		if typ == "seriesMaster" && slices.ContainsFunc(sel, func(x string) bool { return strings.EqualFold(x, "exceptionOccurrences") }) {
			xs := []map[string]any{}
			for _, k := range sortedKeys(e.exceptions) {
				x := e.exceptions[k]
				xs = append(xs, s.eventJSONLocked(u, inst{ev: x, id: x.id, start: x.start, end: x.end, orig: x.original, master: e}, nil, nil, zone, loc))
			}
			j["exceptionOccurrences"] = xs
		}
		j = project(j, sel)
	}
	if exp != nil && exp.props {
		var props []map[string]any
		for _, p := range e.props {
			if exp.propIDs == nil || slices.ContainsFunc(exp.propIDs, func(id string) bool { return sameProp(id, p.ID) }) {
				props = append(props, map[string]any{"id": p.ID, "value": p.Value})
			}
		}
		if props != nil {
			j["singleValueExtendedProperties"] = props
		}
	}
	return j
}

func sameProp(a, b string) bool {
	return a == b || canonProp(a) != "" && canonProp(a) == canonProp(b)
}

func sortedKeys[V any](m map[int64]V) []int64 {
	ks := make([]int64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// propsGetter lets $filter see singleValueExtendedProperties of an item
// and its rendered properties.
func propsGetter(full map[string]any, props []extProp) getter {
	return func(path []string) any {
		if len(path) > 0 && strings.EqualFold(path[0], "singleValueExtendedProperties") {
			var out []any
			for _, p := range props {
				out = append(out, map[string]any{"id": p.ID, "value": p.Value})
			}
			return out
		}
		v := mapGetter(full)(path)
		if c, ok := v.([]string); ok {
			out := make([]any, len(c))
			for i, x := range c {
				out[i] = x
			}
			return out
		}
		return v
	}
}

// routeCalendar serves calendars, events, calendarView and their delta.
func (s *Sandbox) routeCalendar(c *call, u *user, rest []string) {
	area := strings.ToLower(rest[0])
	s.mu.Lock()
	cs := u.cal
	var cal *calendar
	tail := rest
	switch area {
	case "calendars":
		if len(rest) == 1 {
			s.mu.Unlock()
			s.calendars(c, u)
			return
		}
		cal = cs.cals[rest[1]]
		tail = rest[2:]
	case "calendar":
		cal, tail = cs.def, rest[1:]
	default: // events, calendarView: the default calendar
		cal = cs.def
	}
	s.mu.Unlock()
	if cal == nil {
		notFoundItem(c.w)
		return
	}
	switch {
	case len(tail) == 0:
		s.calendarItself(c, u, cal)
	case strings.EqualFold(tail[0], "events") && len(tail) == 1:
		switch c.r.Method {
		case http.MethodGet:
			s.listEvents(c, u, cal)
		case http.MethodPost:
			s.createEvent(c, u, cal)
		default:
			badRequest(c.w, "BadRequest", "Unsupported method.")
		}
	case strings.EqualFold(tail[0], "events") && strings.EqualFold(tail[1], "delta"):
		badRequest(c.w, "BadRequest", "Change tracking on events is supported through calendarView/delta with startDateTime and endDateTime.")
	case strings.EqualFold(tail[0], "events"):
		s.eventItem(c, u, tail[1], tail[2:])
	case strings.EqualFold(tail[0], "calendarView") && len(tail) == 1:
		s.calendarView(c, u, cal)
	case strings.EqualFold(tail[0], "calendarView") && len(tail) == 2 && strings.EqualFold(tail[1], "delta"):
		s.calendarDelta(c, u, cal)
	default:
		badRequest(c.w, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", tail[0]))
	}
}

var calendarProps = lowerSet("id", "name", "color", "hexColor", "isDefaultCalendar", "changeKey", "canShare", "canViewPrivateItems",
	"canEdit", "allowedOnlineMeetingProviders", "defaultOnlineMeetingProvider", "isTallyingResponses", "isRemovable", "owner")

func (s *Sandbox) calendarJSONLocked(u *user, cal *calendar, sel []string) map[string]any {
	j := map[string]any{
		"id": cal.id, "name": cal.name, "color": cal.color, "hexColor": "", "isDefaultCalendar": cal.isDefault,
		"changeKey": cal.changeKey, "canShare": true, "canViewPrivateItems": true, "canEdit": true,
		"allowedOnlineMeetingProviders": []string{"teamsForBusiness"}, "defaultOnlineMeetingProvider": "teamsForBusiness",
		"isTallyingResponses": true, "isRemovable": !cal.isDefault,
		"owner": map[string]any{"name": u.displayName, "address": u.upn},
	}
	return project(j, sel)
}

func (s *Sandbox) calendars(c *call, u *user) {
	switch c.r.Method {
	case http.MethodGet:
		sel := selectOf(c.q)
		if !checkSelect(c.w, sel, calendarProps, "calendar") {
			return
		}
		skip, top, ok := pageParams(c)
		if !ok {
			return
		}
		servePage(s, c, s.baseURL+"/v1.0/$metadata#users('"+u.id+"')/calendars", skip, top,
			func() []*calendar { return u.cal.order },
			func(cal *calendar) map[string]any { return s.calendarJSONLocked(u, cal, sel) }, rendered)
	case http.MethodPost:
		var in struct {
			Name  string `json:"name"`
			Color string `json:"color"`
		}
		if err := decodeJSON(c.body, &in); err != nil || strings.TrimSpace(in.Name) == "" {
			badRequest(c.w, "ErrorInvalidRequest", "The name of a calendar is required.")
			return
		}
		s.mu.Lock()
		for _, x := range u.cal.order {
			if strings.EqualFold(x.name, in.Name) {
				s.mu.Unlock()
				graphError(c.w, http.StatusConflict, "ErrorFolderExists", "A folder with the specified name already exists.")
				return
			}
		}
		cal := &calendar{id: s.newIDLocked("calendar"), name: in.Name, color: in.Color, changeKey: changeKey(s.nextSeqLocked())}
		if cal.color == "" {
			cal.color = "auto"
		}
		u.cal.cals[cal.id] = cal
		u.cal.order = append(u.cal.order, cal)
		j := s.calendarJSONLocked(u, cal, nil)
		s.mu.Unlock()
		j["@odata.context"] = s.baseURL + "/v1.0/$metadata#users('" + u.id + "')/calendars/$entity"
		graphJSON(c.w, http.StatusCreated, j)
	default:
		badRequest(c.w, "BadRequest", "Unsupported method.")
	}
}

func (s *Sandbox) calendarItself(c *call, u *user, cal *calendar) {
	switch c.r.Method {
	case http.MethodGet:
		sel := selectOf(c.q)
		if !checkSelect(c.w, sel, calendarProps, "calendar") {
			return
		}
		s.serveEntity(c, s.baseURL+"/v1.0/$metadata#users('"+u.id+"')/calendars/$entity", func() map[string]any { return s.calendarJSONLocked(u, cal, sel) })
	case http.MethodPatch:
		var in struct {
			Name  *string `json:"name"`
			Color *string `json:"color"`
		}
		if err := decodeJSON(c.body, &in); err != nil {
			badRequest(c.w, "ErrorInvalidRequest", "Invalid request body.")
			return
		}
		s.mu.Lock()
		if in.Name != nil && *in.Name != "" && !cal.isDefault {
			cal.name = *in.Name
		}
		if in.Color != nil {
			cal.color = *in.Color
		}
		cal.changeKey = changeKey(s.nextSeqLocked())
		j := s.calendarJSONLocked(u, cal, nil)
		s.mu.Unlock()
		graphJSON(c.w, http.StatusOK, j)
	case http.MethodDelete:
		s.mu.Lock()
		if cal.isDefault {
			s.mu.Unlock()
			graphError(c.w, http.StatusBadRequest, "ErrorInvalidRequest", "The default calendar cannot be deleted.")
			return
		}
		for id, e := range u.cal.events {
			if e.calID == cal.id {
				s.dropEventLocked(u, e)
				delete(u.cal.events, id)
			}
		}
		delete(u.cal.cals, cal.id)
		u.cal.order = slices.DeleteFunc(u.cal.order, func(x *calendar) bool { return x == cal })
		s.mu.Unlock()
		c.w.WriteHeader(http.StatusNoContent)
	default:
		badRequest(c.w, "BadRequest", "Unsupported method.")
	}
}

func (s *Sandbox) dropEventLocked(u *user, e *event) {
	cp := *e
	u.cal.tombs = append(u.cal.tombs, evTomb{snap: &cp, seq: s.nextSeqLocked()})
}

func (s *Sandbox) listEvents(c *call, u *user, cal *calendar) {
	lq, ok := parseListQuery(c, eventProps, "event", false)
	if !ok {
		return
	}
	sel, exp, top, skip, flt := lq.sel, lq.exp, lq.top, lq.skip, lq.flt
	zone, loc := preferredZone(c.r)
	whole := func(e *event) inst { return inst{ev: e, id: e.id, seq: e.seq, start: e.start, end: e.end} }
	servePage(s, c, s.baseURL+"/v1.0/$metadata#users('"+u.id+"')/events", skip, top, func() []*event {
		var all []*event
		for _, e := range u.cal.events {
			if e.calID == cal.id && (flt == nil || flt.match(propsGetter(s.eventJSONLocked(u, whole(e), nil, nil, "UTC", time.UTC), e.props))) {
				all = append(all, e)
			}
		}
		newestFirst(all, func(e *event) (time.Time, string) { return e.created, e.id })
		return all
	}, func(e *event) map[string]any { return s.eventJSONLocked(u, whole(e), sel, exp, zone, loc) }, rendered)
}

// window reads startDateTime and endDateTime, which calendarView,
// instances and their delta require.
func window(c *call) (time.Time, time.Time, bool) {
	var st, en string
	for k, v := range c.q {
		switch strings.ToLower(k) {
		case "startdatetime":
			st = v[0]
		case "enddatetime":
			en = v[0]
		}
	}
	from, ok1 := parseLocal(st, time.UTC)
	to, ok2 := parseLocal(en, time.UTC)
	if st == "" || en == "" || !ok1 || !ok2 {
		badRequest(c.w, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
		return from, to, false
	}
	return from.UTC(), to.UTC(), true
}

func sortInsts(l []inst) {
	slices.SortFunc(l, func(a, b inst) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
}

func (s *Sandbox) calendarView(c *call, u *user, cal *calendar) {
	if c.r.Method != http.MethodGet {
		badRequest(c.w, "BadRequest", "Unsupported method.")
		return
	}
	from, to, ok := window(c)
	if !ok {
		return
	}
	s.serveInstances(c, u, func() []inst {
		var all []inst
		for _, e := range u.cal.events {
			if e.calID == cal.id {
				all = append(all, instancesLocked(e, from, to)...)
			}
		}
		return all
	})
}

// serveInstances answers one page of the instances list returns (with
// s.mu held), in time order: calendarView and a series' instances.
func (s *Sandbox) serveInstances(c *call, u *user, list func() []inst) {
	sel := selectOf(c.q)
	if !checkSelect(c.w, sel, eventProps, "event") {
		return
	}
	skip, top, ok := pageParams(c)
	if !ok {
		return
	}
	zone, loc := preferredZone(c.r)
	servePage(s, c, s.baseURL+"/v1.0/$metadata#Collection(event)", skip, top, func() []inst {
		all := list()
		sortInsts(all)
		return all
	}, func(in inst) map[string]any { return s.eventJSONLocked(u, in, sel, nil, zone, loc) }, rendered)
}

func (s *Sandbox) eventItem(c *call, u *user, id string, tail []string) {
	s.mu.Lock()
	in, ok := findEventLocked(u, id)
	s.mu.Unlock()
	if !ok {
		notFoundItem(c.w)
		return
	}
	if len(tail) == 0 {
		switch c.r.Method {
		case http.MethodGet:
			sel := selectOf(c.q)
			if !checkSelect(c.w, sel, eventProps, "event") {
				return
			}
			exp, err := parseExpand(c.q.Get("$expand"))
			if err != nil || exp != nil && exp.attachments {
				badRequest(c.w, "BadRequest", "Parsing OData Select and Expand failed.")
				return
			}
			zone, loc := preferredZone(c.r)
			s.mu.Lock()
			j := s.eventJSONLocked(u, in, sel, exp, zone, loc)
			s.mu.Unlock()
			j["@odata.context"] = s.baseURL + "/v1.0/$metadata#users('" + u.id + "')/events/$entity"
			graphJSON(c.w, http.StatusOK, j)
		case http.MethodPatch:
			s.patchEvent(c, u, in)
		case http.MethodDelete:
			s.mu.Lock()
			s.deleteInstLocked(u, in, "")
			s.mu.Unlock()
			c.w.WriteHeader(http.StatusNoContent)
		default:
			badRequest(c.w, "BadRequest", "Unsupported method.")
		}
		return
	}
	switch op := strings.ToLower(tail[0]); {
	case op == "permanentdelete" && len(tail) == 1 && c.r.Method == http.MethodPost:
		// Deletes as DELETE does (an organizer's meeting still sends its
		// cancellation), leaving nothing in Deleted Items.
		s.mu.Lock()
		s.deleteInstLocked(u, in, "")
		s.mu.Unlock()
		c.w.WriteHeader(http.StatusNoContent)
	case op == "instances" && len(tail) == 1 && c.r.Method == http.MethodGet:
		from, to, ok := window(c)
		if !ok {
			return
		}
		s.serveInstances(c, u, func() []inst {
			if in.ev.rec != nil && !in.occ && in.master == nil {
				return instancesLocked(in.ev, from, to)
			}
			return nil
		})
	case op == "cancel" && len(tail) == 1 && c.r.Method == http.MethodPost:
		var body struct {
			Comment string `json:"comment"`
		}
		if len(c.body) > 0 {
			if err := decodeJSON(c.body, &body); err != nil {
				badRequest(c.w, "ErrorInvalidRequest", "Invalid request body.")
				return
			}
		}
		s.mu.Lock()
		if !in.ev.isOrganizer {
			s.mu.Unlock()
			badRequest(c.w, "ErrorInvalidRequest", "Your request can't be completed. You need to be an organizer to cancel a meeting.")
			return
		}
		s.deleteInstLocked(u, in, "cancel")
		s.mu.Unlock()
		c.w.WriteHeader(http.StatusAccepted)
	default:
		badRequest(c.w, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", tail[0]))
	}
}

// deleteInstLocked deletes an event or cancels one occurrence of a
// series. The organizer's delete of a meeting sends a cancellation, as
// the delete documentation says; cancel always does (it is the
// organizer's action and is refused to attendees before this).
func (s *Sandbox) deleteInstLocked(u *user, in inst, how string) {
	e := in.ev
	notify := e.isOrganizer && len(e.attendees) > 0
	if in.master != nil {
		m := in.master
		if m.deleted == nil {
			m.deleted = map[int64]int64{}
		}
		k := in.orig.Unix()
		seq := s.nextSeqLocked()
		m.deleted[k] = seq
		delete(m.exceptions, k)
		u.cal.tombs = append(u.cal.tombs, evTomb{snap: &event{id: in.id, start: in.start, end: in.end, calID: m.calID}, seq: seq})
		if notify {
			s.inviteLocked(u, "cancellation", e, in.id, e.attendees)
		}
		return
	}
	s.dropEventLocked(u, e)
	delete(u.cal.events, e.id)
	if notify {
		s.inviteLocked(u, "cancellation", e, e.id, e.attendees)
	}
}

// eventIn is the JSON of a create or update; nil fields were absent.
type eventIn struct {
	Subject *string `json:"subject"`
	Body    *struct {
		ContentType string `json:"contentType"`
		Content     string `json:"content"`
	} `json:"body"`
	Start                      *dateTimeTZ       `json:"start"`
	End                        *dateTimeTZ       `json:"end"`
	IsAllDay                   *bool             `json:"isAllDay"`
	Recurrence                 json.RawMessage   `json:"recurrence"`
	Attendees                  *[]attendeeIn     `json:"attendees"`
	Organizer                  *recipIn          `json:"organizer"`
	IsReminderOn               *bool             `json:"isReminderOn"`
	ReminderMinutesBeforeStart *int              `json:"reminderMinutesBeforeStart"`
	IsOnlineMeeting            *bool             `json:"isOnlineMeeting"`
	OnlineMeetingProvider      *string           `json:"onlineMeetingProvider"`
	ShowAs                     *string           `json:"showAs"`
	Sensitivity                *string           `json:"sensitivity"`
	Importance                 *string           `json:"importance"`
	Categories                 *[]string         `json:"categories"`
	Location                   map[string]any    `json:"location"`
	Locations                  *[]map[string]any `json:"locations"`
	ResponseRequested          *bool             `json:"responseRequested"`
	AllowNewTimeProposals      *bool             `json:"allowNewTimeProposals"`
	HideAttendees              *bool             `json:"hideAttendees"`
	TransactionID              *string           `json:"transactionId"`
	SingleValueExtendedProps   []extProp         `json:"singleValueExtendedProperties"`
}

type dateTimeTZ struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

type attendeeIn struct {
	Type   string `json:"type"`
	Status *struct {
		Response string `json:"response"`
		Time     string `json:"time"`
	} `json:"status"`
	EmailAddress emailAddr `json:"emailAddress"`
}

var responses = []string{"none", "organizer", "tentativelyAccepted", "accepted", "declined", "notResponded"}

// apply copies a create or update onto e; it answers Graph's error code
// and message, or "" when all is well. meeting says whether a field that
// attendees are told about changed.
func (in *eventIn) apply(e *event, creating bool) (code, msg string, meeting bool) {
	if in.Subject != nil && *in.Subject != e.subject {
		e.subject, meeting = *in.Subject, true
	}
	if in.Body != nil {
		typ := strings.ToLower(in.Body.ContentType)
		if typ != "html" {
			typ = "text"
		}
		if typ != e.bodyType || in.Body.Content != e.body {
			meeting = true
		}
		e.bodyType, e.body = typ, in.Body.Content
	}
	for _, x := range []struct {
		v    *dateTimeTZ
		t    *time.Time
		zone *string
	}{{in.Start, &e.start, &e.startTZ}, {in.End, &e.end, &e.endTZ}} {
		if x.v == nil {
			continue
		}
		zone := x.v.TimeZone
		if zone == "" {
			zone = "UTC"
		}
		loc, ok := zoneOf(zone)
		if !ok {
			return "TimeZoneNotSupportedException", fmt.Sprintf("A valid TimeZone value must be specified. The following TimeZone value is not supported: '%s'.", x.v.TimeZone), false
		}
		t, ok := parseLocal(x.v.DateTime, loc)
		if !ok {
			return "ErrorInvalidRequest", fmt.Sprintf("Cannot convert the literal '%s' to the expected type 'Edm.DateTime'.", x.v.DateTime), false
		}
		if !t.Equal(*x.t) {
			meeting = true
		}
		*x.t, *x.zone = t.UTC(), zone
	}
	if creating && (in.Start == nil || in.End == nil) {
		return "ErrorInvalidRequest", "The start and end of an event are required.", false
	}
	if e.end.Before(e.start) {
		return "ErrorInvalidRequest", "The end of an event must not be before its start.", false
	}
	if in.IsAllDay != nil {
		if *in.IsAllDay != e.allDay {
			meeting = true
		}
		e.allDay = *in.IsAllDay
	}
	if e.allDay {
		sl, _ := zoneOf(e.startTZ)
		el, _ := zoneOf(e.endTZ)
		ls, le := e.start.In(sl), e.end.In(el)
		if ls.Hour()|ls.Minute()|ls.Second() != 0 || le.Hour()|le.Minute()|le.Second() != 0 || !e.end.After(e.start) {
			return "ErrorPropertyValidationFailure", "At least one property failed validation.", false
		}
	}
	if len(in.Recurrence) > 0 {
		meeting = true
		if string(in.Recurrence) == "null" {
			e.rec = nil
		} else {
			var r recurrence
			if err := decodeJSON(in.Recurrence, &r); err != nil {
				return "RequestBodyRead", "Invalid recurrence in the request body.", false
			}
			if m := r.normalise(e.startTZ); m != "" {
				return "ErrorPropertyValidationFailure", m, false
			}
			e.rec = &r
		}
	}
	if in.Attendees != nil {
		var l []attendee
		for _, a := range *in.Attendees {
			t := canonEnum(a.Type, "required", "optional", "resource")
			if a.Type == "" {
				t = "required"
			}
			if t == "" {
				return "RequestBodyRead", fmt.Sprintf("Requested value '%s' was not found.", a.Type), false
			}
			if a.EmailAddress.Address == "" {
				return "ErrorInvalidRecipients", "At least one recipient isn't valid.", false
			}
			at := attendee{Type: t, Response: "none", Email: a.EmailAddress}
			if a.Status != nil {
				if at.Response = canonEnum(a.Status.Response, responses...); at.Response == "" {
					at.Response = "none"
				}
				if tm, err := time.Parse(time.RFC3339Nano, a.Status.Time); err == nil && tm.Year() > 1 {
					at.Time = tm.UTC()
				}
			}
			l = append(l, at)
		}
		if len(l) > 500 {
			return "ErrorInvalidRequest", "An event can have at most 500 attendees.", false
		}
		if !sameAttendees(e.attendees, l) {
			meeting = true
		}
		e.attendees = l
	}
	if in.IsReminderOn != nil {
		e.reminderOn = *in.IsReminderOn
	}
	if in.ReminderMinutesBeforeStart != nil {
		e.reminderMinutes = *in.ReminderMinutesBeforeStart
	}
	if in.IsOnlineMeeting != nil {
		if *in.IsOnlineMeeting != e.online {
			meeting = true
		}
		e.online = *in.IsOnlineMeeting
	}
	if in.OnlineMeetingProvider != nil {
		p := canonEnum(*in.OnlineMeetingProvider, "unknown", "teamsForBusiness", "skypeForBusiness", "skypeForConsumer")
		if p == "" {
			return "RequestBodyRead", fmt.Sprintf("Requested value '%s' was not found.", *in.OnlineMeetingProvider), false
		}
		e.onlineProvider = p
	}
	for _, x := range []struct {
		v       *string
		dst     *string
		allowed []string
	}{{in.ShowAs, &e.showAs, []string{"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"}},
		{in.Sensitivity, &e.sensitivity, []string{"normal", "personal", "private", "confidential"}},
		{in.Importance, &e.importance, []string{"low", "normal", "high"}}} {
		if x.v == nil {
			continue
		}
		v := canonEnum(*x.v, x.allowed...)
		if v == "" {
			return "RequestBodyRead", fmt.Sprintf("Requested value '%s' was not found.", *x.v), false
		}
		*x.dst = v
	}
	if in.Categories != nil {
		e.categories = slices.Clone(*in.Categories)
	}
	if in.Location != nil {
		l := normLocation(in.Location)
		if fmt.Sprint(l["displayName"]) != fmt.Sprint(e.location["displayName"]) {
			meeting = true
		}
		e.location = l
		e.locations = nil
		if l["displayName"] != "" {
			e.locations = []map[string]any{l}
		}
	}
	if in.Locations != nil {
		e.locations = nil
		for _, l := range *in.Locations {
			e.locations = append(e.locations, normLocation(l))
		}
		if len(e.locations) > 0 && in.Location == nil {
			e.location = e.locations[0]
		}
		meeting = true
	}
	if in.ResponseRequested != nil {
		e.responseRequested = *in.ResponseRequested
	}
	if in.AllowNewTimeProposals != nil {
		e.allowNewTimeProposals = *in.AllowNewTimeProposals
	}
	if in.HideAttendees != nil {
		e.hideAttendees = *in.HideAttendees
	}
	for _, p := range in.SingleValueExtendedProps {
		if canonProp(p.ID) == "" {
			return "ErrorInvalidExtendedPropertyValue", fmt.Sprintf("The extended property id '%s' is not valid.", p.ID), false
		}
		setEventProp(e, p)
	}
	return "", "", meeting
}

func normLocation(l map[string]any) map[string]any {
	out := map[string]any{"displayName": "", "locationType": "default", "uniqueIdType": "unknown", "address": map[string]any{}, "coordinates": map[string]any{}}
	for k, v := range l {
		if !strings.HasPrefix(k, "@") {
			out[k] = v
		}
	}
	if out["displayName"] != "" && out["uniqueId"] == nil {
		out["uniqueId"] = out["displayName"]
		out["uniqueIdType"] = "private"
	}
	return out
}

func sameAttendees(a, b []attendee) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i].Email.Address, b[i].Email.Address) || a[i].Type != b[i].Type {
			return false
		}
	}
	return true
}

func setEventProp(e *event, p extProp) {
	for i := range e.props {
		if sameProp(e.props[i].ID, p.ID) {
			e.props[i].Value = p.Value
			return
		}
	}
	e.props = append(e.props, p)
}

func (s *Sandbox) newEventLocked(u *user, cal *calendar) *event {
	now := time.Now().UTC()
	e := &event{id: s.newIDLocked("event"), calID: cal.id, created: now, modified: now, bodyType: "html",
		startTZ: "UTC", endTZ: "UTC", organizer: emailAddr{Name: u.displayName, Address: u.upn}, isOrganizer: true,
		response: "organizer", reminderOn: true, reminderMinutes: 15, onlineProvider: "unknown", showAs: "busy",
		sensitivity: "normal", importance: "normal", responseRequested: true, allowNewTimeProposals: true}
	e.uid = uidFor([]byte(s.tenantID + "|" + e.id))
	return e
}

func (s *Sandbox) touchEventLocked(e *event) {
	e.seq = s.nextSeqLocked()
	e.changeKey = changeKey(e.seq)
	e.modified = time.Now().UTC()
}

// createEvent creates an event in cal. Graph makes the mailbox owner the
// organizer of events it creates (an organizer in the body is not
// honoured), so an event created with attendees is a meeting the owner
// organises and the service sends the invitations.
func (s *Sandbox) createEvent(c *call, u *user, cal *calendar) {
	var in eventIn
	if err := decodeJSON(c.body, &in); err != nil {
		badRequest(c.w, "RequestBodyRead", "Invalid JSON in the request body.")
		return
	}
	zone, loc := preferredZone(c.r)
	s.mu.Lock()
	if in.TransactionID != nil && *in.TransactionID != "" {
		// A retried create with the same transactionId gives the event
		// created the first time, which is what transactionId is for.
		for _, e := range u.cal.events {
			if e.txID == *in.TransactionID {
				j := s.eventJSONLocked(u, inst{ev: e, id: e.id, start: e.start, end: e.end}, nil, nil, zone, loc)
				s.mu.Unlock()
				graphJSON(c.w, http.StatusCreated, j)
				return
			}
		}
	}
	e := s.newEventLocked(u, cal)
	if code, msg, _ := in.apply(e, true); code != "" {
		s.mu.Unlock()
		badRequest(c.w, code, msg)
		return
	}
	if in.TransactionID != nil {
		e.txID = *in.TransactionID
	}
	if e.online && e.onlineProvider == "teamsForBusiness" {
		e.joinURL = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_" + e.uid[len(e.uid)-32:] + "%40thread.v2/0"
	}
	s.touchEventLocked(e)
	u.cal.events[e.id] = e
	if len(e.attendees) > 0 {
		s.inviteLocked(u, "request", e, e.id, e.attendees)
	}
	j := s.eventJSONLocked(u, inst{ev: e, id: e.id, start: e.start, end: e.end}, nil, nil, zone, loc)
	s.mu.Unlock()
	j["@odata.context"] = s.baseURL + "/v1.0/$metadata#users('" + u.id + "')/events/$entity"
	graphJSON(c.w, http.StatusCreated, j)
}

// patchEvent updates an event. Patching an occurrence makes it an
// exception. An organizer's change that attendees are told about (time,
// recurrence, attendees, subject, body, location, online meeting) sends
// an update to the attendees; new attendees get the request and removed
// ones a cancellation.
func (s *Sandbox) patchEvent(c *call, u *user, in0 inst) {
	var in eventIn
	if err := decodeJSON(c.body, &in); err != nil {
		badRequest(c.w, "RequestBodyRead", "Invalid JSON in the request body.")
		return
	}
	zone, loc := preferredZone(c.r)
	s.mu.Lock()
	defer s.mu.Unlock()
	target := in0.ev
	var before event
	if in0.occ {
		if len(in.Recurrence) > 0 && string(in.Recurrence) != "null" {
			badRequest(c.w, "ErrorInvalidRequest", "An occurrence of a series cannot have its own recurrence.")
			return
		}
		m := in0.master
		x := *m
		x.id, x.rec, x.exceptions, x.deleted, x.master, x.original = in0.id, nil, nil, nil, m, in0.orig
		x.start, x.end = in0.start, in0.end
		x.attendees, x.categories, x.props = slices.Clone(m.attendees), slices.Clone(m.categories), slices.Clone(m.props)
		target = &x
	} else if target.master != nil && len(in.Recurrence) > 0 && string(in.Recurrence) != "null" {
		badRequest(c.w, "ErrorInvalidRequest", "An occurrence of a series cannot have its own recurrence.")
		return
	}
	before = *target
	before.attendees = slices.Clone(target.attendees)
	work := *target
	work.attendees, work.categories, work.props = slices.Clone(target.attendees), slices.Clone(target.categories), slices.Clone(target.props)
	code, msg, meeting := in.apply(&work, false)
	if code != "" {
		badRequest(c.w, code, msg)
		return
	}
	if work.rec != nil && (before.rec == nil || !sameRecurrence(before.rec, work.rec) || !before.start.Equal(work.start)) && target.master == nil && !in0.occ {
		// The series changed shape: its exceptions and cancellations go,
		// as Outlook drops them, and delta reports the old instances.
		u.cal.tombs = append(u.cal.tombs, evTomb{snap: &before, seq: s.nextSeqLocked()})
		work.exceptions, work.deleted = nil, nil
	}
	if work.rec == nil && before.rec != nil {
		u.cal.tombs = append(u.cal.tombs, evTomb{snap: &before, seq: s.nextSeqLocked()})
		work.exceptions, work.deleted = nil, nil
	}
	*target = work
	s.touchEventLocked(target)
	id := target.id
	if in0.occ || target.master != nil {
		m := in0.master
		if m.exceptions == nil {
			m.exceptions = map[int64]*event{}
		}
		m.exceptions[in0.orig.Unix()] = target
	}
	if target.isOrganizer && meeting {
		added, removed, kept := diffAttendees(before.attendees, target.attendees)
		s.inviteLocked(u, "request", target, id, added)
		s.inviteLocked(u, "cancellation", target, id, removed)
		if len(added) == 0 && len(removed) == 0 || meetingFieldsChanged(&before, target) {
			s.inviteLocked(u, "update", target, id, kept)
		}
	}
	j := s.eventJSONLocked(u, inst{ev: target, id: id, start: target.start, end: target.end, orig: in0.orig, master: in0.master}, nil, nil, zone, loc)
	graphJSON(c.w, http.StatusOK, j)
}

func sameRecurrence(a, b *recurrence) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func meetingFieldsChanged(a, b *event) bool {
	return a.subject != b.subject || a.body != b.body || !a.start.Equal(b.start) || !a.end.Equal(b.end) ||
		a.allDay != b.allDay || fmt.Sprint(a.location["displayName"]) != fmt.Sprint(b.location["displayName"]) ||
		a.online != b.online || (a.rec == nil) != (b.rec == nil) || a.rec != nil && b.rec != nil && !sameRecurrence(a.rec, b.rec)
}

func diffAttendees(before, after []attendee) (added, removed, kept []attendee) {
	has := func(l []attendee, a attendee) bool {
		return slices.ContainsFunc(l, func(x attendee) bool { return strings.EqualFold(x.Email.Address, a.Email.Address) })
	}
	for _, a := range after {
		if has(before, a) {
			kept = append(kept, a)
		} else {
			added = append(added, a)
		}
	}
	for _, a := range before {
		if !has(after, a) {
			removed = append(removed, a)
		}
	}
	return
}
