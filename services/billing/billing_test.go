package billing

import (
	"context"
	"encoding/base64"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/billing"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/billing/internal/ledger"
)

const wait = 20 * time.Second

var vaultKey = base64.StdEncoding.EncodeToString(make([]byte, 32))

// newService builds a billing service on its own bus connection (a process
// of its own, in spirit) without starting it.
func newService(t *testing.T, url string) (*Service, *bus.Bus) {
	t.Helper()
	b := bustest.Open(t, url)
	d, err := svc.WithBus(context.Background(), "billing", b, svc.Config{VaultKey: vaultKey}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(d, Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s, b
}

// runService starts a billing service and waits until its consumers run.
func runService(t *testing.T, url string) (*Service, *bus.Bus) {
	t.Helper()
	s, b := newService(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("billing Run: %v", err)
		}
	})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.Running():
	case <-time.After(wait):
		t.Fatal("billing consumers did not start")
	}
	return s, b
}

func publish(t *testing.T, b *bus.Bus, subject string, ev events.Event, opts ...bus.PublishOption) {
	t.Helper()
	if _, err := b.Publish(context.Background(), subject, ev, opts...); err != nil {
		t.Fatal(err)
	}
}

func purchase(t *testing.T, b *bus.Bus, acct, req string, amount int) {
	t.Helper()
	publish(t, b, project.AccountSubject(acct), project.CreditsPurchaseRequested{RequestID: req, AccountID: acct, Amount: amount, Reference: "ref-" + req})
}

// bought purchases credits and waits until billing recorded them: the
// purchase and run reactors are separate consumers with no order between
// them, just as a person buys credits before launching a run.
func bought(t *testing.T, b *bus.Bus, acct, req string, amount int) {
	t.Helper()
	purchase(t, b, acct, req, amount)
	waitFor(t, b, acct, "purchase "+req, func(evs []events.Event) bool {
		for _, ev := range evs {
			if p, ok := ev.(billing.CreditsPurchased); ok && p.RequestID == req {
				return true
			}
		}
		return false
	})
}

func fullRun(acct, proj, run string, mailboxes ...string) project.RunRequested {
	r := project.RunRequested{RunID: run, ProjectID: proj, AccountID: acct, Mode: events.ModeFull, Mail: true}
	for _, m := range mailboxes {
		r.Pairs = append(r.Pairs, events.Pair{SourceID: m, SourceAddress: m + "@src.test", DestinationAddress: m + "@dst.test"})
	}
	return r
}

func started(acct, proj, run, mailbox string) transfer.MailboxStarted {
	return transfer.MailboxStarted{RunID: run, ProjectID: proj, AccountID: acct, Mode: events.ModeFull, SourceID: mailbox, Worker: "w1"}
}

func finished(acct, proj, run, state string) transfer.RunFinished {
	return transfer.RunFinished{RunID: run, ProjectID: proj, AccountID: acct, State: state}
}

// ledgerEvents reads the account's billing subject straight from the stream.
func ledgerEvents(t *testing.T, b *bus.Bus, acct string) []events.Event {
	t.Helper()
	envs, _, err := b.Load(context.Background(), Stream, billing.AccountSubject(acct), 0)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]events.Event, 0, len(envs))
	for _, e := range envs {
		out = append(out, e.Event)
	}
	return out
}

func count[T events.Event](evs []events.Event) (n int, last T) {
	for _, ev := range evs {
		if e, ok := ev.(T); ok {
			n++
			last = e
		}
	}
	return n, last
}

// waitFor polls the account's events until pred holds.
func waitFor(t *testing.T, b *bus.Bus, acct, what string, pred func([]events.Event) bool) []events.Event {
	t.Helper()
	var (
		evs []events.Event
		seq uint64
	)
	bustest.Eventually(t, wait, what, func() bool {
		// Read only what is new: Load asks the server for the subject's
		// last sequence first and opens no consumer when nothing changed.
		envs, last, err := b.Load(context.Background(), Stream, billing.AccountSubject(acct), seq)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range envs {
			evs = append(evs, e.Event)
		}
		seq = max(seq, last)
		return pred(evs)
	})
	return evs
}

func decided(run string) func([]events.Event) bool {
	return func(evs []events.Event) bool {
		for _, ev := range evs {
			switch e := ev.(type) {
			case billing.CreditsHeld:
				if e.RunID == run {
					return true
				}
			case billing.HoldRejected:
				if e.RunID == run {
					return true
				}
			}
		}
		return false
	}
}

func balance(t *testing.T, b *bus.Bus, acct string) Balance {
	t.Helper()
	var out Balance
	if err := b.Query(context.Background(), "billing", "balance", BalanceRequest{AccountID: acct}, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// neverNegative folds the account's history and fails if available ever
// dropped below zero.
func neverNegative(t *testing.T, evs []events.Event) {
	t.Helper()
	a := ledger.New("x")
	for i, ev := range evs {
		a.Apply(ev, time.Now())
		if a.Available() < 0 {
			t.Fatalf("available %d after event %d (%s)", a.Available(), i, ev.EventType())
		}
	}
}

func TestPurchaseThenBalance(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	_, b := runService(t, srv.ClientURL())
	const acct = "acct-buy"

	if got := balance(t, b, "acct-nobody"); got != (Balance{AccountID: "acct-nobody"}) {
		t.Fatalf("unknown account balance %+v, want zero", got)
	}
	// The same request delivered twice (same event id), republished with a
	// new event id, and an invalid one: only the first counts.
	req := project.CreditsPurchaseRequested{RequestID: "buy-1", AccountID: acct, Amount: 5, Reference: "invoice-1"}
	publish(t, b, project.AccountSubject(acct), req, bus.WithID("ev-buy-1"))
	publish(t, b, project.AccountSubject(acct), req, bus.WithID("ev-buy-1"))
	publish(t, b, project.AccountSubject(acct), req, bus.WithID("ev-buy-1-again"))
	purchase(t, b, acct, "buy-zero", 0)
	purchase(t, b, acct, "buy-negative", -4)
	// A later purchase marks the point where every earlier one was handled:
	// the consumer handles one event at a time, in order.
	purchase(t, b, acct, "buy-2", 2)
	evs := waitFor(t, b, acct, "second purchase", func(evs []events.Event) bool { n, _ := count[billing.CreditsPurchased](evs); return n >= 2 })
	if n, _ := count[billing.CreditsPurchased](evs); n != 2 || len(evs) != 2 {
		t.Fatalf("billing events %#v, want exactly two purchases", evs)
	}
	if got, want := balance(t, b, acct), (Balance{AccountID: acct, Purchased: 7, Available: 7}); got != want {
		t.Fatalf("balance %+v, want %+v", got, want)
	}
	var l Ledger
	if err := b.Query(context.Background(), "billing", "ledger", LedgerRequest{AccountID: acct}, &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 2 || l.Entries[0].Type != ledger.EntryPurchase || l.Entries[0].Amount != 5 || l.Entries[0].Reference != "invoice-1" || l.Entries[0].Time.IsZero() || l.Entries[1].Amount != 2 {
		t.Fatalf("ledger %+v", l)
	}
}

func TestInsufficientCreditsRejected(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	_, b := runService(t, srv.ClientURL())
	const acct = "acct-short"
	bought(t, b, acct, "buy", 2)
	publish(t, b, project.RunSubject("run-big"), fullRun(acct, "proj", "run-big", "m1", "m2", "m3"))
	evs := waitFor(t, b, acct, "decision on run-big", decided("run-big"))
	n, rej := count[billing.HoldRejected](evs)
	if n != 1 || rej.Needed != 3 || rej.Available != 2 || rej.RunID != "run-big" || rej.ProjectID != "proj" {
		t.Fatalf("rejections %d, last %+v; want one with needed 3, available 2", n, rej)
	}
	if got := ledger.Reason(rej.Needed, rej.Available); got != "needs 3 credits, has 2" {
		t.Fatalf("reason %q", got)
	}
	if h, _ := count[billing.CreditsHeld](evs); h != 0 {
		t.Fatalf("%d holds for a rejected run", h)
	}
	if got, want := balance(t, b, acct), (Balance{AccountID: acct, Purchased: 2, Available: 2}); got != want {
		t.Fatalf("balance after rejection %+v, want %+v (nothing moves)", got, want)
	}
	var l Ledger
	if err := b.Query(context.Background(), "billing", "ledger", LedgerRequest{AccountID: acct}, &l); err != nil {
		t.Fatal(err)
	}
	if last := l.Entries[len(l.Entries)-1]; last.Type != ledger.EntryRejected || last.Reference != "needs 3 credits, has 2" {
		t.Fatalf("last ledger entry %+v", last)
	}
}

// TestCreditRaceSharedConsumer runs two billing instances sharing the
// durable consumers while two full runs that the balance covers only one of
// are requested at once from separate connections.
func TestCreditRaceSharedConsumer(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	_, b1 := runService(t, srv.ClientURL())
	_, b2 := runService(t, srv.ClientURL())
	const acct = "acct-race"
	bought(t, b1, acct, "buy", 2)

	var wg sync.WaitGroup
	for i, b := range []*bus.Bus{bustest.Open(t, srv.ClientURL()), bustest.Open(t, srv.ClientURL())} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := fmt.Sprintf("run-%d", i)
			if _, err := b.Publish(context.Background(), project.RunSubject(run), fullRun(acct, fmt.Sprintf("proj-%d", i), run, "a", "b")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	evs := waitFor(t, b2, acct, "both runs decided", func(evs []events.Event) bool { return decided("run-0")(evs) && decided("run-1")(evs) })
	held, _ := count[billing.CreditsHeld](evs)
	rejected, rej := count[billing.HoldRejected](evs)
	if held != 1 || rejected != 1 || rej.Needed != 2 || rej.Available != 0 {
		t.Fatalf("held %d, rejected %d (%+v); want exactly one of each, the loser told needs 2, has 0", held, rejected, rej)
	}
	neverNegative(t, evs)
	if got := balance(t, b1, acct); got.Available != 0 || got.Held != 2 {
		t.Fatalf("balance %+v", got)
	}
}

// TestCreditRaceSeparateProcesses bypasses the consumer's one-at-a-time
// delivery: instances on their own connections decide the same account at
// the same instant, so only the expected-sequence append keeps the balance.
func TestCreditRaceSeparateProcesses(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	const instances, rounds = 4, 5
	var ss []*Service
	for range instances {
		s, _ := newService(t, srv.ClientURL())
		ss = append(ss, s)
	}
	pub := bustest.Open(t, srv.ClientURL())
	for r := range rounds {
		acct := fmt.Sprintf("acct-race-%d", r)
		publish(t, pub, billing.AccountSubject(acct), billing.CreditsPurchased{AccountID: acct, Amount: 3})
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, s := range ss {
			run := fmt.Sprintf("run-%d-%d", r, i)
			env := bus.Envelope{ID: "ev-" + run, Type: "project.run_requested", Event: fullRun(acct, fmt.Sprintf("proj-%d", i), run, "a", "b")}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if err := s.onRun(context.Background(), env); err != nil {
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		evs := ledgerEvents(t, pub, acct)
		held, _ := count[billing.CreditsHeld](evs)
		rejected, _ := count[billing.HoldRejected](evs)
		if held != 1 || rejected != instances-1 {
			t.Fatalf("round %d: held %d, rejected %d; want 1 and %d", r, held, rejected, instances-1)
		}
		neverNegative(t, evs)
	}
}

func TestConsumeOncePerProject(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	_, b := runService(t, srv.ClientURL())
	const acct = "acct-consume"
	bought(t, b, acct, "buy", 5)
	publish(t, b, project.RunSubject("r1"), fullRun(acct, "p1", "r1", "m1"))
	publish(t, b, project.RunSubject("r2"), fullRun(acct, "p1", "r2", "m1"))
	publish(t, b, project.RunSubject("r3"), fullRun(acct, "p2", "r3", "m1"))
	evs := waitFor(t, b, acct, "three holds", func(evs []events.Event) bool { n, _ := count[billing.CreditsHeld](evs); return n == 3 })
	for _, ev := range evs {
		if h, ok := ev.(billing.CreditsHeld); ok && h.RunID == "r2" && (len(h.Mailboxes) != 0 || len(h.Waiting) != 1) {
			t.Fatalf("r2 holds %+v; m1 is held by r1 already", h)
		}
	}
	if got := balance(t, b, acct); got.Held != 2 || got.Available != 3 {
		t.Fatalf("balance after holds %+v, want held 2 (m1 once per project)", got)
	}

	publish(t, b, transfer.RunSubject("r1"), started(acct, "p1", "r1", "m1"))
	publish(t, b, transfer.RunSubject("r2"), started(acct, "p1", "r2", "m1"))
	resumed := started(acct, "p1", "r2", "m1")
	resumed.Resumed = true
	publish(t, b, transfer.RunSubject("r2"), resumed)
	publish(t, b, transfer.RunSubject("r3"), started(acct, "p2", "r3", "m1"))
	for _, r := range []struct{ run, proj string }{{"r1", "p1"}, {"r2", "p1"}, {"r3", "p2"}} {
		publish(t, b, transfer.RunSubject(r.run), finished(acct, r.proj, r.run, "completed"))
	}
	evs = waitFor(t, b, acct, "three releases", func(evs []events.Event) bool { n, _ := count[billing.HoldReleased](evs); return n == 3 })
	var perProject = map[string]int{}
	for _, ev := range evs {
		if c, ok := ev.(billing.CreditConsumed); ok {
			perProject[c.ProjectID]++
		}
	}
	if perProject["p1"] != 1 || perProject["p2"] != 1 || len(perProject) != 2 {
		t.Fatalf("consumed per project %v, want one in p1 and one in p2", perProject)
	}
	if got, want := balance(t, b, acct), (Balance{AccountID: acct, Purchased: 5, Consumed: 2, Available: 3}); got != want {
		t.Fatalf("balance %+v, want %+v", got, want)
	}
}

func TestCancelReleasesUnstartedHolds(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	s, b := runService(t, srv.ClientURL())
	const acct = "acct-cancel"
	bought(t, b, acct, "buy", 3)
	publish(t, b, project.RunSubject("r1"), fullRun(acct, "p1", "r1", "m1", "m2", "m3"))
	waitFor(t, b, acct, "hold", decided("r1"))
	if got := balance(t, b, acct); got.Held != 3 || got.Available != 0 {
		t.Fatalf("balance after hold %+v", got)
	}
	publish(t, b, transfer.RunSubject("r1"), started(acct, "p1", "r1", "m1"))
	fin := finished(acct, "p1", "r1", "cancelled")
	publish(t, b, transfer.RunSubject("r1"), fin, bus.WithID("fin-1"))
	evs := waitFor(t, b, acct, "release", func(evs []events.Event) bool { n, _ := count[billing.HoldReleased](evs); return n == 1 })
	_, rel := count[billing.HoldReleased](evs)
	if fmt.Sprint(rel.Mailboxes) != "[m2 m3]" {
		t.Fatalf("released %v, want [m2 m3]", rel.Mailboxes)
	}
	if got, want := balance(t, b, acct), (Balance{AccountID: acct, Purchased: 3, Consumed: 1, Available: 2}); got != want {
		t.Fatalf("balance after cancel %+v, want %+v", got, want)
	}

	// The same finish handled again (a redelivery the dedup record missed)
	// releases nothing more.
	if err := s.onTransfer(context.Background(), bus.Envelope{ID: "fin-1", Event: fin}); err != nil {
		t.Fatal(err)
	}
	if n, _ := count[billing.HoldReleased](ledgerEvents(t, b, acct)); n != 1 {
		t.Fatalf("%d releases after a redelivered finish", n)
	}
	if got := balance(t, b, acct); got.Available != 2 {
		t.Fatalf("available %d after a redelivered finish", got.Available)
	}
}

func TestRerunOfChargedProjectNeedsNothing(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	_, b := runService(t, srv.ClientURL())
	const acct = "acct-rerun"
	bought(t, b, acct, "buy", 2)
	publish(t, b, project.RunSubject("r1"), fullRun(acct, "p1", "r1", "m1", "m2"))
	waitFor(t, b, acct, "hold r1", decided("r1"))
	publish(t, b, transfer.RunSubject("r1"), started(acct, "p1", "r1", "m1"))
	publish(t, b, transfer.RunSubject("r1"), started(acct, "p1", "r1", "m2"))
	publish(t, b, transfer.RunSubject("r1"), finished(acct, "p1", "r1", "completed"))
	waitFor(t, b, acct, "r1 released", func(evs []events.Event) bool { n, _ := count[billing.HoldReleased](evs); return n == 1 })

	var q Quote
	if err := b.Query(context.Background(), "billing", "quote", QuoteRequest{AccountID: acct, ProjectID: "p1", MailboxIDs: []string{"m1", "m2", "m3"}}, &q); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(q, Quote{Needed: 1, Available: 0, AlreadyCharged: 2, Charged: []string{"m1", "m2"}}) {
		t.Fatalf("quote %+v", q)
	}

	// A delta run never touches billing; a full re-run of the charged
	// mailboxes is approved with nothing held although the balance is 0.
	delta := fullRun(acct, "p1", "r-delta", "m1", "m2")
	delta.Mode = events.ModeDelta
	publish(t, b, project.RunSubject("r-delta"), delta)
	publish(t, b, project.RunSubject("r2"), fullRun(acct, "p1", "r2", "m1", "m2"))
	evs := waitFor(t, b, acct, "hold r2", decided("r2"))
	if decided("r-delta")(evs) {
		t.Fatal("billing decided on a delta run")
	}
	for _, ev := range evs {
		if h, ok := ev.(billing.CreditsHeld); ok && h.RunID == "r2" && (h.Mailboxes == nil || len(h.Mailboxes) != 0) {
			t.Fatalf("re-run hold %+v, want an empty list", h)
		}
	}
	if n, _ := count[billing.HoldRejected](evs); n != 0 {
		t.Fatal("re-run of a charged project was rejected")
	}
}

// TestRedeliveryNeverDoubleCounts reruns every reactor on events it has
// already handled, as a crash between append and ack would.
func TestRedeliveryNeverDoubleCounts(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	s, b := runService(t, srv.ClientURL())
	const acct = "acct-redeliver"
	buy := project.CreditsPurchaseRequested{RequestID: "buy", AccountID: acct, Amount: 4}
	run := fullRun(acct, "p1", "r1", "m1", "m2")
	start := started(acct, "p1", "r1", "m1")
	fin := finished(acct, "p1", "r1", "completed")
	publish(t, b, project.AccountSubject(acct), buy, bus.WithID("e-buy"))
	waitFor(t, b, acct, "purchase", func(evs []events.Event) bool { return len(evs) == 1 })
	publish(t, b, project.RunSubject("r1"), run, bus.WithID("e-run"))
	publish(t, b, project.RunSubject("r1"), run, bus.WithID("e-run"))
	publish(t, b, transfer.RunSubject("r1"), start, bus.WithID("e-start"))
	publish(t, b, transfer.RunSubject("r1"), start, bus.WithID("e-start"))
	publish(t, b, transfer.RunSubject("r1"), fin, bus.WithID("e-fin"))
	waitFor(t, b, acct, "release", func(evs []events.Event) bool { n, _ := count[billing.HoldReleased](evs); return n == 1 })
	before := ledgerEvents(t, b, acct)

	ctx := context.Background()
	for _, step := range []struct {
		h   bus.Handler
		env bus.Envelope
	}{
		{s.onPurchase, bus.Envelope{ID: "e-buy", Event: buy}},
		{s.onRun, bus.Envelope{ID: "e-run", Event: run}},
		{s.onTransfer, bus.Envelope{ID: "e-start", Event: start}},
		{s.onTransfer, bus.Envelope{ID: "e-start-2", Event: start}},
		{s.onTransfer, bus.Envelope{ID: "e-fin", Event: fin}},
	} {
		if err := step.h(ctx, step.env); err != nil {
			t.Fatal(err)
		}
	}
	after := ledgerEvents(t, b, acct)
	if len(after) != len(before) || len(before) != 4 {
		t.Fatalf("%d billing events before the reruns, %d after; want 4 and 4 (bought, held, consumed, released)", len(before), len(after))
	}
	if got, want := balance(t, b, acct), (Balance{AccountID: acct, Purchased: 4, Consumed: 1, Available: 3}); got != want {
		t.Fatalf("balance %+v, want %+v", got, want)
	}
	// Every decision loaded the account; none of those reads may leave a
	// consumer behind (a stream accepts 1,000), only the read model's.
	st, err := b.JetStream().Stream(ctx, Stream)
	if err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, wait, "only the read model's consumer on BILLING", func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.Consumers == 1
	})
}

func TestNewRejectsNilDeps(t *testing.T) {
	t.Parallel()
	if _, err := New(nil, Config{}); err == nil {
		t.Fatal("New(nil) succeeded")
	}
	if _, err := New(&svc.Deps{}, Config{}); err == nil {
		t.Fatal("New without a bus succeeded")
	}
}

func TestQueryNeedsAccount(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	_, b := runService(t, srv.ClientURL())
	for _, ep := range []string{"balance", "ledger", "quote"} {
		err := b.Query(context.Background(), "billing", ep, map[string]string{}, nil)
		if !errs.Is(err, errs.Invalid) {
			t.Fatalf("%s without an account: %v, want %s", ep, err, errs.Invalid)
		}
	}
}
