package graph

import (
	"strings"

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
	// EventsPerUser events in each default calendar: recurring meetings
	// with exceptions, deleted and cancelled occurrences and attendees,
	// single meetings, all-day appointments (see seedCalendarLocked).
	EventsPerUser int
	// ContactsPerUser contacts with many fields, some with photos, in the
	// default contacts folder and a "Kunden" folder.
	ContactsPerUser int
	// Profile sizes the mail. The zero Profile is tenantgen.Realistic
	// capped at the sandbox's MaxMessageBytes: about 75 KB per message
	// with a tail up to the item limit. Tests and benchmarks that move
	// whole tenants pass tenantgen.Light.
	Profile tenantgen.Profile
}

// Seed adds licensed users user<NNNN>@<domain> with an alias, the
// well-known folders and the generator's user folder tree (Inbox/
// Newsletters, Projects/2026/Q1 Planung, Customers/Müller GmbH/Verträge/
// 2025), and fills them with mail from the shared generator (package
// tenantgen): the same people, subjects, encodings, attachments, S/MIME and
// nested multiparts as every other sandbox. The same spec gives the same
// users, folders and bytes. It returns the user ids; users that already
// exist are returned untouched.
func (s *Sandbox) Seed(spec SeedSpec) []string {
	first := spec.FirstIndex
	if first <= 0 {
		first = 1
	}
	opts := &tenantgen.Options{Profile: spec.Profile}
	if opts.Profile == (tenantgen.Profile{}) {
		opts.Profile = tenantgen.Realistic.WithMax(s.cfg.MaxMessageBytes)
	}
	var ids []string
	for i := 0; i < spec.Users; i++ {
		n := first + i
		owner := tenantgen.Owner(spec.Seed, n, s.domain)
		s.mu.Lock()
		if u := s.byUPN[strings.ToLower(owner.Address)]; u != nil {
			s.mu.Unlock()
			ids = append(ids, u.id)
			continue
		}
		s.mu.Unlock()
		id := s.AddUser(owner.Address, owner.DisplayName(), owner.Alias)
		ids = append(ids, id)
		// Sizes are counted, not rendered, outside the lock.
		metas := make([]tenantgen.MailMeta, spec.MessagesPerUser)
		for idx := range metas {
			metas[idx] = tenantgen.Mail(spec.Seed, n, idx, s.domain, *opts)
		}
		s.mu.Lock()
		u := s.users[id]
		byPlace := map[tenantgen.Folder]*folder{
			tenantgen.Inbox: u.wk["inbox"], tenantgen.SentItems: u.wk["sentitems"], tenantgen.Archive: u.wk["archive"],
		}
		for _, gf := range tenantgen.Folders() {
			if gf.WellKnown() {
				continue
			}
			parent := u.root
			if p := gf.Parent(); p != tenantgen.Root {
				parent = byPlace[p]
			}
			byPlace[gf] = s.addFolderLocked(u, parent, gf.Name())
		}
		for idx, meta := range metas {
			sent := meta.Folder == tenantgen.SentItems
			m := &message{
				id: s.newIDLocked("message"), created: meta.Received, modified: meta.Received,
				received: meta.Received, sent: meta.Received, isRead: meta.Read || sent,
				importance: "normal", flag: "notFlagged", inference: "focused",
				categories: meta.Categories, size: meta.Size,
				gen: &genRef{seed: spec.Seed, mbox: n, idx: idx, domain: s.domain, opts: opts},
			}
			if meta.Flagged {
				m.flag = "flagged"
			}
			s.putLocked(u, byPlace[meta.Folder], m)
		}
		s.seedCalendarLocked(u, spec.Seed, n, spec.EventsPerUser)
		s.seedContactsLocked(u, spec.Seed, n, spec.ContactsPerUser)
		s.mu.Unlock()
	}
	return ids
}

// genRef names a message of the shared generator; rendering it again
// gives the same bytes, so thousands of mailboxes cost little memory.
type genRef struct {
	seed   int64
	mbox   int
	idx    int
	domain string
	opts   *tenantgen.Options
}

func (g *genRef) render() []byte {
	b, _ := tenantgen.RenderMail(g.seed, g.mbox, g.idx, g.domain, *g.opts)
	return b
}
