package connect_test

import (
	"context"
	"crypto/tls"
	"net/url"
	"strings"
	"testing"

	"github.com/mailferry/mailferry/libs/connect"
	"github.com/mailferry/mailferry/libs/connectors/ews"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
)

// TestOpenExchange opens the EWS connector from credentials as the
// platform stores them (fields, and the password in the vault), reaches
// the Exchange sandbox with its certificate pinned, and never lets the
// password into an error.
func TestOpenExchange(t *testing.T) {
	t.Parallel()
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	users := sb.Seed(sandbox.SeedSpec{Users: 2, MessagesPerUser: 2, Seed: 3})
	u, _ := url.Parse(sb.URL())
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	fp := ews.Fingerprint(conn.ConnectionState().PeerCertificates[0])
	conn.Close()
	pw := sandbox.Password(3, sandbox.ServiceAccount)
	op, err := connect.NewOpener(secrets{"ex": {"password": pw}, "wrong": {"password": "Not-" + pw}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fields := map[string]string{"ewsUrl": sb.URL(), "username": sb.NetBIOSDomain() + `\` + sandbox.ServiceAccount, "auth": "ntlm", "certFingerprint": fp}
	c, err := op.Open(ctx, platform.Exchange, fields, "ex")
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind() != platform.Exchange {
		t.Fatalf("kind %s", c.Kind())
	}
	mbs, err := c.ListMailboxes(ctx)
	if err != nil || len(mbs) != 3 {
		t.Fatalf("ListMailboxes: %+v %v", mbs, err)
	}
	v, ok := c.(platform.Verifier)
	if !ok {
		t.Fatal("the opened Exchange connector is not a Verifier")
	}
	if res, err := v.Verify(ctx); err != nil || len(res.Missing) != 0 {
		t.Fatalf("Verify: %+v %v", res, err)
	}
	if st, err := c.Stats(ctx, users[0]); err != nil || st.Mail != 2 {
		t.Fatalf("Stats: %+v %v", st, err)
	}
	bad, err := op.Open(ctx, platform.Exchange, fields, "wrong")
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.(platform.Verifier).Verify(ctx)
	if !errs.Is(err, ews.CodeAuthFailed) || strings.Contains(err.Error(), pw) {
		t.Fatalf("a wrong password: %v, want %s without the password", err, ews.CodeAuthFailed)
	}
}
