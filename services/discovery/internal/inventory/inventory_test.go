package inventory

import (
	"strings"
	"testing"

	"github.com/mailferry/mailferry/events/discovery"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

func TestFolderPaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		folders []platform.Folder
		want    map[string]string
	}{
		{"nested three deep", []platform.Folder{
			{ID: "a", Name: "Inbox"}, {ID: "b", ParentID: "a", Name: "Projects"}, {ID: "c", ParentID: "b", Name: "2026"},
		}, map[string]string{"a": "Inbox", "b": "Inbox/Projects", "c": "Inbox/Projects/2026"}},
		{"children listed before parents", []platform.Folder{
			{ID: "c", ParentID: "b", Name: "Q1"}, {ID: "b", Name: "Customers"},
		}, map[string]string{"b": "Customers", "c": "Customers/Q1"}},
		{"missing parent ends the chain", []platform.Folder{
			{ID: "x", ParentID: "gone", Name: "Orphan"},
		}, map[string]string{"x": "Orphan"}},
		{"a loop does not hang", []platform.Folder{
			{ID: "p", ParentID: "q", Name: "P"}, {ID: "q", ParentID: "p", Name: "Q"},
		}, map[string]string{"p": "Q/P", "q": "P/Q"}},
		{"empty", nil, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := FolderPaths(tt.folders)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for id, p := range tt.want {
				if got[id] != p {
					t.Errorf("folder %s: got %q, want %q", id, got[id], p)
				}
			}
		})
	}
}

func mbx(addr string, largest int64) discovery.MailboxDiscovered {
	return discovery.MailboxDiscovered{Mailbox: platform.Mailbox{ID: addr, PrimaryAddress: addr}, Stats: platform.Stats{LargestItem: largest}}
}

func TestBlockers(t *testing.T) {
	t.Parallel()
	tenMB := int64(10 << 20)
	tests := []struct {
		name       string
		check      Check
		wantCodes  []string
		wantDetail []string
	}{
		{"no destination credentials", Check{Source: []discovery.MailboxDiscovered{mbx("a@x", 1<<30)}},
			[]string{DestinationCredentialsMissing}, nil},
		{"all fine", Check{DestinationCredentials: true, Limits: platform.Limits{MaxItemBytes: tenMB},
			Source: []discovery.MailboxDiscovered{mbx("a@x", tenMB)}}, nil, nil},
		{"oversized items, sorted by mailbox", Check{DestinationCredentials: true, Limits: platform.Limits{MaxItemBytes: tenMB},
			Source: []discovery.MailboxDiscovered{mbx("z@x", tenMB+1<<20), mbx("a@x", 12<<20), mbx("m@x", 1)}},
			[]string{ItemTooLarge, ItemTooLarge}, []string{"a@x holds an item of 12.0 MB, over the destination's limit of 10.0 MB", "z@x holds an item of 11.0 MB"}},
		{"unknown limit flags nothing", Check{DestinationCredentials: true, Source: []discovery.MailboxDiscovered{mbx("a@x", 1<<40)}}, nil, nil},
		{"destination unreachable", Check{DestinationCredentials: true,
			DestinationError: errs.New(errs.AuthFailed, "tenant refused", "")},
			[]string{DestinationUnreachable}, []string{"platform_auth_failed", "tenant refused"}},
		{"unreadable mailboxes after size blockers", Check{DestinationCredentials: true, Limits: platform.Limits{MaxItemBytes: 1},
			Source:     []discovery.MailboxDiscovered{mbx("a@x", 2)},
			Unreadable: []Unreadable{{Side: "destination", Address: "d@y", Err: errs.New(errs.NotFound, "gone", "")}, {Side: "source", Address: "s@x", Err: errs.New(errs.Forbidden, "denied", "")}}},
			[]string{ItemTooLarge, MailboxUnreadable, MailboxUnreadable}, []string{"a@x", "source mailbox s@x", "destination mailbox d@y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Blockers(tt.check)
			if len(got) != len(tt.wantCodes) {
				t.Fatalf("got %d blockers %+v, want codes %v", len(got), got, tt.wantCodes)
			}
			for i, b := range got {
				if b.Code != tt.wantCodes[i] {
					t.Errorf("blocker %d: code %q, want %q", i, b.Code, tt.wantCodes[i])
				}
				if b.Action == "" {
					t.Errorf("blocker %d has no action", i)
				}
				if i < len(tt.wantDetail) && !strings.Contains(b.Detail, tt.wantDetail[i]) {
					t.Errorf("blocker %d detail %q lacks %q", i, b.Detail, tt.wantDetail[i])
				}
			}
		})
	}
}

func TestMB(t *testing.T) {
	t.Parallel()
	for in, want := range map[int64]string{0: "0.0 MB", 1 << 20: "1.0 MB", 150 << 20: "150.0 MB", 1572864: "1.5 MB"} {
		if got := MB(in); got != want {
			t.Errorf("MB(%d) = %q, want %q", in, got, want)
		}
	}
}
