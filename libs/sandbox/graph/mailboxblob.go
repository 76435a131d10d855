package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// blobMagic starts every item the sandbox exports. Exchange Online exports
// an opaque FastTransfer stream (MS-OXCFXICS) that clients must not parse
// and can only import again; the sandbox stands in with its own versioned
// serialization of what it stores, which is just as opaque to clients: its
// only contract is that importing it restores the item exactly.
const blobMagic = "MFSBX-FTS/1\n"

// itemBlob is everything the sandbox holds about one item except its
// identity in a mailbox (ids, folder, change key, change sequence), which
// an import assigns anew.
type itemBlob struct {
	Kind    string       `json:"kind"` // "message", "event" or "contact"
	Message *messageBlob `json:"message,omitempty"`
	Event   *eventBlob   `json:"event,omitempty"`
	Contact *contactBlob `json:"contact,omitempty"`
}

type messageBlob struct {
	ConversationID string           `json:"conversationId,omitempty"`
	Created        time.Time        `json:"created"`
	Modified       time.Time        `json:"modified"`
	Received       time.Time        `json:"received"`
	Sent           time.Time        `json:"sent"`
	IsRead         bool             `json:"isRead"`
	IsDraft        bool             `json:"isDraft"`
	Importance     string           `json:"importance"`
	Flag           string           `json:"flag"`
	Inference      string           `json:"inference"`
	Categories     []string         `json:"categories,omitempty"`
	Props          []extProp        `json:"props,omitempty"`
	MIME           []byte           `json:"mime"`
	Extra          []attachmentBlob `json:"extra,omitempty"` // attachments added after the create
}

type attachmentBlob struct {
	ID          string    `json:"id,omitempty"`
	Name        string    `json:"name"`
	ContentType string    `json:"contentType"`
	ContentID   string    `json:"contentId,omitempty"`
	Inline      bool      `json:"inline"`
	Data        []byte    `json:"data"`
	Modified    time.Time `json:"modified"`
}

type eventBlob struct {
	UID                   string           `json:"uid"`
	Created               time.Time        `json:"created"`
	Modified              time.Time        `json:"modified"`
	TxID                  string           `json:"transactionId,omitempty"`
	Subject               string           `json:"subject"`
	BodyType              string           `json:"bodyType"`
	Body                  string           `json:"body"`
	Start                 time.Time        `json:"start"`
	End                   time.Time        `json:"end"`
	StartTZ               string           `json:"startTZ"`
	EndTZ                 string           `json:"endTZ"`
	AllDay                bool             `json:"allDay"`
	Recurrence            *recurrence      `json:"recurrence,omitempty"`
	Attendees             []attendee       `json:"attendees,omitempty"`
	Organizer             emailAddr        `json:"organizer"`
	IsOrganizer           bool             `json:"isOrganizer"`
	Response              string           `json:"response"`
	ResponseTime          time.Time        `json:"responseTime"`
	ReminderOn            bool             `json:"reminderOn"`
	ReminderMinutes       int              `json:"reminderMinutes"`
	Online                bool             `json:"online"`
	OnlineProvider        string           `json:"onlineProvider"`
	JoinURL               string           `json:"joinUrl,omitempty"`
	ShowAs                string           `json:"showAs"`
	Sensitivity           string           `json:"sensitivity"`
	Importance            string           `json:"importance"`
	Categories            []string         `json:"categories,omitempty"`
	Location              map[string]any   `json:"location,omitempty"`
	Locations             []map[string]any `json:"locations,omitempty"`
	ResponseRequested     bool             `json:"responseRequested"`
	AllowNewTimeProposals bool             `json:"allowNewTimeProposals"`
	HideAttendees         bool             `json:"hideAttendees"`
	Cancelled             bool             `json:"cancelled"`
	Props                 []extProp        `json:"props,omitempty"`
	// A series master's exceptions (each with its Original start) and
	// the original starts of its deleted occurrences, as Exchange keeps
	// them inside the master item.
	Exceptions []*eventBlob `json:"exceptions,omitempty"`
	Deleted    []time.Time  `json:"deleted,omitempty"`
	Original   time.Time    `json:"original,omitzero"`
}

type contactBlob struct {
	Created   time.Time      `json:"created"`
	Modified  time.Time      `json:"modified"`
	Data      map[string]any `json:"data"`
	Props     []extProp      `json:"props,omitempty"`
	Photo     []byte         `json:"photo,omitempty"`
	PhotoType string         `json:"photoType,omitempty"`
}

// encodeBlob is the export stream of an item.
func encodeBlob(b itemBlob) []byte {
	j, _ := json.Marshal(b)
	return append([]byte(blobMagic), j...)
}

var errCorruptBlob = errors.New("not an item exported by this service")

func decodeBlob(data []byte) (itemBlob, error) {
	var b itemBlob
	rest, ok := bytes.CutPrefix(data, []byte(blobMagic))
	if !ok {
		return b, errCorruptBlob
	}
	d := json.NewDecoder(bytes.NewReader(rest))
	d.DisallowUnknownFields()
	if err := d.Decode(&b); err != nil {
		return b, fmt.Errorf("%w: %v", errCorruptBlob, err)
	}
	switch {
	case b.Kind == "message" && b.Message != nil && b.Event == nil && b.Contact == nil:
	case b.Kind == "event" && b.Event != nil && b.Message == nil && b.Contact == nil:
	case b.Kind == "contact" && b.Contact != nil && b.Message == nil && b.Event == nil:
	default:
		return b, errCorruptBlob
	}
	return b, nil
}

// messageBlobOf keeps a seeded message's MIME as rendered, so that the
// copy does not depend on the seed generator.
func messageBlobOf(m *message) *messageBlob {
	base := m.raw
	if base == nil && m.gen != nil {
		saved := m.extra
		m.extra = nil
		base = m.mimeBytes()
		m.extra = saved
	}
	b := &messageBlob{ConversationID: m.conversationID, Created: m.created, Modified: m.modified, Received: m.received,
		Sent: m.sent, IsRead: m.isRead, IsDraft: m.isDraft, Importance: m.importance, Flag: m.flag, Inference: m.inference,
		Categories: slices.Clone(m.categories), Props: slices.Clone(m.props), MIME: slices.Clone(base)}
	for _, a := range m.extra {
		b.Extra = append(b.Extra, attachmentBlob{ID: a.id, Name: a.name, ContentType: a.contentType, ContentID: a.contentID,
			Inline: a.inline, Data: slices.Clone(a.data), Modified: a.modified})
	}
	return b
}

// fill restores a message's content; identity is the caller's.
func (b *messageBlob) fill(m *message) {
	m.conversationID, m.created, m.modified, m.received, m.sent = b.ConversationID, b.Created, b.Modified, b.Received, b.Sent
	m.isRead, m.isDraft, m.importance, m.flag, m.inference = b.IsRead, b.IsDraft, b.Importance, b.Flag, b.Inference
	m.categories, m.props, m.raw, m.gen = slices.Clone(b.Categories), slices.Clone(b.Props), slices.Clone(b.MIME), nil
	m.extra = nil
	for _, a := range b.Extra {
		m.extra = append(m.extra, &attachment{id: a.ID, name: a.Name, contentType: a.ContentType, contentID: a.ContentID,
			inline: a.Inline, data: slices.Clone(a.Data), modified: a.Modified})
	}
	m.size = int64(len(m.mimeBytes()))
}

func cloneLocation(l map[string]any) map[string]any {
	if l == nil {
		return nil
	}
	// Locations hold only JSON values; a JSON round trip is a deep copy.
	b, _ := json.Marshal(l)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func eventBlobOf(e *event) *eventBlob {
	b := &eventBlob{UID: e.uid, Created: e.created, Modified: e.modified, TxID: e.txID, Subject: e.subject,
		BodyType: e.bodyType, Body: e.body, Start: e.start, End: e.end, StartTZ: e.startTZ, EndTZ: e.endTZ, AllDay: e.allDay,
		Attendees: slices.Clone(e.attendees), Organizer: e.organizer, IsOrganizer: e.isOrganizer, Response: e.response,
		ResponseTime: e.responseTime, ReminderOn: e.reminderOn, ReminderMinutes: e.reminderMinutes, Online: e.online,
		OnlineProvider: e.onlineProvider, JoinURL: e.joinURL, ShowAs: e.showAs, Sensitivity: e.sensitivity,
		Importance: e.importance, Categories: slices.Clone(e.categories), Location: cloneLocation(e.location),
		ResponseRequested: e.responseRequested, AllowNewTimeProposals: e.allowNewTimeProposals,
		HideAttendees: e.hideAttendees, Cancelled: e.cancelled, Props: slices.Clone(e.props), Original: e.original}
	if e.rec != nil {
		r := *e.rec
		r.Pattern.DaysOfWeek = slices.Clone(e.rec.Pattern.DaysOfWeek)
		b.Recurrence = &r
	}
	for _, l := range e.locations {
		b.Locations = append(b.Locations, cloneLocation(l))
	}
	for _, k := range sortedKeys(e.exceptions) {
		b.Exceptions = append(b.Exceptions, eventBlobOf(e.exceptions[k]))
	}
	for _, k := range sortedKeys(e.deleted) {
		b.Deleted = append(b.Deleted, time.Unix(k, 0).UTC())
	}
	return b
}

// fill restores an event's content; exceptions get ids derived from the
// master's (as occurrences do) and deleted occurrences new change
// sequences, so delta in the new mailbox reports them as its own.
func (s *Sandbox) fillEventLocked(b *eventBlob, e *event) {
	e.uid, e.created, e.modified, e.txID = b.UID, b.Created, b.Modified, b.TxID
	e.subject, e.bodyType, e.body = b.Subject, b.BodyType, b.Body
	e.start, e.end, e.startTZ, e.endTZ, e.allDay = b.Start, b.End, b.StartTZ, b.EndTZ, b.AllDay
	e.rec = nil
	if b.Recurrence != nil {
		r := *b.Recurrence
		r.Pattern.DaysOfWeek = slices.Clone(b.Recurrence.Pattern.DaysOfWeek)
		e.rec = &r
	}
	e.attendees, e.organizer, e.isOrganizer = slices.Clone(b.Attendees), b.Organizer, b.IsOrganizer
	e.response, e.responseTime = b.Response, b.ResponseTime
	e.reminderOn, e.reminderMinutes = b.ReminderOn, b.ReminderMinutes
	e.online, e.onlineProvider, e.joinURL = b.Online, b.OnlineProvider, b.JoinURL
	e.showAs, e.sensitivity, e.importance = b.ShowAs, b.Sensitivity, b.Importance
	e.categories, e.location = slices.Clone(b.Categories), cloneLocation(b.Location)
	e.locations = nil
	for _, l := range b.Locations {
		e.locations = append(e.locations, cloneLocation(l))
	}
	e.responseRequested, e.allowNewTimeProposals = b.ResponseRequested, b.AllowNewTimeProposals
	e.hideAttendees, e.cancelled, e.props = b.HideAttendees, b.Cancelled, slices.Clone(b.Props)
	e.original = b.Original
	e.exceptions, e.deleted = nil, nil
	for _, xb := range b.Exceptions {
		x := &event{calID: e.calID, master: e}
		s.fillEventLocked(xb, x)
		x.id = occurrenceID(e.id, x.original)
		x.seq = s.nextSeqLocked()
		x.changeKey = changeKey(x.seq)
		if e.exceptions == nil {
			e.exceptions = map[int64]*event{}
		}
		e.exceptions[x.original.Unix()] = x
	}
	for _, d := range b.Deleted {
		if e.deleted == nil {
			e.deleted = map[int64]int64{}
		}
		e.deleted[d.Unix()] = s.nextSeqLocked()
	}
}

func contactBlobOf(ct *contact) *contactBlob {
	return &contactBlob{Created: ct.created, Modified: ct.modified, Data: cloneLocation(ct.data), Props: slices.Clone(ct.props),
		Photo: slices.Clone(ct.photo), PhotoType: ct.photoType}
}

func (b *contactBlob) fill(ct *contact) {
	ct.created, ct.modified = b.Created, b.Modified
	ct.data = cloneLocation(b.Data)
	if ct.data == nil {
		ct.data = map[string]any{}
	}
	ct.props, ct.photo, ct.photoType = slices.Clone(b.Props), slices.Clone(b.Photo), b.PhotoType
}

// blobOfLocked finds an item of any kind by id and serializes it; kind is
// "" when there is no such item. Occurrences and exceptions are part of
// their series and are not items of their own.
func (s *Sandbox) blobOfLocked(u *user, id string) (itemBlob, string, bool) {
	if m := u.messages[id]; m != nil {
		return itemBlob{Kind: "message", Message: messageBlobOf(m)}, m.changeKey, true
	}
	if e := u.cal.events[id]; e != nil {
		return itemBlob{Kind: "event", Event: eventBlobOf(e)}, e.changeKey, true
	}
	if ct := u.ct.items[id]; ct != nil {
		return itemBlob{Kind: "contact", Contact: contactBlobOf(ct)}, ct.changeKey, true
	}
	return itemBlob{}, "", false
}

// ItemSnapshot is the stored state of an item (a message, an event with
// its exceptions and deleted occurrences, or a contact) as JSON, without
// the identity a mailbox gives it (ids, folder, change key). Tests compare
// the snapshots of an exported item and its imported copy: equal
// snapshots mean nothing was lost.
func (s *Sandbox) ItemSnapshot(userID, itemID string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil || !u.mailbox {
		return nil, fmt.Errorf("graph sandbox: no mailbox %q", userID)
	}
	b, _, ok := s.blobOfLocked(u, itemID)
	if !ok {
		return nil, fmt.Errorf("graph sandbox: no item %q in mailbox %q", itemID, userID)
	}
	return json.Marshal(b)
}
