package bus

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
)

// metadataCarrier lets the OpenTelemetry propagator write and read W3C trace
// context in watermill metadata, which travel as NATS headers.
type metadataCarrier message.Metadata

func (c metadataCarrier) Get(key string) string { return message.Metadata(c).Get(key) }
func (c metadataCarrier) Set(key, value string) { message.Metadata(c).Set(key, value) }
func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// headerCarrier reads W3C trace context from NATS headers exactly as the bus
// wrote them (NATS header keys are case-sensitive, unlike HTTP's).
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string {
	if v := nats.Header(c)[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c headerCarrier) Set(key, value string) { nats.Header(c)[key] = []string{value} }
func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// ExtractContext returns ctx carrying the trace context and correlation id
// of a message read straight from JetStream (work queues read without a
// bus handler), so work done for it joins the run's trace.
func ExtractContext(ctx context.Context, h nats.Header) context.Context {
	if h == nil {
		return ctx
	}
	ctx = otel.GetTextMapPropagator().Extract(ctx, headerCarrier(h))
	if corr := h.Get(HeaderCorrelation); corr != "" {
		ctx = ContextWithCorrelation(ctx, corr)
	}
	return ctx
}
