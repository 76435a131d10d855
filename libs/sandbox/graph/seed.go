package graph

import (
	"strings"

	"github.com/mailferry/mailferry/libs/platform/memory"
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
}

// Seed adds licensed users user<NNNN>@<domain> with an alias, the
// well-known folders and a small tree of user folders (Inbox/Newsletters,
// Projects/2026/Q1 Planung, Customers), and fills them with realistic
// messages from the shared seed generator of the memory platform (the
// same people, subjects, encodings and attachments). The same spec gives
// the same users, folders and bytes. It returns the user ids; users that
// already exist are returned untouched.
func (s *Sandbox) Seed(spec SeedSpec) []string {
	first := spec.FirstIndex
	if first <= 0 {
		first = 1
	}
	var ids []string
	for i := 0; i < spec.Users; i++ {
		n := first + i
		addr, display, alias := memory.SeedOwner(spec.Seed, n, s.domain)
		s.mu.Lock()
		if u := s.byUPN[strings.ToLower(addr)]; u != nil {
			s.mu.Unlock()
			ids = append(ids, u.id)
			continue
		}
		s.mu.Unlock()
		id := s.AddUser(addr, display, alias)
		ids = append(ids, id)
		metas := make([]memory.SeededMail, spec.MessagesPerUser)
		places := make([]int, spec.MessagesPerUser)
		for idx := range metas {
			places[idx] = seedPlace(spec.Seed, n, idx)
			metas[idx] = memory.SeedMailMeta(spec.Seed, n, idx, s.domain, places[idx] == plSent)
		}
		s.mu.Lock()
		u := s.users[id]
		var byPlace [plCount]*folder
		byPlace[plInbox] = u.wk["inbox"]
		byPlace[plSent] = u.wk["sentitems"]
		byPlace[plArchive] = u.wk["archive"]
		byPlace[plNewsletters] = s.addFolderLocked(u, u.wk["inbox"], "Newsletters")
		byPlace[plProjects] = s.addFolderLocked(u, u.root, "Projects")
		byPlace[pl2026] = s.addFolderLocked(u, byPlace[plProjects], "2026")
		byPlace[plQ1] = s.addFolderLocked(u, byPlace[pl2026], "Q1 Planung")
		byPlace[plCustomers] = s.addFolderLocked(u, u.root, "Customers")
		for idx, meta := range metas {
			m := &message{
				id: s.newIDLocked("message"), created: meta.Received, modified: meta.Received,
				received: meta.Received, sent: meta.Received, isRead: meta.Read || places[idx] == plSent,
				importance: "normal", flag: "notFlagged", inference: "focused",
				categories: meta.Categories, size: meta.Size,
				gen: &genRef{seed: spec.Seed, mbox: n, idx: idx, domain: s.domain, sent: places[idx] == plSent},
			}
			if meta.Flagged {
				m.flag = "flagged"
			}
			s.putLocked(u, byPlace[places[idx]], m)
		}
		s.seedCalendarLocked(u, spec.Seed, n, spec.EventsPerUser)
		s.seedContactsLocked(u, spec.Seed, n, spec.ContactsPerUser)
		s.mu.Unlock()
	}
	return ids
}

const (
	plInbox = iota
	plSent
	plArchive
	plProjects
	pl2026
	plQ1
	plCustomers
	plNewsletters
	plCount
)

// seedPlace spreads messages over the folders from a hash, so placement
// is known before anything is rendered.
func seedPlace(seed int64, mbox, idx int) int {
	h := mix(uint64(seed), uint64(mbox)<<32|uint64(idx), 0x6a4f) % 100
	switch {
	case h < 40:
		return plInbox
	case h < 60:
		return plSent
	case h < 70:
		return plArchive
	case h < 78:
		return plProjects
	case h < 86:
		return pl2026
	case h < 90:
		return plQ1
	case h < 95:
		return plCustomers
	}
	return plNewsletters
}

func mix(a, b, c uint64) uint64 {
	z := a*0x9e3779b97f4a7c15 ^ b*0xbf58476d1ce4e5b9 ^ c*0x94d049bb133111eb
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
