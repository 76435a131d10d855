package google_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"testing"

	"golang.org/x/oauth2"
	oauthgoogle "golang.org/x/oauth2/google"
	"google.golang.org/api/gmail/v1"

	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

func TestDelegatedTokenLetsTheOfficialClientImpersonate(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	prof, err := gmailFor(t, sb, "ana@acme.example").Users.GetProfile("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	if prof.EmailAddress != "ana@acme.example" || prof.HistoryId == 0 {
		t.Fatalf("profile %+v", prof)
	}
	// Asking for another user than the impersonated one is refused.
	_, err = gmailFor(t, sb, "ana@acme.example").Users.GetProfile("bob@acme.example").Do()
	if ge := apiErr(t, err); ge.Code != 403 || reason(ge) != "forbidden" {
		t.Fatalf("other user: %d %s", ge.Code, reason(ge))
	}
}

// withKey replaces the private key of a key file, keeping its id: a file
// someone edited or whose key belongs to another account.
func withKey(t *testing.T, keyFile []byte) []byte {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(keyFile, &m); err != nil {
		t.Fatal(err)
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	m["private_key"] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	b, _ := json.Marshal(m)
	return b
}

func TestTokenEndpointRefusesLikeGoogle(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	sb.AddUser("gone@acme.example", "Gone User")
	sb.SuspendUser("gone@acme.example", true)
	newKey, deletedID, err := sb.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	sb.DeleteKey(deletedID)
	foreign, err := sb.ForeignKey()
	if err != nil {
		t.Fatal(err)
	}
	good := sb.ServiceAccountKey()
	cases := []struct {
		name    string
		key     []byte
		subject string
		scopes  []string
		status  int
		code    string
		desc    string
	}{
		{"wrong private key", withKey(t, good), "ana@acme.example", []string{sandbox.ScopeGmail}, 400, "invalid_grant", "Invalid JWT Signature."},
		{"deleted key", newKey, "ana@acme.example", []string{sandbox.ScopeGmail}, 400, "invalid_grant", "Invalid JWT Signature."},
		{"key of another project", foreign, "ana@acme.example", []string{sandbox.ScopeGmail}, 401, "unauthorized_client",
			"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."},
		{"scope not delegated", good, "ana@acme.example", []string{sandbox.ScopeGmail, "https://www.googleapis.com/auth/drive"}, 401, "unauthorized_client",
			"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."},
		{"unknown user", good, "nobody@acme.example", []string{sandbox.ScopeGmail}, 400, "invalid_grant", "Invalid email or User ID"},
		{"suspended user", good, "gone@acme.example", []string{sandbox.ScopeGmail}, 400, "invalid_grant", "Invalid email or User ID"},
		{"no scope", good, "ana@acme.example", nil, 400, "invalid_scope", "Invalid OAuth scope or ID token audience provided."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := oauthgoogle.JWTConfigFromJSON(tc.key, tc.scopes...)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Subject = tc.subject
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, tlsClient(sb))
			_, err = cfg.TokenSource(ctx).Token()
			status, code, desc := tokenErr(t, err)
			if status != tc.status || code != tc.code || desc != tc.desc {
				t.Fatalf("got %d %q %q", status, code, desc)
			}
		})
	}
}

func TestUndelegatedScopeAndRevokedDelegation(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	// Delegating a scope later makes it usable.
	sb.Delegate(sb.ClientID(), gmail.GmailReadonlyScope)
	if _, err := gmailFor(t, sb, "ana@acme.example", gmail.GmailReadonlyScope).Users.Labels.List("me").Do(); err != nil {
		t.Fatal(err)
	}
	// A read-only token cannot import.
	_, err := gmailFor(t, sb, "ana@acme.example", gmail.GmailReadonlyScope).Users.Messages.Import("me", &gmail.Message{Raw: "U3ViamVjdDogeA0KDQpoaQ=="}).Do()
	if ge := apiErr(t, err); ge.Code != 403 || reason(ge) != "insufficientPermissions" || ge.Message != "Request had insufficient authentication scopes." {
		t.Fatalf("read-only import: %d %s %q", ge.Code, reason(ge), ge.Message)
	}
	// Withdrawing the delegation stops new tokens.
	sb.Undelegate(sb.ClientID())
	_, err = gmailFor(t, sb, "ana@acme.example").Users.GetProfile("me").Do()
	if _, code, _ := tokenErr(t, err); code != "unauthorized_client" {
		t.Fatalf("after undelegation: %v", err)
	}
}

func TestExpiredTokenAnswers401(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	svc := gmailFor(t, sb, "ana@acme.example")
	if _, err := svc.Users.GetProfile("me").Do(); err != nil {
		t.Fatal(err)
	}
	sb.ExpireTokens()
	_, err := svc.Users.GetProfile("me").Do()
	if ge := apiErr(t, err); ge.Code != 401 || reason(ge) != "authError" {
		t.Fatalf("expired token: %d %s", ge.Code, reason(ge))
	}
}

func TestServiceAccountWithoutSubjectHasNoMailbox(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	_, err := gmailFor(t, sb, "").Users.GetProfile("ana@acme.example").Do()
	if ge := apiErr(t, err); ge.Code != 400 || reason(ge) != "failedPrecondition" {
		t.Fatalf("no subject: %d %s", ge.Code, reason(ge))
	}
}
