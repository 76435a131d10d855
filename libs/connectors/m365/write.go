package m365

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

const (
	// inlineLimit is Graph's limit for attachments sent in a request
	// body (POST message or POST attachments); larger ones need an
	// upload session.
	inlineLimit = 3 << 20
	// uploadChunk is the size of each PUT to an upload session: a
	// multiple of 320 KiB under Graph's 4 MB per request.
	uploadChunk = 12 * 320 << 10
	// msgflagRead is MSGFLAG_READ of PR_MESSAGE_FLAGS. Any value set at
	// creation without MSGFLAG_UNSENT (8) makes the item a received
	// message rather than a draft.
	msgflagRead = 1
)

// WriteItem stores a MIME message in a folder as a received (non-draft)
// message, keeping its Message-ID, dates, addresses, subject, body and
// attachments; see docs/m365.md for what survives. The migration marker and
// the source's version (item.Ref.ChangeKey) are extended properties: a
// message carrying them is complete, so a retry or a re-run that finds the
// same version in the folder writes nothing, and another version becomes
// another message for the caller to replace the old one with.
func (c *Connector) WriteItem(ctx context.Context, mailboxID, folderID string, item platform.Item, marker string) (string, error) {
	if marker == "" {
		return "", errs.Field("marker", "every write needs a migration marker so that a re-run finds it")
	}
	if mailboxID == "" || folderID == "" {
		return "", errs.New(errs.NotFound, "the mailbox or folder id is empty", "list the folders again")
	}
	kind := kindOfFolder(folderID)
	want := map[platform.ItemKind]string{platform.Mail: platform.ContentMIME, platform.Event: platform.ContentCalendar, platform.Contact: platform.ContentVCard}[kind]
	if item.Ref.Kind != "" && item.Ref.Kind != kind || item.ContentType != "" && item.ContentType != want {
		return "", errs.New(errs.Invalid,
			fmt.Sprintf("a %s item (%s) cannot be written to a %s folder", item.Ref.Kind, item.ContentType, kind),
			"report this to mailferry support")
	}
	if size := int64(len(item.Content)); kind != platform.Mail && size > c.cfg.MaxItemBytes {
		return "", errs.New(errs.ItemTooLarge,
			fmt.Sprintf("the item is %d bytes, over Microsoft 365's limit of %d bytes", size, c.cfg.MaxItemBytes),
			"the item is listed in the reconciliation report; move it by hand")
	}
	switch kind {
	case platform.Event:
		return c.writeEvent(ctx, mailboxID, strings.TrimPrefix(folderID, calendarPrefix), item, marker)
	case platform.Contact:
		return c.writeContact(ctx, mailboxID, strings.TrimPrefix(folderID, contactsPrefix), item, marker)
	}
	version := item.Ref.ChangeKey
	// The marker index that answered FindByMarker may be minutes old; this
	// query, just before the create, is what keeps a copy written meanwhile
	// (by another worker, or by a create whose answer was lost) from being
	// written twice.
	copies, err := c.findMail(ctx, mailboxID, marker)
	if err != nil {
		return "", err
	}
	for _, p := range copies {
		if p.FolderID == folderID && p.Version == version {
			c.markers.note(mailboxID, marker, p)
			return p.ID, nil
		}
	}
	if size := int64(len(item.Content)); size > c.cfg.MaxItemBytes {
		return "", errs.New(errs.ItemTooLarge,
			fmt.Sprintf("the item is %d bytes, over Microsoft 365's limit of %d bytes", size, c.cfg.MaxItemBytes),
			"the item is listed in the reconciliation report; move it by hand or reduce its attachments")
	}
	p, err := parseMIME(item.Content)
	if err != nil {
		return "", errs.Wrap(errs.CorruptItem, err, "the message is not valid RFC 5322 MIME", "the item is listed in the reconciliation report")
	}
	for _, a := range p.attachments {
		if int64(len(a.data)) > c.cfg.MaxItemBytes {
			return "", errs.New(errs.ItemTooLarge,
				fmt.Sprintf("the item is %d bytes with an attachment of %d bytes, over Microsoft 365's limit of %d bytes",
					len(item.Content), len(a.data), c.cfg.MaxItemBytes),
				"the item is listed in the reconciliation report; move it by hand")
		}
	}
	msg := c.messageOf(p, item)
	// The create request carries attachments base64-encoded; keeping the
	// encoded total under 3 MB keeps the request under Graph's 4 MB.
	budget := inlineLimit - len(p.html) - len(p.text)
	var inline []models.Attachmentable
	var later []attachment
	for _, a := range p.attachments {
		if cost := base64.StdEncoding.EncodedLen(len(a.data)); cost <= budget {
			budget -= cost
			inline = append(inline, fileAttachment(a))
		} else {
			later = append(later, a)
		}
	}
	msg.SetAttachments(inline)
	props := msg.GetSingleValueExtendedProperties()
	if len(later) == 0 {
		// One request creates the whole message: it is never seen
		// incomplete, so it carries the marker from the start.
		props = append(props, markProps(marker, version)...)
	}
	msg.SetSingleValueExtendedProperties(props)

	g := graphError{what: "folder " + folderID + " of mailbox " + mailboxID, perm: permMail}
	created, err := c.user(mailboxID).MailFolders().ByMailFolderId(folderID).Messages().Post(ctx, msg, nil)
	if err != nil {
		return "", g.fail(err)
	}
	id := str(created.GetId())
	placed := platform.Placed{ID: id, FolderID: folderID, Version: version}
	if len(later) == 0 {
		c.markers.note(mailboxID, marker, placed)
		return id, nil
	}
	// Larger attachments go on after the message exists; the marker comes
	// last so that an interrupted write leaves no marked, incomplete item.
	if err := c.addAttachments(ctx, mailboxID, id, later); err != nil {
		c.discard(mailboxID, id)
		return "", err
	}
	patch := models.NewMessage()
	patch.SetSingleValueExtendedProperties(markProps(marker, version))
	if _, err := c.user(mailboxID).Messages().ByMessageId(id).Patch(ctx, patch, nil); err != nil {
		c.discard(mailboxID, id)
		return "", graphError{what: "item " + id, perm: permMail}.fail(err)
	}
	c.markers.note(mailboxID, marker, placed)
	return id, nil
}

// discard deletes a half-written message. It runs on its own context: the
// caller's may be what was cancelled. A failure leaves an unmarked copy
// that the next attempt does not mistake for a finished one.
func (c *Connector) discard(mailboxID, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = c.user(mailboxID).Messages().ByMessageId(id).Delete(ctx, nil)
}

func extProp(id, value string) models.SingleValueLegacyExtendedPropertyable {
	p := models.NewSingleValueLegacyExtendedProperty()
	p.SetId(ptr(id))
	p.SetValue(ptr(value))
	return p
}

func recipient(a *mail.Address) models.Recipientable {
	r := models.NewRecipient()
	e := models.NewEmailAddress()
	e.SetAddress(ptr(a.Address))
	if a.Name != "" {
		e.SetName(ptr(a.Name))
	}
	r.SetEmailAddress(e)
	return r
}

func recipients(l []*mail.Address) []models.Recipientable {
	out := make([]models.Recipientable, 0, len(l))
	for _, a := range l {
		out = append(out, recipient(a))
	}
	return out
}

func (c *Connector) messageOf(p *parsed, item platform.Item) models.Messageable {
	m := models.NewMessage()
	m.SetSubject(ptr(p.subject))
	body := models.NewItemBody()
	if p.hasHTML {
		body.SetContentType(ptr(models.HTML_BODYTYPE))
		body.SetContent(ptr(p.html))
	} else {
		body.SetContentType(ptr(models.TEXT_BODYTYPE))
		body.SetContent(ptr(p.text))
	}
	m.SetBody(body)
	if p.messageID != "" {
		m.SetInternetMessageId(ptr(p.messageID))
	}
	if p.from != nil {
		m.SetFrom(recipient(p.from))
		if p.sender == nil {
			m.SetSender(recipient(p.from))
		}
	}
	if p.sender != nil {
		m.SetSender(recipient(p.sender))
	}
	m.SetToRecipients(recipients(p.to))
	m.SetCcRecipients(recipients(p.cc))
	m.SetBccRecipients(recipients(p.bcc))
	m.SetReplyTo(recipients(p.reply))
	switch p.importance {
	case "high":
		m.SetImportance(ptr(models.HIGH_IMPORTANCE))
	case "low":
		m.SetImportance(ptr(models.LOW_IMPORTANCE))
	}
	if len(item.Categories) > 0 {
		m.SetCategories(item.Categories)
	}
	if item.Flagged {
		f := models.NewFollowupFlag()
		f.SetFlagStatus(ptr(models.FLAGGED_FOLLOWUPFLAGSTATUS))
		m.SetFlag(f)
	}
	m.SetIsRead(ptr(item.Read))
	flags := 0
	if item.Read {
		flags |= msgflagRead
	}
	received := item.Received
	if received.IsZero() {
		received = p.date
	}
	sent := p.date
	if sent.IsZero() {
		sent = received
	}
	props := []models.SingleValueLegacyExtendedPropertyable{extProp(propMessageFlags, strconv.Itoa(flags))}
	if !received.IsZero() {
		props = append(props, extProp(propDeliveryTime, received.UTC().Format(time.RFC3339)))
	}
	if !sent.IsZero() {
		props = append(props, extProp(propSubmitTime, sent.UTC().Format(time.RFC3339)))
	}
	m.SetSingleValueExtendedProperties(props)
	return m
}

func fileAttachment(a attachment) models.Attachmentable {
	f := models.NewFileAttachment()
	f.SetOdataType(ptr("#microsoft.graph.fileAttachment"))
	f.SetName(ptr(a.name))
	f.SetContentType(ptr(a.contentType))
	f.SetContentBytes(a.data)
	if a.contentID != "" {
		f.SetContentId(ptr(a.contentID))
	}
	f.SetIsInline(ptr(a.inline))
	return f
}

// addAttachments adds attachments to an existing message: up to 3 MB in a
// POST, larger ones through an upload session.
func (c *Connector) addAttachments(ctx context.Context, mailboxID, msgID string, as []attachment) error {
	g := graphError{what: "item " + msgID, perm: permMail}
	atts := c.user(mailboxID).Messages().ByMessageId(msgID).Attachments()
	for _, a := range as {
		if len(a.data) <= inlineLimit {
			if _, err := atts.Post(ctx, fileAttachment(a), nil); err != nil {
				return g.fail(err)
			}
			continue
		}
		item := models.NewAttachmentItem()
		item.SetAttachmentType(ptr(models.FILE_ATTACHMENTTYPE))
		item.SetName(ptr(a.name))
		item.SetSize(ptr(int64(len(a.data))))
		item.SetContentType(ptr(a.contentType))
		if a.contentID != "" {
			item.SetContentId(ptr(a.contentID))
			item.SetIsInline(ptr(a.inline))
		}
		body := users.NewItemMessagesItemAttachmentsCreateUploadSessionPostRequestBody()
		body.SetAttachmentItem(item)
		sess, err := atts.CreateUploadSession().Post(ctx, body, nil)
		if err != nil {
			return g.fail(err)
		}
		if err := c.upload(ctx, mailboxID, str(sess.GetUploadUrl()), a.data); err != nil {
			return g.fail(err)
		}
	}
	return nil
}

// upload PUTs data to an upload session in chunks. The upload URL is
// pre-authenticated: it must not carry the app's bearer token.
func (c *Connector) upload(ctx context.Context, mailboxID, uploadURL string, data []byte) error {
	if uploadURL == "" {
		return errs.New(errs.Internal, "Microsoft Graph created an upload session without an upload URL", "report this to mailferry support")
	}
	total := len(data)
	for start := 0; start < total; {
		end := min(start+uploadChunk, total)
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, uploadURL, bytes.NewReader(data[start:end]))
		if err != nil {
			return err
		}
		req.ContentLength = int64(end - start)
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, total))
		release, err := c.gate.acquire(ctx, mailboxID)
		if err != nil {
			return err
		}
		resp, err := c.raw.Do(req)
		if err != nil {
			release(false)
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		release(resp.StatusCode == http.StatusTooManyRequests)
		if resp.StatusCode >= 300 {
			return newStatusError(resp, body)
		}
		start = end
		if resp.StatusCode == http.StatusOK {
			// The session names the next range it expects; a server
			// that kept less than was sent is resumed from there.
			if next := nextRangeStart(body); next >= 0 && next < total {
				start = next
			}
		}
	}
	return nil
}

// nextRangeStart reads the first nextExpectedRanges entry ("n-" or "n-m").
func nextRangeStart(body []byte) int {
	s := string(body)
	i := strings.Index(s, `"nextExpectedRanges"`)
	if i < 0 {
		return -1
	}
	s = s[i:]
	j := strings.IndexByte(s, '[')
	if j < 0 {
		return -1
	}
	s = strings.TrimLeft(s[j+1:], " \r\n\t\"")
	k := strings.IndexAny(s, "-\"")
	if k <= 0 {
		return -1
	}
	n, err := strconv.Atoi(s[:k])
	if err != nil {
		return -1
	}
	return n
}
