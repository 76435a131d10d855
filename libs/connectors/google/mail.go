package google

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/api/gmail/v1"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// Headers mailferry adds to every message it imports (docs/google.md):
// the migration marker, the source's version, and the folder the message
// was written to. Gmail cannot search arbitrary headers; the marker index
// reads them with format=metadata.
const (
	HeaderMarker  = "X-Mailferry-Marker"
	HeaderVersion = "X-Mailferry-Version"
	HeaderFolder  = "X-Mailferry-Folder"
)

// Folder id prefixes of calendars and contact folders; mail folders are
// label ids (or ArchiveFolderID and path folders).
const (
	calendarPrefix = "calendar:"
	contactsPrefix = "contacts:"
)

// kindOfFolder tells a folder's item kind from its id.
func kindOfFolder(folderID string) platform.ItemKind {
	switch {
	case strings.HasPrefix(folderID, calendarPrefix):
		return platform.Event
	case strings.HasPrefix(folderID, contactsPrefix):
		return platform.Contact
	}
	return platform.Mail
}

func gmailOp(mailboxID, what string) op {
	return op{what: what, mailbox: mailboxID, scope: ScopeGmail}
}

// Folders lists a mailbox's mail folders (labels.go), then its calendars
// and its contact folders.
func (c *Connector) Folders(ctx context.Context, mailboxID string) ([]platform.Folder, error) {
	set, err := c.labelsOf(ctx, mailboxID, true)
	if err != nil {
		return nil, err
	}
	out := set.folders()
	cals, err := c.calendarFolders(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	cts, err := c.contactFolders(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	return append(append(out, cals...), cts...), nil
}

// pageState is what a mail paging token carries.
type pageState struct {
	// H is the mailbox's history id when the full enumeration started
	// (the next delta starts there), or the start of a delta round.
	H uint64 `json:"h"`
	// P is Gmail's page token (messages.list or history.list).
	P string `json:"p,omitempty"`
	// D marks a delta round.
	D bool `json:"d,omitempty"`
}

const (
	mailPagePrefix  = "gm1:"
	mailDeltaPrefix = "gmh1:"
)

func encodeMailPage(s pageState) string {
	b, _ := json.Marshal(s)
	return mailPagePrefix + base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(token string) (pageState, error) {
	var s pageState
	bad := errs.New(errs.Invalid, "the paging token is not one this connector issued", "start a full enumeration with an empty token")
	switch {
	case strings.HasPrefix(token, mailDeltaPrefix):
		n, err := strconv.ParseUint(strings.TrimPrefix(token, mailDeltaPrefix), 10, 64)
		if err != nil {
			return s, bad
		}
		return pageState{H: n, D: true}, nil
	case strings.HasPrefix(token, mailPagePrefix):
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, mailPagePrefix))
		if err != nil || json.Unmarshal(raw, &s) != nil {
			return s, bad
		}
		return s, nil
	}
	return s, bad
}

// metaQuery asks messages.get for what enumeration needs: labels, the
// version (historyId), the size and the folder mailferry recorded.
func metaQuery() url.Values {
	return url.Values{
		"format":          {"metadata"},
		"metadataHeaders": {HeaderFolder},
		"fields":          {"id,labelIds,historyId,sizeEstimate,payload/headers"},
	}
}

func headerOf(m *gmail.Message, name string) string {
	if m == nil || m.Payload == nil {
		return ""
	}
	for _, h := range m.Payload.Headers {
		if h != nil && strings.EqualFold(h.Name, name) {
			return strings.TrimSpace(h.Value)
		}
	}
	return ""
}

// Items enumerates a folder. Mail: a full round lists the folder's label
// (the archive: every message outside the system folders) and reads each
// candidate's labels through the batch endpoint, keeping those whose first
// label is this folder's (labels.go); the delta token is the mailbox's
// history id, and delta rounds read the History API. Calendars and
// contacts: see calendar.go and contacts.go.
func (c *Connector) Items(ctx context.Context, mailboxID, folderID, token string) (platform.ItemPage, error) {
	if mailboxID == "" || folderID == "" {
		return platform.ItemPage{}, errs.New(errs.NotFound, "the mailbox or folder id is empty", "list the folders again")
	}
	switch kindOfFolder(folderID) {
	case platform.Event:
		return c.calendarItems(ctx, mailboxID, folderID, token)
	case platform.Contact:
		return c.contactItems(ctx, mailboxID, folderID, token)
	}
	set, err := c.labelsOf(ctx, mailboxID, token == "")
	if err != nil {
		return platform.ItemPage{}, err
	}
	if !set.knows(folderID) {
		return platform.ItemPage{}, errs.New(errs.NotFound, "mailbox "+mailboxID+" has no folder "+folderID, "list the folders again")
	}
	var st pageState
	if token != "" {
		if st, err = decodeToken(token); err != nil {
			return platform.ItemPage{}, err
		}
	}
	uc, err := c.gmailFor(mailboxID)
	if err != nil {
		return platform.ItemPage{}, err
	}
	if st.D {
		return c.mailDelta(ctx, uc, set, mailboxID, folderID, st)
	}
	sess, err := c.metaSession(ctx, uc, mailboxID, folderID, token == "")
	if err != nil {
		return platform.ItemPage{}, err
	}
	if token == "" {
		// The delta starts where the session of cached metadata started,
		// before any of it was read: whatever changes after is in the
		// next delta of every folder.
		st.H = sess.h0
	}
	page := platform.ItemPage{Items: []platform.ItemRef{}}
	if strings.HasPrefix(folderID, pathPrefix) {
		// A path folder holds no messages of its own.
		page.DeltaToken = mailDeltaPrefix + strconv.FormatUint(st.H, 10)
		return page, nil
	}
	call := uc.gmail.Users.Messages.List("me").IncludeSpamTrash(true).MaxResults(int64(c.cfg.PageSize)).
		Fields("messages/id,nextPageToken").Context(ctx)
	if folderID == ArchiveFolderID {
		call = call.Q("-in:inbox -in:sent -in:drafts -in:spam -in:trash -in:chats")
	} else {
		call = call.LabelIds(folderID)
	}
	if st.P != "" {
		call = call.PageToken(st.P)
	}
	resp, err := call.Do()
	if err != nil {
		return platform.ItemPage{}, c.fail(gmailOp(mailboxID, "folder "+folderID+" of mailbox "+mailboxID), err)
	}
	ids := make([]string, 0, len(resp.Messages))
	for _, m := range resp.Messages {
		ids = append(ids, m.Id)
	}
	metas, err := c.cachedMeta(ctx, sess, mailboxID, ids)
	if err != nil {
		return platform.ItemPage{}, err
	}
	for _, id := range ids {
		m := metas[id]
		if m == nil {
			continue
		}
		p := set.place(m.LabelIds, headerOf(m, HeaderFolder), c.cfg.Labels)
		if !p.holds(folderID) {
			continue
		}
		page.Items = append(page.Items, mailRef(m, folderID, p))
	}
	if resp.NextPageToken != "" {
		st.P = resp.NextPageToken
		page.NextToken = encodeMailPage(st)
	} else {
		page.DeltaToken = mailDeltaPrefix + strconv.FormatUint(st.H, 10)
	}
	return page, nil
}

func mailRef(m *gmail.Message, folderID string, p placement) platform.ItemRef {
	return platform.ItemRef{ID: itemID(m.Id, folderID, p), FolderID: folderID, Kind: platform.Mail,
		Size: m.SizeEstimate, ChangeKey: strconv.FormatUint(m.HistoryId, 10)}
}

// metaCache keeps, per mailbox, the metadata (labels, version, size,
// recorded folder) read during full enumerations. A message with several
// labels is a candidate of several folders' listings, and every message
// outside the system folders one of the archive's; the cache reads each
// once per session instead of once per folder. It is exact because every
// full round's delta token is the session's start (h0), taken before any
// of its metadata was read: a message changed after being cached is
// reported again by the next delta of every folder.
type metaCache struct {
	mu sync.Mutex
	m  map[string]*metaSession
}

type metaSession struct {
	mu      sync.Mutex
	h0      uint64
	used    time.Time
	msgs    map[string]*gmail.Message
	folders map[string]bool // folders whose full round used the session
}

// metaSessionIdle ends a session nobody used for this long.
const metaSessionIdle = 30 * time.Minute

// metaSession returns the mailbox's session, starting a new one when
// there is none, it idled out, or a full round of a folder starts that
// the session already enumerated: that is another run (or a discovery
// followed by a run), which must see the mailbox as it is now.
func (c *Connector) metaSession(ctx context.Context, uc *userClients, mailboxID, folderID string, fullStart bool) (*metaSession, error) {
	key := strings.ToLower(mailboxID)
	c.meta.mu.Lock()
	s := c.meta.m[key]
	if s != nil && time.Since(s.used) < metaSessionIdle && !(fullStart && s.folders[folderID]) {
		s.used = time.Now()
		if fullStart {
			s.folders[folderID] = true
		}
		c.meta.mu.Unlock()
		return s, nil
	}
	c.meta.mu.Unlock()
	prof, err := uc.gmail.Users.GetProfile("me").Context(ctx).Do()
	if err != nil {
		return nil, c.fail(gmailOp(mailboxID, "mailbox "+mailboxID), err)
	}
	s = &metaSession{h0: prof.HistoryId, used: time.Now(), msgs: map[string]*gmail.Message{}, folders: map[string]bool{folderID: fullStart}}
	c.meta.mu.Lock()
	if c.meta.m == nil {
		c.meta.m = map[string]*metaSession{}
	}
	c.meta.m[key] = s
	for k, o := range c.meta.m {
		if time.Since(o.used) >= metaSessionIdle {
			delete(c.meta.m, k)
		}
	}
	c.meta.mu.Unlock()
	return s, nil
}

// cachedMeta returns the metadata of ids, reading those not cached yet.
func (c *Connector) cachedMeta(ctx context.Context, s *metaSession, mailboxID string, ids []string) (map[string]*gmail.Message, error) {
	out := make(map[string]*gmail.Message, len(ids))
	var missing []string
	s.mu.Lock()
	for _, id := range ids {
		if m, ok := s.msgs[id]; ok {
			out[id] = m
		} else {
			missing = append(missing, id)
		}
	}
	s.mu.Unlock()
	fetched, err := c.getMessages(ctx, mailboxID, missing, metaQuery())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	for _, id := range missing {
		s.msgs[id] = fetched[id] // nil: gone since it was listed
		out[id] = fetched[id]
	}
	s.mu.Unlock()
	return out, nil
}

// update refreshes cached metadata with what a delta round read.
func (mc *metaCache) update(mailboxID string, metas map[string]*gmail.Message, ids []string) {
	mc.mu.Lock()
	s := mc.m[strings.ToLower(mailboxID)]
	mc.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if _, ok := s.msgs[id]; ok {
			s.msgs[id] = metas[id]
		}
	}
}

// touched is what the History API says about one message in a round.
type touched struct {
	deleted  bool
	mentions bool // some record names the folder's label
}

// mailDelta reads the mailbox's history since st.H and reports, for this
// folder, the messages now in it (new or changed) and those that may have
// left it (deleted, or now placed elsewhere) as deleted. The history is
// read for the whole mailbox rather than with labelId: the archive has no
// label, and a message leaves a label's folder when a label of higher
// priority is added, which is a change of another label.
func (c *Connector) mailDelta(ctx context.Context, uc *userClients, set *labelSet, mailboxID, folderID string, st pageState) (platform.ItemPage, error) {
	call := uc.gmail.Users.History.List("me").StartHistoryId(st.H).MaxResults(500).Context(ctx)
	if st.P != "" {
		call = call.PageToken(st.P)
	}
	resp, err := call.Do()
	if err != nil {
		ferr := c.fail(gmailOp(mailboxID, "the history of mailbox "+mailboxID), err)
		if errs.Is(ferr, errs.NotFound) {
			// Gmail keeps history for about a week: the start id is too
			// old, the folder must be enumerated in full.
			return platform.ItemPage{}, errs.Wrap(errs.Invalid, err, "Gmail no longer has the history of mailbox "+mailboxID+" since the last run",
				"nothing: mailferry enumerates the folder in full; items already copied are found by their marker")
		}
		return platform.ItemPage{}, ferr
	}
	seen := map[string]*touched{}
	var order []string
	mention := func(ids []string) bool {
		if folderID == ArchiveFolderID {
			return true
		}
		for _, id := range ids {
			if id == folderID {
				return true
			}
		}
		return false
	}
	note := func(m *gmail.Message, deleted bool, labels ...[]string) {
		if m == nil || m.Id == "" {
			return
		}
		t := seen[m.Id]
		if t == nil {
			t = &touched{}
			seen[m.Id] = t
			order = append(order, m.Id)
		}
		t.deleted = t.deleted || deleted
		t.mentions = t.mentions || mention(m.LabelIds)
		for _, l := range labels {
			t.mentions = t.mentions || mention(l)
		}
	}
	for _, h := range resp.History {
		for _, a := range h.MessagesAdded {
			note(a.Message, false)
		}
		for _, d := range h.MessagesDeleted {
			note(d.Message, true)
		}
		for _, a := range h.LabelsAdded {
			note(a.Message, false, a.LabelIds)
		}
		for _, r := range h.LabelsRemoved {
			note(r.Message, false, r.LabelIds)
		}
	}
	var fetch []string
	for _, id := range order {
		if t := seen[id]; !t.deleted && t.mentions {
			fetch = append(fetch, id)
		}
	}
	metas, err := c.getMessages(ctx, mailboxID, fetch, metaQuery())
	if err != nil {
		return platform.ItemPage{}, err
	}
	c.meta.update(mailboxID, metas, fetch)
	page := platform.ItemPage{Items: []platform.ItemRef{}}
	for _, id := range order {
		t := seen[id]
		m := metas[id]
		switch {
		case t.deleted || (t.mentions && m == nil):
			// Gone: reported in every folder, since which one held it is
			// no longer known; the engine deletes only the copies in the
			// folder mapped from this one.
			page.Items = append(page.Items, platform.ItemRef{ID: id, FolderID: folderID, Kind: platform.Mail, Deleted: true})
		case !t.mentions:
		default:
			p := set.place(m.LabelIds, headerOf(m, HeaderFolder), c.cfg.Labels)
			if p.holds(folderID) {
				page.Items = append(page.Items, mailRef(m, folderID, p))
				continue
			}
			// Left this folder. Its id here was the message id, or in the
			// folder-per-label mode possibly that of a further copy.
			page.Items = append(page.Items, platform.ItemRef{ID: id, FolderID: folderID, Kind: platform.Mail, Deleted: true})
			if c.cfg.Labels == LabelsFolderPerLabel {
				page.Items = append(page.Items, platform.ItemRef{ID: id + "~" + folderID, FolderID: folderID, Kind: platform.Mail, Deleted: true})
			}
		}
	}
	if resp.NextPageToken != "" {
		page.NextToken = encodeMailPage(pageState{H: st.H, P: resp.NextPageToken, D: true})
	} else {
		next := resp.HistoryId
		if next == 0 {
			next = st.H
		}
		page.DeltaToken = mailDeltaPrefix + strconv.FormatUint(next, 10)
	}
	return page, nil
}

// ReadItem returns a message as its raw MIME (format=raw) with its read
// state, flag and categories, an event as iCalendar, a contact as a vCard.
func (c *Connector) ReadItem(ctx context.Context, mailboxID string, ref platform.ItemRef) (platform.Item, error) {
	if ref.ID == "" || mailboxID == "" {
		return platform.Item{}, errs.New(errs.NotFound, "the item or mailbox id is empty", "list the folder again")
	}
	kind := ref.Kind
	if kind == "" {
		kind = kindOfFolder(ref.FolderID)
	}
	switch kind {
	case platform.Event:
		return c.readEvent(ctx, mailboxID, ref)
	case platform.Contact:
		return c.readContact(ctx, mailboxID, ref)
	case platform.Mail:
	default:
		return platform.Item{}, errs.Field("kind", fmt.Sprintf("%q is not an item kind", ref.Kind))
	}
	uc, err := c.gmailFor(mailboxID)
	if err != nil {
		return platform.Item{}, err
	}
	msgID := messageOf(ref.ID)
	m, err := uc.gmail.Users.Messages.Get("me", msgID).Format("raw").Context(ctx).Do()
	if err != nil {
		return platform.Item{}, c.notFoundIfInvalid(c.fail(gmailOp(mailboxID, "message "+ref.ID), err), "message "+ref.ID)
	}
	raw, err := decodeRaw(m.Raw)
	if err != nil {
		return platform.Item{}, errs.Wrap(errs.CorruptItem, err, "Gmail returned message "+ref.ID+" in an unreadable encoding", "report this to mailferry support")
	}
	set, err := c.labelsOf(ctx, mailboxID, false)
	if err != nil {
		return platform.Item{}, err
	}
	p := set.place(m.LabelIds, rawHeader(raw, HeaderFolder), c.cfg.Labels)
	folder := ref.FolderID
	if folder == "" {
		folder = p.Folder
	}
	return platform.Item{
		Ref: platform.ItemRef{ID: ref.ID, FolderID: folder, Kind: platform.Mail, Size: m.SizeEstimate,
			ChangeKey: strconv.FormatUint(m.HistoryId, 10)},
		ContentType: platform.ContentMIME,
		Content:     raw,
		Received:    time.UnixMilli(m.InternalDate).UTC(),
		Read:        p.Read,
		Flagged:     p.Flagged,
		Categories:  p.Categories,
	}, nil
}

// notFoundIfInvalid reads Gmail's 400 "Invalid id value" as not found: an
// id that cannot be a message names none.
func (c *Connector) notFoundIfInvalid(err error, what string) error {
	if e, ok := errs.As(err); ok && e.Code == errs.Invalid && strings.Contains(strings.ToLower(e.Error()), "invalid id") {
		return errs.Wrap(errs.NotFound, err, what+" was not found", "list the folder again")
	}
	return err
}

// decodeRaw decodes the base64url of format=raw, padded or not.
func decodeRaw(s string) ([]byte, error) {
	if b, err := base64.URLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// rawHeader reads one header of a MIME message's header section.
func rawHeader(raw []byte, name string) string {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		end = bytes.Index(raw, []byte("\n\n"))
	}
	if end < 0 {
		end = len(raw)
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(raw[:end:end], "\r\n\r\n"...)))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return ""
	}
	return strings.TrimSpace(h.Get(name))
}

// Stats counts a mailbox exactly as a full enumeration of every folder
// does (it is one): messages with Gmail's size estimate, events and
// contacts with their estimated sizes.
func (c *Connector) Stats(ctx context.Context, mailboxID string) (platform.Stats, error) {
	folders, err := c.Folders(ctx, mailboxID)
	if err != nil {
		return platform.Stats{}, err
	}
	st := platform.Stats{Folders: len(folders)}
	for _, f := range folders {
		token := ""
		for {
			p, err := c.Items(ctx, mailboxID, f.ID, token)
			if err != nil {
				return platform.Stats{}, err
			}
			for _, r := range p.Items {
				switch r.Kind {
				case platform.Mail:
					st.Mail++
				case platform.Event:
					st.Events++
				case platform.Contact:
					st.Contacts++
				}
				st.SizeBytes += r.Size
				st.LargestItem = max(st.LargestItem, r.Size)
			}
			if p.NextToken == "" {
				break
			}
			token = p.NextToken
		}
	}
	return st, nil
}

// EstimateStats counts calendars and contacts as Stats does, but takes the
// number of messages from the mailbox profile (one request) instead of
// reading every message's labels: the engine needs only a progress total,
// and the exact read would hold up copying for minutes in a large mailbox.
// The profile counts every message once, Spam and Trash included.
func (c *Connector) EstimateStats(ctx context.Context, mailboxID string) (platform.Stats, error) {
	folders, err := c.Folders(ctx, mailboxID)
	if err != nil {
		return platform.Stats{}, err
	}
	uc, err := c.gmailFor(mailboxID)
	if err != nil {
		return platform.Stats{}, err
	}
	prof, err := uc.gmail.Users.GetProfile("me").Context(ctx).Do()
	if err != nil {
		return platform.Stats{}, c.fail(gmailOp(mailboxID, "mailbox "+mailboxID), err)
	}
	st := platform.Stats{Folders: len(folders), Mail: int(prof.MessagesTotal)}
	for _, f := range folders {
		if f.Kind == platform.Mail {
			continue
		}
		for token := ""; ; {
			p, err := c.Items(ctx, mailboxID, f.ID, token)
			if err != nil {
				return platform.Stats{}, err
			}
			for _, r := range p.Items {
				switch r.Kind {
				case platform.Event:
					st.Events++
				case platform.Contact:
					st.Contacts++
				}
				st.SizeBytes += r.Size
				st.LargestItem = max(st.LargestItem, r.Size)
			}
			if p.NextToken == "" {
				break
			}
			token = p.NextToken
		}
	}
	return st, nil
}

// EnsureFolder returns the folder with f's role, or the label of f's path
// (its parent's path, "/", its name), creating it. Gmail compares label
// names without case, as this does.
func (c *Connector) EnsureFolder(ctx context.Context, mailboxID string, f platform.Folder) (platform.Folder, error) {
	if f.Kind == "" {
		f.Kind = platform.Mail
	}
	if mailboxID == "" {
		return platform.Folder{}, errs.New(errs.NotFound, "the mailbox id is empty", "list the mailboxes again")
	}
	switch f.Kind {
	case platform.Event:
		return c.ensureCalendar(ctx, mailboxID, f)
	case platform.Contact:
		return c.ensureContactFolder(ctx, mailboxID, f)
	case platform.Mail:
	default:
		return platform.Folder{}, errs.Field("kind", fmt.Sprintf("%q is not a folder kind", f.Kind))
	}
	set, err := c.labelsOf(ctx, mailboxID, false)
	if err != nil {
		return platform.Folder{}, err
	}
	if f.Role != platform.RoleNone {
		if f.Role == platform.RoleArchive {
			return platform.Folder{ID: ArchiveFolderID, Name: "Archive", Role: platform.RoleArchive, Kind: platform.Mail}, nil
		}
		for _, sf := range systemFolders {
			if sf.role == f.Role {
				return platform.Folder{ID: sf.id, Name: sf.name, Role: sf.role, Kind: platform.Mail}, nil
			}
		}
		return platform.Folder{}, errs.Field("role", fmt.Sprintf("%q is not a mail folder role", f.Role))
	}
	if strings.TrimSpace(f.Name) == "" {
		return platform.Folder{}, errs.Field("name", "a folder without a role needs a name")
	}
	parentPath := set.pathOf(f.ParentID)
	name := labelName(segment(f.Name))
	path := name
	if parentPath != "" {
		path = parentPath + "/" + name
	}
	id, err := c.ensureLabel(ctx, mailboxID, set, path)
	if err != nil {
		return platform.Folder{}, err
	}
	out := platform.Folder{ID: id, Name: name, Kind: platform.Mail}
	if parentPath != "" {
		out.ParentID = f.ParentID
	}
	return out, nil
}

// ensureLabel returns the id of the user label named path, creating it.
// A label created meanwhile (409) is looked up again.
func (c *Connector) ensureLabel(ctx context.Context, mailboxID string, set *labelSet, path string) (string, error) {
	if l, ok := set.byName[strings.ToLower(path)]; ok {
		return l.ID, nil
	}
	uc, err := c.gmailFor(mailboxID)
	if err != nil {
		return "", err
	}
	created, err := uc.gmail.Users.Labels.Create("me", &gmail.Label{Name: path, LabelListVisibility: "labelShow", MessageListVisibility: "show"}).Context(ctx).Do()
	c.forgetLabels(mailboxID)
	if err == nil {
		return created.Id, nil
	}
	ferr := c.fail(gmailOp(mailboxID, "label "+path), err)
	if !errs.Is(ferr, errs.Conflict) {
		return "", ferr
	}
	fresh, err := c.labelsOf(ctx, mailboxID, true)
	if err != nil {
		return "", err
	}
	if l, ok := fresh.byName[strings.ToLower(path)]; ok {
		return l.ID, nil
	}
	return "", errs.Wrap(errs.Conflict, ferr, fmt.Sprintf("Gmail says label %q conflicts with an existing one but does not list it", path),
		"rename the conflicting label in Gmail, then run again")
}
