package graph

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// calDeltaState is carried in the $skiptoken and $deltatoken of
// calendarView/delta. Instances share their master's change sequence, so
// the cursor is (sequence, id).
type calDeltaState struct {
	Cal  string `json:"cal"`
	From int64  `json:"f"`
	To   int64  `json:"t"`
	Base int64  `json:"b"`
	Seq  int64  `json:"cs"`
	ID   string `json:"ci,omitempty"`
	Snap int64  `json:"s"`
	Page int    `json:"p,omitempty"`
}

func encodeAny(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeAny(t string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil && json.Unmarshal(b, v) == nil
}

func after(seq int64, id string, cs int64, cid string) bool {
	return seq > cs || seq == cs && id > cid
}

// calendarDelta serves calendarView/delta: the instances (single events,
// occurrences, exceptions) of the window that changed, and those that
// left it, in rounds ended by a deltaLink.
func (s *Sandbox) calendarDelta(c *call, u *user, cal *calendar) {
	if c.r.Method != http.MethodGet {
		badRequest(c.w, "BadRequest", "Unsupported method.")
		return
	}
	var st calDeltaState
	switch {
	case c.q.Get("$skiptoken") != "" || c.q.Get("$deltatoken") != "":
		tok, delta := c.q.Get("$skiptoken"), false
		if tok == "" {
			tok, delta = c.q.Get("$deltatoken"), true
		}
		if !decodeAny(tok, &st) || st.Cal != cal.id {
			badRequest(c.w, "ErrorInvalidSyncStateData", "The sync state data is corrupt or otherwise invalid.")
			return
		}
		if delta {
			// Everything at the base sequence was reported last round.
			st.Seq, st.ID, st.Snap = st.Base, "\x7f", 0
		}
	default:
		from, to, ok := window(c)
		if !ok {
			return
		}
		if c.q.Get("$select") != "" || c.q.Get("$filter") != "" || c.q.Get("$expand") != "" || c.q.Get("$orderby") != "" {
			badRequest(c.w, "ErrorInvalidUrlQuery", "The query parameter is not supported with change tracking over a calendar view.")
			return
		}
		st = calDeltaState{Cal: cal.id, From: from.Unix(), To: to.Unix()}
	}
	if n := preferMaxPageSize(c.r); n > 0 {
		st.Page = n
	}
	page := st.Page
	if page <= 0 {
		page = 10
	}
	zone, loc := preferredZone(c.r)
	from, to := time.Unix(st.From, 0).UTC(), time.Unix(st.To, 0).UTC()
	type change struct {
		seq int64
		in  *inst
		id  string
	}
	s.mu.Lock()
	if st.Snap == 0 {
		st.Snap = s.seq
	}
	var changes []change
	live := map[string]bool{}
	for _, e := range u.cal.events {
		if e.calID != cal.id {
			continue
		}
		for _, in := range instancesLocked(e, from, to) {
			live[in.id] = true
			if after(in.seq, in.id, st.Seq, st.ID) && in.seq <= st.Snap {
				in := in
				changes = append(changes, change{seq: in.seq, in: &in, id: in.id})
			}
		}
	}
	if st.Base > 0 {
		seen := map[string]bool{}
		for i := len(u.cal.tombs) - 1; i >= 0; i-- {
			t := u.cal.tombs[i]
			if t.snap.calID != cal.id || t.seq <= st.Base || t.seq > st.Snap {
				continue
			}
			for _, in := range instancesLocked(t.snap, from, to) {
				if !live[in.id] && !seen[in.id] && after(t.seq, in.id, st.Seq, st.ID) {
					seen[in.id] = true
					changes = append(changes, change{seq: t.seq, id: in.id})
				}
			}
		}
	}
	slices.SortFunc(changes, func(a, b change) int {
		if a.seq != b.seq {
			return int(a.seq - b.seq)
		}
		return strings.Compare(a.id, b.id)
	})
	more := len(changes) > page
	if more {
		changes = changes[:page]
	}
	out := []map[string]any{}
	for _, ch := range changes {
		if ch.in != nil {
			j := s.eventJSONLocked(u, *ch.in, nil, nil, zone, loc)
			j["@odata.type"] = "#microsoft.graph.event"
			out = append(out, j)
		} else {
			out = append(out, map[string]any{"@odata.type": "#microsoft.graph.event", "id": ch.id, "@removed": map[string]any{"reason": "deleted"}})
		}
		st.Seq, st.ID = ch.seq, ch.id
	}
	isDefault := cal.isDefault
	s.mu.Unlock()
	link := s.baseURL + "/v1.0/users/" + u.id + "/calendarView/delta?"
	if !isDefault {
		link = s.baseURL + "/v1.0/users/" + u.id + "/calendars/" + cal.id + "/calendarView/delta?"
	}
	resp := map[string]any{"@odata.context": s.baseURL + "/v1.0/$metadata#Collection(event)", "value": out}
	if more {
		resp["@odata.nextLink"] = link + "$skiptoken=" + encodeAny(st)
	} else {
		resp["@odata.deltaLink"] = link + "$deltatoken=" + encodeAny(calDeltaState{Cal: cal.id, From: st.From, To: st.To, Base: st.Snap, Page: st.Page})
	}
	c.w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(page))
	graphJSON(c.w, http.StatusOK, resp)
}
