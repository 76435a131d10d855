package graph

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// graphAudience is the resource Graph tokens are issued for; the
// application id form is accepted too, as Graph itself does.
const (
	graphAudience   = "https://graph.microsoft.com"
	graphResourceID = "00000003-0000-0000-c000-000000000000"
	tokenLifetime   = 3599 * time.Second
)

// serveIdentity answers the identity platform endpoints the SDKs call:
// OpenID discovery, instance discovery, signing keys and the token
// endpoint.
func (s *Sandbox) serveIdentity(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) >= 3 && parts[0] == "common" && parts[1] == "discovery" && parts[2] == "instance" {
		s.instanceDiscovery(w, r)
		return
	}
	if len(parts) < 2 {
		http.NotFound(w, r)
		return
	}
	tenant, rest := parts[0], strings.Join(parts[1:], "/")
	switch rest {
	case "v2.0/.well-known/openid-configuration", ".well-known/openid-configuration":
		if !s.knownTenant(tenant) {
			s.aadError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf(
				"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
			return
		}
		s.openIDConfiguration(w)
	case "discovery/v2.0/keys", "discovery/keys":
		s.jwks(w)
	case "oauth2/v2.0/token":
		if r.Method != http.MethodPost {
			s.aadError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests.")
			return
		}
		s.token(w, r, tenant)
	default:
		http.NotFound(w, r)
	}
}

func (s *Sandbox) knownTenant(t string) bool {
	t = strings.ToLower(t)
	return t == strings.ToLower(s.tenantID) || t == s.domain
}

func (s *Sandbox) issuer() string { return s.baseURL + "/" + s.tenantID + "/v2.0" }

func (s *Sandbox) tokenEndpoint() string { return s.baseURL + "/" + s.tenantID + "/oauth2/v2.0/token" }

func (s *Sandbox) openIDConfiguration(w http.ResponseWriter) {
	b := s.baseURL + "/" + s.tenantID
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        b + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              b + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                s.issuer(),
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     s.baseURL + "/oidc/userinfo",
		"authorization_endpoint":                b + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         b + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  b + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"kerberos_endpoint":                     b + "/kerberos",
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          "graph.microsoft.com",
		"rbac_url":                              "https://pas.windows.net",
	})
}

func (s *Sandbox) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := strings.TrimPrefix(s.baseURL, "https://")
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": s.baseURL + "/" + s.tenantID + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host, "preferred_cache": host, "aliases": []string{host},
		}},
	})
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (s *Sandbox) jwks(w http.ResponseWriter) {
	pub := s.signKey.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "kid": s.kid, "x5t": s.kid,
		"n": b64url(pub.N.Bytes()), "e": b64url(big.NewInt(int64(pub.E)).Bytes()),
		"issuer": s.issuer(),
	}}})
}

// aadError writes the identity platform's error shape; the AADSTS code
// leads the description so that SDK errors quoting it are recognisable.
func (s *Sandbox) aadError(w http.ResponseWriter, status int, code string, aadsts int, msg string) {
	now := time.Now().UTC()
	trace, corr := newGUID(), newGUID()
	writeJSON(w, status, map[string]any{
		"error": code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			aadsts, msg, trace, corr, now.Format("2006-01-02 15:04:05Z")),
		"error_codes":    []int{aadsts},
		"timestamp":      now.Format("2006-01-02 15:04:05Z"),
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      s.baseURL + "/error?code=" + fmt.Sprint(aadsts),
	})
}

func (s *Sandbox) token(w http.ResponseWriter, r *http.Request, tenant string) {
	if err := r.ParseForm(); err != nil {
		s.aadError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	if !s.knownTenant(tenant) {
		s.aadError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf(
			"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
		return
	}
	f := r.PostForm
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		s.aadError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt))
		return
	}
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	if !strings.EqualFold(clientID, s.clientID) {
		s.aadError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, s.domain))
		return
	}
	s.mu.Lock()
	disabled := s.disabled
	s.mu.Unlock()
	if disabled {
		s.aadError(w, http.StatusUnauthorized, "unauthorized_client", 7000112, fmt.Sprintf("Application '%s'(mailferry) is disabled.", s.clientID))
		return
	}
	acr := "1"
	switch {
	case f.Get("client_assertion") != "":
		if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			s.aadError(w, http.StatusBadRequest, "invalid_request", 50027, "Invalid client_assertion_type.")
			return
		}
		if code, msg := s.checkAssertion(f.Get("client_assertion")); code != 0 {
			s.aadError(w, http.StatusUnauthorized, "invalid_client", code, msg)
			return
		}
		acr = "2"
	case secret != "":
		if secret != s.secret {
			s.aadError(w, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf(
				"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", s.clientID))
			return
		}
	default:
		s.aadError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	if !validScope(f.Get("scope")) {
		s.aadError(w, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf(
			"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", f.Get("scope")))
		return
	}
	tok, err := s.issue(acr)
	if err != nil {
		s.aadError(w, http.StatusInternalServerError, "server_error", 90033, "A transient error has occurred. Please try again.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": int(tokenLifetime.Seconds()), "ext_expires_in": int(tokenLifetime.Seconds()),
		"access_token": tok,
	})
}

// validScope wants exactly one Graph ".default" scope; MSAL may add the
// OpenID scopes, which client credentials ignore.
func validScope(scope string) bool {
	ok := false
	for _, sc := range strings.Fields(scope) {
		switch strings.ToLower(sc) {
		case "https://graph.microsoft.com/.default", graphResourceID + "/.default", "https://graph.microsoft.com//.default":
			ok = true
		case "openid", "profile", "offline_access":
		default:
			return false
		}
	}
	return ok
}

// checkAssertion verifies a client assertion signed with the key of a
// registered certificate, found by its x5t#S256 or x5t thumbprint.
func (s *Sandbox) checkAssertion(assertion string) (int, string) {
	var thumb string
	tok, err := jwt.Parse(assertion, func(t *jwt.Token) (any, error) {
		for _, h := range []string{"x5t#S256", "x5t"} {
			v, _ := t.Header[h].(string)
			if v == "" {
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
			}
			if err != nil {
				continue
			}
			thumb = hex.EncodeToString(raw)
			s.mu.Lock()
			c := s.certs[thumb]
			s.mu.Unlock()
			if c == nil {
				return nil, errUnknownKey
			}
			pub, ok := c.PublicKey.(*rsa.PublicKey)
			if !ok {
				return nil, errUnknownKey
			}
			return pub, nil
		}
		return nil, errUnknownKey
	}, jwt.WithValidMethods([]string{"RS256", "PS256"}), jwt.WithExpirationRequired())
	switch {
	case errors.Is(err, errUnknownKey):
		return 700027, fmt.Sprintf("Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '%s']", strings.ToUpper(thumb))
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet):
		return 700024, "Client assertion is not within its valid time range."
	case err != nil:
		return 700027, "Client assertion contains an invalid signature."
	}
	claims, _ := tok.Claims.(jwt.MapClaims)
	iss, _ := claims["iss"].(string)
	sub, _ := claims["sub"].(string)
	if !strings.EqualFold(iss, s.clientID) || !strings.EqualFold(sub, s.clientID) {
		return 700021, "Client assertion application identifier doesn't match 'client_id' parameter."
	}
	auds, _ := claims.GetAudience()
	okAud := false
	for _, a := range auds {
		if strings.HasPrefix(strings.ToLower(a), strings.ToLower(s.baseURL)+"/") {
			okAud = true
		}
	}
	if !okAud {
		return 700212, fmt.Sprintf("No matching federated identity record found for presented assertion audience '%s'.", strings.Join(auds, ","))
	}
	return 0, ""
}

var errUnknownKey = errors.New("unknown key")

// issue signs a Graph access token in the v1 shape Graph receives from
// Entra: roles are the app roles consented at issue time.
func (s *Sandbox) issue(acr string) (string, error) {
	now := time.Now()
	s.mu.Lock()
	roles := make([]string, 0, len(s.granted))
	for r := range s.granted {
		roles = append(roles, r)
	}
	s.mu.Unlock()
	slices.Sort(roles)
	claims := jwt.MapClaims{
		"aud": graphAudience, "iss": "https://sts.windows.net/" + s.tenantID + "/",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(tokenLifetime).Unix(),
		"app_displayname": "mailferry", "appid": s.clientID, "appidacr": acr,
		"idp": "https://sts.windows.net/" + s.tenantID + "/", "idtyp": "app",
		"oid": s.clientID, "sub": s.clientID, "tid": s.tenantID, "uti": randomHex(11), "ver": "1.0",
	}
	if len(roles) > 0 {
		claims["roles"] = roles
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = s.kid
	t.Header["x5t"] = s.kid
	return t.SignedString(s.signKey)
}

// principal is what a valid Graph token says about its caller.
type principal struct {
	roles map[string]bool
}

// authenticate checks a bearer token the way Graph does: signature,
// audience, tenant and lifetime. The roles that count are the token's
// roles that are still consented (see Revoke).
func (s *Sandbox) authenticate(r *http.Request) (*principal, string) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, "Access token is empty."
	}
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || raw == "" {
		return nil, "Access token is empty."
	}
	tok, err := jwt.Parse(raw, func(t *jwt.Token) (any, error) { return &s.signKey.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired())
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, "Lifetime validation failed, the token is expired."
		}
		return nil, "IDX14100: JWT is not well formed, or the signature is not valid."
	}
	c, _ := tok.Claims.(jwt.MapClaims)
	auds, _ := c.GetAudience()
	if !slices.Contains(auds, graphAudience) && !slices.Contains(auds, graphResourceID) {
		return nil, "Access token validation failure. Invalid audience."
	}
	if tid, _ := c["tid"].(string); !strings.EqualFold(tid, s.tenantID) {
		return nil, "Access token validation failure. Invalid issuer."
	}
	p := &principal{roles: map[string]bool{}}
	list, _ := c["roles"].([]any)
	s.mu.Lock()
	for _, v := range list {
		if r, _ := v.(string); s.granted[r] {
			p.roles[r] = true
		}
	}
	s.mu.Unlock()
	return p, ""
}

// has reports whether any of the roles is held; a ReadWrite role implies
// its Read role, as in Graph's permission model.
func (p *principal) has(roles ...string) bool {
	for _, r := range roles {
		if p.roles[r] {
			return true
		}
	}
	return false
}
