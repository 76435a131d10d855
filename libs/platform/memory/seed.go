package memory

import (
	"strings"
	"time"

	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/tenantgen"
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
	// Profile sizes the mail; the zero Profile means tenantgen.Light,
	// because the memory platform serves demos and runs that move whole
	// tenants. Pass tenantgen.Realistic for real-world sizes.
	Profile tenantgen.Profile
}

// Seed fills a tenant with mailboxes user<NNNN>@<domain> from the shared
// generator (package tenantgen), each with its folder tree and
// ItemsPerMailbox items: about 80% mail, 10% calendar items and 10%
// contacts. The same spec and domain give byte-identical data.
//
// Content is not kept: every item remembers only its name in the
// generator and is rendered again when read, so that thousands of
// mailboxes cost a few hundred bytes per item; sizes are exact without
// rendering. Mailboxes that already exist are returned untouched, so
// seeding twice does not duplicate items.
func Seed(t *Tenant, spec SeedSpec) []platform.Mailbox {
	first := spec.FirstIndex
	if first <= 0 {
		first = 1
	}
	opts := &tenantgen.Options{Profile: spec.Profile}
	if opts.Profile == (tenantgen.Profile{}) {
		opts.Profile = tenantgen.Light
	}
	out := make([]platform.Mailbox, 0, max(spec.Mailboxes, 0))
	for i := 0; i < spec.Mailboxes; i++ {
		n := first + i
		owner := tenantgen.Owner(spec.Seed, n, t.domain)
		gens := make([]*lazy, max(spec.ItemsPerMailbox, 0))
		sizes := make([]int64, len(gens))
		for idx := range gens {
			g := &lazy{seed: spec.Seed, mbox: n, idx: idx, domain: t.domain, opts: opts, kind: kindAt(idx)}
			gens[idx] = g
			sizes[idx] = g.size()
		}

		t.mu.Lock()
		if mb, ok := t.byAddress[strings.ToLower(owner.Address)]; ok {
			t.mu.Unlock()
			out = append(out, cloneMailbox(mb.info))
			continue
		}
		mb := t.addMailboxLocked(platform.Mailbox{
			PrimaryAddress: owner.Address,
			DisplayName:    owner.DisplayName(),
			Aliases:        []string{owner.Alias},
		})
		mailFolders, calendar, contacts := t.seedFoldersLocked(mb)
		for idx, g := range gens {
			fo := calendar
			switch g.kind {
			case platform.Mail:
				fo = mailFolders[tenantgen.Place(spec.Seed, n, idx)]
			case platform.Contact:
				fo = contacts
			}
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

// kindAt makes every tenth item a calendar item and every tenth a
// contact; the rest is mail.
func kindAt(idx int) platform.ItemKind {
	switch idx % 10 {
	case 1:
		return platform.Event
	case 2:
		return platform.Contact
	}
	return platform.Mail
}

var roleOf = map[tenantgen.Folder]platform.Role{
	tenantgen.Inbox: platform.RoleInbox, tenantgen.SentItems: platform.RoleSent, tenantgen.Archive: platform.RoleArchive,
}

// seedFoldersLocked maps the generator's well-known folders to the
// mailbox's and creates its user folder tree.
func (t *Tenant) seedFoldersLocked(mb *mailbox) (mail map[tenantgen.Folder]*folder, calendar, contacts *folder) {
	mail = map[tenantgen.Folder]*folder{}
	byRole := map[platform.Role]*folder{}
	for _, f := range mb.forder {
		byRole[f.info.Role] = f
	}
	for _, gf := range tenantgen.Folders() {
		if gf.WellKnown() {
			mail[gf] = byRole[roleOf[gf]]
			continue
		}
		pid := ""
		if p := gf.Parent(); p != tenantgen.Root {
			pid = mail[p].info.ID
		}
		mail[gf] = t.addFolderLocked(mb, platform.Folder{ParentID: pid, Name: gf.Name(), Kind: platform.Mail})
	}
	return mail, byRole[platform.RoleCalendar], byRole[platform.RoleContacts]
}

// lazy names one generated item; the tenant keeps it instead of content.
type lazy struct {
	seed   int64
	mbox   int
	idx    int
	domain string
	opts   *tenantgen.Options
	kind   platform.ItemKind
}

type rendered struct {
	content    []byte
	received   time.Time
	read       bool
	flagged    bool
	categories []string
}

func (l *lazy) size() int64 {
	switch l.kind {
	case platform.Event:
		return tenantgen.Event(l.seed, l.mbox, l.idx, l.domain).Size
	case platform.Contact:
		return tenantgen.Contact(l.seed, l.mbox, l.idx, l.domain).Size
	}
	return tenantgen.Mail(l.seed, l.mbox, l.idx, l.domain, *l.opts).Size
}

func (l *lazy) render() rendered {
	switch l.kind {
	case platform.Event:
		b, m := tenantgen.RenderEvent(l.seed, l.mbox, l.idx, l.domain)
		return rendered{content: b, flagged: m.Flagged, categories: m.Categories}
	case platform.Contact:
		b, m := tenantgen.RenderContact(l.seed, l.mbox, l.idx, l.domain)
		return rendered{content: b, flagged: m.Flagged, categories: m.Categories}
	}
	b, m := tenantgen.RenderMail(l.seed, l.mbox, l.idx, l.domain, *l.opts)
	return rendered{content: b, received: m.Received, read: m.Read, flagged: m.Flagged, categories: m.Categories}
}
