package google

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// Google's token endpoint answers these descriptions; connectors and
// their users recognise them, so they are kept word for word.
const (
	descBadSignature = "Invalid JWT Signature."
	descNoAccount    = "Invalid grant: account not found"
	descBadTime      = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	descBadSubject   = "Invalid email or User ID"
	descUnauthorized = "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."
	descBadScope     = "Invalid OAuth scope or ID token audience provided."
)

type project struct{ id, number string }

type serviceAccount struct {
	email, clientID string
	project         *project
	keys            map[string]*saKey // by private_key_id
	order           []*saKey
}

type saKey struct {
	id      string
	priv    *rsa.PrivateKey
	deleted bool
}

// grant is what an access token stands for.
type grant struct {
	clientID string
	account  string // service account email
	subject  *user  // nil without domain-wide delegation
	scopes   map[string]bool
	expires  time.Time
}

func (s *Sandbox) newServiceAccount(p *project, name string) (*serviceAccount, error) {
	sa := &serviceAccount{
		email:    name + "@" + p.id + ".iam.gserviceaccount.com",
		clientID: "1" + randomDigits(20),
		project:  p,
		keys:     map[string]*saKey{},
	}
	if _, err := s.addKey(sa); err != nil {
		return nil, err
	}
	s.accounts[sa.email] = sa
	return sa, nil
}

func (s *Sandbox) addKey(sa *serviceAccount) (*saKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("google sandbox: service account key: %w", err)
	}
	k := &saKey{id: randomHex(20), priv: priv}
	sa.keys[k.id] = k
	sa.order = append(sa.order, k)
	return k, nil
}

func (s *Sandbox) mainAccount() *serviceAccount {
	for _, sa := range s.accounts {
		if sa.project == s.project {
			return sa
		}
	}
	return nil
}

// keyJSON renders a key file exactly as the Cloud console downloads it,
// with the URIs pointing at this sandbox.
func (s *Sandbox) keyJSON(sa *serviceAccount, k *saKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("google sandbox: encode key: %w", err)
	}
	b, err := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  sa.project.id,
		"private_key_id":              k.id,
		"private_key":                 string(pemBlock("PRIVATE KEY", der)),
		"client_email":                sa.email,
		"client_id":                   sa.clientID,
		"auth_uri":                    s.baseURL + "/o/oauth2/auth",
		"token_uri":                   s.TokenURL(),
		"auth_provider_x509_cert_url": s.baseURL + "/oauth2/v1/certs",
		"client_x509_cert_url":        s.baseURL + "/robot/v1/metadata/x509/" + url.PathEscape(sa.email),
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("google sandbox: encode key: %w", err)
	}
	return append(b, '\n'), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// ServiceAccountKey is the JSON key file of mailferry's service account,
// whose client id holds domain-wide delegation of RequiredScopes. Call it
// after Start: the file names the sandbox's token URL.
func (s *Sandbox) ServiceAccountKey() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa := s.mainAccount()
	for _, k := range sa.order {
		if !k.deleted {
			b, _ := s.keyJSON(sa, k)
			return b
		}
	}
	return nil
}

// ClientID is the service account's OAuth client id, the one an
// administrator enters under domain-wide delegation.
func (s *Sandbox) ClientID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mainAccount().clientID
}

// ClientEmail is the service account's address.
func (s *Sandbox) ClientEmail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mainAccount().email
}

// NewKey adds a key to the service account and returns its key file and
// id, as "Add key" in the Cloud console does.
func (s *Sandbox) NewKey() (keyFile []byte, keyID string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa := s.mainAccount()
	k, err := s.addKey(sa)
	if err != nil {
		return nil, "", err
	}
	b, err := s.keyJSON(sa, k)
	return b, k.id, err
}

// DeleteKey deletes a key; assertions it signs fail from then on as
// Google's do ("Invalid JWT Signature.").
func (s *Sandbox) DeleteKey(keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sa := range s.accounts {
		if k := sa.keys[keyID]; k != nil {
			k.deleted = true
		}
	}
}

// ForeignKey creates a service account in another Cloud project, without
// any delegation in this Workspace, and returns its key file: what a
// customer uploads when they picked the wrong project's key.
func (s *Sandbox) ForeignKey() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &project{id: "other-project-" + randomDigits(6), number: randomDigits(12)}
	sa, err := s.newServiceAccount(p, "mailferry")
	if err != nil {
		return nil, err
	}
	return s.keyJSON(sa, sa.order[0])
}

// Delegate grants scopes to a client id under domain-wide delegation, as
// an administrator does in the Admin console.
func (s *Sandbox) Delegate(clientID string, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.delegation[clientID]
	if m == nil {
		m = map[string]bool{}
		s.delegation[clientID] = m
	}
	for _, sc := range scopes {
		m[sc] = true
	}
}

// Undelegate withdraws scopes (all of them when none is named). Tokens
// already issued keep their scopes until they expire, as Google's do; see
// ExpireTokens.
func (s *Sandbox) Undelegate(clientID string, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(scopes) == 0 {
		delete(s.delegation, clientID)
		return
	}
	for _, sc := range scopes {
		delete(s.delegation[clientID], sc)
	}
}

// ExpireTokens ends every access token issued so far, so that tests see
// the 401 a client gets when its token expires mid-run.
func (s *Sandbox) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.tokens {
		g.expires = time.Time{}
	}
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// serveToken is the OAuth 2.0 token endpoint for the JWT bearer grant
// (RFC 7523) that service accounts use.
func (s *Sandbox) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "Only POST is supported.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "Could not read the request body.")
		return
	}
	gt := r.PostForm.Get("grant_type")
	switch {
	case gt == "":
		tokenError(w, http.StatusBadRequest, "invalid_request", "Required parameter is missing: grant_type")
		return
	case gt != jwtBearer:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	assertion := r.PostForm.Get("assertion")
	if assertion == "" {
		tokenError(w, http.StatusBadRequest, "invalid_request", "Required parameter is missing: assertion")
		return
	}
	g, status, code, desc := s.checkAssertion(assertion)
	if g == nil {
		tokenError(w, status, code, desc)
		return
	}
	tok := "ya29.c." + base64.RawURLEncoding.EncodeToString(randomBytes(96))
	s.mu.Lock()
	s.tokens[tok] = g
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "expires_in": int(s.cfg.TokenLifetime.Seconds()), "token_type": "Bearer",
	})
}

var errNoKey = errors.New("no such key")

// checkAssertion verifies a service account's signed JWT the way Google's
// token endpoint does and returns the grant, or the status, error code
// and description to answer.
func (s *Sandbox) checkAssertion(assertion string) (*grant, int, string, string) {
	var claims jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(assertion, &claims); err != nil {
		return nil, http.StatusBadRequest, "invalid_grant", descBadSignature
	}
	iss, _ := claims["iss"].(string)
	s.mu.Lock()
	sa := s.accounts[strings.ToLower(iss)]
	s.mu.Unlock()
	if sa == nil {
		return nil, http.StatusBadRequest, "invalid_grant", descNoAccount
	}
	var parsed jwt.MapClaims
	_, err := jwt.ParseWithClaims(assertion, &parsed, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		s.mu.Lock()
		defer s.mu.Unlock()
		if k := sa.keys[kid]; k != nil && !k.deleted {
			return &k.priv.PublicKey, nil
		}
		if kid == "" {
			// Without a key id Google tries the account's keys.
			var keys []any
			for _, k := range sa.order {
				if !k.deleted {
					keys = append(keys, &k.priv.PublicKey)
				}
			}
			if len(keys) > 0 {
				return jwt.VerificationKeySet{Keys: toVerificationKeys(keys)}, nil
			}
		}
		return nil, errNoKey
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		return nil, http.StatusBadRequest, "invalid_grant", descBadSignature
	}
	now := time.Now()
	iat, errI := parsed.GetIssuedAt()
	exp, errE := parsed.GetExpirationTime()
	if errI != nil || errE != nil || iat == nil || exp == nil ||
		exp.Sub(iat.Time) > time.Hour || exp.Before(now) || iat.After(now.Add(5*time.Minute)) {
		return nil, http.StatusBadRequest, "invalid_grant", descBadTime
	}
	auds, _ := parsed.GetAudience()
	if !slices.ContainsFunc(auds, func(a string) bool {
		return a == s.TokenURL() || a == s.baseURL+"/oauth2/v4/token" || a == s.baseURL+"/o/oauth2/token"
	}) {
		return nil, http.StatusBadRequest, "invalid_grant", "Invalid JWT: Failed audience check. The right audience is " + s.TokenURL()
	}
	scope, _ := parsed["scope"].(string)
	scopes := strings.Fields(scope)
	if len(scopes) == 0 {
		return nil, http.StatusBadRequest, "invalid_scope", descBadScope
	}
	g := &grant{clientID: sa.clientID, account: sa.email, scopes: map[string]bool{}, expires: now.Add(s.cfg.TokenLifetime)}
	for _, sc := range scopes {
		g.scopes[sc] = true
	}
	sub, _ := parsed["sub"].(string)
	if sub == "" {
		sub, _ = parsed["prn"].(string)
	}
	if sub == "" {
		return g, 0, "", ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delegated := s.delegation[sa.clientID]
	for _, sc := range scopes {
		if !delegated[sc] {
			return nil, http.StatusUnauthorized, "unauthorized_client", descUnauthorized
		}
	}
	u := s.userLocked(sub)
	if u == nil || u.suspended || u.deleted {
		return nil, http.StatusBadRequest, "invalid_grant", descBadSubject
	}
	g.subject = u
	return g, 0, "", ""
}

func toVerificationKeys(keys []any) []jwt.VerificationKey {
	out := make([]jwt.VerificationKey, len(keys))
	for i, k := range keys {
		out[i] = k
	}
	return out
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// authenticate resolves the bearer token; on failure it has answered 401
// with Google's body.
func (s *Sandbox) authenticate(w http.ResponseWriter, r *http.Request) *grant {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if h == "" || !ok || raw == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/"`)
		writeErr(w, apiErr{code: 401, reason: "required", location: "Authorization", locationType: "header",
			msg: "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."})
		return nil
	}
	s.mu.Lock()
	g := s.tokens[raw]
	s.mu.Unlock()
	if g == nil || time.Now().After(g.expires) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		writeErr(w, apiErr{code: 401, reason: "authError", location: "Authorization", locationType: "header",
			msg: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."})
		return nil
	}
	return g
}

// userID forms a Directory user id (21 digits) from the address, so that
// seeded tenants get the same ids every time.
func userID(email string) string {
	h := sha256.Sum256([]byte("user|" + strings.ToLower(email)))
	n := new(big.Int).SetBytes(h[:12])
	n.Mod(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil))
	return fmt.Sprintf("1%020d", n)
}

func shortHash(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "|")))
	return hex.EncodeToString(h[:8])
}
