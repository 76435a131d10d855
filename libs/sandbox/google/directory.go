package google

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

func notAuthorizedDirectory(w http.ResponseWriter) {
	googleError(w, http.StatusForbidden, "forbidden", "Not Authorized to access this resource/api")
}

// routeDirectory serves admin/directory/v1/users. The Directory API
// answers only tokens impersonating an administrator.
func (s *Sandbox) routeDirectory(c *call) {
	seg := segments(c.r.URL.Path, "/admin/directory/v1/")
	if len(seg) == 0 || seg[0] != "users" || len(seg) > 2 {
		googleError(c.w, http.StatusNotFound, "notFound", "Not Found")
		return
	}
	read := []string{ScopeDirectoryUser, ScopeDirectoryUserReadonly}
	write := []string{ScopeDirectoryUser}
	admin := func() bool {
		if c.g.subject == nil || !c.g.subject.admin {
			notAuthorizedDirectory(c.w)
			return false
		}
		return true
	}
	switch {
	case len(seg) == 1 && c.r.Method == http.MethodGet:
		if c.admit("directory.users.list", 1, read...) && admin() {
			s.directoryList(c)
		}
	case len(seg) == 1 && c.r.Method == http.MethodPost:
		if c.admit("directory.users.insert", 1, write...) && admin() {
			s.directoryInsert(c)
		}
	case len(seg) == 2 && c.r.Method == http.MethodGet:
		if c.admit("directory.users.get", 1, read...) && admin() {
			s.directoryGet(c, seg[1])
		}
	case len(seg) == 2 && c.r.Method == http.MethodDelete:
		if c.admit("directory.users.delete", 1, write...) && admin() {
			s.directoryDelete(c, seg[1])
		}
	default:
		methodNotAllowed(c.w)
	}
}

func (s *Sandbox) userJSONLocked(u *user) map[string]any {
	emails := []map[string]any{{"address": u.email, "primary": true}}
	for _, a := range u.aliases {
		emails = append(emails, map[string]any{"address": a})
	}
	local := strings.SplitN(u.email, "@", 2)[0]
	m := map[string]any{
		"kind":                       "admin#directory#user",
		"id":                         u.id,
		"etag":                       fmt.Sprintf("%q", shortHash(u.id, strconv.Itoa(u.version))),
		"primaryEmail":               u.email,
		"name":                       map[string]any{"givenName": u.given, "familyName": u.family, "fullName": u.fullName()},
		"isAdmin":                    u.admin,
		"isDelegatedAdmin":           false,
		"lastLoginTime":              "1970-01-01T00:00:00.000Z",
		"creationTime":               rfc3339ms(u.created),
		"agreedToTerms":              true,
		"suspended":                  u.suspended,
		"archived":                   false,
		"changePasswordAtNextLogin":  false,
		"ipWhitelisted":              false,
		"emails":                     emails,
		"nonEditableAliases":         []string{local + "@" + strings.TrimSuffix(s.domain, ".example") + ".test-google-a.com"},
		"customerId":                 s.customerID,
		"orgUnitPath":                "/",
		"isMailboxSetup":             !time.Now().Before(u.mailboxSetupAt),
		"isEnrolledIn2Sv":            false,
		"isEnforcedIn2Sv":            false,
		"includeInGlobalAddressList": true,
	}
	if len(u.aliases) > 0 {
		m["aliases"] = u.aliases
	}
	if u.deleted {
		m["deletionTime"] = rfc3339ms(u.created)
	}
	return m
}

func (s *Sandbox) directoryList(c *call) {
	customer, domain := c.q.Get("customer"), strings.ToLower(c.q.Get("domain"))
	switch {
	case customer == "" && domain == "":
		badRequest(c.w, "Bad Request")
		return
	case customer != "" && customer != "my_customer" && customer != s.customerID:
		notAuthorizedDirectory(c.w)
		return
	case domain != "" && domain != s.domain:
		notAuthorizedDirectory(c.w)
		return
	}
	maxResults, ok := c.intParam("maxResults", 100, 1, 500)
	if !ok {
		return
	}
	orderBy, desc := c.q.Get("orderBy"), strings.EqualFold(c.q.Get("sortOrder"), "DESCENDING")
	match, ok := directoryQuery(c.q.Get("query"))
	if !ok {
		invalidArgument(c.w, "Invalid Input")
		return
	}
	showDeleted := c.boolParam("showDeleted")
	s.mu.Lock()
	var list []*user
	for _, u := range s.order {
		if u.deleted != showDeleted {
			continue
		}
		if match(u) {
			list = append(list, u)
		}
	}
	key := func(u *user) string {
		switch orderBy {
		case "givenName":
			return strings.ToLower(u.given) + "\x00" + u.email
		case "familyName":
			return strings.ToLower(u.family) + "\x00" + u.email
		}
		return u.email
	}
	sort.Slice(list, func(i, j int) bool {
		if desc {
			return key(list[i]) > key(list[j])
		}
		return key(list[i]) < key(list[j])
	})
	start := 0
	if tok := c.q.Get("pageToken"); tok != "" {
		n, ok := decodeOffset(tok)
		if !ok || n > len(list) {
			s.mu.Unlock()
			invalidArgument(c.w, "Invalid Input: pageToken")
			return
		}
		start = n
	}
	end := min(start+maxResults, len(list))
	users := make([]map[string]any, 0, end-start)
	for _, u := range list[start:end] {
		users = append(users, s.userJSONLocked(u))
	}
	s.mu.Unlock()
	out := map[string]any{"kind": "admin#directory#users", "etag": fmt.Sprintf("%q", shortHash("users", fmt.Sprint(len(list)))), "users": users}
	if len(users) == 0 {
		delete(out, "users")
	}
	if end < len(list) {
		out["nextPageToken"] = encodeOffset(end)
	}
	c.ok(out)
}

// directoryQuery understands the few query forms a migration uses:
// email:addr, email:prefix*, isSuspended=, isAdmin= and a bare prefix
// matched against names and addresses.
func directoryQuery(q string) (func(*user) bool, bool) {
	var tests []func(*user) bool
	for _, term := range strings.Fields(q) {
		term = strings.Trim(term, "'\"")
		switch {
		case strings.HasPrefix(term, "email:"):
			v := strings.ToLower(strings.Trim(strings.TrimPrefix(term, "email:"), "'\""))
			if p, ok := strings.CutSuffix(v, "*"); ok {
				tests = append(tests, func(u *user) bool { return strings.HasPrefix(u.email, p) })
			} else {
				tests = append(tests, func(u *user) bool { return u.email == v })
			}
		case strings.HasPrefix(term, "isSuspended="):
			want := strings.EqualFold(strings.TrimPrefix(term, "isSuspended="), "true")
			tests = append(tests, func(u *user) bool { return u.suspended == want })
		case strings.HasPrefix(term, "isAdmin="):
			want := strings.EqualFold(strings.TrimPrefix(term, "isAdmin="), "true")
			tests = append(tests, func(u *user) bool { return u.admin == want })
		case strings.ContainsAny(term, ":="):
			return nil, false
		default:
			p := strings.ToLower(strings.TrimSuffix(term, "*"))
			tests = append(tests, func(u *user) bool {
				return strings.HasPrefix(u.email, p) || strings.HasPrefix(strings.ToLower(u.given), p) || strings.HasPrefix(strings.ToLower(u.family), p)
			})
		}
	}
	return func(u *user) bool {
		for _, t := range tests {
			if !t(u) {
				return false
			}
		}
		return true
	}, true
}

func (s *Sandbox) directoryGet(c *call, key string) {
	s.mu.Lock()
	u := s.userLocked(key)
	if u == nil || u.deleted {
		s.mu.Unlock()
		googleError(c.w, http.StatusNotFound, "notFound", "Resource Not Found: userKey")
		return
	}
	m := s.userJSONLocked(u)
	s.mu.Unlock()
	c.ok(m)
}

func (s *Sandbox) directoryDelete(c *call, key string) {
	s.mu.Lock()
	u := s.userLocked(key)
	if u == nil || u.deleted {
		s.mu.Unlock()
		googleError(c.w, http.StatusNotFound, "notFound", "Resource Not Found: userKey")
		return
	}
	u.deleted = true
	u.version++
	delete(s.users, u.email)
	s.mu.Unlock()
	c.noContent()
}

// MailboxSetupDelay makes users created through the Directory API report
// isMailboxSetup=false for a while, as new Workspace users do; Gmail
// answers for them in the meantime with 400 failedPrecondition.
func (s *Sandbox) MailboxSetupDelay(d time.Duration) {
	s.mu.Lock()
	s.setupDelay = d
	s.mu.Unlock()
}

func (s *Sandbox) directoryInsert(c *call) {
	var in struct {
		PrimaryEmail string `json:"primaryEmail"`
		Name         struct {
			GivenName  string `json:"givenName"`
			FamilyName string `json:"familyName"`
		} `json:"name"`
		Password  string `json:"password"`
		Suspended bool   `json:"suspended"`
	}
	if !c.decode(&in) {
		return
	}
	email := normEmail(in.PrimaryEmail)
	switch {
	case email == "" || !strings.Contains(email, "@"):
		invalidArgument(c.w, "Invalid Input: primary_user_email")
		return
	case strings.TrimSpace(in.Name.GivenName) == "":
		invalidArgument(c.w, "Invalid Given/Family Name: GivenName")
		return
	case strings.TrimSpace(in.Name.FamilyName) == "":
		invalidArgument(c.w, "Invalid Given/Family Name: FamilyName")
		return
	case len(in.Password) < 8:
		invalidArgument(c.w, "Invalid Password")
		return
	case !strings.HasSuffix(email, "@"+s.domain):
		googleError(c.w, http.StatusBadRequest, "invalid", "Domain not found.")
		return
	}
	s.mu.Lock()
	if s.userLocked(email) != nil {
		s.mu.Unlock()
		googleError(c.w, http.StatusConflict, "duplicate", "Entity already exists.")
		return
	}
	u := s.addUserLocked(email, in.Name.GivenName+" "+in.Name.FamilyName, nil, time.Now().UTC())
	u.given, u.family, u.suspended = in.Name.GivenName, in.Name.FamilyName, in.Suspended
	u.mailboxSetupAt = time.Now().Add(s.setupDelay)
	m := s.userJSONLocked(u)
	s.mu.Unlock()
	c.ok(m)
}

// Page tokens are opaque to clients; the sandbox's carry an offset.
func encodeOffset(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o" + strconv.Itoa(n)))
}

func decodeOffset(tok string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || b[0] != 'o' {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[1:]))
	return n, err == nil && n >= 0
}
