package board

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/mailferry/mailferry/events/progress"
)

// Health values judged at query time on top of the ones transfer reports
// (progress.Healthy, Throttled, Failing, Completed).
const (
	Slow    = "slow"
	Stalled = "stalled"
)

// Rules say when a running mailbox counts as stalled, failing or slow.
type Rules struct {
	// StallAfter is how long a mailbox may go without any progress before
	// it is stalled (after the platform's own wait, when throttled).
	StallAfter time.Duration
	// FailingRatio is the share of failed items among those handled over
	// the rate window (at least FailingMin of them) that makes a mailbox
	// failing.
	FailingRatio float64
	FailingMin   int
	// SlowItemsPerMinute and SlowBytesPerSecond: below both, measured
	// over at least SlowSpan, a mailbox is slow.
	SlowItemsPerMinute float64
	SlowBytesPerSecond float64
	SlowSpan           time.Duration
}

// DefaultRules are the rules unless configured.
var DefaultRules = Rules{StallAfter: 5 * time.Minute, FailingRatio: 0.5, FailingMin: 3,
	SlowItemsPerMinute: 10, SlowBytesPerSecond: 100 << 10, SlowSpan: 10 * time.Second}

func (r Rules) withDefaults() Rules {
	d := DefaultRules
	if r.StallAfter <= 0 {
		r.StallAfter = d.StallAfter
	}
	if r.FailingRatio <= 0 {
		r.FailingRatio = d.FailingRatio
	}
	if r.FailingMin <= 0 {
		r.FailingMin = d.FailingMin
	}
	if r.SlowSpan <= 0 {
		r.SlowSpan = d.SlowSpan
	}
	return r
}

// judge returns a running mailbox's health and why, from its recent
// snapshots and the time now.
func (rules Rules) judge(m *mailbox, window []snapshot, now time.Time) (string, string) {
	last := m.updated
	if !m.cur.at.IsZero() {
		last = m.cur.at
	}
	if m.cur.health == progress.Throttled {
		wait := time.Duration(m.cur.retryAfterMs) * time.Millisecond
		if last.IsZero() || now.Before(last.Add(wait+rules.StallAfter)) {
			return progress.Throttled, fmt.Sprintf("the platform is throttling: it asked to wait %s", wait)
		}
	}
	if !last.IsZero() && now.Sub(last) > rules.StallAfter {
		return Stalled, fmt.Sprintf("no progress since %s, more than %s ago", last.UTC().Format(time.RFC3339), rules.StallAfter)
	}
	if len(window) >= 2 {
		a, z := window[0], window[len(window)-1]
		handled, failed := z.items-a.items, z.failed-a.failed
		if failed >= rules.FailingMin && handled > 0 && float64(failed) >= rules.FailingRatio*float64(handled) {
			return progress.Failing, fmt.Sprintf("%d of the last %d items failed", failed, handled)
		}
		if rules.SlowItemsPerMinute > 0 && z.at.Sub(a.at) >= rules.SlowSpan && (z.totalItems == 0 || z.items < z.totalItems) {
			ipm, bps, _ := rates(window)
			if ipm < rules.SlowItemsPerMinute && bps < rules.SlowBytesPerSecond {
				return Slow, fmt.Sprintf("%.1f items a minute and %.0f bytes a second, below %.0f items a minute", ipm, bps, rules.SlowItemsPerMinute)
			}
		}
	}
	if m.cur.health != "" && m.cur.health != progress.Throttled {
		return m.cur.health, ""
	}
	return progress.Healthy, ""
}

// FleetQuery selects the mailboxes of an account's running runs whose
// health is one of Health (by default stalled and failing).
type FleetQuery struct {
	AccountID string
	Health    []string
}

// Fleet lists the mailboxes of an account's runs that need attention now,
// across all its projects.
type Fleet struct {
	AccountID string         `json:"accountId"`
	Health    []string       `json:"health"`
	Counts    map[string]int `json:"counts"`
	Mailboxes []Mailbox      `json:"mailboxes"`
}

// Fleet answers the fleet query: every mailbox of the account's runs
// still running whose health is wanted, worst first. A mailbox that failed
// in a run still running counts as failing.
func (b *Board) Fleet(q FleetQuery) Fleet {
	if len(q.Health) == 0 {
		q.Health = []string{Stalled, progress.Failing}
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	now := b.now()
	out := Fleet{AccountID: q.AccountID, Health: q.Health, Counts: map[string]int{}, Mailboxes: []Mailbox{}}
	for _, r := range b.runs {
		if r.accountID != q.AccountID || ended(r.state) {
			continue
		}
		for _, m := range r.mailboxes {
			v := m.view(b.window, b.rules, now)
			v.ProjectID = r.projectID
			out.Counts[v.Health]++
			if slices.Contains(q.Health, v.Health) {
				out.Mailboxes = append(out.Mailboxes, v)
			}
		}
	}
	order := map[string]int{progress.Failing: 0, Stalled: 1, progress.Throttled: 2, Slow: 3}
	sort.Slice(out.Mailboxes, func(i, j int) bool {
		a, z := out.Mailboxes[i], out.Mailboxes[j]
		if oa, oz := order[a.Health], order[z.Health]; oa != oz {
			return oa < oz
		}
		if a.RunID != z.RunID {
			return a.RunID < z.RunID
		}
		return a.SourceID < z.SourceID
	})
	return out
}
