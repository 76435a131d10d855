package obs

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

type corrKey struct{}

func TestLogsCarryCorrelationAndRedactSecrets(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := NewLogger(&buf, "debug", "billing", func(ctx context.Context) string {
		s, _ := ctx.Value(corrKey{}).(string)
		return s
	})
	tid, _ := trace.TraceIDFromHex("0102030405060708090a0b0c0d0e0f10")
	sid, _ := trace.SpanIDFromHex("0102030405060708")
	ctx := trace.ContextWithSpanContext(context.WithValue(context.Background(), corrKey{}, "corr-9"),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	log.InfoContext(ctx, "stored", "client_secret", "hunter2", "password", "pw", "vault_ref", "cred/p/source", "account_id", "acc_1")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not JSON: %s", buf.String())
	}
	for k, want := range map[string]string{
		"service": "billing", "correlation_id": "corr-9", "trace_id": tid.String(),
		"client_secret": "[redacted]", "password": "[redacted]", "vault_ref": "cred/p/source", "account_id": "acc_1",
	} {
		if rec[k] != want {
			t.Errorf("%s = %v, want %q", k, rec[k], want)
		}
	}
	if strings.Contains(buf.String(), "hunter2") {
		t.Fatal("a secret was logged")
	}
}

func TestUnknownExporterIsAnError(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "carrier-pigeon")
	if _, err := SetupTracing(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "carrier-pigeon") {
		t.Fatalf("got %v", err)
	}
}
