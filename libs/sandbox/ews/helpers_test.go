package ews_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/ews/soap"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/sandbox/ews/schemacheck"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

const testSeed = 7

// start runs a recording sandbox seeded with a small tenant and, when the
// test ends, validates every request and response it handled against the
// EWS schemas.
func start(t *testing.T, cfg sandbox.Config) *sandbox.Sandbox {
	t.Helper()
	cfg.Record = true
	sb, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sb.Close()
		validate(t, sb)
	})
	sb.Seed(sandbox.SeedSpec{Users: 3, MessagesPerUser: 30, EventsPerUser: 4, ContactsPerUser: 4, Seed: testSeed, Profile: tenantgen.Light})
	return sb
}

// validate checks the recorded envelopes against the schemas.
func validate(t *testing.T, sb *sandbox.Sandbox) {
	t.Helper()
	var docs [][]byte
	for _, x := range sb.Exchanges() {
		docs = append(docs, x.Request, x.Response)
	}
	if len(docs) == 0 {
		t.Error("the sandbox recorded no SOAP exchange")
	}
	schemacheck.Check(t, "SOAP envelope", docs)
}

func httpClient(sb *sandbox.Sandbox) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: sb.CertPool(), MinVersion: tls.VersionTLS12}
	tr.ForceAttemptHTTP2 = false
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// client is an EWS client as username (DOMAIN\user or UPN).
func client(sb *sandbox.Sandbox, username, password string, auth soap.Auth) *soap.Client {
	return &soap.Client{URL: sb.URL(), Username: username, Password: password, Auth: auth, HTTP: httpClient(sb)}
}

// service is the seeded service account over NTLM.
func service(sb *sandbox.Sandbox) *soap.Client {
	return client(sb, sb.NetBIOSDomain()+`\`+sandbox.ServiceAccount, sandbox.Password(testSeed, sandbox.ServiceAccount), soap.AuthNTLM)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// userAddr is the address of mailbox n; mailbox 0 is the service account.
func userAddr(sb *sandbox.Sandbox, n int) string { return sb.Mailboxes()[n].SMTP }

// getFolder is a GetFolder of one folder.
func getFolder(t *testing.T, c *soap.Client, as, folder string) soap.Folder {
	t.Helper()
	var resp soap.GetFolderResponse
	if err := c.Call(ctx(t), as, &soap.GetFolder{FolderShape: soap.FolderShape{BaseShape: soap.ShapeAllProperties},
		FolderIDs: *soap.FolderList(folder)}, &resp); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("GetFolder", resp.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	return resp.ResponseMessages.Messages[0].Folders.Folders[0]
}
