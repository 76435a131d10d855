// Package pim holds the iCalendar and vCard helpers every connector needs,
// whatever its platform's own event and contact shapes: time zones named the
// Windows way (Outlook, Graph) or the IANA way (Google, iCalendar files),
// DATE and DATE-TIME values, VTIMEZONE blocks for receivers that do not know
// a zone by name, the split of a calendar item into its series master and
// exceptions, and the vCard field preferences and inline photos.
//
// Connectors convert between their platform and these standard formats;
// what is platform-specific (Graph's recurrence patterns, Google's event
// resource) stays in the connector.
package pim

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	ical "github.com/emersion/go-ical"
	"github.com/emersion/go-vcard"

	// Zones resolve from the embedded database, so a host without
	// zoneinfo renders the same times.
	_ "time/tzdata"
)

// windowsZones maps the Windows zone names Outlook stores (and Graph
// returns in originalStartTimeZone) to IANA zones, from CLDR's
// windowsZones.xml "001" territory. Names not listed here and not IANA
// themselves are rendered in UTC.
var windowsZones = map[string]string{
	"utc": "UTC", "coordinated universal time": "UTC", "tzone://microsoft/utc": "UTC",
	"dateline standard time": "Etc/GMT+12", "utc-11": "Etc/GMT+11", "hawaiian standard time": "Pacific/Honolulu",
	"alaskan standard time": "America/Anchorage", "pacific standard time": "America/Los_Angeles",
	"us mountain standard time": "America/Phoenix", "mountain standard time": "America/Denver",
	"central america standard time": "America/Guatemala", "central standard time": "America/Chicago",
	"canada central standard time": "America/Regina", "sa pacific standard time": "America/Bogota",
	"eastern standard time": "America/New_York", "us eastern standard time": "America/Indianapolis",
	"atlantic standard time": "America/Halifax", "sa western standard time": "America/La_Paz",
	"pacific sa standard time": "America/Santiago", "newfoundland standard time": "America/St_Johns",
	"e. south america standard time": "America/Sao_Paulo", "argentina standard time": "America/Buenos_Aires",
	"greenland standard time": "America/Godthab", "utc-02": "Etc/GMT+2", "azores standard time": "Atlantic/Azores",
	"gmt standard time": "Europe/London", "greenwich standard time": "Atlantic/Reykjavik",
	"w. europe standard time": "Europe/Berlin", "central europe standard time": "Europe/Budapest",
	"romance standard time": "Europe/Paris", "central european standard time": "Europe/Warsaw",
	"w. central africa standard time": "Africa/Lagos", "gtb standard time": "Europe/Bucharest",
	"middle east standard time": "Asia/Beirut", "egypt standard time": "Africa/Cairo",
	"e. europe standard time": "Europe/Chisinau", "south africa standard time": "Africa/Johannesburg",
	"fle standard time": "Europe/Kiev", "israel standard time": "Asia/Jerusalem", "turkey standard time": "Europe/Istanbul",
	"arabic standard time": "Asia/Baghdad", "arab standard time": "Asia/Riyadh", "russian standard time": "Europe/Moscow",
	"e. africa standard time": "Africa/Nairobi", "iran standard time": "Asia/Tehran", "arabian standard time": "Asia/Dubai",
	"afghanistan standard time": "Asia/Kabul", "pakistan standard time": "Asia/Karachi",
	"india standard time": "Asia/Calcutta", "sri lanka standard time": "Asia/Colombo", "nepal standard time": "Asia/Katmandu",
	"bangladesh standard time": "Asia/Dhaka", "myanmar standard time": "Asia/Rangoon", "se asia standard time": "Asia/Bangkok",
	"china standard time": "Asia/Shanghai", "singapore standard time": "Asia/Singapore", "taipei standard time": "Asia/Taipei",
	"w. australia standard time": "Australia/Perth", "tokyo standard time": "Asia/Tokyo", "korea standard time": "Asia/Seoul",
	"cen. australia standard time": "Australia/Adelaide", "aus central standard time": "Australia/Darwin",
	"e. australia standard time": "Australia/Brisbane", "aus eastern standard time": "Australia/Sydney",
	"tasmania standard time": "Australia/Hobart", "new zealand standard time": "Pacific/Auckland",
}

// Zone resolves a zone name, Windows ("W. Europe Standard Time") or IANA
// ("Europe/Berlin"); "" is UTC. ok is false for names it does not know.
func Zone(name string) (*time.Location, bool) {
	n := strings.TrimSpace(name)
	if n == "" {
		return time.UTC, true
	}
	if iana, ok := windowsZones[strings.ToLower(n)]; ok {
		n = iana
	}
	if strings.EqualFold(n, "utc") || strings.EqualFold(n, "gmt") || n == "Etc/UTC" {
		return time.UTC, true
	}
	loc, err := time.LoadLocation(n)
	if err != nil || n == "Local" {
		return nil, false
	}
	return loc, true
}

// IsWindowsZone reports whether name is one of the Windows zone names Zone
// knows.
func IsWindowsZone(name string) bool {
	_, ok := windowsZones[strings.ToLower(strings.TrimSpace(name))]
	return ok
}

// ParseTime reads an iCalendar DATE ("20260302"), UTC DATE-TIME
// ("20260302T090000Z") or local DATE-TIME in loc.
func ParseTime(v string, loc *time.Location) (time.Time, error) {
	switch {
	case strings.HasSuffix(v, "Z"):
		return time.ParseInLocation("20060102T150405Z", v, time.UTC)
	case len(v) == 8:
		return time.ParseInLocation("20060102", v, loc)
	}
	return time.ParseInLocation("20060102T150405", v, loc)
}

// PropTime reads a DATE or DATE-TIME property: its instant, the zone it is
// in (nil for dates) and whether it is a date. A DATE is midnight UTC of
// that day; a floating or unknown-zone time is read in fallback (UTC when
// nil).
func PropTime(p *ical.Prop, fallback *time.Location) (t time.Time, loc *time.Location, date bool, err error) {
	if p == nil {
		return time.Time{}, nil, false, fmt.Errorf("missing")
	}
	v := strings.TrimSpace(p.Value)
	date = p.Params.Get(ical.ParamValue) == "DATE" || len(v) == 8
	if date {
		t, err = time.ParseInLocation("20060102", v, time.UTC)
		return t, nil, true, err
	}
	if strings.HasSuffix(v, "Z") {
		t, err = time.ParseInLocation("20060102T150405Z", v, time.UTC)
		return t, time.UTC, false, err
	}
	loc = fallback
	if tzid := p.Params.Get(ical.PropTimezoneID); tzid != "" {
		if l, ok := Zone(tzid); ok {
			loc = l
		}
	}
	if loc == nil {
		loc = time.UTC
	}
	t, err = time.ParseInLocation("20060102T150405", v, loc)
	return t, loc, false, err
}

// Stamp formats t as an iCalendar value: a DATE, a UTC DATE-TIME, or a
// local DATE-TIME in loc (to go with a TZID).
func Stamp(t time.Time, loc *time.Location, date bool) string {
	t = t.In(loc)
	switch {
	case date:
		return t.Format("20060102")
	case loc == time.UTC:
		return t.Format("20060102T150405Z")
	}
	return t.Format("20060102T150405")
}

// SetLocal sets a DATE-TIME property in loc, with TZID unless loc is UTC.
func SetLocal(p *ical.Prop, t time.Time, loc *time.Location) {
	if p.Params == nil {
		p.Params = ical.Params{}
	}
	t = t.In(loc)
	if loc == time.UTC {
		p.Value = t.Format("20060102T150405Z")
		return
	}
	p.Params.Set(ical.PropTimezoneID, loc.String())
	p.Value = t.Format("20060102T150405")
}

// Days are iCalendar's weekday codes, Sunday first as time.Weekday counts.
var Days = []string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}

// VTimezone describes loc around year as a VTIMEZONE: the yearly rules of
// its standard and daylight transitions, so that receivers need not know
// the IANA name.
func VTimezone(loc *time.Location, year int) *ical.Component {
	tz := ical.NewComponent(ical.CompTimezone)
	tz.Props.SetText(ical.PropTimezoneID, loc.String())
	type trans struct {
		at       time.Time
		from, to int
		name     string
		dst      bool
	}
	var ts []trans
	t := time.Date(year, 1, 1, 0, 0, 0, 0, loc)
	end := time.Date(year+1, 1, 1, 0, 0, 0, 0, loc)
	for t.Before(end) {
		s, e := t.ZoneBounds()
		if e.IsZero() || !e.Before(end) {
			break
		}
		_, off0 := s.Add(time.Second).Zone()
		name, off1 := e.Zone()
		ts = append(ts, trans{at: e, from: off0, to: off1, name: name, dst: e.IsDST()})
		t = e
	}
	offset := func(s int) string {
		sign := "+"
		if s < 0 {
			sign, s = "-", -s
		}
		return fmt.Sprintf("%s%02d%02d", sign, s/3600, s%3600/60)
	}
	if len(ts) == 0 {
		name, off := time.Date(year, 6, 1, 0, 0, 0, 0, loc).Zone()
		c := ical.NewComponent(ical.CompTimezoneStandard)
		c.Props.SetText(ical.PropTimezoneName, name)
		c.Props.Set(&ical.Prop{Name: ical.PropTimezoneOffsetFrom, Params: ical.Params{}, Value: offset(off)})
		c.Props.Set(&ical.Prop{Name: ical.PropTimezoneOffsetTo, Params: ical.Params{}, Value: offset(off)})
		c.Props.Set(&ical.Prop{Name: ical.PropDateTimeStart, Params: ical.Params{}, Value: "19700101T000000"})
		tz.Children = append(tz.Children, c)
		return tz
	}
	for _, x := range ts {
		name := ical.CompTimezoneStandard
		if x.dst {
			name = ical.CompTimezoneDaylight
		}
		c := ical.NewComponent(name)
		c.Props.SetText(ical.PropTimezoneName, x.name)
		c.Props.Set(&ical.Prop{Name: ical.PropTimezoneOffsetFrom, Params: ical.Params{}, Value: offset(x.from)})
		c.Props.Set(&ical.Prop{Name: ical.PropTimezoneOffsetTo, Params: ical.Params{}, Value: offset(x.to)})
		// DTSTART is the wall-clock time before the change.
		local := x.at.UTC().Add(time.Duration(x.from) * time.Second)
		c.Props.Set(&ical.Prop{Name: ical.PropDateTimeStart, Params: ical.Params{}, Value: local.Format("20060102T150405")})
		week := (local.Day()-1)/7 + 1
		if local.AddDate(0, 0, 7).Month() != local.Month() {
			week = -1
		}
		c.Props.Set(&ical.Prop{Name: ical.PropRecurrenceRule, Params: ical.Params{},
			Value: fmt.Sprintf("FREQ=YEARLY;BYMONTH=%d;BYDAY=%d%s", int(local.Month()), week, Days[int(local.Weekday())])})
		tz.Children = append(tz.Children, c)
	}
	return tz
}

// Event is one calendar item: a single event, or a series master with its
// exceptions (the VEVENTs carrying a RECURRENCE-ID), all of one UID.
type Event struct {
	Master     *ical.Component
	Exceptions []*ical.Component
	UID        string
	// Zone is the master's DTSTART zone as named: a Windows name is kept
	// as given (Graph takes it), any other known zone by its IANA name;
	// "UTC" for UTC, dates and floating times. Loc is that zone.
	Zone string
	Loc  *time.Location
}

// ParseEvent reads a VCALENDAR holding one event or series.
func ParseEvent(raw []byte) (*Event, error) {
	cal, err := ical.NewDecoder(bytes.NewReader(raw)).Decode()
	if err != nil {
		return nil, err
	}
	p := &Event{}
	for _, ch := range cal.Children {
		if ch.Name != ical.CompEvent {
			continue
		}
		uid := ch.Props.Get(ical.PropUID)
		if uid != nil && p.UID != "" && uid.Value != p.UID {
			return nil, fmt.Errorf("the calendar holds events of several UIDs (%s, %s); one item is one event or series", p.UID, uid.Value)
		}
		if uid != nil {
			p.UID = uid.Value
		}
		if ch.Props.Get(ical.PropRecurrenceID) != nil {
			p.Exceptions = append(p.Exceptions, ch)
		} else if p.Master == nil {
			p.Master = ch
		}
	}
	if p.Master == nil {
		return nil, fmt.Errorf("no VEVENT without RECURRENCE-ID")
	}
	p.Zone, p.Loc = "UTC", time.UTC
	if st := p.Master.Props.Get(ical.PropDateTimeStart); st != nil {
		if tzid := st.Params.Get(ical.PropTimezoneID); tzid != "" {
			if l, ok := Zone(tzid); ok {
				p.Zone, p.Loc = tzid, l
				if !IsWindowsZone(tzid) {
					p.Zone = l.String()
				}
			}
		}
	}
	return p, nil
}

// Text is the decoded text of a component's property, "" when absent.
func Text(c *ical.Component, name string) string {
	if p := c.Props.Get(name); p != nil {
		s, _ := p.Text()
		return s
	}
	return ""
}

// Categories gathers every CATEGORIES value of a component.
func Categories(c *ical.Component) []string {
	var out []string
	for _, x := range c.Props.Values(ical.PropCategories) {
		l, _ := x.TextList()
		out = append(out, l...)
	}
	return out
}

// Address is a calendar user address without its mailto: scheme.
func Address(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 7 && strings.EqualFold(v[:7], "mailto:") {
		return v[7:]
	}
	return v
}

// PrefOf is a vCard field's preference: PREF (1 most preferred, vCard 4)
// or TYPE=pref (vCard 3) as 1, 101 when none is given.
func PrefOf(f *vcard.Field) int {
	if p := f.Params.Get(vcard.ParamPreferred); p != "" {
		if n, err := strconv.Atoi(p); err == nil {
			return n
		}
	}
	for _, t := range f.Params.Types() {
		if strings.EqualFold(t, "pref") {
			return 1
		}
	}
	return 101
}

// PhotoData decodes a PHOTO given inline: a data: URI (vCard 4) or base64
// with ENCODING=b (vCard 3). A URL to fetch is not followed.
func PhotoData(f *vcard.Field) ([]byte, bool) {
	v := f.Value
	if strings.HasPrefix(v, "data:") {
		_, data, ok := strings.Cut(v, ",")
		if !ok || !strings.Contains(v[:len(v)-len(data)], ";base64") {
			return nil, false
		}
		b, err := base64.StdEncoding.DecodeString(data)
		return b, err == nil
	}
	if e := strings.ToLower(f.Params.Get("ENCODING")); e == "b" || e == "base64" {
		b, err := base64.StdEncoding.DecodeString(v)
		return b, err == nil
	}
	return nil, false
}
