package memory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// Client is a platform.Connector and platform.Provisioner for one tenant of
// a sandbox served by NewHandler. It does not retry: throttling comes back
// as errs.Throttled with the server's Retry-After, because deciding when to
// retry is the transfer service's job, exactly as with real platforms.
type Client struct {
	base   string
	tenant string
	token  string
	hc     *http.Client
}

// NewClient returns a client for tenant at baseURL (the server's root, with
// no /tenants suffix). A nil hc means http.DefaultClient.
func NewClient(baseURL, tenant, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), tenant: tenant, token: token, hc: hc}
}

// Open builds a Client from stored credentials: Fields "endpoint" and
// "tenant", Secrets "token".
func Open(creds platform.Credentials) (*Client, error) {
	if creds.Platform != platform.Memory {
		return nil, errs.Field("platform", fmt.Sprintf("the memory connector cannot open %q credentials", creds.Platform))
	}
	endpoint := strings.TrimSpace(creds.Fields["endpoint"])
	if endpoint == "" {
		return nil, errs.Field("endpoint", "the sandbox endpoint URL is missing")
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errs.Field("endpoint", "the sandbox endpoint must be an http or https URL")
	}
	tenant := strings.TrimSpace(creds.Fields["tenant"])
	if tenant == "" {
		return nil, errs.Field("tenant", "the sandbox tenant name is missing")
	}
	token := creds.Secrets["token"]
	if token == "" {
		return nil, errs.Field("token", "the sandbox tenant's bearer token is missing")
	}
	return NewClient(endpoint, tenant, token, nil), nil
}

// Tenant returns the tenant name the client talks to.
func (c *Client) Tenant() string { return c.tenant }

func (c *Client) path(parts ...string) string {
	var b strings.Builder
	b.WriteString(c.base)
	b.WriteString("/tenants/")
	b.WriteString(url.PathEscape(c.tenant))
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

func (c *Client) do(ctx context.Context, method, target string, in, out any) error {
	var body io.Reader
	if in != nil {
		buf, err := json.Marshal(in)
		if err != nil {
			return errs.Wrap(errs.Invalid, err, "the request could not be encoded", "report this as a bug")
		}
		body = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "the sandbox endpoint is not a usable URL", "check the endpoint in the credentials")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errs.Wrap(errs.Unavailable, err, "the sandbox could not be reached", "check that the sandbox runs and the endpoint is right")
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return c.decodeError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errs.Wrap(errs.Unavailable, err, "the sandbox answered with a response that could not be read", "retry the request")
	}
	return nil
}

// decodeError restores the coded error the server sent. Statuses without a
// coded body (a proxy in between) still map to the code a caller can act on.
func (c *Client) decodeError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e errs.Error
	if json.Unmarshal(raw, &e) != nil || e.Code == "" {
		e = errs.Error{Code: codeOfStatus(resp.StatusCode),
			Cause:  fmt.Sprintf("the sandbox answered HTTP %d", resp.StatusCode),
			Action: "retry later; if it persists, check the sandbox's logs"}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		// Whatever the body says, a 401 is the platform refusing our
		// credentials; the cause is ours so it can never echo the token.
		e = errs.Error{Code: errs.AuthFailed,
			Cause:  fmt.Sprintf("sandbox tenant %q did not accept the credentials", c.tenant),
			Action: "check the token in the credentials, or enter new ones"}
	}
	if c.token != "" {
		e.Cause = strings.ReplaceAll(e.Cause, c.token, "[redacted]")
	}
	if resp.StatusCode == http.StatusTooManyRequests || e.Code == errs.Throttled {
		e.Code = errs.Throttled
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return &e
}

func codeOfStatus(status int) errs.Code {
	switch {
	case status == http.StatusUnauthorized:
		return errs.AuthFailed
	case status == http.StatusForbidden:
		return errs.Forbidden
	case status == http.StatusNotFound:
		return errs.NotFound
	case status == http.StatusConflict:
		return errs.Conflict
	case status == http.StatusRequestEntityTooLarge:
		return errs.ItemTooLarge
	case status == http.StatusTooManyRequests:
		return errs.Throttled
	case status >= 500:
		return errs.Unavailable
	case status >= 400:
		return errs.Invalid
	}
	return errs.Internal
}

// parseRetryAfter reads delta-seconds or an HTTP date (RFC 9110 10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Kind returns platform.Memory.
func (c *Client) Kind() platform.Kind { return platform.Memory }

// Limits asks the sandbox for the tenant's limits. The interface leaves no
// room for an error, so an unreachable sandbox yields the default limit; the
// write that follows reports the real problem.
func (c *Client) Limits() platform.Limits {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var l platform.Limits
	if err := c.do(ctx, http.MethodGet, c.path("limits"), nil, &l); err != nil {
		return platform.Limits{MaxItemBytes: DefaultMaxItemBytes}
	}
	return l
}

// ListMailboxes lists the tenant's mailboxes.
func (c *Client) ListMailboxes(ctx context.Context) ([]platform.Mailbox, error) {
	var out []platform.Mailbox
	err := c.do(ctx, http.MethodGet, c.path("mailboxes"), nil, &out)
	return out, err
}

// CreateMailbox creates a mailbox, or returns the one with that address.
func (c *Client) CreateMailbox(ctx context.Context, m platform.Mailbox) (platform.Mailbox, error) {
	var out platform.Mailbox
	err := c.do(ctx, http.MethodPost, c.path("mailboxes"), m, &out)
	return out, err
}

// Folders lists a mailbox's folders.
func (c *Client) Folders(ctx context.Context, mailboxID string) ([]platform.Folder, error) {
	var out []platform.Folder
	err := c.do(ctx, http.MethodGet, c.path("mailboxes", mailboxID, "folders"), nil, &out)
	return out, err
}

// EnsureFolder finds or creates a folder.
func (c *Client) EnsureFolder(ctx context.Context, mailboxID string, f platform.Folder) (platform.Folder, error) {
	var out platform.Folder
	err := c.do(ctx, http.MethodPost, c.path("mailboxes", mailboxID, "folders"), f, &out)
	return out, err
}

// Items fetches one page of a folder's enumeration.
func (c *Client) Items(ctx context.Context, mailboxID, folderID, token string) (platform.ItemPage, error) {
	target := c.path("mailboxes", mailboxID, "folders", folderID, "items")
	if token != "" {
		target += "?token=" + url.QueryEscape(token)
	}
	var out platform.ItemPage
	err := c.do(ctx, http.MethodGet, target, nil, &out)
	return out, err
}

// ReadItem fetches an item with its content.
func (c *Client) ReadItem(ctx context.Context, mailboxID string, ref platform.ItemRef) (platform.Item, error) {
	var out platform.Item
	err := c.do(ctx, http.MethodGet, c.path("mailboxes", mailboxID, "items", ref.ID), nil, &out)
	return out, err
}

// Stats counts a mailbox.
func (c *Client) Stats(ctx context.Context, mailboxID string) (platform.Stats, error) {
	var out platform.Stats
	err := c.do(ctx, http.MethodGet, c.path("mailboxes", mailboxID, "stats"), nil, &out)
	return out, err
}

// FindByMarker returns the copies written with a migration marker.
func (c *Client) FindByMarker(ctx context.Context, mailboxID, marker string) ([]platform.Placed, error) {
	var out []platform.Placed
	if err := c.do(ctx, http.MethodGet, c.path("mailboxes", mailboxID, "markers")+"?marker="+url.QueryEscape(marker), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteItem deletes a copy FindByMarker returned; one already gone is not
// an error.
func (c *Client) DeleteItem(ctx context.Context, mailboxID string, p platform.Placed) error {
	target := c.path("mailboxes", mailboxID, "items", p.ID)
	if p.FolderID != "" {
		target += "?folder=" + url.QueryEscape(p.FolderID)
	}
	return c.do(ctx, http.MethodDelete, target, nil, nil)
}

// WriteItem writes an item idempotently under its marker and version; a
// warning (platform.CopiedWithWarnings) comes back with the copy's id.
func (c *Client) WriteItem(ctx context.Context, mailboxID, folderID string, item platform.Item, marker string) (string, error) {
	var out writeResponse
	err := c.do(ctx, http.MethodPost, c.path("mailboxes", mailboxID, "folders", folderID, "items"),
		writeRequest{Item: item, Marker: marker}, &out)
	if err == nil && out.Warning != nil {
		return out.ID, out.Warning
	}
	return out.ID, err
}

var (
	_ platform.Connector   = (*Client)(nil)
	_ platform.Provisioner = (*Client)(nil)
)
