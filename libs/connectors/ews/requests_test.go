package ews_test

import (
	"fmt"
	"testing"

	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
)

// TestRequestsPerItem counts the EWS operations the engine's sequence
// costs once a mailbox's folders are known: a new message is one FindItem
// (FindByMarker) and one CreateItem; a message already copied is one
// FindItem, and its write right after nothing; a write retried without a
// FindByMarker before it searches the folder again rather than trusting an
// answer already used.
func TestRequestsPerItem(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	c := open(t, configFor(t, sb))
	ctx := ctxFor(t)
	mb := addMailbox(t, sb, "counted")
	inbox := folderByRole(t, c, mb, platform.RoleInbox)
	ops := func() map[string]int {
		out := map[string]int{}
		for _, x := range sb.Exchanges() {
			out[x.Op]++
		}
		return out
	}
	step := func(what string, want map[string]int, fn func()) {
		t.Helper()
		ops()
		fn()
		got := ops()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	msg := platformtest.Message("counted", 500)
	var id string
	step("a new message", map[string]int{"CreateItem": 1, "FindItem": 1}, func() {
		if found, err := c.FindByMarker(ctx, mb, "mf-counted"); err != nil || len(found) != 0 {
			t.Fatalf("FindByMarker: %+v %v", found, err)
		}
		var err error
		if id, err = c.WriteItem(ctx, mb, inbox.ID, msg, "mf-counted"); err != nil {
			t.Fatal(err)
		}
	})
	step("a message already copied", map[string]int{"FindItem": 1}, func() {
		if found, err := c.FindByMarker(ctx, mb, "mf-counted"); err != nil || len(found) != 1 || found[0].ID != id {
			t.Fatalf("FindByMarker: %+v %v", found, err)
		}
	})
	step("a write right after FindByMarker found the copy", map[string]int{}, func() {
		if again, err := c.WriteItem(ctx, mb, inbox.ID, msg, "mf-counted"); err != nil || again != id {
			t.Fatalf("WriteItem again: %q %v", again, err)
		}
	})
	step("a retried write", map[string]int{"FindItem": 1}, func() {
		if again, err := c.WriteItem(ctx, mb, inbox.ID, msg, "mf-counted"); err != nil || again != id {
			t.Fatalf("WriteItem again: %q %v", again, err)
		}
	})
	// Something for the cleanup's schema check.
	if _, err := c.FindByMarker(ctx, mb, "mf-counted"); err != nil {
		t.Fatal(err)
	}
}
