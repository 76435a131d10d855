package graph_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

// mbxAPI calls the mailbox import/export API through msgraph-sdk-go's own
// request adapter (authentication, middleware, TLS), with kiota's
// RequestInformation: the SDK has no typed builders for these endpoints,
// and this is how the connector calls them too.
type mbxAPI struct {
	t       *testing.T
	sb      *graph.Sandbox
	adapter abs.RequestAdapter
	version string
}

func newMbxAPI(t *testing.T, sb *graph.Sandbox, version string) *mbxAPI {
	// Without the retry handler, so that 429s reach the test.
	c := client(t, sb, defaultCred(t, sb), clientOpts{noRetry: true})
	return &mbxAPI{t: t, sb: sb, adapter: c.RequestAdapter, version: version}
}

var errMapping = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// do sends one request; path is below the version ("/admin/...") or a
// full URL (a nextLink).
func (a *mbxAPI) do(method abs.HttpMethod, path string, body any, hdr map[string]string) (map[string]any, error) {
	a.t.Helper()
	raw := path
	if strings.HasPrefix(path, "/") {
		raw = a.sb.BaseURL() + "/" + a.version + path
	}
	u, err := url.Parse(raw)
	if err != nil {
		a.t.Fatal(err)
	}
	ri := abs.NewRequestInformation()
	ri.Method = method
	ri.SetUri(*u)
	ri.Headers.TryAdd("Accept", "application/json")
	for k, v := range hdr {
		ri.Headers.TryAdd(k, v)
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		ri.SetStreamContentAndContentType(b, "application/json")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := a.adapter.SendPrimitive(ctx, ri, "[]byte", errMapping)
	if err != nil || res == nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(res.([]byte), &out); err != nil {
		a.t.Fatalf("%s %s: %v", method.String(), path, err)
	}
	return out, nil
}

func (a *mbxAPI) must(method abs.HttpMethod, path string, body any) map[string]any {
	a.t.Helper()
	out, err := a.do(method, path, body, nil)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method.String(), path, err)
	}
	return out
}

// all follows nextLinks and returns every value.
func (a *mbxAPI) all(path string, hdr map[string]string) ([]map[string]any, int) {
	a.t.Helper()
	var out []map[string]any
	pages := 0
	for path != "" {
		page, err := a.do(abs.GET, path, nil, hdr)
		if err != nil {
			a.t.Fatalf("GET %s: %v", path, err)
		}
		pages++
		for _, v := range page["value"].([]any) {
			out = append(out, v.(map[string]any))
		}
		path, _ = page["@odata.nextLink"].(string)
	}
	return out, pages
}

// importItem posts to an import URL as Graph documents: no Authorization
// header, the URL carries its own credential.
func importItem(t *testing.T, sb *graph.Sandbox, importURL string, body map[string]string) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, importURL, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{Transport: transport(sb), Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return res.StatusCode, out
}

func errCode(t *testing.T, m map[string]any) string {
	t.Helper()
	e, _ := m["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func statusOf(t *testing.T, err error) (int, string) {
	t.Helper()
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		t.Fatalf("want an OData error, got %T: %v", err, err)
	}
	code := ""
	if e := oe.GetErrorEscaped(); e != nil && e.GetCode() != nil {
		code = *e.GetCode()
	}
	return oe.ResponseStatusCode, code
}

func grantMailboxAPI(sb *graph.Sandbox) {
	sb.Grant(graph.RoleMailboxImportExport, graph.RoleMailboxFolderRead, graph.RoleMailboxItemRead, graph.RoleMailboxItemReadWrite)
}

// TestMailboxAPIBrowse walks a seeded mailbox through the API under both
// versions: the mailbox id, folders of every kind, items with paging, and
// an item delta round that sees an addition and a removal.
func TestMailboxAPIBrowse(t *testing.T) {
	for _, version := range []string{"v1.0", "beta"} {
		t.Run(version, func(t *testing.T) {
			sb := start(t, graph.Config{})
			grantMailboxAPI(sb)
			uid := sb.Seed(graph.SeedSpec{Users: 1, MessagesPerUser: 30, EventsPerUser: 5, ContactsPerUser: 3, Seed: 7})[0]
			api := newMbxAPI(t, sb, version)

			set := api.must(abs.GET, "/users/"+uid+"/settings/exchange", nil)
			mbx, _ := set["primaryMailboxId"].(string)
			if mbx == "" || mbx != sb.MailboxID(uid) || !strings.HasPrefix(mbx, "MBX:") {
				t.Fatalf("settings/exchange: %v, want primaryMailboxId %q", set, sb.MailboxID(uid))
			}
			_, archive := set["inPlaceArchiveMailboxId"]
			if archive != (version == "beta") {
				t.Errorf("inPlaceArchiveMailboxId present=%v in %s; only beta has it", archive, version)
			}
			base := "/admin/exchange/mailboxes/" + url.PathEscape(mbx)

			top, _ := api.all(base+"/folders?$top=5", nil)
			byName := map[string]map[string]any{}
			for _, f := range top {
				byName[f["displayName"].(string)] = f
			}
			for name, typ := range map[string]string{"Inbox": "IPF.Note", "Calendar": "IPF.Appointment", "Contacts": "IPF.Contact", "Projects": "IPF.Note"} {
				if f := byName[name]; f == nil || f["type"] != typ {
					t.Errorf("top-level folder %s: %v, want type %s", name, f, typ)
				}
			}
			cals, _ := api.all(base+"/folders?$filter="+url.QueryEscape("type eq 'IPF.Appointment'"), nil)
			if len(cals) != 1 || cals[0]["displayName"] != "Calendar" || cals[0]["totalItemCount"] != float64(sb.EventCount(uid)) {
				t.Errorf("folders filtered by type: %v", cals)
			}
			inbox := byName["Inbox"]
			kids, _ := api.all(base+"/folders/"+inbox["id"].(string)+"/childFolders", nil)
			if len(kids) != 1 || kids[0]["displayName"] != "Newsletters" {
				t.Errorf("childFolders of Inbox: %v", kids)
			}

			items, pages := api.all(base+"/folders/"+inbox["id"].(string)+"/items?$top=4", nil)
			want := int(inbox["totalItemCount"].(float64))
			if len(items) != want || want == 0 || pages < 2 {
				t.Fatalf("items of Inbox: %d in %d pages, want %d over several pages", len(items), pages, want)
			}
			for _, it := range items {
				if it["type"] != "IPM.Note" || it["size"].(float64) <= 0 || it["changeKey"] == "" {
					t.Fatalf("item %v", it)
				}
			}
			one := api.must(abs.GET, base+"/folders/inbox/items/"+items[0]["id"].(string), nil)
			if one["id"] != items[0]["id"] || one["changeKey"] != items[0]["changeKey"] {
				t.Errorf("item by id through the well-known folder name: %v", one)
			}

			// Delta: a full round, then a new message and a removal.
			deltaPath := base + "/folders/" + inbox["id"].(string) + "/items/delta"
			first, link := deltaRound(t, api, deltaPath)
			if len(first) != want {
				t.Fatalf("first delta round: %d items, want %d", len(first), want)
			}
			msg := models.NewMessage()
			msg.SetSubject(ptr("arrives between rounds"))
			created, err := sdkClient(t, sb).Users().ByUserId(uid).MailFolders().ByMailFolderId("inbox").Messages().Post(context.Background(), msg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := api.do(abs.DELETE, base+"/folders/inbox/items/"+items[1]["id"].(string), nil, nil); err == nil {
				t.Fatal("DELETE without disposalType succeeded; Graph requires it")
			}
			api.must(abs.DELETE, base+"/folders/inbox/items/"+items[1]["id"].(string)+"?disposalType=softDelete", nil)
			second, _ := deltaRound(t, api, link)
			var added, removed bool
			for _, it := range second {
				added = added || it["id"] == *created.GetId()
				_, gone := it["@removed"]
				removed = removed || gone && it["id"] == items[1]["id"]
			}
			if len(second) != 2 || !added || !removed {
				t.Errorf("second delta round: %v, want the new message and the removal", second)
			}
		})
	}
}

func deltaRound(t *testing.T, api *mbxAPI, path string) ([]map[string]any, string) {
	t.Helper()
	var out []map[string]any
	for {
		page, err := api.do(abs.GET, path, nil, map[string]string{"Prefer": "odata.maxpagesize=7"})
		if err != nil {
			t.Fatalf("delta %s: %v", path, err)
		}
		for _, v := range page["value"].([]any) {
			out = append(out, v.(map[string]any))
		}
		if next, ok := page["@odata.nextLink"].(string); ok {
			path = next
			continue
		}
		link, _ := page["@odata.deltaLink"].(string)
		if link == "" {
			t.Fatal("delta page without nextLink or deltaLink")
		}
		return out, link
	}
}

// TestMailboxAPIPermissions: each operation needs its own application
// role and answers 403 without it, as Graph does.
func TestMailboxAPIPermissions(t *testing.T) {
	sb := start(t, graph.Config{})
	uid := sb.Seed(graph.SeedSpec{Users: 1, MessagesPerUser: 3, Seed: 3})[0]
	mbx := url.PathEscape(sb.MailboxID(uid))
	base := "/admin/exchange/mailboxes/" + mbx
	all := []string{graph.RoleMailboxImportExport, graph.RoleMailboxExport, graph.RoleMailboxFolderRead, graph.RoleMailboxItemRead}
	// The token carries the roles consented when it is issued; revoking
	// takes effect at once, granting again restores them.
	sb.Grant(all...)
	api := newMbxAPI(t, sb, "v1.0")
	api.must(abs.GET, base+"/folders", nil) // the token is fetched now, with every role
	cases := []struct {
		name   string
		method abs.HttpMethod
		path   string
		body   any
		roles  []string
	}{
		{"folders", abs.GET, base + "/folders", nil, []string{graph.RoleMailboxFolderRead}},
		{"items", abs.GET, base + "/folders/inbox/items", nil, []string{graph.RoleMailboxItemRead}},
		{"export", abs.POST, base + "/exportItems", map[string]any{"itemIds": []string{"x"}}, []string{graph.RoleMailboxExport}},
		{"export with import/export", abs.POST, base + "/exportItems", map[string]any{"itemIds": []string{"x"}}, []string{graph.RoleMailboxImportExport}},
		{"import session", abs.POST, base + "/createImportSession", nil, []string{graph.RoleMailboxImportExport}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb.Revoke(all...)
			_, err := api.do(tc.method, tc.path, tc.body, nil)
			if status, code := statusOf(t, err); status != http.StatusForbidden || code != "ErrorAccessDenied" {
				t.Fatalf("without %v: %d %s, want 403 ErrorAccessDenied", tc.roles, status, code)
			}
			sb.Grant(tc.roles...)
			if _, err := api.do(tc.method, tc.path, tc.body, nil); err != nil {
				t.Fatalf("with %v: %v", tc.roles, err)
			}
		})
	}
	t.Run("export only cannot import", func(t *testing.T) {
		sb.Revoke(all...)
		sb.Grant(graph.RoleMailboxExport)
		_, err := api.do(abs.POST, base+"/createImportSession", nil, nil)
		if status, _ := statusOf(t, err); status != http.StatusForbidden {
			t.Fatalf("createImportSession with MailboxItem.Export.All only: %d, want 403", status)
		}
	})
	t.Run("beta serves only this API", func(t *testing.T) {
		_, err := newMbxAPI(t, sb, "beta").do(abs.GET, "/users/"+uid+"/messages", nil, nil)
		if status, _ := statusOf(t, err); status != http.StatusBadRequest {
			t.Fatalf("/beta/users/{id}/messages: %d, want 400", status)
		}
	})
}

// exportAll exports every item of a folder in batches of 20.
func exportAll(t *testing.T, api *mbxAPI, mbx, folder string) []map[string]any {
	t.Helper()
	base := "/admin/exchange/mailboxes/" + url.PathEscape(mbx)
	items, _ := api.all(base+"/folders/"+folder+"/items?$top=50", nil)
	var out []map[string]any
	for i := 0; i < len(items); i += 20 {
		var ids []string
		for _, it := range items[i:min(i+20, len(items))] {
			ids = append(ids, it["id"].(string))
		}
		res := api.must(abs.POST, base+"/exportItems", map[string]any{"itemIds": ids})
		for _, v := range res["value"].([]any) {
			out = append(out, v.(map[string]any))
		}
	}
	if len(out) != len(items) || len(out) == 0 {
		t.Fatalf("exported %d of %d items of %s", len(out), len(items), folder)
	}
	return out
}

// TestExportImportRoundTripSendsNothing copies a seeded mailbox's mail,
// meetings (attendees, responses, exceptions, deleted and cancelled
// occurrences, Teams meetings) and contacts to another tenant: every
// item's stored state arrives identical and not one message or
// invitation is sent by either tenant.
func TestExportImportRoundTripSendsNothing(t *testing.T) {
	src, dst := start(t, graph.Config{}), start(t, graph.Config{})
	grantMailboxAPI(src)
	grantMailboxAPI(dst)
	suid := src.Seed(graph.SeedSpec{Users: 1, MessagesPerUser: 12, EventsPerUser: 10, ContactsPerUser: 3, Seed: 11})[0]
	duid := dst.AddUser("target@"+dst.Domain(), "Target User")
	sapi, dapi := newMbxAPI(t, src, "beta"), newMbxAPI(t, dst, "v1.0")
	smbx, dmbx := src.MailboxID(suid), dst.MailboxID(duid)
	sess := dapi.must(abs.POST, "/admin/exchange/mailboxes/"+url.PathEscape(dmbx)+"/createImportSession", nil)
	importURL, _ := sess["importUrl"].(string)
	exp, err := time.Parse(time.RFC3339Nano, fmt.Sprint(sess["expirationDateTime"]))
	if importURL == "" || err != nil || !exp.After(time.Now()) {
		t.Fatalf("createImportSession: %v", sess)
	}
	if strings.Contains(importURL, "/v1.0/") || !strings.Contains(importURL, "/api/gv1.0/Mailboxes(") {
		t.Errorf("import URL %s is not shaped like Graph's", importURL)
	}

	type pair struct{ src, dst string }
	var pairs []pair
	for _, folder := range []string{"inbox", "sentitems", "calendar", "contacts"} {
		for _, e := range exportAll(t, sapi, smbx, folder) {
			data, _ := e["data"].(string)
			if data == "" || e["changeKey"] == "" || e["error"] != nil {
				t.Fatalf("export of %v", e)
			}
			status, res := importItem(t, dst, importURL, map[string]string{"FolderId": folder, "Mode": "create", "Data": data})
			if status != http.StatusOK || res["itemId"] == "" || res["changeKey"] == "" {
				t.Fatalf("import into %s: %d %v", folder, status, res)
			}
			pairs = append(pairs, pair{e["itemId"].(string), res["itemId"].(string)})
		}
	}
	for _, p := range pairs {
		a, err := src.ItemSnapshot(suid, p.src)
		if err != nil {
			t.Fatal(err)
		}
		b, err := dst.ItemSnapshot(duid, p.dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("item %s arrived changed:\n src %s\n dst %s", p.src, a, b)
		}
	}
	if n := dst.EventCount(duid); n != 10 {
		t.Errorf("destination has %d events, want 10", n)
	}
	for name, sb := range map[string]*graph.Sandbox{"source": src, "destination": dst} {
		if n, inv := sb.SentMessages(), sb.Invitations(); n != 0 || len(inv) != 0 {
			t.Errorf("%s tenant sent %d messages, invitations %+v", name, n, inv)
		}
	}

	// The imported meeting is the meeting, as Graph's events API shows it.
	evs, err := sdkClient(t, dst).Users().ByUserId(duid).Events().Get(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var meetings, online int
	for _, e := range evs.GetValue() {
		if len(e.GetAttendees()) > 0 {
			meetings++
		}
		if e.GetOnlineMeeting() != nil && e.GetOnlineMeeting().GetJoinUrl() != nil {
			online++
		}
	}
	if meetings == 0 || online == 0 {
		t.Errorf("imported events: %d with attendees, %d with a join URL; want both", meetings, online)
	}
}

// TestImportRules covers the import URL's documented rules and the
// sandbox's limits: 20 ids per export, per-item errors, create and update
// modes, corrupt data, wrong folder kinds, sizes, expiry and throttling.
func TestImportRules(t *testing.T) {
	sb := start(t, graph.Config{MaxMessageBytes: 2 << 20})
	grantMailboxAPI(sb)
	uid := sb.Seed(graph.SeedSpec{Users: 1, MessagesPerUser: 4, EventsPerUser: 1, Seed: 5})[0]
	api := newMbxAPI(t, sb, "v1.0")
	mbx := sb.MailboxID(uid)
	base := "/admin/exchange/mailboxes/" + url.PathEscape(mbx)

	ids := make([]string, 21)
	for i := range ids {
		ids[i] = fmt.Sprintf("id%d", i)
	}
	if _, err := api.do(abs.POST, base+"/exportItems", map[string]any{"itemIds": ids}, nil); err == nil {
		t.Error("exportItems took 21 ids; Graph takes at most 20")
	} else if status, _ := statusOf(t, err); status != http.StatusBadRequest {
		t.Errorf("21 ids: %d, want 400", status)
	}
	exported := exportAll(t, api, mbx, "inbox")
	res := api.must(abs.POST, base+"/exportItems", map[string]any{"itemIds": []string{exported[0]["itemId"].(string), "AAMkNoSuchItem"}})
	vals := res["value"].([]any)
	if len(vals) != 2 || vals[0].(map[string]any)["data"] == nil || errCode(t, vals[1].(map[string]any)) != "ErrorItemNotFound" {
		t.Errorf("export of a known and an unknown id: %v", vals)
	}

	session := func() string {
		s := api.must(abs.POST, base+"/createImportSession", nil)
		return s["importUrl"].(string)
	}
	importURL := session()
	data := exported[0]["data"].(string)
	for _, e := range exported {
		if d := e["data"].(string); len(d) < len(data) {
			data = d
		}
	}
	cal := exportAll(t, api, mbx, "calendar")[0]["data"].(string)
	big := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("x"), 3<<20))

	status, created := importItem(t, sb, importURL, map[string]string{"FolderId": "inbox", "Mode": "create", "Data": data})
	if status != http.StatusOK {
		t.Fatalf("create: %d %v", status, created)
	}
	cases := []struct {
		name   string
		url    string
		body   map[string]string
		status int
		code   string
	}{
		{"create with an item id", importURL, map[string]string{"FolderId": "inbox", "Mode": "create", "Data": data, "ItemId": "x"}, 400, "ErrorInvalidRequest"},
		{"update without a change key", importURL, map[string]string{"FolderId": "inbox", "Mode": "update", "Data": data, "ItemId": "x"}, 400, "ErrorInvalidRequest"},
		{"unknown mode", importURL, map[string]string{"FolderId": "inbox", "Mode": "merge", "Data": data}, 400, "ErrorInvalidRequest"},
		{"not base64", importURL, map[string]string{"FolderId": "inbox", "Mode": "create", "Data": "%%%"}, 400, "ErrorCorruptData"},
		{"not exported data", importURL, map[string]string{"FolderId": "inbox", "Mode": "create", "Data": base64.StdEncoding.EncodeToString([]byte("From: a\r\n\r\nhi"))}, 400, "ErrorCorruptData"},
		{"too large", importURL, map[string]string{"FolderId": "inbox", "Mode": "create", "Data": big}, 413, "ErrorMessageSizeExceeded"},
		{"unknown folder", importURL, map[string]string{"FolderId": "AAMkNoFolder", "Mode": "create", "Data": data}, 404, "ErrorFolderNotFound"},
		{"event into a mail folder", importURL, map[string]string{"FolderId": "inbox", "Mode": "create", "Data": cal}, 400, "ErrorInvalidFolderTypeForOperation"},
		{"stale change key", importURL, map[string]string{"FolderId": "inbox", "Mode": "update", "Data": data, "ItemId": created["itemId"].(string), "ChangeKey": "CQAAstale"}, 409, "ErrorIrresolvableConflict"},
		{"token of another mailbox", strings.Replace(importURL, url.PathEscape(mbx), "MBX:00000000@00000000", 1), map[string]string{"FolderId": "inbox", "Mode": "create", "Data": data}, 401, "InvalidAuthenticationToken"},
		{"no token", strings.Split(importURL, "?")[0], map[string]string{"FolderId": "inbox", "Mode": "create", "Data": data}, 401, "InvalidAuthenticationToken"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, res := importItem(t, sb, tc.url, tc.body)
			if status != tc.status || errCode(t, res) != tc.code {
				t.Fatalf("%d %v, want %d %s", status, res, tc.status, tc.code)
			}
		})
	}
	t.Run("update keeps the id", func(t *testing.T) {
		status, res := importItem(t, sb, importURL, map[string]string{"FolderId": "inbox", "Mode": "update", "Data": data,
			"ItemId": created["itemId"].(string), "ChangeKey": created["changeKey"].(string)})
		if status != http.StatusOK || res["itemId"] != created["itemId"] || res["changeKey"] == created["changeKey"] {
			t.Fatalf("update: %d %v", status, res)
		}
	})
	t.Run("expired session", func(t *testing.T) {
		sb.ExpireImportSessions()
		status, res := importItem(t, sb, importURL, map[string]string{"FolderId": "inbox", "Mode": "create", "Data": data})
		if status != http.StatusUnauthorized {
			t.Fatalf("expired import URL: %d %v, want 401", status, res)
		}
		sb.SetImportSessionLifetime(time.Millisecond)
		short := session()
		time.Sleep(5 * time.Millisecond)
		if status, res := importItem(t, sb, short, map[string]string{"FolderId": "inbox", "Mode": "create", "Data": data}); status != http.StatusUnauthorized ||
			!strings.Contains(fmt.Sprint(res), "expired") {
			t.Fatalf("import URL past its expirationDateTime: %d %v", status, res)
		}
		sb.SetImportSessionLifetime(0)
	})
	t.Run("throttled per mailbox", func(t *testing.T) {
		importURL := session()
		sb.SetLimits(graph.Limits{RequestsPerWindow: 1, Window: time.Hour})
		defer sb.SetLimits(graph.Limits{})
		if status, res := importItem(t, sb, importURL, map[string]string{"FolderId": "inbox", "Mode": "create", "Data": data}); status != http.StatusOK {
			t.Fatalf("first import in the window: %d %v", status, res)
		}
		status, res := importItem(t, sb, importURL, map[string]string{"FolderId": "inbox", "Mode": "create", "Data": data})
		if status != http.StatusTooManyRequests || errCode(t, res) != "ApplicationThrottled" {
			t.Fatalf("import over the mailbox's budget: %d %v, want 429", status, res)
		}
		_, err := api.do(abs.POST, base+"/exportItems", map[string]any{"itemIds": []string{exported[0]["itemId"].(string)}}, nil)
		if status, _ := statusOf(t, err); status != http.StatusTooManyRequests {
			t.Fatalf("export over the mailbox's budget: %d, want 429", status)
		}
	})
	if n := sb.SentMessages(); n != 0 {
		t.Errorf("imports sent %d messages", n)
	}
}
