package google_test

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"google.golang.org/api/gmail/v1"

	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

// TestDraftsAreMessagesThatSendNothing: drafts.create, through the upload
// path and with JSON, stores a message carrying DRAFT (and nothing else)
// that messages.get and messages.modify reach, lists it, gets and deletes
// it by draft id, charges Gmail's costs and sends nothing.
func TestDraftsAreMessagesThatSendNothing(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	g := gmailFor(t, sb, "ana@acme.example")
	d1, err := g.Users.Drafts.Create("me", &gmail.Draft{}).Media(strings.NewReader(sampleMIME)).Do()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := g.Users.Drafts.Create("me", &gmail.Draft{Message: &gmail.Message{Raw: base64.URLEncoding.EncodeToString([]byte(sampleMIME))}}).Do()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*gmail.Draft{d1, d2} {
		if !strings.HasPrefix(d.Id, "r-") || d.Message == nil || !slices.Equal(d.Message.LabelIds, []string{"DRAFT"}) {
			t.Fatalf("draft %+v (message %+v)", d, d.Message)
		}
	}
	m, err := g.Users.Messages.Modify("me", d1.Message.Id, &gmail.ModifyMessageRequest{AddLabelIds: []string{"STARRED"}}).Do()
	if err != nil || !slices.Contains(m.LabelIds, "DRAFT") || !slices.Contains(m.LabelIds, "STARRED") {
		t.Fatalf("modify a draft's message: %+v, %v", m, err)
	}
	list, err := g.Users.Drafts.List("me").Do()
	if err != nil || len(list.Drafts) != 2 {
		t.Fatalf("drafts.list: %+v, %v", list, err)
	}
	got, err := g.Users.Drafts.Get("me", d1.Id).Format("raw").Do()
	if err != nil || got.Message == nil || got.Message.Id != d1.Message.Id || got.Message.Raw == "" {
		t.Fatalf("drafts.get: %+v, %v", got, err)
	}
	if err := g.Users.Drafts.Delete("me", d1.Id).Do(); err != nil {
		t.Fatal(err)
	}
	_, err = g.Users.Drafts.Get("me", d1.Id).Do()
	if ge := apiErr(t, err); ge.Code != 404 {
		t.Fatalf("a deleted draft: %d", ge.Code)
	}
	if _, err := g.Users.Messages.Get("me", d1.Message.Id).Do(); apiErr(t, err).Code != 404 {
		t.Fatal("deleting a draft left its message")
	}
	// 2 creates (10 each), modify 5, list 5, get 5, delete 10; the 404s
	// are charged too (drafts.get 5, messages.get 5).
	if units := sb.GmailUnits("ana@acme.example"); units != 20+5+5+5+10+5+5 {
		t.Errorf("charged %d units", units)
	}
	if sb.SentMessages() != 0 {
		t.Errorf("drafts sent %d messages", sb.SentMessages())
	}
}
