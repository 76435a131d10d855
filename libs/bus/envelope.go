package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"

	"github.com/mailferry/mailferry/events"
)

// Envelope headers. The event id is the watermill message UUID and the
// Nats-Msg-Id, so the server drops a re-published duplicate.
const (
	HeaderType        = "Mailferry-Type"
	HeaderVersion     = "Mailferry-Version"
	HeaderCorrelation = "Mailferry-Correlation-Id"
	HeaderCausation   = "Mailferry-Causation-Id"
	HeaderTime        = "Mailferry-Time"
)

// Envelope is a received event with its metadata.
type Envelope struct {
	ID            string
	Type          string
	Version       int
	Subject       string
	Seq           uint64
	CorrelationID string
	CausationID   string
	Time          time.Time
	Delivered     uint64
	Data          []byte
	// Event is the decoded body, nil when its type is not registered in
	// this process.
	Event events.Event
}

// ErrConflict is returned by Append when another writer appended to the
// aggregate first. The caller reloads and decides again.
var ErrConflict = errors.New("bus: aggregate changed concurrently")

// PublishOption adjusts one publication.
type PublishOption func(*publishOpts)

type publishOpts struct {
	id          string
	expectSeq   *uint64
	correlation string
	causation   string
}

// WithID sets the event id (and so the dedup key). Use a deterministic id
// when the same decision may be published twice, e.g. after a crash.
func WithID(id string) PublishOption { return func(o *publishOpts) { o.id = id } }

// ExpectLastSeq makes the append fail with ErrConflict unless the subject's
// last sequence is seq (0: the subject must be empty).
func ExpectLastSeq(seq uint64) PublishOption {
	return func(o *publishOpts) { o.expectSeq = &seq }
}

// CausedBy makes the event a consequence of env: same correlation id,
// causation id = env's id.
func CausedBy(env Envelope) PublishOption {
	return func(o *publishOpts) {
		o.correlation = env.CorrelationID
		o.causation = env.ID
	}
}

// WithCorrelation sets the correlation id explicitly (e.g. from an HTTP request).
func WithCorrelation(id string) PublishOption {
	return func(o *publishOpts) { o.correlation = id }
}

type ctxKey struct{}

// ContextWithEnvelope records the event being handled so events published
// while handling it inherit its correlation and causation.
func ContextWithEnvelope(ctx context.Context, env Envelope) context.Context {
	return context.WithValue(ctx, ctxKey{}, env)
}

// EnvelopeFrom returns the event being handled, if any.
func EnvelopeFrom(ctx context.Context) (Envelope, bool) {
	env, ok := ctx.Value(ctxKey{}).(Envelope)
	return env, ok
}

type corrKey struct{}

// ContextWithCorrelation attaches a correlation id (from an HTTP request) to ctx.
func ContextWithCorrelation(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, corrKey{}, id)
}

// CorrelationFrom returns the correlation id carried by ctx.
func CorrelationFrom(ctx context.Context) string {
	if env, ok := EnvelopeFrom(ctx); ok {
		return env.CorrelationID
	}
	id, _ := ctx.Value(corrKey{}).(string)
	return id
}

var marshaler = &wmnats.NATSMarshaler{}

// encode builds the NATS message through watermill's NATS marshaler, so
// metadata become headers exactly as watermill subscribers expect.
func encode(ctx context.Context, subject string, ev events.Event, o publishOpts) (*nats.Msg, string, error) {
	spec, ok := events.Lookup(ev.EventType())
	if !ok {
		return nil, "", fmt.Errorf("bus: event %s is not registered", ev.EventType())
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, "", fmt.Errorf("bus: encode %s: %w", spec.Name, err)
	}
	id := o.id
	if id == "" {
		id = uuid.NewString()
	}
	if o.correlation == "" && o.causation == "" {
		if env, ok := EnvelopeFrom(ctx); ok {
			o.correlation, o.causation = env.CorrelationID, env.ID
		} else {
			o.correlation = CorrelationFrom(ctx)
		}
	}
	if o.correlation == "" {
		o.correlation = id
	}
	m := message.NewMessage(id, data)
	m.Metadata.Set(HeaderType, spec.Name)
	m.Metadata.Set(HeaderVersion, strconv.Itoa(spec.Version))
	m.Metadata.Set(HeaderCorrelation, o.correlation)
	if o.causation != "" {
		m.Metadata.Set(HeaderCausation, o.causation)
	}
	m.Metadata.Set(HeaderTime, time.Now().UTC().Format(time.RFC3339Nano))
	m.Metadata.Set(nats.MsgIdHdr, id)
	if o.expectSeq != nil {
		m.Metadata.Set(nats.ExpectedLastSubjSeqHdr, strconv.FormatUint(*o.expectSeq, 10))
	}
	otel.GetTextMapPropagator().Inject(ctx, metadataCarrier(m.Metadata))
	msg, err := marshaler.Marshal(subject, m)
	if err != nil {
		return nil, "", err
	}
	return msg, id, nil
}

// Publish appends ev to subject and returns its stream sequence.
func (b *Bus) Publish(ctx context.Context, subject string, ev events.Event, opts ...PublishOption) (uint64, error) {
	var o publishOpts
	for _, opt := range opts {
		opt(&o)
	}
	msg, _, err := encode(ctx, subject, ev, o)
	if err != nil {
		return 0, err
	}
	ack, err := b.js.PublishMsg(ctx, msg)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return 0, fmt.Errorf("%w: %s", ErrConflict, subject)
		}
		return 0, fmt.Errorf("bus: publish %s on %s: %w", ev.EventType(), subject, err)
	}
	return ack.Sequence, nil
}

// decodeMsg turns headers and payload into an Envelope.
func decodeMsg(subject string, hdr nats.Header, data []byte) Envelope {
	env := Envelope{
		ID:            hdr.Get(wmnats.WatermillUUIDHdr),
		Type:          hdr.Get(HeaderType),
		Subject:       subject,
		CorrelationID: hdr.Get(HeaderCorrelation),
		CausationID:   hdr.Get(HeaderCausation),
		Data:          data,
	}
	if env.ID == "" {
		env.ID = hdr.Get(nats.MsgIdHdr)
	}
	env.Version, _ = strconv.Atoi(hdr.Get(HeaderVersion))
	env.Time, _ = time.Parse(time.RFC3339Nano, hdr.Get(HeaderTime))
	return env
}

// Decode decodes env.Event from its payload.
func (env *Envelope) decode() error {
	ev, err := events.Decode(env.Type, env.Version, env.Data)
	if err != nil {
		return err
	}
	env.Event = ev
	return nil
}

// Load returns the events of subject with a sequence after afterSeq, and the
// subject's last sequence (0 when it has none).
func (b *Bus) Load(ctx context.Context, stream, subject string, afterSeq uint64) ([]Envelope, uint64, error) {
	st, err := b.js.Stream(ctx, stream)
	if err != nil {
		return nil, 0, fmt.Errorf("bus: stream %s: %w", stream, err)
	}
	last, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("bus: last of %s: %w", subject, err)
	}
	if last.Sequence <= afterSeq {
		return nil, last.Sequence, nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{subject},
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       afterSeq + 1,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("bus: read %s: %w", subject, err)
	}
	// An ordered consumer otherwise lingers on the server after its last
	// fetch, and a stream accepts 1,000 consumers by default: an aggregate
	// updated often (one Repo.Get per decision) would soon be refused new
	// ones with "maximum consumers limit reached".
	defer func() {
		if info := cons.CachedInfo(); info != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = b.js.DeleteConsumer(dctx, stream, info.Name)
			cancel()
		}
	}()
	var out []Envelope
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, 0, fmt.Errorf("bus: read %s: %w", subject, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return nil, 0, err
			}
			env := decodeMsg(m.Subject(), m.Headers(), m.Data())
			env.Seq = md.Sequence.Stream
			if err := env.decode(); err != nil {
				return nil, 0, fmt.Errorf("bus: %s seq %d: %w", subject, env.Seq, err)
			}
			out = append(out, env)
			if env.Seq >= last.Sequence {
				return out, last.Sequence, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, 0, fmt.Errorf("bus: read %s: %w", subject, err)
		}
		if n == 0 {
			return nil, 0, fmt.Errorf("bus: read %s: stream ended before sequence %d", subject, last.Sequence)
		}
	}
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}
