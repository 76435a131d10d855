package memory

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// writeRequest is the body of a WriteItem call.
type writeRequest struct {
	Item   platform.Item `json:"item"`
	Marker string        `json:"marker"`
}

type writeResponse struct {
	ID string `json:"id"`
	// Warning is set when the item was stored with a warning
	// (platform.CopiedWithWarnings): ID is then the copy.
	Warning *errs.Error `json:"warning,omitempty"`
}

// NewHandler serves the tenants of store over HTTP, under
// /tenants/{tenant}/..., each tenant guarded by its bearer token. Errors are
// JSON bodies of errs.Error with the HTTP status real platforms use for them
// (429 with Retry-After when throttling), so Client restores the same coded
// error on the other side.
func NewHandler(store *Store) http.Handler {
	h := &handler{store: store}
	mux := http.NewServeMux()
	route := func(pattern string, fn func(*http.Request, *Tenant) (any, error)) {
		mux.HandleFunc(pattern, h.tenant(fn))
	}
	route("GET /tenants/{tenant}/limits", func(r *http.Request, t *Tenant) (any, error) {
		return t.Limits(), nil
	})
	route("GET /tenants/{tenant}/mailboxes", func(r *http.Request, t *Tenant) (any, error) {
		return t.ListMailboxes(r.Context())
	})
	route("POST /tenants/{tenant}/mailboxes", func(r *http.Request, t *Tenant) (any, error) {
		var m platform.Mailbox
		if err := decode(r, &m); err != nil {
			return nil, err
		}
		return t.CreateMailbox(r.Context(), m)
	})
	route("GET /tenants/{tenant}/mailboxes/{mailbox}/folders", func(r *http.Request, t *Tenant) (any, error) {
		return t.Folders(r.Context(), r.PathValue("mailbox"))
	})
	route("POST /tenants/{tenant}/mailboxes/{mailbox}/folders", func(r *http.Request, t *Tenant) (any, error) {
		var f platform.Folder
		if err := decode(r, &f); err != nil {
			return nil, err
		}
		return t.EnsureFolder(r.Context(), r.PathValue("mailbox"), f)
	})
	route("GET /tenants/{tenant}/mailboxes/{mailbox}/folders/{folder}/items", func(r *http.Request, t *Tenant) (any, error) {
		return t.Items(r.Context(), r.PathValue("mailbox"), r.PathValue("folder"), r.URL.Query().Get("token"))
	})
	route("POST /tenants/{tenant}/mailboxes/{mailbox}/folders/{folder}/items", func(r *http.Request, t *Tenant) (any, error) {
		// The body limit follows the tenant's item limit (plus base64 and
		// JSON overhead), so an oversized upload is refused without being
		// held in memory.
		limit := t.Limits().MaxItemBytes
		if limit < math.MaxInt64/2 {
			limit = limit/3*4 + 1<<20
		}
		r.Body = http.MaxBytesReader(nil, r.Body, limit)
		var req writeRequest
		if err := decode(r, &req); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, errs.New(errs.ItemTooLarge,
					fmt.Sprintf("the upload is over %d bytes, more than an item of the destination's limit of %d bytes needs", tooBig.Limit, t.Limits().MaxItemBytes),
					"the item is listed in the reconciliation report; move it by hand or reduce its attachments")
			}
			return nil, err
		}
		id, err := t.WriteItem(r.Context(), r.PathValue("mailbox"), r.PathValue("folder"), req.Item, req.Marker)
		if id != "" && platform.IsWarning(err) {
			e, _ := errs.As(err)
			return writeResponse{ID: id, Warning: &errs.Error{Code: e.Code, Cause: e.Cause, Action: e.Action}}, nil
		}
		if err != nil {
			return nil, err
		}
		return writeResponse{ID: id}, nil
	})
	route("GET /tenants/{tenant}/mailboxes/{mailbox}/items/{item}", func(r *http.Request, t *Tenant) (any, error) {
		return t.ReadItem(r.Context(), r.PathValue("mailbox"), platform.ItemRef{ID: r.PathValue("item")})
	})
	route("GET /tenants/{tenant}/mailboxes/{mailbox}/stats", func(r *http.Request, t *Tenant) (any, error) {
		return t.Stats(r.Context(), r.PathValue("mailbox"))
	})
	route("GET /tenants/{tenant}/mailboxes/{mailbox}/markers", func(r *http.Request, t *Tenant) (any, error) {
		return t.FindByMarker(r.Context(), r.PathValue("mailbox"), r.URL.Query().Get("marker"))
	})
	route("DELETE /tenants/{tenant}/mailboxes/{mailbox}/items/{item}", func(r *http.Request, t *Tenant) (any, error) {
		p := platform.Placed{ID: r.PathValue("item"), FolderID: r.URL.Query().Get("folder")}
		return struct{}{}, t.DeleteItem(r.Context(), r.PathValue("mailbox"), p)
	})
	return mux
}

type handler struct{ store *Store }

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return errs.Wrap(errs.Invalid, err, "the request body is not the JSON this API expects", "send the documented JSON body")
	}
	return nil
}

func (h *handler) tenant(fn func(*http.Request, *Tenant) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("tenant")
		t, ok := h.store.Tenant(name)
		if !ok {
			writeError(w, errs.New(errs.NotFound, fmt.Sprintf("there is no sandbox tenant %q", name),
				"check the tenant name in the credentials"))
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(t.token)) != 1 {
			writeError(w, errs.New(errs.AuthFailed,
				fmt.Sprintf("sandbox tenant %q did not accept the bearer token", name),
				"check the token in the credentials"))
			return
		}
		v, err := fn(r, t)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
}

// statusOf maps codes to the statuses real platforms answer with, so that
// generic HTTP tooling (proxies, retry middleware) reacts sensibly too.
func statusOf(c errs.Code) int {
	switch c {
	case errs.Invalid, errs.UnsupportedPlatform:
		return http.StatusBadRequest
	case errs.Unauthorized, errs.AuthFailed:
		return http.StatusUnauthorized
	case errs.Forbidden:
		return http.StatusForbidden
	case errs.NotFound, errs.MailboxMissing:
		return http.StatusNotFound
	case errs.Conflict:
		return http.StatusConflict
	case errs.CreditsShort:
		return http.StatusPaymentRequired
	case errs.ItemTooLarge:
		return http.StatusRequestEntityTooLarge
	case errs.CorruptItem:
		return http.StatusUnprocessableEntity
	case errs.Throttled:
		return http.StatusTooManyRequests
	case errs.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	e, ok := errs.As(err)
	if !ok {
		// Uncoded errors (a cancelled request) are not meant for users;
		// their text stays in the server.
		e = errs.New(errs.Unavailable, "the sandbox could not complete the request", "retry the request")
	}
	if e.Code == errs.Throttled && e.RetryAfter > 0 {
		// Retry-After is whole seconds on the wire, as on every real
		// platform; rounding up never makes a client retry too early.
		w.Header().Set("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(statusOf(e.Code))
	_ = json.NewEncoder(w).Encode(errs.Error{Code: e.Code, Cause: e.Cause, Action: e.Action, Field: e.Field})
}
