package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/mailferry/mailferry/libs/errs"
)

// Codes of this connector, beyond the shared ones in libs/errs
// (docs/errors.md). Throttling is errs.Throttled, a missing mailbox
// errs.NotFound.
const (
	// CodeKeyMalformed: the key file is not a service-account JSON key
	// with a readable private key.
	CodeKeyMalformed errs.Code = "google_key_malformed"
	// CodeKeyRejected: Google refused the key's signature: the key was
	// deleted or disabled, edited, or its service account no longer
	// exists ("Invalid JWT Signature.", "account not found").
	CodeKeyRejected errs.Code = "google_key_rejected"
	// CodeKeyWrongAccount: the key belongs to another service account
	// (another project) than the client id the administrator delegated to.
	CodeKeyWrongAccount errs.Code = "google_key_wrong_account"
	// CodeDelegationMissing: the client id holds no domain-wide
	// delegation in this Workspace (unauthorized_client for every scope).
	CodeDelegationMissing errs.Code = "google_delegation_missing"
	// CodeScopeMissing: the client id is delegated, but not every scope
	// mailferry needs; the cause names the missing ones.
	CodeScopeMissing errs.Code = "google_scope_missing"
	// CodeUserNotFound: the user to impersonate does not exist or is
	// suspended ("Invalid email or User ID").
	CodeUserNotFound errs.Code = "google_user_not_found"
	// CodeAdminRequired: the administrator address given is not a super
	// administrator, so the Directory API refuses it.
	CodeAdminRequired errs.Code = "google_admin_required"
)

// delegationPlace is where an administrator fixes delegation.
const delegationPlace = "Admin console (admin.google.com) > Security > Access and data control > API controls > Domain-wide delegation"

// scopeList is RequiredScopes as the Admin console takes it.
func scopeList() string { return strings.Join(RequiredScopes, ",") }

// op describes a failed call: what was asked for, for whom and under
// which scope, so that the coded error can say what to fix.
type op struct {
	what    string
	mailbox string
	scope   string
}

// fail turns any error of a Google call into a coded error.
func (c *Connector) fail(o op, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errs.As(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return c.tokenError(re, o.mailbox, o.scope)
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		var ne net.Error
		if errors.As(err, &ne) || strings.Contains(err.Error(), "connection") || strings.Contains(err.Error(), "EOF") {
			return errs.Wrap(errs.Unavailable, err, "Google could not be reached", "nothing: mailferry retries; check the network if it persists")
		}
		return fmt.Errorf("google: %s: %w", o.what, err)
	}
	reason := ""
	if len(ge.Errors) > 0 {
		reason = ge.Errors[0].Reason
	}
	detail := fmt.Sprintf("%d %s", ge.Code, ge.Message)
	switch {
	case ge.Code == http.StatusTooManyRequests || isRateLimitReason(reason) || ge.Code == http.StatusForbidden && isRateLimitReason(ge.Message+string(ge.Body)):
		wait := c.throttleWait(o.mailbox, ge.Header)
		return errs.Throttle(wait, fmt.Sprintf("Google is throttling %s (%s); waiting %s", orTenant(o.mailbox), detail, wait))
	case ge.Code == http.StatusUnauthorized:
		// The token expired or was ended early. The next attempt asks for
		// a new one, which either works or fails with the token
		// endpoint's own, coded, reason (key deleted, delegation
		// withdrawn).
		c.dropClients(o.mailbox, o.scope)
		return errs.Wrap(errs.Unavailable, err, "Google refused the access token of "+orTenant(o.mailbox)+" ("+detail+")",
			"nothing: mailferry asks for a new token and retries")
	case ge.Code == http.StatusForbidden && reason == "insufficientPermissions":
		return errs.Wrap(CodeScopeMissing, err, "the token lacks the scope "+o.scope+" for "+o.what,
			"in the "+delegationPlace+" add "+o.scope+" to mailferry's client id "+c.key.ClientID+"; the full list is "+scopeList())
	case ge.Code == http.StatusForbidden && o.scope == ScopeDirectory:
		return errs.Wrap(CodeAdminRequired, err, c.cfg.AdminEmail+" may not use the Directory API ("+detail+")",
			"give the address of a super administrator as adminEmail, or make "+c.cfg.AdminEmail+" one in the Admin console > Account > Admin roles")
	case ge.Code == http.StatusForbidden:
		return errs.Wrap(errs.Forbidden, err, "Google denied "+o.what+" ("+detail+")", "check that the user's service is on in the Admin console")
	case ge.Code == http.StatusNotFound:
		return errs.Wrap(errs.NotFound, err, o.what+" was not found", "check that it still exists; list the mailboxes or folders again")
	case ge.Code == http.StatusGone:
		return errs.Wrap(errs.Invalid, err, "Google no longer knows the state saved for "+o.what+" ("+detail+")",
			"start a full enumeration with an empty token; items already copied are found by their marker")
	case ge.Code == http.StatusBadRequest && strings.Contains(ge.Message, "Mail service not enabled"):
		return errs.Wrap(errs.MailboxMissing, err, "the user "+o.mailbox+" has no Gmail mailbox yet (Mail service not enabled)",
			"check the user's licence and that Gmail is on for their organisational unit; a new user's mailbox takes a few minutes")
	case ge.Code == http.StatusRequestEntityTooLarge:
		return errs.Wrap(errs.ItemTooLarge, err, o.what+" is over Gmail's size limit ("+detail+")",
			"the item is listed in the reconciliation report; move it by hand or reduce its attachments")
	case ge.Code == http.StatusConflict:
		return errs.Wrap(errs.Conflict, err, o.what+" already exists ("+detail+")", "nothing: mailferry uses the existing one")
	case ge.Code >= 500:
		return errs.Wrap(errs.Unavailable, err, "Google failed with "+detail, "nothing: mailferry retries")
	case ge.Code == http.StatusBadRequest || ge.Code == http.StatusPreconditionFailed:
		return errs.Wrap(errs.Invalid, err, "Google refused the request for "+o.what+" ("+detail+")", "report this to mailferry support with the item id")
	}
	return errs.Wrap(errs.Internal, err, "Google answered "+detail+" for "+o.what, "report this to mailferry support")
}

func orTenant(mailbox string) string {
	if mailbox == "" {
		return "this project"
	}
	return "mailbox " + mailbox
}

// tokenRefusal is the body of a refused token request.
type tokenRefusal struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func refusalOf(re *oauth2.RetrieveError) tokenRefusal {
	var t tokenRefusal
	_ = json.Unmarshal(re.Body, &t) // an unreadable body leaves the code from the struct
	if t.Error == "" {
		t.Error, t.Description = re.ErrorCode, re.ErrorDescription
	}
	return t
}

// tokenError turns a refused delegated token into a coded error naming
// what to fix. The descriptions are Google's own words.
func (c *Connector) tokenError(re *oauth2.RetrieveError, subject, scope string) error {
	t := refusalOf(re)
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	desc := strings.ToLower(t.Description)
	who := fmt.Sprintf("service account %s (client id %s, project %s)", c.key.ClientEmail, c.key.ClientID, c.key.ProjectID)
	switch {
	case t.Error == "unauthorized_client":
		return errs.Wrap(CodeDelegationMissing, re,
			fmt.Sprintf("Google refused to let %s act as %s with the scope %s: the client id holds no domain-wide delegation of that scope in this Workspace", who, subject, scope),
			"in the "+delegationPlace+" add client id "+c.key.ClientID+" with exactly these scopes: "+scopeList()+"; if it is listed, this key may belong to another project's service account")
	case t.Error == "invalid_grant" && (strings.Contains(desc, "invalid email") || strings.Contains(desc, "user id")):
		if subject != "" && subject != c.cfg.AdminEmail {
			return errs.Wrap(errs.NotFound, re, "the Workspace has no active user "+subject+" ("+t.Description+")",
				"check the address, and that the user is not suspended or deleted; list the mailboxes again")
		}
		return errs.Wrap(CodeUserNotFound, re, "the Workspace has no active user "+subject+" to impersonate ("+t.Description+")",
			"give the address of an existing, unsuspended super administrator of the Workspace")
	case t.Error == "invalid_grant" && (strings.Contains(desc, "signature") || strings.Contains(desc, "account not found")):
		return errs.Wrap(CodeKeyRejected, re, "Google refused the key of "+who+" ("+t.Description+"): it was deleted or disabled, or the service account no longer exists",
			"in the Google Cloud console open IAM & Admin > Service accounts > "+c.key.ClientEmail+" > Keys, create a new JSON key and upload it")
	case t.Error == "invalid_scope":
		return errs.Wrap(CodeScopeMissing, re, "Google refused the scope "+scope+" ("+t.Description+")", "report this to mailferry support")
	case status >= 500:
		return errs.Wrap(errs.Unavailable, re, fmt.Sprintf("Google's token endpoint failed with %d", status), "nothing: mailferry retries")
	case status == http.StatusTooManyRequests:
		return errs.Throttle(c.throttleWait(subject, nil), "Google's token endpoint is throttling this project")
	}
	return errs.Wrap(errs.AuthFailed, re, fmt.Sprintf("Google refused a token for %s (%s: %s)", who, t.Error, t.Description),
		"check the key file and the token URL, then verify again")
}
