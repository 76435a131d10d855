package google_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	oauthgoogle "golang.org/x/oauth2/google"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/option"
	"google.golang.org/api/people/v1"

	"github.com/mailferry/mailferry/libs/connectors/google"
	"github.com/mailferry/mailferry/libs/platform"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newSandbox starts a sandbox Workspace over HTTPS on 127.0.0.1 and checks,
// when the test ends, that nothing was sent from it: no mail, no meeting
// invitation, update or cancellation.
func newSandbox(t *testing.T, cfg sandbox.Config) *sandbox.Sandbox {
	t.Helper()
	sb, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := sb.SentMessages(); n != 0 {
			t.Errorf("the sandbox recorded %d messages sent; a migration must send nothing", n)
		}
		if inv := sb.Invitations(); len(inv) != 0 {
			t.Errorf("the sandbox recorded %d meeting messages: %+v", len(inv), inv)
		}
		if n := sb.CalendarProcessed(); n != 0 {
			t.Errorf("%d imported messages were processed into calendars", n)
		}
		sb.Close()
	})
	return sb
}

func tlsClient(sb *sandbox.Sandbox) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: sb.CertPool(), MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}
}

// configFor is the connector configuration for a sandbox: only the token
// URL, the endpoint and the TLS trust differ from a real Workspace. The
// quota pacing is off; tests of pacing turn it on.
func configFor(sb *sandbox.Sandbox) google.Config {
	return google.Config{
		ServiceAccountKey:         sb.ServiceAccountKey(),
		AdminEmail:                "admin@" + sb.Domain(),
		TokenURL:                  sb.TokenURL(),
		Endpoint:                  sb.Endpoint(),
		HTTPClient:                tlsClient(sb),
		GmailUnitsPerMinute:       -1,
		CalendarRequestsPerMinute: -1,
		PeopleRequestsPerMinute:   -1,
		ThrottleBackoff:           20 * time.Millisecond,
	}
}

func open(t *testing.T, cfg google.Config) *google.Connector {
	t.Helper()
	c, err := google.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// asUser is the official client acting as a user through the same
// delegation: the user's own edits and new mail, unseen by the connector
// under test and its caches.
func asUser(t *testing.T, sb *sandbox.Sandbox, user string, scope string) *http.Client {
	t.Helper()
	cfg, err := oauthgoogle.JWTConfigFromJSON(sb.ServiceAccountKey(), scope)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Subject = user
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, tlsClient(sb))
	return cfg.Client(ctx)
}

func gmailAs(t *testing.T, sb *sandbox.Sandbox, user string) *gmail.Service {
	t.Helper()
	svc, err := gmail.NewService(context.Background(), option.WithHTTPClient(asUser(t, sb, user, gmail.MailGoogleComScope)), option.WithEndpoint(sb.Endpoint()))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func calendarAs(t *testing.T, sb *sandbox.Sandbox, user string) *calendar.Service {
	t.Helper()
	svc, err := calendar.NewService(context.Background(), option.WithHTTPClient(asUser(t, sb, user, calendar.CalendarScope)), option.WithEndpoint(sb.CalendarEndpoint()))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func peopleAs(t *testing.T, sb *sandbox.Sandbox, user string) *people.Service {
	t.Helper()
	svc, err := people.NewService(context.Background(), option.WithHTTPClient(asUser(t, sb, user, people.ContactsScope)), option.WithEndpoint(sb.Endpoint()))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// messageCount is what Gmail says a mailbox holds.
func messageCount(t *testing.T, sb *sandbox.Sandbox, user string) int {
	t.Helper()
	p, err := gmailAs(t, sb, user).Users.GetProfile("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	return int(p.MessagesTotal)
}

func folderByRole(t *testing.T, c platform.Source, mb string, r platform.Role) platform.Folder {
	t.Helper()
	folders, err := c.Folders(ctxFor(t), mb)
	if err != nil {
		t.Fatalf("Folders(%s): %v", mb, err)
	}
	for _, f := range folders {
		if f.Role == r {
			return f
		}
	}
	t.Fatalf("mailbox %s has no %s folder", mb, r)
	return platform.Folder{}
}

// enumerate pages a folder to its delta token.
func enumerate(t *testing.T, c platform.Source, mb, folder, token string) ([]platform.ItemRef, string, int) {
	t.Helper()
	var refs []platform.ItemRef
	pages := 0
	for {
		p, err := c.Items(ctxFor(t), mb, folder, token)
		if err != nil {
			t.Fatalf("Items(%s): %v", folder, err)
		}
		pages++
		if (p.NextToken == "") == (p.DeltaToken == "") {
			t.Fatalf("page %d: want exactly one of NextToken and DeltaToken", pages)
		}
		refs = append(refs, p.Items...)
		if p.DeltaToken != "" {
			return refs, p.DeltaToken, pages
		}
		token = p.NextToken
	}
}

// eventID is the Calendar event id of an event item id.
func eventID(itemID string) string {
	id, _, _ := strings.Cut(itemID, "~")
	return id
}
