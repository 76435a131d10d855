package project_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/connectors/agent"
	"github.com/mailferry/mailferry/libs/connectors/agent/wire"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	"github.com/mailferry/mailferry/libs/svc"
	projectsvc "github.com/mailferry/mailferry/services/project"
)

// second starts another project instance on h's bus, as a second
// replica behind a load balancer would run.
func (h *harness) second(t *testing.T) string {
	t.Helper()
	b := bustest.Open(t, h.bus.URL())
	ctx, cancel := context.WithCancel(context.Background())
	d, err := svc.WithBus(ctx, "project", b, svc.Config{VaultKey: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))}, svc.Logger(h.logs, "project", "debug"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := projectsvc.New(d, projectsvc.Config{HTTPAddr: "127.0.0.1:0", OperatorKey: opKey, DecisionWait: time.Second, AllowSandbox: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	addr, err := s.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

// registerAgent creates a token with key and registers an agent with it.
func (h *harness) registerAgent(t *testing.T, key, name string) wire.RegisterResponse {
	t.Helper()
	code, tok := h.call(t, key, "POST", "/api/agents/tokens", map[string]any{"label": name})
	if code != 201 {
		t.Fatalf("create token: %d %v", code, tok)
	}
	code, out := h.call(t, "", "POST", "/api/agent/register", wire.RegisterRequest{Token: tok["token"].(string), Name: name, Version: "1.0.0", OS: "windows/amd64"})
	if code != 201 {
		t.Fatalf("register: %d %v", code, out)
	}
	return wire.RegisterResponse{AgentID: out["agentId"].(string), AccountID: out["accountId"].(string), Credential: out["credential"].(string)}
}

func TestAgentRegistrationTokens(t *testing.T) {
	t.Parallel()
	h := start(t)
	acct, key := h.account(t, "A")
	_, otherKey := h.account(t, "B")

	code, tok := h.call(t, key, "POST", "/api/agents/tokens", map[string]any{"ttlMinutes": 30})
	if code != 201 || !strings.HasPrefix(tok["token"].(string), "mfat_") {
		t.Fatalf("create token: %d %v", code, tok)
	}
	token := tok["token"].(string)
	reg := func(tok string) (int, map[string]any) {
		return h.call(t, "", "POST", "/api/agent/register", wire.RegisterRequest{Token: tok, Name: "vienna-dc1", Version: "1.2.3", OS: "windows/amd64"})
	}
	// Two registrations race for one token: exactly one wins.
	var wg sync.WaitGroup
	codes := make([]int, 2)
	outs := make([]map[string]any, 2)
	for i := range codes {
		wg.Add(1)
		go func() { defer wg.Done(); codes[i], outs[i] = reg(token) }()
	}
	wg.Wait()
	won := -1
	for i, c := range codes {
		switch c {
		case 201:
			if won >= 0 {
				t.Fatalf("the token registered two agents: %v", outs)
			}
			won = i
		case 401:
			if !strings.Contains(outs[i]["error"].(map[string]any)["cause"].(string), "already used") {
				t.Errorf("the losing registration says %v", outs[i])
			}
		default:
			t.Fatalf("registration: %d %v", c, outs[i])
		}
	}
	if won < 0 {
		t.Fatalf("no registration won: %v", outs)
	}
	agentID, cred := outs[won]["agentId"].(string), outs[won]["credential"].(string)

	// Replayed later, unknown, expired: refused, each with its reason.
	expiredToken := "mfat_expired-token-for-the-test"
	if _, err := h.bus.Publish(context.Background(), project.AgentTokenSubject("agtok_expired0001"), project.AgentTokenCreated{AccountID: acct, TokenID: "agtok_expired0001", TokenHash: projectsvc.HashKey(expiredToken), Expires: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, token, cause string }{
		{"replayed", token, "already used"},
		{"unknown", "mfat_never-issued", "not valid"},
		{"expired", expiredToken, "expired at"},
	}
	for _, tc := range tests {
		var code int
		var out map[string]any
		bustest.Eventually(t, 5*time.Second, tc.name+" token refused", func() bool {
			code, out = reg(tc.token)
			return code == 401 && strings.Contains(fmt.Sprint(out), tc.cause)
		})
		if errCode(out) != "unauthorized" {
			t.Errorf("%s: %d %v", tc.name, code, out)
		}
	}

	// The agent is listed for its account only, never with a secret.
	code, list := h.call(t, key, "GET", "/api/agents", nil)
	raw, _ := json.Marshal(list)
	if code != 200 || !strings.Contains(string(raw), agentID) || !strings.Contains(string(raw), `"connected":false`) || strings.Contains(string(raw), cred) {
		t.Fatalf("list agents: %d %s", code, raw)
	}
	if code, _ := h.call(t, otherKey, "GET", "/api/agents/"+agentID, nil); code != 404 {
		t.Fatalf("another account sees the agent: %d", code)
	}
	if code, _ := h.call(t, otherKey, "DELETE", "/api/agents/"+agentID, nil); code != 404 {
		t.Fatalf("another account revokes the agent: %d", code)
	}
	if code, _ := h.call(t, key, "POST", "/api/agents/tokens", map[string]any{"ttlMinutes": 5000}); code != 422 {
		t.Fatalf("a token living 5000 minutes: %d", code)
	}
	// The credential is no API key, and an API key is no credential.
	if code, _ := h.call(t, cred, "GET", "/api/projects", nil); code != 401 {
		t.Fatalf("agent credential used as API key: %d", code)
	}
	if code, _ := h.call(t, key, "POST", "/api/agent/poll", wire.PollRequest{WaitSeconds: 1}); code != 401 {
		t.Fatalf("API key used as agent credential: %d", code)
	}
	dump := allMessages(t, h.bus)
	if strings.Contains(dump, token) || strings.Contains(dump, cred) {
		t.Fatal("a token or credential travelled on the bus")
	}
	if !strings.Contains(dump, "project.agent_registered") {
		t.Fatal("no registration on the bus; the scan proves nothing")
	}
}

// TestAgentPresenceAndRevocation: polls make the agent connected with
// its reported status; revocation ends the open poll at once.
func TestAgentPresenceAndRevocation(t *testing.T) {
	t.Parallel()
	h := start(t)
	_, key := h.account(t, "A")
	ag := h.registerAgent(t, key, "dc1")
	st := wire.Status{Version: "1.3.0", OS: "linux/amd64", Health: wire.HealthDegraded, LastError: "platform_auth_failed: EWS refused the account", Platform: "exchange"}
	if code, _ := h.call(t, ag.Credential, "POST", "/api/agent/poll", wire.PollRequest{Status: st, Capacity: 4, WaitSeconds: 1}); code != 204 {
		t.Fatalf("empty poll: %d, want 204", code)
	}
	var got map[string]any
	bustest.Eventually(t, 5*time.Second, "the status to show", func() bool {
		_, got = h.call(t, key, "GET", "/api/agents/"+ag.AgentID, nil)
		return got["version"] == "1.3.0" && got["connected"] == true && got["health"] == wire.HealthDegraded &&
			got["lastError"] == st.LastError && got["lastContact"] != nil && got["platform"] == "exchange"
	})
	bustest.Eventually(t, 5*time.Second, "the status change recorded", func() bool {
		return strings.Contains(allMessages(t, h.bus), "project.agent_status_changed")
	})

	// A poll held open ends the moment the agent is revoked. Its status
	// (healthy again) shows once its handler runs, just before it waits.
	polled := make(chan int, 1)
	healthy := st
	healthy.Health, healthy.LastError = wire.HealthOK, ""
	go func() {
		code, _ := h.call(t, ag.Credential, "POST", "/api/agent/poll", wire.PollRequest{Status: healthy, Capacity: 4})
		polled <- code
	}()
	bustest.Eventually(t, 5*time.Second, "the held poll's status", func() bool {
		_, got = h.call(t, key, "GET", "/api/agents/"+ag.AgentID, nil)
		return got["health"] == wire.HealthOK
	})
	start := time.Now()
	if code, out := h.call(t, key, "DELETE", "/api/agents/"+ag.AgentID, nil); code != 204 {
		t.Fatalf("revoke: %d %v", code, out)
	}
	select {
	case code := <-polled:
		if code != 401 {
			t.Fatalf("the open poll ended with %d, want 401", code)
		}
	case <-time.After(wire.MaxPollWait / 2):
		t.Fatal("the open poll did not end on revocation")
	}
	t.Logf("the open poll ended %s after the revocation", time.Since(start).Round(time.Millisecond))
	code, out := h.call(t, ag.Credential, "POST", "/api/agent/poll", wire.PollRequest{WaitSeconds: 1})
	if code != 401 || errCode(out) != string(agent.CodeRevoked) {
		t.Fatalf("poll after revocation: %d %v", code, out)
	}
	_, got = h.call(t, key, "GET", "/api/agents/"+ag.AgentID, nil)
	if got["revoked"] != true || got["connected"] != false {
		t.Fatalf("revoked agent shows %v", got)
	}
}

// httpAgent plays the agent program over raw HTTP: poll one instance,
// answer through another.
type httpAgent struct {
	t          *testing.T
	cred       string
	pollAt     string
	answerAt   string
	local      platform.Connector
	fetched    int
	fetchedMu  sync.Mutex
	maxContent int
}

func (a *httpAgent) do(method, url, ctype string, body io.Reader) *http.Response {
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("Authorization", "Bearer "+a.cred)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Errorf("%s %s: %v", method, url, err)
		return nil
	}
	return resp
}

func (a *httpAgent) serve(ctx context.Context) {
	for ctx.Err() == nil {
		body, _ := json.Marshal(wire.PollRequest{Status: wire.Status{Version: "test", Health: wire.HealthOK}, Capacity: 8, WaitSeconds: 1})
		resp := a.do("POST", a.pollAt+"/api/agent/poll", "application/json", bytes.NewReader(body))
		if resp == nil {
			return
		}
		var pr wire.PollResponse
		if resp.StatusCode == 200 {
			_ = json.NewDecoder(resp.Body).Decode(&pr)
		}
		resp.Body.Close()
		for _, c := range pr.Calls {
			go a.answer(ctx, c)
		}
	}
}

func (a *httpAgent) answer(ctx context.Context, c wire.Call) {
	content := c.Content
	if c.NeedsFetch() {
		resp := a.do("GET", a.answerAt+"/api/agent/calls/"+c.ID+"/content", "", nil)
		if resp == nil {
			return
		}
		content, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		a.fetchedMu.Lock()
		a.fetched++
		a.fetchedMu.Unlock()
	}
	res, out := wire.Answer(ctx, a.local, c, content, nil)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	pw, _ := mw.CreateFormField("result")
	_ = json.NewEncoder(pw).Encode(res)
	if len(out) > 0 {
		cw, _ := mw.CreateFormFile("content", "content")
		_, _ = cw.Write(out)
	}
	_ = mw.Close()
	resp := a.do("POST", a.answerAt+"/api/agent/results", mw.FormDataContentType(), &buf)
	if resp != nil {
		if resp.StatusCode != 204 && ctx.Err() == nil {
			b, _ := io.ReadAll(resp.Body)
			a.t.Errorf("post result of %s: %d %s", c.Op, resp.StatusCode, b)
		}
		resp.Body.Close()
	}
}

// TestAgentWorkChannel: the services' connector reaches a memory tenant
// in "the customer network" through the agent's HTTP work channel, with
// the poll at one project instance and the results and downloads at
// another; large contents stream both ways; the project's own credential
// check goes through the agent too.
func TestAgentWorkChannel(t *testing.T) {
	t.Parallel()
	h := start(t)
	other := h.second(t)
	_, key := h.account(t, "A")
	ag := h.registerAgent(t, key, "dc1")

	store := memory.NewStore()
	tn := store.AddTenant("onprem", "onprem.example")
	mbs := memory.Seed(tn, memory.SeedSpec{Mailboxes: 2, ItemsPerMailbox: 10, Seed: 5})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := &httpAgent{t: t, cred: ag.Credential, pollAt: h.api, answerAt: other, local: tn}
	done := make(chan struct{})
	go func() { defer close(done); a.serve(ctx) }()
	defer func() { cancel(); <-done }()

	// Credentials through the agent: no secret, and the check runs there.
	_, p := h.call(t, key, "POST", "/api/projects", map[string]string{"name": "onprem", "source": "exchange", "destination": "memory"})
	pid := p["id"].(string)
	fields := map[string]string{"agentId": ag.AgentID, "ewsUrl": "https://mail.onprem.example/EWS/Exchange.asmx", "username": "svc-migrate"}
	if code, out := h.call(t, key, "PUT", "/api/projects/"+pid+"/credentials/source", map[string]any{"fields": fields, "secrets": map[string]string{"password": "Hunter2-on-prem"}}); code != 422 || errField(out) != "secrets.password" {
		t.Fatalf("a password with an agent: %d %v", code, out)
	}
	if code, out := h.call(t, key, "PUT", "/api/projects/"+pid+"/credentials/source", map[string]any{"fields": map[string]string{"agentId": "agt_00000000000000ff"}}); code != 422 || errField(out) != "fields.agentId" {
		t.Fatalf("an unknown agent: %d %v", code, out)
	}
	if code, out := h.call(t, key, "PUT", "/api/projects/"+pid+"/credentials/source", map[string]any{"fields": fields}); code != 200 {
		t.Fatalf("set agent credentials: %d %v", code, out)
	}
	if code, out := h.call(t, key, "POST", "/api/projects/"+pid+"/credentials/source/verify", nil); code != 200 || out["ok"] != true {
		t.Fatalf("verify through the agent: %d %v", code, out)
	}

	// The services' side: the connector over the bus.
	c, err := agent.New(h.bus, ag.AgentID, agent.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ListMailboxes(ctx)
	if err != nil || len(got) != len(mbs) {
		t.Fatalf("list through the agent: %d mailboxes, %v", len(got), err)
	}
	inbox, _ := tn.FolderByRole(mbs[0].ID, platform.RoleInbox)
	big := platformtest.Message("a 3 MB message", 3<<20)
	id, err := c.WriteItem(ctx, mbs[0].ID, inbox.ID, big, "marker-big")
	if err != nil {
		t.Fatalf("write 3 MB through the agent: %v", err)
	}
	back, err := c.ReadItem(ctx, mbs[0].ID, platform.ItemRef{ID: id, FolderID: inbox.ID, Kind: platform.Mail})
	if err != nil || sha256.Sum256(back.Content) != sha256.Sum256(big.Content) {
		t.Fatalf("read 3 MB back through the agent: %d bytes, %v", len(back.Content), err)
	}
	a.fetchedMu.Lock()
	fetched := a.fetched
	a.fetchedMu.Unlock()
	if fetched == 0 {
		t.Fatal("the large write did not go through the content download")
	}
	if _, err := c.Folders(ctx, "no-such-mailbox"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("a local not_found crossed as %v", err)
	}
}
