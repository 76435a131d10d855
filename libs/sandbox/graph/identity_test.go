package graph_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

func TestTokenWithSecretCarriesGrantedRoles(t *testing.T) {
	sb := start(t, graph.Config{})
	tid, cid, _ := sb.Credentials()
	tok, err := getToken(context.Background(), defaultCred(t, sb))
	if err != nil {
		t.Fatal(err)
	}
	c := claims(t, tok)
	if c["tid"] != tid || c["appid"] != cid || c["aud"] != "https://graph.microsoft.com" {
		t.Fatalf("claims tid=%v appid=%v aud=%v", c["tid"], c["appid"], c["aud"])
	}
	if exp, _ := c["exp"].(float64); time.Unix(int64(exp), 0).Before(time.Now().Add(50 * time.Minute)) {
		t.Fatalf("exp %v is not about an hour ahead", c["exp"])
	}
	var roles []string
	for _, r := range c["roles"].([]any) {
		roles = append(roles, r.(string))
	}
	for _, want := range graph.RequiredRoles {
		if !slices.Contains(roles, want) {
			t.Fatalf("roles %v lack %s", roles, want)
		}
	}

	// The token opens Graph through the SDK.
	sb.AddUser("ada@"+sb.Domain(), "Ada Lovelace")
	users, err := sdkClient(t, sb).Users().Get(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(users.GetValue()); n != 1 || *users.GetValue()[0].GetUserPrincipalName() != "ada@"+sb.Domain() {
		t.Fatalf("users: %d", n)
	}
}

func selfSigned(t *testing.T) (*x509.Certificate, *rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "mailferry app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestTokenWithCertificate(t *testing.T) {
	sb := start(t, graph.Config{})
	tid, cid, _ := sb.Credentials()
	cert, key, certPEM := selfSigned(t)
	newCred := func() *azidentity.ClientCertificateCredential {
		cred, err := azidentity.NewClientCertificateCredential(tid, cid, []*x509.Certificate{cert}, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOptions(sb), DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		return cred
	}
	// Before the certificate is registered the assertion's key is unknown.
	_, err := getToken(context.Background(), newCred())
	if err == nil || !strings.Contains(err.Error(), "AADSTS700027") {
		t.Fatalf("unregistered certificate: %v", err)
	}
	if err := sb.RegisterCertificate(certPEM); err != nil {
		t.Fatal(err)
	}
	tok, err := getToken(context.Background(), newCred())
	if err != nil {
		t.Fatal(err)
	}
	if c := claims(t, tok); c["appidacr"] != "2" || c["appid"] != cid {
		t.Fatalf("certificate token claims: appidacr=%v appid=%v", c["appidacr"], c["appid"])
	}
	sb.AddUser("bob@"+sb.Domain(), "Bob")
	if _, err := client(t, sb, newCred(), clientOpts{}).Users().Get(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityErrorsCarryTheirAADSTSCode(t *testing.T) {
	sb := start(t, graph.Config{})
	tid, cid, secret := sb.Credentials()
	cases := []struct {
		name, tenant, client, secret, code string
		disable                            bool
	}{
		{"wrong secret", tid, cid, "not-the-secret", "AADSTS7000215", false},
		{"unknown tenant", "11111111-2222-4333-8444-555555555555", cid, secret, "AADSTS90002", false},
		{"unknown app", tid, "99999999-2222-4333-8444-555555555555", secret, "AADSTS700016", false},
		{"disabled app", tid, cid, secret, "AADSTS7000112", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb.DisableApp(tc.disable)
			defer sb.DisableApp(false)
			_, err := getToken(context.Background(), secretCred(t, sb, tc.tenant, tc.client, tc.secret))
			if err == nil {
				t.Fatal("token issued")
			}
			var afe *azidentity.AuthenticationFailedError
			if !errors.As(err, &afe) && tc.code != "AADSTS90002" {
				t.Fatalf("want AuthenticationFailedError, got %T", err)
			}
			if !strings.Contains(err.Error(), tc.code) {
				t.Fatalf("error lacks %s: %v", tc.code, err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatal("the error quotes the client secret")
			}
		})
	}
	// The domain names the tenant as well as its id.
	if _, err := getToken(context.Background(), secretCred(t, sb, sb.Domain(), cid, secret)); err != nil {
		t.Fatalf("token by domain: %v", err)
	}
}

func TestGraphRejectsMissingAndBadTokensAndRevokedRoles(t *testing.T) {
	sb := start(t, graph.Config{})
	uid := sb.AddUser("carol@"+sb.Domain(), "Carol")
	for _, tok := range []string{"", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"} {
		res, body := rawDo(t, sb, "GET", "/v1.0/users", tok, "", nil)
		var e struct{ Error struct{ Code string } }
		_ = json.Unmarshal(body, &e)
		if res.StatusCode != 401 || e.Error.Code != "InvalidAuthenticationToken" {
			t.Fatalf("token %q: %d %s", tok, res.StatusCode, body)
		}
	}
	gc := sdkClient(t, sb)
	ctx := context.Background()
	if _, err := gc.Users().ByUserId(uid).MailFolders().Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	sb.Revoke("Mail.ReadWrite")
	_, err := gc.Users().ByUserId(uid).MailFolders().Get(ctx, nil)
	if code, status := odataErr(t, err); code != "ErrorAccessDenied" || status != 403 {
		t.Fatalf("after revoke: %s %d", code, status)
	}
	sb.Revoke("User.ReadWrite.All")
	_, err = gc.Users().Get(ctx, nil)
	if code, status := odataErr(t, err); code != "Authorization_RequestDenied" || status != 403 {
		t.Fatalf("users after revoke: %s %d", code, status)
	}
	sb.Grant("Mail.ReadWrite")
	// A token issued before the grant lacks the role; a new credential
	// gets one with it, as after re-consent.
	gc2 := sdkClient(t, sb)
	if _, err := gc2.Users().ByUserId(uid).MailFolders().Get(ctx, nil); err != nil {
		t.Fatalf("after re-grant: %v", err)
	}
}
