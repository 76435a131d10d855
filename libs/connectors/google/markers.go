package google

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// The mail marker index (docs/google.md, "Finding copies again").
//
// Gmail's search cannot look into arbitrary headers, and the engine asks
// FindByMarker for every item it moves. So each mailbox's markers are read
// once, when the connector first needs them: messages.list over the whole
// mailbox (5 units per 500 ids) and messages.get format=metadata with just
// the three X-Mailferry-* headers through the batch endpoint (5 units a
// message). From then on the index follows the mailbox through the History
// API (2 units a page), fetching only messages someone else added (5 units
// each), and the connector's own imports and deletions update it
// directly. A write whose outcome is unknown (the connection dropped) marks
// the index stale, so that the next lookup catches up before anything is
// written again: a lost import is found, not repeated.

type mailEntry struct {
	marker, version, folder string
	labels                  []string
}

type mailIndex struct {
	mu       sync.Mutex
	built    bool
	history  uint64
	synced   time.Time
	stale    bool
	msgs     map[string]*mailEntry // by message id, marked messages only
	byMarker map[string][]string   // marker -> message ids
}

type markerIndexes struct {
	mu sync.Mutex
	m  map[string]*mailIndex
}

func (x *markerIndexes) of(mailboxID string) *mailIndex {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = map[string]*mailIndex{}
	}
	k := strings.ToLower(mailboxID)
	ix := x.m[k]
	if ix == nil {
		ix = &mailIndex{}
		x.m[k] = ix
	}
	return ix
}

func (ix *mailIndex) put(id string, e *mailEntry) {
	ix.drop(id)
	ix.msgs[id] = e
	ix.byMarker[e.marker] = append(ix.byMarker[e.marker], id)
}

func (ix *mailIndex) drop(id string) {
	e := ix.msgs[id]
	if e == nil {
		return
	}
	delete(ix.msgs, id)
	ids := slices.DeleteFunc(ix.byMarker[e.marker], func(x string) bool { return x == id })
	if len(ids) == 0 {
		delete(ix.byMarker, e.marker)
	} else {
		ix.byMarker[e.marker] = ids
	}
}

// markerQuery reads the marker headers and labels of a message.
func markerQuery() url.Values {
	return url.Values{
		"format":          {"metadata"},
		"metadataHeaders": {HeaderMarker, HeaderVersion, HeaderFolder},
		"fields":          {"id,labelIds,payload/headers"},
	}
}

// current brings the index of a mailbox up to date; the caller holds
// ix.mu.
func (c *Connector) current(ctx context.Context, mailboxID string, ix *mailIndex) error {
	if ix.built && !ix.stale && time.Since(ix.synced) < c.cfg.MarkerRefresh {
		return nil
	}
	if ix.built {
		err := c.catchUp(ctx, mailboxID, ix)
		if err == nil || !errs.Is(err, errs.Invalid) {
			return err
		}
		// History too old: read the whole mailbox again.
	}
	return c.buildIndex(ctx, mailboxID, ix)
}

func (c *Connector) buildIndex(ctx context.Context, mailboxID string, ix *mailIndex) error {
	uc, err := c.gmailFor(mailboxID)
	if err != nil {
		return err
	}
	o := gmailOp(mailboxID, "mailbox "+mailboxID)
	prof, err := uc.gmail.Users.GetProfile("me").Context(ctx).Do()
	if err != nil {
		return c.fail(o, err)
	}
	msgs, byMarker := map[string]*mailEntry{}, map[string][]string{}
	token := ""
	for {
		call := uc.gmail.Users.Messages.List("me").IncludeSpamTrash(true).MaxResults(500).
			Fields("messages/id,nextPageToken").Context(ctx)
		if token != "" {
			call = call.PageToken(token)
		}
		resp, err := call.Do()
		if err != nil {
			return c.fail(o, err)
		}
		ids := make([]string, 0, len(resp.Messages))
		for _, m := range resp.Messages {
			ids = append(ids, m.Id)
		}
		metas, err := c.getMessages(ctx, mailboxID, ids, markerQuery())
		if err != nil {
			return err
		}
		for _, id := range ids {
			m := metas[id]
			if mk := headerOf(m, HeaderMarker); mk != "" {
				msgs[id] = &mailEntry{marker: mk, version: headerOf(m, HeaderVersion), folder: headerOf(m, HeaderFolder), labels: m.LabelIds}
				byMarker[mk] = append(byMarker[mk], id)
			}
		}
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	ix.msgs, ix.byMarker = msgs, byMarker
	ix.history, ix.synced, ix.stale, ix.built = prof.HistoryId, time.Now(), false, true
	return nil
}

// catchUp applies the mailbox's history since the index was current.
func (c *Connector) catchUp(ctx context.Context, mailboxID string, ix *mailIndex) error {
	uc, err := c.gmailFor(mailboxID)
	if err != nil {
		return err
	}
	o := gmailOp(mailboxID, "the history of mailbox "+mailboxID)
	var added, changed []string
	deleted := map[string]bool{}
	next := ix.history
	token := ""
	for {
		call := uc.gmail.Users.History.List("me").StartHistoryId(ix.history).MaxResults(500).Context(ctx)
		if token != "" {
			call = call.PageToken(token)
		}
		resp, err := call.Do()
		if err != nil {
			ferr := c.fail(o, err)
			if errs.Is(ferr, errs.NotFound) {
				return errs.Wrap(errs.Invalid, ferr, "the history of mailbox "+mailboxID+" is no longer kept", "")
			}
			return ferr
		}
		for _, h := range resp.History {
			for _, a := range h.MessagesAdded {
				if a.Message != nil {
					added = append(added, a.Message.Id)
				}
			}
			for _, d := range h.MessagesDeleted {
				if d.Message != nil {
					deleted[d.Message.Id] = true
				}
			}
			for _, a := range h.LabelsAdded {
				if a.Message != nil {
					changed = append(changed, a.Message.Id)
				}
			}
			for _, r := range h.LabelsRemoved {
				if r.Message != nil {
					changed = append(changed, r.Message.Id)
				}
			}
		}
		if resp.HistoryId > next {
			next = resp.HistoryId
		}
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	var fetch []string
	for _, id := range added {
		// The connector's own imports are indexed already.
		if !deleted[id] && ix.msgs[id] == nil && !slices.Contains(fetch, id) {
			fetch = append(fetch, id)
		}
	}
	for _, id := range changed {
		// Label changes move a copy between folders; only indexed
		// copies matter.
		if !deleted[id] && ix.msgs[id] != nil && !slices.Contains(fetch, id) {
			fetch = append(fetch, id)
		}
	}
	metas, err := c.getMessages(ctx, mailboxID, fetch, markerQuery())
	if err != nil {
		return err
	}
	for id := range deleted {
		ix.drop(id)
	}
	for _, id := range fetch {
		m := metas[id]
		if m == nil {
			ix.drop(id)
			continue
		}
		if mk := headerOf(m, HeaderMarker); mk != "" {
			ix.put(id, &mailEntry{marker: mk, version: headerOf(m, HeaderVersion), folder: headerOf(m, HeaderFolder), labels: m.LabelIds})
		}
	}
	ix.history, ix.synced, ix.stale = next, time.Now(), false
	return nil
}

// findMail returns the messages carrying a marker, with the folder their
// labels (and recorded folder) place them in.
func (c *Connector) findMail(ctx context.Context, mailboxID, marker string) ([]platform.Placed, error) {
	ix := c.markers.of(mailboxID)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if err := c.current(ctx, mailboxID, ix); err != nil {
		return nil, err
	}
	ids := ix.byMarker[marker]
	if len(ids) == 0 {
		return nil, nil
	}
	set, err := c.labelsOf(ctx, mailboxID, false)
	if err != nil {
		return nil, err
	}
	out := make([]platform.Placed, 0, len(ids))
	for _, id := range ids {
		e := ix.msgs[id]
		out = append(out, platform.Placed{ID: id, FolderID: set.place(e.labels, e.folder, LabelsFirstFolder).Folder, Version: e.version})
	}
	return out, nil
}

// noteMail records a message the connector imported.
func (c *Connector) noteMail(mailboxID, id string, e *mailEntry) {
	ix := c.markers.of(mailboxID)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.built {
		ix.put(id, e)
	}
}

// staleMail marks a mailbox's index as needing a catch-up: a write may
// have happened without the connector learning its id.
func (c *Connector) staleMail(mailboxID string) {
	ix := c.markers.of(mailboxID)
	ix.mu.Lock()
	ix.stale = true
	ix.mu.Unlock()
}

func (c *Connector) forgetMail(mailboxID, id string) {
	ix := c.markers.of(mailboxID)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.built {
		ix.drop(id)
	}
}

// ambiguous reports whether a failed write may nevertheless have been
// stored: the answer was lost, not a refusal.
func ambiguous(err error) bool {
	if err == nil {
		return false
	}
	if e, ok := errs.As(err); ok {
		return e.Code == errs.Unavailable || e.Code == errs.Internal
	}
	return true // transport errors, cancelled contexts
}

// FindByMarker returns the copies written with a marker: messages (the
// mail marker index), else events (extendedProperties.private) and
// contacts (clientData) through their indexes.
func (c *Connector) FindByMarker(ctx context.Context, mailboxID, marker string) ([]platform.Placed, error) {
	if mailboxID == "" {
		return nil, errs.New(errs.NotFound, "the mailbox id is empty", "list the mailboxes again")
	}
	found, err := c.findMail(ctx, mailboxID, marker)
	if err != nil || len(found) > 0 {
		return found, err
	}
	if found, err = c.findEvents(ctx, mailboxID, marker); err != nil || len(found) > 0 {
		return found, err
	}
	if found, err = c.findContacts(ctx, mailboxID, marker); err != nil || len(found) > 0 {
		return found, err
	}
	return []platform.Placed{}, nil
}

// DeleteItem removes a copy FindByMarker returned: a message for good
// (messages.delete, not the trash, where the user would see the old
// version), an event (calendar.go) or a contact (contacts.go). A copy
// already gone is not an error.
func (c *Connector) DeleteItem(ctx context.Context, mailboxID string, p platform.Placed) error {
	if mailboxID == "" || p.ID == "" {
		return errs.New(errs.NotFound, "the mailbox or item id is empty", "list the items again")
	}
	switch kindOfFolder(p.FolderID) {
	case platform.Event:
		return c.deleteEvent(ctx, mailboxID, p)
	case platform.Contact:
		return c.deleteContact(ctx, mailboxID, p)
	}
	uc, err := c.gmailFor(mailboxID)
	if err != nil {
		return err
	}
	id := messageOf(p.ID)
	if err := uc.gmail.Users.Messages.Delete("me", id).Context(ctx).Do(); err != nil {
		ferr := c.notFoundIfInvalid(c.fail(gmailOp(mailboxID, "message "+id), err), "message "+id)
		if !errs.Is(ferr, errs.NotFound) {
			return ferr
		}
	}
	c.forgetMail(mailboxID, id)
	return nil
}
