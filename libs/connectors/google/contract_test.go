package google_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/people/v1"

	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

// TestContract runs the connector contract suite against one sandbox
// server; each subtest gets its own seeded and empty mailboxes and a
// connector of its own (cold caches). The sandbox's cleanup asserts that
// nothing was sent, invitations included.
func TestContract(t *testing.T) {
	sb := newSandbox(t, sandbox.Config{})
	var next atomic.Int64
	platformtest.Run(t, func(t *testing.T) platformtest.Fixture {
		n := int(next.Add(1))
		cfg := configFor(sb)
		cfg.PageSize = 4
		cfg.MaxItemBytes = 4 << 20
		c := open(t, cfg)
		seeded := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 14, EventsPerUser: 6, ContactsPerUser: 6, Seed: 7, FirstIndex: 100 + n})[0]
		empty := fmt.Sprintf("empty%d@%s", n, sb.Domain())
		sb.AddUser(empty, fmt.Sprintf("Empty %d", n))
		return platformtest.Fixture{
			Connector: c, Seeded: seeded, Empty: empty, WantPaging: true,
			AddItem: func(ctx context.Context, mb, folderID string, it platform.Item) (platform.ItemRef, error) {
				return deliver(t, sb, mb, folderID, it.Content)
			},
			ChangeItem: func(ctx context.Context, mb string, ref platform.ItemRef) error {
				return changeAsUser(t, sb, mb, ref)
			},
			RemoveItem: func(ctx context.Context, mb string, ref platform.ItemRef) error {
				return removeAsUser(t, sb, mb, ref)
			},
		}
	})
}

// deliver stores a message the way new mail arrives (messages.insert,
// not the connector's import).
func deliver(t *testing.T, sb *sandbox.Sandbox, mb, labelID string, raw []byte) (platform.ItemRef, error) {
	m, err := gmailAs(t, sb, mb).Users.Messages.Insert("me", &gmail.Message{LabelIds: []string{labelID, "UNREAD"}}).
		InternalDateSource("receivedTime").Media(bytes.NewReader(raw), googleapi.ContentType("message/rfc822")).Do()
	if err != nil {
		return platform.ItemRef{}, err
	}
	return platform.ItemRef{ID: m.Id, FolderID: labelID, Kind: platform.Mail}, nil
}

// changeAsUser changes an item the way its user would: toggles a
// message's star, edits an event's description (notifying nobody), edits
// a contact's note.
func changeAsUser(t *testing.T, sb *sandbox.Sandbox, mb string, ref platform.ItemRef) error {
	switch ref.Kind {
	case platform.Event:
		calID := strings.TrimPrefix(ref.FolderID, "calendar:")
		_, err := calendarAs(t, sb, mb).Events.Patch(calID, eventID(ref.ID), &calendar.Event{Description: "edited by its owner"}).
			SendUpdates("none").Do()
		return err
	case platform.Contact:
		svc := peopleAs(t, sb, mb)
		p, err := svc.People.Get(ref.ID).PersonFields("biographies").Do()
		if err != nil {
			return err
		}
		p.Biographies = []*people.Biography{{Value: "edited by its owner", ContentType: "TEXT_PLAIN"}}
		_, err = svc.People.UpdateContact(ref.ID, p).UpdatePersonFields("biographies").Do()
		return err
	}
	svc := gmailAs(t, sb, mb)
	m, err := svc.Users.Messages.Get("me", ref.ID).Format("minimal").Do()
	if err != nil {
		return err
	}
	req := &gmail.ModifyMessageRequest{AddLabelIds: []string{"STARRED"}}
	if slices.Contains(m.LabelIds, "STARRED") {
		req = &gmail.ModifyMessageRequest{RemoveLabelIds: []string{"STARRED"}}
	}
	_, err = svc.Users.Messages.Modify("me", ref.ID, req).Do()
	return err
}

// removeAsUser deletes an item for good.
func removeAsUser(t *testing.T, sb *sandbox.Sandbox, mb string, ref platform.ItemRef) error {
	switch ref.Kind {
	case platform.Event:
		return calendarAs(t, sb, mb).Events.Delete(strings.TrimPrefix(ref.FolderID, "calendar:"), eventID(ref.ID)).SendUpdates("none").Do()
	case platform.Contact:
		_, err := peopleAs(t, sb, mb).People.DeleteContact(ref.ID).Do()
		return err
	}
	return gmailAs(t, sb, mb).Users.Messages.Delete("me", ref.ID).Do()
}
