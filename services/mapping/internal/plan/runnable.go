package plan

import (
	"fmt"
	"maps"
	"slices"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/mapping"
	"github.com/mailferry/mailferry/services/mapping/internal/mapcsv"
)

// Codes of Blocked.
const (
	// BlockedException: the entry is an unresolved no_match or ambiguous.
	BlockedException = "unresolved_exception"
	// BlockedUnknown: a requested source is not in the mapping.
	BlockedUnknown = "unknown_source"
	// BlockedExcluded: a requested source is excluded from the migration.
	BlockedExcluded = "excluded"
)

// Blocked is a source a run cannot move, and why.
type Blocked struct {
	Source string `json:"source"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Runnable returns the pairs a run would move and the sources that stop it.
// A pair is an entry without exception whose action is migrate with a
// destination, or create (Pair.Create set, no destination id yet).
// Unresolved exceptions are blocked. With sources (addresses) given, only
// those are considered: an unknown address is blocked, and so is an
// excluded one, since the caller asked for it by name. Without sources,
// excluded entries are simply left out. Both lists follow source address
// order.
func Runnable(s State, sources []string) ([]events.Pair, []Blocked) {
	pairs := []events.Pair{}
	blocked := []Blocked{}
	var considered []mapping.Entry
	named := len(sources) > 0
	if named {
		byAddr := map[string]mapping.Entry{}
		for _, e := range s.Entries {
			byAddr[normAddr(e.Source.PrimaryAddress)] = e
		}
		for _, e := range s.Entries {
			for _, a := range e.Source.Aliases {
				if _, taken := byAddr[normAddr(a)]; !taken {
					byAddr[normAddr(a)] = e
				}
			}
		}
		picked := map[string]bool{}
		for _, a := range sources {
			e, ok := byAddr[normAddr(a)]
			switch {
			case !ok:
				blocked = append(blocked, Blocked{Source: a, Code: BlockedUnknown,
					Reason: fmt.Sprintf("%s is not a source mailbox of this project's mapping; check the address or run a discovery", a)})
			case !picked[e.Source.ID]:
				picked[e.Source.ID] = true
				considered = append(considered, e)
			}
		}
	} else {
		considered = slices.Collect(maps.Values(s.Entries))
	}
	bySource(considered)
	for _, e := range considered {
		addr := e.Source.PrimaryAddress
		switch {
		case e.Action == ActionExclude:
			if named {
				blocked = append(blocked, Blocked{Source: addr, Code: BlockedExcluded,
					Reason: fmt.Sprintf("%s is excluded from the migration; change its action to migrate or create to move it", addr)})
			}
		case e.Exception != "":
			blocked = append(blocked, Blocked{Source: addr, Code: BlockedException, Reason: e.Exception + ": " + e.Detail})
		case e.Action == ActionCreate && e.Destination.PrimaryAddress != "":
			pairs = append(pairs, events.Pair{SourceID: e.Source.ID, SourceAddress: addr,
				DestinationAddress: e.Destination.PrimaryAddress, Create: true})
		case e.Action == ActionMigrate && e.Destination.PrimaryAddress != "":
			pairs = append(pairs, events.Pair{SourceID: e.Source.ID, SourceAddress: addr,
				DestinationID: e.Destination.ID, DestinationAddress: e.Destination.PrimaryAddress})
		default:
			blocked = append(blocked, Blocked{Source: addr, Code: BlockedException,
				Reason: fmt.Sprintf("%s has no destination; choose one, flag one for creation, or exclude the mailbox", addr)})
		}
	}
	return pairs, blocked
}

// Rows renders the mapping as CSV rows in source address order. The note
// of an unresolved entry says what is wrong, so the person editing the file
// sees it; such a row has no destination and is refused on import until it
// is given one, set to create, or excluded. Other notes are the notes a
// previous import carried.
func Rows(s State) []mapcsv.Row {
	es := slices.Collect(maps.Values(s.Entries))
	bySource(es)
	out := make([]mapcsv.Row, 0, len(es))
	for _, e := range es {
		r := mapcsv.Row{Source: e.Source.PrimaryAddress, Destination: e.Destination.PrimaryAddress, Action: mapcsv.Action(e.Action)}
		switch {
		case e.Exception != "":
			r.Note = "unresolved (" + e.Exception + "): " + e.Detail
		case IsManual(e.Method):
			r.Note = e.Detail
		}
		out = append(out, r)
	}
	return out
}
