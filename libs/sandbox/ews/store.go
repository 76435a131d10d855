package ews

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailferry/mailferry/libs/ews/soap"
)

// account is an Active Directory account and its mailbox.
type account struct {
	Account
	mbx *mailbox
}

// mailbox is one user's store. Every change takes the next number of the
// mailbox's change sequence; sync states are positions in it.
type mailbox struct {
	guid    [16]byte
	address string
	name    string
	seq     uint64
	nextID  uint64
	root    *folder // the non-IPM root
	top     *folder // msgfolderroot, Top of Information Store
	folders map[string]*folder
	byName  map[string]*folder // distinguished folders
	items   map[string]*item
	// folderTombs are deleted folders, for SyncFolderHierarchy.
	folderTombs []tomb
}

// tomb is a deletion: the id, when it happened, and since when the thing
// had been there (a sync state older than that never saw it).
type tomb struct {
	id           string
	seq, arrived uint64
}

type folder struct {
	id            string
	mbx           *mailbox
	parent        *folder
	name          string
	class         string
	kind          string // Folder, CalendarFolder, ContactsFolder, TasksFolder
	distinguished string
	version       int
	created       uint64
	changed       uint64
	children      []*folder
	items         map[string]*item
	tombs         []tomb
}

// item is a stored item: its typed properties in data, and for mail its
// MIME (given bytes, or a seed reference rendered on demand).
type item struct {
	id      string
	mbx     *mailbox
	folder  *folder
	version int
	// arrived is when the item entered its folder (creation or move);
	// changed the last change of anything but the read flag; readChanged
	// the last change of the read flag.
	arrived, changed, readChanged uint64
	data                          soap.AnyItem
	mime                          []byte
	gen                           *genRef
	size                          int
	ext                           map[string]soap.ExtendedProperty
	// parsed says data holds the headers of the MIME (seeded mail is
	// parsed on first use).
	parsed bool
	// series state of a recurring master: occurrences changed or deleted
	// by OccurrenceItemId.
	exceptions map[int]*item
	deletedOcc map[int]time.Time
	master     *item
	instance   int
	// occModified marks a materialised occurrence that was changed: an
	// exception of its series.
	occModified bool
}

// Distinguished folders of a new mailbox: name, parent, display name,
// class, kind.
var wellKnown = []struct{ id, parent, name, class, kind string }{
	{"msgfolderroot", "root", "Top of Information Store", "IPF.Note", "Folder"},
	{"inbox", "msgfolderroot", "Inbox", "IPF.Note", "Folder"},
	{"outbox", "msgfolderroot", "Outbox", "IPF.Note", "Folder"},
	{"sentitems", "msgfolderroot", "Sent Items", "IPF.Note", "Folder"},
	{"deleteditems", "msgfolderroot", "Deleted Items", "IPF.Note", "Folder"},
	{"drafts", "msgfolderroot", "Drafts", "IPF.Note", "Folder"},
	{"junkemail", "msgfolderroot", "Junk Email", "IPF.Note", "Folder"},
	{"archive", "msgfolderroot", "Archive", "IPF.Note", "Folder"},
	{"conversationhistory", "msgfolderroot", "Conversation History", "IPF.Note", "Folder"},
	{"calendar", "msgfolderroot", "Calendar", "IPF.Appointment", "CalendarFolder"},
	{"contacts", "msgfolderroot", "Contacts", "IPF.Contact", "ContactsFolder"},
	{"tasks", "msgfolderroot", "Tasks", "IPF.Task", "TasksFolder"},
	{"notes", "msgfolderroot", "Notes", "IPF.StickyNote", "Folder"},
	{"journal", "msgfolderroot", "Journal", "IPF.Journal", "Folder"},
	{"syncissues", "msgfolderroot", "Sync Issues", "IPF.Note", "Folder"},
}

func newMailbox(address, name string, n uint64) *mailbox {
	m := &mailbox{address: address, name: name, folders: map[string]*folder{}, byName: map[string]*folder{}, items: map[string]*item{}}
	sum := sha256.Sum256([]byte(fmt.Sprintf("mailbox|%d|%s", n, address)))
	copy(m.guid[:], sum[:16])
	m.root = m.newFolder(nil, "", "", "Folder")
	m.root.distinguished = "root"
	m.byName["root"] = m.root
	for _, w := range wellKnown {
		f := m.newFolder(m.byName[w.parent], w.name, w.class, w.kind)
		f.distinguished = w.id
		m.byName[w.id] = f
	}
	m.top = m.byName["msgfolderroot"]
	return m
}

// id encodes kind, mailbox and number as EWS's opaque base64 ids do.
func (m *mailbox) newID(kind byte) string {
	m.nextID++
	b := make([]byte, 0, 29)
	b = append(b, 'A', 'A', 'M', kind)
	b = append(b, m.guid[:]...)
	b = binary.BigEndian.AppendUint64(b, m.nextID)
	b = append(b, 0)
	return base64.StdEncoding.EncodeToString(b)
}

// idOK says whether an id has the shape of this sandbox's ids, to tell
// ErrorInvalidIdMalformed from ErrorItemNotFound.
func idOK(id string) bool {
	b, err := base64.StdEncoding.DecodeString(id)
	return err == nil && len(b) == 29 && b[0] == 'A' && b[1] == 'A' && b[2] == 'M'
}

func (m *mailbox) tick() uint64 {
	m.seq++
	return m.seq
}

func (m *mailbox) newFolder(parent *folder, name, class, kind string) *folder {
	f := &folder{id: m.newID('F'), mbx: m, parent: parent, name: name, class: class, kind: kind, items: map[string]*item{}}
	f.created = m.tick()
	f.changed = f.created
	m.folders[f.id] = f
	if parent != nil {
		parent.children = append(parent.children, f)
		parent.changed = f.created
	}
	return f
}

// changeKey encodes an object's version the way EWS change keys change
// with every modification.
func changeKey(kind byte, id string, version int) string {
	b := []byte{'C', 'Q', kind, 0}
	b = binary.BigEndian.AppendUint32(b, uint32(version))
	sum := sha256.Sum256([]byte(id))
	b = append(b, sum[:8]...)
	return base64.StdEncoding.EncodeToString(b)
}

func (f *folder) folderID() *soap.FolderID {
	return &soap.FolderID{ID: f.id, ChangeKey: changeKey('F', f.id, f.version)}
}

func (it *item) itemID() *soap.ItemID {
	return &soap.ItemID{ID: it.id, ChangeKey: changeKey('I', it.id, it.version)}
}

// isUnder says whether f is g or below it.
func (f *folder) isUnder(g *folder) bool {
	for x := f; x != nil; x = x.parent {
		if x == g {
			return true
		}
	}
	return false
}

// walk visits the folders under f, depth first, parents before children.
func (f *folder) walk(fn func(*folder)) {
	for _, c := range f.children {
		fn(c)
		c.walk(fn)
	}
}

func (f *folder) unread() int {
	n := 0
	for _, it := range f.items {
		if it.data.Message != nil && it.data.Message.IsRead != nil && !*it.data.Message.IsRead {
			n++
		}
	}
	return n
}

// sortedItems lists a folder's items newest first by received time, then
// by id, as a default Outlook view shows them.
func (f *folder) sortedItems() []*item {
	out := make([]*item, 0, len(f.items))
	for _, it := range f.items {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b *item) int {
		ta, tb := a.received(), b.received()
		if c := tb.Compare(ta); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}

func (it *item) received() time.Time {
	if f := it.data.Fields(); f != nil && f.DateTimeReceived != nil {
		return f.DateTimeReceived.Time
	}
	return time.Time{}
}

// addItem files a new item in f.
func (m *mailbox) addItem(f *folder, it *item) {
	it.id = m.newID('I')
	it.mbx = m
	it.folder = f
	seq := m.tick()
	it.arrived, it.changed, it.readChanged = seq, seq, seq
	f.items[it.id] = it
	m.items[it.id] = it
}

// removeItem deletes it for good, leaving a tombstone for sync.
func (m *mailbox) removeItem(it *item) {
	seq := m.tick()
	f := it.folder
	f.tombs = append(f.tombs, tomb{id: it.id, seq: seq, arrived: it.arrived})
	delete(f.items, it.id)
	delete(m.items, it.id)
}

// moveItem moves it to g: EWS ids follow the store's entry ids, which
// change on a move, so the item gets a new id.
func (m *mailbox) moveItem(it *item, g *folder) {
	m.removeItem(it)
	m.addItem(g, it)
	it.version++
}

// touch records a change of the item's properties; read says only the
// read flag changed.
func (m *mailbox) touch(it *item, read bool) {
	seq := m.tick()
	if read {
		it.readChanged = seq
	} else {
		it.changed = seq
	}
	it.version++
	if f := it.data.Fields(); f != nil {
		f.LastModifiedTime = soap.NewDateTime(time.Now())
	}
}
