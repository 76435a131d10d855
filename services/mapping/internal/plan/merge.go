package plan

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mailferry/mailferry/events/mapping"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/services/mapping/internal/suggest"
)

// DomainRewrite returns the rewrite suggest uses for its local-part rule:
// when more than half of the source mailboxes' primary addresses share one
// domain, and more than half of the destination's share another, the
// source domain is rewritten to the destination domain, so
// alice@contoso.com pairs with alice@fabrikam.com even where another
// alice@... exists elsewhere. A tenant without such a majority (several
// equally used domains) gets no rewrite, and suggest falls back to pairing
// local parts that are unique on both sides. Equal domains need no rewrite:
// the primary-address rule already pairs them.
func DomainRewrite(src, dst []platform.Mailbox) map[string]string {
	s, okS := dominantDomain(src)
	d, okD := dominantDomain(dst)
	if !okS || !okD || s == d {
		return nil
	}
	return map[string]string{s: d}
}

func dominantDomain(mbs []platform.Mailbox) (string, bool) {
	count := map[string]int{}
	n := 0
	for _, mb := range mbs {
		a := normAddr(mb.PrimaryAddress)
		at := strings.LastIndexByte(a, '@')
		if at <= 0 || at == len(a)-1 {
			continue
		}
		count[a[at+1:]]++
		n++
	}
	for d, c := range count {
		if 2*c > n {
			return d, true
		}
	}
	return "", false
}

// Suggest turns a completed discovery into the project's new mapping.
//
// Entries a person decided (method manual or csv) are kept for every source
// that still exists, with their mailbox data refreshed; their destinations
// are withheld from the suggestion so it cannot hand them to another source.
// A kept entry is checked against the new discovery: a destination chosen
// by hand that is no longer found becomes a no_match exception (so no run
// moves mail to a mailbox that is gone), and a mailbox flagged for creation
// that now exists is migrated to instead of created again. Everything else
// (suggested pairs and exceptions, entries of sources that are gone) is
// replaced by a fresh suggest.Suggest over the remaining mailboxes.
// Exceptions default to action migrate; they block runs until resolved.
func Suggest(s State, d Discovery) mapping.MappingSuggested {
	srcByID := make(map[string]platform.Mailbox, len(d.Sources))
	for _, mb := range d.Sources {
		srcByID[mb.ID] = mb
	}
	dst := newIndex(d.Destinations)
	claimed := map[string]string{} // destination key -> source address
	kept := map[string]bool{}
	var out []mapping.Entry

	for _, id := range slices.Sorted(maps.Keys(s.Entries)) {
		e := s.Entries[id]
		if !IsManual(e.Method) {
			continue
		}
		src, ok := srcByID[id]
		if !ok {
			continue
		}
		e.Source = src
		e = recheck(e, dst, len(d.Destinations) > 0, d.RunID)
		if k := destKey(e); k != "" && e.Exception == "" {
			if other, taken := claimed[k]; taken {
				e.Exception = suggest.ReasonAmbiguous
				e.Detail = fmt.Sprintf("%s was chosen by hand as the destination of both %s and %s, and a destination can receive only one source; choose another destination for one of them",
					e.Destination.PrimaryAddress, other, src.PrimaryAddress)
				e.Candidates = nil
			} else {
				claimed[k] = src.PrimaryAddress
			}
		}
		kept[id] = true
		out = append(out, e)
	}

	var srcRest, dstRest []platform.Mailbox
	for _, mb := range d.Sources {
		if !kept[mb.ID] {
			srcRest = append(srcRest, mb)
		}
	}
	for _, mb := range d.Destinations {
		if _, taken := claimed["id:"+mb.ID]; !taken {
			dstRest = append(dstRest, mb)
		}
	}
	res := suggest.Suggest(srcRest, dstRest, suggest.Options{DomainRewrite: DomainRewrite(d.Sources, d.Destinations)})
	for _, p := range res.Pairs {
		out = append(out, mapping.Entry{Source: p.Source, Destination: p.Destination, Method: p.Method, Action: ActionMigrate})
	}
	for _, x := range res.Exceptions {
		out = append(out, mapping.Entry{Source: x.Source, Action: ActionMigrate, Exception: x.Reason, Detail: x.Detail, Candidates: x.Candidates})
	}
	if out == nil {
		out = []mapping.Entry{}
	}
	bySource(out)
	return mapping.MappingSuggested{ProjectID: d.ProjectID, RunID: d.RunID, Entries: out}
}

// recheck holds a kept manual entry against a new discovery. checkable is
// false when the discovery found no destination mailbox at all (the
// destination was not read), in which case nothing can be concluded.
func recheck(e mapping.Entry, dst index, checkable bool, runID string) mapping.Entry {
	if !checkable {
		return e
	}
	switch e.Action {
	case ActionCreate:
		if mb, ok := dst.lookup(e.Destination.PrimaryAddress); ok {
			e.Action = ActionMigrate
			e.Destination = mb
			e.Detail = fmt.Sprintf("%s was flagged for creation and now exists in the destination (discovery %s), so it is migrated to", mb.PrimaryAddress, runID)
		}
	case ActionMigrate:
		mb, ok := dst.byID[e.Destination.ID]
		if !ok {
			mb, ok = dst.lookup(e.Destination.PrimaryAddress)
		}
		if ok {
			if e.Exception != "" {
				e.Exception, e.Detail, e.Candidates = "", "", nil
			}
			e.Destination = mb
			return e
		}
		e.Exception = suggest.ReasonNoMatch
		e.Detail = fmt.Sprintf("the destination %s chosen for %s was not found by discovery %s; choose another destination, flag one for creation, or exclude the mailbox",
			e.Destination.PrimaryAddress, e.Source.PrimaryAddress, runID)
		e.Candidates = nil
	}
	return e
}
