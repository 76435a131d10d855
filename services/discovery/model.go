package discovery

import (
	"sync"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/discovery"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/platform"
)

// Sides of a migration.
const (
	SideSource      = "source"
	SideDestination = "destination"
)

// Run states.
const (
	StateRunning   = "running"
	StateCompleted = "completed"
	StateFailed    = "failed"
)

// creds is where one side's credentials are: the fields that are not
// secret and the vault reference. The secret itself is only read when a
// connector is opened.
type creds struct {
	Platform platform.Kind
	Fields   map[string]string
	VaultRef string
}

type projectView struct {
	source, destination platform.Kind
	creds               map[string]creds
	// runs are the project's discovery runs, oldest first.
	runs []string
}

type runView struct {
	projectID string
	state     string
	failure   *Failure
	blockers  []discovery.Blocker
	// mailboxes per side, keyed by mailbox id: a republished event
	// replaces, never adds.
	mailboxes map[string]map[string]discovery.MailboxDiscovered
}

// Failure is why a run failed, as people read it.
type Failure struct {
	Code   string `json:"code"`
	Cause  string `json:"cause"`
	Action string `json:"action,omitempty"`
}

// model is the read model built from the PROJECT and DISCOVERY streams.
// apply is called by the follower one event at a time; queries and the
// reactor read concurrently, hence the lock.
type model struct {
	mu       sync.RWMutex
	projects map[string]*projectView
	runs     map[string]*runView
}

func newModel() *model {
	return &model{projects: map[string]*projectView{}, runs: map[string]*runView{}}
}

func (m *model) project(id string) *projectView {
	p, ok := m.projects[id]
	if !ok {
		p = &projectView{creds: map[string]creds{}}
		m.projects[id] = p
	}
	return p
}

// run returns the run's view, creating it (and listing it under its
// project) the first time either stream mentions it: the two streams are
// not ordered against each other.
func (m *model) run(runID, projectID string) *runView {
	r, ok := m.runs[runID]
	if !ok {
		r = &runView{projectID: projectID, state: StateRunning, mailboxes: map[string]map[string]discovery.MailboxDiscovered{}}
		m.runs[runID] = r
		p := m.project(projectID)
		p.runs = append(p.runs, runID)
	}
	return r
}

func (m *model) apply(env bus.Envelope) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch ev := env.Event.(type) {
	case project.ProjectCreated:
		p := m.project(ev.ProjectID)
		p.source, p.destination = platform.Kind(ev.Source), platform.Kind(ev.Destination)
	case project.CredentialsSet:
		fields := make(map[string]string, len(ev.Fields))
		for k, v := range ev.Fields {
			fields[k] = v
		}
		m.project(ev.ProjectID).creds[ev.Side] = creds{Platform: platform.Kind(ev.Platform), Fields: fields, VaultRef: ev.VaultRef}
	case project.RunApproved:
		if ev.Mode == events.ModeDiscovery {
			m.run(ev.RunID, ev.ProjectID)
		}
	case discovery.MailboxDiscovered:
		r := m.run(ev.RunID, ev.ProjectID)
		side := r.mailboxes[ev.Side]
		if side == nil {
			side = map[string]discovery.MailboxDiscovered{}
			r.mailboxes[ev.Side] = side
		}
		side[ev.Mailbox.ID] = ev
	case discovery.DiscoveryCompleted:
		r := m.run(ev.RunID, ev.ProjectID)
		r.state, r.blockers, r.failure = StateCompleted, ev.Blockers, nil
	case discovery.DiscoveryFailed:
		r := m.run(ev.RunID, ev.ProjectID)
		r.state, r.failure = StateFailed, &Failure{Code: ev.Code, Cause: ev.Cause, Action: ev.Action}
	}
}

// credentials returns a project's credentials per side and its platforms.
func (m *model) credentials(projectID string) (map[string]creds, platform.Kind, platform.Kind) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := map[string]creds{}
	p, ok := m.projects[projectID]
	if !ok {
		return out, "", ""
	}
	for side, c := range p.creds {
		out[side] = c
	}
	return out, p.source, p.destination
}
