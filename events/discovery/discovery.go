// Package discovery holds the events of discovery runs: what was found on
// each side, and the blockers found before anything is spent.
package discovery

import (
	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/libs/platform"
)

// FolderStat is one folder's counts.
type FolderStat struct {
	Path  string `json:"path"`
	Role  string `json:"role,omitempty"`
	Kind  string `json:"kind"`
	Items int    `json:"items"`
	Bytes int64  `json:"bytes"`
}

// MailboxDiscovered reports one mailbox of one side with its counts.
type MailboxDiscovered struct {
	RunID     string           `json:"runId"`
	ProjectID string           `json:"projectId"`
	Side      string           `json:"side"`
	Mailbox   platform.Mailbox `json:"mailbox"`
	Stats     platform.Stats   `json:"stats"`
	Folders   []FolderStat     `json:"folders,omitempty"`
}

// Blocker is a problem that would stop or spoil a run, found for free.
type Blocker struct {
	Code    string `json:"code"`
	Mailbox string `json:"mailbox,omitempty"`
	Detail  string `json:"detail"`
	Action  string `json:"action,omitempty"`
}

// DiscoveryCompleted ends a discovery run.
type DiscoveryCompleted struct {
	RunID                string    `json:"runId"`
	ProjectID            string    `json:"projectId"`
	SourceMailboxes      int       `json:"sourceMailboxes"`
	DestinationMailboxes int       `json:"destinationMailboxes"`
	Blockers             []Blocker `json:"blockers,omitempty"`
}

// DiscoveryFailed ends a discovery run that could not reach a side.
type DiscoveryFailed struct {
	RunID     string `json:"runId"`
	ProjectID string `json:"projectId"`
	Code      string `json:"code"`
	Cause     string `json:"cause"`
	Action    string `json:"action,omitempty"`
}

func (MailboxDiscovered) EventType() string  { return "discovery.mailbox_discovered" }
func (DiscoveryCompleted) EventType() string { return "discovery.completed" }
func (DiscoveryFailed) EventType() string    { return "discovery.failed" }

// RunSubject is the subject of one discovery run.
func RunSubject(runID string) string { return "discovery.run." + runID }

func init() {
	d := []string{"discovery"}
	c := []string{"project", "mapping"}
	subj := "discovery.run.{runId}"
	events.Register[MailboxDiscovered](events.Spec{Name: "discovery.mailbox_discovered", Version: 1, Subject: subj, Publishers: d, Consumers: c, Doc: "A mailbox of the source or destination with its folders, counts and sizes."})
	events.Register[DiscoveryCompleted](events.Spec{Name: "discovery.completed", Version: 1, Subject: subj, Publishers: d, Consumers: c, Doc: "Discovery finished, with the blockers it found."})
	events.Register[DiscoveryFailed](events.Spec{Name: "discovery.failed", Version: 1, Subject: subj, Publishers: d, Consumers: c, Doc: "Discovery could not finish; the code and cause say why and what to do."})
}
