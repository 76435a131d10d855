package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/services/mailferry/internal/client"
)

// binary is the mailferry binary built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailferry-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mailferry")
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-o", binary, "./services/mailferry")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mailferry:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above the test directory")
		}
		dir = parent
	}
}

// logBuffer keeps a process's output for assertions and failure reports.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// proc is a running mailferry process.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *logBuffer
	done chan struct{}
}

// startProc starts `mailferry args...` with env added to the environment.
func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &logBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("---- output of %s ----\n%s", name, tail(out.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// stop asks the process to end and kills it if it does not.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the process at once, as a crash or an OOM kill would.
func (p *proc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// sandbox is a source and a destination tenant served over real HTTP.
type sandbox struct {
	url      string
	src, dst *memory.Tenant
	sources  []platform.Mailbox
}

// newSandbox seeds n source mailboxes of items each; the destination has
// matching mailboxes under its own domain, except the last one (an
// exception for the mapping to surface).
func newSandbox(t *testing.T, n, items int) *sandbox {
	t.Helper()
	store := memory.NewStore()
	src := store.AddTenant("src", "source.example")
	dst := store.AddTenant("dst", "dest.example")
	mbs := memory.Seed(src, memory.SeedSpec{Mailboxes: n, ItemsPerMailbox: items, Seed: 42})
	for _, m := range mbs[:len(mbs)-1] {
		local := strings.SplitN(m.PrimaryAddress, "@", 2)[0]
		dst.AddMailbox(platform.Mailbox{PrimaryAddress: local + "@dest.example", DisplayName: m.DisplayName})
	}
	srv := httptest.NewServer(memory.NewHandler(store))
	t.Cleanup(srv.Close)
	return &sandbox{url: srv.URL, src: src, dst: dst, sources: mbs}
}

// api is a test's view of the API.
type api struct {
	t *testing.T
	c *client.Client
}

func (a api) do(method, path string, body, out any) (int, error) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	data, code, err := a.c.Do(ctx, method, path, body)
	if out != nil && len(data) > 0 {
		_ = json.Unmarshal(data, out)
	}
	return code, err
}

func (a api) must(method, path string, body, out any) {
	a.t.Helper()
	if _, err := a.do(method, path, body, out); err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
}

func waitHTTP(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	bustest.Eventually(t, timeout, "API at "+url, func() bool {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

type run struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// waitRun polls a run until it reaches a final state.
func (a api) waitRun(id string, timeout time.Duration) run {
	a.t.Helper()
	var r run
	bustest.Eventually(a.t, timeout, "run "+id+" to end", func() bool {
		r = run{}
		a.do("GET", "/api/runs/"+id, nil, &r)
		switch r.State {
		case "completed", "failed", "cancelled", "rejected":
			return true
		}
		return false
	})
	return r
}

type balance struct {
	Purchased int `json:"purchased"`
	Consumed  int `json:"consumed"`
	Held      int `json:"held"`
	Available int `json:"available"`
}

func vaultKey() string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)) }

// scanLines returns the lines of s containing any of needles.
func scanLines(s string, needles ...string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		for _, n := range needles {
			if strings.Contains(sc.Text(), n) {
				out = append(out, sc.Text())
			}
		}
	}
	return out
}

func httpTestServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func clientFor(apiURL, key string) *client.Client { return client.New(apiURL, key) }
