package project

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/services/project/internal/model"
)

// caller is who made a request.
type caller struct {
	operator  bool
	accountID string
	keyID     string
}

type callerKey struct{}

func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// Handler returns the HTTP API.
func (s *Service) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(s.correlate, s.recover)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/api/openapi.json", s.serveOpenAPI)
	s.consoleRoutes(r)
	for _, rt := range s.agentRoutes() {
		// Agents authenticate themselves (agents.go), not with API keys.
		r.Method(rt.method, rt.path, rt.handler)
	}
	r.Group(func(r chi.Router) {
		r.Use(s.authenticate)
		for _, rt := range s.routes() {
			r.Method(rt.method, rt.path, rt.handler)
		}
	})
	return r
}

// correlate gives every request a correlation id that follows it through
// every event it causes, and returns it so support can find the trail.
func (s *Service) correlate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Correlation-Id")
		if id == "" || len(id) > 128 {
			id = uuid.NewString()
		}
		w.Header().Set("X-Correlation-Id", id)
		// Every request is the root (or, with a traceparent header, a
		// child) of the trace its events carry across the services.
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := otel.Tracer("mailferry/project").Start(ctx, r.Method+" "+r.URL.Path,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("mailferry.correlation_id", id)))
		defer span.End()
		r = r.WithContext(bus.ContextWithCorrelation(ctx, id))
		next.ServeHTTP(failureLogger{ResponseWriter: w, r: r, log: s.d.Log}, r)
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			span.SetName(r.Method + " " + rc.RoutePattern())
		}
	})
}

func (s *Service) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				s.d.Log.ErrorContext(r.Context(), "API panic", "path", r.URL.Path, "panic", fmt.Sprint(v))
				writeErr(w, errs.New(errs.Internal, "mailferry failed to handle the request", "retry; if it keeps failing, report the X-Correlation-Id"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// HashKey is how API keys are stored: only their SHA-256.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func (s *Service) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if key == "" || key == r.Header.Get("Authorization") {
			writeErr(w, errs.New(errs.Unauthorized, "no API key was sent", "send the header Authorization: Bearer <your API key>"))
			return
		}
		var c caller
		if s.cfg.OperatorKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.OperatorKey)) == 1 {
			c.operator = true
		} else if k, ok := s.model.KeyByHash(HashKey(key)); ok && !k.Revoked {
			c.accountID, c.keyID = k.AccountID, k.ID
		} else {
			writeErr(w, errs.New(errs.Unauthorized, "the API key is not valid or was revoked", "check the key, or ask your operator for a new one"))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	})
}

// account resolves the account a request acts on: the caller's own, or for
// the operator the one named by ?account= or the path.
func (s *Service) account(r *http.Request) (string, error) {
	c := callerFrom(r.Context())
	want := chi.URLParam(r, "accountID")
	if want == "" {
		want = r.URL.Query().Get("account")
	}
	if c.operator {
		if want == "" {
			return "", errs.Field("account", "the operator key acts for an account: name it with ?account=<id>")
		}
		if _, ok := s.model.Account(want); !ok {
			return "", notFound("account")
		}
		return want, nil
	}
	if want != "" && want != c.accountID {
		return "", notFound("account")
	}
	return c.accountID, nil
}

func notFound(what string) error {
	return errs.New(errs.NotFound, "no such "+what, "check the id; you can only see what belongs to your account")
}

func (s *Service) operatorOnly(r *http.Request) error {
	if !callerFrom(r.Context()).operator {
		return errs.New(errs.Forbidden, "only the operator key may do this", "ask your mailferry operator")
	}
	return nil
}

// newKey makes an API key: a prefix people recognise plus 32 random bytes.
func newKey() (id, key string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "key_" + uuid.NewString()[:8], "mf_" + base64.RawURLEncoding.EncodeToString(b[:])
}

type accountRequest struct {
	Name string `json:"name"`
}

type keyResponse struct {
	AccountID string `json:"accountId"`
	KeyID     string `json:"keyId"`
	APIKey    string `json:"apiKey"`
	Note      string `json:"note"`
}

func (s *Service) createAccount(w http.ResponseWriter, r *http.Request) {
	if err := s.operatorOnly(r); err != nil {
		writeErr(w, err)
		return
	}
	var req accountRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 200 {
		writeErr(w, errs.Field("name", "give the account a name of 1 to 200 characters"))
		return
	}
	id := "acc_" + uuid.NewString()
	ctx := r.Context()
	if _, err := s.d.Bus.Publish(ctx, project.AccountSubject(id), project.AccountCreated{AccountID: id, Name: req.Name}, bus.ExpectLastSeq(0)); err != nil {
		writeErr(w, err)
		return
	}
	resp, err := s.issue(ctx, id, "initial")
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Service) issue(ctx context.Context, accountID, label string) (keyResponse, error) {
	keyID, key := newKey()
	seq, err := s.d.Bus.Publish(ctx, project.AccountSubject(accountID), project.APIKeyIssued{AccountID: accountID, KeyID: keyID, KeyHash: HashKey(key), Label: label})
	if err != nil {
		return keyResponse{}, err
	}
	if err := s.fol.WaitFor(ctx, "PROJECT", seq); err != nil {
		return keyResponse{}, err
	}
	return keyResponse{AccountID: accountID, KeyID: keyID, APIKey: key, Note: "store this key now: mailferry keeps only its hash and cannot show it again"}, nil
}

func (s *Service) issueKey(w http.ResponseWriter, r *http.Request) {
	acct, err := s.account(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	var req struct {
		Label string `json:"label"`
	}
	if err := decodeOptional(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	resp, err := s.issue(r.Context(), acct, req.Label)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Service) listKeys(w http.ResponseWriter, r *http.Request) {
	acct, err := s.account(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": s.model.Keys(acct)})
}

// revokeKey makes a key unusable at once, e.g. after it leaked.
func (s *Service) revokeKey(w http.ResponseWriter, r *http.Request) {
	acct, err := s.account(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	keyID := chi.URLParam(r, "keyID")
	found := false
	for _, k := range s.model.Keys(acct) {
		found = found || k.ID == keyID
	}
	if !found {
		writeErr(w, notFound("key"))
		return
	}
	seq, err := s.d.Bus.Publish(r.Context(), project.AccountSubject(acct), project.APIKeyRevoked{AccountID: acct, KeyID: keyID}, bus.WithID("revoke-"+keyID))
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := s.fol.WaitFor(r.Context(), "PROJECT", seq); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) whoami(w http.ResponseWriter, r *http.Request) {
	c := callerFrom(r.Context())
	if c.operator {
		writeJSON(w, http.StatusOK, map[string]any{"operator": true})
		return
	}
	a, _ := s.model.Account(c.accountID)
	writeJSON(w, http.StatusOK, map[string]any{"account": a, "keyId": c.keyID})
}

func (s *Service) purchaseCredits(w http.ResponseWriter, r *http.Request) {
	if err := s.operatorOnly(r); err != nil {
		writeErr(w, err)
		return
	}
	acct, err := s.account(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	var req struct {
		Amount    int    `json:"amount"`
		Reference string `json:"reference"`
	}
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.Amount <= 0 || req.Amount > 1_000_000 {
		writeErr(w, errs.Field("amount", "credits to add must be between 1 and 1,000,000"))
		return
	}
	ctx := r.Context()
	var before balanceResponse
	if err := s.d.Bus.Query(ctx, "billing", "balance", map[string]string{"accountId": acct}, &before); err != nil {
		writeErr(w, err)
		return
	}
	// With an Idempotency-Key, a client retrying after a timeout buys once.
	reqID := uuid.NewString()
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		reqID = "idem-" + HashKey(acct + "\x00" + k)[:32]
	}
	if _, err := s.d.Bus.Publish(ctx, project.AccountSubject(acct), project.CreditsPurchaseRequested{RequestID: reqID, AccountID: acct, Amount: req.Amount, Reference: req.Reference}, bus.WithID("purchase-"+reqID)); err != nil {
		writeErr(w, err)
		return
	}
	// Billing records the purchase; answer with the balance that shows it.
	var bal balanceResponse
	err = poll(ctx, 10*time.Second, func(ctx context.Context) (bool, error) {
		var l struct {
			Entries []struct {
				RequestID string `json:"requestId"`
			} `json:"entries"`
		}
		if err := s.d.Bus.Query(ctx, "billing", "ledger", map[string]string{"accountId": acct}, &l); err != nil {
			return false, err
		}
		for i := len(l.Entries) - 1; i >= 0; i-- {
			if l.Entries[i].RequestID == reqID {
				return true, nil
			}
		}
		return false, nil
	})
	if err == nil {
		err = s.d.Bus.Query(ctx, "billing", "balance", map[string]string{"accountId": acct}, &bal)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		writeJSON(w, http.StatusAccepted, map[string]any{"requestId": reqID, "state": "pending", "note": "billing has not recorded the purchase yet; check GET /api/credits"})
		return
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"requestId": reqID, "balance": bal})
}

type balanceResponse struct {
	AccountID string `json:"accountId"`
	Purchased int    `json:"purchased"`
	Consumed  int    `json:"consumed"`
	Held      int    `json:"held"`
	Available int    `json:"available"`
}

func (s *Service) balance(w http.ResponseWriter, r *http.Request) {
	s.proxyAccountQuery(w, r, "billing", "balance")
}

func (s *Service) ledger(w http.ResponseWriter, r *http.Request) {
	s.proxyAccountQuery(w, r, "billing", "ledger")
}

func (s *Service) proxyAccountQuery(w http.ResponseWriter, r *http.Request, service, endpoint string) {
	acct, err := s.account(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	var out json.RawMessage
	if err := s.d.Bus.Query(r.Context(), service, endpoint, map[string]string{"accountId": acct}, &out); err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusOK, out)
}

type projectRequest struct {
	Name        string `json:"name"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

func platformList() string {
	var names []string
	for _, k := range platform.Kinds {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

func (s *Service) createProject(w http.ResponseWriter, r *http.Request) {
	acct, err := s.account(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	var req projectRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	switch {
	case req.Name == "" || len(req.Name) > 200:
		err = errs.Field("name", "give the project a name of 1 to 200 characters")
	case !platform.Kind(req.Source).Valid():
		err = errs.Field("source", fmt.Sprintf("%q is not a platform; use one of %s", req.Source, platformList()))
	case !platform.Kind(req.Destination).Valid():
		err = errs.Field("destination", fmt.Sprintf("%q is not a platform; use one of %s", req.Destination, platformList()))
	case !s.cfg.AllowSandbox && platform.Kind(req.Source) == platform.Memory:
		err = errs.Field("source", "the memory sandbox platform is switched off on this installation (MAILFERRY_ALLOW_SANDBOX)")
	case !s.cfg.AllowSandbox && platform.Kind(req.Destination) == platform.Memory:
		err = errs.Field("destination", "the memory sandbox platform is switched off on this installation (MAILFERRY_ALLOW_SANDBOX)")
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	id := "prj_" + uuid.NewString()
	seq, err := s.d.Bus.Publish(r.Context(), project.ProjectSubject(id), project.ProjectCreated{ProjectID: id, AccountID: acct, Name: req.Name, Source: req.Source, Destination: req.Destination}, bus.ExpectLastSeq(0))
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := s.fol.WaitFor(r.Context(), "PROJECT", seq); err != nil {
		writeErr(w, err)
		return
	}
	p, _ := s.model.Project(id)
	writeJSON(w, http.StatusCreated, p)
}

func (s *Service) listProjects(w http.ResponseWriter, r *http.Request) {
	acct, err := s.account(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": nonNil(s.model.Projects(acct))})
}

// project returns the project in the path if the caller may see it.
func (s *Service) project(r *http.Request) (model.Project, error) {
	p, ok := s.model.Project(chi.URLParam(r, "projectID"))
	if !ok {
		return p, notFound("project")
	}
	c := callerFrom(r.Context())
	if !c.operator && p.AccountID != c.accountID {
		return model.Project{}, notFound("project")
	}
	return p, nil
}

func (s *Service) getProject(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// decode reads a JSON body strictly: unknown fields are errors, because a
// misspelt option silently ignored is worse than a clear refusal.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return errs.New(errs.Invalid, "the request body is empty", "send a JSON object")
		case errors.As(err, &te):
			return errs.Field(te.Field, fmt.Sprintf("must be a %s", te.Type))
		case errors.As(err, &se):
			return errs.New(errs.Invalid, fmt.Sprintf("the request body is not valid JSON (at byte %d)", se.Offset), "send a JSON object")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return errs.Field(f, "unknown field")
		}
		return errs.New(errs.Invalid, "the request body cannot be read: "+err.Error(), "send a JSON object")
	}
	return nil
}

func decodeOptional(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decode(r, v)
}

func statusOf(c errs.Code) int {
	switch c {
	case errs.Invalid:
		return http.StatusUnprocessableEntity
	case errs.NotFound:
		return http.StatusNotFound
	case errs.Unauthorized:
		return http.StatusUnauthorized
	case errs.Forbidden:
		return http.StatusForbidden
	case errs.Conflict:
		return http.StatusConflict
	case errs.CreditsShort:
		return http.StatusPaymentRequired
	case errs.Unavailable:
		return http.StatusServiceUnavailable
	case errs.Throttled:
		return http.StatusTooManyRequests
	case errs.AuthFailed, errs.UnsupportedPlatform:
		return http.StatusUnprocessableEntity
	}
	// Platform-specific codes (m365_..., google_..., exchange_...) say what
	// is wrong with the caller's tenant or credentials, not with mailferry.
	if i := strings.IndexByte(string(c), '_'); i > 0 {
		switch string(c)[:i] {
		case "m365", "google", "exchange", "agent":
			return http.StatusUnprocessableEntity
		}
	}
	return http.StatusInternalServerError
}

func writeErr(w http.ResponseWriter, err error) {
	e, ok := errs.As(err)
	if !ok {
		switch {
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected):
			e = errs.New(errs.Unavailable, "the event bus did not answer in time", "retry in a moment; nothing was changed unless the answer says otherwise")
		default:
			e = errs.New(errs.Internal, "mailferry failed to handle the request", "retry; if it keeps failing, report the X-Correlation-Id")
		}
	}
	if h, ok := w.(interface{ logFailure(error) }); ok && statusOf(e.Code) >= 500 {
		h.logFailure(err)
	}
	writeJSON(w, statusOf(e.Code), map[string]any{"error": e})
}

// failureLogger lets writeErr log a server-side failure with the request's
// correlation id; the client sees only the coded error.
type failureLogger struct {
	http.ResponseWriter
	r   *http.Request
	log interface {
		ErrorContext(context.Context, string, ...any)
	}
}

func (f failureLogger) logFailure(err error) {
	f.log.ErrorContext(f.r.Context(), "request failed", "method", f.r.Method, "path", f.r.URL.Path, "error", err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeRaw(w http.ResponseWriter, status int, raw json.RawMessage) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
	_, _ = w.Write([]byte("\n"))
}

// poll calls check until it reports done, an error, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, check func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		done, err := check(ctx)
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func queryInt(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errs.Field(name, "must be a whole number of 0 or more")
	}
	return n, nil
}
