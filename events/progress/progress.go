// Package progress holds the high-volume progress event. It lives on its own
// stream with an age limit, batched to about one event per mailbox per
// second, so its volume follows the number of mailboxes, not items.
package progress

import "github.com/mailferry/mailferry/events"

// Health of a mailbox transfer.
const (
	Healthy   = "healthy"
	Throttled = "throttled"
	Failing   = "failing"
	Completed = "completed"
)

// MailboxProgress is a snapshot of one mailbox in a run.
type MailboxProgress struct {
	RunID         string `json:"runId"`
	ProjectID     string `json:"projectId"`
	AccountID     string `json:"accountId"`
	SourceID      string `json:"sourceId"`
	SourceAddress string `json:"sourceAddress"`
	// State is queued, running, completed, failed or cancelled.
	State  string `json:"state"`
	Health string `json:"health"`
	// RetryAfterMs is the platform's wait while throttled.
	RetryAfterMs int64  `json:"retryAfterMs,omitempty"`
	Folder       string `json:"folder,omitempty"`
	Items        int    `json:"items"`
	Bytes        int64  `json:"bytes"`
	TotalItems   int    `json:"totalItems,omitempty"`
	Failed       int    `json:"failed,omitempty"`
	// Updated and Deleted are the items, counted in Items too, whose
	// copies were replaced by a newer version or removed after the source
	// deleted them (delta runs, mostly).
	Updated int   `json:"updated,omitempty"`
	Deleted int   `json:"deleted,omitempty"`
	At      int64 `json:"at"`
}

func (MailboxProgress) EventType() string { return "progress.mailbox" }

// Subject is the progress subject of one mailbox of a run.
func Subject(runID, mailboxKey string) string { return "progress.mailbox." + runID + "." + mailboxKey }

func init() {
	events.Register[MailboxProgress](events.Spec{Name: "progress.mailbox", Version: 1, Subject: "progress.mailbox.{runId}.{mailboxKey}", Publishers: []string{"transfer"}, Consumers: []string{"telemetry"}, Doc: "Items and bytes moved so far, state and health of one mailbox; at most about one per mailbox per second."})
}
