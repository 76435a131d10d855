package transfer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/services/transfer/internal/engine"
	"github.com/mailferry/mailferry/services/transfer/internal/runstate"
	"github.com/mailferry/mailferry/services/transfer/internal/shard"
)

// onProjectRun is the transfer-runs reactor.
func (s *Service) onProjectRun(ctx context.Context, env bus.Envelope) error {
	switch e := env.Event.(type) {
	case project.RunApproved:
		switch e.Mode {
		case events.ModePrestage, events.ModeFull, events.ModeDelta:
			return s.startRun(ctx, e)
		}
	case project.RunCancelRequested:
		// Workers look the run up between items and before starting a
		// mailbox; the key stays, run ids are never reused.
		if _, err := s.cancelsKV.Put(ctx, shard.SafeKey(e.RunID), []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
			return fmt.Errorf("transfer: mark run %s cancelled: %w", e.RunID, err)
		}
		s.log.Info("run cancelled", "run_id", e.RunID)
	}
	return nil
}

// startRun appends RunStarted once and queues one job per distinct source
// mailbox. Both steps are idempotent (expected sequence, deterministic job
// ids), so a redelivered approval only re-queues what the server dedups.
func (s *Service) startRun(ctx context.Context, ap project.RunApproved) (err error) {
	// The run's span is the parent of every mailbox's: the jobs carry its
	// trace context on the work queue.
	ctx, span := otel.Tracer("mailferry/transfer").Start(ctx, "transfer run", trace.WithAttributes(
		attribute.String("mailferry.run_id", ap.RunID), attribute.String("mailferry.project_id", ap.ProjectID),
		attribute.String("mailferry.account_id", ap.AccountID), attribute.String("mailferry.mode", ap.Mode)))
	defer func() {
		engine.SpanError(span, err)
		span.End()
	}()
	envs, _, err := s.d.Bus.Load(ctx, "PROJECT", project.RunSubject(ap.RunID), 0)
	if err != nil {
		return err
	}
	var req *project.RunRequested
	for _, env := range envs {
		if r, ok := env.Event.(project.RunRequested); ok {
			req = &r
			break
		}
	}
	if req == nil {
		return bus.Permanent(fmt.Errorf("transfer: run %s was approved but never requested", ap.RunID))
	}
	seen := map[string]bool{}
	var pairs []events.Pair
	for _, p := range req.Pairs {
		if p.SourceID == "" || seen[p.SourceID] {
			continue
		}
		seen[p.SourceID] = true
		pairs = append(pairs, p)
	}
	started := transfer.RunStarted{RunID: req.RunID, ProjectID: req.ProjectID, AccountID: req.AccountID, Mode: ap.Mode, Mailboxes: len(pairs)}
	span.SetAttributes(attribute.Int("mailferry.mailboxes", len(pairs)))
	_, err = s.d.Bus.Publish(ctx, transfer.RunSubject(req.RunID), started, bus.ExpectLastSeq(0), bus.WithID(req.RunID+"-started"))
	if err != nil && !errors.Is(err, bus.ErrConflict) {
		return err
	}
	for _, p := range pairs {
		sh := shard.Of(p.SourceID, s.cfg.Shards)
		job := transfer.MailboxJob{RunID: req.RunID, ProjectID: req.ProjectID, AccountID: req.AccountID, Mode: ap.Mode,
			Mail: req.Mail, Calendar: req.Calendar, Contacts: req.Contacts, Pair: p, Shard: sh}
		if _, err := s.d.Bus.Publish(ctx, transfer.WorkSubject(sh), job, bus.WithID(req.RunID+"-"+shard.MailboxKey(p.SourceID))); err != nil {
			return err
		}
	}
	s.log.Info("run started", "run_id", req.RunID, "mode", ap.Mode, "mailboxes", len(pairs))
	if len(pairs) == 0 {
		return s.finish(ctx, req.RunID)
	}
	return nil
}

// onTransferRun is the transfer-progress reactor: a mailbox that ended may
// have been the run's last.
func (s *Service) onTransferRun(ctx context.Context, env bus.Envelope) error {
	switch e := env.Event.(type) {
	case transfer.MailboxCompleted:
		return s.finish(ctx, e.RunID)
	case transfer.MailboxFailed:
		return s.finish(ctx, e.RunID)
	case transfer.MailboxCancelled:
		return s.finish(ctx, e.RunID)
	}
	return nil
}

// finish appends RunFinished when every mailbox ended; the expected
// sequence makes it happen once however many coordinators race.
func (s *Service) finish(ctx context.Context, runID string) error {
	st, err := s.runs.Update(ctx, transfer.RunSubject(runID), func(st runstate.State) (bus.Decision, error) {
		f, due := st.Finish()
		if !due {
			return nil, nil
		}
		return bus.Decision{f}, nil
	}, bus.WithID(runID+"-finished"))
	if err != nil {
		return err
	}
	if st.Finished {
		s.log.Debug("run finished", "run_id", runID, "state", st.Outcome)
	}
	return nil
}
