package m365

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	ical "github.com/emersion/go-ical"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/mailferry/mailferry/libs/pim"
)

// zoneOf resolves a Graph or iCalendar zone name (Windows or IANA).
func zoneOf(name string) (*time.Location, bool) { return pim.Zone(name) }

const graphLocal = "2006-01-02T15:04:05.0000000"

// graphTime reads a dateTimeTimeZone.
func graphTime(d models.DateTimeTimeZoneable) (time.Time, bool) {
	if d == nil || d.GetDateTime() == nil {
		return time.Time{}, false
	}
	loc, ok := zoneOf(str(d.GetTimeZone()))
	if !ok {
		loc = time.UTC
	}
	v := *d.GetDateTime()
	for _, f := range []string{"2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(f, v, loc); err == nil {
			return t, true
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	return time.Time{}, false
}

func dateTimeTZ(t time.Time, zone string) models.DateTimeTimeZoneable {
	d := models.NewDateTimeTimeZone()
	d.SetDateTime(ptr(t.Format(graphLocal)))
	d.SetTimeZone(ptr(zone))
	return d
}

// setLocal sets a DATE-TIME property in loc, with TZID unless loc is UTC.
func setLocal(p *ical.Prop, t time.Time, loc *time.Location) { pim.SetLocal(p, t, loc) }

var icalDays = pim.Days

var graphDays = []models.DayOfWeek{models.SUNDAY_DAYOFWEEK, models.MONDAY_DAYOFWEEK, models.TUESDAY_DAYOFWEEK,
	models.WEDNESDAY_DAYOFWEEK, models.THURSDAY_DAYOFWEEK, models.FRIDAY_DAYOFWEEK, models.SATURDAY_DAYOFWEEK}

func dayIndex(s string) int {
	for i, d := range icalDays {
		if strings.EqualFold(d, s) {
			return i
		}
	}
	return -1
}

var weekIndexes = map[models.WeekIndex]int{models.FIRST_WEEKINDEX: 1, models.SECOND_WEEKINDEX: 2,
	models.THIRD_WEEKINDEX: 3, models.FOURTH_WEEKINDEX: 4, models.LAST_WEEKINDEX: -1}

// rruleOf renders Graph's patternedRecurrence as an RRULE value. start is
// the series start in its zone: UNTIL is the end of the range's last day
// at the start's time of day, in UTC as RFC 5545 requires with a TZID.
func rruleOf(r models.PatternedRecurrenceable, start time.Time) (string, error) {
	p, rg := r.GetPattern(), r.GetRangeEscaped()
	if p == nil || p.GetTypeEscaped() == nil {
		return "", fmt.Errorf("recurrence without a pattern")
	}
	var parts []string
	interval := 1
	if p.GetInterval() != nil && *p.GetInterval() > 0 {
		interval = int(*p.GetInterval())
	}
	days := func() string {
		var l []string
		for _, d := range p.GetDaysOfWeek() {
			l = append(l, icalDays[int(d)])
		}
		return strings.Join(l, ",")
	}
	index := func() string {
		if p.GetIndex() == nil {
			return "1"
		}
		return strconv.Itoa(weekIndexes[*p.GetIndex()])
	}
	switch *p.GetTypeEscaped() {
	case models.DAILY_RECURRENCEPATTERNTYPE:
		parts = append(parts, "FREQ=DAILY")
	case models.WEEKLY_RECURRENCEPATTERNTYPE:
		parts = append(parts, "FREQ=WEEKLY")
		if d := days(); d != "" {
			parts = append(parts, "BYDAY="+d)
		}
		if f := p.GetFirstDayOfWeek(); f != nil && interval > 1 {
			parts = append(parts, "WKST="+icalDays[int(*f)])
		}
	case models.ABSOLUTEMONTHLY_RECURRENCEPATTERNTYPE:
		parts = append(parts, "FREQ=MONTHLY", fmt.Sprintf("BYMONTHDAY=%d", derefInt(p.GetDayOfMonth(), start.Day())))
	case models.RELATIVEMONTHLY_RECURRENCEPATTERNTYPE:
		parts = append(parts, "FREQ=MONTHLY", "BYDAY="+days(), "BYSETPOS="+index())
	case models.ABSOLUTEYEARLY_RECURRENCEPATTERNTYPE:
		parts = append(parts, "FREQ=YEARLY", fmt.Sprintf("BYMONTH=%d", derefInt(p.GetMonth(), int(start.Month()))),
			fmt.Sprintf("BYMONTHDAY=%d", derefInt(p.GetDayOfMonth(), start.Day())))
	case models.RELATIVEYEARLY_RECURRENCEPATTERNTYPE:
		parts = append(parts, "FREQ=YEARLY", fmt.Sprintf("BYMONTH=%d", derefInt(p.GetMonth(), int(start.Month()))),
			"BYDAY="+days(), "BYSETPOS="+index())
	default:
		return "", fmt.Errorf("unknown recurrence pattern %v", *p.GetTypeEscaped())
	}
	if interval > 1 {
		parts = append(parts, "INTERVAL="+strconv.Itoa(interval))
	}
	if rg != nil && rg.GetTypeEscaped() != nil {
		switch *rg.GetTypeEscaped() {
		case models.NUMBERED_RECURRENCERANGETYPE:
			if n := rg.GetNumberOfOccurrences(); n != nil && *n > 0 {
				parts = append(parts, fmt.Sprintf("COUNT=%d", *n))
			}
		case models.ENDDATE_RECURRENCERANGETYPE:
			if e := rg.GetEndDate(); e != nil {
				d, err := time.Parse("2006-01-02", e.String())
				if err == nil {
					until := time.Date(d.Year(), d.Month(), d.Day(), start.Hour(), start.Minute(), start.Second(), 0, start.Location())
					parts = append(parts, "UNTIL="+until.UTC().Format("20060102T150405Z"))
				}
			}
		}
	}
	return strings.Join(parts, ";"), nil
}

func derefInt(p *int32, def int) int {
	if p == nil || *p == 0 {
		return def
	}
	return int(*p)
}

// recurrenceOf turns an RRULE into Graph's patternedRecurrence. Rules
// Graph cannot express (BYHOUR, BYWEEKNO, several month days, sub-daily
// frequencies, ...) are refused with the reason, never approximated.
func recurrenceOf(rule string, start time.Time, zone string) (models.PatternedRecurrenceable, error) {
	kv := map[string]string{}
	for _, part := range strings.Split(rule, ";") {
		k, v, _ := strings.Cut(part, "=")
		kv[strings.ToUpper(strings.TrimSpace(k))] = strings.ToUpper(strings.TrimSpace(v))
	}
	for k := range kv {
		switch k {
		case "FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "WKST":
		default:
			return nil, fmt.Errorf("the rule part %s has no Microsoft 365 equivalent", k)
		}
	}
	p := models.NewRecurrencePattern()
	interval := int32(1)
	if v := kv["INTERVAL"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("INTERVAL=%s is not a positive number", v)
		}
		interval = int32(n)
	}
	p.SetInterval(ptr(interval))
	type byday struct {
		n   int
		day int
	}
	var days []byday
	if v := kv["BYDAY"]; v != "" {
		for _, d := range strings.Split(v, ",") {
			i := len(d) - 2
			if i < 0 || dayIndex(d[i:]) < 0 {
				return nil, fmt.Errorf("BYDAY=%s is not a list of weekdays", v)
			}
			n := 0
			if i > 0 {
				var err error
				if n, err = strconv.Atoi(d[:i]); err != nil {
					return nil, fmt.Errorf("BYDAY=%s is not a list of weekdays", v)
				}
			}
			days = append(days, byday{n, dayIndex(d[i:])})
		}
	}
	setDays := func() {
		var l []models.DayOfWeek
		for _, d := range days {
			l = append(l, graphDays[d.day])
		}
		p.SetDaysOfWeek(l)
	}
	// The ordinal of a relative pattern: BYSETPOS, or one shared prefix
	// of BYDAY ("2TU"); Graph has first..fourth and last.
	relIndex := func() (models.WeekIndex, bool, error) {
		n := 0
		if v := kv["BYSETPOS"]; v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil {
				return 0, false, fmt.Errorf("BYSETPOS=%s is not one number", v)
			}
		}
		for _, d := range days {
			if d.n != 0 {
				if n != 0 && n != d.n {
					return 0, false, fmt.Errorf("BYDAY=%s mixes ordinals", kv["BYDAY"])
				}
				n = d.n
			}
		}
		switch n {
		case 0:
			return 0, false, nil
		case 1:
			return models.FIRST_WEEKINDEX, true, nil
		case 2:
			return models.SECOND_WEEKINDEX, true, nil
		case 3:
			return models.THIRD_WEEKINDEX, true, nil
		case 4:
			return models.FOURTH_WEEKINDEX, true, nil
		case -1:
			return models.LAST_WEEKINDEX, true, nil
		}
		return 0, false, fmt.Errorf("the ordinal %d has no Microsoft 365 equivalent (first to fourth, or last)", n)
	}
	monthDay := func() (int32, error) {
		v := kv["BYMONTHDAY"]
		if v == "" {
			return int32(start.Day()), nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 31 {
			return 0, fmt.Errorf("BYMONTHDAY=%s has no Microsoft 365 equivalent (one day 1-31)", v)
		}
		return int32(n), nil
	}
	month := func() (int32, error) {
		v := kv["BYMONTH"]
		if v == "" {
			return int32(start.Month()), nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 12 {
			return 0, fmt.Errorf("BYMONTH=%s has no Microsoft 365 equivalent (one month)", v)
		}
		return int32(n), nil
	}
	switch kv["FREQ"] {
	case "DAILY":
		if len(days) > 0 {
			if interval != 1 || kv["BYSETPOS"] != "" {
				return nil, fmt.Errorf("a daily rule with BYDAY and an interval has no Microsoft 365 equivalent")
			}
			p.SetTypeEscaped(ptr(models.WEEKLY_RECURRENCEPATTERNTYPE))
			setDays()
		} else {
			p.SetTypeEscaped(ptr(models.DAILY_RECURRENCEPATTERNTYPE))
		}
		if kv["BYMONTHDAY"] != "" || kv["BYMONTH"] != "" {
			return nil, fmt.Errorf("a daily rule with BYMONTHDAY or BYMONTH has no Microsoft 365 equivalent")
		}
	case "WEEKLY":
		if kv["BYMONTHDAY"] != "" || kv["BYMONTH"] != "" || kv["BYSETPOS"] != "" {
			return nil, fmt.Errorf("a weekly rule with BYMONTHDAY, BYMONTH or BYSETPOS has no Microsoft 365 equivalent")
		}
		p.SetTypeEscaped(ptr(models.WEEKLY_RECURRENCEPATTERNTYPE))
		if len(days) == 0 {
			days = []byday{{0, int(start.Weekday())}}
		}
		setDays()
		wkst := models.SUNDAY_DAYOFWEEK
		if i := dayIndex(kv["WKST"]); i >= 0 {
			wkst = graphDays[i]
		}
		p.SetFirstDayOfWeek(ptr(wkst))
	case "MONTHLY", "YEARLY":
		idx, rel, err := relIndex()
		if err != nil {
			return nil, err
		}
		yearly := kv["FREQ"] == "YEARLY"
		if yearly {
			m, err := month()
			if err != nil {
				return nil, err
			}
			p.SetMonth(ptr(m))
		} else if kv["BYMONTH"] != "" {
			return nil, fmt.Errorf("a monthly rule with BYMONTH has no Microsoft 365 equivalent")
		}
		switch {
		case rel || len(days) > 0:
			if kv["BYMONTHDAY"] != "" {
				return nil, fmt.Errorf("BYDAY with BYMONTHDAY has no Microsoft 365 equivalent")
			}
			if !rel {
				return nil, fmt.Errorf("BYDAY=%s without an ordinal (every such weekday) has no Microsoft 365 equivalent", kv["BYDAY"])
			}
			p.SetIndex(ptr(idx))
			setDays()
			if yearly {
				p.SetTypeEscaped(ptr(models.RELATIVEYEARLY_RECURRENCEPATTERNTYPE))
			} else {
				p.SetTypeEscaped(ptr(models.RELATIVEMONTHLY_RECURRENCEPATTERNTYPE))
			}
		default:
			d, err := monthDay()
			if err != nil {
				return nil, err
			}
			p.SetDayOfMonth(ptr(d))
			if yearly {
				p.SetTypeEscaped(ptr(models.ABSOLUTEYEARLY_RECURRENCEPATTERNTYPE))
			} else {
				p.SetTypeEscaped(ptr(models.ABSOLUTEMONTHLY_RECURRENCEPATTERNTYPE))
			}
		}
	default:
		return nil, fmt.Errorf("FREQ=%s has no Microsoft 365 equivalent (daily, weekly, monthly or yearly)", kv["FREQ"])
	}
	rg := models.NewRecurrenceRange()
	rg.SetStartDate(serialization.NewDateOnly(time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)))
	rg.SetRecurrenceTimeZone(ptr(zone))
	switch {
	case kv["COUNT"] != "":
		n, err := strconv.Atoi(kv["COUNT"])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("COUNT=%s is not a positive number", kv["COUNT"])
		}
		rg.SetTypeEscaped(ptr(models.NUMBERED_RECURRENCERANGETYPE))
		rg.SetNumberOfOccurrences(ptr(int32(n)))
	case kv["UNTIL"] != "":
		u, err := parseICalTime(kv["UNTIL"], start.Location())
		if err != nil {
			return nil, fmt.Errorf("UNTIL=%s: %w", kv["UNTIL"], err)
		}
		u = u.In(start.Location())
		rg.SetTypeEscaped(ptr(models.ENDDATE_RECURRENCERANGETYPE))
		rg.SetEndDate(serialization.NewDateOnly(time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)))
	default:
		rg.SetTypeEscaped(ptr(models.NOEND_RECURRENCERANGETYPE))
	}
	r := models.NewPatternedRecurrence()
	r.SetPattern(p)
	r.SetRangeEscaped(rg)
	return r, nil
}

func parseICalTime(v string, loc *time.Location) (time.Time, error) { return pim.ParseTime(v, loc) }

// propTime reads a DATE or DATE-TIME property (pim.PropTime).
func propTime(p *ical.Prop, fallback *time.Location) (time.Time, *time.Location, bool, error) {
	return pim.PropTime(p, fallback)
}

// vtimezone describes loc around year as a VTIMEZONE (pim.VTimezone).
func vtimezone(loc *time.Location, year int) *ical.Component { return pim.VTimezone(loc, year) }
