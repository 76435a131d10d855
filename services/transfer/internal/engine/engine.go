// Package engine copies one mailbox from a platform.Source to a
// platform.Destination. It is pure over the connector contract, a checkpoint
// store and a progress callback, so every path (resume, throttling, oversized
// items, delta) is tested against the memory platform without a bus.
//
// Exactly-once comes from the migration marker, not from the checkpoint: each
// item is written with a marker derived from the source mailbox and item id
// and with the source's version (its change key), and looked up by that
// marker first. A copy of the same version in the mapped folder is already
// present; a copy of another version (the item changed at the source) or in
// another folder (it moved) is replaced: the new version is written first and
// the old copies deleted after, so a run stopped in between loses nothing and
// the next one, finding two copies, keeps the current one and deletes the
// rest. An item a delta reports deleted loses its copies in the folder mapped
// from the one the deletion was reported in (a move is reported as a
// deletion there and an addition, often of the same id, where it went). The
// checkpoint only saves work: a resumed mailbox continues at the page it was
// on, and whatever it repeats is found by marker and counted as already
// present.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// ErrCancelled is returned when Options.Cancelled reported the run cancelled
// between two items.
var ErrCancelled = errors.New("engine: the run was cancelled")

// ErrCheckpoint wraps a failure to save the checkpoint: the store's
// trouble, not the mailbox's, so the caller tries the mailbox again later.
var ErrCheckpoint = errors.New("engine: checkpoint not saved")

// Item outcomes in the checkpoint's list of items: those that did not
// move, and those the destination stored with a warning
// (platform.CopiedWithWarnings), with what it could not hold.
const (
	OutcomeSkipped            = "skipped"
	OutcomeFailed             = "failed"
	OutcomeCopiedWithWarnings = "copied_with_warnings"
)

// Options say what to copy and how hard to retry.
type Options struct {
	RunID string
	// Mode is events.ModePrestage, ModeFull or ModeDelta.
	Mode string
	// Mail always moves (only calendars and contacts can be switched off).
	Calendar bool
	Contacts bool
	// SourceMailbox and DestinationMailbox are the platform mailbox ids.
	SourceMailbox      string
	DestinationMailbox string
	// MaxListed bounds the items listed in the checkpoint (default 1000);
	// the counts stay exact beyond it.
	MaxListed int
	// Retries of a failing call before the mailbox fails (default 4), with
	// exponential backoff from Backoff (default 500ms).
	Retries int
	Backoff time.Duration
	// MaxThrottles bounds consecutive throttled answers to one call
	// (default 1000): waiting is normal, an endless storm is not.
	MaxThrottles int
	// SaveEvery is the longest time between checkpoint saves inside a
	// page (default 1s).
	SaveEvery time.Duration
	// Cancelled is asked between items; nil means never.
	Cancelled func() bool
	// OnItem, when set, hears what happened to each item (the item
	// ledger); it is called from the copying goroutine and must not block.
	OnItem func(transfer.ItemOutcome)
	// OnRetry, when set, hears each retry of a failing call: the error,
	// the attempt about to be made and the wait before it.
	OnRetry func(err error, attempt int, wait time.Duration)
}

func (o *Options) defaults() {
	if o.MaxListed <= 0 {
		o.MaxListed = 1000
	}
	if o.Retries <= 0 {
		o.Retries = 4
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.MaxThrottles <= 0 {
		o.MaxThrottles = 1000
	}
	if o.SaveEvery <= 0 {
		o.SaveEvery = time.Second
	}
}

// Checkpoint is a mailbox's saved state, stored per project and mailbox. The
// per-run part (page tokens, done flags, counts, listed items) is reset when
// another run starts; delta tokens survive from the last full or delta run.
type Checkpoint struct {
	RunID         string `json:"runId"`
	Mode          string `json:"mode"`
	SourceID      string `json:"sourceId"`
	DestinationID string `json:"destinationId"`
	// Folders by source folder id.
	Folders map[string]*FolderState `json:"folders"`
	Counts  transfer.Counts         `json:"counts"`
	// Items lists items that did not move, and items copied with a
	// warning, with the reason (at most Options.MaxListed;
	// Counts.Skipped, Failed and Warnings are exact).
	Items []ListedItem `json:"items,omitempty"`
	// Done is set once the run finished this mailbox.
	Done bool `json:"done,omitempty"`
	// Native names the platform format items moved in when both sides
	// offered a full-fidelity path (platform.NativePath); empty for the
	// standard formats.
	Native    string    `json:"native,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// FolderState is one source folder in the checkpoint.
type FolderState struct {
	Name          string `json:"name"`
	DestinationID string `json:"destinationId"`
	// PageToken is the token of the page in progress ("" for the first
	// page of a full enumeration) and LastItemID the last item of it that
	// was handled.
	PageToken  string `json:"pageToken,omitempty"`
	LastItemID string `json:"lastItemId,omitempty"`
	Started    bool   `json:"started,omitempty"`
	Done       bool   `json:"done,omitempty"`
	// DeltaToken is where the last successful full or delta run ended;
	// NextDeltaToken is this run's, promoted when the mailbox completes.
	DeltaToken     string `json:"deltaToken,omitempty"`
	NextDeltaToken string `json:"nextDeltaToken,omitempty"`
}

// ListedItem is an item that was skipped or failed, and why, or one that
// was copied with a warning, and what the destination did not keep.
type ListedItem struct {
	FolderID string `json:"folderId"`
	Folder   string `json:"folder"`
	ItemID   string `json:"itemId"`
	Size     int64  `json:"size,omitempty"`
	Outcome  string `json:"outcome"`
	Code     string `json:"code"`
	Reason   string `json:"reason"`
}

// Store loads and saves one mailbox's checkpoint.
type Store interface {
	// Load returns nil and no error when there is no checkpoint.
	Load(ctx context.Context) (*Checkpoint, error)
	Save(ctx context.Context, cp *Checkpoint) error
}

// Progress is what the engine reports as it goes.
type Progress struct {
	Folder string
	Items  int
	Bytes  int64
	Failed int
	// Updated counts items replaced by a newer version, Deleted items whose
	// copies were removed because the source deleted them.
	Updated    int
	Deleted    int
	TotalItems int
	// Throttled is the platform's wait while it throttles, else zero.
	Throttled time.Duration
}

// Marker is the migration marker of a source item: "mf1-" and the first 32
// hex digits of SHA-256(sourceMailboxID NUL itemID). It is the same in every
// run, which is what makes re-runs and resumes write nothing twice.
func Marker(sourceMailboxID, itemID string) string {
	sum := sha256.Sum256([]byte(sourceMailboxID + "\x00" + itemID))
	return "mf1-" + hex.EncodeToString(sum[:])[:32]
}

type run struct {
	src      platform.Source
	dst      platform.Destination
	store    Store
	opts     Options
	report   func(Progress)
	cp       *Checkpoint
	limit    int64
	total    int
	folder   string
	lastSave time.Time
	// ns and nd are set when the items move in a native format.
	ns platform.NativeSource
	nd platform.NativeDestination
}

// Run copies one mailbox and returns its final checkpoint. A returned error
// is ErrCancelled, the context's error, or the (coded, where the platform
// gave one) error the mailbox failed on; the checkpoint is saved in every
// case so that a later attempt resumes.
func Run(ctx context.Context, src platform.Source, dst platform.Destination, store Store, opts Options, report func(Progress)) (*Checkpoint, error) {
	if src == nil || dst == nil || store == nil {
		return nil, errors.New("engine: source, destination and store are required")
	}
	switch opts.Mode {
	case events.ModePrestage, events.ModeFull, events.ModeDelta:
	default:
		return nil, errs.Field("mode", fmt.Sprintf("%q is not a transfer mode (prestage, full or delta)", opts.Mode))
	}
	opts.defaults()
	if report == nil {
		report = func(Progress) {}
	}
	r := &run{src: src, dst: dst, store: store, opts: opts, report: report}
	cp, err := store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("engine: load checkpoint: %w", err)
	}
	if cp == nil {
		cp = &Checkpoint{}
	}
	if cp.Folders == nil {
		cp.Folders = map[string]*FolderState{}
	}
	if cp.RunID == opts.RunID && cp.Done {
		// This run already finished the mailbox (a redelivered job).
		return cp, nil
	}
	if cp.RunID != opts.RunID {
		for _, fs := range cp.Folders {
			fs.PageToken, fs.LastItemID, fs.NextDeltaToken = "", "", ""
			fs.Started, fs.Done = false, false
		}
		cp.Counts = transfer.Counts{}
		cp.Items = nil
		cp.RunID = opts.RunID
		// Done belonged to the previous run; left set, a retry of this
		// run after a failure would take the mailbox for finished.
		cp.Done = false
	}
	cp.Mode, cp.SourceID, cp.DestinationID = opts.Mode, opts.SourceMailbox, opts.DestinationMailbox
	r.cp = cp
	err = r.mailbox(ctx)
	if ctx.Err() == nil {
		if serr := r.save(ctx); serr != nil && err == nil {
			err = serr
		}
	} else {
		// Stopped from outside (shutdown, lock lost): one quick attempt
		// to keep the exact position, without retrying against a bus that
		// may be gone.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		r.cp.UpdatedAt = time.Now().UTC()
		_ = store.Save(sctx, r.cp)
		cancel()
	}
	return cp, err
}

func (r *run) mailbox(ctx context.Context) error {
	r.limit = r.dst.Limits().MaxItemBytes
	var stats platform.Stats
	if err := r.call(ctx, func(ctx context.Context) (err error) {
		// Only the progress totals need it: an estimate will do.
		stats, err = platform.EstimateStats(ctx, r.src, r.opts.SourceMailbox)
		return err
	}); err != nil {
		return err
	}
	r.total = stats.Mail
	if r.opts.Calendar {
		r.total += stats.Events
	}
	if r.opts.Contacts {
		r.total += stats.Contacts
	}
	r.progress(0)
	if err := r.choosePath(ctx); err != nil {
		return err
	}

	folders, err := r.mapFolders(ctx)
	if err != nil {
		return err
	}
	if err := r.save(ctx); err != nil {
		return err
	}
	if r.opts.Mode == events.ModePrestage {
		r.cp.Done = true
		return nil
	}
	for _, f := range folders {
		if err := r.copyFolder(ctx, f); err != nil {
			return err
		}
	}
	for _, f := range folders {
		fs := r.cp.Folders[f.ID]
		fs.DeltaToken, fs.NextDeltaToken = fs.NextDeltaToken, ""
		fs.PageToken, fs.LastItemID, fs.Started, fs.Done = "", "", false, false
	}
	r.cp.Done = true
	return nil
}

// choosePath takes the native path when both connectors offer the same
// format (full fidelity, nothing sent) and the standard formats otherwise.
// Asking may fail like any call; throttling is waited out, and a connector
// that still cannot answer fails the mailbox rather than silently moving it
// at lower fidelity.
func (r *run) choosePath(ctx context.Context) error {
	r.ns, r.nd, r.cp.Native = nil, nil, ""
	return r.call(ctx, func(ctx context.Context) error {
		ns, nd, format, ok, err := platform.NativePath(ctx, r.src, r.dst)
		if err != nil || !ok {
			return err
		}
		r.ns, r.nd, r.cp.Native = ns, nd, format
		return nil
	})
}

// included says whether a folder of kind k moves in this run.
func (r *run) included(k platform.ItemKind) bool {
	switch k {
	case platform.Event:
		return r.opts.Calendar
	case platform.Contact:
		return r.opts.Contacts
	}
	return true
}

// mapFolders ensures every included source folder at the destination and
// returns them parents first. Well-known folders map by role whatever their
// name; user folders map by name under their mapped parent.
func (r *run) mapFolders(ctx context.Context) ([]platform.Folder, error) {
	var src []platform.Folder
	if err := r.call(ctx, func(ctx context.Context) (err error) {
		src, err = r.src.Folders(ctx, r.opts.SourceMailbox)
		return err
	}); err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, f := range src {
		known[f.ID] = true
	}
	mapped := map[string]string{}
	var out []platform.Folder
	for _, f := range parentsFirst(src) {
		if !r.included(f.Kind) {
			continue
		}
		want := platform.Folder{Name: f.Name, Kind: f.Kind, Role: f.Role}
		if f.Role == platform.RoleNone && f.ParentID != "" && known[f.ParentID] {
			parent, ok := mapped[f.ParentID]
			if !ok {
				// Its parent does not move (a calendar switched off),
				// so neither does it.
				continue
			}
			want.ParentID = parent
		}
		r.folder = f.Name
		var d platform.Folder
		if err := r.call(ctx, func(ctx context.Context) (err error) {
			d, err = r.dst.EnsureFolder(ctx, r.opts.DestinationMailbox, want)
			return err
		}); err != nil {
			return nil, err
		}
		mapped[f.ID] = d.ID
		fs := r.cp.Folders[f.ID]
		if fs == nil {
			fs = &FolderState{}
			r.cp.Folders[f.ID] = fs
		}
		fs.Name, fs.DestinationID = f.Name, d.ID
		out = append(out, f)
	}
	r.cp.Counts.Folders = len(out)
	return out, nil
}

// parentsFirst orders folders so that every parent comes before its
// children, keeping the platform's order otherwise.
func parentsFirst(fs []platform.Folder) []platform.Folder {
	known := map[string]bool{}
	children := map[string][]platform.Folder{}
	for _, f := range fs {
		known[f.ID] = true
	}
	var roots []platform.Folder
	for _, f := range fs {
		if f.ParentID == "" || !known[f.ParentID] || f.ParentID == f.ID {
			roots = append(roots, f)
		} else {
			children[f.ParentID] = append(children[f.ParentID], f)
		}
	}
	out := make([]platform.Folder, 0, len(fs))
	seen := map[string]bool{}
	var walk func(platform.Folder)
	walk = func(f platform.Folder) {
		if seen[f.ID] {
			return
		}
		seen[f.ID] = true
		out = append(out, f)
		for _, c := range children[f.ID] {
			walk(c)
		}
	}
	for _, f := range roots {
		walk(f)
	}
	return out // folders in a parent cycle are unreachable and left out
}

func (r *run) copyFolder(ctx context.Context, f platform.Folder) error {
	fs := r.cp.Folders[f.ID]
	if fs.Done {
		return nil
	}
	r.folder = f.Name
	if !fs.Started {
		fs.Started = true
		fs.PageToken, fs.LastItemID = "", ""
		if r.opts.Mode == events.ModeDelta {
			// A folder without a delta token (new, or never completed)
			// is enumerated fully; markers keep that exactly-once.
			fs.PageToken = fs.DeltaToken
		}
	}
	for {
		more, err := r.copyPage(ctx, f, fs)
		if err != nil || !more {
			return err
		}
	}
}

// tracer makes the batch spans: one per page of items, under the
// mailbox's span, with throttling waits and retries as its events. It is
// asked of the global provider each time, never kept: a tracer taken
// before the provider is installed would stay with the one installed
// first.
func tracer() trace.Tracer { return otel.Tracer("mailferry/transfer") }

// copyPage lists one page of a folder and brings its items over; more says
// whether the folder has another page. The page is one span whose
// attributes say what happened to its items.
func (r *run) copyPage(ctx context.Context, f platform.Folder, fs *FolderState) (more bool, err error) {
	ctx, span := tracer().Start(ctx, "transfer page", trace.WithAttributes(
		attribute.String("mailferry.run_id", r.opts.RunID),
		attribute.String("mailferry.folder_id", f.ID),
		attribute.String("mailferry.folder", f.Name),
		attribute.String("mailferry.folder_kind", string(f.Kind)),
		attribute.Bool("mailferry.resumed", fs.LastItemID != ""),
	))
	before, listed := r.cp.Counts, 0
	defer func() {
		c := r.cp.Counts
		span.SetAttributes(
			attribute.Int("mailferry.items.listed", listed),
			attribute.Int("mailferry.items.copied", c.Copied-before.Copied),
			attribute.Int("mailferry.items.already_present", c.AlreadyPresent-before.AlreadyPresent),
			attribute.Int("mailferry.items.updated", c.Updated-before.Updated),
			attribute.Int("mailferry.items.deleted", c.Deleted-before.Deleted),
			attribute.Int("mailferry.items.skipped", c.Skipped-before.Skipped),
			attribute.Int("mailferry.items.failed", c.Failed-before.Failed),
			attribute.Int64("mailferry.bytes", c.Bytes-before.Bytes),
			attribute.Bool("mailferry.last_page", err == nil && !more),
		)
		SpanError(span, err)
		span.End()
	}()
	var page platform.ItemPage
	err = r.call(ctx, func(ctx context.Context) (err error) {
		page, err = r.src.Items(ctx, r.opts.SourceMailbox, f.ID, fs.PageToken)
		return err
	})
	if err != nil && fs.PageToken != "" && fs.PageToken == fs.DeltaToken && errs.Is(err, errs.Invalid) {
		// The platform no longer accepts the delta token (expired
		// sync state): enumerate the folder fully instead.
		span.AddEvent("delta token refused; enumerating the folder fully")
		fs.PageToken, fs.LastItemID = "", ""
		return true, nil
	}
	if err != nil {
		return false, err
	}
	listed = len(page.Items)
	skipping := fs.LastItemID != "" && contains(page.Items, fs.LastItemID)
	for _, ref := range page.Items {
		if skipping {
			skipping = ref.ID != fs.LastItemID
			continue
		}
		if r.opts.Cancelled != nil && r.opts.Cancelled() {
			return false, ErrCancelled
		}
		if err := r.item(ctx, f, fs, ref); err != nil {
			return false, err
		}
		fs.LastItemID = ref.ID
		r.progress(0)
		if time.Since(r.lastSave) >= r.opts.SaveEvery {
			if err := r.save(ctx); err != nil {
				return false, err
			}
		}
	}
	if page.NextToken != "" {
		fs.PageToken, fs.LastItemID = page.NextToken, ""
		return true, r.save(ctx)
	}
	fs.NextDeltaToken = page.DeltaToken
	fs.PageToken, fs.LastItemID, fs.Done = "", "", true
	return false, r.save(ctx)
}

// SpanError marks span failed with the error's stable code and plain
// cause, never its full text: only coded causes are known to be free of
// secrets. A cancelled run is not a failure of the span.
func SpanError(span trace.Span, err error) {
	if err == nil || errors.Is(err, ErrCancelled) {
		return
	}
	code := errs.CodeOf(err)
	msg := string(code)
	if e, ok := errs.As(err); ok {
		msg += ": " + e.Cause
	}
	span.SetAttributes(attribute.String("error.type", string(code)))
	span.SetStatus(codes.Error, msg)
}

func contains(refs []platform.ItemRef, id string) bool {
	for _, r := range refs {
		if r.ID == id {
			return true
		}
	}
	return false
}

// item brings the destination in line with one source item: copies it when
// it has no copy, replaces its copies when the source holds another version
// (or the copy is in another folder), deletes its copies in this folder when
// the source reports it deleted, and otherwise counts it already present.
func (r *run) item(ctx context.Context, f platform.Folder, fs *FolderState, ref platform.ItemRef) error {
	marker := Marker(r.opts.SourceMailbox, ref.ID)
	var copies []platform.Placed
	if err := r.call(ctx, func(ctx context.Context) (err error) {
		copies, err = r.dst.FindByMarker(ctx, r.opts.DestinationMailbox, marker)
		return err
	}); err != nil {
		return err
	}
	if ref.Deleted {
		// Only the copies in this folder's counterpart: a move is
		// reported as a deletion here and an addition in the folder it
		// went to, with the same id where ids are immutable, and that
		// copy must stay.
		var here []platform.Placed
		for _, c := range copies {
			if c.FolderID == fs.DestinationID {
				here = append(here, c)
			}
		}
		if err := r.delete(ctx, here, ""); err != nil {
			return err
		}
		if len(here) > 0 {
			r.cp.Counts.Deleted++
			r.outcome(f, ref, transfer.OutcomeDeleted, nil, "", nil)
		}
		return nil
	}
	if keep, ok := current(copies, fs.DestinationID, ref.ChangeKey); ok {
		r.cp.Counts.AlreadyPresent++
		r.outcome(f, ref, transfer.OutcomeAlreadyPresent, nil, keep.ID, nil)
		// More than one copy is what a run stopped between writing a new
		// version and deleting the old one leaves behind.
		return r.delete(ctx, copies, keep.ID)
	}
	if r.limit > 0 && ref.Size > r.limit {
		return r.list(f, ref, OutcomeSkipped, tooLarge(ref.Size, r.limit))
	}
	item, err := r.read(ctx, ref)
	if errs.Is(err, errs.NotFound) {
		// Deleted at the source since it was listed: nothing to move; the
		// next delta reports the deletion.
		return nil
	}
	if handled, lerr := r.itemError(f, ref, err); handled {
		return lerr
	}
	version := item.version(ref.ChangeKey)
	if len(copies) > 0 && version != ref.ChangeKey {
		// A listing's change key may not be the item's own (a calendar
		// series is listed through one of its occurrences): what was
		// read decides.
		if keep, ok := current(copies, fs.DestinationID, version); ok {
			r.cp.Counts.AlreadyPresent++
			r.outcome(f, ref, transfer.OutcomeAlreadyPresent, nil, keep.ID, &item)
			return r.delete(ctx, copies, keep.ID)
		}
	}
	if r.limit > 0 && item.size() > r.limit {
		return r.list(f, ref, OutcomeSkipped, tooLarge(item.size(), r.limit))
	}
	id, err := r.write(ctx, fs.DestinationID, item, marker)
	var warning error
	if id != "" && platform.IsWarning(err) {
		// Stored, with a loss the destination reported: a copy like any
		// other, listed with what it lacks.
		warning, err = err, nil
	}
	if handled, lerr := r.itemError(f, ref, err); handled {
		return lerr
	}
	// The new version is safe; only now do the old copies go.
	if err := r.delete(ctx, copies, id); err != nil {
		return err
	}
	done := transfer.OutcomeCopied
	if len(copies) > 0 {
		r.cp.Counts.Updated++
		done = transfer.OutcomeUpdated
	} else {
		r.cp.Counts.Copied++
	}
	if warning != nil {
		done = OutcomeCopiedWithWarnings
	}
	r.outcome(f, ref, done, warning, id, &item)
	r.cp.Counts.Bytes += item.size()
	if warning != nil {
		return r.list(f, ref, OutcomeCopiedWithWarnings, warning)
	}
	return nil
}

// content is an item read in the standard format or, on the native path,
// in the platform's own.
type content struct {
	std    platform.Item
	native *platform.NativeItem
}

// version is the version the copy records: the read item's own change key,
// else the listing's.
func (c *content) version(listed string) string {
	ck := &c.std.Ref.ChangeKey
	if c.native != nil {
		ck = &c.native.Ref.ChangeKey
	}
	if *ck == "" {
		*ck = listed
	}
	return *ck
}

func (c *content) size() int64 {
	if c.native != nil {
		return int64(len(c.native.Data))
	}
	return int64(len(c.std.Content))
}

func (r *run) read(ctx context.Context, ref platform.ItemRef) (content, error) {
	var c content
	err := r.call(ctx, func(ctx context.Context) (err error) {
		if r.ns != nil {
			var n platform.NativeItem
			n, err = r.ns.ReadNative(ctx, r.opts.SourceMailbox, ref)
			c.native = &n
			return err
		}
		c.std, err = r.src.ReadItem(ctx, r.opts.SourceMailbox, ref)
		return err
	})
	return c, err
}

func (r *run) write(ctx context.Context, folderID string, c content, marker string) (string, error) {
	var id string
	err := r.call(ctx, func(ctx context.Context) (err error) {
		if c.native != nil {
			id, err = r.nd.WriteNative(ctx, r.opts.DestinationMailbox, folderID, *c.native, marker)
			return err
		}
		id, err = r.dst.WriteItem(ctx, r.opts.DestinationMailbox, folderID, c.std, marker)
		return err
	})
	return id, err
}

// current returns the copy that already is the source item in version
// (any copy when the source gives no version) in the destination folder.
func current(copies []platform.Placed, folderID, version string) (platform.Placed, bool) {
	for _, c := range copies {
		if (c.FolderID == folderID || c.FolderID == "") && (version == "" || c.Version == version) {
			return c, true
		}
	}
	return platform.Placed{}, false
}

// delete removes the copies except the one with id keep.
func (r *run) delete(ctx context.Context, copies []platform.Placed, keep string) error {
	for _, c := range copies {
		if c.ID == keep {
			continue
		}
		err := r.call(ctx, func(ctx context.Context) error {
			if r.nd != nil {
				// A store-level removal: a natively imported meeting is
				// the real meeting, and deleting it as a user would can
				// send its cancellation.
				return r.nd.DeleteNative(ctx, r.opts.DestinationMailbox, c)
			}
			return r.dst.DeleteItem(ctx, r.opts.DestinationMailbox, c)
		})
		if err != nil && !errs.Is(err, errs.NotFound) {
			return err
		}
	}
	return nil
}

// itemError sorts an item's error: none (false), one that concerns only this
// item (listed, true with nil), or one that stops the mailbox (true, err).
func (r *run) itemError(f platform.Folder, ref platform.ItemRef, err error) (bool, error) {
	if err == nil {
		return false, nil
	}
	switch errs.CodeOf(err) {
	case errs.ItemTooLarge:
		return true, r.list(f, ref, OutcomeSkipped, err)
	case errs.CorruptItem, errs.Invalid:
		return true, r.list(f, ref, OutcomeFailed, err)
	}
	return true, err
}

func tooLarge(size, limit int64) error {
	return errs.New(errs.ItemTooLarge,
		fmt.Sprintf("the item is %d bytes, over the destination's limit of %d bytes", size, limit),
		"move the item by hand or reduce its attachments")
}

// list counts an item that did not move, or was copied with a warning,
// and records why.
func (r *run) list(f platform.Folder, ref platform.ItemRef, outcome string, err error) error {
	switch outcome {
	case OutcomeSkipped:
		r.cp.Counts.Skipped++
	case OutcomeCopiedWithWarnings:
		r.cp.Counts.Warnings++
	default:
		r.cp.Counts.Failed++
	}
	if outcome != OutcomeCopiedWithWarnings {
		// A copy with warnings was told to OnItem when it was written.
		r.outcome(f, ref, outcome, err, "", nil)
	}
	if len(r.cp.Items) >= r.opts.MaxListed {
		return nil
	}
	reason := err.Error()
	if e, ok := errs.As(err); ok {
		reason = e.Cause
	}
	r.cp.Items = append(r.cp.Items, ListedItem{
		FolderID: f.ID, Folder: f.Name, ItemID: ref.ID, Size: ref.Size,
		Outcome: outcome, Code: string(errs.CodeOf(err)), Reason: reason,
	})
	return nil
}

// outcome tells Options.OnItem what happened to an item; err gives the
// code and reason of one that did not move (or of a copy's warning), c the
// content when it was read.
func (r *run) outcome(f platform.Folder, ref platform.ItemRef, outcome string, err error, dstID string, c *content) {
	if r.opts.OnItem == nil {
		return
	}
	o := transfer.ItemOutcome{FolderID: f.ID, Folder: f.Name, ItemID: ref.ID, Kind: string(ref.Kind), Outcome: outcome,
		DestinationID: dstID, Size: ref.Size, At: time.Now().UnixMilli()}
	if c != nil {
		data := c.std.Content
		if c.native != nil {
			data = c.native.Data
		}
		sum := sha256.Sum256(data)
		o.ContentHash, o.Size = hex.EncodeToString(sum[:]), int64(len(data))
	}
	if err != nil {
		o.Code, o.Reason = string(errs.CodeOf(err)), err.Error()
		if e, ok := errs.As(err); ok {
			o.Reason = e.Cause
		}
	}
	r.opts.OnItem(o)
}

func (r *run) progress(throttled time.Duration) {
	c := r.cp.Counts
	r.report(Progress{
		Folder:     r.folder,
		Items:      c.Copied + c.AlreadyPresent + c.Updated + c.Deleted + c.Skipped + c.Failed,
		Bytes:      c.Bytes,
		Failed:     c.Failed,
		Updated:    c.Updated,
		Deleted:    c.Deleted,
		TotalItems: r.total,
		Throttled:  throttled,
	})
}

func (r *run) save(ctx context.Context) error {
	r.cp.UpdatedAt = time.Now().UTC()
	err := r.call(ctx, func(ctx context.Context) error { return r.store.Save(ctx, r.cp) })
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	r.lastSave = time.Now()
	return nil
}

// call runs op, waiting out throttling as long as the platform asks and
// retrying transient failures with exponential backoff.
func (r *run) call(ctx context.Context, op func(context.Context) error) error {
	attempts, throttles := 0, 0
	for {
		err := op(ctx)
		if err == nil {
			if throttles > 0 {
				r.progress(0)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var wait time.Duration
		if e, ok := errs.As(err); ok && e.Code == errs.Throttled {
			throttles++
			if throttles > r.opts.MaxThrottles {
				return err
			}
			wait = e.RetryAfter
			if wait <= 0 {
				wait = time.Second
			}
			r.progress(wait)
			trace.SpanFromContext(ctx).AddEvent("throttled", trace.WithAttributes(
				attribute.Int64("mailferry.retry_after_ms", wait.Milliseconds()),
				attribute.Int("mailferry.throttles", throttles)))
		} else {
			if !retryable(err) || attempts >= r.opts.Retries {
				return err
			}
			wait = min(r.opts.Backoff<<attempts, 30*time.Second)
			attempts++
			trace.SpanFromContext(ctx).AddEvent("retry", trace.WithAttributes(
				attribute.String("error.type", string(errs.CodeOf(err))),
				attribute.Int("mailferry.attempt", attempts),
				attribute.Int64("mailferry.wait_ms", wait.Milliseconds())))
			if r.opts.OnRetry != nil {
				r.opts.OnRetry(err, attempts, wait)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// retryable says whether trying the same call again may help: transient
// platform errors and uncoded ones (network, store), not answers about the
// request itself.
func retryable(err error) bool {
	e, ok := errs.As(err)
	if !ok {
		return true
	}
	switch e.Code {
	case errs.Unavailable, errs.Internal, errs.Conflict:
		return true
	}
	return false
}
