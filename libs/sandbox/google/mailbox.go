package google

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// systemLabels are the labels every Gmail mailbox has, in the order
// labels.list returns them, with their visibility settings.
var systemLabels = []struct{ id, mlv, llv string }{
	{"CHAT", "hide", "labelHide"}, {"SENT", "", ""}, {"INBOX", "", ""},
	{"IMPORTANT", "hide", "labelHide"}, {"TRASH", "hide", "labelHide"}, {"DRAFT", "", ""},
	{"SPAM", "hide", "labelHide"}, {"CATEGORY_FORUMS", "hide", "labelHide"},
	{"CATEGORY_UPDATES", "hide", "labelHide"}, {"CATEGORY_PERSONAL", "hide", "labelHide"},
	{"CATEGORY_PROMOTIONS", "hide", "labelHide"}, {"CATEGORY_SOCIAL", "hide", "labelHide"},
	{"STARRED", "", ""}, {"UNREAD", "", ""},
}

// reservedLabelNames cannot name a user label (compared case-insensitively).
var reservedLabelNames = map[string]bool{
	"inbox": true, "sent": true, "sent mail": true, "trash": true, "bin": true, "spam": true, "draft": true, "drafts": true,
	"starred": true, "important": true, "unread": true, "chat": true, "chats": true, "all": true, "all mail": true,
	"scheduled": true, "snoozed": true, "outbox": true,
}

type label struct {
	id, name, typ string
	mlv, llv      string
	color         map[string]string
}

type histRec struct {
	id                         uint64
	msgID, threadID            string
	added, deleted             bool
	labelsAdded, labelsRemoved []string
	msgLabels                  []string // the message's labels after the change
}

// mailbox is one user's Gmail store.
type mailbox struct {
	labels    map[string]*label
	order     []*label
	nextLabel int
	msgs      map[string]*gmsg
	sorted    []*gmsg // newest first; nil when stale
	threads   map[string]int
	byRFCID   map[string]*gmsg // Message-ID -> a message carrying it
	historyID uint64
	history   []histRec
	floor     uint64 // start ids below this answer 404
	idSeq     uint64
}

type gmsg struct {
	id, threadID string
	labels       []string
	internal     time.Time
	historyID    uint64
	raw          []byte
	gen          *genRef
	size         int64
	info         *msgInfo
	rfcID        string // Message-ID without brackets, when known without parsing
	vaultOnly    bool   // imported with deleted=true: only Vault sees it
}

func newMailbox(email string) *mailbox {
	mb := &mailbox{labels: map[string]*label{}, msgs: map[string]*gmsg{}, threads: map[string]int{},
		byRFCID: map[string]*gmsg{}, nextLabel: 1}
	for _, l := range systemLabels {
		sl := &label{id: l.id, name: l.id, typ: "system", mlv: l.mlv, llv: l.llv}
		mb.labels[l.id] = sl
		mb.order = append(mb.order, sl)
	}
	// History ids are large, increasing and not contiguous, like Gmail's.
	mb.historyID = 4000 + uint64(len(email))*17
	mb.floor = mb.historyID
	return mb
}

// nextHistory advances the mailbox's history id by a small, varying step
// so that clients cannot assume ids are contiguous.
func (mb *mailbox) nextHistory() uint64 {
	mb.historyID += 1 + (mb.historyID*2654435761>>11)%4
	return mb.historyID
}

func (mb *mailbox) record(h histRec, retention int) {
	mb.history = append(mb.history, h)
	if retention > 0 && len(mb.history) > retention {
		drop := len(mb.history) - retention
		mb.floor = mb.history[drop-1].id
		mb.history = slices.Clone(mb.history[drop:])
	}
}

// content is the message's MIME.
func (m *gmsg) content() []byte {
	if m.raw != nil {
		return m.raw
	}
	return renderSeeded(m.gen)
}

func (m *gmsg) meta() *msgInfo {
	if m.info == nil {
		m.info = infoOf(m.content())
	}
	return m.info
}

func (m *gmsg) has(l string) bool { return slices.Contains(m.labels, l) }

func (mb *mailbox) newMsgID(t time.Time) string {
	for {
		mb.idSeq++
		id := fmt.Sprintf("%016x", uint64(t.UnixMilli())<<20|mb.idSeq&0xfffff)
		if _, taken := mb.msgs[id]; !taken {
			return id
		}
	}
}

// list returns the visible messages, newest first.
func (mb *mailbox) list() []*gmsg {
	if mb.sorted == nil {
		mb.sorted = make([]*gmsg, 0, len(mb.msgs))
		for _, m := range mb.msgs {
			if !m.vaultOnly {
				mb.sorted = append(mb.sorted, m)
			}
		}
		sort.Slice(mb.sorted, func(i, j int) bool { return before(mb.sorted[i], mb.sorted[j]) })
	}
	return mb.sorted
}

// before orders messages as Gmail lists them: newest internal date first.
func before(a, b *gmsg) bool {
	if !a.internal.Equal(b.internal) {
		return a.internal.After(b.internal)
	}
	return a.id > b.id
}

// add stores a message; quiet skips the history record (seeding).
func (mb *mailbox) add(m *gmsg, quiet bool, retention int) {
	mb.msgs[m.id] = m
	mb.sorted = nil
	if m.vaultOnly {
		return
	}
	mb.threads[m.threadID]++
	if quiet {
		m.historyID = mb.historyID
		return
	}
	m.historyID = mb.nextHistory()
	mb.record(histRec{id: m.historyID, msgID: m.id, threadID: m.threadID, added: true, msgLabels: slices.Clone(m.labels)}, retention)
}

// relabel applies label changes and records them; it returns false when
// nothing changed.
func (mb *mailbox) relabel(m *gmsg, add, remove []string, retention int) bool {
	var added, removed []string
	for _, l := range remove {
		if i := slices.Index(m.labels, l); i >= 0 && !slices.Contains(add, l) {
			m.labels = slices.Delete(m.labels, i, i+1)
			removed = append(removed, l)
		}
	}
	for _, l := range add {
		if !m.has(l) {
			m.labels = append(m.labels, l)
			added = append(added, l)
		}
	}
	if len(added)+len(removed) == 0 {
		return false
	}
	m.historyID = mb.nextHistory()
	mb.record(histRec{id: m.historyID, msgID: m.id, threadID: m.threadID, labelsAdded: added, labelsRemoved: removed,
		msgLabels: slices.Clone(m.labels)}, retention)
	return true
}

func (mb *mailbox) remove(m *gmsg, retention int) {
	delete(mb.msgs, m.id)
	mb.sorted = nil
	if m.vaultOnly {
		return
	}
	if mb.threads[m.threadID]--; mb.threads[m.threadID] <= 0 {
		delete(mb.threads, m.threadID)
	}
	if key := strings.ToLower(m.rfcID); mb.byRFCID[key] == m {
		delete(mb.byRFCID, key)
	}
	mb.record(histRec{id: mb.nextHistory(), msgID: m.id, threadID: m.threadID, deleted: true, msgLabels: slices.Clone(m.labels)}, retention)
}

// labelByName finds a user or system label by name, case-insensitively.
func (mb *mailbox) labelByName(name string) *label {
	for _, l := range mb.order {
		if strings.EqualFold(l.name, name) {
			return l
		}
	}
	return nil
}

func (mb *mailbox) messagesTotal() int {
	n := 0
	for _, m := range mb.msgs {
		if !m.vaultOnly {
			n++
		}
	}
	return n
}

// threadFor finds the thread a new message joins: the thread of a message
// it refers to (In-Reply-To, References) whose subject matches, as Gmail
// threads incoming mail. The requested thread id wins when it qualifies.
func (mb *mailbox) threadFor(in *msgInfo, requested string) string {
	for _, ref := range in.refs {
		if prev := mb.byRFCID[strings.ToLower(ref)]; prev != nil && sameSubject(prev.subject(), in.subject) {
			if requested == "" || requested == prev.threadID {
				return prev.threadID
			}
		}
	}
	return ""
}

var subjectPrefixes = []string{"re:", "aw:", "fw:", "fwd:", "wg:", "sv:", "vs:", "tr:"}

func normSubject(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	for changed := true; changed; {
		changed = false
		for _, p := range subjectPrefixes {
			if strings.HasPrefix(s, p) {
				s = strings.TrimSpace(s[len(p):])
				changed = true
			}
		}
	}
	return s
}

func sameSubject(a, b string) bool { return normSubject(a) == normSubject(b) }

// subject is the message's decoded subject when known; threading of new
// mail onto seeded messages parses them once.
func (m *gmsg) subject() string { return m.meta().subject }
