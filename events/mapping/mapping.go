// Package mapping holds the events of a project's source-to-destination
// mailbox mapping.
package mapping

import (
	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/libs/platform"
)

// Entry is one source mailbox's mapping.
type Entry struct {
	Source      platform.Mailbox `json:"source"`
	Destination platform.Mailbox `json:"destination,omitempty"`
	// Method says how the pair was found: primary, alias, localpart,
	// displayname (suggested), manual (an edit) or csv (an imported file).
	Method string `json:"method,omitempty"`
	// Action is migrate, exclude or create.
	Action string `json:"action"`
	// Exception is set while the entry needs a person: no_match, ambiguous.
	Exception  string             `json:"exception,omitempty"`
	Detail     string             `json:"detail,omitempty"`
	Candidates []platform.Mailbox `json:"candidates,omitempty"`
}

// MappingSuggested replaces a project's mapping with fresh suggestions after
// a discovery, keeping earlier manual edits.
type MappingSuggested struct {
	ProjectID string  `json:"projectId"`
	RunID     string  `json:"runId"`
	Entries   []Entry `json:"entries"`
	// Part and Parts split a large mapping over several events (each well
	// under the bus's payload limit); the mapping changes when the last
	// part arrives. Parts 0 or 1 is a mapping in one event.
	Part  int `json:"part,omitempty"`
	Parts int `json:"parts,omitempty"`
}

// MappingEdited applies validated edits.
type MappingEdited struct {
	ProjectID string  `json:"projectId"`
	RequestID string  `json:"requestId"`
	Entries   []Entry `json:"entries"`
	// Replace is set by a CSV import: the entries are the whole mapping.
	Replace bool `json:"replace,omitempty"`
	// Part and Parts split a large replacement as in MappingSuggested.
	Part  int `json:"part,omitempty"`
	Parts int `json:"parts,omitempty"`
}

// RowError is one problem in an edit request, numbered like a spreadsheet.
type RowError struct {
	Row     int    `json:"row"`
	Column  string `json:"column,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// MappingEditRejected refuses an edit request; nothing was changed.
type MappingEditRejected struct {
	ProjectID string     `json:"projectId"`
	RequestID string     `json:"requestId"`
	Errors    []RowError `json:"errors"`
}

func (MappingSuggested) EventType() string    { return "mapping.suggested" }
func (MappingEdited) EventType() string       { return "mapping.edited" }
func (MappingEditRejected) EventType() string { return "mapping.edit_rejected" }

// ProjectSubject is the subject of a project's mapping.
func ProjectSubject(projectID string) string { return "mapping.project." + projectID }

func init() {
	m := []string{"mapping"}
	c := []string{"mapping", "project"}
	subj := "mapping.project.{projectId}"
	events.Register[MappingSuggested](events.Spec{Name: "mapping.suggested", Version: 1, Subject: subj, Publishers: m, Consumers: c, Doc: "Auto-suggested pairs and exceptions after a discovery."})
	events.Register[MappingEdited](events.Spec{Name: "mapping.edited", Version: 1, Subject: subj, Publishers: m, Consumers: c, Doc: "Validated manual edits or a CSV import applied to the mapping."})
	events.Register[MappingEditRejected](events.Spec{Name: "mapping.edit_rejected", Version: 1, Subject: subj, Publishers: m, Consumers: c, Doc: "An edit request or CSV import was refused, with every row error; nothing changed."})
}
