package ews_test

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
)

// TestBudgetReportsUse: Budget tells what a budget admitted and refused
// and what is left of it, per account and impersonated mailbox.
func TestBudgetReportsUse(t *testing.T) {
	// 120 ms of budget, 40 ms a request, hardly recharging: three pass.
	limits := sandbox.Limits{Burst: 120 * time.Millisecond, RequestCost: 40 * time.Millisecond, RechargePerHour: time.Millisecond}
	sb := start(t, sandbox.Config{Limits: limits})
	svc, as, other := basicService(sb), userAddr(sb, 1), userAddr(sb, 2)
	if u := sb.Budget(sandbox.ServiceAccount, as); u.Admitted != 0 || u.Refused != 0 || u.Balance != limits.Burst {
		t.Fatalf("an unused budget reports %+v", u)
	}
	for range 5 {
		_ = inbox(t, svc, as)
	}
	u := sb.Budget(sandbox.ServiceAccount, as)
	if u.Admitted != 3 || u.Refused != 2 || u.Balance >= limits.RequestCost {
		t.Fatalf("after five requests on a budget of three: %+v", u)
	}
	if o := sb.Budget(sandbox.ServiceAccount, other); o.Admitted != 0 {
		t.Fatalf("another mailbox's budget was charged: %+v", o)
	}
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// TestStartListener serves on a listener the caller opened and watches.
func TestStartListener(t *testing.T) {
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	if err := sb.StartListener(countingListener{ln, &accepted}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	sb.Seed(sandbox.SeedSpec{Users: 1, Seed: testSeed})
	if want := "https://" + ln.Addr().String() + "/EWS/Exchange.asmx"; sb.URL() != want {
		t.Fatalf("URL %s, want %s", sb.URL(), want)
	}
	if err := inbox(t, basicService(sb), userAddr(sb, 1)); err != nil {
		t.Fatal(err)
	}
	if accepted.Load() == 0 {
		t.Fatal("the request did not come through the caller's listener")
	}
}
