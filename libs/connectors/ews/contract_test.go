package ews_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// TestContract runs the connector contract suite against one Exchange
// sandbox; each subtest gets its own seeded mailbox (mail, a weekly series
// with exceptions and attendees, contacts and a distribution list) and an
// empty one. Every SOAP envelope is validated against the EWS schemas when
// the test ends, and the sandbox must have sent nothing: no mail and no
// meeting message, though meetings were written and replaced.
func TestContract(t *testing.T) {
	sb := newSandbox(t, sandbox.Config{})
	raw := rawClient(sb)
	var next atomic.Int64
	platformtest.Run(t, func(t *testing.T) platformtest.Fixture {
		n := int(next.Add(1))
		cfg := configFor(t, sb)
		cfg.PageSize = 3
		cfg.MaxItemBytes = 1 << 20
		c := open(t, cfg)
		seeded := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 12, EventsPerUser: 4, ContactsPerUser: 4, Seed: testSeed,
			FirstIndex: 100 + n, Profile: tenantgen.Light})[0]
		empty := addMailbox(t, sb, fmt.Sprintf("empty%d", n))
		// New mail "arrives" through a second connector, unseen by the
		// one under test and its caches.
		other := open(t, configFor(t, sb))
		return platformtest.Fixture{
			Connector: c, Seeded: seeded, Empty: empty, WantPaging: true,
			AddItem: func(ctx context.Context, mb, folderID string, it platform.Item) (platform.ItemRef, error) {
				id, err := other.WriteItem(ctx, mb, folderID, it, fmt.Sprintf("arrival-%d-%d", n, time.Now().UnixNano()))
				return platform.ItemRef{ID: id, FolderID: folderID, Kind: platform.Mail}, err
			},
			ChangeItem: func(ctx context.Context, mb string, ref platform.ItemRef) error {
				if ref.Kind == platform.Mail {
					return update(ctx, raw, mb, ref.ID, false,
						soap.SetItemField{Path: soap.Field("item:Flag"), Message: &soap.Message{ItemFields: soap.ItemFields{Flag: &soap.Flag{FlagStatus: "Flagged"}}}},
						soap.SetItemField{Path: soap.Field("message:IsRead"), Message: &soap.Message{IsRead: soap.Bool(true)}})
				}
				return update(ctx, raw, mb, ref.ID, ref.Kind == platform.Event, categorize("Contract changed"))
			},
			RemoveItem: func(ctx context.Context, mb string, ref platform.ItemRef) error {
				return remove(ctx, raw, mb, ref.ID)
			},
		}
	})
}
