// Package platform is the connector contract: the interfaces every mail
// platform (Microsoft 365, Google Workspace, Exchange, the in-memory sandbox)
// implements so that discovery and transfer never know which one they talk to.
//
// The contract is shaped by the strictest real API (Microsoft Graph): paging
// and delta share one opaque token, items are read as standard formats (MIME,
// iCalendar, vCard) and written idempotently with a migration marker and the
// source's version, so that delta runs can replace changed items and remove
// deleted ones.
package platform

import (
	"context"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
)

// Kind names a platform.
type Kind string

// The platforms mailferry knows. Memory is the in-process sandbox used by the
// demo and the tests.
const (
	M365     Kind = "m365"
	Google   Kind = "google"
	Exchange Kind = "exchange"
	Memory   Kind = "memory"
)

// Kinds lists every valid platform kind, in the order error messages show them.
var Kinds = []Kind{M365, Google, Exchange, Memory}

// Valid reports whether k is a known platform kind.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if v == k {
			return true
		}
	}
	return false
}

// Mailbox is one reachable mailbox.
type Mailbox struct {
	ID             string   `json:"id"`
	PrimaryAddress string   `json:"primaryAddress"`
	Aliases        []string `json:"aliases,omitempty"`
	DisplayName    string   `json:"displayName,omitempty"`
}

// ItemKind says what a folder holds.
type ItemKind string

const (
	Mail    ItemKind = "mail"
	Event   ItemKind = "event"
	Contact ItemKind = "contact"
)

// Role is a well-known folder role; user folders have RoleNone. Roles let a
// folder map to its counterpart on another platform whatever its name.
type Role string

const (
	RoleNone     Role = ""
	RoleInbox    Role = "inbox"
	RoleSent     Role = "sent"
	RoleDrafts   Role = "drafts"
	RoleDeleted  Role = "deleted"
	RoleJunk     Role = "junk"
	RoleArchive  Role = "archive"
	RoleCalendar Role = "calendar"
	RoleContacts Role = "contacts"
)

// Folder is a mail folder, calendar or contact folder.
type Folder struct {
	ID       string   `json:"id"`
	ParentID string   `json:"parentId,omitempty"`
	Name     string   `json:"name"`
	Role     Role     `json:"role,omitempty"`
	Kind     ItemKind `json:"kind"`
}

// ItemRef identifies an item without its content.
type ItemRef struct {
	ID       string   `json:"id"`
	FolderID string   `json:"folderId"`
	Kind     ItemKind `json:"kind"`
	Size     int64    `json:"size"`
	// ChangeKey changes whenever the item changes.
	ChangeKey string `json:"changeKey,omitempty"`
	// Deleted is set in delta pages for items removed since the token. An
	// item moved to another folder is reported deleted in the folder it
	// left and new in the one it entered (with the same id where the
	// platform's ids are immutable).
	Deleted bool `json:"deleted,omitempty"`
}

// ItemPage is one page of an enumeration. Exactly one of NextToken and
// DeltaToken is set: NextToken to fetch the next page, DeltaToken on the last
// page to fetch later changes.
type ItemPage struct {
	Items      []ItemRef `json:"items"`
	NextToken  string    `json:"nextToken,omitempty"`
	DeltaToken string    `json:"deltaToken,omitempty"`
}

// Item is an item with its content in a standard format: message/rfc822 for
// mail, text/calendar for events, text/vcard for contacts.
type Item struct {
	Ref         ItemRef   `json:"ref"`
	ContentType string    `json:"contentType"`
	Content     []byte    `json:"content"`
	Received    time.Time `json:"received,omitempty"`
	Read        bool      `json:"read,omitempty"`
	Flagged     bool      `json:"flagged,omitempty"`
	Categories  []string  `json:"categories,omitempty"`
}

// Content types of Item.Content.
const (
	ContentMIME     = "message/rfc822"
	ContentCalendar = "text/calendar"
	ContentVCard    = "text/vcard"
)

// Stats are the counts and sizes discovery reports for a mailbox.
type Stats struct {
	Folders   int   `json:"folders"`
	Mail      int   `json:"mail"`
	Events    int   `json:"events"`
	Contacts  int   `json:"contacts"`
	SizeBytes int64 `json:"sizeBytes"`
	// LargestItem is the size of the biggest item, so discovery can flag
	// items over the destination's limit before anything moves.
	LargestItem int64 `json:"largestItem"`
}

// Limits are a platform's constraints that discovery checks before a run.
type Limits struct {
	MaxItemBytes int64 `json:"maxItemBytes"`
}

// Source reads a platform.
type Source interface {
	Kind() Kind
	ListMailboxes(ctx context.Context) ([]Mailbox, error)
	Folders(ctx context.Context, mailboxID string) ([]Folder, error)
	// Items enumerates a folder. An empty token starts a full enumeration; a
	// NextToken continues it; a DeltaToken returns what changed since it was
	// issued (new, changed and deleted items), again paged.
	Items(ctx context.Context, mailboxID, folderID, token string) (ItemPage, error)
	ReadItem(ctx context.Context, mailboxID string, ref ItemRef) (Item, error)
	Stats(ctx context.Context, mailboxID string) (Stats, error)
}

// Placed is a copy of a source item at the destination, as FindByMarker
// finds it.
type Placed struct {
	ID string `json:"id"`
	// FolderID is the destination folder holding the copy.
	FolderID string `json:"folderId"`
	// Version is the source's ItemRef.ChangeKey the copy was written from;
	// empty when the source gave none.
	Version string `json:"version,omitempty"`
}

// Estimator gives a mailbox's counts cheaply, for the progress totals of a
// mailbox being moved; Stats stays the exact answer discovery reports. A
// platform whose exact count reads every item (Gmail, where a message's
// folder comes from its labels) implements it so that copying need not wait
// for a full read first.
type Estimator interface {
	EstimateStats(ctx context.Context, mailboxID string) (Stats, error)
}

// EstimateStats asks src for an estimate when it can give one, else for
// its exact Stats.
func EstimateStats(ctx context.Context, src Source, mailboxID string) (Stats, error) {
	if e, ok := src.(Estimator); ok {
		return e.EstimateStats(ctx, mailboxID)
	}
	return src.Stats(ctx, mailboxID)
}

// Destination writes a platform. Every write is idempotent: EnsureFolder
// returns an existing folder of the same parent and name (or role), and
// WriteItem stores a migration marker and the source's version
// (item.Ref.ChangeKey) with the item, so that FindByMarker finds every copy
// again with its folder and version. A re-run therefore writes nothing
// twice, and a changed source item is recognised by its version.
type Destination interface {
	Kind() Kind
	Limits() Limits
	ListMailboxes(ctx context.Context) ([]Mailbox, error)
	Folders(ctx context.Context, mailboxID string) ([]Folder, error)
	EnsureFolder(ctx context.Context, mailboxID string, f Folder) (Folder, error)
	// FindByMarker returns the copies written with a marker, none when
	// there are none. There is normally at most one; a run interrupted
	// between writing a new version and deleting the old one leaves two.
	FindByMarker(ctx context.Context, mailboxID, marker string) ([]Placed, error)
	// WriteItem stores item in a folder with its marker and version. When
	// a copy with the same marker and version is already in that folder it
	// writes nothing and returns that copy's id, so a retried write stores
	// one item; another version is stored as another copy, and the caller
	// deletes the old one once the new one is safe.
	//
	// A non-empty id with an error of code CopiedWithWarnings (IsWarning)
	// is not a failure: the copy is stored, marked and found by
	// FindByMarker like any other, but something of the item could not be
	// held as such by the destination, and the error's cause says what
	// (e.g. a contact's fourth e-mail address kept only in its notes). A
	// caller unaware of warnings that retries finds the copy and writes
	// nothing twice.
	WriteItem(ctx context.Context, mailboxID, folderID string, item Item, marker string) (id string, err error)
	// DeleteItem removes a copy FindByMarker returned. It is idempotent: a
	// copy already gone is not an error. The whole Placed is passed because
	// some platforms need the folder to address an item (a Google calendar;
	// on Microsoft 365 the folder tells a message from an event or contact).
	DeleteItem(ctx context.Context, mailboxID string, item Placed) error
}

// CopiedWithWarnings is the code of the error WriteItem returns together
// with the id of a copy it stored but could not store whole (see
// Destination.WriteItem). It is the least invasive way to report
// non-fatal losses: the signature stays, every connector that never loses
// anything is unchanged, and wrappers that pass (id, err) through (secret
// scrubbing, the memory platform's HTTP client) carry it as they are.
const CopiedWithWarnings errs.Code = "copied_with_warnings"

// Warning returns the error WriteItem returns with the id of a copy that
// lacks what cause describes. cause names what was not kept (properties,
// not their values: it travels into checkpoints and events).
func Warning(cause string) error {
	return errs.New(CopiedWithWarnings, cause,
		"nothing: the item was copied; its entry in the mailbox's item list says what the destination could not hold")
}

// IsWarning reports whether err is a WriteItem warning: the id returned
// with it is a stored copy.
func IsWarning(err error) bool { return errs.Is(err, CopiedWithWarnings) }

// Connector is a platform usable on both sides of a migration.
type Connector interface {
	Source
	Destination
}

// Provisioner creates missing destination mailboxes flagged for automatic
// creation in the mapping. Connectors that cannot create mailboxes do not
// implement it.
type Provisioner interface {
	CreateMailbox(ctx context.Context, m Mailbox) (Mailbox, error)
}

// Credentials are what a connector needs to reach a tenant. Fields are not
// secret (tenant id, endpoint, account name); Secrets are, and live only in
// the vault and in memory while a connector is open.
type Credentials struct {
	Platform Kind              `json:"platform"`
	Fields   map[string]string `json:"fields"`
	Secrets  map[string]string `json:"-"`
}

// Verification is what a credentials check found: the permissions the
// platform granted and, by name, those mailferry needs but lacks. A
// permission mailferry can do without but uses when granted (Microsoft
// 365's full-fidelity path) is in Granted or in MissingOptional; only
// Missing makes the credentials unusable.
type Verification struct {
	Granted         []string `json:"granted"`
	Missing         []string `json:"missing"`
	MissingOptional []string `json:"missingOptional,omitempty"`
}

// Verifier checks credentials before any run: that they authenticate and
// carry every permission mailferry needs. Connectors without a permission
// model of their own need not implement it.
type Verifier interface {
	Verify(ctx context.Context) (Verification, error)
}
