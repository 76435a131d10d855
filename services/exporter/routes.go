package exporter

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/libs/bus"
)

// Kafka record headers. The envelope's own headers keep their names; the
// event id, which travels as Nats-Msg-Id on the bus, and the subject get
// names of their own.
const (
	HeaderEventID = "Mailferry-Event-Id"
	HeaderSubject = "Mailferry-Subject"
)

// envelopeHeaders are copied from the NATS message when present, in this
// order: the envelope, then the W3C trace context so a Kafka consumer can
// continue the run's trace.
var envelopeHeaders = []string{bus.HeaderType, bus.HeaderVersion, bus.HeaderCorrelation, bus.HeaderCausation, bus.HeaderTime, "traceparent", "tracestate"}

// route says where one event type goes.
type route struct {
	topic string
	// idAt is the index of the subject's first token that is part of the
	// aggregate id: in "transfer.items.{runId}.{mailboxKey}" it is 2, and
	// the key of "transfer.items.r1.ab12" is "r1.ab12".
	idAt int
}

// catalog is the part of the event registry that is exported: every
// registered event except those living on a work-queue stream (mailbox
// jobs are instructions to a worker, not facts), by event type, and the
// streams that hold them. Poison messages are never in it: no event is
// registered on the poison stream, which keeps copies of events a handler
// gave up on.
type catalog struct {
	routes  map[string]route
	streams []string
}

// newCatalog builds the routes from the registry: one topic per bounded
// context (the event name's first part), prefix + context, so the events
// of one aggregate stay in one topic and, keyed by aggregate id, in order
// in one partition.
func newCatalog(prefix string) (catalog, error) {
	c := catalog{routes: map[string]route{}}
	inStream := map[string]bool{}
	for _, spec := range events.All() {
		st, ok := streamOf(spec.Subject)
		if !ok {
			return c, fmt.Errorf("exporter: event %s has subject %s, which no stream holds", spec.Name, spec.Subject)
		}
		if st.WorkQueue {
			continue
		}
		ctxName, _, _ := strings.Cut(spec.Name, ".")
		idAt := strings.Index(spec.Subject, "{")
		if idAt < 0 {
			return c, fmt.Errorf("exporter: event %s has subject %s without an aggregate id", spec.Name, spec.Subject)
		}
		c.routes[spec.Name] = route{topic: prefix + ctxName, idAt: strings.Count(spec.Subject[:idAt], ".")}
		if !inStream[st.Name] {
			inStream[st.Name] = true
			c.streams = append(c.streams, st.Name)
		}
	}
	return c, nil
}

// streamOf finds the stream whose subjects hold a subject pattern.
func streamOf(pattern string) (events.Stream, bool) {
	first, _, _ := strings.Cut(pattern, ".")
	for _, s := range events.Streams {
		for _, sub := range s.Subjects {
			if sub == first+".>" {
				return s, true
			}
		}
	}
	return events.Stream{}, false
}

// topics lists the topics the catalog writes to.
func (c catalog) topics() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range c.routes {
		if !seen[r.topic] {
			seen[r.topic] = true
			out = append(out, r.topic)
		}
	}
	return out
}

// record turns one bus message into its Kafka record; ok is false for a
// message that is not a catalog event (an unregistered type, or one of a
// work queue), which is not exported.
func (c catalog) record(subject string, h nats.Header, data []byte) (*kgo.Record, bool) {
	typ := h.Get(bus.HeaderType)
	r, ok := c.routes[typ]
	if !ok {
		return nil, false
	}
	tokens := strings.Split(subject, ".")
	key := subject
	if r.idAt < len(tokens) {
		key = strings.Join(tokens[r.idAt:], ".")
	}
	rec := &kgo.Record{Topic: r.topic, Key: []byte(key), Value: data}
	if t, err := time.Parse(time.RFC3339Nano, h.Get(bus.HeaderTime)); err == nil {
		rec.Timestamp = t
	}
	for _, k := range envelopeHeaders {
		if v := h.Get(k); v != "" {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
	}
	rec.Headers = append(rec.Headers,
		kgo.RecordHeader{Key: HeaderEventID, Value: []byte(h.Get(nats.MsgIdHdr))},
		kgo.RecordHeader{Key: HeaderSubject, Value: []byte(subject)})
	return rec, true
}
