package obs

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// SetupTracing installs a global tracer provider configured from the
// standard OTEL_* variables: OTEL_TRACES_EXPORTER (otlp, console or none;
// default otlp when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, none otherwise), the OTLP
// protocol (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else
// OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf, the default, or grpc), the
// endpoint, header, timeout and TLS variables read by the exporter itself,
// OTEL_SERVICE_NAME (default: service) and OTEL_RESOURCE_ATTRIBUTES; the SDK
// reads OTEL_TRACES_SAMPLER and OTEL_BSP_* itself. The W3C trace context
// propagator is always installed, so trace context crosses the bus even when
// nothing is exported here. The returned function flushes and stops the
// provider.
func SetupTracing(ctx context.Context, service string) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	exporter := strings.ToLower(os.Getenv("OTEL_TRACES_EXPORTER"))
	if exporter == "" {
		exporter = "none"
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
			exporter = "otlp"
		}
	}
	name := os.Getenv("OTEL_SERVICE_NAME")
	if name == "" {
		name = service
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(name)))
	if err != nil {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	switch exporter {
	case "none":
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res))
		otel.SetTracerProvider(tp)
		return tp.Shutdown, nil
	case "otlp":
		switch proto := otlpProtocol(); proto {
		case "http/protobuf":
			exp, err = otlptracehttp.New(ctx)
		case "grpc":
			exp, err = otlptracegrpc.New(ctx)
		default:
			return nil, fmt.Errorf("obs: OTLP protocol %q is not supported (http/protobuf, grpc)", proto)
		}
	case "console":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(os.Stderr))
	default:
		return nil, fmt.Errorf("obs: OTEL_TRACES_EXPORTER=%q is not supported (otlp, console, none)", exporter)
	}
	if err != nil {
		return nil, fmt.Errorf("obs: trace exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// otlpProtocol is the OTLP transport the standard variables ask for; the
// exporters do not read it themselves, and a collector listening for gRPC
// on 4317 refuses HTTP.
func otlpProtocol() string {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := strings.ToLower(strings.TrimSpace(os.Getenv(k))); v != "" {
			return v
		}
	}
	return "http/protobuf"
}
