package google

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// upload is a resumable upload session.
type upload struct {
	id      string
	user    *user
	opts    storeOpts
	meta    messageMeta
	data    []byte
	total   int64 // -1 until the client says
	created time.Time
}

// gmailUpload serves the media upload paths of import, insert and send:
// uploadType=media (the message alone), multipart (JSON metadata and the
// message in multipart/related) and resumable (a session, then chunks),
// which is what google.golang.org/api uses for messages larger than its
// chunk size (16 MB by default).
func (s *Sandbox) gmailUpload(c *call, u *user, rest []string) {
	var kind string
	switch {
	case len(rest) == 1 && rest[0] == "messages":
		kind = "insert"
	case len(rest) == 2 && rest[0] == "messages" && (rest[1] == "import" || rest[1] == "send"):
		kind = rest[1]
	case len(rest) == 1 && rest[0] == "drafts":
		kind = "draft"
	default:
		googleError(c.w, http.StatusNotFound, "notFound", "Not Found")
		return
	}
	if id := c.q.Get("upload_id"); id != "" {
		s.uploadChunk(c, u, id)
		return
	}
	if c.r.Method != http.MethodPost {
		methodNotAllowed(c.w)
		return
	}
	method, cost, scopes := "gmail.users.messages."+kind, gmailCost["messages."+kind], gmailInsert
	switch kind {
	case "send":
		scopes = gmailSend
	case "draft":
		method, cost, scopes = "gmail.users.drafts.create", gmailCost["drafts.create"], gmailDraft
	}
	if !c.admit(method, cost, scopes...) {
		return
	}
	ut := c.q.Get("uploadType")
	if strings.HasPrefix(c.r.URL.Path, "/resumable/") {
		ut = "resumable"
	}
	o := c.storeOpts(kind)
	switch ut {
	case "media":
		raw, ok := c.body(s.cfg.MaxMessageBytes)
		if ok {
			s.storeMessage(c, u, raw, o)
		}
	case "multipart":
		meta, raw, ok := s.readMultipart(c)
		if ok {
			o.labelIDs, o.threadID = meta.LabelIDs, meta.ThreadID
			s.storeMessage(c, u, raw, o)
		}
	case "resumable":
		s.startResumable(c, u, o)
	default:
		invalidArgument(c.w, "Upload requests must include an uploadType URL parameter and a URL path beginning with /upload/")
	}
}

func (s *Sandbox) readMultipart(c *call) (messageMeta, []byte, bool) {
	var meta messageMeta
	mt, params, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["boundary"] == "" {
		badRequest(c.w, "Bad content type. Please use multipart.")
		return meta, nil, false
	}
	mr := multipart.NewReader(io.LimitReader(c.r.Body, s.cfg.MaxMessageBytes+1<<20), params["boundary"])
	first, err := mr.NextPart()
	if err != nil {
		badRequest(c.w, "Invalid multipart request with 0 mime parts.")
		return meta, nil, false
	}
	mb, err := io.ReadAll(io.LimitReader(first, 1<<20))
	if err != nil {
		badRequest(c.w, "The request body could not be read.")
		return meta, nil, false
	}
	if len(strings.TrimSpace(string(mb))) > 0 {
		if err := json.Unmarshal(mb, &meta); err != nil {
			badRequest(c.w, "Invalid JSON payload received. "+jsonProblem(err))
			return meta, nil, false
		}
	}
	media, err := mr.NextPart()
	if err != nil {
		badRequest(c.w, "Invalid multipart request with 1 mime parts.")
		return meta, nil, false
	}
	raw, err := io.ReadAll(io.LimitReader(media, s.cfg.MaxMessageBytes+1))
	if err != nil {
		badRequest(c.w, "The request body could not be read.")
		return meta, nil, false
	}
	return meta, raw, true
}

func (s *Sandbox) startResumable(c *call, u *user, o storeOpts) {
	if n, err := strconv.ParseInt(c.r.Header.Get("X-Upload-Content-Length"), 10, 64); err == nil && n > s.cfg.MaxMessageBytes {
		writeErr(c.w, apiErr{code: http.StatusRequestEntityTooLarge, reason: "uploadTooLarge",
			msg: "Request payload size exceeds the limit: " + strconv.FormatInt(s.cfg.MaxMessageBytes, 10) + " bytes."})
		return
	}
	var meta messageMeta
	if !c.decode(&meta) {
		return
	}
	o.labelIDs, o.threadID = meta.LabelIDs, meta.ThreadID
	up := &upload{id: "AEnB2U" + randomHex(24), user: u, opts: o, meta: meta, total: -1, created: time.Now()}
	if n, err := strconv.ParseInt(c.r.Header.Get("X-Upload-Content-Length"), 10, 64); err == nil {
		up.total = n
	}
	s.mu.Lock()
	for id, old := range s.uploads {
		if time.Since(old.created) > 24*time.Hour { // abandoned sessions expire, as Google's do after a week
			delete(s.uploads, id)
		}
	}
	s.uploads[up.id] = up
	s.mu.Unlock()
	q := url.Values{}
	for k, v := range c.q {
		if k != "upload_id" {
			q[k] = v
		}
	}
	q.Set("uploadType", "resumable")
	q.Set("upload_id", up.id)
	path := strings.TrimPrefix(c.r.URL.Path, "/resumable")
	c.w.Header().Set("Location", s.baseURL+path+"?"+q.Encode())
	c.w.Header().Set("X-GUploader-UploadID", up.id)
	c.w.WriteHeader(http.StatusOK)
}

// parseContentRange reads "bytes a-b/total", "bytes a-b/*" and
// "bytes */total"; first is -1 when the request carries no data.
func parseContentRange(v string) (first, last, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	total = -1
	if tot != "*" {
		n, err := strconv.ParseInt(tot, 10, 64)
		if err != nil {
			return 0, 0, 0, false
		}
		total = n
	}
	if rng == "*" {
		return -1, -1, total, true
	}
	a, b, found := strings.Cut(rng, "-")
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	if !found || err1 != nil || err2 != nil || y < x {
		return 0, 0, 0, false
	}
	return x, y, total, true
}

func (s *Sandbox) uploadChunk(c *call, u *user, id string) {
	s.mu.Lock()
	up := s.uploads[id]
	s.mu.Unlock()
	if up == nil || up.user != u {
		googleError(c.w, http.StatusNotFound, "notFound", "Not Found")
		return
	}
	first, last, total, ok := parseContentRange(c.r.Header.Get("Content-Range"))
	if !ok {
		badRequest(c.w, "Failed to parse Content-Range header.")
		return
	}
	var chunk []byte
	if first >= 0 {
		if chunk, ok = c.body(last - first + 1); !ok {
			return
		}
	}
	s.mu.Lock()
	have := int64(len(up.data))
	switch {
	case first > have:
		s.mu.Unlock()
		s.incomplete(c, have)
		return
	case first >= 0 && first+int64(len(chunk)) > have:
		// A chunk resent after a lost answer overlaps what arrived.
		up.data = append(up.data, chunk[have-first:]...)
	}
	if total >= 0 {
		up.total = total
	}
	have = int64(len(up.data))
	done := up.total >= 0 && have >= up.total
	if done {
		delete(s.uploads, id)
	}
	s.mu.Unlock()
	if have > s.cfg.MaxMessageBytes {
		s.mu.Lock()
		delete(s.uploads, id)
		s.mu.Unlock()
		writeErr(c.w, apiErr{code: http.StatusRequestEntityTooLarge, reason: "uploadTooLarge",
			msg: "Request payload size exceeds the limit: " + strconv.FormatInt(s.cfg.MaxMessageBytes, 10) + " bytes."})
		return
	}
	if !done {
		s.incomplete(c, have)
		return
	}
	s.storeMessage(c, u, up.data[:up.total], up.opts)
}

// incomplete answers "resume incomplete": 308, or 200 with an override
// header when the client asked for it (X-GUploader-No-308), as
// google.golang.org/api does.
func (s *Sandbox) incomplete(c *call, have int64) {
	if have > 0 {
		c.w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", have-1))
	}
	if strings.EqualFold(c.r.Header.Get("X-GUploader-No-308"), "yes") {
		c.w.Header().Set("X-Http-Status-Code-Override", "308")
		c.w.WriteHeader(http.StatusOK)
		return
	}
	c.w.WriteHeader(http.StatusPermanentRedirect)
}
