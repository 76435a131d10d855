package pim

import (
	"strings"
	"testing"
	"time"

	ical "github.com/emersion/go-ical"
	"github.com/emersion/go-vcard"
)

func TestZone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"W. Europe Standard Time", "Europe/Berlin", true},
		{"pacific standard time", "America/Los_Angeles", true},
		{"Europe/Lisbon", "Europe/Lisbon", true},
		{"", "UTC", true},
		{"GMT", "UTC", true},
		{"Local", "", false},
		{"Mars/Olympus_Mons", "", false},
	} {
		loc, ok := Zone(tc.in)
		if ok != tc.ok || ok && loc.String() != tc.want {
			t.Errorf("Zone(%q) = %v, %v; want %q, %v", tc.in, loc, ok, tc.want, tc.ok)
		}
	}
	if !IsWindowsZone("Romance Standard Time") || IsWindowsZone("Europe/Paris") {
		t.Error("IsWindowsZone tells Windows names from IANA ones wrongly")
	}
}

func TestPropTimeAndStamp(t *testing.T) {
	t.Parallel()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, tc := range []struct {
		value, tzid, param string
		want               time.Time
		date               bool
		stamp              string
	}{
		{"20260302", "", "DATE", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), true, "20260302"},
		{"20260302T080000Z", "", "", time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), false, "20260302T080000Z"},
		{"20260302T090000", "W. Europe Standard Time", "", time.Date(2026, 3, 2, 9, 0, 0, 0, berlin), false, "20260302T090000"},
		// A floating time is read in the fallback zone, UTC here.
		{"20260302T090000", "", "", time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), false, "20260302T090000Z"},
	} {
		p := &ical.Prop{Name: ical.PropDateTimeStart, Params: ical.Params{}, Value: tc.value}
		if tc.tzid != "" {
			p.Params.Set(ical.PropTimezoneID, tc.tzid)
		}
		if tc.param != "" {
			p.Params.Set(ical.ParamValue, tc.param)
		}
		got, loc, date, err := PropTime(p, nil)
		if err != nil || !got.Equal(tc.want) || date != tc.date {
			t.Errorf("PropTime(%s %s) = %v %v %v %v; want %v date=%v", tc.value, tc.tzid, got, loc, date, err, tc.want, tc.date)
		}
		if loc == nil {
			loc = time.UTC
		}
		if s := Stamp(got, loc, date); s != tc.stamp {
			t.Errorf("Stamp(%v) = %q, want %q", got, s, tc.stamp)
		}
	}
}

func TestParseEvent(t *testing.T) {
	t.Parallel()
	raw := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" +
		"BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20260301T000000Z\r\nRECURRENCE-ID;TZID=Tokyo Standard Time:20260309T090000\r\nDTSTART;TZID=Tokyo Standard Time:20260309T100000\r\nEND:VEVENT\r\n" +
		"BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20260301T000000Z\r\nDTSTART;TZID=Tokyo Standard Time:20260302T090000\r\nRRULE:FREQ=WEEKLY\r\nCATEGORIES:x,y\r\nEND:VEVENT\r\n" +
		"END:VCALENDAR\r\n"
	ev, err := ParseEvent([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if ev.UID != "a" || len(ev.Exceptions) != 1 || ev.Master.Props.Get(ical.PropRecurrenceRule) == nil ||
		ev.Zone != "Tokyo Standard Time" || ev.Loc.String() != "Asia/Tokyo" || strings.Join(Categories(ev.Master), ",") != "x,y" {
		t.Errorf("ParseEvent = %+v", ev)
	}
	two := strings.Replace(raw, "UID:a\r\nDTSTAMP:20260301T000000Z\r\nDTSTART", "UID:b\r\nDTSTAMP:20260301T000000Z\r\nDTSTART", 1)
	if _, err := ParseEvent([]byte(two)); err == nil {
		t.Error("a calendar of two UIDs was taken as one event")
	}
}

func TestVCardHelpers(t *testing.T) {
	t.Parallel()
	pref := &vcard.Field{Params: vcard.Params{vcard.ParamPreferred: {"1"}}}
	v3 := &vcard.Field{Params: vcard.Params{vcard.ParamType: {"work", "PREF"}}}
	none := &vcard.Field{Params: vcard.Params{}}
	if PrefOf(pref) != 1 || PrefOf(v3) != 1 || PrefOf(none) != 101 {
		t.Errorf("PrefOf = %d %d %d", PrefOf(pref), PrefOf(v3), PrefOf(none))
	}
	if b, ok := PhotoData(&vcard.Field{Value: "data:image/png;base64,aGk="}); !ok || string(b) != "hi" {
		t.Errorf("data URI: %q %v", b, ok)
	}
	if _, ok := PhotoData(&vcard.Field{Value: "https://example.com/p.png"}); ok {
		t.Error("a URL was fetched or decoded")
	}
	if Address("MAILTO:ana@acme.example") != "ana@acme.example" {
		t.Error("Address kept the scheme")
	}
}
