package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/services/mailferry/internal/client"
)

// TestUp runs the same migration inside `mailferry up`, on the demo it
// seeds: embedded NATS, every service in one process, sandbox tenants.
func TestUp(t *testing.T) {
	dataDir := t.TempDir()
	addr := freePort(t)
	p := startProc(t, "up", []string{
		"MAILFERRY_DATA_DIR=" + dataDir,
		"MAILFERRY_HTTP_ADDR=" + addr,
		"MAILFERRY_DEMO_MAILBOXES=5",
		"MAILFERRY_DEMO_ITEMS=20",
		"MAILFERRY_TRANSFER_SHARDS=4",
		"OTEL_TRACES_EXPORTER=none",
	}, "up")
	banner := regexp.MustCompile(`MAILFERRY_API_KEY=(mf_\S+)`)
	bustest.Eventually(t, 2*time.Minute, "the banner", func() bool { return banner.MatchString(p.out.String()) })
	if !regexp.MustCompile(`API:\s+http://` + regexp.QuoteMeta(addr)).MatchString(p.out.String()) {
		t.Fatalf("banner does not show the API address:\n%s", p.out.String())
	}
	var demo struct {
		SandboxURL string `json:"sandboxUrl"`
		AccountID  string `json:"accountId"`
		APIKey     string `json:"apiKey"`
		ProjectID  string `json:"projectId"`
		SrcToken   string `json:"sourceToken"`
		DstToken   string `json:"destinationToken"`
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &demo); err != nil {
		t.Fatal(err)
	}
	opKey, err := os.ReadFile(filepath.Join(dataDir, "operator.key"))
	if err != nil {
		t.Fatal(err)
	}
	apiURL := "http://" + addr
	a := api{t: t, c: client.New(apiURL, demo.APIKey)}
	op := api{t: t, c: client.New(apiURL, string(opKey[:len(opKey)-1]))}
	tn := tenants{
		src: memory.NewClient(demo.SandboxURL, "contoso", demo.SrcToken, nil),
		dst: memory.NewClient(demo.SandboxURL, "fabrikam", demo.DstToken, nil),
	}
	fullMigration(t, a, op, demo.AccountID, demo.ProjectID, tn)

	// The CLI speaks the same API.
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), "MAILFERRY_API_URL="+apiURL, "MAILFERRY_API_KEY="+demo.APIKey)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mailferry %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := cli("run", "list", demo.ProjectID); strings.Count(out, `"state": "completed"`) < 4 {
		t.Fatalf("run list shows fewer than the 4 completed runs:\n%s", out)
	}
	if out := cli("credits", "balance"); !strings.Contains(out, `"consumed": 5`) {
		t.Fatalf("credits balance:\n%s", out)
	}
	cmd := exec.Command(binary, "project", "create", "--name", "x", "--source", "lotus", "--destination", "m365")
	cmd.Env = append(os.Environ(), "MAILFERRY_API_URL="+apiURL, "MAILFERRY_API_KEY="+demo.APIKey)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "invalid_input: source:") {
		t.Fatalf("a bad CLI request must fail with the coded error: %v\n%s", err, out)
	}
}
