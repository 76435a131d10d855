package graph

import (
	"bytes"
	"reflect"
	"slices"
	"testing"
)

// TestBlobCoversEveryField fails when a field is added to the stored
// message, event or contact without deciding whether the export carries
// it: an export that silently drops a field would not be full fidelity.
func TestBlobCoversEveryField(t *testing.T) {
	cases := []struct {
		typ      any
		exported []string
		identity []string // assigned by the mailbox the item is imported into
	}{
		{message{}, []string{"conversationID", "created", "modified", "received", "sent", "isRead", "isDraft", "importance",
			"flag", "inference", "categories", "props", "raw", "gen", "extra", "size"},
			[]string{"id", "folderID", "changeKey", "seq"}},
		{event{}, []string{"uid", "created", "modified", "txID", "subject", "bodyType", "body", "start", "end", "startTZ",
			"endTZ", "allDay", "rec", "attendees", "organizer", "isOrganizer", "response", "responseTime", "reminderOn",
			"reminderMinutes", "online", "onlineProvider", "joinURL", "showAs", "sensitivity", "importance", "categories",
			"location", "locations", "responseRequested", "allowNewTimeProposals", "hideAttendees", "cancelled", "props",
			"exceptions", "deleted", "original"},
			[]string{"id", "calID", "changeKey", "seq", "master"}},
		{contact{}, []string{"created", "modified", "data", "props", "photo", "photoType"},
			[]string{"id", "folderID", "changeKey", "seq"}},
	}
	for _, tc := range cases {
		typ := reflect.TypeOf(tc.typ)
		var fields []string
		for i := 0; i < typ.NumField(); i++ {
			fields = append(fields, typ.Field(i).Name)
		}
		known := append(slices.Clone(tc.exported), tc.identity...)
		for _, f := range fields {
			if !slices.Contains(known, f) {
				t.Errorf("%s.%s is neither exported nor identity: add it to the blob (mailboxblob.go) and here", typ.Name(), f)
			}
		}
		for _, f := range known {
			if !slices.Contains(fields, f) {
				t.Errorf("%s has no field %s any more; update this test", typ.Name(), f)
			}
		}
	}
}

// TestBlobRoundTrip: a seeded series with attendees, an exception and a
// deleted occurrence, serialized, decoded and restored into a new event,
// serializes to the same bytes.
func TestBlobRoundTrip(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	uid := s.Seed(SeedSpec{Users: 1, EventsPerUser: 5, ContactsPerUser: 1, MessagesPerUser: 1, Seed: 1})[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[uid]
	var checked int
	for id, e := range u.cal.events {
		if len(e.exceptions) == 0 || len(e.attendees) == 0 {
			continue
		}
		b, _, _ := s.blobOfLocked(u, id)
		raw := encodeBlob(b)
		back, err := decodeBlob(raw)
		if err != nil {
			t.Fatal(err)
		}
		x := &event{id: s.newIDLocked("event"), calID: e.calID}
		s.fillEventLocked(back.Event, x)
		again := encodeBlob(itemBlob{Kind: "event", Event: eventBlobOf(x)})
		if !bytes.Equal(raw, again) {
			t.Errorf("event %s changed in a round trip:\n%s\n%s", id, raw, again)
		}
		if len(x.exceptions) != len(e.exceptions) || len(x.deleted) != len(e.deleted) {
			t.Errorf("exceptions %d/%d, deleted %d/%d", len(x.exceptions), len(e.exceptions), len(x.deleted), len(e.deleted))
		}
		for k, xe := range x.exceptions {
			if xe.master != x || xe.id != occurrenceID(x.id, xe.original) || xe.original.Unix() != k {
				t.Errorf("exception %d is not tied to its new master", k)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("the seed has no series with attendees and exceptions")
	}
	for _, bad := range [][]byte{nil, []byte("{}"), []byte(blobMagic + `{"kind":"message"}`), []byte(blobMagic + `{"kind":"event","message":{}}`),
		[]byte(blobMagic + `{"kind":"contact","contact":{},"extra":1}`)} {
		if _, err := decodeBlob(bad); err == nil {
			t.Errorf("decodeBlob(%q) accepted it", bad)
		}
	}
}
