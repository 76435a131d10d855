package m365

import (
	"context"
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
// markers on events and contacts before scanning the mailbox again.
const markerIndexTTL = 10 * time.Minute

// markerIndex answers FindByMarker for events and contacts. Graph has no
// mailbox-wide query over events or contacts (/events and /contacts are
// the default folder only), and FindByMarker is given only the marker, so
// a direct lookup would cost one query per calendar and contact folder for
// every new item, mail included. Instead the markers of a mailbox's events
// and contacts are read in one scan, kept up to date by this connector's
// own writes and deletes, and rescanned after markerIndexTTL. WriteItem
// does not rely on the index: it queries the target calendar or folder
// itself before creating, so a stale index can only cost a redundant
// WriteItem call or a DeleteItem of a copy already gone, never a duplicate.
type markerIndex struct {
	mu sync.Mutex
	m  map[string]*mailboxMarkers
}

type mailboxMarkers struct {
	mu    sync.Mutex
	built time.Time
	// copies by marker; FolderID is the prefixed calendar or contact
	// folder id, which is what tells DeleteItem the kind.
	copies map[string][]platform.Placed
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

// note records a copy this connector wrote.
func (x *markerIndex) note(mailboxID, marker string, p platform.Placed) {
	mm := x.of(mailboxID)
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.copies != nil && !slices.Contains(mm.copies[marker], p) {
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

// findNonMail looks a marker up among the mailbox's events and contacts.
func (c *Connector) findNonMail(ctx context.Context, mailboxID, marker string) ([]platform.Placed, error) {
	mm := c.markers.of(mailboxID)
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.copies == nil || time.Since(mm.built) > markerIndexTTL {
		copies, err := c.scanMarkers(ctx, mailboxID)
		if err != nil {
			return nil, err
		}
		mm.copies, mm.built = copies, time.Now()
	}
	return slices.Clone(mm.copies[marker]), nil
}

// scanMarkers reads the marker and version of every event and contact of
// a mailbox.
func (c *Connector) scanMarkers(ctx context.Context, mailboxID string) (map[string][]platform.Placed, error) {
	copies := map[string][]platform.Placed{}
	add := func(id, folderID string, props []models.SingleValueLegacyExtendedPropertyable) {
		if m := propValue(props, MarkerProperty); m != "" {
			copies[m] = append(copies[m], platform.Placed{ID: id, FolderID: folderID, Version: propValue(props, VersionProperty)})
		}
	}
	exp := []string{expandMarks}
	cals, err := c.calendarFolders(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	for _, f := range cals {
		calID := strings.TrimPrefix(f.ID, calendarPrefix)
		b := c.user(mailboxID).Calendars().ByCalendarId(calID).Events()
		resp, err := b.Get(ctx, &users.ItemCalendarsItemEventsRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.ItemCalendarsItemEventsRequestBuilderGetQueryParameters{
				Select: []string{"id"}, Expand: exp, Top: ptr(int32(1000)),
			},
		})
		for {
			if err != nil {
				return nil, graphError{what: "calendar " + f.Name, perm: permCal}.fail(err)
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
		return nil, err
	}
	for _, f := range folders {
		fid := strings.TrimPrefix(f.ID, contactsPrefix)
		b := c.user(mailboxID).ContactFolders().ByContactFolderId(fid).Contacts()
		resp, err := b.Get(ctx, &users.ItemContactFoldersItemContactsRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.ItemContactFoldersItemContactsRequestBuilderGetQueryParameters{
				Select: []string{"id"}, Expand: exp, Top: ptr(int32(1000)),
			},
		})
		for {
			if err != nil {
				return nil, graphError{what: "contact folder " + f.Name, perm: permCont}.fail(err)
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
	return copies, nil
}

// FindByMarker returns the copies written with a migration marker:
// messages in any mail folder (one mailbox-wide query), else events and
// contacts (through the marker index). Placed.FolderID is the message's
// parent folder id, or the calendar or contact folder id with its prefix
// (calendar:, contacts:), as Folders lists them; DeleteItem relies on it.
func (c *Connector) FindByMarker(ctx context.Context, mailboxID, marker string) ([]platform.Placed, error) {
	if mailboxID == "" {
		return nil, errs.New(errs.NotFound, "the mailbox id is empty", "list the mailboxes again")
	}
	if found, err := c.findMail(ctx, mailboxID, marker); err != nil || len(found) > 0 {
		return found, err
	}
	return c.findNonMail(ctx, mailboxID, marker)
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
// permanentDelete puts it where only retention policies see it. Events
// mailferry wrote have no attendees in Graph, so deleting one sends
// nothing. A copy already gone is not an error.
func (c *Connector) DeleteItem(ctx context.Context, mailboxID string, p platform.Placed) error {
	if mailboxID == "" || p.ID == "" {
		return errs.New(errs.NotFound, "the mailbox or item id is empty", "list the items again")
	}
	var err error
	var g graphError
	switch kindOfFolder(p.FolderID) {
	case platform.Event:
		g = graphError{what: "event " + p.ID, perm: permCal}
		err = c.user(mailboxID).Events().ByEventId(p.ID).PermanentDelete().Post(ctx, nil)
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
