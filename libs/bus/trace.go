package bus

import "github.com/ThreeDotsLabs/watermill/message"

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
