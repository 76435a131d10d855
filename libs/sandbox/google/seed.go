package google

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailferry/mailferry/libs/tenantgen"
)

// SeedSpec says what Seed generates.
type SeedSpec struct {
	Users           int
	MessagesPerUser int
	Seed            int64
	// FirstIndex numbers the first user (user0001 is 1; zero means 1), so
	// that two sandboxes can hold overlapping or disjoint populations.
	FirstIndex int
	// EventsPerUser events in each primary calendar: weekly meetings with
	// moved and cancelled occurrences, single meetings with attendees in
	// several response states, all-day events, in several time zones.
	EventsPerUser int
	// ContactsPerUser contacts with many fields, in contact groups.
	ContactsPerUser int
	// Profile sizes the mail. The zero Profile is tenantgen.Realistic
	// capped at the sandbox's MaxMessageBytes: about 75 KB per message
	// with a tail up to the limit. Tests and benchmarks that move whole
	// tenants pass tenantgen.Light.
	Profile tenantgen.Profile
}

// genRef names a message of the shared seed generator; rendering it again
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

// seedCreated is every seeded user's creation time, so that seeded
// tenants are identical from run to run.
var seedCreated = time.Date(2024, 1, 8, 9, 0, 0, 0, time.UTC)

// Seed adds an administrator (admin@<domain>) and users
// user<NNNN>@<domain> with an alias, and fills their mailboxes with mail
// from the shared generator (package tenantgen): the generator's folder
// tree becomes nested user labels ("Projects/2026/Q1 Planung",
// "Customers/Müller GmbH/Verträge/2025", "Newsletters"), its categories
// become labels too, and messages carry the system labels a real mailbox
// shows: INBOX with a CATEGORY_*, SENT, UNREAD, STARRED, IMPORTANT, a few
// in TRASH and SPAM, some in two labels at once. The same spec gives the
// same users, labels, ids and bytes. It returns the users' addresses;
// users that already exist are left untouched.
func (s *Sandbox) Seed(spec SeedSpec) []string {
	first := spec.FirstIndex
	if first <= 0 {
		first = 1
	}
	opts := &tenantgen.Options{Profile: spec.Profile}
	if opts.Profile == (tenantgen.Profile{}) {
		opts.Profile = tenantgen.Realistic.WithMax(s.cfg.MaxMessageBytes)
	}
	s.mu.Lock()
	admin := s.addUserLocked("admin@"+s.domain, "Workspace Admin", nil, seedCreated)
	admin.admin = true
	s.mu.Unlock()
	var out []string
	for i := 0; i < spec.Users; i++ {
		n := first + i
		owner := tenantgen.Owner(spec.Seed, n, s.domain)
		addr := normEmail(owner.Address)
		out = append(out, addr)
		s.mu.Lock()
		existing := s.users[addr]
		s.mu.Unlock()
		if existing != nil {
			continue
		}
		// Sizes are counted, not rendered, outside the lock.
		metas := make([]tenantgen.MailMeta, spec.MessagesPerUser)
		for idx := range metas {
			metas[idx] = tenantgen.Mail(spec.Seed, n, idx, s.domain, *opts)
		}
		s.mu.Lock()
		u := s.addUserLocked(addr, owner.DisplayName(), []string{owner.Alias}, seedCreated)
		s.seedMailLocked(u, spec.Seed, n, metas, opts)
		s.seedCalendarLocked(u, spec.Seed, n, spec.EventsPerUser)
		s.seedContactsLocked(u, spec.Seed, n, spec.ContactsPerUser)
		s.mu.Unlock()
	}
	return out
}

// mix is splitmix64 over three words; it only has to spread bits.
func mix(a, b, c uint64) uint64 {
	z := a*0x9e3779b97f4a7c15 ^ b*0xbf58476d1ce4e5b9 ^ c*0x94d049bb133111eb
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (s *Sandbox) seedLabelLocked(mb *mailbox, name string) string {
	if l := mb.labelByName(name); l != nil {
		return l.id
	}
	l := &label{id: "Label_" + fmt.Sprint(mb.nextLabel), name: name, typ: "user", mlv: "show", llv: "labelShow"}
	mb.nextLabel++
	mb.labels[l.id] = l
	mb.order = append(mb.order, l)
	return l.id
}

// gmailLabelOf is the user label a generated folder becomes: its path,
// except that Newsletters, a subfolder of the inbox elsewhere, is a
// top-level label next to INBOX in Gmail.
func gmailLabelOf(f tenantgen.Folder) string {
	if f == tenantgen.Newsletters {
		return f.Name()
	}
	return f.String()
}

func (s *Sandbox) seedMailLocked(u *user, seed int64, n int, metas []tenantgen.MailMeta, opts *tenantgen.Options) {
	mb := u.mail
	byFolder := map[tenantgen.Folder]string{}
	for _, f := range tenantgen.Folders() {
		if !f.WellKnown() {
			byFolder[f] = s.seedLabelLocked(mb, gmailLabelOf(f))
		}
	}
	categories := []string{"CATEGORY_PERSONAL", "CATEGORY_PERSONAL", "CATEGORY_UPDATES", "CATEGORY_SOCIAL", "CATEGORY_FORUMS"}
	for idx, meta := range metas {
		h := mix(uint64(seed), uint64(n)<<32|uint64(idx), 0x6c61626c)
		var labels []string
		switch f := meta.Folder; f {
		case tenantgen.Inbox:
			labels = []string{"INBOX", categories[h%uint64(len(categories))]}
		case tenantgen.SentItems:
			labels = []string{"SENT"}
		case tenantgen.Archive:
		case tenantgen.Newsletters:
			labels = []string{"INBOX", byFolder[f], "CATEGORY_PROMOTIONS"}
		default:
			labels = []string{byFolder[f]}
			// Some project mail is also filed under the customer, and some
			// stays in the inbox: one message, several labels.
			if f >= tenantgen.Projects && f <= tenantgen.ProjectsQ1 && h%3 == 0 {
				labels = append(labels, byFolder[tenantgen.Customers])
			}
			if h%5 == 1 {
				labels = append(labels, "INBOX", "CATEGORY_PERSONAL")
			}
		}
		switch h % 100 {
		case 97, 98:
			labels = append(labels, "TRASH")
		case 99:
			labels = append(slices.DeleteFunc(labels, func(l string) bool { return l == "INBOX" }), "SPAM")
		}
		sent := meta.Folder == tenantgen.SentItems
		if !meta.Read && !sent {
			labels = append(labels, "UNREAD")
		}
		if meta.Flagged {
			labels = append(labels, "STARRED")
		}
		if meta.Folder == tenantgen.Inbox && h%6 == 0 {
			labels = append(labels, "IMPORTANT")
		}
		for _, cat := range meta.Categories {
			labels = append(labels, s.seedLabelLocked(mb, strings.TrimSpace(cat)))
		}
		m := &gmsg{id: mb.newMsgID(meta.Received), labels: dedupe(labels), internal: meta.Received.Truncate(time.Millisecond),
			size: meta.Size, rfcID: strings.Trim(meta.MessageID, "<>"),
			gen: &genRef{seed: seed, mbox: n, idx: idx, domain: s.domain, opts: opts}}
		m.threadID = m.id
		mb.add(m, true, 0)
		if key := strings.ToLower(m.rfcID); key != "" && mb.byRFCID[key] == nil {
			mb.byRFCID[key] = m
		}
	}
	mb.floor = mb.historyID
}
