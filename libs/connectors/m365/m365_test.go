package m365_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/connectors/m365"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newSandbox starts a fresh sandbox tenant over HTTPS on 127.0.0.1 and
// checks, when the test ends, that nothing was sent from it.
func newSandbox(t *testing.T, cfg graph.Config) *graph.Sandbox {
	t.Helper()
	sb, err := graph.New(cfg)
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
		sb.Close()
	})
	return sb
}

// configFor is the connector configuration for a sandbox: only the hosts
// and the TLS trust differ from a real tenant.
func configFor(sb *graph.Sandbox) m365.Config {
	tenant, client, secret := sb.Credentials()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = sb.CertPool()
	return m365.Config{
		TenantID: tenant, ClientID: client, ClientSecret: secret,
		GraphBaseURL: sb.BaseURL(), AuthorityURL: sb.AuthorityURL(),
		HTTPClient: &http.Client{Transport: tr},
	}
}

func open(t *testing.T, cfg m365.Config) *m365.Connector {
	t.Helper()
	c, err := m365.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
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

// TestContract runs the connector contract suite against one sandbox
// server; each subtest gets its own seeded and empty mailboxes (a fresh
// tenant population, not a fresh server). The sandbox's cleanup asserts
// that nothing was sent, invitations included.
func TestContract(t *testing.T) {
	sb := newSandbox(t, graph.Config{})
	// Cleanups run after the parallel subtests, unlike code after Run.
	t.Cleanup(func() {
		if inv := sb.Invitations(); len(inv) != 0 {
			t.Errorf("the contract suite sent %d meeting messages: %+v", len(inv), inv)
		}
	})
	var next atomic.Int64
	platformtest.Run(t, func(t *testing.T) platformtest.Fixture {
		n := int(next.Add(1))
		cfg := configFor(sb)
		cfg.PageSize = 5
		cfg.MaxItemBytes = 4 << 20
		c := open(t, cfg)
		seeded := sb.Seed(graph.SeedSpec{Users: 1, MessagesPerUser: 12, EventsPerUser: 6, ContactsPerUser: 6, Seed: 7, FirstIndex: 100 + n})[0]
		empty := sb.AddUser(fmt.Sprintf("empty%d@%s", n, sb.Domain()), fmt.Sprintf("Empty %d", n))
		// New mail "arrives" through a second connector: a plain Graph
		// create, unseen by the connector under test and its caches.
		other := open(t, configFor(sb))
		return platformtest.Fixture{
			Connector: c, Seeded: seeded, Empty: empty, WantPaging: true,
			AddItem: func(ctx context.Context, mb, folderID string, it platform.Item) (platform.ItemRef, error) {
				id, err := other.WriteItem(ctx, mb, folderID, it, fmt.Sprintf("arrival-%d-%d", n, time.Now().UnixNano()))
				return platform.ItemRef{ID: id, FolderID: folderID, Kind: platform.Mail}, err
			},
			// Users' edits and deletions go through the official SDK
			// as plain Graph calls, unseen by the connector under test.
			ChangeItem: func(ctx context.Context, mb string, ref platform.ItemRef) error {
				return changeAsUser(ctx, m365.GraphClient(other), mb, ref)
			},
			RemoveItem: func(ctx context.Context, mb string, ref platform.ItemRef) error {
				return removeAsUser(ctx, m365.GraphClient(other), mb, ref)
			},
		}
	})
}

func TestMailWriteReadFindDelta(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{})
	cfg := configFor(sb)
	cfg.PageSize = 3 // several pages from a handful of items
	c := open(t, cfg)
	ctx := ctxFor(t)
	mb := sb.AddUser("adele@"+sb.Domain(), "Adele Vance", "adele.vance@"+sb.Domain())

	mbs, err := c.ListMailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got platform.Mailbox
	for _, m := range mbs {
		if m.ID == mb {
			got = m
		}
	}
	if got.PrimaryAddress != "adele@"+sb.Domain() || got.DisplayName != "Adele Vance" ||
		len(got.Aliases) != 1 || got.Aliases[0] != "adele.vance@"+sb.Domain() {
		t.Errorf("mailbox listed as %+v", got)
	}

	inbox := folderByRole(t, c, mb, platform.RoleInbox)
	for _, r := range []platform.Role{platform.RoleSent, platform.RoleDrafts, platform.RoleDeleted, platform.RoleJunk} {
		folderByRole(t, c, mb, r)
	}
	_, delta, _ := enumerate(t, c, mb, inbox.ID, "")

	var ids []string
	for i := 0; i < 7; i++ {
		msg := platformtest.Message(fmt.Sprintf("Delta %d – ünïcode", i), 1500)
		marker := fmt.Sprintf("mf-test-%d", i)
		if found, err := c.FindByMarker(ctx, mb, marker); err != nil || len(found) != 0 {
			t.Fatalf("FindByMarker before writing: %+v %v", found, err)
		}
		id, err := c.WriteItem(ctx, mb, inbox.ID, msg, marker)
		if err != nil {
			t.Fatalf("WriteItem: %v", err)
		}
		again, err := c.WriteItem(ctx, mb, inbox.ID, platformtest.Message("re-encoded copy", 100), marker)
		if err != nil || again != id {
			t.Fatalf("second write with the same marker = %q, %v; want %q", again, err, id)
		}
		if found, err := c.FindByMarker(ctx, mb, marker); err != nil || len(found) != 1 || found[0].ID != id {
			t.Fatalf("FindByMarker = %+v %v, want %q", found, err, id)
		}
		ids = append(ids, id)
	}
	if n := sb.MessageCount(mb); n != 7 {
		t.Errorf("sandbox holds %d messages, want 7", n)
	}
	changed, _, pages := enumerate(t, c, mb, inbox.ID, delta)
	if pages < 2 {
		t.Errorf("delta of 7 items at page size 3 took %d page(s)", pages)
	}
	if len(changed) != 7 {
		t.Fatalf("delta after 7 writes lists %d items", len(changed))
	}
	if i := strings.Index(delta, "deltatoken="); i > 0 {
		_, err := c.Items(ctx, mb, inbox.ID, delta[:i+len("deltatoken=")]+"garbage")
		if e, ok := errs.As(err); !ok || e.Code != errs.Invalid || !strings.Contains(e.Action, "full enumeration") {
			t.Errorf("corrupt delta token: %v, want %s telling to start over", err, errs.Invalid)
		}
	} else {
		t.Errorf("delta link %q has no deltatoken", delta)
	}
	if _, err := c.Items(ctx, mb, inbox.ID, "https://evil.example/v1.0/users/x/mailFolders/y/messages/delta"); !errs.Is(err, errs.Invalid) {
		t.Errorf("a token for another host: %v, want %s", err, errs.Invalid)
	}
	full, _, _ := enumerate(t, c, mb, inbox.ID, "")
	st, err := c.Stats(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	var sum, largest int64
	for _, r := range full {
		if r.Size <= 0 || r.Kind != platform.Mail || r.FolderID != inbox.ID {
			t.Errorf("ref %+v: want a positive size, kind mail, the inbox", r)
		}
		sum += r.Size
		largest = max(largest, r.Size)
	}
	if st.Mail != 7 || st.SizeBytes != sum || st.LargestItem != largest {
		t.Errorf("Stats %+v, enumeration gives 7 items, %d bytes, largest %d", st, sum, largest)
	}
	it, err := c.ReadItem(ctx, mb, full[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := platformtest.CheckContent(platform.Mail, it); err != nil {
		t.Errorf("read back: %v", err)
	}
}

func TestMailEnsureFolderAndNotFound(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{})
	c := open(t, configFor(sb))
	ctx := ctxFor(t)
	mb := sb.AddUser("megan@"+sb.Domain(), "Megan Bowen")
	a, err := c.EnsureFolder(ctx, mb, platform.Folder{Name: "Projects", Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.EnsureFolder(ctx, mb, platform.Folder{Name: "projects", Kind: platform.Mail})
	if err != nil || b.ID != a.ID {
		t.Fatalf("EnsureFolder twice: %q then %q (%v)", a.ID, b.ID, err)
	}
	k1, err := c.EnsureFolder(ctx, mb, platform.Folder{ParentID: a.ID, Name: "2026", Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	k2, err := c.EnsureFolder(ctx, mb, platform.Folder{ParentID: a.ID, Name: "2026", Kind: platform.Mail})
	if err != nil || k1.ID != k2.ID || k1.ParentID != a.ID {
		t.Fatalf("nested EnsureFolder: %+v then %+v (%v)", k1, k2, err)
	}
	folders, err := c.Folders(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	var nested int
	for _, f := range folders {
		if f.ID == k1.ID && f.ParentID == a.ID {
			nested++
		}
	}
	if nested != 1 {
		t.Errorf("the nested folder is listed %d times under its parent", nested)
	}
	inbox := folderByRole(t, c, mb, platform.RoleInbox)
	if got, err := c.EnsureFolder(ctx, mb, platform.Folder{Role: platform.RoleInbox, Kind: platform.Mail}); err != nil || got.ID != inbox.ID {
		t.Errorf("EnsureFolder(inbox) = %+v, %v; want %s", got, err, inbox.ID)
	}

	const missing = "mailferry-no-such-mailbox"
	checks := map[string]error{}
	_, checks["Folders"] = c.Folders(ctx, missing)
	_, checks["Stats"] = c.Stats(ctx, missing)
	_, checks["Items(unknown mailbox)"] = c.Items(ctx, missing, "x", "")
	_, checks["Items(unknown folder)"] = c.Items(ctx, mb, "mailferry-no-such-folder", "")
	_, checks["ReadItem"] = c.ReadItem(ctx, mb, platform.ItemRef{ID: "mailferry-no-such-item"})
	_, checks["WriteItem"] = c.WriteItem(ctx, missing, "x", platformtest.Message("nowhere", 0), "mf-nowhere")
	_, checks["EnsureFolder"] = c.EnsureFolder(ctx, missing, platform.Folder{Name: "x"})
	for what, err := range checks {
		if !errs.Is(err, errs.NotFound) {
			t.Errorf("%s: %v, want %s", what, err, errs.NotFound)
		}
	}
}

func TestAuthErrorsAreDistinct(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{})
	ctx := ctxFor(t)
	mb := sb.AddUser("lee@"+sb.Domain(), "Lee Gu")
	base := configFor(sb)
	_, _, secret := sb.Credentials()

	cases := []struct {
		name string
		cfg  func(c *m365.Config)
		want errs.Code
		says string
	}{
		{"wrong secret", func(c *m365.Config) { c.ClientSecret = "Wrong~" + secret[:8] + "NotTheSecret" }, errs.AuthFailed, "secret is wrong"},
		{"unknown tenant", func(c *m365.Config) { c.TenantID = "00000000-0000-0000-0000-0000000000aa" }, m365.CodeTenantNotFound, "tenant"},
		{"unknown app", func(c *m365.Config) { c.ClientID = "00000000-0000-0000-0000-0000000000bb" }, m365.CodeAppNotFound, "client id"},
	}
	for _, tc := range cases {
		cfg := base
		tc.cfg(&cfg)
		c := open(t, cfg)
		_, err := c.Folders(ctx, mb)
		checkErr(t, tc.name+" (Folders)", err, tc.want, tc.says, secret, cfg.ClientSecret)
		_, err = c.Verify(ctx)
		checkErr(t, tc.name+" (Verify)", err, tc.want, tc.says, secret, cfg.ClientSecret)
	}

	sb.DisableApp(true)
	c := open(t, base)
	_, err := c.Verify(ctx)
	checkErr(t, "disabled app", err, m365.CodeAppDisabled, "disabled", secret, "")
	sb.DisableApp(false)

	c = open(t, base)
	if _, err := c.Folders(ctx, mb); err != nil {
		t.Fatalf("with consent: %v", err)
	}
	sb.Revoke("Mail.ReadWrite")
	c = open(t, base) // a fresh token carries the revoked roles
	_, err = c.Folders(ctx, mb)
	checkErr(t, "revoked consent", err, m365.CodeConsentMissing, "Mail.ReadWrite", secret, "")
	_, err = c.ListMailboxes(ctx)
	if err != nil {
		t.Errorf("listing users needs User.ReadWrite.All, still granted: %v", err)
	}
	sb.Revoke("User.ReadWrite.All")
	c = open(t, base)
	_, err = c.ListMailboxes(ctx)
	checkErr(t, "revoked user consent", err, m365.CodeConsentMissing, "User.ReadWrite.All", secret, "")
}

func checkErr(t *testing.T, what string, err error, want errs.Code, says string, secrets ...string) {
	t.Helper()
	if !errs.Is(err, want) {
		t.Errorf("%s: %v, want code %s", what, err, want)
		return
	}
	e, _ := errs.As(err)
	if !strings.Contains(e.Cause+" "+e.Action, says) {
		t.Errorf("%s: cause %q / action %q do not say %q", what, e.Cause, e.Action, says)
	}
	for _, s := range secrets {
		if s != "" && (strings.Contains(err.Error(), s) || strings.Contains(e.Cause+e.Action, s)) {
			t.Errorf("%s: the error carries a secret", what)
		}
	}
}

func TestVerifyListsMissingRoles(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{})
	ctx := ctxFor(t)
	res, err := open(t, configFor(sb)).Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Missing) != 0 || len(res.Granted) != len(m365.RequiredRoles) ||
		strings.Join(res.MissingOptional, ",") != "MailboxItem.ImportExport.All,MailboxItem.Export.All,MailboxItem.ReadWrite.All" {
		t.Errorf("full consent, no optional permission: %+v", res)
	}
	// Optional permissions count as granted when they are, and never as
	// missing.
	sb.Grant(graph.RoleMailboxImportExport)
	res, err = open(t, configFor(sb)).Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Missing) != 0 || !slices.Contains(res.Granted, "MailboxItem.ImportExport.All") ||
		strings.Join(res.MissingOptional, ",") != "MailboxItem.ReadWrite.All" {
		t.Errorf("with MailboxItem.ImportExport.All: %+v", res)
	}
	sb.Revoke(graph.RoleMailboxImportExport)
	sb.Revoke("Calendars.ReadWrite", "Organization.Read.All")
	res, err = open(t, configFor(sb)).Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(res.Missing)
	if strings.Join(res.Missing, ",") != "Calendars.ReadWrite,Organization.Read.All" || len(res.Granted) != 3 {
		t.Errorf("after revoking two roles: %+v", res)
	}
}

func TestSetupGuide(t *testing.T) {
	g := m365.SetupGuide("contoso.onmicrosoft.com", "11111111-2222-3333-4444-555555555555")
	if g.ConsentURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/adminconsent?client_id=11111111-2222-3333-4444-555555555555" {
		t.Errorf("consent URL %s", g.ConsentURL)
	}
	var man struct {
		RequiredResourceAccess []struct {
			ResourceAppID  string `json:"resourceAppId"`
			ResourceAccess []struct{ ID, Type string }
		} `json:"requiredResourceAccess"`
	}
	if err := json.Unmarshal(g.Manifest, &man); err != nil || len(man.RequiredResourceAccess) != 1 {
		t.Fatalf("manifest %s: %v", g.Manifest, err)
	}
	ra := man.RequiredResourceAccess[0]
	if ra.ResourceAppID != m365.GraphAppID || len(ra.ResourceAccess) != len(m365.RequiredRoles) {
		t.Fatalf("manifest %+v", ra)
	}
	want := map[string]string{
		"Mail.ReadWrite": "e2a3a72e-5f79-4c64-b1b1-878b674786c9", "Calendars.ReadWrite": "ef54d2bf-783f-4e0f-bca1-3210c0444d99",
		"Contacts.ReadWrite": "6918b873-d17a-4dc1-b314-35f528134491", "User.ReadWrite.All": "741f803b-c850-494e-b5df-cde7c675a1ca",
		"Organization.Read.All": "498476ce-e0fe-48b0-b801-37ba7e2685c6",
	}
	for i, p := range g.Permissions {
		if want[p.Name] != p.ID || ra.ResourceAccess[i].ID != p.ID || ra.ResourceAccess[i].Type != "Role" || p.Why == "" {
			t.Errorf("permission %+v / manifest %+v", p, ra.ResourceAccess[i])
		}
	}
	// The optional permissions of full fidelity, each with where it is
	// granted, what it buys and what happens without it; the manifest
	// (what every migration needs) leaves them out.
	optional := map[string]string{
		"MailboxItem.ImportExport.All": "source, destination", "MailboxItem.Export.All": "source", "MailboxItem.ReadWrite.All": "destination",
	}
	if len(g.Optional) != len(optional) {
		t.Fatalf("optional permissions %+v, want %v", g.Optional, optional)
	}
	for _, p := range g.Optional {
		if optional[p.Name] != p.Tenant || len(p.ID) != 36 || p.Why == "" || p.Without == "" || strings.Contains(string(g.Manifest), p.ID) {
			t.Errorf("optional permission %+v", p)
		}
	}
	if !strings.Contains(strings.Join(g.Steps, "\n"), "MailboxItem.ReadWrite.All (destination)") {
		t.Errorf("the steps do not mention the optional permissions: %q", g.Steps)
	}
}

// essentials is what must survive a migration of a message.
type essentials struct {
	MessageID, Subject, From string
	To, Cc                   []string
	Date                     time.Time
	Attachments              []string // sha256 of each attachment, sorted
}

func essentialsOf(t *testing.T, raw []byte) essentials {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not RFC 5322: %v", err)
	}
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(m.Header.Get("Subject"))
	e := essentials{MessageID: m.Header.Get("Message-ID"), Subject: subj}
	if d, err := m.Header.Date(); err == nil {
		e.Date = d.UTC()
	}
	if l, err := m.Header.AddressList("From"); err == nil && len(l) > 0 {
		e.From = strings.ToLower(l[0].Address)
	}
	for _, h := range []struct {
		name string
		dst  *[]string
	}{{"To", &e.To}, {"Cc", &e.Cc}} {
		if l, err := m.Header.AddressList(h.name); err == nil {
			for _, a := range l {
				*h.dst = append(*h.dst, strings.ToLower(a.Address))
			}
		}
		sort.Strings(*h.dst)
	}
	body, _ := io.ReadAll(m.Body)
	collect(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), "", body, &e.Attachments)
	sort.Strings(e.Attachments)
	return e
}

func collect(ctype, cte, disp string, body []byte, out *[]string) {
	mt, params, _ := mime.ParseMediaType(ctype)
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(p)
			collect(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p.Header.Get("Content-Disposition"), b, out)
		}
	}
	d, dp, _ := mime.ParseMediaType(disp)
	if d != "attachment" && dp["filename"] == "" && params["name"] == "" {
		return
	}
	data := body
	switch strings.ToLower(cte) {
	case "base64":
		clean := strings.Join(strings.Fields(string(body)), "")
		if d, err := base64.StdEncoding.DecodeString(clean); err == nil {
			data = d
		}
	case "quoted-printable":
		data, _ = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	}
	sum := sha256.Sum256(data)
	*out = append(*out, hex.EncodeToString(sum[:]))
}

// TestMigrationRoundTrip copies seeded mail from the memory platform into
// Microsoft 365 and back out to another memory tenant, comparing what must
// survive at each hop, and checks that a re-run writes nothing.
func TestMigrationRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	store := memory.NewStore()
	src := store.AddTenant("src", "fabrikam.test")
	srcMB := memory.Seed(src, memory.SeedSpec{Mailboxes: 1, ItemsPerMailbox: 40, Seed: 11})[0]
	back := store.AddTenant("back", "fabrikam.test")
	backMB := back.AddMailbox(platform.Mailbox{PrimaryAddress: "back@fabrikam.test"})

	sb := newSandbox(t, graph.Config{})
	c := open(t, configFor(sb))
	dst := sb.AddUser("dest@"+sb.Domain(), "Destination")

	want := map[string]essentials{} // by Message-ID
	copied := copyMail(t, ctx, src, srcMB.ID, c, dst, "mf-in-", func(it platform.Item) {
		e := essentialsOf(t, it.Content)
		want[e.MessageID] = e
	})
	if copied == 0 || len(want) != copied {
		t.Fatalf("copied %d items with %d distinct Message-IDs", copied, len(want))
	}
	if n := sb.MessageCount(dst); n != copied {
		t.Errorf("destination holds %d messages, copied %d", n, copied)
	}
	if again := copyMail(t, ctx, src, srcMB.ID, c, dst, "mf-in-", nil); again != copied || sb.MessageCount(dst) != copied {
		t.Errorf("re-run: %d items, destination holds %d, want still %d", again, sb.MessageCount(dst), copied)
	}

	withAttachments := 0
	check := func(hop string, got essentials) {
		w, ok := want[got.MessageID]
		if !ok {
			t.Errorf("%s: unexpected Message-ID %q", hop, got.MessageID)
			return
		}
		if len(w.Attachments) > 0 {
			withAttachments++
		}
		if w.Subject != got.Subject || w.From != got.From || !w.Date.Equal(got.Date) ||
			strings.Join(w.To, ",") != strings.Join(got.To, ",") || strings.Join(w.Cc, ",") != strings.Join(got.Cc, ",") ||
			strings.Join(w.Attachments, ",") != strings.Join(got.Attachments, ",") {
			t.Errorf("%s: %s\n got %+v\nwant %+v", hop, got.MessageID, got, w)
		}
	}
	n := copyMail(t, ctx, c, dst, back, backMB.ID, "mf-out-", func(it platform.Item) {
		check("M365", essentialsOf(t, it.Content))
	})
	if n != copied {
		t.Errorf("copied %d items back out, want %d", n, copied)
	}
	if withAttachments == 0 {
		t.Error("no seeded message had attachments; the attachment hashes were not compared")
	}
	if got := back.Count(backMB.ID); got != copied {
		t.Errorf("memory destination holds %d items, want %d", got, copied)
	}
}

// copyMail copies every mail folder of a mailbox the way the transfer
// engine does (folder by role or name, marker per source item) and returns
// the number of items written or found.
func copyMail(t *testing.T, ctx context.Context, src platform.Source, srcMB string, dst platform.Destination, dstMB, prefix string, each func(platform.Item)) int {
	t.Helper()
	folders, err := src.Folders(ctx, srcMB)
	if err != nil {
		t.Fatal(err)
	}
	mapped := map[string]string{}
	n := 0
	for _, f := range folders {
		if f.Kind != platform.Mail {
			continue
		}
		df, err := dst.EnsureFolder(ctx, dstMB, platform.Folder{Name: f.Name, Role: f.Role, ParentID: mapped[f.ParentID], Kind: platform.Mail})
		if err != nil {
			t.Fatalf("EnsureFolder(%s): %v", f.Name, err)
		}
		mapped[f.ID] = df.ID
		refs, _, _ := enumerate(t, src, srcMB, f.ID, "")
		for _, r := range refs {
			it, err := src.ReadItem(ctx, srcMB, r)
			if err != nil {
				t.Fatalf("ReadItem(%s): %v", r.ID, err)
			}
			if each != nil {
				each(it)
			}
			if _, err := dst.WriteItem(ctx, dstMB, df.ID, it, prefix+r.ID); err != nil {
				t.Fatalf("WriteItem(%s): %v", r.ID, err)
			}
			n++
		}
	}
	return n
}

// bigMessage is a multipart message with one attachment of size bytes.
func bigMessage(t *testing.T, size int) (platform.Item, string) {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	sum := sha256.Sum256(data)
	var parts bytes.Buffer
	mw := multipart.NewWriter(&parts)
	tp, _ := mw.CreatePart(map[string][]string{"Content-Type": {"text/plain; charset=utf-8"}})
	tp.Write([]byte("See the attached report.\r\n"))
	ap, _ := mw.CreatePart(map[string][]string{
		"Content-Type":              {"application/pdf; name=\"report.pdf\""},
		"Content-Disposition":       {"attachment; filename=\"report.pdf\""},
		"Content-Transfer-Encoding": {"base64"},
	})
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		io.WriteString(ap, enc[:76]+"\r\n")
		enc = enc[76:]
	}
	io.WriteString(ap, enc+"\r\n")
	mw.Close()
	var msg bytes.Buffer
	fmt.Fprintf(&msg, "Message-ID: <big-%d@mailferry.test>\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\n", size)
	fmt.Fprintf(&msg, "From: Big Sender <big@mailferry.test>\r\nTo: someone@mailferry.test\r\nSubject: big attachment\r\n")
	fmt.Fprintf(&msg, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=%q\r\n\r\n", mw.Boundary())
	msg.Write(parts.Bytes())
	return platform.Item{Ref: platform.ItemRef{Kind: platform.Mail}, ContentType: platform.ContentMIME, Content: msg.Bytes(),
		Received: time.Date(2026, 3, 3, 10, 0, 5, 0, time.UTC)}, hex.EncodeToString(sum[:])
}

func TestLargeAttachmentAndTooLarge(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{})
	cfg := configFor(sb)
	cfg.MaxItemBytes = 8 << 20
	c := open(t, cfg)
	ctx := ctxFor(t)
	mb := sb.AddUser("nestor@"+sb.Domain(), "Nestor Wilke")
	inbox := folderByRole(t, c, mb, platform.RoleInbox)

	big, sum := bigMessage(t, 5<<20) // over 3 MB: an upload session
	big.Ref.ChangeKey = "big-v1"
	id, err := c.WriteItem(ctx, mb, inbox.ID, big, "mf-big")
	if err != nil {
		t.Fatalf("WriteItem with a 5 MB attachment: %v", err)
	}
	// The marker and the version come last, together.
	want := platform.Placed{ID: id, FolderID: inbox.ID, Version: "big-v1"}
	if found, err := c.FindByMarker(ctx, mb, "mf-big"); err != nil || len(found) != 1 || found[0] != want {
		t.Fatalf("FindByMarker after an upload session: %+v %v, want %+v", found, err, want)
	}
	it, err := c.ReadItem(ctx, mb, platform.ItemRef{ID: id, Kind: platform.Mail})
	if err != nil {
		t.Fatal(err)
	}
	if e := essentialsOf(t, it.Content); len(e.Attachments) != 1 || e.Attachments[0] != sum {
		t.Errorf("attachment hashes read back %v, want [%s]", e.Attachments, sum)
	}

	huge, _ := bigMessage(t, 7<<20) // base64 makes the MIME over 8 MB
	_, err = c.WriteItem(ctx, mb, inbox.ID, huge, "mf-huge")
	if !errs.Is(err, errs.ItemTooLarge) {
		t.Fatalf("over the limit: %v, want %s", err, errs.ItemTooLarge)
	}
	if e, _ := errs.As(err); !strings.Contains(e.Cause, fmt.Sprint(len(huge.Content))) {
		t.Errorf("cause %q does not name the size %d", e.Cause, len(huge.Content))
	}
	if found, _ := c.FindByMarker(ctx, mb, "mf-huge"); len(found) != 0 || sb.MessageCount(mb) != 1 {
		t.Errorf("the refused item left something: found=%+v, %d messages", found, sb.MessageCount(mb))
	}
}

// TestThrottlingStorm writes from many goroutines into one mailbox whose
// limits are tiny: throttling is surfaced as errs.Throttled with a wait,
// the caller waits as the engine does, and every item lands exactly once.
func TestThrottlingStorm(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{Limits: graph.Limits{RequestsPerWindow: 15, Window: 300 * time.Millisecond, Concurrent: 2}})
	cfg := configFor(sb)
	cfg.MaxConcurrentPerMailbox = 6 // more than the sandbox allows, to provoke MailboxConcurrency too
	c := open(t, cfg)
	ctx := ctxFor(t)
	mb := sb.AddUser("storm@"+sb.Domain(), "Storm")
	var inbox platform.Folder
	retry(t, ctx, func() (err error) {
		folders, err := c.Folders(ctx, mb)
		for _, f := range folders {
			if f.Role == platform.RoleInbox {
				inbox = f
			}
		}
		return err
	}, nil, nil)
	const n = 40
	var throttles atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				msg := platformtest.Message(fmt.Sprintf("storm %d", i), 800)
				retry(t, ctx, func() error {
					_, err := c.WriteItem(ctx, mb, inbox.ID, msg, fmt.Sprintf("mf-storm-%d", i))
					return err
				}, &throttles, nil)
			}
		}(w)
	}
	wg.Wait()
	if got := sb.MessageCount(mb); got != n {
		t.Errorf("after the storm the mailbox holds %d messages, want exactly %d", got, n)
	}
	if throttles.Load() == 0 || sb.Throttled() == 0 {
		t.Errorf("no throttling seen (connector %d, sandbox %d); the storm did not storm", throttles.Load(), sb.Throttled())
	}
	// Stats now also walks calendars and contact folders: more requests
	// than this storm's window of 15 admits, so a whole-call retry could
	// never finish. The count is checked with the throttle lifted.
	sb.SetLimits(graph.Limits{})
	var st platform.Stats
	retry(t, ctx, func() (err error) { st, err = c.Stats(ctx, mb); return err }, nil, nil)
	if st.Mail != n {
		t.Errorf("Stats.Mail = %d, want %d", st.Mail, n)
	}
}

// retry calls fn, waiting out throttling as the transfer engine does.
func retry(t *testing.T, ctx context.Context, fn func() error, throttles, transient *atomic.Int64) {
	t.Helper()
	for i := 0; ; i++ {
		err := fn()
		if err == nil {
			return
		}
		e, ok := errs.As(err)
		if ok && e.Code == errs.Unavailable && i < 50 {
			// Transient: the engine backs off and tries again.
			if transient != nil {
				transient.Add(1)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !ok || e.Code != errs.Throttled || i > 500 {
			t.Errorf("call failed: %v", err)
			return
		}
		if e.RetryAfter <= 0 {
			t.Errorf("throttled without a wait: %v", err)
		}
		if throttles != nil {
			throttles.Add(1)
		}
		select {
		case <-ctx.Done():
			t.Errorf("context ended while throttled: %v", err)
			return
		case <-time.After(min(e.RetryAfter, 2*time.Second)):
		}
	}
}

func TestCreateMailbox(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{})
	cfg := configFor(sb)
	// The sandbox has no /organization; the usage location is given.
	cfg.UsageLocation = "GB"
	c := open(t, cfg)
	ctx := ctxFor(t)
	addr := "new.hire@" + sb.Domain()
	m, err := c.CreateMailbox(ctx, platform.Mailbox{PrimaryAddress: addr, DisplayName: "New Hire"})
	if err != nil {
		t.Fatalf("CreateMailbox: %v", err)
	}
	if m.ID == "" || !strings.EqualFold(m.PrimaryAddress, addr) {
		t.Fatalf("created %+v", m)
	}
	again, err := c.CreateMailbox(ctx, platform.Mailbox{PrimaryAddress: addr})
	if err != nil || again.ID != m.ID {
		t.Fatalf("second CreateMailbox = %+v, %v; want the same user %s", again, err, m.ID)
	}
	mbs, err := c.ListMailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, x := range mbs {
		if x.ID == m.ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the new mailbox is listed %d times", n)
	}
	// The new mailbox is usable at once: it has a licence and an inbox.
	folderByRole(t, c, m.ID, platform.RoleInbox)

	_, err = c.CreateMailbox(ctx, platform.Mailbox{PrimaryAddress: "someone@not-our-domain.example"})
	if e, ok := errs.As(err); !ok || e.Code != errs.Invalid || e.Field != "primaryAddress" || !strings.Contains(e.Cause, "not-our-domain.example") {
		t.Errorf("address in a foreign domain: %v", err)
	}
	sb.Revoke("User.ReadWrite.All")
	_, err = open(t, cfg).CreateMailbox(ctx, platform.Mailbox{PrimaryAddress: "other@" + sb.Domain()})
	checkErr(t, "create without User.ReadWrite.All", err, m365.CodeConsentMissing, "User.ReadWrite.All")
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailferry-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})
}

func TestCertificateAndStoredCredentials(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{})
	ctx := ctxFor(t)
	certPEM, keyPEM := selfSigned(t)
	if err := sb.RegisterCertificate(certPEM); err != nil {
		t.Fatal(err)
	}
	tenant, client, secret := sb.Credentials()
	// Stored credentials as the vault and the project keep them: the
	// certificate and key in one PEM secret, the sandbox CA as a field.
	c, err := m365.FromCredentials(ctx, platform.Credentials{
		Platform: platform.M365,
		Fields: map[string]string{"tenantId": tenant, "clientId": client, "graphBaseUrl": sb.BaseURL(),
			"authorityUrl": sb.AuthorityURL(), "caPem": string(sb.CAPEM())},
		Secrets: map[string]string{"certificate": string(certPEM) + string(keyPEM)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Verify(ctx); err != nil || len(res.Missing) != 0 {
		t.Fatalf("Verify with a certificate: %+v, %v", res, err)
	}
	mb := sb.AddUser("cert@"+sb.Domain(), "Cert")
	folderByRole(t, c, mb, platform.RoleInbox)

	other, otherKey := selfSigned(t) // not registered with the app
	c = open(t, func() m365.Config {
		cfg := configFor(sb)
		cfg.ClientSecret, cfg.CertificatePEM, cfg.KeyPEM = "", other, otherKey
		return cfg
	}())
	_, err = c.Verify(ctx)
	checkErr(t, "unregistered certificate", err, errs.AuthFailed, "certificate", secret, string(otherKey))

	_, err = m365.FromCredentials(ctx, platform.Credentials{Fields: map[string]string{"tenantId": tenant, "clientId": client},
		Secrets: map[string]string{"certificate": "not a pem"}})
	if !errs.Is(err, errs.Invalid) {
		t.Errorf("a broken certificate: %v, want %s", err, errs.Invalid)
	}
}

// TestFaultsMidMailbox injects 5xx answers and dropped connections: each is
// a retryable errs.Unavailable, and retried writes never store an item
// twice, even when the connection dropped after the server stored it.
func TestFaultsMidMailbox(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{})
	c := open(t, configFor(sb))
	ctx := ctxFor(t)
	mb := sb.AddUser("faulty@"+sb.Domain(), "Faulty")
	inbox := folderByRole(t, c, mb, platform.RoleInbox)
	sb.SetFaults(graph.Faults{FailEvery: 4, DropEvery: 7})
	const n = 12
	var faults atomic.Int64
	for i := 0; i < n; i++ {
		msg := platformtest.Message(fmt.Sprintf("fault %d", i), 600)
		retry(t, ctx, func() error {
			_, err := c.WriteItem(ctx, mb, inbox.ID, msg, fmt.Sprintf("mf-fault-%d", i))
			return err
		}, nil, &faults)
	}
	sb.SetFaults(graph.Faults{})
	if got := sb.MessageCount(mb); got != n {
		t.Errorf("after faults the mailbox holds %d messages, want exactly %d", got, n)
	}
	if faults.Load() == 0 {
		t.Error("no fault reached the connector; the test injected nothing")
	}
}

// TestSeededTenantToMemory migrates a seeded sandbox mailbox (realistic
// MIME from the shared generator, nested folders) to the memory platform:
// discovery counts match the tenant, every message arrives once in the
// folder of the same path, and a re-run adds nothing.
func TestSeededTenantToMemory(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{})
	cfg := configFor(sb)
	cfg.PageSize = 7
	c := open(t, cfg)
	ctx := ctxFor(t)
	mb := sb.Seed(graph.SeedSpec{Users: 1, MessagesPerUser: 45, Seed: 5})[0]
	total := sb.MessageCount(mb)
	if total != 45 {
		t.Fatalf("seeded %d messages, want 45", total)
	}
	st, err := c.Stats(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mail != total || st.SizeBytes <= 0 || st.LargestItem <= 0 {
		t.Errorf("Stats %+v, the tenant holds %d messages", st, total)
	}
	folders, err := c.Folders(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{} // folder id -> path
	var pathOf func(f platform.Folder) string
	byID := map[string]platform.Folder{}
	for _, f := range folders {
		byID[f.ID] = f
	}
	pathOf = func(f platform.Folder) string {
		if p, ok := byID[f.ParentID]; ok {
			return pathOf(p) + "/" + f.Name
		}
		return f.Name
	}
	deepest := 0
	for _, f := range folders {
		paths[f.ID] = pathOf(f)
		deepest = max(deepest, strings.Count(paths[f.ID], "/"))
	}
	if deepest < 2 {
		t.Errorf("folder paths %v: want a tree at least three deep", paths)
	}

	store := memory.NewStore()
	dst := store.AddTenant("dst", "fabrikam.test")
	dmb := dst.AddMailbox(platform.Mailbox{PrimaryAddress: "dest@fabrikam.test"})
	checked := 0
	n := copyMail(t, ctx, c, mb, dst, dmb.ID, "mf-seed-", func(it platform.Item) {
		if err := platformtest.CheckContent(platform.Mail, it); err != nil {
			t.Errorf("item %s: %v", it.Ref.ID, err)
		}
		checked++
	})
	if n != total || checked != total || dst.Count(dmb.ID) != total {
		t.Errorf("copied %d, checked %d, destination holds %d; want %d each", n, checked, dst.Count(dmb.ID), total)
	}
	if again := copyMail(t, ctx, c, mb, dst, dmb.ID, "mf-seed-", nil); again != total || dst.Count(dmb.ID) != total {
		t.Errorf("re-run: destination holds %d, want still %d", dst.Count(dmb.ID), total)
	}
	dfolders, err := dst.Folders(ctx, dmb.ID)
	if err != nil {
		t.Fatal(err)
	}
	dByID := map[string]platform.Folder{}
	for _, f := range dfolders {
		dByID[f.ID] = f
	}
	var dPath func(f platform.Folder) string
	dPath = func(f platform.Folder) string {
		if p, ok := dByID[f.ParentID]; ok {
			return dPath(p) + "/" + f.Name
		}
		return f.Name
	}
	have := map[string]bool{}
	for _, f := range dfolders {
		have[strings.ToLower(dPath(f))] = true
	}
	for _, f := range folders {
		if f.Role == platform.RoleNone && !have[strings.ToLower(paths[f.ID])] {
			t.Errorf("folder %q was not recreated at the destination", paths[f.ID])
		}
	}
}
