package google

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// errItem is one entry of the "errors" list every Google JSON API error
// carries next to code, message and status.
type errItem struct {
	Message      string `json:"message"`
	Domain       string `json:"domain"`
	Reason       string `json:"reason"`
	Location     string `json:"location,omitempty"`
	LocationType string `json:"locationType,omitempty"`
}

// apiErr is an error answer in Google's JSON shape
// ({"error":{"code","message","errors":[...],"status","details"}}).
type apiErr struct {
	code                   int
	reason, domain, msg    string
	itemMsg                string // the errors[0] message when it differs from msg
	location, locationType string
	status                 string // the google.rpc status; derived from code when empty
	details                []any
}

var rpcStatus = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	409: "ABORTED", 412: "FAILED_PRECONDITION", 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED",
	500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE",
}

func writeErr(w http.ResponseWriter, e apiErr) {
	if e.domain == "" {
		e.domain = "global"
	}
	status := e.status
	if status == "" {
		status = rpcStatus[e.code]
	}
	body := map[string]any{
		"code":    e.code,
		"message": e.msg,
		"errors":  []errItem{{Message: cmp.Or(e.itemMsg, e.msg), Domain: e.domain, Reason: e.reason, Location: e.location, LocationType: e.locationType}},
	}
	if status != "" {
		body["status"] = status
	}
	if len(e.details) > 0 {
		body["details"] = e.details
	}
	writeJSON(w, e.code, map[string]any{"error": body})
}

// googleError writes the common case: domain "global", one reason.
func googleError(w http.ResponseWriter, code int, reason, msg string) {
	writeErr(w, apiErr{code: code, reason: reason, msg: msg})
}

func notFound(w http.ResponseWriter) {
	googleError(w, http.StatusNotFound, "notFound", "Requested entity was not found.")
}

func badRequest(w http.ResponseWriter, msg string) {
	googleError(w, http.StatusBadRequest, "badRequest", msg)
}

func invalidArgument(w http.ResponseWriter, msg string) {
	googleError(w, http.StatusBadRequest, "invalidArgument", msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Vary", "Origin, X-Origin, Referer")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// fieldTree is a parsed "fields" parameter (partial response): nil
// children mean the whole value.
type fieldTree map[string]fieldTree

// parseFields reads the partial-response syntax: "a,b/c,d(e,f/g)".
func parseFields(s string) (fieldTree, bool) {
	t := fieldTree{}
	for _, item := range splitTop(s) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var sub fieldTree
		if i := strings.IndexByte(item, '('); i >= 0 {
			if !strings.HasSuffix(item, ")") {
				return nil, false
			}
			var ok bool
			if sub, ok = parseFields(item[i+1 : len(item)-1]); !ok {
				return nil, false
			}
			item = item[:i]
		}
		parts := strings.Split(item, "/")
		if slices.Contains(parts, "") {
			return nil, false
		}
		node := t
		for _, p := range parts[:len(parts)-1] {
			child, seen := node[p]
			if seen && child == nil { // the whole value is already selected
				node = nil
				break
			}
			if !seen {
				child = fieldTree{}
				node[p] = child
			}
			node = child
		}
		if node == nil {
			continue
		}
		last := parts[len(parts)-1]
		switch existing, seen := node[last]; {
		case !seen:
			node[last] = sub
		case existing == nil:
		case sub == nil:
			node[last] = nil
		default:
			for k, v := range sub {
				existing[k] = v
			}
		}
	}
	return t, true
}

func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// filterFields keeps what the tree selects of a decoded JSON value.
func filterFields(v any, t fieldTree) any {
	if t == nil {
		return v
	}
	if _, all := t["*"]; all && len(t) == 1 {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, sub := range t {
			if k == "*" {
				for kk, vv := range x {
					if _, ok := out[kk]; !ok {
						out[kk] = vv
					}
				}
				continue
			}
			if val, ok := x[k]; ok {
				out[k] = filterFields(val, sub)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = filterFields(e, t)
		}
		return out
	}
	return v
}
