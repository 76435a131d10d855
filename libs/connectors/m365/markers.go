package m365

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// VersionProperty is the named property holding the source's version
// (platform.ItemRef.ChangeKey) a copy was written from, next to the marker
// in the same property namespace. It is set together with MarkerProperty,
// so a marked copy always says which version it is.
const VersionProperty = "String {6f2bd7c4-7a3e-4a56-9b7d-2f1c0e3a5b10} Name mailferryVersion"

// markProps are the extended properties that mark a finished copy.
func markProps(marker, version string) []models.SingleValueLegacyExtendedPropertyable {
	props := []models.SingleValueLegacyExtendedPropertyable{extProp(MarkerProperty, marker)}
	if version != "" {
		props = append(props, extProp(VersionProperty, version))
	}
	return props
}

// expandMarks asks for both properties of a copy.
var expandMarks = expandProps(MarkerProperty, VersionProperty)

// markerIndexTTL bounds how long FindByMarker trusts its index of the
// markers of a mailbox before scanning the mailbox again.
const markerIndexTTL = 10 * time.Minute

// Scan limits: pages of markerPageSize items (Graph's largest $top), and
// at most maxIndexedMailPages pages of messages. A destination that
// already holds more messages than that is answered by one marker query
// per message lookup, as before the index: reading a large mailbox every
// markerIndexTTL would cost more, and delay the first item longer, than
// the lookups it saves.
const (
	markerPageSize      = 1000
	maxIndexedMailPages = 50
)

// markerIndex answers FindByMarker from one scan of a mailbox instead of a
// query per item. Graph has no mailbox-wide query over events or contacts
// (/events and /contacts are the default folder only), and FindByMarker is
// given only the marker, so a direct lookup of an event or contact would
// cost one query per calendar and contact folder for every new item; and a
// message's lookup is one $filter query, which for a message to be created
// is a third of what it costs (docs/m365.md, "Requests per item").
//
// The markers of a mailbox's messages (mailbox-wide, in pages of 1000),
// events and contacts are read in one scan the first time the mailbox is
// looked up, kept up to date by this connector's own writes and deletes,
// and read again after markerIndexTTL. A transfer job opens its own
// connector, so a job that follows a crashed one scans what the crashed
// one wrote.
//
// The index decides nothing on its own: WriteItem and WriteNative query
// the target folder (for mail, the mailbox-wide marker query) just before
// they create, so a copy the index does not know (written meanwhile by
// another worker, or by a create whose answer was lost) costs at most a
// redundant WriteItem call that returns the existing id, or a DeleteItem of
// a copy already gone, never a duplicate.
type markerIndex struct {
	mu sync.Mutex
	m  map[string]*mailboxMarkers
	// pageSize and maxMailPages override markerPageSize and
	// maxIndexedMailPages when set (tests).
	pageSize, maxMailPages int
}

func (x *markerIndex) limits() (pageSize int32, maxMailPages int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	pageSize, maxMailPages = markerPageSize, maxIndexedMailPages
	if x.pageSize > 0 {
		pageSize = int32(x.pageSize)
	}
	if x.maxMailPages > 0 {
		maxMailPages = x.maxMailPages
	}
	return pageSize, maxMailPages
}

type mailboxMarkers struct {
	mu    sync.Mutex
	built time.Time
	// copies by marker; FolderID is the message's parent folder id, or
	// the prefixed calendar or contact folder id, which is what tells
	// DeleteItem the kind.
	copies map[string][]platform.Placed
	// mail is set when copies holds every marked message; when the
	// mailbox had too many messages to scan it holds events and contacts
	// only, and messages are looked up one by one.
	mail bool
}

func (x *markerIndex) of(mailboxID string) *mailboxMarkers {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = map[string]*mailboxMarkers{}
	}
	k := strings.ToLower(mailboxID)
	mm := x.m[k]
	if mm == nil {
		mm = &mailboxMarkers{}
		x.m[k] = mm
	}
	return mm
}

// note records a copy this connector wrote (or found) in an index already
// built; messages only when the index holds messages.
func (x *markerIndex) note(mailboxID, marker string, p platform.Placed) {
	mm := x.of(mailboxID)
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.copies == nil || kindOfFolder(p.FolderID) == platform.Mail && !mm.mail {
		return
	}
	if !slices.Contains(mm.copies[marker], p) {
		mm.copies[marker] = append(mm.copies[marker], p)
	}
}

// forget drops a copy this connector deleted.
func (x *markerIndex) forget(mailboxID, id string) {
	mm := x.of(mailboxID)
	mm.mu.Lock()
	defer mm.mu.Unlock()
	for marker, ps := range mm.copies {
		kept := slices.DeleteFunc(ps, func(p platform.Placed) bool { return p.ID == id })
		if len(kept) == 0 {
			delete(mm.copies, marker)
		} else {
			mm.copies[marker] = kept
		}
	}
}

// FindByMarker returns the copies written with a migration marker:
// messages in any mail folder, events and contacts, from the mailbox's
// marker index (scanning the mailbox the first time, and again after
// markerIndexTTL). Placed.FolderID is the message's parent folder id, or
// the calendar or contact folder id with its prefix (calendar:,
// contacts:), as Folders lists them; DeleteItem relies on it.
func (c *Connector) FindByMarker(ctx context.Context, mailboxID, marker string) ([]platform.Placed, error) {
	if mailboxID == "" {
		return nil, errs.New(errs.NotFound, "the mailbox id is empty", "list the mailboxes again")
	}
	mm := c.markers.of(mailboxID)
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.copies == nil || time.Since(mm.built) > markerIndexTTL {
		copies, mail, err := c.scanMarkers(ctx, mailboxID)
		if err != nil {
			return nil, err
		}
		mm.copies, mm.mail, mm.built = copies, mail, time.Now()
	}
	if !mm.mail {
		if found, err := c.findMail(ctx, mailboxID, marker); err != nil || len(found) > 0 {
			return found, err
		}
	}
	return slices.Clone(mm.copies[marker]), nil
}

// scanMarkers reads the marker and version of every message (unless the
// mailbox holds more than maxIndexedMailPages pages of them: mail is then
// false and no message is in the result), event and contact of a mailbox.
func (c *Connector) scanMarkers(ctx context.Context, mailboxID string) (copies map[string][]platform.Placed, mail bool, err error) {
	copies = map[string][]platform.Placed{}
	add := func(id, folderID string, props []models.SingleValueLegacyExtendedPropertyable) {
		if m := propValue(props, MarkerProperty); m != "" {
			copies[m] = append(copies[m], platform.Placed{ID: id, FolderID: folderID, Version: propValue(props, VersionProperty)})
		}
	}
	exp := []string{expandMarks}
	top, maxPages := c.markers.limits()
	msgs := c.user(mailboxID).Messages()
	resp, err := msgs.Get(ctx, &users.ItemMessagesRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemMessagesRequestBuilderGetQueryParameters{
			Select: []string{"id", "parentFolderId"}, Expand: exp, Top: ptr(top),
		},
	})
	for pages := 1; ; pages++ {
		if err != nil {
			return nil, false, graphError{what: "mailbox " + mailboxID, perm: permMail}.fail(err)
		}
		for _, m := range resp.GetValue() {
			add(str(m.GetId()), str(m.GetParentFolderId()), m.GetSingleValueExtendedProperties())
		}
		next := str(resp.GetOdataNextLink())
		if next == "" {
			mail = true
			break
		}
		if pages == maxPages {
			clear(copies)
			break
		}
		resp, err = msgs.WithUrl(next).Get(ctx, nil)
	}
	cals, err := c.calendarFolders(ctx, mailboxID)
	if err != nil {
		return nil, false, err
	}
	for _, f := range cals {
		calID := strings.TrimPrefix(f.ID, calendarPrefix)
		b := c.user(mailboxID).Calendars().ByCalendarId(calID).Events()
		resp, err := b.Get(ctx, &users.ItemCalendarsItemEventsRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.ItemCalendarsItemEventsRequestBuilderGetQueryParameters{
				Select: []string{"id"}, Expand: exp, Top: ptr(top),
			},
		})
		for {
			if err != nil {
				return nil, false, graphError{what: "calendar " + f.Name, perm: permCal}.fail(err)
			}
			for _, e := range resp.GetValue() {
				add(str(e.GetId()), f.ID, e.GetSingleValueExtendedProperties())
			}
			next := str(resp.GetOdataNextLink())
			if next == "" {
				break
			}
			resp, err = b.WithUrl(next).Get(ctx, nil)
		}
	}
	folders, err := c.contactFolders(ctx, mailboxID)
	if err != nil {
		return nil, false, err
	}
	for _, f := range folders {
		fid := strings.TrimPrefix(f.ID, contactsPrefix)
		b := c.user(mailboxID).ContactFolders().ByContactFolderId(fid).Contacts()
		resp, err := b.Get(ctx, &users.ItemContactFoldersItemContactsRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.ItemContactFoldersItemContactsRequestBuilderGetQueryParameters{
				Select: []string{"id"}, Expand: exp, Top: ptr(top),
			},
		})
		for {
			if err != nil {
				return nil, false, graphError{what: "contact folder " + f.Name, perm: permCont}.fail(err)
			}
			for _, ct := range resp.GetValue() {
				add(str(ct.GetId()), f.ID, ct.GetSingleValueExtendedProperties())
			}
			next := str(resp.GetOdataNextLink())
			if next == "" {
				break
			}
			resp, err = b.WithUrl(next).Get(ctx, nil)
		}
	}
	return copies, mail, nil
}

// findMail finds the messages with a marker in any mail folder.
func (c *Connector) findMail(ctx context.Context, mailboxID, marker string) ([]platform.Placed, error) {
	g := graphError{what: "mailbox " + mailboxID, perm: permMail}
	filter := markerFilter(marker)
	resp, err := c.user(mailboxID).Messages().Get(ctx, &users.ItemMessagesRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemMessagesRequestBuilderGetQueryParameters{
			Filter: &filter, Select: []string{"id", "parentFolderId"}, Expand: []string{expandMarks}, Top: ptr(int32(10)),
		},
	})
	if err != nil {
		return nil, g.fail(err)
	}
	// More than a couple of copies never exist (one, or two after an
	// interrupted replacement), so the first page is all of them.
	out := []platform.Placed{}
	for _, m := range resp.GetValue() {
		out = append(out, platform.Placed{ID: str(m.GetId()), FolderID: str(m.GetParentFolderId()),
			Version: propValue(m.GetSingleValueExtendedProperties(), VersionProperty)})
	}
	return out, nil
}

func markerFilter(marker string) string {
	return "singleValueExtendedProperties/any(ep: ep/id eq '" + MarkerProperty + "' and ep/value eq '" +
		strings.ReplaceAll(marker, "'", "''") + "')"
}

// DeleteItem permanently deletes a copy FindByMarker returned: the message,
// event or contact, as its FolderID says (a calendar: or contacts: prefix,
// else a mail folder). A plain DELETE would move a message into the
// mailbox's Deleted Items, where the user would see the old version;
// permanentDelete puts it where only retention policies see it. A copy
// already gone is not an error.
//
// Events the standard path wrote have no attendees in Graph, so deleting
// one sends nothing. An event with attendees is a meeting imported in full
// fidelity (WriteNative) or made by someone else, and the events API would
// send its attendees a cancellation: it is removed through the mailbox
// API (DeleteNative, a store operation) when the app holds
// MailboxItem.ReadWrite.All, and otherwise not at all (CodeConsentMissing).
func (c *Connector) DeleteItem(ctx context.Context, mailboxID string, p platform.Placed) error {
	if mailboxID == "" || p.ID == "" {
		return errs.New(errs.NotFound, "the mailbox or item id is empty", "list the items again")
	}
	var err error
	var g graphError
	switch kindOfFolder(p.FolderID) {
	case platform.Event:
		g = graphError{what: "event " + p.ID, perm: permCal}
		var meeting bool
		if meeting, err = c.hasAttendees(ctx, mailboxID, p.ID); err == nil {
			if meeting {
				return c.deleteMeeting(ctx, mailboxID, p)
			}
			err = c.user(mailboxID).Events().ByEventId(p.ID).PermanentDelete().Post(ctx, nil)
		}
	case platform.Contact:
		g = graphError{what: "contact " + p.ID, perm: permCont}
		err = c.user(mailboxID).Contacts().ByContactId(p.ID).PermanentDelete().Post(ctx, nil)
	default:
		g = graphError{what: "item " + p.ID, perm: permMail}
		err = c.user(mailboxID).Messages().ByMessageId(p.ID).PermanentDelete().Post(ctx, nil)
	}
	if err != nil {
		if ferr := g.fail(err); !errs.Is(ferr, errs.NotFound) {
			return ferr
		}
	}
	c.markers.forget(mailboxID, p.ID)
	return nil
}

// hasAttendees says whether an event is a meeting with attendees.
func (c *Connector) hasAttendees(ctx context.Context, mailboxID, id string) (bool, error) {
	ev, err := c.user(mailboxID).Events().ByEventId(id).Get(ctx, &users.ItemEventsEventItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemEventsEventItemRequestBuilderGetQueryParameters{Select: []string{"id", "attendees"}},
	})
	if err != nil {
		return false, err
	}
	return len(ev.GetAttendees()) > 0, nil
}

// deleteMeeting removes a meeting without telling its attendees: through
// the mailbox API when the app may, else not at all.
func (c *Connector) deleteMeeting(ctx context.Context, mailboxID string, p platform.Placed) error {
	have, err := c.roles(ctx)
	if err != nil {
		return err
	}
	if !have[strings.ToLower(permItemReadWrite)] {
		return errs.New(CodeConsentMissing,
			fmt.Sprintf("event %s is a meeting with attendees (a full-fidelity copy); removing its old version through the events API would send them a cancellation, and the app lacks %s to remove it without notifying anyone",
				p.ID, permItemReadWrite),
			"grant the application permission "+permItemReadWrite+" (with admin consent) in the destination tenant, then run again; nothing was deleted")
	}
	return c.DeleteNative(ctx, mailboxID, p)
}
