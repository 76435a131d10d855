package google_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"
	oauthgoogle "golang.org/x/oauth2/google"
	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/api/people/v1"

	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

func start(t *testing.T, cfg sandbox.Config) *sandbox.Sandbox {
	t.Helper()
	sb, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	return sb
}

// tlsClient trusts only the sandbox's CA, as a client configured for it
// would.
func tlsClient(sb *sandbox.Sandbox) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: sb.CertPool(), MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// authed wires golang.org/x/oauth2/google exactly as BRIEF section 7 says:
// the service-account key (whose token_uri names the sandbox), Subject for
// domain-wide delegation, and the TLS-trusting client in the context.
func authed(t *testing.T, sb *sandbox.Sandbox, key []byte, subject string, scopes ...string) *http.Client {
	t.Helper()
	cfg, err := oauthgoogle.JWTConfigFromJSON(key, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Subject = subject
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, tlsClient(sb))
	return cfg.Client(ctx)
}

func opts(sb *sandbox.Sandbox, hc *http.Client, endpoint string) []option.ClientOption {
	return []option.ClientOption{option.WithHTTPClient(hc), option.WithEndpoint(endpoint)}
}

func gmailFor(t *testing.T, sb *sandbox.Sandbox, subject string, scopes ...string) *gmail.Service {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{gmail.MailGoogleComScope}
	}
	svc, err := gmail.NewService(context.Background(), opts(sb, authed(t, sb, sb.ServiceAccountKey(), subject, scopes...), sb.Endpoint())...)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func calendarFor(t *testing.T, sb *sandbox.Sandbox, subject string) *calendar.Service {
	t.Helper()
	svc, err := calendar.NewService(context.Background(), opts(sb, authed(t, sb, sb.ServiceAccountKey(), subject, calendar.CalendarScope), sb.CalendarEndpoint())...)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func peopleFor(t *testing.T, sb *sandbox.Sandbox, subject string) *people.Service {
	t.Helper()
	svc, err := people.NewService(context.Background(), opts(sb, authed(t, sb, sb.ServiceAccountKey(), subject, people.ContactsScope), sb.Endpoint())...)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func directoryFor(t *testing.T, sb *sandbox.Sandbox, subject string, scopes ...string) *admin.Service {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{admin.AdminDirectoryUserScope}
	}
	svc, err := admin.NewService(context.Background(), opts(sb, authed(t, sb, sb.ServiceAccountKey(), subject, scopes...), sb.Endpoint())...)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// apiErr extracts the googleapi.Error the client returns.
func apiErr(t *testing.T, err error) *googleapi.Error {
	t.Helper()
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		t.Fatalf("want a googleapi.Error, got %T: %v", err, err)
	}
	return ge
}

// tokenErr reads the token endpoint's refusal from the error
// golang.org/x/oauth2 returns (its JWT flow leaves ErrorCode unset, so
// the body is parsed as a connector would).
func tokenErr(t *testing.T, err error) (status int, code, desc string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("want an oauth2.RetrieveError, got %T: %v", err, err)
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(re.Body, &body); err != nil {
		t.Fatalf("token error body %q: %v", re.Body, err)
	}
	return re.Response.StatusCode, body.Error, body.Description
}

func reason(ge *googleapi.Error) string {
	if len(ge.Errors) == 0 {
		return ""
	}
	return ge.Errors[0].Reason
}
