package connect_test

import (
	"context"
	"testing"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/connect"
	"github.com/mailferry/mailferry/libs/connectors/agent"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

func TestIsAgent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind   platform.Kind
		fields map[string]string
		want   bool
	}{
		{platform.Exchange, map[string]string{"agentId": "agt_0123456789abcdef", "ewsUrl": "https://mail.example/EWS/Exchange.asmx"}, true},
		{platform.Exchange, map[string]string{"ewsUrl": "https://mail.example/EWS/Exchange.asmx", "username": "svc"}, false},
		{platform.Exchange, map[string]string{"agentId": ""}, false},
		// Only Exchange goes through an agent; the field means nothing
		// elsewhere.
		{platform.M365, map[string]string{"agentId": "agt_0123456789abcdef"}, false},
	}
	for _, tc := range tests {
		if got := connect.IsAgent(tc.kind, tc.fields); got != tc.want {
			t.Errorf("IsAgent(%s, %v) = %v, want %v", tc.kind, tc.fields, got, tc.want)
		}
	}
}

// TestOpenAgent: exchange credentials naming an agent open the agent's
// connector without reading the vault (the secrets stay with the agent);
// the connector is the agent's.
func TestOpenAgent(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	ctx := context.Background()
	fields := map[string]string{"agentId": "agt_0123456789abcdef", "ewsUrl": "https://mail.example/EWS/Exchange.asmx"}

	plain, err := connect.NewOpener(secrets{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Open(ctx, platform.Exchange, fields, "cred/none"); !errs.Is(err, errs.UnsupportedPlatform) {
		t.Fatalf("opener without the bus: err = %v, want %s", err, errs.UnsupportedPlatform)
	}

	op, err := connect.NewOpener(secrets{}, nil, connect.WithAgents(b))
	if err != nil {
		t.Fatal(err)
	}
	c, err := op.Open(ctx, platform.Exchange, fields, "cred/none")
	if err != nil {
		t.Fatalf("open through an agent with an empty vault: %v", err)
	}
	if c.Kind() != platform.Exchange {
		t.Errorf("kind %s, want exchange", c.Kind())
	}
	if _, ok := c.(platform.Verifier); !ok {
		t.Error("the agent's connector cannot be verified")
	}
	u, ok := c.(interface{ Unwrap() platform.Connector })
	if !ok {
		t.Fatal("the agent's connector is not wrapped like the others")
	}
	if ac, ok := u.Unwrap().(*agent.Connector); !ok || ac.AgentID() != fields["agentId"] {
		t.Fatalf("opened %T, want the connector of agent %s", u.Unwrap(), fields["agentId"])
	}
	if _, err := op.Open(ctx, platform.Exchange, map[string]string{"agentId": "bad.id"}, ""); !errs.Is(err, errs.Invalid) {
		t.Fatalf("an agent id that is no subject token: err = %v, want %s", err, errs.Invalid)
	}
}
