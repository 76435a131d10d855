package engine

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

type outcomeLog struct {
	mu      sync.Mutex
	items   []transfer.ItemOutcome
	retries []error
}

func (l *outcomeLog) opts(o Options) Options {
	o.OnItem = func(it transfer.ItemOutcome) { l.mu.Lock(); l.items = append(l.items, it); l.mu.Unlock() }
	o.OnRetry = func(err error, _ int, _ time.Duration) {
		l.mu.Lock()
		l.retries = append(l.retries, err)
		l.mu.Unlock()
	}
	return o
}

func (l *outcomeLog) byOutcome() map[string]int {
	out := map[string]int{}
	for _, it := range l.items {
		out[it.Outcome]++
	}
	return out
}

// TestItemOutcomesMatchTheCounts checks that the item ledger hook hears
// one outcome per item, matching the counts, with ids and hashes, and the
// retries of transient errors.
func TestItemOutcomesMatchTheCounts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 20)
	ctx := context.Background()
	f.dst.SetLimits(platform.Limits{MaxItemBytes: 1 << 20})
	inbox, _ := f.src.FolderByRole(f.srcID, platform.RoleInbox)
	big, err := f.src.AddItem(ctx, f.srcID, inbox.ID, platform.Item{Ref: platform.ItemRef{Kind: platform.Mail},
		Content: append([]byte("Subject: big\r\n\r\n"), bytes.Repeat([]byte("x"), 2<<20)...)})
	if err != nil {
		t.Fatal(err)
	}
	src := &flaky{Tenant: f.src}
	src.n.Store(2)
	var first outcomeLog
	cp, err := Run(ctx, src, f.dst, &MemStore{}, first.opts(f.opts("r1", events.ModeFull)), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := first.byOutcome()
	if got[transfer.OutcomeCopied] != cp.Counts.Copied || got[transfer.OutcomeSkipped] != 1 || len(first.items) != cp.Counts.Copied+cp.Counts.Skipped {
		t.Fatalf("outcomes %v for counts %+v", got, cp.Counts)
	}
	if len(first.retries) != 2 || errs.CodeOf(first.retries[0]) != errs.Unavailable {
		t.Fatalf("retries %v", first.retries)
	}
	for _, it := range first.items {
		switch it.Outcome {
		case transfer.OutcomeCopied:
			if it.DestinationID == "" || len(it.ContentHash) != 64 || it.Size == 0 || it.ItemID == "" || it.FolderID == "" || it.At == 0 {
				t.Fatalf("copied outcome %+v", it)
			}
		case transfer.OutcomeSkipped:
			if it.ItemID != big.ID || it.Code != string(errs.ItemTooLarge) || it.Reason == "" || it.Folder != "Inbox" {
				t.Fatalf("skipped outcome %+v", it)
			}
		}
	}
	// A second run finds every copy: already present, same destination ids.
	var second outcomeLog
	if _, err := Run(ctx, f.src, f.dst, &MemStore{}, second.opts(f.opts("r2", events.ModeFull)), nil); err != nil {
		t.Fatal(err)
	}
	dst := map[string]string{}
	for _, it := range first.items {
		dst[it.ItemID] = it.DestinationID
	}
	if got := second.byOutcome(); got[transfer.OutcomeAlreadyPresent] != cp.Counts.Copied || got[transfer.OutcomeSkipped] != 1 {
		t.Fatalf("re-run outcomes %v", got)
	}
	for _, it := range second.items {
		if it.Outcome == transfer.OutcomeAlreadyPresent && it.DestinationID != dst[it.ItemID] {
			t.Fatalf("already present %+v, first copied to %s", it, dst[it.ItemID])
		}
	}
}
