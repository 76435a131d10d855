package graph

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"slices"
	"sort"
	"strings"
	"time"
)

type user struct {
	id, upn, displayName, givenName, surname, nickname string
	usageLocation, jobTitle                            string
	proxy                                              []string // "SMTP:primary", "smtp:alias"
	enabled                                            bool
	licenses                                           []assignedLicense
	created                                            time.Time

	mailbox  bool // provisioned by an Exchange licence
	folders  map[string]*folder
	forder   []*folder
	root     *folder
	wk       map[string]*folder
	messages map[string]*message
	cal      *calStore
	ct       *contactStore
}

type assignedLicense struct {
	SkuID         string   `json:"skuId"`
	DisabledPlans []string `json:"disabledPlans"`
}

type folder struct {
	id, name, parentID, wk string
	hidden                 bool
	items                  map[string]*message
	sorted                 []*message // newest first; nil when stale
	tombs                  []tomb     // removals, for delta
}

type tomb struct {
	id  string
	seq int64
}

type extProp struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

type message struct {
	id, folderID, changeKey, conversationID string
	created, modified, received, sent       time.Time
	isRead, isDraft                         bool
	importance, flag, inference             string
	categories                              []string
	props                                   []extProp

	raw   []byte  // the MIME as created; nil for seeded messages
	gen   *genRef // seeded content, rendered on demand
	extra []*attachment
	size  int64 // of mimeBytes()
	seq   int64
}

type attachment struct {
	id, name, contentType, contentID string
	inline                           bool
	data                             []byte
	modified                         time.Time
}

// snapshot copies what rendering a message reads, taken with s.mu held,
// so that the message is rendered and parsed after the lock is released:
// with messages of 75 KB on average, rendering under the store's one lock
// would serialise every mailbox of the tenant behind it. The MIME (raw),
// the seed reference and attachments are never changed in place, only
// replaced or appended to, so sharing them is safe.
func (m *message) snapshot() *message {
	cp := *m
	cp.categories = slices.Clone(m.categories)
	cp.props = slices.Clone(m.props)
	cp.extra = slices.Clone(m.extra)
	return &cp
}

// rendering runs the test hook before a message of userID is rendered
// or parsed.
func (s *Sandbox) rendering(userID string) {
	if h := s.renderHook.Load(); h != nil {
		(*h)(userID)
	}
}

// mimeBytes is the message as RFC 5322: the created or seeded MIME with
// attachments added later appended as parts.
func (m *message) mimeBytes() []byte {
	base := m.raw
	if base == nil && m.gen != nil {
		base = m.gen.render()
	}
	if len(m.extra) == 0 {
		return base
	}
	return appendAttachments(base, m.extra)
}

// newID makes an opaque identifier shaped like Exchange's (base64url with
// padding), deterministic in the order of creation so that seeded tenants
// are reproducible.
func (s *Sandbox) newIDLocked(kind string) string {
	s.idn++
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], s.idn)
	h := sha256.Sum256(append([]byte(s.tenantID+"|"+kind+"|"), b[:]...))
	raw := make([]byte, 0, 50)
	raw = append(raw, 0x00, 0x00, 0x32, 0x40) // decodes to the familiar "AAMk" lead
	raw = append(raw, h[:]...)
	raw = append(raw, b[2:]...)
	raw = append(raw, 0, 0, 0, 0, 0, 0, 0, 0)
	return base64.URLEncoding.EncodeToString(raw[:50])
}

func (s *Sandbox) nextSeqLocked() int64 {
	s.seq++
	return s.seq
}

// userLocked finds a user by id or user principal name.
func (s *Sandbox) userLocked(key string) *user {
	if u := s.users[key]; u != nil {
		return u
	}
	if u := s.users[strings.ToLower(key)]; u != nil {
		return u
	}
	return s.byUPN[strings.ToLower(key)]
}

func (s *Sandbox) addUserLocked(upn, display, nickname string, aliases []string) *user {
	u := &user{id: newGUIDFrom(s), upn: upn, displayName: display, nickname: nickname, enabled: true,
		created: time.Now().UTC(), usageLocation: "", messages: map[string]*message{}}
	if nickname == "" {
		u.nickname = strings.SplitN(upn, "@", 2)[0]
	}
	if f := strings.Fields(display); len(f) >= 2 {
		u.givenName, u.surname = f[0], strings.Join(f[1:], " ")
	}
	u.proxy = []string{"SMTP:" + upn}
	for _, a := range aliases {
		u.proxy = append(u.proxy, "smtp:"+a)
	}
	s.users[u.id] = u
	s.byUPN[strings.ToLower(upn)] = u
	s.order = append(s.order, u)
	return u
}

// newGUIDFrom derives user ids from the id counter so that seeded tenants
// get the same ids every time.
func newGUIDFrom(s *Sandbox) string {
	s.idn++
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], s.idn)
	u := sha256.Sum256(append([]byte(s.tenantID+"|user|"), b[:]...))
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i := 0; i < 16; i++ {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[u[i]>>4], hexd[u[i]&15])
	}
	return string(out)
}

// wellKnown are the folders every Exchange Online mailbox has under the
// message folder root, with their well-known names.
var wellKnown = []struct{ name, wk string }{
	{"Archive", "archive"}, {"Conversation History", "conversationhistory"},
	{"Deleted Items", "deleteditems"}, {"Drafts", "drafts"}, {"Inbox", "inbox"},
	{"Junk Email", "junkemail"}, {"Outbox", "outbox"}, {"Sent Items", "sentitems"},
}

// provisionLocked creates the mailbox, as Exchange does once a licence
// with an Exchange plan is assigned.
func (s *Sandbox) provisionLocked(u *user) {
	if u.mailbox {
		return
	}
	u.mailbox = true
	u.folders = map[string]*folder{}
	u.wk = map[string]*folder{}
	u.root = &folder{id: s.newIDLocked("folder"), name: "Top of Information Store", wk: "msgfolderroot", items: map[string]*message{}}
	u.folders[u.root.id] = u.root
	u.wk["msgfolderroot"] = u.root
	for _, w := range wellKnown {
		f := s.addFolderLocked(u, u.root, w.name)
		f.wk = w.wk
		u.wk[w.wk] = f
	}
	s.provisionCalendarLocked(u)
	s.provisionContactsLocked(u)
}

func (s *Sandbox) addFolderLocked(u *user, parent *folder, name string) *folder {
	f := &folder{id: s.newIDLocked("folder"), name: name, parentID: parent.id, items: map[string]*message{}}
	u.folders[f.id] = f
	u.forder = append(u.forder, f)
	return f
}

// folderLocked resolves a folder id or well-known name.
func (u *user) folderLocked(key string) *folder {
	if f := u.folders[key]; f != nil {
		return f
	}
	return u.wk[strings.ToLower(key)]
}

func (u *user) children(f *folder) []*folder {
	var out []*folder
	for _, c := range u.forder {
		if c.parentID == f.id {
			out = append(out, c)
		}
	}
	return out
}

func (f *folder) list() []*message {
	if f.sorted == nil {
		f.sorted = make([]*message, 0, len(f.items))
		for _, m := range f.items {
			f.sorted = append(f.sorted, m)
		}
		sort.Slice(f.sorted, func(i, j int) bool {
			a, b := f.sorted[i], f.sorted[j]
			if !a.received.Equal(b.received) {
				return a.received.After(b.received)
			}
			return a.id < b.id
		})
	}
	return f.sorted
}

// putLocked files a message into a folder as a change delta reports.
func (s *Sandbox) putLocked(u *user, f *folder, m *message) {
	m.folderID = f.id
	m.seq = s.nextSeqLocked()
	m.changeKey = changeKey(m.seq)
	u.messages[m.id] = m
	f.items[m.id] = m
	f.sorted = nil
}

// removeLocked takes a message out of its folder, leaving a tombstone for
// delta.
func (s *Sandbox) removeLocked(u *user, m *message) {
	f := u.folders[m.folderID]
	delete(u.messages, m.id)
	if f != nil {
		delete(f.items, m.id)
		f.sorted = nil
		f.tombs = append(f.tombs, tomb{id: m.id, seq: s.nextSeqLocked()})
	}
}

// touchLocked records a change to a message for delta and ETags.
func (s *Sandbox) touchLocked(u *user, m *message) {
	m.seq = s.nextSeqLocked()
	m.changeKey = changeKey(m.seq)
	m.modified = time.Now().UTC()
	if f := u.folders[m.folderID]; f != nil {
		f.sorted = nil
	}
}

func changeKey(seq int64) string {
	var b [12]byte
	b[0], b[1], b[2] = 'C', 'Q', 'A'
	binary.BigEndian.PutUint64(b[4:], uint64(seq))
	return base64.StdEncoding.EncodeToString(b[:])
}

func (f *folder) totals() (total, unread int, size int64) {
	for _, m := range f.items {
		total++
		if !m.isRead {
			unread++
		}
		size += m.size
	}
	return
}

// FolderTotal is one mail folder's count and size as the store holds them.
type FolderTotal struct {
	Items int
	Bytes int64
}

// FolderTotals returns a user's mail folders by path below the mailbox
// root ("Inbox/Projects"), straight from the store: tests compare what a
// client enumerated through the API with it.
func (s *Sandbox) FolderTotals(userID string) map[string]FolderTotal {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	out := map[string]FolderTotal{}
	if u == nil {
		return out
	}
	for _, f := range u.forder {
		if f == u.root {
			continue
		}
		path := f.name
		for p := u.folders[f.parentID]; p != nil && p != u.root; p = u.folders[p.parentID] {
			path = p.name + "/" + path
		}
		n, _, size := f.totals()
		out[path] = FolderTotal{Items: n, Bytes: size}
	}
	return out
}
