package obs

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP trace receiver over HTTP and gRPC that keeps what
// it was sent, so the test sees what a real collector would.
type collector struct {
	coltrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans map[string]string // span name -> service.name
}

func (c *collector) keep(req *coltrace.ExportTraceServiceRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		svc := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				svc = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans[s.GetName()] = svc
			}
		}
	}
}

func (c *collector) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	c.keep(req)
	return &coltrace.ExportTraceServiceResponse{}, nil
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	c.keep(&req)
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// TestOTLPExportFollowsTheStandardVariables: the endpoint, protocol and
// service name come from OTEL_* variables, and spans reach a collector
// over each protocol.
func TestOTLPExportFollowsTheStandardVariables(t *testing.T) {
	tests := []struct {
		name, protocolVar, protocol string
	}{
		{name: "default protocol is http/protobuf"},
		{name: "grpc", protocolVar: "OTEL_EXPORTER_OTLP_PROTOCOL", protocol: "grpc"},
		{name: "traces-specific protocol wins", protocolVar: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", protocol: "http/protobuf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &collector{spans: map[string]string{}}
			var endpoint string
			if tc.protocol == "grpc" {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				gs := grpc.NewServer()
				coltrace.RegisterTraceServiceServer(gs, c)
				go func() { _ = gs.Serve(ln) }()
				t.Cleanup(gs.Stop)
				endpoint = "http://" + ln.Addr().String()
			} else {
				hs := httptest.NewServer(c)
				t.Cleanup(hs.Close)
				endpoint = hs.URL
			}
			t.Setenv("OTEL_TRACES_EXPORTER", "")
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
			t.Setenv("OTEL_SERVICE_NAME", "mailferry-billing")
			if tc.protocolVar != "" {
				// The general variable says otherwise: the specific one
				// must win where both are set.
				t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
				t.Setenv(tc.protocolVar, tc.protocol)
			}
			shutdown, err := SetupTracing(context.Background(), "billing")
			if err != nil {
				t.Fatal(err)
			}
			_, span := otel.Tracer("test").Start(context.Background(), "handle billing.credits_held")
			span.End()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := shutdown(ctx); err != nil {
				t.Fatalf("flush: %v", err)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if got := c.spans["handle billing.credits_held"]; got != "mailferry-billing" {
				t.Fatalf("collector got spans %v, want the span from service mailferry-billing", c.spans)
			}
		})
	}
}

func TestUnsupportedOTLPProtocolIsAnError(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
	if _, err := SetupTracing(context.Background(), "x"); err == nil {
		t.Fatal("http/json was accepted; the Go SDK has no exporter for it")
	}
}
