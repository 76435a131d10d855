package graph

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/mailferry/mailferry/libs/tenantgen"
)

var seedTitles = []string{"Weekly sync", "Sprint planning", "Réunion budget", "Kundentermin Müller GmbH",
	"Design review", "1:1", "Migration cut-over rehearsal", "チーム定例", "Quartalsplanung Q2", "Café avec l'équipe"}

var seedZones = []string{"W. Europe Standard Time", "Eastern Standard Time", "Tokyo Standard Time", "UTC",
	"India Standard Time", "Pacific Standard Time", "Europe/Paris"}

// seedBase is a Monday, so that weekly series on Mondays start on an
// occurrence.
var seedBase = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

type seedPerson struct{ name, addr string }

// seedPeople are colleagues (other seeded mailboxes, so meetings between
// seeded users address real mailboxes) and external people.
func seedPeople(r *rand.Rand, seed int64, n int, domain string, k int) []seedPerson {
	var out []seedPerson
	for i := 0; i < k; i++ {
		m := 1 + r.IntN(999)
		if m == n {
			m = m%999 + 1
		}
		if r.IntN(10) < 6 {
			o := tenantgen.Owner(seed, m, domain)
			out = append(out, seedPerson{o.DisplayName(), o.Address})
		} else {
			o := tenantgen.Owner(seed, m, "example.com")
			local, _, _ := strings.Cut(o.Alias, "@")
			out = append(out, seedPerson{o.DisplayName(), local + "@" + []string{"example.com", "example.net", "example.org"}[r.IntN(3)]})
		}
	}
	return out
}

// seedCalendarLocked gives a mailbox count events of five kinds in turn:
// a weekly series the owner organises with attendees, one exception and
// one deleted occurrence; a series a colleague organises (the owner's
// attendee copy) with an occurrence the organiser cancelled; a single
// meeting; an all-day private appointment; a monthly series without
// attendees.
func (s *Sandbox) seedCalendarLocked(u *user, seed int64, n, count int) {
	owner := emailAddr{Name: u.displayName, Address: u.upn}
	stamp := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for k := 0; k < count; k++ {
		r := rand.New(rand.NewPCG(uint64(seed), uint64(n)<<32|uint64(k)|0xca1<<20))
		zone := seedZones[r.IntN(len(seedZones))]
		loc, _ := zoneOf(zone)
		day := seedBase.AddDate(0, 0, 7*(r.IntN(20)-10))
		hour := 8 + r.IntN(9)
		start := time.Date(day.Year(), day.Month(), day.Day(), hour, 30*r.IntN(2), 0, 0, loc)
		dur := time.Duration(30*(1+r.IntN(3))) * time.Minute
		title := seedTitles[r.IntN(len(seedTitles))]
		e := s.newEventLocked(u, u.cal.def)
		e.created, e.modified = stamp.Add(-time.Duration(k)*time.Hour), stamp.Add(-time.Duration(k)*time.Hour)
		e.subject = title
		e.bodyType = "html"
		e.body = fmt.Sprintf("<html><body><p>Agenda for %s: review open items, decide next steps and agree on owners.</p></body></html>", title)
		e.start, e.end, e.startTZ, e.endTZ = start.UTC(), start.Add(dur).UTC(), zone, zone
		e.location = normLocation(map[string]any{"displayName": fmt.Sprintf("Room %d.%02d", 1+r.IntN(6), r.IntN(40))})
		e.locations = []map[string]any{e.location}
		e.reminderMinutes = []int{0, 5, 15, 30, 1080}[r.IntN(5)]
		if r.IntN(8) == 0 {
			e.categories = []string{[]string{"Blue category", "Red category", "Kunde", "Important"}[r.IntN(4)]}
		}
		attendees := func(people []seedPerson) []attendee {
			var l []attendee
			for i, p := range people {
				a := attendee{Type: "required", Response: []string{"accepted", "tentativelyAccepted", "declined", "none"}[r.IntN(4)],
					Email: emailAddr{Name: p.name, Address: p.addr}}
				if i > 1 {
					a.Type = "optional"
				}
				if a.Response != "none" {
					a.Time = stamp.Add(-time.Duration(r.IntN(500)) * time.Minute)
				}
				l = append(l, a)
			}
			return l
		}
		weekly := func(occurrences int) {
			rec := &recurrence{}
			rec.Pattern.Type, rec.Pattern.Interval = "weekly", 1
			rec.Pattern.DaysOfWeek = []string{weekdays[start.Weekday()]}
			rec.Range.Type, rec.Range.StartDate, rec.Range.NumberOfOccurrences = "numbered", start.Format("2006-01-02"), occurrences
			rec.normalise(zone)
			e.rec = rec
		}
		switch k % 5 {
		case 0, 1:
			weekly(8 + r.IntN(8))
			if k%5 == 0 {
				e.attendees = attendees(seedPeople(r, seed, n, s.domain, 2+r.IntN(3)))
				e.online, e.onlineProvider = true, "teamsForBusiness"
				e.joinURL = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_" + e.uid[len(e.uid)-32:] + "%40thread.v2/0"
			} else {
				org := seedPeople(r, seed, n, s.domain, 1)[0]
				e.organizer, e.isOrganizer = emailAddr{Name: org.name, Address: org.addr}, false
				e.response, e.responseTime = "accepted", stamp.Add(-48*time.Hour)
				e.attendees = append([]attendee{{Type: "required", Response: "accepted", Time: e.responseTime, Email: owner}},
					attendees(seedPeople(r, seed, n, s.domain, 1+r.IntN(2)))...)
			}
			s.touchEventLocked(e)
			occ := e.rec.expand(e.start, e.start.AddDate(1, 0, 0))
			// One occurrence moved by an hour: the exception migrations
			// are known to lose.
			x := *e
			o := occ[2]
			x.id, x.rec, x.master, x.original = occurrenceID(e.id, o), nil, e, o
			x.start, x.end = o.Add(time.Hour), o.Add(time.Hour+dur)
			x.attendees = append([]attendee(nil), e.attendees...)
			s.touchEventLocked(&x)
			e.exceptions = map[int64]*event{o.Unix(): &x}
			if k%5 == 0 {
				// The organiser deleted one occurrence.
				e.deleted = map[int64]int64{occ[4].Unix(): s.nextSeqLocked()}
			} else {
				// The organiser cancelled one: the attendee's copy stays,
				// marked cancelled, until the attendee removes it.
				c := *e
				o := occ[5]
				c.id, c.rec, c.master, c.original = occurrenceID(e.id, o), nil, e, o
				c.start, c.end = o, o.Add(dur)
				c.cancelled, c.subject = true, "Canceled: "+e.subject
				c.exceptions, c.deleted = nil, nil
				s.touchEventLocked(&c)
				e.exceptions[o.Unix()] = &c
			}
			x.exceptions, x.deleted = nil, nil
			for _, y := range e.exceptions {
				y.modified = e.created
			}
		case 2:
			e.attendees = attendees(seedPeople(r, seed, n, s.domain, 1+r.IntN(3)))
			s.touchEventLocked(e)
		case 3:
			d := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, loc)
			e.start, e.end, e.allDay = d.UTC(), d.AddDate(0, 0, 1+r.IntN(3)).UTC(), true
			e.subject = []string{"Urlaub", "Conférence", "Offsite", "休暇"}[r.IntN(4)]
			e.showAs, e.sensitivity = []string{"free", "oof", "workingElsewhere"}[r.IntN(3)], "private"
			e.reminderOn = false
			s.touchEventLocked(e)
		case 4:
			rec := &recurrence{}
			rec.Pattern.Type, rec.Pattern.Interval = "relativeMonthly", 1
			rec.Pattern.DaysOfWeek, rec.Pattern.Index = []string{weekdays[start.Weekday()]}, "first"
			first := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC)
			rec.Range.Type, rec.Range.StartDate, rec.Range.EndDate = "endDate", first.Format("2006-01-02"), first.AddDate(0, 6, 0).Format("2006-01-02")
			rec.normalise(zone)
			e.rec = rec
			// The master starts on the first occurrence, as Outlook keeps it.
			if occ := rec.expand(e.start, e.start.AddDate(1, 0, 0)); len(occ) > 0 {
				e.start, e.end = occ[0], occ[0].Add(dur)
			}
			e.showAs = "tentative"
			s.touchEventLocked(e)
		}
		e.modified = e.created
		u.cal.events[e.id] = e
	}
}

var seedStreets = []map[string]any{
	{"street": "Friedrichstraße 123", "city": "Berlin", "postalCode": "10117", "countryOrRegion": "Germany"},
	{"street": "12 Rue de la Paix", "city": "Paris", "postalCode": "75002", "countryOrRegion": "France"},
	{"street": "350 Fifth Avenue", "city": "New York", "state": "NY", "postalCode": "10118", "countryOrRegion": "USA"},
	{"street": "1-1 Marunouchi", "city": "Tokyo", "postalCode": "100-0005", "countryOrRegion": "Japan"},
	{"street": "Calle de Alcalá 45", "city": "Madrid", "postalCode": "28014", "countryOrRegion": "Spain"},
}

// seedContactsLocked gives a mailbox count contacts with many fields,
// two thirds in the default folder and the rest in a "Kunden" folder;
// every third has a photo.
func (s *Sandbox) seedContactsLocked(u *user, seed int64, n, count int) {
	if count <= 0 {
		return
	}
	sub := s.addContactFolderLocked(u, u.ct.root, "Kunden")
	stamp := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for k := 0; k < count; k++ {
		r := rand.New(rand.NewPCG(uint64(seed), uint64(n)<<32|uint64(k)|0xc0d<<20))
		p := seedPeople(r, seed, n, s.domain, 1)[0]
		given, surname, _ := strings.Cut(p.name, " ")
		local, _, _ := strings.Cut(p.addr, "@")
		emails := []any{map[string]any{"name": p.name, "address": p.addr}}
		for i := r.IntN(3); i > 0; i-- {
			emails = append(emails, map[string]any{"name": p.name, "address": fmt.Sprintf("%s.%d@example.net", local, len(emails))})
		}
		d := map[string]any{
			"givenName": given, "surname": surname, "displayName": p.name, "fileAs": surname + ", " + given,
			"companyName": surname + " Consulting", "department": []string{"Einkauf", "Finance", "R&D", "Ventes"}[r.IntN(4)],
			"jobTitle":       []string{"Account Manager", "CFO", "Projektleiterin", "IT Administrator", "Consultant"}[r.IntN(5)],
			"emailAddresses": emails, "businessPhones": []any{fmt.Sprintf("+49 30 555 %04d", r.IntN(10000))},
			"mobilePhone":     fmt.Sprintf("+1 202 555 %04d", r.IntN(10000)),
			"businessAddress": seedStreets[r.IntN(len(seedStreets))], "homeAddress": seedStreets[r.IntN(len(seedStreets))],
			"personalNotes": "Met at the migration workshop, prefers email over phone. Café ☕ on Fridays.",
			"imAddresses":   []any{"sip:" + p.addr},
		}
		if r.IntN(2) == 0 {
			d["middleName"] = []string{"Maria", "J.", "Åse"}[r.IntN(3)]
			d["title"] = []string{"Dr.", "Prof.", "Mme"}[r.IntN(3)]
			d["nickName"] = strings.ToLower(given)
			d["homePhones"] = []any{fmt.Sprintf("+33 1 55 %02d %02d %02d", r.IntN(100), r.IntN(100), r.IntN(100))}
			d["otherAddress"] = seedStreets[r.IntN(len(seedStreets))]
			d["categories"] = []any{"Kunde"}
		}
		if r.IntN(2) == 0 {
			d["birthday"] = gtime(time.Date(1950+r.IntN(50), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC))
		}
		f := u.ct.root
		if k%3 == 2 {
			f = sub
		}
		ct := &contact{id: s.newIDLocked("contact"), folderID: f.id, created: stamp.Add(-time.Duration(k) * time.Minute), data: d}
		if k%3 == 0 {
			ct.photo, ct.photoType = seedPhoto(r), "image/png"
		}
		s.touchContactLocked(ct)
		ct.modified = ct.created
		u.ct.items[ct.id] = ct
	}
}

// seedPhoto is a small deterministic PNG.
func seedPhoto(r *rand.Rand) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 48, 48))
	c := color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
	for y := 0; y < 48; y++ {
		for x := 0; x < 48; x++ {
			if (x/8+y/8)%2 == 0 {
				img.Set(x, y, c)
			} else {
				img.Set(x, y, color.White)
			}
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}
