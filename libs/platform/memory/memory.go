// Package memory is the in-memory sandbox platform. The services' tests, the
// demo (make run) and the multi-process tests use it as both source and
// destination, so it enforces the same rules the real platforms do: opaque
// paging and delta tokens, stable item ids with change keys, idempotent
// writes keyed by a migration marker and the source's version, a per-item
// size limit, throttling with Retry-After and authentication failures. A
// test that passes against the sandbox should therefore not be surprised by
// a real tenant.
//
// A Store holds tenants. A *Tenant is itself a platform.Connector for
// in-process use; NewHandler serves a Store over HTTP and Client talks to it,
// so that separate processes can share one sandbox and errors cross a real
// wire the way they do with Microsoft Graph or Gmail.
package memory

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// DefaultMaxItemBytes is the per-item limit of Microsoft Graph upload
// sessions, the strictest of the real platforms.
const DefaultMaxItemBytes = 150 << 20

// DefaultPageSize is the page size of Items unless SetPageSize changes it.
const DefaultPageSize = 100

// Store holds sandbox tenants by name.
type Store struct {
	mu      sync.RWMutex
	tenants map[string]*Tenant
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{tenants: map[string]*Tenant{}}
}

// AddTenant returns the tenant called name, creating it with the given
// domain and a fresh random bearer token if it does not exist yet. An
// existing tenant keeps its domain and token, so callers racing to set up
// the same sandbox agree on both.
func (s *Store) AddTenant(name, domain string) *Tenant {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tenants[name]; ok {
		return t
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("memory: no randomness for a tenant token: " + err.Error())
	}
	t := &Tenant{
		name:      name,
		domain:    domain,
		token:     hex.EncodeToString(b[:]),
		mailboxes: map[string]*mailbox{},
		byAddress: map[string]*mailbox{},
		limits:    platform.Limits{MaxItemBytes: DefaultMaxItemBytes},
		pageSize:  DefaultPageSize,
	}
	s.tenants[name] = t
	return t
}

// AddTenantWithToken is AddTenant with a chosen bearer token, so a sandbox
// that is rebuilt on every start (the demo of `mailferry up`) keeps
// accepting the credentials stored for it. An existing tenant's token is
// replaced.
func (s *Store) AddTenantWithToken(name, domain, token string) *Tenant {
	t := s.AddTenant(name, domain)
	if token != "" {
		s.mu.Lock()
		t.token = token
		s.mu.Unlock()
	}
	return t
}

// Tenant returns the tenant called name.
func (s *Store) Tenant(name string) (*Tenant, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.tenants[name]
	return t, ok
}

// Faults make a tenant misbehave the way real platforms do, so that retry,
// back-off and resume paths are exercised by ordinary tests.
type Faults struct {
	// ThrottleEvery makes every Nth API call fail with errs.Throttled.
	ThrottleEvery int
	// RetryAfter is the wait a throttled call asks for; zero means 1s.
	RetryAfter time.Duration
	// WriteDelay is slept by every WriteItem before it stores anything, so a
	// test can kill a process in the middle of a mailbox.
	WriteDelay time.Duration
	// FailAuth makes every API call fail with errs.AuthFailed, as a revoked
	// consent or a rotated secret does.
	FailAuth bool
	// FailDeletes makes the next FailDeletes DeleteItem calls fail with
	// errs.Unavailable before deleting anything, so a test can stop a run
	// between writing an item's new version and deleting the old one.
	FailDeletes int
	// WarnOn makes WriteItem store an item whose content contains it and
	// return the copy's id with a platform.CopiedWithWarnings warning, as a
	// destination does that cannot hold part of an item (Microsoft 365
	// and a contact's fourth e-mail address). The memory platform holds
	// every item whole; this is how the warning path is exercised.
	WarnOn string
	// CorruptOn makes ReadItem refuse an item whose content contains it
	// with errs.CorruptItem, as a platform does that cannot render a
	// damaged item: the engine lists it as failed and moves on.
	CorruptOn string
}

// Tenant is one sandbox tenant. It implements platform.Connector and
// platform.Provisioner and is safe for concurrent use.
type Tenant struct {
	name, domain, token string

	calls atomic.Int64

	mu        sync.RWMutex
	mailboxes map[string]*mailbox
	order     []*mailbox
	byAddress map[string]*mailbox
	nextID    uint64
	limits    platform.Limits
	faults    Faults
	pageSize  int
}

type mailbox struct {
	info    platform.Mailbox
	folders map[string]*folder
	forder  []*folder
	items   map[string]*item
	// markers holds the ids of the copies written with each marker, in
	// write order.
	markers map[string][]string
	// written counts stores per marker and version; idempotency means
	// every count is 1.
	written map[string]int
}

type folder struct {
	info platform.Folder
	// head is the folder's change sequence: every add, change or delete
	// takes the next value, which is what delta tokens remember.
	head uint64
	// log holds one entry per change in sequence order. Entries whose item
	// has changed again since are stale and skipped, so enumeration is a
	// binary search plus a scan rather than a sort per page.
	log []logEntry
}

type logEntry struct {
	seq uint64
	it  *item
}

type item struct {
	ref        platform.ItemRef
	seq        uint64
	content    []byte
	gen        *lazy
	received   time.Time
	read       bool
	flagged    bool
	categories []string
	marker     string
	// version is the source's change key the item was written from.
	version string
}

// Name returns the tenant's name.
func (t *Tenant) Name() string { return t.name }

// Domain returns the tenant's mail domain.
func (t *Tenant) Domain() string { return t.domain }

// Token returns the bearer token the HTTP API accepts for this tenant.
func (t *Tenant) Token() string { return t.token }

// SetLimits replaces the tenant's limits.
func (t *Tenant) SetLimits(l platform.Limits) {
	t.mu.Lock()
	t.limits = l
	t.mu.Unlock()
}

// SetPageSize sets how many items one Items page holds; n < 1 restores the
// default.
func (t *Tenant) SetPageSize(n int) {
	if n < 1 {
		n = DefaultPageSize
	}
	t.mu.Lock()
	t.pageSize = n
	t.mu.Unlock()
}

// SetFaults replaces the injected faults and restarts the call count, so
// ThrottleEvery counts from the moment the test asked for it.
func (t *Tenant) SetFaults(f Faults) {
	t.mu.Lock()
	t.faults = f
	t.mu.Unlock()
	t.calls.Store(0)
}

// call applies injected faults; every API method starts with it.
func (t *Tenant) call(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.RLock()
	f := t.faults
	t.mu.RUnlock()
	if f.FailAuth {
		return errs.New(errs.AuthFailed,
			fmt.Sprintf("sandbox tenant %q rejected the credentials", t.name),
			"check the credentials and that the consent was not revoked")
	}
	n := t.calls.Add(1)
	if f.ThrottleEvery > 0 && n%int64(f.ThrottleEvery) == 0 {
		after := f.RetryAfter
		if after <= 0 {
			after = time.Second
		}
		return errs.Throttle(after, fmt.Sprintf("sandbox tenant %q is throttling requests", t.name))
	}
	return nil
}

func (t *Tenant) newID(prefix string) string {
	t.nextID++
	return fmt.Sprintf("%s-%07d", prefix, t.nextID)
}

func notFound(what, id string) error {
	return errs.New(errs.NotFound, fmt.Sprintf("%s %q does not exist", what, id),
		"list again: it may have been deleted or never existed")
}

func (t *Tenant) mailbox(id string) (*mailbox, error) {
	m, ok := t.mailboxes[id]
	if !ok {
		return nil, notFound("mailbox", id)
	}
	return m, nil
}

func (m *mailbox) folder(id string) (*folder, error) {
	f, ok := m.folders[id]
	if !ok {
		return nil, notFound("folder", id)
	}
	return f, nil
}

// wellKnown are created in every mailbox, as Exchange does.
var wellKnown = []platform.Folder{
	{Name: "Inbox", Role: platform.RoleInbox, Kind: platform.Mail},
	{Name: "Sent Items", Role: platform.RoleSent, Kind: platform.Mail},
	{Name: "Drafts", Role: platform.RoleDrafts, Kind: platform.Mail},
	{Name: "Deleted Items", Role: platform.RoleDeleted, Kind: platform.Mail},
	{Name: "Junk Email", Role: platform.RoleJunk, Kind: platform.Mail},
	{Name: "Archive", Role: platform.RoleArchive, Kind: platform.Mail},
	{Name: "Calendar", Role: platform.RoleCalendar, Kind: platform.Event},
	{Name: "Contacts", Role: platform.RoleContacts, Kind: platform.Contact},
}

func roleKind(r platform.Role) (platform.ItemKind, bool) {
	for _, w := range wellKnown {
		if w.Role == r {
			return w.Kind, true
		}
	}
	return "", false
}

// AddMailbox adds a mailbox with the well-known folders and returns it with
// its id. A mailbox whose primary address already exists is returned as is,
// so setup code can run twice.
func (t *Tenant) AddMailbox(m platform.Mailbox) platform.Mailbox {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addMailboxLocked(m).info
}

func (t *Tenant) addMailboxLocked(m platform.Mailbox) *mailbox {
	key := strings.ToLower(m.PrimaryAddress)
	if mb, ok := t.byAddress[key]; ok {
		return mb
	}
	m.ID = t.newID("mbx")
	m.Aliases = append([]string(nil), m.Aliases...)
	mb := &mailbox{
		info:    m,
		folders: map[string]*folder{},
		items:   map[string]*item{},
		markers: map[string][]string{},
		written: map[string]int{},
	}
	for _, w := range wellKnown {
		t.addFolderLocked(mb, w)
	}
	t.mailboxes[m.ID] = mb
	t.order = append(t.order, mb)
	t.byAddress[key] = mb
	return mb
}

func (t *Tenant) addFolderLocked(mb *mailbox, f platform.Folder) *folder {
	f.ID = t.newID("fld")
	fo := &folder{info: f}
	mb.folders[f.ID] = fo
	mb.forder = append(mb.forder, fo)
	return fo
}

// MailboxByAddress finds a mailbox by primary address or alias.
func (t *Tenant) MailboxByAddress(addr string) (platform.Mailbox, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if mb, ok := t.byAddress[strings.ToLower(addr)]; ok {
		return cloneMailbox(mb.info), true
	}
	for _, mb := range t.order {
		for _, a := range mb.info.Aliases {
			if strings.EqualFold(a, addr) {
				return cloneMailbox(mb.info), true
			}
		}
	}
	return platform.Mailbox{}, false
}

// FolderByRole returns a mailbox's well-known folder.
func (t *Tenant) FolderByRole(mailboxID string, role platform.Role) (platform.Folder, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	mb, ok := t.mailboxes[mailboxID]
	if !ok {
		return platform.Folder{}, false
	}
	for _, f := range mb.forder {
		if f.info.Role == role && role != platform.RoleNone {
			return f.info, true
		}
	}
	return platform.Folder{}, false
}

func cloneMailbox(m platform.Mailbox) platform.Mailbox {
	m.Aliases = append([]string(nil), m.Aliases...)
	return m
}

// Count returns the number of items in a mailbox, over all folders; zero for
// an unknown mailbox.
func (t *Tenant) Count(mailboxID string) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if mb, ok := t.mailboxes[mailboxID]; ok {
		return len(mb.items)
	}
	return 0
}

// WrittenMarkers returns, per migration marker, the most times WriteItem
// stored any one version of the item. Idempotent writers leave every count
// at 1, whatever retries and restarts happened; a changed item written again
// in its new version still counts 1.
func (t *Tenant) WrittenMarkers(mailboxID string) map[string]int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := map[string]int{}
	if mb, ok := t.mailboxes[mailboxID]; ok {
		for k, v := range mb.written {
			marker, _, _ := strings.Cut(k, "\x00")
			out[marker] = max(out[marker], v)
		}
	}
	return out
}

// AddItem adds a source item the way mail arrives: without limits, faults or
// marker, so a source can hold items over a destination's limit for
// discovery to find.
func (t *Tenant) AddItem(ctx context.Context, mailboxID, folderID string, it platform.Item) (platform.ItemRef, error) {
	if err := ctx.Err(); err != nil {
		return platform.ItemRef{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	mb, err := t.mailbox(mailboxID)
	if err != nil {
		return platform.ItemRef{}, err
	}
	fo, err := mb.folder(folderID)
	if err != nil {
		return platform.ItemRef{}, err
	}
	if err := checkKind(fo, it); err != nil {
		return platform.ItemRef{}, err
	}
	return t.storeLocked(mb, fo, it, "", ""), nil
}

func checkKind(fo *folder, it platform.Item) error {
	if it.Ref.Kind != "" && it.Ref.Kind != fo.info.Kind {
		return errs.New(errs.Invalid,
			fmt.Sprintf("a %s item cannot go into %s folder %q", it.Ref.Kind, fo.info.Kind, fo.info.Name),
			"write the item into a folder of its kind")
	}
	return nil
}

func contentTypeOf(k platform.ItemKind) string {
	switch k {
	case platform.Event:
		return platform.ContentCalendar
	case platform.Contact:
		return platform.ContentVCard
	}
	return platform.ContentMIME
}

func (t *Tenant) storeLocked(mb *mailbox, fo *folder, it platform.Item, marker, version string) platform.ItemRef {
	n := &item{
		ref: platform.ItemRef{
			ID:       t.newID("itm"),
			FolderID: fo.info.ID,
			Kind:     fo.info.Kind,
			Size:     int64(len(it.Content)),
		},
		content:    append([]byte(nil), it.Content...),
		received:   it.Received,
		read:       it.Read,
		flagged:    it.Flagged,
		categories: append([]string(nil), it.Categories...),
		marker:     marker,
		version:    version,
	}
	mb.items[n.ref.ID] = n
	fo.touch(n)
	return n.ref
}

// touch gives it the folder's next sequence number and a new change key.
// The key names the folder too: sequences are per folder, and an item moved
// back and forth must never get a key it had before.
func (fo *folder) touch(it *item) {
	fo.head++
	it.seq = fo.head
	it.ref.ChangeKey = fmt.Sprintf("ck%d.%s", fo.head, fo.info.ID)
	fo.log = append(fo.log, logEntry{seq: fo.head, it: it})
}

// ChangeItem replaces an item's content and flags, as a user editing it
// would; the item keeps its id and gets a new change key.
func (t *Tenant) ChangeItem(ctx context.Context, mailboxID, itemID string, it platform.Item) (platform.ItemRef, error) {
	if err := ctx.Err(); err != nil {
		return platform.ItemRef{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	mb, err := t.mailbox(mailboxID)
	if err != nil {
		return platform.ItemRef{}, err
	}
	old, ok := mb.items[itemID]
	if !ok {
		return platform.ItemRef{}, notFound("item", itemID)
	}
	fo := mb.folders[old.ref.FolderID]
	// A fresh struct keeps readers holding the old one consistent.
	n := &item{
		ref:        old.ref,
		content:    append([]byte(nil), it.Content...),
		received:   it.Received,
		read:       it.Read,
		flagged:    it.Flagged,
		categories: append([]string(nil), it.Categories...),
		marker:     old.marker,
		version:    old.version,
	}
	n.ref.Size = int64(len(n.content))
	old.seq = 0 // makes the old log entry stale
	mb.items[itemID] = n
	fo.touch(n)
	return n.ref, nil
}

// RemoveItem deletes an item as a user would: without faults, and
// errs.NotFound when it does not exist. Delta enumerations report it as
// deleted.
func (t *Tenant) RemoveItem(ctx context.Context, mailboxID, itemID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	mb, err := t.mailbox(mailboxID)
	if err != nil {
		return err
	}
	if !t.removeLocked(mb, itemID) {
		return notFound("item", itemID)
	}
	return nil
}

// removeLocked deletes an item and leaves a tombstone in its folder's log;
// false when there is no such item.
func (t *Tenant) removeLocked(mb *mailbox, itemID string) bool {
	old, ok := mb.items[itemID]
	if !ok {
		return false
	}
	fo := mb.folders[old.ref.FolderID]
	delete(mb.items, itemID)
	if old.marker != "" {
		ids := slices.DeleteFunc(mb.markers[old.marker], func(id string) bool { return id == itemID })
		if len(ids) == 0 {
			delete(mb.markers, old.marker)
		} else {
			mb.markers[old.marker] = ids
		}
	}
	old.seq = 0
	tomb := &item{ref: old.ref}
	tomb.ref.Deleted = true
	tomb.ref.Size = 0
	fo.touch(tomb)
	return true
}

// MoveItem moves an item to another folder of its kind as a user would.
// The item keeps its id (as Microsoft Graph's immutable ids do) and gets a
// new change key; delta enumerations report it deleted in the folder it
// left and new in the one it entered.
func (t *Tenant) MoveItem(ctx context.Context, mailboxID, itemID, folderID string) (platform.ItemRef, error) {
	if err := ctx.Err(); err != nil {
		return platform.ItemRef{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	mb, err := t.mailbox(mailboxID)
	if err != nil {
		return platform.ItemRef{}, err
	}
	old, ok := mb.items[itemID]
	if !ok {
		return platform.ItemRef{}, notFound("item", itemID)
	}
	to, err := mb.folder(folderID)
	if err != nil {
		return platform.ItemRef{}, err
	}
	if to.info.Kind != old.ref.Kind {
		return platform.ItemRef{}, errs.New(errs.Invalid,
			fmt.Sprintf("a %s item cannot go into %s folder %q", old.ref.Kind, to.info.Kind, to.info.Name),
			"move the item into a folder of its kind")
	}
	from := mb.folders[old.ref.FolderID]
	if from == to {
		return old.ref, nil
	}
	n := *old
	n.ref.FolderID = to.info.ID
	old.seq = 0
	tomb := &item{ref: old.ref}
	tomb.ref.Deleted = true
	tomb.ref.Size = 0
	from.touch(tomb)
	mb.items[itemID] = &n
	to.touch(&n)
	return n.ref, nil
}

// Kind returns platform.Memory.
func (t *Tenant) Kind() platform.Kind { return platform.Memory }

// Limits returns the tenant's limits.
func (t *Tenant) Limits() platform.Limits {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.limits
}

// ListMailboxes returns the mailboxes in creation order.
func (t *Tenant) ListMailboxes(ctx context.Context) ([]platform.Mailbox, error) {
	if err := t.call(ctx); err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]platform.Mailbox, 0, len(t.order))
	for _, mb := range t.order {
		out = append(out, cloneMailbox(mb.info))
	}
	return out, nil
}

// CreateMailbox adds a mailbox. It is idempotent by primary address because
// provisioning commands are delivered at least once.
func (t *Tenant) CreateMailbox(ctx context.Context, m platform.Mailbox) (platform.Mailbox, error) {
	if err := t.call(ctx); err != nil {
		return platform.Mailbox{}, err
	}
	if !strings.Contains(m.PrimaryAddress, "@") {
		return platform.Mailbox{}, errs.Field("primaryAddress", "must be an email address")
	}
	return t.AddMailbox(m), nil
}

// Folders returns a mailbox's folders, parents before children.
func (t *Tenant) Folders(ctx context.Context, mailboxID string) ([]platform.Folder, error) {
	if err := t.call(ctx); err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	mb, err := t.mailbox(mailboxID)
	if err != nil {
		return nil, err
	}
	out := make([]platform.Folder, 0, len(mb.forder))
	for _, f := range mb.forder {
		out = append(out, f.info)
	}
	return out, nil
}

// EnsureFolder returns the folder with f's role, or with f's parent and name
// (compared case-insensitively, as Exchange and Gmail do), creating it if
// needed.
func (t *Tenant) EnsureFolder(ctx context.Context, mailboxID string, f platform.Folder) (platform.Folder, error) {
	if err := t.call(ctx); err != nil {
		return platform.Folder{}, err
	}
	if f.Kind == "" {
		f.Kind = platform.Mail
	}
	switch f.Kind {
	case platform.Mail, platform.Event, platform.Contact:
	default:
		return platform.Folder{}, errs.Field("kind", fmt.Sprintf("%q is not mail, event or contact", f.Kind))
	}
	if f.Role != platform.RoleNone {
		if _, ok := roleKind(f.Role); !ok {
			return platform.Folder{}, errs.Field("role", fmt.Sprintf("%q is not a well-known folder role", f.Role))
		}
	} else if strings.TrimSpace(f.Name) == "" {
		return platform.Folder{}, errs.Field("name", "a folder without a role needs a name")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	mb, err := t.mailbox(mailboxID)
	if err != nil {
		return platform.Folder{}, err
	}
	if f.Role != platform.RoleNone {
		for _, fo := range mb.forder {
			if fo.info.Role == f.Role {
				return fo.info, nil
			}
		}
		kind, _ := roleKind(f.Role)
		f.Kind = kind
		f.ParentID = ""
		if f.Name == "" {
			f.Name = string(f.Role)
		}
		return t.addFolderLocked(mb, f).info, nil
	}
	if f.ParentID != "" {
		if _, err := mb.folder(f.ParentID); err != nil {
			return platform.Folder{}, err
		}
	}
	for _, fo := range mb.forder {
		if fo.info.ParentID == f.ParentID && strings.EqualFold(fo.info.Name, f.Name) {
			return fo.info, nil
		}
	}
	return t.addFolderLocked(mb, platform.Folder{ParentID: f.ParentID, Name: f.Name, Kind: f.Kind}).info, nil
}

// Items enumerates a folder; see platform.Source.
func (t *Tenant) Items(ctx context.Context, mailboxID, folderID, token string) (platform.ItemPage, error) {
	if err := t.call(ctx); err != nil {
		return platform.ItemPage{}, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	mb, err := t.mailbox(mailboxID)
	if err != nil {
		return platform.ItemPage{}, err
	}
	fo, err := mb.folder(folderID)
	if err != nil {
		return platform.ItemPage{}, err
	}
	var c cursor
	if token == "" {
		// A full enumeration sees the folder as it was when it started;
		// anything changing meanwhile comes with the first delta.
		c = cursor{folder: folderID, upper: fo.head}
	} else {
		c, err = decodeToken(token)
		if err != nil {
			return platform.ItemPage{}, err
		}
		if c.folder != folderID {
			return platform.ItemPage{}, errs.New(errs.Invalid,
				"the token belongs to another folder", "pass the token back with the folder it was issued for")
		}
		if c.after > fo.head {
			return platform.ItemPage{}, errs.New(errs.Invalid,
				"the token is from a different sandbox", "start a full enumeration with an empty token")
		}
		if c.deltaStart {
			// A delta token remembers only where it ended; what it covers
			// is everything up to now.
			c = cursor{folder: folderID, delta: true, after: c.after, upper: fo.head}
		}
	}
	page := platform.ItemPage{Items: []platform.ItemRef{}}
	var last uint64
	i := sort.Search(len(fo.log), func(i int) bool { return fo.log[i].seq > c.after })
	for ; i < len(fo.log) && fo.log[i].seq <= c.upper; i++ {
		e := fo.log[i]
		if e.it.seq != e.seq || (!c.delta && e.it.ref.Deleted) {
			continue
		}
		if len(page.Items) == t.pageSize {
			// Only now is it known that another page exists, so the last
			// page never comes back empty.
			next := c
			next.after = last
			page.NextToken = next.encode()
			return page, nil
		}
		page.Items = append(page.Items, e.it.ref)
		last = e.seq
	}
	page.DeltaToken = cursor{folder: folderID, deltaStart: true, after: c.upper}.encode()
	return page, nil
}

// ReadItem returns an item with its content.
func (t *Tenant) ReadItem(ctx context.Context, mailboxID string, ref platform.ItemRef) (platform.Item, error) {
	if err := t.call(ctx); err != nil {
		return platform.Item{}, err
	}
	t.mu.RLock()
	mb, err := t.mailbox(mailboxID)
	if err != nil {
		t.mu.RUnlock()
		return platform.Item{}, err
	}
	it, ok := mb.items[ref.ID]
	t.mu.RUnlock()
	if !ok {
		return platform.Item{}, notFound("item", ref.ID)
	}
	// Items are never mutated once stored (changes replace them), so the
	// content is read and rendered without the lock.
	out := platform.Item{
		Ref:         it.ref,
		ContentType: contentTypeOf(it.ref.Kind),
		Received:    it.received,
		Read:        it.read,
		Flagged:     it.flagged,
		Categories:  append([]string(nil), it.categories...),
	}
	if it.gen != nil {
		g := it.gen.render()
		out.Content, out.Received, out.Read, out.Flagged, out.Categories = g.content, g.received, g.read, g.flagged, g.categories
	} else {
		out.Content = append([]byte(nil), it.content...)
	}
	t.mu.RLock()
	corrupt := t.faults.CorruptOn
	t.mu.RUnlock()
	if corrupt != "" && bytes.Contains(out.Content, []byte(corrupt)) {
		return platform.Item{}, errs.New(errs.CorruptItem,
			fmt.Sprintf("item %s cannot be read: its content is damaged (fault injected)", ref.ID),
			"open the item in the source mailbox; if it is damaged there too, it cannot be moved")
	}
	return out, nil
}

// Stats counts a mailbox exactly.
func (t *Tenant) Stats(ctx context.Context, mailboxID string) (platform.Stats, error) {
	if err := t.call(ctx); err != nil {
		return platform.Stats{}, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	mb, err := t.mailbox(mailboxID)
	if err != nil {
		return platform.Stats{}, err
	}
	s := platform.Stats{Folders: len(mb.forder)}
	for _, it := range mb.items {
		switch it.ref.Kind {
		case platform.Mail:
			s.Mail++
		case platform.Event:
			s.Events++
		case platform.Contact:
			s.Contacts++
		}
		s.SizeBytes += it.ref.Size
		s.LargestItem = max(s.LargestItem, it.ref.Size)
	}
	return s, nil
}

// FindByMarker returns the copies written with a migration marker, in
// write order.
func (t *Tenant) FindByMarker(ctx context.Context, mailboxID, marker string) ([]platform.Placed, error) {
	if err := t.call(ctx); err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	mb, err := t.mailbox(mailboxID)
	if err != nil {
		return nil, err
	}
	out := []platform.Placed{}
	for _, id := range mb.markers[marker] {
		if it, ok := mb.items[id]; ok {
			out = append(out, platform.Placed{ID: id, FolderID: it.ref.FolderID, Version: it.version})
		}
	}
	return out, nil
}

// WriteItem stores an item with its migration marker and version
// (it.Ref.ChangeKey), or returns the copy of the same marker and version
// already in that folder and writes nothing.
func (t *Tenant) WriteItem(ctx context.Context, mailboxID, folderID string, it platform.Item, marker string) (string, error) {
	if err := t.call(ctx); err != nil {
		return "", err
	}
	if marker == "" {
		return "", errs.Field("marker", "every write needs a migration marker so that a re-run finds it")
	}
	t.mu.RLock()
	delay := t.faults.WriteDelay
	t.mu.RUnlock()
	if delay > 0 {
		// The delay stands for the upload, which happens before the item
		// exists: a process killed now has written nothing.
		tm := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			tm.Stop()
			return "", ctx.Err()
		case <-tm.C:
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	mb, err := t.mailbox(mailboxID)
	if err != nil {
		return "", err
	}
	fo, err := mb.folder(folderID)
	if err != nil {
		return "", err
	}
	var warning error
	if w := t.faults.WarnOn; w != "" && bytes.Contains(it.Content, []byte(w)) {
		warning = platform.Warning(fmt.Sprintf("the sandbox could not hold %q of this item (fault injected)", w))
	}
	version := it.Ref.ChangeKey
	for _, id := range mb.markers[marker] {
		if c := mb.items[id]; c != nil && c.ref.FolderID == folderID && c.version == version {
			return id, warning
		}
	}
	if size := int64(len(it.Content)); size > t.limits.MaxItemBytes {
		return "", tooLarge(size, t.limits.MaxItemBytes)
	}
	if err := checkKind(fo, it); err != nil {
		return "", err
	}
	ref := t.storeLocked(mb, fo, it, marker, version)
	mb.markers[marker] = append(mb.markers[marker], ref.ID)
	mb.written[marker+"\x00"+version]++
	return ref.ID, warning
}

// DeleteItem deletes a copy FindByMarker returned; a copy already gone is
// not an error. Only the id matters here: memory ids are unique per mailbox.
func (t *Tenant) DeleteItem(ctx context.Context, mailboxID string, p platform.Placed) error {
	if err := t.call(ctx); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.faults.FailDeletes > 0 {
		t.faults.FailDeletes--
		return errs.New(errs.Unavailable, fmt.Sprintf("sandbox tenant %q could not delete the item right now", t.name), "retry the request")
	}
	mb, err := t.mailbox(mailboxID)
	if err != nil {
		return err
	}
	t.removeLocked(mb, p.ID)
	return nil
}

func tooLarge(size, limit int64) error {
	return errs.New(errs.ItemTooLarge,
		fmt.Sprintf("the item is %d bytes, over the destination's limit of %d bytes", size, limit),
		"the item is listed in the reconciliation report; move it by hand or reduce its attachments")
}

var (
	_ platform.Connector   = (*Tenant)(nil)
	_ platform.Provisioner = (*Tenant)(nil)
)
