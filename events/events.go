// Package events is the registry of every event mailferry publishes. Each
// bounded context has its own package (project, billing, discovery, mapping,
// transfer, progress) whose types register a stable name and version here,
// the stream they live on and who publishes and consumes them. The event
// catalog docs/events.md is generated from this registry, so the code and the
// documentation cannot drift apart.
package events

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"sync"
)

// Event is implemented by every event body.
type Event interface {
	// EventType returns the registered name, for example "billing.credits_held".
	EventType() string
}

// Stream describes one JetStream stream: one per bounded context, plus the
// high-volume progress stream with an age limit.
type Stream struct {
	Name     string
	Subjects []string
	// MaxAgeHours bounds high-volume streams; 0 keeps everything, because a
	// domain stream is the source of truth.
	MaxAgeHours int
	// WorkQueue streams delete a message once it is acknowledged.
	WorkQueue bool
	Doc       string
}

// Streams are all the streams mailferry uses.
var Streams = []Stream{
	{Name: "PROJECT", Subjects: []string{"project.>"}, Doc: "accounts, API keys, projects, credentials references, runs requested and approved"},
	{Name: "DISCOVERY", Subjects: []string{"discovery.>"}, Doc: "what discovery found: mailboxes, folders, counts, sizes, blockers"},
	{Name: "MAPPING", Subjects: []string{"mapping.>"}, Doc: "suggested and edited source-to-destination pairs"},
	{Name: "BILLING", Subjects: []string{"billing.>"}, Doc: "credit purchases, holds, consumption and releases per account"},
	{Name: "TRANSFER", Subjects: []string{"transfer.>"}, Doc: "runs and mailboxes started, completed, failed, cancelled"},
	{Name: "TRANSFERWORK", Subjects: []string{"transferwork.>"}, WorkQueue: true, Doc: "mailbox jobs, one subject per shard; deleted once done"},
	{Name: "PROGRESS", Subjects: []string{"progress.>"}, MaxAgeHours: 24 * 14, Doc: "per-mailbox progress, batched to about one event per mailbox per second; kept 14 days"},
	{Name: "POISON", Subjects: []string{"poison.>"}, MaxAgeHours: 24 * 30, Doc: "events a handler failed on after every retry, kept 30 days for inspection and replay"},
}

// Spec is what the catalog says about an event.
type Spec struct {
	Name    string
	Version int
	// Subject is the subject pattern, e.g. "billing.account.{accountId}".
	Subject    string
	Publishers []string
	Consumers  []string
	Doc        string
	Type       reflect.Type
}

var (
	mu       sync.RWMutex
	registry = map[string]Spec{}
)

// Register records event type T. It panics on a duplicate name, because two
// types sharing a name would make decoding ambiguous.
func Register[T Event](s Spec) {
	var zero T
	s.Type = reflect.TypeOf(zero)
	if s.Name != zero.EventType() {
		panic(fmt.Sprintf("events: %s registered under name %q but EventType() says %q", s.Type, s.Name, zero.EventType()))
	}
	if s.Version < 1 {
		panic("events: version must be >= 1 for " + s.Name)
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[s.Name]; dup {
		panic("events: duplicate event name " + s.Name)
	}
	registry[s.Name] = s
}

// Lookup returns the spec of a registered event name.
func Lookup(name string) (Spec, bool) {
	mu.RLock()
	defer mu.RUnlock()
	s, ok := registry[name]
	return s, ok
}

// All returns every registered spec sorted by name.
func All() []Spec {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]Spec, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ErrUnknown is returned when decoding an event whose name is not registered
// in this process (a consumer that does not import its package).
type ErrUnknown struct{ Name string }

func (e ErrUnknown) Error() string { return "events: unknown event type " + e.Name }

// Decode turns a payload into the registered type for name, checking the
// version: a payload newer than this binary understands is an error, never a
// silent misread.
func Decode(name string, version int, data []byte) (Event, error) {
	s, ok := Lookup(name)
	if !ok {
		return nil, ErrUnknown{Name: name}
	}
	if version > s.Version {
		return nil, fmt.Errorf("events: %s version %d is newer than this binary understands (%d)", name, version, s.Version)
	}
	p := reflect.New(s.Type)
	if err := json.Unmarshal(data, p.Interface()); err != nil {
		return nil, fmt.Errorf("events: decode %s: %w", name, err)
	}
	return p.Elem().Interface().(Event), nil
}
