package browser

import (
	"strings"

	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
)

// SeedLarge fills src with n mailboxes of 0 or 1 item (the first half one
// item each, the rest none): a project as big as a hosting provider's,
// cheap enough to discover in a test. dst gets the same people under its
// own domain except one in a hundred, whose mapping is an exception.
func SeedLarge(src, dst *memory.Tenant, n int) {
	half := n / 2
	mbs := memory.Seed(src, memory.SeedSpec{Mailboxes: half, ItemsPerMailbox: 1, Seed: 3})
	mbs = append(mbs, memory.Seed(src, memory.SeedSpec{Mailboxes: n - half, ItemsPerMailbox: 0, Seed: 3, FirstIndex: half + 1})...)
	for i, m := range mbs {
		if (i+1)%100 == 0 {
			continue
		}
		local, _, _ := strings.Cut(m.PrimaryAddress, "@")
		dst.AddMailbox(platform.Mailbox{PrimaryAddress: local + "@" + dst.Domain(), DisplayName: m.DisplayName})
	}
}
