package google

import (
	"fmt"
	"net/http"
	"sync"
	"time"
)

type apiKind int

const (
	apiGmail apiKind = iota
	apiCalendar
	apiPeople
	apiDirectory
)

// service is the API's service name as quota errors quote it.
func (a apiKind) service() string {
	switch a {
	case apiCalendar:
		return "calendar-json.googleapis.com"
	case apiPeople:
		return "people.googleapis.com"
	case apiDirectory:
		return "admin.googleapis.com"
	}
	return "gmail.googleapis.com"
}

// gmailCost is Google's per-method quota table for Gmail
// (developers.google.com/gmail/api/reference/quota).
var gmailCost = map[string]int{
	"drafts.create": 10, "drafts.delete": 10, "drafts.get": 5, "drafts.list": 5, "drafts.send": 100, "drafts.update": 15,
	"getProfile": 1, "history.list": 2,
	"labels.create": 5, "labels.delete": 5, "labels.get": 1, "labels.list": 1, "labels.update": 5, "labels.patch": 5,
	"messages.attachments.get": 5, "messages.batchDelete": 50, "messages.batchModify": 50, "messages.delete": 10,
	"messages.get": 5, "messages.import": 25, "messages.insert": 25, "messages.list": 5, "messages.modify": 5,
	"messages.send": 100, "messages.trash": 5, "messages.untrash": 5,
	"threads.delete": 20, "threads.get": 10, "threads.list": 10, "threads.modify": 10, "threads.trash": 10, "threads.untrash": 10,
}

type window struct {
	start time.Time
	used  int
}

// quotaState counts quota use in fixed windows per user and per project.
type quotaState struct {
	mu       sync.Mutex
	win      map[string]*window
	inflight map[string]int
	units    map[string]int64 // total Gmail units granted per user, for benchmarks
}

// budgetOf returns the per-user and per-project budgets of an API.
func budgetOf(l Limits, a apiKind) (user, proj int) {
	switch a {
	case apiGmail:
		return l.GmailUserUnits, l.GmailProjectUnits
	case apiCalendar:
		return l.CalendarUserRequests, l.CalendarProjectRequests
	case apiPeople:
		return l.PeopleUserRequests, 0
	case apiDirectory:
		return l.DirectoryUserRequests, 0
	}
	return 0, 0
}

// refusal says which quota refused a request.
type refusal int

const (
	admitted refusal = iota
	userQuota
	projectQuota
	concurrency
)

// take charges cost to the user's and the project's windows when both
// have room. A request costing more than a whole budget passes on an
// empty window, or it could never succeed.
func (q *quotaState) take(l Limits, a apiKind, userKey string, cost int, now time.Time) (refusal, time.Time) {
	ub, pb := budgetOf(l, a)
	if l.Window <= 0 {
		ub, pb = 0, 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.win == nil {
		q.win = map[string]*window{}
		q.inflight = map[string]int{}
		q.units = map[string]int64{}
	}
	get := func(key string) *window {
		w := q.win[key]
		if w == nil {
			w = &window{}
			q.win[key] = w
		}
		if now.Sub(w.start) >= l.Window {
			w.start, w.used = now, 0
		}
		return w
	}
	var uw, pw *window
	if pb > 0 {
		pw = get(fmt.Sprint(a, "|project"))
		if pw.used > 0 && pw.used+cost > pb {
			return projectQuota, pw.start.Add(l.Window)
		}
	}
	if ub > 0 {
		uw = get(fmt.Sprint(a, "|", userKey))
		if uw.used > 0 && uw.used+cost > ub {
			return userQuota, uw.start.Add(l.Window)
		}
	}
	if a == apiGmail && l.GmailConcurrent > 0 && q.inflight[userKey] >= l.GmailConcurrent {
		return concurrency, now
	}
	if uw != nil {
		uw.used += cost
	}
	if pw != nil {
		pw.used += cost
	}
	if a == apiGmail {
		q.units[userKey] += int64(cost)
		q.inflight[userKey]++
	}
	return admitted, time.Time{}
}

func (q *quotaState) release(userKey string) {
	q.mu.Lock()
	q.inflight[userKey]--
	q.mu.Unlock()
}

// GmailUnits is the Gmail quota a user has been charged so far; benchmarks
// relate throughput to it.
func (s *Sandbox) GmailUnits(email string) int64 {
	s.quota.mu.Lock()
	defer s.quota.mu.Unlock()
	return s.quota.units[normEmail(email)]
}

// refuse answers a quota refusal the way the API does: Gmail's per-user
// minute quota with 429 (or 403, see Limits.UserQuotaStatus) and reason
// userRateLimitExceeded, the project's with 403 rateLimitExceeded, the
// concurrency limit with 429 "Too many concurrent requests for user".
func (s *Sandbox) refuse(w http.ResponseWriter, a apiKind, why refusal, l Limits) {
	s.throttled.Add(1)
	s.mu.Lock()
	projNum := s.project.number
	s.mu.Unlock()
	info := func(limit string, value int) map[string]any {
		return map[string]any{
			"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
			"metadata": map[string]string{
				"service": a.service(), "consumer": "projects/" + projNum, "quota_limit": limit,
				"quota_limit_value": fmt.Sprint(value), "quota_metric": a.service() + "/default", "quota_location": "global",
			},
		}
	}
	ub, pb := budgetOf(l, a)
	switch why {
	case concurrency:
		writeErr(w, apiErr{code: http.StatusTooManyRequests, reason: "rateLimitExceeded", msg: "Too many concurrent requests for user"})
	case projectQuota:
		writeErr(w, apiErr{code: http.StatusForbidden, reason: "rateLimitExceeded", domain: "usageLimits",
			status: "PERMISSION_DENIED", details: []any{info("QueriesPerMinute", pb)},
			msg: fmt.Sprintf("Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service '%s' for consumer 'project_number:%s'.", a.service(), projNum)})
	default:
		code := l.UserQuotaStatus
		if code != http.StatusForbidden && code != http.StatusTooManyRequests {
			code = http.StatusTooManyRequests
			if a == apiCalendar {
				code = http.StatusForbidden
			}
		}
		status := "RESOURCE_EXHAUSTED"
		if code == http.StatusForbidden {
			status = "PERMISSION_DENIED"
		}
		writeErr(w, apiErr{code: code, reason: "userRateLimitExceeded", domain: "usageLimits",
			status: status, details: []any{info("QueriesPerMinutePerUser", ub)},
			msg: fmt.Sprintf("Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service '%s' for consumer 'project_number:%s'.", a.service(), projNum)})
	}
}
