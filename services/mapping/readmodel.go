package mapping

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/discovery"
	"github.com/mailferry/mailferry/events/mapping"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/services/mapping/internal/plan"
)

const (
	streamDiscovery = "DISCOVERY"
	streamMapping   = "MAPPING"
	streamProject   = "PROJECT"
)

// readModel holds, per project, the latest completed discovery and the
// current mapping. Discovery slices are never modified once built and
// plan.Fold copies on write, so values handed out under the lock stay valid
// after it is released.
type readModel struct {
	follower *bus.Follower

	mu sync.Mutex
	// runs collects the mailboxes of discovery runs still in progress.
	runs     map[string]*plan.Collector
	projects map[string]*projectView
}

type projectView struct {
	disc  plan.Discovery
	state plan.State
	// sorted caches state's entries in review order; nil when stale.
	sorted []mapping.Entry
}

func newReadModel() *readModel {
	return &readModel{runs: map[string]*plan.Collector{}, projects: map[string]*projectView{}}
}

func (rm *readModel) project(id string) *projectView {
	p, ok := rm.projects[id]
	if !ok {
		p = &projectView{}
		rm.projects[id] = p
	}
	return p
}

func (rm *readModel) apply(env bus.Envelope) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	switch e := env.Event.(type) {
	case discovery.MailboxDiscovered:
		c, ok := rm.runs[e.RunID]
		if !ok {
			c = &plan.Collector{}
			rm.runs[e.RunID] = c
		}
		c.Add(e)
	case discovery.DiscoveryCompleted:
		c, ok := rm.runs[e.RunID]
		if !ok {
			c = &plan.Collector{}
		}
		delete(rm.runs, e.RunID)
		rm.project(e.ProjectID).disc = c.Discovery(e.ProjectID, e.RunID)
	case discovery.DiscoveryFailed:
		delete(rm.runs, e.RunID)
	case mapping.MappingSuggested:
		rm.fold(e.ProjectID, e)
	case mapping.MappingEdited:
		rm.fold(e.ProjectID, e)
	case mapping.MappingEditRejected:
		rm.fold(e.ProjectID, e)
	}
}

func (rm *readModel) fold(projectID string, ev events.Event) {
	p := rm.project(projectID)
	p.state = plan.Fold(p.state, ev)
	p.sorted = nil
}

// view returns a project's discovery and mapping, and its entries in review
// order; ok is false for a project the service has never heard of.
func (rm *readModel) view(projectID string) (disc plan.Discovery, state plan.State, sorted []mapping.Entry, ok bool) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	p, ok := rm.projects[projectID]
	if !ok {
		return plan.Discovery{}, plan.State{}, nil, false
	}
	if p.sorted == nil {
		p.sorted = p.state.SortedEntries()
	}
	return p.disc, p.state, p.sorted, true
}

// catchUp waits until the read model has seen everything stream holds now,
// so a reactor decides on the discovery that preceded the event it handles.
func (rm *readModel) catchUp(ctx context.Context, b *bus.Bus, stream string) error {
	st, err := b.JetStream().Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("mapping: stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("mapping: stream %s: %w", stream, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := rm.follower.WaitFor(ctx, stream, info.State.LastSeq); err != nil {
		return fmt.Errorf("mapping: read model behind on %s: %w", stream, err)
	}
	return nil
}
