package soap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/go-ntlmssp"
)

// Auth is how the client authenticates.
type Auth int

// Authentication methods Exchange on-premises offers EWS.
const (
	AuthNTLM Auth = iota
	AuthBasic
)

// Client calls one EWS endpoint as one account.
type Client struct {
	// URL is the EWS endpoint, https://host/EWS/Exchange.asmx.
	URL string
	// Username is DOMAIN\user, user@domain (UPN) or user; Password its
	// password.
	Username, Password string
	Auth               Auth
	// Version is the RequestServerVersion (default Exchange2013_SP1, the
	// oldest version mailferry supports).
	Version string
	// HTTP is the transport (it carries the TLS trust). For NTLM it is
	// wrapped in a go-ntlmssp Negotiator.
	HTTP *http.Client
	// OnExchange, when set, sees every request and response body, for
	// tracing and schema checks in tests.
	OnExchange func(op string, request, response []byte)
	// Connections caps the NTLM connections (default 16), and so the
	// calls in flight with NTLM.
	Connections int

	once sync.Once
	pool chan *http.Client
}

// ntlmClient borrows a client bound to one TCP connection. NTLM
// authenticates a connection, not a request: its three legs must travel on
// one connection, and IIS then keeps the connection authenticated, so
// later calls on it need no handshake. A shared transport would hand the
// legs of concurrent handshakes to different connections, which IIS
// answers 401.
func (c *Client) ntlmClient(base *http.Client) (*http.Client, func()) {
	c.once.Do(func() {
		n := c.Connections
		if n <= 0 {
			n = 16
		}
		c.pool = make(chan *http.Client, n)
		for i := 0; i < n; i++ {
			var rt http.RoundTripper = http.DefaultTransport
			if base.Transport != nil {
				rt = base.Transport
			}
			if tr, ok := rt.(*http.Transport); ok {
				tr = tr.Clone()
				tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost = 1, 1
				rt = tr
			}
			cp := *base
			cp.Transport = ntlmssp.Negotiator{RoundTripper: rt}
			c.pool <- &cp
		}
	})
	hc := <-c.pool
	return hc, func() { c.pool <- hc }
}

// HTTPError is a non-SOAP HTTP answer (401, 403 when EWS is disabled, 5xx
// from a proxy).
type HTTPError struct {
	Status int
	// Authenticate lists the WWW-Authenticate schemes of a 401.
	Authenticate []string
	Body         string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("ews: HTTP %d %s", e.Status, http.StatusText(e.Status))
}

// ResponseError is a per-item error of an operation (ResponseClass Error).
type ResponseError struct {
	Op      string
	Code    string
	Text    string
	Details map[string]string
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("ews %s: %s: %s", e.Op, e.Code, e.Text)
}

// ServerBusy reports whether err is an ErrorServerBusy (a fault or a
// response message) and the back-off the server asked for (zero when it
// gave none).
func ServerBusy(err error) (time.Duration, bool) {
	var f *Fault
	if errors.As(err, &f) && f.ResponseCode == "ErrorServerBusy" {
		return backOff(f.Values), true
	}
	var r *ResponseError
	if errors.As(err, &r) && r.Code == "ErrorServerBusy" {
		return backOff(r.Details), true
	}
	return 0, false
}

func backOff(v map[string]string) time.Duration {
	ms, err := strconv.Atoi(v["BackOffMilliseconds"])
	if err != nil || ms < 0 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

// Code is the EWS response code of err (from a fault or a response
// message), or "".
func Code(err error) string {
	var f *Fault
	if errors.As(err, &f) {
		return f.ResponseCode
	}
	var r *ResponseError
	if errors.As(err, &r) {
		return r.Code
	}
	return ""
}

// Call sends one operation. impersonate, when not empty, is the primary
// SMTP address to act as. resp receives the decoded response; SOAP faults
// come back as *Fault, other HTTP failures as *HTTPError. Per-item errors
// stay in the response messages: see Check.
func (c *Client) Call(ctx context.Context, impersonate string, req, resp any) error {
	version := c.Version
	if version == "" {
		version = "Exchange2013_SP1"
	}
	h := &Header{RequestServerVersion: &RequestServerVersion{Version: version}}
	if impersonate != "" {
		h.ExchangeImpersonation = &ExchangeImpersonation{ConnectingSID: ConnectingSID{PrimarySmtpAddress: impersonate}}
	}
	body, err := BuildEnvelope(h, req, nil)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("ews: %w", err)
	}
	hreq.Header.Set("Content-Type", "text/xml; charset=utf-8")
	hreq.Header.Set("Accept", "text/xml")
	hreq.SetBasicAuth(c.Username, c.Password)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	if c.Auth == AuthNTLM {
		var release func()
		hc, release = c.ntlmClient(hc)
		defer release()
	}
	hresp, err := hc.Do(hreq)
	if err != nil {
		return fmt.Errorf("ews: %w", err)
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(hresp.Body)
	if err != nil {
		return fmt.Errorf("ews: read response: %w", err)
	}
	if c.OnExchange != nil {
		c.OnExchange(opName(req), body, data)
	}
	ct := hresp.Header.Get("Content-Type")
	if hresp.StatusCode != http.StatusOK && !(hresp.StatusCode == http.StatusInternalServerError && strings.Contains(ct, "xml")) {
		return &HTTPError{Status: hresp.StatusCode, Authenticate: hresp.Header.Values("WWW-Authenticate"), Body: truncate(string(data), 512)}
	}
	env, err := ParseEnvelope(data)
	if err != nil {
		return fmt.Errorf("ews: HTTP %d: %w", hresp.StatusCode, err)
	}
	if env.Fault != nil {
		return env.Fault
	}
	if resp == nil {
		return nil
	}
	return env.Decode(resp)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func opName(req any) string {
	name := fmt.Sprintf("%T", req)
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	return name
}

// statuser is any response message.
type statuser interface{ Status() *ResponseMessage }

// Check turns the first error response message into a *ResponseError.
func Check[M statuser](op string, msgs []M) error {
	for _, m := range msgs {
		if err := CheckOne(op, m); err != nil {
			return err
		}
	}
	return nil
}

// CheckOne turns one error response message into a *ResponseError.
func CheckOne(op string, m statuser) error {
	s := m.Status()
	if s.ResponseClass != "Error" {
		return nil
	}
	e := &ResponseError{Op: op, Code: s.ResponseCode, Text: s.MessageText}
	if s.MessageXML != nil {
		e.Details = map[string]string{}
		for _, v := range s.MessageXML.Value {
			e.Details[v.Name] = strings.TrimSpace(v.Value)
		}
	}
	return e
}
