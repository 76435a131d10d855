package m365

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/pacing"
)

// Codes of this connector, beyond the shared ones in libs/errs. Wrong
// secrets and certificates are errs.AuthFailed; throttling is errs.Throttled.
const (
	// CodeTenantNotFound: the directory (tenant) id names no tenant
	// (AADSTS90002).
	CodeTenantNotFound errs.Code = "m365_tenant_not_found"
	// CodeAppNotFound: the application (client) id is not registered in
	// the tenant (AADSTS700016).
	CodeAppNotFound errs.Code = "m365_app_not_found"
	// CodeAppDisabled: the app registration or its service principal is
	// disabled (AADSTS7000112).
	CodeAppDisabled errs.Code = "m365_app_disabled"
	// CodeConsentMissing: Graph answered 403; an application permission
	// is not granted or admin consent was revoked.
	CodeConsentMissing errs.Code = "m365_consent_missing"
	// CodeNoFreeLicense: no subscribed SKU with an Exchange mailbox has a
	// free unit for a new user.
	CodeNoFreeLicense errs.Code = "m365_no_free_license"
)

// Permission names of RequiredRoles, used to say which one a call needs.
const (
	permMail  = "Mail.ReadWrite"
	permCal   = "Calendars.ReadWrite"
	permCont  = "Contacts.ReadWrite"
	permUsers = "User.ReadWrite.All"
	permOrg   = "Organization.Read.All"
)

var aadCode = regexp.MustCompile(`AADSTS(\d+)`)

// aadError is the identity platform's error body.
type aadError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
}

// authError turns a token failure into a coded error. The identity
// platform's answer never contains the secret; the request that carried it
// is not quoted.
func authError(err error) error {
	var code int
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		if body, rerr := runtime.Payload(afe.RawResponse); rerr == nil {
			var a aadError
			if json.Unmarshal(body, &a) == nil && len(a.Codes) > 0 {
				code = a.Codes[0]
			} else if m := aadCode.FindStringSubmatch(string(body)); m != nil {
				code, _ = strconv.Atoi(m[1])
			}
		}
	}
	if code == 0 {
		if m := aadCode.FindStringSubmatch(err.Error()); m != nil {
			code, _ = strconv.Atoi(m[1])
		}
	}
	switch code {
	case 7000215:
		return errs.Wrap(errs.AuthFailed, err, "the client secret is wrong or expired (AADSTS7000215)",
			"copy the secret's Value (not its Secret ID) from the app registration's Certificates & secrets page, or create a new secret")
	case 7000222:
		return errs.Wrap(errs.AuthFailed, err, "the client secret has expired (AADSTS7000222)",
			"create a new client secret in the app registration and enter it here")
	case 700027, 700024, 7000274:
		return errs.Wrap(errs.AuthFailed, err, fmt.Sprintf("the certificate was not accepted (AADSTS%d)", code),
			"upload the certificate's public part to the app registration's Certificates & secrets page, or use a client secret")
	case 90002, 900023, 90072:
		return errs.Wrap(CodeTenantNotFound, err, fmt.Sprintf("no Microsoft 365 tenant has this directory (tenant) id (AADSTS%d)", code),
			"copy the Directory (tenant) ID from the app registration's Overview page in the Microsoft Entra admin center")
	case 700016:
		return errs.Wrap(CodeAppNotFound, err, "no application with this client id is registered in the tenant (AADSTS700016)",
			"copy the Application (client) ID from the app registration's Overview page, and check that the app is registered in this tenant")
	case 7000112:
		return errs.Wrap(CodeAppDisabled, err, "the application is disabled in the tenant (AADSTS7000112)",
			"enable the app: Microsoft Entra admin center, Enterprise applications, the app, Properties, Enabled for users to sign in = Yes")
	case 0:
		var ne net.Error
		if errors.As(err, &ne) {
			return errs.Wrap(errs.Unavailable, err, "the Microsoft sign-in service could not be reached", "check the network and the authority URL; mailferry retries")
		}
		return errs.Wrap(errs.AuthFailed, err, "signing in to Microsoft 365 failed", "check the tenant id, client id and secret or certificate")
	}
	return errs.Wrap(errs.AuthFailed, err, fmt.Sprintf("signing in to Microsoft 365 failed (AADSTS%d)", code),
		"check the tenant id, client id and secret or certificate")
}

// graphError describes a failed Graph call: what was asked for (for "not
// found") and the permission it needs (for 403).
type graphError struct {
	what string
	perm string
}

// fail turns any error of a Graph call into a coded error.
func (g graphError) fail(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errs.As(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) || aadCode.MatchString(err.Error()) {
		return authError(err)
	}
	var status int
	var code, msg string
	var headers *abs.ResponseHeaders
	var od *odataerrors.ODataError
	var ae *abs.ApiError
	switch {
	case errors.As(err, &od):
		status, headers = od.ResponseStatusCode, od.ResponseHeaders
		if e := od.GetErrorEscaped(); e != nil {
			if p := e.GetCode(); p != nil {
				code = *p
			}
			if p := e.GetMessage(); p != nil {
				msg = *p
			}
		}
	case errors.As(err, &ae):
		status, headers = ae.ResponseStatusCode, ae.ResponseHeaders
	case errors.As(err, new(*statusError)):
		var se *statusError
		errors.As(err, &se)
		status, code, msg = se.status, se.code, se.msg
		if se.retryAfter != "" {
			headers = abs.NewResponseHeaders()
			headers.Add("Retry-After", se.retryAfter)
		}
	default:
		var ne net.Error
		if errors.As(err, &ne) || strings.Contains(err.Error(), "connection") || strings.Contains(err.Error(), "EOF") {
			return errs.Wrap(errs.Unavailable, err, "Microsoft Graph could not be reached", "nothing: mailferry retries; check the network if it persists")
		}
		return fmt.Errorf("m365: %s: %w", g.what, err)
	}
	detail := code
	if msg != "" {
		detail += ": " + msg
	}
	switch {
	case status == http.StatusTooManyRequests:
		wait := retryAfter(headers)
		return errs.Throttle(wait, fmt.Sprintf("Microsoft Graph is throttling this mailbox (%s); it asked to wait %s", code, wait))
	case code == "ErrorInvalidUser" || code == "MailboxNotEnabledForRESTAPI" || code == "ErrorInvalidIdMalformed" ||
		code == "ErrorItemNotFound" || code == "Request_ResourceNotFound" || code == "ResourceNotFound" || status == http.StatusNotFound:
		return errs.Wrap(errs.NotFound, err, g.what+" was not found", "check that it still exists; list the mailboxes again")
	case status == http.StatusGone || code == "SyncStateNotFound" || code == "ErrorInvalidSyncStateData" || code == "SyncStateInvalid":
		return errs.Wrap(errs.Invalid, err, "the saved delta token of "+g.what+" is no longer valid ("+detail+")",
			"start a full enumeration of the folder with an empty token; items already copied are found by their marker")
	case status == http.StatusUnauthorized:
		return errs.Wrap(errs.AuthFailed, err, "Microsoft Graph rejected the app's token ("+detail+")",
			"run the setup verification again; the app may have been deleted or its credentials replaced")
	case status == http.StatusForbidden:
		perm := g.perm
		if perm == "" {
			perm = permMail
		}
		return errs.Wrap(CodeConsentMissing, err,
			"Microsoft 365 denied access: the app lacks the application permission "+perm+" or admin consent for it was revoked",
			"in the app registration add the Microsoft Graph application permission "+perm+", then grant admin consent (the setup guide has the link)")
	case status == http.StatusConflict:
		return errs.Wrap(errs.Conflict, err, g.what+" already exists ("+detail+")", "nothing: mailferry uses the existing one")
	case status == http.StatusRequestEntityTooLarge || code == "ErrorMessageSizeExceeded":
		return errs.Wrap(errs.ItemTooLarge, err, g.what+" is over Microsoft 365's size limit ("+detail+")",
			"the item is listed in the reconciliation report; move it by hand or reduce its attachments")
	case status >= 500:
		return errs.Wrap(errs.Unavailable, err, fmt.Sprintf("Microsoft Graph failed with %d (%s)", status, detail), "nothing: mailferry retries")
	case status == http.StatusBadRequest:
		return errs.Wrap(errs.Invalid, err, "Microsoft Graph refused the request for "+g.what+" ("+detail+")", "report this to mailferry support with the item id")
	}
	return errs.Wrap(errs.Internal, err, fmt.Sprintf("Microsoft Graph answered %d for %s (%s)", status, g.what, detail), "report this to mailferry support")
}

// retryAfter reads Retry-After (seconds or an HTTP date), default 1s.
func retryAfter(h *abs.ResponseHeaders) time.Duration {
	if h == nil {
		return time.Second
	}
	for _, k := range []string{"Retry-After", "retry-after"} {
		for _, v := range h.Get(k) {
			if d := pacing.ParseRetryAfter(v, time.Now()); d > 0 {
				return d
			}
		}
	}
	return time.Second
}

// statusError is a failed raw HTTP call (upload-session chunks), decoded
// like an SDK error.
type statusError struct {
	status     int
	code, msg  string
	retryAfter string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.status, e.code, e.msg)
}

func newStatusError(resp *http.Response, body []byte) *statusError {
	se := &statusError{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil {
		se.code, se.msg = env.Error.Code, env.Error.Message
	}
	return se
}
