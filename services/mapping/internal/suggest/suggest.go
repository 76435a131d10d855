// Package suggest proposes source-to-destination mailbox pairs for a
// migration project, and lists the mailboxes it could not pair so that a
// person can resolve them (override, exclude, or flag for creation).
//
// The package is pure: no I/O, no clock, no randomness. The same input always
// gives the same output, so a re-run of discovery never reshuffles a mapping a
// person has already reviewed.
//
// Rules are tried from the most to the least certain, and each rule only sees
// the mailboxes earlier rules left over:
//
//  1. primary: primary addresses are equal;
//  2. alias: any source address (primary or alias) equals any destination
//     address (primary or alias);
//  3. localpart: with Options.DomainRewrite, a source address with its domain
//     rewritten equals a destination address; without a rewrite, the local
//     part of the primary address is equal and unique on both sides;
//  4. displayname: display names are equal and unique on both sides.
//
// A destination receives at most one source. When a rule would give one
// destination to two sources, or one source to two destinations, neither is
// guessed: the sources become "ambiguous" exceptions and the destinations they
// compete for are held back from later, weaker rules, so that a weaker rule
// never silently settles what a stronger one found contested.
//
// Everything runs on hash indexes, so the cost grows with the number of
// mailboxes and addresses, not with their product: 10,000 x 10,000 mailboxes
// take milliseconds.
package suggest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/mailferry/mailferry/libs/platform"
)

// Methods: how a pair was found. They are stable codes shown to users and
// stored with the mapping.
const (
	MethodPrimary     = "primary"
	MethodAlias       = "alias"
	MethodLocalPart   = "localpart"
	MethodDisplayName = "displayname"
)

// Reasons: why a source mailbox is an exception. Stable codes.
const (
	// ReasonNoMatch: no rule found any destination for the source.
	ReasonNoMatch = "no_match"
	// ReasonAmbiguous: a rule found more than one way to pair the source, so
	// none was chosen. Exception.Candidates lists the destinations in play.
	ReasonAmbiguous = "ambiguous"
)

// MaxCandidates caps Exception.Candidates. A display name such as "Shared
// Mailbox" can be shared by thousands of mailboxes; listing them all for every
// source would make the result quadratic in size. Detail gives the full count.
const MaxCandidates = 10

// Options tunes the rules.
type Options struct {
	// DomainRewrite maps a source domain to a destination domain, for
	// example "contoso.com" -> "fabrikam.com". It drives the local-part rule:
	// alice@contoso.com pairs with alice@fabrikam.com. Keys and values are
	// compared case-insensitively. When the map is empty, the local-part rule
	// instead pairs primary addresses whose local part is equal and unique on
	// both sides.
	DomainRewrite map[string]string
}

// Pair is one suggested source-to-destination pair.
type Pair struct {
	Source      platform.Mailbox `json:"source"`
	Destination platform.Mailbox `json:"destination"`
	// Method is one of the Method* constants.
	Method string `json:"method"`
}

// Exception is a source mailbox that needs a person's decision.
type Exception struct {
	Source platform.Mailbox `json:"source"`
	// Reason is one of the Reason* constants.
	Reason string `json:"reason"`
	// Detail says in plain words what was found and what to do.
	Detail string `json:"detail"`
	// Candidates are the destinations a person should choose from, in
	// primary-address order, at most MaxCandidates of them.
	Candidates []platform.Mailbox `json:"candidates,omitempty"`
}

// Result is the outcome of Suggest. Every source mailbox appears exactly once,
// either in Pairs or in Exceptions. Both lists are ordered by source primary
// address (case-insensitive), then by ID.
type Result struct {
	Pairs      []Pair      `json:"pairs"`
	Exceptions []Exception `json:"exceptions"`
}

// Suggest pairs src mailboxes with dst mailboxes. See the package comment for
// the rules. The input slices are not modified.
func Suggest(src, dst []platform.Mailbox, opt Options) Result {
	m := newMatcher(src, dst)

	m.applyIndexed(MethodPrimary, m.primaryClaims)
	m.applyIndexed(MethodAlias, m.aliasClaims)
	if rw := normRewrite(opt.DomainRewrite); len(rw) > 0 {
		m.applyIndexed(MethodLocalPart, func(i int) []int {
			return m.rewriteClaims(i, rw)
		})
	} else {
		m.applyUnique(MethodLocalPart, m.srcLocal, m.dstLocal)
	}
	m.applyUnique(MethodDisplayName, m.srcDisplay, m.dstDisplay)

	return m.result()
}

// matcher holds both sides sorted into their final order, so that every
// index-based loop below is already deterministic.
type matcher struct {
	src, dst []platform.Mailbox

	srcPrimary []string   // normalised primary address
	srcAddrs   [][]string // normalised primary + aliases, deduplicated
	dstPrimary []string

	dstByPrimary map[string][]int
	dstByAddr    map[string][]int

	// dstTaken is set once a destination is paired or held back because
	// sources compete for it.
	dstTaken []bool

	pairDst    []int // -1 when the source is not paired
	pairMethod []string
	exc        []*Exception
	// hints records rules whose key matched but was not unique, so that an
	// unpaired source can still be shown the destinations it might be.
	hints [][]hint

	// scratch for applyIndexed, reused between rules.
	claims    [][]int
	claimants []int
}

type hint struct {
	method, key string
}

func newMatcher(src, dst []platform.Mailbox) *matcher {
	m := &matcher{
		src: sortMailboxes(src),
		dst: sortMailboxes(dst),
	}
	ns, nd := len(m.src), len(m.dst)

	m.srcPrimary = make([]string, ns)
	m.srcAddrs = make([][]string, ns)
	for i, mb := range m.src {
		m.srcPrimary[i] = normAddr(mb.PrimaryAddress)
		m.srcAddrs[i] = addresses(mb)
	}

	m.dstPrimary = make([]string, nd)
	m.dstByPrimary = make(map[string][]int, nd)
	m.dstByAddr = make(map[string][]int, nd)
	for j, mb := range m.dst {
		p := normAddr(mb.PrimaryAddress)
		m.dstPrimary[j] = p
		if p != "" {
			m.dstByPrimary[p] = append(m.dstByPrimary[p], j)
		}
		for _, a := range addresses(mb) {
			m.dstByAddr[a] = append(m.dstByAddr[a], j)
		}
	}

	m.dstTaken = make([]bool, nd)
	m.pairDst = make([]int, ns)
	for i := range m.pairDst {
		m.pairDst[i] = -1
	}
	m.pairMethod = make([]string, ns)
	m.exc = make([]*Exception, ns)
	m.hints = make([][]hint, ns)
	m.claims = make([][]int, ns)
	m.claimants = make([]int, nd)
	return m
}

// open reports whether source i still waits for a rule.
func (m *matcher) open(i int) bool {
	return m.pairDst[i] < 0 && m.exc[i] == nil
}

// applyIndexed runs a rule that may find several candidates per source.
// claimsFor returns the free destinations source i matches, deduplicated and
// ascending. A source pairs only when it has
// exactly one candidate and nobody else claims that candidate; otherwise the
// source is ambiguous and its candidates are held back.
func (m *matcher) applyIndexed(method string, claimsFor func(i int) []int) {
	// Decide on the full picture first, then act: pairing while scanning
	// would make the outcome depend on which source came first.
	for i := range m.src {
		m.claims[i] = nil
		if !m.open(i) {
			continue
		}
		c := claimsFor(i)
		if len(c) == 0 {
			continue
		}
		m.claims[i] = c
		for _, j := range c {
			m.claimants[j]++
		}
	}
	var hold []int
	for i, c := range m.claims {
		if len(c) == 0 {
			continue
		}
		if len(c) == 1 && m.claimants[c[0]] == 1 {
			m.pair(i, c[0], method)
			continue
		}
		m.exc[i] = m.ambiguous(i, c, method)
		hold = append(hold, c...)
	}
	for _, j := range hold {
		m.dstTaken[j] = true
	}
	for i, c := range m.claims {
		for _, j := range c {
			m.claimants[j] = 0
		}
		m.claims[i] = nil
	}
}

func (m *matcher) ambiguous(i int, c []int, method string) *Exception {
	rivals := 0
	for _, j := range c {
		rivals = max(rivals, m.claimants[j]-1)
	}
	addr := m.src[i].PrimaryAddress
	var detail string
	switch {
	case len(c) > 1:
		detail = fmt.Sprintf("%s matches %d destination mailboxes by %s (%s); choose the destination by hand or exclude the mailbox",
			addr, len(c), methodWords(method), m.list(c))
	default:
		detail = fmt.Sprintf("%s and %d other source mailbox(es) match destination %s by %s, and a destination can receive only one source; choose the destination for each by hand",
			addr, rivals, m.dst[c[0]].PrimaryAddress, methodWords(method))
	}
	if len(c) > 1 && rivals > 0 {
		detail += "; other source mailboxes also match some of them"
	}
	return &Exception{
		Source:     m.src[i],
		Reason:     ReasonAmbiguous,
		Detail:     detail,
		Candidates: m.mailboxes(c),
	}
}

func (m *matcher) pair(i, j int, method string) {
	m.pairDst[i] = j
	m.pairMethod[i] = method
	m.dstTaken[j] = true
}

// applyUnique runs a rule whose key is only trusted when it is unique on
// both sides among the mailboxes still open. A key shared by several
// mailboxes is not a match (a later rule may still settle it) but is kept as
// a hint for the exception list.
func (m *matcher) applyUnique(method string, srcKey func(i int) string, dstKey func(j int) string) {
	srcCount := make(map[string]int)
	for i := range m.src {
		if m.open(i) {
			if k := srcKey(i); k != "" {
				srcCount[k]++
			}
		}
	}
	dstOf := make(map[string][]int)
	for j := range m.dst {
		if !m.dstTaken[j] {
			if k := dstKey(j); k != "" {
				dstOf[k] = append(dstOf[k], j)
			}
		}
	}
	for i := range m.src {
		if !m.open(i) {
			continue
		}
		k := srcKey(i)
		if k == "" {
			continue
		}
		ds := dstOf[k]
		switch {
		case len(ds) == 0:
		case len(ds) == 1 && srcCount[k] == 1:
			m.pair(i, ds[0], method)
		default:
			m.hints[i] = append(m.hints[i], hint{method, k})
		}
	}
}

func (m *matcher) primaryClaims(i int) []int {
	p := m.srcPrimary[i]
	if p == "" {
		return nil
	}
	return m.appendFree(nil, m.dstByPrimary[p])
}

func (m *matcher) aliasClaims(i int) []int {
	var buf []int
	for _, a := range m.srcAddrs[i] {
		buf = m.appendFree(buf, m.dstByAddr[a])
	}
	return sortUnique(buf)
}

func (m *matcher) rewriteClaims(i int, rw map[string]string) []int {
	var buf []int
	for _, a := range m.srcAddrs[i] {
		local, domain, ok := splitAddr(a)
		if !ok {
			continue
		}
		to, ok := rw[domain]
		if !ok {
			continue
		}
		buf = m.appendFree(buf, m.dstByAddr[local+"@"+to])
	}
	return sortUnique(buf)
}

// appendFree appends the destinations in js that no rule has taken yet.
func (m *matcher) appendFree(buf, js []int) []int {
	for _, j := range js {
		if !m.dstTaken[j] {
			buf = append(buf, j)
		}
	}
	return buf
}

func (m *matcher) srcLocal(i int) string {
	l, _, _ := splitAddr(m.srcPrimary[i])
	return l
}

func (m *matcher) dstLocal(j int) string {
	l, _, _ := splitAddr(m.dstPrimary[j])
	return l
}

func (m *matcher) srcDisplay(i int) string { return normName(m.src[i].DisplayName) }
func (m *matcher) dstDisplay(j int) string { return normName(m.dst[j].DisplayName) }

// result assembles the output in source order and turns every source left
// open into an exception.
func (m *matcher) result() Result {
	res := Result{Pairs: []Pair{}, Exceptions: []Exception{}}
	// Hinted sources are shown the destinations still free that share their
	// key. The free destinations are indexed once, so a display name shared
	// by thousands of mailboxes costs one pass, not one pass per source.
	freeBy := map[string]map[string][]int{
		MethodLocalPart:   {},
		MethodDisplayName: {},
	}
	for j := range m.dst {
		if m.dstTaken[j] {
			continue
		}
		if k := m.dstLocal(j); k != "" {
			freeBy[MethodLocalPart][k] = append(freeBy[MethodLocalPart][k], j)
		}
		if k := m.dstDisplay(j); k != "" {
			freeBy[MethodDisplayName][k] = append(freeBy[MethodDisplayName][k], j)
		}
	}

	for i, src := range m.src {
		if j := m.pairDst[i]; j >= 0 {
			res.Pairs = append(res.Pairs, Pair{Source: src, Destination: m.dst[j], Method: m.pairMethod[i]})
			continue
		}
		if e := m.exc[i]; e != nil {
			res.Exceptions = append(res.Exceptions, *e)
			continue
		}
		var cands []int
		var words []string
		total := 0
		for _, h := range m.hints[i] {
			js := freeBy[h.method][h.key]
			if len(js) == 0 {
				continue
			}
			cands = append(cands, js[:min(len(js), MaxCandidates)]...)
			total += len(js)
			words = append(words, fmt.Sprintf("%s %q", methodWords(h.method), h.key))
		}
		cands = sortUnique(cands)
		if len(cands) == 0 {
			res.Exceptions = append(res.Exceptions, Exception{
				Source: src,
				Reason: ReasonNoMatch,
				Detail: fmt.Sprintf("no destination mailbox matches %s by primary address, alias, local part or display name; choose a destination, exclude the mailbox, or flag a destination for creation",
					describe(src)),
			})
			continue
		}
		if len(cands) > MaxCandidates {
			cands = cands[:MaxCandidates]
		}
		res.Exceptions = append(res.Exceptions, Exception{
			Source: src,
			Reason: ReasonAmbiguous,
			Detail: fmt.Sprintf("%s shares its %s with other mailboxes, so no unique match was found (%d possible destination(s)); choose the destination by hand",
				describe(src), strings.Join(words, " and its "), total),
			Candidates: m.mailboxes(cands),
		})
	}
	return res
}

func (m *matcher) mailboxes(js []int) []platform.Mailbox {
	out := make([]platform.Mailbox, 0, min(len(js), MaxCandidates))
	for _, j := range js[:min(len(js), MaxCandidates)] {
		out = append(out, m.dst[j])
	}
	return out
}

// list names up to MaxCandidates destinations for a Detail message.
func (m *matcher) list(js []int) string {
	names := make([]string, 0, min(len(js), MaxCandidates))
	for _, j := range js[:min(len(js), MaxCandidates)] {
		names = append(names, m.dst[j].PrimaryAddress)
	}
	s := strings.Join(names, ", ")
	if len(js) > MaxCandidates {
		s += fmt.Sprintf(" and %d more", len(js)-MaxCandidates)
	}
	return s
}

func describe(mb platform.Mailbox) string {
	if mb.PrimaryAddress != "" {
		return mb.PrimaryAddress
	}
	if mb.DisplayName != "" {
		return fmt.Sprintf("%q", mb.DisplayName)
	}
	return "mailbox " + mb.ID
}

func methodWords(method string) string {
	switch method {
	case MethodPrimary:
		return "primary address"
	case MethodAlias:
		return "alias"
	case MethodLocalPart:
		return "local part"
	case MethodDisplayName:
		return "display name"
	}
	return method
}

// sortMailboxes returns a copy of mbs in result order. The original index is
// the last tie-break so that even identical entries keep a stable order.
func sortMailboxes(mbs []platform.Mailbox) []platform.Mailbox {
	type keyed struct {
		key string
		idx int
	}
	ks := make([]keyed, len(mbs))
	for i, mb := range mbs {
		ks[i] = keyed{normAddr(mb.PrimaryAddress), i}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		return cmp.Or(
			cmp.Compare(a.key, b.key),
			cmp.Compare(mbs[a.idx].ID, mbs[b.idx].ID),
			cmp.Compare(a.idx, b.idx),
		)
	})
	out := make([]platform.Mailbox, len(mbs))
	for i, k := range ks {
		out[i] = mbs[k.idx]
	}
	return out
}

// addresses returns the normalised primary address and aliases of mb,
// without empties or duplicates.
func addresses(mb platform.Mailbox) []string {
	out := make([]string, 0, 1+len(mb.Aliases))
	add := func(s string) {
		if s = normAddr(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(mb.PrimaryAddress)
	for _, a := range mb.Aliases {
		add(a)
	}
	return out
}

// normAddr folds case: the local part is case-sensitive in theory (RFC 5321)
// but no platform mailferry supports treats it so, and exports from admin
// consoles mix cases freely. Some exports prefix "smtp:" (Exchange proxy
// addresses); that prefix is dropped.
func normAddr(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "smtp:")
	return s
}

// normName folds case and collapses runs of whitespace, since display names
// typed by hand differ in exactly those ways.
func normName(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

func splitAddr(a string) (local, domain string, ok bool) {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return "", "", false
	}
	return a[:at], a[at+1:], true
}

func normRewrite(rw map[string]string) map[string]string {
	out := make(map[string]string, len(rw))
	for k, v := range rw {
		k = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(k)), "@")
		v = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(v)), "@")
		if k != "" && v != "" {
			out[k] = v
		}
	}
	return out
}

// sortUnique sorts js and drops duplicates in place.
func sortUnique(js []int) []int {
	slices.Sort(js)
	return slices.Compact(js)
}
