package google

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/textproto"
	"strings"

	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// WriteItem stores an item in a folder with its migration marker and
// version. Mail goes in raw through messages.import (the original Date as
// internal date, never classified as spam, never sent) with the marker
// headers; events through events.import (calendar.go), contacts through
// People (contacts.go). A copy of the same marker and version already in
// the folder is returned instead of writing again.
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
	if size := int64(len(item.Content)); size > c.cfg.MaxItemBytes {
		return "", errs.New(errs.ItemTooLarge,
			fmt.Sprintf("the item is %d bytes, over Google's limit of %d bytes", size, c.cfg.MaxItemBytes),
			"the item is listed in the reconciliation report; move it by hand or reduce its attachments")
	}
	switch kind {
	case platform.Event:
		return c.writeEvent(ctx, mailboxID, folderID, item, marker)
	case platform.Contact:
		return c.writeContact(ctx, mailboxID, folderID, item, marker)
	}
	return c.writeMail(ctx, mailboxID, folderID, item, marker)
}

func (c *Connector) writeMail(ctx context.Context, mailboxID, folderID string, item platform.Item, marker string) (string, error) {
	version := item.Ref.ChangeKey
	copies, err := c.findMail(ctx, mailboxID, marker)
	if err != nil {
		return "", err
	}
	for _, p := range copies {
		if p.FolderID == folderID && p.Version == version {
			return p.ID, nil
		}
	}
	set, err := c.labelsOf(ctx, mailboxID, false)
	if err != nil {
		return "", err
	}
	if !set.knows(folderID) {
		if set, err = c.labelsOf(ctx, mailboxID, true); err != nil {
			return "", err
		}
		if !set.knows(folderID) {
			return "", errs.New(errs.NotFound, "mailbox "+mailboxID+" has no folder "+folderID, "list the folders again")
		}
	}
	w := set.labelsFor(folderID, item.Read, item.Flagged, item.Categories)
	for _, name := range w.missing {
		id, err := c.ensureLabel(ctx, mailboxID, set, name)
		if err != nil {
			return "", err
		}
		w.ids = append(w.ids, id)
	}
	raw, err := withMarkerHeaders(item.Content, marker, version, folderID)
	if err != nil {
		return "", errs.Wrap(errs.CorruptItem, err, "the message is not valid RFC 5322 MIME: "+err.Error(), "the item is listed in the reconciliation report")
	}
	uc, err := c.gmailFor(mailboxID)
	if err != nil {
		return "", err
	}
	o := gmailOp(mailboxID, "folder "+folderID+" of mailbox "+mailboxID)
	var m *gmail.Message
	if folderID == "DRAFT" {
		m, err = c.writeDraft(ctx, uc, raw, w.ids)
	} else {
		// Media upload sends the MIME as it is (no base64 in JSON); up
		// to the client's chunk size (16 MB) in one multipart request,
		// above it through a resumable session.
		m, err = uc.gmail.Users.Messages.Import("me", &gmail.Message{LabelIds: w.ids}).
			InternalDateSource("dateHeader").NeverMarkSpam(true).ProcessForCalendar(false).
			Media(bytes.NewReader(raw), googleapi.ContentType("message/rfc822")).Context(ctx).Do()
	}
	if err != nil {
		ferr := c.fail(o, err)
		if ambiguous(ferr) {
			c.staleMail(mailboxID)
		}
		return "", ferr
	}
	labels := m.LabelIds
	if len(labels) == 0 {
		labels = w.ids
	}
	c.noteMail(mailboxID, m.Id, &mailEntry{marker: marker, version: version, folder: folderID, labels: labels})
	return m.Id, nil
}

// writeDraft stores a message in Drafts: messages.import cannot apply the
// DRAFT label, drafts.create can (and sends nothing). Labels beyond DRAFT
// (UNREAD, STARRED, categories) follow through messages.modify.
func (c *Connector) writeDraft(ctx context.Context, uc *userClients, raw []byte, labels []string) (*gmail.Message, error) {
	d, err := uc.gmail.Users.Drafts.Create("me", &gmail.Draft{}).
		Media(bytes.NewReader(raw), googleapi.ContentType("message/rfc822")).Context(ctx).Do()
	if err != nil {
		return nil, err
	}
	if d.Message == nil || d.Message.Id == "" {
		return nil, errs.New(errs.Internal, "Gmail created a draft without a message id", "report this to mailferry support")
	}
	var add []string
	for _, l := range labels {
		if l != "DRAFT" {
			add = append(add, l)
		}
	}
	if len(add) == 0 {
		return d.Message, nil
	}
	return uc.gmail.Users.Messages.Modify("me", d.Message.Id, &gmail.ModifyMessageRequest{AddLabelIds: add}).Context(ctx).Do()
}

// withMarkerHeaders prepends mailferry's headers to a message, replacing
// any it already carries (a message migrated once before), and leaves the
// rest of the MIME byte for byte as it was.
func withMarkerHeaders(content []byte, marker, version, folder string) ([]byte, error) {
	end := bytes.Index(content, []byte("\r\n\r\n"))
	sep := 4
	if e2 := bytes.Index(content, []byte("\n\n")); e2 >= 0 && (end < 0 || e2 < end) {
		end, sep = e2, 2
	}
	if end < 0 {
		return nil, fmt.Errorf("no blank line ends the header")
	}
	if _, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(content[:end+sep]))).ReadMIMEHeader(); err != nil {
		return nil, fmt.Errorf("the header cannot be read")
	}
	var out bytes.Buffer
	out.Grow(len(content) + 256)
	eol := "\r\n"[(4-sep)/2:]
	for _, h := range [][2]string{{HeaderMarker, marker}, {HeaderVersion, version}, {HeaderFolder, folder}} {
		if h[1] == "" {
			continue
		}
		// Values are ours (hex, ids): no folding or encoding needed, but
		// line breaks are never let through.
		out.WriteString(h[0] + ": " + strings.NewReplacer("\r", "", "\n", "").Replace(h[1]) + eol)
	}
	// The header with its last line break; the blank line and the body
	// follow unchanged.
	end += sep / 2
	header := content[:end]
	lines := bytes.SplitAfter(header, []byte("\n"))
	skip := false
	for _, l := range lines {
		if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
			if !skip {
				out.Write(l)
			}
			continue
		}
		name, _, _ := bytes.Cut(l, []byte(":"))
		n := strings.ToLower(strings.TrimSpace(string(name)))
		skip = n == strings.ToLower(HeaderMarker) || n == strings.ToLower(HeaderVersion) || n == strings.ToLower(HeaderFolder)
		if !skip {
			out.Write(l)
		}
	}
	out.Write(content[end:])
	return out.Bytes(), nil
}
