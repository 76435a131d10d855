// Package m365 is the Microsoft 365 connector: a platform.Connector and
// platform.Provisioner over Microsoft Graph (msgraph-sdk-go) with app-only
// tokens from the Microsoft identity platform (azidentity).
//
// The Graph host and the login authority are configuration, so the same code
// talks to the real cloud and to the Graph sandbox (libs/sandbox/graph); only
// Config differs. See docs/m365.md for the write path chosen (JSON create with
// extended properties, so items are not drafts) and the fidelity it keeps.
//
// Calendars are read as iCalendar and written without ever sending an
// invitation; contacts are read and written as vCards (docs/m365.md).
package m365

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	kauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/pacing"
	"github.com/mailferry/mailferry/libs/platform"
)

// Defaults of the real cloud.
const (
	DefaultGraphBaseURL = "https://graph.microsoft.com"
	DefaultAuthorityURL = "https://login.microsoftonline.com/"
	// DefaultMaxConcurrentPerMailbox is Graph's limit of concurrent
	// requests per mailbox for Outlook resources.
	DefaultMaxConcurrentPerMailbox = 4
	// DefaultMaxItemBytes is the largest item Graph takes: attachments go
	// through upload sessions of at most 150 MB.
	DefaultMaxItemBytes = 150 << 20
	// graphScope is the app-only scope; it names the real Graph resource
	// even against the sandbox, which issues tokens for that audience.
	graphScope = "https://graph.microsoft.com/.default"
)

// Config says how to reach a tenant.
type Config struct {
	TenantID     string
	ClientID     string
	ClientSecret string
	// CertificatePEM and KeyPEM authenticate with a certificate instead of
	// a secret; they may be the same PEM holding both.
	CertificatePEM, KeyPEM []byte
	// GraphBaseURL is the Graph host without the version, default
	// https://graph.microsoft.com.
	GraphBaseURL string
	// AuthorityURL is the login host, default https://login.microsoftonline.com/.
	AuthorityURL string
	// HTTPClient carries TLS trust (the sandbox's CA); its Transport is
	// the parent of the Graph middleware pipeline and of token requests.
	HTTPClient *http.Client
	// MaxConcurrentPerMailbox bounds requests in flight per mailbox,
	// default 4 (the Graph limit).
	MaxConcurrentPerMailbox int
	// MaxItemBytes is the largest item written, default 150 MB. Tests
	// lower it so that the over-limit path runs on small items.
	MaxItemBytes int64
	// UsageLocation is the country (ISO 3166 alpha-2) given to users that
	// CreateMailbox makes, which Microsoft 365 needs before it assigns a
	// licence; empty means the tenant's own country from /organization.
	UsageLocation string
	// PageSize is the Prefer: odata.maxpagesize of delta pages, default
	// 100; tests lower it to exercise paging.
	PageSize int
}

// Connector is an open Microsoft 365 tenant.
type Connector struct {
	cfg    Config
	cred   azcore.TokenCredential
	client *msgraph.GraphServiceClient
	// raw sends requests that are not Graph calls through the same TLS
	// trust: upload-session chunks go to a pre-authenticated URL and must
	// not carry the bearer token.
	raw   *http.Client
	gate  *gates
	graph string // GraphBaseURL + "/v1.0"
	// markers indexes the markers of events and contacts per mailbox.
	markers markerIndex
	// native caches mailbox ids and import sessions (fidelity.go).
	native nativeState
}

// Open checks the configuration and builds the Graph client. It does not
// call the tenant: Verify does.
func Open(ctx context.Context, cfg Config) (*Connector, error) {
	_ = ctx // building the client makes no call; ctx is kept for symmetry with other connectors
	if strings.TrimSpace(cfg.TenantID) == "" {
		return nil, errs.Field("tenantId", "the directory (tenant) id is missing")
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return nil, errs.Field("clientId", "the application (client) id is missing")
	}
	if cfg.ClientSecret == "" && len(cfg.CertificatePEM) == 0 {
		return nil, errs.Field("clientSecret", "give a client secret or a certificate")
	}
	if cfg.GraphBaseURL == "" {
		cfg.GraphBaseURL = DefaultGraphBaseURL
	}
	if cfg.AuthorityURL == "" {
		cfg.AuthorityURL = DefaultAuthorityURL
	}
	if cfg.MaxConcurrentPerMailbox <= 0 {
		cfg.MaxConcurrentPerMailbox = DefaultMaxConcurrentPerMailbox
	}
	if cfg.MaxItemBytes <= 0 {
		cfg.MaxItemBytes = DefaultMaxItemBytes
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 100
	}
	graphURL, err := url.Parse(strings.TrimSuffix(cfg.GraphBaseURL, "/"))
	if err != nil || graphURL.Host == "" || graphURL.Scheme != "https" {
		return nil, errs.Field("graphBaseUrl", "must be an https URL such as "+DefaultGraphBaseURL)
	}
	authURL, err := url.Parse(cfg.AuthorityURL)
	if err != nil || authURL.Host == "" || authURL.Scheme != "https" {
		return nil, errs.Field("authorityUrl", "must be an https URL such as "+DefaultAuthorityURL)
	}
	if !strings.HasSuffix(cfg.AuthorityURL, "/") {
		cfg.AuthorityURL += "/"
	}
	parent := http.DefaultTransport
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		parent = cfg.HTTPClient.Transport
	}
	c := &Connector{cfg: cfg, gate: newGates(cfg.MaxConcurrentPerMailbox), graph: graphURL.String() + "/v1.0"}
	c.raw = &http.Client{Transport: parent}

	clientOpts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: cfg.AuthorityURL},
		Transport: &http.Client{Transport: parent},
	}
	// Instance discovery asks login.microsoftonline.com whether the
	// authority is known; a custom authority (the sandbox, a sovereign
	// cloud given explicitly) must skip it.
	disableDiscovery := cfg.AuthorityURL != DefaultAuthorityURL
	if cfg.ClientSecret != "" {
		c.cred, err = azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOpts, DisableInstanceDiscovery: disableDiscovery})
	} else {
		pemData := append(append([]byte{}, cfg.CertificatePEM...), '\n')
		pemData = append(pemData, cfg.KeyPEM...)
		certs, key, perr := azidentity.ParseCertificates(pemData, nil)
		if perr != nil {
			// The parse error may quote the PEM; say only what is wrong.
			return nil, errs.New(errs.Invalid, "the certificate is not a PEM certificate with its private key",
				"upload the certificate (.pem) that holds both the public certificate and its unencrypted private key")
		}
		c.cred, err = azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOpts, DisableInstanceDiscovery: disableDiscovery})
	}
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "the Microsoft 365 credentials are not usable", "check the tenant id, client id and secret or certificate")
	}
	auth, err := kauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(c.cred, []string{graphScope}, []string{graphURL.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("m365: auth provider: %w", err)
	}
	opts := msgraph.GetDefaultClientOptions()
	var mws []khttp.Middleware
	for _, m := range core.GetDefaultMiddlewaresWithOptions(&opts) {
		// The kiota retry handler would sleep through 429s unseen (and
		// resend POSTs after a 5xx, duplicating creates). The connector
		// surfaces errs.Throttle instead so that progress shows
		// "throttled" and the engine waits; writes are retried by the
		// engine behind FindByMarker, which keeps them idempotent.
		if _, ok := m.(*khttp.RetryHandler); ok {
			continue
		}
		mws = append(mws, m)
	}
	hc := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(&gatedTransport{next: parent, gate: c.gate}, mws...),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	adapter, err := msgraph.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	if err != nil {
		return nil, fmt.Errorf("m365: request adapter: %w", err)
	}
	adapter.SetBaseUrl(c.graph)
	// NewGraphServiceClient re-assigns the process-wide backing store
	// factory on every call, racing with model constructors of connectors
	// already in use; a nil factory keeps the (identical) default.
	c.client = &msgraph.GraphServiceClient{GraphBaseServiceClient: *msgraph.NewGraphBaseServiceClient(adapter, nil)}
	return c, nil
}

// FromCredentials opens a connector from stored credentials. Fields:
// tenantId, clientId, and optionally graphBaseUrl, authorityUrl, caPem (a
// CA to trust, for the sandbox). Secrets: clientSecret, or certificate (PEM
// with the certificate and its private key).
func FromCredentials(ctx context.Context, creds platform.Credentials) (*Connector, error) {
	cfg := Config{
		TenantID:      creds.Fields["tenantId"],
		ClientID:      creds.Fields["clientId"],
		GraphBaseURL:  creds.Fields["graphBaseUrl"],
		AuthorityURL:  creds.Fields["authorityUrl"],
		ClientSecret:  creds.Secrets["clientSecret"],
		UsageLocation: creds.Fields["usageLocation"],
	}
	if n, err := strconv.Atoi(creds.Fields["maxConcurrentPerMailbox"]); err == nil && n > 0 {
		cfg.MaxConcurrentPerMailbox = n
	}
	if cert := creds.Secrets["certificate"]; cert != "" && cfg.ClientSecret == "" {
		cfg.CertificatePEM = []byte(cert)
	}
	if ca := creds.Fields["caPem"]; ca != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(ca)) {
			return nil, errs.Field("caPem", "is not a PEM certificate")
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig.RootCAs = pool
		cfg.HTTPClient = &http.Client{Transport: tr}
	}
	return Open(ctx, cfg)
}

// Kind returns platform.M365.
func (c *Connector) Kind() platform.Kind { return platform.M365 }

// Limits returns the item size limit.
func (c *Connector) Limits() platform.Limits {
	return platform.Limits{MaxItemBytes: c.cfg.MaxItemBytes}
}

// gates is the shared adaptive per-mailbox gate (libs/pacing) with Graph's
// cap of 4 concurrent requests per mailbox: each 429 halves the mailbox's
// concurrency and a run of successes earns a slot back.
type gates struct{ g *pacing.Gates }

func newGates(n int) *gates { return &gates{g: pacing.NewGates(n)} }

// acquire waits for a slot of the mailbox; release reports whether the
// request was throttled.
func (g *gates) acquire(ctx context.Context, mailbox string) (release func(throttled bool), err error) {
	return g.g.Acquire(ctx, mailbox)
}

// gatedTransport takes the mailbox's semaphore for every request under
// /users/{id}/, below the kiota middleware so that paging links, redirects
// and every other request count too. The slot is given back when the
// response headers arrive rather than when the body is closed: kiota's
// redirect and compression (415) handlers drop intermediate responses
// without closing them, which would leak slots until the mailbox froze.
// Graph answers are small JSON documents, so the difference is slight.
type gatedTransport struct {
	next http.RoundTripper
	gate *gates
}

func (t *gatedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	release, err := t.gate.acquire(req.Context(), mailboxOfPath(req.URL.Path))
	if err != nil {
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	release(err == nil && resp.StatusCode == http.StatusTooManyRequests)
	return resp, err
}

// mailboxOfPath returns the {id} of /v1.0/users/{id}/..., unescaped.
func mailboxOfPath(p string) string {
	i := strings.Index(p, "/users/")
	if i < 0 {
		return ""
	}
	rest := p[i+len("/users/"):]
	j := strings.IndexByte(rest, '/')
	if j < 0 {
		// /users/{id} itself is a directory call, not a mailbox call.
		return ""
	}
	id, err := url.PathUnescape(rest[:j])
	if err != nil {
		return rest[:j]
	}
	return id
}

var (
	_ platform.Connector   = (*Connector)(nil)
	_ platform.Provisioner = (*Connector)(nil)
	_ platform.Verifier    = (*Connector)(nil)
)
