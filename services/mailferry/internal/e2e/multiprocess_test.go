package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/services/mailferry/internal/app"
	"github.com/mailferry/mailferry/services/mailferry/internal/client"
)

const operatorKey = "e2e-operator-key"

// cluster is the six services as separate OS processes against one
// nats-server.
type cluster struct {
	api   string
	env   []string
	procs map[string][]*proc
	bus   *bus.Bus
}

func startCluster(t *testing.T, extraEnv ...string) *cluster {
	t.Helper()
	srv := bustest.RunServer(t, "")
	addr := freePort(t)
	env := append([]string{
		"MAILFERRY_NATS_URL=" + srv.ClientURL(),
		"MAILFERRY_VAULT_KEY=" + vaultKey(),
		"MAILFERRY_OPERATOR_KEY=" + operatorKey,
		"MAILFERRY_HTTP_ADDR=" + addr,
		"MAILFERRY_DATA_DIR=" + t.TempDir(),
		"MAILFERRY_TRANSFER_SHARDS=4",
		"MAILFERRY_TRANSFER_LEASE=2s",
		"MAILFERRY_TRANSFER_ACK_WAIT=4s",
		"MAILFERRY_ACK_WAIT=5s",
		"MAILFERRY_LOG_LEVEL=info",
		"OTEL_TRACES_EXPORTER=none",
		"MAILFERRY_ALLOW_SANDBOX=true",
	}, extraEnv...)
	c := &cluster{api: "http://" + addr, env: env, procs: map[string][]*proc{}}
	for _, name := range app.ServiceNames() {
		c.add(t, name)
	}
	waitHTTP(t, c.api, 60*time.Second)
	c.bus = bustest.Open(t, srv.ClientURL())
	return c
}

func (c *cluster) add(t *testing.T, name string) *proc {
	p := startProc(t, name, c.env, "serve", name)
	c.procs[name] = append(c.procs[name], p)
	return p
}

func (c *cluster) logs() string {
	var sb strings.Builder
	for _, ps := range c.procs {
		for _, p := range ps {
			sb.WriteString(p.out.String())
		}
	}
	return sb.String()
}

// setup creates an account with credits and a memory-to-memory project.
func setup(t *testing.T, apiURL string, sb *sandbox, credits int) (a, op api, accountID, projectID string) {
	t.Helper()
	op = api{t: t, c: client.New(apiURL, operatorKey)}
	var acct struct {
		AccountID string `json:"accountId"`
		APIKey    string `json:"apiKey"`
	}
	op.must(http.MethodPost, "/api/accounts", map[string]string{"name": "E2E hosting"}, &acct)
	if credits > 0 {
		op.must(http.MethodPost, "/api/accounts/"+acct.AccountID+"/credits", map[string]any{"amount": credits, "reference": "e2e"}, nil)
	}
	a = api{t: t, c: client.New(apiURL, acct.APIKey)}
	var p struct {
		ID string `json:"id"`
	}
	a.must(http.MethodPost, "/api/projects", map[string]string{"name": "e2e", "source": "memory", "destination": "memory"}, &p)
	for side, tn := range map[string]string{"source": "src", "destination": "dst"} {
		tok := sb.src.Token()
		if tn == "dst" {
			tok = sb.dst.Token()
		}
		a.must(http.MethodPut, "/api/projects/"+p.ID+"/credentials/"+side, map[string]any{
			"fields": map[string]string{"endpoint": sb.url, "tenant": tn}, "secrets": map[string]string{"token": tok}}, nil)
	}
	return a, op, acct.AccountID, p.ID
}

func (sb *sandbox) tenants() tenants {
	return tenants{
		url: sb.url, src: sb.src, dst: sb.dst,
		exactlyOnce: func(t *testing.T, dstMailboxID string) {
			for marker, n := range sb.dst.WrittenMarkers(dstMailboxID) {
				if n != 1 {
					t.Errorf("marker %s written %d times", marker, n)
				}
			}
		},
	}
}

// TestSeparateProcesses drives a project from creation to a completed full
// run with every service in its own OS process.
func TestSeparateProcesses(t *testing.T) {
	sb := newSandbox(t, 6, 30)
	c := startCluster(t)
	a, op, acct, pid := setup(t, c.api, sb, 20)
	fullMigration(t, a, op, acct, pid, sb.tenants())

	// No secret travelled on the bus or reached a log line.
	dump := bustest.Dump(t, c.bus)
	for _, secret := range []string{sb.src.Token(), sb.dst.Token(), vaultKey()} {
		if strings.Contains(dump, secret) {
			t.Errorf("a secret is on the bus")
		}
		if lines := scanLines(c.logs(), secret); len(lines) > 0 {
			t.Errorf("a secret is in the logs: %s", lines[0])
		}
	}
	if !strings.Contains(dump, "transfer.mailbox_completed") {
		t.Fatal("the bus dump is empty; the secret scan proved nothing")
	}
}
