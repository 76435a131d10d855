package ews

import (
	"strings"
	"testing"
	"time"
)

// TestRecurrenceBothWays: every rule shape Exchange has goes from RRULE to
// EWS and back unchanged (up to the order of its parts), and rules EWS
// cannot express are refused with the part named.
func TestRecurrenceBothWays(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	start := time.Date(2026, 3, 3, 9, 0, 0, 0, berlin) // a Tuesday
	cases := []struct {
		in, out string // out "" means the same as in
		refused string // the part an error must name
	}{
		{in: "FREQ=DAILY;COUNT=5"},
		{in: "FREQ=DAILY;INTERVAL=3"},
		{in: "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", out: "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"},
		{in: "FREQ=WEEKLY;BYDAY=TU;COUNT=10"},
		{in: "FREQ=WEEKLY", out: "FREQ=WEEKLY;BYDAY=TU"},
		{in: "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR;WKST=SU"},
		{in: "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,SA", out: "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,SA;WKST=MO"},
		{in: "FREQ=MONTHLY;BYMONTHDAY=15;UNTIL=20261215T080000Z"},
		{in: "FREQ=MONTHLY", out: "FREQ=MONTHLY;BYMONTHDAY=3"},
		{in: "FREQ=MONTHLY;BYDAY=2TU", out: "FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2"},
		{in: "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR", out: "FREQ=MONTHLY;BYDAY=FR;BYSETPOS=-1;INTERVAL=3"},
		{in: "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1"},
		{in: "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=3"},
		{in: "FREQ=YEARLY", out: "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=3"},
		{in: "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", out: "FREQ=YEARLY;BYMONTH=11;BYDAY=TH;BYSETPOS=4"},
		{in: "FREQ=YEARLY;INTERVAL=2", refused: "INTERVAL"},
		{in: "FREQ=HOURLY", refused: "HOURLY"},
		{in: "FREQ=WEEKLY;BYHOUR=9", refused: "BYHOUR"},
		{in: "FREQ=MONTHLY;BYMONTHDAY=1,15", refused: "BYMONTHDAY"},
		{in: "FREQ=MONTHLY;BYDAY=3MO,1TU", refused: "BYDAY"},
		{in: "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=5", refused: "week index 5"},
	}
	for _, tc := range cases {
		r, err := recurrenceOf(tc.in, start)
		if tc.refused != "" {
			if err == nil || !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("%s: %v, want a refusal naming %s", tc.in, err, tc.refused)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		got, err := rruleOf(r, start, false)
		if err != nil {
			t.Errorf("%s: back: %v", tc.in, err)
			continue
		}
		want := tc.out
		if want == "" {
			want = tc.in
		}
		if sorted(got) != sorted(want) {
			t.Errorf("%s: back as %s, want %s", tc.in, got, want)
		}
	}
}

func sorted(rule string) string {
	parts := strings.Split(rule, ";")
	for i := range parts {
		for j := i + 1; j < len(parts); j++ {
			if parts[j] < parts[i] {
				parts[i], parts[j] = parts[j], parts[i]
			}
		}
	}
	return strings.Join(parts, ";")
}

// TestInstanceIndex counts occurrences as EWS numbers them: deleted ones
// count, a time that is no occurrence has none, and the zone's wall clock
// is kept across the change to summer time.
func TestInstanceIndex(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	start := time.Date(2026, 3, 3, 9, 0, 0, 0, berlin)
	for _, tc := range []struct {
		at   time.Time
		want int
	}{
		{start, 1},
		{time.Date(2026, 3, 17, 9, 0, 0, 0, berlin), 3},
		{time.Date(2026, 4, 7, 9, 0, 0, 0, berlin), 6}, // summer time: 07:00 UTC
		{time.Date(2026, 4, 7, 8, 0, 0, 0, berlin), 0},
		{time.Date(2026, 6, 30, 9, 0, 0, 0, berlin), 0}, // after COUNT=10
	} {
		if got := instanceIndex("FREQ=WEEKLY;BYDAY=TU;COUNT=10", start, tc.at); got != tc.want {
			t.Errorf("%s: index %d, want %d", tc.at, got, tc.want)
		}
	}
}

// TestWindowsZones: zones with a Windows id of their own use it, others
// the Windows zone that keeps the same offsets, and none when no zone
// does.
func TestWindowsZones(t *testing.T) {
	for iana, want := range map[string]string{
		"Europe/Berlin": "W. Europe Standard Time", "America/New_York": "Eastern Standard Time", "UTC": "UTC",
		"Europe/Vienna": "W. Europe Standard Time", "Asia/Tokyo": "Tokyo Standard Time", "Asia/Kathmandu": "Nepal Standard Time",
	} {
		loc, err := time.LoadLocation(iana)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := windowsZone(loc); !ok || got != want {
			t.Errorf("%s: %q %v, want %q", iana, got, ok, want)
		}
	}
	odd := time.FixedZone("UTC+03:17", 3*3600+17*60)
	if got, ok := windowsZone(odd); ok {
		t.Errorf("a zone nobody keeps is %q", got)
	}
}

func TestFingerprints(t *testing.T) {
	fp := strings.Repeat("a1", 32)
	for _, in := range []string{fp, strings.ToUpper(fp), displayFingerprint(fp), " sha256=" + displayFingerprint(fp) + " "} {
		if got, ok := normalizeFingerprint(in); !ok || got != fp {
			t.Errorf("%q: %q %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "a1:b2", strings.Repeat("zz", 32)} {
		if _, ok := normalizeFingerprint(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}
