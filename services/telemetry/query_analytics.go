package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailferry/mailferry/events/progress"
	"github.com/mailferry/mailferry/libs/analytics"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/services/telemetry/internal/board"
	"github.com/mailferry/mailferry/services/telemetry/internal/projection"
)

// Page sizes of the log and of the report's item list.
const (
	DefaultLogLimit = 100
	MaxLogLimit     = 1000
	DefaultItems    = 1000
	MaxItems        = 5000
)

// FleetRequest asks for an account's mailboxes that need attention now.
type FleetRequest struct {
	AccountID string `json:"accountId"`
	// Health lists the health values wanted; stalled and failing by
	// default.
	Health []string `json:"health,omitempty"`
}

// LogRequest asks for a page of a project's log, or of one mailbox's.
type LogRequest struct {
	ProjectID string `json:"projectId"`
	// Mailbox is a source mailbox id or address; empty for the whole
	// project.
	Mailbox string `json:"mailbox,omitempty"`
	RunID   string `json:"runId,omitempty"`
	// Level keeps lines at this level or above: info, warning or error.
	Level string `json:"level,omitempty"`
	// From and To bound the time (RFC 3339), To excluded.
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Offset int    `json:"offset,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// ReportRequest asks for a reconciliation report.
type ReportRequest struct {
	ProjectID string `json:"projectId"`
	Mailbox   string `json:"mailbox,omitempty"`
	RunID     string `json:"runId,omitempty"`
	// Format is json (default) or csv.
	Format string `json:"format,omitempty"`
	Offset int    `json:"offset,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// CSVPage is one page of a report as CSV: the header and the folder rows
// come with the first page; Next is the offset of the next page, or -1.
type CSVPage struct {
	CSV        string `json:"csv"`
	ItemsTotal uint64 `json:"itemsTotal"`
	Next       int    `json:"next"`
}

// SQLRequest is an analyst's read-only query.
type SQLRequest struct {
	Query string `json:"query"`
}

var fleetHealth = []string{progress.Healthy, progress.Throttled, board.Slow, board.Stalled, progress.Failing}

func (s *Service) queryFleet(_ context.Context, raw json.RawMessage) (any, error) {
	var req FleetRequest
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	if req.AccountID = strings.TrimSpace(req.AccountID); req.AccountID == "" {
		return nil, errs.Field("accountId", "the account id is required")
	}
	for _, h := range req.Health {
		if !slices.Contains(fleetHealth, h) {
			return nil, errs.Field("health", "health must be among "+strings.Join(fleetHealth, ", "))
		}
	}
	return s.board.Fleet(board.FleetQuery{AccountID: req.AccountID, Health: req.Health}), nil
}

// analyticsErr turns a store failure into a coded error; the cause is the
// engine's own message, which names the problem without any secret.
func analyticsErr(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errs.As(err); ok {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return errs.Wrap(errs.Unavailable, err, "the analytics store did not answer in time", "retry in a moment")
	}
	return errs.Wrap(errs.Internal, err, "the analytics store failed to answer", "retry; if it keeps failing, report it with the request")
}

func paging(offset, limit, def, maxLimit int) (int, error) {
	switch {
	case offset < 0:
		return 0, errs.Field("offset", "offset cannot be negative")
	case limit < 0 || limit > maxLimit:
		return 0, errs.Field("limit", fmt.Sprintf("limit must be between 1 and %d", maxLimit))
	case limit == 0:
		return def, nil
	}
	return limit, nil
}

func parseTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errs.Field(field, "must be a time like 2026-01-02T15:04:05Z")
	}
	return t, nil
}

// mailbox resolves a mailbox named by id or address in a project's log;
// an unknown one is errs.NotFound.
func (s *Service) mailbox(ctx context.Context, projectID, mailbox string) (string, error) {
	id, err := projection.ResolveMailbox(ctx, s.store, projectID, mailbox)
	if err != nil {
		return "", analyticsErr(err)
	}
	if id == "" {
		return "", errs.New(errs.NotFound, "the project's log has no mailbox "+mailbox, "name the mailbox by its source address or id, as the run's progress lists it")
	}
	return id, nil
}

func (s *Service) queryLog(ctx context.Context, raw json.RawMessage) (any, error) {
	var req LogRequest
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	q := projection.LogQuery{ProjectID: strings.TrimSpace(req.ProjectID), RunID: strings.TrimSpace(req.RunID), MinLevel: req.Level, Offset: req.Offset}
	if q.ProjectID == "" {
		return nil, errs.Field("projectId", "the project id is required")
	}
	if req.Level != "" && !slices.Contains(projection.Levels, req.Level) {
		return nil, errs.Field("level", "level must be one of "+strings.Join(projection.Levels, ", "))
	}
	var err error
	if q.Limit, err = paging(req.Offset, req.Limit, DefaultLogLimit, MaxLogLimit); err != nil {
		return nil, err
	}
	if q.From, err = parseTime("from", req.From); err != nil {
		return nil, err
	}
	if q.To, err = parseTime("to", req.To); err != nil {
		return nil, err
	}
	if m := strings.TrimSpace(req.Mailbox); m != "" {
		if q.SourceID, err = s.mailbox(ctx, q.ProjectID, m); err != nil {
			return nil, err
		}
	}
	page, err := projection.Log(ctx, s.store, q)
	return page, analyticsErr(err)
}

func (s *Service) queryReport(ctx context.Context, raw json.RawMessage) (any, error) {
	var req ReportRequest
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	q := projection.ReportQuery{ProjectID: strings.TrimSpace(req.ProjectID), RunID: strings.TrimSpace(req.RunID), Offset: req.Offset}
	if q.ProjectID == "" {
		return nil, errs.Field("projectId", "the project id is required")
	}
	if req.Format != "" && req.Format != "json" && req.Format != "csv" {
		return nil, errs.Field("format", "format must be json or csv")
	}
	var err error
	if q.Limit, err = paging(req.Offset, req.Limit, DefaultItems, MaxItems); err != nil {
		return nil, err
	}
	if m := strings.TrimSpace(req.Mailbox); m != "" {
		if q.SourceID, err = s.mailbox(ctx, q.ProjectID, m); err != nil {
			return nil, err
		}
	}
	rep, err := projection.Reconcile(ctx, s.store, q)
	if err != nil {
		return nil, analyticsErr(err)
	}
	if req.Format != "csv" {
		return rep, nil
	}
	next := q.Offset + len(rep.Items)
	if uint64(next) >= rep.ItemsTotal || len(rep.Items) == 0 {
		next = -1
	}
	return CSVPage{CSV: rep.CSV(), ItemsTotal: rep.ItemsTotal, Next: next}, nil
}

func (s *Service) querySQL(ctx context.Context, raw json.RawMessage) (any, error) {
	var req SQLRequest
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	res, err := projection.SQL(ctx, s.store, req.Query)
	if errors.Is(err, analytics.ErrReadOnly) {
		return nil, errs.Wrap(errs.Invalid, err, err.Error(), "send one SELECT, WITH, SHOW, DESCRIBE or EXPLAIN statement; docs/analytics.md lists the tables")
	}
	if err != nil {
		// The engine's message says what is wrong with the query.
		return nil, errs.Wrap(errs.Invalid, err, strings.TrimPrefix(err.Error(), "analytics: "), "fix the query; docs/analytics.md lists the tables and their columns")
	}
	return res, nil
}
