package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/progress"
	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/services/transfer/internal/engine"
	"github.com/mailferry/mailferry/services/transfer/internal/runstate"
	"github.com/mailferry/mailferry/services/transfer/internal/shard"
)

// Mailbox states in progress events.
const (
	stateRunning   = "running"
	stateCompleted = "completed"
	stateFailed    = "failed"
	stateCancelled = "cancelled"
)

func checkpointKey(projectID, sourceID string) string {
	return shard.SafeKey(projectID) + "." + shard.MailboxKey(sourceID)
}

// handle runs one mailbox job. Whatever happens, the job is acked (the
// mailbox ended and its event is on the bus), nak'ed (try again later,
// here or elsewhere) or left to redeliver (the bus is gone).
func (s *Service) handle(ctx context.Context, sh int, msg jetstream.Msg) {
	var job transfer.MailboxJob
	if err := json.Unmarshal(msg.Data(), &job); err != nil || job.RunID == "" || job.Pair.SourceID == "" {
		s.log.Error("malformed mailbox job dropped", "subject", msg.Subject(), "error", err)
		_ = msg.Term()
		return
	}
	// The job carries the run's trace context: the mailbox's work is a span
	// of the same trace as the request that started the run.
	key := shard.MailboxKey(job.Pair.SourceID)
	ctx = bus.ExtractContext(ctx, msg.Headers())
	ctx, span := otel.Tracer("mailferry/transfer").Start(ctx, "transfer mailbox",
		trace.WithAttributes(attribute.String("mailferry.run_id", job.RunID), attribute.String("mailferry.project_id", job.ProjectID),
			attribute.String("mailferry.account_id", job.AccountID), attribute.String("mailferry.mailbox", key),
			attribute.String("mailferry.mode", job.Mode), attribute.Int("mailferry.shard", sh)))
	defer span.End()
	log := s.log.With("run_id", job.RunID, "project_id", job.ProjectID, "mailbox", key, "shard", sh)
	stop := s.keepAlive(msg)
	defer stop()

	st, _, err := s.runs.Get(ctx, transfer.RunSubject(job.RunID))
	if err != nil {
		log.Warn("cannot read the run; job retried", "error", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	if st.HasEnded(job.Pair.SourceID) {
		_ = msg.Ack()
		return
	}
	lockKey := checkpointKey(job.ProjectID, job.Pair.SourceID)
	rev, err := s.locksKV.Create(ctx, lockKey, []byte(s.cfg.Worker))
	if errors.Is(err, jetstream.ErrKeyExists) {
		log.Info("mailbox is being transferred by another worker; job retried later")
		_ = msg.NakWithDelay(s.cfg.Lease / 2)
		return
	}
	if err != nil {
		log.Warn("cannot lock the mailbox; job retried", "error", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	lock := s.holdLock(ctx, lockKey, rev)
	defer s.release(lock, lockKey)

	end, err := s.transferMailbox(lock.ctx, job, st, sh, msg, key, log)
	if err != nil {
		// Not the mailbox's fault (shutdown, lock lost, bus trouble): the
		// next attempt resumes from the checkpoint.
		log.Warn("mailbox interrupted; it will be resumed", "error", err)
		span.SetAttributes(attribute.String("mailferry.outcome", "interrupted"))
		_ = msg.NakWithDelay(time.Second)
		return
	}
	traceEnd(span, end)
	if _, err := s.d.Bus.Publish(ctx, transfer.RunSubject(job.RunID), end, bus.WithID(job.RunID+"-"+key+"-end")); err != nil {
		log.Warn("cannot record the end of the mailbox; job retried", "error", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	_ = msg.Ack()
}

// traceEnd records on the mailbox's span how it ended and its counts; a
// failure keeps only the stable code and plain cause, which carry no secret.
func traceEnd(span trace.Span, end events.Event) {
	var c transfer.Counts
	switch e := end.(type) {
	case transfer.MailboxCompleted:
		c = e.Counts
		span.SetAttributes(attribute.String("mailferry.outcome", stateCompleted))
	case transfer.MailboxFailed:
		c = e.Counts
		span.SetAttributes(attribute.String("mailferry.outcome", stateFailed), attribute.String("error.type", e.Code))
		span.SetStatus(codes.Error, e.Code+": "+e.Cause)
	case transfer.MailboxCancelled:
		span.SetAttributes(attribute.String("mailferry.outcome", stateCancelled), attribute.Bool("mailferry.started", e.Started))
		return
	}
	span.SetAttributes(
		attribute.Int("mailferry.items.copied", c.Copied),
		attribute.Int("mailferry.items.already_present", c.AlreadyPresent),
		attribute.Int("mailferry.items.updated", c.Updated),
		attribute.Int("mailferry.items.deleted", c.Deleted),
		attribute.Int("mailferry.items.skipped", c.Skipped),
		attribute.Int("mailferry.items.failed", c.Failed),
		attribute.Int("mailferry.items.warnings", c.Warnings),
		attribute.Int64("mailferry.bytes", c.Bytes),
		attribute.Int("mailferry.folders", c.Folders),
	)
}

// transferMailbox returns the event that ends the mailbox, or an error when
// it was interrupted and must be tried again.
func (s *Service) transferMailbox(ctx context.Context, job transfer.MailboxJob, st runstate.State, sh int, msg jetstream.Msg, key string, log *slog.Logger) (events.Event, error) {
	src := job.Pair.SourceID
	store := &kvCheckpoints{kv: s.checkpointsKV, key: checkpointKey(job.ProjectID, src)}
	cp, err := store.Load(ctx)
	if err != nil {
		return nil, err
	}
	begun := st.Begun[src] || (cp != nil && cp.RunID == job.RunID)
	prog := &progressPub{s: s, job: job, key: key}
	cancelled, err := s.isCancelled(ctx, job.RunID)
	if err != nil {
		return nil, err
	}
	if cancelled {
		prog.final(ctx, stateCancelled, cp, job.RunID)
		return transfer.MailboxCancelled{RunID: job.RunID, ProjectID: job.ProjectID, AccountID: job.AccountID, SourceID: src, Started: begun}, nil
	}
	var delivered uint64
	if md, err := msg.Metadata(); err == nil {
		delivered = md.NumDelivered
	}
	failed := func(err error, counts transfer.Counts) (events.Event, error) {
		e, ok := errs.As(err)
		if !ok {
			e = errs.Wrap(errs.Internal, err, "the transfer stopped on an unexpected error", "run the mailbox again; if it keeps failing, report it with the run id")
		}
		log.Warn("mailbox failed", "code", e.Code, "error", err)
		prog.publishState(ctx, stateFailed, progress.Failing, counts)
		return transfer.MailboxFailed{RunID: job.RunID, ProjectID: job.ProjectID, AccountID: job.AccountID, SourceID: src,
			Code: string(e.Code), Cause: e.Cause, Action: e.Action, Counts: counts}, nil
	}
	// Opening fails with coded errors for what a user must fix (missing
	// credentials, unknown platform); anything else is the bus.
	srcC, err := s.open(ctx, job.ProjectID, sideSource)
	if err != nil {
		if _, coded := errs.As(err); !coded || ctx.Err() != nil {
			return nil, err
		}
		return failed(err, transfer.Counts{})
	}
	dstC, err := s.open(ctx, job.ProjectID, sideDestination)
	if err != nil {
		if _, coded := errs.As(err); !coded || ctx.Err() != nil {
			return nil, err
		}
		return failed(err, transfer.Counts{})
	}
	opts := engine.Options{RunID: job.RunID, Mode: job.Mode, Calendar: job.Calendar, Contacts: job.Contacts,
		SourceMailbox: src, Backoff: s.cfg.RetryBackoff}
	dstID, err := engine.ResolveDestination(ctx, dstC, job.Pair, opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return failed(err, transfer.Counts{})
	}
	opts.DestinationMailbox = dstID
	// Both sides answer before the mailbox counts as started: a credit is
	// consumed on start, and problems must show before money is spent.
	if _, err := srcC.Folders(ctx, src); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return failed(err, transfer.Counts{})
	}
	started := transfer.MailboxStarted{RunID: job.RunID, ProjectID: job.ProjectID, AccountID: job.AccountID, Mode: job.Mode, SourceAddress: job.Pair.SourceAddress,
		SourceID: src, Worker: s.cfg.Worker, Shard: sh, Resumed: begun}
	if _, err := s.d.Bus.Publish(ctx, transfer.RunSubject(job.RunID), started, bus.WithID(fmt.Sprintf("%s-%s-started-%d", job.RunID, key, delivered))); err != nil {
		return nil, err
	}
	log.Info("mailbox started", "resumed", begun)
	prog.publish(ctx, engine.Progress{}, true)

	opts.Cancelled = s.cancelWatch(ctx, job.RunID)
	opts.OnItem, opts.OnRetry = prog.item, prog.retry
	cp, err = engine.Run(ctx, srcC, dstC, store, opts, prog.report)
	var counts transfer.Counts
	if cp != nil {
		counts = cp.Counts
	}
	if ctx.Err() == nil {
		// The item ledger is complete before the mailbox's end is told:
		// a batch that cannot be published makes the mailbox try again.
		if ferr := prog.flushItems(ctx, true); ferr != nil {
			return nil, ferr
		}
	}
	switch {
	case err == nil:
		log.Info("mailbox completed", "copied", counts.Copied, "already_present", counts.AlreadyPresent,
			"updated", counts.Updated, "deleted", counts.Deleted, "skipped", counts.Skipped, "failed", counts.Failed, "warnings", counts.Warnings)
		prog.publishState(ctx, stateCompleted, progress.Completed, counts)
		return transfer.MailboxCompleted{RunID: job.RunID, ProjectID: job.ProjectID, AccountID: job.AccountID, SourceID: src, Counts: counts}, nil
	case errors.Is(err, engine.ErrCancelled):
		log.Info("mailbox cancelled")
		prog.publishState(ctx, stateCancelled, progress.Healthy, counts)
		return transfer.MailboxCancelled{RunID: job.RunID, ProjectID: job.ProjectID, AccountID: job.AccountID, SourceID: src, Started: true}, nil
	case ctx.Err() != nil, errors.Is(err, engine.ErrCheckpoint):
		return nil, err
	default:
		return failed(err, counts)
	}
}

// isCancelled reads transfer_cancels now.
func (s *Service) isCancelled(ctx context.Context, runID string) (bool, error) {
	_, err := s.cancelsKV.Get(ctx, shard.SafeKey(runID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// cancelWatch returns the engine's between-items check; it asks the bus at
// most every 500ms and otherwise repeats its last answer.
func (s *Service) cancelWatch(ctx context.Context, runID string) func() bool {
	var (
		last      time.Time
		cancelled bool
	)
	return func() bool {
		if cancelled || time.Since(last) < 500*time.Millisecond {
			return cancelled
		}
		last = time.Now()
		c, err := s.isCancelled(ctx, runID)
		if err == nil {
			cancelled = c
		}
		return cancelled
	}
}

// kvCheckpoints stores one mailbox's checkpoint in transfer_checkpoints.
type kvCheckpoints struct {
	kv  jetstream.KeyValue
	key string
}

func (k *kvCheckpoints) Load(ctx context.Context) (*engine.Checkpoint, error) {
	e, err := k.kv.Get(ctx, k.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("transfer: load checkpoint: %w", err)
	}
	var cp engine.Checkpoint
	if err := json.Unmarshal(e.Value(), &cp); err != nil {
		return nil, fmt.Errorf("transfer: checkpoint %s: %w", k.key, err)
	}
	return &cp, nil
}

func (k *kvCheckpoints) Save(ctx context.Context, cp *engine.Checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	_, err = k.kv.Put(ctx, k.key, b)
	return err
}

// progressPub publishes a mailbox's progress at most once a second, plus
// its final state. A throttle seen since the last event is reported even if
// it already ended, so a storm between two events is never invisible.
type progressPub struct {
	s   *Service
	job transfer.MailboxJob
	key string

	mu        sync.Mutex
	last      time.Time
	throttled time.Duration
	latest    engine.Progress
	// outcomes and retries wait for the next batch (transfer.item_outcomes).
	outcomes []transfer.ItemOutcome
	retries  []transfer.Retry
	// flushing serialises batches, so they go out in order.
	flushing sync.Mutex
}

// item keeps an item's outcome for the next batch.
func (p *progressPub) item(o transfer.ItemOutcome) {
	p.mu.Lock()
	p.outcomes = append(p.outcomes, o)
	p.mu.Unlock()
}

// retry keeps a retried call for the next batch; the cause is the coded
// error's plain words, which never carry secrets.
func (p *progressPub) retry(err error, attempt int, wait time.Duration) {
	r := transfer.Retry{At: time.Now().UnixMilli(), Code: string(errs.CodeOf(err)), Attempt: attempt, WaitMs: wait.Milliseconds()}
	if e, ok := errs.As(err); ok {
		r.Cause = e.Cause
	} else {
		r.Cause = "the platform call failed on a transient error"
	}
	p.mu.Lock()
	p.retries = append(p.retries, r)
	p.mu.Unlock()
}

// flushItems publishes what waits, in batches of at most
// transfer.MaxItemsPerBatch items. A batch's id is the hash of its content,
// so publishing it again after a timeout is deduplicated by the server.
// What could not be published stays for the next flush; with must set,
// the error is returned (the mailbox's end must not overtake its ledger).
func (p *progressPub) flushItems(ctx context.Context, must bool) error {
	p.flushing.Lock()
	defer p.flushing.Unlock()
	for {
		p.mu.Lock()
		n := min(len(p.outcomes), transfer.MaxItemsPerBatch)
		ev := transfer.ItemOutcomes{RunID: p.job.RunID, ProjectID: p.job.ProjectID, AccountID: p.job.AccountID,
			SourceID: p.job.Pair.SourceID, SourceAddress: p.job.Pair.SourceAddress,
			Items: slices.Clone(p.outcomes[:n]), Retries: slices.Clone(p.retries)}
		p.mu.Unlock()
		if len(ev.Items) == 0 && len(ev.Retries) == 0 {
			return nil
		}
		body, _ := json.Marshal(ev)
		sum := sha256.Sum256(body)
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, err := p.s.d.Bus.Publish(pctx, transfer.ItemsSubject(p.job.RunID, p.key), ev, bus.WithID("items-"+hex.EncodeToString(sum[:16])))
		cancel()
		if err != nil {
			p.s.log.Debug("item outcomes not published yet", "run_id", p.job.RunID, "mailbox", p.key, "error", err)
			if must {
				return fmt.Errorf("transfer: publish item outcomes: %w", err)
			}
			return nil
		}
		p.mu.Lock()
		p.outcomes = p.outcomes[n:]
		p.retries = p.retries[len(ev.Retries):]
		p.mu.Unlock()
	}
}

func (p *progressPub) report(pr engine.Progress) {
	p.mu.Lock()
	p.latest = pr
	if pr.Throttled > p.throttled {
		p.throttled = pr.Throttled
	}
	due := time.Since(p.last) >= time.Second
	p.mu.Unlock()
	if due {
		p.publish(context.Background(), pr, false)
	}
}

func (p *progressPub) publish(ctx context.Context, pr engine.Progress, force bool) {
	p.mu.Lock()
	if !force && time.Since(p.last) < time.Second {
		p.mu.Unlock()
		return
	}
	p.last = time.Now()
	ev := p.event(stateRunning, progress.Healthy)
	if p.throttled > 0 {
		ev.Health, ev.RetryAfterMs = progress.Throttled, p.throttled.Milliseconds()
		p.throttled = 0
	}
	ev.Folder, ev.Items, ev.Bytes, ev.TotalItems, ev.Failed = pr.Folder, pr.Items, pr.Bytes, pr.TotalItems, pr.Failed
	ev.Updated, ev.Deleted = pr.Updated, pr.Deleted
	p.mu.Unlock()
	p.send(ctx, ev)
	_ = p.flushItems(ctx, false)
}

func (p *progressPub) publishState(ctx context.Context, state, health string, c transfer.Counts) {
	p.mu.Lock()
	ev := p.event(state, health)
	ev.Folder, ev.TotalItems = p.latest.Folder, p.latest.TotalItems
	p.mu.Unlock()
	ev.Items = c.Copied + c.AlreadyPresent + c.Updated + c.Deleted + c.Skipped + c.Failed
	ev.Bytes, ev.Failed, ev.Updated, ev.Deleted = c.Bytes, c.Failed, c.Updated, c.Deleted
	p.send(ctx, ev)
}

// final publishes the end of a mailbox that never ran in this attempt.
func (p *progressPub) final(ctx context.Context, state string, cp *engine.Checkpoint, runID string) {
	var c transfer.Counts
	if cp != nil && cp.RunID == runID {
		c = cp.Counts
	}
	p.publishState(ctx, state, progress.Healthy, c)
}

func (p *progressPub) event(state, health string) progress.MailboxProgress {
	return progress.MailboxProgress{RunID: p.job.RunID, ProjectID: p.job.ProjectID, AccountID: p.job.AccountID,
		SourceID: p.job.Pair.SourceID, SourceAddress: p.job.Pair.SourceAddress, State: state, Health: health,
		At: time.Now().UnixMilli()}
}

func (p *progressPub) send(ctx context.Context, ev progress.MailboxProgress) {
	// Progress is best effort: a slow bus must not stall the copy.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if _, err := p.s.d.Bus.Publish(ctx, progress.Subject(p.job.RunID, p.key), ev); err != nil {
		p.s.log.Debug("progress not published", "run_id", p.job.RunID, "mailbox", p.key, "error", err)
	}
}
