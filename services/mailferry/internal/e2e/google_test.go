package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/option"

	"github.com/mailferry/mailferry/libs/connectors/google"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	gsandbox "github.com/mailferry/mailferry/libs/sandbox/google"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// The labels of the message filed under two user labels at once. By
// docs/google.md the first user label by name picks the folder and the
// other one becomes a category.
const (
	labelFolder   = "Customers/Müller GmbH"
	labelCategory = "Projects/2026/Q1 Planung"
)

// googleTenant starts a Google Workspace sandbox with its administrator
// (admin@<domain>, whom mailferry impersonates for the Directory API)
// and, when users > 0, seeded users with light mail in nested labels,
// meetings and contacts. Quotas are off; the connector still paces itself
// at Google's real per-user rates. It returns the sandbox, a connector to
// it as the test's own view, and the credentials the API takes.
func googleTenant(t *testing.T, users, messages int) (*gsandbox.Sandbox, platform.Connector, map[string]string, map[string]string) {
	t.Helper()
	sb, err := gsandbox.New(gsandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	sb.Seed(gsandbox.SeedSpec{Users: users, MessagesPerUser: messages, EventsPerUser: 3, ContactsPerUser: 3, Seed: 11, Profile: tenantgen.Light})
	fields := map[string]string{"adminEmail": "admin@" + sb.Domain(), "endpoint": sb.Endpoint(), "tokenUrl": sb.TokenURL(), "caPem": string(sb.CAPEM())}
	secrets := map[string]string{"serviceAccountKey": string(sb.ServiceAccountKey())}
	// The test's own view is no subject of the test: it reads without
	// pacing, so that checking a tenant takes no minute of People quota.
	c, err := google.Open(context.Background(), google.Config{ServiceAccountKey: sb.ServiceAccountKey(), AdminEmail: fields["adminEmail"],
		TokenURL: sb.TokenURL(), Endpoint: sb.Endpoint(), HTTPClient: tlsTo(sb.CertPool()),
		GmailUnitsPerMinute: -1, CalendarRequestsPerMinute: -1, PeopleRequestsPerMinute: -1})
	if err != nil {
		t.Fatal(err)
	}
	return sb, c, fields, secrets
}

// nothingSentByGoogle: a migration sends no mail and no meeting message,
// and no imported message was turned into a calendar entry.
func nothingSentByGoogle(t *testing.T, side string, sb *gsandbox.Sandbox) {
	t.Helper()
	if n := sb.SentMessages(); n != 0 {
		t.Errorf("the %s Workspace sent %d messages during the migration", side, n)
	}
	if inv := sb.Invitations(); len(inv) != 0 {
		t.Errorf("the %s Workspace sent %d meeting messages: %+v", side, len(inv), inv)
	}
	if n := sb.CalendarProcessed(); n != 0 {
		t.Errorf("the %s Workspace processed %d imported messages into calendars", side, n)
	}
}

func nothingSentByGraph(t *testing.T, side string, sb *graph.Sandbox) {
	t.Helper()
	if n := sb.SentMessages(); n != 0 {
		t.Errorf("the %s tenant sent %d messages during the migration", side, n)
	}
	if inv := sb.Invitations(); len(inv) != 0 {
		t.Errorf("the %s tenant sent %d meeting messages: %+v", side, len(inv), inv)
	}
}

// tlsTo is an HTTP client trusting a sandbox's CA.
func tlsTo(pool *x509.CertPool) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, Timeout: 30 * time.Second}
}

// googleUser acts as a Workspace's users through the official Gmail
// client, authorised by the sandbox's service account with domain-wide
// delegation, as any Gmail client would: nothing here goes through
// mailferry's connector or its caches.
type googleUser struct{ sb *gsandbox.Sandbox }

func (g googleUser) gmail(t *testing.T, mb string) *gmail.Service {
	t.Helper()
	cfg, err := googleoauth.JWTConfigFromJSON(g.sb.ServiceAccountKey(), gmail.MailGoogleComScope)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Subject = mb
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, tlsTo(g.sb.CertPool()))
	svc, err := gmail.NewService(ctx, option.WithHTTPClient(cfg.Client(ctx)), option.WithEndpoint(g.sb.Endpoint()))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// labelIDs returns the ids of labels by name (system labels by their id),
// creating the user labels that do not exist.
func (g googleUser) labelIDs(t *testing.T, svc *gmail.Service, names ...string) []string {
	t.Helper()
	list, err := svc.Users.Labels.List("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range names {
		id := ""
		for _, l := range list.Labels {
			if l.Id == n || strings.EqualFold(l.Name, n) {
				id = l.Id
			}
		}
		if id == "" {
			l, err := svc.Users.Labels.Create("me", &gmail.Label{Name: n, LabelListVisibility: "labelShow", MessageListVisibility: "show"}).Do()
			if err != nil {
				t.Fatalf("create label %q: %v", n, err)
			}
			id = l.Id
		}
		ids = append(ids, id)
	}
	return ids
}

// importMessage imports a message with labels, as Gmail's own import does.
func (g googleUser) importMessage(t *testing.T, mb string, item platform.Item, labels ...string) {
	t.Helper()
	svc := g.gmail(t, mb)
	if _, err := svc.Users.Messages.Import("me", &gmail.Message{LabelIds: g.labelIDs(t, svc, labels...)}).
		InternalDateSource("dateHeader").Media(bytes.NewReader(item.Content)).Do(); err != nil {
		t.Fatalf("import into %s: %v", mb, err)
	}
}

// labelNames are the names of the labels a message carries in Gmail.
func (g googleUser) labelNames(t *testing.T, mb, gmailID string) []string {
	t.Helper()
	svc := g.gmail(t, mb)
	m, err := svc.Users.Messages.Get("me", gmailID).Format("minimal").Do()
	if err != nil {
		t.Fatal(err)
	}
	list, err := svc.Users.Labels.List("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]string{}
	for _, l := range list.Labels {
		byID[l.Id] = l.Name
	}
	var out []string
	for _, id := range m.LabelIds {
		out = append(out, byID[id])
	}
	sort.Strings(out)
	return out
}

// allLabels are the names of a mailbox's labels.
func (g googleUser) allLabels(t *testing.T, mb string) []string {
	t.Helper()
	list, err := g.gmail(t, mb).Users.Labels.List("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range list.Labels {
		out = append(out, l.Name)
	}
	return out
}

// editInbox makes the user of mailbox mb toggle the read state and star of
// one inbox message and delete another one for good, through the Gmail
// API: the delta run finds both through the History API.
func (g googleUser) editInbox(t *testing.T, src platform.Connector, mb string) userEdits {
	t.Helper()
	msgs := inboxMessages(t, src, mb)
	if len(msgs) < 2 {
		t.Fatalf("mailbox %s has %d inbox messages, want at least 2", mb, len(msgs))
	}
	changed, deleted := msgs[0], msgs[1]
	e := userEdits{Changed: messageID(t, changed), Read: !changed.Read, Flagged: !changed.Flagged, Deleted: messageID(t, deleted)}
	mod := &gmail.ModifyMessageRequest{}
	if e.Read {
		mod.RemoveLabelIds = append(mod.RemoveLabelIds, "UNREAD")
	} else {
		mod.AddLabelIds = append(mod.AddLabelIds, "UNREAD")
	}
	if e.Flagged {
		mod.AddLabelIds = append(mod.AddLabelIds, "STARRED")
	} else {
		mod.RemoveLabelIds = append(mod.RemoveLabelIds, "STARRED")
	}
	svc := g.gmail(t, mb)
	if _, err := svc.Users.Messages.Modify("me", changed.Ref.ID, mod).Do(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Users.Messages.Delete("me", deleted.Ref.ID).Do(); err != nil {
		t.Fatal(err)
	}
	return e
}

// mailFact is what a message must keep across a migration: its
// essentials (Message-ID, date, sender, recipients, subject and the
// SHA-256 of every leaf part, bodies and attachments) and its place
// (folder path, read state, flag, categories).
type mailFact struct {
	Essentials string
	Place      string
	// ID is the message's id in its mailbox, for looking it up again.
	ID string
}

// mailFacts reads every message of a mailbox through a connector, by
// Message-ID; a message listed twice appears twice. With bodies false only
// the attachments' hashes count (see essentialsOf).
func mailFacts(t *testing.T, c platform.Connector, mb string, bodies bool) map[string][]mailFact {
	t.Helper()
	ctx := context.Background()
	folders, err := c.Folders(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]platform.Folder{}
	for _, f := range folders {
		byID[f.ID] = f
	}
	out := map[string][]mailFact{}
	for _, f := range folders {
		if f.Kind != platform.Mail {
			continue
		}
		for tok := ""; ; {
			p, err := c.Items(ctx, mb, f.ID, tok)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Items {
				it, err := c.ReadItem(ctx, mb, r)
				if err != nil {
					t.Fatal(err)
				}
				id, ess := essentialsOf(t, it.Content, bodies)
				cats := slices.Clone(it.Categories)
				sort.Strings(cats)
				out[id] = append(out[id], mailFact{Essentials: ess, ID: r.ID,
					Place: fmt.Sprintf("folder=%s read=%v flagged=%v categories=%s", folderPathOf(byID, f), it.Read, it.Flagged, strings.Join(cats, ","))})
			}
			if p.NextToken == "" {
				break
			}
			tok = p.NextToken
		}
	}
	return out
}

// folderPathOf names a folder by its role, or by its names from its first
// ancestor that has none: Gmail nests nothing under system labels, so
// Inbox/Newsletters elsewhere is the label Newsletters (docs/google.md).
func folderPathOf(byID map[string]platform.Folder, f platform.Folder) string {
	if f.Role != platform.RoleNone {
		return "role:" + string(f.Role)
	}
	p := f.Name
	for f.ParentID != "" {
		parent, ok := byID[f.ParentID]
		if !ok || parent.Role != platform.RoleNone {
			break
		}
		f = parent
		p = f.Name + "/" + p
	}
	return p
}

// essentialsOf returns a message's Message-ID and what must survive of
// it: with bodies, the hash of every leaf part; without, of the parts
// that are attachments (a disposition of attachment or a file name), for
// Microsoft 365's standard path, on which Exchange renders the body anew
// (docs/m365.md, "What is lost on this path").
func essentialsOf(t *testing.T, raw []byte, bodies bool) (string, string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not RFC 5322: %v", err)
	}
	id := strings.TrimSpace(m.Header.Get("Message-ID"))
	var b strings.Builder
	fmt.Fprintf(&b, "id=%s", id)
	if d, err := m.Header.Date(); err == nil {
		fmt.Fprintf(&b, " date=%s", d.UTC().Format(time.RFC3339))
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	fmt.Fprintf(&b, " subject=%q", subj)
	for _, h := range []string{"From", "To", "Cc"} {
		var addrs []string
		if l, err := m.Header.AddressList(h); err == nil {
			for _, a := range l {
				addrs = append(addrs, strings.ToLower(a.Address))
			}
		}
		sort.Strings(addrs)
		fmt.Fprintf(&b, " %s=%s", strings.ToLower(h), strings.Join(addrs, ","))
	}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		t.Fatalf("message %s: %v", id, err)
	}
	var parts []string
	if err := e.Walk(func(_ []int, p *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return err
		}
		if p.MultipartReader() != nil {
			return nil
		}
		if !bodies {
			disp, dp, _ := p.Header.ContentDisposition()
			_, tp, _ := p.Header.ContentType()
			if disp != "attachment" && dp["filename"] == "" && tp["name"] == "" {
				return nil
			}
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			return err
		}
		parts = append(parts, fmt.Sprintf("%x", sha256.Sum256(body))[:16])
		return nil
	}); err != nil {
		t.Fatalf("message %s: %v", id, err)
	}
	sort.Strings(parts)
	fmt.Fprintf(&b, " parts=%s", strings.Join(parts, ","))
	return id, b.String()
}

// checkMail compares every mailbox's mail at the source and the
// destination: each message exactly once at the destination, with the
// same essentials (the same hash of every part, or with bodies false of
// every attachment) and the same folder, read state, flag and categories.
func checkMail(t *testing.T, src, dst platform.Connector, bodies bool) {
	t.Helper()
	var tn tenants
	srcMbs, err := src.ListMailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tn.dst = dst
	domain := domainOf(t, dst)
	messages, withParts := 0, 0
	for _, m := range srcMbs {
		dm := tn.mailboxByAddress(t, dst, strings.SplitN(m.PrimaryAddress, "@", 2)[0]+"@"+domain)
		want, got := mailFacts(t, src, m.ID, bodies), mailFacts(t, dst, dm.ID, bodies)
		for id, w := range want {
			g := got[id]
			switch {
			case len(g) != 1:
				t.Errorf("%s: message %s is %d times at the destination, want once", m.PrimaryAddress, id, len(g))
			case g[0].Essentials != w[0].Essentials:
				t.Errorf("%s: message %s changed on the way:\n got %s\nwant %s", m.PrimaryAddress, id, g[0].Essentials, w[0].Essentials)
			case g[0].Place != w[0].Place:
				t.Errorf("%s: message %s is placed differently:\n got %s\nwant %s", m.PrimaryAddress, id, g[0].Place, w[0].Place)
			}
			messages++
			if !strings.HasSuffix(w[0].Essentials, " parts=") {
				withParts++
			}
		}
		for id := range got {
			if _, ok := want[id]; !ok {
				t.Errorf("%s: message %s is at the destination but not at the source", m.PrimaryAddress, id)
			}
		}
	}
	if messages == 0 || withParts == 0 {
		t.Fatalf("the source holds %d messages, %d with parts to hash: the comparison proves nothing", messages, withParts)
	}
	t.Logf("%d messages in %d mailboxes compared by folder, flags and categories, %d of them by the hashes of their parts", messages, len(srcMbs), withParts)
}

// findMail is the one message with Message-ID id in a mailbox.
func findMail(t *testing.T, c platform.Connector, mb, id string) mailFact {
	t.Helper()
	facts := mailFacts(t, c, mb, false)[id]
	if len(facts) != 1 {
		t.Fatalf("message %s is %d times in %s, want once", id, len(facts), mb)
	}
	return facts[0]
}

// folderPaths are a mailbox's mail folders by path.
func folderPaths(t *testing.T, c platform.Connector, mb string) []string {
	t.Helper()
	folders, err := c.Folders(context.Background(), mb)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]platform.Folder{}
	for _, f := range folders {
		byID[f.ID] = f
	}
	var out []string
	for _, f := range folders {
		if f.Kind == platform.Mail {
			out = append(out, folderPathOf(byID, f))
		}
	}
	return out
}

// checkNested: the nested labels of the source are nested folders (or
// labels) at the destination, parents included.
func checkNested(t *testing.T, c platform.Connector, mb string) {
	t.Helper()
	paths := folderPaths(t, c, mb)
	for _, want := range []string{"Projects", "Projects/2026", labelCategory, "Customers", labelFolder} {
		if !slices.Contains(paths, want) {
			t.Errorf("%s has no folder %q; its folders: %v", mb, want, paths)
		}
	}
}

// multiLabel files a message under two user labels, starred and marked
// important, outside the inbox, and returns its Message-ID.
func multiLabel(t *testing.T, u googleUser, mb string) string {
	t.Helper()
	it := platformtest.Message("filed under two labels", 3000)
	u.importMessage(t, mb, it, labelCategory, labelFolder, "STARRED", "IMPORTANT")
	id, _ := essentialsOf(t, it.Content, true)
	return id
}

// checkMultiLabel: the message of multiLabel arrived once, in the folder of
// its first user label, the other label and IMPORTANT as categories,
// flagged, read.
func checkMultiLabel(t *testing.T, dst platform.Connector, mb, id string) mailFact {
	t.Helper()
	got := findMail(t, dst, mb, id)
	want := fmt.Sprintf("folder=%s read=true flagged=true categories=Important,%s", labelFolder, labelCategory)
	if got.Place != want {
		t.Errorf("the message with two labels is placed\n %s\nwant %s", got.Place, want)
	}
	return got
}

// verifyAnswer is the verify endpoint's answer or coded error.
type verifyAnswer struct {
	OK      bool     `json:"ok"`
	Granted []string `json:"granted"`
	Error   struct {
		Code, Cause, Action, Field string
	} `json:"error"`
}

func googleVerify(t *testing.T, a api, pid, side string) (int, verifyAnswer) {
	t.Helper()
	var v verifyAnswer
	code, _ := a.do(http.MethodPost, "/api/projects/"+pid+"/credentials/"+side+"/verify", nil, &v)
	return code, v
}

// checkGoogleKeyErrors: through the API, credentials of a Workspace
// verify with every scope, and each way the key or the delegation can be
// wrong is refused with its own plain, coded error naming what to fix:
// a malformed key when it is stored, a deleted key, a key of another
// project's service account (no delegation) and a missing scope when
// verified.
func checkGoogleKeyErrors(t *testing.T, a api, pid, side string, sb *gsandbox.Sandbox, fields map[string]string) {
	t.Helper()
	if code, v := googleVerify(t, a, pid, side); code != http.StatusOK || !v.OK || len(v.Granted) != len(google.RequiredScopes) {
		t.Fatalf("verify the %s: %d %+v, want ok with every scope", side, code, v)
	}
	var p struct {
		ID string `json:"id"`
	}
	a.must(http.MethodPost, "/api/projects", map[string]string{"name": "wrong keys", "source": "google", "destination": "google"}, &p)
	put := func(key []byte) (int, verifyAnswer) {
		var v verifyAnswer
		code, _ := a.do(http.MethodPut, "/api/projects/"+p.ID+"/credentials/source", map[string]any{"fields": fields, "secrets": map[string]string{"serviceAccountKey": string(key)}}, &v)
		return code, v
	}
	if code, v := put([]byte(`{"type":"authorized_user","client_id":"x","refresh_token":"1//secret"}`)); code != 422 || v.Error.Code != "google_key_malformed" ||
		!strings.Contains(v.Error.Action, "Create new key > JSON") || strings.Contains(v.Error.Cause+v.Error.Action, "1//secret") {
		t.Errorf("a malformed key: %d %+v, want 422 google_key_malformed naming the console steps", code, v.Error)
	}
	expect := func(name string, key []byte, code string, says ...string) {
		t.Helper()
		if c, v := put(key); c != http.StatusOK {
			t.Fatalf("%s: storing it: %d %+v", name, c, v.Error)
		}
		c, v := googleVerify(t, a, p.ID, "source")
		if c != 422 || v.Error.Code != code {
			t.Errorf("%s: verify %d %+v, want 422 %s", name, c, v.Error, code)
			return
		}
		for _, s := range says {
			if !strings.Contains(v.Error.Cause+" "+v.Error.Action, s) {
				t.Errorf("%s: the error does not say %q: %+v", name, s, v.Error)
			}
		}
		if strings.Contains(v.Error.Cause+v.Error.Action, "PRIVATE KEY") {
			t.Errorf("%s: the error quotes the key", name)
		}
	}
	foreign, err := sb.ForeignKey()
	if err != nil {
		t.Fatal(err)
	}
	expect("a key of another project", foreign, "google_delegation_missing", "Admin console", "Domain-wide delegation", "another project")
	deleted, keyID, err := sb.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	sb.DeleteKey(keyID)
	expect("a deleted key", deleted, "google_key_rejected", "Invalid JWT Signature", "Keys")
	sb.Undelegate(sb.ClientID(), google.ScopeContacts)
	expect("a scope missing", sb.ServiceAccountKey(), "google_scope_missing", google.ScopeContacts, "Admin console")
	sb.Delegate(sb.ClientID(), google.ScopeContacts)
	if code, v := googleVerify(t, a, p.ID, "source"); code != http.StatusOK || !v.OK {
		t.Fatalf("verify after the scope was delegated again: %d %+v", code, v)
	}
}

// TestGoogleToGoogle moves a Workspace to another through the saga, each
// service its own process: every message exactly once with the same
// hashes, labels and flags; a message under two labels once, in the folder
// of its first label with the other as a category; nested labels nested;
// a re-run adds nothing; a delta run brings the new message, the user's
// label changes and a deletion (History API); nobody is sent anything.
// Wrong keys and missing delegation are refused through the API first.
func TestGoogleToGoogle(t *testing.T) {
	srcSB, srcC, srcFields, srcSecrets := googleTenant(t, 3, 6)
	dstSB, dstC, dstFields, dstSecrets := googleTenant(t, 0, 0)
	users, err := srcC.ListMailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(users[0].PrimaryAddress, "admin@") || len(users) != 4 {
		t.Fatalf("source users %v, want the administrator first and 3 users", users)
	}
	// The administrator is listed first: it is the mailbox the delta
	// step edits, so its inbox gets mail of its own.
	srcUser, dstUser := googleUser{srcSB}, googleUser{dstSB}
	for i := range 3 {
		srcUser.importMessage(t, users[0].ID, platformtest.Message(fmt.Sprintf("to the administrator %d", i), 1500), "INBOX", "UNREAD")
	}
	multi := multiLabel(t, srcUser, users[1].ID)
	for _, u := range users[1 : len(users)-1] {
		dstSB.AddUser(strings.SplitN(u.PrimaryAddress, "@", 2)[0]+"@"+dstSB.Domain(), u.DisplayName)
	}
	c := startCluster(t)
	a, op, acct, pid := setupKinds(t, c.api, 20, "google", "google",
		map[string]any{"fields": srcFields, "secrets": srcSecrets},
		map[string]any{"fields": dstFields, "secrets": dstSecrets})
	checkGoogleKeyErrors(t, a, pid, "source", srcSB, srcFields)
	if code, v := googleVerify(t, a, pid, "destination"); code != http.StatusOK || !v.OK {
		t.Fatalf("verify the destination: %d %+v", code, v)
	}
	fullMigration(t, a, op, acct, pid, tenants{src: srcC, dst: dstC, edit: func(t *testing.T, mb string) userEdits {
		return srcUser.editInbox(t, srcC, mb)
	}})
	checkMail(t, srcC, dstC, true)
	dstMB := strings.SplitN(users[1].PrimaryAddress, "@", 2)[0] + "@" + dstSB.Domain()
	got := checkMultiLabel(t, dstC, dstMB, multi)
	// In Gmail itself: one message with both labels, the star and
	// IMPORTANT, and no inbox.
	labels := dstUser.labelNames(t, dstMB, got.ID)
	if want := []string{labelFolder, "IMPORTANT", labelCategory, "STARRED"}; !slices.Equal(labels, want) {
		t.Errorf("the message with two labels carries %v in Gmail, want %v", labels, want)
	}
	checkNested(t, dstC, dstMB)
	if all := dstUser.allLabels(t, dstMB); !slices.Contains(all, labelCategory) || !slices.Contains(all, "Projects/2026") {
		t.Errorf("the destination's labels %v lack the nested ones", all)
	}
	nothingSentByGoogle(t, "source", srcSB)
	nothingSentByGoogle(t, "destination", dstSB)
}

// TestGoogleToM365 moves a Workspace into Microsoft 365: labels become
// folders and categories as documented (a message under two labels once,
// in the nested folder of its first label), flags and hashes kept, the
// re-run adds nothing, the delta brings what the user changed in Gmail,
// and nobody on either side is sent anything.
func TestGoogleToM365(t *testing.T) {
	srcSB, srcC, srcFields, srcSecrets := googleTenant(t, 3, 6)
	dstSB, dstC, dstFields, dstSecrets := graphTenant(t, 0, 0)
	users, err := srcC.ListMailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srcUser := googleUser{srcSB}
	for i := range 3 {
		srcUser.importMessage(t, users[0].ID, platformtest.Message(fmt.Sprintf("to the administrator %d", i), 1500), "INBOX")
	}
	multi := multiLabel(t, srcUser, users[1].ID)
	for _, u := range users[:len(users)-1] {
		dstSB.AddUser(strings.SplitN(u.PrimaryAddress, "@", 2)[0]+"@"+dstSB.Domain(), u.DisplayName)
	}
	c := startCluster(t)
	a, op, acct, pid := setupKinds(t, c.api, 20, "google", "m365",
		map[string]any{"fields": srcFields, "secrets": srcSecrets},
		map[string]any{"fields": dstFields, "secrets": dstSecrets})
	if code, v := googleVerify(t, a, pid, "source"); code != http.StatusOK || !v.OK {
		t.Fatalf("verify the source: %d %+v", code, v)
	}
	fullMigration(t, a, op, acct, pid, tenants{src: srcC, dst: dstC, edit: func(t *testing.T, mb string) userEdits {
		return srcUser.editInbox(t, srcC, mb)
	}})
	// Exchange renders bodies anew: attachments are compared by hash.
	checkMail(t, srcC, dstC, false)
	dstMB := tenants{}.mailboxByAddress(t, dstC, strings.SplitN(users[1].PrimaryAddress, "@", 2)[0]+"@"+dstSB.Domain())
	checkMultiLabel(t, dstC, dstMB.ID, multi)
	checkNested(t, dstC, dstMB.ID)
	nothingSentByGoogle(t, "source", srcSB)
	nothingSentByGraph(t, "destination", dstSB)
}

// TestM365ToGoogle moves Microsoft 365 into a Workspace, creating the
// missing user through the Directory API: folders become labels (nested
// folders nested labels), categories labels, flags stars; hashes kept,
// the re-run adds nothing, the delta brings the user's changes, and
// nobody is sent anything.
func TestM365ToGoogle(t *testing.T) {
	srcSB, srcC, srcFields, srcSecrets := graphTenant(t, 0, 0)
	srcSB.Seed(graph.SeedSpec{Users: 3, MessagesPerUser: 6, EventsPerUser: 3, ContactsPerUser: 3, Seed: 11, Profile: tenantgen.Light})
	dstSB, dstC, dstFields, dstSecrets := googleTenant(t, 0, 0)
	users, err := srcC.ListMailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A message in a nested folder with two categories, flagged.
	ctx := context.Background()
	parent := ""
	for _, name := range strings.Split(labelCategory, "/") {
		f, err := srcC.EnsureFolder(ctx, users[1].ID, platform.Folder{Name: name, ParentID: parent, Kind: platform.Mail})
		if err != nil {
			t.Fatal(err)
		}
		parent = f.ID
	}
	it := platformtest.Message("filed with two categories", 3000)
	it.Read, it.Flagged, it.Categories = true, true, []string{"Customers", "Important"}
	if _, err := srcC.WriteItem(ctx, users[1].ID, parent, it, "e2e-two-categories"); err != nil {
		t.Fatal(err)
	}
	multi, _ := essentialsOf(t, it.Content, true)
	for _, u := range users[:len(users)-1] {
		dstSB.AddUser(strings.SplitN(u.PrimaryAddress, "@", 2)[0]+"@"+dstSB.Domain(), u.DisplayName)
	}
	c := startCluster(t)
	a, op, acct, pid := setupKinds(t, c.api, 20, "m365", "google",
		map[string]any{"fields": srcFields, "secrets": srcSecrets},
		map[string]any{"fields": dstFields, "secrets": dstSecrets})
	if code, v := googleVerify(t, a, pid, "destination"); code != http.StatusOK || !v.OK {
		t.Fatalf("verify the destination: %d %+v", code, v)
	}
	user := newGraphUser(t, srcSB)
	fullMigration(t, a, op, acct, pid, tenants{src: srcC, dst: dstC, edit: func(t *testing.T, mb string) userEdits {
		return user.editInbox(t, srcC, mb)
	}})
	checkMail(t, srcC, dstC, true)
	dstMB := strings.SplitN(users[1].PrimaryAddress, "@", 2)[0] + "@" + dstSB.Domain()
	got := findMail(t, dstC, dstMB, multi)
	if want := fmt.Sprintf("folder=%s read=true flagged=true categories=Customers,Important", labelCategory); got.Place != want {
		t.Errorf("the message with two categories is placed\n %s\nwant %s", got.Place, want)
	}
	// In Gmail: the folder's path as its label, a label per category
	// (Important the system one), the star.
	if labels, want := (googleUser{dstSB}).labelNames(t, dstMB, got.ID), []string{"Customers", "IMPORTANT", labelCategory, "STARRED"}; !slices.Equal(labels, want) {
		t.Errorf("the message carries %v in Gmail, want %v", labels, want)
	}
	if all := (googleUser{dstSB}).allLabels(t, dstMB); !slices.Contains(all, "Projects/2026") || !slices.Contains(all, labelCategory) {
		t.Errorf("the destination's labels %v lack the nested ones", all)
	}
	nothingSentByGraph(t, "source", srcSB)
	nothingSentByGoogle(t, "destination", dstSB)
}
