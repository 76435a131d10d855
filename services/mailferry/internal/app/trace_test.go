package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/exporter"
	"github.com/mailferry/mailferry/services/mailferry/internal/client"
)

// Secrets of the test platform, which no span may carry.
const (
	testOperatorKey = "op-key-7c1e9b55"
	mailboxes       = 2
)

var testVaultKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))

// testPlatform is every service of ServiceNames in this process, each on
// its own bus connection, and two sandbox tenants over HTTP.
type testPlatform struct {
	bus      *bus.Bus
	api      string
	src, dst *memory.Tenant
	sandbox  string
	apiKey   string
}

// startPlatform runs the services until the test ends. The environment
// (MAILFERRY_KAFKA_BROKERS, say) must be set before.
func startPlatform(t *testing.T) *testPlatform {
	t.Helper()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("MAILFERRY_HTTP_ADDR", addr)
	t.Setenv("MAILFERRY_OPERATOR_KEY", testOperatorKey)
	t.Setenv("MAILFERRY_TRANSFER_SHARDS", "2")
	t.Setenv("MAILFERRY_ALLOW_SANDBOX", "true")
	// Telemetry keeps its analytics store under the data directory.
	t.Setenv("MAILFERRY_DATA_DIR", t.TempDir())

	srv := bustest.RunServer(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	cfg := svc.Config{VaultKey: testVaultKey}
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

	p := &testPlatform{bus: bustest.Open(t, srv.ClientURL()), api: "http://" + addr}
	store := memory.NewStore()
	p.src = store.AddTenant("src", "a.example")
	p.dst = store.AddTenant("dst", "b.example")
	for _, m := range memory.Seed(p.src, memory.SeedSpec{Mailboxes: mailboxes, ItemsPerMailbox: 12, Seed: 3}) {
		p.dst.AddMailbox(platform.Mailbox{PrimaryAddress: strings.SplitN(m.PrimaryAddress, "@", 2)[0] + "@b.example"})
	}
	// Pages of two items: several batches per mailbox.
	p.src.SetPageSize(2)
	sandbox := httptest.NewServer(memory.NewHandler(store))
	t.Cleanup(sandbox.Close)
	p.sandbox = sandbox.URL
	bustest.Eventually(t, 30*time.Second, "API", func() bool {
		resp, err := http.Get(p.api + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return p
}

// project creates an account with credits and a project with both
// sandbox tenants' credentials, and runs a discovery; it returns the
// project id.
func (p *testPlatform) project(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	op := client.New(p.api, testOperatorKey)
	var acct struct {
		AccountID string `json:"accountId"`
		APIKey    string `json:"apiKey"`
	}
	must(t, op.JSON(ctx, "POST", "/api/accounts", map[string]string{"name": "t"}, &acct))
	must(t, op.JSON(ctx, "POST", "/api/accounts/"+acct.AccountID+"/credits", map[string]any{"amount": 5}, nil))
	p.apiKey = acct.APIKey
	c := client.New(p.api, acct.APIKey)
	var pr struct {
		ID string `json:"id"`
	}
	must(t, c.JSON(ctx, "POST", "/api/projects", map[string]string{"name": "t", "source": "memory", "destination": "memory"}, &pr))
	for side, tn := range map[string]*memory.Tenant{"source": p.src, "destination": p.dst} {
		must(t, c.JSON(ctx, "PUT", "/api/projects/"+pr.ID+"/credentials/"+side, map[string]any{"fields": map[string]string{"endpoint": p.sandbox, "tenant": tn.Name()}, "secrets": map[string]string{"token": tn.Token()}}, nil))
	}
	p.run(t, pr.ID, "discovery")
	return pr.ID
}

// run starts a run of the project and waits for it to complete.
func (p *testPlatform) run(t *testing.T, projectID, mode string) string {
	t.Helper()
	ctx := context.Background()
	c := client.New(p.api, p.apiKey)
	var created struct {
		Run struct {
			ID string `json:"id"`
		} `json:"run"`
	}
	must(t, c.JSON(ctx, "POST", "/api/projects/"+projectID+"/runs", map[string]string{"mode": mode}, &created))
	bustest.Eventually(t, 2*time.Minute, "run "+created.Run.ID, func() bool {
		var r struct {
			State string `json:"state"`
		}
		_ = c.JSON(ctx, "GET", "/api/runs/"+created.Run.ID, nil, &r)
		return r.State == "completed"
	})
	return created.Run.ID
}

func attr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value, true
		}
	}
	return attribute.Value{}, false
}

// spanName names handler spans after their consumer, so the saga's steps
// are told apart.
func spanName(s sdktrace.ReadOnlySpan) string {
	if v, ok := attr(s, "messaging.consumer.group.name"); ok {
		return v.AsString() + ":" + s.Name()
	}
	return s.Name()
}

// TestOneRunIsOneTrace: one full run is one trace whose tree is the path
// the work took: the API request, billing's hold and the project's approval
// (the saga, through the bus headers), transfer's run, one span per
// mailbox under it and one per page of items under each mailbox, with the
// run, project, mailbox and counts as attributes and no secret anywhere.
// Not parallel: it installs the global tracer provider.
func TestOneRunIsOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	p := startPlatform(t)
	projectID := p.project(t)
	exp.Reset()
	runID := p.run(t, projectID, "full")

	var root sdktrace.ReadOnlySpan
	for _, s := range exp.GetSpans().Snapshots() {
		if s.Name() == "POST /api/projects/{projectID}/runs" {
			root = s
		}
	}
	if root == nil {
		t.Fatal("no span for the request that started the run")
	}
	traceID := root.SpanContext().TraceID()
	// The run is complete when the API says so; the spans of handlers
	// still reacting to its last events end a moment later.
	var spans []sdktrace.ReadOnlySpan
	byName := map[string][]sdktrace.ReadOnlySpan{}
	bustest.Eventually(t, 30*time.Second, "every step's span in the run's trace", func() bool {
		spans = exp.GetSpans().Snapshots()
		byName = map[string][]sdktrace.ReadOnlySpan{}
		for _, s := range spans {
			if s.SpanContext().TraceID() == traceID {
				byName[spanName(s)] = append(byName[spanName(s)], s)
			}
		}
		return len(byName["transfer mailbox"]) == mailboxes && len(byName["billing-transfer:handle transfer.mailbox_started"]) == mailboxes &&
			len(byName["billing-transfer:handle transfer.run_finished"]) > 0
	})

	// The saga, step by step: each span's parent is the step before.
	one := func(name string) sdktrace.ReadOnlySpan {
		t.Helper()
		if len(byName[name]) != 1 {
			t.Fatalf("%d spans %q in the run's trace, want 1 (have %d names)", len(byName[name]), name, len(byName))
		}
		return byName[name][0]
	}
	parentIs := func(child, parent sdktrace.ReadOnlySpan) {
		t.Helper()
		if child.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %q has parent %s, want %q (%s)", spanName(child), child.Parent().SpanID(), spanName(parent), parent.SpanContext().SpanID())
		}
	}
	hold := one("billing-runs:handle project.run_requested")
	approve := one("project-billing:handle billing.credits_held")
	start := one("transfer-runs:handle project.run_approved")
	run := one("transfer run")
	parentIs(hold, root)
	parentIs(approve, hold)
	parentIs(start, approve)
	parentIs(run, start)
	wantAttrs := func(s sdktrace.ReadOnlySpan, kv map[string]string) {
		t.Helper()
		for k, want := range kv {
			if v, ok := attr(s, k); !ok || v.Emit() != want {
				t.Errorf("span %q: %s = %q, want %q", spanName(s), k, v.Emit(), want)
			}
		}
	}
	wantAttrs(run, map[string]string{"mailferry.run_id": runID, "mailferry.project_id": projectID, "mailferry.mode": "full",
		"mailferry.mailboxes": fmt.Sprint(mailboxes)})

	// One span per mailbox under the run, pages of items under each.
	pages := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	for _, s := range byName["transfer page"] {
		pages[s.Parent().SpanID()] = append(pages[s.Parent().SpanID()], s)
	}
	seenMailbox := map[string]bool{}
	for _, m := range byName["transfer mailbox"] {
		parentIs(m, run)
		wantAttrs(m, map[string]string{"mailferry.run_id": runID, "mailferry.project_id": projectID, "mailferry.outcome": "completed"})
		mb, _ := attr(m, "mailferry.mailbox")
		if mb.AsString() == "" || seenMailbox[mb.AsString()] {
			t.Errorf("mailbox span without its own mailbox key: %q", mb.AsString())
		}
		seenMailbox[mb.AsString()] = true
		copied, _ := attr(m, "mailferry.items.copied")
		bytes, _ := attr(m, "mailferry.bytes")
		ps := pages[m.SpanContext().SpanID()]
		var pageCopied, pageBytes int64
		multiPage := false
		for _, pg := range ps {
			wantAttrs(pg, map[string]string{"mailferry.run_id": runID})
			c, _ := attr(pg, "mailferry.items.copied")
			b, _ := attr(pg, "mailferry.bytes")
			pageCopied, pageBytes = pageCopied+c.AsInt64(), pageBytes+b.AsInt64()
			if last, _ := attr(pg, "mailferry.last_page"); !last.AsBool() {
				multiPage = true
			}
		}
		if copied.AsInt64() == 0 || pageCopied != copied.AsInt64() || pageBytes != bytes.AsInt64() {
			t.Errorf("mailbox %s: %d items and %d bytes copied, its %d page spans add up to %d and %d",
				mb.AsString(), copied.AsInt64(), bytes.AsInt64(), len(ps), pageCopied, pageBytes)
		}
		if !multiPage {
			t.Errorf("mailbox %s: no folder took more than one page of two items", mb.AsString())
		}
	}
	mailboxSpans := map[trace.SpanID]bool{}
	for _, m := range byName["transfer mailbox"] {
		mailboxSpans[m.SpanContext().SpanID()] = true
	}
	for _, s := range byName["billing-transfer:handle transfer.mailbox_started"] {
		if !mailboxSpans[s.Parent().SpanID()] {
			t.Errorf("billing's charge of a mailbox is not under that mailbox's span")
		}
	}

	// No secret in any span of the test, in attributes or events.
	secrets := []string{testOperatorKey, testVaultKey, p.apiKey, p.src.Token(), p.dst.Token()}
	for _, s := range spans {
		kvs := append([]attribute.KeyValue{}, s.Attributes()...)
		for _, e := range s.Events() {
			kvs = append(kvs, e.Attributes...)
		}
		for _, kv := range kvs {
			k := strings.ToLower(string(kv.Key))
			for _, bad := range []string{"secret", "password", "token", "apikey", "api_key", "authorization", "credential"} {
				if strings.Contains(k, bad) {
					t.Errorf("span %q has an attribute named %s", spanName(s), kv.Key)
				}
			}
			for _, sec := range secrets {
				if sec != "" && strings.Contains(kv.Value.Emit(), sec) {
					t.Errorf("span %q: attribute %s carries a secret", spanName(s), kv.Key)
				}
			}
		}
	}
}

// TestOneRunIsExportedToKafka: with MAILFERRY_KAFKA_BROKERS set, every
// domain event a discovery and a full run put on the bus reaches Kafka
// exactly once, in its context's topic, keyed by its aggregate id, with the
// envelope in headers; mailbox jobs and nothing else.
func TestOneRunIsExportedToKafka(t *testing.T) {
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kafka.Close)
	t.Setenv("MAILFERRY_KAFKA_BROKERS", strings.Join(kafka.ListenAddrs(), ","))
	p := startPlatform(t)
	p.run(t, p.project(t), "full")

	// What the bus holds, by event id, from the streams the catalog's
	// events live on; the work queue's jobs are gone by now, and must not
	// be exported anyway.
	type busEvent struct{ typ, subject, corr string }
	onBus := map[string]busEvent{}
	read := func() {
		ctx := context.Background()
		for _, st := range events.Streams {
			if st.WorkQueue || st.Name == "POISON" {
				continue
			}
			s, err := p.bus.JetStream().Stream(ctx, st.Name)
			if err != nil {
				t.Fatal(err)
			}
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
				m, err := s.GetMsg(ctx, seq)
				if err != nil {
					continue
				}
				// Event ids are unique per stream, not across them: billing
				// records a purchase under the id of the project's request.
				onBus[m.Header.Get(bus.HeaderType)+" "+m.Header.Get(nats.MsgIdHdr)] = busEvent{typ: m.Header.Get(bus.HeaderType), subject: m.Subject, corr: m.Header.Get(bus.HeaderCorrelation)}
			}
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka.ListenAddrs()...), kgo.ConsumeRegex(), kgo.ConsumeTopics(`^mailferry\..*`),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	inKafka := map[string][]*kgo.Record{}
	bustest.Eventually(t, time.Minute, "every event of the run in Kafka", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var typ, id string
			for _, h := range r.Headers {
				switch h.Key {
				case exporter.HeaderEventID:
					id = string(h.Value)
				case bus.HeaderType:
					typ = string(h.Value)
				}
			}
			inKafka[typ+" "+id] = append(inKafka[typ+" "+id], r)
		})
		read()
		for id := range onBus {
			if len(inKafka[id]) == 0 {
				return false
			}
		}
		return len(onBus) > 0
	})
	types := map[string]bool{}
	for id, e := range onBus {
		recs := inKafka[id]
		if len(recs) != 1 {
			t.Errorf("%s %s is in Kafka %d times", e.typ, id, len(recs))
			for _, r := range recs {
				t.Logf("  %s/%d@%d %v", r.Topic, r.Partition, r.Offset, r.Headers)
			}
			continue
		}
		r := recs[0]
		types[e.typ] = true
		ctxName, _, _ := strings.Cut(e.typ, ".")
		spec, _ := events.Lookup(e.typ)
		idAt := strings.Count(spec.Subject[:strings.Index(spec.Subject, "{")], ".")
		key := strings.Join(strings.Split(e.subject, ".")[idAt:], ".")
		hdr := map[string]string{}
		for _, h := range r.Headers {
			hdr[h.Key] = string(h.Value)
		}
		if r.Topic != "mailferry."+ctxName || string(r.Key) != key || hdr[bus.HeaderType] != e.typ ||
			hdr[bus.HeaderCorrelation] != e.corr || hdr[bus.HeaderVersion] != fmt.Sprint(spec.Version) || hdr[bus.HeaderTime] == "" {
			t.Errorf("%s %s: topic %s key %s headers %v; want topic mailferry.%s key %s", e.typ, id, r.Topic, r.Key, hdr, ctxName, key)
		}
	}
	for id, recs := range inKafka {
		if _, ok := onBus[id]; !ok {
			t.Errorf("Kafka has %s (%s), which is not a domain event on the bus", id, recs[0].Topic)
		}
	}
	for _, want := range []string{"project.run_requested", "billing.credits_held", "transfer.run_started", "transfer.mailbox_started",
		"transfer.item_outcomes", "transfer.mailbox_completed", "transfer.run_finished", "progress.mailbox", "discovery.completed", "mapping.suggested"} {
		if !types[want] {
			t.Errorf("the run exported no %s", want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
