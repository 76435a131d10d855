// Package ews is the Exchange on-premises connector: a platform.Connector and
// platform.Verifier for Exchange Server 2013 to 2019 and Subscription
// Edition over Exchange Web Services (libs/ews/soap), as one service account
// holding the ApplicationImpersonation role that acts for every mailbox.
//
// Mail moves as MIME (GetItem with IncludeMimeContent, CreateItem with
// MimeContent saved straight into its folder, never sent); calendar items
// are read and written as iCalendar with their recurrence, exceptions,
// deleted occurrences and attendees, always with SendToNone so nobody is
// invited or told of a cancellation; contacts and distribution lists as
// vCards. Every copy carries the migration marker and the source's version
// as named MAPI properties, which FindItem restrictions find again; delta
// runs follow SyncFolderItems, whose sync state is the delta token.
//
// The same code reaches a customer's Exchange directly over HTTPS (with
// the system's trust or a pinned self-signed certificate) and runs inside
// the outbound connector agent (services/connector-agent), which opens it
// with FromCredentials. docs/exchange.md says how to set Exchange up and
// what survives a migration.
package ews

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/pacing"
	"github.com/mailferry/mailferry/libs/platform"
)

// Defaults.
const (
	// DefaultMaxConcurrentPerMailbox is Exchange's EWSMaxConcurrency:
	// requests in flight per user, and per mailbox a service account
	// impersonates.
	DefaultMaxConcurrentPerMailbox = 27
	// DefaultStartConcurrentPerMailbox is where each mailbox starts: the
	// mailbox's own Outlook and phone share its budget, so mailferry
	// climbs towards the cap with successes rather than starting there.
	DefaultStartConcurrentPerMailbox = 8
	// DefaultMaxItemBytes is the largest item written: EWS refuses
	// requests over 64 MiB (maxReceivedMessageSize), and the MIME travels
	// base64-encoded, so about 47 MiB of MIME fit with the envelope.
	DefaultMaxItemBytes = 47 << 20
	// DefaultPageSize is SyncFolderItems' MaxChangesReturned, at most 512.
	DefaultPageSize = 512
	// DefaultConnections caps the NTLM-authenticated connections.
	DefaultConnections = 32
	// requestVersion is the schema the requests are written for: the
	// oldest server mailferry supports.
	requestVersion = "Exchange2013_SP1"
)

// Config says how to reach an Exchange organisation.
type Config struct {
	// URL is the EWS endpoint, https://mail.example.com/EWS/Exchange.asmx.
	URL string
	// Username is the service account: DOMAIN\user, or user@domain (UPN).
	Username, Password string
	// Auth is soap.AuthNTLM (default) or soap.AuthBasic.
	Auth soap.Auth
	// CertFingerprint trusts exactly the server certificate with this
	// SHA-256 fingerprint (hex, colons and spaces allowed), for a server
	// with a self-signed certificate; empty trusts the system's roots.
	CertFingerprint string
	// RootCAs replaces the system roots when set.
	RootCAs *x509.CertPool
	// Mailboxes, when set, is the list of mailboxes ListMailboxes returns
	// instead of discovering them with ResolveNames.
	Mailboxes []string
	// SampleMailbox is the mailbox Verify impersonates; empty picks one.
	SampleMailbox string
	// MaxConcurrentPerMailbox caps requests in flight per mailbox
	// (default 27); StartConcurrentPerMailbox is where each mailbox
	// starts (default 8).
	MaxConcurrentPerMailbox   int
	StartConcurrentPerMailbox int
	// MaxItemBytes is the largest item written (default 47 MiB).
	MaxItemBytes int64
	// PageSize is SyncFolderItems' MaxChangesReturned (1-512, default 512).
	PageSize int
	// Connections caps NTLM connections (default 32).
	Connections int
	// Timeout bounds one request (default 5 minutes).
	Timeout time.Duration
	// DialContext, when set, opens the TCP connections to Exchange
	// instead of the standard dialer: for a server reached through a
	// tunnel, or in tests one in another network namespace.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Connector is an open Exchange organisation.
type Connector struct {
	cfg    Config
	client *soap.Client
	gates  *pacing.Gates
	host   string
	// self is the service account's own name, to tell its mailbox from
	// the users' when Verify picks a sample.
	self string

	mu      sync.Mutex
	folders map[string]*folderCache // by lower-case mailbox
	seen    seenMarkers
}

// Open checks the configuration and builds the client. It does not call
// Exchange: Verify does.
func Open(cfg Config) (*Connector, error) {
	u, err := url.Parse(strings.TrimSpace(cfg.URL))
	if err != nil || u.Host == "" || u.Scheme != "https" {
		return nil, errs.Field("ewsUrl", "must be the https URL of the EWS endpoint, such as https://mail.example.com/EWS/Exchange.asmx")
	}
	if strings.TrimSpace(cfg.Username) == "" {
		return nil, errs.Field("username", "the service account is missing (DOMAIN\\user or user@domain)")
	}
	if cfg.Password == "" {
		return nil, errs.Field("password", "the service account's password is missing")
	}
	if cfg.CertFingerprint != "" {
		fp, ok := normalizeFingerprint(cfg.CertFingerprint)
		if !ok {
			return nil, errs.Field("certFingerprint", "must be the certificate's SHA-256 fingerprint: 64 hex digits, colons allowed")
		}
		cfg.CertFingerprint = fp
	}
	if cfg.MaxConcurrentPerMailbox <= 0 {
		cfg.MaxConcurrentPerMailbox = DefaultMaxConcurrentPerMailbox
	}
	if cfg.StartConcurrentPerMailbox <= 0 {
		cfg.StartConcurrentPerMailbox = min(DefaultStartConcurrentPerMailbox, cfg.MaxConcurrentPerMailbox)
	}
	if cfg.MaxItemBytes <= 0 {
		cfg.MaxItemBytes = DefaultMaxItemBytes
	}
	if cfg.PageSize <= 0 || cfg.PageSize > 512 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.Connections <= 0 {
		cfg.Connections = DefaultConnections
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	for i, m := range cfg.Mailboxes {
		cfg.Mailboxes[i] = strings.ToLower(strings.TrimSpace(m))
	}
	tr := transport(cfg.CertFingerprint, cfg.RootCAs)
	if cfg.DialContext != nil {
		tr.DialContext = cfg.DialContext
	}
	c := &Connector{
		cfg:   cfg,
		gates: pacing.NewGatesFrom(cfg.MaxConcurrentPerMailbox, cfg.StartConcurrentPerMailbox),
		host:  u.Host,
		client: &soap.Client{URL: u.String(), Username: cfg.Username, Password: cfg.Password, Auth: cfg.Auth,
			Version: requestVersion, HTTP: &http.Client{Transport: tr, Timeout: cfg.Timeout,
				// EWS answers where it is asked; a redirect is a
				// proxy's login page, not EWS.
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
			Connections: cfg.Connections},
		folders: map[string]*folderCache{},
	}
	c.self = strings.ToLower(cfg.Username)
	if i := strings.LastIndexByte(c.self, '\\'); i >= 0 {
		c.self = c.self[i+1:]
	}
	if i := strings.IndexByte(c.self, '@'); i >= 0 {
		c.self = c.self[:i]
	}
	return c, nil
}

// FromCredentials opens a connector from stored credentials. Fields:
// ewsUrl, username, and optionally auth (ntlm or basic, default ntlm),
// certFingerprint (the SHA-256 fingerprint of a self-signed server
// certificate to trust), mailboxes (the addresses in a list or a CSV, the
// mailboxes to migrate instead of discovering them), sampleMailbox (for Verify),
// maxConcurrentPerMailbox. Secret: password.
func FromCredentials(ctx context.Context, creds platform.Credentials) (*Connector, error) {
	_ = ctx // opening makes no call; kept for symmetry with the other connectors
	f := creds.Fields
	cfg := Config{
		URL: f["ewsUrl"], Username: f["username"], Password: creds.Secrets["password"],
		CertFingerprint: f["certFingerprint"], SampleMailbox: strings.ToLower(strings.TrimSpace(f["sampleMailbox"])),
	}
	switch strings.ToLower(strings.TrimSpace(f["auth"])) {
	case "", "ntlm":
		cfg.Auth = soap.AuthNTLM
	case "basic":
		cfg.Auth = soap.AuthBasic
	default:
		return nil, errs.Field("auth", "must be ntlm or basic")
	}
	if v := f["maxConcurrentPerMailbox"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, errs.Field("maxConcurrentPerMailbox", "must be a number from 1 to 100")
		}
		cfg.MaxConcurrentPerMailbox = n
	}
	if v := f["mailboxes"]; v != "" {
		// A list, or a CSV pasted whole: every address in it, whatever
		// else its rows hold (a header, display names).
		for _, tok := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
			if tok = strings.Trim(tok, `"'<>`); strings.Contains(tok, "@") {
				cfg.Mailboxes = append(cfg.Mailboxes, tok)
			}
		}
	}
	return Open(cfg)
}

// Kind returns platform.Exchange.
func (c *Connector) Kind() platform.Kind { return platform.Exchange }

// Limits returns the item size limit.
func (c *Connector) Limits() platform.Limits {
	return platform.Limits{MaxItemBytes: c.cfg.MaxItemBytes}
}

// Concurrency is how many requests the mailbox may have in flight now: it
// halves with every ErrorServerBusy and climbs back with successes.
func (c *Connector) Concurrency(mailboxID string) int { return c.gates.Concurrency(mailboxID) }

// call sends one operation acting for mailbox (through impersonation; ""
// for organisation-wide calls such as ResolveNames), within the mailbox's
// gate, and turns failures into coded errors. Per-item errors stay in
// resp for the caller to check.
func (c *Connector) call(ctx context.Context, mailbox string, req, resp any) error {
	release, err := c.gates.Acquire(ctx, mailbox)
	if err != nil {
		return err
	}
	err = c.client.Call(ctx, mailbox, req, resp)
	// A refusal slows the mailbox down in fail, which also sees
	// ErrorServerBusy answered inside a response message.
	release(false)
	if err != nil {
		return c.fail(err, what{mailbox: mailbox})
	}
	return nil
}

// patient is call for the later steps of an operation that has begun
// (the exceptions of a series and its markers, the rest of a folder
// listing): it waits out ErrorServerBusy a few times, since giving up
// there costs what was done, and under a spent budget, which recharges
// about one request at a time, an operation begun again on every refusal
// would never finish.
func (c *Connector) patient(ctx context.Context, mailbox string, req, resp any) error {
	return c.retryThrottled(ctx, func() error { return c.call(ctx, mailbox, req, resp) })
}

// retryThrottled runs fn again while it is throttled, waiting as asked,
// at most a few times.
func (c *Connector) retryThrottled(ctx context.Context, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		e, ok := errs.As(err)
		if !ok || e.Code != errs.Throttled || attempt >= 8 {
			return err
		}
		t := time.NewTimer(min(e.RetryAfter, 30*time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// lostAnswer says whether a failed call may have been carried out: the
// request left but no answer came back (the connection dropped or timed
// out). An answer of any kind from Exchange, even a refusal, is not lost.
func lostAnswer(err error) bool {
	if !errs.Is(err, errs.Unavailable) {
		return false
	}
	var f *soap.Fault
	var he *soap.HTTPError
	var re *soap.ResponseError
	return !errors.As(err, &f) && !errors.As(err, &he) && !errors.As(err, &re)
}

// mailboxKey is the form of a mailbox id used for impersonation and keys.
func mailboxKey(id string) string { return strings.ToLower(strings.TrimSpace(id)) }

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func boolOf(p *bool) bool { return p != nil && *p }

var (
	_ platform.Connector = (*Connector)(nil)
	_ platform.Verifier  = (*Connector)(nil)
)
