package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
)

// tenants is what the flow needs to see of the sandbox.
type tenants struct {
	url              string
	srcName, dstName string
	srcTok, dstTok   string
	src, dst         platform.Connector
	// exactlyOnce, when set, also checks that no marker was written twice.
	exactlyOnce func(t *testing.T, dstMailboxID string)
	// mailOnly runs without calendars and contacts and compares mail only,
	// for connectors whose calendar and contact paths are not built yet.
	mailOnly bool
	// edit, when set, acts as the first mailbox's user before the delta
	// run: it changes one inbox message and deletes another, which the
	// delta must carry over.
	edit func(t *testing.T, mailboxID string) userEdits
}

func (tn tenants) count(t *testing.T, c platform.Connector, id string) int {
	t.Helper()
	st, err := c.Stats(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if tn.mailOnly {
		return st.Mail
	}
	return st.Mail + st.Events + st.Contacts
}

func (tn tenants) runBody(mode string) map[string]any {
	if tn.mailOnly {
		return map[string]any{"mode": mode, "calendar": false, "contacts": false}
	}
	return map[string]any{"mode": mode}
}

func (tn tenants) mailboxByAddress(t *testing.T, c platform.Connector, addr string) platform.Mailbox {
	t.Helper()
	mbs, err := c.ListMailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mbs {
		if strings.EqualFold(m.PrimaryAddress, addr) {
			return m
		}
	}
	t.Fatalf("no mailbox %s", addr)
	return platform.Mailbox{}
}

type mappingEntry struct {
	Source      platform.Mailbox `json:"source"`
	Destination platform.Mailbox `json:"destination"`
	Action      string           `json:"action"`
	Exception   string           `json:"exception"`
}

// fullMigration drives a project through discovery, mapping and a full run
// and checks the destination, the balance, a re-run and a delta run.
func fullMigration(t *testing.T, a api, op api, accountID, projectID string, tn tenants) {
	t.Helper()
	srcMbs, err := tn.src.ListMailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := len(srcMbs)

	// Discovery: free, exact, and writes nothing.
	var created struct {
		Run run `json:"run"`
	}
	a.must("POST", "/api/projects/"+projectID+"/runs", map[string]any{"mode": "discovery"}, &created)
	if r := a.waitRun(created.Run.ID, 2*time.Minute); r.State != "completed" {
		t.Fatalf("discovery ended %s: %s %s", r.State, r.Code, r.Reason)
	}
	var disc struct {
		SourceMailboxes int `json:"sourceMailboxes"`
		Total           int `json:"total"`
	}
	a.must("GET", "/api/projects/"+projectID+"/discovery?limit=1000", nil, &disc)
	if disc.SourceMailboxes != n {
		t.Fatalf("discovery found %d source mailboxes, want %d", disc.SourceMailboxes, n)
	}

	// Mapping: the one person without a destination mailbox is an
	// exception; flag it for automatic creation.
	var mp struct {
		Entries []mappingEntry `json:"entries"`
	}
	a.must("GET", "/api/projects/"+projectID+"/mapping?exceptionsOnly=true", nil, &mp)
	if len(mp.Entries) != 1 || mp.Entries[0].Exception == "" {
		var all json.RawMessage
		a.must("GET", "/api/projects/"+projectID+"/mapping", nil, &all)
		t.Fatalf("mapping exceptions: %+v\nwhole mapping: %s", mp.Entries, all)
	}
	missing := mp.Entries[0].Source.PrimaryAddress
	newDst := strings.SplitN(missing, "@", 2)[0] + "@" + domainOf(t, tn.dst)
	a.must("PATCH", "/api/projects/"+projectID+"/mapping", map[string]any{"edits": []any{map[string]string{"source": missing, "destination": newDst, "action": "create"}}}, nil)

	// CSV: the export round-trips, and a bad import names its rows and
	// changes nothing.
	csv, _, err := a.c.Do(context.Background(), "GET", "/api/projects/"+projectID+"/mapping.csv", nil)
	if err != nil || !strings.HasPrefix(strings.ToLower(string(csv)), "source,destination,action") {
		t.Fatalf("mapping export: %v\n%s", err, csv)
	}
	bad := "source,destination,action\nnobody@nowhere.example,x@y.example,migrate\n" + srcMbs[0].PrimaryAddress + ",,teleport\n"
	var rej struct {
		RowErrors []struct {
			Row  int    `json:"row"`
			Code string `json:"code"`
		} `json:"rowErrors"`
	}
	code, _ := a.do("PUT", "/api/projects/"+projectID+"/mapping.csv", []byte(bad), &rej)
	if code != 422 || len(rej.RowErrors) < 2 || rej.RowErrors[0].Row != 2 || rej.RowErrors[0].Code != "unknown_source" {
		t.Fatalf("bad CSV import: %d %+v", code, rej)
	}
	var still struct {
		Entries []mappingEntry `json:"entries"`
	}
	a.must("GET", "/api/projects/"+projectID+"/mapping?exceptionsOnly=true", nil, &still)
	if len(still.Entries) != 0 {
		t.Fatalf("a rejected import changed the mapping: %+v", still.Entries)
	}

	var before balance
	a.must("GET", "/api/credits", nil, &before)

	// The full run.
	a.must("POST", "/api/projects/"+projectID+"/runs", tn.runBody("full"), &created)
	if r := a.waitRun(created.Run.ID, 5*time.Minute); r.State != "completed" {
		t.Fatalf("full run ended %s: %s %s", r.State, r.Code, r.Reason)
	}
	checkDestination(t, tn, srcMbs, missing, newDst)
	var after balance
	a.must("GET", "/api/credits", nil, &after)
	if after.Consumed-before.Consumed != n || after.Available != before.Available-n || after.Held != 0 {
		t.Fatalf("balance before %+v after %+v: want exactly %d consumed and nothing held", before, after, n)
	}

	// A re-run charges nothing and adds nothing.
	a.must("POST", "/api/projects/"+projectID+"/runs", tn.runBody("full"), &created)
	if r := a.waitRun(created.Run.ID, 5*time.Minute); r.State != "completed" {
		t.Fatalf("re-run ended %s: %s", r.State, r.Reason)
	}
	checkDestination(t, tn, srcMbs, missing, newDst)
	var again balance
	a.must("GET", "/api/credits", nil, &again)
	if again.Consumed != after.Consumed || again.Available != after.Available {
		t.Fatalf("re-run changed the balance: %+v -> %+v", after, again)
	}

	// A delta run moves only what arrived since.
	first := srcMbs[0]
	folders, err := tn.src.Folders(context.Background(), first.ID)
	if err != nil {
		t.Fatal(err)
	}
	var inbox string
	for _, f := range folders {
		if f.Role == platform.RoleInbox {
			inbox = f.ID
		}
	}
	if _, err := tn.src.WriteItem(context.Background(), first.ID, inbox, platformtest.Message("arrived after the full run", 2000), "new-mail-1"); err != nil {
		t.Fatal(err)
	}
	dstFirst := tn.mailboxByAddress(t, tn.dst, dstAddress(t, tn, first.PrimaryAddress))
	beforeDelta := tn.count(t, tn.dst, dstFirst.ID)
	want := beforeDelta + 1
	var edits userEdits
	if tn.edit != nil {
		edits = tn.edit(t, first.ID)
		want-- // one message deleted for good
		t.Logf("before the delta run the user %s", edits)
	}
	a.must("POST", "/api/projects/"+projectID+"/runs", tn.runBody("delta"), &created)
	if r := a.waitRun(created.Run.ID, 5*time.Minute); r.State != "completed" {
		t.Fatalf("delta run ended %s: %s", r.State, r.Reason)
	}
	if got := tn.count(t, tn.dst, dstFirst.ID); got != want {
		t.Fatalf("delta run: destination has %d items, want %d", got, want)
	}
	if tn.edit != nil {
		checkEdits(t, tn.dst, dstFirst.ID, edits)
	}
	checkDestination(t, tn, srcMbs, missing, newDst)
}

func domainOf(t *testing.T, c platform.Connector) string {
	mbs, err := c.ListMailboxes(context.Background())
	if err != nil || len(mbs) == 0 {
		t.Fatalf("destination mailboxes: %v", err)
	}
	return strings.SplitN(mbs[0].PrimaryAddress, "@", 2)[1]
}

func dstAddress(t *testing.T, tn tenants, srcAddr string) string {
	return strings.SplitN(srcAddr, "@", 2)[0] + "@" + domainOf(t, tn.dst)
}

// checkDestination: every source mailbox's items are at the destination,
// exactly once.
func checkDestination(t *testing.T, tn tenants, srcMbs []platform.Mailbox, _, _ string) {
	t.Helper()
	total := 0
	for _, m := range srcMbs {
		dm := tn.mailboxByAddress(t, tn.dst, dstAddress(t, tn, m.PrimaryAddress))
		want, got := tn.count(t, tn.src, m.ID), tn.count(t, tn.dst, dm.ID)
		total += got
		if got != want {
			t.Errorf("%s: destination holds %d items, source %d", m.PrimaryAddress, got, want)
		}
		if tn.exactlyOnce != nil {
			tn.exactlyOnce(t, dm.ID)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if total == 0 {
		t.Fatal("the destination is empty: nothing was migrated")
	}
	t.Logf("destination holds %d items in %d mailboxes, each exactly once", total, len(srcMbs))
}
