// Package agent reaches a platform through an outbound-only connector
// ("agent") running inside a customer's network, typically next to an
// Exchange server the platform cannot reach.
//
// The agent only makes outbound HTTPS requests to the project service: it
// long-polls for work and streams results back. Inside the platform, a
// connector call travels over NATS:
//
//	discovery / transfer / project         project instance holding the poll          agent
//	Connector.ReadItem ──request agent.call.<agent>──▶ Relay queues the call ──poll answer──▶ Dispatch
//	       ▲  subscribed to agent.reply.<agent>.<call>                                            │
//	       └──────── result chunks (request/ack each) ◀── any project instance ◀── POST results ───┘
//
// Connector is the platform.Connector the services open for a project side
// whose credentials name an agent (libs/connect does that); Relay is the
// part of the project service that owns the long polls. Any project
// instance may hold an agent's poll: it subscribes to the agent's call
// subject in a queue group only while it holds the poll (plus a short
// linger), so a call goes to an instance that can deliver it. Results and
// content downloads may reach any instance, because their subjects are
// derived from the agent's (authenticated) id and the call's random id.
//
// A call's life, as its caller sees it: the relay answers "queued" and
// repeats it every few seconds while the agent is busy; "accepted" when
// the call went out in a poll answer; "running" with each poll while the
// agent executes it; then the result. A relay losing the poll answers
// "requeue" and the caller sends the call again; when nothing is heard for
// the liveness interval (a crashed relay, an answer lost on the way to the
// agent) the caller sends it again too, under a new call id. Every
// contract operation is idempotent, so a call executed twice does no harm.
// When no instance holds the agent for OfflineWait, the call fails with
// agent_offline naming the agent and its last contact.
package agent

import (
	"time"

	"github.com/mailferry/mailferry/libs/connectors/agent/wire"
)

// Error codes of the agent hop (documented in docs/errors.md).
const (
	CodeOffline = wire.CodeOffline
	CodeRevoked = wire.CodeRevoked
)

// FieldAgentID is the credential field naming the agent of a project side.
const FieldAgentID = "agentId"

// Subjects. They are outside every stream's subjects: calls and results
// are core NATS messages, never stored.
func callSubject(agentID string) string            { return "agent.call." + agentID }
func replySubject(agentID, callID string) string   { return "agent.reply." + agentID + "." + callID }
func contentSubject(agentID, callID string) string { return "agent.content." + agentID + "." + callID }

// Headers of the messages on a call's reply subject.
const (
	hKind = "Mf-Agent-Kind"
	hSeq  = "Mf-Agent-Seq"
	hPart = "Mf-Agent-Part"
	hSize = "Mf-Agent-Size"
	hGone = "Mf-Agent-Gone"
)

// Kinds of message on a call's reply subject.
const (
	kindQueued   = "queued"
	kindAccepted = "accepted"
	kindRunning  = "running"
	kindRequeue  = "requeue"
	kindFail     = "fail"
	kindResult   = "result"
)

// Parts of a result stream.
const (
	partMeta    = "meta"
	partContent = "content"
	partEnd     = "end"
)

// Info is what the project service knows of an agent, as its query
// "agent" answers.
type Info struct {
	AgentID     string    `json:"agentId"`
	AccountID   string    `json:"accountId"`
	Name        string    `json:"name"`
	Revoked     bool      `json:"revoked"`
	Connected   bool      `json:"connected"`
	LastContact time.Time `json:"lastContact,omitzero"`
}

// QueryService and QueryEndpoint name the project service's query that
// answers Info for {"agentId": ...}.
const (
	QueryService  = "project"
	QueryEndpoint = "agent"
)

// ChunkSize is the largest piece of content one NATS message carries,
// below any server's max_payload (1 MB by default).
func chunkSize(maxPayload int64) int {
	n := int64(1 << 20)
	if maxPayload > 0 && maxPayload-(16<<10) < n {
		n = maxPayload - (16 << 10)
	}
	if n < 4<<10 {
		n = 4 << 10
	}
	return int(n)
}
