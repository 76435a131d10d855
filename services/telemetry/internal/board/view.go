package board

import (
	"math"
	"sort"
	"time"

	"github.com/mailferry/mailferry/events/progress"
	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/libs/errs"
)

// ErrorInfo is why a mailbox failed, as transfer reported it.
type ErrorInfo struct {
	Code   string `json:"code"`
	Cause  string `json:"cause"`
	Action string `json:"action,omitempty"`
}

// Totals count a run's mailboxes by state, and what they moved so far.
type Totals struct {
	Mailboxes int   `json:"mailboxes"`
	Queued    int   `json:"queued"`
	Running   int   `json:"running"`
	Completed int   `json:"completed"`
	Failed    int   `json:"failed"`
	Cancelled int   `json:"cancelled"`
	Items     int   `json:"items"`
	Bytes     int64 `json:"bytes"`
}

// Mailbox is one mailbox of a run as the queries show it.
type Mailbox struct {
	RunID string `json:"runId"`
	// ProjectID is set in fleet views, which span projects.
	ProjectID     string `json:"projectId,omitempty"`
	SourceID      string `json:"sourceId"`
	SourceAddress string `json:"sourceAddress"`
	State         string `json:"state"`
	// Health is judged when asked: healthy, throttled (RetryAfterMs is the
	// platform's wait), slow, stalled, failing or completed; HealthReason
	// says why when it is not healthy.
	Health       string `json:"health,omitempty"`
	HealthReason string `json:"healthReason,omitempty"`
	RetryAfterMs int64  `json:"retryAfterMs,omitempty"`
	Items        int    `json:"items"`
	Bytes        int64  `json:"bytes"`
	TotalItems   int    `json:"totalItems,omitempty"`
	FailedItems  int    `json:"failedItems,omitempty"`
	Folder       string `json:"folder,omitempty"`
	Worker       string `json:"worker,omitempty"`
	Resumed      bool   `json:"resumed,omitempty"`
	// StartedAt, UpdatedAt and FinishedAt are unset until known.
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	UpdatedAt  *time.Time `json:"updatedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	// Final is the item outcome of an ended mailbox (completed or failed).
	Final *transfer.Counts `json:"final,omitempty"`
	// Error says why a failed mailbox stopped.
	Error *ErrorInfo `json:"error,omitempty"`
	// Rates are measured over the recent snapshots of a running mailbox;
	// zero otherwise. EtaSeconds is null when unknown (no total, no rate).
	ItemsPerMinute float64 `json:"itemsPerMinute"`
	BytesPerSecond float64 `json:"bytesPerSecond"`
	EtaSeconds     *int64  `json:"etaSeconds"`
}

// Snapshot is one recent progress event of a mailbox.
type Snapshot struct {
	At           time.Time `json:"at"`
	Items        int       `json:"items"`
	Bytes        int64     `json:"bytes"`
	TotalItems   int       `json:"totalItems,omitempty"`
	FailedItems  int       `json:"failedItems,omitempty"`
	Folder       string    `json:"folder,omitempty"`
	Health       string    `json:"health,omitempty"`
	RetryAfterMs int64     `json:"retryAfterMs,omitempty"`
}

// MailboxDetail is a mailbox with its recent snapshots, oldest first.
type MailboxDetail struct {
	Mailbox
	Snapshots []Snapshot `json:"snapshots"`
}

// RunQuery selects a page of a run's mailboxes, optionally in one state.
type RunQuery struct {
	RunID  string
	State  string
	Offset int
	Limit  int
}

// Run is a run with a page of its mailboxes.
type Run struct {
	RunID      string     `json:"runId"`
	ProjectID  string     `json:"projectId"`
	AccountID  string     `json:"accountId"`
	State      string     `json:"state"`
	Mode       string     `json:"mode"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	Totals     Totals     `json:"totals"`
	// Total is how many mailboxes match the query, across all pages.
	Total     int       `json:"total"`
	Mailboxes []Mailbox `json:"mailboxes"`
}

// RunSummary is one run of a project.
type RunSummary struct {
	RunID      string     `json:"runId"`
	AccountID  string     `json:"accountId"`
	State      string     `json:"state"`
	Mode       string     `json:"mode"`
	Totals     Totals     `json:"totals"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// Project lists a project's runs, newest first.
type Project struct {
	ProjectID string       `json:"projectId"`
	Runs      []RunSummary `json:"runs"`
}

func notFoundRun(runID string) error {
	return errs.New(errs.NotFound, "no progress is known for run "+runID, "check the run id; a run appears once transfer has started it")
}

// Run answers the run query. An unknown run is errs.NotFound.
func (b *Board) Run(q RunQuery) (Run, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	r, ok := b.runs[q.RunID]
	if !ok {
		return Run{}, notFoundRun(q.RunID)
	}
	now := b.now()
	out := Run{RunID: r.id, ProjectID: r.projectID, AccountID: r.accountID, State: r.state, Mode: r.mode,
		StartedAt: r.startTime(), FinishedAt: ptime(r.finished), Totals: r.totals(), Mailboxes: []Mailbox{}}
	var match []*mailbox
	for _, m := range r.mailboxes {
		if q.State == "" || m.state == q.State {
			match = append(match, m)
		}
	}
	// By address, for people reading the list; mailboxes whose address is
	// not known yet (no progress) follow, by id.
	sort.Slice(match, func(i, j int) bool {
		ai, aj := match[i].address, match[j].address
		if (ai == "") != (aj == "") {
			return aj == ""
		}
		if ai != aj {
			return ai < aj
		}
		return match[i].sourceID < match[j].sourceID
	})
	out.Total = len(match)
	if q.Offset < len(match) {
		match = match[q.Offset:]
		if q.Limit > 0 && q.Limit < len(match) {
			match = match[:q.Limit]
		}
		for _, m := range match {
			out.Mailboxes = append(out.Mailboxes, m.view(b.window, b.rules, now))
		}
	}
	return out, nil
}

// Project answers the project query; a project without runs has an empty list.
func (b *Board) Project(projectID string) Project {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := Project{ProjectID: projectID, Runs: []RunSummary{}}
	runs := make([]*run, 0, len(b.byProject[projectID]))
	for _, r := range b.byProject[projectID] {
		runs = append(runs, r)
	}
	sort.Slice(runs, func(i, j int) bool {
		ti, tj := runs[i].startOrSeen(), runs[j].startOrSeen()
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return runs[i].id > runs[j].id
	})
	for _, r := range runs {
		out.Runs = append(out.Runs, RunSummary{RunID: r.id, AccountID: r.accountID, State: r.state, Mode: r.mode,
			Totals: r.totals(), StartedAt: r.startTime(), FinishedAt: ptime(r.finished)})
	}
	return out
}

// Mailbox answers the mailbox query: one mailbox with its recent snapshots.
func (b *Board) Mailbox(runID, sourceID string) (MailboxDetail, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	r, ok := b.runs[runID]
	if !ok {
		return MailboxDetail{}, notFoundRun(runID)
	}
	m, ok := r.mailboxes[sourceID]
	if !ok {
		return MailboxDetail{}, errs.New(errs.NotFound, "run "+runID+" has no progress for mailbox "+sourceID, "check the source mailbox id; a mailbox appears once its worker reports on it")
	}
	out := MailboxDetail{Mailbox: m.view(b.window, b.rules, b.now()), Snapshots: []Snapshot{}}
	for _, s := range m.recent(b.window) {
		out.Snapshots = append(out.Snapshots, Snapshot{At: s.at.UTC(), Items: s.items, Bytes: s.bytes, TotalItems: s.totalItems,
			FailedItems: s.failed, Folder: s.folder, Health: s.health, RetryAfterMs: s.retryAfterMs})
	}
	return out, nil
}

func (r *run) startOrSeen() time.Time {
	if !r.started.IsZero() {
		return r.started
	}
	return r.firstSeen
}

func (r *run) startTime() *time.Time { return ptime(r.startOrSeen()) }

// totals counts mailboxes transfer announced but no event named yet as
// queued, since that is where they are.
func (r *run) totals() Totals {
	var t Totals
	for _, m := range r.mailboxes {
		switch m.state {
		case Queued:
			t.Queued++
		case Running:
			t.Running++
		case Completed:
			t.Completed++
		case Failed:
			t.Failed++
		case Cancelled:
			t.Cancelled++
		}
		t.Items += m.cur.items
		t.Bytes += m.cur.bytes
	}
	t.Mailboxes = max(r.declared, len(r.mailboxes))
	t.Queued += t.Mailboxes - len(r.mailboxes)
	return t
}

func (m *mailbox) recent(window int) []snapshot {
	if len(m.window) > window {
		return m.window[len(m.window)-window:]
	}
	return m.window
}

func (m *mailbox) view(window int, rules Rules, now time.Time) Mailbox {
	v := Mailbox{RunID: m.runID, SourceID: m.sourceID, SourceAddress: m.address, State: m.state,
		Health: m.cur.health, RetryAfterMs: m.cur.retryAfterMs, Items: m.cur.items, Bytes: m.cur.bytes,
		TotalItems: m.cur.totalItems, FailedItems: m.cur.failed, Folder: m.cur.folder, Worker: m.worker, Resumed: m.resumed,
		StartedAt: ptime(m.started), UpdatedAt: ptime(m.updated), FinishedAt: ptime(m.end), Final: m.final, Error: m.err}
	switch m.state {
	case Completed:
		v.Health, v.RetryAfterMs = progress.Completed, 0
	case Failed:
		v.Health, v.RetryAfterMs = progress.Failing, 0
		if m.err != nil {
			v.HealthReason = m.err.Cause
		}
	case Cancelled:
		v.RetryAfterMs = 0
	case Running:
		v.ItemsPerMinute, v.BytesPerSecond, v.EtaSeconds = rates(m.recent(window))
		v.Health, v.HealthReason = rules.judge(m, m.recent(window), now)
		if v.Health != progress.Throttled {
			v.RetryAfterMs = 0
		}
	}
	return v
}

// rates measures items per minute and bytes per second between the oldest
// and newest snapshot of the window, and the seconds left at that pace when
// the total is known. Counters that went down (a mailbox restarted from its
// checkpoint on another worker) restart the measurement there.
func rates(window []snapshot) (itemsPerMinute, bytesPerSecond float64, eta *int64) {
	if len(window) == 0 {
		return 0, 0, nil
	}
	first := 0
	for i := 1; i < len(window); i++ {
		if window[i].items < window[i-1].items || window[i].bytes < window[i-1].bytes {
			first = i
		}
	}
	a, z := window[first], window[len(window)-1]
	var ipm float64
	if ms := z.at.Sub(a.at).Milliseconds(); ms > 0 {
		ipm = float64(z.items-a.items) * 60000 / float64(ms)
		itemsPerMinute = round2(ipm)
		bytesPerSecond = round2(float64(z.bytes-a.bytes) * 1000 / float64(ms))
	}
	if z.totalItems > 0 {
		left := z.totalItems - z.items
		switch {
		case left <= 0:
			var zero int64
			eta = &zero
		case ipm > 0:
			s := int64(math.Ceil(float64(left) * 60 / ipm))
			eta = &s
		}
	}
	return itemsPerMinute, bytesPerSecond, eta
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

func ptime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
