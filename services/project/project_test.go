package project_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/mailferry/mailferry/events/billing"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/project"
)

const opKey = "operator-test-key"

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type harness struct {
	api  string
	bus  *bus.Bus
	logs *syncBuffer
	svc  *project.Service
	// stop ends the service (also done at the end of the test).
	stop func()
}

func start(t *testing.T) *harness { return startWith(t, true) }

func startWith(t *testing.T, sandbox bool) *harness {
	t.Helper()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	logs := &syncBuffer{}
	log := svc.Logger(logs, "project", "debug")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d, err := svc.WithBus(ctx, "project", b, svc.Config{VaultKey: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))}, log)
	if err != nil {
		t.Fatal(err)
	}
	s, err := project.New(d, project.Config{HTTPAddr: "127.0.0.1:0", OperatorKey: opKey, DecisionWait: time.Second, AllowSandbox: sandbox})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	addr, err := s.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{api: "http://" + addr, bus: b, logs: logs, svc: s, stop: stop}
}

func (h *harness) call(t *testing.T, key, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, h.api+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (h *harness) account(t *testing.T, name string) (id, key string) {
	t.Helper()
	code, out := h.call(t, opKey, "POST", "/api/accounts", map[string]string{"name": name})
	if code != 201 {
		t.Fatalf("create account: %d %v", code, out)
	}
	return out["accountId"].(string), out["apiKey"].(string)
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func errField(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["field"].(string)
	return s
}

func TestAccountsAreIsolated(t *testing.T) {
	t.Parallel()
	h := start(t)
	_, keyA := h.account(t, "A hosting")
	acctB, keyB := h.account(t, "B hosting")

	code, p := h.call(t, keyA, "POST", "/api/projects", map[string]string{"name": "move", "source": "memory", "destination": "m365"})
	if code != 201 {
		t.Fatalf("create project: %d %v", code, p)
	}
	pid := p["id"].(string)
	for _, path := range []string{"/api/projects/" + pid, "/api/projects/" + pid + "/credentials/source", "/api/projects/" + pid + "/runs"} {
		if code, out := h.call(t, keyB, "GET", path, nil); code != 404 || errCode(out) != "not_found" {
			t.Errorf("B reading A's %s: %d %v", path, code, out)
		}
	}
	if code, out := h.call(t, keyB, "PUT", "/api/projects/"+pid+"/credentials/source", map[string]any{"fields": map[string]string{"endpoint": "x", "tenant": "y"}, "secrets": map[string]string{"token": "z"}}); code != 404 {
		t.Errorf("B writing A's credentials: %d %v", code, out)
	}
	if code, out := h.call(t, keyA, "POST", "/api/accounts/"+acctB+"/keys", nil); code != 404 {
		t.Errorf("A issuing a key for B: %d %v", code, out)
	}
	if code, out := h.call(t, keyB, "GET", "/api/projects", nil); code != 200 || len(out["projects"].([]any)) != 0 {
		t.Errorf("B's project list: %d %v", code, out)
	}
	if code, out := h.call(t, keyA, "GET", "/api/projects", nil); code != 200 || len(out["projects"].([]any)) != 1 {
		t.Errorf("A's project list: %d %v", code, out)
	}
	if code, out := h.call(t, "", "GET", "/api/projects", nil); code != 401 || errCode(out) != "unauthorized" {
		t.Errorf("no key: %d %v", code, out)
	}
	if code, out := h.call(t, "mf_wrong", "GET", "/api/projects", nil); code != 401 {
		t.Errorf("wrong key: %d %v", code, out)
	}
	if code, out := h.call(t, keyA, "POST", "/api/accounts", map[string]string{"name": "x"}); code != 403 || errCode(out) != "forbidden" {
		t.Errorf("account key creating an account: %d %v", code, out)
	}
	if code, out := h.call(t, keyA, "POST", "/api/accounts/"+acctB+"/credits", map[string]any{"amount": 5}); code != 403 {
		t.Errorf("account key adding credits: %d %v", code, out)
	}
}

func TestValidationNamesTheField(t *testing.T) {
	t.Parallel()
	h := start(t)
	_, key := h.account(t, "V")
	_, p := h.call(t, key, "POST", "/api/projects", map[string]string{"name": "p", "source": "memory", "destination": "memory"})
	pid := p["id"].(string)
	cases := []struct {
		name, method, path string
		body               any
		field              string
	}{
		{"empty name", "POST", "/api/projects", map[string]string{"name": " ", "source": "m365", "destination": "google"}, "name"},
		{"bad source", "POST", "/api/projects", map[string]string{"name": "x", "source": "lotus", "destination": "google"}, "source"},
		{"bad destination", "POST", "/api/projects", map[string]string{"name": "x", "source": "m365", "destination": ""}, "destination"},
		{"unknown field", "POST", "/api/projects", map[string]string{"name": "x", "source": "m365", "destination": "google", "colour": "red"}, "colour"},
		{"wrong type", "POST", "/api/projects", map[string]any{"name": 5, "source": "m365", "destination": "google"}, "name"},
		{"bad mode", "POST", "/api/projects/" + pid + "/runs", map[string]string{"mode": "everything"}, "mode"},
		{"missing secret", "PUT", "/api/projects/" + pid + "/credentials/source", map[string]any{"fields": map[string]string{"endpoint": "http://x", "tenant": "t"}, "secrets": map[string]string{}}, "secrets.token"},
		{"foreign field", "PUT", "/api/projects/" + pid + "/credentials/source", map[string]any{"fields": map[string]string{"endpoint": "http://x", "tenant": "t", "clientId": "c"}, "secrets": map[string]string{"token": "t"}}, "fields.clientId"},
		{"bad side", "PUT", "/api/projects/" + pid + "/credentials/middle", map[string]any{"fields": map[string]string{}, "secrets": map[string]string{}}, "side"},
	}
	for _, tc := range cases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out := h.call(t, key, tc.method, tc.path, tc.body)
			if code != 422 || errCode(out) != "invalid_input" || errField(out) != tc.field {
				t.Fatalf("got %d %v, want 422 invalid_input on field %q", code, out, tc.field)
			}
		})
	}
	// A run without credentials says what to do.
	code, out := h.call(t, key, "POST", "/api/projects/"+pid+"/runs", map[string]string{"mode": "discovery"})
	if code != 422 || !strings.Contains(out["error"].(map[string]any)["action"].(string), "credentials/source") {
		t.Fatalf("run without credentials: %d %v", code, out)
	}
}

func allMessages(t *testing.T, b *bus.Bus) string { return bustest.Dump(t, b) }

func TestSecretsNeverLeave(t *testing.T) {
	t.Parallel()
	h := start(t)
	_, key := h.account(t, "S")
	_, p := h.call(t, key, "POST", "/api/projects", map[string]string{"name": "p", "source": "memory", "destination": "memory"})
	pid := p["id"].(string)
	const secret = "TOP-SECRET-token-5f1e"
	code, out := h.call(t, key, "PUT", "/api/projects/"+pid+"/credentials/source", map[string]any{"fields": map[string]string{"endpoint": "http://127.0.0.1:1", "tenant": "t"}, "secrets": map[string]string{"token": secret}})
	if code != 200 {
		t.Fatalf("set credentials: %d %v", code, out)
	}
	code, out = h.call(t, key, "GET", "/api/projects/"+pid+"/credentials/source", nil)
	raw, _ := json.Marshal(out)
	if code != 200 || strings.Contains(string(raw), secret) || out["fields"].(map[string]any)["tenant"] != "t" {
		t.Fatalf("read back: %d %s", code, raw)
	}
	_, out = h.call(t, key, "GET", "/api/projects/"+pid, nil)
	raw, _ = json.Marshal(out)
	if strings.Contains(string(raw), secret) {
		t.Fatal("project shows the secret")
	}
	// A failing run path and error paths are exercised too.
	h.call(t, key, "POST", "/api/projects/"+pid+"/runs", map[string]string{"mode": "discovery"})
	if strings.Contains(allMessages(t, h.bus), secret) {
		t.Fatal("a secret travelled in an event (or the vault stored it in clear)")
	}
	if strings.Contains(h.logs.String(), secret) {
		t.Fatal("a secret was logged")
	}
	if !strings.Contains(allMessages(t, h.bus), "project.credentials_set") {
		t.Fatal("the scan saw no events at all; the check above proves nothing")
	}
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	h := start(t)
	resp, err := http.Get(h.api + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	n := 0
	err = chi.Walk(h.svc.Handler().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if route == "/api/openapi.json" || (!strings.HasPrefix(route, "/api/") && route != "/healthz") {
			return nil // the web console's files are not API operations
		}
		n++
		if _, ok := doc.Paths[route][strings.ToLower(method)]; !ok {
			t.Errorf("%s %s is not in the OpenAPI document", method, route)
		}
		return nil
	})
	if err != nil || n < 20 {
		t.Fatalf("walked %d routes: %v", n, err)
	}
}

// TestRunDecisions: modes other than full are approved at once; a full run
// waits for billing and is refused with billing's numbers.
func TestRunDecisions(t *testing.T) {
	t.Parallel()
	h := start(t)
	acct, key := h.account(t, "R")
	_, p := h.call(t, key, "POST", "/api/projects", map[string]string{"name": "p", "source": "memory", "destination": "memory"})
	pid := p["id"].(string)
	h.call(t, key, "PUT", "/api/projects/"+pid+"/credentials/source", map[string]any{"fields": map[string]string{"endpoint": "http://127.0.0.1:1", "tenant": "t"}, "secrets": map[string]string{"token": "x"}})
	code, out := h.call(t, key, "POST", "/api/projects/"+pid+"/runs", map[string]string{"mode": "discovery"})
	run, _ := out["run"].(map[string]any)
	if code != 201 || run["state"] != "approved" {
		t.Fatalf("discovery run: %d %v", code, out)
	}
	// A full run's request as the API would publish it needs the mapping
	// service; publish it directly, then billing's verdict.
	runID := "run_test_full"
	if _, err := h.bus.Publish(context.Background(), "project.run."+runID, projectRunRequested(runID, pid, acct)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.bus.Publish(context.Background(), billing.AccountSubject(acct), billing.HoldRejected{AccountID: acct, ProjectID: pid, RunID: runID, Needed: 3, Available: 1}); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, 10*time.Second, "run rejected", func() bool {
		_, out := h.call(t, key, "GET", "/api/runs/"+runID, nil)
		return out["state"] == "rejected"
	})
	_, out = h.call(t, key, "GET", "/api/runs/"+runID, nil)
	if out["reason"] != "needs 3 credits, has 1" || out["code"] != "credits_insufficient" {
		t.Fatalf("rejected run: %v", out)
	}
	if code, out := h.call(t, key, "POST", "/api/runs/"+runID+"/cancel", nil); code != 409 {
		t.Fatalf("cancel of a rejected run: %d %v", code, out)
	}
}

func TestRevokedKeyStopsWorking(t *testing.T) {
	t.Parallel()
	h := start(t)
	acct, key := h.account(t, "K")
	code, out := h.call(t, key, "POST", "/api/accounts/"+acct+"/keys", map[string]string{"label": "ci"})
	if code != 201 {
		t.Fatalf("issue: %d %v", code, out)
	}
	second, keyID := out["apiKey"].(string), out["keyId"].(string)
	code, out = h.call(t, key, "GET", "/api/accounts/"+acct+"/keys", nil)
	raw, _ := json.Marshal(out)
	if code != 200 || len(out["keys"].([]any)) != 2 || strings.Contains(string(raw), second) || strings.Contains(string(raw), project.HashKey(second)) {
		t.Fatalf("list keys: %d %s", code, raw)
	}
	if code, _ := h.call(t, second, "GET", "/api/projects", nil); code != 200 {
		t.Fatalf("new key refused: %d", code)
	}
	if code, out := h.call(t, key, "DELETE", "/api/accounts/"+acct+"/keys/"+keyID, nil); code != 204 {
		t.Fatalf("revoke: %d %v", code, out)
	}
	if code, out := h.call(t, second, "GET", "/api/projects", nil); code != 401 {
		t.Fatalf("revoked key still works: %d %v", code, out)
	}
	if code, _ := h.call(t, key, "GET", "/api/projects", nil); code != 200 {
		t.Fatal("revoking one key broke another")
	}
	if code, _ := h.call(t, key, "DELETE", "/api/accounts/"+acct+"/keys/key_nope", nil); code != 404 {
		t.Fatalf("revoking an unknown key: %d", code)
	}
}

func TestSandboxPlatformIsOffByDefault(t *testing.T) {
	t.Parallel()
	h := startWith(t, false)
	_, key := h.account(t, "P")
	code, out := h.call(t, key, "POST", "/api/projects", map[string]string{"name": "x", "source": "memory", "destination": "m365"})
	if code != 422 || errField(out) != "source" {
		t.Fatalf("memory source with the sandbox off: %d %v", code, out)
	}
	if code, out := h.call(t, key, "POST", "/api/projects", map[string]string{"name": "x", "source": "exchange", "destination": "m365"}); code != 201 {
		t.Fatalf("real platforms: %d %v", code, out)
	}
}

func TestVerifyCredentials(t *testing.T) {
	t.Parallel()
	h := start(t)
	_, key := h.account(t, "V")
	store := memory.NewStore()
	tn := store.AddTenant("t", "t.example")
	sandbox := httptest.NewServer(memory.NewHandler(store))
	defer sandbox.Close()
	_, p := h.call(t, key, "POST", "/api/projects", map[string]string{"name": "p", "source": "memory", "destination": "memory"})
	pid := p["id"].(string)
	set := func(side, token string) {
		t.Helper()
		if code, out := h.call(t, key, "PUT", "/api/projects/"+pid+"/credentials/"+side, map[string]any{"fields": map[string]string{"endpoint": sandbox.URL, "tenant": "t"}, "secrets": map[string]string{"token": token}}); code != 200 {
			t.Fatalf("set %s: %d %v", side, code, out)
		}
	}
	set("source", tn.Token())
	set("destination", "wrong-token-value")
	if code, out := h.call(t, key, "POST", "/api/projects/"+pid+"/credentials/source/verify", nil); code != 200 || out["ok"] != true {
		t.Fatalf("good credentials: %d %v", code, out)
	}
	code, out := h.call(t, key, "POST", "/api/projects/"+pid+"/credentials/destination/verify", nil)
	if code != 422 || errCode(out) != "platform_auth_failed" {
		t.Fatalf("wrong token: %d %v", code, out)
	}
	raw, _ := json.Marshal(out)
	if strings.Contains(string(raw), "wrong-token-value") || strings.Contains(h.logs.String(), "wrong-token-value") {
		t.Fatal("the secret came back in the answer or the logs")
	}
}

func TestM365SetupGuide(t *testing.T) {
	t.Parallel()
	h := startWith(t, false)
	_, key := h.account(t, "G")
	code, out := h.call(t, key, "GET", "/api/setup/m365?tenantId=contoso.onmicrosoft.com&clientId=11111111-2222-3333-4444-555555555555", nil)
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	raw, _ := json.Marshal(out)
	for _, want := range []string{"Mail.ReadWrite", "Calendars.ReadWrite", "Contacts.ReadWrite", "User.ReadWrite.All",
		"00000003-0000-0000-c000-000000000000", "contoso.onmicrosoft.com/adminconsent?client_id=11111111-2222-3333-4444-555555555555"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("guide lacks %q", want)
		}
	}
	// With the sandbox off, credentials may not point the connector at
	// another endpoint.
	_, p := h.call(t, key, "POST", "/api/projects", map[string]string{"name": "x", "source": "m365", "destination": "google"})
	code, out = h.call(t, key, "PUT", "/api/projects/"+p["id"].(string)+"/credentials/source", map[string]any{
		"fields": map[string]string{"tenantId": "t", "clientId": "c", "graphBaseUrl": "https://evil.example"}, "secrets": map[string]string{"clientSecret": "s3cret"}})
	if code != 422 || errField(out) != "fields.graphBaseUrl" {
		t.Fatalf("endpoint override with the sandbox off: %d %v", code, out)
	}
	if code, out := h.call(t, key, "PUT", "/api/projects/"+p["id"].(string)+"/credentials/source", map[string]any{
		"fields": map[string]string{"tenantId": "t", "clientId": "c"}, "secrets": map[string]string{"certificate": "-----BEGIN CERTIFICATE-----"}}); code != 200 {
		t.Fatalf("certificate instead of a secret: %d %v", code, out)
	}
}
