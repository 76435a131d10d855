package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/ews/soap"
	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/option"
)

// TestSandboxM365Standalone: `mailferry sandbox m365` prints a working
// tenant on its first line; a plain HTTPS client trusting the printed CA
// gets a token with the printed credentials and lists the seeded users.
func TestSandboxM365Standalone(t *testing.T) {
	var info struct {
		BaseURL, AuthorityURL, CAFile, TenantID, ClientID, ClientSecret string
	}
	firstLine(t, &info, "m365", "--addr", "127.0.0.1:0", "--seed", "7", "--users", "3", "--messages", "2")
	if info.BaseURL == "" || info.ClientSecret == "" {
		t.Fatalf("first line lacks the base URL or the secret: %+v", info)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, info.CAFile)}}, Timeout: 30 * time.Second}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {info.ClientID}, "client_secret": {info.ClientSecret}, "scope": {"https://graph.microsoft.com/.default"}}
	resp, err := hc.PostForm(strings.TrimRight(info.AuthorityURL, "/")+"/"+info.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", info.BaseURL+"/v1.0/users", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var users struct {
		Value []map[string]any `json:"value"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&users)
	if resp.StatusCode != 200 || len(users.Value) != 3 {
		t.Fatalf("users: %d, %d users, want 3", resp.StatusCode, len(users.Value))
	}
}

// firstLine starts `mailferry sandbox <args>` and decodes the JSON of its
// first line of output into info.
func firstLine(t *testing.T, info any, args ...string) {
	t.Helper()
	p := startProc(t, "sandbox", nil, append([]string{"sandbox"}, args...)...)
	var line string
	deadline := time.Now().Add(60 * time.Second)
	for line == "" && time.Now().Before(deadline) {
		if out := p.out.String(); strings.Contains(out, "\n") {
			line, _, _ = strings.Cut(out, "\n")
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := json.NewDecoder(bufio.NewReader(strings.NewReader(line))).Decode(info); err != nil {
		t.Fatalf("first line %q: %v", line, err)
	}
}

func caPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	ca, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("CA file holds no certificate")
	}
	return pool
}

// TestSandboxGoogleStandalone: `mailferry sandbox google` prints a working
// domain on its first line; the official Gmail client, authorised with the
// printed service-account key file through domain-wide delegation, reads a
// seeded user's mailbox.
func TestSandboxGoogleStandalone(t *testing.T) {
	var info struct {
		BaseURL  string   `json:"baseUrl"`
		TokenURL string   `json:"tokenUrl"`
		CAFile   string   `json:"caFile"`
		KeyFile  string   `json:"keyFile"`
		Scopes   []string `json:"scopes"`
		Users    []struct {
			Email string `json:"email"`
		} `json:"users"`
	}
	firstLine(t, &info, "google", "--addr", "127.0.0.1:0", "--seed", "7", "--users", "3", "--messages", "4")
	// The seeded users and the administrator the Directory API needs.
	if len(info.Users) != 4 || info.KeyFile == "" || info.TokenURL == "" {
		t.Fatalf("first line: %+v, want 3 users and an admin, a key file and a token URL", info)
	}
	user := info.Users[1].Email
	key, err := os.ReadFile(info.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := googleoauth.JWTConfigFromJSON(key, gmail.MailGoogleComScope)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TokenURL, cfg.Subject = info.TokenURL, user
	base := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, info.CAFile)}}, Timeout: 30 * time.Second}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, base)
	svc, err := gmail.NewService(ctx, option.WithHTTPClient(cfg.Client(ctx)), option.WithEndpoint(info.BaseURL))
	if err != nil {
		t.Fatal(err)
	}
	prof, err := svc.Users.GetProfile("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	if prof.EmailAddress != user || prof.MessagesTotal != 4 {
		t.Fatalf("profile %s with %d messages, want %s with 4", prof.EmailAddress, prof.MessagesTotal, user)
	}
}

// TestSandboxExchangeStandalone: `mailferry sandbox exchange` prints an EWS
// URL and a service account with impersonation rights; an EWS client
// authenticating with NTLM finds a mailbox's messages through
// impersonation.
func TestSandboxExchangeStandalone(t *testing.T) {
	var info struct {
		EWSURL    string `json:"ewsUrl"`
		CAFile    string `json:"caFile"`
		Username  string `json:"username"`
		Password  string `json:"password"`
		Mailboxes []struct {
			SMTP string `json:"smtp"`
		} `json:"mailboxes"`
	}
	firstLine(t, &info, "exchange", "--addr", "127.0.0.1:0", "--seed", "7", "--users", "3", "--messages", "5")
	if len(info.Mailboxes) < 3 || info.Password == "" {
		t.Fatalf("first line: %+v, want 3 mailboxes and a password", info)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, info.CAFile)}}, Timeout: 30 * time.Second}
	c := &soap.Client{URL: info.EWSURL, Username: info.Username, Password: info.Password, Auth: soap.AuthNTLM, HTTP: hc}
	target := info.Mailboxes[len(info.Mailboxes)-1].SMTP
	var resp soap.FindItemResponse
	if err := c.Call(context.Background(), target, &soap.FindItem{Traversal: "Shallow", ItemShape: soap.ItemShape{BaseShape: soap.ShapeIDOnly},
		ParentFolderIDs: *soap.FolderList("inbox", "sentitems", "archive")}, &resp); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("FindItem", resp.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range resp.ResponseMessages.Messages {
		n += *m.RootFolder.TotalItemsInView
	}
	if n == 0 || n > 5 {
		t.Fatalf("%s's inbox, sent items and archive hold %d of its 5 messages", target, n)
	}
}
