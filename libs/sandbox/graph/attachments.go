package graph

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxFileAttachment is the largest attachment Graph takes inline in a
// request; bigger ones need an upload session.
const maxFileAttachment = 3 << 20

type attachmentIn struct {
	ODataType    string `json:"@odata.type"`
	Name         string `json:"name"`
	ContentType  string `json:"contentType"`
	ContentBytes string `json:"contentBytes"`
	IsInline     bool   `json:"isInline"`
	ContentID    string `json:"contentId"`
}

func (a *attachmentIn) toAttachment() (*attachment, string, string) {
	if !strings.EqualFold(a.ODataType, "#microsoft.graph.fileAttachment") {
		return nil, "ErrorInvalidRequest", "Only fileAttachment is supported by this sandbox."
	}
	data, err := base64.StdEncoding.DecodeString(a.ContentBytes)
	if err != nil {
		return nil, "ErrorInvalidRequest", "The contentBytes value is not valid base64."
	}
	if len(data) > maxFileAttachment {
		return nil, "ErrorAttachmentSizeLimitExceeded", "The attachment is larger than 3 MB; use an upload session."
	}
	if a.Name == "" {
		return nil, "ErrorInvalidRequest", "The attachment name is required."
	}
	return &attachment{name: a.Name, contentType: a.ContentType, data: data, inline: a.IsInline, contentID: a.ContentID,
		modified: time.Now().UTC()}, "", ""
}

// attachmentsOf lists a message's attachments as its MIME has them,
// with ids stable for as long as the MIME is unchanged. m is a snapshot
// (message.snapshot) or s.mu is held.
func attachmentsOf(m *message) []*attachment { return attachmentsIn(m.id, m.modified, m.mimeBytes()) }

// attachmentsIn lists the attachments of raw, the MIME of message id.
func attachmentsIn(id string, modified time.Time, raw []byte) []*attachment {
	p, err := parseMIME(raw)
	if err != nil {
		return nil
	}
	for i, a := range p.attachments {
		a.id = id[:min(len(id), 40)] + "BEgAQA" + base64.URLEncoding.EncodeToString([]byte(fmt.Sprintf("att%05d", i)))
		a.modified = modified
	}
	return p.attachments
}

func attachmentJSON(a *attachment, content bool) map[string]any {
	j := map[string]any{
		"@odata.type": "#microsoft.graph.fileAttachment", "@odata.mediaContentType": a.contentType,
		"id": a.id, "lastModifiedDateTime": gtime(a.modified), "name": a.name, "contentType": a.contentType,
		"size": len(a.data), "isInline": a.inline, "contentId": nilIfEmpty(a.contentID), "contentLocation": nil,
	}
	if content {
		j["contentBytes"] = base64.StdEncoding.EncodeToString(a.data)
	}
	return j
}

func (s *Sandbox) attachments(c *call, u *user, m *message, tail []string) {
	switch {
	case len(tail) == 0 && c.r.Method == http.MethodGet:
		s.mu.Lock()
		snap := m.snapshot()
		s.mu.Unlock()
		s.rendering(u.id)
		out := []map[string]any{}
		for _, a := range attachmentsOf(snap) {
			out = append(out, project(attachmentJSON(a, true), selectOf(c.q)))
		}
		graphJSON(c.w, http.StatusOK, map[string]any{"@odata.context": s.baseURL + "/v1.0/$metadata#users('" + u.id + "')/messages('" + m.id + "')/attachments", "value": out})
	case len(tail) == 0 && c.r.Method == http.MethodPost:
		var in attachmentIn
		if err := decodeJSON(c.body, &in); err != nil {
			badRequest(c.w, "RequestBodyRead", "Invalid JSON in the request body.")
			return
		}
		a, code, msg := in.toAttachment()
		if code != "" {
			status := http.StatusBadRequest
			if code == "ErrorAttachmentSizeLimitExceeded" {
				status = http.StatusRequestEntityTooLarge
			}
			graphError(c.w, status, code, msg)
			return
		}
		j, status := s.addAttachment(u, m, a)
		switch status {
		case http.StatusRequestEntityTooLarge:
			graphError(c.w, status, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")
		case http.StatusNotFound:
			notFoundItem(c.w)
		default:
			graphJSON(c.w, http.StatusCreated, j)
		}
	case len(tail) == 1 && strings.EqualFold(tail[0], "createUploadSession") && c.r.Method == http.MethodPost:
		s.createUploadSession(c, u, m)
	case len(tail) >= 1:
		s.mu.Lock()
		snap := m.snapshot()
		s.mu.Unlock()
		s.rendering(u.id)
		var found *attachment
		for _, a := range attachmentsOf(snap) {
			if a.id == tail[0] {
				found = a
			}
		}
		if found == nil {
			notFoundItem(c.w)
			return
		}
		switch {
		case len(tail) == 2 && tail[1] == "$value":
			c.w.Header().Set("Content-Type", found.contentType)
			c.w.Header().Set("Content-Length", strconv.Itoa(len(found.data)))
			c.w.WriteHeader(http.StatusOK)
			_, _ = c.w.Write(found.data)
		case len(tail) == 1 && c.r.Method == http.MethodGet:
			graphJSON(c.w, http.StatusOK, project(attachmentJSON(found, true), selectOf(c.q)))
		default:
			badRequest(c.w, "BadRequest", "Unsupported request.")
		}
	default:
		badRequest(c.w, "BadRequest", "Unsupported request.")
	}
}

// addAttachment appends an attachment to a message and returns it as
// Graph shows it, with status 201; 413 when the message would exceed
// MaxMessageBytes, 404 when it was deleted. The caller does not hold
// s.mu: the message with the attachment is rendered without it (for its
// new size and the attachment's id), and stored only if nothing changed
// the message meanwhile, else rendered again.
func (s *Sandbox) addAttachment(u *user, m *message, a *attachment) (map[string]any, int) {
	for {
		s.mu.Lock()
		if u.messages[m.id] != m {
			s.mu.Unlock()
			return nil, http.StatusNotFound
		}
		if m.size+int64(len(a.data)) > s.cfg.MaxMessageBytes {
			s.mu.Unlock()
			return nil, http.StatusRequestEntityTooLarge
		}
		snap := m.snapshot()
		s.mu.Unlock()
		snap.extra = append(snap.extra, a)
		s.rendering(u.id)
		raw := snap.mimeBytes()
		s.mu.Lock()
		if m.seq != snap.seq || u.messages[m.id] != m {
			s.mu.Unlock()
			continue
		}
		m.extra = append(m.extra, a)
		s.touchLocked(u, m)
		m.size = int64(len(raw))
		id, modified := m.id, m.modified
		s.mu.Unlock()
		atts := attachmentsIn(id, modified, raw)
		return attachmentJSON(atts[len(atts)-1], false), http.StatusCreated
	}
}

type uploadSession struct {
	id, token, userID, msgID string
	a                        *attachment
	size                     int64
	data                     []byte
	expires                  time.Time
}

func (s *Sandbox) createUploadSession(c *call, u *user, m *message) {
	var in struct {
		AttachmentItem *struct {
			AttachmentType string `json:"attachmentType"`
			Name           string `json:"name"`
			Size           int64  `json:"size"`
			ContentType    string `json:"contentType"`
			IsInline       bool   `json:"isInline"`
			ContentID      string `json:"contentId"`
		} `json:"AttachmentItem"`
	}
	if err := decodeJSON(c.body, &in); err != nil || in.AttachmentItem == nil || in.AttachmentItem.Name == "" {
		badRequest(c.w, "ErrorInvalidRequest", "The AttachmentItem with name and size is required.")
		return
	}
	it := in.AttachmentItem
	if it.AttachmentType != "" && !strings.EqualFold(it.AttachmentType, "file") {
		badRequest(c.w, "ErrorInvalidRequest", "Only file attachments can be uploaded in a session.")
		return
	}
	if it.Size < maxFileAttachment {
		badRequest(c.w, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize", "Attachment size must be greater than the minimum size.")
		return
	}
	s.mu.Lock()
	if m.size+it.Size > s.cfg.MaxMessageBytes {
		s.mu.Unlock()
		graphError(c.w, http.StatusRequestEntityTooLarge, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")
		return
	}
	us := &uploadSession{id: randomHex(16), token: randomHex(24), userID: u.id, msgID: m.id, size: it.Size,
		a:       &attachment{name: it.Name, contentType: it.ContentType, inline: it.IsInline, contentID: it.ContentID},
		expires: time.Now().Add(24 * time.Hour).UTC()}
	s.sessions[us.id] = us
	s.mu.Unlock()
	graphJSON(c.w, http.StatusCreated, map[string]any{
		"@odata.context":     s.baseURL + "/v1.0/$metadata#microsoft.graph.uploadSession",
		"uploadUrl":          s.baseURL + "/upload/" + us.id + "?authtoken=" + us.token,
		"expirationDateTime": us.expires.Format(time.RFC3339Nano),
		"nextExpectedRanges": []string{"0-"},
	})
}

var rangeRE = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// serveUpload takes the PUTs of an upload session. The URL carries its
// own credential, as Outlook's does; an Authorization header is ignored.
// Each chunk counts against the mailbox's upload budget and concurrency.
func (s *Sandbox) serveUpload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	s.mu.Lock()
	us := s.sessions[id]
	s.mu.Unlock()
	if us == nil || r.URL.Query().Get("authtoken") != us.token {
		graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The upload session was not found or has expired.")
		return
	}
	if r.Method == http.MethodDelete {
		s.mu.Lock()
		delete(s.sessions, id)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPut {
		badRequest(w, "BadRequest", "Unsupported method.")
		return
	}
	m := rangeRE.FindStringSubmatch(r.Header.Get("Content-Range"))
	if m == nil {
		badRequest(w, "ErrorInvalidContentRange", "The Content-Range header is missing or malformed.")
		return
	}
	from, _ := strconv.ParseInt(m[1], 10, 64)
	to, _ := strconv.ParseInt(m[2], 10, 64)
	total, _ := strconv.ParseInt(m[3], 10, 64)
	if total != us.size || to < from || to >= total {
		badRequest(w, "ErrorInvalidContentRange", "The Content-Range does not match the upload session.")
		return
	}
	release, ok := s.admit(w, us.userID, to-from+1)
	if !ok {
		return
	}
	defer release()
	body, err := readBody(r, to-from+2)
	if err != nil || int64(len(body)) != to-from+1 {
		badRequest(w, "ErrorInvalidContentRange", "The body length does not match the Content-Range.")
		return
	}
	s.mu.Lock()
	if from != int64(len(us.data)) {
		next := len(us.data)
		s.mu.Unlock()
		graphError(w, http.StatusRequestedRangeNotSatisfiable, "ErrorInvalidContentRange",
			fmt.Sprintf("The uploaded fragment does not start at the next expected byte %d.", next))
		return
	}
	us.data = append(us.data, body...)
	if int64(len(us.data)) < us.size {
		next := len(us.data)
		s.mu.Unlock()
		graphJSON(w, http.StatusOK, map[string]any{
			"@odata.context":     s.baseURL + "/v1.0/$metadata#microsoft.graph.uploadSession",
			"expirationDateTime": us.expires.Format(time.RFC3339Nano),
			"nextExpectedRanges": []string{strconv.Itoa(next) + "-"},
		})
		return
	}
	delete(s.sessions, id)
	u := s.users[us.userID]
	var msg *message
	if u != nil {
		msg = u.messages[us.msgID]
	}
	if msg == nil {
		s.mu.Unlock()
		notFoundItem(w)
		return
	}
	us.a.data, us.a.modified = us.data, time.Now().UTC()
	s.mu.Unlock()
	j, status := s.addAttachment(u, msg, us.a)
	switch status {
	case http.StatusNotFound:
		notFoundItem(w)
		return
	case http.StatusRequestEntityTooLarge:
		graphError(w, status, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")
		return
	}
	w.Header().Set("Location", s.baseURL+"/v1.0/users('"+us.userID+"')/messages('"+us.msgID+"')/attachments('"+j["id"].(string)+"')")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}
