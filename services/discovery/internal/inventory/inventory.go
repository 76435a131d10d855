// Package inventory turns what a connector reports about a mailbox into what
// discovery publishes: folder paths people recognise ("Inbox/Newsletters")
// and the blockers that would stop or spoil a run, decided before anything
// is spent.
package inventory

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mailferry/mailferry/events/discovery"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// Blocker codes. They are part of the public API (scripts branch on them),
// so they never change meaning.
const (
	DestinationCredentialsMissing = "destination_credentials_missing"
	DestinationUnreachable        = "destination_unreachable"
	ItemTooLarge                  = "item_too_large"
	MailboxUnreadable             = "mailbox_unreadable"
)

// FolderPaths returns each folder's path from the top of its mailbox, names
// joined with "/". Platforms hand out parent ids, not paths; a parent that is
// missing or a loop (a damaged store) ends the chain instead of hanging.
func FolderPaths(folders []platform.Folder) map[string]string {
	byID := make(map[string]platform.Folder, len(folders))
	for _, f := range folders {
		byID[f.ID] = f
	}
	out := make(map[string]string, len(folders))
	for _, f := range folders {
		var parts []string
		seen := map[string]bool{}
		for cur, ok := f, true; ok && !seen[cur.ID]; cur, ok = byID[cur.ParentID] {
			seen[cur.ID] = true
			parts = append(parts, cur.Name)
			if cur.ParentID == "" {
				break
			}
		}
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
		out[f.ID] = strings.Join(parts, "/")
	}
	return out
}

// Unreadable is a mailbox that was listed but could not be read.
type Unreadable struct {
	Side    string
	Address string
	Err     *errs.Error
}

// Check is everything the blocker rules look at.
type Check struct {
	// DestinationCredentials says whether the destination's credentials
	// are set at all.
	DestinationCredentials bool
	// DestinationError is why the destination could not be opened or
	// listed; nil when it was.
	DestinationError *errs.Error
	// Limits are the destination's; zero MaxItemBytes means unknown.
	Limits     platform.Limits
	Source     []discovery.MailboxDiscovered
	Unreadable []Unreadable
}

// Blockers applies the rules in a stable order: destination problems first,
// then per mailbox by address, so a re-run reports the same list.
func Blockers(c Check) []discovery.Blocker {
	var out []discovery.Blocker
	switch {
	case !c.DestinationCredentials:
		out = append(out, discovery.Blocker{
			Code:   DestinationCredentialsMissing,
			Detail: "the destination's credentials are not set, so destination mailboxes, limits and the mapping cannot be checked yet",
			Action: "enter the destination credentials and run discovery again",
		})
	case c.DestinationError != nil:
		e := c.DestinationError
		action := e.Action
		if action == "" {
			action = "check the destination credentials and run discovery again"
		}
		out = append(out, discovery.Blocker{
			Code:   DestinationUnreachable,
			Detail: fmt.Sprintf("the destination could not be reached (%s): %s", e.Code, e.Cause),
			Action: action,
		})
	}
	src := append([]discovery.MailboxDiscovered(nil), c.Source...)
	sort.Slice(src, func(i, j int) bool { return src[i].Mailbox.PrimaryAddress < src[j].Mailbox.PrimaryAddress })
	if limit := c.Limits.MaxItemBytes; limit > 0 {
		for _, m := range src {
			if m.Stats.LargestItem > limit {
				out = append(out, discovery.Blocker{
					Code:    ItemTooLarge,
					Mailbox: m.Mailbox.PrimaryAddress,
					Detail: fmt.Sprintf("%s holds an item of %s, over the destination's limit of %s per item",
						m.Mailbox.PrimaryAddress, MB(m.Stats.LargestItem), MB(limit)),
					Action: "such items are skipped and listed in the reconciliation report; shrink or remove their attachments before the run, or move them by hand",
				})
			}
		}
	}
	un := append([]Unreadable(nil), c.Unreadable...)
	sort.Slice(un, func(i, j int) bool {
		if un[i].Side != un[j].Side {
			return un[i].Side > un[j].Side // source before destination
		}
		return un[i].Address < un[j].Address
	})
	for _, u := range un {
		action := u.Err.Action
		if action == "" {
			action = "check the mailbox on the " + u.Side + " and run discovery again"
		}
		out = append(out, discovery.Blocker{
			Code:    MailboxUnreadable,
			Mailbox: u.Address,
			Detail:  fmt.Sprintf("the %s mailbox %s could not be read (%s): %s", u.Side, u.Address, u.Err.Code, u.Err.Cause),
			Action:  action,
		})
	}
	return out
}

// MB formats a size in megabytes (2^20 bytes, the unit platforms state their
// limits in) with one decimal.
func MB(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}
