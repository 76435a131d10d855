package google

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/api/gmail/v1"

	"github.com/mailferry/mailferry/libs/platform"
)

// LabelMode chooses how Gmail labels become folders and categories. In
// every mode a system label (TRASH, SPAM, DRAFT, INBOX, SENT, in that
// order) picks the folder before any user label, STARRED is the flag,
// UNREAD the read state, and IMPORTANT and CATEGORY_* are categories
// (docs/google.md has the tables).
type LabelMode string

const (
	// LabelsFirstFolder (the default): one copy per message, in the
	// folder of its first label; its other user labels become
	// categories.
	LabelsFirstFolder LabelMode = "first"
	// LabelsAllCategories: one copy per message, in the folder of its
	// first label as above, and every user label, that one included,
	// also a category, so that filtering by category finds everything
	// the label found in Gmail.
	LabelsAllCategories LabelMode = "categories"
	// LabelsFolderPerLabel: a copy in the folder of every user label a
	// message carries (and in its system folder): what Outlook users
	// expect of "folders", at the price of one copy per label. Chosen
	// explicitly only; the copies beyond the first have item ids of
	// their own, "<message id>~<label id>".
	LabelsFolderPerLabel LabelMode = "folders"
)

func (m LabelMode) valid() bool {
	return m == LabelsFirstFolder || m == LabelsAllCategories || m == LabelsFolderPerLabel
}

// Folder ids that are not label ids.
const (
	// ArchiveFolderID is the folder of messages without a folder label
	// (Gmail's All Mail less everything filed elsewhere), role archive.
	ArchiveFolderID = "mailferry:archive"
	// pathPrefix names the folder of a label path that has no label of
	// its own ("Projects" when only "Projects/2026" exists).
	pathPrefix = "mailferry:path:"
)

// systemFolders are the system labels that pick a folder, in priority
// order: a trashed message is in Trash whatever else it carries, spam in
// Spam, a draft in Drafts, then the inbox before sent mail (a message
// sent to oneself is in the inbox).
var systemFolders = []struct {
	id   string
	role platform.Role
	name string
}{
	{"TRASH", platform.RoleDeleted, "Trash"},
	{"SPAM", platform.RoleJunk, "Spam"},
	{"DRAFT", platform.RoleDrafts, "Drafts"},
	{"INBOX", platform.RoleInbox, "Inbox"},
	{"SENT", platform.RoleSent, "Sent"},
}

func isSystemFolder(id string) bool {
	return slices.ContainsFunc(systemFolders, func(s struct {
		id   string
		role platform.Role
		name string
	}) bool {
		return s.id == id
	})
}

// systemCategories are the system labels that travel as categories, in
// the order they are listed; the names start with "Category_" or are
// reserved in Gmail, so no user label can be mistaken for them.
var systemCategories = []struct{ id, name string }{
	{"IMPORTANT", "Important"},
	{"CATEGORY_PERSONAL", "Category_Personal"},
	{"CATEGORY_SOCIAL", "Category_Social"},
	{"CATEGORY_PROMOTIONS", "Category_Promotions"},
	{"CATEGORY_UPDATES", "Category_Updates"},
	{"CATEGORY_FORUMS", "Category_Forums"},
}

// reservedLabelNames cannot name a user label in Gmail (compared without
// case); a folder or category of such a name gets a suffix.
var reservedLabelNames = map[string]bool{
	"inbox": true, "sent": true, "sent mail": true, "trash": true, "bin": true, "spam": true, "draft": true, "drafts": true,
	"starred": true, "important": true, "unread": true, "chat": true, "chats": true, "all": true, "all mail": true,
	"scheduled": true, "snoozed": true, "outbox": true,
}

// gLabel is what the mapping needs of a Gmail label.
type gLabel struct {
	ID, Name string
	System   bool
}

// labelSet is one mailbox's labels.
type labelSet struct {
	byID   map[string]gLabel
	byName map[string]gLabel // user labels by lower-case name
	// user labels in the order "first" means: by name without case,
	// then by name, then by id.
	user []gLabel
}

func newLabelSet(ls []gLabel) *labelSet {
	s := &labelSet{byID: map[string]gLabel{}, byName: map[string]gLabel{}}
	for _, l := range ls {
		s.byID[l.ID] = l
		if !l.System {
			s.byName[strings.ToLower(l.Name)] = l
			s.user = append(s.user, l)
		}
	}
	sort.Slice(s.user, func(i, j int) bool {
		a, b := s.user[i], s.user[j]
		if la, lb := strings.ToLower(a.Name), strings.ToLower(b.Name); la != lb {
			return la < lb
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	return s
}

// placement is where a message goes and what travels with it.
type placement struct {
	// Folder holds the message's one copy (its first copy in
	// LabelsFolderPerLabel, where Also lists the others).
	Folder     string
	Also       []string
	Categories []string
	Read       bool
	Flagged    bool
}

// place maps a message's labels to its folder, categories, read state and
// flag. header is the folder id mailferry recorded when it wrote the
// message (X-Mailferry-Folder), "" for other messages: while the message
// still carries that label it stays in that folder, so that a copy written
// with categories is found where it was written even when a category sorts
// before its folder's name.
func (s *labelSet) place(labelIDs []string, header string, mode LabelMode) placement {
	has := map[string]bool{}
	for _, id := range labelIDs {
		has[id] = true
	}
	p := placement{Read: !has["UNREAD"], Flagged: has["STARRED"]}
	var users []gLabel
	for _, l := range s.user {
		if has[l.ID] {
			users = append(users, l)
		}
	}
	sys := ""
	for _, f := range systemFolders {
		if has[f.id] {
			sys = f.id
			break
		}
	}
	hl, headerIsUser := s.byID[header]
	switch {
	case sys != "":
		p.Folder = sys
	case header == ArchiveFolderID:
		p.Folder = ArchiveFolderID
	case headerIsUser && !hl.System && has[header]:
		p.Folder = header
	case len(users) > 0:
		p.Folder = users[0].ID
	default:
		p.Folder = ArchiveFolderID
	}
	for _, l := range users {
		switch {
		case mode == LabelsFolderPerLabel:
			if l.ID != p.Folder {
				p.Also = append(p.Also, l.ID)
			}
		case mode == LabelsAllCategories || l.ID != p.Folder:
			p.Categories = append(p.Categories, l.Name)
		}
	}
	for _, sc := range systemCategories {
		if has[sc.id] {
			p.Categories = append(p.Categories, sc.name)
		}
	}
	return p
}

// holds reports whether a message placed p is listed in folder.
func (p placement) holds(folder string) bool {
	return p.Folder == folder || slices.Contains(p.Also, folder)
}

// itemID is the id a message has in a folder: its Gmail id in its first
// folder, "<id>~<label id>" in the further folders of
// LabelsFolderPerLabel.
func itemID(msgID, folder string, p placement) string {
	if folder == p.Folder {
		return msgID
	}
	return msgID + "~" + folder
}

// messageOf splits an item id into the Gmail message id.
func messageOf(itemID string) string {
	id, _, _ := strings.Cut(itemID, "~")
	return id
}

// systemCategoryID finds the system label a category names.
func systemCategoryID(name string) string {
	for _, sc := range systemCategories {
		if strings.EqualFold(sc.name, strings.TrimSpace(name)) {
			return sc.id
		}
	}
	return ""
}

// labelName makes a category or folder name a valid user label name:
// trimmed, without empty path segments, and suffixed when Gmail reserves
// it. Slashes stay: they nest.
func labelName(name string) string {
	var parts []string
	for _, p := range strings.Split(name, "/") {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	n := strings.Join(parts, "/")
	if n == "" {
		return ""
	}
	if reservedLabelNames[strings.ToLower(n)] || strings.HasPrefix(strings.ToLower(n), "category_") {
		n += " (migrated)"
	}
	return n
}

// segment makes a folder name one path segment: Gmail nests at "/", so a
// slash inside a folder's own name becomes a division slash (U+2215).
func segment(name string) string {
	return strings.ReplaceAll(strings.TrimSpace(name), "/", "\u2215")
}

// want is what a message written to a folder carries: its label ids, and
// the names of user labels that must be created first.
type want struct {
	ids     []string
	missing []string
}

// labelsFor maps an item written into a folder to Gmail labels: the
// folder's label (none for the archive; for a path folder, a label to
// create), UNREAD and STARRED, and a label per category (IMPORTANT and
// CATEGORY_* for their names, else a user label of the category's name,
// created when missing).
func (s *labelSet) labelsFor(folderID string, read, flagged bool, categories []string) want {
	var w want
	add := func(id string) {
		if id != "" && !slices.Contains(w.ids, id) {
			w.ids = append(w.ids, id)
		}
	}
	need := func(name string) {
		if l, ok := s.byName[strings.ToLower(name)]; ok {
			add(l.ID)
		} else if !slices.ContainsFunc(w.missing, func(m string) bool { return strings.EqualFold(m, name) }) {
			w.missing = append(w.missing, name)
		}
	}
	switch {
	case folderID == ArchiveFolderID:
	case strings.HasPrefix(folderID, pathPrefix):
		need(strings.TrimPrefix(folderID, pathPrefix))
	default:
		add(folderID)
	}
	if !read {
		add("UNREAD")
	}
	if flagged {
		add("STARRED")
	}
	for _, c := range categories {
		if id := systemCategoryID(c); id != "" {
			add(id)
			continue
		}
		if n := labelName(c); n != "" {
			need(n)
		}
	}
	return w
}

// pathOf is the label path a folder stands for: a user label's name, a
// path folder's path; "" for system folders and the archive, whose
// children become top-level labels (Gmail nests nothing under them).
func (s *labelSet) pathOf(folderID string) string {
	if p, ok := strings.CutPrefix(folderID, pathPrefix); ok {
		return p
	}
	if l, ok := s.byID[folderID]; ok && !l.System {
		return l.Name
	}
	return ""
}

// folders lists the mail folders: the system ones with their roles, the
// archive, and a folder per user label, nested by "/" with path folders
// for parents that have no label of their own. Parents come first.
func (s *labelSet) folders() []platform.Folder {
	out := make([]platform.Folder, 0, len(systemFolders)+1+len(s.user))
	for _, f := range systemFolders {
		out = append(out, platform.Folder{ID: f.id, Name: f.name, Role: f.role, Kind: platform.Mail})
	}
	out = append(out, platform.Folder{ID: ArchiveFolderID, Name: "Archive", Role: platform.RoleArchive, Kind: platform.Mail})
	ids := map[string]string{} // path -> folder id
	for _, l := range s.user {
		ids[l.Name] = l.ID
	}
	var paths []string
	seen := map[string]bool{}
	for _, l := range s.user {
		parts := strings.Split(l.Name, "/")
		for i := 1; i <= len(parts); i++ {
			p := strings.Join(parts[:i], "/")
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	}
	// Shorter paths first keeps every parent before its children.
	sort.SliceStable(paths, func(i, j int) bool { return strings.Count(paths[i], "/") < strings.Count(paths[j], "/") })
	for _, p := range paths {
		id, ok := ids[p]
		if !ok {
			id = pathPrefix + p
			ids[p] = id
		}
		f := platform.Folder{ID: id, Name: p, Kind: platform.Mail}
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			f.Name, f.ParentID = p[i+1:], ids[p[:i]]
		}
		out = append(out, f)
	}
	return out
}

// knows reports whether folderID is a mail folder of this mailbox.
func (s *labelSet) knows(folderID string) bool {
	if folderID == ArchiveFolderID || isSystemFolder(folderID) {
		return true
	}
	if p, ok := strings.CutPrefix(folderID, pathPrefix); ok {
		for _, l := range s.user {
			if l.Name == p || strings.HasPrefix(l.Name, p+"/") {
				return true
			}
		}
		return false
	}
	l, ok := s.byID[folderID]
	return ok && !l.System
}

// labelCache keeps each mailbox's labels for a short while: every
// enumeration and write needs them, labels.list costs a unit, and they
// change rarely (the connector's own creations update the cache).
type labelCache struct {
	mu sync.Mutex
	m  map[string]*cachedLabels
}

type cachedLabels struct {
	set *labelSet
	at  time.Time
}

const labelTTL = time.Minute

// labelsOf returns the mailbox's labels, listing them when the cache is
// cold or old (or fresh is set).
func (c *Connector) labelsOf(ctx context.Context, mailboxID string, fresh bool) (*labelSet, error) {
	key := strings.ToLower(mailboxID)
	c.labels.mu.Lock()
	cl := c.labels.m[key]
	c.labels.mu.Unlock()
	if cl != nil && !fresh && time.Since(cl.at) < labelTTL {
		return cl.set, nil
	}
	uc, err := c.gmailFor(mailboxID)
	if err != nil {
		return nil, err
	}
	resp, err := uc.gmail.Users.Labels.List("me").Context(ctx).Do()
	if err != nil {
		return nil, c.fail(op{what: "mailbox " + mailboxID, mailbox: mailboxID, scope: ScopeGmail}, err)
	}
	set := newLabelSet(labelsFromAPI(resp.Labels))
	c.labels.mu.Lock()
	if c.labels.m == nil {
		c.labels.m = map[string]*cachedLabels{}
	}
	c.labels.m[key] = &cachedLabels{set: set, at: time.Now()}
	c.labels.mu.Unlock()
	return set, nil
}

func labelsFromAPI(ls []*gmail.Label) []gLabel {
	out := make([]gLabel, 0, len(ls))
	for _, l := range ls {
		if l == nil || l.Id == "" {
			continue
		}
		out = append(out, gLabel{ID: l.Id, Name: l.Name, System: l.Type == "system"})
	}
	return out
}

// forgetLabels drops a mailbox's cached labels after the connector
// created one.
func (c *Connector) forgetLabels(mailboxID string) {
	c.labels.mu.Lock()
	delete(c.labels.m, strings.ToLower(mailboxID))
	c.labels.mu.Unlock()
}
