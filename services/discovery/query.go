package discovery

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/mailferry/mailferry/events/discovery"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/services/discovery/internal/results"
)

// ResultsRequest is the body of query.discovery.results.
type ResultsRequest struct {
	ProjectID string `json:"projectId"`
	// RunID picks a run; empty means the project's latest discovery.
	RunID string `json:"runId,omitempty"`
	// Side is "source" (default) or "destination".
	Side string `json:"side,omitempty"`
	// Sort is "address" (default), "size" or "items"; Order "asc" or
	// "desc" (default: A to Z for addresses, largest first otherwise).
	Sort   string `json:"sort,omitempty"`
	Order  string `json:"order,omitempty"`
	Filter string `json:"filter,omitempty"`
	Offset int    `json:"offset,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// Totals add up one side's mailboxes (all of them, whatever the filter).
type Totals struct {
	Mail      int   `json:"mail"`
	Events    int   `json:"events"`
	Contacts  int   `json:"contacts"`
	SizeBytes int64 `json:"sizeBytes"`
	Folders   int   `json:"folders"`
}

// MailboxResult is one discovered mailbox.
type MailboxResult struct {
	Side    string                 `json:"side"`
	Mailbox platform.Mailbox       `json:"mailbox"`
	Stats   platform.Stats         `json:"stats"`
	Folders []discovery.FolderStat `json:"folders"`
}

// ResultsResponse is the answer of query.discovery.results.
type ResultsResponse struct {
	ProjectID            string              `json:"projectId"`
	RunID                string              `json:"runId"`
	State                string              `json:"state"`
	Failure              *Failure            `json:"failure,omitempty"`
	SourceMailboxes      int                 `json:"sourceMailboxes"`
	DestinationMailboxes int                 `json:"destinationMailboxes"`
	Totals               Totals              `json:"totals"`
	Blockers             []discovery.Blocker `json:"blockers"`
	// Total is how many mailboxes of the side match the filter; Mailboxes
	// is the requested page of them.
	Total     int             `json:"total"`
	Mailboxes []MailboxResult `json:"mailboxes"`
}

func (s *Service) queryResults(_ context.Context, raw json.RawMessage) (any, error) {
	var req ResultsRequest
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &req); err != nil {
			return nil, errs.New(errs.Invalid, "the request is not valid JSON", "send a JSON object with at least projectId")
		}
	}
	return s.results(req)
}

func (s *Service) results(req ResultsRequest) (*ResultsResponse, error) {
	req.ProjectID = strings.TrimSpace(req.ProjectID)
	if req.ProjectID == "" {
		return nil, errs.Field("projectId", "projectId is required")
	}
	if req.Side == "" {
		req.Side = SideSource
	}
	if req.Side != SideSource && req.Side != SideDestination {
		return nil, errs.Field("side", "side must be source or destination")
	}
	page, err := results.Request{Sort: req.Sort, Order: req.Order, Filter: req.Filter, Offset: req.Offset, Limit: req.Limit}.Normalize()
	if err != nil {
		return nil, err
	}

	m := s.model
	m.mu.RLock()
	p, ok := m.projects[req.ProjectID]
	if !ok || len(p.runs) == 0 {
		m.mu.RUnlock()
		return nil, errs.New(errs.NotFound, "no discovery has run for this project yet", "start a discovery run")
	}
	runID := req.RunID
	if runID == "" {
		runID = p.runs[len(p.runs)-1]
	}
	r, ok := m.runs[runID]
	if !ok || r.projectID != req.ProjectID {
		m.mu.RUnlock()
		return nil, errs.New(errs.NotFound, "this project has no discovery run "+runID,
			"leave runId out to see the latest discovery, or start a discovery run")
	}
	resp := &ResultsResponse{
		ProjectID:            req.ProjectID,
		RunID:                runID,
		State:                r.state,
		SourceMailboxes:      len(r.mailboxes[SideSource]),
		DestinationMailboxes: len(r.mailboxes[SideDestination]),
		Blockers:             append([]discovery.Blocker{}, r.blockers...),
	}
	if r.failure != nil {
		f := *r.failure
		resp.Failure = &f
	}
	side := make([]discovery.MailboxDiscovered, 0, len(r.mailboxes[req.Side]))
	for _, md := range r.mailboxes[req.Side] {
		side = append(side, md)
	}
	m.mu.RUnlock()

	// Events are never mutated once applied, so sorting copies outside
	// the lock is safe and keeps the follower from waiting on queries.
	for _, md := range side {
		resp.Totals.Mail += md.Stats.Mail
		resp.Totals.Events += md.Stats.Events
		resp.Totals.Contacts += md.Stats.Contacts
		resp.Totals.SizeBytes += md.Stats.SizeBytes
		resp.Totals.Folders += md.Stats.Folders
	}
	sel, total := results.Select(side, page)
	resp.Total = total
	resp.Mailboxes = make([]MailboxResult, 0, len(sel))
	for _, md := range sel {
		folders := md.Folders
		if folders == nil {
			folders = []discovery.FolderStat{}
		}
		resp.Mailboxes = append(resp.Mailboxes, MailboxResult{Side: md.Side, Mailbox: md.Mailbox, Stats: md.Stats, Folders: folders})
	}
	return resp, nil
}
