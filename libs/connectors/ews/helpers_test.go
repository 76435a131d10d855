package ews_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/connectors/ews"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/platform"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/sandbox/ews/schemacheck"
)

const testSeed = 7

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newSandbox starts an Exchange sandbox over HTTPS on 127.0.0.1 that
// records every SOAP round trip. When the test ends it checks that nothing
// was sent (no mail, no meeting message) and validates every request and
// response against Microsoft's EWS schemas (schemacheck logs that it
// skipped when the schemas or xmllint are missing).
func newSandbox(t *testing.T, cfg sandbox.Config) *sandbox.Sandbox {
	t.Helper()
	cfg.Record = true
	sb, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	// The service account, with ApplicationImpersonation and a mailbox.
	sb.Seed(sandbox.SeedSpec{Seed: testSeed})
	t.Cleanup(func() {
		sb.Close()
		if n := sb.SentMessages(); n != 0 {
			t.Errorf("the sandbox recorded %d messages sent; a migration must send nothing", n)
		}
		if inv := sb.Invitations(); len(inv) != 0 {
			t.Errorf("the sandbox recorded %d meeting messages: %+v", len(inv), inv)
		}
		var docs [][]byte
		for _, x := range sb.Exchanges() {
			docs = append(docs, x.Request, x.Response)
		}
		if len(docs) == 0 {
			t.Error("the sandbox recorded no SOAP exchange")
		}
		schemacheck.Check(t, "SOAP envelope", docs)
	})
	return sb
}

// leafFingerprint reads the SHA-256 fingerprint of the certificate a TLS
// server presents, as an administrator reads it off the server.
func leafFingerprint(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", u.Host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return ews.Fingerprint(conn.ConnectionState().PeerCertificates[0])
}

// configFor is the connector configuration for a sandbox: the seeded
// service account over NTLM, trusting the sandbox's self-signed
// certificate by its fingerprint, as a customer with a self-signed
// Exchange certificate would.
func configFor(t *testing.T, sb *sandbox.Sandbox) ews.Config {
	return ews.Config{URL: sb.URL(), Username: sb.NetBIOSDomain() + `\` + sandbox.ServiceAccount,
		Password: sandbox.Password(testSeed, sandbox.ServiceAccount), Auth: soap.AuthNTLM,
		CertFingerprint: leafFingerprint(t, sb.URL())}
}

func open(t *testing.T, cfg ews.Config) *ews.Connector {
	t.Helper()
	c, err := ews.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rawClient is a plain EWS client as the service account, for what a
// mailbox's user does behind the connector's back.
func rawClient(sb *sandbox.Sandbox) *soap.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: sb.CertPool(), MinVersion: tls.VersionTLS12}
	return &soap.Client{URL: sb.URL(), Username: sandbox.ServiceAccount + "@" + sb.Domain(),
		Password: sandbox.Password(testSeed, sandbox.ServiceAccount), Auth: soap.AuthBasic, HTTP: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// addMailbox adds an empty mailbox and returns its address.
func addMailbox(t *testing.T, sb *sandbox.Sandbox, user string) string {
	t.Helper()
	if err := sb.AddAccount(sandbox.Account{Username: user, Password: "Pw-" + user + "!1", DisplayName: strings.ToUpper(user[:1]) + user[1:], HasMailbox: true}); err != nil {
		t.Fatal(err)
	}
	return user + "@" + sb.Domain()
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
			t.Fatalf("Items: %v", err)
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

// update changes one item as its user would, through plain EWS.
func update(ctx context.Context, c *soap.Client, mb string, id string, calendar bool, fields ...soap.SetItemField) error {
	ch := soap.ItemChange{ItemID: &soap.ItemID{ID: id}}
	ch.Updates.SetItemField = fields
	req := &soap.UpdateItem{ConflictResolution: "AlwaysOverwrite", ItemChanges: soap.ItemChanges{ItemChange: []soap.ItemChange{ch}}}
	if calendar {
		req.SendMeetingInvitationsOrCancellations = "SendToNone"
	} else {
		req.MessageDisposition = "SaveOnly"
	}
	var resp soap.UpdateItemResponse
	if err := c.Call(ctx, mb, req, &resp); err != nil {
		return err
	}
	return soap.Check("UpdateItem", resp.ResponseMessages.Messages)
}

// remove deletes an item for good as its user would.
func remove(ctx context.Context, c *soap.Client, mb, id string) error {
	var resp soap.DeleteItemResponse
	if err := c.Call(ctx, mb, &soap.DeleteItem{DeleteType: "HardDelete", SendMeetingCancellations: "SendToNone",
		ItemIDs: *soap.ItemList(soap.ItemID{ID: id})}, &resp); err != nil {
		return err
	}
	return soap.Check("DeleteItem", resp.ResponseMessages.Messages)
}

// categorize sets an item's categories, the change that makes a calendar
// item or a contact a new version without notifying anyone.
func categorize(cats ...string) soap.SetItemField {
	return soap.SetItemField{Path: soap.Field("item:Categories"), Item: &soap.Item{ItemFields: soap.ItemFields{Categories: &soap.Strings{String: cats}}}}
}
