package project

import (
	"net/http"

	"github.com/mailferry/mailferry/libs/errs"
)

func init() {
	schemas["QuoteRequest"] = obj(map[string]any{
		"mailboxes": map[string]any{"type": "array", "items": str(), "description": "source addresses; all mapped mailboxes when empty"},
	})
}

// quoteResponse prices a full run before it is started: the console shows
// it on the credits step and blocks the launch when the balance is short.
type quoteResponse struct {
	// Mailboxes is how many mailboxes the run would move.
	Mailboxes int `json:"mailboxes"`
	// AlreadyCharged of them were charged in this project before: free.
	AlreadyCharged int `json:"alreadyCharged"`
	// Needed is the credits the run would hold (one per mailbox not yet
	// charged and not held by another active run of the project).
	Needed    int `json:"needed"`
	Available int `json:"available"`
	// Short is how many credits are missing; 0 when the balance covers it.
	Short int `json:"short"`
	// Blocked are named mailboxes that cannot run (unresolved mapping).
	Blocked any `json:"blocked"`
}

// quote answers what a full run of the project's mapped mailboxes (or of
// the named ones) would cost, with billing's own rules, without holding
// anything: the same mapping and billing queries a run request uses.
func (s *Service) quote(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	var req struct {
		Mailboxes []string `json:"mailboxes"`
	}
	if err := decodeOptional(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if len(req.Mailboxes) > maxRunMailboxes {
		writeErr(w, errs.Field("mailboxes", "name at most 25000 mailboxes; leave the list empty for all mapped mailboxes"))
		return
	}
	ctx := r.Context()
	s.awaitMapping(ctx, p.ID)
	var rn runnable
	if err := s.d.Bus.Query(ctx, "mapping", "runnable", map[string]any{"projectId": p.ID, "sources": req.Mailboxes}, &rn); err != nil {
		writeErr(w, err)
		return
	}
	ids := make([]string, 0, len(rn.Pairs))
	for _, pr := range rn.Pairs {
		ids = append(ids, pr.SourceID)
	}
	var q struct {
		Needed         int `json:"needed"`
		Available      int `json:"available"`
		AlreadyCharged int `json:"alreadyCharged"`
	}
	if err := s.d.Bus.Query(ctx, "billing", "quote", map[string]any{"accountId": p.AccountID, "projectId": p.ID, "mailboxIds": ids}, &q); err != nil {
		writeErr(w, err)
		return
	}
	resp := quoteResponse{Mailboxes: len(ids), AlreadyCharged: q.AlreadyCharged, Needed: q.Needed, Available: q.Available,
		Short: max(0, q.Needed-q.Available), Blocked: nonNil(rn.Blocked)}
	writeJSON(w, http.StatusOK, resp)
}
