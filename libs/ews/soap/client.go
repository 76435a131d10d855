package soap

import (
	"bytes"
	"context"
	"encoding/base64"
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
	// HTTP is the transport (it carries the TLS trust). For NTLM its
	// transport is cloned into single-connection transports that each
	// keep their connection authenticated (roundTripNTLM).
	HTTP *http.Client
	// OnExchange, when set, sees every request and response body, for
	// tracing and schema checks in tests.
	OnExchange func(op string, request, response []byte)
	// Connections caps the NTLM connections (default 16), and so the
	// calls in flight with NTLM.
	Connections int

	once sync.Once
	pool chan *ntlmConn
}

// ntlmConn is a client bound to one TCP connection, and whether that
// connection was authenticated when last used.
type ntlmConn struct {
	hc     *http.Client
	authed bool
}

// ntlmConn borrows a client bound to one TCP connection. NTLM
// authenticates a connection, not a request: its three legs must travel on
// one connection, and IIS then keeps the connection authenticated, so
// later calls on it need no handshake. A shared transport would hand the
// legs of concurrent handshakes to different connections, which IIS
// answers 401.
func (c *Client) ntlmConn(base *http.Client) (*ntlmConn, func()) {
	c.once.Do(func() {
		n := c.Connections
		if n <= 0 {
			n = 16
		}
		c.pool = make(chan *ntlmConn, n)
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
			cp.Transport = rt
			c.pool <- &ntlmConn{hc: &cp}
		}
	})
	nc := <-c.pool
	return nc, func() { c.pool <- nc }
}

// roundTripNTLM sends body authenticated with NTLM. On a connection that
// was authenticated it is sent as it is; otherwise (or when the server
// answers 401 because the connection was replaced) the handshake runs:
// a NEGOTIATE with an empty body, then the AUTHENTICATE with the body, so
// a large item travels once rather than with every leg. Unlike
// go-ntlmssp's Negotiator, which answers a connection lost on the last leg
// with the first leg's 401, a failure on any leg is returned as what it
// is: a request whose answer was lost may have been carried out, and a
// caller must not mistake it for a refused password.
func (c *Client) roundTripNTLM(nc *ntlmConn, newReq func([]byte) (*http.Request, error), body []byte) (*http.Response, error) {
	if nc.authed {
		req, err := newReq(body)
		if err != nil {
			return nil, err
		}
		resp, err := nc.hc.Do(req)
		if err != nil {
			nc.authed = false
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized {
			return resp, nil
		}
		drain(resp)
		nc.authed = false
	}
	var challenge []byte
	var scheme string
	var resp *http.Response
	for _, try := range []string{"NTLM", "Negotiate"} {
		neg, err := ntlmssp.NewNegotiateMessage("", "")
		if err != nil {
			return nil, fmt.Errorf("ews: NTLM negotiate: %w", err)
		}
		req, err := newReq(nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", try+" "+base64.StdEncoding.EncodeToString(neg))
		if resp, err = nc.hc.Do(req); err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized {
			// Accepted without a challenge (RFC 4559 allows it), or
			// refused otherwise: the answer is the caller's to read.
			return resp, nil
		}
		if challenge = ntlmChallenge(resp.Header, try); challenge != nil {
			scheme = try
			drain(resp)
			break
		}
		if try == "NTLM" && offers(resp.Header, "Negotiate") {
			drain(resp)
			continue
		}
		// No NTLM here: the 401 with the schemes the server offers.
		return resp, nil
	}
	if challenge == nil {
		return resp, nil
	}
	auth, err := ntlmssp.NewAuthenticateMessage(challenge, c.Username, c.Password, nil)
	if err != nil {
		return nil, fmt.Errorf("ews: NTLM authenticate: %w", err)
	}
	req, err := newReq(body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", scheme+" "+base64.StdEncoding.EncodeToString(auth))
	resp, err = nc.hc.Do(req)
	if err != nil {
		return nil, err
	}
	nc.authed = resp.StatusCode != http.StatusUnauthorized
	return resp, nil
}

// ntlmChallenge is the CHALLENGE token of a 401 for scheme.
func ntlmChallenge(h http.Header, scheme string) []byte {
	for _, v := range h.Values("WWW-Authenticate") {
		name, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
		if !ok || !strings.EqualFold(name, scheme) {
			continue
		}
		if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(tok)); err == nil && len(b) > 0 {
			return b
		}
	}
	return nil
}

func offers(h http.Header, scheme string) bool {
	for _, v := range h.Values("WWW-Authenticate") {
		name, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		if strings.EqualFold(name, scheme) {
			return true
		}
	}
	return false
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
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
	newReq := func(b []byte) (*http.Request, error) {
		hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("ews: %w", err)
		}
		hreq.Header.Set("Content-Type", "text/xml; charset=utf-8")
		hreq.Header.Set("Accept", "text/xml")
		return hreq, nil
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	var hresp *http.Response
	if c.Auth == AuthNTLM {
		nc, release := c.ntlmConn(hc)
		defer release()
		hresp, err = c.roundTripNTLM(nc, newReq, body)
	} else {
		var hreq *http.Request
		if hreq, err = newReq(body); err == nil {
			hreq.SetBasicAuth(c.Username, c.Password)
			hresp, err = hc.Do(hreq)
		}
	}
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
