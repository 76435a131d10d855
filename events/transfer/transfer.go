// Package transfer holds the events of runs and mailbox transfers, and the
// mailbox job that travels on the per-shard work queue.
package transfer

import (
	"strconv"

	"github.com/mailferry/mailferry/events"
)

// RunStarted says transfer accepted an approved run and queued its mailboxes.
type RunStarted struct {
	RunID     string `json:"runId"`
	ProjectID string `json:"projectId"`
	AccountID string `json:"accountId"`
	Mode      string `json:"mode"`
	Mailboxes int    `json:"mailboxes"`
}

// MailboxJob is one mailbox of a run, queued on its shard's work subject.
type MailboxJob struct {
	RunID     string      `json:"runId"`
	ProjectID string      `json:"projectId"`
	AccountID string      `json:"accountId"`
	Mode      string      `json:"mode"`
	Mail      bool        `json:"mail"`
	Calendar  bool        `json:"calendar"`
	Contacts  bool        `json:"contacts"`
	Pair      events.Pair `json:"pair"`
	Shard     int         `json:"shard"`
}

// MailboxStarted is emitted when a worker starts (or resumes) a mailbox. For
// full runs billing consumes one credit on it, once per mailbox and project.
type MailboxStarted struct {
	RunID     string `json:"runId"`
	ProjectID string `json:"projectId"`
	AccountID string `json:"accountId"`
	Mode      string `json:"mode"`
	SourceID  string `json:"sourceId"`
	// SourceAddress names the mailbox for people (progress views, logs).
	SourceAddress string `json:"sourceAddress,omitempty"`
	Worker        string `json:"worker"`
	Shard         int    `json:"shard"`
	Resumed       bool   `json:"resumed,omitempty"`
}

// Counts are a mailbox's item outcomes.
type Counts struct {
	Copied         int `json:"copied"`
	AlreadyPresent int `json:"alreadyPresent"`
	// Updated counts items whose copy was replaced because the item changed
	// (or moved) at the source since it was copied; Deleted counts items
	// whose copies were removed because a delta reported them deleted.
	Updated int `json:"updated"`
	Deleted int `json:"deleted"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
	// Warnings counts the items among Copied and Updated that the
	// destination stored with a warning: copied, but part of the item is
	// not held as such (a contact field Microsoft 365 has no place for,
	// kept in the notes). The mailbox's item list says what, per item.
	Warnings int   `json:"warnings"`
	Bytes    int64 `json:"bytes"`
	Folders  int   `json:"folders"`
}

// MailboxCompleted ends a mailbox; Counts says what happened to its items.
type MailboxCompleted struct {
	RunID     string `json:"runId"`
	ProjectID string `json:"projectId"`
	AccountID string `json:"accountId"`
	SourceID  string `json:"sourceId"`
	Counts    Counts `json:"counts"`
}

// MailboxFailed ends a mailbox that could not finish.
type MailboxFailed struct {
	RunID     string `json:"runId"`
	ProjectID string `json:"projectId"`
	AccountID string `json:"accountId"`
	SourceID  string `json:"sourceId"`
	Code      string `json:"code"`
	Cause     string `json:"cause"`
	Action    string `json:"action,omitempty"`
	Counts    Counts `json:"counts"`
}

// MailboxCancelled ends a mailbox of a cancelled run; Started says whether it
// had begun (and so consumed its credit).
type MailboxCancelled struct {
	RunID     string `json:"runId"`
	ProjectID string `json:"projectId"`
	AccountID string `json:"accountId"`
	SourceID  string `json:"sourceId"`
	Started   bool   `json:"started"`
}

// RunFinished ends a run once every mailbox has ended.
type RunFinished struct {
	RunID     string `json:"runId"`
	ProjectID string `json:"projectId"`
	AccountID string `json:"accountId"`
	// State is completed, failed (some mailbox failed) or cancelled.
	State     string `json:"state"`
	Completed int    `json:"completed"`
	Failed    int    `json:"failed"`
	Cancelled int    `json:"cancelled"`
}

// Item outcomes in the item ledger.
const (
	OutcomeCopied         = "copied"
	OutcomeUpdated        = "updated"
	OutcomeAlreadyPresent = "already_present"
	OutcomeDeleted        = "deleted"
	OutcomeSkipped        = "skipped"
	OutcomeFailed         = "failed"
)

// ItemOutcome is what happened to one source item in a run.
type ItemOutcome struct {
	FolderID string `json:"folderId"`
	Folder   string `json:"folder"`
	ItemID   string `json:"itemId"`
	Kind     string `json:"kind,omitempty"`
	// Outcome is copied, updated (a newer version or a move replaced the
	// copy), already_present, deleted (a delta reported it deleted),
	// skipped or failed; Code and Reason say why for the last two.
	Outcome string `json:"outcome"`
	Code    string `json:"code,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// DestinationID is the copy's id at the destination, when there is one.
	DestinationID string `json:"destinationId,omitempty"`
	// ContentHash is the hex SHA-256 of the content read from the source
	// and written, when the item was read.
	ContentHash string `json:"contentHash,omitempty"`
	Size        int64  `json:"size,omitempty"`
	// At is when it happened, in Unix milliseconds.
	At int64 `json:"at"`
}

// Retry is a platform call the worker tried again after a transient error.
type Retry struct {
	At    int64  `json:"at"`
	Code  string `json:"code"`
	Cause string `json:"cause"`
	// Attempt counts the retries of the call, this one included.
	Attempt int   `json:"attempt"`
	WaitMs  int64 `json:"waitMs"`
}

// ItemOutcomes is a batch of one mailbox's item outcomes (and the retries
// in the same stretch), published at most about once a second per mailbox
// and before the mailbox's end event, so the item ledger grows with the
// number of batches, not of items.
type ItemOutcomes struct {
	RunID         string        `json:"runId"`
	ProjectID     string        `json:"projectId"`
	AccountID     string        `json:"accountId"`
	SourceID      string        `json:"sourceId"`
	SourceAddress string        `json:"sourceAddress,omitempty"`
	Items         []ItemOutcome `json:"items"`
	Retries       []Retry       `json:"retries,omitempty"`
}

// MaxItemsPerBatch bounds the outcomes of one ItemOutcomes event.
const MaxItemsPerBatch = 250

// ItemsSubject is the subject of a mailbox's item outcomes in a run; apart
// from the run's subject, whose appends check the expected sequence.
func ItemsSubject(runID, mailboxKey string) string {
	return "transfer.items." + runID + "." + mailboxKey
}

func (RunStarted) EventType() string       { return "transfer.run_started" }
func (ItemOutcomes) EventType() string     { return "transfer.item_outcomes" }
func (MailboxJob) EventType() string       { return "transfer.mailbox_job" }
func (MailboxStarted) EventType() string   { return "transfer.mailbox_started" }
func (MailboxCompleted) EventType() string { return "transfer.mailbox_completed" }
func (MailboxFailed) EventType() string    { return "transfer.mailbox_failed" }
func (MailboxCancelled) EventType() string { return "transfer.mailbox_cancelled" }
func (RunFinished) EventType() string      { return "transfer.run_finished" }

// RunSubject is the subject of a run's transfer events.
func RunSubject(runID string) string { return "transfer.run." + runID }

// WorkSubject is the work-queue subject of a shard.
func WorkSubject(shard int) string { return "transferwork." + strconv.Itoa(shard) }

func init() {
	t := []string{"transfer"}
	subj := "transfer.run.{runId}"
	events.Register[RunStarted](events.Spec{Name: "transfer.run_started", Version: 1, Subject: subj, Publishers: t, Consumers: []string{"transfer", "project", "telemetry"}, Doc: "Transfer accepted an approved run and queued its mailboxes on their shards."})
	events.Register[MailboxJob](events.Spec{Name: "transfer.mailbox_job", Version: 1, Subject: "transferwork.{shard}", Publishers: t, Consumers: t, Doc: "One mailbox to transfer, on the work queue of its shard (a stable hash of the source mailbox)."})
	events.Register[MailboxStarted](events.Spec{Name: "transfer.mailbox_started", Version: 1, Subject: subj, Publishers: t, Consumers: []string{"transfer", "billing", "telemetry"}, Doc: "A worker started or resumed a mailbox; billing consumes its credit for full runs."})
	events.Register[MailboxCompleted](events.Spec{Name: "transfer.mailbox_completed", Version: 1, Subject: subj, Publishers: t, Consumers: []string{"transfer", "telemetry"}, Doc: "A mailbox finished, with counts of copied, already present, updated, deleted, skipped and failed items, and of copies stored with warnings."})
	events.Register[MailboxFailed](events.Spec{Name: "transfer.mailbox_failed", Version: 1, Subject: subj, Publishers: t, Consumers: []string{"transfer", "telemetry"}, Doc: "A mailbox stopped on an error it could not retry past; the code, cause and action say why."})
	events.Register[MailboxCancelled](events.Spec{Name: "transfer.mailbox_cancelled", Version: 1, Subject: subj, Publishers: t, Consumers: []string{"transfer", "telemetry"}, Doc: "A mailbox of a cancelled run stopped or never started."})
	events.Register[ItemOutcomes](events.Spec{Name: "transfer.item_outcomes", Version: 1, Subject: "transfer.items.{runId}.{mailboxKey}", Publishers: t, Consumers: []string{"telemetry"}, Doc: "A batch of one mailbox's item outcomes (copied, updated, already present, deleted, skipped or failed with the reason; ids and content hash) and retried calls; at most a few hundred items and about one batch a second per mailbox. Telemetry builds the item ledger and the reconciliation report from them."})
	events.Register[RunFinished](events.Spec{Name: "transfer.run_finished", Version: 1, Subject: subj, Publishers: t, Consumers: []string{"project", "billing", "telemetry"}, Doc: "Every mailbox of a run ended; billing releases the holds not consumed."})
}
