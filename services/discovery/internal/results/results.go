// Package results filters, sorts and pages discovered mailboxes on the
// server, because the console lists tens of thousands of them and must never
// download them all to show one page.
package results

import (
	"sort"
	"strings"

	"github.com/mailferry/mailferry/events/discovery"
	"github.com/mailferry/mailferry/libs/errs"
)

// Paging bounds.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Sort keys.
const (
	ByAddress = "address"
	BySize    = "size"
	ByItems   = "items"
)

// Request says which page to return.
type Request struct {
	Sort string
	// Order is "asc" or "desc"; empty picks what people expect: addresses
	// A to Z, sizes and item counts largest first.
	Order  string
	Filter string
	Offset int
	Limit  int
}

// Normalize fills defaults and rejects what cannot be served.
func (r Request) Normalize() (Request, error) {
	if r.Sort == "" {
		r.Sort = ByAddress
	}
	switch r.Sort {
	case ByAddress, BySize, ByItems:
	default:
		return r, errs.Field("sort", "sort must be one of address, size or items")
	}
	if r.Order == "" {
		r.Order = "asc"
		if r.Sort != ByAddress {
			r.Order = "desc"
		}
	}
	if r.Order != "asc" && r.Order != "desc" {
		return r, errs.Field("order", "order must be asc or desc")
	}
	if r.Offset < 0 {
		return r, errs.Field("offset", "offset cannot be negative")
	}
	if r.Limit < 0 {
		return r, errs.Field("limit", "limit cannot be negative")
	}
	if r.Limit == 0 {
		r.Limit = DefaultLimit
	}
	if r.Limit > MaxLimit {
		r.Limit = MaxLimit
	}
	r.Filter = strings.TrimSpace(r.Filter)
	return r, nil
}

// Items is a mailbox's item count over every kind.
func Items(m discovery.MailboxDiscovered) int {
	return m.Stats.Mail + m.Stats.Events + m.Stats.Contacts
}

// Select returns the page r asks for and how many mailboxes matched the
// filter. all is not modified. r must be normalized.
func Select(all []discovery.MailboxDiscovered, r Request) ([]discovery.MailboxDiscovered, int) {
	matched := make([]discovery.MailboxDiscovered, 0, len(all))
	needle := strings.ToLower(r.Filter)
	for _, m := range all {
		if needle == "" ||
			strings.Contains(strings.ToLower(m.Mailbox.PrimaryAddress), needle) ||
			strings.Contains(strings.ToLower(m.Mailbox.DisplayName), needle) {
			matched = append(matched, m)
		}
	}
	desc := r.Order == "desc"
	sort.SliceStable(matched, func(i, j int) bool {
		a, b := matched[i], matched[j]
		var c int
		switch r.Sort {
		case BySize:
			c = cmp(a.Stats.SizeBytes, b.Stats.SizeBytes)
		case ByItems:
			c = cmp(int64(Items(a)), int64(Items(b)))
		}
		if c == 0 {
			c = strings.Compare(strings.ToLower(a.Mailbox.PrimaryAddress), strings.ToLower(b.Mailbox.PrimaryAddress))
			if r.Sort != ByAddress {
				// Ties stay A to Z whatever the order, so pages are stable.
				return c < 0
			}
		}
		if desc {
			return c > 0
		}
		return c < 0
	})
	total := len(matched)
	if r.Offset >= total {
		return []discovery.MailboxDiscovered{}, total
	}
	end := min(r.Offset+r.Limit, total)
	return matched[r.Offset:end], total
}

func cmp(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
