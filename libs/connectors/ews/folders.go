package ews

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/platform"
)

// Distinguished folders and the roles they play. "archive" is asked for
// on its own: Exchange 2013 does not know the name and would refuse the
// whole request.
var roleOf = map[string]platform.Role{
	"inbox": platform.RoleInbox, "sentitems": platform.RoleSent, "drafts": platform.RoleDrafts,
	"deleteditems": platform.RoleDeleted, "junkemail": platform.RoleJunk, "calendar": platform.RoleCalendar,
	"contacts": platform.RoleContacts, "archive": platform.RoleArchive,
}

// skippedTrees are distinguished folders whose items are not the user's
// mail: what Outlook has yet to send, and its synchronisation logs.
var skippedTrees = []string{"outbox", "syncissues"}

var distinguished = []string{"msgfolderroot", "inbox", "sentitems", "drafts", "deleteditems", "junkemail", "calendar", "contacts", "outbox", "syncissues"}

// MAPI properties of folders.
var (
	// propFolderSize is PR_MESSAGE_SIZE_EXTENDED: the total size of a
	// folder's items.
	propFolderSize = soap.ExtendedFieldURI{PropertyTag: "0x0e08", PropertyType: "Long"}
	// propHidden is PR_ATTR_HIDDEN: folders Outlook does not show
	// (Conversation Action Settings, PersonMetadata, ...).
	propHidden = soap.ExtendedFieldURI{PropertyTag: "0x10f4", PropertyType: "Boolean"}
)

// folderCacheTTL bounds how long a mailbox's folder listing is reused by
// FindByMarker, WriteItem and Items before it is read again.
const folderCacheTTL = 5 * time.Minute

// folderCache is one mailbox's folder listing.
type folderCache struct {
	mu      sync.Mutex
	at      time.Time
	root    string // msgfolderroot's id
	folders []platform.Folder
	byID    map[string]platform.Folder
	total   map[string]int   // TotalCount
	size    map[string]int64 // PR_MESSAGE_SIZE_EXTENDED
}

func (c *Connector) cacheOf(mailboxID string) *folderCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := mailboxKey(mailboxID)
	fc := c.folders[k]
	if fc == nil {
		fc = &folderCache{}
		c.folders[k] = fc
	}
	return fc
}

// Folders lists the mailbox's mail folders, calendars and contact folders
// below the top of its store, with the well-known ones' roles. Outbox and
// Sync Issues (with their subfolders), search folders, hidden folders and
// folders of other kinds (tasks, notes, journal) are left out.
func (c *Connector) Folders(ctx context.Context, mailboxID string) ([]platform.Folder, error) {
	fc, err := c.listing(ctx, mailboxID, 0)
	if err != nil {
		return nil, err
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return slices.Clone(fc.folders), nil
}

// listing returns the mailbox's folders, read again when older than
// maxAge (0: always).
func (c *Connector) listing(ctx context.Context, mailboxID string, maxAge time.Duration) (*folderCache, error) {
	mb := mailboxKey(mailboxID)
	if mb == "" {
		return nil, errs.New(errs.NotFound, "the mailbox id is empty", "list the mailboxes again")
	}
	fc := c.cacheOf(mb)
	fc.mu.Lock()
	fresh := fc.byID != nil && maxAge > 0 && time.Since(fc.at) < maxAge
	fc.mu.Unlock()
	if fresh {
		return fc, nil
	}
	l, err := c.readFolders(ctx, mb)
	if err != nil {
		return nil, err
	}
	fc.mu.Lock()
	fc.at, fc.root, fc.folders, fc.byID, fc.total, fc.size = time.Now(), l.root, l.folders, l.byID, l.total, l.size
	fc.mu.Unlock()
	return fc, nil
}

// readFolders reads the distinguished folders' ids and the whole tree.
func (c *Connector) readFolders(ctx context.Context, mb string) (*folderCache, error) {
	w := what{mailbox: mb}
	names := map[string]string{} // id -> distinguished name
	var gr soap.GetFolderResponse
	if err := c.call(ctx, mb, &soap.GetFolder{FolderShape: soap.FolderShape{BaseShape: soap.ShapeIDOnly},
		FolderIDs: *soap.FolderList(distinguished...)}, &gr); err != nil {
		return nil, err
	}
	for i, m := range gr.ResponseMessages.Messages {
		if m.ResponseClass == "Error" || m.Folders == nil || len(m.Folders.Folders) == 0 || i >= len(distinguished) {
			if i == 0 {
				if err := soap.CheckOne("GetFolder", m); err != nil {
					return nil, c.fail(err, w)
				}
				return nil, errs.New(errs.Internal, "Exchange did not return the top of the store of "+w.String(), "report this to mailferry support")
			}
			continue
		}
		names[m.Folders.Folders[0].FolderID.ID] = distinguished[i]
	}
	// The later steps wait out ErrorServerBusy themselves: a mailbox
	// whose budget is spent recharges about one request at a time, and a
	// listing begun again from its first step on every refusal would
	// never finish.
	var ar soap.GetFolderResponse
	if err := c.patient(ctx, mb, &soap.GetFolder{FolderShape: soap.FolderShape{BaseShape: soap.ShapeIDOnly},
		FolderIDs: *soap.FolderList("archive")}, &ar); err != nil {
		// Only an answer about the request itself means "no Archive
		// folder here"; throttling and outages are not answers.
		if e, ok := errs.As(err); !ok || e.Code == errs.Throttled || e.Code == errs.Unavailable || e.Code == CodeAuthFailed || e.Code == CodeImpersonationDenied || e.Code == errs.NotFound {
			return nil, err
		}
	} else if len(ar.ResponseMessages.Messages) == 1 && ar.ResponseMessages.Messages[0].ResponseClass != "Error" && ar.ResponseMessages.Messages[0].Folders != nil {
		names[ar.ResponseMessages.Messages[0].Folders.Folders[0].FolderID.ID] = "archive"
	}
	var root string
	for id, n := range names {
		if n == "msgfolderroot" {
			root = id
		}
	}
	var all []soap.Folder
	for offset := 0; ; {
		var fr soap.FindFolderResponse
		if err := c.patient(ctx, mb, &soap.FindFolder{Traversal: "Deep",
			FolderShape: soap.FolderShape{BaseShape: soap.ShapeAllProperties,
				AdditionalProperties: &soap.Paths{ExtendedFieldURI: []soap.ExtendedFieldURI{propFolderSize, propHidden}}},
			IndexedPageFolderView: &soap.IndexedPageView{MaxEntriesReturned: 1000, Offset: offset, BasePoint: "Beginning"},
			ParentFolderIDs:       *soap.FolderList("msgfolderroot")}, &fr); err != nil {
			return nil, err
		}
		if err := soap.Check("FindFolder", fr.ResponseMessages.Messages); err != nil {
			return nil, c.fail(err, w)
		}
		rf := fr.ResponseMessages.Messages[0].RootFolder
		if rf == nil || rf.Folders == nil {
			break
		}
		all = append(all, rf.Folders.Folders...)
		if rf.IncludesLastItemInRange == nil || *rf.IncludesLastItemInRange || len(rf.Folders.Folders) == 0 {
			break
		}
		offset += len(rf.Folders.Folders)
		if rf.IndexedPagingOffset != nil {
			offset = *rf.IndexedPagingOffset
		}
	}
	return buildListing(root, names, all), nil
}

// kindOfClass tells a folder's item kind by its element and class; false
// for folders mailferry does not move.
func kindOfClass(element, class string) (platform.ItemKind, bool) {
	cl := strings.ToLower(class)
	switch {
	case element == "SearchFolder" || element == "TasksFolder":
		return "", false
	case element == "CalendarFolder" || cl == "ipf.appointment" || strings.HasPrefix(cl, "ipf.appointment."):
		return platform.Event, true
	case strings.HasPrefix(cl, "ipf.contact.moc"):
		// Skype for Business' contact list, not the user's contacts.
		return "", false
	case element == "ContactsFolder" || cl == "ipf.contact" || strings.HasPrefix(cl, "ipf.contact."):
		return platform.Contact, true
	case cl == "" || cl == "ipf" || cl == "ipf.note" || cl == "ipf.imap" || strings.HasPrefix(cl, "ipf.note."):
		return platform.Mail, element == "Folder" || element == ""
	}
	return "", false
}

func buildListing(root string, names map[string]string, all []soap.Folder) *folderCache {
	l := &folderCache{root: root, byID: map[string]platform.Folder{}, total: map[string]int{}, size: map[string]int64{}}
	parent := map[string]string{}
	kept := map[string]bool{}
	skipped := map[string]bool{}
	for _, f := range all {
		if f.FolderID == nil {
			continue
		}
		id := f.FolderID.ID
		if f.ParentFolderID != nil {
			parent[id] = f.ParentFolderID.ID
		}
		if slices.Contains(skippedTrees, names[id]) {
			skipped[id] = true
		}
	}
	// A subtree of a skipped folder is skipped with it.
	under := func(id string) bool {
		for x, n := id, 0; x != "" && n < 64; x, n = parent[x], n+1 {
			if skipped[x] {
				return true
			}
		}
		return false
	}
	var out []platform.Folder
	for _, f := range all {
		if f.FolderID == nil {
			continue
		}
		id := f.FolderID.ID
		kind, ok := kindOfClass(f.Kind, f.FolderClass)
		if !ok || under(id) {
			continue
		}
		hidden := false
		var size int64
		for _, p := range f.ExtendedProperty {
			switch p.ExtendedFieldURI.Key() {
			case propHidden.Key():
				hidden = strings.EqualFold(str(p.Value), "true")
			case propFolderSize.Key():
				size, _ = strconv.ParseInt(str(p.Value), 10, 64)
			}
		}
		role := roleOf[names[id]]
		if hidden && role == platform.RoleNone {
			continue
		}
		kept[id] = true
		l.total[id] = derefInt(f.TotalCount)
		l.size[id] = size
		out = append(out, platform.Folder{ID: id, ParentID: parent[id], Name: f.DisplayName, Role: role, Kind: kind})
	}
	// Parents are listed folders or the top: a folder below one that is
	// not moved (a mail folder under Tasks) hangs from its nearest listed
	// ancestor.
	for i := range out {
		p := out[i].ParentID
		for n := 0; p != "" && p != root && !kept[p] && n < 64; n++ {
			p = parent[p]
		}
		if p == root || !kept[p] {
			p = ""
		}
		out[i].ParentID = p
	}
	l.folders = parentsFirst(out)
	for _, f := range l.folders {
		l.byID[f.ID] = f
	}
	return l
}

// parentsFirst orders folders so that each comes after its parent,
// keeping the server's order otherwise.
func parentsFirst(in []platform.Folder) []platform.Folder {
	out := make([]platform.Folder, 0, len(in))
	done := map[string]bool{"": true}
	for len(out) < len(in) {
		progress := false
		for _, f := range in {
			if !done[f.ID] && done[f.ParentID] {
				out = append(out, f)
				done[f.ID] = true
				progress = true
			}
		}
		if !progress {
			// A cycle cannot happen in a store; if the server says so,
			// keep what is left as top-level folders.
			for _, f := range in {
				if !done[f.ID] {
					f.ParentID = ""
					out = append(out, f)
					done[f.ID] = true
				}
			}
		}
	}
	return out
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// defaultNames name role folders created where the mailbox has none.
var defaultNames = map[platform.Role]string{
	platform.RoleInbox: "Inbox", platform.RoleSent: "Sent Items", platform.RoleDrafts: "Drafts",
	platform.RoleDeleted: "Deleted Items", platform.RoleJunk: "Junk Email", platform.RoleArchive: "Archive",
	platform.RoleCalendar: "Calendar", platform.RoleContacts: "Contacts",
}

// EnsureFolder returns the mailbox's folder with f's role, or the child of
// f.ParentID (the top of the store when empty) named f.Name (compared
// without case, as Exchange does) of f's kind, creating it when there is
// none. A folder of another kind holding the name gets the new folder
// named "<name> (<kind>)", again found by that name on a re-run.
func (c *Connector) EnsureFolder(ctx context.Context, mailboxID string, f platform.Folder) (platform.Folder, error) {
	mb := mailboxKey(mailboxID)
	kind := f.Kind
	if kind == "" {
		kind = platform.Mail
	}
	fc, err := c.listing(ctx, mb, folderCacheTTL)
	if err != nil {
		return platform.Folder{}, err
	}
	if f.Role != platform.RoleNone {
		if got, ok := fc.withRole(f.Role); ok {
			return got, nil
		}
	}
	name := strings.TrimSpace(f.Name)
	if name == "" {
		name = defaultNames[f.Role]
	}
	if name == "" {
		return platform.Folder{}, errs.Field("name", "a folder needs a name")
	}
	if f.ParentID != "" {
		if _, ok := fc.get(f.ParentID); !ok {
			return platform.Folder{}, errs.New(errs.NotFound, "the parent folder "+f.ParentID+" of mailbox "+mb+" was not found", "list the folders again")
		}
	}
	if got, ok := fc.child(f.ParentID, name, kind); ok {
		return got, nil
	}
	names := []string{name, name + " (" + string(kind) + ")"}
	if fc.nameTaken(f.ParentID, name) {
		names = names[1:]
	}
	for _, use := range names {
		created, err := c.createFolder(ctx, mb, f.ParentID, use, kind)
		if err == nil {
			created.Role = f.Role
			fc.add(created)
			return created, nil
		}
		if !errs.Is(err, errs.Conflict) {
			return platform.Folder{}, err
		}
		// Someone created it meanwhile (then it is used), or a folder
		// mailferry does not list holds the name (then the other name
		// is tried).
		if fc, err = c.listing(ctx, mb, 0); err != nil {
			return platform.Folder{}, err
		}
		if got, ok := fc.child(f.ParentID, name, kind); ok {
			return got, nil
		}
	}
	return platform.Folder{}, errs.New(errs.Conflict, "folder "+name+" of mailbox "+mb+" cannot be created: its name is taken",
		"rename the folder that holds the name in the destination mailbox, then run again")
}

func (c *Connector) createFolder(ctx context.Context, mb, parentID, name string, kind platform.ItemKind) (platform.Folder, error) {
	nf := soap.Folder{Kind: "Folder", FolderClass: "IPF.Note", DisplayName: name}
	switch kind {
	case platform.Event:
		nf.Kind, nf.FolderClass = "CalendarFolder", "IPF.Appointment"
	case platform.Contact:
		nf.Kind, nf.FolderClass = "ContactsFolder", "IPF.Contact"
	}
	parent := soap.FolderRef("msgfolderroot")
	if parentID != "" {
		parent = &soap.TargetFolderID{FolderID: &soap.FolderID{ID: parentID}}
	}
	var resp soap.CreateFolderResponse
	w := what{mailbox: mb, thing: "folder " + name}
	if err := c.call(ctx, mb, &soap.CreateFolder{ParentFolderID: *parent, Folders: soap.Folders{Folders: []soap.Folder{nf}}}, &resp); err != nil {
		return platform.Folder{}, err
	}
	if err := soap.Check("CreateFolder", resp.ResponseMessages.Messages); err != nil {
		return platform.Folder{}, c.fail(err, w)
	}
	m := resp.ResponseMessages.Messages[0]
	if m.Folders == nil || len(m.Folders.Folders) == 0 || m.Folders.Folders[0].FolderID == nil {
		return platform.Folder{}, errs.New(errs.Internal, "Exchange created "+w.String()+" without saying its id", "report this to mailferry support")
	}
	return platform.Folder{ID: m.Folders.Folders[0].FolderID.ID, ParentID: parentID, Name: name, Kind: kind}, nil
}

func (fc *folderCache) withRole(r platform.Role) (platform.Folder, bool) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for _, f := range fc.folders {
		if f.Role == r {
			return f, true
		}
	}
	return platform.Folder{}, false
}

func (fc *folderCache) get(id string) (platform.Folder, bool) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	f, ok := fc.byID[id]
	return f, ok
}

func (fc *folderCache) child(parentID, name string, kind platform.ItemKind) (platform.Folder, bool) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	alt := name + " (" + string(kind) + ")"
	for _, try := range []string{name, alt} {
		for _, f := range fc.folders {
			if f.ParentID == parentID && strings.EqualFold(f.Name, try) && f.Kind == kind {
				return f, true
			}
		}
	}
	return platform.Folder{}, false
}

func (fc *folderCache) nameTaken(parentID, name string) bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for _, f := range fc.folders {
		if f.ParentID == parentID && strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

func (fc *folderCache) add(f platform.Folder) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if _, ok := fc.byID[f.ID]; ok {
		return
	}
	fc.folders = append(fc.folders, f)
	fc.byID[f.ID] = f
	fc.total[f.ID] = 0
}

func (fc *folderCache) ids(kinds ...platform.ItemKind) []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var out []string
	for _, f := range fc.folders {
		if len(kinds) == 0 || slices.Contains(kinds, f.Kind) {
			out = append(out, f.ID)
		}
	}
	return out
}
