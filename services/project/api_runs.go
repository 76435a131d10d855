package project

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/connectors/m365"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/services/project/internal/model"
)

// credentialSpec lists, per platform, the fields (not secret, shown back)
// and secrets (write-only) a side's credentials take. anyOf secrets need at
// least one of them.
type credentialSpec struct {
	fields  []string
	secrets []string
	anyOf   bool
	// optional fields may be left out; endpoint overrides among them
	// (pointing the connector at a sandbox) need MAILFERRY_ALLOW_SANDBOX.
	optional  []string
	endpoints []string
}

var credentialSpecs = map[platform.Kind]credentialSpec{
	platform.Memory: {fields: []string{"endpoint", "tenant"}, secrets: []string{"token"}},
	platform.M365: {fields: []string{"tenantId", "clientId"}, secrets: []string{"clientSecret", "certificate"}, anyOf: true,
		optional:  []string{"usageLocation", "maxConcurrentPerMailbox", "graphBaseUrl", "authorityUrl", "caPem"},
		endpoints: []string{"graphBaseUrl", "authorityUrl", "caPem"}},
	platform.Google: {fields: []string{"adminEmail"}, secrets: []string{"serviceAccountKey"},
		optional:  []string{"clientId", "labelMode", "maxConcurrentPerMailbox", "endpoint", "tokenUrl", "caPem"},
		endpoints: []string{"endpoint", "tokenUrl", "caPem"}},
	platform.Exchange: {fields: []string{"ewsUrl", "username"}, secrets: []string{"password"},
		optional: []string{"auth", "certFingerprint", "mailboxes", "sampleMailbox", "maxConcurrentPerMailbox"}},
}

type credentialsRequest struct {
	Fields  map[string]string `json:"fields"`
	Secrets map[string]string `json:"secrets"`
}

func sideOf(r *http.Request, p model.Project) (string, platform.Kind, error) {
	switch side := chi.URLParam(r, "side"); side {
	case "source":
		return side, platform.Kind(p.Source), nil
	case "destination":
		return side, platform.Kind(p.Destination), nil
	default:
		return "", "", errs.Field("side", "must be source or destination")
	}
}

func (s *Service) setCredentials(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	side, kind, err := sideOf(r, p)
	if err != nil {
		writeErr(w, err)
		return
	}
	var req credentialsRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if err := s.validateSide(p, kind, req); err != nil {
		writeErr(w, err)
		return
	}
	ctx := r.Context()
	// A new reference per change: earlier events keep pointing at what was
	// in force when they happened.
	ref := fmt.Sprintf("cred/%s/%s/%s", p.ID, side, uuid.NewString()[:8])
	if err := s.d.Vault.Put(ctx, ref, req.Secrets); err != nil {
		s.d.Log.ErrorContext(ctx, "vault write failed", "project_id", p.ID, "side", side, "error", err)
		writeErr(w, errs.New(errs.Unavailable, "the credentials could not be stored", "retry in a moment"))
		return
	}
	seq, err := s.d.Bus.Publish(ctx, project.ProjectSubject(p.ID), project.CredentialsSet{ProjectID: p.ID, AccountID: p.AccountID, Side: side, Platform: string(kind), VaultRef: ref, Fields: req.Fields})
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := s.fol.WaitFor(ctx, "PROJECT", seq); err != nil {
		writeErr(w, err)
		return
	}
	p, _ = s.model.Project(p.ID)
	writeJSON(w, http.StatusOK, p.Credentials[side])
}

func validateCredentials(kind platform.Kind, req credentialsRequest, allowSandbox bool) error {
	spec, ok := credentialSpecs[kind]
	if !ok {
		return errs.Field("platform", "unknown platform "+string(kind))
	}
	allowed := func(list []string, k string) bool {
		for _, v := range list {
			if v == k {
				return true
			}
		}
		return false
	}
	for k := range req.Fields {
		if !allowed(spec.fields, k) && !allowed(spec.optional, k) {
			return errs.Field("fields."+k, fmt.Sprintf("not a %s credential field; expected %s", kind, strings.Join(append(spec.fields, spec.optional...), ", ")))
		}
		if allowed(spec.endpoints, k) && !allowSandbox {
			return errs.Field("fields."+k, "pointing the connector at another endpoint is for sandbox tenants, switched off on this installation (MAILFERRY_ALLOW_SANDBOX)")
		}
	}
	for k := range req.Secrets {
		if !allowed(spec.secrets, k) {
			return errs.Field("secrets."+k, fmt.Sprintf("not a %s secret; expected %s", kind, strings.Join(spec.secrets, ", ")))
		}
	}
	for _, f := range spec.fields {
		if strings.TrimSpace(req.Fields[f]) == "" {
			return errs.Field("fields."+f, "is required for "+string(kind))
		}
	}
	have := 0
	for _, f := range spec.secrets {
		if req.Secrets[f] != "" {
			have++
		} else if !spec.anyOf {
			return errs.Field("secrets."+f, "is required for "+string(kind))
		}
	}
	if have == 0 {
		return errs.Field("secrets", "give one of "+strings.Join(spec.secrets, ", "))
	}
	if kind == platform.Google {
		return checkGoogleCredentials(req)
	}
	return nil
}

// storedCredentials resolves the project and side in the path to the
// credentials stored for it.
func (s *Service) storedCredentials(r *http.Request) (model.Project, platform.Kind, *model.Credentials, error) {
	p, err := s.project(r)
	if err != nil {
		return p, "", nil, err
	}
	side, kind, err := sideOf(r, p)
	if err != nil {
		return p, "", nil, err
	}
	c, ok := p.Credentials[side]
	if !ok {
		return p, "", nil, errs.New(errs.NotFound, "no "+side+" credentials are set", "set them with PUT /api/projects/"+p.ID+"/credentials/"+side)
	}
	return p, kind, c, nil
}

func (s *Service) getCredentials(w http.ResponseWriter, r *http.Request) {
	_, _, c, err := s.storedCredentials(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// setupM365 is the guided setup of a Microsoft 365 app registration: the
// permissions by name, the manifest fragment and the admin-consent link,
// and the optional permissions of full fidelity with what each one buys.
func (s *Service) setupM365(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	writeJSON(w, http.StatusOK, m365.SetupGuide(q.Get("tenantId"), q.Get("clientId")))
}

// verifyCredentials checks a side's stored credentials against the
// platform before anything runs: they authenticate, and every permission
// mailferry needs is granted (listed by name when not).
func (s *Service) verifyCredentials(w http.ResponseWriter, r *http.Request) {
	_, kind, c, err := s.storedCredentials(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	side := c.Side
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	conn, err := s.d.Opener.Open(ctx, kind, c.Fields, c.VaultRef)
	if err != nil {
		writeErr(w, err)
		return
	}
	v, ok := conn.(platform.Verifier)
	if !ok {
		writeErr(w, errs.New(errs.Internal, "this connector cannot be verified", "run discovery instead"))
		return
	}
	res, err := v.Verify(ctx)
	if err != nil {
		writeErr(w, err)
		return
	}
	out := map[string]any{"ok": len(res.Missing) == 0, "platform": kind, "side": side, "granted": nonNil(res.Granted), "missing": nonNil(res.Missing),
		"missingOptional": nonNil(res.MissingOptional)}
	if len(res.Missing) > 0 {
		out["action"] = "grant the missing permissions to the app (" + strings.Join(res.Missing, ", ") + ") and have an administrator consent again, then verify again"
	}
	if len(res.MissingOptional) > 0 {
		// Optional permissions never fail the check; say what they buy
		// where the platform's guide says it.
		out["optionalNote"] = "not needed to migrate; granting " + strings.Join(res.MissingOptional, ", ") + " enables more (see the optional list of the setup guide)"
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) discoveryResults(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	q := r.URL.Query()
	req := map[string]any{"projectId": p.ID}
	for _, k := range []string{"runId", "side", "sort", "order", "filter"} {
		if v := q.Get(k); v != "" {
			req[k] = v
		}
	}
	if err := pagingInto(r, req); err != nil {
		writeErr(w, err)
		return
	}
	s.proxy(w, r, "discovery", "results", req)
}

func pagingInto(r *http.Request, req map[string]any) error {
	for _, k := range []string{"offset", "limit"} {
		n, err := queryInt(r, k, -1)
		if err != nil {
			return err
		}
		if n >= 0 {
			req[k] = n
		}
	}
	return nil
}

func (s *Service) proxy(w http.ResponseWriter, r *http.Request, service, endpoint string, req any) {
	var out json.RawMessage
	if err := s.d.Bus.Query(r.Context(), service, endpoint, req, &out); err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusOK, out)
}

// awaitMapping waits (briefly) until the mapping service has turned the
// project's latest completed discovery into suggestions: discovery and
// mapping are separate services, and a client that reads the mapping right
// after its discovery completed must not see the previous one.
func (s *Service) awaitMapping(ctx context.Context, projectID string) {
	latest := ""
	for _, run := range s.model.Runs(projectID) { // newest first
		if run.Mode == events.ModeDiscovery && run.State == model.StateCompleted {
			latest = run.ID
			break
		}
	}
	if latest == "" {
		return
	}
	_ = poll(ctx, 10*time.Second, func(ctx context.Context) (bool, error) {
		var m struct {
			RunID string `json:"runId"`
		}
		if err := s.d.Bus.Query(ctx, "mapping", "get", map[string]any{"projectId": projectID, "limit": 1}, &m); err != nil {
			return errs.Is(err, errs.Unavailable), nil
		}
		return m.RunID == latest, nil
	})
}

func (s *Service) getMapping(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.awaitMapping(r.Context(), p.ID)
	req := map[string]any{"projectId": p.ID}
	if r.URL.Query().Get("exceptionsOnly") == "true" {
		req["exceptionsOnly"] = true
	}
	for _, k := range []string{"filter", "action"} {
		if v := strings.TrimSpace(r.URL.Query().Get(k)); v != "" {
			req[k] = v
		}
	}
	if err := pagingInto(r, req); err != nil {
		writeErr(w, err)
		return
	}
	s.proxy(w, r, "mapping", "get", req)
}

type mappingOutcome struct {
	State  string            `json:"state"`
	Errors []json.RawMessage `json:"errors"`
}

// requestMapping publishes an edit request and waits for the mapping
// service's verdict, so the caller learns about row errors at once.
func (s *Service) requestMapping(w http.ResponseWriter, r *http.Request, p model.Project, edits []project.MappingEdit, csv string) {
	ctx := r.Context()
	reqID := uuid.NewString()
	if _, err := s.d.Bus.Publish(ctx, project.ProjectSubject(p.ID), project.MappingEditRequested{RequestID: reqID, ProjectID: p.ID, AccountID: p.AccountID, Edits: edits, CSV: csv}, bus.WithID("mapping-"+reqID)); err != nil {
		writeErr(w, err)
		return
	}
	var out mappingOutcome
	err := poll(ctx, 20*time.Second, func(ctx context.Context) (bool, error) {
		if err := s.d.Bus.Query(ctx, "mapping", "request", map[string]string{"projectId": p.ID, "requestId": reqID}, &out); err != nil {
			if errs.Is(err, errs.NotFound) {
				return false, nil
			}
			return false, err
		}
		return out.State != "pending", nil
	})
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		writeJSON(w, http.StatusAccepted, map[string]any{"requestId": reqID, "state": "pending"})
	case err != nil:
		writeErr(w, err)
	case out.State == "rejected":
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": errs.New(errs.Invalid, fmt.Sprintf("the mapping was not changed: %d problem(s) found", len(out.Errors)), "fix the listed rows and send the whole request again"), "requestId": reqID, "rowErrors": out.Errors})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"requestId": reqID, "state": out.State})
	}
}

func (s *Service) editMapping(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	var req struct {
		Edits []project.MappingEdit `json:"edits"`
	}
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if len(req.Edits) == 0 {
		writeErr(w, errs.Field("edits", "list at least one edit"))
		return
	}
	s.requestMapping(w, r, p, req.Edits, "")
}

func (s *Service) exportMapping(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.awaitMapping(r.Context(), p.ID)
	var out struct {
		CSV string `json:"csv"`
	}
	if err := s.d.Bus.Query(r.Context(), "mapping", "csv", map[string]string{"projectId": p.ID}, &out); err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "mapping-"+p.ID+".csv"))
	_, _ = io.WriteString(w, out.CSV)
}

func (s *Service) importMapping(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 6<<20+1))
	if err != nil {
		writeErr(w, errs.New(errs.Invalid, "the CSV could not be read", "send the file again"))
		return
	}
	if len(body) > 6<<20 {
		writeErr(w, errs.Field("csv", "the file is over 6 MB; split it or contact your operator"))
		return
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		writeErr(w, errs.Field("csv", "the file is empty"))
		return
	}
	s.requestMapping(w, r, p, nil, string(body))
}

// maxRunMailboxes keeps a run request (which carries its pairs) well
// under the bus's 8 MB payload limit.
const maxRunMailboxes = 25000

type runRequest struct {
	Mode      string   `json:"mode"`
	Calendar  *bool    `json:"calendar"`
	Contacts  *bool    `json:"contacts"`
	Mailboxes []string `json:"mailboxes"`
	// AllowPartial runs the named mailboxes that can run when others
	// cannot; by default a run naming mailboxes is all or nothing, so a
	// typo does not silently shrink it.
	AllowPartial bool `json:"allowPartial"`
}

type runnable struct {
	Pairs   []events.Pair `json:"pairs"`
	Blocked []struct {
		Source string `json:"source"`
		Reason string `json:"reason"`
	} `json:"blocked"`
}

func (s *Service) createRun(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	var req runRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	valid := false
	for _, m := range events.Modes {
		valid = valid || m == req.Mode
	}
	if !valid {
		writeErr(w, errs.Field("mode", fmt.Sprintf("%q is not a run mode; use one of %s", req.Mode, strings.Join(events.Modes, ", "))))
		return
	}
	if _, ok := p.Credentials["source"]; !ok {
		writeErr(w, errs.New(errs.Invalid, "the project has no source credentials", "set them with PUT /api/projects/"+p.ID+"/credentials/source"))
		return
	}
	ev := project.RunRequested{RunID: "run_" + uuid.NewString(), ProjectID: p.ID, AccountID: p.AccountID, Mode: req.Mode, Mail: true, Calendar: req.Calendar == nil || *req.Calendar, Contacts: req.Contacts == nil || *req.Contacts}
	var blocked any
	if req.Mode != events.ModeDiscovery {
		if _, ok := p.Credentials["destination"]; !ok {
			writeErr(w, errs.New(errs.Invalid, "the project has no destination credentials", "set them with PUT /api/projects/"+p.ID+"/credentials/destination"))
			return
		}
		s.awaitMapping(r.Context(), p.ID)
		var rn runnable
		if err := s.d.Bus.Query(r.Context(), "mapping", "runnable", map[string]any{"projectId": p.ID, "sources": req.Mailboxes}, &rn); err != nil {
			writeErr(w, err)
			return
		}
		blocked = rn.Blocked
		ev.Pairs = rn.Pairs
		if len(req.Mailboxes) > 0 && len(rn.Blocked) > 0 && !req.AllowPartial {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": errs.New(errs.Invalid, fmt.Sprintf("%d of the named mailboxes cannot run", len(rn.Blocked)), "fix them (see blocked) or send allowPartial: true to run the others"), "blocked": blocked})
			return
		}
		if req.Mode == events.ModeDelta {
			ev.Pairs, err = s.deltaPairs(r.Context(), p, rn.Pairs)
			if err != nil {
				writeErr(w, err)
				return
			}
		}
		if len(ev.Pairs) > maxRunMailboxes {
			writeErr(w, errs.New(errs.Invalid, fmt.Sprintf("a run may cover at most %d mailboxes; this one covers %d", maxRunMailboxes, len(ev.Pairs)), "start several runs, each naming its mailboxes"))
			return
		}
		if len(ev.Pairs) == 0 {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": errs.New(errs.Invalid, "nothing to migrate: no mailbox of this request has a resolved mapping", "resolve the mapping exceptions (GET /api/projects/"+p.ID+"/mapping?exceptionsOnly=true) or run discovery first"), "blocked": blocked})
			return
		}
	}
	ctx := r.Context()
	if _, err := s.d.Bus.Publish(ctx, project.RunSubject(ev.RunID), ev, bus.ExpectLastSeq(0)); err != nil {
		writeErr(w, err)
		return
	}
	// Wait for the decision, so a short balance is refused in this answer
	// with "needs N credits, has M" rather than discovered later.
	var run model.Run
	_ = poll(ctx, s.cfg.DecisionWait, func(context.Context) (bool, error) {
		var ok bool
		run, ok = s.model.Run(ev.RunID)
		return ok && run.State != model.StateRequested && run.State != model.StateAwaitingCredits, nil
	})
	run, _ = s.model.Run(ev.RunID)
	resp := map[string]any{"run": run}
	if blocked != nil {
		resp["blocked"] = blocked
	}
	switch {
	case run.State == model.StateRejected:
		resp["error"] = errs.New(errs.Code(run.Code), run.Reason, "add credits (operator) or run fewer mailboxes; nothing was moved")
		writeJSON(w, statusOf(errs.Code(run.Code)), resp)
	case run.ID == "" || run.State == model.StateRequested || run.State == model.StateAwaitingCredits:
		resp["run"] = model.Run{ID: ev.RunID, ProjectID: p.ID, Mode: ev.Mode, State: model.StateRequested}
		writeJSON(w, http.StatusAccepted, resp)
	default:
		writeJSON(w, http.StatusCreated, resp)
	}
}

// deltaPairs keeps the pairs whose mailbox billing has charged in this
// project: a delta run is free, so it may only move mailboxes that a full
// run has paid for, whatever state that run ended in.
func (s *Service) deltaPairs(ctx context.Context, p model.Project, pairs []events.Pair) ([]events.Pair, error) {
	ids := make([]string, 0, len(pairs))
	for _, pr := range pairs {
		ids = append(ids, pr.SourceID)
	}
	var q struct {
		Charged []string `json:"charged"`
	}
	if err := s.d.Bus.Query(ctx, "billing", "quote", map[string]any{"accountId": p.AccountID, "projectId": p.ID, "mailboxIds": ids}, &q); err != nil {
		return nil, err
	}
	charged := map[string]bool{}
	for _, id := range q.Charged {
		charged[id] = true
	}
	var out []events.Pair
	for _, pr := range pairs {
		if charged[pr.SourceID] {
			out = append(out, pr)
		}
	}
	if len(out) == 0 {
		return nil, errs.New(errs.Invalid, "a delta run needs a full run of these mailboxes first", "start a full run; delta runs then move only what changed since, for free")
	}
	return out, nil
}

func (s *Service) listRuns(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": nonNil(s.model.Runs(p.ID))})
}

func (s *Service) run(r *http.Request) (model.Run, error) {
	run, ok := s.model.Run(chi.URLParam(r, "runID"))
	c := callerFrom(r.Context())
	if !ok || (!c.operator && run.AccountID != c.accountID) {
		return model.Run{}, notFound("run")
	}
	return run, nil
}

func (s *Service) getRun(w http.ResponseWriter, r *http.Request) {
	run, err := s.run(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

func (s *Service) cancelRun(w http.ResponseWriter, r *http.Request) {
	run, err := s.run(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	if model.Terminal(run.State) {
		writeErr(w, errs.New(errs.Conflict, "the run has already ended ("+run.State+")", "nothing to cancel"))
		return
	}
	if run.Mode == events.ModeDiscovery {
		writeErr(w, errs.New(errs.Conflict, "discovery runs cannot be cancelled", "nothing to do: discovery is free and writes nothing"))
		return
	}
	seq, err := s.d.Bus.Publish(r.Context(), project.RunSubject(run.ID), project.RunCancelRequested{RunID: run.ID, ProjectID: run.ProjectID, AccountID: run.AccountID}, bus.WithID("cancel-"+run.ID))
	if err != nil {
		writeErr(w, err)
		return
	}
	_ = s.fol.WaitFor(r.Context(), "PROJECT", seq)
	run, _ = s.model.Run(run.ID)
	writeJSON(w, http.StatusAccepted, run)
}

func (s *Service) runProgress(w http.ResponseWriter, r *http.Request) {
	run, err := s.run(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	req := map[string]any{"runId": run.ID}
	if st := r.URL.Query().Get("state"); st != "" {
		req["state"] = st
	}
	if err := pagingInto(r, req); err != nil {
		writeErr(w, err)
		return
	}
	s.proxy(w, r, "telemetry", "run", req)
}
