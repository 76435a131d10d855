package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/platform/memory"
)

type progressAnswer struct {
	Totals struct {
		Items int `json:"items"`
	} `json:"totals"`
}

// TestKilledWorkerIsReplaced kills the transfer worker's OS process in the
// middle of its mailboxes; a new worker process takes its shards over once
// the leases expire, resumes from the checkpoints, and every item ends at
// the destination exactly once.
func TestKilledWorkerIsReplaced(t *testing.T) {
	sb := newSandbox(t, 4, 60)
	// Slow writes keep mailboxes in flight long enough to kill a worker
	// in the middle of them.
	sb.dst.SetFaults(memory.Faults{WriteDelay: 40 * time.Millisecond})
	c := startCluster(t)
	// One worker: whatever is in flight when it dies is its.
	first := c.procs["transfer"][0]
	a, _, _, pid := setup(t, c.api, sb, 20)

	var created struct {
		Run run `json:"run"`
	}
	a.must("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "discovery"}, &created)
	a.waitRun(created.Run.ID, 2*time.Minute)
	var mp struct {
		Entries []mappingEntry `json:"entries"`
	}
	a.must("GET", "/api/projects/"+pid+"/mapping?exceptionsOnly=true", nil, &mp)
	for _, e := range mp.Entries {
		a.must("PATCH", "/api/projects/"+pid+"/mapping", map[string]any{"edits": []any{map[string]string{"source": e.Source.PrimaryAddress, "action": "exclude"}}}, nil)
	}
	a.must("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "full"}, &created)
	runID := created.Run.ID

	// Wait until both workers are copying, then kill the first one.
	bustest.Eventually(t, 2*time.Minute, "items moving", func() bool {
		var p progressAnswer
		a.do("GET", "/api/runs/"+runID+"/progress", nil, &p)
		return p.Totals.Items >= 20
	})
	first.kill()
	t.Log("killed the transfer worker; starting its replacement")
	c.add(t, "transfer")

	r := a.waitRun(runID, 5*time.Minute)
	if r.State != "completed" {
		t.Fatalf("run ended %s: %s %s", r.State, r.Code, r.Reason)
	}
	tn := sb.tenants()
	srcMbs := sb.sources[:len(sb.sources)-1]
	checkDestination(t, tn, srcMbs, "", "")
	if !strings.Contains(bustest.Dump(t, c.bus), `"resumed":true`) {
		t.Error("no mailbox was resumed: the kill did not hit a mailbox in flight")
	}
}
