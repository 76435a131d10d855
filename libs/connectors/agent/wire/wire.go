// Package wire is the language the outbound connector ("agent") and the
// platform speak: the connector calls the platform hands to an agent, the
// results it sends back, the errors with their codes, and the HTTP bodies
// of registration and polling. It also executes a call on the agent's
// local connector (Dispatch), so the agent program and the tests share one
// implementation of every contract operation.
//
// It depends on nothing but the connector contract: the agent program
// links it without the bus.
package wire

import (
	"encoding/json"
	"errors"
	"regexp"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// Limits of one hop through an agent.
const (
	// MaxContent is the largest item content (Item.Content,
	// NativeItem.Data) a call or result may carry: Microsoft Graph's and
	// Gmail's 150 MB upload limit, rounded up to 150 MiB.
	MaxContent = 150 << 20
	// MaxMeta bounds the JSON of one result (a list of 100,000 mailboxes
	// is about 20 MB).
	MaxMeta = 64 << 20
	// InlineMax is the largest content that travels inside a call itself;
	// larger content is fetched by the agent in a separate, streamed
	// request.
	InlineMax = 256 << 10
	// MaxPollWait is the longest a poll is held open without work.
	MaxPollWait = 25 * time.Second
	// MaxCalls is the most calls one poll answer hands out.
	MaxCalls = 64
)

// Error codes of the agent hop (documented in docs/errors.md).
const (
	// CodeOffline: no project instance holds the agent's poll, or the
	// agent stopped answering a call it accepted.
	CodeOffline errs.Code = "agent_offline"
	// CodeRevoked: the agent was revoked; its calls fail at once, and
	// its polls are refused with 401.
	CodeRevoked errs.Code = "agent_revoked"
)

// Ops: one per method of the connector contract and its optional
// interfaces.
const (
	OpLimits            = "limits"
	OpListMailboxes     = "listMailboxes"
	OpFolders           = "folders"
	OpItems             = "items"
	OpReadItem          = "readItem"
	OpStats             = "stats"
	OpEnsureFolder      = "ensureFolder"
	OpFindByMarker      = "findByMarker"
	OpWriteItem         = "writeItem"
	OpDeleteItem        = "deleteItem"
	OpVerify            = "verify"
	OpNativeReadFormat  = "nativeReadFormat"
	OpReadNative        = "readNative"
	OpNativeWriteFormat = "nativeWriteFormat"
	OpWriteNative       = "writeNative"
	OpDeleteNative      = "deleteNative"
	OpCreateMailbox     = "createMailbox"
)

// Args are a call's arguments; each op uses the fields of its method.
// Item and Native travel without their content, which goes separately.
type Args struct {
	MailboxID string               `json:"mailboxId,omitempty"`
	FolderID  string               `json:"folderId,omitempty"`
	Token     string               `json:"token,omitempty"`
	Marker    string               `json:"marker,omitempty"`
	Ref       *platform.ItemRef    `json:"ref,omitempty"`
	Folder    *platform.Folder     `json:"folder,omitempty"`
	Item      *platform.Item       `json:"item,omitempty"`
	Placed    *platform.Placed     `json:"placed,omitempty"`
	Native    *platform.NativeItem `json:"native,omitempty"`
	Mailbox   *platform.Mailbox    `json:"mailbox,omitempty"`
}

// Call is one connector call handed to an agent.
type Call struct {
	// ID addresses the call's answer; it is unique per attempt.
	ID   string `json:"id"`
	Op   string `json:"op"`
	Args Args   `json:"args"`
	// Content is the item's content when it is at most InlineMax bytes.
	Content []byte `json:"content,omitempty"`
	// ContentSize is the content's length; when it is larger than
	// Content, the agent fetches it with GET /api/agent/calls/{id}/content.
	ContentSize int64 `json:"contentSize,omitempty"`
}

// NeedsFetch reports whether the call's content must be fetched.
func (c Call) NeedsFetch() bool { return c.ContentSize > int64(len(c.Content)) }

// Result is the answer to a call: a value or an error. Contents travel
// beside it (ContentSize bytes), not inside Value.
type Result struct {
	CallID      string          `json:"callId"`
	Value       json.RawMessage `json:"value,omitempty"`
	Error       *Error          `json:"error,omitempty"`
	ContentSize int64           `json:"contentSize,omitempty"`
}

// Error is an error on the wire. A coded error keeps its code, cause,
// action, field and the platform's Retry-After across the hop; an uncoded
// one keeps its text and stays uncoded, so that the caller's retry rules
// treat it exactly as they would locally.
type Error struct {
	Code         errs.Code `json:"code,omitempty"`
	Cause        string    `json:"cause"`
	Action       string    `json:"action,omitempty"`
	Field        string    `json:"field,omitempty"`
	RetryAfterMs int64     `json:"retryAfterMs,omitempty"`
}

// EncodeError turns err into its wire form, passing every text through
// scrub (nil: none) so that no secret of the local connector can leave.
func EncodeError(err error, scrub func(string) string) *Error {
	if err == nil {
		return nil
	}
	if scrub == nil {
		scrub = func(s string) string { return s }
	}
	if e, ok := errs.As(err); ok {
		cause := e.Cause
		if e.Err != nil {
			cause += ": " + e.Err.Error()
		}
		return &Error{Code: e.Code, Cause: scrub(cause), Action: scrub(e.Action), Field: e.Field, RetryAfterMs: e.RetryAfter.Milliseconds()}
	}
	return &Error{Cause: scrub(err.Error())}
}

// Err returns the error e stands for.
func (e *Error) Err() error {
	if e == nil {
		return nil
	}
	if e.Code == "" {
		return errors.New(e.Cause)
	}
	return &errs.Error{Code: e.Code, Cause: e.Cause, Action: e.Action, Field: e.Field, RetryAfter: time.Duration(e.RetryAfterMs) * time.Millisecond}
}

// idPattern is what ids that become NATS subject tokens must look like.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,80}$`)

// ValidID reports whether id may be used as a subject token: call and
// agent ids both end up in NATS subjects, where dots and wildcards would
// address something else.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Health values an agent reports.
const (
	HealthOK = "ok"
	// HealthDegraded: the local platform failed the latest call for a
	// reason that is not about one item (unreachable, credentials).
	HealthDegraded = "degraded"
	// HealthUnconfigured: no local connector is configured yet.
	HealthUnconfigured = "unconfigured"
)

// Status is what an agent reports with every poll.
type Status struct {
	Version     string    `json:"version"`
	OS          string    `json:"os,omitempty"`
	Health      string    `json:"health"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	// Platform is the kind of the local connector (exchange, memory).
	Platform string `json:"platform,omitempty"`
}

// RegisterRequest is the body of POST /api/agent/register.
type RegisterRequest struct {
	Token   string `json:"token"`
	Name    string `json:"name"`
	Version string `json:"version"`
	OS      string `json:"os"`
}

// RegisterResponse answers a registration; Credential is shown once.
type RegisterResponse struct {
	AgentID    string `json:"agentId"`
	AccountID  string `json:"accountId"`
	Credential string `json:"credential"`
	Note       string `json:"note,omitempty"`
}

// PollRequest is the body of POST /api/agent/poll.
type PollRequest struct {
	Status Status `json:"status"`
	// Capacity is how many calls the agent can start now; 0 makes the
	// poll a heartbeat.
	Capacity int `json:"capacity"`
	// Running are the ids of the calls the agent is executing, so their
	// callers know they are alive.
	Running []string `json:"running,omitempty"`
	// WaitSeconds asks for a shorter hold than MaxPollWait.
	WaitSeconds int `json:"waitSeconds,omitempty"`
}

// PollResponse carries calls; an empty poll is answered 204 instead.
type PollResponse struct {
	Calls []Call `json:"calls"`
}
