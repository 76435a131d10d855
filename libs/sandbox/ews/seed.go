package ews

import (
	"bytes"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-vcard"

	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// SeedSpec says what Seed generates.
type SeedSpec struct {
	Users           int
	MessagesPerUser int
	EventsPerUser   int
	ContactsPerUser int
	Seed            int64
	// FirstIndex numbers the first user (user0001 is 1; zero means 1).
	FirstIndex int
	// Profile sizes the mail; the zero Profile is tenantgen.Realistic capped
	// at what fits a CreateItem request (MaxRequestBytes as base64).
	Profile tenantgen.Profile
}

// ServiceAccount is the account Seed creates with the
// ApplicationImpersonation role.
const ServiceAccount = "svc-mailferry"

// genRef names a message of the shared generator; rendering it again
// gives the same bytes, so large tenants cost little memory.
type genRef struct {
	seed   int64
	mbox   int
	idx    int
	domain string
	opts   *tenantgen.Options
}

func renderSeeded(g *genRef) []byte {
	b, _ := tenantgen.RenderMail(g.seed, g.mbox, g.idx, g.domain, *g.opts)
	return b
}

// Password is the password Seed gives an account: derived from the seed,
// so a seeded organisation is the same from run to run.
func Password(seed int64, username string) string {
	h := mix(uint64(seed), hashString(strings.ToLower(username)), 0x70617373)
	return fmt.Sprintf("Mf-%s!9a", hex.EncodeToString([]byte{byte(h), byte(h >> 8), byte(h >> 16), byte(h >> 24), byte(h >> 32), byte(h >> 40)}))
}

func hashString(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix is splitmix64 over three words; it only has to spread bits.
func mix(a, b, c uint64) uint64 {
	z := a*0x9e3779b97f4a7c15 ^ b*0xbf58476d1ce4e5b9 ^ c*0x94d049bb133111eb
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Seed creates the service account svc-mailferry (ApplicationImpersonation,
// with a mailbox) and users user<NNNN>@<domain> with the generator's
// folder tree, mail (rendered only when read), calendar items (weekly
// series with a deleted and a moved occurrence, attendees with their
// answers, in several time zones) and contacts with a distribution list.
// The same spec gives the same accounts, passwords, folders and bytes. It
// returns the users' addresses; existing accounts are left untouched.
func (s *Sandbox) Seed(spec SeedSpec) []string {
	first := spec.FirstIndex
	if first <= 0 {
		first = 1
	}
	opts := &tenantgen.Options{Profile: spec.Profile}
	if opts.Profile == (tenantgen.Profile{}) {
		opts.Profile = tenantgen.Realistic.WithMax(s.cfg.MaxRequestBytes * 3 / 4)
	}
	s.mu.Lock()
	if s.accounts[ServiceAccount] == nil {
		_, _ = s.addAccountLocked(Account{Username: ServiceAccount, Password: Password(spec.Seed, ServiceAccount),
			DisplayName: "mailferry migration", Impersonation: true, HasMailbox: true})
	}
	s.mu.Unlock()
	var out []string
	for i := 0; i < spec.Users; i++ {
		n := first + i
		owner := tenantgen.Owner(spec.Seed, n, s.domain)
		user := strings.SplitN(owner.Address, "@", 2)[0]
		out = append(out, strings.ToLower(owner.Address))
		metas := make([]tenantgen.MailMeta, spec.MessagesPerUser)
		for idx := range metas {
			metas[idx] = tenantgen.Mail(spec.Seed, n, idx, s.domain, *opts)
		}
		s.mu.Lock()
		if s.accounts[user] != nil {
			s.mu.Unlock()
			continue
		}
		a, err := s.addAccountLocked(Account{Username: user, Password: Password(spec.Seed, user), SMTP: owner.Address,
			DisplayName: owner.DisplayName(), HasMailbox: true})
		if err == nil {
			c := &call{s: s, caller: a, mbx: a.mbx}
			c.seedMail(spec.Seed, n, metas, opts)
			for idx := 0; idx < spec.EventsPerUser; idx++ {
				raw, _ := tenantgen.RenderEvent(spec.Seed, n, idx, s.domain)
				c.seedEvent(raw)
			}
			var members []soap.Member
			for idx := 0; idx < spec.ContactsPerUser; idx++ {
				raw, _ := tenantgen.RenderContact(spec.Seed, n, idx, s.domain)
				if ct := c.seedContact(raw); ct != nil && len(members) < 3 {
					members = append(members, soap.Member{Mailbox: &soap.EmailAddress{Name: ct.DisplayName,
						EmailAddress: ct.EmailAddresses.Entry[0].Value, RoutingType: "SMTP", MailboxType: "Contact"}, Status: "Normal"})
				}
			}
			if len(members) > 0 {
				it := &item{data: soap.AnyItem{DistributionList: &soap.DistributionList{DisplayName: "Projektteam", FileAs: "Projektteam",
					Members: &soap.Members{Member: members}}}, ext: map[string]soap.ExtendedProperty{}, parsed: true}
				d := it.data.Fields()
				d.ItemClass, d.Subject = "IPM.DistList", strp("Projektteam")
				d.DateTimeReceived, d.DateTimeCreated = soap.NewDateTime(seedTime), soap.NewDateTime(seedTime)
				it.size = approxSize(it.data)
				a.mbx.addItem(a.mbx.byName["contacts"], it)
			}
		}
		s.mu.Unlock()
	}
	return out
}

// seedTime is when seeded objects were created, so that seeded
// organisations are identical from run to run.
var seedTime = time.Date(2024, 1, 8, 9, 0, 0, 0, time.UTC)

func (c *call) seedMail(seed int64, n int, metas []tenantgen.MailMeta, opts *tenantgen.Options) {
	m := c.mbx
	byFolder := map[tenantgen.Folder]*folder{
		tenantgen.Inbox: m.byName["inbox"], tenantgen.SentItems: m.byName["sentitems"], tenantgen.Archive: m.byName["archive"],
	}
	for _, f := range tenantgen.Folders() {
		if f.WellKnown() {
			continue
		}
		parent := m.top
		if f.Parent() != tenantgen.Root {
			parent = byFolder[f.Parent()]
		}
		byFolder[f] = m.newFolder(parent, f.Name(), "IPF.Note", "Folder")
	}
	for idx, meta := range metas {
		subject := meta.Subject
		msg := &soap.Message{IsRead: soap.Bool(meta.Read || meta.Folder == tenantgen.SentItems), InternetMessageID: meta.MessageID}
		d := &msg.ItemFields
		d.ItemClass, d.Subject = "IPM.Note", &subject
		d.DateTimeReceived = soap.NewDateTime(meta.Received)
		d.DateTimeCreated = soap.NewDateTime(meta.Received)
		d.HasAttachments = soap.Bool(meta.HasAttachments)
		d.IsDraft, d.Importance, d.Sensitivity = soap.Bool(false), "Normal", "Normal"
		if len(meta.Categories) > 0 {
			d.Categories = &soap.Strings{String: append([]string(nil), meta.Categories...)}
		}
		if meta.Flagged {
			d.Flag = &soap.Flag{FlagStatus: "Flagged"}
		}
		it := &item{data: soap.AnyItem{Message: msg}, size: int(meta.Size), ext: map[string]soap.ExtendedProperty{},
			gen: &genRef{seed: seed, mbox: n, idx: idx, domain: c.s.domain, opts: opts}}
		m.addItem(byFolder[meta.Folder], it)
	}
}

// windowsZoneOf names IANA zones the Windows way EWS does.
var windowsZoneOf = map[string]string{}

func init() {
	for w, iana := range windowsZones {
		windowsZoneOf[iana] = w
	}
}

var partstat = map[string]string{"ACCEPTED": "Accept", "TENTATIVE": "Tentative", "DECLINED": "Decline", "NEEDS-ACTION": "NoResponseReceived"}

// seedEvent converts a generated iCalendar object into a calendar item:
// the series, its deleted occurrences (EXDATE) and its moved occurrence
// (a VEVENT with RECURRENCE-ID) as an exception.
func (c *call) seedEvent(raw []byte) {
	cal, err := ical.NewDecoder(bytes.NewReader(raw)).Decode()
	if err != nil {
		return
	}
	events := cal.Events()
	if len(events) == 0 {
		return
	}
	master := events[0]
	ci := c.icalToItem(&master)
	it := &item{data: soap.AnyItem{CalendarItem: ci}, ext: map[string]soap.ExtendedProperty{}, parsed: true}
	if e := c.prepareCalendarItem(it, seedTime); e != nil {
		return
	}
	c.mbx.addItem(c.mbx.byName["calendar"], it)
	if ci.Recurrence == nil {
		return
	}
	starts, err := expand(ci)
	if err != nil {
		return
	}
	index := func(t time.Time) int {
		for i, s := range starts {
			if s.Equal(t) {
				return i + 1
			}
		}
		return 0
	}
	loc := zoneOf(ci)
	for _, p := range master.Props.Values("EXDATE") {
		if t, err := p.DateTime(loc); err == nil {
			if i := index(t.UTC()); i > 0 {
				if it.deletedOcc == nil {
					it.deletedOcc = map[int]time.Time{}
				}
				it.deletedOcc[i] = t.UTC()
			}
		}
	}
	for _, ev := range events[1:] {
		rid := ev.Props.Get("RECURRENCE-ID")
		if rid == nil {
			continue
		}
		t, err := rid.DateTime(loc)
		if err != nil {
			continue
		}
		i := index(t.UTC())
		if i == 0 {
			continue
		}
		occ, e := c.occurrence(soap.OccurrenceItemID{RecurringMasterID: it.id, InstanceIndex: i})
		if e != nil {
			continue
		}
		ex := c.icalToItem(&ev)
		oc := occ.data.CalendarItem
		oc.Start, oc.End = ex.Start, ex.End
		oc.CalendarItemType = "Exception"
		occ.occModified = true
	}
}

func (c *call) icalToItem(ev *ical.Event) *soap.CalendarItem {
	ci := &soap.CalendarItem{}
	text := func(name string) string {
		if p := ev.Props.Get(name); p != nil {
			v, _ := p.Text()
			return v
		}
		return ""
	}
	subject, location := text("SUMMARY"), text("LOCATION")
	ci.Subject, ci.Location = &subject, &location
	if d := text("DESCRIPTION"); d != "" {
		ci.Body = &soap.Body{BodyType: "Text", Value: d}
	}
	ci.UID = text("UID")
	var loc *time.Location = time.UTC
	if p := ev.Props.Get("DTSTART"); p != nil {
		if tz := p.Params.Get("TZID"); tz != "" {
			if l, err := time.LoadLocation(tz); err == nil {
				loc = l
				if w, ok := windowsZoneOf[tz]; ok {
					ci.StartTimeZone = &soap.TimeZoneDefinition{ID: w}
					ci.EndTimeZone = &soap.TimeZoneDefinition{ID: w}
				}
			}
		}
	}
	if t, err := ev.DateTimeStart(loc); err == nil {
		ci.Start = soap.NewDateTime(t)
	}
	if t, err := ev.DateTimeEnd(loc); err == nil {
		ci.End = soap.NewDateTime(t)
	}
	if p := ev.Props.Get("ORGANIZER"); p != nil {
		ci.Organizer = &soap.SingleRecipient{Mailbox: soap.EmailAddress{Name: p.Params.Get("CN"),
			EmailAddress: strings.TrimPrefix(strings.ToLower(p.Value), "mailto:"), RoutingType: "SMTP", MailboxType: "Mailbox"}}
	}
	for _, p := range ev.Props.Values("ATTENDEE") {
		a := soap.Attendee{Mailbox: soap.EmailAddress{Name: p.Params.Get("CN"), EmailAddress: strings.TrimPrefix(strings.ToLower(p.Value), "mailto:"),
			RoutingType: "SMTP", MailboxType: "Mailbox"}, ResponseType: partstat[p.Params.Get("PARTSTAT")]}
		if p.Params.Get("ROLE") == "OPT-PARTICIPANT" {
			if ci.OptionalAttendees == nil {
				ci.OptionalAttendees = &soap.Attendees{}
			}
			ci.OptionalAttendees.Attendee = append(ci.OptionalAttendees.Attendee, a)
		} else {
			if ci.RequiredAttendees == nil {
				ci.RequiredAttendees = &soap.Attendees{}
			}
			ci.RequiredAttendees.Attendee = append(ci.RequiredAttendees.Attendee, a)
		}
	}
	if p := ev.Props.Get("RRULE"); p != nil && ci.Start != nil {
		ci.Recurrence = rruleToRecurrence(p.Value, ci.Start.In(loc))
	}
	return ci
}

// rruleToRecurrence converts the weekly rules the generator writes.
func rruleToRecurrence(rule string, start time.Time) *soap.Recurrence {
	opts := map[string]string{}
	for _, part := range strings.Split(rule, ";") {
		k, v, _ := strings.Cut(part, "=")
		opts[k] = v
	}
	if opts["FREQ"] != "WEEKLY" {
		return nil
	}
	days := map[string]string{"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday", "FR": "Friday", "SA": "Saturday", "SU": "Sunday"}
	var dl []string
	for _, d := range strings.Split(opts["BYDAY"], ",") {
		if n, ok := days[d]; ok {
			dl = append(dl, n)
		}
	}
	if len(dl) == 0 {
		dl = []string{start.Weekday().String()}
	}
	interval := 1
	fmt.Sscan(opts["INTERVAL"], &interval)
	r := &soap.Recurrence{WeeklyRecurrence: &soap.WeeklyRecurrence{Interval: interval, DaysOfWeek: strings.Join(dl, " "), FirstDayOfWeek: "Monday"}}
	rng := &soap.RecurrenceRange{StartDate: soap.Date{Time: time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)}}
	if cnt := opts["COUNT"]; cnt != "" {
		var n int
		fmt.Sscan(cnt, &n)
		rng.NumberOfOccurrences = &n
		r.NumberedRecurrence = rng
	} else {
		r.NoEndRecurrence = rng
	}
	return r
}

// seedContact converts a generated vCard into a contact.
func (c *call) seedContact(raw []byte) *soap.Contact {
	card, err := vcard.NewDecoder(bytes.NewReader(raw)).Decode()
	if err != nil {
		return nil
	}
	ct := &soap.Contact{DisplayName: card.PreferredValue(vcard.FieldFormattedName), JobTitle: card.PreferredValue(vcard.FieldTitle)}
	if n := card.Name(); n != nil {
		ct.GivenName, ct.Surname = n.GivenName, n.FamilyName
	}
	ct.FileAs = strings.TrimSpace(ct.Surname + ", " + ct.GivenName)
	if org := card.PreferredValue(vcard.FieldOrganization); org != "" {
		ct.CompanyName = org
	}
	keys := []string{"EmailAddress1", "EmailAddress2", "EmailAddress3"}
	for i, e := range card.Values(vcard.FieldEmail) {
		if i == len(keys) {
			break
		}
		if ct.EmailAddresses == nil {
			ct.EmailAddresses = &soap.EmailAddresses{}
		}
		ct.EmailAddresses.Entry = append(ct.EmailAddresses.Entry, soap.EmailAddressEntry{Key: keys[i], Value: e})
	}
	if ct.EmailAddresses == nil {
		return nil
	}
	for _, f := range card[vcard.FieldTelephone] {
		key := "OtherTelephone"
		types := strings.ToLower(strings.Join(f.Params.Types(), ","))
		switch {
		case strings.Contains(types, "cell"):
			key = "MobilePhone"
		case strings.Contains(types, "work"):
			key = "BusinessPhone"
		case strings.Contains(types, "home"):
			key = "HomePhone"
		}
		if ct.PhoneNumbers == nil {
			ct.PhoneNumbers = &soap.PhoneNumbers{}
		}
		ct.PhoneNumbers.Entry = append(ct.PhoneNumbers.Entry, soap.KeyedString{Key: key, Value: strings.TrimPrefix(f.Value, "tel:")})
	}
	for _, a := range card.Addresses() {
		key := "Other"
		types := strings.ToLower(strings.Join(a.Params.Types(), ","))
		switch {
		case strings.Contains(types, "work"):
			key = "Business"
		case strings.Contains(types, "home"):
			key = "Home"
		}
		if ct.PhysicalAddresses == nil {
			ct.PhysicalAddresses = &soap.PhysicalAddresses{}
		}
		ct.PhysicalAddresses.Entry = append(ct.PhysicalAddresses.Entry, soap.PhysicalAddressEntry{Key: key, Street: a.StreetAddress,
			City: a.Locality, State: a.Region, PostalCode: a.PostalCode, CountryOrRegion: a.Country})
	}
	if b := card.PreferredValue(vcard.FieldBirthday); len(b) == 8 {
		if t, err := time.Parse("20060102", b); err == nil {
			ct.Birthday = soap.NewDateTime(t.Add(12 * time.Hour))
		}
	}
	if note := card.PreferredValue(vcard.FieldNote); note != "" {
		ct.Body = &soap.Body{BodyType: "Text", Value: note}
	}
	it := &item{data: soap.AnyItem{Contact: ct}, ext: map[string]soap.ExtendedProperty{}, parsed: true}
	d := &ct.ItemFields
	d.ItemClass, d.Subject = "IPM.Contact", strp(ct.DisplayName)
	d.DateTimeReceived, d.DateTimeCreated = soap.NewDateTime(seedTime), soap.NewDateTime(seedTime)
	it.size = approxSize(it.data)
	c.mbx.addItem(c.mbx.byName["contacts"], it)
	return ct
}
