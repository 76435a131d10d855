package ews

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/platform"
)

// PropertySet is the GUID of mailferry's named MAPI properties, the same
// namespace the Microsoft 365 connector writes, so a copy is recognised
// whichever Microsoft connector wrote it.
const PropertySet = "6f2bd7c4-7a3e-4a56-9b7d-2f1c0e3a5b10"

// Named properties mailferry writes on every copy.
var (
	// propMarker is the migration marker; propVersion the source's
	// version (platform.ItemRef.ChangeKey) the copy was written from. A
	// copy carrying the marker is complete.
	propMarker  = soap.ExtendedFieldURI{PropertySetID: PropertySet, PropertyName: "mailferryMarker", PropertyType: "String"}
	propVersion = soap.ExtendedFieldURI{PropertySetID: PropertySet, PropertyName: "mailferryVersion", PropertyType: "String"}
	// propMeeting keeps, as JSON, what EWS cannot hold of a meeting: its
	// organizer (EWS makes the mailbox the organizer of every calendar
	// item it creates) and the attendees' answers.
	propMeeting = soap.ExtendedFieldURI{PropertySetID: PropertySet, PropertyName: "mailferryMeeting", PropertyType: "String"}
)

// markProps are the properties that mark a finished copy.
func markProps(marker, version string) []soap.ExtendedProperty {
	props := []soap.ExtendedProperty{soap.NewExtendedProperty(propMarker, marker)}
	if version != "" {
		props = append(props, soap.NewExtendedProperty(propVersion, version))
	}
	return props
}

func extValue(props []soap.ExtendedProperty, uri soap.ExtendedFieldURI) string {
	for _, p := range props {
		if p.ExtendedFieldURI.Key() == uri.Key() && p.Value != nil {
			return *p.Value
		}
	}
	return ""
}

// markerBatch is how many folders one FindItem searches: EWS answers each
// folder of a request with its own message, and a request for hundreds of
// folders would run into the server's time limit.
const markerBatch = 50

// FindByMarker returns the copies written with a marker in any folder
// Folders lists (mail, calendars, contacts): one FindItem per batch of
// folders with an IsEqualTo restriction on the marker property. Searching
// folders rather than a search folder over the whole mailbox costs nothing
// to set up and is never stale: Exchange fills a new search folder in the
// background, and a copy it has not indexed yet would be written twice.
// The folder listing is reused for folderCacheTTL; folders this connector
// creates are added to it.
func (c *Connector) FindByMarker(ctx context.Context, mailboxID, marker string) ([]platform.Placed, error) {
	mb := mailboxKey(mailboxID)
	fc, err := c.listing(ctx, mb, folderCacheTTL)
	if err != nil {
		return nil, err
	}
	ids := fc.ids()
	out := []platform.Placed{}
	for len(ids) > 0 {
		n := min(len(ids), markerBatch)
		found, err := c.findMarked(ctx, mb, ids[:n], marker)
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
		ids = ids[n:]
	}
	c.seen.put(mb, marker, out)
	return out, nil
}

// seenTTL is how long a FindByMarker answer stands in for the search a
// write of the same marker starts with.
const seenTTL = 30 * time.Second

// seenMarkers remembers the last FindByMarker answer of each marker for
// the one write that follows it. The engine asks FindByMarker for an item
// and, finding no copy of its version, writes it at once: searching the
// folder again would cost a third request per new item, against a budget
// Exchange counts per mailbox. The memory is used once (a retried write
// searches again), and only a worker holding the mailbox writes it, so
// nothing can have stored the marker in between but a create of this
// connector whose answer was lost, which searches before it reports.
type seenMarkers struct {
	mu sync.Mutex
	m  map[string]seenAnswer
}

type seenAnswer struct {
	at     time.Time
	copies []platform.Placed
}

func (s *seenMarkers) put(mb, marker string, copies []platform.Placed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || len(s.m) > 10000 {
		s.m = map[string]seenAnswer{}
	}
	s.m[mb+"\x00"+marker] = seenAnswer{at: time.Now(), copies: slices.Clone(copies)}
}

// take returns and forgets a recent answer for the marker.
func (s *seenMarkers) take(mb, marker string) ([]platform.Placed, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := mb + "\x00" + marker
	a, ok := s.m[k]
	delete(s.m, k)
	if !ok || time.Since(a.at) > seenTTL {
		return nil, false
	}
	return a.copies, true
}

// findMarked searches folders for the copies with a marker. A folder
// deleted since it was listed holds none.
func (c *Connector) findMarked(ctx context.Context, mb string, folderIDs []string, marker string) ([]platform.Placed, error) {
	req := &soap.FindItem{Traversal: "Shallow",
		ItemShape: soap.ItemShape{BaseShape: soap.ShapeIDOnly,
			AdditionalProperties: &soap.Paths{ExtendedFieldURI: []soap.ExtendedFieldURI{propMarker, propVersion}}},
		// More than a couple of copies never exist: one, or two after an
		// interrupted replacement.
		IndexedPageItemView: &soap.IndexedPageView{MaxEntriesReturned: 20, BasePoint: "Beginning"},
		Restriction:         &soap.Restriction{Expr: soap.IsEqualTo(soap.Extended(propMarker), marker)},
		ParentFolderIDs:     soap.FolderIDs{},
	}
	for _, id := range folderIDs {
		req.ParentFolderIDs.FolderID = append(req.ParentFolderIDs.FolderID, soap.FolderID{ID: id})
	}
	var resp soap.FindItemResponse
	if err := c.call(ctx, mb, req, &resp); err != nil {
		return nil, err
	}
	var out []platform.Placed
	for i, m := range resp.ResponseMessages.Messages {
		if err := soap.CheckOne("FindItem", m); err != nil {
			if ferr := c.fail(err, what{mailbox: mb, thing: "folder " + folderIDs[min(i, len(folderIDs)-1)]}); errs.Is(ferr, errs.NotFound) {
				continue
			} else {
				return nil, ferr
			}
		}
		if m.RootFolder == nil || m.RootFolder.Items == nil || i >= len(folderIDs) {
			continue
		}
		for _, it := range m.RootFolder.Items.Items {
			f := it.Fields()
			if f == nil || f.ItemID == nil || extValue(f.ExtendedProperty, propMarker) != marker {
				continue
			}
			out = append(out, platform.Placed{ID: f.ItemID.ID, FolderID: folderIDs[i], Version: extValue(f.ExtendedProperty, propVersion)})
		}
	}
	return out, nil
}

// DeleteItem deletes a copy for good (HardDelete: not into Deleted Items,
// where the user would see the old version), telling nobody: a calendar
// item is removed with SendMeetingCancellations="SendToNone". A copy
// already gone is not an error.
func (c *Connector) DeleteItem(ctx context.Context, mailboxID string, p platform.Placed) error {
	mb := mailboxKey(mailboxID)
	if mb == "" || p.ID == "" {
		return errs.New(errs.NotFound, "the mailbox or item id is empty", "list the items again")
	}
	var resp soap.DeleteItemResponse
	if err := c.call(ctx, mb, &soap.DeleteItem{DeleteType: "HardDelete", SendMeetingCancellations: "SendToNone",
		ItemIDs: *soap.ItemList(soap.ItemID{ID: p.ID})}, &resp); err != nil {
		return err
	}
	if err := soap.Check("DeleteItem", resp.ResponseMessages.Messages); err != nil {
		if ferr := c.fail(err, what{mailbox: mb, thing: "item " + p.ID}); !errs.Is(ferr, errs.NotFound) {
			return ferr
		}
	}
	return nil
}

// findInFolder returns the copy of a marker and version in one folder,
// the check that keeps a retried write from storing an item twice; a
// FindByMarker answer of the last seconds stands in for it once.
func (c *Connector) findInFolder(ctx context.Context, mb, folderID, marker, version string) (string, bool, error) {
	if found, ok := c.seen.take(mb, marker); ok {
		return placedIn(found, folderID, version)
	}
	return c.searchFolder(ctx, mb, folderID, marker, version)
}

// searchFolder asks Exchange for the copy of a marker and version in one
// folder.
func (c *Connector) searchFolder(ctx context.Context, mb, folderID, marker, version string) (string, bool, error) {
	found, err := c.findMarked(ctx, mb, []string{folderID}, marker)
	if err != nil {
		return "", false, err
	}
	return placedIn(found, folderID, version)
}

func placedIn(found []platform.Placed, folderID, version string) (string, bool, error) {
	for _, p := range found {
		if p.Version == version && p.FolderID == folderID {
			return p.ID, true, nil
		}
	}
	return "", false, nil
}
