package graph

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
)

// deltaState is carried in $skiptoken and $deltatoken. Changes are
// ordered by the tenant's change sequence; a page resumes after the last
// sequence it returned, so items changed while a client pages are
// reported in the next round rather than skipped.
type deltaState struct {
	Folder string `json:"f"`
	Base   int64  `json:"b"` // changes after this sequence are reported
	Cursor int64  `json:"c"` // already returned up to here
	Snap   int64  `json:"s"` // this round ends here
	Select string `json:"sel,omitempty"`
	// Expand is kept like Select: delta supports $select, $top and $expand
	// for messages, and the links carry them to every following page.
	Expand string `json:"exp,omitempty"`
	Page   int    `json:"p,omitempty"`
}

func encodeState(st deltaState) string {
	b, _ := json.Marshal(st)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeState(t string) (deltaState, bool) {
	var st deltaState
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || json.Unmarshal(b, &st) != nil {
		return st, false
	}
	return st, true
}

type change struct {
	seq int64
	m   *message
	id  string // removed
}

func (s *Sandbox) delta(c *call, u *user, f *folder) {
	if c.r.Method != http.MethodGet {
		badRequest(c.w, "BadRequest", "Unsupported method.")
		return
	}
	var st deltaState
	switch {
	case c.q.Get("$skiptoken") != "":
		var ok bool
		if st, ok = decodeState(c.q.Get("$skiptoken")); !ok || st.Folder != f.id {
			badRequest(c.w, "ErrorInvalidSyncStateData", "The sync state data is corrupt or otherwise invalid.")
			return
		}
	case c.q.Get("$deltatoken") != "":
		var ok bool
		if st, ok = decodeState(c.q.Get("$deltatoken")); !ok || st.Folder != f.id {
			badRequest(c.w, "ErrorInvalidSyncStateData", "The sync state data is corrupt or otherwise invalid.")
			return
		}
		st.Cursor, st.Snap = st.Base, 0
	default:
		st = deltaState{Folder: f.id, Select: c.q.Get("$select"), Expand: c.q.Get("$expand")}
	}
	if n := preferMaxPageSize(c.r); n > 0 {
		st.Page = n
	}
	page := st.Page
	if page <= 0 {
		page = 10
	}
	var sel []string
	if st.Select != "" {
		sel = selectOf(map[string][]string{"$select": {st.Select}})
		if !checkSelect(c.w, sel, msgProps, "message") {
			return
		}
	}
	exp, err := parseExpand(st.Expand)
	if err != nil {
		badRequest(c.w, "BadRequest", "Parsing OData Select and Expand failed: "+err.Error())
		return
	}
	s.mu.Lock()
	if st.Snap == 0 {
		st.Snap = s.seq
	}
	var changes []change
	live := map[string]bool{}
	for _, m := range f.items {
		live[m.id] = true
		if m.seq > st.Cursor && m.seq <= st.Snap {
			changes = append(changes, change{seq: m.seq, m: m})
		}
	}
	// Removals matter only to a client that has seen the folder before.
	if st.Base > 0 {
		seen := map[string]bool{}
		for i := len(f.tombs) - 1; i >= 0; i-- {
			t := f.tombs[i]
			if t.seq > st.Cursor && t.seq <= st.Snap && !live[t.id] && !seen[t.id] && t.seq > st.Base {
				seen[t.id] = true
				changes = append(changes, change{seq: t.seq, id: t.id})
			}
		}
	}
	slices.SortFunc(changes, func(a, b change) int { return int(a.seq - b.seq) })
	more := len(changes) > page
	if more {
		changes = changes[:page]
	}
	for i, ch := range changes {
		if ch.m != nil {
			changes[i].m = ch.m.snapshot()
		}
		st.Cursor = ch.seq
	}
	s.mu.Unlock()
	out := []map[string]any{}
	for _, ch := range changes {
		if ch.m != nil {
			j := s.msgJSON(u.id, ch.m, sel, exp, preferTextBody(c.r))
			j["@odata.type"] = "#microsoft.graph.message"
			out = append(out, j)
		} else {
			out = append(out, map[string]any{"@odata.type": "#microsoft.graph.message", "id": ch.id, "@removed": map[string]any{"reason": "deleted"}})
		}
	}
	link := s.baseURL + "/v1.0/users/" + u.id + "/mailFolders/" + f.id + "/messages/delta?"
	resp := map[string]any{"@odata.context": s.baseURL + "/v1.0/$metadata#Collection(message)", "value": out}
	if more {
		resp["@odata.nextLink"] = link + "$skiptoken=" + encodeState(st)
	} else {
		resp["@odata.deltaLink"] = link + "$deltatoken=" + encodeState(deltaState{Folder: f.id, Base: st.Snap, Select: st.Select, Expand: st.Expand, Page: st.Page})
	}
	c.w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(page))
	graphJSON(c.w, http.StatusOK, resp)
}
