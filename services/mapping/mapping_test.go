package mapping

import (
	"context"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailferry/mailferry/events/discovery"
	"github.com/mailferry/mailferry/events/mapping"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/mapping/internal/plan"
)

const wait = 20 * time.Second

// harness runs the service on a real nats-server; b is a second connection
// through which the test acts as the discovery and project services.
type harness struct {
	t   *testing.T
	ctx context.Context
	b   *bus.Bus
}

func start(t *testing.T) *harness {
	t.Helper()
	srv := bustest.RunServer(t, "")
	sb := bustest.Open(t, srv.ClientURL())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	d, err := svc.WithBus(ctx, "mapping", sb, svc.Config{VaultKey: key}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(d, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := sb.Run(ctx); err != nil {
			t.Errorf("bus run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	<-sb.Running()
	return &harness{t: t, ctx: ctx, b: bustest.Open(t, srv.ClientURL())}
}

func mb(id, addr, name string, aliases ...string) platform.Mailbox {
	return platform.Mailbox{ID: id, PrimaryAddress: addr, DisplayName: name, Aliases: aliases}
}

var (
	srcAlice = mb("s-alice", "alice@contoso.com", "Alice")
	srcBob   = mb("s-bob", "bob@contoso.com", "Bob")
	srcCarol = mb("s-carol", "carol@contoso.com", "Carol King")
	srcDave  = mb("s-dave", "dave@contoso.com", "Dave")
	srcSales = mb("s-sales", "sales@contoso.com", "Sales")
	srcErin  = mb("s-erin", "erin@contoso.com", "Erin")

	dstAlice   = mb("d-alice", "alice@fabrikam.com", "Alice A")
	dstRobert  = mb("d-bob", "robert@fabrikam.com", "Robert", "bob@contoso.com")
	dstCarol   = mb("d-carol", "cking@fabrikam.com", "Carol King")
	dstSalesEU = mb("d-sales-eu", "sales.eu@fabrikam.com", "Sales")
	dstSalesUS = mb("d-sales-us", "sales.us@fabrikam.com", "Sales")
	dstSpare   = mb("d-spare", "spare@fabrikam.com", "Spare")
	dstErin    = mb("d-erin", "erin@fabrikam.com", "Erin")

	sources      = []platform.Mailbox{srcAlice, srcBob, srcCarol, srcDave, srcSales}
	destinations = []platform.Mailbox{dstAlice, dstRobert, dstCarol, dstSalesEU, dstSalesUS, dstSpare}
)

// discover publishes a discovery run the way the discovery service does.
func (h *harness) discover(projectID, runID string, src, dst []platform.Mailbox) {
	h.t.Helper()
	subj := discovery.RunSubject(runID)
	for side, mbs := range map[string][]platform.Mailbox{plan.SideSource: src, plan.SideDestination: dst} {
		for _, m := range mbs {
			ev := discovery.MailboxDiscovered{RunID: runID, ProjectID: projectID, Side: side, Mailbox: m}
			if _, err := h.b.Publish(h.ctx, subj, ev, bus.WithID(runID+"-"+side+"-"+m.ID)); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	done := discovery.DiscoveryCompleted{RunID: runID, ProjectID: projectID, SourceMailboxes: len(src), DestinationMailboxes: len(dst)}
	if _, err := h.b.Publish(h.ctx, subj, done, bus.WithID(runID+"-completed")); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) get(req GetRequest) (GetResponse, error) {
	var resp GetResponse
	err := h.b.Query(h.ctx, "mapping", "get", req, &resp)
	return resp, err
}

func (h *harness) mustGet(req GetRequest) GetResponse {
	h.t.Helper()
	resp, err := h.get(req)
	if err != nil {
		h.t.Fatalf("get %+v: %v", req, err)
	}
	return resp
}

// waitSuggested waits until the mapping reflects discovery run runID.
func (h *harness) waitSuggested(projectID, runID string) GetResponse {
	h.t.Helper()
	var resp GetResponse
	bustest.Eventually(h.t, wait, "mapping of "+runID, func() bool {
		var err error
		resp, err = h.get(GetRequest{ProjectID: projectID})
		return err == nil && resp.RunID == runID
	})
	return resp
}

// edit publishes an edit request the way the project service does and
// waits for its outcome.
func (h *harness) edit(req project.MappingEditRequested) RequestResponse {
	h.t.Helper()
	if _, err := h.b.Publish(h.ctx, project.ProjectSubject(req.ProjectID), req, bus.WithID("req-"+req.RequestID)); err != nil {
		h.t.Fatal(err)
	}
	return h.waitRequest(req.ProjectID, req.RequestID)
}

func (h *harness) waitRequest(projectID, requestID string) RequestResponse {
	h.t.Helper()
	var resp RequestResponse
	bustest.Eventually(h.t, wait, "outcome of "+requestID, func() bool {
		err := h.b.Query(h.ctx, "mapping", "request", RequestRequest{ProjectID: projectID, RequestID: requestID}, &resp)
		return err == nil && resp.State != plan.RequestPending
	})
	return resp
}

func (h *harness) runnable(req RunnableRequest) RunnableResponse {
	h.t.Helper()
	var resp RunnableResponse
	if err := h.b.Query(h.ctx, "mapping", "runnable", req, &resp); err != nil {
		h.t.Fatalf("runnable: %v", err)
	}
	return resp
}

func sourcesOf(es []mapping.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Source.PrimaryAddress
	}
	return out
}

func entry(t *testing.T, es []mapping.Entry, source string) mapping.Entry {
	t.Helper()
	for _, e := range es {
		if e.Source.PrimaryAddress == source {
			return e
		}
	}
	t.Fatalf("no entry for %s in %v", source, sourcesOf(es))
	return mapping.Entry{}
}

func TestNewRejectsNilDeps(t *testing.T) {
	t.Parallel()
	if _, err := New(nil, Config{}); err == nil {
		t.Fatal("New(nil) succeeded")
	}
	if _, err := New(&svc.Deps{}, Config{}); err == nil {
		t.Fatal("New without a bus succeeded")
	}
}

func TestDiscoveryCompletedSuggestsMapping(t *testing.T) {
	t.Parallel()
	h := start(t)

	_, err := h.get(GetRequest{ProjectID: "p1"})
	if !errs.Is(err, errs.NotFound) {
		t.Fatalf("get before any discovery: %v, want not_found", err)
	}

	h.discover("p1", "run-1", sources, destinations)
	got := h.waitSuggested("p1", "run-1")

	// Exceptions first, then by source address.
	want := []string{"dave@contoso.com", "sales@contoso.com", "alice@contoso.com", "bob@contoso.com", "carol@contoso.com"}
	if !reflect.DeepEqual(sourcesOf(got.Entries), want) {
		t.Fatalf("order %v, want %v", sourcesOf(got.Entries), want)
	}
	if got.Total != 5 || got.Exceptions != 2 {
		t.Fatalf("total %d exceptions %d, want 5 and 2", got.Total, got.Exceptions)
	}
	for src, m := range map[string]struct{ dst, method string }{
		"alice@contoso.com": {"alice@fabrikam.com", "localpart"}, // domain rewrite contoso -> fabrikam
		"bob@contoso.com":   {"robert@fabrikam.com", "alias"},
		"carol@contoso.com": {"cking@fabrikam.com", "displayname"},
	} {
		e := entry(t, got.Entries, src)
		if e.Destination.PrimaryAddress != m.dst || e.Method != m.method || e.Action != plan.ActionMigrate || e.Exception != "" {
			t.Errorf("%s: %+v, want %s by %s", src, e, m.dst, m.method)
		}
	}
	dave := entry(t, got.Entries, "dave@contoso.com")
	if dave.Exception != "no_match" || dave.Action != plan.ActionMigrate || dave.Detail == "" {
		t.Errorf("dave: %+v, want a no_match exception defaulting to migrate", dave)
	}
	sales := entry(t, got.Entries, "sales@contoso.com")
	if sales.Exception != "ambiguous" || len(sales.Candidates) != 2 {
		t.Errorf("sales: %+v, want ambiguous between two candidates", sales)
	}

	// Paging is server-side, in the same order.
	page := h.mustGet(GetRequest{ProjectID: "p1", Offset: 1, Limit: 2})
	if !reflect.DeepEqual(sourcesOf(page.Entries), want[1:3]) || page.Total != 5 {
		t.Fatalf("page %v (total %d), want %v of 5", sourcesOf(page.Entries), page.Total, want[1:3])
	}
	exc := h.mustGet(GetRequest{ProjectID: "p1", ExceptionsOnly: true})
	if !reflect.DeepEqual(sourcesOf(exc.Entries), want[:2]) || exc.Total != 2 {
		t.Fatalf("exceptions only %v (total %d)", sourcesOf(exc.Entries), exc.Total)
	}
	past := h.mustGet(GetRequest{ProjectID: "p1", Offset: 10})
	if len(past.Entries) != 0 || past.Total != 5 {
		t.Fatalf("past the end: %d entries, total %d", len(past.Entries), past.Total)
	}
	if _, err := h.get(GetRequest{ProjectID: "p1", Offset: -1}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("negative offset: %v, want invalid_input", err)
	}
}

func TestManualEditResolvesExceptions(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.discover("p1", "run-1", sources, destinations)
	h.waitSuggested("p1", "run-1")

	out := h.edit(project.MappingEditRequested{RequestID: "r1", ProjectID: "p1", Edits: []project.MappingEdit{
		{Source: "dave@contoso.com", Destination: "dave@fabrikam.com", Action: "create"},
		{Source: "SALES@contoso.com", Destination: "sales.eu@fabrikam.com"},
	}})
	if out.State != plan.RequestApplied {
		t.Fatalf("r1: %+v, want applied", out)
	}
	got := h.mustGet(GetRequest{ProjectID: "p1"})
	if got.Exceptions != 0 {
		t.Fatalf("exceptions left: %d", got.Exceptions)
	}
	dave := entry(t, got.Entries, "dave@contoso.com")
	if dave.Action != plan.ActionCreate || dave.Method != plan.MethodManual || dave.Destination.PrimaryAddress != "dave@fabrikam.com" {
		t.Fatalf("dave: %+v", dave)
	}
	sales := entry(t, got.Entries, "sales@contoso.com")
	if sales.Destination.ID != "d-sales-eu" || sales.Method != plan.MethodManual || sales.Candidates != nil {
		t.Fatalf("sales: %+v", sales)
	}
	run := h.runnable(RunnableRequest{ProjectID: "p1"})
	if len(run.Pairs) != 5 || len(run.Blocked) != 0 {
		t.Fatalf("runnable %+v, want 5 pairs and nothing blocked", run)
	}
	for _, p := range run.Pairs {
		if p.SourceAddress == "dave@contoso.com" && (!p.Create || p.DestinationAddress != "dave@fabrikam.com" || p.DestinationID != "") {
			t.Fatalf("dave's pair %+v, want a destination to create", p)
		}
	}

	// A request with errors is rejected as a whole, every row numbered.
	before := h.mustGet(GetRequest{ProjectID: "p1"})
	out = h.edit(project.MappingEditRequested{RequestID: "r2", ProjectID: "p1", Edits: []project.MappingEdit{
		{Source: "bob@contoso.com", Destination: "alice@fabrikam.com"}, // alice's destination
		{Source: "ghost@contoso.com", Action: "exclude"},
		{Source: "carol@contoso.com", Action: "move"},
		{Source: "sales@contoso.com", Destination: "spare@fabrikam.com"}, // valid on its own
	}})
	if out.State != plan.RequestRejected {
		t.Fatalf("r2: %+v, want rejected", out)
	}
	var codes []string
	for _, e := range out.Errors {
		codes = append(codes, strings.Join([]string{string(rune('0' + e.Row)), e.Code}, ":"))
	}
	wantCodes := []string{"1:duplicate_destination", "2:unknown_source", "3:invalid_action"}
	if !reflect.DeepEqual(codes, wantCodes) {
		t.Fatalf("errors %v, want %v", codes, wantCodes)
	}
	after := h.mustGet(GetRequest{ProjectID: "p1"})
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("a rejected request changed the mapping:\n%+v\n%+v", before, after)
	}
}

func TestCSVImport(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.discover("p1", "run-1", sources, destinations)
	h.waitSuggested("p1", "run-1")

	var exp CSVResponse
	if err := h.b.Query(h.ctx, "mapping", "csv", CSVRequest{ProjectID: "p1"}, &exp); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"source,destination,action,note", "alice@contoso.com,alice@fabrikam.com,migrate,", `dave@contoso.com,,migrate,"unresolved (no_match): `} {
		if !strings.Contains(exp.CSV, line) {
			t.Fatalf("export lacks %q:\n%s", line, exp.CSV)
		}
	}

	// A file with bad rows is rejected with their row numbers; nothing changes.
	before := h.mustGet(GetRequest{ProjectID: "p1"})
	bad := "source,destination,action,note\n" +
		"alice@contoso.com,alice@fabrikam.com,migrate,\n" +
		"ghost@contoso.com,spare@fabrikam.com,migrate,\n" +
		"carol@contoso.com,nobody@fabrikam.com,,\n"
	out := h.edit(project.MappingEditRequested{RequestID: "csv-bad", ProjectID: "p1", CSV: bad})
	if out.State != plan.RequestRejected || len(out.Errors) != 2 ||
		out.Errors[0].Row != 3 || out.Errors[0].Code != "unknown_source" ||
		out.Errors[1].Row != 4 || out.Errors[1].Code != "unknown_destination" {
		t.Fatalf("bad file: %+v", out)
	}
	if after := h.mustGet(GetRequest{ProjectID: "p1"}); !reflect.DeepEqual(before, after) {
		t.Fatal("a rejected file changed the mapping")
	}

	good := "source,destination,action,note\n" +
		"alice@contoso.com,,exclude,left\n" +
		"bob@contoso.com,robert@fabrikam.com,migrate,\n" +
		"carol@contoso.com,spare@fabrikam.com,,moved desks\n" +
		"dave@contoso.com,dave@fabrikam.com,create,\n" +
		"sales@contoso.com,sales.us@fabrikam.com,migrate,\n"
	out = h.edit(project.MappingEditRequested{RequestID: "csv-good", ProjectID: "p1", CSV: good})
	if out.State != plan.RequestApplied {
		t.Fatalf("good file: %+v", out)
	}
	got := h.mustGet(GetRequest{ProjectID: "p1"})
	if got.Total != 5 || got.Exceptions != 0 {
		t.Fatalf("after import: total %d exceptions %d", got.Total, got.Exceptions)
	}
	for _, e := range got.Entries {
		if e.Method != plan.MethodCSV {
			t.Errorf("%s: method %q, want csv (the file replaces the mapping)", e.Source.PrimaryAddress, e.Method)
		}
	}
	if c := entry(t, got.Entries, "carol@contoso.com"); c.Destination.ID != "d-spare" || c.Detail != "moved desks" {
		t.Fatalf("carol: %+v", c)
	}
	run := h.runnable(RunnableRequest{ProjectID: "p1"})
	if len(run.Pairs) != 4 || len(run.Blocked) != 0 {
		t.Fatalf("runnable %+v, want 4 pairs (alice excluded)", run)
	}
}

func TestManualOverrideSurvivesRediscovery(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.discover("p1", "run-1", sources, destinations)
	h.waitSuggested("p1", "run-1")
	out := h.edit(project.MappingEditRequested{RequestID: "r1", ProjectID: "p1", Edits: []project.MappingEdit{
		{Source: "sales@contoso.com", Destination: "sales.us@fabrikam.com"},
		{Source: "alice@contoso.com", Destination: "spare@fabrikam.com"},
		{Source: "dave@contoso.com", Action: "exclude"},
	}})
	if out.State != plan.RequestApplied {
		t.Fatalf("r1: %+v", out)
	}

	// Carol has left the source; Erin arrived on both sides.
	src2 := []platform.Mailbox{srcAlice, srcBob, srcDave, srcSales, srcErin}
	dst2 := append(append([]platform.Mailbox{}, destinations...), dstErin)
	h.discover("p1", "run-2", src2, dst2)
	got := h.waitSuggested("p1", "run-2")

	want := []string{"alice@contoso.com", "bob@contoso.com", "dave@contoso.com", "erin@contoso.com", "sales@contoso.com"}
	if !reflect.DeepEqual(sourcesOf(got.Entries), want) {
		t.Fatalf("entries %v, want %v", sourcesOf(got.Entries), want)
	}
	if e := entry(t, got.Entries, "sales@contoso.com"); e.Destination.ID != "d-sales-us" || e.Method != plan.MethodManual {
		t.Errorf("sales override lost: %+v", e)
	}
	if e := entry(t, got.Entries, "alice@contoso.com"); e.Destination.ID != "d-spare" || e.Method != plan.MethodManual {
		t.Errorf("alice override lost: %+v", e)
	}
	if e := entry(t, got.Entries, "dave@contoso.com"); e.Action != plan.ActionExclude {
		t.Errorf("dave exclusion lost: %+v", e)
	}
	if e := entry(t, got.Entries, "erin@contoso.com"); e.Destination.ID != "d-erin" || e.Method != "localpart" {
		t.Errorf("erin not suggested: %+v", e)
	}
	// alice@fabrikam.com, freed by the override, is not handed to anyone
	// who did not match it.
	for _, e := range got.Entries {
		if e.Destination.ID == "d-alice" {
			t.Errorf("%s got alice's old destination", e.Source.PrimaryAddress)
		}
	}
}

func TestRunnable(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.discover("p1", "run-1", sources, destinations)
	h.waitSuggested("p1", "run-1")
	if out := h.edit(project.MappingEditRequested{RequestID: "r1", ProjectID: "p1", Edits: []project.MappingEdit{
		{Source: "alice@contoso.com", Action: "exclude"},
	}}); out.State != plan.RequestApplied {
		t.Fatalf("r1: %+v", out)
	}

	run := h.runnable(RunnableRequest{ProjectID: "p1"})
	var pairs, blocked []string
	for _, p := range run.Pairs {
		pairs = append(pairs, p.SourceAddress+">"+p.DestinationAddress)
	}
	for _, b := range run.Blocked {
		blocked = append(blocked, b.Source+":"+b.Code)
	}
	if !reflect.DeepEqual(pairs, []string{"bob@contoso.com>robert@fabrikam.com", "carol@contoso.com>cking@fabrikam.com"}) {
		t.Errorf("pairs %v", pairs)
	}
	if !reflect.DeepEqual(blocked, []string{"dave@contoso.com:unresolved_exception", "sales@contoso.com:unresolved_exception"}) {
		t.Errorf("blocked %v", blocked)
	}
	if run.Pairs[0].SourceID != "s-bob" || run.Pairs[0].DestinationID != "d-bob" {
		t.Errorf("pair ids %+v", run.Pairs[0])
	}

	run = h.runnable(RunnableRequest{ProjectID: "p1", Sources: []string{"BOB@contoso.com", "alice@contoso.com", "ghost@contoso.com"}})
	blocked = nil
	for _, b := range run.Blocked {
		blocked = append(blocked, b.Source+":"+b.Code)
	}
	if len(run.Pairs) != 1 || run.Pairs[0].SourceID != "s-bob" {
		t.Errorf("filtered pairs %+v", run.Pairs)
	}
	if !reflect.DeepEqual(blocked, []string{"ghost@contoso.com:unknown_source", "alice@contoso.com:excluded"}) {
		t.Errorf("filtered blocked %v", blocked)
	}

	var r RunnableResponse
	if err := h.b.Query(h.ctx, "mapping", "runnable", RunnableRequest{ProjectID: "nope"}, &r); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown project: %v", err)
	}
}

func TestRedeliveredEventsDoNotDuplicate(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.discover("p1", "run-1", sources, destinations)
	h.waitSuggested("p1", "run-1")
	req := project.MappingEditRequested{RequestID: "r1", ProjectID: "p1", Edits: []project.MappingEdit{
		{Source: "dave@contoso.com", Action: "exclude"},
	}}
	if out := h.edit(req); out.State != plan.RequestApplied {
		t.Fatalf("r1: %+v", out)
	}

	// The same events again under new envelope ids, as a publisher retrying
	// after the dedup window would produce: the bus cannot skip them, the
	// aggregate must.
	done := discovery.DiscoveryCompleted{RunID: "run-1", ProjectID: "p1", SourceMailboxes: 5, DestinationMailboxes: 6}
	if _, err := h.b.Publish(h.ctx, discovery.RunSubject("run-1"), done, bus.WithID("run-1-completed-again")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.b.Publish(h.ctx, project.ProjectSubject("p1"), req, bus.WithID("req-r1-again")); err != nil {
		t.Fatal(err)
	}
	// Each reactor handles its stream in order, so once these later events
	// are decided the duplicates have been handled.
	h.discover("p1", "run-2", sources, destinations)
	h.waitSuggested("p1", "run-2")
	if out := h.edit(project.MappingEditRequested{RequestID: "r2", ProjectID: "p1", Edits: []project.MappingEdit{
		{Source: "alice@contoso.com", Action: "exclude"},
	}}); out.State != plan.RequestApplied {
		t.Fatalf("r2: %+v", out)
	}

	envs, _, err := h.b.Load(h.ctx, "MAPPING", mapping.ProjectSubject("p1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range envs {
		switch ev := e.Event.(type) {
		case mapping.MappingSuggested:
			types = append(types, "suggested:"+ev.RunID)
		case mapping.MappingEdited:
			types = append(types, "edited:"+ev.RequestID)
		case mapping.MappingEditRejected:
			types = append(types, "rejected:"+ev.RequestID)
		}
	}
	want := []string{"suggested:run-1", "edited:r1", "suggested:run-2", "edited:r2"}
	if !reflect.DeepEqual(types, want) {
		t.Fatalf("mapping events %v, want %v", types, want)
	}
	// Dave's exclusion (r1) survived run-2.
	if e := entry(t, h.mustGet(GetRequest{ProjectID: "p1"}).Entries, "dave@contoso.com"); e.Action != plan.ActionExclude {
		t.Fatalf("dave: %+v", e)
	}
}

func TestRequestQuery(t *testing.T) {
	t.Parallel()
	h := start(t)
	var resp RequestResponse
	if err := h.b.Query(h.ctx, "mapping", "request", RequestRequest{ProjectID: "p9", RequestID: "x"}, &resp); err != nil || resp.State != plan.RequestPending {
		t.Fatalf("unknown request: %+v %v, want pending", resp, err)
	}
	if err := h.b.Query(h.ctx, "mapping", "request", RequestRequest{ProjectID: "p9"}, &resp); !errs.Is(err, errs.Invalid) {
		t.Fatalf("no request id: %v, want invalid_input", err)
	}
	// An edit before any discovery is rejected, not left pending.
	out := h.edit(project.MappingEditRequested{RequestID: "early", ProjectID: "p9", Edits: []project.MappingEdit{{Source: "a@b.com", Action: "exclude"}}})
	if out.State != plan.RequestRejected || len(out.Errors) != 1 || out.Errors[0].Code != plan.CodeNoDiscovery {
		t.Fatalf("edit before discovery: %+v", out)
	}
}

// TestGetFilters: the console's mapping table filters on the server, by
// text over both sides' addresses and names and by action, with paging
// and totals over the matches and the project's exception count kept.
func TestGetFilters(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.discover("p1", "run-1", sources, destinations)
	h.waitSuggested("p1", "run-1")
	if out := h.edit(project.MappingEditRequested{RequestID: "r1", ProjectID: "p1", Edits: []project.MappingEdit{
		{Source: "sales@contoso.com", Action: plan.ActionExclude},
	}}); out.State != plan.RequestApplied {
		t.Fatalf("exclude sales: %+v", out)
	}
	for _, tc := range []struct {
		name string
		req  GetRequest
		want []string
	}{
		{"source address, any case", GetRequest{Filter: "ALICE"}, []string{"alice@contoso.com"}},
		{"destination address", GetRequest{Filter: "robert@"}, []string{"bob@contoso.com"}},
		{"display name", GetRequest{Filter: "carol king"}, []string{"carol@contoso.com"}},
		{"domain matches all, exceptions first", GetRequest{Filter: "contoso"}, []string{"dave@contoso.com", "alice@contoso.com", "bob@contoso.com", "carol@contoso.com", "sales@contoso.com"}},
		{"action", GetRequest{Action: plan.ActionExclude}, []string{"sales@contoso.com"}},
		{"action and text", GetRequest{Action: plan.ActionMigrate, Filter: "fabrikam"}, []string{"alice@contoso.com", "bob@contoso.com", "carol@contoso.com"}},
		{"paged matches", GetRequest{Filter: "contoso", Offset: 1, Limit: 2}, []string{"alice@contoso.com", "bob@contoso.com"}},
		{"no match", GetRequest{Filter: "nobody"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.ProjectID = "p1"
			got := h.mustGet(tc.req)
			if !reflect.DeepEqual(sourcesOf(got.Entries), tc.want) {
				t.Fatalf("entries %v, want %v", sourcesOf(got.Entries), tc.want)
			}
			if tc.req.Limit == 0 && got.Total != len(tc.want) {
				t.Fatalf("total %d, want %d", got.Total, len(tc.want))
			}
			if got.Exceptions != 1 {
				t.Fatalf("exceptions %d, want the project's 1 whatever the filter", got.Exceptions)
			}
		})
	}
	if _, err := h.get(GetRequest{ProjectID: "p1", Action: "teleport"}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("unknown action: %v, want invalid_input", err)
	}
}
