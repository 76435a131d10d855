package ews

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailferry/mailferry/libs/ews/soap"
)

// budget is one throttling budget: requests in flight and the balance of
// server time.
type budget struct {
	inflight int
	balance  time.Duration
	at       time.Time
	started  bool
	// admitted and refused count the budget's requests, for benchmarks
	// that report how much of a budget a client used.
	admitted, refused int
}

type budgets struct {
	mu sync.Mutex
	m  map[string]*budget
}

// admit charges a request to the budget key (the caller, or the caller
// acting for an impersonated mailbox). On refusal it returns the fault to
// send; otherwise release must be called when the request ends.
func (s *Sandbox) admit(key string) (release func(), fault *soap.Fault) {
	s.mu.Lock()
	l := s.limits
	s.mu.Unlock()
	b := &s.budgets
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]*budget{}
	}
	bg := b.m[key]
	if bg == nil {
		bg = &budget{}
		b.m[key] = bg
	}
	now := time.Now()
	if l.MaxConcurrency > 0 && bg.inflight >= l.MaxConcurrency {
		s.throttled.Add(1)
		bg.refused++
		msg := fmt.Sprintf("This operation exceeds the throttling budget for policy part 'MaxConcurrency', policy value '%d',  Budget type: 'Ews'.  Suggested backoff time %d ms.",
			l.MaxConcurrency, l.ConcurrencyBackOff.Milliseconds())
		f := &soap.Fault{ResponseCode: "ErrorServerBusy",
			String: "You have exceeded the available concurrent connections for your account.  Try again once your other requests have completed.",
			Values: map[string]string{"Policy": "MaxConcurrency", "MaxConcurrencyLimit": strconv.Itoa(l.MaxConcurrency), "ErrorMessage": msg}}
		if l.ConcurrencyBackOff > 0 {
			f.Values["BackOffMilliseconds"] = strconv.FormatInt(l.ConcurrencyBackOff.Milliseconds(), 10)
		}
		return nil, f
	}
	if l.Burst > 0 && l.RequestCost > 0 {
		if !bg.started {
			bg.balance, bg.at, bg.started = l.Burst, now, true
		}
		// The balance recharges continuously, up to the burst.
		rate := float64(l.RechargePerHour) / float64(time.Hour)
		bg.balance = min(l.Burst, bg.balance+time.Duration(float64(now.Sub(bg.at))*rate))
		bg.at = now
		if bg.balance < l.RequestCost {
			s.throttled.Add(1)
			bg.refused++
			wait := time.Duration(math.MaxInt64)
			if rate > 0 {
				wait = time.Duration(float64(l.RequestCost-bg.balance) / rate)
			}
			ms := max(wait.Milliseconds(), 1)
			return nil, &soap.Fault{ResponseCode: "ErrorServerBusy",
				String: "The server cannot service this request right now. Try again later.",
				Values: map[string]string{"BackOffMilliseconds": strconv.FormatInt(ms, 10)}}
		}
		bg.balance -= l.RequestCost
	}
	bg.inflight++
	bg.admitted++
	return func() {
		b.mu.Lock()
		bg.inflight--
		b.mu.Unlock()
	}, nil
}

// BudgetUse is what one throttling budget admitted and refused so far,
// and its balance of server time now (Limits.Burst for a budget not used
// yet).
type BudgetUse struct {
	Admitted, Refused int
	Balance           time.Duration
}

// Budget reports the budget of the account username acting for mailbox
// (an SMTP address, through impersonation), or of the account itself when
// mailbox is empty.
func (s *Sandbox) Budget(username, mailbox string) BudgetUse {
	key := strings.ToLower(username)
	if mailbox != "" {
		key += "|" + strings.ToLower(mailbox)
	}
	s.mu.Lock()
	l := s.limits
	s.mu.Unlock()
	b := &s.budgets
	b.mu.Lock()
	defer b.mu.Unlock()
	bg := b.m[key]
	if bg == nil {
		return BudgetUse{Balance: l.Burst}
	}
	u := BudgetUse{Admitted: bg.admitted, Refused: bg.refused, Balance: bg.balance}
	if bg.started {
		rate := float64(l.RechargePerHour) / float64(time.Hour)
		u.Balance = min(l.Burst, bg.balance+time.Duration(float64(time.Since(bg.at))*rate))
	}
	return u
}
