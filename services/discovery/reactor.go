package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/discovery"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/services/discovery/internal/inventory"
	"github.com/mailferry/mailferry/services/discovery/internal/retry"
)

// CodeCredentialsMissing fails a discovery whose project has no source
// credentials yet.
const CodeCredentialsMissing errs.Code = "credentials_missing"

// Event ids are derived from the run, side and mailbox, so a run handled
// twice (a redelivery after a crash, two processes) publishes each fact
// once: the stream drops the copy by Nats-Msg-Id, and a resumed run skips
// what is already on its subject.
func discoveredID(runID, side, mailboxID string) string {
	return "discovered-" + runID + "-" + side + "-" + mailboxID
}
func completedID(runID string) string { return "completed-" + runID }
func failedID(runID string) string    { return "failed-" + runID }

// republish marks an error of the bus itself: the event is handled again
// later rather than the run being failed for a problem of ours.
type republish struct{ err error }

func (r republish) Error() string { return r.err.Error() }
func (r republish) Unwrap() error { return r.err }

// handleRun is the discovery-runs reactor.
func (s *Service) handleRun(ctx context.Context, env bus.Envelope) error {
	ev, ok := env.Event.(project.RunApproved)
	if !ok || ev.Mode != events.ModeDiscovery {
		return nil
	}
	log := s.d.Log.With("run_id", ev.RunID, "project_id", ev.ProjectID)
	// The credentials were set before the run was approved, on the same
	// stream: once the read model has seen this event's sequence it knows
	// them.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := s.f.WaitFor(wctx, "PROJECT", env.Seq)
	cancel()
	if err != nil {
		return fmt.Errorf("discovery: read model behind run %s: %w", ev.RunID, err)
	}
	prior, ended, err := s.published(ctx, ev.RunID)
	if err != nil {
		return err
	}
	if ended {
		log.Debug("discovery run already ended; nothing to do")
		return nil
	}
	r := &runner{s: s, ev: ev, prior: prior, log: log, policy: retry.DefaultPolicy}
	r.policy.OnWait = func(wait time.Duration, e *errs.Error) {
		log.Info("platform throttled discovery; waiting", "wait", wait, "cause", e.Cause)
	}
	return r.run(ctx)
}

// published reads what the run already published: the mailboxes, and
// whether it ended. Reading the stream rather than the read model makes the
// answer exact even right after another process published.
func (s *Service) published(ctx context.Context, runID string) (map[string]discovery.MailboxDiscovered, bool, error) {
	envs, _, err := s.d.Bus.Load(ctx, "DISCOVERY", discovery.RunSubject(runID), 0)
	if err != nil {
		return nil, false, fmt.Errorf("discovery: read run %s: %w", runID, err)
	}
	prior := map[string]discovery.MailboxDiscovered{}
	for _, e := range envs {
		switch ev := e.Event.(type) {
		case discovery.MailboxDiscovered:
			prior[ev.Side+"/"+ev.Mailbox.ID] = ev
		case discovery.DiscoveryCompleted, discovery.DiscoveryFailed:
			return nil, true, nil
		}
	}
	return prior, false, nil
}

type runner struct {
	s      *Service
	ev     project.RunApproved
	prior  map[string]discovery.MailboxDiscovered
	log    *slog.Logger
	policy retry.Policy
}

func (r *runner) run(ctx context.Context) error {
	bySide, srcKind, dstKind := r.s.model.credentials(r.ev.ProjectID)
	src, ok := bySide[SideSource]
	if !ok {
		return r.fail(ctx, errs.New(CodeCredentialsMissing,
			"the source's credentials are not set for this project",
			"enter the source credentials, then start discovery again"), creds{})
	}
	if src.Platform == "" {
		src.Platform = srcKind
	}
	conn, err := r.s.d.Opener.Open(ctx, src.Platform, src.Fields, src.VaultRef)
	if err != nil {
		return r.fail(ctx, err, src)
	}
	mailboxes, err := retry.Do(ctx, r.policy, conn.ListMailboxes)
	if err != nil {
		return r.fail(ctx, err, src)
	}
	found, unreadable, err := r.scanSide(ctx, SideSource, conn, mailboxes, true)
	if err != nil {
		var rp republish
		if errors.As(err, &rp) {
			return err
		}
		return r.fail(ctx, err, src)
	}

	check := inventory.Check{Source: found, Unreadable: unreadable}
	destinations := 0
	if dst, ok := bySide[SideDestination]; ok {
		check.DestinationCredentials = true
		if dst.Platform == "" {
			dst.Platform = dstKind
		}
		n, limits, un, err := r.destination(ctx, dst)
		if err != nil {
			var rp republish
			if ctx.Err() != nil || errors.As(err, &rp) {
				return err
			}
			check.DestinationError = r.coded(ctx, err, dst)
			r.log.Warn("destination unreachable during discovery", "code", check.DestinationError.Code)
		} else {
			destinations, check.Limits = n, limits
			check.Unreadable = append(check.Unreadable, un...)
		}
	}
	done := discovery.DiscoveryCompleted{
		RunID:                r.ev.RunID,
		ProjectID:            r.ev.ProjectID,
		SourceMailboxes:      len(mailboxes),
		DestinationMailboxes: destinations,
		Blockers:             inventory.Blockers(check),
	}
	if _, err := r.s.d.Bus.Publish(ctx, discovery.RunSubject(r.ev.RunID), done, bus.WithID(completedID(r.ev.RunID))); err != nil {
		return err
	}
	r.log.Info("discovery completed", "source_mailboxes", done.SourceMailboxes,
		"destination_mailboxes", done.DestinationMailboxes, "blockers", len(done.Blockers))
	return nil
}

// destination lists the destination's mailboxes with their stats and reads
// its limits. It only reads: discovery never writes to a destination.
func (r *runner) destination(ctx context.Context, c creds) (int, platform.Limits, []inventory.Unreadable, error) {
	conn, err := r.s.d.Opener.Open(ctx, c.Platform, c.Fields, c.VaultRef)
	if err != nil {
		return 0, platform.Limits{}, nil, err
	}
	mailboxes, err := retry.Do(ctx, r.policy, conn.ListMailboxes)
	if err != nil {
		return 0, platform.Limits{}, nil, err
	}
	_, un, err := r.scanSide(ctx, SideDestination, conn, mailboxes, false)
	if err != nil {
		return 0, platform.Limits{}, nil, err
	}
	return len(mailboxes), conn.Limits(), un, nil
}

// unreadable says whether a mailbox error concerns that mailbox alone (it
// went away, or it is not shared with us), so the others are still read.
func unreadable(err error) (*errs.Error, bool) {
	e, ok := errs.As(err)
	if !ok {
		return nil, false
	}
	switch e.Code {
	case errs.NotFound, errs.Forbidden, errs.MailboxMissing:
		return e, true
	}
	return nil, false
}

// scanSide reads and publishes every mailbox of one side, a few at a time.
// Mailboxes a previous attempt already published are taken from the stream
// instead of being read again.
func (r *runner) scanSide(ctx context.Context, side string, conn platform.Source, mailboxes []platform.Mailbox, folders bool) ([]discovery.MailboxDiscovered, []inventory.Unreadable, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		out   []discovery.MailboxDiscovered
		un    []inventory.Unreadable
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, r.s.cfg.Parallelism)
	record := func(md discovery.MailboxDiscovered, m platform.Mailbox, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			out = append(out, md)
			return
		}
		if e, ok := unreadable(err); ok {
			un = append(un, inventory.Unreadable{Side: side, Address: m.PrimaryAddress, Err: e})
			return
		}
		if first == nil {
			first = err
			cancel()
		}
	}
loop:
	for _, m := range mailboxes {
		if md, ok := r.prior[side+"/"+m.ID]; ok {
			record(md, m, nil)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Add(1)
		go func(m platform.Mailbox) {
			defer wg.Done()
			defer func() { <-sem }()
			md, err := r.scanMailbox(ctx, side, conn, m, folders)
			if err == nil {
				if _, perr := r.s.d.Bus.Publish(ctx, discovery.RunSubject(r.ev.RunID), md,
					bus.WithID(discoveredID(r.ev.RunID, side, m.ID))); perr != nil {
					err = republish{perr}
				}
			}
			record(md, m, err)
		}(m)
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	if first != nil {
		return nil, nil, first
	}
	return out, un, nil
}

// scanMailbox counts one mailbox; with folders it also enumerates every
// folder, because a per-folder count is what the reconciliation report
// compares against later.
func (r *runner) scanMailbox(ctx context.Context, side string, conn platform.Source, m platform.Mailbox, folders bool) (discovery.MailboxDiscovered, error) {
	md := discovery.MailboxDiscovered{RunID: r.ev.RunID, ProjectID: r.ev.ProjectID, Side: side, Mailbox: m}
	stats, err := retry.Do(ctx, r.policy, func(ctx context.Context) (platform.Stats, error) { return conn.Stats(ctx, m.ID) })
	if err != nil {
		return md, err
	}
	md.Stats = stats
	if !folders {
		return md, nil
	}
	list, err := retry.Do(ctx, r.policy, func(ctx context.Context) ([]platform.Folder, error) { return conn.Folders(ctx, m.ID) })
	if err != nil {
		return md, err
	}
	paths := inventory.FolderPaths(list)
	md.Folders = make([]discovery.FolderStat, 0, len(list))
	for _, f := range list {
		fs := discovery.FolderStat{Path: paths[f.ID], Role: string(f.Role), Kind: string(f.Kind)}
		token := ""
		for {
			page, err := retry.Do(ctx, r.policy, func(ctx context.Context) (platform.ItemPage, error) {
				return conn.Items(ctx, m.ID, f.ID, token)
			})
			if err != nil {
				return md, err
			}
			for _, it := range page.Items {
				if !it.Deleted {
					fs.Items++
					fs.Bytes += it.Size
				}
			}
			if page.NextToken == "" {
				break
			}
			token = page.NextToken
		}
		md.Folders = append(md.Folders, fs)
	}
	return md, nil
}

// fail ends the run with a coded failure. A cancelled context (shutdown,
// the bus giving the run to another worker) is not a failure: the event
// comes again and the run resumes.
func (r *runner) fail(ctx context.Context, err error, c creds) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	e := r.coded(ctx, err, c)
	r.log.Warn("discovery failed", "code", e.Code, "cause", e.Cause)
	f := discovery.DiscoveryFailed{RunID: r.ev.RunID, ProjectID: r.ev.ProjectID, Code: string(e.Code), Cause: e.Cause, Action: e.Action}
	if _, perr := r.s.d.Bus.Publish(ctx, discovery.RunSubject(r.ev.RunID), f, bus.WithID(failedID(r.ev.RunID))); perr != nil {
		return perr
	}
	return nil
}

// coded turns err into what people may read: its code, cause and action,
// with any secret of the side's credentials blanked out in case a platform
// echoed one. An error without a code is ours; its text stays in the log.
func (r *runner) coded(ctx context.Context, err error, c creds) *errs.Error {
	e, ok := errs.As(err)
	if !ok {
		r.log.Error("discovery failed inside mailferry", "error", err)
		return errs.New(errs.Internal, "discovery failed inside mailferry",
			"start discovery again; if it keeps failing, report it with the run id")
	}
	out := &errs.Error{Code: e.Code, Cause: e.Cause, Action: e.Action}
	if c.VaultRef == "" {
		return out
	}
	secrets, gerr := r.s.d.Vault.Get(ctx, c.VaultRef)
	if gerr != nil {
		return out
	}
	for _, v := range secrets {
		if len(v) >= 4 {
			out.Cause = strings.ReplaceAll(out.Cause, v, "[redacted]")
			out.Action = strings.ReplaceAll(out.Action, v, "[redacted]")
		}
	}
	return out
}
