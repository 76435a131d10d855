package google_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"

	"golang.org/x/oauth2"
	oauthgoogle "golang.org/x/oauth2/google"
	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/option"

	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

func TestServePrintsAWorkingConnectionLine(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- sandbox.Serve(ctx, "127.0.0.1:0", 11, 3, 20, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	var info sandbox.ServeInfo
	if err := json.Unmarshal(line, &info); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(info.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(info.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	client := func(subject string, scopes ...string) *http.Client {
		cfg, err := oauthgoogle.JWTConfigFromJSON(key, scopes...)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Subject = subject
		return cfg.Client(context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr}))
	}
	dir, err := admin.NewService(ctx, option.WithHTTPClient(client(info.Admin, admin.AdminDirectoryUserReadonlyScope)), option.WithEndpoint(info.BaseURL))
	if err != nil {
		t.Fatal(err)
	}
	// The read-only scope is not delegated: the line's scopes are.
	if _, err := dir.Users.List().Customer("my_customer").Do(); err == nil {
		t.Fatal("an undelegated scope got a token")
	}
	dir, _ = admin.NewService(ctx, option.WithHTTPClient(client(info.Admin, sandbox.ScopeDirectoryUser)), option.WithEndpoint(info.BaseURL))
	users, err := dir.Users.List().Customer("my_customer").Do()
	if err != nil || len(users.Users) != 4 || len(info.Users) != 4 {
		t.Fatalf("users %d (line says %d): %v", len(users.Users), len(info.Users), err)
	}
	gm, _ := gmail.NewService(ctx, option.WithHTTPClient(client(info.Users[1].Email, gmail.MailGoogleComScope)), option.WithEndpoint(info.BaseURL))
	prof, err := gm.Users.GetProfile("me").Do()
	if err != nil || prof.MessagesTotal != 20 {
		t.Fatalf("profile %+v %v", prof, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(info.KeyFile); !os.IsNotExist(err) {
		t.Fatalf("key file left behind: %v", err)
	}
}
