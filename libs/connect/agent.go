package connect

import (
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/connectors/agent"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// Option configures an Opener.
type Option func(*Opener)

// agentOpener opens the connector of an outbound agent.
type agentOpener func(kind platform.Kind, agentID string) (platform.Connector, error)

// WithAgents lets the opener reach outbound connector agents over the bus
// b: a side whose fields name an agent (FieldAgentID) is served by that
// agent's local connector through the project service's relay.
func WithAgents(b *bus.Bus) Option {
	return func(o *Opener) {
		o.agents = func(kind platform.Kind, agentID string) (platform.Connector, error) {
			return agent.New(b, agentID, agent.Options{Kind: kind})
		}
	}
}

// IsAgent reports whether credentials of kind with these fields are
// served by an outbound connector agent. Only Exchange on-premises is:
// the cloud platforms are reachable from the platform directly.
func IsAgent(kind platform.Kind, fields map[string]string) bool {
	return kind == platform.Exchange && fields[agent.FieldAgentID] != ""
}

func (o *Opener) openAgent(kind platform.Kind, fields map[string]string) (platform.Connector, error) {
	if o.agents == nil {
		return nil, errs.New(errs.UnsupportedPlatform, "this process cannot reach outbound connector agents",
			"run the service with its bus (svc.WithBus sets this up)")
	}
	c, err := o.agents(kind, fields[agent.FieldAgentID])
	if err != nil {
		return nil, err
	}
	// Nothing secret is known here, so nothing to scrub; the wrapper
	// still gives the side the same optional interfaces as any other.
	return wrap(c, nil), nil
}
