package local

import (
	"context"

	"github.com/mailferry/mailferry/libs/connectors/ews"
	"github.com/mailferry/mailferry/libs/platform"
)

// The EWS connector of libs/connectors/ews, as the platform uses it for
// Exchange reached directly: fields ewsUrl, username and optionally auth,
// certFingerprint, mailboxes, sampleMailbox, maxConcurrentPerMailbox
// (connector-agent configure exchange --field KEY=VALUE); secret password.
func init() {
	Exchange = func(ctx context.Context, creds platform.Credentials) (platform.Connector, error) {
		c, err := ews.FromCredentials(ctx, creds)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}
