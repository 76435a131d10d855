package graph

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif" // contact photos come as JPEG, PNG or GIF
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// contactStore is a mailbox's contact folders: the default Contacts
// folder and the folders under it.
type contactStore struct {
	folders map[string]*cfolder
	order   []*cfolder
	root    *cfolder
	items   map[string]*contact
}

type cfolder struct {
	id, name, parentID string
	tombs              []tomb
}

type contact struct {
	id, folderID, changeKey string
	seq                     int64
	created, modified       time.Time
	data                    map[string]any
	props                   []extProp
	photo                   []byte
	photoType               string
}

// Contact properties by kind. Exchange keeps three e-mail slots
// (Email1-3), two business and two home phones and three IM addresses;
// Graph refuses more with "The multi value property X has N entries,
// that exceeds the max allowed value of M".
var (
	contactStrings = []string{"assistantName", "businessHomePage", "companyName", "department", "displayName", "fileAs",
		"generation", "givenName", "initials", "jobTitle", "manager", "middleName", "mobilePhone", "nickName",
		"officeLocation", "personalNotes", "profession", "spouseName", "surname", "title", "yomiCompanyName",
		"yomiGivenName", "yomiSurname"}
	contactLists     = []string{"businessPhones", "homePhones", "imAddresses", "children", "categories"}
	contactAddresses = []string{"homeAddress", "businessAddress", "otherAddress"}
	contactLimits    = map[string]int{"emailAddresses": 3, "businessPhones": 2, "homePhones": 2, "imAddresses": 3}
	contactProps     = lowerSet(append(append(append(slices.Clone(contactStrings), contactLists...), contactAddresses...),
		"id", "createdDateTime", "lastModifiedDateTime", "changeKey", "parentFolderId", "birthday", "emailAddresses")...)
)

// ContactCount is the number of contacts in a user's mailbox.
func (s *Sandbox) ContactCount(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil || u.ct == nil {
		return 0
	}
	return len(u.ct.items)
}

func (s *Sandbox) provisionContactsLocked(u *user) {
	u.ct = &contactStore{folders: map[string]*cfolder{}, items: map[string]*contact{}}
	f := &cfolder{id: s.newIDLocked("contactfolder"), name: "Contacts", parentID: u.root.id}
	u.ct.folders[f.id] = f
	u.ct.root = f
}

func (s *Sandbox) addContactFolderLocked(u *user, parent *cfolder, name string) *cfolder {
	f := &cfolder{id: s.newIDLocked("contactfolder"), name: name, parentID: parent.id}
	u.ct.folders[f.id] = f
	u.ct.order = append(u.ct.order, f)
	return f
}

func (s *Sandbox) contactJSONLocked(ct *contact, sel []string, exp *expandOpt) map[string]any {
	j := map[string]any{
		"@odata.etag": `W/"` + ct.changeKey + `"`, "id": ct.id, "createdDateTime": gtime(ct.created),
		"lastModifiedDateTime": gtime(ct.modified), "changeKey": ct.changeKey, "parentFolderId": ct.folderID,
		"birthday": nil, "emailAddresses": []any{},
	}
	for _, k := range contactStrings {
		j[k] = nil
	}
	for _, k := range contactLists {
		j[k] = []any{}
	}
	for _, k := range contactAddresses {
		j[k] = map[string]any{}
	}
	for k, v := range ct.data {
		j[k] = v
	}
	j = project(j, sel)
	if exp != nil && exp.props {
		var props []map[string]any
		for _, p := range ct.props {
			if exp.propIDs == nil || slices.ContainsFunc(exp.propIDs, func(id string) bool { return sameProp(id, p.ID) }) {
				props = append(props, map[string]any{"id": p.ID, "value": p.Value})
			}
		}
		if props != nil {
			j["singleValueExtendedProperties"] = props
		}
	}
	return j
}

// applyContact validates a contact's JSON and copies it onto data; it
// answers Graph's error code and message, or "".
func applyContact(ct *contact, in map[string]any, creating bool) (string, string) {
	for k, v := range in {
		switch {
		case strings.HasPrefix(k, "@"):
		case slices.Contains(contactStrings, k):
			if _, ok := v.(string); !ok && v != nil {
				return "RequestBodyRead", fmt.Sprintf("Cannot convert the value of property '%s' to a string.", k)
			}
			ct.data[k] = v
		case slices.Contains(contactLists, k) || k == "emailAddresses":
			l, ok := v.([]any)
			if !ok && v != nil {
				return "RequestBodyRead", fmt.Sprintf("The property '%s' must be a collection.", k)
			}
			if max, limited := contactLimits[k]; limited && len(l) > max {
				return "ErrorInvalidArgument", fmt.Sprintf("The multi value property %s has %d entries, that exceeds the max allowed value of %d",
					strings.ToUpper(k[:1])+k[1:], len(l), max)
			}
			if k == "emailAddresses" {
				var out []any
				for _, e := range l {
					m, ok := e.(map[string]any)
					if !ok {
						return "RequestBodyRead", "Each email address must be an object with name and address."
					}
					out = append(out, map[string]any{"name": m["name"], "address": m["address"]})
				}
				l = out
			}
			if l == nil {
				l = []any{}
			}
			ct.data[k] = l
		case slices.Contains(contactAddresses, k):
			m, ok := v.(map[string]any)
			if !ok && v != nil {
				return "RequestBodyRead", fmt.Sprintf("The property '%s' must be a physicalAddress.", k)
			}
			out := map[string]any{}
			for _, f := range []string{"street", "city", "state", "countryOrRegion", "postalCode"} {
				if x, ok := m[f]; ok {
					out[f] = x
				}
			}
			ct.data[k] = out
		case k == "birthday":
			if v == nil {
				ct.data[k] = nil
				continue
			}
			str, _ := v.(string)
			t, err := time.Parse(time.RFC3339Nano, str)
			if err != nil {
				return "RequestBodyRead", fmt.Sprintf("Cannot convert the literal '%v' to the expected type 'Edm.DateTimeOffset'.", v)
			}
			ct.data[k] = gtime(t)
		case k == "singleValueExtendedProperties":
			l, _ := v.([]any)
			for _, x := range l {
				m, _ := x.(map[string]any)
				id, _ := m["id"].(string)
				val, _ := m["value"].(string)
				if canonProp(id) == "" {
					return "ErrorInvalidExtendedPropertyValue", fmt.Sprintf("The extended property id '%s' is not valid.", id)
				}
				p := extProp{ID: id, Value: val}
				if i := slices.IndexFunc(ct.props, func(q extProp) bool { return sameProp(q.ID, id) }); i >= 0 {
					ct.props[i] = p
				} else {
					ct.props = append(ct.props, p)
				}
			}
		case k == "id" || k == "parentFolderId" || k == "changeKey" || k == "createdDateTime" || k == "lastModifiedDateTime":
		case k == "photo":
			return "ErrorInvalidRequest", "The contact photo is set with PUT /photo/$value."
		default:
			return "RequestBodyRead", fmt.Sprintf("The property '%s' does not exist on type 'microsoft.graph.contact'.", k)
		}
	}
	// Outlook files the contact under a name made of its parts unless one
	// was given, and rebuilds it when the parts change.
	if _, given := in["displayName"]; !given {
		_, g := in["givenName"]
		_, m := in["middleName"]
		_, sn := in["surname"]
		if creating || g || m || sn {
			var parts []string
			for _, k := range []string{"givenName", "middleName", "surname"} {
				if v, _ := ct.data[k].(string); v != "" {
					parts = append(parts, v)
				}
			}
			if len(parts) > 0 {
				ct.data["displayName"] = strings.Join(parts, " ")
			}
		}
	}
	return "", ""
}

// routeContacts serves contactFolders, contacts, their delta and photos.
func (s *Sandbox) routeContacts(c *call, u *user, rest []string) {
	s.mu.Lock()
	st := u.ct
	f := st.root
	var tail []string
	if strings.EqualFold(rest[0], "contacts") {
		tail = rest
	} else {
		if len(rest) == 1 {
			s.mu.Unlock()
			s.contactFolders(c, u, st.root)
			return
		}
		f = st.folders[rest[1]]
		if strings.EqualFold(rest[1], "contacts") {
			f = st.root
		}
		tail = rest[2:]
		for f != nil && len(tail) >= 2 && strings.EqualFold(tail[0], "childFolders") {
			f = st.folders[tail[1]]
			tail = tail[2:]
		}
	}
	s.mu.Unlock()
	if f == nil {
		notFoundItem(c.w)
		return
	}
	switch {
	case len(tail) == 0:
		s.contactFolderItself(c, u, f)
	case len(tail) == 1 && strings.EqualFold(tail[0], "childFolders"):
		s.contactFolders(c, u, f)
	case len(tail) == 1 && strings.EqualFold(tail[0], "contacts"):
		switch c.r.Method {
		case http.MethodGet:
			s.listContacts(c, u, f)
		case http.MethodPost:
			s.createContact(c, u, f)
		default:
			badRequest(c.w, "BadRequest", "Unsupported method.")
		}
	case len(tail) == 2 && strings.EqualFold(tail[0], "contacts") && strings.EqualFold(tail[1], "delta"):
		s.contactDelta(c, u, f)
	case len(tail) >= 2 && strings.EqualFold(tail[0], "contacts"):
		s.contactItem(c, u, tail[1], tail[2:])
	default:
		badRequest(c.w, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", tail[0]))
	}
}

var contactFolderProps = lowerSet("id", "displayName", "parentFolderId")

func contactFolderJSON(f *cfolder) map[string]any {
	return map[string]any{"id": f.id, "displayName": f.name, "parentFolderId": f.parentID}
}

// contactFolders lists or creates the folders under parent; the
// collection /contactFolders is the one under the default folder.
func (s *Sandbox) contactFolders(c *call, u *user, parent *cfolder) {
	switch c.r.Method {
	case http.MethodGet:
		sel := selectOf(c.q)
		if !checkSelect(c.w, sel, contactFolderProps, "contactFolder") {
			return
		}
		skip, top, ok := pageParams(c)
		if !ok {
			return
		}
		servePage(s, c, s.baseURL+"/v1.0/$metadata#users('"+u.id+"')/contactFolders", skip, top, func() []*cfolder {
			var all []*cfolder
			for _, f := range u.ct.order {
				if f.parentID == parent.id {
					all = append(all, f)
				}
			}
			return all
		}, func(f *cfolder) map[string]any { return project(contactFolderJSON(f), sel) }, rendered)
	case http.MethodPost:
		var in struct {
			DisplayName string `json:"displayName"`
		}
		if err := decodeJSON(c.body, &in); err != nil || strings.TrimSpace(in.DisplayName) == "" {
			badRequest(c.w, "ErrorInvalidRequest", "The displayName of a folder is required.")
			return
		}
		s.mu.Lock()
		for _, f := range u.ct.order {
			if f.parentID == parent.id && strings.EqualFold(f.name, in.DisplayName) {
				s.mu.Unlock()
				graphError(c.w, http.StatusConflict, "ErrorFolderExists", "A folder with the specified name already exists.")
				return
			}
		}
		f := s.addContactFolderLocked(u, parent, in.DisplayName)
		j := contactFolderJSON(f)
		s.mu.Unlock()
		j["@odata.context"] = s.baseURL + "/v1.0/$metadata#users('" + u.id + "')/contactFolders/$entity"
		graphJSON(c.w, http.StatusCreated, j)
	default:
		badRequest(c.w, "BadRequest", "Unsupported method.")
	}
}

func (s *Sandbox) contactFolderItself(c *call, u *user, f *cfolder) {
	switch c.r.Method {
	case http.MethodGet:
		sel := selectOf(c.q)
		if !checkSelect(c.w, sel, contactFolderProps, "contactFolder") {
			return
		}
		s.serveEntity(c, s.baseURL+"/v1.0/$metadata#users('"+u.id+"')/contactFolders/$entity", func() map[string]any { return project(contactFolderJSON(f), sel) })
	case http.MethodPatch:
		var in struct {
			DisplayName string `json:"displayName"`
		}
		if err := decodeJSON(c.body, &in); err != nil {
			badRequest(c.w, "ErrorInvalidRequest", "Invalid request body.")
			return
		}
		s.mu.Lock()
		if in.DisplayName != "" && f != u.ct.root {
			f.name = in.DisplayName
		}
		j := contactFolderJSON(f)
		s.mu.Unlock()
		graphJSON(c.w, http.StatusOK, j)
	case http.MethodDelete:
		s.mu.Lock()
		if f == u.ct.root {
			s.mu.Unlock()
			graphError(c.w, http.StatusForbidden, "ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
			return
		}
		s.deleteContactFolderLocked(u, f)
		s.mu.Unlock()
		c.w.WriteHeader(http.StatusNoContent)
	default:
		badRequest(c.w, "BadRequest", "Unsupported method.")
	}
}

func (s *Sandbox) deleteContactFolderLocked(u *user, f *cfolder) {
	for _, ch := range slices.Clone(u.ct.order) {
		if ch.parentID == f.id {
			s.deleteContactFolderLocked(u, ch)
		}
	}
	for id, ct := range u.ct.items {
		if ct.folderID == f.id {
			delete(u.ct.items, id)
		}
	}
	delete(u.ct.folders, f.id)
	u.ct.order = slices.DeleteFunc(u.ct.order, func(x *cfolder) bool { return x == f })
}

func (s *Sandbox) folderContactsLocked(u *user, f *cfolder) []*contact {
	var all []*contact
	for _, ct := range u.ct.items {
		if ct.folderID == f.id {
			all = append(all, ct)
		}
	}
	newestFirst(all, func(ct *contact) (time.Time, string) { return ct.created, ct.id })
	return all
}

func (s *Sandbox) listContacts(c *call, u *user, f *cfolder) {
	lq, ok := parseListQuery(c, contactProps, "contact", false)
	if !ok {
		return
	}
	sel, exp, top, skip, flt := lq.sel, lq.exp, lq.top, lq.skip, lq.flt
	servePage(s, c, s.baseURL+"/v1.0/$metadata#users('"+u.id+"')/contacts", skip, top, func() []*contact {
		var kept []*contact
		for _, ct := range s.folderContactsLocked(u, f) {
			if flt == nil || flt.match(propsGetter(s.contactJSONLocked(ct, nil, nil), ct.props)) {
				kept = append(kept, ct)
			}
		}
		return kept
	}, func(ct *contact) map[string]any { return s.contactJSONLocked(ct, sel, exp) }, rendered)
}

func (s *Sandbox) touchContactLocked(ct *contact) {
	ct.seq = s.nextSeqLocked()
	ct.changeKey = changeKey(ct.seq)
	ct.modified = time.Now().UTC()
}

func (s *Sandbox) createContact(c *call, u *user, f *cfolder) {
	var in map[string]any
	if err := decodeJSON(c.body, &in); err != nil {
		badRequest(c.w, "RequestBodyRead", "Invalid JSON in the request body.")
		return
	}
	in = numbersToFloat(in)
	now := time.Now().UTC()
	ct := &contact{created: now, modified: now, data: map[string]any{}, folderID: f.id}
	if code, msg := applyContact(ct, in, true); code != "" {
		badRequest(c.w, code, msg)
		return
	}
	s.mu.Lock()
	ct.id = s.newIDLocked("contact")
	s.touchContactLocked(ct)
	u.ct.items[ct.id] = ct
	j := s.contactJSONLocked(ct, nil, nil)
	s.mu.Unlock()
	j["@odata.context"] = s.baseURL + "/v1.0/$metadata#users('" + u.id + "')/contacts/$entity"
	graphJSON(c.w, http.StatusCreated, j)
}

// numbersToFloat turns json.Number (from decodeJSON) into float64 so
// that contact values compare like the JSON they came from.
func numbersToFloat(m map[string]any) map[string]any {
	var conv func(v any) any
	conv = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = conv(e)
			}
		case []any:
			for i, e := range x {
				x[i] = conv(e)
			}
		case interface{ Float64() (float64, error) }:
			f, _ := x.Float64()
			return f
		}
		return v
	}
	conv(m)
	return m
}

func (s *Sandbox) contactItem(c *call, u *user, id string, tail []string) {
	s.mu.Lock()
	ct := u.ct.items[id]
	s.mu.Unlock()
	if ct == nil {
		notFoundItem(c.w)
		return
	}
	if len(tail) == 0 {
		switch c.r.Method {
		case http.MethodGet:
			sel := selectOf(c.q)
			if !checkSelect(c.w, sel, contactProps, "contact") {
				return
			}
			exp, err := parseExpand(c.q.Get("$expand"))
			if err != nil || exp != nil && exp.attachments {
				badRequest(c.w, "BadRequest", "Parsing OData Select and Expand failed.")
				return
			}
			s.mu.Lock()
			j := s.contactJSONLocked(ct, sel, exp)
			s.mu.Unlock()
			j["@odata.context"] = s.baseURL + "/v1.0/$metadata#users('" + u.id + "')/contacts/$entity"
			graphJSON(c.w, http.StatusOK, j)
		case http.MethodPatch:
			var in map[string]any
			if err := decodeJSON(c.body, &in); err != nil {
				badRequest(c.w, "RequestBodyRead", "Invalid JSON in the request body.")
				return
			}
			in = numbersToFloat(in)
			s.mu.Lock()
			work := &contact{data: map[string]any{}, props: slices.Clone(ct.props)}
			for k, v := range ct.data {
				work.data[k] = v
			}
			if code, msg := applyContact(work, in, false); code != "" {
				s.mu.Unlock()
				badRequest(c.w, code, msg)
				return
			}
			ct.data, ct.props = work.data, work.props
			s.touchContactLocked(ct)
			j := s.contactJSONLocked(ct, nil, nil)
			s.mu.Unlock()
			graphJSON(c.w, http.StatusOK, j)
		case http.MethodDelete:
			s.mu.Lock()
			delete(u.ct.items, ct.id)
			if f := u.ct.folders[ct.folderID]; f != nil {
				f.tombs = append(f.tombs, tomb{id: ct.id, seq: s.nextSeqLocked()})
			}
			s.mu.Unlock()
			c.w.WriteHeader(http.StatusNoContent)
		default:
			badRequest(c.w, "BadRequest", "Unsupported method.")
		}
		return
	}
	if strings.EqualFold(tail[0], "permanentDelete") && len(tail) == 1 && c.r.Method == http.MethodPost {
		s.mu.Lock()
		delete(u.ct.items, ct.id)
		if f := u.ct.folders[ct.folderID]; f != nil {
			f.tombs = append(f.tombs, tomb{id: ct.id, seq: s.nextSeqLocked()})
		}
		s.mu.Unlock()
		c.w.WriteHeader(http.StatusNoContent)
		return
	}
	if !strings.EqualFold(tail[0], "photo") || len(tail) > 2 || len(tail) == 2 && tail[1] != "$value" {
		badRequest(c.w, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", tail[0]))
		return
	}
	s.contactPhoto(c, u, ct, len(tail) == 2)
}

// contactPhoto serves GET photo (metadata), GET photo/$value and PUT
// photo/$value.
func (s *Sandbox) contactPhoto(c *call, u *user, ct *contact, value bool) {
	switch {
	case c.r.Method == http.MethodPut && value:
		if len(c.body) == 0 {
			badRequest(c.w, "ErrorInvalidRequest", "The photo is empty.")
			return
		}
		typ := c.r.Header.Get("Content-Type")
		if typ == "" || strings.HasPrefix(typ, "application/octet-stream") {
			typ = http.DetectContentType(c.body)
		}
		s.mu.Lock()
		ct.photo, ct.photoType = slices.Clone(c.body), typ
		s.touchContactLocked(ct)
		s.mu.Unlock()
		c.w.WriteHeader(http.StatusOK)
	case c.r.Method == http.MethodGet:
		s.mu.Lock()
		b, typ := ct.photo, ct.photoType
		s.mu.Unlock()
		if b == nil {
			graphError(c.w, http.StatusNotFound, "ErrorItemNotFound", "The photo wasn't found.")
			return
		}
		if value {
			c.w.Header().Set("Content-Type", typ)
			c.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			c.w.WriteHeader(http.StatusOK)
			_, _ = c.w.Write(b)
			return
		}
		w, h := 0, 0
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(b)); err == nil {
			w, h = cfg.Width, cfg.Height
		}
		graphJSON(c.w, http.StatusOK, map[string]any{
			"@odata.context":          s.baseURL + "/v1.0/$metadata#users('" + u.id + "')/contacts('" + ct.id + "')/photo/$entity",
			"@odata.mediaContentType": typ, "@odata.mediaEtag": `W/"` + ct.changeKey + `"`,
			"id": fmt.Sprintf("%dX%d", w, h), "width": w, "height": h,
		})
	default:
		badRequest(c.w, "BadRequest", "Unsupported method.")
	}
}

// contactDelta serves contacts/delta of one folder, like mail delta.
func (s *Sandbox) contactDelta(c *call, u *user, f *cfolder) {
	if c.r.Method != http.MethodGet {
		badRequest(c.w, "BadRequest", "Unsupported method.")
		return
	}
	var st deltaState
	switch {
	case c.q.Get("$skiptoken") != "" || c.q.Get("$deltatoken") != "":
		tok, delta := c.q.Get("$skiptoken"), false
		if tok == "" {
			tok, delta = c.q.Get("$deltatoken"), true
		}
		var ok bool
		if st, ok = decodeState(tok); !ok || st.Folder != f.id {
			badRequest(c.w, "ErrorInvalidSyncStateData", "The sync state data is corrupt or otherwise invalid.")
			return
		}
		if delta {
			st.Cursor, st.Snap = st.Base, 0
		}
	default:
		st = deltaState{Folder: f.id, Select: c.q.Get("$select")}
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
		if !checkSelect(c.w, sel, contactProps, "contact") {
			return
		}
	}
	type change struct {
		seq int64
		ct  *contact
		id  string
	}
	s.mu.Lock()
	if st.Snap == 0 {
		st.Snap = s.seq
	}
	var changes []change
	live := map[string]bool{}
	for _, ct := range u.ct.items {
		if ct.folderID != f.id {
			continue
		}
		live[ct.id] = true
		if ct.seq > st.Cursor && ct.seq <= st.Snap {
			changes = append(changes, change{seq: ct.seq, ct: ct})
		}
	}
	if st.Base > 0 {
		for _, t := range f.tombs {
			if t.seq > st.Cursor && t.seq <= st.Snap && t.seq > st.Base && !live[t.id] {
				changes = append(changes, change{seq: t.seq, id: t.id})
			}
		}
	}
	slices.SortFunc(changes, func(a, b change) int { return int(a.seq - b.seq) })
	more := len(changes) > page
	if more {
		changes = changes[:page]
	}
	out := []map[string]any{}
	for _, ch := range changes {
		if ch.ct != nil {
			j := s.contactJSONLocked(ch.ct, sel, nil)
			j["@odata.type"] = "#microsoft.graph.contact"
			out = append(out, j)
		} else {
			out = append(out, map[string]any{"@odata.type": "#microsoft.graph.contact", "id": ch.id, "@removed": map[string]any{"reason": "deleted"}})
		}
		st.Cursor = ch.seq
	}
	s.mu.Unlock()
	link := s.baseURL + "/v1.0/users/" + u.id + "/contactFolders/" + f.id + "/contacts/delta?"
	resp := map[string]any{"@odata.context": s.baseURL + "/v1.0/$metadata#Collection(contact)", "value": out}
	if more {
		resp["@odata.nextLink"] = link + "$skiptoken=" + encodeState(st)
	} else {
		resp["@odata.deltaLink"] = link + "$deltatoken=" + encodeState(deltaState{Folder: f.id, Base: st.Snap, Select: st.Select, Page: st.Page})
	}
	c.w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(page))
	graphJSON(c.w, http.StatusOK, resp)
}
