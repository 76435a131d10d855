package google

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

var (
	contactsRead  = []string{ScopeContacts, ScopeContactsReadonly}
	contactsWrite = []string{ScopeContacts}
)

// personFieldNames are the valid personFields / readMask paths.
var personFieldNames = []string{"addresses", "ageRanges", "biographies", "birthdays", "calendarUrls", "clientData",
	"coverPhotos", "emailAddresses", "events", "externalIds", "genders", "imClients", "interests", "locales",
	"locations", "memberships", "metadata", "miscKeywords", "names", "nicknames", "occupations", "organizations",
	"phoneNumbers", "photos", "relations", "sipAddresses", "skills", "urls", "userDefined"}

// readOnlyPersonFields cannot be written through createContact or
// updateContact.
var readOnlyPersonFields = []string{"ageRanges", "coverPhotos", "photos", "metadata"}

// singletonPersonFields hold at most one value on a contact.
var singletonPersonFields = []string{"names", "birthdays", "biographies", "genders"}

// systemGroups are the contact groups every account has, as
// contactGroups.list returns them.
var systemGroups = []struct{ id, formatted string }{
	{"chatBuddies", "Chat contacts"}, {"all", "All Contacts"}, {"friends", "Friends"}, {"family", "Family"},
	{"coworkers", "Coworkers"}, {"myContacts", "My Contacts"}, {"starred", "Starred"}, {"blocked", "Blocked"},
}

type contactStore struct {
	people map[string]*person
	order  []*person
	groups map[string]*cgroup
	gorder []*cgroup
	seq    uint64
	gen    int
	n      uint64
}

type person struct {
	rn       string
	sourceID string
	fields   map[string][]map[string]any
	groups   []string // contact group resource names besides myContacts
	deleted  bool
	seq      uint64
	updated  time.Time
	photoURL string // set by seeding; photos cannot be written
}

type cgroup struct {
	rn, name string
	system   bool
	updated  time.Time
}

func newContactStore() *contactStore {
	cs := &contactStore{people: map[string]*person{}, groups: map[string]*cgroup{}}
	for _, g := range systemGroups {
		cg := &cgroup{rn: "contactGroups/" + g.id, name: g.id, system: true}
		cs.groups[cg.rn] = cg
		cs.gorder = append(cs.gorder, cg)
	}
	return cs
}

func formattedOf(g *cgroup) string {
	for _, sg := range systemGroups {
		if g.system && sg.id == g.name {
			return sg.formatted
		}
	}
	return g.name
}

func (cs *contactStore) touch(p *person, now time.Time) {
	cs.seq++
	p.seq = cs.seq
	p.updated = now
}

func (cs *contactStore) newPerson(now time.Time) *person {
	cs.n++
	id := strconv.FormatUint(1000000000000000000+cs.n*7919+uint64(len(cs.people)), 10)
	p := &person{rn: "people/c" + id, sourceID: strconv.FormatUint(cs.n*0x5bd1e995%(1<<48), 16), fields: map[string][]map[string]any{}}
	cs.people[p.rn] = p
	cs.order = append(cs.order, p)
	cs.touch(p, now)
	return p
}

func (cs *contactStore) members(g *cgroup) []string {
	var out []string
	for _, p := range cs.order {
		if p.deleted {
			continue
		}
		if g.rn == "contactGroups/myContacts" || g.rn == "contactGroups/all" || slices.Contains(p.groups, g.rn) {
			out = append(out, p.rn)
		}
	}
	return out
}

func personETag(p *person) string {
	return "%" + base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("EgcBAgsuNz0+GgQBAgUHIgw%d", p.seq)))
}

func groupETag(g *cgroup) string {
	return base64.StdEncoding.EncodeToString([]byte(g.rn + "|" + strconv.FormatInt(g.updated.UnixMicro(), 10)))[:16]
}

var formattedTypes = map[string]string{"home": "Home", "work": "Work", "other": "Other", "mobile": "Mobile",
	"homeFax": "Home Fax", "workFax": "Work Fax", "otherFax": "Other Fax", "pager": "Pager", "workMobile": "Work Mobile",
	"workPager": "Work Pager", "main": "Main", "googleVoice": "Google Voice", "school": "School", "blog": "Blog",
	"homePage": "Home Page", "profile": "Profile", "appInstallPage": "App Install Page"}

// canonicalPhone is the E.164 form Google derives from numbers written
// with a country code.
func canonicalPhone(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "tel:")
	if !strings.HasPrefix(v, "+") {
		return ""
	}
	var b strings.Builder
	b.WriteByte('+')
	for _, r := range v[1:] {
		if unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	if b.Len() < 8 {
		return ""
	}
	return b.String()
}

// personJSON renders a person with the requested fields, adding the
// metadata and derived values People returns.
func (cs *contactStore) personJSON(p *person, fields []string) map[string]any {
	src := map[string]any{"type": "CONTACT", "id": p.sourceID}
	out := map[string]any{"resourceName": p.rn, "etag": personETag(p)}
	if p.deleted {
		out["metadata"] = map[string]any{"sources": []any{src}, "objectType": "PERSON", "deleted": true}
		return out
	}
	for _, f := range fields {
		var items []map[string]any
		switch f {
		case "metadata":
			s := maps.Clone(src)
			s["etag"] = "#" + personETag(p)[1:]
			s["updateTime"] = p.updated.UTC().Format(time.RFC3339Nano)
			out["metadata"] = map[string]any{"sources": []any{s}, "objectType": "PERSON"}
			continue
		case "memberships":
			for _, g := range append([]string{"contactGroups/myContacts"}, p.groups...) {
				items = append(items, map[string]any{"contactGroupMembership": map[string]any{
					"contactGroupId": strings.TrimPrefix(g, "contactGroups/"), "contactGroupResourceName": g}})
			}
		case "photos":
			url, def := p.photoURL, false
			if url == "" {
				url, def = "https://lh3.googleusercontent.com/cm/"+p.sourceID+"=s100", true
			}
			items = []map[string]any{{"url": url, "default": def}}
		default:
			for _, it := range p.fields[f] {
				items = append(items, derived(f, maps.Clone(it)))
			}
		}
		if len(items) == 0 {
			continue
		}
		list := make([]any, len(items))
		for i, it := range items {
			md := map[string]any{"source": src}
			if i == 0 {
				md["primary"] = true
			}
			if f == "photos" || f == "memberships" {
				md = map[string]any{"source": src}
				if f == "photos" {
					md["primary"] = true
				}
			}
			it["metadata"] = md
			list[i] = it
		}
		out[f] = list
	}
	return out
}

// derived adds what People computes from what the client wrote.
func derived(field string, it map[string]any) map[string]any {
	str := func(k string) string { v, _ := it[k].(string); return v }
	if t := str("type"); t != "" {
		if ft, ok := formattedTypes[t]; ok {
			it["formattedType"] = ft
		} else {
			it["formattedType"] = t
		}
	}
	switch field {
	case "names":
		parts := slices.DeleteFunc([]string{str("honorificPrefix"), str("givenName"), str("middleName"), str("familyName"), str("honorificSuffix")},
			func(s string) bool { return s == "" })
		display := strings.Join(parts, " ")
		if display == "" {
			display = str("unstructuredName")
		}
		it["displayName"] = display
		last := str("familyName")
		if given := strings.TrimSpace(str("givenName") + " " + str("middleName")); last != "" && given != "" {
			last += ", " + given
		} else if last == "" {
			last = display
		}
		it["displayNameLastFirst"] = last
		if str("unstructuredName") == "" {
			it["unstructuredName"] = display
		}
	case "phoneNumbers":
		if cf := canonicalPhone(str("value")); cf != "" {
			it["canonicalForm"] = cf
		}
	case "addresses":
		if str("formattedValue") == "" {
			lines := slices.DeleteFunc([]string{str("poBox"), str("streetAddress"), str("extendedAddress"),
				strings.TrimSpace(str("postalCode") + " " + str("city")), str("region"), str("country")},
				func(s string) bool { return s == "" })
			it["formattedValue"] = strings.Join(lines, "\n")
		}
	}
	return it
}

// routePeople serves the People API paths mailferry uses.
func (s *Sandbox) routePeople(c *call) {
	u := c.g.subject
	if u == nil {
		googleError(c.w, http.StatusForbidden, "forbidden", "The caller does not have permission")
		return
	}
	path := strings.TrimPrefix(c.r.URL.Path, "/v1/")
	resource, verb, _ := strings.Cut(path, ":")
	m := c.r.Method
	switch {
	case resource == "people/me/connections" && m == http.MethodGet:
		if c.admit("people.people.connections.list", 1, contactsRead...) {
			s.connections(c, u)
		}
	case resource == "people" && verb == "createContact" && m == http.MethodPost:
		if c.admit("people.people.createContact", 1, contactsWrite...) {
			s.createContacts(c, u, false)
		}
	case resource == "people" && verb == "batchCreateContacts" && m == http.MethodPost:
		if c.admit("people.people.batchCreateContacts", 1, contactsWrite...) {
			s.createContacts(c, u, true)
		}
	case resource == "people" && verb == "batchGet" && m == http.MethodGet:
		if c.admit("people.people.getBatchGet", 1, contactsRead...) {
			s.peopleGet(c, u, c.q["resourceNames"], true)
		}
	case resource == "people" && verb == "batchDeleteContacts" && m == http.MethodPost:
		if c.admit("people.people.batchDeleteContacts", 1, contactsWrite...) {
			var in struct {
				ResourceNames []string `json:"resourceNames"`
			}
			if c.decode(&in) {
				s.deleteContacts(c, u, in.ResourceNames)
			}
		}
	case strings.HasPrefix(resource, "people/") && verb == "" && m == http.MethodGet:
		if c.admit("people.people.get", 1, contactsRead...) {
			s.peopleGet(c, u, []string{resource}, false)
		}
	case strings.HasPrefix(resource, "people/") && verb == "updateContact" && m == http.MethodPatch:
		if c.admit("people.people.updateContact", 1, contactsWrite...) {
			s.updateContact(c, u, resource)
		}
	case strings.HasPrefix(resource, "people/") && verb == "deleteContact" && m == http.MethodDelete:
		if c.admit("people.people.deleteContact", 1, contactsWrite...) {
			s.deleteContacts(c, u, []string{resource})
		}
	case resource == "contactGroups" && m == http.MethodGet:
		if c.admit("people.contactGroups.list", 1, contactsRead...) {
			s.groupList(c, u)
		}
	case resource == "contactGroups" && m == http.MethodPost:
		if c.admit("people.contactGroups.create", 1, contactsWrite...) {
			s.groupWrite(c, u, "")
		}
	case strings.HasPrefix(resource, "contactGroups/") && strings.HasSuffix(resource, "/members") && verb == "modify" && m == http.MethodPost:
		if c.admit("people.contactGroups.members.modify", 1, contactsWrite...) {
			s.groupMembers(c, u, strings.TrimSuffix(resource, "/members"))
		}
	case strings.HasPrefix(resource, "contactGroups/") && m == http.MethodGet:
		if c.admit("people.contactGroups.get", 1, contactsRead...) {
			s.groupGet(c, u, resource)
		}
	case strings.HasPrefix(resource, "contactGroups/") && m == http.MethodPut:
		if c.admit("people.contactGroups.update", 1, contactsWrite...) {
			s.groupWrite(c, u, resource)
		}
	case strings.HasPrefix(resource, "contactGroups/") && m == http.MethodDelete:
		if c.admit("people.contactGroups.delete", 1, contactsWrite...) {
			s.groupDelete(c, u, resource)
		}
	default:
		googleError(c.w, http.StatusNotFound, "notFound", "Not Found")
	}
}

func peopleInvalid(w http.ResponseWriter, msg string) {
	writeErr(w, apiErr{code: http.StatusBadRequest, reason: "badRequest", status: "INVALID_ARGUMENT", msg: msg})
}

// fieldMask reads a comma-separated mask (personFields, readMask,
// updatePersonFields); ok is false (and 400 answered) when a path is
// unknown or the mask is required and empty.
func fieldMask(c *call, param, docPath string, required bool) ([]string, bool) {
	var out []string
	for _, v := range c.q[param] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			f = strings.TrimPrefix(f, "person.")
			if !slices.Contains(personFieldNames, f) {
				peopleInvalid(c.w, fmt.Sprintf("Invalid %s mask path: %q. Valid paths are documented at https://developers.google.com/people/api/rest/v1/%s.", param, f, docPath))
				return nil, false
			}
			out = append(out, f)
		}
	}
	if required && len(out) == 0 {
		peopleInvalid(c.w, param+" mask is required. Please specify one or more valid paths. Valid paths are documented at https://developers.google.com/people/api/rest/v1/"+docPath+".")
		return nil, false
	}
	return out, true
}

func (s *Sandbox) connections(c *call, u *user) {
	fields, ok := fieldMask(c, "personFields", "people.connections/list", true)
	if !ok {
		return
	}
	pageSize, ok := c.intParam("pageSize", 100, 1, 1000)
	if !ok {
		return
	}
	start := 0
	if tok := c.q.Get("pageToken"); tok != "" {
		if start, ok = decodeOffset(tok); !ok {
			peopleInvalid(c.w, "Page token is not valid.")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := u.ppl
	var list []*person
	if tok := c.q.Get("syncToken"); tok != "" {
		since, ok := parsePeopleSync(tok, cs)
		if !ok {
			writeErr(c.w, apiErr{code: 400, reason: "failedPrecondition", status: "FAILED_PRECONDITION",
				msg:     "Sync token is expired. Clear local cache and retry call without the sync token.",
				details: []any{map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "EXPIRED_SYNC_TOKEN", "domain": "people.googleapis.com"}}})
			return
		}
		for _, p := range cs.order {
			if p.seq > since {
				list = append(list, p)
			}
		}
		sort.SliceStable(list, func(i, j int) bool { return list[i].seq < list[j].seq })
	} else {
		for _, p := range cs.order {
			if !p.deleted {
				list = append(list, p)
			}
		}
		switch c.q.Get("sortOrder") {
		case "", "LAST_MODIFIED_ASCENDING":
			sort.SliceStable(list, func(i, j int) bool { return list[i].seq < list[j].seq })
		case "LAST_MODIFIED_DESCENDING":
			sort.SliceStable(list, func(i, j int) bool { return list[i].seq > list[j].seq })
		case "FIRST_NAME_ASCENDING":
			sort.SliceStable(list, func(i, j int) bool { return nameKey(list[i], "givenName") < nameKey(list[j], "givenName") })
		case "LAST_NAME_ASCENDING":
			sort.SliceStable(list, func(i, j int) bool { return nameKey(list[i], "familyName") < nameKey(list[j], "familyName") })
		default:
			peopleInvalid(c.w, "Invalid value at 'sort_order'")
			return
		}
	}
	start = min(start, len(list))
	end := min(start+pageSize, len(list))
	people := make([]map[string]any, 0, end-start)
	for _, p := range list[start:end] {
		people = append(people, cs.personJSON(p, fields))
	}
	total := 0
	for _, p := range cs.order {
		if !p.deleted {
			total++
		}
	}
	out := map[string]any{"totalPeople": total, "totalItems": len(list)}
	if len(people) > 0 {
		out["connections"] = people
	}
	if end < len(list) {
		out["nextPageToken"] = encodeOffset(end)
	} else if c.boolParam("requestSyncToken") || c.q.Get("syncToken") != "" {
		out["nextSyncToken"] = peopleSyncToken(cs)
	}
	c.ok(out)
}

func nameKey(p *person, part string) string {
	if n := p.fields["names"]; len(n) > 0 {
		v, _ := n[0][part].(string)
		return strings.ToLower(v)
	}
	return "\uffff"
}

func peopleSyncToken(cs *contactStore) string {
	return "^" + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d|%d", cs.gen, cs.seq)))
}

func parsePeopleSync(tok string, cs *contactStore) (uint64, bool) {
	rest, ok := strings.CutPrefix(tok, "^")
	if !ok {
		return 0, false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return 0, false
	}
	g, n, ok := strings.Cut(string(b), "|")
	seq, err := strconv.ParseUint(n, 10, 64)
	return seq, ok && err == nil && g == strconv.Itoa(cs.gen)
}

// setFields validates a Person body and writes the given fields of it to
// p (all writable fields when only is nil).
func (cs *contactStore) setFields(w http.ResponseWriter, p *person, body map[string]any, only []string) bool {
	for _, f := range readOnlyPersonFields {
		if _, set := body[f]; set && (only == nil || slices.Contains(only, f)) {
			peopleInvalid(w, fmt.Sprintf("Invalid person.%s: field is read only.", f))
			return false
		}
	}
	fields := map[string][]map[string]any{}
	var groups []string
	for k, v := range body {
		if k == "resourceName" || k == "etag" || only != nil && !slices.Contains(only, k) {
			continue
		}
		if !slices.Contains(personFieldNames, k) {
			peopleInvalid(w, fmt.Sprintf("Invalid JSON payload received. Unknown name %q at 'person': Cannot find field.", k))
			return false
		}
		list, ok := v.([]any)
		if !ok {
			peopleInvalid(w, fmt.Sprintf("Invalid value at 'person.%s'", k))
			return false
		}
		if len(list) > 1 && slices.Contains(singletonPersonFields, k) {
			peopleInvalid(w, fmt.Sprintf("Invalid person.%s: a contact can have at most one.", k))
			return false
		}
		for _, item := range list {
			m, _ := item.(map[string]any)
			if m == nil {
				peopleInvalid(w, fmt.Sprintf("Invalid value at 'person.%s'", k))
				return false
			}
			m = maps.Clone(m)
			delete(m, "metadata")
			// Output-only values People derives itself.
			delete(m, "formattedType")
			delete(m, "canonicalForm")
			delete(m, "displayNameLastFirst")
			if k == "names" {
				delete(m, "displayName")
			}
			if k == "memberships" {
				g, _ := m["contactGroupMembership"].(map[string]any)
				rn, _ := g["contactGroupResourceName"].(string)
				if rn == "" {
					if id, _ := g["contactGroupId"].(string); id != "" {
						rn = "contactGroups/" + id
					}
				}
				if cs.groups[rn] == nil {
					peopleInvalid(w, "Invalid contact group resource name: "+rn)
					return false
				}
				if rn != "contactGroups/myContacts" && !slices.Contains(groups, rn) {
					groups = append(groups, rn)
				}
				continue
			}
			fields[k] = append(fields[k], m)
		}
	}
	for k, v := range fields {
		p.fields[k] = v
	}
	for _, f := range only {
		if _, set := body[f]; !set && f != "memberships" {
			delete(p.fields, f)
		}
	}
	if only == nil || slices.Contains(only, "memberships") {
		if _, set := body["memberships"]; set {
			p.groups = groups
		}
	}
	return true
}

func (s *Sandbox) createContacts(c *call, u *user, batch bool) {
	var contacts []map[string]any
	var fields []string
	if batch {
		var in struct {
			Contacts []struct {
				ContactPerson map[string]any `json:"contactPerson"`
			} `json:"contacts"`
			ReadMask string `json:"readMask"`
		}
		if !c.decode(&in) {
			return
		}
		if len(in.Contacts) == 0 || len(in.Contacts) > 200 {
			peopleInvalid(c.w, "Request must contain between 1 and 200 contacts.")
			return
		}
		for _, ct := range in.Contacts {
			contacts = append(contacts, ct.ContactPerson)
		}
		c.q.Set("readMask", in.ReadMask)
		var ok bool
		if fields, ok = fieldMask(c, "readMask", "people/batchCreateContacts", false); !ok {
			return
		}
	} else {
		var body map[string]any
		if !c.decode(&body) {
			return
		}
		contacts = []map[string]any{body}
		var ok bool
		if fields, ok = fieldMask(c, "personFields", "people/createContact", false); !ok {
			return
		}
		if len(fields) == 0 {
			fields = slices.DeleteFunc(slices.Clone(personFieldNames), func(f string) bool { return f == "metadata" || f == "coverPhotos" || f == "ageRanges" })
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := u.ppl
	now := time.Now().UTC()
	// Validate all first: a batch fails or succeeds as a whole.
	for _, body := range contacts {
		probe := &person{fields: map[string][]map[string]any{}}
		if body == nil || !cs.setFields(c.w, probe, body, nil) {
			if body == nil {
				peopleInvalid(c.w, "contactPerson is required.")
			}
			return
		}
	}
	var created []map[string]any
	for _, body := range contacts {
		p := cs.newPerson(now)
		cs.setFields(c.w, p, body, nil)
		if !batch {
			c.ok(cs.personJSON(p, fields))
			return
		}
		res := map[string]any{"httpStatusCode": 200, "person": map[string]any{"resourceName": p.rn, "etag": personETag(p)}}
		if len(fields) > 0 {
			res["person"] = cs.personJSON(p, fields)
		}
		created = append(created, res)
	}
	c.ok(map[string]any{"createdPeople": created})
}

func (s *Sandbox) peopleGet(c *call, u *user, names []string, batch bool) {
	fields, ok := fieldMask(c, "personFields", "people/get", true)
	if !ok {
		return
	}
	if batch && (len(names) == 0 || len(names) > 200) {
		peopleInvalid(c.w, "resourceNames must contain between 1 and 200 names.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := u.ppl
	var responses []any
	for _, rn := range names {
		p := cs.people[rn]
		if p == nil || p.deleted {
			if !batch {
				writeErr(c.w, apiErr{code: 404, reason: "notFound", status: "NOT_FOUND", msg: "Requested entity was not found."})
				return
			}
			responses = append(responses, map[string]any{"requestedResourceName": rn, "httpStatusCode": 404,
				"status": map[string]any{"code": 5, "message": "Requested entity was not found."}})
			continue
		}
		if !batch {
			c.ok(cs.personJSON(p, fields))
			return
		}
		responses = append(responses, map[string]any{"requestedResourceName": rn, "httpStatusCode": 200, "person": cs.personJSON(p, fields)})
	}
	c.ok(map[string]any{"responses": responses})
}

func (s *Sandbox) updateContact(c *call, u *user, rn string) {
	update, ok := fieldMask(c, "updatePersonFields", "people/updateContact", true)
	if !ok {
		return
	}
	fields, ok := fieldMask(c, "personFields", "people/updateContact", false)
	if !ok {
		return
	}
	if len(fields) == 0 {
		fields = update
	}
	var body map[string]any
	if !c.decode(&body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := u.ppl
	p := cs.people[rn]
	if p == nil || p.deleted {
		writeErr(c.w, apiErr{code: 404, reason: "notFound", status: "NOT_FOUND", msg: "Requested entity was not found."})
		return
	}
	if etag, _ := body["etag"].(string); etag != personETag(p) {
		writeErr(c.w, apiErr{code: 400, reason: "failedPrecondition", status: "FAILED_PRECONDITION",
			msg: "Request person.etag is different than the current person.etag. Clear local cache and get the latest person."})
		return
	}
	if !cs.setFields(c.w, p, body, update) {
		return
	}
	cs.touch(p, time.Now().UTC())
	c.ok(cs.personJSON(p, fields))
}

func (s *Sandbox) deleteContacts(c *call, u *user, names []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := u.ppl
	for _, rn := range names {
		if p := cs.people[rn]; p == nil || p.deleted {
			writeErr(c.w, apiErr{code: 404, reason: "notFound", status: "NOT_FOUND", msg: "Requested entity was not found."})
			return
		}
	}
	now := time.Now().UTC()
	for _, rn := range names {
		p := cs.people[rn]
		p.deleted = true
		cs.touch(p, now)
	}
	c.ok(map[string]any{})
}

// --- contact groups ---

func (cs *contactStore) groupJSON(g *cgroup, maxMembers int) map[string]any {
	typ := "USER_CONTACT_GROUP"
	if g.system {
		typ = "SYSTEM_CONTACT_GROUP"
	}
	members := cs.members(g)
	m := map[string]any{"resourceName": g.rn, "etag": groupETag(g), "groupType": typ, "name": g.name,
		"formattedName": formattedOf(g), "metadata": map[string]any{"updateTime": g.updated.UTC().Format(time.RFC3339Nano)}}
	if len(members) > 0 || !g.system {
		m["memberCount"] = len(members)
	}
	if maxMembers > 0 {
		m["memberResourceNames"] = members[:min(maxMembers, len(members))]
	}
	return m
}

func (s *Sandbox) groupList(c *call, u *user) {
	pageSize, ok := c.intParam("pageSize", 30, 1, 1000)
	if !ok {
		return
	}
	start := 0
	if tok := c.q.Get("pageToken"); tok != "" {
		if start, ok = decodeOffset(tok); !ok {
			peopleInvalid(c.w, "Page token is not valid.")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := u.ppl
	all := cs.gorder
	start = min(start, len(all))
	end := min(start+pageSize, len(all))
	groups := make([]map[string]any, 0, end-start)
	for _, g := range all[start:end] {
		groups = append(groups, cs.groupJSON(g, 0))
	}
	out := map[string]any{"contactGroups": groups, "totalItems": len(all)}
	if end < len(all) {
		out["nextPageToken"] = encodeOffset(end)
	} else {
		out["nextSyncToken"] = peopleSyncToken(cs)
	}
	c.ok(out)
}

func (s *Sandbox) groupGet(c *call, u *user, rn string) {
	maxMembers, ok := c.intParam("maxMembers", 0, 0, 0)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := u.ppl.groups[rn]
	if g == nil {
		writeErr(c.w, apiErr{code: 404, reason: "notFound", status: "NOT_FOUND", msg: "Requested entity was not found."})
		return
	}
	c.ok(u.ppl.groupJSON(g, maxMembers))
}

// groupWrite creates (rn "") or renames a user contact group.
func (s *Sandbox) groupWrite(c *call, u *user, rn string) {
	var in struct {
		ContactGroup struct {
			Name string `json:"name"`
			ETag string `json:"etag"`
		} `json:"contactGroup"`
	}
	if !c.decode(&in) {
		return
	}
	name := strings.TrimSpace(in.ContactGroup.Name)
	if name == "" {
		peopleInvalid(c.w, "Contact group name must not be empty.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := u.ppl
	for _, g := range cs.gorder {
		if g.rn != rn && (strings.EqualFold(g.name, name) || strings.EqualFold(formattedOf(g), name)) {
			writeErr(c.w, apiErr{code: http.StatusConflict, reason: "alreadyExists", status: "ALREADY_EXISTS", msg: "Contact group name already exists."})
			return
		}
	}
	now := time.Now().UTC()
	var g *cgroup
	if rn == "" {
		cs.n++
		g = &cgroup{rn: "contactGroups/" + strconv.FormatUint(cs.n*0x9e3779b1%(1<<40), 16)}
		cs.groups[g.rn] = g
		cs.gorder = append(cs.gorder, g)
	} else {
		if g = cs.groups[rn]; g == nil {
			writeErr(c.w, apiErr{code: 404, reason: "notFound", status: "NOT_FOUND", msg: "Requested entity was not found."})
			return
		}
		if g.system {
			peopleInvalid(c.w, "System contact groups cannot be modified.")
			return
		}
	}
	g.name, g.updated = name, now
	c.ok(cs.groupJSON(g, 0))
}

func (s *Sandbox) groupDelete(c *call, u *user, rn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := u.ppl
	g := cs.groups[rn]
	if g == nil || g.system {
		writeErr(c.w, apiErr{code: 404, reason: "notFound", status: "NOT_FOUND", msg: "Requested entity was not found."})
		return
	}
	now := time.Now().UTC()
	for _, p := range cs.order {
		if i := slices.Index(p.groups, rn); i >= 0 {
			p.groups = slices.Delete(p.groups, i, i+1)
			if c.boolParam("deleteContacts") {
				p.deleted = true
			}
			cs.touch(p, now)
		}
	}
	delete(cs.groups, rn)
	cs.gorder = slices.DeleteFunc(cs.gorder, func(x *cgroup) bool { return x == g })
	c.ok(map[string]any{})
}

func (s *Sandbox) groupMembers(c *call, u *user, rn string) {
	var in struct {
		Add    []string `json:"resourceNamesToAdd"`
		Remove []string `json:"resourceNamesToRemove"`
	}
	if !c.decode(&in) {
		return
	}
	if len(in.Add)+len(in.Remove) > 1000 {
		peopleInvalid(c.w, "At most 1000 resource names can be modified at once.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := u.ppl
	g := cs.groups[rn]
	if g == nil {
		writeErr(c.w, apiErr{code: 404, reason: "notFound", status: "NOT_FOUND", msg: "Requested entity was not found."})
		return
	}
	now := time.Now().UTC()
	var notFound []string
	for _, name := range in.Add {
		p := cs.people[name]
		if p == nil || p.deleted {
			notFound = append(notFound, name)
			continue
		}
		if rn != "contactGroups/myContacts" && !slices.Contains(p.groups, rn) {
			p.groups = append(p.groups, rn)
			cs.touch(p, now)
		}
	}
	for _, name := range in.Remove {
		p := cs.people[name]
		if p == nil || p.deleted {
			notFound = append(notFound, name)
			continue
		}
		if i := slices.Index(p.groups, rn); i >= 0 {
			p.groups = slices.Delete(p.groups, i, i+1)
			cs.touch(p, now)
		}
	}
	g.updated = now
	out := map[string]any{}
	if len(notFound) > 0 {
		out["notFoundResourceNames"] = notFound
	}
	c.ok(out)
}
