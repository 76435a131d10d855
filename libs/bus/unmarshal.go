package bus

import (
	"strconv"

	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
)

// Metadata keys the unmarshaler adds, so handlers see the subject, stream
// sequence and delivery count, which watermill's default unmarshaler drops.
const (
	metaSubject   = "_mf_subject"
	metaSeq       = "_mf_seq"
	metaDelivered = "_mf_delivered"
)

type unmarshaler struct{}

func (unmarshaler) Unmarshal(msg jetstream.Msg) (*message.Message, error) {
	m, err := wmjs.DefaultUnmarshaler{}.Unmarshal(msg)
	if err != nil {
		return nil, err
	}
	m.Metadata.Set(metaSubject, msg.Subject())
	if md, err := msg.Metadata(); err == nil {
		m.Metadata.Set(metaSeq, strconv.FormatUint(md.Sequence.Stream, 10))
		m.Metadata.Set(metaDelivered, strconv.FormatUint(md.NumDelivered, 10))
	}
	return m, nil
}

func envelopeFromMessage(msg *message.Message) Envelope {
	md := msg.Metadata
	env := Envelope{
		ID:            msg.UUID,
		Type:          md.Get(HeaderType),
		Subject:       md.Get(metaSubject),
		CorrelationID: md.Get(HeaderCorrelation),
		CausationID:   md.Get(HeaderCausation),
		Data:          msg.Payload,
	}
	env.Version, _ = strconv.Atoi(md.Get(HeaderVersion))
	env.Seq, _ = strconv.ParseUint(md.Get(metaSeq), 10, 64)
	env.Delivered, _ = strconv.ParseUint(md.Get(metaDelivered), 10, 64)
	env.Time = parseTime(md.Get(HeaderTime))
	return env
}
