// Package agentreg is the project service's read model of outbound
// connector agents and their one-time registration tokens, rebuilt in
// every process from the PROJECT stream. Tokens and credentials are known
// only by their SHA-256.
package agentreg

import (
	"sort"
	"sync"
	"time"

	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/bus"
)

// Token is a registration token's record.
type Token struct {
	ID        string    `json:"tokenId"`
	AccountID string    `json:"accountId"`
	Label     string    `json:"label,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	Redeemed  bool      `json:"redeemed"`
	AgentID   string    `json:"agentId,omitempty"`
	// Seq is the token subject's last sequence, which redeeming expects.
	Seq uint64 `json:"-"`
}

// Agent is an agent's record.
type Agent struct {
	ID         string     `json:"id"`
	AccountID  string     `json:"accountId"`
	Name       string     `json:"name"`
	Version    string     `json:"version,omitempty"`
	OS         string     `json:"os,omitempty"`
	Health     string     `json:"health,omitempty"`
	Registered time.Time  `json:"registered"`
	Revoked    bool       `json:"revoked"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
	// Seq is the agent subject's last sequence.
	Seq  uint64 `json:"-"`
	cred string
}

// Registry is safe for concurrent readers while the bus applies events.
type Registry struct {
	mu      sync.RWMutex
	tokens  map[string]*Token
	byHash  map[string]string // token hash -> token id
	agents  map[string]*Agent
	byCred  map[string]string // credential hash -> agent id
	revoked func(agentID string)
}

// New returns an empty registry. onRevoke, if not nil, is called (under no
// lock of the registry) for each revocation applied.
func New(onRevoke func(agentID string)) *Registry {
	return &Registry{tokens: map[string]*Token{}, byHash: map[string]string{}, agents: map[string]*Agent{}, byCred: map[string]string{}, revoked: onRevoke}
}

// Apply applies one event; others are ignored.
func (r *Registry) Apply(env bus.Envelope) {
	var revoked string
	r.mu.Lock()
	switch e := env.Event.(type) {
	case project.AgentTokenCreated:
		r.tokens[e.TokenID] = &Token{ID: e.TokenID, AccountID: e.AccountID, Label: e.Label, Created: env.Time, Expires: e.Expires, Seq: env.Seq}
		r.byHash[e.TokenHash] = e.TokenID
	case project.AgentTokenRedeemed:
		if t := r.tokens[e.TokenID]; t != nil {
			t.Redeemed, t.AgentID, t.Seq = true, e.AgentID, env.Seq
		}
	case project.AgentRegistered:
		r.agents[e.AgentID] = &Agent{ID: e.AgentID, AccountID: e.AccountID, Name: e.Name, Version: e.Version, OS: e.OS, Registered: env.Time, Seq: env.Seq, cred: e.CredentialHash}
		r.byCred[e.CredentialHash] = e.AgentID
	case project.AgentStatusChanged:
		if a := r.agents[e.AgentID]; a != nil {
			a.Version, a.Health, a.Seq = e.Version, e.Health, env.Seq
		}
	case project.AgentRevoked:
		if a := r.agents[e.AgentID]; a != nil {
			at := env.Time
			a.Revoked, a.RevokedAt, a.Seq = true, &at, env.Seq
			revoked = a.ID
		}
	}
	r.mu.Unlock()
	if revoked != "" && r.revoked != nil {
		r.revoked(revoked)
	}
}

// TokenByHash returns the token with this hash.
func (r *Registry) TokenByHash(hash string) (Token, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.tokens[r.byHash[hash]]
	if !ok {
		return Token{}, false
	}
	return *t, true
}

// AgentByCredential returns the agent whose credential has this hash.
func (r *Registry) AgentByCredential(hash string) (Agent, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.agents[r.byCred[hash]]
	if !ok {
		return Agent{}, false
	}
	return *a, true
}

// Agent returns an agent.
func (r *Registry) Agent(id string) (Agent, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.agents[id]
	if !ok {
		return Agent{}, false
	}
	return *a, true
}

// Agents lists an account's agents by name, then id.
func (r *Registry) Agents(accountID string) []Agent {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := []Agent{}
	for _, a := range r.agents {
		if a.AccountID == accountID {
			out = append(out, *a)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}
