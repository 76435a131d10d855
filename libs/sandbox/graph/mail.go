package graph

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (s *Sandbox) routeMailbox(c *call) {
	s.mu.Lock()
	u := s.userLocked(c.seg[1])
	mailbox := u != nil && u.mailbox
	s.mu.Unlock()
	if u == nil {
		graphError(c.w, http.StatusNotFound, "ErrorInvalidUser", fmt.Sprintf("The requested user '%s' is invalid.", c.seg[1]))
		return
	}
	rest := c.seg[2:]
	area := strings.ToLower(rest[0])
	workload := "mail"
	switch area {
	case "mailfolders", "messages", "sendmail":
	case "calendars", "calendar", "events", "calendarview":
		workload = "Calendars"
	case "contactfolders", "contacts":
		workload = "Contacts"
	default:
		badRequest(c.w, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", rest[0]))
		return
	}
	if !mailbox {
		graphError(c.w, http.StatusNotFound, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
		return
	}
	if workload != "mail" {
		// Calendars and contacts have their own roles; reads take the
		// read role or the read-write one.
		if !c.p.has(workload+".ReadWrite") && (c.r.Method != http.MethodGet || !c.p.has(workload+".Read")) {
			forbiddenMail(c.w)
			return
		}
		release, ok := s.admit(c.w, u.id, int64(len(c.body)))
		if !ok {
			return
		}
		defer release()
		if !c.delay() {
			return
		}
		if workload == "Calendars" {
			s.routeCalendar(c, u, rest)
		} else {
			s.routeContacts(c, u, rest)
		}
		return
	}
	sending := area == "sendmail" || (len(rest) >= 3 && area == "messages" && strings.EqualFold(rest[len(rest)-1], "send")) ||
		(len(rest) >= 5 && strings.EqualFold(rest[len(rest)-1], "send"))
	switch {
	case sending:
		if !c.p.has("Mail.Send") {
			forbiddenMail(c.w)
			return
		}
	case c.r.Method == http.MethodGet:
		if !c.p.has("Mail.Read", "Mail.ReadWrite") {
			forbiddenMail(c.w)
			return
		}
	default:
		if !c.p.has("Mail.ReadWrite") {
			forbiddenMail(c.w)
			return
		}
	}
	release, ok := s.admit(c.w, u.id, int64(len(c.body)))
	if !ok {
		return
	}
	defer release()
	if !c.delay() {
		return
	}

	switch area {
	case "sendmail":
		s.sendMail(c, u)
		return
	case "messages":
		if len(rest) == 1 {
			s.messages(c, u, nil)
			return
		}
		s.message(c, u, rest[1], rest[2:])
		return
	}
	// mailFolders
	if len(rest) == 1 {
		s.folders(c, u, nil)
		return
	}
	s.mu.Lock()
	f := u.folderLocked(rest[1])
	tail := rest[2:]
	for f != nil && len(tail) >= 2 && strings.EqualFold(tail[0], "childFolders") {
		f = u.folderLocked(tail[1])
		tail = tail[2:]
	}
	s.mu.Unlock()
	if f == nil {
		notFoundItem(c.w)
		return
	}
	switch {
	case len(tail) == 0:
		s.folderItself(c, u, f)
	case len(tail) == 1 && strings.EqualFold(tail[0], "childFolders"):
		s.folders(c, u, f)
	case len(tail) == 1 && strings.EqualFold(tail[0], "messages"):
		s.messages(c, u, f)
	case len(tail) == 2 && strings.EqualFold(tail[0], "messages") && strings.EqualFold(tail[1], "delta"):
		s.delta(c, u, f)
	case len(tail) >= 2 && strings.EqualFold(tail[0], "messages"):
		s.message(c, u, tail[1], tail[2:])
	default:
		badRequest(c.w, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", tail[0]))
	}
}

var folderProps = lowerSet("id", "displayName", "parentFolderId", "childFolderCount", "unreadItemCount", "totalItemCount", "sizeInBytes", "isHidden", "wellKnownName")

func (s *Sandbox) folderJSONLocked(u *user, f *folder, sel []string) map[string]any {
	total, unread, size := f.totals()
	j := map[string]any{
		"id": f.id, "displayName": f.name, "parentFolderId": f.parentID, "childFolderCount": len(u.children(f)),
		"unreadItemCount": unread, "totalItemCount": total, "sizeInBytes": size, "isHidden": f.hidden,
	}
	if sel == nil {
		return j
	}
	if slices.ContainsFunc(sel, func(x string) bool { return strings.EqualFold(x, "wellKnownName") }) {
		j["wellKnownName"] = nilIfEmpty(f.wk)
	}
	return project(j, sel)
}

// folders lists or creates the children of parent (nil: the message
// folder root, as /mailFolders shows).
func (s *Sandbox) folders(c *call, u *user, parent *folder) {
	s.mu.Lock()
	if parent == nil {
		parent = u.root
	}
	s.mu.Unlock()
	switch c.r.Method {
	case http.MethodGet:
		sel := selectOf(c.q)
		if !checkSelect(c.w, sel, folderProps, "mailFolder") {
			return
		}
		skip, top, ok := pageParams(c)
		if !ok {
			return
		}
		hidden := strings.EqualFold(c.q.Get("includeHiddenFolders"), "true")
		servePage(s, c, s.baseURL+"/v1.0/$metadata#users('"+u.id+"')/mailFolders", skip, top, func() []*folder {
			var all []*folder
			for _, f := range u.children(parent) {
				if !f.hidden || hidden {
					all = append(all, f)
				}
			}
			slices.SortStableFunc(all, func(a, b *folder) int { return strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name)) })
			return all
		}, func(f *folder) map[string]any { return s.folderJSONLocked(u, f, sel) }, rendered)
	case http.MethodPost:
		var in struct {
			DisplayName string `json:"displayName"`
			IsHidden    bool   `json:"isHidden"`
		}
		if err := decodeJSON(c.body, &in); err != nil || strings.TrimSpace(in.DisplayName) == "" {
			badRequest(c.w, "ErrorInvalidRequest", "The displayName of a folder is required.")
			return
		}
		s.mu.Lock()
		for _, f := range u.children(parent) {
			if strings.EqualFold(f.name, in.DisplayName) {
				s.mu.Unlock()
				graphError(c.w, http.StatusConflict, "ErrorFolderExists", "A folder with the specified name already exists.")
				return
			}
		}
		f := s.addFolderLocked(u, parent, in.DisplayName)
		f.hidden = in.IsHidden
		j := s.folderJSONLocked(u, f, nil)
		s.mu.Unlock()
		j["@odata.context"] = s.baseURL + "/v1.0/$metadata#users('" + u.id + "')/mailFolders/$entity"
		graphJSON(c.w, http.StatusCreated, j)
	default:
		badRequest(c.w, "BadRequest", "Unsupported method.")
	}
}

func (s *Sandbox) folderItself(c *call, u *user, f *folder) {
	switch c.r.Method {
	case http.MethodGet:
		sel := selectOf(c.q)
		if !checkSelect(c.w, sel, folderProps, "mailFolder") {
			return
		}
		s.serveEntity(c, s.baseURL+"/v1.0/$metadata#users('"+u.id+"')/mailFolders/$entity", func() map[string]any { return s.folderJSONLocked(u, f, sel) })
	case http.MethodPatch:
		var in struct {
			DisplayName string `json:"displayName"`
		}
		if err := decodeJSON(c.body, &in); err != nil {
			badRequest(c.w, "ErrorInvalidRequest", "Invalid request body.")
			return
		}
		s.mu.Lock()
		if in.DisplayName != "" && f.wk == "" {
			f.name = in.DisplayName
		}
		j := s.folderJSONLocked(u, f, nil)
		s.mu.Unlock()
		graphJSON(c.w, http.StatusOK, j)
	case http.MethodDelete:
		s.mu.Lock()
		if f.wk != "" {
			s.mu.Unlock()
			graphError(c.w, http.StatusForbidden, "ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
			return
		}
		s.deleteFolderLocked(u, f)
		s.mu.Unlock()
		c.w.WriteHeader(http.StatusNoContent)
	default:
		badRequest(c.w, "BadRequest", "Unsupported method.")
	}
}

func (s *Sandbox) deleteFolderLocked(u *user, f *folder) {
	for _, ch := range u.children(f) {
		s.deleteFolderLocked(u, ch)
	}
	for _, m := range f.items {
		delete(u.messages, m.id)
	}
	delete(u.folders, f.id)
	u.forder = slices.DeleteFunc(u.forder, func(x *folder) bool { return x == f })
}

// Message properties: the default set a GET returns, and those that need
// the MIME parsed.
var msgDefault = []string{"id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime",
	"sentDateTime", "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance", "parentFolderId",
	"conversationId", "conversationIndex", "isDeliveryReceiptRequested", "isReadReceiptRequested", "isRead", "isDraft",
	"webLink", "inferenceClassification", "body", "sender", "from", "toRecipients", "ccRecipients", "bccRecipients",
	"replyTo", "flag"}

var msgProps = lowerSet(append(slices.Clone(msgDefault), "uniqueBody", "internetMessageHeaders")...)

var msgNeedsParse = lowerSet("hasAttachments", "internetMessageId", "subject", "bodyPreview", "conversationId", "conversationIndex",
	"body", "uniqueBody", "sender", "from", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "internetMessageHeaders")

// expandOpt is a parsed $expand.
type expandOpt struct {
	props       bool
	propIDs     []string // nil: all
	attachments bool
}

var expandIDRE = regexp.MustCompile(`(?i)id\s+eq\s+'((?:[^']|'')*)'`)

func parseExpand(v string) (*expandOpt, error) {
	if v == "" {
		return nil, nil
	}
	e := &expandOpt{}
	for _, item := range splitTop(v) {
		item = strings.TrimSpace(item)
		name, inner, _ := strings.Cut(item, "(")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "singlevalueextendedproperties":
			e.props = true
			for _, m := range expandIDRE.FindAllStringSubmatch(inner, -1) {
				e.propIDs = append(e.propIDs, strings.ReplaceAll(m[1], "''", "'"))
			}
		case "attachments":
			e.attachments = true
		default:
			return nil, fmt.Errorf("unsupported expand %q", name)
		}
	}
	return e, nil
}

// splitTop splits on commas outside parentheses and quotes.
func splitTop(s string) []string {
	var out []string
	depth, quote, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			quote = !quote
		case quote:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

var propIDRE = regexp.MustCompile(`(?i)^\s*(\w+)\s+(?:0x([0-9a-f]+)|\{([0-9a-f-]+)\}\s+(name|id)\s+(.+?))\s*$`)

// canonProp normalises an extended property id so that "Integer 0xE07"
// and "integer 0x0e07" name the same property; "" when s is not one.
func canonProp(s string) string {
	m := propIDRE.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	typ := strings.ToLower(m[1])
	if m[2] != "" {
		n, err := strconv.ParseUint(m[2], 16, 32)
		if err != nil {
			return ""
		}
		return fmt.Sprintf("%s 0x%04x", typ, n)
	}
	return fmt.Sprintf("%s {%s} %s %s", typ, strings.ToLower(m[3]), strings.ToLower(m[4]), strings.ToLower(m[5]))
}

func propTag(id string) (uint64, bool) {
	c := canonProp(id)
	if c == "" {
		return 0, false
	}
	_, hex, ok := strings.Cut(c, " 0x")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(hex, 16, 32)
	return n, err == nil
}

// propValue is a stored extended property, or one Exchange computes:
// PR_MESSAGE_FLAGS, PR_MESSAGE_SIZE and the two dates.
func (m *message) propValue(id string) (string, bool) {
	c := canonProp(id)
	for _, p := range m.props {
		if canonProp(p.ID) == c && c != "" || p.ID == id {
			return p.Value, true
		}
	}
	tag, ok := propTag(id)
	if !ok {
		return "", false
	}
	switch tag {
	case 0x0e07:
		f := 0
		if m.isRead {
			f |= 1
		}
		if m.isDraft {
			f |= 8
		}
		return strconv.Itoa(f), true
	case 0x0e08:
		return strconv.FormatInt(m.size, 10), true
	case 0x0e06:
		return gtime(m.received), true
	case 0x0039:
		return gtime(m.sent), true
	}
	return "", false
}

func recips(l []*mail.Address) []map[string]any {
	out := []map[string]any{}
	for _, a := range l {
		out = append(out, map[string]any{"emailAddress": map[string]any{"name": a.Name, "address": a.Address}})
	}
	return out
}

func firstRecip(l []*mail.Address) any {
	if len(l) == 0 {
		return nil
	}
	return recips(l[:1])[0]
}

// msgJSON renders a message of user userID as Graph does; sel nil means
// the default properties. m is a snapshot (message.snapshot) or s.mu is
// held; only properties derived from the MIME need it rendered and
// parsed, which is what callers keep out of the lock.
func (s *Sandbox) msgJSON(userID string, m *message, sel []string, exp *expandOpt, text bool) map[string]any {
	j := map[string]any{
		"@odata.etag": `W/"` + m.changeKey + `"`, "id": m.id,
		"createdDateTime": gtime(m.created), "lastModifiedDateTime": gtime(m.modified), "changeKey": m.changeKey,
		"categories": nonNil(m.categories), "receivedDateTime": gtime(m.received), "sentDateTime": gtime(m.sent),
		"importance": m.importance, "parentFolderId": m.folderID,
		"isDeliveryReceiptRequested": false, "isReadReceiptRequested": false, "isRead": m.isRead, "isDraft": m.isDraft,
		"webLink":                 "https://outlook.office365.com/owa/?ItemID=" + m.id + "&exvsurl=1&viewmodel=ReadMessageItem",
		"inferenceClassification": m.inference, "flag": map[string]any{"flagStatus": m.flag},
	}
	need := sel == nil
	for _, f := range sel {
		if msgNeedsParse[strings.ToLower(f)] {
			need = true
		}
	}
	if need {
		s.rendering(userID)
		if p, err := parseMIME(m.mimeBytes()); err == nil {
			j["subject"] = p.subject
			j["internetMessageId"] = nilIfEmpty(p.messageID)
			j["hasAttachments"] = slices.ContainsFunc(p.attachments, func(a *attachment) bool { return !a.inline })
			j["bodyPreview"] = p.preview()
			body := map[string]any{"contentType": "html", "content": p.html}
			if !p.hasHTML || text {
				t := p.text
				if !p.hasText {
					t = htmlToText(p.html)
				}
				body = map[string]any{"contentType": "text", "content": t}
			}
			j["body"], j["uniqueBody"] = body, body
			j["from"], j["sender"] = firstRecip(p.from), firstRecip(p.from)
			if len(p.sender) > 0 {
				j["sender"] = firstRecip(p.sender)
			}
			j["toRecipients"], j["ccRecipients"], j["bccRecipients"], j["replyTo"] = recips(p.to), recips(p.cc), recips(p.bcc), recips(p.replyTo)
			topic := strings.ToLower(strings.TrimSpace(p.subject))
			for _, pre := range []string{"re:", "fw:", "fwd:", "aw:", "wg:"} {
				topic = strings.TrimSpace(strings.TrimPrefix(topic, pre))
			}
			h := sha256.Sum256([]byte(userID + "|" + topic))
			j["conversationId"] = "AAQk" + base64.URLEncoding.EncodeToString(h[:24])
			j["conversationIndex"] = base64.StdEncoding.EncodeToString(h[:22])
			var hdrs []map[string]any
			for k, vs := range p.header {
				for _, v := range vs {
					hdrs = append(hdrs, map[string]any{"name": k, "value": v})
				}
			}
			j["internetMessageHeaders"] = hdrs
		}
	}
	if sel == nil {
		delete(j, "uniqueBody")
		delete(j, "internetMessageHeaders")
	} else {
		j = project(j, sel)
	}
	if exp != nil && exp.props {
		var props []map[string]any
		if exp.propIDs == nil {
			for _, p := range m.props {
				props = append(props, map[string]any{"id": p.ID, "value": p.Value})
			}
		}
		for _, id := range exp.propIDs {
			if v, ok := m.propValue(id); ok {
				props = append(props, map[string]any{"id": id, "value": v})
			}
		}
		if props != nil {
			j["singleValueExtendedProperties"] = props
		}
	}
	if exp != nil && exp.attachments {
		s.rendering(userID)
		atts := []map[string]any{}
		for _, a := range attachmentsOf(m) {
			atts = append(atts, attachmentJSON(a, true))
		}
		j["attachments"] = atts
	}
	return j
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// msgGetter resolves filter paths, parsing the MIME only when a filter
// needs a MIME-derived property (filterNeedsMIME): then m must be a
// snapshot, filtered without s.mu.
func (s *Sandbox) msgGetter(userID string, m *message) getter {
	var full map[string]any
	return func(path []string) any {
		if len(path) > 0 && strings.EqualFold(path[0], "singleValueExtendedProperties") {
			var out []any
			for _, p := range m.props {
				out = append(out, map[string]any{"id": p.ID, "value": p.Value})
			}
			return out
		}
		if full == nil {
			sel := []string{"id", "createdDateTime", "lastModifiedDateTime", "categories", "receivedDateTime", "sentDateTime",
				"importance", "parentFolderId", "isRead", "isDraft", "inferenceClassification", "flag", "changeKey"}
			if len(path) > 0 && msgNeedsParse[strings.ToLower(path[0])] {
				sel = nil
			}
			full = s.msgJSON(userID, m, sel, nil, false)
			if sel == nil {
				full["__parsed"] = true
			}
		} else if _, parsed := full["__parsed"]; !parsed && len(path) > 0 && msgNeedsParse[strings.ToLower(path[0])] {
			full = s.msgJSON(userID, m, nil, nil, false)
			full["__parsed"] = true
		}
		v := mapGetter(full)(path)
		if c, ok := v.([]string); ok {
			out := make([]any, len(c))
			for i, x := range c {
				out[i] = x
			}
			return out
		}
		return v
	}
}

// messages lists messages of a folder (or the whole mailbox) or creates
// one.
func (s *Sandbox) messages(c *call, u *user, f *folder) {
	switch c.r.Method {
	case http.MethodGet:
		s.listMessages(c, u, f)
	case http.MethodPost:
		s.createMessage(c, u, f)
	default:
		badRequest(c.w, "BadRequest", "Unsupported method.")
	}
}

func (s *Sandbox) listMessages(c *call, u *user, f *folder) {
	lq, ok := parseListQuery(c, msgProps, "message", true)
	if !ok {
		return
	}
	sel, exp, top, skip, flt := lq.sel, lq.exp, lq.top, lq.skip, lq.flt
	asc := false
	switch ob := strings.ToLower(strings.Join(strings.Fields(c.q.Get("$orderby")), " ")); ob {
	case "", "receiveddatetime desc":
	case "receiveddatetime", "receiveddatetime asc":
		asc = true
	default:
		badRequest(c.w, "ErrorInvalidUrlQuery", "The $orderby option is not supported for this property.")
		return
	}
	text := preferTextBody(c.r)
	// candidates runs with s.mu held.
	candidates := func() []*message {
		var all []*message
		if f != nil {
			all = f.list()
		} else {
			for _, fo := range u.forder {
				all = append(all, fo.list()...)
			}
			slices.SortStableFunc(all, func(a, b *message) int { return b.received.Compare(a.received) })
		}
		if asc {
			all = slices.Clone(all)
			slices.Reverse(all)
		}
		return all
	}
	list, take := candidates, (*message).snapshot
	switch {
	case flt != nil && filterNeedsMIME(flt):
		// The filter reads what only the MIME says (subject, addresses):
		// every candidate is copied under the lock and filtered after.
		s.mu.Lock()
		all := candidates()
		snaps := make([]*message, len(all))
		for i, m := range all {
			snaps[i] = m.snapshot()
		}
		s.mu.Unlock()
		var kept []*message
		for _, m := range snaps {
			if flt.match(s.msgGetter(u.id, m)) {
				kept = append(kept, m)
			}
		}
		list = func() []*message { return kept }
		take = func(m *message) *message { return m }
	case flt != nil:
		// Stored properties only (the marker lookup): filtered in place.
		list = func() []*message {
			var kept []*message
			for _, m := range candidates() {
				if flt.match(s.msgGetter(u.id, m)) {
					kept = append(kept, m)
				}
			}
			return kept
		}
	}
	servePage(s, c, s.baseURL+"/v1.0/$metadata#users('"+u.id+"')/messages", skip, top, list, take,
		func(m *message) map[string]any { return s.msgJSON(u.id, m, sel, exp, text) })
}

// filterNeedsMIME says whether a message filter reads a property derived
// from the MIME.
func filterNeedsMIME(flt *filterExpr) bool {
	return flt.reads(func(p string) bool { return msgNeedsParse[strings.ToLower(p)] })
}

// message serves one message and its sub-resources.
func (s *Sandbox) message(c *call, u *user, id string, tail []string) {
	s.mu.Lock()
	m := u.messages[id]
	s.mu.Unlock()
	if m == nil {
		notFoundItem(c.w)
		return
	}
	if len(tail) == 0 {
		switch c.r.Method {
		case http.MethodGet:
			sel := selectOf(c.q)
			if !checkSelect(c.w, sel, msgProps, "message") {
				return
			}
			exp, err := parseExpand(c.q.Get("$expand"))
			if err != nil {
				badRequest(c.w, "BadRequest", "Parsing OData Select and Expand failed: "+err.Error())
				return
			}
			s.mu.Lock()
			snap := m.snapshot()
			s.mu.Unlock()
			j := s.msgJSON(u.id, snap, sel, exp, preferTextBody(c.r))
			j["@odata.context"] = s.baseURL + "/v1.0/$metadata#users('" + u.id + "')/messages/$entity"
			graphJSON(c.w, http.StatusOK, j)
		case http.MethodPatch:
			s.patchMessage(c, u, m)
		case http.MethodDelete:
			s.mu.Lock()
			if m.folderID == u.wk["deleteditems"].id {
				s.removeLocked(u, m)
			} else {
				s.moveLocked(u, m, u.wk["deleteditems"])
			}
			s.mu.Unlock()
			c.w.WriteHeader(http.StatusNoContent)
		default:
			badRequest(c.w, "BadRequest", "Unsupported method.")
		}
		return
	}
	switch op := strings.ToLower(tail[0]); {
	case op == "$value" && len(tail) == 1 && c.r.Method == http.MethodGet:
		s.mu.Lock()
		snap := m.snapshot()
		s.mu.Unlock()
		s.rendering(u.id)
		b := snap.mimeBytes()
		c.w.Header().Set("Content-Type", "text/plain")
		c.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		c.w.WriteHeader(http.StatusOK)
		_, _ = c.w.Write(b)
	case op == "permanentdelete" && len(tail) == 1 && c.r.Method == http.MethodPost:
		// Unlike DELETE, which moves the message to Deleted Items, this
		// removes it from every folder the user sees.
		s.mu.Lock()
		s.removeLocked(u, m)
		s.mu.Unlock()
		c.w.WriteHeader(http.StatusNoContent)
	case (op == "move" || op == "copy") && len(tail) == 1 && c.r.Method == http.MethodPost:
		var in struct {
			DestinationID string `json:"destinationId"`
		}
		if err := decodeJSON(c.body, &in); err != nil || in.DestinationID == "" {
			badRequest(c.w, "ErrorInvalidRequest", "The destinationId is required.")
			return
		}
		s.mu.Lock()
		dst := u.folderLocked(in.DestinationID)
		if dst == nil {
			s.mu.Unlock()
			notFoundItem(c.w)
			return
		}
		var moved *message
		if op == "move" {
			moved = s.moveLocked(u, m, dst)
		} else {
			moved = s.copyLocked(u, m, dst)
		}
		snap := moved.snapshot()
		s.mu.Unlock()
		graphJSON(c.w, http.StatusCreated, s.msgJSON(u.id, snap, nil, nil, false))
	case op == "send" && len(tail) == 1 && c.r.Method == http.MethodPost:
		s.mu.Lock()
		if !m.isDraft {
			s.mu.Unlock()
			badRequest(c.w, "ErrorInvalidOperation", "Only draft messages can be sent.")
			return
		}
		m.isDraft = false
		m.sent = time.Now().UTC()
		s.moveLocked(u, m, u.wk["sentitems"])
		s.mu.Unlock()
		s.sent.Add(1)
		c.w.WriteHeader(http.StatusAccepted)
	case op == "attachments":
		s.attachments(c, u, m, tail[1:])
	default:
		badRequest(c.w, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", tail[0]))
	}
}

// moveLocked moves a message; like Exchange without immutable ids, the
// moved item gets a new id.
func (s *Sandbox) moveLocked(u *user, m *message, dst *folder) *message {
	s.removeLocked(u, m)
	m.id = s.newIDLocked("message")
	m.modified = time.Now().UTC()
	s.putLocked(u, dst, m)
	return m
}

func (s *Sandbox) copyLocked(u *user, m *message, dst *folder) *message {
	cp := *m
	cp.id = s.newIDLocked("message")
	cp.categories = slices.Clone(m.categories)
	cp.props = slices.Clone(m.props)
	cp.extra = slices.Clone(m.extra)
	cp.created, cp.modified = time.Now().UTC(), time.Now().UTC()
	s.putLocked(u, dst, &cp)
	return &cp
}

func (s *Sandbox) patchMessage(c *call, u *user, m *message) {
	var in struct {
		IsRead                  *bool     `json:"isRead"`
		Importance              *string   `json:"importance"`
		Categories              *[]string `json:"categories"`
		InferenceClassification *string   `json:"inferenceClassification"`
		Flag                    *struct {
			FlagStatus string `json:"flagStatus"`
		} `json:"flag"`
		SingleValueExtendedProperties []extProp `json:"singleValueExtendedProperties"`
	}
	if err := decodeJSON(c.body, &in); err != nil {
		badRequest(c.w, "RequestBodyRead", "Invalid JSON in the request body.")
		return
	}
	if in.Importance != nil && !slices.Contains([]string{"low", "normal", "high"}, strings.ToLower(*in.Importance)) {
		badRequest(c.w, "RequestBodyRead", fmt.Sprintf("Requested value '%s' was not found.", *in.Importance))
		return
	}
	if in.Flag != nil && !slices.Contains([]string{"notflagged", "flagged", "complete"}, strings.ToLower(in.Flag.FlagStatus)) {
		badRequest(c.w, "RequestBodyRead", fmt.Sprintf("Requested value '%s' was not found.", in.Flag.FlagStatus))
		return
	}
	s.mu.Lock()
	if in.IsRead != nil {
		m.isRead = *in.IsRead
	}
	if in.Importance != nil {
		m.importance = strings.ToLower(*in.Importance)
	}
	if in.Categories != nil {
		m.categories = slices.Clone(*in.Categories)
	}
	if in.InferenceClassification != nil {
		m.inference = *in.InferenceClassification
	}
	if in.Flag != nil {
		m.flag = canonicalFlag(in.Flag.FlagStatus)
	}
	for _, p := range in.SingleValueExtendedProperties {
		setProp(m, p)
	}
	s.touchLocked(u, m)
	snap := m.snapshot()
	s.mu.Unlock()
	graphJSON(c.w, http.StatusOK, s.msgJSON(u.id, snap, nil, nil, false))
}

func canonicalFlag(v string) string {
	switch strings.ToLower(v) {
	case "flagged":
		return "flagged"
	case "complete":
		return "complete"
	}
	return "notFlagged"
}

func setProp(m *message, p extProp) {
	c := canonProp(p.ID)
	for i := range m.props {
		if canonProp(m.props[i].ID) == c {
			m.props[i].Value = p.Value
			return
		}
	}
	m.props = append(m.props, p)
}

type recipIn struct {
	EmailAddress struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"emailAddress"`
}

func (r *recipIn) addr() *mail.Address {
	if r == nil || r.EmailAddress.Address == "" && r.EmailAddress.Name == "" {
		return nil
	}
	return &mail.Address{Name: r.EmailAddress.Name, Address: r.EmailAddress.Address}
}

func addrs(l []recipIn) []*mail.Address {
	var out []*mail.Address
	for i := range l {
		if a := l[i].addr(); a != nil {
			out = append(out, a)
		}
	}
	return out
}

type messageIn struct {
	Subject string `json:"subject"`
	Body    *struct {
		ContentType string `json:"contentType"`
		Content     string `json:"content"`
	} `json:"body"`
	From                    *recipIn  `json:"from"`
	Sender                  *recipIn  `json:"sender"`
	ToRecipients            []recipIn `json:"toRecipients"`
	CcRecipients            []recipIn `json:"ccRecipients"`
	BccRecipients           []recipIn `json:"bccRecipients"`
	ReplyTo                 []recipIn `json:"replyTo"`
	InternetMessageID       string    `json:"internetMessageId"`
	IsRead                  *bool     `json:"isRead"`
	Importance              string    `json:"importance"`
	Categories              []string  `json:"categories"`
	InferenceClassification string    `json:"inferenceClassification"`
	Flag                    *struct {
		FlagStatus string `json:"flagStatus"`
	} `json:"flag"`
	InternetMessageHeaders []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"internetMessageHeaders"`
	SingleValueExtendedProperties []extProp      `json:"singleValueExtendedProperties"`
	Attachments                   []attachmentIn `json:"attachments"`
}

func (s *Sandbox) createMessage(c *call, u *user, f *folder) {
	ct := strings.ToLower(c.r.Header.Get("Content-Type"))
	now := time.Now().UTC()
	m := &message{created: now, modified: now, received: now, sent: now, importance: "normal",
		flag: "notFlagged", inference: "focused", isDraft: true, isRead: true}
	if strings.HasPrefix(ct, "text/plain") {
		// MIME create: the body is the base64 of the RFC 5322 message
		// and the result is always a draft, as the documentation says.
		raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(c.body)), ""))
		if err != nil {
			badRequest(c.w, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
			return
		}
		p, err := parseMIME(raw)
		if err != nil {
			badRequest(c.w, "ErrorMimeContentConversionFailed", "The MIME content could not be converted.")
			return
		}
		if int64(len(raw)) > s.cfg.MaxMessageBytes {
			graphError(c.w, http.StatusRequestEntityTooLarge, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")
			return
		}
		m.raw = raw
		m.importance = p.importance
		if !p.date.IsZero() {
			m.sent = p.date.UTC()
		}
	} else {
		var in messageIn
		if err := decodeJSON(c.body, &in); err != nil {
			badRequest(c.w, "RequestBodyRead", "Invalid JSON in the request body.")
			return
		}
		if errCode, msg := s.fromJSON(m, &in); errCode != "" {
			badRequest(c.w, errCode, msg)
			return
		}
		if int64(len(m.raw)) > s.cfg.MaxMessageBytes {
			graphError(c.w, http.StatusRequestEntityTooLarge, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")
			return
		}
	}
	// Nobody else sees m before putLocked: its size is measured before
	// the lock, and its answer rendered from a snapshot after.
	m.size = int64(len(m.mimeBytes()))
	s.mu.Lock()
	if f == nil {
		f = u.wk["drafts"]
	}
	m.id = s.newIDLocked("message")
	s.putLocked(u, f, m)
	snap := m.snapshot()
	s.mu.Unlock()
	j := s.msgJSON(u.id, snap, nil, nil, false)
	j["@odata.context"] = s.baseURL + "/v1.0/$metadata#users('" + u.id + "')/messages/$entity"
	graphJSON(c.w, http.StatusCreated, j)
}

// fromJSON fills a message created from JSON. PR_MESSAGE_FLAGS
// (0x0E07) decides whether it is a draft; PR_MESSAGE_DELIVERY_TIME
// (0x0E06) and PR_CLIENT_SUBMIT_TIME (0x0039) set the received and sent
// dates, which is how migration tools create items that look delivered.
func (s *Sandbox) fromJSON(m *message, in *messageIn) (string, string) {
	for _, p := range in.SingleValueExtendedProperties {
		if canonProp(p.ID) == "" {
			return "ErrorInvalidExtendedPropertyValue", fmt.Sprintf("The extended property id '%s' is not valid.", p.ID)
		}
		tag, tagged := propTag(p.ID)
		switch {
		case tagged && tag == 0x0e07:
			n, err := strconv.ParseInt(p.Value, 10, 64)
			if err != nil {
				return "ErrorInvalidExtendedPropertyValue", "The extended property value is not valid for its type."
			}
			m.isDraft = n&8 != 0
			m.isRead = n&1 != 0
		case tagged && (tag == 0x0e06 || tag == 0x0039):
			t, err := time.Parse(time.RFC3339Nano, p.Value)
			if err != nil {
				return "ErrorInvalidExtendedPropertyValue", "The extended property value is not valid for its type."
			}
			if tag == 0x0e06 {
				m.received = t.UTC()
			} else {
				m.sent = t.UTC()
			}
			continue
		}
		setProp(m, p)
	}
	if in.IsRead != nil {
		m.isRead = *in.IsRead
	}
	if in.Importance != "" {
		m.importance = strings.ToLower(in.Importance)
	}
	if in.InferenceClassification != "" {
		m.inference = in.InferenceClassification
	}
	m.categories = in.Categories
	if in.Flag != nil {
		m.flag = canonicalFlag(in.Flag.FlagStatus)
	}
	var atts []*attachment
	for i := range in.Attachments {
		a, code, msg := in.Attachments[i].toAttachment()
		if code != "" {
			return code, msg
		}
		atts = append(atts, a)
	}
	cm := composed{from: in.From.addr(), sender: in.Sender.addr(), to: addrs(in.ToRecipients), cc: addrs(in.CcRecipients),
		bcc: addrs(in.BccRecipients), replyTo: addrs(in.ReplyTo), subject: in.Subject, date: m.sent,
		messageID: in.InternetMessageID, importance: m.importance, attachments: atts}
	if cm.from == nil && cm.sender != nil {
		cm.from = cm.sender
	}
	if cm.messageID == "" {
		cm.messageID = "<" + randomHex(16) + "@sandbox.mailferry>"
	}
	if in.Body != nil {
		cm.bodyType, cm.body = in.Body.ContentType, in.Body.Content
	}
	for _, h := range in.InternetMessageHeaders {
		if !strings.HasPrefix(strings.ToLower(h.Name), "x-") {
			return "InvalidInternetMessageHeader", fmt.Sprintf("The internet message header name '%s' should start with 'x-' or 'X-'.", h.Name)
		}
		cm.headers = append(cm.headers, [2]string{h.Name, h.Value})
	}
	m.raw = buildMIME(cm)
	return "", ""
}

func (s *Sandbox) sendMail(c *call, u *user) {
	if c.r.Method != http.MethodPost {
		badRequest(c.w, "BadRequest", "Unsupported method.")
		return
	}
	var in struct {
		Message         *messageIn `json:"message"`
		SaveToSentItems *bool      `json:"saveToSentItems"`
	}
	if err := decodeJSON(c.body, &in); err != nil || in.Message == nil {
		badRequest(c.w, "ErrorInvalidRequest", "The message is required.")
		return
	}
	now := time.Now().UTC()
	m := &message{created: now, modified: now, received: now, sent: now, importance: "normal", flag: "notFlagged", inference: "focused", isRead: true}
	if in.Message.From == nil {
		in.Message.From = &recipIn{}
		in.Message.From.EmailAddress.Address = u.upn
		in.Message.From.EmailAddress.Name = u.displayName
	}
	if code, msg := s.fromJSON(m, in.Message); code != "" {
		badRequest(c.w, code, msg)
		return
	}
	m.isDraft = false
	s.sent.Add(1)
	if in.SaveToSentItems == nil || *in.SaveToSentItems {
		m.size = int64(len(m.mimeBytes()))
		s.mu.Lock()
		m.id = s.newIDLocked("message")
		s.putLocked(u, u.wk["sentitems"], m)
		s.mu.Unlock()
	}
	c.w.WriteHeader(http.StatusAccepted)
}
