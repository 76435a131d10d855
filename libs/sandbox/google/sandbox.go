// Package google is a sandbox Google Workspace tenant: an HTTPS server that
// behaves like the parts of Google's OAuth token endpoint, the Admin SDK
// Directory API, the Gmail API, the Calendar API and the People API that
// mailferry uses, so that the official google.golang.org/api clients (with a
// golang.org/x/oauth2/google service-account JWT configuration whose token
// URL points here) talk to it unchanged.
//
// It exists because a migration tool cannot be proven against a production
// Workspace in every test run. The sandbox reproduces the documented shapes
// (taken from the discovery documents shipped with google.golang.org/api),
// the error bodies Google sends, domain-wide delegation with its failure
// modes, the per-user and per-project quotas with their per-method costs,
// and it injects the faults a real tenant produces only occasionally.
// Quota windows and budgets are configurable so that tests exhaust a quota
// in milliseconds instead of minutes. docs/sandbox-google.md lists what is
// faithful and what is simplified.
package google

import (
	"crypto/rand"
	"crypto/x509"
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

// Scopes a Workspace administrator grants mailferry's client id under
// domain-wide delegation; a new sandbox delegates all of them.
var RequiredScopes = []string{
	ScopeGmail,
	ScopeCalendar,
	ScopeContacts,
	ScopeDirectoryUser,
}

// OAuth scopes the sandbox knows.
const (
	ScopeGmail                 = "https://mail.google.com/"
	ScopeGmailModify           = "https://www.googleapis.com/auth/gmail.modify"
	ScopeGmailReadonly         = "https://www.googleapis.com/auth/gmail.readonly"
	ScopeGmailMetadata         = "https://www.googleapis.com/auth/gmail.metadata"
	ScopeGmailInsert           = "https://www.googleapis.com/auth/gmail.insert"
	ScopeGmailLabels           = "https://www.googleapis.com/auth/gmail.labels"
	ScopeGmailSend             = "https://www.googleapis.com/auth/gmail.send"
	ScopeGmailCompose          = "https://www.googleapis.com/auth/gmail.compose"
	ScopeCalendar              = "https://www.googleapis.com/auth/calendar"
	ScopeCalendarReadonly      = "https://www.googleapis.com/auth/calendar.readonly"
	ScopeCalendarEvents        = "https://www.googleapis.com/auth/calendar.events"
	ScopeCalendarEventsRO      = "https://www.googleapis.com/auth/calendar.events.readonly"
	ScopeContacts              = "https://www.googleapis.com/auth/contacts"
	ScopeContactsReadonly      = "https://www.googleapis.com/auth/contacts.readonly"
	ScopeDirectoryUser         = "https://www.googleapis.com/auth/admin.directory.user"
	ScopeDirectoryUserReadonly = "https://www.googleapis.com/auth/admin.directory.user.readonly"
	ScopeCloudPlatform         = "https://www.googleapis.com/auth/cloud-platform"
)

// Limits are the usage quotas. A zero field disables that quota.
type Limits struct {
	// Window is the length of one quota window (real: one minute).
	// Budgets are counted in fixed windows starting with the first
	// request after the previous window ended.
	Window time.Duration
	// GmailUserUnits is the Gmail budget per user per Window in quota
	// units (real: 15,000), GmailProjectUnits the budget of the whole
	// project (real: 1,200,000). Methods cost what Google's table says
	// (messages.import 25, messages.get 5, history.list 2, ...).
	GmailUserUnits    int
	GmailProjectUnits int
	// GmailConcurrent caps Gmail requests in flight per user. Gmail has
	// such a limit without publishing its number; zero disables it.
	GmailConcurrent int
	// CalendarUserRequests per user and CalendarProjectRequests per
	// project per Window (real: 600 and 10,000).
	CalendarUserRequests    int
	CalendarProjectRequests int
	// PeopleUserRequests per user per Window. Google publishes the People
	// API quotas only in the Cloud console; 90 is what a new project shows
	// for critical reads per minute per user.
	PeopleUserRequests int
	// DirectoryUserRequests per administrator per Window (the Cloud
	// console shows 2,400 queries per minute per user).
	DirectoryUserRequests int
	// UserQuotaStatus is the HTTP status of a per-user quota refusal:
	// 429 (the default, what Gmail answers today) or 403 (what Gmail
	// answered for years and Calendar still does).
	UserQuotaStatus int
}

// RealLimits are Google's documented quotas.
func RealLimits() Limits {
	return Limits{
		Window:         time.Minute,
		GmailUserUnits: 15000, GmailProjectUnits: 1200000,
		CalendarUserRequests: 600, CalendarProjectRequests: 10000,
		PeopleUserRequests:    90,
		DirectoryUserRequests: 2400,
	}
}

// Faults are failures injected into API requests (not into the token
// endpoint), counted over top-level requests.
type Faults struct {
	FailEvery  int           // every Nth request fails with FailStatus
	FailStatus int           // 503 (default) or 500
	DropEvery  int           // every Nth request has its connection dropped
	Latency    time.Duration // added before every request is served
}

// Config configures a sandbox; empty identities are generated.
type Config struct {
	// Domain is the Workspace primary domain (default "mf<random>.example").
	Domain string
	// ProjectID names the Cloud project of the service account.
	ProjectID string
	Limits    Limits
	Faults    Faults
	// MaxMessageBytes caps a Gmail message (default 150 MB, the
	// discovery document's maxSize for import and insert).
	MaxMessageBytes int64
	// TokenLifetime of access tokens (default 3599 s, as Google issues).
	TokenLifetime time.Duration
	// HistoryRetention keeps at most this many Gmail history records per
	// mailbox (0 keeps all); older start ids answer 404 as Gmail does once
	// its history has been trimmed.
	HistoryRetention int
}

// Sandbox is one Workspace customer with one Cloud project holding the
// service account mailferry uses.
type Sandbox struct {
	cfg        Config
	domain     string
	customerID string

	ca *sandboxtls.CA

	srv     *http.Server
	ln      net.Listener
	baseURL string

	mu         sync.Mutex
	project    *project
	accounts   map[string]*serviceAccount // by client email
	delegation map[string]map[string]bool // client id -> scopes
	tokens     map[string]*grant
	limits     Limits
	faults     Faults
	users      map[string]*user // by lower-case primary email
	byID       map[string]*user
	order      []*user
	uploads    map[string]*upload
	invites    []Invitation
	calProcess int
	setupDelay time.Duration
	reqN       uint64

	quota     quotaState
	requests  atomic.Int64
	throttled atomic.Int64
	sent      atomic.Int64
}

// New builds a sandbox; Start serves it.
func New(cfg Config) (*Sandbox, error) {
	s := &Sandbox{cfg: cfg, accounts: map[string]*serviceAccount{}, delegation: map[string]map[string]bool{},
		tokens: map[string]*grant{}, limits: cfg.Limits, faults: cfg.Faults,
		users: map[string]*user{}, byID: map[string]*user{}, uploads: map[string]*upload{}}
	s.domain = strings.ToLower(cfg.Domain)
	if s.domain == "" {
		s.domain = "mf" + randomHex(4) + ".example"
	}
	if s.cfg.MaxMessageBytes <= 0 {
		s.cfg.MaxMessageBytes = 150 << 20
	}
	if s.cfg.TokenLifetime <= 0 {
		s.cfg.TokenLifetime = 3599 * time.Second
	}
	s.customerID = "C0" + randomHex(4)
	if err := s.makeCA(); err != nil {
		return nil, err
	}
	pid := cfg.ProjectID
	if pid == "" {
		pid = "mailferry-sandbox-" + randomDigits(6)
	}
	s.project = &project{id: pid, number: randomDigits(12)}
	sa, err := s.newServiceAccount(s.project, "mailferry-migration")
	if err != nil {
		return nil, err
	}
	s.delegation[sa.clientID] = map[string]bool{}
	for _, sc := range RequiredScopes {
		s.delegation[sa.clientID][sc] = true
	}
	return s, nil
}

// Start serves HTTPS on a random port of 127.0.0.1.
func (s *Sandbox) Start() error { return s.StartOn("127.0.0.1:0") }

// StartOn serves HTTPS on addr; the certificate names 127.0.0.1, ::1,
// localhost and addr's host.
func (s *Sandbox) StartOn(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("google sandbox: address %q: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("google sandbox: listen on %s: %w", addr, err)
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
	s.baseURL = "https://" + net.JoinHostPort(urlHost, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
	s.ln = ln
	s.srv = &http.Server{Handler: s, TLSConfig: leaf, ReadHeaderTimeout: 30 * time.Second, ErrorLog: discardLogger()}
	go func() { _ = s.srv.ServeTLS(ln, "", "") }()
	return nil
}

// Close stops the server.
func (s *Sandbox) Close() {
	if s.srv != nil {
		_ = s.srv.Close()
	}
}

// BaseURL is https://host:port. Every API client takes it (with a
// trailing slash) as its endpoint, except Calendar, whose endpoint is
// BaseURL()+"/calendar/v3/".
func (s *Sandbox) BaseURL() string { return s.baseURL }

// Endpoint is the option.WithEndpoint value for Gmail, People and the
// Directory API.
func (s *Sandbox) Endpoint() string { return s.baseURL + "/" }

// CalendarEndpoint is the option.WithEndpoint value for Calendar.
func (s *Sandbox) CalendarEndpoint() string { return s.baseURL + "/calendar/v3/" }

// TokenURL is the OAuth token endpoint the generated keys name.
func (s *Sandbox) TokenURL() string { return s.baseURL + "/token" }

// CAPEM is the certificate of the sandbox's own CA.
func (s *Sandbox) CAPEM() []byte { return slices.Clone(s.ca.PEM) }

// CertPool trusts the sandbox's CA.
func (s *Sandbox) CertPool() *x509.CertPool { return s.ca.Pool() }

// WriteCA writes the CA certificate as PEM to path.
func (s *Sandbox) WriteCA(path string) error {
	if err := os.WriteFile(path, s.ca.PEM, 0o644); err != nil {
		return fmt.Errorf("google sandbox: write CA: %w", err)
	}
	return nil
}

// Domain is the Workspace primary domain.
func (s *Sandbox) Domain() string { return s.domain }

// CustomerID is the Workspace customer id ("my_customer" also works).
func (s *Sandbox) CustomerID() string { return s.customerID }

// SetLimits replaces the quotas; counters carry on.
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

// Requests counts API requests, batch parts included.
func (s *Sandbox) Requests() int { return int(s.requests.Load()) }

// Throttled counts quota refusals.
func (s *Sandbox) Throttled() int { return int(s.throttled.Load()) }

// SentMessages counts mail the tenant would have delivered to someone:
// messages.send and Calendar invitations, updates and cancellations. A
// migration must leave it at zero.
func (s *Sandbox) SentMessages() int { return int(s.sent.Load()) }

// ServeHTTP routes a request to the token endpoint or an API.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/token" || p == "/oauth2/v4/token" || p == "/o/oauth2/token":
		s.serveToken(w, r)
	case strings.HasPrefix(p, "/upload/gmail/v1/users/"), strings.HasPrefix(p, "/resumable/upload/gmail/v1/users/"):
		s.serveAPI(w, r, apiGmail)
	case p == "/batch/gmail/v1" || p == "/batch":
		s.serveBatch(w, r)
	case strings.HasPrefix(p, "/gmail/v1/"):
		s.serveAPI(w, r, apiGmail)
	case strings.HasPrefix(p, "/calendar/v3/"):
		s.serveAPI(w, r, apiCalendar)
	case strings.HasPrefix(p, "/v1/people"), strings.HasPrefix(p, "/v1/contactGroups"):
		s.serveAPI(w, r, apiPeople)
	case strings.HasPrefix(p, "/admin/directory/v1/"):
		s.serveAPI(w, r, apiDirectory)
	default:
		googleError(w, http.StatusNotFound, "notFound", "Not Found")
	}
}

func randomDigits(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	if b[0] == '0' {
		b[0] = '1'
	}
	return string(b)
}
