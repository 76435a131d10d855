package project

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/mailferry/mailferry/libs/errs"
)

// The telemetry routes proxy to the telemetry service's queries
// (query.telemetry.*) after checking that the caller may see the project,
// run or account; telemetry owns the read models and the ClickHouse store.

func init() {
	schemas["SQLRequest"] = obj(map[string]any{"query": map[string]any{"type": "string",
		"description": "one SELECT, WITH, SHOW, DESCRIBE or EXPLAIN statement over the tables of docs/analytics.md"}}, "query")
}

// logQuery are the log's query parameters.
var logQuery = []string{"runId", "level", "from", "to", "offset", "limit"}

func (s *Service) projectProgress(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.proxy(w, r, "telemetry", "project", map[string]any{"projectId": p.ID})
}

func (s *Service) mailboxProgress(w http.ResponseWriter, r *http.Request) {
	run, err := s.run(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.proxy(w, r, "telemetry", "mailbox", map[string]any{"runId": run.ID, "sourceId": chi.URLParam(r, "sourceID")})
}

// logRequest builds the telemetry log request from the query string.
func logRequest(r *http.Request, projectID, mailbox string) (map[string]any, error) {
	req := map[string]any{"projectId": projectID}
	if mailbox != "" {
		req["mailbox"] = mailbox
	}
	q := r.URL.Query()
	for _, k := range []string{"runId", "level", "from", "to"} {
		if v := q.Get(k); v != "" {
			req[k] = v
		}
	}
	return req, pagingInto(r, req)
}

func (s *Service) projectLog(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	req, err := logRequest(r, p.ID, r.URL.Query().Get("mailbox"))
	if err != nil {
		writeErr(w, err)
		return
	}
	s.proxy(w, r, "telemetry", "log", req)
}

func (s *Service) mailboxLog(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	// A client that escapes the address's "@" as %40 means the same
	// mailbox.
	mailbox, err := url.PathUnescape(chi.URLParam(r, "mailbox"))
	if err != nil {
		writeErr(w, errs.Field("mailbox", "not a valid path segment: "+err.Error()))
		return
	}
	req, err := logRequest(r, p.ID, mailbox)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.proxy(w, r, "telemetry", "log", req)
}

func reportRequest(r *http.Request, projectID string) map[string]any {
	req := map[string]any{"projectId": projectID}
	for _, k := range []string{"mailbox", "runId"} {
		if v := r.URL.Query().Get(k); v != "" {
			req[k] = v
		}
	}
	return req
}

func (s *Service) reconciliation(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	req := reportRequest(r, p.ID)
	if err := pagingInto(r, req); err != nil {
		writeErr(w, err)
		return
	}
	s.proxy(w, r, "telemetry", "report", req)
}

// reconciliationCSV downloads the whole report as CSV: telemetry answers
// it in pages (a bus message has a size limit), joined here.
func (s *Service) reconciliationCSV(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	req := reportRequest(r, p.ID)
	req["format"] = "csv"
	var out strings.Builder
	for offset := 0; offset >= 0; {
		req["offset"] = offset
		var page struct {
			CSV  string `json:"csv"`
			Next int    `json:"next"`
		}
		if err := s.d.Bus.Query(r.Context(), "telemetry", "report", req, &page); err != nil {
			writeErr(w, err)
			return
		}
		out.WriteString(page.CSV)
		offset = page.Next
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="reconciliation-`+p.ID+`.csv"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(out.String()))
}

func (s *Service) fleet(w http.ResponseWriter, r *http.Request) {
	acct, err := s.account(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	req := map[string]any{"accountId": acct}
	if h := r.URL.Query().Get("health"); h != "" {
		req["health"] = strings.Split(h, ",")
	}
	s.proxy(w, r, "telemetry", "fleet", req)
}

// sql runs an analyst's read-only query. It sees the whole installation's
// tables, every account's rows, so only the operator may.
func (s *Service) sql(w http.ResponseWriter, r *http.Request) {
	if err := s.operatorOnly(r); err != nil {
		writeErr(w, err)
		return
	}
	var req struct {
		Query string `json:"query"`
	}
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if strings.TrimSpace(req.Query) == "" {
		writeErr(w, errs.Field("query", "send the SQL to run"))
		return
	}
	var out json.RawMessage
	if err := s.d.Bus.Query(r.Context(), "telemetry", "sql", req, &out); err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusOK, out)
}
