package m365_test

import (
	"strings"
	"testing"

	"github.com/mailferry/mailferry/libs/connectors/m365"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

// TestDeleteItemNeverCancelsAMeeting removes old versions of meetings that
// were copied in full fidelity (they are the real meetings, with their
// attendees): DeleteItem takes the mailbox API's store delete when the app
// holds MailboxItem.ReadWrite.All, and refuses, naming that permission,
// when it does not. Either way the sandbox records no cancellation (here
// and in newTenantPair's cleanup), which the events API's delete of an
// organiser's meeting would send.
func TestDeleteItemNeverCancelsAMeeting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		readDel  bool
		wantCode string
	}{
		{name: "with MailboxItem.ReadWrite.All", readDel: true},
		{name: "without it", wantCode: string(m365.CodeConsentMissing)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newTenantPair(t, graph.SeedSpec{Users: 1, EventsPerUser: 6, Seed: 31}, func(src, dst *graph.Sandbox) {
				src.Grant(graph.RoleMailboxImportExport)
				dst.Grant(graph.RoleMailboxImportExport)
				if tc.readDel {
					dst.Grant(graph.RoleMailboxItemReadWrite)
				}
			})
			ctx := ctxFor(t)
			sf := folderByRole(t, p.sc, p.suid, platform.RoleCalendar)
			df, err := p.dc.EnsureFolder(ctx, p.duid, platform.Folder{Name: sf.Name, Role: platform.RoleCalendar, Kind: platform.Event})
			if err != nil {
				t.Fatal(err)
			}
			var meeting platform.Placed
			var marker string
			for sid, did := range copyNative(t, ctx, p, sf.ID, df.ID) {
				it, err := p.dc.ReadItem(ctx, p.duid, platform.ItemRef{ID: did, FolderID: df.ID, Kind: platform.Event})
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(it.Content), "ATTENDEE") {
					marker = "mf-native-" + sid
					found, err := p.dc.FindByMarker(ctx, p.duid, marker)
					if err != nil || len(found) != 1 {
						t.Fatalf("FindByMarker of the imported meeting: %+v, %v", found, err)
					}
					meeting = found[0]
					break
				}
			}
			if meeting.ID == "" {
				t.Fatal("no imported event has attendees")
			}
			events := p.dst.EventCount(p.duid)
			err = p.dc.DeleteItem(ctx, p.duid, meeting)
			if tc.wantCode != "" {
				checkErr(t, "DeleteItem of a meeting without the permission", err, m365.CodeConsentMissing, "MailboxItem.ReadWrite.All")
				if n := p.dst.EventCount(p.duid); n != events {
					t.Errorf("the refused delete changed the event count from %d to %d", events, n)
				}
			} else {
				if err != nil {
					t.Fatalf("DeleteItem of an imported meeting: %v", err)
				}
				if n := p.dst.EventCount(p.duid); n != events-1 {
					t.Errorf("after DeleteItem %d events, want %d", n, events-1)
				}
				if err := p.dc.DeleteItem(ctx, p.duid, meeting); err != nil {
					t.Errorf("DeleteItem of a meeting already gone: %v", err)
				}
				if found, err := p.dc.FindByMarker(ctx, p.duid, marker); err != nil || len(found) != 0 {
					t.Errorf("FindByMarker after the delete: %+v, %v", found, err)
				}
			}
			if inv := p.dst.Invitations(); len(inv) != 0 {
				t.Errorf("deleting a meeting sent %d meeting messages: %+v", len(inv), inv)
			}
		})
	}
}
