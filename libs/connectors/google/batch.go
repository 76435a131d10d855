package google

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"

	"github.com/mailferry/mailferry/libs/errs"
)

// Gmail's batch endpoint (developers.google.com/gmail/api/guides/batch)
// takes up to 100 calls in one multipart/mixed request; each call is
// charged and throttled on its own. google.golang.org/api has no batch
// support, so the connector writes the envelope itself and decodes each
// answer into the client library's own types.

// getMessages fetches messages.get for ids through the batch endpoint,
// BatchSize calls per request, with the given query (format,
// metadataHeaders, fields). Messages gone since they were listed are
// absent from the result. A throttled or failed part fails the call with
// its coded error after the whole request was read, so that the caller
// can repeat it; the parts already answered cost their units either way.
func (c *Connector) getMessages(ctx context.Context, mailboxID string, ids []string, q url.Values) (map[string]*gmail.Message, error) {
	out := make(map[string]*gmail.Message, len(ids))
	uc, err := c.gmailFor(mailboxID)
	if err != nil {
		return nil, err
	}
	for start := 0; start < len(ids); start += c.cfg.BatchSize {
		chunk := ids[start:min(start+c.cfg.BatchSize, len(ids))]
		if err := c.batchGet(ctx, uc.http, mailboxID, chunk, q, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// batchPath is the path of a Gmail call inside a batch: the endpoint's
// path (normally "/") and gmail/v1.
func (c *Connector) batchPath() string {
	p := "/"
	if c.cfg.Endpoint != "" {
		if u, err := url.Parse(c.cfg.Endpoint); err == nil && u.Path != "" {
			p = u.Path
		}
	}
	return strings.TrimSuffix(p, "/") + "/gmail/v1/users/me/messages/"
}

func (c *Connector) batchGet(ctx context.Context, hc *http.Client, mailboxID string, ids []string, q url.Values, out map[string]*gmail.Message) error {
	o := op{what: "messages of mailbox " + mailboxID, mailbox: mailboxID, scope: ScopeGmail}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	query := q.Encode()
	for i, id := range ids {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/http")
		h.Set("Content-ID", "<m"+strconv.Itoa(i)+">")
		pw, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		fmt.Fprintf(pw, "GET %s%s?%s HTTP/1.1\r\n\r\n", c.batchPath(), url.PathEscape(id), query)
	}
	if err := mw.Close(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(withCost(ctx, 5*len(ids)), http.MethodPost, c.batchURL(), &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	resp, err := hc.Do(req)
	if err != nil {
		return c.fail(o, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return c.fail(o, googleapi.CheckResponse(resp))
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return errs.New(errs.Unavailable, "Gmail answered a batch request without a multipart body", "nothing: mailferry retries")
	}
	var firstErr error
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return errs.Wrap(errs.Unavailable, err, "Gmail's batch answer was cut short", "nothing: mailferry retries")
		}
		idx := partIndex(part.Header.Get("Content-ID"))
		r, err := http.ReadResponse(bufio.NewReader(part), nil)
		if err != nil || idx < 0 || idx >= len(ids) {
			return errs.New(errs.Unavailable, "Gmail's batch answer has a part that cannot be read", "nothing: mailferry retries")
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		switch {
		case r.StatusCode == http.StatusNotFound:
			// Deleted since it was listed: the next delta reports it.
		case r.StatusCode >= 300:
			r.Body = io.NopCloser(bytes.NewReader(b))
			if isThrottle(r) {
				c.gates.Throttled(mailboxID)
				c.throttle.hit(mailboxID)
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			if perr := c.fail(op{what: "message " + ids[idx], mailbox: mailboxID, scope: ScopeGmail}, googleapi.CheckResponse(r)); firstErr == nil || errs.Is(perr, errs.Throttled) {
				firstErr = perr
			}
		default:
			var m gmail.Message
			if err := json.Unmarshal(b, &m); err != nil {
				return errs.Wrap(errs.Unavailable, err, "Gmail's batch answer has a message that cannot be decoded", "nothing: mailferry retries")
			}
			if m.Id == "" {
				m.Id = ids[idx]
			}
			out[ids[idx]] = &m
		}
	}
	return firstErr
}

// partIndex reads "<response-m12>" (or "<m12>") as 12.
func partIndex(contentID string) int {
	s := strings.Trim(strings.TrimSpace(contentID), "<>")
	s = strings.TrimPrefix(s, "response-")
	n, err := strconv.Atoi(strings.TrimPrefix(s, "m"))
	if err != nil {
		return -1
	}
	return n
}
