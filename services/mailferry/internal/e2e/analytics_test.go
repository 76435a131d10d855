package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
)

type mailboxView struct {
	SourceID      string `json:"sourceId"`
	SourceAddress string `json:"sourceAddress"`
	State         string `json:"state"`
	Health        string `json:"health"`
	HealthReason  string `json:"healthReason"`
	RetryAfterMs  int64  `json:"retryAfterMs"`
	Items         int    `json:"items"`
}

type runProgress struct {
	State     string        `json:"state"`
	Mailboxes []mailboxView `json:"mailboxes"`
}

type logPage struct {
	Total uint64 `json:"total"`
	Lines []struct {
		Kind         string `json:"kind"`
		Level        string `json:"level"`
		Code         string `json:"code"`
		Cause        string `json:"cause"`
		Action       string `json:"action"`
		Message      string `json:"message"`
		RetryAfterMs int64  `json:"retryAfterMs"`
	} `json:"lines"`
}

type reconciliation struct {
	Totals struct {
		Source      int `json:"source"`
		Destination int `json:"destination"`
		Skipped     int `json:"skipped"`
		Failed      int `json:"failed"`
	} `json:"totals"`
	Mailboxes []struct {
		SourceID string `json:"sourceId"`
		Totals   struct {
			Source int `json:"source"`
		} `json:"totals"`
	} `json:"mailboxes"`
	ItemsTotal int `json:"itemsTotal"`
	Items      []struct {
		ItemID  string `json:"itemId"`
		Outcome string `json:"outcome"`
		Code    string `json:"code"`
		Reason  string `json:"reason"`
	} `json:"items"`
}

// TestAnalyticsAcceptance runs a project over the memory sandbox with
// injected faults and checks, through the API and the CLI, what issue 7
// asks: health goes to throttled (with the platform's wait) and back, to
// stalled while the destination hangs, the log explains it all, the
// reconciliation lists exactly the items that did not move with their
// reasons and totals matching the source, and a telemetry process killed
// and replaced by one rebuilding an empty database from the streams gives
// the same answers.
func TestAnalyticsAcceptance(t *testing.T) {
	sb := newSandbox(t, 3, 60)
	ctx := context.Background()
	// Two items over the destination's limit in the first mailbox.
	const limit = 1 << 20
	sb.dst.SetLimits(platform.Limits{MaxItemBytes: limit})
	first := sb.sources[0]
	inbox, _ := sb.src.FolderByRole(first.ID, platform.RoleInbox)
	for i := range 2 {
		big := append([]byte("Subject: big "+string(rune('a'+i))+"\r\n\r\n"), bytes.Repeat([]byte("x"), 2*limit)...)
		if _, err := sb.src.AddItem(ctx, first.ID, inbox.ID, platform.Item{Ref: platform.ItemRef{Kind: platform.Mail}, Content: big}); err != nil {
			t.Fatal(err)
		}
	}
	// Two damaged items in the second mailbox: the source cannot read them.
	const damaged = "X-Test-Damaged: yes"
	second := sb.sources[1]
	inbox2, _ := sb.src.FolderByRole(second.ID, platform.RoleInbox)
	for i := range 2 {
		raw := []byte("Subject: damaged " + string(rune('a'+i)) + "\r\n" + damaged + "\r\n\r\nbody\r\n")
		if _, err := sb.src.AddItem(ctx, second.ID, inbox2.ID, platform.Item{Ref: platform.ItemRef{Kind: platform.Mail}, Content: raw}); err != nil {
			t.Fatal(err)
		}
	}
	c := startCluster(t, "MAILFERRY_TELEMETRY_STALL_AFTER=2s")
	a, op, _, pid := setup(t, c.api, sb, 20)

	var created struct {
		Run run `json:"run"`
	}
	a.must("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "discovery"}, &created)
	a.waitRun(created.Run.ID, 2*time.Minute)
	var mp struct {
		Entries []mappingEntry `json:"entries"`
	}
	a.must("GET", "/api/projects/"+pid+"/mapping?exceptionsOnly=true", nil, &mp)
	for _, e := range mp.Entries {
		a.must("PATCH", "/api/projects/"+pid+"/mapping", map[string]any{"edits": []any{map[string]string{"source": e.Source.PrimaryAddress, "action": "exclude"}}}, nil)
	}
	migrated := sb.sources[:len(sb.sources)-1]

	// Throttling from the start, and slow writes so the run lasts. The
	// sandbox's Retry-After is in whole seconds, as HTTP's is.
	sb.src.SetFaults(memory.Faults{ThrottleEvery: 6, RetryAfter: 2 * time.Second, CorruptOn: damaged})
	sb.dst.SetFaults(memory.Faults{WriteDelay: 30 * time.Millisecond})
	a.must("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "full"}, &created)
	runID := created.Run.ID
	progress := func() runProgress {
		var p runProgress
		a.do("GET", "/api/runs/"+runID+"/progress", nil, &p)
		return p
	}
	find := func(health string) (mailboxView, bool) {
		for _, m := range progress().Mailboxes {
			if m.State == "running" && m.Health == health {
				return m, true
			}
		}
		return mailboxView{}, false
	}
	var throttled mailboxView
	bustest.Eventually(t, 2*time.Minute, "a mailbox to show throttled", func() bool {
		var ok bool
		throttled, ok = find("throttled")
		return ok
	})
	if throttled.RetryAfterMs != 2000 || !strings.Contains(throttled.HealthReason, "2s") {
		t.Errorf("throttled mailbox %+v", throttled)
	}
	sb.src.SetFaults(memory.Faults{CorruptOn: damaged})
	bustest.Eventually(t, time.Minute, "the throttled mailbox to be healthy again", func() bool {
		for _, m := range progress().Mailboxes {
			if m.SourceID == throttled.SourceID {
				return m.Health == "healthy" || m.State != "running"
			}
		}
		return false
	})
	// The destination hangs: no progress for longer than the stall time.
	sb.dst.SetFaults(memory.Faults{WriteDelay: 6 * time.Second})
	var stalled mailboxView
	bustest.Eventually(t, time.Minute, "a mailbox to show stalled", func() bool {
		var ok bool
		stalled, ok = find("stalled")
		return ok
	})
	if !strings.Contains(stalled.HealthReason, "no progress since") {
		t.Errorf("stalled mailbox %+v", stalled)
	}
	var fleet struct {
		Mailboxes []mailboxView `json:"mailboxes"`
	}
	a.must("GET", "/api/fleet", nil, &fleet)
	if len(fleet.Mailboxes) == 0 || fleet.Mailboxes[0].Health != "stalled" {
		t.Errorf("fleet while stalled: %+v", fleet)
	}
	sb.dst.SetFaults(memory.Faults{})
	if r := a.waitRun(runID, 5*time.Minute); r.State != "completed" {
		t.Fatalf("run ended %s: %s %s", r.State, r.Code, r.Reason)
	}

	// The log of the throttled mailbox explains its run.
	var lp logPage
	bustest.Eventually(t, 30*time.Second, "the log to show the completion", func() bool {
		lp = logPage{}
		a.do("GET", "/api/projects/"+pid+"/mailboxes/"+throttled.SourceAddress+"/log?limit=1000", nil, &lp)
		return len(lp.Lines) > 0 && lp.Lines[len(lp.Lines)-1].Kind == "mailbox_completed"
	})
	kinds := map[string]int{}
	for _, l := range lp.Lines {
		kinds[l.Kind]++
		if l.Kind == "throttled" && (l.RetryAfterMs != 2000 || l.Action == "" || l.Level != "warning") {
			t.Errorf("throttled line %+v", l)
		}
	}
	if kinds["mailbox_started"] == 0 || kinds["throttled"] == 0 || kinds["throttle_ended"] == 0 {
		t.Errorf("log kinds %v", kinds)
	}
	var warnings logPage
	a.must("GET", "/api/projects/"+pid+"/mailboxes/"+first.PrimaryAddress+"/log?level=warning&limit=1000", nil, &warnings)
	skippedLines := 0
	for _, l := range warnings.Lines {
		if l.Level == "info" {
			t.Errorf("level filter let through %+v", l)
		}
		if l.Kind == "item_skipped" {
			skippedLines++
			if l.Code != "item_too_large" || l.Cause == "" || l.Action == "" {
				t.Errorf("skipped line %+v", l)
			}
		}
	}

	// Reconciliation: exactly the items over the limit, and the source's
	// totals.
	var wantSkipped, wantFailed []string
	wantSource := 0
	for _, mb := range migrated {
		st, err := sb.src.Stats(ctx, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantSource += st.Mail + st.Events + st.Contacts
		for _, ref := range allItems(t, sb.src, mb.ID) {
			if ref.Size > limit {
				wantSkipped = append(wantSkipped, ref.ID)
			}
		}
	}
	for _, ref := range allItems(t, sb.src, second.ID) {
		if ref.Size < 200 {
			wantFailed = append(wantFailed, ref.ID) // the two damaged ones
		}
	}
	sort.Strings(wantSkipped)
	sort.Strings(wantFailed)
	if len(wantFailed) != 2 {
		t.Fatalf("found %d small items in the second mailbox, want the 2 damaged ones", len(wantFailed))
	}
	if skippedLines != countFrom(wantSkipped, allItemsIDs(t, sb.src, first.ID)) {
		t.Errorf("%d item_skipped lines in the first mailbox's log, want its share of %v", skippedLines, wantSkipped)
	}
	var rep reconciliation
	a.must("GET", "/api/projects/"+pid+"/reconciliation", nil, &rep)
	var gotSkipped, gotFailed []string
	for _, it := range rep.Items {
		switch {
		case it.Outcome == "skipped" && it.Code == "item_too_large" && strings.Contains(it.Reason, "limit"):
			gotSkipped = append(gotSkipped, it.ItemID)
		case it.Outcome == "failed" && it.Code == "item_corrupt" && strings.Contains(it.Reason, "damaged"):
			gotFailed = append(gotFailed, it.ItemID)
		default:
			t.Errorf("listed item %+v", it)
		}
	}
	sort.Strings(gotSkipped)
	sort.Strings(gotFailed)
	if !slices.Equal(gotSkipped, wantSkipped) || len(wantSkipped) < 2 {
		t.Errorf("listed as skipped %v, want %v", gotSkipped, wantSkipped)
	}
	if !slices.Equal(gotFailed, wantFailed) {
		t.Errorf("listed as failed %v, want exactly the damaged %v", gotFailed, wantFailed)
	}
	notMoved := len(wantSkipped) + len(wantFailed)
	if rep.Totals.Source != wantSource || rep.Totals.Destination != wantSource-notMoved || rep.Totals.Skipped != len(wantSkipped) ||
		rep.Totals.Failed != len(wantFailed) || len(rep.Mailboxes) != len(migrated) {
		t.Errorf("totals %+v for %d source items, %d skipped, %d failed", rep.Totals, wantSource, len(wantSkipped), len(wantFailed))
	}

	// The CLI: the log, the report as CSV, and SQL with the operator key.
	cli := func(key string, args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Env = append(cmd.Environ(), "MAILFERRY_API_URL="+c.api, "MAILFERRY_API_KEY="+key, "MAILFERRY_CLICKHOUSE_DSN=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mailferry %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := cli(a.c.Key, "log", pid, throttled.SourceAddress); !strings.Contains(out, "throttled") || !strings.Contains(out, "mailbox_completed") {
		t.Errorf("mailferry log:\n%s", out)
	}
	csv := cli(a.c.Key, "report", pid, "--format", "csv")
	if n := strings.Count(csv, "\nitem,"); n != notMoved || !strings.HasPrefix(csv, "record,mailbox,source_id,folder") {
		t.Errorf("mailferry report --format csv (%d item rows):\n%s", n, csv)
	}
	if out := cli(op.c.Key, "sql", "SELECT outcome, count() AS n FROM item_ledger FINAL GROUP BY outcome ORDER BY outcome"); !strings.Contains(out, "skipped") || !strings.Contains(out, "chdb") {
		t.Errorf("mailferry sql:\n%s", out)
	}
	if code, _ := a.do("POST", "/api/sql", map[string]string{"query": "SELECT 1"}, nil); code != 403 {
		t.Errorf("an account key ran SQL over every account's rows: %d", code)
	}
	if code, _ := op.do("POST", "/api/sql", map[string]string{"query": "DROP TABLE item_ledger"}, nil); code != 422 {
		t.Errorf("DROP through /api/sql: %d", code)
	}

	// Kill telemetry; a new process rebuilding an empty database from the
	// streams answers the same.
	answers := func() []string {
		var out []string
		for _, path := range []string{
			"/api/projects/" + pid + "/log?limit=1000",
			"/api/projects/" + pid + "/reconciliation",
			// The "@" escaped, as many HTTP clients send it.
			"/api/projects/" + pid + "/mailboxes/" + strings.ReplaceAll(first.PrimaryAddress, "@", "%40") + "/log?level=warning",
		} {
			var raw json.RawMessage
			a.must("GET", path, nil, &raw)
			out = append(out, string(raw))
		}
		data, _, err := a.c.Do(ctx, "GET", "/api/projects/"+pid+"/reconciliation.csv", nil)
		if err != nil {
			t.Fatal(err)
		}
		return append(out, string(data))
	}
	before := answers()
	c.procs["telemetry"][0].kill()
	startProc(t, "telemetry-rebuilt", append(slices.Clone(c.env), "MAILFERRY_ANALYTICS_DATABASE=rebuilt"), "serve", "telemetry")
	var after []string
	bustest.Eventually(t, time.Minute, "the rebuilt telemetry to answer the same", func() bool {
		var p json.RawMessage
		if code, _ := a.do("GET", "/api/projects/"+pid+"/log?limit=1000", nil, &p); code != 200 || string(p) != before[0] {
			return false
		}
		after = answers()
		return true
	})
	for i := range before {
		if before[i] != after[i] {
			t.Errorf("answer %d differs after the rebuild:\n%s\nbefore:\n%s", i, after[i], before[i])
		}
	}
}

func allItems(t *testing.T, c platform.Source, mailboxID string) []platform.ItemRef {
	t.Helper()
	ctx := context.Background()
	folders, err := c.Folders(ctx, mailboxID)
	if err != nil {
		t.Fatal(err)
	}
	var out []platform.ItemRef
	for _, f := range folders {
		tok := ""
		for {
			p, err := c.Items(ctx, mailboxID, f.ID, tok)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p.Items...)
			if p.NextToken == "" {
				break
			}
			tok = p.NextToken
		}
	}
	return out
}

func allItemsIDs(t *testing.T, c platform.Source, mailboxID string) map[string]bool {
	ids := map[string]bool{}
	for _, r := range allItems(t, c, mailboxID) {
		ids[r.ID] = true
	}
	return ids
}

func countFrom(ids []string, in map[string]bool) int {
	n := 0
	for _, id := range ids {
		if in[id] {
			n++
		}
	}
	return n
}
