package google

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-ical"

	"github.com/mailferry/mailferry/libs/tenantgen"
)

// seedStamp is when seeded events were last changed, so that seeded
// calendars are identical from run to run.
var seedStamp = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// seedCalendarLocked fills the primary calendar with the shared
// generator's events (weekly series with an excluded date and moved
// occurrences, attendees with their answers, several time zones), turned
// from iCalendar into Calendar events as events.import would store them.
func (s *Sandbox) seedCalendarLocked(u *user, seed int64, n, count int) {
	cal := u.cal.primary
	cal.timeZone = "Europe/Berlin"
	for k := 0; k < count; k++ {
		raw, _ := tenantgen.RenderEvent(seed, n, k, s.domain)
		ic, err := ical.NewDecoder(bytes.NewReader(raw)).Decode()
		if err != nil {
			continue
		}
		stamp := seedStamp.Add(-time.Duration(k) * time.Hour)
		var masters []*event
		for _, ev := range ic.Events() {
			body, uid, orig := icalEvent(ev)
			if uid == "" {
				continue
			}
			e := &event{iCalUID: uid, created: stamp, creator: map[string]any{"email": u.email, "self": true}}
			if org, _ := body["organizer"].(map[string]any); org != nil {
				e.organizer = org
				if email, _ := org["email"].(string); strings.EqualFold(email, u.email) {
					org["self"] = true
				}
			} else {
				e.organizer = map[string]any{"email": u.email, "self": true}
			}
			if orig != nil {
				var master *event
				for _, m := range masters {
					if m.iCalUID == uid {
						master = m
					}
				}
				suffix, ok := origKey(orig)
				if master == nil || !ok {
					continue
				}
				e.id, e.recurringEventID, e.origStart = master.id+"_"+suffix, master.id, orig
			} else {
				e.id = u.cal.newEventID(cal, uid)
			}
			start, err1 := parseEvTime(body["start"])
			end, err2 := parseEvTime(body["end"])
			if err1 != nil || err2 != nil {
				continue
			}
			e.start, e.end = start, end
			e.status, _ = body["status"].(string)
			if e.status == "" {
				e.status = "confirmed"
			}
			for _, f := range serverFields {
				delete(body, f)
			}
			e.body = body
			cal.touch(e, stamp)
			cal.add(e)
			if orig == nil {
				masters = append(masters, e)
			}
		}
	}
	cal.updated = seedStamp
}

var partstat = map[string]string{"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentative", "NEEDS-ACTION": "needsAction", "DELEGATED": "needsAction"}

// icalTime turns DTSTART, DTEND or RECURRENCE-ID into an EventDateTime.
func icalTime(p *ical.Prop) map[string]any {
	if p == nil {
		return nil
	}
	if p.ValueType() == ical.ValueDate || len(p.Value) == 8 {
		t, err := p.DateTime(time.UTC)
		if err != nil {
			return nil
		}
		return map[string]any{"date": t.Format("2006-01-02")}
	}
	t, err := p.DateTime(time.UTC)
	if err != nil {
		return nil
	}
	m := map[string]any{"dateTime": t.Format(time.RFC3339)}
	if tz := p.Params.Get(ical.PropTimezoneID); tz != "" {
		m["timeZone"] = tz
	}
	return m
}

func icalPerson(p ical.Prop) map[string]any {
	email := strings.TrimPrefix(strings.TrimPrefix(p.Value, "mailto:"), "MAILTO:")
	m := map[string]any{"email": strings.ToLower(email)}
	if cn := p.Params.Get("CN"); cn != "" {
		m["displayName"] = cn
	}
	return m
}

// icalEvent converts one VEVENT; orig is its RECURRENCE-ID as an
// originalStartTime, nil for masters and single events.
func icalEvent(ev ical.Event) (body map[string]any, uid string, orig map[string]any) {
	props := ev.Props
	uid, _ = props.Text(ical.PropUID)
	body = map[string]any{"start": icalTime(props.Get(ical.PropDateTimeStart)), "end": icalTime(props.Get(ical.PropDateTimeEnd))}
	for prop, field := range map[string]string{ical.PropSummary: "summary", ical.PropLocation: "location", ical.PropDescription: "description"} {
		if v, err := props.Text(prop); err == nil && v != "" {
			body[field] = v
		}
	}
	if p := props.Get(ical.PropOrganizer); p != nil {
		body["organizer"] = icalPerson(*p)
	}
	var attendees []any
	for _, p := range props.Values(ical.PropAttendee) {
		a := icalPerson(p)
		a["responseStatus"] = partstat[strings.ToUpper(p.Params.Get("PARTSTAT"))]
		if a["responseStatus"] == "" {
			a["responseStatus"] = "needsAction"
		}
		if strings.EqualFold(p.Params.Get("ROLE"), "OPT-PARTICIPANT") {
			a["optional"] = true
		}
		attendees = append(attendees, a)
	}
	if len(attendees) > 0 {
		body["attendees"] = attendees
	}
	var rec []any
	for _, name := range []string{ical.PropRecurrenceRule, ical.PropRecurrenceDates, ical.PropExceptionDates} {
		for _, p := range props.Values(name) {
			line := name
			for _, k := range slices.Sorted(maps.Keys(p.Params)) {
				for _, v := range p.Params[k] {
					line += ";" + k + "=" + v
				}
			}
			rec = append(rec, line+":"+p.Value)
		}
	}
	if len(rec) > 0 {
		body["recurrence"] = rec
	}
	switch st, _ := props.Text(ical.PropStatus); strings.ToUpper(st) {
	case "CANCELLED":
		body["status"] = "cancelled"
	case "TENTATIVE":
		body["status"] = "tentative"
	}
	if t, _ := props.Text(ical.PropTransparency); strings.EqualFold(t, "TRANSPARENT") {
		body["transparency"] = "transparent"
	}
	if c, _ := props.Text(ical.PropClass); strings.EqualFold(c, "PRIVATE") {
		body["visibility"] = "private"
	}
	if p := props.Get(ical.PropRecurrenceID); p != nil {
		orig = icalTime(p)
	}
	return body, uid, orig
}
