package projection

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/libs/analytics"
)

// LogQuery selects log lines of a project, or of one of its mailboxes.
type LogQuery struct {
	ProjectID string
	// SourceID keeps one mailbox's lines (and the run-level lines of its
	// runs when Runs is set); empty keeps the whole project's.
	SourceID string
	RunID    string
	// MinLevel keeps lines at this level or above.
	MinLevel string
	From, To time.Time
	Offset   int
	Limit    int
}

// LogLine is one line of the chronological log.
type LogLine struct {
	At            time.Time `json:"at"`
	RunID         string    `json:"runId"`
	SourceID      string    `json:"sourceId,omitempty"`
	SourceAddress string    `json:"sourceAddress,omitempty"`
	Level         string    `json:"level"`
	Kind          string    `json:"kind"`
	Message       string    `json:"message"`
	Code          string    `json:"code,omitempty"`
	Cause         string    `json:"cause,omitempty"`
	Action        string    `json:"action,omitempty"`
	RetryAfterMs  uint64    `json:"retryAfterMs,omitempty"`
	Items         uint64    `json:"items,omitempty"`
	Bytes         uint64    `json:"bytes,omitempty"`
}

// LogPage is a page of log lines, oldest first, and how many match.
type LogPage struct {
	ProjectID string    `json:"projectId"`
	SourceID  string    `json:"sourceId,omitempty"`
	Total     uint64    `json:"total"`
	Offset    int       `json:"offset"`
	Limit     int       `json:"limit"`
	Lines     []LogLine `json:"lines"`
}

// ResolveMailbox turns a mailbox named by id or address into its source id
// in the project ("" when the project's log never named it).
func ResolveMailbox(ctx context.Context, s analytics.Store, projectID, mailbox string) (string, error) {
	rows, err := s.Query(ctx, `SELECT source_id FROM mailbox_log
WHERE project_id = ? AND source_id != '' AND (source_id = ? OR lower(source_address) = lower(?))
LIMIT 1`, projectID, mailbox, mailbox)
	if err != nil {
		return "", err
	}
	if rows.Len() == 0 {
		return "", nil
	}
	return rows.Values[0][0].(string), nil
}

// Log answers a page of the log.
func Log(ctx context.Context, s analytics.Store, q LogQuery) (LogPage, error) {
	where := []string{"project_id = ?"}
	args := []any{q.ProjectID}
	if q.SourceID != "" {
		where = append(where, "source_id = ?")
		args = append(args, q.SourceID)
	}
	if q.RunID != "" {
		where = append(where, "run_id = ?")
		args = append(args, q.RunID)
	}
	if i := slices.Index(Levels, q.MinLevel); i > 0 {
		where = append(where, "level IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(Levels)-i), ", ")+")")
		for _, l := range Levels[i:] {
			args = append(args, l)
		}
	}
	if !q.From.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, q.From)
	}
	if !q.To.IsZero() {
		where = append(where, "at < ?")
		args = append(args, q.To)
	}
	cond := strings.Join(where, " AND ")
	page := LogPage{ProjectID: q.ProjectID, SourceID: q.SourceID, Offset: q.Offset, Limit: q.Limit, Lines: []LogLine{}}
	n, err := s.Query(ctx, "SELECT count() FROM mailbox_log FINAL WHERE "+cond, args...)
	if err != nil {
		return page, err
	}
	page.Total = n.Values[0][0].(uint64)
	rows, err := s.Query(ctx, `SELECT at, run_id, source_id, source_address, level, kind, message, code, cause, action,
	retry_after_ms, items, bytes
FROM mailbox_log FINAL WHERE `+cond+`
ORDER BY at, event_id, line
LIMIT ? OFFSET ?`, append(args, q.Limit, q.Offset)...)
	if err != nil {
		return page, err
	}
	for _, r := range rows.Values {
		page.Lines = append(page.Lines, LogLine{At: r[0].(time.Time), RunID: r[1].(string), SourceID: r[2].(string), SourceAddress: r[3].(string),
			Level: r[4].(string), Kind: r[5].(string), Message: r[6].(string), Code: r[7].(string), Cause: r[8].(string), Action: r[9].(string),
			RetryAfterMs: r[10].(uint64), Items: r[11].(uint64), Bytes: r[12].(uint64)})
	}
	return page, nil
}

// ReportQuery selects a reconciliation report: a project's, or one
// mailbox's, over all its runs or one.
type ReportQuery struct {
	ProjectID string
	SourceID  string
	RunID     string
	// Offset and Limit page the listed items.
	Offset int
	Limit  int
}

// Counts are item totals by outcome. Source counts the items the runs
// found at the source (still there: deleted ones are not), Destination
// those that have a copy at the destination.
type Counts struct {
	Source         uint64 `json:"source"`
	Destination    uint64 `json:"destination"`
	Copied         uint64 `json:"copied"`
	Updated        uint64 `json:"updated"`
	AlreadyPresent uint64 `json:"alreadyPresent"`
	Warnings       uint64 `json:"copiedWithWarnings"`
	Skipped        uint64 `json:"skipped"`
	Failed         uint64 `json:"failed"`
	Deleted        uint64 `json:"deleted"`
}

func (c *Counts) add(o Counts) {
	c.Source += o.Source
	c.Destination += o.Destination
	c.Copied += o.Copied
	c.Updated += o.Updated
	c.AlreadyPresent += o.AlreadyPresent
	c.Warnings += o.Warnings
	c.Skipped += o.Skipped
	c.Failed += o.Failed
	c.Deleted += o.Deleted
}

// FolderReport is one source folder of a mailbox.
type FolderReport struct {
	FolderID string `json:"folderId"`
	Folder   string `json:"folder"`
	Counts
}

// MailboxReport is one mailbox with its folders.
type MailboxReport struct {
	SourceID      string         `json:"sourceId"`
	SourceAddress string         `json:"sourceAddress"`
	Totals        Counts         `json:"totals"`
	Folders       []FolderReport `json:"folders"`
}

// ReportItem is an item that did not move (or moved with a warning).
type ReportItem struct {
	SourceID      string    `json:"sourceId"`
	SourceAddress string    `json:"sourceAddress"`
	FolderID      string    `json:"folderId"`
	Folder        string    `json:"folder"`
	ItemID        string    `json:"itemId"`
	Kind          string    `json:"kind,omitempty"`
	Outcome       string    `json:"outcome"`
	Code          string    `json:"code"`
	Reason        string    `json:"reason"`
	Size          uint64    `json:"size,omitempty"`
	RunID         string    `json:"runId"`
	At            time.Time `json:"at"`
}

// Report is the reconciliation report: per folder source and destination
// counts, and every item not copied with its reason (paged).
type Report struct {
	ProjectID  string          `json:"projectId"`
	SourceID   string          `json:"sourceId,omitempty"`
	RunID      string          `json:"runId,omitempty"`
	Totals     Counts          `json:"totals"`
	Mailboxes  []MailboxReport `json:"mailboxes"`
	ItemsTotal uint64          `json:"itemsTotal"`
	Offset     int             `json:"offset"`
	Limit      int             `json:"limit"`
	Items      []ReportItem    `json:"items"`
}

// latest is each item's latest outcome in the selected runs.
func latest(q ReportQuery) (string, []any) {
	where := []string{"project_id = ?"}
	args := []any{q.ProjectID}
	if q.SourceID != "" {
		where = append(where, "source_id = ?")
		args = append(args, q.SourceID)
	}
	if q.RunID != "" {
		where = append(where, "run_id = ?")
		args = append(args, q.RunID)
	}
	// Aliases differ from the columns: ClickHouse resolves a name to an
	// alias of the same SELECT first.
	return `SELECT source_id, folder_id, item_id,
	argMax(source_address, at) AS l_address, argMax(folder, at) AS l_folder, argMax(kind, at) AS l_kind,
	argMax(outcome, at) AS l_outcome, argMax(code, at) AS l_code, argMax(reason, at) AS l_reason,
	argMax(size, at) AS l_size, argMax(run_id, at) AS l_run, max(at) AS l_at
FROM item_ledger
WHERE ` + strings.Join(where, " AND ") + `
GROUP BY source_id, folder_id, item_id`, args
}

// listed are the outcomes the report lists item by item.
var listed = []string{transfer.OutcomeSkipped, transfer.OutcomeFailed, "copied_with_warnings"}

// Reconcile answers the reconciliation report.
func Reconcile(ctx context.Context, s analytics.Store, q ReportQuery) (Report, error) {
	rep := Report{ProjectID: q.ProjectID, SourceID: q.SourceID, RunID: q.RunID, Offset: q.Offset, Limit: q.Limit,
		Mailboxes: []MailboxReport{}, Items: []ReportItem{}}
	inner, args := latest(q)
	rows, err := s.Query(ctx, `SELECT source_id, max(l_address), folder_id, any(l_folder) AS name,
	countIf(l_outcome != 'deleted'),
	countIf(l_outcome IN ('copied', 'updated', 'already_present', 'copied_with_warnings')),
	countIf(l_outcome = 'copied'), countIf(l_outcome = 'updated'), countIf(l_outcome = 'already_present'),
	countIf(l_outcome = 'copied_with_warnings'), countIf(l_outcome = 'skipped'), countIf(l_outcome = 'failed'), countIf(l_outcome = 'deleted')
FROM (`+inner+`)
GROUP BY source_id, folder_id
ORDER BY source_id, name, folder_id`, args...)
	if err != nil {
		return rep, err
	}
	for _, r := range rows.Values {
		c := Counts{Source: r[4].(uint64), Destination: r[5].(uint64), Copied: r[6].(uint64), Updated: r[7].(uint64),
			AlreadyPresent: r[8].(uint64), Warnings: r[9].(uint64), Skipped: r[10].(uint64), Failed: r[11].(uint64), Deleted: r[12].(uint64)}
		src := r[0].(string)
		if n := len(rep.Mailboxes); n == 0 || rep.Mailboxes[n-1].SourceID != src {
			rep.Mailboxes = append(rep.Mailboxes, MailboxReport{SourceID: src, Folders: []FolderReport{}})
		}
		mb := &rep.Mailboxes[len(rep.Mailboxes)-1]
		if a := r[1].(string); a != "" {
			mb.SourceAddress = a
		}
		mb.Folders = append(mb.Folders, FolderReport{FolderID: r[2].(string), Folder: r[3].(string), Counts: c})
		mb.Totals.add(c)
		rep.Totals.add(c)
	}
	outcomes := []any{}
	for _, o := range listed {
		outcomes = append(outcomes, o)
	}
	n, err := s.Query(ctx, "SELECT count() FROM ("+inner+") WHERE l_outcome IN (?, ?, ?)", append(slices.Clone(args), outcomes...)...)
	if err != nil {
		return rep, err
	}
	rep.ItemsTotal = n.Values[0][0].(uint64)
	items, err := s.Query(ctx, `SELECT source_id, l_address, folder_id, l_folder, item_id, l_kind, l_outcome, l_code, l_reason, l_size, l_run, l_at
FROM (`+inner+`) WHERE l_outcome IN (?, ?, ?)
ORDER BY source_id, l_folder, item_id
LIMIT ? OFFSET ?`, append(append(slices.Clone(args), outcomes...), q.Limit, q.Offset)...)
	if err != nil {
		return rep, err
	}
	for _, r := range items.Values {
		rep.Items = append(rep.Items, ReportItem{SourceID: r[0].(string), SourceAddress: r[1].(string), FolderID: r[2].(string), Folder: r[3].(string),
			ItemID: r[4].(string), Kind: r[5].(string), Outcome: r[6].(string), Code: r[7].(string), Reason: r[8].(string),
			Size: r[9].(uint64), RunID: r[10].(string), At: r[11].(time.Time)})
	}
	return rep, nil
}

// CSVHeader is the first line of the report as CSV: one row per folder
// (record "folder", with counts) and one per listed item (record "item").
var CSVHeader = []string{"record", "mailbox", "source_id", "folder", "folder_id", "source_count", "destination_count",
	"copied", "updated", "already_present", "copied_with_warnings", "skipped", "failed", "deleted",
	"item_id", "outcome", "code", "reason", "size", "run_id"}

// CSV renders a report page: the header and folder rows with the first
// page (Offset 0), then the page's items.
func (r Report) CSV() string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if r.Offset == 0 {
		_ = w.Write(CSVHeader)
		for _, m := range r.Mailboxes {
			for _, f := range m.Folders {
				c := f.Counts
				_ = w.Write([]string{"folder", m.SourceAddress, m.SourceID, f.Folder, f.FolderID, num(c.Source), num(c.Destination),
					num(c.Copied), num(c.Updated), num(c.AlreadyPresent), num(c.Warnings), num(c.Skipped), num(c.Failed), num(c.Deleted),
					"", "", "", "", "", ""})
			}
		}
	}
	for _, it := range r.Items {
		_ = w.Write([]string{"item", it.SourceAddress, it.SourceID, it.Folder, it.FolderID, "", "", "", "", "", "", "", "", "",
			it.ItemID, it.Outcome, it.Code, it.Reason, num(it.Size), it.RunID})
	}
	w.Flush()
	return b.String()
}

func num(v uint64) string { return strconv.FormatUint(v, 10) }

// SQLResult is an analyst's query answer.
type SQLResult struct {
	Backend   string             `json:"backend"`
	Columns   []analytics.Column `json:"columns"`
	Rows      [][]any            `json:"rows"`
	Truncated bool               `json:"truncated,omitempty"`
	Note      string             `json:"note,omitempty"`
}

// MaxSQLBytes bounds an answer, which travels as one bus message.
const MaxSQLBytes = 800 << 10

// SQL runs an analyst's read-only query and keeps as many rows as fit in
// one answer.
func SQL(ctx context.Context, s analytics.Store, query string) (SQLResult, error) {
	q, err := analytics.ReadOnly(query)
	if err != nil {
		return SQLResult{}, err
	}
	rows, err := s.Query(ctx, q)
	if err != nil {
		return SQLResult{}, err
	}
	res := SQLResult{Backend: s.Backend(), Columns: rows.Columns, Rows: rows.Values}
	size := 0
	for i, r := range rows.Values {
		for j, v := range r {
			// JSON has no NaN or infinities: they travel as text.
			if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
				r[j] = strconv.FormatFloat(f, 'g', -1, 64)
			}
		}
		b, _ := json.Marshal(r)
		size += len(b) + 1
		if size > MaxSQLBytes {
			res.Rows, res.Truncated = rows.Values[:i], true
			res.Note = fmt.Sprintf("only the first %d of %d rows fit in one answer; add a LIMIT or aggregate", i, rows.Len())
			break
		}
	}
	return res, nil
}
