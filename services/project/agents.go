package project

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/connect"
	"github.com/mailferry/mailferry/libs/connectors/agent"
	"github.com/mailferry/mailferry/libs/connectors/agent/wire"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/services/project/internal/agentreg"
	"github.com/mailferry/mailferry/services/project/internal/model"
)

// The outbound connector agents: their registry (tokens, registration,
// revocation: events on the PROJECT stream), their presence (last contact,
// reported health: the KV bucket agent_presence, written with every poll
// and shared by every project instance) and their work channel (the
// relay of libs/connectors/agent). See docs/connector-agent.md.

// presenceBucket holds each agent's last contact and reported status.
const presenceBucket = "agent_presence"

// Token lifetimes, in minutes.
const (
	defaultTokenMinutes = 60
	maxTokenMinutes     = 24 * 60
)

// connectedWithin: an agent polls at least every wire.MaxPollWait; one
// not heard of for longer than this is not connected.
const connectedWithin = wire.MaxPollWait + 15*time.Second

type agentState struct {
	reg      *agentreg.Registry
	relay    *agent.Relay
	presence jetstream.KeyValue
	instance string

	mu          sync.Mutex
	lastWrite   map[string]presence
	lastStatusE map[string]time.Time
}

// presence is an agent's entry in the presence bucket.
type presence struct {
	LastContact time.Time   `json:"lastContact"`
	Instance    string      `json:"instance"`
	Status      wire.Status `json:"status"`
}

func newAgentState() *agentState {
	a := &agentState{instance: uuid.NewString()[:8], lastWrite: map[string]presence{}, lastStatusE: map[string]time.Time{}}
	a.reg = agentreg.New(func(id string) {
		// Every instance applies the revocation: whichever holds the
		// agent's poll ends it, and all refuse it from now on.
		if a.relay != nil {
			a.relay.Revoke(id)
		}
	})
	return a
}

// apply feeds an event to both read models.
func (s *Service) apply(env bus.Envelope) {
	s.model.Apply(env)
	s.agents.reg.Apply(env)
}

// startAgents opens the relay before the read models replay (so a
// replayed revocation reaches it) and the presence bucket.
func (s *Service) startAgents(ctx context.Context) error {
	relay, err := agent.NewRelay(s.d.Bus.Conn(), agent.RelayOptions{Log: s.d.Log})
	if err != nil {
		return err
	}
	s.agents.relay = relay
	go func() {
		// Ends the open polls at once on shutdown, so the HTTP server
		// does not wait for them and the agents reconnect elsewhere.
		<-ctx.Done()
		relay.Close()
	}()
	kv, err := s.d.Bus.KV(ctx, presenceBucket, 0)
	if err != nil {
		return err
	}
	s.agents.presence = kv
	return nil
}

// serveAgentQuery answers query.project.agent for the agents' connectors.
func (s *Service) serveAgentQuery() error {
	return s.d.Bus.Serve(agent.QueryService, "1.0.0", map[string]bus.QueryFunc{
		agent.QueryEndpoint: func(ctx context.Context, req json.RawMessage) (any, error) {
			var q struct {
				AgentID string `json:"agentId"`
			}
			if err := json.Unmarshal(req, &q); err != nil {
				return nil, errs.Field("agentId", "send {\"agentId\": ...}")
			}
			a, ok := s.agents.reg.Agent(q.AgentID)
			if !ok {
				return nil, notFound("agent")
			}
			v := s.agentView(ctx, a)
			info := agent.Info{AgentID: a.ID, AccountID: a.AccountID, Name: a.Name, Revoked: a.Revoked, Connected: v.Connected}
			if v.LastContact != nil {
				info.LastContact = *v.LastContact
			}
			return info, nil
		},
	})
}

// agentRoutes are the routes the agents call. They are outside the API
// key group: registration authenticates with its one-time token, the rest
// with the agent's credential.
func (s *Service) agentRoutes() []route {
	return []route{
		{http.MethodPost, "/api/agent/register", "Register an outbound connector agent with a one-time token; answers its credential once", s.registerAgent, "AgentRegisterRequest", false, nil},
		{http.MethodPost, "/api/agent/poll", "Agent long poll: report status, receive connector calls (204 after about 25 s without work)", s.agentAuth(s.agentPoll), "AgentPollRequest", false, nil},
		{http.MethodPost, "/api/agent/results", "Agent: stream one call's result back (multipart: part \"result\" JSON, then optional part \"content\")", s.agentAuth(s.agentResults), "AgentResult", false, nil},
		{http.MethodGet, "/api/agent/calls/{callID}/content", "Agent: download a call's item content (streamed)", s.agentAuth(s.agentContent), "", false, nil},
	}
}

// agentSecurity is the OpenAPI security of the agents' routes.
func agentSecurity(path string) (any, bool) {
	switch {
	case path == "/api/agent/register":
		return []any{}, true
	case strings.HasPrefix(path, "/api/agent/"):
		return []any{map[string]any{"agentCredential": []any{}}}, true
	}
	return nil, false
}

func init() {
	schemas["AgentTokenRequest"] = obj(map[string]any{
		"label":      str(),
		"ttlMinutes": map[string]any{"type": "integer", "minimum": 1, "maximum": maxTokenMinutes, "default": defaultTokenMinutes},
	})
	schemas["AgentRegisterRequest"] = obj(map[string]any{"token": str(), "name": str(), "version": str(), "os": str()}, "token", "name")
	schemas["AgentPollRequest"] = obj(map[string]any{
		"status":      obj(map[string]any{"version": str(), "os": str(), "health": str(), "lastError": str(), "lastErrorAt": str(), "platform": str()}, "health"),
		"capacity":    map[string]any{"type": "integer", "minimum": 0},
		"running":     map[string]any{"type": "array", "items": str()},
		"waitSeconds": map[string]any{"type": "integer", "minimum": 0, "maximum": int(wire.MaxPollWait / time.Second)},
	})
	schemas["AgentResult"] = map[string]any{"type": "object", "description": "multipart/form-data: part \"result\" {callId, value | error, contentSize}, then part \"content\" with contentSize bytes"}
}

// decodeAgent reads an agent's JSON body. Unlike the API's, it ignores
// unknown fields: agents are upgraded on the customers' schedule, and a
// newer agent's extra report must not cut it off from an older platform.
func decodeAgent(r *http.Request, v any) error {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
		return errs.New(errs.Invalid, "the request body is not the JSON this endpoint expects", "send the documented JSON body")
	}
	return nil
}

type agentKey struct{}

// agentAuth authenticates an agent by its credential.
func (s *Service) agentAuth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cred, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || cred == "" {
			writeErr(w, errs.New(errs.Unauthorized, "no agent credential was sent", "send Authorization: Bearer <agent credential>; register the agent first"))
			return
		}
		a, ok := s.agents.reg.AgentByCredential(HashKey(cred))
		switch {
		case !ok:
			writeErr(w, errs.New(errs.Unauthorized, "the agent credential is not valid", "register the agent again with a new token"))
			return
		case a.Revoked:
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": agent.ErrRevoked})
			return
		case s.agents.relay == nil:
			writeErr(w, errs.New(errs.Unavailable, "the platform is starting", "retry in a moment"))
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), agentKey{}, a)))
	}
}

func agentFrom(ctx context.Context) agentreg.Agent {
	a, _ := ctx.Value(agentKey{}).(agentreg.Agent)
	return a
}

func randomSecret(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func randomID(prefix string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// createAgentToken issues a one-time registration token.
func (s *Service) createAgentToken(w http.ResponseWriter, r *http.Request) {
	acct, err := s.account(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	var req struct {
		Label      string `json:"label"`
		TTLMinutes int    `json:"ttlMinutes"`
	}
	if err := decodeOptional(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.TTLMinutes == 0 {
		req.TTLMinutes = defaultTokenMinutes
	}
	if req.TTLMinutes < 1 || req.TTLMinutes > maxTokenMinutes {
		writeErr(w, errs.Field("ttlMinutes", fmt.Sprintf("a registration token lives 1 to %d minutes", maxTokenMinutes)))
		return
	}
	if len(req.Label) > 200 {
		writeErr(w, errs.Field("label", "at most 200 characters"))
		return
	}
	id, token := randomID("agtok_"), randomSecret("mfat_")
	expires := time.Now().UTC().Add(time.Duration(req.TTLMinutes) * time.Minute).Truncate(time.Second)
	seq, err := s.d.Bus.Publish(r.Context(), project.AgentTokenSubject(id), project.AgentTokenCreated{AccountID: acct, TokenID: id, TokenHash: HashKey(token), Label: req.Label, Expires: expires}, bus.ExpectLastSeq(0))
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := s.fol.WaitFor(r.Context(), "PROJECT", seq); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"tokenId": id, "token": token, "expires": expires,
		"note": "use this token once, before it expires, to register an agent: connector-agent register --url <this platform's URL> --token <token>; mailferry keeps only its hash",
	})
}

// registerAgent admits an agent that shows a valid one-time token.
func (s *Service) registerAgent(w http.ResponseWriter, r *http.Request) {
	var req wire.RegisterRequest
	if err := decodeAgent(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	switch {
	case req.Token == "":
		writeErr(w, errs.Field("token", "the registration token is missing"))
		return
	case req.Name == "" || len(req.Name) > 200:
		writeErr(w, errs.Field("name", "give the agent a name of 1 to 200 characters (its server's name is a good one)"))
		return
	case len(req.Version) > 64 || len(req.OS) > 64:
		writeErr(w, errs.Field("version", "version and os are at most 64 characters"))
		return
	}
	tok, ok := s.agents.reg.TokenByHash(HashKey(req.Token))
	switch {
	case !ok:
		writeErr(w, errs.New(errs.Unauthorized, "the registration token is not valid", "create a new token with POST /api/agents/tokens"))
		return
	case tok.Redeemed:
		writeErr(w, errs.New(errs.Unauthorized, "the registration token was already used", "a token registers one agent; create a new one with POST /api/agents/tokens"))
		return
	case time.Now().After(tok.Expires):
		writeErr(w, errs.New(errs.Unauthorized, "the registration token expired at "+tok.Expires.UTC().Format(time.RFC3339), "create a new token with POST /api/agents/tokens and register within its lifetime"))
		return
	}
	ctx := r.Context()
	agentID, cred := randomID("agt_"), randomSecret("mfa_")
	// Expecting the token subject's sequence makes the token single-use
	// even when two registrations race on different instances.
	if _, err := s.d.Bus.Publish(ctx, project.AgentTokenSubject(tok.ID), project.AgentTokenRedeemed{AccountID: tok.AccountID, TokenID: tok.ID, AgentID: agentID}, bus.ExpectLastSeq(tok.Seq)); err != nil {
		if errors.Is(err, bus.ErrConflict) {
			err = errs.New(errs.Unauthorized, "the registration token was already used", "a token registers one agent; create a new one with POST /api/agents/tokens")
		}
		writeErr(w, err)
		return
	}
	seq, err := s.d.Bus.Publish(ctx, project.AgentSubject(agentID), project.AgentRegistered{AccountID: tok.AccountID, AgentID: agentID, TokenID: tok.ID, Name: req.Name, Version: req.Version, OS: req.OS, CredentialHash: HashKey(cred)}, bus.ExpectLastSeq(0))
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := s.fol.WaitFor(ctx, "PROJECT", seq); err != nil {
		writeErr(w, err)
		return
	}
	s.d.Log.InfoContext(ctx, "agent registered", "agent_id", agentID, "account_id", tok.AccountID, "name", req.Name, "version", req.Version)
	writeJSON(w, http.StatusCreated, wire.RegisterResponse{AgentID: agentID, AccountID: tok.AccountID, Credential: cred,
		Note: "the agent stores this credential; mailferry keeps only its hash and cannot show it again"})
}

// agentView is an agent as the API shows it.
type agentView struct {
	ID          string     `json:"id"`
	AccountID   string     `json:"accountId"`
	Name        string     `json:"name"`
	Version     string     `json:"version,omitempty"`
	OS          string     `json:"os,omitempty"`
	Platform    string     `json:"platform,omitempty"`
	Registered  time.Time  `json:"registered"`
	Revoked     bool       `json:"revoked"`
	RevokedAt   *time.Time `json:"revokedAt,omitempty"`
	Connected   bool       `json:"connected"`
	LastContact *time.Time `json:"lastContact,omitempty"`
	Health      string     `json:"health,omitempty"`
	LastError   string     `json:"lastError,omitempty"`
	LastErrorAt *time.Time `json:"lastErrorAt,omitempty"`
}

func (s *Service) agentView(ctx context.Context, a agentreg.Agent) agentView {
	v := agentView{ID: a.ID, AccountID: a.AccountID, Name: a.Name, Version: a.Version, OS: a.OS, Registered: a.Registered, Revoked: a.Revoked, RevokedAt: a.RevokedAt, Health: a.Health}
	if s.agents.presence == nil {
		return v
	}
	e, err := s.agents.presence.Get(ctx, a.ID)
	if err != nil {
		return v
	}
	var p presence
	if json.Unmarshal(e.Value(), &p) != nil {
		return v
	}
	v.LastContact = &p.LastContact
	v.Connected = !a.Revoked && time.Since(p.LastContact) < connectedWithin
	if p.Status.Version != "" {
		v.Version = p.Status.Version
	}
	if p.Status.Health != "" {
		v.Health = p.Status.Health
	}
	v.Platform, v.LastError = p.Status.Platform, p.Status.LastError
	if !p.Status.LastErrorAt.IsZero() {
		t := p.Status.LastErrorAt
		v.LastErrorAt = &t
	}
	return v
}

// agentOf returns the agent in the path if the caller may see it.
func (s *Service) agentOf(r *http.Request) (agentreg.Agent, error) {
	acct, err := s.account(r)
	if err != nil {
		return agentreg.Agent{}, err
	}
	a, ok := s.agents.reg.Agent(chi.URLParam(r, "agentID"))
	if !ok || a.AccountID != acct {
		return agentreg.Agent{}, notFound("agent")
	}
	return a, nil
}

func (s *Service) listAgents(w http.ResponseWriter, r *http.Request) {
	acct, err := s.account(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	out := []agentView{}
	for _, a := range s.agents.reg.Agents(acct) {
		out = append(out, s.agentView(r.Context(), a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": out})
}

func (s *Service) getAgent(w http.ResponseWriter, r *http.Request) {
	a, err := s.agentOf(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.agentView(r.Context(), a))
}

// revokeAgent makes an agent's credential unusable at once: every
// instance refuses it and ends its open poll when it applies the event.
func (s *Service) revokeAgent(w http.ResponseWriter, r *http.Request) {
	a, err := s.agentOf(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	if !a.Revoked {
		seq, err := s.d.Bus.Publish(r.Context(), project.AgentSubject(a.ID), project.AgentRevoked{AccountID: a.AccountID, AgentID: a.ID}, bus.WithID("revoke-"+a.ID))
		if err != nil {
			writeErr(w, err)
			return
		}
		if err := s.fol.WaitFor(r.Context(), "PROJECT", seq); err != nil {
			writeErr(w, err)
			return
		}
		s.d.Log.InfoContext(r.Context(), "agent revoked", "agent_id", a.ID, "account_id", a.AccountID)
	}
	w.WriteHeader(http.StatusNoContent)
}

// touch records a contact with an agent in the presence bucket: at most
// every few seconds per agent and instance unless its status changed.
func (s *Service) touch(ctx context.Context, a agentreg.Agent, st *wire.Status) {
	now := time.Now().UTC()
	s.agents.mu.Lock()
	prev := s.agents.lastWrite[a.ID]
	p := presence{LastContact: now, Instance: s.agents.instance, Status: prev.Status}
	if st != nil {
		p.Status = *st
	}
	skip := now.Sub(prev.LastContact) < 5*time.Second && p.Status == prev.Status
	if !skip {
		s.agents.lastWrite[a.ID] = p
	}
	s.agents.mu.Unlock()
	if skip {
		return
	}
	data, _ := json.Marshal(p)
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if _, err := s.agents.presence.Put(kctx, a.ID, data); err != nil {
		s.d.Log.WarnContext(ctx, "agent presence not recorded", "agent_id", a.ID, "error", err)
	}
	if st != nil {
		s.statusChanged(kctx, a, *st)
	}
}

// statusChanged records a new version or health on the agent's
// aggregate, at most once a minute per agent and instance unless the
// version changed (an upgrade).
func (s *Service) statusChanged(ctx context.Context, a agentreg.Agent, st wire.Status) {
	if st.Version == a.Version && st.Health == a.Health {
		return
	}
	s.agents.mu.Lock()
	last := s.agents.lastStatusE[a.ID]
	recent := st.Version == a.Version && time.Since(last) < time.Minute
	if !recent {
		s.agents.lastStatusE[a.ID] = time.Now()
	}
	s.agents.mu.Unlock()
	if recent {
		return
	}
	_, err := s.d.Bus.Publish(ctx, project.AgentSubject(a.ID), project.AgentStatusChanged{AccountID: a.AccountID, AgentID: a.ID, Version: st.Version, Health: st.Health}, bus.ExpectLastSeq(a.Seq))
	if err != nil && !errors.Is(err, bus.ErrConflict) {
		s.d.Log.WarnContext(ctx, "agent status not recorded", "agent_id", a.ID, "error", err)
	}
}

// agentPoll is the agent's long poll.
func (s *Service) agentPoll(w http.ResponseWriter, r *http.Request) {
	a := agentFrom(r.Context())
	var req wire.PollRequest
	if err := decodeAgent(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if len(req.Status.LastError) > 2000 {
		req.Status.LastError = req.Status.LastError[:2000]
	}
	s.touch(r.Context(), a, &req.Status)
	wait := wire.MaxPollWait
	if req.WaitSeconds > 0 {
		wait = min(wait, time.Duration(req.WaitSeconds)*time.Second)
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	calls, err := s.agents.relay.Poll(ctx, a.ID, req.Capacity, req.Running)
	if errs.Is(err, agent.CodeRevoked) {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": agent.ErrRevoked})
		return
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	if len(calls) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, wire.PollResponse{Calls: calls})
}

// agentResults streams one result to the caller waiting for it, wherever
// it is: part "result" (the JSON wire.Result), then part "content".
func (s *Service) agentResults(w http.ResponseWriter, r *http.Request) {
	a := agentFrom(r.Context())
	s.touch(r.Context(), a, nil)
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		writeErr(w, errs.New(errs.Invalid, "results are multipart/form-data", "send part \"result\" and then, if any, part \"content\""))
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "result" {
		writeErr(w, errs.New(errs.Invalid, "the first part must be \"result\"", "send part \"result\" first"))
		return
	}
	meta, err := io.ReadAll(io.LimitReader(part, wire.MaxMeta+1))
	if err != nil {
		writeErr(w, errs.Wrap(errs.Unavailable, err, "the result could not be read", "send it again"))
		return
	}
	if len(meta) > wire.MaxMeta {
		writeErr(w, errs.New(errs.Invalid, fmt.Sprintf("a result's JSON is at most %d bytes", wire.MaxMeta), "answer with an error instead"))
		return
	}
	var res wire.Result
	if err := json.Unmarshal(meta, &res); err != nil {
		writeErr(w, errs.New(errs.Invalid, "the result part is not a JSON result", "send {callId, value | error, contentSize}"))
		return
	}
	var content io.Reader
	if res.ContentSize > 0 {
		cp, err := mr.NextPart()
		if err != nil || cp.FormName() != "content" {
			writeErr(w, errs.New(errs.Invalid, "the result announces content but has no part \"content\"", "send part \"content\" after \"result\""))
			return
		}
		content = cp
	}
	if err := s.agents.relay.Deliver(r.Context(), a.ID, res.CallID, meta, res.ContentSize, content); err != nil {
		if errors.Is(err, agent.ErrGone) {
			writeJSON(w, http.StatusGone, map[string]any{"error": agent.ErrGone})
			return
		}
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// agentContent streams a call's item content to the agent.
func (s *Service) agentContent(w http.ResponseWriter, r *http.Request) {
	a := agentFrom(r.Context())
	s.touch(r.Context(), a, nil)
	sw := &startedWriter{w: w}
	n, err := s.agents.relay.Content(r.Context(), a.ID, chi.URLParam(r, "callID"), sw)
	if err == nil && n == 0 {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
	}
	if err != nil && !sw.started {
		if errors.Is(err, agent.ErrGone) {
			writeJSON(w, http.StatusGone, map[string]any{"error": agent.ErrGone})
			return
		}
		writeErr(w, err)
	}
	// After the first byte an error can only cut the body short; the
	// agent sees fewer bytes than the call's contentSize.
}

// startedWriter sets the content type before the first byte.
type startedWriter struct {
	w       http.ResponseWriter
	started bool
}

func (s *startedWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/octet-stream")
		s.w.WriteHeader(http.StatusOK)
	}
	return s.w.Write(p)
}

// validateSide checks a side's credentials: through an agent, or with
// the platform's own fields and secrets.
func (s *Service) validateSide(p model.Project, kind platform.Kind, req credentialsRequest) error {
	if !connect.IsAgent(kind, req.Fields) {
		return validateCredentials(kind, req, s.cfg.AllowSandbox)
	}
	allowed := map[string]bool{agent.FieldAgentID: true, "ewsUrl": true, "username": true}
	for k, v := range req.Fields {
		if !allowed[k] {
			return errs.Field("fields."+k, "with an agent, the fields are agentId and, for display, ewsUrl and username; everything else is configured on the agent")
		}
		if len(v) > 500 {
			return errs.Field("fields."+k, "at most 500 characters")
		}
	}
	for k := range req.Secrets {
		return errs.Field("secrets."+k, "with an agent the Exchange password stays on the agent's server and never reaches mailferry: set it there with connector-agent configure exchange --password-stdin, and send no secrets here")
	}
	a, ok := s.agents.reg.Agent(req.Fields[agent.FieldAgentID])
	switch {
	case !ok || a.AccountID != p.AccountID:
		return errs.Field("fields."+agent.FieldAgentID, "no such agent in this account; list them with GET /api/agents")
	case a.Revoked:
		return errs.Field("fields."+agent.FieldAgentID, "this agent was revoked; register a new one")
	}
	return nil
}
