package m365

import msgraph "github.com/microsoftgraph/msgraph-sdk-go"

// GraphClient exposes a connector's Graph client to the external tests,
// which use it to act as a mailbox's user (edits, deletions) through the
// official SDK.
func GraphClient(c *Connector) *msgraph.GraphServiceClient { return c.client }

// SetMarkerScanLimits makes a connector's marker index read pages of
// pageSize items and give up indexing messages after maxMailPages pages,
// so that tests reach the limits with a few messages.
func SetMarkerScanLimits(c *Connector, pageSize, maxMailPages int) {
	c.markers.mu.Lock()
	defer c.markers.mu.Unlock()
	c.markers.pageSize, c.markers.maxMailPages = pageSize, maxMailPages
}
