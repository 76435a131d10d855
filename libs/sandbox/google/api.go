package google

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// call is one API request on its way through authentication, scopes and
// quota to a handler.
type call struct {
	s       *Sandbox
	w       http.ResponseWriter
	r       *http.Request
	g       *grant
	api     apiKind
	q       url.Values
	fields  fieldTree
	latency time.Duration
	batch   bool

	userKey  string
	inflight bool
}

// serveAPI injects the configured faults, then serves the request.
func (s *Sandbox) serveAPI(w http.ResponseWriter, r *http.Request, a apiKind) {
	s.mu.Lock()
	f := s.faults
	s.reqN++
	n := s.reqN
	s.mu.Unlock()
	if f.DropEvery > 0 && n%uint64(f.DropEvery) == 0 {
		// Aborting the handler closes the connection without a response,
		// like a load balancer dropping it.
		panic(http.ErrAbortHandler)
	}
	if f.FailEvery > 0 && n%uint64(f.FailEvery) == 0 {
		if f.FailStatus == http.StatusInternalServerError {
			writeErr(w, apiErr{code: 500, reason: "backendError", msg: "Internal error encountered."})
		} else {
			writeErr(w, apiErr{code: 503, reason: "backendError", msg: "The service is currently unavailable."})
		}
		return
	}
	s.serveCall(w, r, a, false, f.Latency)
}

func (s *Sandbox) serveCall(w http.ResponseWriter, r *http.Request, a apiKind, batch bool, latency time.Duration) {
	s.requests.Add(1)
	g := s.authenticate(w, r)
	if g == nil {
		return
	}
	c := &call{s: s, w: w, r: r, g: g, api: a, q: r.URL.Query(), latency: latency, batch: batch}
	if f := c.q.Get("fields"); f != "" {
		t, ok := parseFields(f)
		if !ok {
			writeErr(w, apiErr{code: 400, reason: "invalidParameter", location: "fields", locationType: "parameter",
				msg: "Invalid field selection " + f})
			return
		}
		c.fields = t
	}
	defer c.finish()
	switch a {
	case apiGmail:
		s.routeGmail(c)
	case apiCalendar:
		s.routeCalendar(c)
	case apiPeople:
		s.routePeople(c)
	case apiDirectory:
		s.routeDirectory(c)
	}
}

// hasScope reports whether the token carries any of the scopes.
func (c *call) hasScope(scopes ...string) bool {
	return slices.ContainsFunc(scopes, func(sc string) bool { return c.g.scopes[sc] })
}

// admit checks the token's scopes and charges the quota; it has answered
// when it returns false. Latency is spent after admission, so that slow
// answers hold their concurrency slot as slow Google answers do.
func (c *call) admit(method string, cost int, scopes ...string) bool {
	if !c.hasScope(scopes...) {
		writeErr(c.w, apiErr{code: 403, reason: "insufficientPermissions", itemMsg: "Insufficient Permission",
			msg: "Request had insufficient authentication scopes.",
			details: []any{map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
				"reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com",
				"metadata": map[string]string{"service": c.api.service(), "method": method}}}})
		return false
	}
	c.userKey = c.g.account
	if c.g.subject != nil {
		c.userKey = c.g.subject.email
	}
	c.s.mu.Lock()
	l := c.s.limits
	c.s.mu.Unlock()
	why, _ := c.s.quota.take(l, c.api, c.userKey, cost, time.Now())
	if why != admitted {
		c.s.refuse(c.w, c.api, why, l)
		return false
	}
	c.inflight = c.api == apiGmail
	if c.latency > 0 {
		t := time.NewTimer(c.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.r.Context().Done():
			return false
		}
	}
	return true
}

func (c *call) finish() {
	if c.inflight {
		c.s.quota.release(c.userKey)
	}
}

// ok answers 200 with v, reduced to the requested fields.
func (c *call) ok(v any) { c.reply(http.StatusOK, v) }

func (c *call) reply(status int, v any) {
	if c.fields == nil {
		writeJSON(c.w, status, v)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		writeJSON(c.w, http.StatusInternalServerError, nil)
		return
	}
	var generic any
	_ = json.Unmarshal(b, &generic)
	writeJSON(c.w, status, filterFields(generic, c.fields))
}

func (c *call) noContent() { c.w.WriteHeader(http.StatusNoContent) }

// maxJSONBytes caps a JSON request body; a Gmail message sent as base64
// "raw" inside JSON is a third larger than the message.
const maxJSONBytes = 210 << 20

// body reads the request body, gunzipping it when the client compressed
// it; ok is false (and the answer written) when it cannot be read.
func (c *call) body(limit int64) ([]byte, bool) {
	var in io.Reader = c.r.Body
	if c.r.Body == nil {
		return nil, true
	}
	if strings.EqualFold(c.r.Header.Get("Content-Encoding"), "gzip") {
		z, err := gzip.NewReader(c.r.Body)
		if err != nil {
			badRequest(c.w, "The request body could not be decompressed.")
			return nil, false
		}
		defer z.Close()
		in = z
	}
	b, err := io.ReadAll(io.LimitReader(in, limit+1))
	if err != nil {
		badRequest(c.w, "The request body could not be read.")
		return nil, false
	}
	if int64(len(b)) > limit {
		writeErr(c.w, apiErr{code: http.StatusRequestEntityTooLarge, reason: "uploadTooLarge",
			msg: fmt.Sprintf("Request payload size exceeds the limit: %d bytes.", limit)})
		return nil, false
	}
	return b, true
}

// decode reads a JSON body into v.
func (c *call) decode(v any) bool {
	b, ok := c.body(maxJSONBytes)
	if !ok {
		return false
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	if err := json.Unmarshal(b, v); err != nil {
		badRequest(c.w, "Invalid JSON payload received. "+jsonProblem(err))
		return false
	}
	return true
}

func jsonProblem(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "json") {
		msg = msg[i+2:]
	}
	return msg
}

// intParam reads an integer query parameter with a default; ok is false
// (and 400 answered) when it is not a number or outside [lo, hi].
func (c *call) intParam(name string, def, lo, hi int) (int, bool) {
	v := c.q.Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || (hi > 0 && n > hi) {
		writeErr(c.w, apiErr{code: 400, reason: "invalid", location: name, locationType: "parameter",
			msg: fmt.Sprintf("Invalid value '%s'. Values must be within the range: [%d, %d]", v, lo, hi)})
		return 0, false
	}
	return n, true
}

func (c *call) boolParam(name string) bool {
	v, _ := strconv.ParseBool(c.q.Get(name))
	return v
}

// segments splits the path below prefix.
func segments(path, prefix string) []string {
	rest := strings.TrimPrefix(path, prefix)
	var out []string
	for _, p := range strings.Split(rest, "/") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func methodNotAllowed(w http.ResponseWriter) {
	googleError(w, http.StatusMethodNotAllowed, "httpMethodNotAllowed", "HTTP method not allowed.")
}

func rfc3339ms(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
