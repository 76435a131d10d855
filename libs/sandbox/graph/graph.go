package graph

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

const jsonContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// maxRequestBytes caps a request body. Graph documents 4 MB, yet takes a
// 3 MB attachment whose base64 JSON is a little larger, so the cap leaves
// room for that; bigger content goes through upload sessions.
const maxRequestBytes = 5 << 20

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// graphJSON writes a Graph success body with the OData content type.
func graphJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// graphError writes Graph's error shape, with the innerError fields
// support people ask for.
func graphError(w http.ResponseWriter, status int, code, msg string) {
	rid := newGUID()
	w.Header().Set("request-id", rid)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]any{
			"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": rid, "client-request-id": rid,
		},
	}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func notFoundItem(w http.ResponseWriter) {
	graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
}

func badRequest(w http.ResponseWriter, code, msg string) {
	graphError(w, http.StatusBadRequest, code, msg)
}

// call is one Graph request being served, top-level or inside $batch.
type call struct {
	w       http.ResponseWriter
	r       *http.Request
	p       *principal
	seg     []string
	q       url.Values
	body    []byte
	batch   bool
	latency time.Duration
	// version is "v1.0" or "beta" (the latter for the mailbox
	// import/export API only).
	version string
}

// delay spends the injected latency, unless the client gave up.
func (c *call) delay() bool {
	if c.latency <= 0 {
		return true
	}
	t := time.NewTimer(c.latency)
	defer t.Stop()
	select {
	case <-c.r.Context().Done():
		return false
	case <-t.C:
		return true
	}
}

// serveGraphTop applies injected faults, which only top-level requests
// suffer, then serves the request.
func (s *Sandbox) serveGraphTop(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f := s.faults
	s.idn++
	n := s.idn
	s.mu.Unlock()
	if f.DropEvery > 0 && n%uint64(f.DropEvery) == 0 {
		// Aborting the handler closes the connection (HTTP/1.1) or
		// resets the stream (HTTP/2) without a response, like a dropped
		// load balancer connection.
		panic(http.ErrAbortHandler)
	}
	if f.FailEvery > 0 && n%uint64(f.FailEvery) == 0 {
		w.Header().Set("Retry-After", "1")
		graphError(w, http.StatusServiceUnavailable, "serviceNotAvailable", "The service is temporarily unavailable. Please retry after some time.")
		return
	}
	s.serveGraph(w, r, false, f.Latency)
}

// serveGraph serves one request; latency is spent after the mailbox
// admitted it, so that slow responses hold their concurrency slot as
// slow Exchange responses do.
func (s *Sandbox) serveGraph(w http.ResponseWriter, r *http.Request, batch bool, latency time.Duration) {
	s.requests.Add(1)
	p, why := s.authenticate(r)
	if p == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="`+s.baseURL+`/common/oauth2/authorize", client_id="`+graphResourceID+`"`)
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", why)
		return
	}
	version, path := "v1.0", strings.TrimPrefix(r.URL.Path, "/v1.0")
	if rest, ok := strings.CutPrefix(r.URL.Path, "/beta"); ok {
		version, path = "beta", rest
	}
	seg := splitPath(path)
	if version == "beta" && !isMailboxAPI(seg) {
		badRequest(w, "BadRequest", "The sandbox serves only the mailbox import/export API under /beta.")
		return
	}
	c := &call{w: w, r: r, p: p, seg: seg, q: odataQuery(r.URL.Query()), batch: batch, latency: latency, version: version}
	if r.Body != nil && r.Method != http.MethodGet {
		b, err := readBody(r, maxRequestBytes+1)
		if err != nil {
			badRequest(w, "BadRequest", "The request body could not be read.")
			return
		}
		if len(b) > maxRequestBytes {
			graphError(w, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The maximum request length supported is 4MB; use an upload session for large attachments.")
			return
		}
		c.body = b
	}
	if len(seg) == 0 {
		graphJSON(w, http.StatusOK, map[string]any{"@odata.context": s.baseURL + "/v1.0/$metadata", "value": []any{}})
		return
	}
	// Mailbox requests spend the latency once the mailbox admitted them.
	mailbox := len(seg) >= 3 && strings.EqualFold(seg[0], "users") || strings.EqualFold(seg[0], "admin")
	if !mailbox && !c.delay() {
		return
	}
	switch strings.ToLower(seg[0]) {
	case "$batch":
		if batch {
			badRequest(w, "BadRequest", "Nested batch requests are not supported.")
			return
		}
		s.batch(c)
	case "users":
		s.routeUsers(c)
	case "admin":
		s.routeAdmin(c)
	case "subscribedskus":
		s.subscribedSkus(c)
	case "organization":
		s.organization(c)
	case "me":
		badRequest(w, "BadRequest", "/me request is only valid with delegated authentication flow.")
	default:
		badRequest(w, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg[0]))
	}
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		// OData functions may be called with empty parentheses, as the
		// SDK's delta() does.
		s = strings.TrimSuffix(s, "()")
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// odataQuery accepts system query options with or without "$", as v1.0
// does, and keys them with "$".
func odataQuery(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		switch strings.ToLower(strings.TrimPrefix(k, "$")) {
		case "select", "top", "skip", "filter", "expand", "orderby", "count", "skiptoken", "deltatoken", "search":
			out["$"+strings.ToLower(strings.TrimPrefix(k, "$"))] = v
		default:
			out[k] = v
		}
	}
	return out
}

// forbidden answers a missing application role the way the owning
// workload does: Exchange for mail, the directory for users.
func forbiddenMail(w http.ResponseWriter) {
	graphError(w, http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
}

func forbiddenDirectory(w http.ResponseWriter) {
	graphError(w, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
}

// pageLink is the nextLink of a paged collection: the request's query
// with the page size made explicit and the position of the next page.
func (s *Sandbox) pageLink(c *call, top int, key, value string) string {
	return s.link(c, "$top", strconv.Itoa(top), key, value)
}

// link is the request's own URL with some query parameters set (name,
// value pairs), for the links Graph puts in its answers.
func (s *Sandbox) link(c *call, set ...string) string {
	q := url.Values{}
	for k, v := range c.q {
		q[k] = v
	}
	for i := 0; i+1 < len(set); i += 2 {
		q.Set(set[i], set[i+1])
	}
	return s.baseURL + "/v1.0" + c.r.URL.Path[strings.Index(c.r.URL.Path, "/v1.0")+5:] + "?" + encodeQuery(q)
}

// encodeQuery keeps "$" readable in links, as Graph's own links do.
func encodeQuery(q url.Values) string {
	return strings.ReplaceAll(q.Encode(), "%24", "$")
}

// topOf reads $top with a default and a maximum; ok is false when the
// value is not acceptable (the caller answers 400).
func topOf(q url.Values, def, maxTop int) (int, bool) {
	v := q.Get("$top")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	if n > maxTop {
		return maxTop, true
	}
	return n, true
}

// preferMaxPageSize reads Prefer: odata.maxpagesize=N.
func preferMaxPageSize(r *http.Request) int {
	for _, h := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(h, ",") {
			part = strings.TrimSpace(part)
			if v, ok := strings.CutPrefix(strings.ToLower(part), "odata.maxpagesize="); ok {
				if n, err := strconv.Atoi(v); err == nil && n > 0 {
					return n
				}
			}
		}
	}
	return 0
}

func preferTextBody(r *http.Request) bool {
	for _, h := range r.Header.Values("Prefer") {
		if strings.Contains(strings.ToLower(h), `outlook.body-content-type="text"`) {
			return true
		}
	}
	return false
}

// selectOf parses $select; nil means the default set.
func selectOf(q url.Values) []string {
	v := q.Get("$select")
	if v == "" {
		return nil
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// project keeps the selected properties (case-insensitively, as Graph
// matches them) and the annotations.
func project(full map[string]any, sel []string) map[string]any {
	if sel == nil {
		return full
	}
	out := map[string]any{}
	for k, v := range full {
		if strings.HasPrefix(k, "@") || k == "id" {
			out[k] = v
		}
	}
	for _, f := range sel {
		for k, v := range full {
			if strings.EqualFold(k, f) {
				out[k] = v
			}
		}
	}
	return out
}

func checkSelect(w http.ResponseWriter, sel []string, known map[string]bool, typ string) bool {
	for _, f := range sel {
		if f == "*" {
			continue
		}
		if !known[strings.ToLower(f)] {
			badRequest(w, "RequestBroker--ParseUri", fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", f, typ))
			return false
		}
	}
	return true
}

func lowerSet(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[strings.ToLower(n)] = true
	}
	return m
}

func gtime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func decodeJSON(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	return d.Decode(v)
}

// readBody reads up to limit bytes of a request body, gunzipping it when
// the client compressed it (the SDKs' compression handler does).
func readBody(r *http.Request, limit int64) ([]byte, error) {
	var in io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		z, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		defer z.Close()
		in = z
	}
	return io.ReadAll(io.LimitReader(in, limit))
}

// listQuery is the OData query of a collection request.
type listQuery struct {
	sel       []string
	exp       *expandOpt
	top, skip int
	flt       *filterExpr
}

// parseListQuery reads $select, $expand, $top (or Prefer:
// odata.maxpagesize), $skip and $filter of a collection request, and
// answers 400 as Graph does when one is invalid. Only messages expand
// attachments.
func parseListQuery(c *call, props map[string]bool, entity string, attachments bool) (listQuery, bool) {
	var q listQuery
	q.sel = selectOf(c.q)
	if !checkSelect(c.w, q.sel, props, entity) {
		return q, false
	}
	var err error
	q.exp, err = parseExpand(c.q.Get("$expand"))
	switch {
	case err != nil && attachments:
		badRequest(c.w, "BadRequest", "Parsing OData Select and Expand failed: "+err.Error())
		return q, false
	case err != nil || q.exp != nil && q.exp.attachments && !attachments:
		badRequest(c.w, "BadRequest", "Parsing OData Select and Expand failed.")
		return q, false
	}
	var ok bool
	if q.skip, q.top, ok = pageParams(c); !ok {
		return q, false
	}
	if v := c.q.Get("$filter"); v != "" {
		if q.flt, err = parseFilter(v); err != nil {
			badRequest(c.w, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
			return q, false
		}
	}
	return q, true
}

// pageParams reads $skip and $top (default 10, at most 1000), or Prefer:
// odata.maxpagesize when $top is absent, and answers 400 as Graph does
// when $top is invalid.
func pageParams(c *call) (skip, top int, ok bool) {
	if top, ok = topOf(c.q, 10, 1000); !ok {
		badRequest(c.w, "ErrorInvalidUrlQuery", "The value of $top is not valid.")
		return 0, 0, false
	}
	if n := preferMaxPageSize(c.r); n > 0 && c.q.Get("$top") == "" {
		top = min(n, 1000)
	}
	skip, _ = strconv.Atoi(c.q.Get("$skip"))
	return max(skip, 0), top, true
}

// servePage answers one page of a collection: mail folders, messages,
// calendars, events, instances, contact folders, contacts. list runs with
// s.mu held and returns the whole collection in its order, filtered; take
// copies (or, for entities as cheap to render as to copy, renders) each
// entity of the page, still under the lock; render finishes each one
// after the lock is released, which is where a message's MIME is rendered
// and parsed. The answer carries @odata.count when asked for and an
// @odata.nextLink while entities follow the page.
func servePage[T, R any](s *Sandbox, c *call, context string, skip, top int, list func() []T, take func(T) R, render func(R) map[string]any) {
	s.mu.Lock()
	all := list()
	start, end := min(skip, len(all)), min(skip+top, len(all))
	page := make([]R, 0, end-start)
	for _, x := range all[start:end] {
		page = append(page, take(x))
	}
	s.mu.Unlock()
	out := make([]map[string]any, 0, len(page))
	for _, x := range page {
		out = append(out, render(x))
	}
	resp := map[string]any{"@odata.context": context, "value": out}
	if c.q.Get("$count") == "true" {
		resp["@odata.count"] = len(all)
	}
	if end < len(all) {
		resp["@odata.nextLink"] = s.pageLink(c, top, "$skip", strconv.Itoa(end))
	}
	graphJSON(c.w, http.StatusOK, resp)
}

// serveEntity answers a GET of one entity that render renders with s.mu
// held (folders and calendars, cheap to render).
func (s *Sandbox) serveEntity(c *call, context string, render func() map[string]any) {
	s.mu.Lock()
	j := render()
	s.mu.Unlock()
	j["@odata.context"] = context
	graphJSON(c.w, http.StatusOK, j)
}

// newestFirst orders events or contacts newest first by creation, then
// by id: Graph documents no order for them, and this one is stable and
// close to what Exchange returns.
func newestFirst[T any](l []T, key func(T) (created time.Time, id string)) {
	slices.SortFunc(l, func(a, b T) int {
		ca, ia := key(a)
		cb, ib := key(b)
		if c := cb.Compare(ca); c != 0 {
			return c
		}
		return strings.Compare(ia, ib)
	})
}

// rendered is servePage's render for entities take already rendered.
func rendered(j map[string]any) map[string]any { return j }
