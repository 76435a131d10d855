package engine

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/libs/platform/memory"
)

func intAttr(attrs []attribute.KeyValue, key string) (int64, bool) {
	for _, a := range attrs {
		if string(a.Key) == key {
			return a.Value.AsInt64(), true
		}
	}
	return 0, false
}

// TestPagesAreSpansUnderTheMailbox: every page of items is a span under the
// caller's (the mailbox's) span whose counts add up to the mailbox's, and
// the platform's throttling shows as events on the page that waited.
// Not parallel: it installs the global tracer provider.
func TestPagesAreSpansUnderTheMailbox(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	const items = 30
	f := newFixture(t, items) // pages of 7 items
	f.src.SetFaults(memory.Faults{ThrottleEvery: 5, RetryAfter: time.Millisecond})
	ctx, mailbox := tp.Tracer("test").Start(context.Background(), "transfer mailbox")
	cp, err := Run(ctx, f.src, f.dst, &MemStore{}, f.opts("run-trace", events.ModeFull), nil)
	mailbox.End()
	if err != nil {
		t.Fatal(err)
	}
	f.src.SetFaults(memory.Faults{})

	var pages, lastPages, throttled int
	var listed, copied, bytes int64
	for _, s := range exp.GetSpans().Snapshots() {
		if s.Name() != "transfer page" {
			continue
		}
		pages++
		if s.Parent().SpanID() != mailbox.SpanContext().SpanID() || s.SpanContext().TraceID() != mailbox.SpanContext().TraceID() {
			t.Errorf("page span %s is not a child of the mailbox span", s.SpanContext().SpanID())
		}
		for _, want := range []string{"mailferry.run_id", "mailferry.folder_id", "mailferry.items.listed", "mailferry.items.copied", "mailferry.bytes"} {
			found := false
			for _, a := range s.Attributes() {
				found = found || string(a.Key) == want
			}
			if !found {
				t.Errorf("page span lacks %s: %v", want, s.Attributes())
			}
		}
		n, _ := intAttr(s.Attributes(), "mailferry.items.listed")
		c, _ := intAttr(s.Attributes(), "mailferry.items.copied")
		b, _ := intAttr(s.Attributes(), "mailferry.bytes")
		listed, copied, bytes = listed+n, copied+c, bytes+b
		if n > 7 {
			t.Errorf("a page of %d items; the source pages by 7", n)
		}
		for _, a := range s.Attributes() {
			if a.Key == "mailferry.last_page" && a.Value.AsBool() {
				lastPages++
			}
		}
		for _, e := range s.Events() {
			if e.Name == "throttled" {
				if ms, ok := intAttr(e.Attributes, "mailferry.retry_after_ms"); !ok || ms < 1 {
					t.Errorf("throttled event without the platform's wait: %v", e.Attributes)
				}
				throttled++
			}
		}
	}
	if lastPages != cp.Counts.Folders {
		t.Errorf("%d pages end a folder, want one per folder (%d)", lastPages, cp.Counts.Folders)
	}
	if pages <= cp.Counts.Folders {
		t.Errorf("%d page spans for %d folders and %d items in pages of 7", pages, cp.Counts.Folders, items)
	}
	if listed != items || copied != int64(cp.Counts.Copied) || bytes != cp.Counts.Bytes {
		t.Errorf("pages add up to %d listed, %d copied, %d bytes; the mailbox counts %+v", listed, copied, bytes, cp.Counts)
	}
	if throttled == 0 {
		t.Error("the source throttled, but no page span has a throttled event")
	}
}
