package ews

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
)

// connState is what IIS remembers about one TCP connection: a pending
// NTLM challenge and, once the handshake succeeded, the account the
// connection is authenticated as (IIS keeps NTLM authentication for the
// connection's lifetime, so later requests need no Authorization header).
type connState struct {
	mu        sync.Mutex
	challenge *[8]byte
	scheme    string
	user      *account
}

type connKey struct{}

func withConnState(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{})
}

func stateOf(r *http.Request) *connState {
	if c, ok := r.Context().Value(connKey{}).(*connState); ok {
		return c
	}
	return &connState{}
}

// authenticate returns the caller, or writes the 401 (with a challenge in
// the middle of an NTLM handshake) and returns nil.
func (s *Sandbox) authenticate(w http.ResponseWriter, r *http.Request) *account {
	cs := stateOf(r)
	h := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	switch {
	case h == "":
		cs.mu.Lock()
		u := cs.user
		cs.mu.Unlock()
		if u != nil {
			return u
		}
	case strings.EqualFold(scheme, "Basic") && !s.cfg.DisableBasic:
		raw, err := base64.StdEncoding.DecodeString(token)
		if err == nil {
			name, pw, _ := strings.Cut(string(raw), ":")
			if a, stored := s.lookupLogon(name, ""); a != nil && subtle.ConstantTimeCompare([]byte(stored), []byte(pw)) == 1 {
				return a
			}
		}
	case (strings.EqualFold(scheme, "NTLM") || strings.EqualFold(scheme, "Negotiate")) && !s.cfg.DisableNTLM:
		raw, err := base64.StdEncoding.DecodeString(token)
		if err != nil {
			break
		}
		switch ntlmMessageType(raw) {
		case 1:
			msg, ch := ntlmChallenge(s.nbDomain, s.domain, s.host)
			cs.mu.Lock()
			cs.challenge, cs.scheme, cs.user = &ch, scheme, nil
			cs.mu.Unlock()
			w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(msg))
			s.unauthorized(w, false)
			return nil
		case 3:
			cs.mu.Lock()
			ch := cs.challenge
			cs.challenge = nil
			cs.mu.Unlock()
			am, err := parseNTLMAuthenticate(raw)
			if ch == nil || err != nil {
				break
			}
			if a, stored := s.lookupLogon(am.user, am.domain); a != nil && verifyNTLMv2(am, *ch, stored) {
				cs.mu.Lock()
				cs.user = a
				cs.mu.Unlock()
				return a
			}
		}
		// Any other token (SPNEGO-wrapped Kerberos) is not understood.
	}
	s.unauthorized(w, true)
	return nil
}

// unauthorized answers 401 as IIS does for EWS: the schemes offered, in
// IIS's order, unless a challenge is already set.
func (s *Sandbox) unauthorized(w http.ResponseWriter, offer bool) {
	if offer {
		if !s.cfg.DisableNTLM {
			w.Header().Add("WWW-Authenticate", "Negotiate")
			w.Header().Add("WWW-Authenticate", "NTLM")
		}
		if !s.cfg.DisableBasic {
			w.Header().Add("WWW-Authenticate", `Basic realm="`+s.host+`"`)
		}
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}

// lookupLogon finds an account by the forms Windows accepts: user with
// the NT or DNS domain (or none), DOMAIN\user, and the UPN, and returns it
// with its current password.
func (s *Sandbox) lookupLogon(name, domain string) (*account, string) {
	name = strings.TrimSpace(name)
	if d, u, ok := strings.Cut(name, `\`); ok {
		domain, name = d, u
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var a *account
	switch {
	case strings.Contains(name, "@") && domain == "":
		a = s.bySMTP[strings.ToLower(name)]
	case domain != "" && !strings.EqualFold(domain, s.nbDomain) && !strings.EqualFold(domain, s.domain):
	default:
		a = s.accounts[strings.ToLower(name)]
	}
	if a == nil {
		return nil, ""
	}
	return a, a.Password
}
