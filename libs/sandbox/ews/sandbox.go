// Package ews is a sandbox Exchange Server (2013 to 2019 and Subscription
// Edition) reached through Exchange Web Services: an HTTPS SOAP server at
// /EWS/Exchange.asmx with Basic and NTLM authentication, the
// ApplicationImpersonation role, mail folders, mail as MIME, calendar items,
// contacts and distribution lists, SyncFolderHierarchy and SyncFolderItems,
// the per-user concurrency limit and budget of Exchange's throttling
// policies answered with ErrorServerBusy and BackOffMilliseconds, and
// injected faults.
//
// It exists because a migration cannot be proven against a customer's
// Exchange server in every test run. Requests and responses use the wire
// types of libs/ews/soap, and in tests every envelope the sandbox handles
// can be recorded and validated against Microsoft's schemas (package
// schemacheck), so the sandbox and the clients built on that package stay
// faithful to the real protocol. Limits are configurable so that tests
// meet throttling in milliseconds. docs/sandbox-exchange.md lists what is
// faithful and what is simplified.
package ews

import (
	"crypto/tls"
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

	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/sandbox/sandboxtls"
)

// Limits are the EWS throttling policy. A zero field disables that limit.
type Limits struct {
	// MaxConcurrency is EWSMaxConcurrency: requests in flight per budget
	// (real default 27 since Exchange 2013). A service account
	// impersonating a mailbox has a budget per mailbox, apart from the
	// mailbox owner's own.
	MaxConcurrency int
	// Budget models Exchange 2013's token bucket of server time
	// (EwsMaxBurst, EwsRechargeRate, EwsCutoffBalance): each budget starts
	// with Burst, every request costs RequestCost, and the balance
	// recharges by RechargePerHour each hour. A request the balance cannot
	// pay is refused with ErrorServerBusy and BackOffMilliseconds, the time
	// until it can.
	Burst           time.Duration
	RechargePerHour time.Duration
	RequestCost     time.Duration
	// ConcurrencyBackOff is the BackOffMilliseconds sent when the
	// concurrency limit refuses a request (Exchange suggests 0 ms and
	// omits it then).
	ConcurrencyBackOff time.Duration
	// MaxPageSize caps IndexedPageItemView's MaxEntriesReturned (EWS
	// default policy: 1000).
	MaxPageSize int
}

// RealLimits are Exchange 2013-2019's default throttling policy, with the
// budget charged at a nominal 50 ms of server time per request.
func RealLimits() Limits {
	return Limits{
		MaxConcurrency: 27,
		Burst:          300 * time.Second, RechargePerHour: 900 * time.Second, RequestCost: 50 * time.Millisecond,
		MaxPageSize: 1000,
	}
}

// Faults are failures injected into EWS requests, counted over requests
// that reach the EWS endpoint.
type Faults struct {
	FailEvery  int // every Nth request fails with FailStatus
	FailStatus int // 503 (IIS queue full, the default) or 500 (ErrorInternalServerError fault)
	DropEvery  int // every Nth request has its connection dropped
	// DropResponseEvery drops the connection of every Nth request after
	// the operation was carried out, before the answer is written: the
	// lost-answer case in which a client that simply sends a CreateItem
	// again stores the item twice.
	DropResponseEvery int
	Latency           time.Duration // added to every request, holding its concurrency slot
}

// Config configures a sandbox.
type Config struct {
	// Domain is the SMTP domain of the mailboxes (default
	// "mailferry-sandbox.example"); NetBIOSDomain the NT domain of the
	// accounts (default "MAILFERRY"). The server is ex01.<Domain>.
	Domain        string
	NetBIOSDomain string
	// DisableBasic and DisableNTLM turn authentication methods off, as
	// the EWS virtual directory's settings do.
	DisableBasic, DisableNTLM bool
	Limits                    Limits
	Faults                    Faults
	// MaxRequestBytes caps a request body (default 64 MiB: EWS's
	// maxReceivedMessageSize); larger requests are answered 413.
	MaxRequestBytes int64
	// Record keeps every SOAP request and response for Exchanges.
	Record bool
	// Version is the build announced in ServerVersionInfo (default
	// Exchange 2019 CU14).
	Version soap.ServerVersionInfo
}

// Account is an Active Directory account; with HasMailbox it owns a
// mailbox at SMTP.
type Account struct {
	// Username is the sAMAccountName ("svc-mailferry").
	Username string
	Password string
	// SMTP is the primary SMTP address and the UPN.
	SMTP        string
	DisplayName string
	// Impersonation grants the ApplicationImpersonation role.
	Impersonation bool
	// EWSDisabled is Set-CASMailbox -EwsEnabled $false: requests as or for
	// this account are refused with 403.
	EWSDisabled bool
	HasMailbox  bool
}

// Invitation is a meeting message the server would have sent: a request,
// an update or a cancellation, with its recipients. A migration must leave
// the list empty.
type Invitation struct {
	Mailbox    string
	Kind       string // "request", "update", "cancellation"
	Subject    string
	Recipients []string
}

// Exchange is one recorded SOAP round trip.
type Exchange struct {
	Op       string
	User     string
	Request  []byte
	Response []byte
	Status   int
}

// Sandbox is one Exchange organisation with one server.
type Sandbox struct {
	cfg       Config
	domain    string
	nbDomain  string
	host      string
	ca        *sandboxtls.CA
	srv       *http.Server
	ln        net.Listener
	baseURL   string
	version   soap.ServerVersionInfo
	ewsOff    atomic.Bool
	requests  atomic.Int64
	throttled atomic.Int64
	sent      atomic.Int64

	mu        sync.Mutex
	limits    Limits
	faults    Faults
	faultN    uint64
	accounts  map[string]*account // by lower-case sAMAccountName
	bySMTP    map[string]*account
	order     []*account
	mbxN      uint64
	invites   []Invitation
	exchanges []Exchange

	budgets budgets
}

// New builds a sandbox; Start serves it.
func New(cfg Config) (*Sandbox, error) {
	s := &Sandbox{cfg: cfg, limits: cfg.Limits, faults: cfg.Faults,
		accounts: map[string]*account{}, bySMTP: map[string]*account{}}
	s.domain = strings.ToLower(cfg.Domain)
	if s.domain == "" {
		s.domain = "mailferry-sandbox.example"
	}
	s.nbDomain = strings.ToUpper(cfg.NetBIOSDomain)
	if s.nbDomain == "" {
		s.nbDomain = "MAILFERRY"
	}
	s.host = "ex01." + s.domain
	if s.cfg.MaxRequestBytes <= 0 {
		s.cfg.MaxRequestBytes = 64 << 20
	}
	s.version = cfg.Version
	if s.version.MajorVersion == 0 {
		s.version = soap.ServerVersionInfo{MajorVersion: 15, MinorVersion: 2, MajorBuildNumber: 1544, MinorBuildNumber: 4, Version: "V2017_07_11"}
	}
	if err := s.makeCA(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start serves HTTPS on a random port of 127.0.0.1.
func (s *Sandbox) Start() error { return s.StartOn("127.0.0.1:0") }

// StartOn serves HTTPS on addr; the certificate names 127.0.0.1, ::1,
// localhost, the server's name and addr's host.
func (s *Sandbox) StartOn(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("ews sandbox: address %q: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ews sandbox: listen on %s: %w", addr, err)
	}
	return s.serve(ln, host)
}

// StartListener serves HTTPS on a listener the caller opened: one in
// another network namespace, or one that watches who connects. The
// certificate names 127.0.0.1, ::1, localhost, the server's name and the
// listener's host.
func (s *Sandbox) StartListener(ln net.Listener) error {
	host, _, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return fmt.Errorf("ews sandbox: listener address %q: %w", ln.Addr(), err)
	}
	return s.serve(ln, host)
}

func (s *Sandbox) serve(ln net.Listener, host string) error {
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
	s.srv = &http.Server{Handler: s, TLSConfig: leaf, ReadHeaderTimeout: 30 * time.Second, ErrorLog: discardLogger(),
		ConnContext: withConnState,
		// HTTP/1.1 only, see makeLeaf.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
	go func() { _ = s.srv.ServeTLS(ln, "", "") }()
	return nil
}

// Close stops the server.
func (s *Sandbox) Close() {
	if s.srv != nil {
		_ = s.srv.Close()
	}
}

// URL is the EWS endpoint, https://host:port/EWS/Exchange.asmx.
func (s *Sandbox) URL() string { return s.baseURL + "/EWS/Exchange.asmx" }

// CAPEM is the certificate of the sandbox's own CA.
func (s *Sandbox) CAPEM() []byte { return slices.Clone(s.ca.PEM) }

// CertPool trusts the sandbox's CA.
func (s *Sandbox) CertPool() *x509.CertPool { return s.ca.Pool() }

// WriteCA writes the CA certificate as PEM to path.
func (s *Sandbox) WriteCA(path string) error {
	if err := os.WriteFile(path, s.ca.PEM, 0o644); err != nil {
		return fmt.Errorf("ews sandbox: write CA: %w", err)
	}
	return nil
}

// Domain is the SMTP domain; NetBIOSDomain the NT domain.
func (s *Sandbox) Domain() string        { return s.domain }
func (s *Sandbox) NetBIOSDomain() string { return s.nbDomain }

// SetLimits replaces the throttling policy; budgets carry on.
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

// SetEWSEnabled turns EWS off or on for the whole server (the virtual
// directory answers 403 when off).
func (s *Sandbox) SetEWSEnabled(on bool) { s.ewsOff.Store(!on) }

// Requests counts requests that reached the EWS endpoint.
func (s *Sandbox) Requests() int { return int(s.requests.Load()) }

// Throttled counts ErrorServerBusy refusals.
func (s *Sandbox) Throttled() int { return int(s.throttled.Load()) }

// SentMessages counts mail the server would have delivered (CreateItem
// with SendOnly or SendAndSaveCopy). A migration must leave it at zero.
func (s *Sandbox) SentMessages() int { return int(s.sent.Load()) }

// Invitations lists the meeting messages the server would have sent.
func (s *Sandbox) Invitations() []Invitation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.invites)
}

// Exchanges returns the recorded SOAP round trips (Config.Record) and
// forgets them.
func (s *Sandbox) Exchanges() []Exchange {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.exchanges
	s.exchanges = nil
	return out
}

func (s *Sandbox) record(e Exchange) {
	if !s.cfg.Record {
		return
	}
	s.mu.Lock()
	s.exchanges = append(s.exchanges, e)
	s.mu.Unlock()
}
