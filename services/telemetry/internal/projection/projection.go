// Package projection writes telemetry's ClickHouse tables (see
// libs/analytics/migrations) from the PROJECT, PROGRESS and TRANSFER
// streams, and answers the queries that read them: the mailbox log, the
// reconciliation report and analysts' SQL.
//
// Replaying the streams from the start gives the same tables: every row is
// derived from one event alone (plus, for throttling episodes, the health
// of the mailbox's previous progress event, which the PROGRESS stream
// orders), keyed by that event's id, and the tables are ReplacingMergeTrees
// read with FINAL or argMax, so rows inserted again collapse. A restart
// still replays every event, to rebuild that little state, but inserts only
// those after the position each stream's rows were written up to.
package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mailferry/mailferry/events/progress"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/libs/analytics"
	"github.com/mailferry/mailferry/libs/bus"
)

// Log levels, in increasing order.
const (
	Info    = "info"
	Warning = "warning"
	Error   = "error"
)

// Levels are the log levels in increasing order.
var Levels = []string{Info, Warning, Error}

// Log kinds.
const (
	KindRunStarted       = "run_started"
	KindRunFinished      = "run_finished"
	KindMailboxStarted   = "mailbox_started"
	KindMailboxResumed   = "mailbox_resumed"
	KindMailboxCompleted = "mailbox_completed"
	KindMailboxFailed    = "mailbox_failed"
	KindMailboxCancelled = "mailbox_cancelled"
	KindThrottled        = "throttled"
	KindThrottleEnded    = "throttle_ended"
	KindRetry            = "retry"
	KindItemSkipped      = "item_skipped"
	KindItemFailed       = "item_failed"
	KindItemWarning      = "item_warning"
)

var (
	progressCols = []string{"at", "account_id", "project_id", "run_id", "source_id", "source_address", "state", "health",
		"retry_after_ms", "folder", "items", "bytes", "total_items", "failed", "updated", "deleted", "event_id"}
	logCols = []string{"at", "account_id", "project_id", "run_id", "source_id", "source_address", "level", "kind",
		"message", "code", "cause", "action", "retry_after_ms", "items", "bytes", "event_id", "line"}
	ledgerCols = []string{"at", "account_id", "project_id", "run_id", "source_id", "source_address", "folder_id", "folder",
		"item_id", "kind", "outcome", "code", "reason", "destination_id", "content_hash", "size", "event_id"}
	projectCols = []string{"project_id", "account_id", "name", "source_platform", "destination_platform", "created_at", "event_id"}
)

// Streams are the streams the projection reads.
var Streams = []string{"PROJECT", "PROGRESS", "TRANSFER"}

func streamOf(subject string) string {
	switch {
	case strings.HasPrefix(subject, "progress."):
		return "PROGRESS"
	case strings.HasPrefix(subject, "transfer."):
		return "TRANSFER"
	case strings.HasPrefix(subject, "project."):
		return "PROJECT"
	}
	return ""
}

// batch is rows waiting to be written, per table, and the stream positions
// they cover.
type batch struct {
	tables map[string][][]any
	seq    map[string]uint64
	rows   int
}

func newBatch() *batch { return &batch{tables: map[string][][]any{}, seq: map[string]uint64{}} }

// Projection turns events into rows and writes them in batches.
type Projection struct {
	store analytics.Store
	log   *slog.Logger

	mu sync.Mutex
	// written is how far each stream's rows are in the store (from
	// ingest_position at start, then after each flush).
	written map[string]uint64
	pending *batch
	// health is each mailbox's health in its latest progress event, for
	// throttling episodes.
	health map[string]string
	full   chan struct{}
	// flushMu serialises flushes, so positions only move forward.
	flushMu sync.Mutex
}

// maxPending is how many rows make a flush happen before its tick.
const maxPending = 50000

// New returns a projection writing to store, which must be migrated.
func New(ctx context.Context, store analytics.Store, log *slog.Logger) (*Projection, error) {
	if store == nil || log == nil {
		return nil, errors.New("projection: nil store or logger")
	}
	p := &Projection{store: store, log: log, written: map[string]uint64{}, pending: newBatch(),
		health: map[string]string{}, full: make(chan struct{}, 1)}
	rows, err := store.Query(ctx, "SELECT stream, max(seq) FROM ingest_position GROUP BY stream")
	if err != nil {
		return nil, fmt.Errorf("projection: read positions: %w", err)
	}
	for _, r := range rows.Values {
		p.written[r[0].(string)] = r[1].(uint64)
	}
	return p, nil
}

// Positions returns how far each stream's rows are written.
func (p *Projection) Positions() map[string]uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]uint64, len(p.written))
	for k, v := range p.written {
		out[k] = v
	}
	return out
}

// Apply folds one event in. It never blocks on the store.
func (p *Projection) Apply(env bus.Envelope) {
	stream := streamOf(env.Subject)
	if stream == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	rows := p.rows(env)
	if env.Seq <= p.written[stream] {
		return // already in the store; the state above is rebuilt anyway
	}
	for table, rs := range rows {
		p.pending.tables[table] = append(p.pending.tables[table], rs...)
		p.pending.rows += len(rs)
	}
	if env.Seq > p.pending.seq[stream] {
		p.pending.seq[stream] = env.Seq
	}
	if p.pending.rows >= maxPending {
		select {
		case p.full <- struct{}{}:
		default:
		}
	}
}

// Run flushes every interval until ctx ends, then once more.
func (p *Projection) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := p.Flush(fctx); err != nil {
				p.log.Warn("telemetry rows not written at shutdown; the next start writes them", "error", err)
			}
			cancel()
			return
		case <-t.C:
		case <-p.full:
		}
		if err := p.Flush(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("telemetry rows not written yet; retrying", "error", err)
		}
	}
}

// Flush writes the pending rows, then the positions they reach. Rows that
// fail to write stay pending (written again later, which the tables
// absorb).
func (p *Projection) Flush(ctx context.Context) error {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	p.mu.Lock()
	b := p.pending
	p.pending = newBatch()
	p.mu.Unlock()
	if len(b.seq) == 0 {
		return nil
	}
	err := p.write(ctx, b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		// Put the batch back in front of what arrived meanwhile.
		for table, rs := range p.pending.tables {
			b.tables[table] = append(b.tables[table], rs...)
		}
		for s, q := range p.pending.seq {
			b.seq[s] = max(b.seq[s], q)
		}
		b.rows += p.pending.rows
		p.pending = b
		return err
	}
	for s, q := range b.seq {
		p.written[s] = max(p.written[s], q)
	}
	return nil
}

func (p *Projection) write(ctx context.Context, b *batch) error {
	cols := map[string][]string{"mailbox_progress": progressCols, "mailbox_log": logCols, "item_ledger": ledgerCols, "projects": projectCols}
	for table, rows := range b.tables {
		if len(rows) == 0 {
			continue
		}
		if err := p.store.Insert(ctx, table, cols[table], rows); err != nil {
			return err
		}
	}
	var pos [][]any
	for s, q := range b.seq {
		pos = append(pos, []any{s, q})
	}
	return p.store.Insert(ctx, "ingest_position", []string{"stream", "seq"}, pos)
}

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func u(v int) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

func u64(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// logRow is one line of mailbox_log.
type logRow struct {
	at                                  time.Time
	account, project, run, src, address string
	level, kind, message                string
	code, cause, action                 string
	retryAfterMs                        int64
	items                               int
	bytes                               int64
}

func (l logRow) values(eventID string, line int) []any {
	return []any{l.at.UTC(), l.account, l.project, l.run, l.src, l.address, l.level, l.kind, l.message,
		l.code, l.cause, l.action, u64(l.retryAfterMs), u(l.items), u64(l.bytes), eventID, uint32(line)}
}

// rows derives the rows of one event; p.mu is held.
func (p *Projection) rows(env bus.Envelope) map[string][][]any {
	out := map[string][][]any{}
	var lines []logRow
	switch e := env.Event.(type) {
	case project.ProjectCreated:
		out["projects"] = [][]any{{e.ProjectID, e.AccountID, e.Name, e.Source, e.Destination, env.Time.UTC(), env.ID}}
	case progress.MailboxProgress:
		at := ms(e.At)
		out["mailbox_progress"] = [][]any{{at, e.AccountID, e.ProjectID, e.RunID, e.SourceID, e.SourceAddress, e.State, e.Health,
			u64(e.RetryAfterMs), e.Folder, u(e.Items), u64(e.Bytes), u(e.TotalItems), u(e.Failed), u(e.Updated), u(e.Deleted), env.ID}}
		key := e.RunID + "\x00" + e.SourceID
		prev := p.health[key]
		p.health[key] = e.Health
		base := logRow{at: at, account: e.AccountID, project: e.ProjectID, run: e.RunID, src: e.SourceID, address: e.SourceAddress}
		switch {
		case e.Health == progress.Throttled && prev != progress.Throttled:
			base.level, base.kind, base.retryAfterMs = Warning, KindThrottled, e.RetryAfterMs
			base.code = "throttled"
			base.message = fmt.Sprintf("the platform is throttling this mailbox; waiting %s as it asked", time.Duration(e.RetryAfterMs)*time.Millisecond)
			base.cause = "the platform's request limits for this mailbox were reached"
			base.action = "nothing to do: the transfer waits as the platform asks and goes on by itself"
			lines = append(lines, base)
		case prev == progress.Throttled && e.Health != progress.Throttled:
			base.level, base.kind = Info, KindThrottleEnded
			base.message = "throttling ended; the transfer goes on at full pace"
			base.items, base.bytes = e.Items, e.Bytes
			lines = append(lines, base)
		}
	case transfer.RunStarted:
		lines = append(lines, logRow{at: env.Time, account: e.AccountID, project: e.ProjectID, run: e.RunID, level: Info, kind: KindRunStarted,
			message: fmt.Sprintf("%s run started with %d mailboxes", e.Mode, e.Mailboxes)})
	case transfer.RunFinished:
		l := logRow{at: env.Time, account: e.AccountID, project: e.ProjectID, run: e.RunID, level: Info, kind: KindRunFinished,
			message: fmt.Sprintf("run %s: %d mailboxes completed, %d failed, %d cancelled", e.State, e.Completed, e.Failed, e.Cancelled)}
		if e.Failed > 0 {
			l.level = Error
		}
		lines = append(lines, l)
	case transfer.MailboxStarted:
		l := logRow{at: env.Time, account: e.AccountID, project: e.ProjectID, run: e.RunID, src: e.SourceID, address: e.SourceAddress,
			level: Info, kind: KindMailboxStarted, message: fmt.Sprintf("started on worker %s (shard %d)", e.Worker, e.Shard)}
		if e.Resumed {
			l.kind = KindMailboxResumed
			l.message = fmt.Sprintf("resumed from its checkpoint on worker %s (shard %d): items already copied are not copied again", e.Worker, e.Shard)
		}
		lines = append(lines, l)
	case transfer.MailboxCompleted:
		c := e.Counts
		lines = append(lines, logRow{at: env.Time, account: e.AccountID, project: e.ProjectID, run: e.RunID, src: e.SourceID,
			level: Info, kind: KindMailboxCompleted, items: total(c), bytes: c.Bytes,
			message: fmt.Sprintf("completed: %d copied, %d updated, %d already present, %d deleted, %d skipped, %d failed, %d folders",
				c.Copied, c.Updated, c.AlreadyPresent, c.Deleted, c.Skipped, c.Failed, c.Folders)})
	case transfer.MailboxFailed:
		c := e.Counts
		lines = append(lines, logRow{at: env.Time, account: e.AccountID, project: e.ProjectID, run: e.RunID, src: e.SourceID,
			level: Error, kind: KindMailboxFailed, code: e.Code, cause: e.Cause, action: e.Action, items: total(c), bytes: c.Bytes,
			message: "failed: " + e.Cause})
	case transfer.MailboxCancelled:
		msg := "cancelled before it started"
		if e.Started {
			msg = "cancelled; what was copied stays"
		}
		lines = append(lines, logRow{at: env.Time, account: e.AccountID, project: e.ProjectID, run: e.RunID, src: e.SourceID,
			level: Info, kind: KindMailboxCancelled, message: msg})
	case transfer.ItemOutcomes:
		base := logRow{account: e.AccountID, project: e.ProjectID, run: e.RunID, src: e.SourceID, address: e.SourceAddress}
		ledger := make([][]any, 0, len(e.Items))
		for _, it := range e.Items {
			ledger = append(ledger, []any{ms(it.At), e.AccountID, e.ProjectID, e.RunID, e.SourceID, e.SourceAddress, it.FolderID, it.Folder,
				it.ItemID, it.Kind, it.Outcome, it.Code, it.Reason, it.DestinationID, it.ContentHash, u64(it.Size), env.ID})
			l := base
			l.at, l.code, l.cause, l.bytes = ms(it.At), it.Code, it.Reason, it.Size
			switch it.Outcome {
			case transfer.OutcomeSkipped:
				l.level, l.kind = Warning, KindItemSkipped
				l.message = fmt.Sprintf("item %s in %s skipped: %s", it.ItemID, it.Folder, it.Reason)
				l.action = "it is listed in the reconciliation report; move it by hand if it is needed"
			case transfer.OutcomeFailed:
				l.level, l.kind = Error, KindItemFailed
				l.message = fmt.Sprintf("item %s in %s failed: %s", it.ItemID, it.Folder, it.Reason)
				l.action = "it is listed in the reconciliation report; check the item at the source and run the mailbox again"
			case "copied_with_warnings":
				l.level, l.kind = Warning, KindItemWarning
				l.message = fmt.Sprintf("item %s in %s copied with a warning: %s", it.ItemID, it.Folder, it.Reason)
			default:
				continue
			}
			lines = append(lines, l)
		}
		out["item_ledger"] = ledger
		for _, r := range e.Retries {
			l := base
			l.at, l.level, l.kind, l.code, l.cause, l.retryAfterMs = ms(r.At), Warning, KindRetry, r.Code, r.Cause, r.WaitMs
			l.message = fmt.Sprintf("a platform call failed (%s); retry %d in %s", r.Cause, r.Attempt, time.Duration(r.WaitMs)*time.Millisecond)
			l.action = "nothing to do unless it keeps failing: the mailbox fails after the last attempt"
			lines = append(lines, l)
		}
	}
	if len(lines) > 0 {
		rs := make([][]any, len(lines))
		for i, l := range lines {
			rs[i] = l.values(env.ID, i)
		}
		out["mailbox_log"] = rs
	}
	return out
}

func total(c transfer.Counts) int {
	return c.Copied + c.AlreadyPresent + c.Updated + c.Deleted + c.Skipped + c.Failed
}
