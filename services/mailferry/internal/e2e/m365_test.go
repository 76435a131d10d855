package e2e

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/connectors/m365"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

// graphTenant starts a Graph sandbox with users mailbox domain and a
// connector to it as the test's own view.
func graphTenant(t *testing.T, seedUsers, messages int) (*graph.Sandbox, platform.Connector, map[string]string, map[string]string) {
	t.Helper()
	sb, err := graph.New(graph.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	if seedUsers > 0 {
		sb.Seed(graph.SeedSpec{Users: seedUsers, MessagesPerUser: messages, EventsPerUser: 3, ContactsPerUser: 3, Seed: 11})
	}
	tenant, client, secret := sb.Credentials()
	fields := map[string]string{"tenantId": tenant, "clientId": client, "graphBaseUrl": sb.BaseURL(), "authorityUrl": sb.AuthorityURL(), "caPem": string(sb.CAPEM())}
	secrets := map[string]string{"clientSecret": secret}
	c, err := m365.FromCredentials(context.Background(), platform.Credentials{Platform: platform.M365, Fields: fields, Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	return sb, c, fields, secrets
}

// setupKinds creates an account with credits and a project between any two
// platforms with the given credentials.
func setupKinds(t *testing.T, apiURL string, credits int, src, dst string, srcCreds, dstCreds map[string]any) (a, op api, accountID, projectID string) {
	t.Helper()
	op = api{t: t, c: clientFor(apiURL, operatorKey)}
	var acct struct {
		AccountID string `json:"accountId"`
		APIKey    string `json:"apiKey"`
	}
	op.must(http.MethodPost, "/api/accounts", map[string]string{"name": "E2E " + src + " to " + dst}, &acct)
	op.must(http.MethodPost, "/api/accounts/"+acct.AccountID+"/credits", map[string]any{"amount": credits}, nil)
	a = api{t: t, c: clientFor(apiURL, acct.APIKey)}
	var p struct {
		ID string `json:"id"`
	}
	a.must(http.MethodPost, "/api/projects", map[string]string{"name": src + " to " + dst, "source": src, "destination": dst}, &p)
	a.must(http.MethodPut, "/api/projects/"+p.ID+"/credentials/source", srcCreds, nil)
	a.must(http.MethodPut, "/api/projects/"+p.ID+"/credentials/destination", dstCreds, nil)
	return a, op, acct.AccountID, p.ID
}

// TestM365ToMemory migrates a Graph sandbox tenant into the memory sandbox
// through the saga, with the services as separate processes.
func TestM365ToMemory(t *testing.T) {
	gsb, gc, fields, secrets := graphTenant(t, 4, 8)
	store := memory.NewStore()
	dst := store.AddTenant("dst", "dest.example")
	users, err := gc.ListMailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users[:len(users)-1] {
		dst.AddMailbox(platform.Mailbox{PrimaryAddress: strings.SplitN(u.PrimaryAddress, "@", 2)[0] + "@dest.example", DisplayName: u.DisplayName})
	}
	msrv := httpTestServer(t, memory.NewHandler(store))
	c := startCluster(t)
	a, op, acct, pid := setupKinds(t, c.api, 20, "m365", "memory",
		map[string]any{"fields": fields, "secrets": secrets},
		map[string]any{"fields": map[string]string{"endpoint": msrv, "tenant": "dst"}, "secrets": map[string]string{"token": dst.Token()}})
	fullMigration(t, a, op, acct, pid, tenants{src: gc, dst: dst, exactlyOnce: func(t *testing.T, id string) {
		for marker, n := range dst.WrittenMarkers(id) {
			if n != 1 {
				t.Errorf("marker %s written %d times", marker, n)
			}
		}
	}})
	if n := gsb.SentMessages(); n != 0 {
		t.Fatalf("the source tenant sent %d messages during the migration", n)
	}
}

// TestMemoryToM365 migrates the memory sandbox into a Graph sandbox tenant,
// creating the missing user with a licence.
func TestMemoryToM365(t *testing.T) {
	sb := newSandbox(t, 4, 10)
	gsb, gc, fields, secrets := graphTenant(t, 0, 0)
	for _, m := range sb.sources[:len(sb.sources)-1] {
		gsb.AddUser(strings.SplitN(m.PrimaryAddress, "@", 2)[0]+"@"+gsb.Domain(), m.DisplayName)
	}
	c := startCluster(t)
	a, op, acct, pid := setupKinds(t, c.api, 20, "memory", "m365",
		map[string]any{"fields": map[string]string{"endpoint": sb.url, "tenant": "src"}, "secrets": map[string]string{"token": sb.src.Token()}},
		map[string]any{"fields": fields, "secrets": secrets})
	fullMigration(t, a, op, acct, pid, tenants{src: sb.src, dst: gc})
	if n := gsb.SentMessages(); n != 0 {
		t.Fatalf("the destination tenant sent %d messages during the migration", n)
	}
}

// TestM365ToM365 is a tenant-to-tenant move between two Graph sandboxes.
func TestM365ToM365(t *testing.T) {
	srcSB, srcC, srcFields, srcSecrets := graphTenant(t, 3, 6)
	dstSB, dstC, dstFields, dstSecrets := graphTenant(t, 0, 0)
	users, err := srcC.ListMailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users[:len(users)-1] {
		dstSB.AddUser(strings.SplitN(u.PrimaryAddress, "@", 2)[0]+"@"+dstSB.Domain(), u.DisplayName)
	}
	c := startCluster(t)
	a, op, acct, pid := setupKinds(t, c.api, 20, "m365", "m365",
		map[string]any{"fields": srcFields, "secrets": srcSecrets},
		map[string]any{"fields": dstFields, "secrets": dstSecrets})
	// The guided setup and the verification, as the CLI prints them: the
	// optional permissions of full fidelity are listed with what they buy,
	// and verification names those missing without failing.
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), "MAILFERRY_API_URL="+a.c.BaseURL, "MAILFERRY_API_KEY="+a.c.Key)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mailferry %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	guide := cli("setup", "m365", "--tenant", dstFields["tenantId"])
	for _, want := range []string{`"optional"`, "MailboxItem.ImportExport.All", "MailboxItem.Export.All", "MailboxItem.ReadWrite.All", "cancellation", `"tenant": "destination"`} {
		if !strings.Contains(guide, want) {
			t.Errorf("mailferry setup m365 does not show %s:\n%s", want, guide)
		}
	}
	verified := cli("creds", "verify", pid, "destination")
	if !strings.Contains(verified, `"ok": true`) || !strings.Contains(verified, `"missingOptional"`) || !strings.Contains(verified, "MailboxItem.ReadWrite.All") {
		t.Errorf("mailferry creds verify with only the required permissions:\n%s", verified)
	}
	user := newGraphUser(t, srcSB)
	fullMigration(t, a, op, acct, pid, tenants{src: srcC, dst: dstC, edit: func(t *testing.T, mb string) userEdits {
		return user.editInbox(t, srcC, mb)
	}})
	if n := srcSB.SentMessages() + dstSB.SentMessages(); n != 0 {
		t.Fatalf("%d messages were sent during the migration", n)
	}
}

// TestM365ConsentRevokedMidRun: consent is withdrawn from the destination
// app while mailboxes are moving. The mailboxes fail with a plain code that
// names the permission; once consent is granted again, running the project
// again finishes the job, charges nothing more and duplicates nothing.
func TestM365ConsentRevokedMidRun(t *testing.T) {
	sb := newSandbox(t, 3, 40)
	gsb, gc, fields, secrets := graphTenant(t, 0, 0)
	gsb.SetFaults(graph.Faults{Latency: 30 * time.Millisecond})
	for _, m := range sb.sources {
		gsb.AddUser(strings.SplitN(m.PrimaryAddress, "@", 2)[0]+"@"+gsb.Domain(), m.DisplayName)
	}
	c := startCluster(t)
	a, _, _, pid := setupKinds(t, c.api, 10, "memory", "m365",
		map[string]any{"fields": map[string]string{"endpoint": sb.url, "tenant": "src"}, "secrets": map[string]string{"token": sb.src.Token()}},
		map[string]any{"fields": fields, "secrets": secrets})
	discoverAndMap(t, a, pid)
	var created struct {
		Run run `json:"run"`
	}
	a.must("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "full"}, &created)
	bustest.Eventually(t, time.Minute, "items moving", func() bool {
		var p progressRun
		a.do("GET", "/api/runs/"+created.Run.ID+"/progress", nil, &p)
		return p.Totals.Items >= 5
	})
	gsb.Revoke("Mail.ReadWrite")
	r := a.waitRun(created.Run.ID, 3*time.Minute)
	if r.State != "failed" {
		t.Fatalf("run ended %s, want failed", r.State)
	}
	var prog struct {
		Mailboxes []struct {
			State string `json:"state"`
			Error struct {
				Code  string `json:"code"`
				Cause string `json:"cause"`
			} `json:"error"`
		} `json:"mailboxes"`
	}
	a.must("GET", "/api/runs/"+created.Run.ID+"/progress", nil, &prog)
	failed := 0
	for _, m := range prog.Mailboxes {
		if m.State == "failed" {
			failed++
			if m.Error.Code != "m365_consent_missing" || !strings.Contains(m.Error.Cause, "Mail.ReadWrite") {
				t.Fatalf("failure %q %q: want m365_consent_missing naming Mail.ReadWrite", m.Error.Code, m.Error.Cause)
			}
		}
	}
	if failed == 0 {
		t.Fatal("no mailbox failed after consent was revoked")
	}
	var before balance
	a.must("GET", "/api/credits", nil, &before)

	gsb.Grant("Mail.ReadWrite")
	a.must("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "full"}, &created)
	if r := a.waitRun(created.Run.ID, 3*time.Minute); r.State != "completed" {
		t.Fatalf("the run after consent was granted again ended %s: %s", r.State, r.Reason)
	}
	var after balance
	a.must("GET", "/api/credits", nil, &after)
	if after.Consumed != before.Consumed {
		t.Fatalf("resuming charged again: consumed %d -> %d", before.Consumed, after.Consumed)
	}
	checkDestination(t, tenants{src: sb.src, dst: gc}, sb.sources, "", "")
	if n := gsb.SentMessages(); n != 0 {
		t.Fatalf("%d messages sent", n)
	}
}

// TestM365ToM365FullFidelity: with the mailbox import/export permissions
// granted on both sides, items move in Exchange's own export format, so a
// meeting arrives as the meeting (attendees and their responses in place,
// not only in mailferry's extended property) and still nobody is sent
// anything, through the full run, the re-run and the delta run that
// replaces a changed message and removes a deleted one.
func TestM365ToM365FullFidelity(t *testing.T) {
	srcSB, srcC, srcFields, srcSecrets := graphTenant(t, 3, 6)
	dstSB, dstC, dstFields, dstSecrets := graphTenant(t, 0, 0)
	srcSB.Grant(graph.RoleMailboxExport)
	dstSB.Grant(graph.RoleMailboxImportExport, graph.RoleMailboxItemReadWrite)
	users, err := srcC.ListMailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users[:len(users)-1] {
		dstSB.AddUser(strings.SplitN(u.PrimaryAddress, "@", 2)[0]+"@"+dstSB.Domain(), u.DisplayName)
	}
	c := startCluster(t)
	a, op, acct, pid := setupKinds(t, c.api, 20, "m365", "m365",
		map[string]any{"fields": srcFields, "secrets": srcSecrets},
		map[string]any{"fields": dstFields, "secrets": dstSecrets})
	srcUser, dstUser := newGraphUser(t, srcSB), newGraphUser(t, dstSB)
	fullMigration(t, a, op, acct, pid, tenants{src: srcC, dst: dstC, edit: func(t *testing.T, mb string) userEdits {
		return srcUser.editInbox(t, srcC, mb)
	}})
	if n := srcSB.SentMessages() + dstSB.SentMessages(); n != 0 {
		t.Fatalf("%d messages were sent during the migration", n)
	}
	if n := len(srcSB.Invitations()) + len(dstSB.Invitations()); n != 0 {
		t.Fatalf("%d invitations went out during the migration", n)
	}
	if dstSB.ImportSessionsCreated() == 0 {
		t.Fatal("the destination created no import session: the items did not take the native path")
	}
	// The meetings themselves: the same subjects with the same attendee
	// lists on both sides, read from Graph as any client would.
	dstUsers, err := dstC.ListMailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	meetings := 0
	for _, su := range users {
		local := strings.SplitN(su.PrimaryAddress, "@", 2)[0]
		var du platform.Mailbox
		for _, d := range dstUsers {
			if strings.HasPrefix(d.PrimaryAddress, local+"@") {
				du = d
			}
		}
		if du.ID == "" {
			t.Fatalf("no destination mailbox for %s", su.PrimaryAddress)
		}
		want, got := attendeesBySubject(t, srcUser, su.ID), attendeesBySubject(t, dstUser, du.ID)
		for subject, att := range want {
			if att != "" {
				meetings++
			}
			if got[subject] != att {
				t.Errorf("%s: event %q has attendees %q at the destination, want %q", su.PrimaryAddress, subject, got[subject], att)
			}
		}
	}
	if meetings == 0 {
		t.Fatal("the source tenant has no meeting with attendees; the test proves nothing")
	}
}

// attendeesBySubject lists a mailbox's series and single events by subject:
// each event's attendees as sorted "address:response", events with the
// same subject sorted and joined.
func attendeesBySubject(t *testing.T, g graphUser, userID string) map[string]string {
	t.Helper()
	var page struct {
		Value []struct {
			Subject   string `json:"subject"`
			Attendees []struct {
				EmailAddress struct {
					Address string `json:"address"`
				} `json:"emailAddress"`
				Status struct {
					Response string `json:"response"`
				} `json:"status"`
			} `json:"attendees"`
		} `json:"value"`
	}
	g.call(t, http.MethodGet, "/users/"+url.PathEscape(userID)+"/events?$select=subject,attendees&$top=1000", nil, &page)
	per := map[string][]string{}
	for _, e := range page.Value {
		var list []string
		for _, a := range e.Attendees {
			list = append(list, strings.ToLower(a.EmailAddress.Address)+":"+a.Status.Response)
		}
		sort.Strings(list)
		per[e.Subject] = append(per[e.Subject], strings.Join(list, ","))
	}
	out := map[string]string{}
	for subject, events := range per {
		sort.Strings(events)
		out[subject] = strings.Join(events, " | ")
	}
	return out
}
