package tenantgen

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// ItemMeta is what is known of a calendar item or contact without its
// content.
type ItemMeta struct {
	Size       int64
	Flagged    bool
	Categories []string
}

// Event is calendar item idx of mailbox mbox without its content.
func Event(seed int64, mbox, idx int, domain string) ItemMeta {
	b := &builder{}
	m := buildEvent(b, item{seed, mbox, idx, domain})
	m.Size = b.n
	return m
}

// RenderEvent is calendar item idx of mailbox mbox as an iCalendar object
// (RFC 5545): a meeting, seven in ten of them weekly series, some with an
// excluded date and a moved occurrence, with attendees and their answers
// and the VTIMEZONE its times refer to.
func RenderEvent(seed int64, mbox, idx int, domain string) ([]byte, ItemMeta) {
	b := &builder{render: true}
	m := buildEvent(b, item{seed, mbox, idx, domain})
	m.Size = b.n
	return b.buf, m
}

// vtimezones are the definitions a TZID must come with; without them a
// receiving server guesses the zone and recurring meetings drift.
var vtimezones = []struct{ id, def string }{
	{"Europe/Berlin", "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n" +
		"BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n" +
		"DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n" +
		"BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n" +
		"DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n" +
		"END:VTIMEZONE\r\n"},
	{"America/New_York", "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\n" +
		"BEGIN:DAYLIGHT\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nTZNAME:EDT\r\n" +
		"DTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\n" +
		"BEGIN:STANDARD\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\n" +
		"DTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\n" +
		"END:VTIMEZONE\r\n"},
	{"Asia/Tokyo", "BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\n" +
		"BEGIN:STANDARD\r\nTZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nTZNAME:JST\r\n" +
		"DTSTART:19700101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"},
}

var eventTitles = []string{
	"Weekly sync", "Sprint planning", "Réunion budget", "Kundentermin Müller GmbH",
	"Design review", "1:1", "Migration cut-over rehearsal", "チーム定例",
}

var partstats = []string{"ACCEPTED", "TENTATIVE", "DECLINED", "NEEDS-ACTION"}

// icalText escapes a TEXT value (RFC 5545 3.3.11).
func icalText(s string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\n", `\n`).Replace(s)
}

func uuidFrom(r *rand.Rand) string {
	var u [16]byte
	binary.BigEndian.PutUint64(u[:8], r.Uint64())
	binary.BigEndian.PutUint64(u[8:], r.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// calBase is a Monday, so weekly BYDAY=MO rules start on an occurrence.
var calBase = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func buildEvent(b *builder, it item) ItemMeta {
	r := it.rng()
	owner := Owner(it.seed, it.mbox, it.domain)
	tz := vtimezones[r.IntN(len(vtimezones))]
	start := calBase.AddDate(0, 0, 7*(r.IntN(40)-20)).Add(time.Duration(8+r.IntN(9)) * time.Hour)
	if r.IntN(2) == 0 {
		start = start.Add(30 * time.Minute)
	}
	end := start.Add(time.Duration(30*(1+r.IntN(3))) * time.Minute)
	const local = "20060102T150405"
	title := eventTitles[r.IntN(len(eventTitles))]
	uid := uuidFrom(r)
	organizer := owner
	if r.IntN(10) >= 6 {
		organizer = it.colleague(r)
	}
	var attendees []Person
	if organizer.Address != owner.Address {
		attendees = append(attendees, owner)
	}
	for k := 1 + r.IntN(3); k > 0; k-- {
		attendees = append(attendees, it.correspondent(r))
	}
	stats := make([]string, len(attendees))
	for i := range stats {
		stats[i] = partstats[r.IntN(len(partstats))]
	}
	recurring := r.IntN(10) < 7
	count := 8 + r.IntN(12)
	exception := recurring && r.IntN(10) < 3

	b.add("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailferry//sandbox seed//EN\r\nCALSCALE:GREGORIAN\r\n")
	b.add(tz.def)
	vevent := func(recurrenceID string, s, e time.Time) {
		b.add("BEGIN:VEVENT\r\n")
		b.contentLine("UID:" + uid)
		b.add("DTSTAMP:20260302T090000Z\r\n")
		if recurrenceID != "" {
			b.add("RECURRENCE-ID;TZID=", tz.id, ":", recurrenceID, "\r\n")
		}
		b.add("DTSTART;TZID=", tz.id, ":", s.Format(local), "\r\n")
		b.add("DTEND;TZID=", tz.id, ":", e.Format(local), "\r\n")
		b.contentLine("SUMMARY:" + icalText(title))
		b.contentLine("LOCATION:" + icalText(fmt.Sprintf("Room %d.%02d", 1+r.IntN(6), r.IntN(40))))
		b.contentLine("DESCRIPTION:" + icalText(fmt.Sprintf(
			"Agenda for %s: review open items, decide next steps and agree on owners. Dial-in details follow.", title)))
		b.contentLine(fmt.Sprintf("ORGANIZER;CN=%q:mailto:%s", organizer.DisplayName(), organizer.Address))
		for i, a := range attendees {
			role := "REQ-PARTICIPANT"
			if i > 1 {
				role = "OPT-PARTICIPANT"
			}
			b.contentLine(fmt.Sprintf("ATTENDEE;CN=%q;ROLE=%s;PARTSTAT=%s;RSVP=TRUE:mailto:%s",
				a.DisplayName(), role, stats[i], a.Address))
		}
		if recurrenceID == "" && recurring {
			b.addf("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=%d\r\n", count)
			b.add("EXDATE;TZID=", tz.id, ":", start.AddDate(0, 0, 14).Format(local), "\r\n")
		}
		if recurrenceID != "" {
			b.add("SEQUENCE:1\r\n")
		} else {
			b.add("SEQUENCE:0\r\n")
		}
		b.add("STATUS:CONFIRMED\r\nTRANSP:OPAQUE\r\n")
		b.add("END:VEVENT\r\n")
	}
	vevent("", start, end)
	if exception {
		// One occurrence moved by an hour: the exception that migrations
		// are known to lose.
		occ := start.AddDate(0, 0, 21)
		vevent(occ.Format(local), occ.Add(time.Hour), occ.Add(time.Hour+end.Sub(start)))
	}
	b.add("END:VCALENDAR\r\n")
	var m ItemMeta
	_, m.Flagged, m.Categories = drawFlags(r)
	return m
}
