package m365

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// Full fidelity between Exchange Online tenants: the mailbox import/export
// API of Microsoft Graph (docs/m365.md, "Mailbox import/export"). An item is
// exported as Exchange's opaque FastTransfer stream and imported into the
// destination folder as it was: a meeting keeps its organizer, attendee
// table, responses, exceptions and Teams meeting, and the import, a store
// operation rather than an organizer's action, sends nothing.

// NativeFormat names the data ReadNative returns and WriteNative takes:
// the export stream of Exchange Online's mailbox import/export API, which
// only another Exchange Online mailbox can import.
const NativeFormat = "application/vnd.ms-exchange.fts; source=exchange-online"

// Application permissions of the mailbox import/export API.
const (
	permImportExport  = "MailboxItem.ImportExport.All"
	permExport        = "MailboxItem.Export.All"
	permItemReadWrite = "MailboxItem.ReadWrite.All"
)

// NativePermission is the optional application permission of the native
// path, in the source tenant (export) and the destination tenant
// (import); without it the standard path is used. DeleteNative needs
// MailboxItem.ReadWrite.All as well. The app role id is the one Microsoft
// Graph's service principal publishes.
var NativePermission = Permission{permImportExport, "76577085-e73d-4f1d-b26a-85fb33892327",
	"copy items between Exchange Online tenants in full fidelity (meetings with their attendees and responses), sending nothing"}

// importSessionMargin renews an import URL this long before it expires, so
// that no upload starts on a URL about to die.
const importSessionMargin = 2 * time.Minute

// nativeState caches what the native path looks up once per mailbox.
type nativeState struct {
	mu sync.Mutex
	// mailboxes maps a user id (lower case) to its primaryMailboxId.
	mailboxes map[string]string
	// sessions maps a user id (lower case) to its import session.
	sessions map[string]*importSession
	// pending holds items imported whose marker could not be set yet,
	// by mailbox, folder, marker and version: the next attempt marks the
	// item instead of importing it again.
	pending map[string]string
}

type importSession struct {
	url     string
	expires time.Time
}

var odataErrors = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// roles returns the application roles of the connector's token.
func (c *Connector) roles(ctx context.Context) (map[string]bool, error) {
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{graphScope}})
	if err != nil {
		return nil, authError(err)
	}
	roles, err := tokenRoles(tok.Token)
	if err != nil {
		return nil, errs.Wrap(errs.AuthFailed, err, "the token from Microsoft 365 could not be read",
			"check that the authority URL points at the Microsoft identity platform")
	}
	have := map[string]bool{}
	for _, r := range roles {
		have[strings.ToLower(r)] = true
	}
	return have, nil
}

// NativeReadFormat is NativeFormat when the app may export
// (MailboxItem.Export.All or MailboxItem.ImportExport.All), else "".
func (c *Connector) NativeReadFormat(ctx context.Context) (string, error) {
	have, err := c.roles(ctx)
	if err != nil {
		return "", err
	}
	if have[strings.ToLower(permImportExport)] || have[strings.ToLower(permExport)] {
		return NativeFormat, nil
	}
	return "", nil
}

// NativeWriteFormat is NativeFormat when the app may import
// (MailboxItem.ImportExport.All), else "".
func (c *Connector) NativeWriteFormat(ctx context.Context) (string, error) {
	have, err := c.roles(ctx)
	if err != nil {
		return "", err
	}
	if have[strings.ToLower(permImportExport)] {
		return NativeFormat, nil
	}
	return "", nil
}

func isThrottled(err error) bool {
	var od *odataerrors.ODataError
	var ae *abs.ApiError
	return errors.As(err, &od) && od.ResponseStatusCode == http.StatusTooManyRequests ||
		errors.As(err, &ae) && ae.ResponseStatusCode == http.StatusTooManyRequests
}

// mailboxAPI sends one request through the SDK's request adapter (token,
// middleware, TLS); msgraph-sdk-go has no typed builders for these
// endpoints. Paths under /admin/exchange are not under /users/{id}/, so
// the transport's per-mailbox gate cannot see whose mailbox they touch:
// the gate is taken here for gateMailbox ("" takes none). A nil result means an
// empty body.
func (c *Connector) mailboxAPI(ctx context.Context, gateMailbox string, method abs.HttpMethod, tmpl string, params map[string]string, query map[string]string, body any) ([]byte, error) {
	ri := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(method, tmpl, params)
	for k, v := range query {
		ri.QueryParameters[k] = v
	}
	ri.Headers.TryAdd("Accept", "application/json")
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("m365: encode request: %w", err)
		}
		ri.SetStreamContentAndContentType(b, "application/json")
	}
	release, err := c.gate.acquire(ctx, gateMailbox)
	if err != nil {
		return nil, err
	}
	var res any
	if method == abs.DELETE {
		err = c.client.RequestAdapter.SendNoContent(ctx, ri, odataErrors)
	} else {
		res, err = c.client.RequestAdapter.SendPrimitive(ctx, ri, "[]byte", odataErrors)
	}
	release(isThrottled(err))
	if err != nil {
		return nil, err
	}
	b, _ := res.([]byte)
	return b, nil
}

// mailboxOf returns a user's primary mailbox id (GET
// /users/{id}/settings/exchange), the id the import/export API takes.
func (c *Connector) mailboxOf(ctx context.Context, userID string) (string, error) {
	key := strings.ToLower(userID)
	c.native.mu.Lock()
	mbx := c.native.mailboxes[key]
	c.native.mu.Unlock()
	if mbx != "" {
		return mbx, nil
	}
	// Under /users/{id}/: the transport gates it; no second slot here.
	raw, err := c.mailboxAPI(ctx, "", abs.GET, "{+baseurl}/users/{userId}/settings/exchange", map[string]string{"userId": userID}, nil, nil)
	if err != nil {
		return "", graphError{what: "mailbox " + userID, perm: permUsers}.fail(err)
	}
	var set struct {
		PrimaryMailboxID string `json:"primaryMailboxId"`
	}
	if err := json.Unmarshal(raw, &set); err != nil || set.PrimaryMailboxID == "" {
		return "", errs.New(errs.MailboxMissing, "Microsoft 365 reports no Exchange Online mailbox for user "+userID,
			"check that the user has a licence with Exchange Online; mailferry copies this mailbox item by item meanwhile")
	}
	c.native.mu.Lock()
	if c.native.mailboxes == nil {
		c.native.mailboxes = map[string]string{}
	}
	c.native.mailboxes[key] = set.PrimaryMailboxID
	c.native.mu.Unlock()
	return set.PrimaryMailboxID, nil
}

// ReadNative exports one item (POST
// /admin/exchange/mailboxes/{id}/exportItems). The returned Ref keeps the
// enumeration's ChangeKey as the version, so that a copy written from it
// is recognised by the same version the standard path records.
func (c *Connector) ReadNative(ctx context.Context, mailboxID string, ref platform.ItemRef) (platform.NativeItem, error) {
	if mailboxID == "" || ref.ID == "" {
		return platform.NativeItem{}, errs.New(errs.NotFound, "the mailbox or item id is empty", "list the folder again")
	}
	mbx, err := c.mailboxOf(ctx, mailboxID)
	if err != nil {
		return platform.NativeItem{}, err
	}
	g := graphError{what: "item " + ref.ID + " of mailbox " + mailboxID, perm: permImportExport}
	raw, err := c.mailboxAPI(ctx, mailboxID, abs.POST, "{+baseurl}/admin/exchange/mailboxes/{mailboxId}/exportItems",
		map[string]string{"mailboxId": mbx}, nil, map[string]any{"itemIds": []string{ref.ID}})
	if err != nil {
		return platform.NativeItem{}, g.fail(err)
	}
	var res struct {
		Value []struct {
			ItemID    string `json:"itemId"`
			ChangeKey string `json:"changeKey"`
			Data      []byte `json:"data"` // Edm.Stream: base64 in JSON
			Error     *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"value"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || len(res.Value) != 1 {
		return platform.NativeItem{}, errs.New(errs.Internal, "Microsoft Graph answered exportItems in an unexpected shape", "report this to mailferry support")
	}
	v := res.Value[0]
	if v.Error != nil {
		switch v.Error.Code {
		case "ErrorItemNotFound", "ErrorInvalidIdMalformed", "ErrorInvalidId":
			return platform.NativeItem{}, errs.New(errs.NotFound, g.what+" was not found ("+v.Error.Code+")", "nothing: it was deleted since it was listed")
		}
		return platform.NativeItem{}, errs.New(errs.Unavailable, fmt.Sprintf("Exchange Online could not export %s (%s: %s)", g.what, v.Error.Code, v.Error.Message),
			"nothing: mailferry retries, then copies the item by the standard path")
	}
	if len(v.Data) == 0 {
		return platform.NativeItem{}, errs.New(errs.Internal, "Exchange Online exported "+g.what+" without data", "report this to mailferry support")
	}
	out := ref
	if out.ChangeKey == "" {
		out.ChangeKey = v.ChangeKey
	}
	if out.Size == 0 {
		out.Size = int64(len(v.Data))
	}
	if out.Kind == "" {
		out.Kind = kindOfFolder(ref.FolderID)
	}
	return platform.NativeItem{Ref: out, Format: NativeFormat, Data: v.Data}, nil
}

// WriteNative imports an exported item into a folder and marks it with
// the migration marker and version. The marker cannot travel inside the
// data (Exchange's stream is opaque and must not be changed), so it is
// set on the created item afterwards through the standard endpoint of its
// kind, using the id the import returns (Graph ids and mailbox item ids
// are the same store ids). An extended property is no meeting field, so
// setting it sends no update. If marking fails the imported item is
// remembered and marked by the next attempt instead of being imported
// twice; deleting it would not do, as deleting a meeting can send its
// cancellation.
func (c *Connector) WriteNative(ctx context.Context, mailboxID, folderID string, it platform.NativeItem, marker string) (string, error) {
	if marker == "" {
		return "", errs.Field("marker", "every write needs a migration marker so that a re-run finds it")
	}
	if mailboxID == "" || folderID == "" {
		return "", errs.New(errs.NotFound, "the mailbox or folder id is empty", "list the folders again")
	}
	if it.Format != NativeFormat {
		return "", errs.New(errs.Invalid, fmt.Sprintf("data of format %q cannot be imported into Exchange Online", it.Format),
			"report this to mailferry support")
	}
	kind := kindOfFolder(folderID)
	if it.Ref.Kind != "" && it.Ref.Kind != kind {
		return "", errs.New(errs.Invalid, fmt.Sprintf("a %s item cannot be written to a %s folder", it.Ref.Kind, kind), "report this to mailferry support")
	}
	if len(it.Data) == 0 {
		return "", errs.New(errs.CorruptItem, "the exported item has no data", "the item is listed in the reconciliation report")
	}
	if size := int64(len(it.Data)); size > c.cfg.MaxItemBytes {
		return "", errs.New(errs.ItemTooLarge,
			fmt.Sprintf("the item is %d bytes, over Microsoft 365's limit of %d bytes", size, c.cfg.MaxItemBytes),
			"the item is listed in the reconciliation report; move it by hand")
	}
	version := it.Ref.ChangeKey
	gid := strings.TrimPrefix(strings.TrimPrefix(folderID, calendarPrefix), contactsPrefix)
	if id, found, err := c.findCopyIn(ctx, mailboxID, folderID, kind, gid, marker, version); err != nil || found {
		return id, err
	}
	key := strings.ToLower(mailboxID) + "\x00" + folderID + "\x00" + marker + "\x00" + version
	c.native.mu.Lock()
	id := c.native.pending[key]
	c.native.mu.Unlock()
	if id == "" {
		var err error
		if id, err = c.importItem(ctx, mailboxID, gid, it.Data); err != nil {
			return "", err
		}
		c.native.mu.Lock()
		if c.native.pending == nil {
			c.native.pending = map[string]string{}
		}
		c.native.pending[key] = id
		c.native.mu.Unlock()
	}
	err := c.markCopy(ctx, mailboxID, kind, id, marker, version)
	if err != nil && !errs.Is(err, errs.NotFound) {
		return "", err
	}
	c.native.mu.Lock()
	delete(c.native.pending, key)
	c.native.mu.Unlock()
	if err != nil {
		// The imported item is gone (a user deleted it): the next
		// attempt imports again.
		return "", err
	}
	if kind != platform.Mail {
		c.markers.note(mailboxID, marker, platform.Placed{ID: id, FolderID: folderID, Version: version})
	}
	return id, nil
}

// findCopyIn looks for a copy with the marker and version in the folder,
// as WriteItem does.
func (c *Connector) findCopyIn(ctx context.Context, mailboxID, folderID string, kind platform.ItemKind, gid, marker, version string) (string, bool, error) {
	switch kind {
	case platform.Event:
		return c.findEventIn(ctx, mailboxID, gid, marker, version)
	case platform.Contact:
		return c.findContactIn(ctx, mailboxID, gid, marker, version)
	}
	copies, err := c.findMail(ctx, mailboxID, marker)
	if err != nil {
		return "", false, err
	}
	for _, p := range copies {
		if p.FolderID == folderID && p.Version == version {
			return p.ID, true, nil
		}
	}
	return "", false, nil
}

// markCopy sets the marker and version on an imported item.
func (c *Connector) markCopy(ctx context.Context, mailboxID string, kind platform.ItemKind, id, marker, version string) error {
	var err error
	var g graphError
	switch kind {
	case platform.Event:
		g = graphError{what: "event " + id, perm: permCal}
		ev := models.NewEvent()
		ev.SetSingleValueExtendedProperties(markProps(marker, version))
		_, err = c.user(mailboxID).Events().ByEventId(id).Patch(ctx, ev, nil)
	case platform.Contact:
		g = graphError{what: "contact " + id, perm: permCont}
		ct := models.NewContact()
		ct.SetSingleValueExtendedProperties(markProps(marker, version))
		_, err = c.user(mailboxID).Contacts().ByContactId(id).Patch(ctx, ct, nil)
	default:
		g = graphError{what: "item " + id, perm: permMail}
		m := models.NewMessage()
		m.SetSingleValueExtendedProperties(markProps(marker, version))
		_, err = c.user(mailboxID).Messages().ByMessageId(id).Patch(ctx, m, nil)
	}
	return g.fail(err)
}

// errSessionGone is an import URL's 401: its token expired or was revoked.
var errSessionGone = errors.New("the import session expired")

// importItem uploads data to the mailbox's import URL (create mode) and
// returns the new item's id. An expired URL is replaced once.
func (c *Connector) importItem(ctx context.Context, mailboxID, folderID string, data []byte) (string, error) {
	body, err := json.Marshal(map[string]string{"FolderId": folderID, "Mode": "create", "Data": base64.StdEncoding.EncodeToString(data)})
	if err != nil {
		return "", fmt.Errorf("m365: encode import: %w", err)
	}
	for renew := false; ; renew = true {
		sess, err := c.importSession(ctx, mailboxID, renew)
		if err != nil {
			return "", err
		}
		id, err := c.postImport(ctx, mailboxID, folderID, sess.url, body)
		if errors.Is(err, errSessionGone) && !renew {
			continue
		}
		if errors.Is(err, errSessionGone) {
			return "", errs.New(errs.AuthFailed, "Exchange Online refused a new import session of mailbox "+mailboxID,
				"run the setup verification again; the app may have lost the permission "+permImportExport)
		}
		return id, err
	}
}

// importSession returns the mailbox's cached import URL, or creates one
// (POST /admin/exchange/mailboxes/{id}/createImportSession) when there is
// none, it is about to expire, or renew is set.
func (c *Connector) importSession(ctx context.Context, mailboxID string, renew bool) (*importSession, error) {
	key := strings.ToLower(mailboxID)
	c.native.mu.Lock()
	s := c.native.sessions[key]
	c.native.mu.Unlock()
	if s != nil && !renew && time.Until(s.expires) > importSessionMargin {
		return s, nil
	}
	mbx, err := c.mailboxOf(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	raw, err := c.mailboxAPI(ctx, mailboxID, abs.POST, "{+baseurl}/admin/exchange/mailboxes/{mailboxId}/createImportSession",
		map[string]string{"mailboxId": mbx}, nil, nil)
	if err != nil {
		return nil, graphError{what: "mailbox " + mailboxID, perm: permImportExport}.fail(err)
	}
	var res struct {
		ImportURL          string    `json:"importUrl"`
		ExpirationDateTime time.Time `json:"expirationDateTime"`
	}
	jerr := json.Unmarshal(raw, &res)
	u, perr := url.Parse(res.ImportURL)
	if jerr != nil || perr != nil || res.ImportURL == "" || u.Scheme != "https" || res.ExpirationDateTime.IsZero() {
		return nil, errs.New(errs.Internal, "Microsoft Graph created an import session without a usable import URL", "report this to mailferry support")
	}
	s = &importSession{url: res.ImportURL, expires: res.ExpirationDateTime}
	c.native.mu.Lock()
	if c.native.sessions == nil {
		c.native.sessions = map[string]*importSession{}
	}
	c.native.sessions[key] = s
	c.native.mu.Unlock()
	return s, nil
}

// postImport POSTs one item to an import URL. The URL is pre-authenticated
// (its token is in the query), so the request carries no bearer token, and
// no error may quote the URL.
func (c *Connector) postImport(ctx context.Context, mailboxID, folderID, importURL string, body []byte) (string, error) {
	g := graphError{what: "folder " + folderID + " of mailbox " + mailboxID, perm: permImportExport}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, importURL, bytes.NewReader(body))
	if err != nil {
		return "", errs.New(errs.Internal, "the import URL of mailbox "+mailboxID+" is not valid", "report this to mailferry support")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	release, err := c.gate.acquire(ctx, mailboxID)
	if err != nil {
		return "", err
	}
	resp, err := c.raw.Do(req)
	if err != nil {
		release(false)
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL and its token
		}
		return "", g.fail(err)
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	release(resp.StatusCode == http.StatusTooManyRequests)
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		c.native.mu.Lock()
		delete(c.native.sessions, strings.ToLower(mailboxID))
		c.native.mu.Unlock()
		return "", errSessionGone
	case resp.StatusCode >= 300:
		return "", g.fail(newStatusError(resp, raw))
	}
	var res struct {
		ItemID string `json:"itemId"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || res.ItemID == "" {
		return "", errs.New(errs.Internal, "Exchange Online imported an item into "+g.what+" without saying its id", "report this to mailferry support")
	}
	return res.ItemID, nil
}

// DeleteNative deletes a copy WriteNative wrote through the mailbox API
// (DELETE /admin/exchange/mailboxes/{id}/folders/{id}/items/{id},
// disposalType=softDelete): a store operation that, unlike deleting an
// event the way its organizer would, sends no cancellation. It needs
// MailboxItem.ReadWrite.All. A copy already gone is not an error.
func (c *Connector) DeleteNative(ctx context.Context, mailboxID string, p platform.Placed) error {
	if mailboxID == "" || p.ID == "" || p.FolderID == "" {
		return errs.New(errs.NotFound, "the mailbox, folder or item id is empty", "list the items again")
	}
	mbx, err := c.mailboxOf(ctx, mailboxID)
	if err != nil {
		return err
	}
	gid := strings.TrimPrefix(strings.TrimPrefix(p.FolderID, calendarPrefix), contactsPrefix)
	_, err = c.mailboxAPI(ctx, mailboxID, abs.DELETE, "{+baseurl}/admin/exchange/mailboxes/{mailboxId}/folders/{folderId}/items/{itemId}{?disposalType}",
		map[string]string{"mailboxId": mbx, "folderId": gid, "itemId": p.ID}, map[string]string{"disposalType": "softDelete"}, nil)
	if err != nil {
		if ferr := (graphError{what: "item " + p.ID, perm: permItemReadWrite}).fail(err); !errs.Is(ferr, errs.NotFound) {
			return ferr
		}
	}
	c.markers.forget(mailboxID, p.ID)
	return nil
}

var (
	_ platform.NativeSource      = (*Connector)(nil)
	_ platform.NativeDestination = (*Connector)(nil)
)
