package ews_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/ews/soap"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
)

func inbox(t *testing.T, c *soap.Client, as string) error {
	t.Helper()
	return c.Call(ctx(t), as, &soap.GetFolder{FolderShape: soap.FolderShape{BaseShape: soap.ShapeIDOnly}, FolderIDs: *soap.FolderList("inbox")}, nil)
}

func basicService(sb *sandbox.Sandbox) *soap.Client {
	return client(sb, sandbox.ServiceAccount+"@"+sb.Domain(), sandbox.Password(testSeed, sandbox.ServiceAccount), soap.AuthBasic)
}

func TestBudgetAnswersServerBusyWithBackOff(t *testing.T) {
	// 100 ms of budget, 40 ms a request, recharging a tenth of real time:
	// two requests pass, the third must wait 200 ms.
	sb := start(t, sandbox.Config{Limits: sandbox.Limits{Burst: 100 * time.Millisecond, RequestCost: 40 * time.Millisecond, RechargePerHour: 6 * time.Minute}})
	svc := basicService(sb)
	as := userAddr(sb, 1)
	// The budget recharges while requests run, so on a slow machine a
	// third request may still pass; a few more cannot.
	var err error
	served := 0
	for ; served < 10; served++ {
		if err = inbox(t, svc, as); err != nil {
			break
		}
	}
	wait, busy := soap.ServerBusy(err)
	var f *soap.Fault
	if served < 2 || !busy || !errors.As(err, &f) || wait <= 0 || wait > 400*time.Millisecond {
		t.Fatalf("after %d requests: busy %v, back-off %v, %v", served, busy, wait, err)
	}
	// Another mailbox is another budget of the service account.
	if err := inbox(t, svc, userAddr(sb, 2)); err != nil {
		t.Fatalf("another mailbox's budget: %v", err)
	}
	time.Sleep(wait + 20*time.Millisecond)
	if err := inbox(t, svc, as); err != nil {
		t.Fatalf("after the back-off: %v", err)
	}
	if sb.Throttled() != 1 {
		t.Fatalf("throttled %d times, want 1", sb.Throttled())
	}
}

// hammer sends n requests from each of g goroutines at once and sorts the
// answers: served, refused by the concurrency limit, refused by the budget
// with a back-off.
func hammer(t *testing.T, c *soap.Client, as string, g, n int) (ok, conc, budget int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			for range n {
				err := inbox(t, c, as)
				wait, busy := soap.ServerBusy(err)
				var f *soap.Fault
				errors.As(err, &f)
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case busy && f.Values["Policy"] == "MaxConcurrency":
					conc++
				case busy && wait > 0:
					budget++
				default:
					t.Errorf("unexpected answer under load: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	close(gate)
	wg.Wait()
	return ok, conc, budget
}

func TestServerBusyUnderLoad(t *testing.T) {
	// A budget of ten requests that takes a second to earn one more back.
	sb := start(t, sandbox.Config{Limits: sandbox.Limits{Burst: 100 * time.Millisecond, RequestCost: 10 * time.Millisecond, RechargePerHour: 36 * time.Second}})
	ok, conc, budget := hammer(t, basicService(sb), userAddr(sb, 1), 8, 5)
	if ok < 10 || ok > 12 || conc != 0 || ok+budget != 40 {
		t.Fatalf("under load: %d served, %d over the concurrency limit, %d over budget", ok, conc, budget)
	}
	if sb.Throttled() != budget {
		t.Fatalf("Throttled %d, refusals %d", sb.Throttled(), budget)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	sb := start(t, sandbox.Config{Limits: sandbox.Limits{MaxConcurrency: 2}, Faults: sandbox.Faults{Latency: 300 * time.Millisecond}})
	svc := basicService(sb)
	ok, conc, budget := hammer(t, svc, userAddr(sb, 1), 6, 1)
	if ok < 2 || conc < 3 || budget != 0 || ok+conc != 6 {
		t.Fatalf("6 requests at once, limit 2: %d served, %d over the limit, %d over budget", ok, conc, budget)
	}
	// The limit is per budget: acting for two mailboxes at once, the
	// service account has two budgets of 2.
	var wg sync.WaitGroup
	var okA, concA, okB, concB int
	wg.Add(2)
	go func() { defer wg.Done(); okA, concA, _ = hammer(t, svc, userAddr(sb, 1), 2, 1) }()
	go func() { defer wg.Done(); okB, concB, _ = hammer(t, svc, userAddr(sb, 2), 2, 1) }()
	wg.Wait()
	if okA+okB != 4 || concA+concB != 0 {
		t.Fatalf("two mailboxes' budgets: %d served, %d refused", okA+okB, concA+concB)
	}
}

func TestNTLMUnderConcurrency(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := service(sb)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				if err := inbox(t, svc, userAddr(sb, 1+g%3)); err != nil {
					errs <- err
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestFaults(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := basicService(sb)
	as := userAddr(sb, 1)
	cases := []struct {
		name  string
		f     sandbox.Faults
		check func(error) bool
	}{
		{"IIS queue full", sandbox.Faults{FailEvery: 1}, func(err error) bool {
			var he *soap.HTTPError
			return errors.As(err, &he) && he.Status == http.StatusServiceUnavailable
		}},
		{"internal server error", sandbox.Faults{FailEvery: 1, FailStatus: 500}, func(err error) bool {
			return soap.Code(err) == "ErrorInternalServerError"
		}},
		{"dropped connection", sandbox.Faults{DropEvery: 1}, func(err error) bool {
			var he *soap.HTTPError
			var f *soap.Fault
			return err != nil && !errors.As(err, &he) && !errors.As(err, &f)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb.SetFaults(tc.f)
			if err := inbox(t, svc, as); !tc.check(err) {
				t.Fatalf("got %v", err)
			}
			sb.SetFaults(sandbox.Faults{})
			if err := inbox(t, svc, as); err != nil {
				t.Fatalf("after the fault: %v", err)
			}
		})
	}
}
