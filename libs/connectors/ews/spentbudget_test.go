package ews_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/platform"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// TestSpentBudgetStillMoves reads a mailbox whose throttling budget its
// user has just spent: Exchange's default recharge (900 s of server time
// an hour, five 50 ms requests a second) with a small burst. The budget
// then pays about one request at a time, so an operation of several
// requests (a folder listing, Stats, a series and its exceptions) that
// started over on every ErrorServerBusy would never finish; waited out
// the way the engine does, each completes, and everything is read.
func TestSpentBudgetStillMoves(t *testing.T) {
	t.Parallel()
	limits := sandbox.RealLimits()
	limits.Burst = time.Second
	sb := newSandbox(t, sandbox.Config{Limits: limits})
	mb := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 4, EventsPerUser: 2, ContactsPerUser: 2, Seed: testSeed, Profile: tenantgen.Light})[0]
	ctx := ctxFor(t)

	// The user spends the budget.
	raw := rawClient(sb)
	for sb.Budget(sandbox.ServiceAccount, mb).Balance >= limits.RequestCost {
		var resp soap.GetFolderResponse
		err := raw.Call(ctx, mb, &soap.GetFolder{FolderShape: soap.FolderShape{BaseShape: soap.ShapeIDOnly}, FolderIDs: *soap.FolderList("inbox")}, &resp)
		var fault *soap.Fault
		if err != nil && !(errors.As(err, &fault) && fault.ResponseCode == "ErrorServerBusy") {
			t.Fatal(err)
		}
	}
	before := sb.Budget(sandbox.ServiceAccount, mb)

	c := open(t, configFor(t, sb))
	var st platform.Stats
	retry(t, ctx, func() (err error) { st, err = c.Stats(ctx, mb); return err }, nil, nil)
	var folders []platform.Folder
	retry(t, ctx, func() (err error) { folders, err = c.Folders(ctx, mb); return err }, nil, nil)
	read := 0
	for _, f := range folders {
		for token := ""; ; {
			var page platform.ItemPage
			retry(t, ctx, func() (err error) { page, err = c.Items(ctx, mb, f.ID, token); return err }, nil, nil)
			for _, r := range page.Items {
				retry(t, ctx, func() error { _, err := c.ReadItem(ctx, mb, r); return err }, nil, nil)
				read++
			}
			if page.DeltaToken != "" {
				break
			}
			token = page.NextToken
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	after := sb.Budget(sandbox.ServiceAccount, mb)
	if want := st.Mail + st.Events + st.Contacts; read != want || want == 0 {
		t.Fatalf("read %d items, Stats counts %d", read, want)
	}
	if after.Refused == before.Refused {
		t.Fatalf("Exchange refused nothing while the budget was spent (%+v): the test proves nothing", after)
	}
	t.Logf("%d items read with the budget spent: %d requests admitted, %d refused with ErrorServerBusy", read, after.Admitted-before.Admitted, after.Refused-before.Refused)
}
