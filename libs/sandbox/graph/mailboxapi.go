package graph

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The mailbox import and export API of Microsoft Graph (v1.0 and beta):
//
//	GET  /{v}/users/{id}/settings/exchange                     -> primaryMailboxId
//	GET  /{v}/admin/exchange/mailboxes/{mbx}/folders[/{id}[/childFolders]]
//	GET  /{v}/admin/exchange/mailboxes/{mbx}/folders/{id}/items[/{id}|/delta]
//	DELETE /{v}/admin/exchange/mailboxes/{mbx}/folders/{id}/items/{id}?disposalType=
//	POST /{v}/admin/exchange/mailboxes/{mbx}/exportItems         {"itemIds": [...]} (at most 20)
//	POST /{v}/admin/exchange/mailboxes/{mbx}/createImportSession -> importUrl, expirationDateTime
//	POST {importUrl}  {"FolderId", "Mode": "create"|"update", "Data", "ItemId", "ChangeKey"}
//
// Exported data is the sandbox's own opaque serialization (see
// mailboxblob.go). An import restores the item as it was, meeting data
// included, and never sends anything: it is a store operation, not an
// organizer's action, which is what makes it the path for meetings.

// Application roles of the mailbox import/export API. A new sandbox does
// not grant them, as a new app registration lacks them; Grant them.
const (
	RoleMailboxImportExport    = "MailboxItem.ImportExport.All"
	RoleMailboxExport          = "MailboxItem.Export.All"
	RoleMailboxItemRead        = "MailboxItem.Read.All"
	RoleMailboxItemReadWrite   = "MailboxItem.ReadWrite.All"
	RoleMailboxFolderRead      = "MailboxFolder.Read.All"
	RoleMailboxFolderReadWrite = "MailboxFolder.ReadWrite.All"
)

// maxExportItems is the documented limit of itemIds per exportItems call.
const maxExportItems = 20

// defaultImportLifetime is how long an import URL stays valid. Graph
// documents only that it expires at expirationDateTime; an hour, the
// lifetime of the access tokens the URL's own token resembles, is assumed.
const defaultImportLifetime = time.Hour

type importSession struct {
	token, userID, mailbox, version string
	expires                         time.Time
}

// mailboxAPIState is the import sessions and mailbox ids; s.mu guards it.
type mailboxAPIState struct {
	sessions map[string]*importSession // by token
	lifetime time.Duration
	created  int
	users    map[string]string // mailbox id -> user id
}

// mailboxIDLocked is the user's primary mailbox id, shaped like
// Exchange's "MBX:e0643f21@a7809c93" and stable for the user.
func (s *Sandbox) mailboxIDLocked(u *user) string {
	h := sha256.Sum256([]byte("mailbox|" + u.id))
	t := sha256.Sum256([]byte("tenant|" + s.tenantID))
	return "MBX:" + hex.EncodeToString(h[:4]) + "@" + hex.EncodeToString(t[:4])
}

func (s *Sandbox) userByMailboxLocked(mbx string) *user {
	if s.mbx.users == nil {
		s.mbx.users = map[string]string{}
	}
	if id, ok := s.mbx.users[strings.ToLower(mbx)]; ok {
		if u := s.users[id]; u != nil && u.mailbox {
			return u
		}
	}
	for _, u := range s.order {
		if u.mailbox && strings.EqualFold(s.mailboxIDLocked(u), mbx) {
			s.mbx.users[strings.ToLower(mbx)] = u.id
			return u
		}
	}
	return nil
}

// MailboxID is a user's primary mailbox id as settings/exchange reports
// it ("" for an unknown user or one without a mailbox).
func (s *Sandbox) MailboxID(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil || !u.mailbox {
		return ""
	}
	return s.mailboxIDLocked(u)
}

// SetImportSessionLifetime changes how long new import URLs stay valid
// (default one hour).
func (s *Sandbox) SetImportSessionLifetime(d time.Duration) {
	s.mu.Lock()
	s.mbx.lifetime = d
	s.mu.Unlock()
}

// ExpireImportSessions makes every import URL issued so far invalid, as
// their expiry would.
func (s *Sandbox) ExpireImportSessions() {
	s.mu.Lock()
	s.mbx.sessions = nil
	s.mu.Unlock()
}

// ImportSessionsCreated counts createImportSession calls answered.
func (s *Sandbox) ImportSessionsCreated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mbx.created
}

// isMailboxAPI tells the routes of the mailbox import/export API, the
// only ones the sandbox serves under /beta as well as /v1.0.
func isMailboxAPI(seg []string) bool {
	if len(seg) > 0 && strings.EqualFold(seg[0], "admin") {
		return true
	}
	return len(seg) >= 3 && strings.EqualFold(seg[0], "users") && strings.EqualFold(seg[2], "settings")
}

func (c *call) apiVersion() string {
	if c.version == "" {
		return "v1.0"
	}
	return c.version
}

// selfLink is the request's own URL with its query replaced, for nextLink
// and deltaLink: it keeps the version and the escaped path as sent.
func (s *Sandbox) selfLink(c *call, q url.Values) string {
	return s.baseURL + c.r.URL.EscapedPath() + "?" + encodeQuery(q)
}

// userSettings serves GET /users/{id}/settings/exchange, the way to the
// mailbox id the import/export API takes.
func (s *Sandbox) userSettings(c *call) {
	if len(c.seg) != 4 || !strings.EqualFold(c.seg[3], "exchange") {
		badRequest(c.w, "BadRequest", "Resource not found for the segment 'settings'.")
		return
	}
	if !c.delay() {
		return
	}
	if c.r.Method != http.MethodGet {
		badRequest(c.w, "BadRequest", "Unsupported method.")
		return
	}
	if !c.p.has("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All") {
		forbiddenDirectory(c.w)
		return
	}
	s.mu.Lock()
	u := s.userLocked(c.seg[1])
	var id, mbx string
	if u != nil {
		id = u.id
		if u.mailbox {
			mbx = s.mailboxIDLocked(u)
		}
	}
	s.mu.Unlock()
	switch {
	case u == nil:
		graphError(c.w, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", c.seg[1]))
		return
	case mbx == "":
		graphError(c.w, http.StatusNotFound, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
		return
	}
	v := c.apiVersion()
	j := map[string]any{
		"@odata.context":   s.baseURL + "/" + v + "/$metadata#users('" + url.PathEscape(id) + "')/settings/exchange/$entity",
		"id":               id,
		"primaryMailboxId": mbx,
	}
	if v == "beta" {
		// The sandbox has no in-place archives.
		j["inPlaceArchiveMailboxId"] = nil
	}
	graphJSON(c.w, http.StatusOK, j)
}

// routeAdmin serves /admin/exchange/mailboxes/{mailboxId}/...
func (s *Sandbox) routeAdmin(c *call) {
	seg := c.seg
	if len(seg) < 5 || !strings.EqualFold(seg[1], "exchange") || !strings.EqualFold(seg[2], "mailboxes") {
		badRequest(c.w, "BadRequest", "Resource not found for the segment 'admin'.")
		return
	}
	rest := seg[4:]
	op := strings.ToLower(rest[0])
	var ok bool
	switch {
	case op == "exportitems" && len(rest) == 1:
		ok = c.p.has(RoleMailboxExport, RoleMailboxImportExport)
	case op == "createimportsession" && len(rest) == 1:
		ok = c.p.has(RoleMailboxImportExport)
	case op == "folders" && len(rest) >= 3 && strings.EqualFold(rest[2], "items"):
		if c.r.Method == http.MethodGet {
			ok = c.p.has(RoleMailboxItemRead, RoleMailboxItemReadWrite)
		} else {
			ok = c.p.has(RoleMailboxItemReadWrite)
		}
	case op == "folders":
		ok = c.p.has(RoleMailboxFolderRead, RoleMailboxFolderReadWrite)
	default:
		badRequest(c.w, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", rest[0]))
		return
	}
	s.mu.Lock()
	u := s.userByMailboxLocked(seg[3])
	s.mu.Unlock()
	if u == nil {
		graphError(c.w, http.StatusNotFound, "ErrorInvalidMailbox", fmt.Sprintf("The mailbox '%s' could not be found.", seg[3]))
		return
	}
	if !ok {
		forbiddenMail(c.w)
		return
	}
	release, admitted := s.admit(c.w, u.id, int64(len(c.body)))
	if !admitted {
		return
	}
	defer release()
	if !c.delay() {
		return
	}
	switch op {
	case "exportitems":
		s.exportItems(c, u, seg[3])
	case "createimportsession":
		s.createImportSession(c, u, seg[3])
	default:
		s.mailboxFolders(c, u, seg[3], rest[1:])
	}
}

// mbxFolder is a folder of any kind as the mailbox API shows it.
type mbxFolder struct {
	id, name, parentID, typ, wk string
	mail                        *folder
	cal                         *calendar
	ct                          *cfolder
}

func (s *Sandbox) mbxFolderLocked(u *user, key string) (mbxFolder, bool) {
	if f := u.folderLocked(key); f != nil {
		return mbxFolder{id: f.id, name: f.name, parentID: f.parentID, typ: "IPF.Note", wk: f.wk, mail: f}, true
	}
	cal := u.cal.cals[key]
	if cal == nil && strings.EqualFold(key, "calendar") {
		cal = u.cal.def
	}
	if cal != nil {
		f := mbxFolder{id: cal.id, name: cal.name, parentID: u.root.id, typ: "IPF.Appointment", cal: cal}
		if cal.isDefault {
			f.wk = "calendar"
		}
		return f, true
	}
	cf := u.ct.folders[key]
	if cf == nil && strings.EqualFold(key, "contacts") {
		cf = u.ct.root
	}
	if cf != nil {
		f := mbxFolder{id: cf.id, name: cf.name, parentID: cf.parentID, typ: "IPF.Contact", ct: cf}
		if cf == u.ct.root {
			f.wk = "contacts"
		}
		return f, true
	}
	return mbxFolder{}, false
}

// mbxChildrenLocked lists a folder's children; the root's are the mail
// folders under it, the calendars and the default contacts folder, as
// the folders of all kinds hang below the root in Exchange.
func (s *Sandbox) mbxChildrenLocked(u *user, p mbxFolder) []mbxFolder {
	var out []mbxFolder
	switch {
	case p.mail != nil:
		for _, f := range u.children(p.mail) {
			x, _ := s.mbxFolderLocked(u, f.id)
			out = append(out, x)
		}
		if p.mail == u.root {
			for _, cal := range u.cal.order {
				x, _ := s.mbxFolderLocked(u, cal.id)
				out = append(out, x)
			}
			x, _ := s.mbxFolderLocked(u, u.ct.root.id)
			out = append(out, x)
		}
	case p.ct != nil:
		for _, f := range u.ct.order {
			if f.parentID == p.id {
				x, _ := s.mbxFolderLocked(u, f.id)
				out = append(out, x)
			}
		}
	}
	return out
}

func (s *Sandbox) mbxFolderJSONLocked(c *call, u *user, mbx string, f mbxFolder) map[string]any {
	j := map[string]any{"@odata.type": "#microsoft.graph.mailboxFolder", "id": f.id, "displayName": f.name,
		"parentFolderId": f.parentID, "childFolderCount": len(s.mbxChildrenLocked(u, f)),
		"totalItemCount": len(s.mbxItemsLocked(u, f)), "type": f.typ}
	if c.apiVersion() == "beta" {
		j["parentMailboxUrl"] = s.baseURL + "/beta/admin/exchange/mailboxes/" + mbx
		j["wellKnownName"] = nilIfEmpty(f.wk)
	}
	return j
}

// mbxItem is an item of any kind as the mailbox API lists it.
type mbxItem struct {
	id, changeKey, typ string
	created, modified  time.Time
	categories         []string
	size, seq          int64
	props              []extProp
}

// seriesSeq is a series' latest change: its own, an exception's or a
// deleted occurrence's, all of which change the master item in Exchange.
func seriesSeq(e *event) int64 {
	n := e.seq
	for _, x := range e.exceptions {
		n = max(n, x.seq)
	}
	for _, d := range e.deleted {
		n = max(n, d)
	}
	return n
}

func (s *Sandbox) mbxItemsLocked(u *user, f mbxFolder) []mbxItem {
	var out []mbxItem
	switch {
	case f.mail != nil:
		for _, m := range f.mail.items {
			out = append(out, mbxItem{id: m.id, changeKey: m.changeKey, typ: "IPM.Note", created: m.created, modified: m.modified,
				categories: m.categories, size: m.size, seq: m.seq, props: m.props})
		}
	case f.cal != nil:
		for _, e := range u.cal.events {
			if e.calID == f.cal.id {
				out = append(out, mbxItem{id: e.id, changeKey: e.changeKey, typ: "IPM.Appointment", created: e.created, modified: e.modified,
					categories: e.categories, size: int64(len(encodeBlob(itemBlob{Kind: "event", Event: eventBlobOf(e)}))), seq: seriesSeq(e), props: e.props})
			}
		}
	case f.ct != nil:
		for _, ct := range u.ct.items {
			if ct.folderID == f.ct.id {
				out = append(out, mbxItem{id: ct.id, changeKey: ct.changeKey, typ: "IPM.Contact", created: ct.created, modified: ct.modified,
					categories: stringsOf(ct.data["categories"]), size: int64(len(encodeBlob(itemBlob{Kind: "contact", Contact: contactBlobOf(ct)}))),
					seq: ct.seq, props: ct.props})
			}
		}
	}
	// Callers render the items after unlocking: copy what writers change
	// in place.
	for i := range out {
		out[i].categories, out[i].props = slices.Clone(out[i].categories), slices.Clone(out[i].props)
	}
	slices.SortFunc(out, func(a, b mbxItem) int {
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}

func stringsOf(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

var mbxItemProps = lowerSet("id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "type", "size")

var mbxFolderProps = lowerSet("id", "displayName", "parentFolderId", "childFolderCount", "totalItemCount", "type",
	"parentMailboxUrl", "wellKnownName")

func mbxItemJSON(it mbxItem, sel []string, exp *expandOpt) map[string]any {
	j := map[string]any{"@odata.type": "#microsoft.graph.mailboxItem", "@odata.etag": `W/"` + it.changeKey + `"`, "id": it.id,
		"createdDateTime": gtime(it.created), "lastModifiedDateTime": gtime(it.modified), "changeKey": it.changeKey,
		"categories": nonNil(it.categories), "type": it.typ, "size": it.size}
	j = project(j, sel)
	if exp != nil && exp.props {
		var props []map[string]any
		for _, p := range it.props {
			if exp.propIDs == nil || slices.ContainsFunc(exp.propIDs, func(id string) bool { return sameProp(id, p.ID) }) {
				props = append(props, map[string]any{"id": p.ID, "value": p.Value})
			}
		}
		if props != nil {
			j["singleValueExtendedProperties"] = props
		}
	}
	return j
}

// mailboxFolders serves folders, child folders, items and item delta.
func (s *Sandbox) mailboxFolders(c *call, u *user, mbx string, rest []string) {
	v := c.apiVersion()
	ctxBase := s.baseURL + "/" + v + "/$metadata#admin/exchange/mailboxes/" + mbx + "/folders"
	s.mu.Lock()
	var f mbxFolder
	found := true
	if len(rest) == 0 {
		f, _ = s.mbxFolderLocked(u, "msgfolderroot")
	} else {
		f, found = s.mbxFolderLocked(u, rest[0])
	}
	s.mu.Unlock()
	if !found {
		graphError(c.w, http.StatusNotFound, "ErrorFolderNotFound", "The specified folder could not be found in the store.")
		return
	}
	tail := rest
	if len(tail) > 0 {
		tail = tail[1:]
	}
	switch {
	case len(rest) == 0 || len(tail) == 1 && strings.EqualFold(tail[0], "childFolders"):
		if c.r.Method != http.MethodGet {
			badRequest(c.w, "BadRequest", "Unsupported method.")
			return
		}
		s.listMailboxFolders(c, u, mbx, f, ctxBase)
	case len(tail) == 0:
		if c.r.Method != http.MethodGet {
			badRequest(c.w, "BadRequest", "Unsupported method.")
			return
		}
		sel := selectOf(c.q)
		if !checkSelect(c.w, sel, mbxFolderProps, "mailboxFolder") {
			return
		}
		s.mu.Lock()
		j := project(s.mbxFolderJSONLocked(c, u, mbx, f), sel)
		s.mu.Unlock()
		j["@odata.context"] = ctxBase + "/$entity"
		graphJSON(c.w, http.StatusOK, j)
	case len(tail) == 1 && strings.EqualFold(tail[0], "items"):
		if c.r.Method != http.MethodGet {
			badRequest(c.w, "BadRequest", "Unsupported method.")
			return
		}
		s.listMailboxItems(c, u, f, ctxBase+"('"+f.id+"')/items")
	case len(tail) == 2 && strings.EqualFold(tail[0], "items") && strings.EqualFold(tail[1], "delta"):
		if c.r.Method != http.MethodGet {
			badRequest(c.w, "BadRequest", "Unsupported method.")
			return
		}
		s.mailboxItemDelta(c, u, f)
	case len(tail) == 2 && strings.EqualFold(tail[0], "items"):
		s.mailboxItem(c, u, f, tail[1], ctxBase+"('"+f.id+"')/items/$entity")
	default:
		badRequest(c.w, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", tail[0]))
	}
}

func (s *Sandbox) listMailboxFolders(c *call, u *user, mbx string, f mbxFolder, ctx string) {
	sel := selectOf(c.q)
	if !checkSelect(c.w, sel, mbxFolderProps, "mailboxFolder") {
		return
	}
	top, ok := topOf(c.q, 10, 1000)
	if !ok {
		badRequest(c.w, "ErrorInvalidUrlQuery", "The value of $top is not valid.")
		return
	}
	skip, _ := strconv.Atoi(c.q.Get("$skip"))
	var flt *filterExpr
	if v := c.q.Get("$filter"); v != "" {
		var err error
		if flt, err = parseFilter(v); err != nil {
			badRequest(c.w, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
			return
		}
	}
	s.mu.Lock()
	var all []map[string]any
	for _, ch := range s.mbxChildrenLocked(u, f) {
		j := s.mbxFolderJSONLocked(c, u, mbx, ch)
		if flt == nil || flt.match(mapGetter(j)) {
			all = append(all, j)
		}
	}
	s.mu.Unlock()
	out := []map[string]any{}
	end := min(skip+top, len(all))
	for _, j := range all[min(skip, len(all)):end] {
		out = append(out, project(j, sel))
	}
	resp := map[string]any{"@odata.context": ctx, "value": out}
	if end < len(all) {
		q := url.Values{}
		for k, v := range c.q {
			q[k] = v
		}
		q.Set("$top", strconv.Itoa(top))
		q.Set("$skip", strconv.Itoa(end))
		resp["@odata.nextLink"] = s.selfLink(c, q)
	}
	graphJSON(c.w, http.StatusOK, resp)
}

func (s *Sandbox) listMailboxItems(c *call, u *user, f mbxFolder, ctx string) {
	lq, ok := parseListQuery(c, mbxItemProps, "mailboxItem", false)
	if !ok {
		return
	}
	s.mu.Lock()
	var all []mbxItem
	for _, it := range s.mbxItemsLocked(u, f) {
		if lq.flt != nil && !lq.flt.match(propsGetter(mbxItemJSON(it, nil, nil), it.props)) {
			continue
		}
		all = append(all, it)
	}
	s.mu.Unlock()
	out := []map[string]any{}
	end := min(lq.skip+lq.top, len(all))
	for _, it := range all[min(lq.skip, len(all)):end] {
		out = append(out, mbxItemJSON(it, lq.sel, lq.exp))
	}
	resp := map[string]any{"@odata.context": ctx, "value": out}
	if end < len(all) {
		q := url.Values{}
		for k, v := range c.q {
			q[k] = v
		}
		q.Set("$top", strconv.Itoa(lq.top))
		q.Set("$skip", strconv.Itoa(end))
		resp["@odata.nextLink"] = s.selfLink(c, q)
	}
	graphJSON(c.w, http.StatusOK, resp)
}

// mailboxItem serves GET and DELETE of one item. The delete is a store
// operation: it removes a meeting without sending a cancellation, unlike
// an organizer's DELETE on /events.
func (s *Sandbox) mailboxItem(c *call, u *user, f mbxFolder, id, ctx string) {
	s.mu.Lock()
	var it *mbxItem
	for _, x := range s.mbxItemsLocked(u, f) {
		if x.id == id {
			it = &x
			break
		}
	}
	s.mu.Unlock()
	if it == nil {
		notFoundItem(c.w)
		return
	}
	switch c.r.Method {
	case http.MethodGet:
		sel := selectOf(c.q)
		if !checkSelect(c.w, sel, mbxItemProps, "mailboxItem") {
			return
		}
		exp, err := parseExpand(c.q.Get("$expand"))
		if err != nil || exp != nil && exp.attachments {
			badRequest(c.w, "BadRequest", "Parsing OData Select and Expand failed.")
			return
		}
		j := mbxItemJSON(*it, sel, exp)
		j["@odata.context"] = ctx
		graphJSON(c.w, http.StatusOK, j)
	case http.MethodDelete:
		switch strings.ToLower(c.q.Get("disposalType")) {
		case "softdelete", "harddelete":
		default:
			badRequest(c.w, "ErrorInvalidParameter", "The disposalType query parameter is required: softDelete or hardDelete.")
			return
		}
		s.mu.Lock()
		switch {
		case f.mail != nil:
			if m := u.messages[id]; m != nil {
				s.removeLocked(u, m)
			}
		case f.cal != nil:
			if e := u.cal.events[id]; e != nil {
				s.dropEventLocked(u, e)
				delete(u.cal.events, id)
			}
		case f.ct != nil:
			if ct := u.ct.items[id]; ct != nil {
				delete(u.ct.items, id)
				f.ct.tombs = append(f.ct.tombs, tomb{id: id, seq: s.nextSeqLocked()})
			}
		}
		s.mu.Unlock()
		c.w.WriteHeader(http.StatusNoContent)
	default:
		badRequest(c.w, "BadRequest", "Unsupported method.")
	}
}

// mailboxItemDelta serves items/delta of one folder: a first round lists
// every item, later rounds what was added, changed or removed, as the
// message delta does.
func (s *Sandbox) mailboxItemDelta(c *call, u *user, f mbxFolder) {
	var st deltaState
	switch {
	case c.q.Get("$skiptoken") != "" || c.q.Get("$deltatoken") != "":
		tok, delta := c.q.Get("$skiptoken"), false
		if tok == "" {
			tok, delta = c.q.Get("$deltatoken"), true
		}
		var ok bool
		if st, ok = decodeState(tok); !ok || st.Folder != f.id {
			badRequest(c.w, "ErrorInvalidSyncStateData", "The sync state data is corrupt or otherwise invalid.")
			return
		}
		if delta {
			st.Cursor, st.Snap = st.Base, 0
		}
	default:
		st = deltaState{Folder: f.id, Select: c.q.Get("$select")}
	}
	if n := preferMaxPageSize(c.r); n > 0 {
		st.Page = n
	}
	page := st.Page
	if page <= 0 {
		page = 10
	}
	sel := selectOf(url.Values{"$select": {st.Select}})
	if !checkSelect(c.w, sel, mbxItemProps, "mailboxItem") {
		return
	}
	type change struct {
		seq int64
		it  *mbxItem
		id  string
	}
	s.mu.Lock()
	if st.Snap == 0 {
		st.Snap = s.seq
	}
	var changes []change
	live := map[string]bool{}
	items := s.mbxItemsLocked(u, f)
	for i := range items {
		it := &items[i]
		live[it.id] = true
		if it.seq > st.Cursor && it.seq <= st.Snap {
			changes = append(changes, change{seq: it.seq, it: it})
		}
	}
	if st.Base > 0 {
		var tombs []tomb
		switch {
		case f.mail != nil:
			tombs = f.mail.tombs
		case f.ct != nil:
			tombs = f.ct.tombs
		case f.cal != nil:
			for _, t := range u.cal.tombs {
				// Occurrences are part of their master, not items.
				if _, _, occ := decodeOccurrenceID(t.snap.id); t.snap.calID == f.cal.id && t.snap.master == nil && !occ {
					tombs = append(tombs, tomb{id: t.snap.id, seq: t.seq})
				}
			}
		}
		seen := map[string]bool{}
		for i := len(tombs) - 1; i >= 0; i-- {
			t := tombs[i]
			if t.seq > st.Cursor && t.seq <= st.Snap && t.seq > st.Base && !live[t.id] && !seen[t.id] {
				seen[t.id] = true
				changes = append(changes, change{seq: t.seq, id: t.id})
			}
		}
	}
	s.mu.Unlock()
	slices.SortFunc(changes, func(a, b change) int { return int(a.seq - b.seq) })
	more := len(changes) > page
	if more {
		changes = changes[:page]
	}
	out := []map[string]any{}
	for _, ch := range changes {
		if ch.it != nil {
			out = append(out, mbxItemJSON(*ch.it, sel, nil))
		} else {
			out = append(out, map[string]any{"@odata.type": "#microsoft.graph.mailboxItem", "id": ch.id, "@removed": map[string]any{"reason": "deleted"}})
		}
		st.Cursor = ch.seq
	}
	resp := map[string]any{"@odata.context": s.baseURL + "/" + c.apiVersion() + "/$metadata#Collection(mailboxItem)", "value": out}
	if more {
		resp["@odata.nextLink"] = s.selfLink(c, url.Values{"$skiptoken": {encodeState(st)}})
	} else {
		resp["@odata.deltaLink"] = s.selfLink(c, url.Values{"$deltatoken": {encodeState(deltaState{Folder: f.id, Base: st.Snap, Select: st.Select, Page: st.Page})}})
	}
	c.w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(page))
	graphJSON(c.w, http.StatusOK, resp)
}

// exportItems answers one exportItemResponse per id: the item's data, or
// an error for an id that names no item of the mailbox.
func (s *Sandbox) exportItems(c *call, u *user, mbx string) {
	if c.r.Method != http.MethodPost {
		badRequest(c.w, "BadRequest", "Unsupported method.")
		return
	}
	var in struct {
		ItemIDs []string `json:"itemIds"`
	}
	if err := decodeJSON(c.body, &in); err != nil {
		badRequest(c.w, "RequestBodyRead", "Invalid JSON in the request body.")
		return
	}
	switch {
	case len(in.ItemIDs) == 0:
		badRequest(c.w, "ErrorInvalidRequest", "At least one item id is required.")
		return
	case len(in.ItemIDs) > maxExportItems:
		badRequest(c.w, "ErrorInvalidRequest", fmt.Sprintf("At most %d item ids can be exported in one request; %d were given.", maxExportItems, len(in.ItemIDs)))
		return
	}
	out := []map[string]any{}
	s.mu.Lock()
	for _, id := range in.ItemIDs {
		b, ck, ok := s.blobOfLocked(u, id)
		if !ok {
			out = append(out, map[string]any{"itemId": id,
				"error": map[string]any{"code": "ErrorItemNotFound", "message": "The specified object was not found in the store."}})
			continue
		}
		out = append(out, map[string]any{"itemId": id, "changeKey": ck, "data": encodeBlob(b)})
	}
	s.mu.Unlock()
	graphJSON(c.w, http.StatusOK, map[string]any{
		"@odata.context": s.baseURL + "/" + c.apiVersion() + "/$metadata#Collection(microsoft.graph.exportItemResponse)",
		"value":          out,
	})
}

// createImportSession issues a pre-authenticated import URL for the
// mailbox. Graph documents no request body; one is ignored.
func (s *Sandbox) createImportSession(c *call, u *user, mbx string) {
	if c.r.Method != http.MethodPost {
		badRequest(c.w, "BadRequest", "Unsupported method.")
		return
	}
	s.mu.Lock()
	life := s.mbx.lifetime
	if life <= 0 {
		life = defaultImportLifetime
	}
	sess := &importSession{token: randomHex(32), userID: u.id, mailbox: mbx, version: c.apiVersion(), expires: time.Now().Add(life).UTC()}
	if s.mbx.sessions == nil {
		s.mbx.sessions = map[string]*importSession{}
	}
	s.mbx.sessions[sess.token] = sess
	s.mbx.created++
	s.mu.Unlock()
	graphJSON(c.w, http.StatusOK, map[string]any{
		"@odata.context":     s.baseURL + "/" + sess.version + "/$metadata#microsoft.graph.mailboxItemImportSession",
		"importUrl":          s.baseURL + "/api/g" + sess.version + "/Mailboxes('" + url.PathEscape(mbx) + "')/importItem?authtoken=" + sess.token,
		"expirationDateTime": sess.expires.Format(time.RFC3339Nano),
	})
}

// importBody is the POST body of an import URL.
type importBody struct {
	FolderID  string `json:"FolderId"`
	Mode      string `json:"Mode"`
	Data      string `json:"Data"`
	ItemID    string `json:"ItemId"`
	ChangeKey string `json:"ChangeKey"`
}

// serveImport takes the POSTs to an import URL (Exchange serves them on
// outlook.office365.com; the sandbox on its own host). The URL carries its
// own credential; an Authorization header is ignored. Each request counts
// against the mailbox's limits like any other of its requests.
func (s *Sandbox) serveImport(w http.ResponseWriter, r *http.Request) {
	// /api/g{version}/Mailboxes('{mailboxId}')/importItem
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/"), "/")
	if len(parts) != 3 || !strings.EqualFold(parts[2], "importItem") || !strings.HasPrefix(parts[1], "Mailboxes('") || !strings.HasSuffix(parts[1], "')") {
		graphError(w, http.StatusNotFound, "ResourceNotFound", "The resource could not be found.")
		return
	}
	mbx := strings.TrimSuffix(strings.TrimPrefix(parts[1], "Mailboxes('"), "')")
	s.mu.Lock()
	sess := s.mbx.sessions[r.URL.Query().Get("authtoken")]
	if sess != nil && time.Now().After(sess.expires) {
		delete(s.mbx.sessions, sess.token)
		s.mu.Unlock()
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
		return
	}
	var u *user
	if sess != nil {
		u = s.users[sess.userID]
	}
	s.mu.Unlock()
	if sess == nil || u == nil || !strings.EqualFold(sess.mailbox, mbx) || parts[0] != "g"+sess.version {
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "The import session token is not valid for this mailbox.")
		return
	}
	if r.Method != http.MethodPost {
		badRequest(w, "BadRequest", "Unsupported method.")
		return
	}
	// Base64 and the JSON around it make the body a third larger than
	// the item.
	limit := s.cfg.MaxMessageBytes*4/3 + 64<<10
	body, err := readBody(r, limit+1)
	if err != nil {
		badRequest(w, "BadRequest", "The request body could not be read.")
		return
	}
	if int64(len(body)) > limit {
		graphError(w, http.StatusRequestEntityTooLarge, "ErrorMessageSizeExceeded", "The item exceeds the maximum supported size.")
		return
	}
	release, ok := s.admit(w, u.id, int64(len(body)))
	if !ok {
		return
	}
	defer release()
	var in importBody
	if err := decodeJSON(body, &in); err != nil {
		badRequest(w, "RequestBodyRead", "Invalid JSON in the request body.")
		return
	}
	mode := strings.ToLower(in.Mode)
	switch {
	case in.FolderID == "" || in.Data == "":
		badRequest(w, "ErrorInvalidRequest", "FolderId, Mode and Data are required.")
		return
	case mode == "create" && (in.ItemID != "" || in.ChangeKey != ""):
		badRequest(w, "ErrorInvalidRequest", "ItemId and ChangeKey must not be given in create mode.")
		return
	case mode == "update" && (in.ItemID == "" || in.ChangeKey == ""):
		badRequest(w, "ErrorInvalidRequest", "ItemId and ChangeKey are required in update mode.")
		return
	case mode != "create" && mode != "update":
		badRequest(w, "ErrorInvalidRequest", "Mode must be create or update.")
		return
	}
	data, err := base64.StdEncoding.DecodeString(in.Data)
	if err != nil {
		badRequest(w, "ErrorCorruptData", "The Data value is not valid base64.")
		return
	}
	if int64(len(data)) > s.cfg.MaxMessageBytes {
		graphError(w, http.StatusRequestEntityTooLarge, "ErrorMessageSizeExceeded", "The item exceeds the maximum supported size.")
		return
	}
	b, err := decodeBlob(data)
	if err != nil {
		badRequest(w, "ErrorCorruptData", "The Data value is not an item exported by exportItems.")
		return
	}
	s.mu.Lock()
	id, ck, status, code, msg := s.importLocked(u, in, mode, b)
	s.mu.Unlock()
	if status != http.StatusOK {
		graphError(w, status, code, msg)
		return
	}
	graphJSON(w, http.StatusOK, map[string]any{
		"@odata.context": s.baseURL + "/api/g" + sess.version + "/$metadata#microsoft.graph.importMailboxItemResponse",
		"itemId":         id, "changeKey": ck,
	})
}

// importLocked stores an imported item. Nothing here sends a message or
// an invitation: the item is written as it was exported.
func (s *Sandbox) importLocked(u *user, in importBody, mode string, b itemBlob) (id, ck string, status int, code, msg string) {
	f, ok := s.mbxFolderLocked(u, in.FolderID)
	if !ok {
		return "", "", http.StatusNotFound, "ErrorFolderNotFound", "The specified folder could not be found in the store."
	}
	fits := b.Kind == "message" && f.mail != nil || b.Kind == "event" && f.cal != nil || b.Kind == "contact" && f.ct != nil
	if !fits {
		return "", "", http.StatusBadRequest, "ErrorInvalidFolderTypeForOperation",
			fmt.Sprintf("An item of kind %s cannot be imported into a folder of type %s.", b.Kind, f.typ)
	}
	if mode == "update" {
		return s.updateImportedLocked(u, f, in, b)
	}
	switch b.Kind {
	case "message":
		m := &message{id: s.newIDLocked("message")}
		b.Message.fill(m)
		s.putLocked(u, f.mail, m)
		return m.id, m.changeKey, http.StatusOK, "", ""
	case "event":
		e := &event{id: s.newIDLocked("event"), calID: f.cal.id}
		s.fillEventLocked(b.Event, e)
		e.seq = s.nextSeqLocked()
		e.changeKey = changeKey(e.seq)
		u.cal.events[e.id] = e
		return e.id, e.changeKey, http.StatusOK, "", ""
	default:
		ct := &contact{id: s.newIDLocked("contact"), folderID: f.ct.id}
		b.Contact.fill(ct)
		ct.seq = s.nextSeqLocked()
		ct.changeKey = changeKey(ct.seq)
		u.ct.items[ct.id] = ct
		return ct.id, ct.changeKey, http.StatusOK, "", ""
	}
}

// updateImportedLocked replaces an item's content in update mode; the
// item keeps its id, and a stale change key is refused.
func (s *Sandbox) updateImportedLocked(u *user, f mbxFolder, in importBody, b itemBlob) (string, string, int, string, string) {
	const stale = "The change key does not match the current version of the item."
	switch b.Kind {
	case "message":
		m := u.messages[in.ItemID]
		if m == nil || m.folderID != f.id {
			return "", "", http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store."
		}
		if m.changeKey != in.ChangeKey {
			return "", "", http.StatusConflict, "ErrorIrresolvableConflict", stale
		}
		b.Message.fill(m)
		m.seq = s.nextSeqLocked()
		m.changeKey = changeKey(m.seq)
		f.mail.sorted = nil
		return m.id, m.changeKey, http.StatusOK, "", ""
	case "event":
		e := u.cal.events[in.ItemID]
		if e == nil || e.calID != f.id {
			return "", "", http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store."
		}
		if e.changeKey != in.ChangeKey {
			return "", "", http.StatusConflict, "ErrorIrresolvableConflict", stale
		}
		s.dropEventLocked(u, e)
		s.fillEventLocked(b.Event, e)
		e.seq = s.nextSeqLocked()
		e.changeKey = changeKey(e.seq)
		return e.id, e.changeKey, http.StatusOK, "", ""
	default:
		ct := u.ct.items[in.ItemID]
		if ct == nil || ct.folderID != f.id {
			return "", "", http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store."
		}
		if ct.changeKey != in.ChangeKey {
			return "", "", http.StatusConflict, "ErrorIrresolvableConflict", stale
		}
		b.Contact.fill(ct)
		ct.seq = s.nextSeqLocked()
		ct.changeKey = changeKey(ct.seq)
		return ct.id, ct.changeKey, http.StatusOK, "", ""
	}
}
