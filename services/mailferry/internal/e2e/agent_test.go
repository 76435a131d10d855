package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	ewssb "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

var (
	agentBinOnce sync.Once
	agentBin     string
	agentBinErr  error
)

// agentBinary builds the connector agent once for the package.
func agentBinary(t *testing.T) string {
	t.Helper()
	agentBinOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			agentBinErr = err
			return
		}
		dir, err := os.MkdirTemp("", "mailferry-agent-")
		if err != nil {
			agentBinErr = err
			return
		}
		agentBin = filepath.Join(dir, "connector-agent")
		cmd := exec.Command("go", "build", "-o", agentBin, "./services/connector-agent/cmd/connector-agent")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			agentBinErr = fmt.Errorf("building the connector agent: %v\n%s", err, out)
		}
	})
	if agentBinErr != nil {
		t.Fatal(agentBinErr)
	}
	return agentBin
}

// customer is the customer's network: an Exchange (the EWS sandbox, or a
// memory tenant standing in for it) that only the agent is told about,
// and the agent process.
type customer struct {
	url string
	dir string
	bin string
	ca  string
	api string // the platform's HTTPS address, through the TLS proxy
}

// tlsFront puts an HTTPS reverse proxy in front of the API, as an
// ingress would; it outlives restarts of the project process behind it.
func tlsFront(t *testing.T, apiURL string) (httpsURL, caFile string) {
	t.Helper()
	target, err := url.Parse(apiURL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	srv := httptest.NewTLSServer(rp)
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "platform-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL, caFile
}

// agentCmd runs a short agent command to its end.
func (cu *customer) agentCmd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(cu.bin, append(args, "--dir", cu.dir)...)
	cmd.Stdin = strings.NewReader(stdin)
	// The agent gets nothing of the platform's environment.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cu.dir}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startAgent starts `connector-agent run` as a process of its own.
func (cu *customer) startAgent(t *testing.T) *proc {
	t.Helper()
	cmd := exec.Command(cu.bin, "run", "--dir", cu.dir, "--poll-wait", "5s")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cu.dir}
	out := &logBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the agent: %v", err)
	}
	p := &proc{name: "connector-agent", cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("---- output of the agent ----\n%s", tail(out.String(), 6000))
		}
	})
	return p
}

// wiretap records every message on the bus, core NATS included (the
// agent's calls and results never touch a stream), and counts those
// carrying any of the secrets.
type wiretap struct {
	sub     *nats.Subscription
	secrets [][]byte
	leaks   atomic.Int64
	agent   atomic.Int64
	total   atomic.Int64
}

func tap(t *testing.T, nc *nats.Conn, secrets ...string) *wiretap {
	t.Helper()
	w := &wiretap{}
	for _, s := range secrets {
		w.secrets = append(w.secrets, []byte(s))
	}
	sub, err := nc.Subscribe(">", func(m *nats.Msg) {
		w.total.Add(1)
		if strings.HasPrefix(m.Subject, "agent.") {
			w.agent.Add(1)
		}
		var hdr bytes.Buffer
		for k, v := range m.Header {
			hdr.WriteString(k + "=" + strings.Join(v, ",") + "\n")
		}
		for _, s := range w.secrets {
			if bytes.Contains(m.Data, s) || bytes.Contains(hdr.Bytes(), s) || strings.Contains(m.Subject, string(s)) {
				w.leaks.Add(1)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	w.sub = sub
	t.Cleanup(w.stop)
	return w
}

// stop ends the wiretap. A subscriber of every subject is also a
// subscriber of every agent's call subject, which hides from callers that
// nobody holds an agent ("no responders"): stop it before testing that.
func (w *wiretap) stop() { _ = w.sub.Unsubscribe() }

// listening returns the listening sockets (TCP LISTEN, bound UDP) of a
// process and how many established TCP connections it has.
func listening(t *testing.T, pid int) (listen []string, established int) {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("read the agent's descriptors: %v", err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, proto))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			st := fields[3]
			switch {
			case strings.HasPrefix(proto, "tcp") && st == "0A":
				listen = append(listen, proto+" "+fields[1])
			case strings.HasPrefix(proto, "udp") && st == "07":
				listen = append(listen, proto+" "+fields[1])
			case strings.HasPrefix(proto, "tcp") && st == "01":
				established++
			}
		}
		f.Close()
	}
	return listen, established
}

type agentInfo struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	Health      string `json:"health"`
	Platform    string `json:"platform"`
	Connected   bool   `json:"connected"`
	Revoked     bool   `json:"revoked"`
	LastContact string `json:"lastContact"`
}

// newCustomer registers an agent with a one-time token of account a,
// configures its local platform with configure (the secret on stdin),
// checks it and starts it.
func newCustomer(t *testing.T, c *cluster, a api, stdin string, configure ...string) (*customer, *proc, string) {
	t.Helper()
	front, ca := tlsFront(t, c.api)
	cu := &customer{dir: filepath.Join(t.TempDir(), "agent"), bin: agentBinary(t), ca: ca, api: front}
	var tok struct {
		Token string `json:"token"`
	}
	a.must(http.MethodPost, "/api/agents/tokens", map[string]any{"label": "e2e", "ttlMinutes": 10}, &tok)
	out, err := cu.agentCmd(t, "", "register", "--url", cu.api, "--token", tok.Token, "--name", "vienna-dc1", "--ca-file", cu.ca)
	if err != nil {
		t.Fatalf("register: %v\n%s", err, out)
	}
	agentID := strings.Fields(strings.SplitN(out, "registered as agent ", 2)[1])[0]
	// The token was for one registration only.
	if out, err := cu.agentCmd(t, "", "register", "--url", cu.api, "--token", tok.Token, "--force", "--ca-file", cu.ca); err == nil || !strings.Contains(out, "already used") {
		t.Fatalf("a replayed registration token: %v\n%s", err, out)
	}
	if out, err := cu.agentCmd(t, stdin, append([]string{"configure"}, configure...)...); err != nil {
		t.Fatalf("configure: %v\n%s", err, out)
	}
	if out, err := cu.agentCmd(t, "", "check"); err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	ag := cu.startAgent(t)
	var info agentInfo
	bustest.Eventually(t, 30*time.Second, "the agent connected", func() bool {
		a.do(http.MethodGet, "/api/agents/"+agentID, nil, &info)
		return info.Connected && info.Health == "ok" && info.Platform == configure[0]
	})
	return cu, ag, agentID
}

// memoryCustomer is newCustomer with a memory tenant standing in for
// Exchange, served in the customer's network only.
func memoryCustomer(t *testing.T, c *cluster, a api, tenant *memory.Tenant, store *memory.Store) (*customer, *proc, string) {
	t.Helper()
	url := httpTestServer(t, memory.NewHandler(store))
	cu, ag, id := newCustomer(t, c, a, tenant.Token()+"\n", "memory", "--endpoint", url, "--tenant", tenant.Name(), "--token-stdin")
	cu.url = url
	return cu, ag, id
}

// newAccount creates an account with credits.
func newAccount(t *testing.T, c *cluster, name string) (a, op api, accountID string) {
	t.Helper()
	op = api{t: t, c: clientFor(c.api, operatorKey)}
	var acct struct {
		AccountID string `json:"accountId"`
		APIKey    string `json:"apiKey"`
	}
	op.must(http.MethodPost, "/api/accounts", map[string]string{"name": name}, &acct)
	buyCredits(t, op, acct.AccountID, 20)
	return api{t: t, c: clientFor(c.api, acct.APIKey)}, op, acct.AccountID
}

// exchangeViaAgent is the project side's credentials: the agent and, for
// display only, the Exchange it serves. No secret.
func exchangeViaAgent(agentID string) map[string]any {
	return map[string]any{"fields": map[string]string{
		"agentId": agentID, "ewsUrl": "https://mail.customer.example/EWS/Exchange.asmx", "username": "CUSTOMER\\svc-migration",
	}}
}

// TestExchangeAgentToMemory migrates an "Exchange" that only an agent in
// the customer's network can reach, through the whole saga with every
// service in its own process; then restarts the platform under the agent
// and revokes it.
func TestExchangeAgentToMemory(t *testing.T) {
	// The customer's network: the source, reached by the agent only.
	onprem := memory.NewStore()
	src := onprem.AddTenant("exchange", "customer.example")
	srcMbs := memory.Seed(src, memory.SeedSpec{Mailboxes: 4, ItemsPerMailbox: 20, Seed: 61})
	// The cloud: the destination, reached by the platform.
	cloud := memory.NewStore()
	dst := cloud.AddTenant("cloud", "cloud.example")
	for _, m := range srcMbs[:len(srcMbs)-1] {
		dst.AddMailbox(platform.Mailbox{PrimaryAddress: strings.SplitN(m.PrimaryAddress, "@", 2)[0] + "@cloud.example", DisplayName: m.DisplayName})
	}
	cloudURL := httpTestServer(t, memory.NewHandler(cloud))

	c := startCluster(t)
	w := tap(t, c.bus.Conn(), src.Token())
	a, op, accountID := newAccount(t, c, "E2E agent")
	cu, ag, agentID := memoryCustomer(t, c, a, src, onprem)
	if l, est := listening(t, ag.cmd.Process.Pid); len(l) > 0 || est == 0 {
		t.Fatalf("the agent listens on %v (and has %d established connections; it must have its poll)", l, est)
	}

	var p struct {
		ID string `json:"id"`
	}
	a.must(http.MethodPost, "/api/projects", map[string]string{"name": "exchange via agent", "source": "exchange", "destination": "memory"}, &p)
	a.must(http.MethodPut, "/api/projects/"+p.ID+"/credentials/source", exchangeViaAgent(agentID), nil)
	a.must(http.MethodPut, "/api/projects/"+p.ID+"/credentials/destination", map[string]any{"fields": map[string]string{"endpoint": cloudURL, "tenant": "cloud"}, "secrets": map[string]string{"token": dst.Token()}}, nil)
	var ver struct {
		OK bool `json:"ok"`
	}
	a.must(http.MethodPost, "/api/projects/"+p.ID+"/credentials/source/verify", nil, &ver)
	if !ver.OK {
		t.Fatal("the source did not verify through the agent")
	}

	fullMigration(t, a, op, accountID, p.ID, tenants{src: src, dst: dst, exactlyOnce: func(t *testing.T, id string) {
		for marker, n := range dst.WrittenMarkers(id) {
			if n != 1 {
				t.Errorf("marker %s written %d times", marker, n)
			}
		}
	}})
	if l, _ := listening(t, ag.cmd.Process.Pid); len(l) > 0 {
		t.Fatalf("after the migration the agent listens on %v", l)
	}

	// The platform goes away in the middle of a run: the destination
	// stores each new item slowly, so the run is certainly in flight with
	// calls through the agent; the agent reconnects by itself and the run
	// completes with every item exactly once.
	first := srcMbs[0]
	inbox, _ := src.FolderByRole(first.ID, platform.RoleInbox)
	const arriving = 60
	for i := 0; i < arriving; i++ {
		if _, err := src.AddItem(context.Background(), first.ID, inbox.ID, platformtest.Message(fmt.Sprintf("arrived during the cutover %d", i), 3000)); err != nil {
			t.Fatal(err)
		}
	}
	dstFirst, ok := dst.MailboxByAddress(strings.SplitN(first.PrimaryAddress, "@", 2)[0] + "@cloud.example")
	if !ok {
		t.Fatal("no destination mailbox for the first source mailbox")
	}
	before := dst.Count(dstFirst.ID)
	dst.SetFaults(memory.Faults{WriteDelay: 200 * time.Millisecond})
	var created struct {
		Run run `json:"run"`
	}
	a.must(http.MethodPost, "/api/projects/"+p.ID+"/runs", map[string]any{"mode": "delta"}, &created)
	bustest.Eventually(t, time.Minute, "the delta run to copy its first items", func() bool {
		return dst.Count(dstFirst.ID) > before
	})
	for _, pp := range c.procs["project"] {
		pp.stop()
	}
	if got := dst.Count(dstFirst.ID); got >= before+arriving {
		t.Fatalf("the run copied all %d items before the platform went away; the test proves nothing", arriving)
	} else {
		t.Logf("the platform went away with %d of %d new items copied", got-before, arriving)
	}
	c.add(t, "project")
	waitHTTP(t, c.api, 60*time.Second)
	if r := a.waitRun(created.Run.ID, 3*time.Minute); r.State != "completed" {
		t.Fatalf("the run the platform restarted under ended %s: %s %s", r.State, r.Code, r.Reason)
	}
	dst.SetFaults(memory.Faults{})
	if got, want := dst.Count(dstFirst.ID), src.Count(first.ID); got != want {
		t.Fatalf("after the restart the destination holds %d items, the source %d", got, want)
	}
	for marker, n := range dst.WrittenMarkers(dstFirst.ID) {
		if n != 1 {
			t.Errorf("marker %s written %d times", marker, n)
		}
	}
	if !strings.Contains(ag.out.String(), "platform reachable again") {
		t.Errorf("the agent did not notice the platform was gone and back")
	}
	// The next call after the restart works too.
	a.must(http.MethodPost, "/api/projects/"+p.ID+"/credentials/source/verify", nil, &ver)
	if !ver.OK {
		t.Fatal("the source did not verify through the agent after the platform restarted")
	}

	// Nothing secret of the customer's network reached the platform.
	if n := w.leaks.Load(); n > 0 {
		t.Errorf("%d bus messages carried the source's secret", n)
	}
	dump := bustest.Dump(t, c.bus)
	if strings.Contains(dump, src.Token()) {
		t.Error("the source's secret is in a stream")
	}
	if lines := scanLines(c.logs(), src.Token(), cu.url); len(lines) > 0 {
		t.Errorf("the platform's logs know the customer's secret or address: %s", lines[0])
	}
	if w.agent.Load() < 100 || !strings.Contains(dump, "transfer.mailbox_completed") || !strings.Contains(dump, "project.agent_registered") {
		t.Fatalf("the wiretap saw %d agent messages; the scans prove nothing", w.agent.Load())
	}
	t.Logf("the wiretap saw %d messages, %d of them the agent's", w.total.Load(), w.agent.Load())
	w.stop()

	// Revoked, the agent stops at once and says why; the project's calls
	// name the revocation.
	a.must(http.MethodDelete, "/api/agents/"+agentID, nil, nil)
	select {
	case <-ag.done:
		if ag.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(ag.out.String(), "revoked") {
			t.Fatalf("the revoked agent exited %d:\n%s", ag.cmd.ProcessState.ExitCode(), tail(ag.out.String(), 2000))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the revoked agent keeps running")
	}
	var e struct {
		Error struct {
			Code  string `json:"code"`
			Cause string `json:"cause"`
		} `json:"error"`
	}
	if code, _ := a.do(http.MethodPost, "/api/projects/"+p.ID+"/credentials/source/verify", nil, &e); code != 422 || e.Error.Code != "agent_revoked" {
		t.Fatalf("verify with a revoked agent: %d %+v", code, e)
	}
	var info agentInfo
	a.must(http.MethodGet, "/api/agents/"+agentID, nil, &info)
	if !info.Revoked || info.Connected {
		t.Fatalf("the revoked agent shows %+v", info)
	}
}

// TestMemoryToExchangeAgent migrates into an "Exchange" behind an agent:
// every write, and the creation of the flagged mailbox, happen in the
// customer's network.
func TestMemoryToExchangeAgent(t *testing.T) {
	sb := newSandbox(t, 4, 15)
	onprem := memory.NewStore()
	dst := onprem.AddTenant("exchange", "customer.example")
	for _, m := range sb.sources[:len(sb.sources)-1] {
		dst.AddMailbox(platform.Mailbox{PrimaryAddress: strings.SplitN(m.PrimaryAddress, "@", 2)[0] + "@customer.example", DisplayName: m.DisplayName})
	}
	c := startCluster(t)
	w := tap(t, c.bus.Conn(), dst.Token())
	a, op, accountID := newAccount(t, c, "E2E agent destination")
	_, ag, agentID := memoryCustomer(t, c, a, dst, onprem)

	var p struct {
		ID string `json:"id"`
	}
	a.must(http.MethodPost, "/api/projects", map[string]string{"name": "to exchange via agent", "source": "memory", "destination": "exchange"}, &p)
	a.must(http.MethodPut, "/api/projects/"+p.ID+"/credentials/source", map[string]any{"fields": map[string]string{"endpoint": sb.url, "tenant": "src"}, "secrets": map[string]string{"token": sb.src.Token()}}, nil)
	a.must(http.MethodPut, "/api/projects/"+p.ID+"/credentials/destination", exchangeViaAgent(agentID), nil)
	fullMigration(t, a, op, accountID, p.ID, tenants{src: sb.src, dst: dst, exactlyOnce: func(t *testing.T, id string) {
		for marker, n := range dst.WrittenMarkers(id) {
			if n != 1 {
				t.Errorf("marker %s written %d times", marker, n)
			}
		}
	}})
	if n := w.leaks.Load(); n > 0 {
		t.Errorf("%d bus messages carried the destination's secret", n)
	}
	if l, _ := listening(t, ag.cmd.Process.Pid); len(l) > 0 {
		t.Fatalf("the agent listens on %v", l)
	}
}

// buyCredits adds credits once billing answers (it may still be starting
// on a busy machine). A refusal because billing did not answer bought
// nothing (the balance is asked first), so trying again is safe.
func buyCredits(t *testing.T, op api, accountID string, n int) {
	t.Helper()
	bustest.Eventually(t, time.Minute, "billing to sell credits", func() bool {
		code, _ := op.do(http.MethodPost, "/api/accounts/"+accountID+"/credits", map[string]any{"amount": n, "reference": "e2e agent"}, nil)
		return code == http.StatusOK || code == http.StatusAccepted
	})
}

// TestEWSThroughAgent migrates the EWS sandbox (NTLM, a self-signed
// certificate pinned by fingerprint) that only the agent is told about
// into the memory platform: the EWS connector runs in the agent's
// process, the password never leaves the customer's network, and every
// item arrives exactly once, a re-run adding nothing.
func TestEWSThroughAgent(t *testing.T) {
	sb, ex, fields, secrets := exchangeOrg(t)
	users := sb.Seed(ewssb.SeedSpec{Users: 3, MessagesPerUser: 15, EventsPerUser: 4, ContactsPerUser: 3, Seed: exchangeSeed, Profile: tenantgen.Light})
	store := memory.NewStore()
	dst := store.AddTenant("dst", "dest.example")
	for _, u := range users {
		dst.AddMailbox(platform.Mailbox{PrimaryAddress: strings.SplitN(u, "@", 2)[0] + "@dest.example"})
	}
	msrv := httpTestServer(t, memory.NewHandler(store))
	c := startCluster(t)
	w := tap(t, c.bus.Conn(), secrets["password"])
	a, _, _ := newAccount(t, c, "E2E EWS through an agent")
	_, ag, agentID := newCustomer(t, c, a, secrets["password"]+"\n", "exchange",
		"--ews-url", fields["ewsUrl"], "--user", fields["username"], "--password-stdin",
		"--field", "auth="+fields["auth"], "--field", "certFingerprint="+fields["certFingerprint"])

	var p struct {
		ID string `json:"id"`
	}
	a.must(http.MethodPost, "/api/projects", map[string]string{"name": "EWS through an agent", "source": "exchange", "destination": "memory"}, &p)
	a.must(http.MethodPut, "/api/projects/"+p.ID+"/credentials/source", map[string]any{"fields": map[string]string{
		"agentId": agentID, "ewsUrl": fields["ewsUrl"], "username": fields["username"]}}, nil)
	a.must(http.MethodPut, "/api/projects/"+p.ID+"/credentials/destination", map[string]any{"fields": map[string]string{"endpoint": msrv, "tenant": "dst"}, "secrets": map[string]string{"token": dst.Token()}}, nil)
	verifySide(t, a, p.ID, "source")
	discoverAndMap(t, a, p.ID)
	check := func(stage string) int {
		t.Helper()
		sum := 0
		for _, u := range users {
			d, ok := dst.MailboxByAddress(strings.SplitN(u, "@", 2)[0] + "@dest.example")
			if !ok {
				t.Fatalf("no destination for %s", u)
			}
			want, got := total(t, ex, u), dst.Count(d.ID)
			if got != want {
				t.Errorf("%s: %s holds %d items, Exchange %d", stage, d.PrimaryAddress, got, want)
			}
			for marker, n := range dst.WrittenMarkers(d.ID) {
				if n != 1 {
					t.Errorf("%s: marker %s written %d times", stage, marker, n)
				}
			}
			sum += got
		}
		if t.Failed() || sum == 0 {
			t.FailNow()
		}
		return sum
	}
	runMode(t, a, p.ID, "full")
	n := check("full run")
	runMode(t, a, p.ID, "full")
	if again := check("re-run"); again != n {
		t.Fatalf("the re-run changed the destination from %d to %d items", n, again)
	}
	t.Logf("%d items moved from the EWS sandbox through the agent, each exactly once", n)
	if l, _ := listening(t, ag.cmd.Process.Pid); len(l) > 0 {
		t.Fatalf("the agent listens on %v", l)
	}
	if leaks := w.leaks.Load(); leaks > 0 || w.agent.Load() == 0 {
		t.Fatalf("%d bus messages carried the Exchange password (of %d agent messages seen)", leaks, w.agent.Load())
	}
	if strings.Contains(bustest.Dump(t, c.bus), secrets["password"]) {
		t.Fatal("the Exchange password is in a stream")
	}
	if lines := scanLines(c.logs(), secrets["password"]); len(lines) > 0 {
		t.Fatalf("the Exchange password is in the platform's logs: %s", lines[0])
	}
}
