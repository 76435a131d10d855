// Package google is the Google Workspace connector: a platform.Connector,
// platform.Provisioner and platform.Verifier over the official
// google.golang.org/api clients (gmail/v1, calendar/v3, people/v1,
// admin/directory/v1), authenticated with a service-account JSON key and
// domain-wide delegation (golang.org/x/oauth2/google, Subject = the user).
//
// The token URL and the API endpoint are configuration, so the same code
// talks to Google and to the sandbox tenant (libs/sandbox/google); only
// Config differs. docs/google.md says how labels become folders and
// categories and back, how mail is imported raw with a marker header that a
// per-mailbox marker index finds again, what the quota costs per item, and
// how events (events.import) and contacts (People) keep their fidelity
// without sending anything.
package google

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	oauthgoogle "golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"
	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/option"
	"google.golang.org/api/people/v1"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/pacing"
	"github.com/mailferry/mailferry/libs/platform"
)

// Scopes the connector asks for, one token per API so that a scope the
// administrator left out stops only what needs it.
const (
	ScopeGmail     = "https://mail.google.com/"
	ScopeCalendar  = "https://www.googleapis.com/auth/calendar"
	ScopeContacts  = "https://www.googleapis.com/auth/contacts"
	ScopeDirectory = "https://www.googleapis.com/auth/admin.directory.user"
)

// RequiredScopes is the exact list an administrator enters for mailferry's
// client id under Security > Access and data control > API controls >
// Domain-wide delegation. The full Gmail scope is needed because only it
// may delete a message for good (replacing an old version of a copy).
var RequiredScopes = []string{ScopeGmail, ScopeCalendar, ScopeContacts, ScopeDirectory}

// Defaults of the real Google.
const (
	// DefaultMaxItemBytes is the largest message messages.import takes
	// through the upload endpoint (its discovery document's maxSize).
	DefaultMaxItemBytes = 150 << 20
	// DefaultMaxConcurrentPerMailbox bounds requests in flight per user;
	// Gmail limits concurrency per user without publishing the number.
	DefaultMaxConcurrentPerMailbox = 8
	// DefaultGmailUnitsPerMinute is Gmail's per-user quota, and
	// DefaultCalendarRequestsPerMinute Calendar's (BRIEF section 5).
	DefaultGmailUnitsPerMinute       = 15000
	DefaultCalendarRequestsPerMinute = 600
	DefaultPeopleRequestsPerMinute   = 90
	// DefaultBatchSize is how many calls go into one Gmail batch request:
	// Google takes 100 but advises 50, above which parts are throttled
	// more often.
	DefaultBatchSize = 50
)

// Config says how to reach a Workspace.
type Config struct {
	// ServiceAccountKey is the JSON key file of the service account whose
	// client id holds domain-wide delegation of RequiredScopes.
	ServiceAccountKey []byte
	// AdminEmail is the administrator impersonated for the Directory API
	// (listing and creating users).
	AdminEmail string
	// ClientID, when set, is the client id the administrator delegated
	// to; a key of another service account is then refused up front.
	ClientID string
	// TokenURL overrides the key file's token_uri (the sandbox's).
	TokenURL string
	// Endpoint is the root of every API, with a trailing slash, as
	// option.WithEndpoint takes it ("" for Google's own hosts); Calendar
	// is under Endpoint + "calendar/v3/", Gmail's batch endpoint under
	// Endpoint + "batch/gmail/v1".
	Endpoint string
	// HTTPClient carries TLS trust (the sandbox's CA); its Transport is
	// the base of token requests and API calls.
	HTTPClient *http.Client
	// MaxConcurrentPerMailbox bounds requests in flight per user, default
	// 8; it halves on every throttled answer and grows back (libs/pacing).
	MaxConcurrentPerMailbox int
	// GmailUnitsPerMinute, CalendarRequestsPerMinute and
	// PeopleRequestsPerMinute pace each user below Google's quotas
	// (defaults 15,000, 600 and 90, the People API's default per-user
	// limit); negative disables the pacing (tests of throttling,
	// quota-free sandboxes).
	GmailUnitsPerMinute       int
	CalendarRequestsPerMinute int
	PeopleRequestsPerMinute   int
	// ProjectUnitsPerMinute paces all Gmail calls of this connector
	// together (the project quota is 1,200,000); 0 leaves it to the
	// per-user pacing.
	ProjectUnitsPerMinute int
	// MaxItemBytes is the largest message written, default 150 MB; tests
	// lower it so that the over-limit path runs on small items.
	MaxItemBytes int64
	// PageSize is how many ids one list call asks for (default 100, at
	// most 500); tests lower it to exercise paging.
	PageSize int
	// BatchSize is how many calls go into one Gmail batch request
	// (default 50, at most 100).
	BatchSize int
	// Labels chooses how Gmail labels become folders and categories
	// (default LabelsFirstFolder; docs/google.md).
	Labels LabelMode
	// MarkerRefresh is how old the marker index of a mailbox may be
	// before FindByMarker catches it up through the History API
	// (default one minute).
	MarkerRefresh time.Duration
	// ThrottleBackoff is the first wait after a throttled answer without
	// Retry-After (Gmail sends none); it doubles per consecutive refusal
	// up to 64 s. Default one second.
	ThrottleBackoff time.Duration
}

// key is the part of a service-account key file the connector reads.
type key struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	ClientID     string `json:"client_id"`
	TokenURI     string `json:"token_uri"`
}

// Connector is an open Google Workspace.
type Connector struct {
	cfg   Config
	key   key
	base  *http.Client // TLS trust only: token requests
	gates *pacing.Gates
	pace  *pacer

	mu      sync.Mutex
	clients map[string]*userClients // by lower-case user and scope

	labels   labelCache
	meta     metaCache
	markers  markerIndexes
	others   otherIndexes
	throttle throttleState
}

// Open checks the configuration and the key's shape. It does not call
// Google: Verify does.
func Open(ctx context.Context, cfg Config) (*Connector, error) {
	_ = ctx // building clients makes no call
	k, err := parseKey(cfg.ServiceAccountKey)
	if err != nil {
		return nil, err
	}
	if cfg.ClientID != "" && strings.TrimSpace(cfg.ClientID) != k.ClientID {
		return nil, errs.New(CodeKeyWrongAccount,
			fmt.Sprintf("the key belongs to service account %s (client id %s, project %s), not to the client id %s that holds domain-wide delegation",
				k.ClientEmail, k.ClientID, k.ProjectID, strings.TrimSpace(cfg.ClientID)),
			"download a key of the service account whose client id is listed in the Admin console under Security > Access and data control > API controls > Domain-wide delegation, or correct the client id")
	}
	if strings.TrimSpace(cfg.AdminEmail) == "" || !strings.Contains(cfg.AdminEmail, "@") {
		return nil, errs.Field("adminEmail", "give the address of a Workspace super administrator; mailferry impersonates it to list and create users")
	}
	cfg.AdminEmail = strings.ToLower(strings.TrimSpace(cfg.AdminEmail))
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, errs.Field("endpoint", "must be an https URL such as https://www.googleapis.com/")
		}
		if !strings.HasSuffix(cfg.Endpoint, "/") {
			cfg.Endpoint += "/"
		}
	}
	if cfg.TokenURL != "" {
		u, err := url.Parse(cfg.TokenURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, errs.Field("tokenUrl", "must be an https URL such as "+oauthgoogle.JWTTokenURL)
		}
	}
	if cfg.MaxConcurrentPerMailbox <= 0 {
		cfg.MaxConcurrentPerMailbox = DefaultMaxConcurrentPerMailbox
	}
	if cfg.GmailUnitsPerMinute == 0 {
		cfg.GmailUnitsPerMinute = DefaultGmailUnitsPerMinute
	}
	if cfg.CalendarRequestsPerMinute == 0 {
		cfg.CalendarRequestsPerMinute = DefaultCalendarRequestsPerMinute
	}
	if cfg.PeopleRequestsPerMinute == 0 {
		cfg.PeopleRequestsPerMinute = DefaultPeopleRequestsPerMinute
	}
	if cfg.MaxItemBytes <= 0 {
		cfg.MaxItemBytes = DefaultMaxItemBytes
	}
	if cfg.PageSize <= 0 || cfg.PageSize > 500 {
		cfg.PageSize = 100
	}
	if cfg.BatchSize <= 0 || cfg.BatchSize > 100 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Labels == "" {
		cfg.Labels = LabelsFirstFolder
	}
	if !cfg.Labels.valid() {
		return nil, errs.Field("labelMode", fmt.Sprintf("%q is not one of %s, %s, %s", cfg.Labels, LabelsFirstFolder, LabelsAllCategories, LabelsFolderPerLabel))
	}
	if cfg.MarkerRefresh <= 0 {
		cfg.MarkerRefresh = time.Minute
	}
	if cfg.ThrottleBackoff <= 0 {
		cfg.ThrottleBackoff = time.Second
	}
	base := &http.Client{Transport: http.DefaultTransport}
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		base = &http.Client{Transport: cfg.HTTPClient.Transport}
	}
	c := &Connector{cfg: cfg, key: k, base: base, gates: pacing.NewGates(cfg.MaxConcurrentPerMailbox),
		pace: newPacer(cfg), clients: map[string]*userClients{}}
	return c, nil
}

// parseKey reads a key file far enough to sign with it; the error says
// what is wrong without quoting the key.
func parseKey(raw []byte) (key, error) {
	var k key
	bad := func(why string) error {
		return errs.New(CodeKeyMalformed, "the service-account key is not usable: "+why,
			"in the Google Cloud console open IAM & Admin > Service accounts > the service account > Keys > Add key > Create new key > JSON, and upload that file unchanged")
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return k, bad("it is empty")
	}
	if err := json.Unmarshal(raw, &k); err != nil {
		return k, bad("it is not JSON")
	}
	switch {
	case k.Type != "service_account":
		return k, bad(fmt.Sprintf("its type is %q, not \"service_account\" (an OAuth client or user credential was given)", k.Type))
	case k.ClientEmail == "":
		return k, bad("it has no client_email")
	case k.ClientID == "":
		return k, bad("it has no client_id")
	case k.PrivateKey == "":
		return k, bad("it has no private_key")
	}
	// The same parse the JWT flow does when it signs, done now so that a
	// damaged key is reported before any run.
	if _, err := oauthgoogle.JWTConfigFromJSON(raw); err != nil {
		return k, bad("it cannot be read as a service-account key")
	}
	if !privateKeyParses([]byte(k.PrivateKey)) {
		return k, bad("its private_key is not a PEM RSA private key")
	}
	return k, nil
}

// FromCredentials opens a connector from stored credentials. Fields:
// adminEmail, and optionally clientId, labelMode, maxConcurrentPerMailbox,
// and for the sandbox only endpoint, tokenUrl and caPem. Secrets:
// serviceAccountKey (the JSON key file).
func FromCredentials(ctx context.Context, creds platform.Credentials) (*Connector, error) {
	cfg := Config{
		ServiceAccountKey: []byte(creds.Secrets["serviceAccountKey"]),
		AdminEmail:        creds.Fields["adminEmail"],
		ClientID:          creds.Fields["clientId"],
		TokenURL:          creds.Fields["tokenUrl"],
		Endpoint:          creds.Fields["endpoint"],
		Labels:            LabelMode(creds.Fields["labelMode"]),
	}
	if len(cfg.ServiceAccountKey) == 0 {
		return nil, errs.Field("serviceAccountKey", "the service-account key (JSON) is missing")
	}
	if n, err := strconv.Atoi(creds.Fields["maxConcurrentPerMailbox"]); err == nil && n > 0 {
		cfg.MaxConcurrentPerMailbox = n
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

// Kind returns platform.Google.
func (c *Connector) Kind() platform.Kind { return platform.Google }

// Limits returns the message size limit.
func (c *Connector) Limits() platform.Limits {
	return platform.Limits{MaxItemBytes: c.cfg.MaxItemBytes}
}

// userClients are the API clients of one impersonated user and scope.
type userClients struct {
	http   *http.Client // authorised, gated: also the batch client
	gmail  *gmail.Service
	cal    *calendar.Service
	people *people.Service
	dir    *admin.Service
}

// jwtConfig is the delegation configuration for a user and scopes.
func (c *Connector) jwtConfig(subject string, scopes ...string) *jwt.Config {
	jc, _ := oauthgoogle.JWTConfigFromJSON(c.cfg.ServiceAccountKey, scopes...) // parsed in Open
	jc.Subject = subject
	if c.cfg.TokenURL != "" {
		jc.TokenURL = c.cfg.TokenURL
	}
	return jc
}

// tokenSource fetches delegated tokens through the TLS-trusting client.
func (c *Connector) tokenSource(subject string, scopes ...string) oauth2.TokenSource {
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, c.base)
	return c.jwtConfig(subject, scopes...).TokenSource(ctx)
}

// clientsFor returns the (cached) clients acting as user with one scope.
// Calls made through them take the user's gate and pacing.
func (c *Connector) clientsFor(user, scope string) (*userClients, error) {
	user = strings.ToLower(strings.TrimSpace(user))
	k := user + "\x00" + scope
	c.mu.Lock()
	defer c.mu.Unlock()
	if uc := c.clients[k]; uc != nil {
		return uc, nil
	}
	gateKey := user
	if scope == ScopeDirectory {
		gateKey = "" // tenant-wide calls are no mailbox's
	}
	hc := &http.Client{
		Transport: &oauth2.Transport{
			Source: oauth2.ReuseTokenSource(nil, c.tokenSource(user, scope)),
			Base:   &gatedTransport{next: c.base.Transport, c: c, mailbox: gateKey},
		},
		// The SDKs follow no redirects of their own; neither do we.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	uc := &userClients{http: hc}
	opts := func(suffix string) []option.ClientOption {
		o := []option.ClientOption{option.WithHTTPClient(hc)}
		if c.cfg.Endpoint != "" {
			o = append(o, option.WithEndpoint(c.cfg.Endpoint+suffix))
		}
		return o
	}
	var err error
	ctx := context.Background()
	switch scope {
	case ScopeGmail:
		uc.gmail, err = gmail.NewService(ctx, opts("")...)
	case ScopeCalendar:
		uc.cal, err = calendar.NewService(ctx, opts("calendar/v3/")...)
	case ScopeContacts:
		uc.people, err = people.NewService(ctx, opts("")...)
	case ScopeDirectory:
		uc.dir, err = admin.NewService(ctx, opts("")...)
	}
	if err != nil {
		return nil, fmt.Errorf("google: client for %s: %w", scope, err)
	}
	c.clients[k] = uc
	return uc, nil
}

// dropClients forgets the clients (and so the token) of a user and scope,
// after Google refused the token.
func (c *Connector) dropClients(user, scope string) {
	if user == "" {
		user = c.cfg.AdminEmail
	}
	c.mu.Lock()
	delete(c.clients, strings.ToLower(strings.TrimSpace(user))+"\x00"+scope)
	c.mu.Unlock()
}

func (c *Connector) gmailFor(mailboxID string) (*userClients, error) {
	if mailboxID == "" {
		return nil, errs.New(errs.NotFound, "the mailbox id is empty", "list the mailboxes again")
	}
	return c.clientsFor(mailboxID, ScopeGmail)
}

func (c *Connector) calendarFor(mailboxID string) (*calendar.Service, error) {
	if mailboxID == "" {
		return nil, errs.New(errs.NotFound, "the mailbox id is empty", "list the mailboxes again")
	}
	uc, err := c.clientsFor(mailboxID, ScopeCalendar)
	if err != nil {
		return nil, err
	}
	return uc.cal, nil
}

func (c *Connector) peopleFor(mailboxID string) (*people.Service, error) {
	if mailboxID == "" {
		return nil, errs.New(errs.NotFound, "the mailbox id is empty", "list the mailboxes again")
	}
	uc, err := c.clientsFor(mailboxID, ScopeContacts)
	if err != nil {
		return nil, err
	}
	return uc.people, nil
}

func (c *Connector) directory() (*admin.Service, error) {
	uc, err := c.clientsFor(c.cfg.AdminEmail, ScopeDirectory)
	if err != nil {
		return nil, err
	}
	return uc.dir, nil
}

// batchURL is Gmail's batch endpoint.
func (c *Connector) batchURL() string {
	if c.cfg.Endpoint != "" {
		return c.cfg.Endpoint + "batch/gmail/v1"
	}
	return "https://gmail.googleapis.com/batch/gmail/v1"
}

var (
	_ platform.Connector   = (*Connector)(nil)
	_ platform.Provisioner = (*Connector)(nil)
	_ platform.Verifier    = (*Connector)(nil)
)
