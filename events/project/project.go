// Package project holds the events of the project context: accounts, API
// keys, projects, credential references and runs. The project service is the
// only entry point (the HTTP API) and the only publisher of these events.
package project

import (
	"github.com/mailferry/mailferry/events"
)

// AccountCreated starts an account.
type AccountCreated struct {
	AccountID string `json:"accountId"`
	Name      string `json:"name"`
}

// APIKeyIssued records a new API key. Only the key's SHA-256 travels; the key
// itself is shown once to whoever created it.
type APIKeyIssued struct {
	AccountID string `json:"accountId"`
	KeyID     string `json:"keyId"`
	KeyHash   string `json:"keyHash"`
	Label     string `json:"label,omitempty"`
}

// APIKeyRevoked makes a key unusable.
type APIKeyRevoked struct {
	AccountID string `json:"accountId"`
	KeyID     string `json:"keyId"`
}

// ProjectCreated starts a project.
type ProjectCreated struct {
	ProjectID   string `json:"projectId"`
	AccountID   string `json:"accountId"`
	Name        string `json:"name"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

// CredentialsSet records where a side's credentials are in the vault. The
// secret itself never travels in an event: only the vault reference and the
// fields that are not secret (tenant id, endpoint, account name).
type CredentialsSet struct {
	ProjectID string            `json:"projectId"`
	AccountID string            `json:"accountId"`
	Side      string            `json:"side"`
	Platform  string            `json:"platform"`
	VaultRef  string            `json:"vaultRef"`
	Fields    map[string]string `json:"fields,omitempty"`
}

// RunRequested asks for a run. Full runs wait for billing to hold credits;
// the others are approved at once.
type RunRequested struct {
	RunID     string        `json:"runId"`
	ProjectID string        `json:"projectId"`
	AccountID string        `json:"accountId"`
	Mode      string        `json:"mode"`
	Mail      bool          `json:"mail"`
	Calendar  bool          `json:"calendar"`
	Contacts  bool          `json:"contacts"`
	Pairs     []events.Pair `json:"pairs,omitempty"`
}

// RunApproved lets a run start.
type RunApproved struct {
	RunID     string `json:"runId"`
	ProjectID string `json:"projectId"`
	AccountID string `json:"accountId"`
	Mode      string `json:"mode"`
}

// RunRejected ends a run before anything moved.
type RunRejected struct {
	RunID     string `json:"runId"`
	ProjectID string `json:"projectId"`
	AccountID string `json:"accountId"`
	Code      string `json:"code"`
	Reason    string `json:"reason"`
}

// RunCancelRequested asks transfer to stop a run; mailboxes not yet started
// never start and their credit holds are released.
type RunCancelRequested struct {
	RunID     string `json:"runId"`
	ProjectID string `json:"projectId"`
	AccountID string `json:"accountId"`
}

// MappingEdit is one change to a project's mapping.
type MappingEdit struct {
	Source      string `json:"source"`
	Destination string `json:"destination,omitempty"`
	// Action is "migrate", "exclude" or "create".
	Action string `json:"action"`
}

// MappingEditRequested asks the mapping service to apply edits. CSV carries a
// whole imported file, which replaces the mapping if every row is valid.
type MappingEditRequested struct {
	RequestID string        `json:"requestId"`
	ProjectID string        `json:"projectId"`
	AccountID string        `json:"accountId"`
	Edits     []MappingEdit `json:"edits,omitempty"`
	CSV       string        `json:"csv,omitempty"`
}

// CreditsPurchaseRequested asks billing to add credits; only an operator key
// may request it.
type CreditsPurchaseRequested struct {
	RequestID string `json:"requestId"`
	AccountID string `json:"accountId"`
	Amount    int    `json:"amount"`
	Reference string `json:"reference,omitempty"`
}

func (CreditsPurchaseRequested) EventType() string { return "project.credits_purchase_requested" }
func (AccountCreated) EventType() string           { return "project.account_created" }
func (APIKeyIssued) EventType() string             { return "project.api_key_issued" }
func (APIKeyRevoked) EventType() string            { return "project.api_key_revoked" }
func (ProjectCreated) EventType() string           { return "project.project_created" }
func (CredentialsSet) EventType() string           { return "project.credentials_set" }
func (RunRequested) EventType() string             { return "project.run_requested" }
func (RunApproved) EventType() string              { return "project.run_approved" }
func (RunRejected) EventType() string              { return "project.run_rejected" }
func (RunCancelRequested) EventType() string       { return "project.run_cancel_requested" }
func (MappingEditRequested) EventType() string     { return "project.mapping_edit_requested" }

// Subject helpers: one subject per aggregate.
func AccountSubject(id string) string { return "project.account." + id }
func ProjectSubject(id string) string { return "project.project." + id }
func RunSubject(id string) string     { return "project.run." + id }

func init() {
	p := []string{"project"}
	events.Register[AccountCreated](events.Spec{Name: "project.account_created", Version: 1, Subject: "project.account.{accountId}", Publishers: p, Consumers: []string{"project"}, Doc: "An account was created by an operator."})
	events.Register[APIKeyIssued](events.Spec{Name: "project.api_key_issued", Version: 1, Subject: "project.account.{accountId}", Publishers: p, Consumers: []string{"project"}, Doc: "An API key was issued; only its SHA-256 is recorded."})
	events.Register[APIKeyRevoked](events.Spec{Name: "project.api_key_revoked", Version: 1, Subject: "project.account.{accountId}", Publishers: p, Consumers: []string{"project"}, Doc: "An API key was revoked."})
	events.Register[ProjectCreated](events.Spec{Name: "project.project_created", Version: 1, Subject: "project.project.{projectId}", Publishers: p, Consumers: []string{"project", "discovery", "transfer"}, Doc: "A project was created with its source and destination platforms."})
	events.Register[CredentialsSet](events.Spec{Name: "project.credentials_set", Version: 1, Subject: "project.project.{projectId}", Publishers: p, Consumers: []string{"project", "discovery", "transfer"}, Doc: "Credentials for one side were stored in the vault; carries the vault reference, never the secret."})
	events.Register[RunRequested](events.Spec{Name: "project.run_requested", Version: 1, Subject: "project.run.{runId}", Publishers: p, Consumers: []string{"project", "billing", "discovery", "transfer"}, Doc: "A run was requested with its mode and the mailbox pairs it covers."})
	events.Register[RunApproved](events.Spec{Name: "project.run_approved", Version: 1, Subject: "project.run.{runId}", Publishers: p, Consumers: []string{"project", "discovery", "transfer"}, Doc: "A run may start: credits are held (full runs) or none are needed."})
	events.Register[RunRejected](events.Spec{Name: "project.run_rejected", Version: 1, Subject: "project.run.{runId}", Publishers: p, Consumers: []string{"project"}, Doc: "A run was refused before anything moved, e.g. \"needs N credits, has M\"."})
	events.Register[RunCancelRequested](events.Spec{Name: "project.run_cancel_requested", Version: 1, Subject: "project.run.{runId}", Publishers: p, Consumers: []string{"project", "transfer"}, Doc: "Someone asked to cancel a run."})
	events.Register[CreditsPurchaseRequested](events.Spec{Name: "project.credits_purchase_requested", Version: 1, Subject: "project.account.{accountId}", Publishers: p, Consumers: []string{"billing"}, Doc: "An operator bought credits for an account; billing records the purchase."})
	events.Register[MappingEditRequested](events.Spec{Name: "project.mapping_edit_requested", Version: 1, Subject: "project.project.{projectId}", Publishers: p, Consumers: []string{"mapping"}, Doc: "Edits to a mapping, or a whole CSV to import, for the mapping service to validate and apply."})
}
