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
	Updated int   `json:"updated"`
	Deleted int   `json:"deleted"`
	Skipped int   `json:"skipped"`
	Failed  int   `json:"failed"`
	Bytes   int64 `json:"bytes"`
	Folders int   `json:"folders"`
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

func (RunStarted) EventType() string       { return "transfer.run_started" }
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
	events.Register[MailboxCompleted](events.Spec{Name: "transfer.mailbox_completed", Version: 1, Subject: subj, Publishers: t, Consumers: []string{"transfer", "telemetry"}, Doc: "A mailbox finished, with counts of copied, already present, skipped and failed items."})
	events.Register[MailboxFailed](events.Spec{Name: "transfer.mailbox_failed", Version: 1, Subject: subj, Publishers: t, Consumers: []string{"transfer", "telemetry"}, Doc: "A mailbox stopped on an error it could not retry past; the code, cause and action say why."})
	events.Register[MailboxCancelled](events.Spec{Name: "transfer.mailbox_cancelled", Version: 1, Subject: subj, Publishers: t, Consumers: []string{"transfer", "telemetry"}, Doc: "A mailbox of a cancelled run stopped or never started."})
	events.Register[RunFinished](events.Spec{Name: "transfer.run_finished", Version: 1, Subject: subj, Publishers: t, Consumers: []string{"project", "billing", "telemetry"}, Doc: "Every mailbox of a run ended; billing releases the holds not consumed."})
}
