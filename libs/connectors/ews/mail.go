package ews

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/platform"
)

// MAPI properties of a message written from MIME. Exchange takes them only
// when the message is created: PR_MESSAGE_FLAGS without MSGFLAG_UNSENT
// makes it a received message rather than a draft, and the two times make
// it sort and show where it was at the source rather than at the moment of
// the migration.
var (
	propMessageFlags = soap.ExtendedFieldURI{PropertyTag: "0x0E07", PropertyType: "Integer"}
	propDeliveryTime = soap.ExtendedFieldURI{PropertyTag: "0x0E06", PropertyType: "SystemTime"}
	propSubmitTime   = soap.ExtendedFieldURI{PropertyTag: "0x0039", PropertyType: "SystemTime"}
)

const (
	msgflagRead   = 0x1
	msgflagUnsent = 0x8
)

// mailShape reads a message as MIME with the state MIME does not carry.
var mailShape = soap.ItemShape{BaseShape: soap.ShapeIDOnly, IncludeMimeContent: soap.Bool(true),
	AdditionalProperties: &soap.Paths{FieldURI: []soap.FieldURI{{FieldURI: "item:ParentFolderId"}, {FieldURI: "item:Size"},
		{FieldURI: "item:DateTimeReceived"}, {FieldURI: "item:Categories"}, {FieldURI: "item:Flag"}, {FieldURI: "message:IsRead"}}}}

// readMail reads a message (or a meeting request, a report, any item of a
// mail folder) as the MIME Exchange renders for it.
func (c *Connector) readMail(ctx context.Context, mb string, ref platform.ItemRef) (platform.Item, error) {
	it, err := c.getOne(ctx, mb, ref.ID, mailShape)
	if err != nil {
		return platform.Item{}, err
	}
	f := it.Fields()
	if f.MimeContent == nil {
		return platform.Item{}, errs.New(errs.CorruptItem, "Exchange has no MIME for item "+ref.ID+" of mailbox "+mb+" ("+it.Kind()+")",
			"the item is listed in the reconciliation report")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(f.MimeContent.Value), ""))
	if err != nil {
		return platform.Item{}, errs.Wrap(errs.CorruptItem, err, "the MIME of item "+ref.ID+" of mailbox "+mb+" is not base64", "report this to mailferry support")
	}
	out := platform.Item{
		Ref:         platform.ItemRef{ID: f.ItemID.ID, FolderID: ref.FolderID, Kind: platform.Mail, Size: int64(derefInt(f.Size)), ChangeKey: f.ItemID.ChangeKey},
		ContentType: platform.ContentMIME,
		Content:     raw,
		Flagged:     f.Flag != nil && f.Flag.FlagStatus == "Flagged",
	}
	if out.Ref.FolderID == "" && f.ParentFolderID != nil {
		out.Ref.FolderID = f.ParentFolderID.ID
	}
	if f.DateTimeReceived != nil {
		out.Received = f.DateTimeReceived.Time
	}
	if f.Categories != nil {
		out.Categories = f.Categories.String
	}
	if it.Message != nil {
		out.Read = boolOf(it.Message.IsRead)
	}
	return out, nil
}

// writeMail stores a MIME message in a folder with CreateItem
// (MessageDisposition SaveOnly: saved where it is asked, never sent),
// received rather than a draft (PR_MESSAGE_FLAGS; in the Drafts folder it
// stays a draft), with its read state, flag, categories, delivery and
// sent times, the marker and the version. The folder is searched for the
// marker first, so a retry or a re-run of the same version writes
// nothing.
func (c *Connector) writeMail(ctx context.Context, mb, folderID string, item platform.Item, marker string) (string, error) {
	version := item.Ref.ChangeKey
	if id, ok, err := c.findInFolder(ctx, mb, folderID, marker, version); err != nil || ok {
		return id, err
	}
	if err := c.tooLarge(item); err != nil {
		return "", err
	}
	m, err := mail.ReadMessage(bytes.NewReader(item.Content))
	if err != nil {
		return "", errs.Wrap(errs.CorruptItem, err, "the message is not valid RFC 5322 MIME", "the item is listed in the reconciliation report")
	}
	flags := 0
	if item.Read {
		flags |= msgflagRead
	}
	if fc, err := c.listing(ctx, mb, folderCacheTTL); err == nil {
		if f, ok := fc.get(folderID); ok && f.Role == platform.RoleDrafts {
			flags |= msgflagUnsent
		}
	}
	props := append(markProps(marker, version), soap.NewExtendedProperty(propMessageFlags, strconv.Itoa(flags)))
	received := item.Received
	sent, derr := m.Header.Date()
	if received.IsZero() && derr == nil {
		received = sent
	}
	if !received.IsZero() {
		props = append(props, soap.NewExtendedProperty(propDeliveryTime, systemTime(received)))
	}
	if derr == nil {
		props = append(props, soap.NewExtendedProperty(propSubmitTime, systemTime(sent)))
	}
	msg := &soap.Message{IsRead: soap.Bool(item.Read)}
	msg.MimeContent = &soap.MimeContent{Value: base64.StdEncoding.EncodeToString(item.Content)}
	msg.ExtendedProperty = props
	if len(item.Categories) > 0 {
		msg.Categories = &soap.Strings{String: item.Categories}
	}
	if item.Flagged {
		msg.Flag = &soap.Flag{FlagStatus: "Flagged"}
	}
	w := what{mailbox: mb, thing: "a message in folder " + folderID}
	return c.create(ctx, mb, folderID, marker, version, &soap.CreateItem{MessageDisposition: "SaveOnly",
		SavedItemFolderID: &soap.TargetFolderID{FolderID: &soap.FolderID{ID: folderID}},
		Items:             soap.Items{Items: []soap.AnyItem{{Message: msg}}}}, w)
}

// systemTime is a MAPI PT_SYSTIME value as EWS writes it.
func systemTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
