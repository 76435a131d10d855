package google_test

import (
	"testing"

	"github.com/mailferry/mailferry/libs/platform"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// TestEstimateStatsIsCheapAndClose: the engine's progress total comes from
// EstimateStats, which must not read every message (Stats does, to place
// each message by its labels) yet count the same mailbox.
func TestEstimateStatsIsCheapAndClose(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	mb := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 120, EventsPerUser: 3, ContactsPerUser: 4, Seed: 9, Profile: tenantgen.Light})[0]
	ctx := ctxFor(t)

	before := sb.Requests()
	est, err := open(t, configFor(sb)).EstimateStats(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	estRequests := sb.Requests() - before

	before = sb.Requests()
	exact, err := open(t, configFor(sb)).Stats(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	exactRequests := sb.Requests() - before

	if est.Mail != exact.Mail || est.Events != exact.Events || est.Contacts != exact.Contacts || est.Folders != exact.Folders {
		t.Errorf("estimate %+v, exact %+v: the seeded mailbox has no spam or trash, so the counts must agree", est, exact)
	}
	if est.Mail != 120 {
		t.Errorf("estimate counts %d messages, want the 120 seeded", est.Mail)
	}
	// Stats reads the labels of all 120 messages (batched); the estimate
	// reads the profile once.
	if estRequests >= exactRequests {
		t.Errorf("the estimate took %d requests, the exact count %d: it is not cheaper", estRequests, exactRequests)
	}
	var _ platform.Estimator = open(t, configFor(sb))
}
