// Package platformclient is the agent's HTTPS client of the platform's
// agent API: registration, the long poll, content downloads and result
// uploads. Every connection goes out from the agent; the agent never
// accepts one. Proxies are taken from HTTPS_PROXY / NO_PROXY, as the
// customer's network usually requires.
package platformclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mailferry/mailferry/libs/connectors/agent/wire"
	"github.com/mailferry/mailferry/libs/errs"
)

// Config says how to reach the platform.
type Config struct {
	URL string
	// CAFile is a PEM bundle trusted besides the system's roots.
	CAFile string
	// InsecureHTTP allows http:// to a host that is not this machine.
	InsecureHTTP bool
	// Credential authenticates the agent (empty before registration).
	Credential string
	// UserAgent names the agent and its version.
	UserAgent string
}

// Client talks to the platform.
type Client struct {
	base *url.URL
	cfg  Config
	hc   *http.Client
}

// Error is an error answer of the platform, with its HTTP status.
type Error struct {
	Status int
	Err    *errs.Error
}

func (e *Error) Error() string { return fmt.Sprintf("platform answered %d: %v", e.Status, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// StatusOf returns the platform's HTTP status in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// New returns a client. The URL must be https, or http to this machine
// (or anywhere with InsecureHTTP).
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errs.Field("url", "the platform's address must be an https:// URL")
	}
	if u.Scheme == "http" && !cfg.InsecureHTTP && !loopback(u.Hostname()) {
		return nil, errs.Field("url", "the platform must be reached over https:// (plain http only to this machine, or with --insecure-http in a laboratory)")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errs.Field("ca-file", "no PEM certificate in "+cfg.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	tr.ResponseHeaderTimeout = wire.MaxPollWait + 30*time.Second
	return &Client{base: u, cfg: cfg, hc: &http.Client{Transport: tr}}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// WithCredential returns a copy of c authenticating with cred.
func (c *Client) WithCredential(cred string) *Client {
	out := *c
	out.cfg.Credential = cred
	return &out
}

func (c *Client) request(ctx context.Context, method, path, ctype string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.cfg.Credential != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Credential)
	}
	if c.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

func decodeError(resp *http.Response) error {
	var body struct {
		Error *errs.Error `json:"error"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(data, &body) != nil || body.Error == nil || body.Error.Code == "" {
		// Not the platform's answer: a proxy or load balancer between.
		body.Error = errs.New(errs.Unavailable, fmt.Sprintf("the platform answered %s", resp.Status), "nothing: the agent retries")
	}
	return &Error{Status: resp.StatusCode, Err: body.Error}
}

func (c *Client) postJSON(ctx context.Context, path string, in, out any) (int, error) {
	data, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	resp, err := c.request(ctx, http.MethodPost, path, "application/json", bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(io.LimitReader(resp.Body, wire.MaxMeta+wire.MaxCalls*wire.InlineMax*2)).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s answer: %w", path, err)
		}
	}
	return resp.StatusCode, nil
}

// Register exchanges a one-time token for the agent's identity and
// credential.
func (c *Client) Register(ctx context.Context, req wire.RegisterRequest) (wire.RegisterResponse, error) {
	var out wire.RegisterResponse
	_, err := c.postJSON(ctx, "/api/agent/register", req, &out)
	return out, err
}

// Poll reports the agent's status and waits for calls; none after the
// platform's wait.
func (c *Client) Poll(ctx context.Context, req wire.PollRequest) ([]wire.Call, error) {
	var out wire.PollResponse
	code, err := c.postJSON(ctx, "/api/agent/poll", req, &out)
	if err != nil || code == http.StatusNoContent {
		return nil, err
	}
	return out.Calls, nil
}

// Content downloads a call's content, which must be exactly size bytes.
func (c *Client) Content(ctx context.Context, callID string, size int64) ([]byte, error) {
	if size > wire.MaxContent {
		return nil, errs.New(errs.ItemTooLarge, fmt.Sprintf("the item is %d bytes; an agent carries up to %d", size, wire.MaxContent), "nothing: the item is listed as skipped")
	}
	resp, err := c.request(ctx, http.MethodGet, "/api/agent/calls/"+url.PathEscape(callID)+"/content", "", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	buf := bytes.NewBuffer(make([]byte, 0, size))
	n, err := io.Copy(buf, io.LimitReader(resp.Body, size+1))
	if err != nil {
		return nil, fmt.Errorf("download content: %w", err)
	}
	if n != size {
		return nil, fmt.Errorf("download content: %d bytes of %d", n, size)
	}
	return buf.Bytes(), nil
}

// Result uploads a call's result and its content as a multipart stream:
// the content is written from the caller's slice straight into the
// request body, never copied whole.
func (c *Client) Result(ctx context.Context, res wire.Result, content []byte) error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			w, err := mw.CreateFormField("result")
			if err != nil {
				return err
			}
			if err := json.NewEncoder(w).Encode(res); err != nil {
				return err
			}
			if len(content) > 0 {
				w, err := mw.CreateFormFile("content", "content")
				if err != nil {
					return err
				}
				if _, err := w.Write(content); err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	resp, err := c.request(ctx, http.MethodPost, "/api/agent/results", mw.FormDataContentType(), pr)
	// Unblocks the writer when the request ended before reading it all.
	pr.CloseWithError(errors.New("request ended"))
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
