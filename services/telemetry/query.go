package telemetry

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/services/telemetry/internal/board"
)

// Page sizes of the run query: a run may hold thousands of mailboxes.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// RunRequest asks for a run's progress and a page of its mailboxes.
type RunRequest struct {
	RunID string `json:"runId"`
	// State keeps only mailboxes in that state (queued, running,
	// completed, failed, cancelled).
	State  string `json:"state,omitempty"`
	Offset int    `json:"offset,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// ProjectRequest asks for a project's runs.
type ProjectRequest struct {
	ProjectID string `json:"projectId"`
}

// MailboxRequest asks for one mailbox of a run.
type MailboxRequest struct {
	RunID    string `json:"runId"`
	SourceID string `json:"sourceId"`
}

func (s *Service) endpoints() map[string]bus.QueryFunc {
	return map[string]bus.QueryFunc{
		"run":     s.queryRun,
		"project": s.queryProject,
		"mailbox": s.queryMailbox,
		"fleet":   s.queryFleet,
		"log":     s.queryLog,
		"report":  s.queryReport,
		"sql":     s.querySQL,
	}
}

func decode(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return errs.Wrap(errs.Invalid, err, "the request is not valid JSON", "send a JSON object with the documented fields")
	}
	return nil
}

func (s *Service) queryRun(_ context.Context, raw json.RawMessage) (any, error) {
	var req RunRequest
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	req.RunID = strings.TrimSpace(req.RunID)
	switch {
	case req.RunID == "":
		return nil, errs.Field("runId", "the run id is required")
	case req.State != "" && !slices.Contains(board.States, req.State):
		return nil, errs.Field("state", "state must be one of "+strings.Join(board.States, ", "))
	case req.Offset < 0:
		return nil, errs.Field("offset", "offset cannot be negative")
	case req.Limit < 0 || req.Limit > MaxLimit:
		return nil, errs.Field("limit", "limit must be between 1 and 1000")
	}
	if req.Limit == 0 {
		req.Limit = DefaultLimit
	}
	return s.board.Run(board.RunQuery{RunID: req.RunID, State: req.State, Offset: req.Offset, Limit: req.Limit})
}

func (s *Service) queryProject(_ context.Context, raw json.RawMessage) (any, error) {
	var req ProjectRequest
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	if req.ProjectID = strings.TrimSpace(req.ProjectID); req.ProjectID == "" {
		return nil, errs.Field("projectId", "the project id is required")
	}
	return s.board.Project(req.ProjectID), nil
}

func (s *Service) queryMailbox(_ context.Context, raw json.RawMessage) (any, error) {
	var req MailboxRequest
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	switch {
	case strings.TrimSpace(req.RunID) == "":
		return nil, errs.Field("runId", "the run id is required")
	case strings.TrimSpace(req.SourceID) == "":
		return nil, errs.Field("sourceId", "the source mailbox id is required")
	}
	return s.board.Mailbox(strings.TrimSpace(req.RunID), strings.TrimSpace(req.SourceID))
}
