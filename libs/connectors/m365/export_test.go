package m365

import msgraph "github.com/microsoftgraph/msgraph-sdk-go"

// GraphClient exposes a connector's Graph client to the external tests,
// which use it to act as a mailbox's user (edits, deletions) through the
// official SDK.
func GraphClient(c *Connector) *msgraph.GraphServiceClient { return c.client }
