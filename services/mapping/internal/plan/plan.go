// Package plan holds the rules of a project's mapping around the suggest and
// mapcsv packages: the aggregate state folded from the mapping events, how a
// re-suggestion merges with the edits a person made, how edit requests and
// CSV imports are validated, and what a run may move.
//
// Like suggest and mapcsv it is pure (no I/O, no clock): the service's
// reactors load events, call these functions and append what they return,
// so every decision is reproducible from the log and testable in a table.
package plan

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/discovery"
	"github.com/mailferry/mailferry/events/mapping"
	"github.com/mailferry/mailferry/libs/platform"
)

// Actions of an entry.
const (
	ActionMigrate = "migrate"
	ActionExclude = "exclude"
	ActionCreate  = "create"
)

// Methods of entries a person decided. Suggested entries carry the suggest
// package's method codes instead.
const (
	MethodManual = "manual"
	MethodCSV    = "csv"
)

// Sides of discovery.MailboxDiscovered.
const (
	SideSource      = "source"
	SideDestination = "destination"
)

// Request outcomes, as answered to the API waiting for an edit request.
const (
	RequestPending  = "pending"
	RequestApplied  = "applied"
	RequestRejected = "rejected"
)

// IsManual reports whether an entry was decided by a person, which is what
// makes it survive a re-suggestion.
func IsManual(method string) bool { return method == MethodManual || method == MethodCSV }

// Outcome is what became of one edit request.
type Outcome struct {
	State  string             `json:"state"`
	Errors []mapping.RowError `json:"errors,omitempty"`
}

// State is a project's mapping, folded from mapping.project.<projectId>.
// Fold never mutates a State it was given (maps are copied on write), so the
// bus.Repo cache and concurrent readers can share one safely.
type State struct {
	ProjectID string
	// RunID is the discovery run of the last suggestion.
	RunID string
	// Entries are keyed by source mailbox id.
	Entries map[string]mapping.Entry
	// Suggested lists the discovery runs already turned into suggestions,
	// so a redelivered discovery.completed is not suggested twice.
	Suggested map[string]bool
	// Requests are the edit requests already decided, by request id.
	Requests map[string]Outcome
	// pending collects the parts of a mapping split over several events
	// until its last part arrives.
	pending map[string]mapping.Entry
}

// Fold applies one mapping event.
func Fold(s State, ev events.Event) State {
	switch e := ev.(type) {
	case mapping.MappingSuggested:
		s.ProjectID = e.ProjectID
		var whole bool
		if s, whole = s.collect(e.Entries, e.Part, e.Parts); !whole {
			return s
		}
		s.RunID = e.RunID
		s.Suggested = maps.Clone(s.Suggested)
		if s.Suggested == nil {
			s.Suggested = map[string]bool{}
		}
		s.Suggested[e.RunID] = true
	case mapping.MappingEdited:
		s.ProjectID = e.ProjectID
		if e.Replace {
			var whole bool
			if s, whole = s.collect(e.Entries, e.Part, e.Parts); !whole {
				return s
			}
		} else {
			m := maps.Clone(s.Entries)
			if m == nil {
				m = map[string]mapping.Entry{}
			}
			for _, en := range e.Entries {
				m[en.Source.ID] = en
			}
			s.Entries = m
		}
		s.Requests = withOutcome(s.Requests, e.RequestID, Outcome{State: RequestApplied})
	case mapping.MappingEditRejected:
		s.ProjectID = e.ProjectID
		s.Requests = withOutcome(s.Requests, e.RequestID, Outcome{State: RequestRejected, Errors: e.Errors})
	}
	return s
}

// collect gathers one part of a split mapping. When the mapping is whole it
// becomes s.Entries and collect reports true. A part 0 always starts over,
// so a split append interrupted by a crash and decided again is harmless.
func (s State) collect(entries []mapping.Entry, part, parts int) (State, bool) {
	if parts <= 1 {
		s.Entries = byID(entries)
		s.pending = nil
		return s, true
	}
	var m map[string]mapping.Entry
	if part == 0 {
		m = make(map[string]mapping.Entry, len(entries)*parts)
	} else {
		m = maps.Clone(s.pending)
		if m == nil {
			m = map[string]mapping.Entry{}
		}
	}
	for _, en := range entries {
		m[en.Source.ID] = en
	}
	if part < parts-1 {
		s.pending = m
		return s, false
	}
	s.Entries, s.pending = m, nil
	return s, true
}

// PartSize is how many entries one mapping event carries at most: about
// half a megabyte, far below the bus's 8 MB payload limit.
const PartSize = 1000

// Split turns a mapping event into parts of at most PartSize entries.
func Split(ev events.Event) []events.Event {
	switch e := ev.(type) {
	case mapping.MappingSuggested:
		return parts(e.Entries, func(entries []mapping.Entry, part, n int) events.Event {
			p := e
			p.Entries, p.Part, p.Parts = entries, part, n
			return p
		})
	case mapping.MappingEdited:
		if e.Replace {
			return parts(e.Entries, func(entries []mapping.Entry, part, n int) events.Event {
				p := e
				p.Entries, p.Part, p.Parts = entries, part, n
				return p
			})
		}
	}
	return []events.Event{ev}
}

// parts builds one event per chunk of entries, or the event whole when it
// fits in one.
func parts(entries []mapping.Entry, build func(entries []mapping.Entry, part, n int) events.Event) []events.Event {
	chunks := chunk(entries)
	if len(chunks) <= 1 {
		return []events.Event{build(entries, 0, 0)}
	}
	out := make([]events.Event, len(chunks))
	for i, c := range chunks {
		out[i] = build(c, i, len(chunks))
	}
	return out
}

func chunk(entries []mapping.Entry) [][]mapping.Entry {
	var out [][]mapping.Entry
	for len(entries) > PartSize {
		out = append(out, entries[:PartSize])
		entries = entries[PartSize:]
	}
	return append(out, entries)
}

func withOutcome(m map[string]Outcome, id string, o Outcome) map[string]Outcome {
	m = maps.Clone(m)
	if m == nil {
		m = map[string]Outcome{}
	}
	m[id] = o
	return m
}

func byID(es []mapping.Entry) map[string]mapping.Entry {
	m := make(map[string]mapping.Entry, len(es))
	for _, e := range es {
		m[e.Source.ID] = e
	}
	return m
}

// Discovery is what one completed discovery run found on each side.
type Discovery struct {
	ProjectID    string
	RunID        string
	Sources      []platform.Mailbox
	Destinations []platform.Mailbox
}

// Collector gathers the mailbox_discovered events of one run. A mailbox
// reported twice (a redelivery, a retried page) counts once, with its last
// report.
type Collector struct {
	src, dst map[string]platform.Mailbox
}

// Add records one discovered mailbox; a side it does not know is ignored.
func (c *Collector) Add(ev discovery.MailboxDiscovered) {
	var m *map[string]platform.Mailbox
	switch strings.ToLower(ev.Side) {
	case SideSource:
		m = &c.src
	case SideDestination:
		m = &c.dst
	default:
		return
	}
	if *m == nil {
		*m = map[string]platform.Mailbox{}
	}
	(*m)[ev.Mailbox.ID] = ev.Mailbox
}

// Discovery returns the collected mailboxes, each side ordered by id.
func (c *Collector) Discovery(projectID, runID string) Discovery {
	return Discovery{ProjectID: projectID, RunID: runID, Sources: sortedValues(c.src), Destinations: sortedValues(c.dst)}
}

func sortedValues(m map[string]platform.Mailbox) []platform.Mailbox {
	out := make([]platform.Mailbox, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[id])
	}
	return out
}

// normAddr folds an address the way suggest does: case, spaces and the
// "smtp:" prefix of Exchange proxy addresses do not make a different address.
func normAddr(s string) string {
	return strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "smtp:")
}

// index finds a side's mailboxes by id and by any of their addresses. A
// primary address wins over another mailbox's alias.
type index struct {
	byID   map[string]platform.Mailbox
	byAddr map[string]platform.Mailbox
}

func newIndex(mbs []platform.Mailbox) index {
	x := index{byID: make(map[string]platform.Mailbox, len(mbs)), byAddr: make(map[string]platform.Mailbox, len(mbs))}
	for _, mb := range mbs {
		x.byID[mb.ID] = mb
		if a := normAddr(mb.PrimaryAddress); a != "" {
			x.byAddr[a] = mb
		}
	}
	for _, mb := range mbs {
		for _, al := range mb.Aliases {
			if a := normAddr(al); a != "" {
				if _, taken := x.byAddr[a]; !taken {
					x.byAddr[a] = mb
				}
			}
		}
	}
	return x
}

func (x index) lookup(addr string) (platform.Mailbox, bool) {
	mb, ok := x.byAddr[normAddr(addr)]
	return mb, ok
}

func (x index) has(addr string) bool {
	_, ok := x.lookup(addr)
	return ok
}

// SortEntries orders entries the way people review them: exceptions first,
// then by source address (case-insensitive), then by source id.
func SortEntries(es []mapping.Entry) {
	slices.SortFunc(es, func(a, b mapping.Entry) int {
		ea, eb := a.Exception != "", b.Exception != ""
		if ea != eb {
			if ea {
				return -1
			}
			return 1
		}
		return cmp.Or(
			cmp.Compare(normAddr(a.Source.PrimaryAddress), normAddr(b.Source.PrimaryAddress)),
			cmp.Compare(a.Source.ID, b.Source.ID),
		)
	})
}

// bySource orders entries by source address only, for files and pairs.
func bySource(es []mapping.Entry) {
	slices.SortFunc(es, func(a, b mapping.Entry) int {
		return cmp.Or(
			cmp.Compare(normAddr(a.Source.PrimaryAddress), normAddr(b.Source.PrimaryAddress)),
			cmp.Compare(a.Source.ID, b.Source.ID),
		)
	})
}

// SortedEntries returns the state's entries in SortEntries order.
func (s State) SortedEntries() []mapping.Entry {
	out := slices.Collect(maps.Values(s.Entries))
	SortEntries(out)
	return out
}

// destKey identifies the destination an entry claims, so that no two
// sources go to one mailbox; "" when the entry claims none.
func destKey(e mapping.Entry) string {
	switch e.Action {
	case ActionMigrate:
		if e.Destination.ID != "" {
			return "id:" + e.Destination.ID
		}
		if a := normAddr(e.Destination.PrimaryAddress); a != "" {
			return "addr:" + a
		}
	case ActionCreate:
		if a := normAddr(e.Destination.PrimaryAddress); a != "" {
			return "addr:" + a
		}
	}
	return ""
}
