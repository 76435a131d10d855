package connectoragent_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/connectors/agent"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/svc"
	connectoragent "github.com/mailferry/mailferry/services/connector-agent"
	"github.com/mailferry/mailferry/services/connector-agent/internal/runner"
	"github.com/mailferry/mailferry/services/project"
)

const opKey = "agent-test-operator"

// platformProc is a project service in this process, restartable on the
// same address.
type platformProc struct {
	t      *testing.T
	nats   string
	addr   string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

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

func (p *platformProc) start() {
	p.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// A process of its own would have its own connection.
	b := bustest.Open(p.t, p.nats)
	d, err := svc.WithBus(ctx, "project", b, svc.Config{VaultKey: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))}, svc.Logger(p.logs, "project", "info"))
	if err != nil {
		p.t.Fatal(err)
	}
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s, err := project.New(d, project.Config{HTTPAddr: addr, OperatorKey: opKey, DecisionWait: time.Second, AllowSandbox: true})
	if err != nil {
		p.t.Fatal(err)
	}
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() { p.done <- s.Run(ctx) }()
	a, err := s.Addr(ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	p.addr = a
}

func (p *platformProc) stop() {
	p.cancel()
	if err := <-p.done; err != nil && !errors.Is(err, context.Canceled) {
		p.t.Errorf("project service: %v", err)
	}
}

func (p *platformProc) url() string { return "http://" + p.addr }

func (p *platformProc) call(method, path, key string, body any, out any) int {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, p.url()+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func cli(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := connectoragent.Main(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

// TestAgentLifecycle drives the agent program's commands against a real
// project service: a one-time registration, local configuration with the
// secret kept sealed, calls served, the platform restarted under it, and
// revocation ending it.
func TestAgentLifecycle(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	p := &platformProc{t: t, nats: srv.ClientURL(), logs: &syncBuffer{}}
	p.start()
	defer func() {
		if t.Failed() {
			t.Logf("project log:\n%s", p.logs.String())
		}
	}()

	var acct struct {
		AccountID string `json:"accountId"`
		APIKey    string `json:"apiKey"`
	}
	p.call("POST", "/api/accounts", opKey, map[string]string{"name": "MSP"}, &acct)
	var tok struct {
		Token string `json:"token"`
	}
	if code := p.call("POST", "/api/agents/tokens", acct.APIKey, map[string]any{"label": "dc1"}, &tok); code != 201 {
		t.Fatalf("token: %d", code)
	}

	// The customer's network: a memory tenant the platform never learns.
	store := memory.NewStore()
	tn := store.AddTenant("onprem", "onprem.example")
	memory.Seed(tn, memory.SeedSpec{Mailboxes: 3, ItemsPerMailbox: 4, Seed: 9})
	onprem := httptest.NewServer(memory.NewHandler(store))
	defer onprem.Close()

	dir := filepath.Join(t.TempDir(), "agent")
	out, err := cli(t, "", "register", "--dir", dir, "--url", p.url(), "--token", tok.Token, "--name", "dc1")
	if err != nil {
		t.Fatalf("register: %v\n%s", err, out)
	}
	agentID := strings.Fields(strings.SplitN(out, "registered as agent ", 2)[1])[0]
	if out, err := cli(t, "", "register", "--dir", filepath.Join(t.TempDir(), "other"), "--url", p.url(), "--token", tok.Token); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("the token registered a second agent: %v\n%s", err, out)
	}
	if out, err := cli(t, tn.Token()+"\n", "configure", "memory", "--dir", dir, "--endpoint", onprem.URL, "--tenant", "onprem", "--token-stdin"); err != nil {
		t.Fatalf("configure: %v\n%s", err, out)
	}
	if out, err := cli(t, "", "check", "--dir", dir); err != nil || !strings.Contains(out, "3 mailboxes") {
		t.Fatalf("check: %v\n%s", err, out)
	}
	if out, err := cli(t, "", "status", "--dir", dir); err != nil || !strings.Contains(out, agentID) || strings.Contains(out, tn.Token()) {
		t.Fatalf("status: %v\n%s", err, out)
	}
	// The local secret is sealed, never in clear on disk.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if bytes.Contains(data, []byte(tn.Token())) {
			t.Fatalf("%s holds the local token in clear", e.Name())
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agentLog := &syncBuffer{}
	runDone := make(chan error, 1)
	go func() {
		runDone <- connectoragent.Main(ctx, []string{"run", "--dir", dir, "--poll-wait", "2s", "--log-level", "debug"}, strings.NewReader(""), io.Discard, agentLog)
	}()
	defer func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", agentLog.String())
		}
	}()

	c, err := agent.New(b, agentID, agent.Options{OfflineWait: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	list := func(what string) {
		t.Helper()
		lctx, lcancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer lcancel()
		mbs, err := c.ListMailboxes(lctx)
		if err != nil || len(mbs) != 3 {
			t.Fatalf("%s: %d mailboxes, %v", what, len(mbs), err)
		}
	}
	list("through the agent")
	var view map[string]any
	bustest.Eventually(t, 10*time.Second, "the agent shown connected", func() bool {
		p.call("GET", "/api/agents/"+agentID, acct.APIKey, nil, &view)
		return view["connected"] == true && view["health"] == "ok" && view["platform"] == "memory" && view["version"] != ""
	})

	// The platform restarts; the agent reconnects and the next call works.
	p.stop()
	p.start()
	list("after the platform restarted")
	bustest.Eventually(t, 10*time.Second, "the reconnection logged", func() bool {
		return strings.Contains(agentLog.String(), "platform reachable again")
	})

	// Revoked, the agent stops and says why.
	if code := p.call("DELETE", "/api/agents/"+agentID, acct.APIKey, nil, nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	select {
	case err := <-runDone:
		if !errors.Is(err, runner.ErrRevoked) {
			t.Fatalf("run ended with %v, want ErrRevoked", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the revoked agent keeps running")
	}
	lctx, lcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer lcancel()
	if _, err := c.ListMailboxes(lctx); err == nil || !strings.Contains(err.Error(), string(agent.CodeRevoked)) {
		t.Fatalf("a call to the revoked agent: %v", err)
	}
	if strings.Contains(p.logs.String(), tn.Token()) || strings.Contains(agentLog.String(), tn.Token()) {
		t.Fatal("the local token reached a log")
	}
}
