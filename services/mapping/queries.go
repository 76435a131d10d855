package mapping

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/mapping"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/services/mapping/internal/mapcsv"
	"github.com/mailferry/mailferry/services/mapping/internal/plan"
)

// GetRequest is the request of query.mapping.get.
type GetRequest struct {
	ProjectID      string `json:"projectId"`
	ExceptionsOnly bool   `json:"exceptionsOnly,omitempty"`
	// Filter keeps entries whose source or destination address or display
	// name contains it (case-insensitive); Action keeps one action. Both
	// serve the console's table of tens of thousands of mailboxes, which
	// must never download them all to show one page.
	Filter string `json:"filter,omitempty"`
	Action string `json:"action,omitempty"`
	Offset int    `json:"offset,omitempty"`
	// Limit is the page size; 0 means Config.MaxPage, larger is capped.
	Limit int `json:"limit,omitempty"`
}

// GetResponse is one page of a project's mapping, exceptions first, then by
// source address. Total counts the entries that match the filter.
type GetResponse struct {
	ProjectID  string          `json:"projectId"`
	RunID      string          `json:"runId"`
	Total      int             `json:"total"`
	Exceptions int             `json:"exceptions"`
	Offset     int             `json:"offset"`
	Limit      int             `json:"limit"`
	Entries    []mapping.Entry `json:"entries"`
}

// RunnableRequest is the request of query.mapping.runnable.
type RunnableRequest struct {
	ProjectID string `json:"projectId"`
	// Sources restricts the answer to these source addresses.
	Sources []string `json:"sources,omitempty"`
}

// RunnableResponse lists the pairs a run would move and what blocks it.
type RunnableResponse struct {
	Pairs   []events.Pair  `json:"pairs"`
	Blocked []plan.Blocked `json:"blocked"`
}

// CSVRequest is the request of query.mapping.csv.
type CSVRequest struct {
	ProjectID string `json:"projectId"`
}

// CSVResponse is the mapping as a CSV file (source,destination,action,note).
type CSVResponse struct {
	CSV string `json:"csv"`
}

// RequestRequest is the request of query.mapping.request.
type RequestRequest struct {
	ProjectID string `json:"projectId"`
	RequestID string `json:"requestId"`
}

// RequestResponse is the outcome of an edit request: pending until the
// mapping-edits reactor has decided it.
type RequestResponse struct {
	State  string             `json:"state"`
	Errors []mapping.RowError `json:"errors,omitempty"`
}

func (s *Service) queries() map[string]bus.QueryFunc {
	return map[string]bus.QueryFunc{
		"get":      s.queryGet,
		"runnable": s.queryRunnable,
		"csv":      s.queryCSV,
		"request":  s.queryRequest,
	}
}

func decode(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errs.Wrap(errs.Invalid, err, "the request is not valid JSON", "send a JSON object such as {\"projectId\":\"...\"}")
	}
	return nil
}

func needProject(id string) error {
	if strings.TrimSpace(id) == "" {
		return errs.Field("projectId", "the project id is missing")
	}
	return nil
}

func notFound(projectID string) error {
	return errs.New(errs.NotFound,
		fmt.Sprintf("project %s has no mapping: no discovery has completed for it", projectID),
		"check the project id, or run a discovery; its mapping is suggested when it completes")
}

func (s *Service) queryGet(_ context.Context, raw json.RawMessage) (any, error) {
	var req GetRequest
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	if err := needProject(req.ProjectID); err != nil {
		return nil, err
	}
	if req.Offset < 0 {
		return nil, errs.Field("offset", "the offset cannot be negative")
	}
	if req.Limit < 0 {
		return nil, errs.Field("limit", "the limit cannot be negative")
	}
	switch req.Action {
	case "", plan.ActionMigrate, plan.ActionExclude, plan.ActionCreate:
	default:
		return nil, errs.Field("action", "action must be migrate, exclude or create")
	}
	if req.Limit == 0 || req.Limit > s.cfg.MaxPage {
		req.Limit = s.cfg.MaxPage
	}
	_, st, sorted, ok := s.rm.view(req.ProjectID)
	if !ok {
		return nil, notFound(req.ProjectID)
	}
	// Exceptions sort first, so they are a prefix of sorted.
	exceptions := 0
	for exceptions < len(sorted) && sorted[exceptions].Exception != "" {
		exceptions++
	}
	list := sorted
	if req.ExceptionsOnly {
		list = sorted[:exceptions]
	}
	if req.Filter = strings.ToLower(strings.TrimSpace(req.Filter)); req.Filter != "" || req.Action != "" {
		list = filterEntries(list, req.Filter, req.Action)
	}
	lo := min(req.Offset, len(list))
	hi := min(lo+req.Limit, len(list))
	page := make([]mapping.Entry, hi-lo)
	copy(page, list[lo:hi])
	return GetResponse{ProjectID: req.ProjectID, RunID: st.RunID, Total: len(list), Exceptions: exceptions,
		Offset: req.Offset, Limit: req.Limit, Entries: page}, nil
}

// filterEntries keeps the entries matching a lower-cased filter text and
// an action; it returns a new slice, leaving the read model's untouched.
func filterEntries(list []mapping.Entry, filter, action string) []mapping.Entry {
	has := func(m platform.Mailbox) bool {
		return strings.Contains(strings.ToLower(m.PrimaryAddress), filter) || strings.Contains(strings.ToLower(m.DisplayName), filter)
	}
	var out []mapping.Entry
	for _, e := range list {
		if (action == "" || e.Action == action) && (filter == "" || has(e.Source) || has(e.Destination)) {
			out = append(out, e)
		}
	}
	return out
}

func (s *Service) queryRunnable(_ context.Context, raw json.RawMessage) (any, error) {
	var req RunnableRequest
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	if err := needProject(req.ProjectID); err != nil {
		return nil, err
	}
	_, st, _, ok := s.rm.view(req.ProjectID)
	if !ok {
		return nil, notFound(req.ProjectID)
	}
	pairs, blocked := plan.Runnable(st, req.Sources)
	return RunnableResponse{Pairs: pairs, Blocked: blocked}, nil
}

func (s *Service) queryCSV(_ context.Context, raw json.RawMessage) (any, error) {
	var req CSVRequest
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	if err := needProject(req.ProjectID); err != nil {
		return nil, err
	}
	_, st, _, ok := s.rm.view(req.ProjectID)
	if !ok {
		return nil, notFound(req.ProjectID)
	}
	var b strings.Builder
	if err := mapcsv.Export(&b, plan.Rows(st)); err != nil {
		return nil, fmt.Errorf("mapping: export %s: %w", req.ProjectID, err)
	}
	return CSVResponse{CSV: b.String()}, nil
}

// queryRequest answers "pending" for a request it has not seen decided,
// even of a project it does not know yet: the API asks right after
// publishing, before the reactor (or this read model) has caught up, and a
// not_found there would be wrong.
func (s *Service) queryRequest(_ context.Context, raw json.RawMessage) (any, error) {
	var req RequestRequest
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	if err := needProject(req.ProjectID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.RequestID) == "" {
		return nil, errs.Field("requestId", "the request id is missing")
	}
	_, st, _, _ := s.rm.view(req.ProjectID)
	o, ok := st.Requests[req.RequestID]
	if !ok {
		return RequestResponse{State: plan.RequestPending}, nil
	}
	return RequestResponse{State: o.State, Errors: o.Errors}, nil
}
