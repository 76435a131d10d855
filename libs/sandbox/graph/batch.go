package graph

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

const maxBatch = 20

type batchItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

// batch serves JSON batching. Each sub-request is authorised and
// throttled on its own, so a batch of many requests for one mailbox meets
// the same concurrency and rate limits as separate requests would;
// without dependsOn they run in parallel, as Graph runs them.
func (s *Sandbox) batch(c *call) {
	if c.r.Method != http.MethodPost {
		badRequest(c.w, "BadRequest", "Unsupported method.")
		return
	}
	var in struct {
		Requests []batchItem `json:"requests"`
	}
	if err := json.Unmarshal(c.body, &in); err != nil || in.Requests == nil {
		badRequest(c.w, "BadRequest", "Invalid batch payload format.")
		return
	}
	if len(in.Requests) > maxBatch {
		badRequest(c.w, "BadRequest", "Exceeded maximum number of requests in a batch: the limit is 20.")
		return
	}
	ids := map[string]int{}
	ordered := false
	for i, it := range in.Requests {
		if it.ID == "" || it.Method == "" || it.URL == "" {
			badRequest(c.w, "BadRequest", "Each batch request needs an id, a method and a url.")
			return
		}
		if _, dup := ids[it.ID]; dup {
			badRequest(c.w, "BadRequest", "Batch request ids must be unique.")
			return
		}
		for _, d := range it.DependsOn {
			if _, ok := ids[d]; !ok {
				badRequest(c.w, "BadRequest", "A dependsOn id must name an earlier request in the batch.")
				return
			}
			ordered = true
		}
		ids[it.ID] = i
	}
	out := make([]map[string]any, len(in.Requests))
	status := make([]int, len(in.Requests))
	if !ordered {
		var wg sync.WaitGroup
		for i := range in.Requests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i], status[i] = s.batchOne(c, in.Requests[i])
			}()
		}
		wg.Wait()
	} else {
		for i, it := range in.Requests {
			failed := false
			for _, d := range it.DependsOn {
				if status[ids[d]] >= 400 {
					failed = true
				}
			}
			if failed {
				status[i] = http.StatusFailedDependency
				out[i] = map[string]any{"id": it.ID, "status": http.StatusFailedDependency,
					"headers": map[string]string{"Content-Type": "application/json"},
					"body":    map[string]any{"error": map[string]any{"code": "FailedDependency", "message": "A request this one depends on failed."}}}
				continue
			}
			out[i], status[i] = s.batchOne(c, it)
		}
	}
	graphJSON(c.w, http.StatusOK, map[string]any{"responses": out})
}

func (s *Sandbox) batchOne(c *call, it batchItem) (map[string]any, int) {
	u := it.URL
	if !strings.HasPrefix(u, "/") {
		u = "/" + u
	}
	var body []byte
	ctype := ""
	for k, v := range it.Headers {
		if strings.EqualFold(k, "Content-Type") {
			ctype = v
		}
	}
	if len(it.Body) > 0 && string(it.Body) != "null" {
		var str string
		if json.Unmarshal(it.Body, &str) == nil && !strings.Contains(strings.ToLower(ctype), "json") {
			// Non-JSON bodies travel base64-encoded.
			b, err := base64.StdEncoding.DecodeString(str)
			if err != nil {
				b = []byte(str)
			}
			body = b
		} else {
			body = it.Body
			if ctype == "" {
				ctype = "application/json"
			}
		}
	}
	req, err := http.NewRequestWithContext(c.r.Context(), strings.ToUpper(it.Method), s.baseURL+"/v1.0"+u, bytes.NewReader(body))
	if err != nil {
		return map[string]any{"id": it.ID, "status": http.StatusBadRequest, "headers": map[string]string{"Content-Type": "application/json"},
			"body": map[string]any{"error": map[string]any{"code": "BadRequest", "message": "Invalid request URL."}}}, http.StatusBadRequest
	}
	for k, v := range it.Headers {
		req.Header.Set(k, v)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", c.r.Header.Get("Authorization"))
	rec := httptest.NewRecorder()
	s.serveGraph(rec, req, true, 0)
	res := rec.Result()
	hdr := map[string]string{}
	for k, v := range res.Header {
		if k == "Content-Length" {
			continue
		}
		hdr[k] = strings.Join(v, ",")
	}
	item := map[string]any{"id": it.ID, "status": res.StatusCode, "headers": hdr}
	b := rec.Body.Bytes()
	if len(b) > 0 {
		if strings.Contains(strings.ToLower(res.Header.Get("Content-Type")), "json") {
			item["body"] = json.RawMessage(b)
		} else {
			item["body"] = base64.StdEncoding.EncodeToString(b)
		}
	}
	return item, res.StatusCode
}
