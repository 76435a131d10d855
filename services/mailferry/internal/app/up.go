package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/mailferry/internal/client"
)

// UpConfig configures `mailferry up`.
type UpConfig struct {
	// Demo seeds sandbox tenants, a demo account with credits and a demo
	// project, so a fresh install has something to migrate.
	Demo        bool   `env:"MAILFERRY_DEMO" envDefault:"true"`
	SandboxAddr string `env:"MAILFERRY_SANDBOX_ADDR" envDefault:"127.0.0.1:0"`
	// DemoMailboxes and DemoItems size the demo source tenant.
	DemoMailboxes int `env:"MAILFERRY_DEMO_MAILBOXES" envDefault:"25"`
	DemoItems     int `env:"MAILFERRY_DEMO_ITEMS" envDefault:"40"`
}

// Up runs every service in this process on one embedded (or external) bus,
// each service on its own connection exactly as if it ran alone.
func Up(ctx context.Context, stdout, stderr io.Writer) error {
	cfg, err := svc.LoadConfig()
	if err != nil {
		return err
	}
	upCfg, err := env.ParseAs[UpConfig]()
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.Bus.DataDir, err = filepath.Abs(cfg.Bus.DataDir); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Bus.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %w", cfg.Bus.DataDir, err)
	}
	opKey := os.Getenv("MAILFERRY_OPERATOR_KEY")
	if opKey == "" {
		if opKey, err = fileSecret(filepath.Join(cfg.Bus.DataDir, "operator.key")); err != nil {
			return err
		}
		_ = os.Setenv("MAILFERRY_OPERATOR_KEY", opKey)
	}
	// One machine is the place to try mailferry: the sandbox platform is on
	// unless switched off explicitly.
	if _, set := os.LookupEnv("MAILFERRY_ALLOW_SANDBOX"); !set {
		_ = os.Setenv("MAILFERRY_ALLOW_SANDBOX", "true")
	}
	log := svc.Logger(stderr, "mailferry", cfg.LogLevel)
	stopTracing, err := svc.Tracing(ctx, "mailferry")
	if err != nil {
		return err
	}
	defer stopTracing()
	primary, err := svc.Open(ctx, "mailferry", cfg, log)
	if err != nil {
		return err
	}
	defer primary.Bus.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(ServiceNames())+1)
	var apiAddr func(context.Context) (string, error)
	for _, name := range ServiceNames() {
		name := name
		slog := svc.Logger(stderr, name, cfg.LogLevel)
		scfg := cfg
		scfg.Bus.URL = primary.Bus.URL()
		scfg.Bus.Name = name
		b, err := bus.Open(ctx, scfg.Bus, slog)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer b.Close()
		d, err := svc.WithBus(ctx, name, b, cfg, slog)
		if err != nil {
			return err
		}
		var run func(context.Context) error
		if name == "project" {
			p, err := newProject(d)
			if err != nil {
				return err
			}
			apiAddr, run = p.Addr, p.Run
		} else {
			r, err := runnerFor(name)
			if err != nil {
				return err
			}
			run = func(ctx context.Context) error { return r(ctx, d) }
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	addr, err := apiAddr(wctx)
	wcancel()
	if err != nil {
		return fmt.Errorf("the API did not start: %w", err)
	}
	api := "http://" + addr
	var demo *demoInfo
	if upCfg.Demo {
		demo, err = startDemo(ctx, cfg.Bus.DataDir, upCfg, api, opKey, log)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("demo setup: %w", err)
		}
	}
	printBanner(stdout, api, primary.Bus.RedactedURL(), cfg.Bus.DataDir, demo)
	select {
	case <-ctx.Done():
	case err = <-errc:
		log.Error("a service stopped; shutting down", "error", err)
	}
	cancel()
	wg.Wait()
	return err
}

// fileSecret returns the secret kept in path, creating it on first use, so
// restarts of the single-machine mode keep working keys.
func fileSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	s := "mfop_" + base64.RawURLEncoding.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", err
	}
	return s, nil
}

type demoInfo struct {
	SandboxURL string `json:"sandboxUrl"`
	AccountID  string `json:"accountId"`
	APIKey     string `json:"apiKey"`
	ProjectID  string `json:"projectId"`
	SrcToken   string `json:"sourceToken"`
	DstToken   string `json:"destinationToken"`
}

// startDemo serves two sandbox tenants and, on the first start, creates a
// demo account, credits and a project through the public API. What it
// created is remembered in the data directory (demo.json, mode 0600).
func startDemo(ctx context.Context, dataDir string, cfg UpConfig, api, opKey string, log *slog.Logger) (*demoInfo, error) {
	path := filepath.Join(dataDir, "demo.json")
	var info demoInfo
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &info)
	}
	if info.SrcToken == "" {
		info.SrcToken, _ = fileSecretValue()
		info.DstToken, _ = fileSecretValue()
	}
	store := memory.NewStore()
	src := store.AddTenantWithToken("contoso", "contoso.example", info.SrcToken)
	dst := store.AddTenantWithToken("fabrikam", "fabrikam.example", info.DstToken)
	mbs := memory.Seed(src, memory.SeedSpec{Mailboxes: cfg.DemoMailboxes, ItemsPerMailbox: cfg.DemoItems, Seed: 1})
	// The destination has the same people under its own domain, except the
	// last one, so the mapping shows an exception to resolve.
	for i, m := range mbs {
		if i == len(mbs)-1 {
			break
		}
		local := strings.SplitN(m.PrimaryAddress, "@", 2)[0]
		dst.AddMailbox(memoryMailbox(local+"@fabrikam.example", m.DisplayName))
	}
	ln, err := net.Listen("tcp", cfg.SandboxAddr)
	if err != nil {
		return nil, fmt.Errorf("sandbox listen on MAILFERRY_SANDBOX_ADDR %s: %w", cfg.SandboxAddr, err)
	}
	hs := &http.Server{Handler: memory.NewHandler(store), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	go func() { <-ctx.Done(); _ = hs.Close() }()
	info.SandboxURL = "http://" + ln.Addr().String()

	op := client.New(api, opKey)
	if info.AccountID == "" {
		var acct struct {
			AccountID string `json:"accountId"`
			APIKey    string `json:"apiKey"`
		}
		if err := op.JSON(ctx, http.MethodPost, "/api/accounts", map[string]string{"name": "Demo hosting provider"}, &acct); err != nil {
			return nil, err
		}
		info.AccountID, info.APIKey = acct.AccountID, acct.APIKey
		if err := op.JSON(ctx, http.MethodPost, "/api/accounts/"+acct.AccountID+"/credits", map[string]any{"amount": 100, "reference": "demo"}, nil); err != nil {
			return nil, err
		}
		user := client.New(api, info.APIKey)
		var p struct {
			ID string `json:"id"`
		}
		if err := user.JSON(ctx, http.MethodPost, "/api/projects", map[string]string{"name": "Contoso to Fabrikam (sandbox)", "source": "memory", "destination": "memory"}, &p); err != nil {
			return nil, err
		}
		info.ProjectID = p.ID
	}
	// The sandbox address changes between starts: point the demo project's
	// credentials at this one.
	user := client.New(api, info.APIKey)
	for side, t := range map[string]*memory.Tenant{"source": src, "destination": dst} {
		body := map[string]any{"fields": map[string]string{"endpoint": info.SandboxURL, "tenant": t.Name()}, "secrets": map[string]string{"token": t.Token()}}
		if err := user.JSON(ctx, http.MethodPut, "/api/projects/"+info.ProjectID+"/credentials/"+side, body, nil); err != nil {
			return nil, err
		}
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	log.Info("demo ready", "project_id", info.ProjectID, "sandbox", info.SandboxURL)
	return &info, nil
}

func fileSecretValue() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", errors.New("no randomness")
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func printBanner(w io.Writer, api, natsURL, dataDir string, demo *demoInfo) {
	fmt.Fprintf(w, "\nmailferry is up.\n\n")
	fmt.Fprintf(w, "  API:      %s   (OpenAPI: %s/api/openapi.json)\n", api, api)
	fmt.Fprintf(w, "  Console:  %s/console/   (sign in with an API key)\n", api)
	fmt.Fprintf(w, "  NATS:     %s   (embedded JetStream; other processes may join with MAILFERRY_NATS_URL)\n", natsURL)
	fmt.Fprintf(w, "  Data:     %s   (operator key in operator.key)\n", dataDir)
	if demo != nil {
		fmt.Fprintf(w, "  Sandbox:  %s   (tenants contoso -> fabrikam)\n\n", demo.SandboxURL)
		fmt.Fprintf(w, "Try it:\n")
		fmt.Fprintf(w, "  export MAILFERRY_API_URL=%s MAILFERRY_API_KEY=%s\n", api, demo.APIKey)
		fmt.Fprintf(w, "  mailferry run start %s --mode discovery --wait\n", demo.ProjectID)
		fmt.Fprintf(w, "  mailferry mapping show %s --exceptions\n", demo.ProjectID)
		fmt.Fprintf(w, "  mailferry run start %s --mode full --wait\n", demo.ProjectID)
		fmt.Fprintf(w, "  mailferry credits balance\n")
		fmt.Fprintf(w, "(`go run ./services/mailferry` stands in for `mailferry` until you install it; bin/mailferry after make build.)\n")
	}
	fmt.Fprintln(w)
}
