package memory

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"html"
	"math/rand/v2"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mailferry/mailferry/libs/platform"
)

// SeedSpec says what Seed generates.
type SeedSpec struct {
	Mailboxes       int
	ItemsPerMailbox int
	Seed            int64
	// FirstIndex is the number of the first mailbox (user0001 is number
	// 1); zero means 1. Seeding a second range into the same tenant, or the
	// same range into two tenants, is how tests build source and
	// destination populations that overlap as much as they choose.
	FirstIndex int
}

// Seed fills a tenant with mailboxes user<NNNN>@<domain>, each with a user
// folder tree and ItemsPerMailbox items: about 80% mail, 10% calendar items
// and 10% contacts. The same spec and domain give byte-identical data.
//
// Content is not kept: every item remembers only (seed, mailbox, index) and
// is rendered again when read, so that thousands of mailboxes cost a few
// hundred bytes per item. Sizes are exact because size and content come from
// one code path, which counts instead of writing when only the size is
// wanted. Mailboxes that already exist are returned untouched, so seeding
// twice does not duplicate items.
func Seed(t *Tenant, spec SeedSpec) []platform.Mailbox {
	first := spec.FirstIndex
	if first <= 0 {
		first = 1
	}
	out := make([]platform.Mailbox, 0, max(spec.Mailboxes, 0))
	for i := 0; i < spec.Mailboxes; i++ {
		n := first + i
		owner := personAt(spec.Seed, n, t.domain)
		gens := make([]*lazy, max(spec.ItemsPerMailbox, 0))
		sizes := make([]int64, len(gens))
		for idx := range gens {
			g := &lazy{seed: spec.Seed, mbox: n, idx: idx, domain: t.domain}
			g.kind, g.place = placement(spec.Seed, n, idx)
			gens[idx] = g
			sizes[idx] = g.size()
		}

		t.mu.Lock()
		if mb, ok := t.byAddress[strings.ToLower(owner.addr)]; ok {
			t.mu.Unlock()
			out = append(out, cloneMailbox(mb.info))
			continue
		}
		mb := t.addMailboxLocked(platform.Mailbox{
			PrimaryAddress: owner.addr,
			DisplayName:    owner.display(),
			Aliases:        []string{owner.alias},
		})
		byPlace := t.seedFoldersLocked(mb)
		for idx, g := range gens {
			fo := byPlace[g.place]
			it := &item{
				ref: platform.ItemRef{
					ID:       t.newID("itm"),
					FolderID: fo.info.ID,
					Kind:     g.kind,
					Size:     sizes[idx],
				},
				gen: g,
			}
			mb.items[it.ref.ID] = it
			fo.touch(it)
		}
		t.mu.Unlock()
		out = append(out, cloneMailbox(mb.info))
	}
	return out
}

// Places an item can be seeded into; the user folders nest three deep so
// that hierarchy mapping is exercised.
const (
	plInbox = iota
	plSent
	plArchive
	plProjects
	pl2026
	plQ1
	plCustomers
	plNewsletters
	plCalendar
	plContacts
	plCount
)

func (t *Tenant) seedFoldersLocked(mb *mailbox) [plCount]*folder {
	var p [plCount]*folder
	for _, f := range mb.forder {
		switch f.info.Role {
		case platform.RoleInbox:
			p[plInbox] = f
		case platform.RoleSent:
			p[plSent] = f
		case platform.RoleArchive:
			p[plArchive] = f
		case platform.RoleCalendar:
			p[plCalendar] = f
		case platform.RoleContacts:
			p[plContacts] = f
		}
	}
	user := func(parent *folder, name string) *folder {
		pid := ""
		if parent != nil {
			pid = parent.info.ID
		}
		return t.addFolderLocked(mb, platform.Folder{ParentID: pid, Name: name, Kind: platform.Mail})
	}
	p[plProjects] = user(nil, "Projects")
	p[pl2026] = user(p[plProjects], "2026")
	p[plQ1] = user(p[pl2026], "Q1 Planung")
	p[plCustomers] = user(nil, "Customers")
	p[plNewsletters] = user(p[plInbox], "Newsletters")
	return p
}

// placement decides kind and folder from a hash rather than the content's
// random stream, so it is known before anything is rendered.
func placement(seed int64, mbox, idx int) (platform.ItemKind, int) {
	switch idx % 10 {
	case 1:
		return platform.Event, plCalendar
	case 2:
		return platform.Contact, plContacts
	}
	h := mix(uint64(seed), uint64(mbox)<<32|uint64(idx), 0x51ed) % 100
	switch {
	case h < 40:
		return platform.Mail, plInbox
	case h < 60:
		return platform.Mail, plSent
	case h < 70:
		return platform.Mail, plArchive
	case h < 78:
		return platform.Mail, plProjects
	case h < 86:
		return platform.Mail, pl2026
	case h < 90:
		return platform.Mail, plQ1
	case h < 95:
		return platform.Mail, plCustomers
	}
	return platform.Mail, plNewsletters
}

// mix is splitmix64 over three words; it only has to spread bits.
func mix(a, b, c uint64) uint64 {
	z := a*0x9e3779b97f4a7c15 ^ b*0xbf58476d1ce4e5b9 ^ c*0x94d049bb133111eb
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

type lazy struct {
	seed   int64
	mbox   int
	idx    int
	domain string
	kind   platform.ItemKind
	place  int
}

type rendered struct {
	content    []byte
	received   time.Time
	read       bool
	flagged    bool
	categories []string
}

func (l *lazy) size() int64 {
	b := &builder{}
	l.build(b)
	return b.n
}

func (l *lazy) render() rendered {
	b := &builder{render: true}
	r := l.build(b)
	r.content = b.buf
	return r
}

// builder either appends or only counts; bulk parts (filler text, base64
// attachments) have closed-form lengths so counting them costs nothing.
type builder struct {
	render bool
	buf    []byte
	n      int64
}

func (b *builder) add(ss ...string) {
	for _, s := range ss {
		b.n += int64(len(s))
		if b.render {
			b.buf = append(b.buf, s...)
		}
	}
}

func (b *builder) addf(format string, a ...any) { b.add(fmt.Sprintf(format, a...)) }

// header writes a header line; callers keep values short enough that
// folding is not needed.
func (b *builder) header(name, value string) { b.add(name, ": ", value, "\r\n") }

// contentLine writes an iCalendar or vCard content line folded at 75
// octets, never inside a UTF-8 sequence, as RFC 5545 and RFC 6350 require.
func (b *builder) contentLine(line string) {
	limit := 75
	for len(line) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		b.add(line[:cut], "\r\n ")
		line = line[cut:]
		limit = 74 // the leading space counts
	}
	b.add(line, "\r\n")
}

var fillerWords = strings.Fields(`the project team review budget quarter
schedule meeting customer proposal update attached please find below agenda
migration mailbox timeline we will need your feedback on draft contract
delivery next steps thanks regards following up as discussed yesterday call
numbers forecast invoice approval office travel workshop planning release
status risk owner action items deadline confirm available afternoon morning`)

// filler writes exactly n bytes of wrapped ASCII prose ending in CRLF.
func (b *builder) filler(seed uint64, n int) {
	b.n += int64(n)
	if !b.render {
		return
	}
	if n < 2 {
		b.buf = append(b.buf, strings.Repeat(".", n)...)
		return
	}
	r := rand.New(rand.NewPCG(seed, 0xf111e5))
	start, body := len(b.buf), n-2
	line := 0
	for len(b.buf)-start < body {
		w := fillerWords[r.IntN(len(fillerWords))]
		if line > 0 {
			if line+1+len(w) > 72 {
				b.buf = append(b.buf, '\r', '\n')
				line = 0
			} else {
				b.buf = append(b.buf, ' ')
				line++
			}
		}
		b.buf = append(b.buf, w...)
		line += len(w)
		if r.IntN(9) == 0 {
			b.buf = append(b.buf, '.')
			line++
		}
	}
	b.buf = b.buf[:start+body]
	if body > 0 && b.buf[len(b.buf)-1] == '\r' {
		b.buf[len(b.buf)-1] = '.'
	}
	b.buf = append(b.buf, '\r', '\n')
}

// base64Data writes n pseudo-random bytes base64-encoded in 76-character
// lines, each ending in CRLF, as RFC 2045 wants.
func (b *builder) base64Data(seed uint64, n int) {
	enc := base64.StdEncoding.EncodedLen(n)
	lines := (enc + 75) / 76
	b.n += int64(enc + 2*lines)
	if !b.render {
		return
	}
	raw := make([]byte, (n+7)/8*8)
	r := rand.New(rand.NewPCG(seed, 0xa77ac4))
	for i := 0; i < len(raw); i += 8 {
		binary.LittleEndian.PutUint64(raw[i:], r.Uint64())
	}
	e := make([]byte, enc)
	base64.StdEncoding.Encode(e, raw[:n])
	for len(e) > 0 {
		k := min(76, len(e))
		b.buf = append(b.buf, e[:k]...)
		b.buf = append(b.buf, '\r', '\n')
		e = e[k:]
	}
}

type name struct{ display, ascii string }

var firstNames = []name{
	{"José", "jose"}, {"Zoë", "zoe"}, {"Björn", "bjorn"}, {"Chloé", "chloe"},
	{"Łukasz", "lukasz"}, {"Søren", "soren"}, {"Ana", "ana"}, {"Wei", "wei"},
	{"Priya", "priya"}, {"Oluwaseun", "oluwaseun"}, {"Hannah", "hannah"},
	{"Mateo", "mateo"}, {"Yuki", "yuki"}, {"Fatima", "fatima"}, {"Liam", "liam"},
	{"Émilie", "emilie"}, {"Noah", "noah"}, {"Ingrid", "ingrid"},
}

var lastNames = []name{
	{"Müller", "mueller"}, {"García", "garcia"}, {"Nakamura", "nakamura"},
	{"Kowalski", "kowalski"}, {"Dubois", "dubois"}, {"Andersen", "andersen"},
	{"Smith", "smith"}, {"Chen", "chen"}, {"Okafor", "okafor"}, {"Silva", "silva"},
	{"Novák", "novak"}, {"Jensen", "jensen"}, {"Rossi", "rossi"},
	{"Ivanova", "ivanova"}, {"Schröder", "schroeder"}, {"Patel", "patel"},
}

var externalDomains = []string{"example.com", "example.net", "example.org"}

type person struct {
	first, last name
	addr, alias string
}

func (p person) display() string { return p.first.display + " " + p.last.display }

func (p person) mail() string {
	return (&mail.Address{Name: p.display(), Address: p.addr}).String()
}

// personAt is the owner of mailbox n; colleagues are other mailbox numbers,
// so mail between seeded mailboxes addresses real mailboxes.
func personAt(seed int64, n int, domain string) person {
	h := mix(uint64(seed), uint64(n), 0x9e7)
	p := person{first: firstNames[h%uint64(len(firstNames))], last: lastNames[(h>>20)%uint64(len(lastNames))]}
	p.addr = fmt.Sprintf("user%04d@%s", n, domain)
	p.alias = fmt.Sprintf("%s.%s%d@%s", p.first.ascii, p.last.ascii, n, domain)
	return p
}

func external(r *rand.Rand) person {
	p := person{first: firstNames[r.IntN(len(firstNames))], last: lastNames[r.IntN(len(lastNames))]}
	p.addr = p.first.ascii + "." + p.last.ascii + "@" + externalDomains[r.IntN(len(externalDomains))]
	return p
}

func (l *lazy) colleague(r *rand.Rand) person {
	n := 1 + r.IntN(999)
	if n == l.mbox {
		n = n%999 + 1
	}
	return personAt(l.seed, n, l.domain)
}

func (l *lazy) correspondent(r *rand.Rand) person {
	if r.IntN(10) < 6 {
		return l.colleague(r)
	}
	return external(r)
}

func (l *lazy) build(b *builder) rendered {
	r := rand.New(rand.NewPCG(uint64(l.seed), uint64(l.mbox)<<32|uint64(l.idx)))
	switch l.kind {
	case platform.Event:
		return l.buildEvent(b, r)
	case platform.Contact:
		return l.buildContact(b, r)
	}
	return l.buildMail(b, r)
}

var subjects = []string{
	"Quarterly report", "Budget 2026 – first draft", "Réunion d'équipe lundi",
	"Überprüfung der Angebote", "会議の議事録", "Приглашение на встречу",
	"Invoice %d", "Lunch on Friday?", "Project kickoff: agenda", "Café order ☕",
	"Migration timeline", "Contract renewal %d", "Travel plans", "Résumé attached",
	"Status update week %d", "Re-org announcement",
}

var zones = []*time.Location{
	time.FixedZone("CET", 3600), time.FixedZone("EST", -5*3600),
	time.FixedZone("JST", 9*3600), time.UTC, time.FixedZone("IST", 5*3600+1800),
}

func encodeWord(s string) string {
	for _, c := range s {
		if c > 0x24f {
			return mime.BEncoding.Encode("utf-8", s)
		}
	}
	return mime.QEncoding.Encode("utf-8", s)
}

func transferEncoding(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return "8bit"
		}
	}
	return "7bit"
}

var categoryNames = []string{"Blue category", "Red category", "Kunde", "Important"}

func meta(r *rand.Rand, rd *rendered) {
	rd.read = r.IntN(10) < 7
	rd.flagged = r.IntN(20) == 0
	if r.IntN(8) == 0 {
		rd.categories = []string{categoryNames[r.IntN(len(categoryNames))]}
	}
}

var mailBase = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func (l *lazy) buildMail(b *builder, r *rand.Rand) rendered {
	owner := personAt(l.seed, l.mbox, l.domain)
	other := l.correspondent(r)
	from, to := other, owner
	if l.place == plSent {
		from, to = owner, other
	}
	var cc []person
	for k := r.IntN(5); k > 0 && k < 3; k-- {
		cc = append(cc, l.colleague(r))
	}
	date := mailBase.Add(-time.Duration(r.IntN(365*24*3600)) * time.Second).In(zones[r.IntN(len(zones))])
	subject := subjects[r.IntN(len(subjects))]
	if strings.Contains(subject, "%d") {
		subject = fmt.Sprintf(subject, 1000+r.IntN(9000))
	}
	reply := r.IntN(5) == 0
	if reply {
		subject = "Re: " + subject
	}
	senderDomain := from.addr[strings.IndexByte(from.addr, '@')+1:]
	msgID := fmt.Sprintf("<%016x.%d.%d@%s>", r.Uint64(), l.mbox, l.idx, senderDomain)

	b.header("Message-ID", msgID)
	b.header("Date", date.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	b.header("From", from.mail())
	b.header("To", to.mail())
	if len(cc) > 0 {
		list := make([]string, len(cc))
		for i, p := range cc {
			list[i] = p.mail()
		}
		b.header("Cc", strings.Join(list, ", "))
	}
	b.header("Subject", encodeWord(subject))
	if reply {
		b.header("In-Reply-To", fmt.Sprintf("<%016x@%s>", r.Uint64(), l.domain))
	}
	b.header("MIME-Version", "1.0")

	greeting := "Hi " + to.first.display + ",\r\n\r\n"
	signature := "\r\n-- \r\n" + from.display() + "\r\n"
	textLen := 1024 + r.IntN(11*1024)
	fillSeed := r.Uint64()
	alt := func(bnd string) {
		b.add("Content-Type: multipart/alternative; boundary=\"", bnd, "\"\r\n\r\n")
		b.add("--", bnd, "\r\n")
		b.add("Content-Type: text/plain; charset=utf-8\r\n")
		b.add("Content-Transfer-Encoding: ", transferEncoding(greeting+signature), "\r\n\r\n")
		b.add(greeting)
		b.filler(fillSeed, textLen)
		b.add(signature)
		b.add("--", bnd, "\r\n")
		b.add("Content-Type: text/html; charset=utf-8\r\n")
		b.add("Content-Transfer-Encoding: ", transferEncoding(greeting+signature), "\r\n\r\n")
		b.add("<html><head><meta charset=\"utf-8\"></head><body>\r\n<p>Hi ",
			html.EscapeString(to.first.display), ",</p>\r\n<p>\r\n")
		b.filler(fillSeed, textLen)
		b.add("</p>\r\n<p>-- <br>", html.EscapeString(from.display()), "</p>\r\n</body></html>\r\n")
		b.add("--", bnd, "--\r\n")
	}

	switch shape := r.IntN(100); {
	case shape < 15:
		b.add("Content-Type: text/plain; charset=utf-8\r\n")
		b.add("Content-Transfer-Encoding: ", transferEncoding(greeting+signature), "\r\n\r\n")
		b.add(greeting)
		b.filler(fillSeed, textLen)
		b.add(signature)
	case shape < 75:
		alt(fmt.Sprintf("=_mf_alt_%016x", r.Uint64()))
	default:
		mixed := fmt.Sprintf("=_mf_mix_%016x", r.Uint64())
		inner := fmt.Sprintf("=_mf_alt_%016x", r.Uint64())
		attSize := 2048 + r.IntN(46*1024)
		if r.IntN(100) == 0 {
			attSize = 256<<10 + r.IntN(768<<10)
		}
		names := []struct{ file, ctype string }{
			{"report-%d.pdf", "application/pdf"}, {"photo-%d.png", "image/png"},
			{"Angebotsübersicht-%d.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		}
		att := names[r.IntN(len(names))]
		file := fmt.Sprintf(att.file, r.IntN(100))
		attSeed := r.Uint64()
		b.add("Content-Type: multipart/mixed; boundary=\"", mixed, "\"\r\n\r\n")
		b.add("This is a multi-part message in MIME format.\r\n")
		b.add("--", mixed, "\r\n")
		alt(inner)
		b.add("--", mixed, "\r\n")
		b.add("Content-Type: ", mime.FormatMediaType(att.ctype, map[string]string{"name": file}), "\r\n")
		b.add("Content-Disposition: ", mime.FormatMediaType("attachment", map[string]string{"filename": file}), "\r\n")
		b.add("Content-Transfer-Encoding: base64\r\n\r\n")
		b.base64Data(attSeed, attSize)
		b.add("--", mixed, "--\r\n")
	}
	rd := rendered{received: date.UTC()}
	meta(r, &rd)
	return rd
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

func (l *lazy) buildEvent(b *builder, r *rand.Rand) rendered {
	owner := personAt(l.seed, l.mbox, l.domain)
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
		organizer = l.colleague(r)
	}
	var attendees []person
	if organizer.addr != owner.addr {
		attendees = append(attendees, owner)
	}
	for k := 1 + r.IntN(3); k > 0; k-- {
		attendees = append(attendees, l.correspondent(r))
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
		b.contentLine(fmt.Sprintf("ORGANIZER;CN=%q:mailto:%s", organizer.display(), organizer.addr))
		for i, a := range attendees {
			role := "REQ-PARTICIPANT"
			if i > 1 {
				role = "OPT-PARTICIPANT"
			}
			b.contentLine(fmt.Sprintf("ATTENDEE;CN=%q;ROLE=%s;PARTSTAT=%s;RSVP=TRUE:mailto:%s",
				a.display(), role, stats[i], a.addr))
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
	var rd rendered
	meta(r, &rd)
	rd.read = false
	return rd
}

var streets = []struct{ street, city, code, country string }{
	{"Friedrichstraße 123", "Berlin", "10117", "Germany"},
	{"12 Rue de la Paix", "Paris", "75002", "France"},
	{"350 Fifth Avenue", "New York", "10118", "USA"},
	{"1-1 Marunouchi", "Tokyo", "100-0005", "Japan"},
	{"Calle de Alcalá 45", "Madrid", "28014", "Spain"},
}

var titles = []string{"Account Manager", "CFO", "Projektleiterin", "IT Administrator", "Consultant"}

func (l *lazy) buildContact(b *builder, r *rand.Rand) rendered {
	p := l.correspondent(r)
	work := streets[r.IntN(len(streets))]
	home := streets[r.IntN(len(streets))]
	b.add("BEGIN:VCARD\r\nVERSION:4.0\r\n")
	b.contentLine("UID:urn:uuid:" + uuidFrom(r))
	b.contentLine("FN:" + p.display())
	b.contentLine("N:" + p.last.display + ";" + p.first.display + ";;;")
	b.contentLine("EMAIL;TYPE=work;PREF=1:" + p.addr)
	b.contentLine("EMAIL;TYPE=home:" + p.first.ascii + p.last.ascii + "@example.net")
	if r.IntN(2) == 0 {
		b.contentLine("EMAIL:" + p.first.ascii + "@example.org")
	}
	b.addf("TEL;VALUE=uri;TYPE=\"work,voice\";PREF=1:tel:+49-30-555-%04d\r\n", r.IntN(10000))
	b.addf("TEL;VALUE=uri;TYPE=cell:tel:+1-202-555-%04d\r\n", r.IntN(10000))
	if r.IntN(3) == 0 {
		b.addf("TEL;VALUE=uri;TYPE=home:tel:+33-1-55-%02d-%02d-%02d\r\n", r.IntN(100), r.IntN(100), r.IntN(100))
	}
	b.contentLine(fmt.Sprintf("ADR;TYPE=work:;;%s;%s;;%s;%s", work.street, work.city, work.code, work.country))
	b.contentLine(fmt.Sprintf("ADR;TYPE=home:;;%s;%s;;%s;%s", home.street, home.city, home.code, home.country))
	b.contentLine("ORG:" + p.last.display + " Consulting")
	b.contentLine("TITLE:" + titles[r.IntN(len(titles))])
	if r.IntN(2) == 0 {
		b.addf("BDAY:19%02d%02d%02d\r\n", 50+r.IntN(50), 1+r.IntN(12), 1+r.IntN(28))
	}
	b.contentLine("NOTE:Met at the migration workshop\\, prefers email over phone.")
	b.add("REV:20260302T090000Z\r\nEND:VCARD\r\n")
	var rd rendered
	meta(r, &rd)
	rd.read = false
	return rd
}

// SeededMail is one mail message of the seed generator, for the sandboxes
// of other platforms that want the same realistic content as this one.
type SeededMail struct {
	MIME       []byte // nil from SeedMailMeta
	Size       int64
	Received   time.Time
	Read       bool
	Flagged    bool
	Categories []string
}

// SeedOwner returns the owner of seeded mailbox n exactly as Seed names it,
// so that mail between seeded mailboxes of any sandbox addresses real users.
func SeedOwner(seed int64, n int, domain string) (addr, displayName, alias string) {
	p := personAt(seed, n, domain)
	return p.addr, p.display(), p.alias
}

// SeedMail renders mail message index of mailbox n; sent says the owner
// wrote it (Sent Items) rather than received it. The same arguments give
// byte-identical MIME.
func SeedMail(seed int64, n, index int, domain string, sent bool) SeededMail {
	rd := seedMailGen(seed, n, index, domain, sent).render()
	return SeededMail{MIME: rd.content, Size: int64(len(rd.content)), Received: rd.received,
		Read: rd.read, Flagged: rd.flagged, Categories: rd.categories}
}

// SeedMailMeta is SeedMail without the content: the exact size and the
// flags, counted without rendering, so that large tenants seed quickly and
// render each message only when it is read.
func SeedMailMeta(seed int64, n, index int, domain string, sent bool) SeededMail {
	b := &builder{}
	rd := seedMailGen(seed, n, index, domain, sent).build(b)
	return SeededMail{Size: b.n, Received: rd.received, Read: rd.read, Flagged: rd.flagged, Categories: rd.categories}
}

func seedMailGen(seed int64, n, index int, domain string, sent bool) *lazy {
	place := plInbox
	if sent {
		place = plSent
	}
	return &lazy{seed: seed, mbox: n, idx: index, domain: domain, kind: platform.Mail, place: place}
}
