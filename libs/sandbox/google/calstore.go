package google

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/teambition/rrule-go"
	// Calendar accepts IANA zone names; the embedded database keeps the
	// sandbox independent of the host's zoneinfo.
	_ "time/tzdata"
)

type calStore struct {
	owner   *user
	cals    map[string]*calendar
	order   []*calendar
	primary *calendar
	n       uint64 // for ids
}

type calendar struct {
	id, summary, description, location, timeZone string
	primary                                      bool
	events                                       map[string]*event
	order                                        []*event
	seq                                          uint64 // change counter for sync tokens
	gen                                          int    // bumped to invalidate sync tokens
	updated                                      time.Time
}

// event is a stored event: the client's fields as sent (body) and what
// the server manages next to them.
type event struct {
	id               string
	body             map[string]any
	iCalUID          string
	status           string
	recurringEventID string
	origStart        map[string]any
	organizer        map[string]any
	creator          map[string]any
	sequence         int64
	seq              uint64
	created, updated time.Time

	start, end evTime
}

// evTime is a start or end: a date (all-day) or an instant with the zone
// the client named.
type evTime struct {
	t      time.Time
	allDay bool
	tz     string
}

func newCalStore(u *user, tz string) *calStore {
	cs := &calStore{owner: u, cals: map[string]*calendar{}}
	p := &calendar{id: u.email, summary: u.email, timeZone: tz, primary: true, events: map[string]*event{}, updated: u.created}
	cs.cals[p.id] = p
	cs.order = append(cs.order, p)
	cs.primary = p
	return cs
}

// lookup resolves a calendarId: "primary", the owner's address or a
// secondary calendar's id.
func (cs *calStore) lookup(id string) *calendar {
	if id == "primary" || strings.EqualFold(id, cs.owner.email) {
		return cs.primary
	}
	return cs.cals[id]
}

// newEventID makes an id in the alphabet Calendar uses (base32hex, lower
// case), derived from a counter so that seeded calendars are stable.
func (cs *calStore) newEventID(cal *calendar, salt string) string {
	cs.n++
	h := sha256.Sum256([]byte(cal.id + "|" + salt + "|" + strconv.FormatUint(cs.n, 10)))
	return strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:16]))
}

func validEventID(id string) bool {
	if len(id) < 5 || len(id) > 1024 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'v') {
			return false
		}
	}
	return true
}

func (cal *calendar) touch(e *event, now time.Time) {
	cal.seq++
	e.seq = cal.seq
	e.updated = now
	cal.updated = now
}

func (cal *calendar) add(e *event) {
	cal.events[e.id] = e
	cal.order = append(cal.order, e)
}

// byICalUID finds the event (not an exception) with an iCalUID.
func (cal *calendar) byICalUID(uid string) *event {
	for _, e := range cal.order {
		if e.iCalUID == uid && e.recurringEventID == "" {
			return e
		}
	}
	return nil
}

var errMissingZone = errors.New("missing time zone")

// parseEvTime reads an EventDateTime ({"date"} or {"dateTime","timeZone"}).
func parseEvTime(v any) (evTime, error) {
	m, _ := v.(map[string]any)
	if m == nil {
		return evTime{}, errors.New("missing")
	}
	tz, _ := m["timeZone"].(string)
	if tz != "" {
		if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
			return evTime{}, fmt.Errorf("invalid time zone %q", tz)
		}
	}
	if d, _ := m["date"].(string); d != "" {
		t, err := time.Parse("2006-01-02", d)
		if err != nil {
			return evTime{}, err
		}
		return evTime{t: t, allDay: true, tz: tz}, nil
	}
	dt, _ := m["dateTime"].(string)
	if dt == "" {
		return evTime{}, errors.New("missing")
	}
	if t, err := time.Parse(time.RFC3339Nano, dt); err == nil {
		return evTime{t: t, tz: tz}, nil
	}
	if tz == "" {
		return evTime{}, errMissingZone
	}
	loc, _ := time.LoadLocation(tz)
	t, err := time.ParseInLocation("2006-01-02T15:04:05", dt, loc)
	if err != nil {
		return evTime{}, err
	}
	return evTime{t: t, tz: tz}, nil
}

// json renders the time as Calendar returns it: dateTime in the zone of
// the response (the calendar's, or the request's timeZone parameter),
// timeZone as the client set it.
func (et evTime) json(out *time.Location) map[string]any {
	m := map[string]any{}
	if et.allDay {
		m["date"] = et.t.Format("2006-01-02")
	} else {
		m["dateTime"] = et.t.In(out).Format(time.RFC3339)
	}
	if et.tz != "" {
		m["timeZone"] = et.tz
	}
	return m
}

// instanceSuffix names an occurrence in instance ids
// (<eventId>_20260105T090000Z, or _20260105 for all-day events).
func (et evTime) instanceSuffix() string {
	if et.allDay {
		return et.t.Format("20060102")
	}
	return et.t.UTC().Format("20060102T150405Z")
}

// ruleSet builds the recurrence of a master event from its start and its
// RRULE, RDATE and EXDATE lines.
func ruleSet(e *event) (*rrule.Set, error) {
	var lines []string
	switch {
	case e.start.allDay:
		lines = append(lines, "DTSTART:"+e.start.t.Format("20060102"))
	case e.start.tz != "":
		loc, _ := time.LoadLocation(e.start.tz)
		lines = append(lines, "DTSTART;TZID="+e.start.tz+":"+e.start.t.In(loc).Format("20060102T150405"))
	default:
		lines = append(lines, "DTSTART:"+e.start.t.UTC().Format("20060102T150405Z"))
	}
	for _, r := range recurrenceOf(e.body) {
		name := strings.ToUpper(r)
		if strings.HasPrefix(name, "RRULE") || strings.HasPrefix(name, "RDATE") || strings.HasPrefix(name, "EXDATE") {
			lines = append(lines, r)
		}
	}
	return rrule.StrSliceToRRuleSet(lines)
}

func recurrenceOf(body map[string]any) []string {
	list, _ := body["recurrence"].([]any)
	var out []string
	for _, v := range list {
		if s, _ := v.(string); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// maxInstances bounds the expansion of endless series.
const maxInstances = 1000

// occurrences are the starts of a series in [from, to), at most limit.
func occurrences(e *event, from, to time.Time, limit int) []time.Time {
	set, err := ruleSet(e)
	if err != nil {
		return nil
	}
	var out []time.Time
	next := set.Iterator()
	for n := 0; n < maxInstances*4 && len(out) < limit; n++ {
		t, ok := next()
		if !ok || (!to.IsZero() && !t.Before(to)) {
			break
		}
		if from.IsZero() || !t.Before(from) {
			out = append(out, t)
		}
	}
	return out
}

// instance is the occurrence of master m starting at t, with its
// exception applied when there is one.
func (cal *calendar) instance(m *event, t time.Time) *event {
	start := evTime{t: t, allDay: m.start.allDay, tz: m.start.tz}
	if ex := cal.events[m.id+"_"+start.instanceSuffix()]; ex != nil {
		return ex
	}
	body := maps.Clone(m.body)
	delete(body, "recurrence")
	dur := m.end.t.Sub(m.start.t)
	return &event{
		id: m.id + "_" + start.instanceSuffix(), body: body, iCalUID: m.iCalUID, status: m.status,
		recurringEventID: m.id, origStart: start.json(time.UTC), organizer: m.organizer, creator: m.creator,
		sequence: m.sequence, seq: m.seq, created: m.created, updated: m.updated,
		start: start, end: evTime{t: t.Add(dur), allDay: m.end.allDay, tz: m.end.tz},
	}
}

// origKey is the instance suffix an exception's originalStartTime names.
func origKey(v any) (string, bool) {
	et, err := parseEvTime(v)
	if err != nil {
		return "", false
	}
	return et.instanceSuffix(), true
}

// syncToken encodes a position in a calendar's changes.
func syncToken(cal *calendar) string {
	return "CP" + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%s|%d|%d", cal.id, cal.gen, cal.seq)))
}

func parseSyncToken(tok string, cal *calendar) (uint64, bool) {
	rest, ok := strings.CutPrefix(tok, "CP")
	if !ok {
		return 0, false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return 0, false
	}
	parts := strings.Split(string(b), "|")
	if len(parts) != 3 || parts[0] != cal.id || parts[1] != strconv.Itoa(cal.gen) {
		return 0, false
	}
	n, err := strconv.ParseUint(parts[2], 10, 64)
	return n, err == nil
}

// Invitation is a message Calendar would have sent to an attendee.
type Invitation struct {
	Organizer string // the calendar owner's address
	EventID   string
	ICalUID   string
	To        string
	Kind      string // "invitation", "update" or "cancellation"
}

// Invitations lists what Calendar would have sent so far; a migration
// through events.import leaves it empty.
func (s *Sandbox) Invitations() []Invitation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Invitation(nil), s.invites...)
}

// ExpireSyncTokens makes every Calendar sync token of a user answer 410
// fullSyncRequired, as Google's do after a while.
func (s *Sandbox) ExpireSyncTokens(email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userLocked(email); u != nil {
		for _, c := range u.cal.order {
			c.gen++
		}
		u.ppl.gen++
	}
}
