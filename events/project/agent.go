package project

import (
	"time"

	"github.com/mailferry/mailferry/events"
)

// The outbound connector ("agent") registry. An agent runs inside a
// customer's network and reaches the platform only by outbound HTTPS; the
// registry records how it was admitted (a one-time token) and whether its
// credential still works. Secrets never travel: only SHA-256 hashes of the
// token and the credential. Live presence (last contact, connected, last
// error) changes every few seconds and lives in the KV bucket
// agent_presence instead of this stream.

// AgentTokenCreated records a one-time registration token. Only its hash
// travels; the token is shown once to whoever created it.
type AgentTokenCreated struct {
	AccountID string    `json:"accountId"`
	TokenID   string    `json:"tokenId"`
	TokenHash string    `json:"tokenHash"`
	Label     string    `json:"label,omitempty"`
	Expires   time.Time `json:"expires"`
}

// AgentTokenRedeemed uses a token up. It is appended with the token's
// subject sequence expected, so two registrations racing for one token
// cannot both win.
type AgentTokenRedeemed struct {
	AccountID string `json:"accountId"`
	TokenID   string `json:"tokenId"`
	AgentID   string `json:"agentId"`
}

// AgentRegistered admits an agent. CredentialHash is the SHA-256 of the
// credential the agent authenticates with from now on.
type AgentRegistered struct {
	AccountID      string `json:"accountId"`
	AgentID        string `json:"agentId"`
	TokenID        string `json:"tokenId"`
	Name           string `json:"name"`
	Version        string `json:"version,omitempty"`
	OS             string `json:"os,omitempty"`
	CredentialHash string `json:"credentialHash"`
}

// AgentStatusChanged records a change of the version or health an agent
// reports, so its history is on record; the report itself comes with
// every poll.
type AgentStatusChanged struct {
	AccountID string `json:"accountId"`
	AgentID   string `json:"agentId"`
	Version   string `json:"version,omitempty"`
	Health    string `json:"health"`
}

// AgentRevoked makes an agent's credential unusable at once.
type AgentRevoked struct {
	AccountID string `json:"accountId"`
	AgentID   string `json:"agentId"`
}

func (AgentTokenCreated) EventType() string  { return "project.agent_token_created" }
func (AgentTokenRedeemed) EventType() string { return "project.agent_token_redeemed" }
func (AgentRegistered) EventType() string    { return "project.agent_registered" }
func (AgentStatusChanged) EventType() string { return "project.agent_status_changed" }
func (AgentRevoked) EventType() string       { return "project.agent_revoked" }

// AgentTokenSubject is the subject of a registration token's aggregate.
func AgentTokenSubject(tokenID string) string { return "project.agenttoken." + tokenID }

// AgentSubject is the subject of an agent's aggregate.
func AgentSubject(agentID string) string { return "project.agent." + agentID }

func init() {
	p := []string{"project"}
	events.Register[AgentTokenCreated](events.Spec{Name: "project.agent_token_created", Version: 1, Subject: "project.agenttoken.{tokenId}", Publishers: p, Consumers: p, Doc: "A one-time agent registration token was created; only its SHA-256 and expiry are recorded."})
	events.Register[AgentTokenRedeemed](events.Spec{Name: "project.agent_token_redeemed", Version: 1, Subject: "project.agenttoken.{tokenId}", Publishers: p, Consumers: p, Doc: "A registration token was used; appended with the token's subject sequence expected, so it can be used once."})
	events.Register[AgentRegistered](events.Spec{Name: "project.agent_registered", Version: 1, Subject: "project.agent.{agentId}", Publishers: p, Consumers: p, Doc: "An outbound connector agent registered; carries the SHA-256 of its credential, never the credential."})
	events.Register[AgentStatusChanged](events.Spec{Name: "project.agent_status_changed", Version: 1, Subject: "project.agent.{agentId}", Publishers: p, Consumers: p, Doc: "The version or health an agent reports changed."})
	events.Register[AgentRevoked](events.Spec{Name: "project.agent_revoked", Version: 1, Subject: "project.agent.{agentId}", Publishers: p, Consumers: p, Doc: "An agent was revoked: its credential stops working and its open poll ends."})
}
