package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSandboxM365Standalone: `mailferry sandbox m365` prints a working
// tenant on its first line; a plain HTTPS client trusting the printed CA
// gets a token with the printed credentials and lists the seeded users.
func TestSandboxM365Standalone(t *testing.T) {
	p := startProc(t, "sandbox", nil, "sandbox", "m365", "--addr", "127.0.0.1:0", "--seed", "7", "--users", "3", "--messages", "2")
	var line string
	deadline := time.Now().Add(60 * time.Second)
	for line == "" && time.Now().Before(deadline) {
		if out := p.out.String(); strings.Contains(out, "\n") {
			line, _, _ = strings.Cut(out, "\n")
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	var info struct {
		BaseURL, AuthorityURL, CAFile, TenantID, ClientID, ClientSecret string
	}
	if err := json.NewDecoder(bufio.NewReader(strings.NewReader(line))).Decode(&info); err != nil || info.BaseURL == "" || info.ClientSecret == "" {
		t.Fatalf("first line %q: %v", line, err)
	}
	ca, err := os.ReadFile(info.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("CA file holds no certificate")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
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
