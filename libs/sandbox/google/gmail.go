package google

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Gmail scopes by what a method needs; any one of a list suffices.
var (
	gmailRead     = []string{ScopeGmail, ScopeGmailModify, ScopeGmailReadonly, ScopeGmailMetadata}
	gmailContent  = []string{ScopeGmail, ScopeGmailModify, ScopeGmailReadonly}
	gmailWrite    = []string{ScopeGmail, ScopeGmailModify}
	gmailInsert   = []string{ScopeGmail, ScopeGmailModify, ScopeGmailInsert}
	gmailLabelsRW = []string{ScopeGmail, ScopeGmailModify, ScopeGmailLabels}
	gmailLabelsRO = []string{ScopeGmail, ScopeGmailModify, ScopeGmailReadonly, ScopeGmailMetadata, ScopeGmailLabels}
	gmailProfile  = []string{ScopeGmail, ScopeGmailModify, ScopeGmailReadonly, ScopeGmailMetadata, ScopeGmailCompose}
	gmailDelete   = []string{ScopeGmail}
	gmailSend     = []string{ScopeGmail, ScopeGmailModify, ScopeGmailCompose, ScopeGmailSend}
	gmailDraft    = []string{ScopeGmail, ScopeGmailModify, ScopeGmailCompose}
)

// routeGmail serves gmail/v1/users/{userId}/... and its upload paths.
func (s *Sandbox) routeGmail(c *call) {
	path := c.r.URL.Path
	prefix := "/gmail/v1/users/"
	upload := false
	for _, p := range []string{"/upload/gmail/v1/users/", "/resumable/upload/gmail/v1/users/"} {
		if strings.HasPrefix(path, p) {
			prefix, upload = p, true
		}
	}
	seg := segments(path, prefix)
	if len(seg) < 2 {
		googleError(c.w, http.StatusNotFound, "notFound", "Not Found")
		return
	}
	u := s.gmailUser(c, seg[0])
	if u == nil {
		return
	}
	rest, m := seg[1:], c.r.Method
	is := func(method string, parts ...string) bool { return m == method && slices.Equal(rest, parts) }
	switch {
	case upload:
		s.gmailUpload(c, u, rest)
	case is("GET", "profile"):
		if c.admit("gmail.users.getProfile", gmailCost["getProfile"], gmailProfile...) {
			s.gmailProfile(c, u)
		}
	case rest[0] == "labels":
		s.gmailLabels(c, u, rest[1:])
	case is("GET", "history"):
		if c.admit("gmail.users.history.list", gmailCost["history.list"], gmailRead...) {
			s.gmailHistory(c, u)
		}
	case rest[0] == "messages":
		s.gmailMessages(c, u, rest[1:])
	case rest[0] == "drafts":
		s.gmailDrafts(c, u, rest[1:])
	case rest[0] == "threads":
		s.gmailThreads(c, u, rest[1:])
	default:
		googleError(c.w, http.StatusNotFound, "notFound", "Not Found")
	}
}

// gmailUser resolves the userId of the path against the token: Gmail
// answers only the impersonated user ("me" or their address).
func (s *Sandbox) gmailUser(c *call, userID string) *user {
	u := c.g.subject
	if u == nil {
		// A service account without domain-wide delegation has no mailbox.
		googleError(c.w, http.StatusBadRequest, "failedPrecondition", "Precondition check failed.")
		return nil
	}
	s.mu.Lock()
	setup := u.mailboxSetupAt
	target := s.userLocked(userID)
	s.mu.Unlock()
	if userID != "me" && target != u {
		googleError(c.w, http.StatusForbidden, "forbidden", "Delegation denied for "+userID)
		return nil
	}
	if time.Now().Before(setup) {
		googleError(c.w, http.StatusBadRequest, "failedPrecondition", "Mail service not enabled")
		return nil
	}
	return u
}

func (s *Sandbox) gmailProfile(c *call, u *user) {
	s.mu.Lock()
	mb := u.mail
	out := map[string]any{
		"emailAddress": u.email, "messagesTotal": mb.messagesTotal(), "threadsTotal": len(mb.threads),
		"historyId": strconv.FormatUint(mb.historyID, 10),
	}
	s.mu.Unlock()
	c.ok(out)
}

// --- labels ---

func labelJSON(l *label) map[string]any {
	m := map[string]any{"id": l.id, "name": l.name, "type": l.typ}
	if l.mlv != "" {
		m["messageListVisibility"] = l.mlv
	}
	if l.llv != "" {
		m["labelListVisibility"] = l.llv
	}
	if l.color != nil {
		m["color"] = l.color
	}
	return m
}

func (s *Sandbox) gmailLabels(c *call, u *user, rest []string) {
	m := c.r.Method
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		if !c.admit("gmail.users.labels.list", gmailCost["labels.list"], gmailLabelsRO...) {
			return
		}
		s.mu.Lock()
		list := make([]map[string]any, 0, len(u.mail.order))
		for _, l := range u.mail.order {
			list = append(list, labelJSON(l))
		}
		s.mu.Unlock()
		c.ok(map[string]any{"labels": list})
	case len(rest) == 0 && m == http.MethodPost:
		if c.admit("gmail.users.labels.create", gmailCost["labels.create"], gmailLabelsRW...) {
			s.labelWrite(c, u, "")
		}
	case len(rest) == 1 && m == http.MethodGet:
		if !c.admit("gmail.users.labels.get", gmailCost["labels.get"], gmailLabelsRO...) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		l := u.mail.labels[rest[0]]
		if l == nil {
			notFound(c.w)
			return
		}
		out := labelJSON(l)
		total, unread := 0, 0
		threads, unreadThreads := map[string]bool{}, map[string]bool{}
		for _, msg := range u.mail.msgs {
			if msg.vaultOnly || !msg.has(l.id) {
				continue
			}
			total++
			threads[msg.threadID] = true
			if msg.has("UNREAD") {
				unread++
				unreadThreads[msg.threadID] = true
			}
		}
		out["messagesTotal"], out["messagesUnread"] = total, unread
		out["threadsTotal"], out["threadsUnread"] = len(threads), len(unreadThreads)
		c.ok(out)
	case len(rest) == 1 && (m == http.MethodPut || m == http.MethodPatch):
		if c.admit("gmail.users.labels.update", gmailCost["labels.update"], gmailLabelsRW...) {
			s.labelWrite(c, u, rest[0])
		}
	case len(rest) == 1 && m == http.MethodDelete:
		if !c.admit("gmail.users.labels.delete", gmailCost["labels.delete"], gmailLabelsRW...) {
			return
		}
		s.mu.Lock()
		mb := u.mail
		l := mb.labels[rest[0]]
		switch {
		case l == nil:
			s.mu.Unlock()
			notFound(c.w)
			return
		case l.typ == "system":
			s.mu.Unlock()
			invalidArgument(c.w, "Invalid delete request")
			return
		}
		for _, msg := range mb.list() {
			if msg.has(l.id) {
				mb.relabel(msg, nil, []string{l.id}, s.cfg.HistoryRetention)
			}
		}
		delete(mb.labels, l.id)
		mb.order = slices.DeleteFunc(mb.order, func(x *label) bool { return x == l })
		s.mu.Unlock()
		c.noContent()
	default:
		methodNotAllowed(c.w)
	}
}

// labelWrite creates (id "") or updates a user label.
func (s *Sandbox) labelWrite(c *call, u *user, id string) {
	var in struct {
		Name                  *string           `json:"name"`
		MessageListVisibility string            `json:"messageListVisibility"`
		LabelListVisibility   string            `json:"labelListVisibility"`
		Color                 map[string]string `json:"color"`
	}
	if !c.decode(&in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := u.mail
	var l *label
	if id != "" {
		if l = mb.labels[id]; l == nil {
			notFound(c.w)
			return
		}
		if l.typ == "system" {
			invalidArgument(c.w, "Invalid update request")
			return
		}
	}
	if in.Name != nil || id == "" {
		name := ""
		if in.Name != nil {
			name = strings.TrimSpace(*in.Name)
		}
		lower := strings.ToLower(name)
		if name == "" || reservedLabelNames[lower] || strings.HasPrefix(lower, "category_") || mb.labels[strings.ToUpper(name)] != nil ||
			strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
			invalidArgument(c.w, "Invalid label name")
			return
		}
		if other := mb.labelByName(name); other != nil && other != l {
			writeErr(c.w, apiErr{code: http.StatusConflict, reason: "aborted", status: "ABORTED", msg: "Label name exists or conflicts"})
			return
		}
		if l == nil {
			l = &label{id: "Label_" + strconv.Itoa(mb.nextLabel), typ: "user", mlv: "show", llv: "labelShow"}
			mb.nextLabel++
			mb.labels[l.id] = l
			mb.order = append(mb.order, l)
		}
		l.name = name
	}
	if in.MessageListVisibility != "" {
		l.mlv = in.MessageListVisibility
	}
	if in.LabelListVisibility != "" {
		l.llv = in.LabelListVisibility
	}
	if in.Color != nil {
		l.color = in.Color
	}
	c.ok(labelJSON(l))
}

// --- messages ---

func (s *Sandbox) gmailMessages(c *call, u *user, rest []string) {
	m := c.r.Method
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		if c.admit("gmail.users.messages.list", gmailCost["messages.list"], gmailRead...) {
			s.messageList(c, u)
		}
	case len(rest) == 0 && m == http.MethodPost:
		if c.admit("gmail.users.messages.insert", gmailCost["messages.insert"], gmailInsert...) {
			s.messageFromJSON(c, u, "insert")
		}
	case len(rest) == 1 && rest[0] == "import" && m == http.MethodPost:
		if c.admit("gmail.users.messages.import", gmailCost["messages.import"], gmailInsert...) {
			s.messageFromJSON(c, u, "import")
		}
	case len(rest) == 1 && rest[0] == "send" && m == http.MethodPost:
		if c.admit("gmail.users.messages.send", gmailCost["messages.send"], gmailSend...) {
			s.messageFromJSON(c, u, "send")
		}
	case len(rest) == 1 && rest[0] == "batchDelete" && m == http.MethodPost:
		if c.admit("gmail.users.messages.batchDelete", gmailCost["messages.batchDelete"], gmailDelete...) {
			s.messageBatch(c, u, true)
		}
	case len(rest) == 1 && rest[0] == "batchModify" && m == http.MethodPost:
		if c.admit("gmail.users.messages.batchModify", gmailCost["messages.batchModify"], gmailWrite...) {
			s.messageBatch(c, u, false)
		}
	case len(rest) == 1 && m == http.MethodGet:
		if c.admit("gmail.users.messages.get", gmailCost["messages.get"], gmailRead...) {
			s.messageGet(c, u, rest[0])
		}
	case len(rest) == 1 && m == http.MethodDelete:
		if c.admit("gmail.users.messages.delete", gmailCost["messages.delete"], gmailDelete...) {
			s.messageDelete(c, u, rest[0])
		}
	case len(rest) == 2 && m == http.MethodPost && rest[1] == "modify":
		if c.admit("gmail.users.messages.modify", gmailCost["messages.modify"], gmailWrite...) {
			s.messageModify(c, u, rest[0])
		}
	case len(rest) == 2 && m == http.MethodPost && (rest[1] == "trash" || rest[1] == "untrash"):
		if c.admit("gmail.users.messages."+rest[1], gmailCost["messages."+rest[1]], gmailWrite...) {
			s.messageTrash(c, u, rest[0], rest[1] == "trash")
		}
	case len(rest) == 3 && m == http.MethodGet && rest[1] == "attachments":
		if c.admit("gmail.users.messages.attachments.get", gmailCost["messages.attachments.get"], gmailContent...) {
			s.attachmentGet(c, u, rest[0], rest[2])
		}
	default:
		methodNotAllowed(c.w)
	}
}

// validMsgID checks the shape of a message id; Gmail answers 400 for ids
// that cannot be one.
func validMsgID(w http.ResponseWriter, id string) bool {
	if id == "" || len(id) > 32 || strings.Trim(strings.ToLower(id), "0123456789abcdef") != "" {
		invalidArgument(w, "Invalid id value")
		return false
	}
	return true
}

// msgSnap is a consistent copy of a message's mutable fields.
type msgSnap struct {
	m         *gmsg
	labels    []string
	historyID uint64
}

func (s *Sandbox) lookupMsg(c *call, u *user, id string) (msgSnap, bool) {
	if !validMsgID(c.w, id) {
		return msgSnap{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := u.mail.msgs[strings.ToLower(id)]
	if m == nil || m.vaultOnly {
		notFound(c.w)
		return msgSnap{}, false
	}
	return msgSnap{m: m, labels: slices.Clone(m.labels), historyID: m.historyID}, true
}

// meta computes a message's header information outside the lock and
// caches it.
func (s *Sandbox) meta(m *gmsg) *msgInfo {
	s.mu.Lock()
	in := m.info
	s.mu.Unlock()
	if in != nil {
		return in
	}
	in = infoOf(m.content())
	s.mu.Lock()
	if m.info == nil {
		m.info = in
	}
	in = m.info
	s.mu.Unlock()
	return in
}

func (s *Sandbox) messageJSON(sn msgSnap, format string, metaHeaders []string) map[string]any {
	m := sn.m
	out := map[string]any{
		"id": m.id, "threadId": m.threadID, "historyId": strconv.FormatUint(sn.historyID, 10),
		"internalDate": strconv.FormatInt(m.internal.UnixMilli(), 10), "sizeEstimate": m.size,
		"snippet": s.meta(m).snippet,
	}
	if len(sn.labels) > 0 {
		out["labelIds"] = sn.labels
	}
	switch format {
	case "raw":
		out["raw"] = base64.URLEncoding.EncodeToString(m.content())
	case "metadata":
		root := parsePart(m.content(), "", 0)
		hdrs := root.Headers
		if len(metaHeaders) > 0 {
			hdrs = slices.DeleteFunc(slices.Clone(hdrs), func(f field) bool {
				return !slices.ContainsFunc(metaHeaders, func(h string) bool { return strings.EqualFold(h, f.Name) })
			})
		}
		out["payload"] = map[string]any{"partId": "", "mimeType": root.MimeType, "filename": "", "headers": hdrs, "body": map[string]int{"size": 0}}
	case "full":
		root := parsePart(m.content(), "", 0)
		root.fill(m.id)
		out["payload"] = root
	}
	return out
}

func (s *Sandbox) messageGet(c *call, u *user, id string) {
	format := strings.ToLower(c.q.Get("format"))
	if format == "" {
		format = "full"
	}
	if !slices.Contains([]string{"minimal", "full", "raw", "metadata"}, format) {
		writeErr(c.w, apiErr{code: 400, reason: "invalidParameter", location: "format", locationType: "parameter",
			msg: "Invalid value at 'format' (type.googleapis.com/gmail.v1.GetMessageRequest.Format), \"" + c.q.Get("format") + "\""})
		return
	}
	if (format == "raw" || format == "full") && !c.hasScope(gmailContent...) {
		googleError(c.w, http.StatusForbidden, "forbidden", "Metadata scope doesn't allow format "+strings.ToUpper(format))
		return
	}
	sn, ok := s.lookupMsg(c, u, id)
	if !ok {
		return
	}
	c.ok(s.messageJSON(sn, format, c.q["metadataHeaders"]))
}

func (s *Sandbox) attachmentGet(c *call, u *user, id, attID string) {
	sn, ok := s.lookupMsg(c, u, id)
	if !ok {
		return
	}
	partID, ok := partOfAttachment(sn.m.id, attID)
	var p *part
	if ok {
		p = parsePart(sn.m.content(), "", 0).find(partID)
	}
	if p == nil {
		invalidArgument(c.w, "Invalid attachment token")
		return
	}
	c.ok(map[string]any{"size": len(p.data), "data": base64.URLEncoding.EncodeToString(p.data)})
}

// listKey is a position in the message order, carried by page tokens.
func listKey(m *gmsg) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(m.internal.UnixMilli(), 10) + ":" + m.id))
}

func parseListKey(tok string) (*gmsg, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, false
	}
	ms, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil {
		return nil, false
	}
	return &gmsg{id: id, internal: time.UnixMilli(n)}, true
}

// matching lists the messages a list request selects (labelIds, q,
// includeSpamTrash), newest first; ok is false when it has answered.
func (s *Sandbox) matching(c *call, u *user) ([]*gmsg, bool) {
	qs := c.q.Get("q")
	if qs != "" && !c.hasScope(gmailContent...) {
		googleError(c.w, http.StatusForbidden, "forbidden", "Metadata scope does not support 'q' parameter")
		return nil, false
	}
	s.mu.Lock()
	mb := u.mail
	q, err := parseGmailQuery(qs, mb)
	if err != nil {
		s.mu.Unlock()
		invalidArgument(c.w, "Invalid query: "+err.Error())
		return nil, false
	}
	labelIDs := c.q["labelIds"]
	for _, l := range labelIDs {
		if mb.labels[l] == nil {
			s.mu.Unlock()
			invalidArgument(c.w, "Invalid label: "+l)
			return nil, false
		}
	}
	spamTrash := c.boolParam("includeSpamTrash") || q.spamTrash ||
		slices.Contains(labelIDs, "SPAM") || slices.Contains(labelIDs, "TRASH")
	var cands []msgSnap
	for _, m := range mb.list() {
		if !spamTrash && (m.has("SPAM") || m.has("TRASH")) {
			continue
		}
		if !slices.ContainsFunc(labelIDs, func(l string) bool { return !m.has(l) }) {
			cands = append(cands, msgSnap{m: m, labels: slices.Clone(m.labels), historyID: m.historyID})
		}
	}
	s.mu.Unlock()
	var hits []*gmsg
	for _, sn := range cands {
		if q.match(sn, func() *msgInfo { return s.meta(sn.m) }) {
			hits = append(hits, sn.m)
		}
	}
	return hits, true
}

func (s *Sandbox) messageList(c *call, u *user) {
	maxResults, ok := c.intParam("maxResults", 100, 1, 500)
	if !ok {
		return
	}
	var after *gmsg
	if tok := c.q.Get("pageToken"); tok != "" {
		if after, ok = parseListKey(tok); !ok {
			invalidArgument(c.w, "Invalid pageToken")
			return
		}
	}
	hits, ok := s.matching(c, u)
	if !ok {
		return
	}
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(hits, after, func(m, key *gmsg) int {
			if before(m, key) || m.id == key.id && m.internal.Equal(key.internal) {
				return -1
			}
			return 1
		})
	}
	end := min(start+maxResults, len(hits))
	out := map[string]any{"resultSizeEstimate": len(hits)}
	if end > start {
		list := make([]map[string]string, 0, end-start)
		for _, m := range hits[start:end] {
			list = append(list, map[string]string{"id": m.id, "threadId": m.threadID})
		}
		out["messages"] = list
	}
	if end < len(hits) {
		out["nextPageToken"] = listKey(hits[end-1])
	}
	c.ok(out)
}

// threadList groups the matching messages by thread, ordered by each
// thread's newest message.
func (s *Sandbox) threadList(c *call, u *user) {
	maxResults, ok := c.intParam("maxResults", 100, 1, 500)
	if !ok {
		return
	}
	start := 0
	if tok := c.q.Get("pageToken"); tok != "" {
		if start, ok = decodeOffset(tok); !ok {
			invalidArgument(c.w, "Invalid pageToken")
			return
		}
	}
	hits, ok := s.matching(c, u)
	if !ok {
		return
	}
	var threads []*gmsg
	seen := map[string]bool{}
	for _, m := range hits {
		if !seen[m.threadID] {
			seen[m.threadID] = true
			threads = append(threads, m)
		}
	}
	start = min(start, len(threads))
	end := min(start+maxResults, len(threads))
	out := map[string]any{"resultSizeEstimate": len(threads)}
	if end > start {
		list := make([]map[string]string, 0, end-start)
		for _, m := range threads[start:end] {
			s.mu.Lock()
			hist := m.historyID
			s.mu.Unlock()
			list = append(list, map[string]string{"id": m.threadID, "snippet": s.meta(m).snippet, "historyId": strconv.FormatUint(hist, 10)})
		}
		out["threads"] = list
	}
	if end < len(threads) {
		out["nextPageToken"] = encodeOffset(end)
	}
	c.ok(out)
}

// checkLabels validates label ids for import, insert and modify; SENT is
// accepted on import and insert only (Gmail lets neither DRAFT nor CHAT
// be applied through these methods, nor SENT through modify).
func checkLabels(mb *mailbox, ids []string, allowSent bool) (string, bool) {
	for _, id := range ids {
		switch {
		case mb.labels[id] == nil, id == "DRAFT", id == "CHAT", id == "SENT" && !allowSent:
			return id, false
		}
	}
	return "", true
}

func dedupe(ids []string) []string {
	var out []string
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func (s *Sandbox) messageModify(c *call, u *user, id string) {
	var in struct {
		AddLabelIDs    []string `json:"addLabelIds"`
		RemoveLabelIDs []string `json:"removeLabelIds"`
	}
	if !validMsgID(c.w, id) || !c.decode(&in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := u.mail
	m := mb.msgs[strings.ToLower(id)]
	if m == nil || m.vaultOnly {
		notFound(c.w)
		return
	}
	if bad, ok := checkLabels(mb, append(slices.Clone(in.AddLabelIDs), in.RemoveLabelIDs...), false); !ok {
		invalidArgument(c.w, "Invalid label: "+bad)
		return
	}
	if len(in.AddLabelIDs)+len(in.RemoveLabelIDs) == 0 {
		invalidArgument(c.w, "No label add or removes specified")
		return
	}
	mb.relabel(m, dedupe(in.AddLabelIDs), dedupe(in.RemoveLabelIDs), s.cfg.HistoryRetention)
	c.ok(minimalJSON(m))
}

func minimalJSON(m *gmsg) map[string]any {
	out := map[string]any{"id": m.id, "threadId": m.threadID}
	if len(m.labels) > 0 {
		out["labelIds"] = slices.Clone(m.labels)
	}
	return out
}

// messageTrash moves a message to the trash (leaving its other labels, as
// Gmail does) or takes it out again.
func (s *Sandbox) messageTrash(c *call, u *user, id string, trash bool) {
	if !validMsgID(c.w, id) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := u.mail
	m := mb.msgs[strings.ToLower(id)]
	if m == nil || m.vaultOnly {
		notFound(c.w)
		return
	}
	if trash {
		mb.relabel(m, []string{"TRASH"}, []string{"SPAM"}, s.cfg.HistoryRetention)
	} else {
		mb.relabel(m, nil, []string{"TRASH"}, s.cfg.HistoryRetention)
	}
	c.ok(minimalJSON(m))
}

func (s *Sandbox) messageDelete(c *call, u *user, id string) {
	if !validMsgID(c.w, id) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := u.mail.msgs[strings.ToLower(id)]
	if m == nil || m.vaultOnly {
		notFound(c.w)
		return
	}
	u.mail.remove(m, s.cfg.HistoryRetention)
	c.noContent()
}

func (s *Sandbox) messageBatch(c *call, u *user, del bool) {
	var in struct {
		IDs            []string `json:"ids"`
		AddLabelIDs    []string `json:"addLabelIds"`
		RemoveLabelIDs []string `json:"removeLabelIds"`
	}
	if !c.decode(&in) {
		return
	}
	if len(in.IDs) > 1000 {
		invalidArgument(c.w, "Number of ids cannot exceed 1000")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := u.mail
	if !del {
		if bad, ok := checkLabels(mb, append(slices.Clone(in.AddLabelIDs), in.RemoveLabelIDs...), false); !ok {
			invalidArgument(c.w, "Invalid label: "+bad)
			return
		}
	}
	for _, id := range in.IDs {
		m := mb.msgs[strings.ToLower(id)]
		if m == nil || m.vaultOnly {
			continue // batch methods give no guarantee that the ids existed
		}
		if del {
			mb.remove(m, s.cfg.HistoryRetention)
		} else {
			mb.relabel(m, dedupe(in.AddLabelIDs), dedupe(in.RemoveLabelIDs), s.cfg.HistoryRetention)
		}
	}
	c.noContent()
}

// --- import, insert and send ---

type storeOpts struct {
	kind       string // import, insert or send
	labelIDs   []string
	threadID   string
	dateSource string
	neverSpam  bool
	processCal bool
	deleted    bool
}

func (c *call) storeOpts(kind string) storeOpts {
	o := storeOpts{kind: kind, dateSource: c.q.Get("internalDateSource"),
		neverSpam: c.boolParam("neverMarkSpam"), processCal: c.boolParam("processForCalendar"), deleted: c.boolParam("deleted")}
	if o.dateSource == "" {
		o.dateSource = "receivedTime"
		if kind == "import" {
			o.dateSource = "dateHeader"
		}
	}
	return o
}

// messageMeta is the Message resource a client sends with import, insert
// and send, in JSON or as the metadata part of an upload.
type messageMeta struct {
	Raw      string   `json:"raw"`
	LabelIDs []string `json:"labelIds"`
	ThreadID string   `json:"threadId"`
}

func (s *Sandbox) messageFromJSON(c *call, u *user, kind string) {
	var in messageMeta
	if !c.decode(&in) {
		return
	}
	if in.Raw == "" {
		invalidArgument(c.w, "'raw' RFC822 payload message string or uploading message via /upload/* URL required")
		return
	}
	raw, err := decodeRaw(in.Raw)
	if err != nil {
		invalidArgument(c.w, "Invalid value for ByteString: "+truncate(in.Raw, 40))
		return
	}
	o := c.storeOpts(kind)
	o.labelIDs, o.threadID = in.LabelIDs, in.ThreadID
	s.storeMessage(c, u, raw, o)
}

// decodeRaw accepts base64url with or without padding, and standard
// base64, as Google's JSON decoding of bytes fields does.
func decodeRaw(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			return b, nil
		}
	}
	_, err := base64.URLEncoding.DecodeString(v)
	return nil, err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// storeMessage files a message as import, insert or send do.
func (s *Sandbox) storeMessage(c *call, u *user, raw []byte, o storeOpts) {
	if len(raw) == 0 {
		invalidArgument(c.w, "'raw' RFC822 payload message string or uploading message via /upload/* URL required")
		return
	}
	if int64(len(raw)) > s.cfg.MaxMessageBytes {
		writeErr(c.w, apiErr{code: http.StatusRequestEntityTooLarge, reason: "uploadTooLarge",
			msg: "Request payload size exceeds the limit: " + strconv.FormatInt(s.cfg.MaxMessageBytes, 10) + " bytes."})
		return
	}
	in := infoOf(raw)
	now := time.Now()
	internal := now
	if o.dateSource == "dateHeader" && !in.date.IsZero() {
		internal = in.date
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := u.mail
	labels := dedupe(o.labelIDs)
	if bad, ok := checkLabels(mb, labels, o.kind != "send"); !ok {
		invalidArgument(c.w, "Invalid label: "+bad)
		return
	}
	switch {
	case o.kind == "draft":
		// A draft carries DRAFT and nothing else when created.
		labels = []string{"DRAFT"}
	case o.kind == "send":
		labels = []string{"SENT"}
		s.sent.Add(1)
	case o.kind == "import" && !o.neverSpam && in.spam:
		// Import classifies like SMTP delivery: what the scanners call spam
		// lands in Spam unless the caller says never to.
		labels = append(slices.DeleteFunc(labels, func(l string) bool { return l == "INBOX" }), "SPAM")
		labels = dedupe(labels)
	}
	if o.processCal && in.hasCalendar {
		s.calProcess++
	}
	m := &gmsg{id: mb.newMsgID(now), labels: labels, internal: internal.Truncate(time.Millisecond),
		raw: raw, size: int64(len(raw)), info: in, rfcID: in.messageID, vaultOnly: o.deleted}
	m.threadID = mb.threadFor(in, o.threadID)
	if m.threadID == "" {
		m.threadID = m.id
	}
	mb.add(m, false, s.cfg.HistoryRetention)
	if key := strings.ToLower(in.messageID); key != "" && mb.byRFCID[key] == nil && !m.vaultOnly {
		mb.byRFCID[key] = m
	}
	if o.kind == "draft" {
		c.ok(map[string]any{"id": draftID(m.id), "message": minimalJSON(m)})
		return
	}
	c.ok(minimalJSON(m))
}

// CalendarProcessed counts imported messages whose invitations Gmail
// would have processed into the calendar (processForCalendar=true);
// a migration leaves it at zero.
func (s *Sandbox) CalendarProcessed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calProcess
}

// --- history ---

func (s *Sandbox) gmailHistory(c *call, u *user) {
	start, err := strconv.ParseUint(c.q.Get("startHistoryId"), 10, 64)
	if err != nil {
		writeErr(c.w, apiErr{code: 400, reason: "invalidArgument", location: "startHistoryId", locationType: "parameter",
			msg: "Invalid startHistoryId"})
		return
	}
	maxResults, ok := c.intParam("maxResults", 100, 1, 500)
	if !ok {
		return
	}
	types := c.q["historyTypes"]
	for _, t := range types {
		if !slices.Contains([]string{"messageAdded", "messageDeleted", "labelAdded", "labelRemoved"}, t) {
			writeErr(c.w, apiErr{code: 400, reason: "invalidParameter", location: "historyTypes", locationType: "parameter",
				msg: "Invalid value at 'history_types'"})
			return
		}
	}
	want := func(t string) bool { return len(types) == 0 || slices.Contains(types, t) }
	labelID := c.q.Get("labelId")
	var after uint64
	if tok := c.q.Get("pageToken"); tok != "" {
		if after, err = strconv.ParseUint(tok, 10, 64); err != nil {
			invalidArgument(c.w, "Invalid pageToken")
			return
		}
	}
	s.mu.Lock()
	mb := u.mail
	if start < mb.floor {
		s.mu.Unlock()
		notFound(c.w)
		return
	}
	current := mb.historyID
	var recs []map[string]any
	var lastID uint64
	next := ""
	for _, h := range mb.history {
		if h.id <= start || h.id <= after {
			continue
		}
		if labelID != "" && !slices.Contains(h.msgLabels, labelID) && !slices.Contains(h.labelsAdded, labelID) && !slices.Contains(h.labelsRemoved, labelID) {
			continue
		}
		ref := map[string]any{"id": h.msgID, "threadId": h.threadID}
		full := map[string]any{"id": h.msgID, "threadId": h.threadID}
		if len(h.msgLabels) > 0 {
			full["labelIds"] = h.msgLabels
		}
		rec := map[string]any{"id": strconv.FormatUint(h.id, 10), "messages": []any{ref}}
		n := 0
		if h.added && want("messageAdded") {
			rec["messagesAdded"] = []any{map[string]any{"message": full}}
			n++
		}
		if h.deleted && want("messageDeleted") {
			rec["messagesDeleted"] = []any{map[string]any{"message": ref}}
			n++
		}
		if len(h.labelsAdded) > 0 && want("labelAdded") {
			rec["labelsAdded"] = []any{map[string]any{"message": full, "labelIds": h.labelsAdded}}
			n++
		}
		if len(h.labelsRemoved) > 0 && want("labelRemoved") {
			rec["labelsRemoved"] = []any{map[string]any{"message": full, "labelIds": h.labelsRemoved}}
			n++
		}
		if n == 0 && len(types) > 0 {
			continue
		}
		if len(recs) == maxResults {
			next = strconv.FormatUint(lastID, 10)
			break
		}
		recs = append(recs, rec)
		lastID = h.id
	}
	s.mu.Unlock()
	out := map[string]any{"historyId": strconv.FormatUint(current, 10)}
	if len(recs) > 0 {
		out["history"] = recs
	}
	if next != "" {
		out["nextPageToken"] = next
	}
	c.ok(out)
}

// ExpireHistory trims a mailbox's history, so that every start id issued
// so far answers 404 as Gmail's do once they are too old.
func (s *Sandbox) ExpireHistory(email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userLocked(email); u != nil {
		u.mail.history = nil
		u.mail.floor = u.mail.historyID + 1
	}
}

// --- threads ---

func (s *Sandbox) gmailThreads(c *call, u *user, rest []string) {
	switch {
	case len(rest) == 0 && c.r.Method == http.MethodGet:
		if c.admit("gmail.users.threads.list", gmailCost["threads.list"], gmailRead...) {
			s.threadList(c, u)
		}
	case len(rest) == 1 && c.r.Method == http.MethodGet:
		if !c.admit("gmail.users.threads.get", gmailCost["threads.get"], gmailRead...) {
			return
		}
		format := strings.ToLower(c.q.Get("format"))
		if format == "" {
			format = "full"
		}
		if format == "raw" {
			format = "full"
		}
		s.mu.Lock()
		var snaps []msgSnap
		for _, m := range u.mail.list() {
			if m.threadID == strings.ToLower(rest[0]) {
				snaps = append(snaps, msgSnap{m: m, labels: slices.Clone(m.labels), historyID: m.historyID})
			}
		}
		hist := u.mail.historyID
		s.mu.Unlock()
		if len(snaps) == 0 {
			notFound(c.w)
			return
		}
		slices.Reverse(snaps) // oldest first, as in a conversation
		msgs := make([]map[string]any, len(snaps))
		for i, sn := range snaps {
			msgs[i] = s.messageJSON(sn, format, c.q["metadataHeaders"])
		}
		c.ok(map[string]any{"id": strings.ToLower(rest[0]), "historyId": strconv.FormatUint(hist, 10), "messages": msgs})
	default:
		methodNotAllowed(c.w)
	}
}

// --- drafts ---

// draftID names the draft of a message. Gmail's draft ids ("r-…") are
// their own; here one maps to the other so that nothing else is stored.
func draftID(msgID string) string { return "r-" + msgID }

// gmailDrafts serves drafts.create (JSON; the upload paths are in
// upload.go), list, get and delete. A draft is a message carrying DRAFT,
// as in Gmail, where messages.get and messages.modify reach it too;
// nothing is ever sent.
func (s *Sandbox) gmailDrafts(c *call, u *user, rest []string) {
	m := c.r.Method
	switch {
	case len(rest) == 0 && m == http.MethodPost:
		if !c.admit("gmail.users.drafts.create", gmailCost["drafts.create"], gmailDraft...) {
			return
		}
		var in struct {
			Message messageMeta `json:"message"`
		}
		if !c.decode(&in) {
			return
		}
		raw, err := decodeRaw(in.Message.Raw)
		if err != nil || len(raw) == 0 {
			invalidArgument(c.w, "Missing draft message")
			return
		}
		o := c.storeOpts("draft")
		o.threadID = in.Message.ThreadID
		s.storeMessage(c, u, raw, o)
	case len(rest) == 0 && m == http.MethodGet:
		if !c.admit("gmail.users.drafts.list", gmailCost["drafts.list"], gmailRead...) {
			return
		}
		s.mu.Lock()
		var list []map[string]any
		for _, msg := range u.mail.list() {
			if msg.has("DRAFT") {
				list = append(list, map[string]any{"id": draftID(msg.id), "message": map[string]string{"id": msg.id, "threadId": msg.threadID}})
			}
		}
		s.mu.Unlock()
		out := map[string]any{"resultSizeEstimate": len(list)}
		if len(list) > 0 {
			out["drafts"] = list
		}
		c.ok(out)
	case len(rest) == 1 && (m == http.MethodGet || m == http.MethodDelete):
		method, scopes := "get", gmailRead
		if m == http.MethodDelete {
			method, scopes = "delete", gmailDraft
		}
		if !c.admit("gmail.users.drafts."+method, gmailCost["drafts."+method], scopes...) {
			return
		}
		id, ok := strings.CutPrefix(rest[0], "r-")
		if !ok || !validMsgID(c.w, id) {
			if !ok {
				invalidArgument(c.w, "Invalid draft id")
			}
			return
		}
		s.mu.Lock()
		msg := u.mail.msgs[strings.ToLower(id)]
		if msg == nil || msg.vaultOnly || !msg.has("DRAFT") {
			s.mu.Unlock()
			notFound(c.w)
			return
		}
		if m == http.MethodDelete {
			u.mail.remove(msg, s.cfg.HistoryRetention)
			s.mu.Unlock()
			c.noContent()
			return
		}
		sn := msgSnap{m: msg, labels: slices.Clone(msg.labels), historyID: msg.historyID}
		s.mu.Unlock()
		format := strings.ToLower(c.q.Get("format"))
		if format == "" {
			format = "full"
		}
		c.ok(map[string]any{"id": rest[0], "message": s.messageJSON(sn, format, nil)})
	default:
		methodNotAllowed(c.w)
	}
}
