package google

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
)

// maxBatch is Gmail's limit of calls in one batch request.
const maxBatch = 100

// partWriter collects one batch part's answer.
type partWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (p *partWriter) Header() http.Header { return p.header }
func (p *partWriter) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return p.body.Write(b)
}
func (p *partWriter) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}

type batchPart struct {
	contentID string
	req       *http.Request
	bad       string // why the part could not be read
}

// serveBatch serves Gmail's batch endpoint (/batch/gmail/v1): a
// multipart/mixed body of application/http parts, each an ordinary
// request that inherits the outer headers, answered as a multipart/mixed
// body of HTTP responses in the same order. Parts run concurrently, as
// Google runs them, so each one is authenticated, charged to the quota
// and subject to the concurrency limit on its own.
func (s *Sandbox) serveBatch(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f := s.faults
	s.reqN++
	n := s.reqN
	s.mu.Unlock()
	if f.DropEvery > 0 && n%uint64(f.DropEvery) == 0 {
		panic(http.ErrAbortHandler)
	}
	if f.FailEvery > 0 && n%uint64(f.FailEvery) == 0 {
		writeErr(w, apiErr{code: 503, reason: "backendError", msg: "The service is currently unavailable."})
		return
	}
	if r.Method != http.MethodPost {
		methodNotAllowed(w)
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		badRequest(w, "Batch requests must be multipart/mixed.")
		return
	}
	var parts []batchPart
	mr := multipart.NewReader(io.LimitReader(r.Body, maxJSONBytes), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			badRequest(w, "Failed to parse batch request.")
			return
		}
		parts = append(parts, readBatchPart(r, p))
		if len(parts) > maxBatch {
			for {
				if _, err := mr.NextPart(); err != nil {
					break
				}
				parts = append(parts, batchPart{})
			}
			badRequest(w, fmt.Sprintf("Inner request count exceeds the limit. Received: %d, Limit: %d", len(parts), maxBatch))
			return
		}
	}
	answers := make([]*partWriter, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		answers[i] = &partWriter{header: http.Header{}}
		if p.bad != "" {
			badRequest(answers[i], p.bad)
			continue
		}
		wg.Go(func() {
			s.serveCall(answers[i], p.req, apiGmail, true, f.Latency)
		})
	}
	wg.Wait()
	var out bytes.Buffer
	mw := multipart.NewWriter(&out)
	_ = mw.SetBoundary("batch_" + randomHex(12))
	for i, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/http")
		if p.contentID != "" {
			h.Set("Content-ID", "<response-"+strings.Trim(p.contentID, "<>")+">")
		}
		pw, _ := mw.CreatePart(h)
		a := answers[i]
		if a.status == 0 {
			a.status = http.StatusOK
		}
		fmt.Fprintf(pw, "HTTP/1.1 %d %s\r\n", a.status, http.StatusText(a.status))
		_ = a.header.Write(pw)
		fmt.Fprintf(pw, "\r\n")
		_, _ = pw.Write(a.body.Bytes())
	}
	_ = mw.Close()
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out.Bytes())
}

// readBatchPart parses an application/http part into a request that
// carries the outer request's headers unless it sets them itself.
func readBatchPart(outer *http.Request, p *multipart.Part) batchPart {
	bp := batchPart{contentID: p.Header.Get("Content-ID")}
	raw, err := io.ReadAll(p)
	if err != nil {
		bp.bad = "Failed to read a batch part."
		return bp
	}
	// The request line may omit the protocol version.
	line, rest, _ := bytes.Cut(raw, []byte("\n"))
	line = bytes.Clone(bytes.TrimRight(line, "\r")) // appended to below: must not share raw
	if fields := strings.Fields(string(line)); len(fields) == 2 {
		line = append(line, " HTTP/1.1"...)
	}
	req, err := http.ReadRequest(bufio.NewReader(io.MultiReader(bytes.NewReader(line), strings.NewReader("\r\n"), bytes.NewReader(rest))))
	if err != nil {
		bp.bad = "Failed to parse a batch part's request."
		return bp
	}
	body, _ := io.ReadAll(req.Body)
	if req.ContentLength <= 0 {
		// Without Content-Length the body is whatever follows the headers.
		for _, sep := range []string{"\r\n\r\n", "\n\n"} {
			if _, after, ok := bytes.Cut(rest, []byte(sep)); ok {
				body = bytes.TrimRight(after, "\r\n")
				break
			}
		}
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	for k, v := range outer.Header {
		if k == "Content-Type" || k == "Content-Length" {
			continue
		}
		if _, set := req.Header[k]; !set {
			req.Header[k] = v
		}
	}
	req = req.WithContext(outer.Context())
	req.RemoteAddr = outer.RemoteAddr
	switch path := req.URL.Path; {
	case strings.HasPrefix(path, "/batch"):
		bp.bad = "Nested batch requests are not allowed."
	case strings.HasPrefix(path, "/upload/"), strings.HasPrefix(path, "/resumable/"):
		bp.bad = "Media uploads are not allowed in batch requests."
	case !strings.HasPrefix(path, "/gmail/v1/"):
		bp.bad = "The batch endpoint of Gmail serves only Gmail requests."
	}
	bp.req = req
	return bp
}
