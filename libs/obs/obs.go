// Package obs sets up structured logging and OpenTelemetry tracing.
//
// Logs are JSON through log/slog; every record made with a context carries
// the correlation id and trace id of that context, so one run can be
// followed across services in the logs as well as in traces. Attributes
// whose key names a secret are redacted before they are written, as a last
// line of defence: secrets should never reach a logger in the first place.
package obs

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// CorrelationFunc extracts a correlation id from a context; the bus
// provides one. It is injected to keep this package free of the bus.
type CorrelationFunc func(context.Context) string

// NewLogger returns a JSON logger at level ("debug", "info", "warn", "error").
func NewLogger(w io.Writer, level, service string, corr CorrelationFunc) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		lvl = slog.LevelInfo
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl, ReplaceAttr: redact})
	return slog.New(&ctxHandler{Handler: h, corr: corr}).With("service", service)
}

// Default returns a logger on stderr configured from MAILFERRY_LOG_LEVEL.
func Default(service string, corr CorrelationFunc) *slog.Logger {
	return NewLogger(os.Stderr, os.Getenv("MAILFERRY_LOG_LEVEL"), service, corr)
}

var secretKeys = []string{"secret", "password", "token", "apikey", "api_key", "authorization", "credential", "private"}

// redact blanks attributes whose key looks like it holds a secret.
func redact(_ []string, a slog.Attr) slog.Attr {
	k := strings.ToLower(a.Key)
	for _, s := range secretKeys {
		if strings.Contains(k, s) && !strings.HasSuffix(k, "_id") && !strings.HasSuffix(k, "ref") {
			return slog.String(a.Key, "[redacted]")
		}
	}
	return a
}

type ctxHandler struct {
	slog.Handler
	corr CorrelationFunc
}

func (h *ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if h.corr != nil {
			if id := h.corr(ctx); id != "" {
				r.AddAttrs(slog.String("correlation_id", id))
			}
		}
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *ctxHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &ctxHandler{Handler: h.Handler.WithAttrs(attrs), corr: h.corr}
}

func (h *ctxHandler) WithGroup(name string) slog.Handler {
	return &ctxHandler{Handler: h.Handler.WithGroup(name), corr: h.corr}
}
