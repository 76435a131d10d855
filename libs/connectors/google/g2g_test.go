package google_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/api/gmail/v1"

	"github.com/mailferry/mailferry/libs/platform"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

// labelNames lists every message of a mailbox by Message-ID with its
// labels by name (system labels by id), as the user sees them.
func labelNames(t *testing.T, svc *gmail.Service) map[string][]string {
	t.Helper()
	ls, err := svc.Users.Labels.List("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, l := range ls.Labels {
		names[l.Id] = l.Name
	}
	out := map[string][]string{}
	token := ""
	for {
		call := svc.Users.Messages.List("me").IncludeSpamTrash(true).MaxResults(500)
		if token != "" {
			call = call.PageToken(token)
		}
		resp, err := call.Do()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range resp.Messages {
			full, err := svc.Users.Messages.Get("me", m.Id).Format("metadata").MetadataHeaders("Message-ID").Do()
			if err != nil {
				t.Fatal(err)
			}
			var l []string
			for _, id := range full.LabelIds {
				l = append(l, names[id])
			}
			sort.Strings(l)
			out[full.Payload.Headers[0].Value] = l
		}
		if token = resp.NextPageToken; token == "" {
			return out
		}
	}
}

// expectedLabels is what a message's labels become after a Gmail to Gmail
// migration (docs/google.md): every user label, the flags and tabs, and
// the one system label that picked its folder; system folder labels of
// lower priority (INBOX beside TRASH, SENT beside INBOX) are not kept.
func expectedLabels(l []string) []string {
	picked := ""
	for _, s := range []string{"TRASH", "SPAM", "DRAFT", "INBOX", "SENT"} {
		if slices.Contains(l, s) {
			picked = s
			break
		}
	}
	var out []string
	for _, x := range l {
		switch {
		case x == "TRASH" || x == "SPAM" || x == "DRAFT" || x == "INBOX" || x == "SENT":
			if x == picked {
				out = append(out, x)
			}
		case x == "CHAT":
		default:
			out = append(out, x)
		}
	}
	return out
}

// TestGoogleToGoogle migrates a seeded Gmail mailbox, calendar and
// contacts into another user of the Workspace: every message once, with
// its labels as documented; every series with its exceptions and
// attendees; every contact with its groups; a re-run adds nothing, and
// nothing is sent.
func TestGoogleToGoogle(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	src := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 80, EventsPerUser: 8, ContactsPerUser: 10, Seed: 21})[0]
	dst := "target@" + sb.Domain()
	sb.AddUser(dst, "Target User")
	ctx := ctxFor(t)
	c := open(t, configFor(sb))
	events := map[string]eventFacts{}
	contacts := map[string]contactFacts{}
	n := copyAll(t, ctx, c, src, c, dst, "mf-g2g-", func(f platform.Folder, _ string, it platform.Item) {
		switch f.Kind {
		case platform.Event:
			ev := factsOf(t, it.Content)
			events[ev.UID] = ev
		case platform.Contact:
			cf := contactFactsOf(t, it.Content)
			contacts[cf.key()] = cf
		}
	})
	if again := copyAll(t, ctx, c, src, c, dst, "mf-g2g-", nil); fmt.Sprint(again) != fmt.Sprint(n) {
		t.Errorf("re-run copied %v, the first run %v", again, n)
	}
	want := labelNames(t, gmailAs(t, sb, src))
	got := labelNames(t, gmailAs(t, sb, dst))
	if len(got) != len(want) || n[platform.Mail] != len(want) {
		t.Fatalf("the destination holds %d messages, the source %d, %d copied", len(got), len(want), n[platform.Mail])
	}
	multi := 0
	for id, l := range want {
		user := 0
		for _, x := range l {
			if !systemLabel(x) {
				user++
			}
		}
		if user > 1 {
			multi++
		}
		if w := expectedLabels(l); !slices.Equal(got[id], w) {
			t.Errorf("%s: source labels %v, destination %v, want %v", id, l, got[id], w)
		}
	}
	if multi == 0 {
		t.Error("no message carried two user labels; the label mapping was not exercised")
	}
	// Events and contacts read back from the destination.
	folders, err := c.Folders(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range folders {
		if f.Kind == platform.Mail {
			continue
		}
		refs, _, _ := enumerate(t, c, dst, f.ID, "")
		for _, r := range refs {
			it, err := c.ReadItem(ctx, dst, r)
			if err != nil {
				t.Fatal(err)
			}
			if f.Kind == platform.Event {
				ev := factsOf(t, it.Content)
				if w, ok := events[ev.UID]; !ok || fmt.Sprintf("%+v", w) != fmt.Sprintf("%+v", ev) {
					t.Errorf("event %s\n got %+v\nwant %+v", ev.UID, ev, w)
				}
				delete(events, ev.UID)
			} else {
				cf := contactFactsOf(t, it.Content)
				if w, ok := contacts[cf.key()]; !ok || w != cf {
					t.Errorf("contact %q\n got %+v\nwant %+v", cf.FN, cf, w)
				}
				delete(contacts, cf.key())
			}
		}
	}
	if len(events)+len(contacts) != 0 {
		t.Errorf("not found at the destination: %d events, %d contacts", len(events), len(contacts))
	}
}

func systemLabel(name string) bool {
	return name == strings.ToUpper(name) && !strings.ContainsAny(name, " /")
}
