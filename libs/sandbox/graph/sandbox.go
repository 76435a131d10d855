// Package graph is a sandbox Microsoft 365 tenant: an HTTPS server that
// behaves like the parts of the Microsoft identity platform and Microsoft
// Graph v1.0 that mailferry uses, so that the official SDKs (msgraph-sdk-go
// with azidentity) can be pointed at it unchanged.
//
// It exists because a migration tool cannot be proven against a production
// tenant in every test run: the sandbox reproduces the documented shapes,
// error codes and limits (throttling per mailbox, upload sizes, $batch) and
// can inject the faults a real tenant produces only occasionally. Limits are
// configurable so that tests exercise throttling in milliseconds instead of
// minutes.
package graph

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailferry/mailferry/libs/sandbox/sandboxtls"
)

// RequiredRoles are the application permissions mailferry asks an admin to
// consent to; a new sandbox grants all of them.
var RequiredRoles = []string{"Mail.ReadWrite", "Calendars.ReadWrite", "Contacts.ReadWrite", "User.ReadWrite.All", "Organization.Read.All"}

// Limits are the per-mailbox throttling limits of the Outlook resources in
// Graph. A zero field disables that limit.
type Limits struct {
	// RequestsPerWindow requests per mailbox per Window (real: 10000 per 10 min).
	RequestsPerWindow int
	Window            time.Duration
	// Concurrent requests per mailbox (real: 4).
	Concurrent int
	// UploadBytes per mailbox per UploadWindow (real: 150 MB per 5 min),
	// counting the bodies of POST, PUT and PATCH requests.
	UploadBytes  int64
	UploadWindow time.Duration
}

// RealLimits are the documented limits of Outlook resources in Graph.
func RealLimits() Limits {
	return Limits{
		RequestsPerWindow: 10000, Window: 10 * time.Minute,
		Concurrent:  4,
		UploadBytes: 150 << 20, UploadWindow: 5 * time.Minute,
	}
}

// Faults are failures injected into Graph requests (not the identity
// endpoints), counted over top-level requests.
type Faults struct {
	FailEvery int           // every Nth request answers 503 serviceNotAvailable
	DropEvery int           // every Nth request has its connection dropped
	Latency   time.Duration // added before every request
}

// Config configures a sandbox; empty identities are generated.
type Config struct {
	TenantID, ClientID, ClientSecret string
	// Domain is the tenant's verified domain (default
	// "<random>.onmicrosoft.com"); it also names the tenant in token
	// requests, as the real authority accepts either.
	Domain string
	Limits Limits
	Faults Faults
	// MaxMessageBytes caps a message and an upload session (default 150 MB).
	MaxMessageBytes int64
	// Certificate is an optional PEM certificate registered for
	// client-assertion authentication, as RegisterCertificate does.
	Certificate []byte
}

// Sandbox is one tenant with one registered application.
type Sandbox struct {
	cfg      Config
	tenantID string
	clientID string
	secret   string
	domain   string

	ca      *sandboxtls.CA
	signKey *rsa.PrivateKey
	kid     string

	srv     *http.Server
	ln      net.Listener
	baseURL string

	mu       sync.Mutex
	granted  map[string]bool
	disabled bool
	certs    map[string]*x509.Certificate // by lower-case hex SHA-256 and SHA-1 thumbprint
	limits   Limits
	faults   Faults
	users    map[string]*user // by id
	byUPN    map[string]*user // by lower-case UPN
	order    []*user
	seq      int64 // change sequence for delta
	idn      uint64
	sessions map[string]*uploadSession
	skus     []*sku
	invites  []Invitation
	mbx      mailboxAPIState

	throttle  sync.Map // user id -> *mailboxThrottle
	requests  atomic.Int64
	throttled atomic.Int64
	sent      atomic.Int64
	created   time.Time
	// renderHook, when set (tests), runs before a message of the user is
	// rendered as MIME or parsed, which the sandbox does without s.mu.
	renderHook atomic.Pointer[func(userID string)]
}

// New builds a sandbox; Start serves it.
func New(cfg Config) (*Sandbox, error) {
	s := &Sandbox{cfg: cfg, granted: map[string]bool{}, certs: map[string]*x509.Certificate{},
		users: map[string]*user{}, byUPN: map[string]*user{}, sessions: map[string]*uploadSession{},
		limits: cfg.Limits, faults: cfg.Faults, created: time.Now().UTC()}
	s.tenantID = cfg.TenantID
	if s.tenantID == "" {
		s.tenantID = newGUID()
	}
	s.clientID = cfg.ClientID
	if s.clientID == "" {
		s.clientID = newGUID()
	}
	s.secret = cfg.ClientSecret
	if s.secret == "" {
		s.secret = newSecret()
	}
	s.domain = strings.ToLower(cfg.Domain)
	if s.domain == "" {
		s.domain = "mf" + randomHex(4) + ".onmicrosoft.com"
	}
	if s.cfg.MaxMessageBytes <= 0 {
		s.cfg.MaxMessageBytes = 150 << 20
	}
	for _, r := range RequiredRoles {
		s.granted[r] = true
	}
	if err := s.makeCA(); err != nil {
		return nil, err
	}
	var err error
	if s.signKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, fmt.Errorf("graph sandbox: token signing key: %w", err)
	}
	s.kid = randomHex(16)
	if len(cfg.Certificate) > 0 {
		if err := s.RegisterCertificate(cfg.Certificate); err != nil {
			return nil, err
		}
	}
	s.skus = defaultSKUs()
	return s, nil
}

// Start serves HTTPS on a random port of 127.0.0.1.
func (s *Sandbox) Start() error { return s.StartOn("127.0.0.1:0") }

// StartOn serves HTTPS on addr; the leaf certificate names 127.0.0.1,
// ::1, localhost and addr's host.
func (s *Sandbox) StartOn(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("graph sandbox: address %q: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("graph sandbox: listen on %s: %w", addr, err)
	}
	leaf, err := s.makeLeaf(host)
	if err != nil {
		ln.Close()
		return err
	}
	urlHost := host
	if urlHost == "" || urlHost == "0.0.0.0" || urlHost == "::" {
		urlHost = "127.0.0.1"
	}
	port := ln.Addr().(*net.TCPAddr).Port
	s.baseURL = "https://" + net.JoinHostPort(urlHost, fmt.Sprint(port))
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s,
		TLSConfig:         leaf,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          discardLogger(),
	}
	go func() { _ = s.srv.ServeTLS(ln, "", "") }()
	return nil
}

// Close stops the server.
func (s *Sandbox) Close() {
	if s.srv != nil {
		_ = s.srv.Close()
	}
}

// BaseURL is https://host:port; Graph is under BaseURL()+"/v1.0".
func (s *Sandbox) BaseURL() string { return s.baseURL }

// AuthorityURL is the identity platform host, with a trailing slash as
// azcore's ActiveDirectoryAuthorityHost expects.
func (s *Sandbox) AuthorityURL() string { return s.baseURL + "/" }

// CAPEM is the certificate of the sandbox's own CA.
func (s *Sandbox) CAPEM() []byte { return slices.Clone(s.ca.PEM) }

// CertPool trusts the sandbox's CA.
func (s *Sandbox) CertPool() *x509.CertPool { return s.ca.Pool() }

// WriteCA writes the CA certificate as PEM to path.
func (s *Sandbox) WriteCA(path string) error {
	if err := os.WriteFile(path, s.ca.PEM, 0o644); err != nil {
		return fmt.Errorf("graph sandbox: write CA: %w", err)
	}
	return nil
}

// Credentials are the tenant id, the application's client id and secret.
func (s *Sandbox) Credentials() (tenantID, clientID, clientSecret string) {
	return s.tenantID, s.clientID, s.secret
}

// Domain is the tenant's default domain.
func (s *Sandbox) Domain() string { return s.domain }

// RegisterCertificate adds a certificate (PEM) whose key may sign client
// assertions, as uploading it to the app registration does.
func (s *Sandbox) RegisterCertificate(certPEM []byte) error {
	var found bool
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fmt.Errorf("graph sandbox: certificate: %w", err)
		}
		s.mu.Lock()
		s.certs[hex.EncodeToString(sha256Sum(c.Raw))] = c
		s.certs[hex.EncodeToString(sha1Sum(c.Raw))] = c
		s.mu.Unlock()
		found = true
	}
	if !found {
		return errors.New("graph sandbox: no PEM certificate given")
	}
	return nil
}

// Grant consents to application roles; tokens issued afterwards carry them.
func (s *Sandbox) Grant(roles ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range roles {
		s.granted[r] = true
	}
}

// Revoke withdraws consent. Unlike the real service, where a token keeps
// its roles until it expires, revocation takes effect on the next request,
// so that tests of revoked consent mid-run need not wait an hour.
func (s *Sandbox) Revoke(roles ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range roles {
		delete(s.granted, r)
	}
}

// DisableApp disables (or re-enables) the application's service principal.
func (s *Sandbox) DisableApp(disabled bool) {
	s.mu.Lock()
	s.disabled = disabled
	s.mu.Unlock()
}

// SetLimits replaces the throttling limits; counters carry on.
func (s *Sandbox) SetLimits(l Limits) {
	s.mu.Lock()
	s.limits = l
	s.mu.Unlock()
}

// SetFaults replaces the injected faults.
func (s *Sandbox) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// SentMessages counts messages the server would have delivered to someone
// (sendMail, send, and the meeting requests, updates and cancellations
// listed by Invitations); a migration must leave it at zero.
func (s *Sandbox) SentMessages() int { return int(s.sent.Load()) }

// Requests counts Graph requests, $batch sub-requests included.
func (s *Sandbox) Requests() int { return int(s.requests.Load()) }

// Throttled counts the 429 answers given.
func (s *Sandbox) Throttled() int { return int(s.throttled.Load()) }

// MessageCount is the number of messages in a user's mailbox (0 when the
// user is unknown).
func (s *Sandbox) MessageCount(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return 0
	}
	return len(u.messages)
}

// StoredBytes is the size of every message the tenant holds, for
// benchmarks that relate throughput to the upload limit.
func (s *Sandbox) StoredBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, u := range s.users {
		for _, m := range u.messages {
			n += m.size
		}
	}
	return n
}

// ServeHTTP routes identity and Graph requests.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/v1.0" || strings.HasPrefix(p, "/v1.0/") || p == "/beta" || strings.HasPrefix(p, "/beta/"):
		s.serveGraphTop(w, r)
	case strings.HasPrefix(p, "/api/"):
		s.serveImport(w, r)
	case strings.HasPrefix(p, "/upload/"):
		s.serveUpload(w, r)
	default:
		s.serveIdentity(w, r)
	}
}
