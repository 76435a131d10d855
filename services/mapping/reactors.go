package mapping

import (
	"context"
	"fmt"

	"github.com/mailferry/mailferry/events/discovery"
	"github.com/mailferry/mailferry/events/mapping"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/services/mapping/internal/plan"
)

// onDiscovery is the mapping-discovery reactor: a completed discovery
// becomes mapping.suggested. The run's mailboxes are loaded from its own
// subject rather than the read model, which may not have caught up yet.
// Redelivery is harmless: the aggregate remembers the runs it suggested, and
// the event id "suggest-<runId>" is deduplicated by the server.
func (s *Service) onDiscovery(ctx context.Context, env bus.Envelope) error {
	c, ok := env.Event.(discovery.DiscoveryCompleted)
	if !ok {
		return nil
	}
	if c.ProjectID == "" || c.RunID == "" {
		s.log.Warn("discovery.completed without project or run id; ignored", "event_id", env.ID)
		return nil
	}
	envs, _, err := s.d.Bus.Load(ctx, streamDiscovery, discovery.RunSubject(c.RunID), 0)
	if err != nil {
		return fmt.Errorf("mapping: load discovery %s: %w", c.RunID, err)
	}
	var col plan.Collector
	for _, e := range envs {
		if md, ok := e.Event.(discovery.MailboxDiscovered); ok && md.RunID == c.RunID {
			col.Add(md)
		}
	}
	d := col.Discovery(c.ProjectID, c.RunID)
	var decided *mapping.MappingSuggested
	_, err = s.repo.Update(ctx, mapping.ProjectSubject(c.ProjectID), func(st plan.State) (bus.Decision, error) {
		decided = nil
		if st.Suggested[c.RunID] {
			return nil, nil
		}
		st.ProjectID = c.ProjectID
		ev := plan.Suggest(st, d)
		decided = &ev
		return bus.Decision(plan.Split(ev)), nil
	}, suggestionID(c.RunID, len(d.Sources)))
	if err != nil {
		return fmt.Errorf("mapping: suggest for discovery %s: %w", c.RunID, err)
	}
	if decided != nil {
		exceptions := 0
		for _, e := range decided.Entries {
			if e.Exception != "" {
				exceptions++
			}
		}
		s.log.InfoContext(ctx, "mapping suggested", "project_id", c.ProjectID, "run_id", c.RunID,
			"sources", len(d.Sources), "destinations", len(d.Destinations), "entries", len(decided.Entries), "exceptions", exceptions)
	}
	return nil
}

// onProject is the mapping-edits reactor: an edit request or CSV import is
// validated against the project's latest completed discovery and applied
// or rejected as a whole. The event id "edit-<requestId>" and the
// aggregate's record of decided requests make a redelivery a no-op.
func (s *Service) onProject(ctx context.Context, env bus.Envelope) error {
	req, ok := env.Event.(project.MappingEditRequested)
	if !ok {
		return nil
	}
	if req.ProjectID == "" || req.RequestID == "" {
		s.log.Warn("mapping edit request without project or request id; ignored", "event_id", env.ID)
		return nil
	}
	if err := s.rm.catchUp(ctx, s.d.Bus, streamDiscovery); err != nil {
		return err
	}
	d, _, _, _ := s.rm.view(req.ProjectID)
	var decided string
	// A CSV import may be split over several events; such an append is
	// idempotent through the aggregate's state (the request is recorded as
	// decided), not through a fixed event id, which would make a re-decided
	// append collide with the parts of an interrupted one.
	editOpts := []bus.PublishOption{bus.WithID("edit-" + req.RequestID)}
	if req.CSV != "" {
		editOpts = nil
	}
	_, err := s.repo.Update(ctx, mapping.ProjectSubject(req.ProjectID), func(st plan.State) (bus.Decision, error) {
		decided = ""
		if _, done := st.Requests[req.RequestID]; done {
			return nil, nil
		}
		st.ProjectID = req.ProjectID
		ev := plan.Edit(st, d, req)
		decided = ev.EventType()
		return bus.Decision(plan.Split(ev)), nil
	}, editOpts...)
	if err != nil {
		return fmt.Errorf("mapping: edit request %s: %w", req.RequestID, err)
	}
	if decided != "" {
		s.log.InfoContext(ctx, "mapping edit request decided", "project_id", req.ProjectID, "request_id", req.RequestID,
			"outcome", decided, "edits", len(req.Edits), "csv", req.CSV != "")
	}
	return nil
}

// suggestionID is the deterministic event id of a suggestion that fits in
// one event; a split suggestion relies on the aggregate's record of
// suggested runs instead (see onProject).
func suggestionID(runID string, sources int) bus.PublishOption {
	if sources > plan.PartSize {
		return bus.WithID("")
	}
	return bus.WithID("suggest-" + runID)
}
