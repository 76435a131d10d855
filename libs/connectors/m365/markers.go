package m365

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// markerIndexTTL bounds how long FindByMarker trusts its index of the
// markers on events and contacts before scanning the mailbox again.
const markerIndexTTL = 10 * time.Minute

// markerIndex answers FindByMarker for events and contacts. Graph has no
// mailbox-wide query over events or contacts (/events and /contacts are
// the default folder only), and FindByMarker is given only the marker, so
// a direct lookup would cost one query per calendar and contact folder for
// every new item, mail included. Instead the markers of a mailbox's events
// and contacts are read in one scan, kept up to date by this connector's
// own writes, and rescanned after markerIndexTTL. WriteItem does not rely
// on the index: it queries the target calendar or folder itself before
// creating, so a stale index can only cost a redundant WriteItem call,
// never a duplicate.
type markerIndex struct {
	mu sync.Mutex
	m  map[string]*mailboxMarkers
}

type mailboxMarkers struct {
	mu    sync.Mutex
	built time.Time
	ids   map[string]string
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

// note records a marker this connector wrote.
func (x *markerIndex) note(mailboxID, marker, id string) {
	mm := x.of(mailboxID)
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.ids != nil {
		mm.ids[marker] = id
	}
}

// findNonMail looks a marker up among the mailbox's events and contacts.
func (c *Connector) findNonMail(ctx context.Context, mailboxID, marker string) (string, bool, error) {
	mm := c.markers.of(mailboxID)
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.ids == nil || time.Since(mm.built) > markerIndexTTL {
		ids, err := c.scanMarkers(ctx, mailboxID)
		if err != nil {
			return "", false, err
		}
		mm.ids, mm.built = ids, time.Now()
	}
	id, ok := mm.ids[marker]
	return id, ok, nil
}

// scanMarkers reads the marker of every event and contact of a mailbox.
func (c *Connector) scanMarkers(ctx context.Context, mailboxID string) (map[string]string, error) {
	ids := map[string]string{}
	exp := []string{expandProps(MarkerProperty)}
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
				if m := propValue(e.GetSingleValueExtendedProperties(), MarkerProperty); m != "" {
					ids[m] = str(e.GetId())
				}
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
				if m := propValue(ct.GetSingleValueExtendedProperties(), MarkerProperty); m != "" {
					ids[m] = str(ct.GetId())
				}
			}
			next := str(resp.GetOdataNextLink())
			if next == "" {
				break
			}
			resp, err = b.WithUrl(next).Get(ctx, nil)
		}
	}
	return ids, nil
}
