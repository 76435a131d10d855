package ews

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mailferry/mailferry/libs/ews/soap"
)

// call is one SOAP request being served.
type call struct {
	s       *Sandbox
	env     *soap.Envelope
	caller  *account
	mbx     *mailbox // the mailbox acted on: the impersonated one, or the caller's
	version string
}

// Exchange's schema versions; requests name one of them.
var knownVersions = []string{"Exchange2007", "Exchange2007_SP1", "Exchange2010", "Exchange2010_SP1", "Exchange2010_SP2",
	"Exchange2013", "Exchange2013_SP1", "Exchange2015", "Exchange2016", "V2015_10_05", "V2016_01_06", "V2016_04_13",
	"V2016_07_13", "V2016_10_10", "V2017_01_07", "V2017_04_14", "V2017_07_11"}

type handler func(c *call) (any, *soap.Fault)

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"GetFolder": (*call).getFolder, "FindFolder": (*call).findFolder, "CreateFolder": (*call).createFolder,
		"SyncFolderHierarchy": (*call).syncFolderHierarchy,
		"FindItem":            (*call).findItem, "GetItem": (*call).getItem, "CreateItem": (*call).createItem,
		"UpdateItem": (*call).updateItem, "DeleteItem": (*call).deleteItem, "SyncFolderItems": (*call).syncFolderItems,
		"ResolveNames": (*call).resolveNames,
	}
}

// ServeHTTP serves the EWS endpoint.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.URL.Path, "/EWS/Exchange.asmx") {
		http.NotFound(w, r)
		return
	}
	s.requests.Add(1)
	s.mu.Lock()
	f := s.faults
	s.faultN++
	n := s.faultN
	s.mu.Unlock()
	// The body is read before anything is answered: an NTLM handshake
	// resends it on the same connection, which an unread body would close.
	body, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxRequestBytes+1))
	if err != nil {
		return
	}
	if f.DropEvery > 0 && n%uint64(f.DropEvery) == 0 {
		panic(http.ErrAbortHandler)
	}
	if f.FailEvery > 0 && n%uint64(f.FailEvery) == 0 {
		if f.FailStatus == http.StatusInternalServerError {
			s.writeEnvelope(w, http.StatusInternalServerError, nil, &soap.Fault{ResponseCode: "ErrorInternalServerError",
				String: "An internal server error occurred. The operation failed."})
			return
		}
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	caller := s.authenticate(w, r)
	if caller == nil {
		return
	}
	s.mu.Lock()
	disabled, mayImpersonate := caller.EWSDisabled, caller.Impersonation
	s.mu.Unlock()
	if s.ewsOff.Load() || disabled {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if int64(len(body)) > s.cfg.MaxRequestBytes {
		http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
		return
	}
	env, err := soap.ParseEnvelope(body)
	if err != nil || env.BodyName.Local == "" {
		s.reply(w, nil, "", caller, body, nil, &soap.Fault{ResponseCode: "ErrorSchemaValidation",
			String: "The request failed schema validation: the request is not a SOAP envelope."})
		return
	}
	c := &call{s: s, env: env, caller: caller, mbx: caller.mbx, version: "Exchange2007_SP1"}
	if v := env.Header.RequestServerVersion; v != nil {
		if !slices.Contains(knownVersions, v.Version) {
			s.reply(w, c, env.BodyName.Local, caller, body, nil, &soap.Fault{ResponseCode: "ErrorInvalidServerVersion",
				String: "The specified server version is invalid."})
			return
		}
		c.version = v.Version
	}
	budgetKey := strings.ToLower(caller.Username)
	if imp := env.Header.ExchangeImpersonation; imp != nil {
		if !mayImpersonate {
			s.reply(w, c, env.BodyName.Local, caller, body, nil, &soap.Fault{ResponseCode: "ErrorImpersonateUserDenied",
				String: "The account does not have permission to impersonate the requested user."})
			return
		}
		target := s.lookupSMTP(imp.ConnectingSID.Address())
		if target == nil || target.mbx == nil {
			s.reply(w, c, env.BodyName.Local, caller, body, nil, &soap.Fault{ResponseCode: "ErrorNonExistentMailbox",
				String: "The SMTP address has no mailbox associated with it."})
			return
		}
		s.mu.Lock()
		disabled = target.EWSDisabled
		s.mu.Unlock()
		if disabled {
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		c.mbx = target.mbx
		budgetKey += "|" + target.mbx.address
	}
	h, ok := handlers[env.BodyName.Local]
	if !ok || env.BodyName.Space != soap.NSMessages {
		s.reply(w, c, env.BodyName.Local, caller, body, nil, &soap.Fault{ResponseCode: "ErrorInvalidRequest",
			String: "The request is invalid: the sandbox does not implement " + env.BodyName.Local + "."})
		return
	}
	release, fault := s.admit(budgetKey)
	if fault != nil {
		s.reply(w, c, env.BodyName.Local, caller, body, nil, fault)
		return
	}
	defer release()
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	resp, fault := h(c)
	if f.DropResponseEvery > 0 && n%uint64(f.DropResponseEvery) == 0 {
		// Done, but the client never hears of it.
		panic(http.ErrAbortHandler)
	}
	s.reply(w, c, env.BodyName.Local, caller, body, resp, fault)
}

func (s *Sandbox) lookupSMTP(addr string) *account {
	addr = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(addr, "SMTP:"), "smtp:")))
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.bySMTP[addr]; a != nil {
		return a
	}
	return nil
}

// reply writes the response envelope (200) or fault (500) and records the
// round trip.
func (s *Sandbox) reply(w http.ResponseWriter, c *call, op string, caller *account, req []byte, resp any, fault *soap.Fault) {
	status := http.StatusOK
	if fault != nil {
		status = http.StatusInternalServerError
	}
	out := s.writeEnvelope(w, status, resp, fault)
	user := ""
	if caller != nil {
		user = caller.Username
	}
	s.record(Exchange{Op: op, User: user, Request: req, Response: out, Status: status})
}

func (s *Sandbox) writeEnvelope(w http.ResponseWriter, status int, resp any, fault *soap.Fault) []byte {
	v := s.version
	out, err := soap.BuildEnvelope(&soap.Header{ServerVersionInfo: &v}, resp, fault)
	if err != nil {
		out, _ = soap.BuildEnvelope(&soap.Header{ServerVersionInfo: &v}, nil, &soap.Fault{ResponseCode: "ErrorInternalServerError",
			String: "An internal server error occurred. The operation failed., " + err.Error()})
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(out)
	return out
}

// errNoMailbox is the fault of a mailbox operation by an account without
// one (and without impersonation).
var errNoMailbox = &soap.Fault{ResponseCode: "ErrorNonExistentMailbox", String: "The SMTP address has no mailbox associated with it."}

// lock takes the sandbox lock for a mailbox operation.
func (c *call) lock() (*mailbox, *soap.Fault) {
	if c.mbx == nil {
		return nil, errNoMailbox
	}
	c.s.mu.Lock()
	return c.mbx, nil
}

func (c *call) unlock() { c.s.mu.Unlock() }

// decode decodes the request body; a body that does not decode is a
// schema validation failure, as on Exchange.
func (c *call) decode(v any) *soap.Fault {
	if err := c.env.Decode(v); err != nil {
		return &soap.Fault{ResponseCode: "ErrorSchemaValidation", String: "The request failed schema validation: " + err.Error()}
	}
	return nil
}

// resolveFolder finds a folder named by id or distinguished name in the
// call's mailbox.
func (c *call) resolveFolder(fid *soap.FolderID, did *soap.DistinguishedFolderID) (*folder, *soap.ResponseMessage) {
	m := c.mbx
	switch {
	case did != nil:
		if did.Mailbox != nil && did.Mailbox.EmailAddress != "" && !strings.EqualFold(did.Mailbox.EmailAddress, m.address) {
			a := c.s.bySMTP[strings.ToLower(did.Mailbox.EmailAddress)]
			if a == nil || a.mbx == nil {
				return nil, fail("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
			}
			return nil, fail("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		}
		if f := m.byName[did.ID]; f != nil {
			return f, nil
		}
		return nil, fail("ErrorFolderNotFound", "The specified folder could not be found in the store.")
	case fid != nil:
		if !idOK(fid.ID) {
			return nil, fail("ErrorInvalidIdMalformed", "Id is malformed.")
		}
		if f := m.folders[fid.ID]; f != nil {
			return f, nil
		}
		return nil, fail("ErrorFolderNotFound", "The specified folder could not be found in the store.")
	}
	return nil, fail("ErrorInvalidRequest", "The request is invalid.")
}

func (c *call) target(t *soap.TargetFolderID) (*folder, *soap.ResponseMessage) {
	if t == nil {
		return nil, fail("ErrorInvalidRequest", "The request is invalid.")
	}
	return c.resolveFolder(t.FolderID, t.DistinguishedFolderID)
}

// folderList resolves every id of a FolderIds list, in order.
func (c *call) folderList(ids soap.FolderIDs) ([]*folder, []*soap.ResponseMessage) {
	var fs []*folder
	var errs []*soap.ResponseMessage
	for i := range ids.FolderID {
		f, e := c.resolveFolder(&ids.FolderID[i], nil)
		fs, errs = append(fs, f), append(errs, e)
	}
	for i := range ids.DistinguishedFolderID {
		f, e := c.resolveFolder(nil, &ids.DistinguishedFolderID[i])
		fs, errs = append(fs, f), append(errs, e)
	}
	return fs, errs
}

func fail(code, text string) *soap.ResponseMessage {
	m := soap.Fail(code, text)
	return &m
}
