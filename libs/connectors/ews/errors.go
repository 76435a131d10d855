package ews

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/ews/soap"
)

// Codes of this connector, beyond the shared ones in libs/errs (listed in
// docs/errors.md). Each failure a person must fix before a run has its
// own, so that the cause and the action can be exact.
const (
	// CodeDNS: the EWS URL's host name does not resolve.
	CodeDNS errs.Code = "exchange_dns_failed"
	// CodeTLS: the server's certificate is not trusted (not signed by a
	// trusted root, wrong name, expired) or not the pinned one; the cause
	// names its SHA-256 fingerprint so that it can be pinned.
	CodeTLS errs.Code = "exchange_tls_untrusted"
	// CodeAuthFailed: HTTP 401 for the service account's user name and
	// password.
	CodeAuthFailed errs.Code = "exchange_auth_failed"
	// CodeAuthMethod: HTTP 401 without the configured method (NTLM or
	// Basic) among those the server offers.
	CodeAuthMethod errs.Code = "exchange_auth_method_refused"
	// CodeEWSDisabled: HTTP 403, EWS is switched off for the service
	// account, the mailbox or the server.
	CodeEWSDisabled errs.Code = "exchange_ews_disabled"
	// CodeNotEWS: the URL answers, but not as EWS (404, an HTML page).
	CodeNotEWS errs.Code = "exchange_not_ews"
	// CodeImpersonationDenied: the service account lacks the
	// ApplicationImpersonation role for the mailbox.
	CodeImpersonationDenied errs.Code = "exchange_impersonation_denied"
	// CodeMailboxNotFound: the sample mailbox Verify was given (or chose)
	// has no mailbox on this Exchange. Operations on a missing mailbox
	// answer errs.NotFound, as every connector does.
	CodeMailboxNotFound errs.Code = "exchange_mailbox_not_found"
	// CodeQuotaExceeded: the destination mailbox is full.
	CodeQuotaExceeded errs.Code = "exchange_quota_exceeded"
)

// minBackOff is the wait given with ErrorServerBusy when Exchange names
// none (its concurrency refusals suggest 0 ms): long enough for a request
// of the mailbox's to end.
const minBackOff = 250 * time.Millisecond

// what names what a call was about, for causes.
type what struct {
	mailbox string
	thing   string // "folder AAMk...", "item AAMk..."
}

func (w what) String() string {
	switch {
	case w.thing != "" && w.mailbox != "":
		return w.thing + " of mailbox " + w.mailbox
	case w.thing != "":
		return w.thing
	case w.mailbox != "":
		return "mailbox " + w.mailbox
	}
	return "the organisation"
}

// fail turns any error of an EWS call into a coded error. Causes name
// mailboxes, ids and Exchange's own codes and texts, never the password
// (Exchange does not echo it, and the requests are not quoted).
func (c *Connector) fail(err error, w what) error {
	if err == nil {
		return nil
	}
	if _, ok := errs.As(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if wait, busy := soap.ServerBusy(err); busy {
		// Every refusal halves the mailbox's concurrency (pacing), so a
		// throttled mailbox stops hammering and recovers by itself.
		c.gates.Throttled(w.mailbox)
		wait = max(wait, minBackOff)
		return errs.Throttle(wait, fmt.Sprintf("Exchange is throttling %s (ErrorServerBusy); it asked to wait %s", w, wait))
	}
	var he *soap.HTTPError
	if errors.As(err, &he) {
		return c.httpError(err, he, w)
	}
	if code := soap.Code(err); code != "" {
		return responseError(code, err, w)
	}
	if errors.Is(err, soap.ErrNotSOAP) {
		return errs.Wrap(CodeNotEWS, err, "the EWS URL "+c.cfg.URL+" answered, but not with EWS",
			"use the EWS endpoint itself, https://<server>/EWS/Exchange.asmx; a proxy's or a sign-in page's answer is not EWS")
	}
	return c.transportError(err)
}

func (c *Connector) httpError(err error, he *soap.HTTPError, w what) error {
	switch he.Status {
	case http.StatusUnauthorized:
		offered := strings.ToLower(strings.Join(he.Authenticate, " "))
		method, want := "NTLM", []string{"ntlm", "negotiate"}
		if c.cfg.Auth == soap.AuthBasic {
			method, want = "Basic", []string{"basic"}
		}
		if len(he.Authenticate) > 0 && !slices.ContainsFunc(want, func(m string) bool { return strings.Contains(offered, m) }) {
			return errs.Wrap(CodeAuthMethod, err,
				fmt.Sprintf("Exchange does not accept %s authentication at %s; it offers %s", method, c.cfg.URL, schemes(he.Authenticate)),
				"choose the authentication the server offers (auth: ntlm or basic), or enable "+method+" on the EWS virtual directory: Set-WebServicesVirtualDirectory -Identity \"<server>\\EWS (Default Web Site)\" -WindowsAuthentication $true (NTLM) or -BasicAuthentication $true (Basic)")
		}
		return errs.Wrap(CodeAuthFailed, err,
			fmt.Sprintf("Exchange refused the user name or password of %s (HTTP 401 with %s authentication)", c.cfg.Username, method),
			"check the service account's user name (DOMAIN\\user or user@domain) and password, and that the account is enabled and not locked out")
	case http.StatusForbidden:
		return errs.Wrap(CodeEWSDisabled, err,
			fmt.Sprintf("Exchange Web Services are switched off for %s or for the service account (HTTP 403)", w),
			"enable EWS: Set-CASMailbox -Identity <account or mailbox> -EwsEnabled $true, and check Set-OrganizationConfig -EwsEnabled and any EWS allow list (-EwsApplicationAccessPolicy)")
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return errs.Wrap(CodeNotEWS, err, fmt.Sprintf("%s is not an EWS endpoint (HTTP %d)", c.cfg.URL, he.Status),
			"use the EWS endpoint itself, https://<server>/EWS/Exchange.asmx")
	case http.StatusRequestEntityTooLarge:
		return errs.Wrap(errs.ItemTooLarge, err, "the request for "+w.String()+" is over the size Exchange accepts (HTTP 413)",
			"the item is listed in the reconciliation report; raise maxReceivedMessageSize of EWS or move the item by hand")
	case http.StatusTooManyRequests:
		return errs.Throttle(time.Second, "Exchange (or a proxy in front of it) is throttling "+w.String()+" (HTTP 429)")
	}
	if he.Status >= 500 {
		return errs.Wrap(errs.Unavailable, err, fmt.Sprintf("Exchange answered HTTP %d for %s", he.Status, w), "nothing: mailferry retries")
	}
	return errs.Wrap(errs.Internal, err, fmt.Sprintf("Exchange answered HTTP %d for %s", he.Status, w), "report this to mailferry support")
}

func schemes(list []string) string {
	var out []string
	for _, s := range list {
		name, _, _ := strings.Cut(strings.TrimSpace(s), " ")
		if name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ", ")
}

// notFoundCodes name a missing mailbox, folder or item.
var notFoundCodes = []string{"ErrorNonExistentMailbox", "ErrorItemNotFound", "ErrorFolderNotFound", "ErrorInvalidIdMalformed",
	"ErrorInvalidId", "ErrorInvalidIdEmpty", "ErrorSyncFolderNotFound", "ErrorSavedItemFolderNotFound",
	"ErrorCalendarOccurrenceIsDeletedFromRecurrence", "ErrorInvalidSmtpAddress", "ErrorMailboxNotFound"}

// transientCodes are failures of the server, not of the request.
var transientCodes = []string{"ErrorInternalServerError", "ErrorInternalServerTransientError", "ErrorMailboxStoreUnavailable",
	"ErrorConnectionFailed", "ErrorTimeoutExpired", "ErrorBatchProcessingStopped", "ErrorMailboxMoveInProgress",
	"ErrorADUnavailable", "ErrorServerTemporaryUnavailable"}

func responseError(code string, err error, w what) error {
	text := ""
	var re *soap.ResponseError
	var f *soap.Fault
	switch {
	case errors.As(err, &re):
		text = re.Text
	case errors.As(err, &f):
		text = f.String
	}
	detail := code
	if text != "" {
		detail += ": " + text
	}
	switch {
	case code == "ErrorImpersonateUserDenied":
		return errs.Wrap(CodeImpersonationDenied, err,
			"the service account may not act for "+w.String()+": it lacks the ApplicationImpersonation role (ErrorImpersonateUserDenied)",
			"grant the role in the Exchange Management Shell: New-ManagementRoleAssignment -Name mailferry-impersonation -Role ApplicationImpersonation -User <service account> (add -CustomRecipientWriteScope to limit it to the migrated mailboxes), then verify again")
	case code == "ErrorNonExistentMailbox" && w.thing == "":
		return errs.Wrap(errs.NotFound, err, w.String()+" does not exist on this Exchange (ErrorNonExistentMailbox)",
			"check the address; list the mailboxes again")
	case slices.Contains(notFoundCodes, code):
		return errs.Wrap(errs.NotFound, err, w.String()+" was not found ("+detail+")", "check that it still exists; list it again")
	case code == "ErrorInvalidSyncStateData":
		return errs.Wrap(errs.Invalid, err, "the saved delta token of "+w.String()+" is no longer valid ("+detail+")",
			"start a full enumeration of the folder with an empty token; items already copied are found by their marker")
	case code == "ErrorMimeContentConversionFailed" || code == "ErrorMimeContentInvalid" || code == "ErrorCorruptData":
		return errs.Wrap(errs.CorruptItem, err, "Exchange cannot store "+w.String()+" ("+detail+")", "the item is listed in the reconciliation report")
	case code == "ErrorMessageSizeExceeded":
		return errs.Wrap(errs.ItemTooLarge, err, w.String()+" is over Exchange's size limit ("+detail+")",
			"the item is listed in the reconciliation report; raise the mailbox's or organisation's limit or move it by hand")
	case code == "ErrorQuotaExceeded":
		return errs.Wrap(CodeQuotaExceeded, err, "the mailbox is full: "+w.String()+" cannot be stored ("+detail+")",
			"raise the destination mailbox's quota (Set-Mailbox -ProhibitSendReceiveQuota) and run again; what was copied stays")
	case code == "ErrorAccessDenied":
		return errs.Wrap(errs.Forbidden, err, "Exchange denied access to "+w.String()+" ("+detail+")",
			"check the ApplicationImpersonation role's scope covers this mailbox")
	case code == "ErrorFolderExists" || code == "ErrorIrresolvableConflict":
		return errs.Wrap(errs.Conflict, err, w.String()+": "+detail, "nothing: mailferry retries")
	case slices.Contains(transientCodes, code):
		return errs.Wrap(errs.Unavailable, err, "Exchange failed for "+w.String()+" ("+detail+")", "nothing: mailferry retries")
	case code == "ErrorSchemaValidation" || code == "ErrorInvalidRequest" || code == "ErrorInvalidServerVersion":
		return errs.Wrap(errs.Internal, err, "Exchange did not accept mailferry's request for "+w.String()+" ("+detail+")",
			"report this to mailferry support with the Exchange version")
	}
	return errs.Wrap(errs.Invalid, err, "Exchange refused "+w.String()+" ("+detail+")",
		"the item is listed in the reconciliation report; report it to mailferry support if it recurs")
}

func (c *Connector) transportError(err error) error {
	host := c.host
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsTimeout || dns.IsTemporary {
			return errs.Wrap(errs.Unavailable, err, "the name "+dns.Name+" could not be looked up just now", "nothing: mailferry retries; check the DNS servers if it persists")
		}
		return errs.Wrap(CodeDNS, err, "the host name "+dns.Name+" of the EWS URL does not resolve ("+dns.Err+")",
			"check the EWS URL's host name; from the platform's network it must resolve (or use the outbound connector agent inside the customer's network)")
	}
	if fp, subject, pin, ok := untrustedCert(err); ok {
		if pin != nil {
			return errs.Wrap(CodeTLS, err, "the certificate of "+host+" is not the pinned one: "+pin.Error(),
				"if the server's certificate was renewed, compare the new fingerprint with the one the server shows (certlm.msc or Get-ExchangeCertificate) and pin it as certFingerprint")
		}
		cause := "the certificate of " + host + " is not trusted (" + tlsReason(err) + ")"
		if fp != "" {
			cause += fmt.Sprintf("; it is %q with the SHA-256 fingerprint %s", subject, displayFingerprint(fp))
		}
		return errs.Wrap(CodeTLS, err, cause,
			"install a certificate from a trusted authority on Exchange, or, after comparing the fingerprint with the one Get-ExchangeCertificate shows on the server, trust this certificate by setting certFingerprint to it")
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return errs.Wrap(CodeTLS, err, host+" did not answer with TLS", "the EWS URL must be https:// to the port Exchange serves HTTPS on (443)")
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return errs.Wrap(errs.Unavailable, err, "the connection to "+host+" failed ("+shortNetError(err)+")",
			"nothing: mailferry retries; check that the server and port are reachable if it persists")
	}
	return errs.Wrap(errs.Unavailable, err, "the request to "+host+" failed ("+shortNetError(err)+")", "nothing: mailferry retries")
}

func tlsReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "x509: "); i >= 0 {
		return msg[i:]
	}
	if i := strings.LastIndex(msg, "tls: "); i >= 0 {
		return msg[i:]
	}
	return "certificate verification failed"
}

func shortNetError(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}
