package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/mailferry/internal/client"
)

// TestOneRunIsOneTrace: the request that starts a full run, billing's hold,
// the project's approval, transfer's start and each mailbox's transfer are
// spans of one trace, linked through the bus headers.
func TestOneRunIsOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("MAILFERRY_HTTP_ADDR", addr)
	t.Setenv("MAILFERRY_OPERATOR_KEY", "op")
	t.Setenv("MAILFERRY_TRANSFER_SHARDS", "2")
	t.Setenv("MAILFERRY_ALLOW_SANDBOX", "true")

	srv := bustest.RunServer(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := svc.Config{VaultKey: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))}
	done := make(chan struct{}, len(ServiceNames()))
	for _, name := range ServiceNames() {
		b := bustest.Open(t, srv.ClientURL())
		d, err := svc.WithBus(ctx, name, b, cfg, bustest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		r, err := runnerFor(name)
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = r(ctx, d); done <- struct{}{} }()
	}
	t.Cleanup(func() {
		cancel()
		for range ServiceNames() {
			<-done
		}
	})

	store := memory.NewStore()
	src := store.AddTenant("src", "a.example")
	dst := store.AddTenant("dst", "b.example")
	for _, m := range memory.Seed(src, memory.SeedSpec{Mailboxes: 2, ItemsPerMailbox: 5, Seed: 3}) {
		dst.AddMailbox(platform.Mailbox{PrimaryAddress: strings.SplitN(m.PrimaryAddress, "@", 2)[0] + "@b.example"})
	}
	sandbox := httptest.NewServer(memory.NewHandler(store))
	defer sandbox.Close()

	api := "http://" + addr
	bustest.Eventually(t, 30*time.Second, "API", func() bool {
		resp, err := http.Get(api + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	op := client.New(api, "op")
	var acct struct {
		AccountID string `json:"accountId"`
		APIKey    string `json:"apiKey"`
	}
	must(t, op.JSON(ctx, "POST", "/api/accounts", map[string]string{"name": "t"}, &acct))
	must(t, op.JSON(ctx, "POST", "/api/accounts/"+acct.AccountID+"/credits", map[string]any{"amount": 5}, nil))
	c := client.New(api, acct.APIKey)
	var p struct {
		ID string `json:"id"`
	}
	must(t, c.JSON(ctx, "POST", "/api/projects", map[string]string{"name": "t", "source": "memory", "destination": "memory"}, &p))
	for side, tn := range map[string]*memory.Tenant{"source": src, "destination": dst} {
		must(t, c.JSON(ctx, "PUT", "/api/projects/"+p.ID+"/credentials/"+side, map[string]any{"fields": map[string]string{"endpoint": sandbox.URL, "tenant": tn.Name()}, "secrets": map[string]string{"token": tn.Token()}}, nil))
	}
	var created struct {
		Run struct {
			ID string `json:"id"`
		} `json:"run"`
	}
	waitRun := func(id string) {
		bustest.Eventually(t, 2*time.Minute, "run "+id, func() bool {
			var r struct {
				State string `json:"state"`
			}
			_ = c.JSON(ctx, "GET", "/api/runs/"+id, nil, &r)
			return r.State == "completed"
		})
	}
	must(t, c.JSON(ctx, "POST", "/api/projects/"+p.ID+"/runs", map[string]string{"mode": "discovery"}, &created))
	waitRun(created.Run.ID)
	exp.Reset()
	must(t, c.JSON(ctx, "POST", "/api/projects/"+p.ID+"/runs", map[string]string{"mode": "full"}, &created))
	waitRun(created.Run.ID)

	var root sdktrace.ReadOnlySpan
	for _, s := range exp.GetSpans().Snapshots() {
		if s.Name() == "POST /api/projects/{projectID}/runs" {
			root = s
		}
	}
	if root == nil {
		t.Fatal("no span for the request that started the run")
	}
	want := map[string]bool{
		"billing-runs:handle project.run_requested":        false,
		"project-billing:handle billing.credits_held":      false,
		"transfer-runs:handle project.run_approved":        false,
		"transfer mailbox":                                 false,
		"billing-transfer:handle transfer.mailbox_started": false,
	}
	bustest.Eventually(t, 30*time.Second, "every service's span in the run's trace", func() bool {
		for _, s := range exp.GetSpans().Snapshots() {
			if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
				continue
			}
			name := s.Name()
			for _, a := range s.Attributes() {
				if a.Key == "messaging.consumer.group.name" {
					name = a.Value.AsString() + ":" + name
				}
			}
			if _, ok := want[name]; ok {
				want[name] = true
			}
		}
		for _, seen := range want {
			if !seen {
				return false
			}
		}
		return true
	})
	for name, seen := range want {
		if !seen {
			t.Errorf("span %q is not in the run's trace", name)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
