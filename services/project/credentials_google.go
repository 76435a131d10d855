package project

import (
	"context"
	"strconv"
	"strings"

	"github.com/mailferry/mailferry/libs/connectors/google"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// checkGoogleCredentials reads a Google service-account key and the fields
// beside it the way the connector will, without calling Google: a file
// that is no service-account key, or the key of another service account
// than the delegated clientId, is refused when it is stored (with the
// connector's google_key_malformed / google_key_wrong_account) instead of
// at the first run. What only Google can tell (a deleted key, missing
// delegation or scopes, an administrator that is none) is for
// POST .../credentials/{side}/verify.
func checkGoogleCredentials(req credentialsRequest) error {
	if v, ok := req.Fields["maxConcurrentPerMailbox"]; ok {
		// The connector ignores what it cannot read; a typo here would
		// otherwise go unnoticed.
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || n < 1 || n > 64 {
			return errs.Field("fields.maxConcurrentPerMailbox", "must be a whole number from 1 to 64 (requests in flight per mailbox; default 8)")
		}
	}
	// Opening builds clients and reads the key; it makes no request.
	_, err := google.FromCredentials(context.Background(), platform.Credentials{Platform: platform.Google, Fields: req.Fields, Secrets: req.Secrets})
	if err == nil {
		return nil
	}
	if e, ok := errs.As(err); ok && e.Code == errs.Invalid && e.Field != "" && !strings.Contains(e.Field, ".") {
		// The connector names its own settings; the API names where they
		// sit in the request.
		where := "fields."
		if e.Field == "serviceAccountKey" {
			where = "secrets."
		}
		return errs.Field(where+e.Field, e.Cause)
	}
	return err
}
