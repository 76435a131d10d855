package graph

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// AddUser adds a licensed user with a mailbox and returns its id.
func (s *Sandbox) AddUser(upn, displayName string, aliases ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.byUPN[strings.ToLower(upn)]; u != nil {
		return u.id
	}
	u := s.addUserLocked(upn, displayName, "", aliases)
	u.usageLocation = "DE"
	u.licenses = []assignedLicense{{SkuID: s.skus[0].id, DisabledPlans: []string{}}}
	s.provisionLocked(u)
	return u.id
}

type sku struct {
	id, part string
	units    int
	plans    []struct{ id, name string }
}

// defaultSKUs are Office 365 E3 and Exchange Online (Plan 1) with their
// real SKU and service plan ids.
func defaultSKUs() []*sku {
	return []*sku{
		{id: "6fd2c87f-b296-42f0-b197-1e91e994b900", part: "ENTERPRISEPACK", units: 10000,
			plans: []struct{ id, name string }{{"efb87545-963c-4e0d-99df-69c6916d9eb0", "EXCHANGE_S_ENTERPRISE"}, {"5dbe027f-2339-4123-9542-606e4d348a72", "SHAREPOINTENTERPRISE"}}},
		{id: "4b9405b0-7788-4568-add1-99614e613b69", part: "EXCHANGESTANDARD", units: 25,
			plans: []struct{ id, name string }{{"9aaf7827-d63c-4b61-89c3-182f06f82e5c", "EXCHANGE_S_STANDARD"}}},
	}
}

func (s *Sandbox) consumedLocked(id string) int {
	n := 0
	for _, u := range s.order {
		for _, l := range u.licenses {
			if l.SkuID == id {
				n++
			}
		}
	}
	return n
}

func (s *Sandbox) subscribedSkus(c *call) {
	if !c.p.has("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All") {
		forbiddenDirectory(c.w)
		return
	}
	if c.r.Method != http.MethodGet || len(c.seg) > 2 {
		badRequest(c.w, "Request_BadRequest", "Unsupported request.")
		return
	}
	s.mu.Lock()
	var out []map[string]any
	for _, k := range s.skus {
		plans := []map[string]any{}
		for _, p := range k.plans {
			plans = append(plans, map[string]any{"servicePlanId": p.id, "servicePlanName": p.name, "provisioningStatus": "Success", "appliesTo": "User"})
		}
		out = append(out, map[string]any{
			"id": s.tenantID + "_" + k.id, "accountId": s.tenantID, "accountName": "mailferry sandbox",
			"skuId": k.id, "skuPartNumber": k.part, "appliesTo": "User", "capabilityStatus": "Enabled",
			"consumedUnits": s.consumedLocked(k.id), "subscriptionIds": []string{s.tenantID},
			"prepaidUnits": map[string]any{"enabled": k.units, "suspended": 0, "warning": 0, "lockedOut": 0},
			"servicePlans": plans,
		})
	}
	s.mu.Unlock()
	graphJSON(c.w, http.StatusOK, map[string]any{"@odata.context": s.baseURL + "/v1.0/$metadata#subscribedSkus", "value": out})
}

var userProps = lowerSet("id", "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "accountEnabled", "mailNickname",
	"proxyAddresses", "assignedLicenses", "usageLocation", "otherMails", "createdDateTime", "userType", "assignedPlans")

var userAll = []string{"id", "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "accountEnabled", "mailNickname",
	"proxyAddresses", "assignedLicenses", "usageLocation", "otherMails", "createdDateTime", "userType", "assignedPlans"}

var userDefault = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

func (s *Sandbox) userJSONLocked(u *user, sel []string) map[string]any {
	lic := []map[string]any{}
	for _, l := range u.licenses {
		lic = append(lic, map[string]any{"skuId": l.SkuID, "disabledPlans": l.DisabledPlans})
	}
	full := map[string]any{
		"id": u.id, "businessPhones": []string{}, "displayName": u.displayName, "givenName": nilIfEmpty(u.givenName),
		"jobTitle": nilIfEmpty(u.jobTitle), "mail": nil, "mobilePhone": nil, "officeLocation": nil,
		"preferredLanguage": nil, "surname": nilIfEmpty(u.surname), "userPrincipalName": u.upn,
		"accountEnabled": u.enabled, "mailNickname": u.nickname, "proxyAddresses": u.proxy,
		"assignedLicenses": lic, "usageLocation": nilIfEmpty(u.usageLocation), "otherMails": []string{},
		"createdDateTime": gtime(u.created), "userType": "Member", "assignedPlans": []any{},
	}
	if u.mailbox {
		full["mail"] = u.upn
	}
	if sel == nil {
		sel = userDefault
	}
	return project(full, sel)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Sandbox) routeUsers(c *call) {
	if len(c.seg) == 1 {
		switch c.r.Method {
		case http.MethodGet:
			s.listUsers(c)
		case http.MethodPost:
			s.createUser(c)
		default:
			badRequest(c.w, "Request_BadRequest", "Unsupported method.")
		}
		return
	}
	if len(c.seg) >= 3 && strings.EqualFold(c.seg[2], "settings") {
		s.userSettings(c)
		return
	}
	if len(c.seg) == 2 || strings.EqualFold(c.seg[2], "assignLicense") {
		s.directoryUser(c)
		return
	}
	s.routeMailbox(c)
}

func (s *Sandbox) listUsers(c *call) {
	if !c.p.has("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All") {
		forbiddenDirectory(c.w)
		return
	}
	sel := selectOf(c.q)
	if !checkSelect(c.w, sel, userProps, "user") {
		return
	}
	top := 100
	if v := c.q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 999 {
			badRequest(c.w, "Request_UnsupportedQuery", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", v))
			return
		}
		top = n
	}
	var flt *filterExpr
	if v := c.q.Get("$filter"); v != "" {
		var err error
		if flt, err = parseFilter(v); err != nil {
			badRequest(c.w, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified.")
			return
		}
	}
	off := 0
	if t := c.q.Get("$skiptoken"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "users:"))
		if err != nil || err2 != nil || n < 0 {
			badRequest(c.w, "Request_BadRequest", "The specified page token value has expired and can no longer be included in your request.")
			return
		}
		off = n
	}
	s.mu.Lock()
	var matched []*user
	for _, u := range s.order {
		if flt != nil {
			full := s.userJSONLocked(u, userAll)
			if !flt.match(mapGetter(full)) {
				continue
			}
		}
		matched = append(matched, u)
	}
	out := []map[string]any{}
	end := min(off+top, len(matched))
	for _, u := range matched[min(off, len(matched)):end] {
		out = append(out, s.userJSONLocked(u, sel))
	}
	s.mu.Unlock()
	resp := map[string]any{"@odata.context": s.baseURL + "/v1.0/$metadata#users", "value": out}
	if c.q.Get("$count") == "true" {
		resp["@odata.count"] = len(matched)
	}
	if end < len(matched) {
		resp["@odata.nextLink"] = s.pageLink(c, top, "$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("users:"+strconv.Itoa(end))))
	}
	graphJSON(c.w, http.StatusOK, resp)
}

func (s *Sandbox) directoryUser(c *call) {
	s.mu.Lock()
	u := s.userLocked(c.seg[1])
	s.mu.Unlock()
	if u == nil {
		graphError(c.w, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", c.seg[1]))
		return
	}
	if len(c.seg) == 3 {
		if c.r.Method != http.MethodPost {
			badRequest(c.w, "Request_BadRequest", "Unsupported method.")
			return
		}
		s.assignLicense(c, u)
		return
	}
	switch c.r.Method {
	case http.MethodGet:
		if !c.p.has("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All") {
			forbiddenDirectory(c.w)
			return
		}
		sel := selectOf(c.q)
		if !checkSelect(c.w, sel, userProps, "user") {
			return
		}
		s.mu.Lock()
		j := s.userJSONLocked(u, sel)
		s.mu.Unlock()
		j["@odata.context"] = s.baseURL + "/v1.0/$metadata#users/$entity"
		graphJSON(c.w, http.StatusOK, j)
	case http.MethodPatch:
		if !c.p.has("User.ReadWrite.All", "Directory.ReadWrite.All") {
			forbiddenDirectory(c.w)
			return
		}
		var in struct {
			DisplayName, UsageLocation, JobTitle *string
			AccountEnabled                       *bool
		}
		if err := decodeJSON(c.body, &in); err != nil {
			badRequest(c.w, "Request_BadRequest", "Invalid request body.")
			return
		}
		s.mu.Lock()
		if in.DisplayName != nil {
			u.displayName = *in.DisplayName
		}
		if in.UsageLocation != nil {
			u.usageLocation = *in.UsageLocation
		}
		if in.JobTitle != nil {
			u.jobTitle = *in.JobTitle
		}
		if in.AccountEnabled != nil {
			u.enabled = *in.AccountEnabled
		}
		s.mu.Unlock()
		c.w.WriteHeader(http.StatusNoContent)
	default:
		badRequest(c.w, "Request_BadRequest", "Unsupported method.")
	}
}

func (s *Sandbox) createUser(c *call) {
	if !c.p.has("User.ReadWrite.All", "Directory.ReadWrite.All") {
		forbiddenDirectory(c.w)
		return
	}
	var in struct {
		AccountEnabled    *bool  `json:"accountEnabled"`
		DisplayName       string `json:"displayName"`
		MailNickname      string `json:"mailNickname"`
		UserPrincipalName string `json:"userPrincipalName"`
		UsageLocation     string `json:"usageLocation"`
		GivenName         string `json:"givenName"`
		Surname           string `json:"surname"`
		JobTitle          string `json:"jobTitle"`
		PasswordProfile   *struct {
			Password string `json:"password"`
		} `json:"passwordProfile"`
	}
	if err := decodeJSON(c.body, &in); err != nil {
		badRequest(c.w, "Request_BadRequest", "Invalid request body.")
		return
	}
	for _, miss := range []struct {
		name string
		bad  bool
	}{{"accountEnabled", in.AccountEnabled == nil}, {"displayName", in.DisplayName == ""}, {"mailNickname", in.MailNickname == ""},
		{"userPrincipalName", in.UserPrincipalName == ""}, {"passwordProfile", in.PasswordProfile == nil || in.PasswordProfile.Password == ""}} {
		if miss.bad {
			badRequest(c.w, "Request_BadRequest", fmt.Sprintf("Invalid value specified for property '%s' of resource 'User'.", miss.name))
			return
		}
	}
	at := strings.LastIndexByte(in.UserPrincipalName, '@')
	if at < 1 || !strings.EqualFold(in.UserPrincipalName[at+1:], s.domain) {
		badRequest(c.w, "Request_BadRequest", "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.")
		return
	}
	s.mu.Lock()
	if s.byUPN[strings.ToLower(in.UserPrincipalName)] != nil {
		s.mu.Unlock()
		badRequest(c.w, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.")
		return
	}
	u := s.addUserLocked(in.UserPrincipalName, in.DisplayName, in.MailNickname, nil)
	u.enabled = *in.AccountEnabled
	u.usageLocation, u.jobTitle = in.UsageLocation, in.JobTitle
	if in.GivenName != "" || in.Surname != "" {
		u.givenName, u.surname = in.GivenName, in.Surname
	}
	j := s.userJSONLocked(u, nil)
	s.mu.Unlock()
	j["@odata.context"] = s.baseURL + "/v1.0/$metadata#users/$entity"
	graphJSON(c.w, http.StatusCreated, j)
}

func (s *Sandbox) assignLicense(c *call, u *user) {
	if !c.p.has("User.ReadWrite.All", "Directory.ReadWrite.All") {
		forbiddenDirectory(c.w)
		return
	}
	var in struct {
		AddLicenses    []assignedLicense `json:"addLicenses"`
		RemoveLicenses []string          `json:"removeLicenses"`
	}
	if err := decodeJSON(c.body, &in); err != nil || (in.AddLicenses == nil && in.RemoveLicenses == nil) {
		badRequest(c.w, "Request_BadRequest", "Invalid value specified for property 'addLicenses' of resource 'User'.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(in.AddLicenses) > 0 && u.usageLocation == "" {
		badRequest(c.w, "Request_BadRequest", "License assignment cannot be done for user with invalid usage location.")
		return
	}
	for _, l := range in.AddLicenses {
		var k *sku
		for _, x := range s.skus {
			if strings.EqualFold(x.id, l.SkuID) {
				k = x
			}
		}
		if k == nil {
			badRequest(c.w, "Request_BadRequest", fmt.Sprintf("License %s does not correspond to a valid company License.", l.SkuID))
			return
		}
		if s.consumedLocked(k.id) >= k.units {
			badRequest(c.w, "Request_BadRequest", fmt.Sprintf("Subscription with SKU %s does not have any available licenses.", k.id))
			return
		}
	}
	for _, id := range in.RemoveLicenses {
		u.licenses = slices.DeleteFunc(u.licenses, func(l assignedLicense) bool { return strings.EqualFold(l.SkuID, id) })
	}
	for _, l := range in.AddLicenses {
		if l.DisabledPlans == nil {
			l.DisabledPlans = []string{}
		}
		u.licenses = append(u.licenses, l)
		for _, k := range s.skus {
			if !strings.EqualFold(k.id, l.SkuID) {
				continue
			}
			for _, p := range k.plans {
				if strings.HasPrefix(p.name, "EXCHANGE_S_") && !slices.Contains(l.DisabledPlans, p.id) {
					s.provisionLocked(u)
				}
			}
		}
	}
	j := s.userJSONLocked(u, nil)
	j["@odata.context"] = s.baseURL + "/v1.0/$metadata#users/$entity"
	graphJSON(c.w, http.StatusOK, j)
}

// organization serves GET /organization: the tenant's one organization,
// whose countryLetterCode is the default usageLocation a licence needs.
func (s *Sandbox) organization(c *call) {
	if !c.p.has("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "User.Read.All", "User.ReadWrite.All") {
		forbiddenDirectory(c.w)
		return
	}
	if c.r.Method != http.MethodGet || len(c.seg) > 2 {
		badRequest(c.w, "Request_BadRequest", "Unsupported request.")
		return
	}
	org := map[string]any{
		"id":                s.tenantID,
		"displayName":       "Contoso sandbox",
		"countryLetterCode": "US",
		"verifiedDomains":   []map[string]any{{"name": s.domain, "isDefault": true, "isInitial": true, "type": "Managed", "capabilities": "Email, OfficeCommunicationsOnline"}},
	}
	if len(c.seg) == 2 {
		if c.seg[1] != s.tenantID {
			graphError(c.w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+c.seg[1]+"' does not exist or one of its queried reference-property objects are not present.")
			return
		}
		org["@odata.context"] = s.baseURL + "/v1.0/$metadata#organization/$entity"
		graphJSON(c.w, http.StatusOK, org)
		return
	}
	graphJSON(c.w, http.StatusOK, map[string]any{"@odata.context": s.baseURL + "/v1.0/$metadata#organization", "value": []map[string]any{org}})
}
