// Package model is the project service's read model: accounts and API keys,
// projects, credential references and runs, rebuilt in every process by
// replaying the PROJECT stream and following the events of billing,
// discovery and transfer that change a run's state.
package model

import (
	"sort"
	"sync"
	"time"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/billing"
	"github.com/mailferry/mailferry/events/discovery"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/libs/bus"
)

// Account is an account with its keys.
type Account struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// Key is an API key's record; the key itself is never stored.
type Key struct {
	ID        string `json:"id"`
	AccountID string `json:"accountId"`
	Label     string `json:"label,omitempty"`
	Revoked   bool   `json:"revoked,omitempty"`
}

// Credentials are a side's non-secret credential fields.
type Credentials struct {
	Side     string            `json:"side"`
	Platform string            `json:"platform"`
	Fields   map[string]string `json:"fields,omitempty"`
	VaultRef string            `json:"-"`
	Updated  time.Time         `json:"updated"`
}

// Project is a migration project.
type Project struct {
	ID          string                  `json:"id"`
	AccountID   string                  `json:"accountId"`
	Name        string                  `json:"name"`
	Source      string                  `json:"source"`
	Destination string                  `json:"destination"`
	Created     time.Time               `json:"created"`
	Credentials map[string]*Credentials `json:"credentials"`
}

// Run states.
const (
	StateRequested       = "requested"
	StateAwaitingCredits = "awaiting_credits"
	StateApproved        = "approved"
	StateRunning         = "running"
	StateCompleted       = "completed"
	StateFailed          = "failed"
	StateCancelled       = "cancelled"
	StateRejected        = "rejected"
)

// Run is a run with its state.
type Run struct {
	ID              string        `json:"id"`
	ProjectID       string        `json:"projectId"`
	AccountID       string        `json:"accountId"`
	Mode            string        `json:"mode"`
	Mail            bool          `json:"mail"`
	Calendar        bool          `json:"calendar"`
	Contacts        bool          `json:"contacts"`
	Mailboxes       int           `json:"mailboxes"`
	State           string        `json:"state"`
	CancelRequested bool          `json:"cancelRequested,omitempty"`
	Code            string        `json:"code,omitempty"`
	Reason          string        `json:"reason,omitempty"`
	CreditsHeld     int           `json:"creditsHeld,omitempty"`
	Result          *RunResult    `json:"result,omitempty"`
	Requested       time.Time     `json:"requested"`
	Finished        *time.Time    `json:"finished,omitempty"`
	Pairs           []events.Pair `json:"-"`
}

// RunResult sums up a finished run.
type RunResult struct {
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled"`
}

// Model is safe for concurrent readers while the bus applies events.
type Model struct {
	mu       sync.RWMutex
	accounts map[string]*Account
	keys     map[string]*Key // by key hash
	projects map[string]*Project
	runs     map[string]*Run
}

// New returns an empty model.
func New() *Model {
	return &Model{accounts: map[string]*Account{}, keys: map[string]*Key{}, projects: map[string]*Project{}, runs: map[string]*Run{}}
}

// Streams are the streams the model follows.
var Streams = []string{"PROJECT", "BILLING", "DISCOVERY", "TRANSFER"}

// Apply applies one event.
func (m *Model) Apply(env bus.Envelope) {
	m.mu.Lock()
	defer m.mu.Unlock()
	at := env.Time
	switch e := env.Event.(type) {
	case project.AccountCreated:
		m.accounts[e.AccountID] = &Account{ID: e.AccountID, Name: e.Name, Created: at}
	case project.APIKeyIssued:
		m.keys[e.KeyHash] = &Key{ID: e.KeyID, AccountID: e.AccountID, Label: e.Label}
	case project.APIKeyRevoked:
		for _, k := range m.keys {
			if k.ID == e.KeyID && k.AccountID == e.AccountID {
				k.Revoked = true
			}
		}
	case project.ProjectCreated:
		m.projects[e.ProjectID] = &Project{ID: e.ProjectID, AccountID: e.AccountID, Name: e.Name, Source: e.Source, Destination: e.Destination, Created: at, Credentials: map[string]*Credentials{}}
	case project.CredentialsSet:
		if p := m.projects[e.ProjectID]; p != nil {
			p.Credentials[e.Side] = &Credentials{Side: e.Side, Platform: e.Platform, Fields: e.Fields, VaultRef: e.VaultRef, Updated: at}
		}
	case project.RunRequested:
		st := StateRequested
		if e.Mode == events.ModeFull {
			st = StateAwaitingCredits
		}
		m.runs[e.RunID] = &Run{ID: e.RunID, ProjectID: e.ProjectID, AccountID: e.AccountID, Mode: e.Mode, Mail: e.Mail, Calendar: e.Calendar, Contacts: e.Contacts, Mailboxes: len(e.Pairs), Pairs: e.Pairs, State: st, Requested: at}
	case project.RunApproved:
		m.advance(e.RunID, StateApproved)
	case project.RunRejected:
		if r := m.runs[e.RunID]; r != nil {
			r.State, r.Code, r.Reason = StateRejected, e.Code, e.Reason
			r.Finished = &at
		}
	case project.RunCancelRequested:
		if r := m.runs[e.RunID]; r != nil {
			r.CancelRequested = true
		}
	case billing.CreditsHeld:
		if r := m.runs[e.RunID]; r != nil {
			r.CreditsHeld = len(e.Mailboxes)
		}
	case transfer.RunStarted:
		m.advance(e.RunID, StateRunning)
	case transfer.RunFinished:
		if r := m.runs[e.RunID]; r != nil && !terminal(r.State) {
			r.State = e.State
			r.Result = &RunResult{Completed: e.Completed, Failed: e.Failed, Cancelled: e.Cancelled}
			r.Finished = &at
		}
	case discovery.DiscoveryCompleted:
		if r := m.runs[e.RunID]; r != nil && !terminal(r.State) {
			r.State = StateCompleted
			r.Finished = &at
		}
	case discovery.DiscoveryFailed:
		if r := m.runs[e.RunID]; r != nil && !terminal(r.State) {
			r.State, r.Code, r.Reason = StateFailed, e.Code, e.Cause
			r.Finished = &at
		}
	case discovery.MailboxDiscovered:
		m.advance(e.RunID, StateRunning)
	}
}

// advance moves a run forward, never backwards: events of different
// streams can arrive in any order relative to each other.
func (m *Model) advance(runID, to string) {
	r := m.runs[runID]
	if r == nil || terminal(r.State) {
		return
	}
	if rank(to) > rank(r.State) {
		r.State = to
	}
}

func rank(s string) int {
	switch s {
	case StateRequested, StateAwaitingCredits:
		return 0
	case StateApproved:
		return 1
	case StateRunning:
		return 2
	}
	return 3
}

func terminal(s string) bool { return rank(s) == 3 }

// Terminal reports whether a run state is final.
func Terminal(s string) bool { return terminal(s) }

// KeyByHash returns the key with this hash.
func (m *Model) KeyByHash(hash string) (Key, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	k, ok := m.keys[hash]
	if !ok {
		return Key{}, false
	}
	return *k, true
}

// Keys lists an account's keys, without their hashes.
func (m *Model) Keys(accountID string) []Key {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := []Key{}
	for _, k := range m.keys {
		if k.AccountID == accountID {
			out = append(out, *k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Account returns an account.
func (m *Model) Account(id string) (Account, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	a, ok := m.accounts[id]
	if !ok {
		return Account{}, false
	}
	return *a, true
}

// Project returns a copy of a project.
func (m *Model) Project(id string) (Project, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.projects[id]
	if !ok {
		return Project{}, false
	}
	return copyProject(p), true
}

func copyProject(p *Project) Project {
	c := *p
	c.Credentials = map[string]*Credentials{}
	for k, v := range p.Credentials {
		cv := *v
		c.Credentials[k] = &cv
	}
	return c
}

// Projects lists an account's projects, newest first.
func (m *Model) Projects(accountID string) []Project {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Project
	for _, p := range m.projects {
		if p.AccountID == accountID {
			out = append(out, copyProject(p))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Run returns a run.
func (m *Model) Run(id string) (Run, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, ok := m.runs[id]
	if !ok {
		return Run{}, false
	}
	return *r, true
}

// Runs lists a project's runs, newest first.
func (m *Model) Runs(projectID string) []Run {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Run
	for _, r := range m.runs {
		if r.ProjectID == projectID {
			out = append(out, *r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Requested.Equal(out[j].Requested) {
			return out[i].Requested.After(out[j].Requested)
		}
		return out[i].ID < out[j].ID
	})
	return out
}
