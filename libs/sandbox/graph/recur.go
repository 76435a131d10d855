package graph

import (
	"fmt"
	"slices"
	"strings"
	"time"
	// Graph accepts IANA zone names; the embedded database keeps the
	// sandbox independent of the host's zoneinfo.
	_ "time/tzdata"
)

// windowsZones maps the Windows time zone names Outlook uses (and Graph
// returns in originalStartTimeZone) to IANA zones. Graph accepts both.
var windowsZones = map[string]string{
	"utc": "UTC", "coordinated universal time": "UTC", "tzone://microsoft/utc": "UTC",
	"w. europe standard time": "Europe/Berlin", "central europe standard time": "Europe/Budapest",
	"central european standard time": "Europe/Warsaw", "romance standard time": "Europe/Paris",
	"gmt standard time": "Europe/London", "greenwich standard time": "Atlantic/Reykjavik",
	"e. europe standard time": "Europe/Chisinau", "fle standard time": "Europe/Kiev",
	"gtb standard time": "Europe/Bucharest", "russian standard time": "Europe/Moscow",
	"eastern standard time": "America/New_York", "central standard time": "America/Chicago",
	"mountain standard time": "America/Denver", "pacific standard time": "America/Los_Angeles",
	"us mountain standard time": "America/Phoenix", "alaskan standard time": "America/Anchorage",
	"hawaiian standard time": "Pacific/Honolulu", "atlantic standard time": "America/Halifax",
	"e. south america standard time": "America/Sao_Paulo", "sa pacific standard time": "America/Bogota",
	"tokyo standard time": "Asia/Tokyo", "india standard time": "Asia/Kolkata",
	"china standard time": "Asia/Shanghai", "singapore standard time": "Asia/Singapore",
	"korea standard time": "Asia/Seoul", "arabian standard time": "Asia/Dubai",
	"aus eastern standard time": "Australia/Sydney", "new zealand standard time": "Pacific/Auckland",
	"south africa standard time": "Africa/Johannesburg", "israel standard time": "Asia/Jerusalem",
	"turkey standard time": "Europe/Istanbul", "w. australia standard time": "Australia/Perth",
}

// zoneOf resolves a Graph time zone name (Windows or IANA); ok is false
// for names Graph would reject.
func zoneOf(name string) (*time.Location, bool) {
	if name == "" {
		return time.UTC, true
	}
	if iana, ok := windowsZones[strings.ToLower(strings.TrimSpace(name))]; ok {
		name = iana
	}
	if strings.EqualFold(name, "utc") {
		return time.UTC, true
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, false
	}
	return loc, true
}

const graphLocal = "2006-01-02T15:04:05.0000000"

// parseLocal reads a dateTimeTimeZone's dateTime: a local time with up to
// seven fractional digits, or, as Graph also takes, one with an offset.
func parseLocal(v string, loc *time.Location) (time.Time, bool) {
	for _, f := range []string{"2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(f, v, loc); err == nil {
			return t, true
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// recurrence is a patternedRecurrence as Graph stores and returns it.
type recurrence struct {
	Pattern struct {
		Type           string   `json:"type"`
		Interval       int      `json:"interval"`
		Month          int      `json:"month"`
		DayOfMonth     int      `json:"dayOfMonth"`
		DaysOfWeek     []string `json:"daysOfWeek"`
		FirstDayOfWeek string   `json:"firstDayOfWeek"`
		Index          string   `json:"index"`
	} `json:"pattern"`
	Range struct {
		Type                string `json:"type"`
		StartDate           string `json:"startDate"`
		EndDate             string `json:"endDate"`
		RecurrenceTimeZone  string `json:"recurrenceTimeZone"`
		NumberOfOccurrences int    `json:"numberOfOccurrences"`
	} `json:"range"`
}

var weekdays = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

var weekIndexes = []string{"first", "second", "third", "fourth", "last"}

// normalise validates a recurrence and fills the defaults Graph returns;
// it answers the problem in Graph's words, or "".
func (r *recurrence) normalise(startTZ string) string {
	p := &r.Pattern
	p.Type = canonEnum(p.Type, "daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly")
	if p.Type == "" {
		return "The recurrence pattern type is not valid."
	}
	if p.Interval <= 0 {
		return "The recurrence pattern interval must be greater than zero."
	}
	for i, d := range p.DaysOfWeek {
		if p.DaysOfWeek[i] = canonEnum(d, weekdays...); p.DaysOfWeek[i] == "" {
			return fmt.Sprintf("The day of week '%s' is not valid.", d)
		}
	}
	if p.DaysOfWeek == nil {
		p.DaysOfWeek = []string{}
	}
	if p.FirstDayOfWeek = canonEnum(p.FirstDayOfWeek, weekdays...); p.FirstDayOfWeek == "" {
		p.FirstDayOfWeek = "sunday"
	}
	if p.Index = canonEnum(p.Index, weekIndexes...); p.Index == "" {
		p.Index = "first"
	}
	switch p.Type {
	case "weekly", "relativeMonthly", "relativeYearly":
		if len(p.DaysOfWeek) == 0 {
			return "The recurrence pattern needs daysOfWeek."
		}
	case "absoluteMonthly":
		if p.DayOfMonth < 1 || p.DayOfMonth > 31 {
			return "The recurrence pattern needs a dayOfMonth between 1 and 31."
		}
	case "absoluteYearly":
		if p.DayOfMonth < 1 || p.DayOfMonth > 31 || p.Month < 1 || p.Month > 12 {
			return "The recurrence pattern needs a month and a dayOfMonth."
		}
	}
	if p.Type == "relativeYearly" && (p.Month < 1 || p.Month > 12) {
		return "The recurrence pattern needs a month."
	}
	g := &r.Range
	g.Type = canonEnum(g.Type, "endDate", "noEnd", "numbered")
	if g.Type == "" {
		return "The recurrence range type is not valid."
	}
	if _, err := time.Parse("2006-01-02", g.StartDate); err != nil {
		return "The recurrence range needs a startDate."
	}
	switch g.Type {
	case "endDate":
		if e, err := time.Parse("2006-01-02", g.EndDate); err != nil || e.Before(mustDate(g.StartDate)) {
			return "The recurrence range needs an endDate on or after its startDate."
		}
	case "numbered":
		if g.NumberOfOccurrences <= 0 {
			return "The recurrence range needs numberOfOccurrences."
		}
		g.EndDate = "0001-01-01"
	default:
		g.EndDate = "0001-01-01"
	}
	if g.Type != "numbered" {
		g.NumberOfOccurrences = 0
	}
	if g.RecurrenceTimeZone == "" {
		g.RecurrenceTimeZone = startTZ
	}
	if _, ok := zoneOf(g.RecurrenceTimeZone); !ok {
		return fmt.Sprintf("A valid TimeZone value must be specified. The following TimeZone value is not supported: '%s'.", g.RecurrenceTimeZone)
	}
	return ""
}

func canonEnum(v string, allowed ...string) string {
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	return ""
}

func mustDate(s string) time.Time {
	t, _ := time.Parse("2006-01-02", s)
	return t
}

// maxExpandDays bounds the walk over a series without end, so that a
// far-away window cannot make a request loop for long.
const maxExpandDays = 20000

// expand returns the original starts (UTC) of the occurrences of a series
// whose master starts at start, from the range start until until
// (exclusive). Occurrences keep the master's local time of day in the
// recurrence time zone, across daylight-saving changes, as Outlook does.
func (r *recurrence) expand(start time.Time, until time.Time) []time.Time {
	loc, _ := zoneOf(r.Range.RecurrenceTimeZone)
	ls := start.In(loc)
	h, mi, se := ls.Clock()
	first := mustDate(r.Range.StartDate)
	var last time.Time
	if r.Range.Type == "endDate" {
		last = mustDate(r.Range.EndDate)
	}
	p := r.Pattern
	days := map[time.Weekday]bool{}
	for _, d := range p.DaysOfWeek {
		days[time.Weekday(slices.Index(weekdays, d))] = true
	}
	fdw := time.Weekday(slices.Index(weekdays, p.FirstDayOfWeek))
	weekStart := func(d time.Time) time.Time {
		return d.AddDate(0, 0, -((int(d.Weekday()) - int(fdw) + 7) % 7))
	}
	w0 := weekStart(first)
	var out []time.Time
	n := 0
	for i := 0; i < maxExpandDays; i++ {
		d := first.AddDate(0, 0, i)
		if !last.IsZero() && d.After(last) {
			break
		}
		occ := time.Date(d.Year(), d.Month(), d.Day(), h, mi, se, 0, loc)
		if !occ.Before(until) {
			break
		}
		if !matches(p.Type, p.Interval, d, first, w0, weekStart, days, p.DayOfMonth, p.Month, p.Index) {
			continue
		}
		out = append(out, occ.UTC())
		n++
		if r.Range.Type == "numbered" && n >= r.Range.NumberOfOccurrences {
			break
		}
	}
	return out
}

func matches(typ string, interval int, d, first, w0 time.Time, weekStart func(time.Time) time.Time,
	days map[time.Weekday]bool, dom, month int, index string) bool {
	months := (d.Year()-first.Year())*12 + int(d.Month()) - int(first.Month())
	switch typ {
	case "daily":
		return int(d.Sub(first).Hours()/24)%interval == 0
	case "weekly":
		weeks := int(weekStart(d).Sub(w0).Hours()/24) / 7
		return weeks%interval == 0 && days[d.Weekday()]
	case "absoluteMonthly":
		return months%interval == 0 && d.Day() == min(dom, daysIn(d))
	case "relativeMonthly":
		return months%interval == 0 && relativeDay(d, days, index)
	case "absoluteYearly":
		return (d.Year()-first.Year())%interval == 0 && int(d.Month()) == month && d.Day() == min(dom, daysIn(d))
	case "relativeYearly":
		return (d.Year()-first.Year())%interval == 0 && int(d.Month()) == month && relativeDay(d, days, index)
	}
	return false
}

func daysIn(d time.Time) int {
	return time.Date(d.Year(), d.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// relativeDay says whether d is the index-th of the given weekdays in its
// month ("first monday", "last weekday" when several days are given).
func relativeDay(d time.Time, days map[time.Weekday]bool, index string) bool {
	if !days[d.Weekday()] {
		return false
	}
	var hits []int
	for day := 1; day <= daysIn(d); day++ {
		if days[time.Date(d.Year(), d.Month(), day, 0, 0, 0, 0, time.UTC).Weekday()] {
			hits = append(hits, day)
		}
	}
	k := slices.Index(weekIndexes, index)
	if k == 4 {
		return hits[len(hits)-1] == d.Day()
	}
	return k < len(hits) && hits[k] == d.Day()
}
