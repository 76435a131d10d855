package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/connectors/ews"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	ewssb "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

const exchangeSeed = 21

// exchangeOrg starts an Exchange sandbox with Exchange's default
// throttling policy and returns the test's own connector to it and the
// credentials as a project stores them: the EWS URL, the service account
// over NTLM and the sandbox's self-signed certificate pinned by its
// fingerprint, as a customer with a self-signed Exchange certificate
// would enter them; the password as the one secret. When the test ends
// it checks that Exchange sent nothing, meeting messages included.
func exchangeOrg(t *testing.T) (*ewssb.Sandbox, *ews.Connector, map[string]string, map[string]string) {
	t.Helper()
	sb, err := ewssb.New(ewssb.Config{Limits: ewssb.RealLimits()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := sb.SentMessages(); n != 0 {
			t.Errorf("Exchange sent %d messages during the migration", n)
		}
		if inv := sb.Invitations(); len(inv) != 0 {
			t.Errorf("Exchange sent %d meeting messages during the migration: %+v", len(inv), inv)
		}
		sb.Close()
	})
	sb.Seed(ewssb.SeedSpec{Seed: exchangeSeed}) // the service account
	u, err := url.Parse(sb.URL())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	fp := ews.Fingerprint(conn.ConnectionState().PeerCertificates[0])
	conn.Close()
	fields := map[string]string{"ewsUrl": sb.URL(), "username": sb.NetBIOSDomain() + `\` + ewssb.ServiceAccount, "auth": "ntlm", "certFingerprint": fp}
	secrets := map[string]string{"password": ewssb.Password(exchangeSeed, ewssb.ServiceAccount)}
	c, err := ews.FromCredentials(context.Background(), platform.Credentials{Platform: platform.Exchange, Fields: fields, Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	return sb, c, fields, secrets
}

// engineMarker is the transfer engine's migration marker of a source item
// (services/transfer/internal/engine.Marker): the same in every run.
func engineMarker(sourceMailboxID, itemID string) string {
	sum := sha256.Sum256([]byte(sourceMailboxID + "\x00" + itemID))
	return "mf1-" + hex.EncodeToString(sum[:])[:32]
}

// itemsOf lists every item of a mailbox, for the exactly-once check.
func itemsOf(t *testing.T, c platform.Source, mb string) []platform.ItemRef {
	t.Helper()
	ctx := context.Background()
	folders, err := c.Folders(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	var out []platform.ItemRef
	for _, f := range folders {
		token := ""
		for {
			p, err := c.Items(ctx, mb, f.ID, token)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p.Items...)
			if p.DeltaToken != "" {
				break
			}
			token = p.NextToken
		}
	}
	return out
}

func total(t *testing.T, c platform.Source, mb string) int {
	t.Helper()
	st, err := c.Stats(context.Background(), mb)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mail + st.Events + st.Contacts
}

// runMode starts a run and waits for it to complete.
func runMode(t *testing.T, a api, pid, mode string) {
	t.Helper()
	var created struct {
		Run run `json:"run"`
	}
	a.must(http.MethodPost, "/api/projects/"+pid+"/runs", map[string]any{"mode": mode}, &created)
	if r := a.waitRun(created.Run.ID, 5*time.Minute); r.State != "completed" {
		t.Fatalf("%s run ended %s: %s %s", mode, r.State, r.Code, r.Reason)
	}
}

func verifySide(t *testing.T, a api, pid, side string) {
	t.Helper()
	var ver struct {
		OK bool `json:"ok"`
	}
	a.must(http.MethodPost, "/api/projects/"+pid+"/credentials/"+side+"/verify", nil, &ver)
	if !ver.OK {
		t.Fatalf("the %s credentials did not verify", side)
	}
}

// TestMemoryToExchange migrates mailboxes (mail, meetings with attendees,
// contacts) into Exchange reached directly over HTTPS, through the saga
// with every service in its own process: every source item is in Exchange
// exactly once (one copy per engine marker), a re-run adds nothing, a
// delta run brings the one new message, and Exchange invited nobody.
func TestMemoryToExchange(t *testing.T) {
	src := newSandbox(t, 3, 30)
	sb, ex, fields, secrets := exchangeOrg(t)
	local := func(addr string) string { return strings.SplitN(addr, "@", 2)[0] }
	for _, m := range src.sources {
		if err := sb.AddAccount(ewssb.Account{Username: local(m.PrimaryAddress), Password: "Pw-" + local(m.PrimaryAddress) + "!1",
			DisplayName: m.DisplayName, HasMailbox: true}); err != nil {
			t.Fatal(err)
		}
	}
	dstOf := func(m platform.Mailbox) string { return local(m.PrimaryAddress) + "@" + sb.Domain() }
	c := startCluster(t)
	a, _, _, pid := setupKinds(t, c.api, 20, "memory", "exchange",
		map[string]any{"fields": map[string]string{"endpoint": src.url, "tenant": "src"}, "secrets": map[string]string{"token": src.src.Token()}},
		map[string]any{"fields": fields, "secrets": secrets})
	verifySide(t, a, pid, "destination")
	discoverAndMap(t, a, pid)

	check := func(stage string) int {
		t.Helper()
		sum := 0
		for _, m := range src.sources {
			want, got := total(t, src.src, m.ID), total(t, ex, dstOf(m))
			if got != want {
				t.Errorf("%s: %s holds %d items in Exchange, the source %d", stage, dstOf(m), got, want)
			}
			for _, r := range itemsOf(t, src.src, m.ID) {
				found, err := ex.FindByMarker(context.Background(), dstOf(m), engineMarker(m.ID, r.ID))
				if err != nil || len(found) != 1 {
					t.Errorf("%s: item %s of %s has %d copies in Exchange (%v)", stage, r.ID, m.PrimaryAddress, len(found), err)
				}
			}
			sum += got
		}
		if t.Failed() {
			t.FailNow()
		}
		return sum
	}
	runMode(t, a, pid, "full")
	n := check("full run")
	requests := sb.Requests()
	runMode(t, a, pid, "full")
	if again := check("re-run"); again != n {
		t.Fatalf("the re-run changed Exchange from %d to %d items", n, again)
	}
	t.Logf("%d items in Exchange, each exactly once; the re-run took %d EWS requests and wrote nothing", n, sb.Requests()-requests)

	first := src.sources[0]
	inbox, ok := src.src.FolderByRole(first.ID, platform.RoleInbox)
	if !ok {
		t.Fatal("the source has no inbox")
	}
	before := total(t, ex, dstOf(first))
	if _, err := src.src.WriteItem(context.Background(), first.ID, inbox.ID, platformtest.Message("arrived after the full run", 2000), "new-mail-1"); err != nil {
		t.Fatal(err)
	}
	runMode(t, a, pid, "delta")
	if got := total(t, ex, dstOf(first)); got != before+1 {
		t.Fatalf("after the delta run %s holds %d items, want %d", dstOf(first), got, before+1)
	}
	check("delta run")
}

// TestExchangeToMemory migrates an Exchange organisation reached directly
// over HTTPS (mail, weekly meetings with exceptions and attendees,
// contacts and distribution lists) into the memory platform, through the
// saga: every item arrives exactly once, a re-run adds nothing, a delta run
// brings the message that arrived since, and Exchange sent nothing.
func TestExchangeToMemory(t *testing.T) {
	sb, ex, fields, secrets := exchangeOrg(t)
	users := sb.Seed(ewssb.SeedSpec{Users: 3, MessagesPerUser: 20, EventsPerUser: 6, ContactsPerUser: 4, Seed: exchangeSeed, Profile: tenantgen.Light})
	store := memory.NewStore()
	dst := store.AddTenant("dst", "dest.example")
	for _, u := range users {
		// The service account's own mailbox has no counterpart: an
		// exception the mapping excludes.
		dst.AddMailbox(platform.Mailbox{PrimaryAddress: strings.SplitN(u, "@", 2)[0] + "@dest.example"})
	}
	msrv := httpTestServer(t, memory.NewHandler(store))
	c := startCluster(t)
	a, _, _, pid := setupKinds(t, c.api, 20, "exchange", "memory",
		map[string]any{"fields": fields, "secrets": secrets},
		map[string]any{"fields": map[string]string{"endpoint": msrv, "tenant": "dst"}, "secrets": map[string]string{"token": dst.Token()}})
	verifySide(t, a, pid, "source")
	discoverAndMap(t, a, pid)

	dstOf := func(u string) platform.Mailbox {
		m, ok := dst.MailboxByAddress(strings.SplitN(u, "@", 2)[0] + "@dest.example")
		if !ok {
			t.Fatalf("no destination for %s", u)
		}
		return m
	}
	check := func(stage string) int {
		t.Helper()
		sum := 0
		for _, u := range users {
			d := dstOf(u)
			want, got := total(t, ex, u), dst.Count(d.ID)
			if got != want {
				t.Errorf("%s: %s holds %d items, Exchange %d", stage, d.PrimaryAddress, got, want)
			}
			for marker, n := range dst.WrittenMarkers(d.ID) {
				if n != 1 {
					t.Errorf("%s: marker %s written %d times", stage, marker, n)
				}
			}
			sum += got
		}
		if t.Failed() {
			t.FailNow()
		}
		return sum
	}
	runMode(t, a, pid, "full")
	n := check("full run")
	runMode(t, a, pid, "full")
	if again := check("re-run"); again != n {
		t.Fatalf("the re-run changed the destination from %d to %d items", n, again)
	}

	// A message arrives in Exchange after the full run.
	first := users[0]
	folders, err := ex.Folders(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	var inbox string
	for _, f := range folders {
		if f.Role == platform.RoleInbox {
			inbox = f.ID
		}
	}
	if _, err := ex.WriteItem(context.Background(), first, inbox, platformtest.Message("arrived after the full run", 2000), fmt.Sprintf("arrival-%d", time.Now().UnixNano())); err != nil {
		t.Fatal(err)
	}
	before := dst.Count(dstOf(first).ID)
	runMode(t, a, pid, "delta")
	if got := dst.Count(dstOf(first).ID); got != before+1 {
		t.Fatalf("after the delta run the destination holds %d items, want %d", got, before+1)
	}
	t.Logf("%d items moved from Exchange, each exactly once; the delta brought the new one", n)
	check("delta run")
}
