package m365

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// MAPI properties used through singleValueExtendedProperties.
const (
	propMessageSize  = "Integer 0x0E08"    // PR_MESSAGE_SIZE
	propMessageFlags = "Integer 0x0E07"    // PR_MESSAGE_FLAGS
	propDeliveryTime = "SystemTime 0x0E06" // PR_MESSAGE_DELIVERY_TIME
	propSubmitTime   = "SystemTime 0x0039" // PR_CLIENT_SUBMIT_TIME
	// MarkerProperty is the named property holding the migration marker.
	MarkerProperty = "String {6f2bd7c4-7a3e-4a56-9b7d-2f1c0e3a5b10} Name mailferryMarker"
)

var expandSize = "singleValueExtendedProperties($filter=id eq '" + propMessageSize + "')"

// wellKnown maps Graph's well-known folder names to roles.
var wellKnown = []struct {
	name string
	role platform.Role
}{
	{"inbox", platform.RoleInbox},
	{"sentitems", platform.RoleSent},
	{"drafts", platform.RoleDrafts},
	{"deleteditems", platform.RoleDeleted},
	{"junkemail", platform.RoleJunk},
	{"archive", platform.RoleArchive},
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

func (c *Connector) user(mailboxID string) *users.UserItemRequestBuilder {
	return c.client.Users().ByUserId(mailboxID)
}

// ListMailboxes lists the tenant's users as mailboxes.
func (c *Connector) ListMailboxes(ctx context.Context) ([]platform.Mailbox, error) {
	g := graphError{what: "the tenant's users", perm: permUsers}
	resp, err := c.client.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{
			Select: []string{"id", "mail", "userPrincipalName", "proxyAddresses", "displayName"},
			Top:    ptr(int32(999)),
		},
	})
	var out []platform.Mailbox
	for {
		if err != nil {
			return nil, g.fail(err)
		}
		for _, u := range resp.GetValue() {
			out = append(out, mailboxOf(u))
		}
		next := str(resp.GetOdataNextLink())
		if next == "" {
			return out, nil
		}
		resp, err = c.client.Users().WithUrl(next).Get(ctx, nil)
	}
}

func mailboxOf(u models.Userable) platform.Mailbox {
	m := platform.Mailbox{ID: str(u.GetId()), PrimaryAddress: str(u.GetMail()), DisplayName: str(u.GetDisplayName())}
	if m.PrimaryAddress == "" {
		m.PrimaryAddress = str(u.GetUserPrincipalName())
	}
	for _, p := range u.GetProxyAddresses() {
		// "SMTP:" is the primary address, "smtp:" the secondary ones;
		// x500:, sip: and others are not mail addresses.
		if len(p) > 5 && strings.EqualFold(p[:5], "smtp:") {
			a := p[5:]
			if !strings.EqualFold(a, m.PrimaryAddress) {
				m.Aliases = append(m.Aliases, a)
			}
		}
	}
	return m
}

// Folders lists a mailbox's mail folders, parents before children, with
// the well-known ones carrying their role (hidden folders are left out),
// then its calendars and its contact folders.
func (c *Connector) Folders(ctx context.Context, mailboxID string) ([]platform.Folder, error) {
	if mailboxID == "" {
		return nil, errs.New(errs.NotFound, "the mailbox id is empty", "list the mailboxes again")
	}
	out, err := c.mailFolders(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	cals, err := c.calendarFolders(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	cts, err := c.contactFolders(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	return append(append(out, cals...), cts...), nil
}

// mailFolders lists the mail folders only.
func (c *Connector) mailFolders(ctx context.Context, mailboxID string) ([]platform.Folder, error) {
	g := graphError{what: "mailbox " + mailboxID, perm: permMail}
	roles := map[string]platform.Role{}
	for _, wk := range wellKnown {
		f, err := c.user(mailboxID).MailFolders().ByMailFolderId(wk.name).Get(ctx, &users.ItemMailFoldersMailFolderItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.ItemMailFoldersMailFolderItemRequestBuilderGetQueryParameters{Select: []string{"id"}},
		})
		if err != nil {
			ferr := g.fail(err)
			// A mailbox may lack a well-known folder (archive, before
			// first use); a missing mailbox fails on inbox already.
			if errs.Is(ferr, errs.NotFound) && wk.role != platform.RoleInbox {
				continue
			}
			return nil, ferr
		}
		roles[str(f.GetId())] = wk.role
	}
	var out []platform.Folder
	top, err := c.listFolders(ctx, mailboxID, "")
	if err != nil {
		return nil, g.fail(err)
	}
	queue := top
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		if f.GetIsHidden() != nil && *f.GetIsHidden() {
			continue
		}
		id := str(f.GetId())
		pf := platform.Folder{ID: id, Name: str(f.GetDisplayName()), Role: roles[id], Kind: platform.Mail}
		if !isTop(f, top) {
			pf.ParentID = str(f.GetParentFolderId())
		}
		out = append(out, pf)
		if n := f.GetChildFolderCount(); n != nil && *n > 0 {
			kids, err := c.listFolders(ctx, mailboxID, id)
			if err != nil {
				return nil, g.fail(err)
			}
			queue = append(queue, kids...)
		}
	}
	return out, nil
}

func isTop(f models.MailFolderable, top []models.MailFolderable) bool {
	for _, t := range top {
		if t == f {
			return true
		}
	}
	return false
}

var folderSelect = []string{"id", "displayName", "parentFolderId", "childFolderCount", "isHidden"}

// listFolders lists the top-level folders (parent "") or a folder's
// children, all pages.
func (c *Connector) listFolders(ctx context.Context, mailboxID, parent string) ([]models.MailFolderable, error) {
	var out []models.MailFolderable
	var resp models.MailFolderCollectionResponseable
	var err error
	if parent == "" {
		resp, err = c.user(mailboxID).MailFolders().Get(ctx, &users.ItemMailFoldersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.ItemMailFoldersRequestBuilderGetQueryParameters{Select: folderSelect, Top: ptr(int32(250))},
		})
	} else {
		resp, err = c.user(mailboxID).MailFolders().ByMailFolderId(parent).ChildFolders().Get(ctx, &users.ItemMailFoldersItemChildFoldersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.ItemMailFoldersItemChildFoldersRequestBuilderGetQueryParameters{Select: folderSelect, Top: ptr(int32(250))},
		})
	}
	for {
		if err != nil {
			return nil, err
		}
		out = append(out, resp.GetValue()...)
		next := str(resp.GetOdataNextLink())
		if next == "" {
			return out, nil
		}
		resp, err = c.user(mailboxID).MailFolders().WithUrl(next).Get(ctx, nil)
	}
}

// sizeOf reads PR_MESSAGE_SIZE from an expanded message.
func sizeOf(m models.Messageable) int64 {
	for _, p := range m.GetSingleValueExtendedProperties() {
		if strings.EqualFold(str(p.GetId()), propMessageSize) {
			n, _ := strconv.ParseInt(str(p.GetValue()), 10, 64)
			return n
		}
	}
	return 0
}

// Items enumerates a folder through Graph's delta: messages/delta for
// mail folders, calendarView/delta for calendars, contacts/delta for
// contact folders. "" starts a full (initial) sync; a NextToken continues
// it and a DeltaToken asks for later changes, both opaque to callers.
func (c *Connector) Items(ctx context.Context, mailboxID, folderID, token string) (platform.ItemPage, error) {
	g := graphError{what: "folder " + folderID + " of mailbox " + mailboxID, perm: permMail}
	if mailboxID == "" || folderID == "" {
		return platform.ItemPage{}, errs.New(errs.NotFound, "the mailbox or folder id is empty", "list the folders again")
	}
	switch {
	case strings.HasPrefix(folderID, calendarPrefix):
		return c.calendarItems(ctx, mailboxID, strings.TrimPrefix(folderID, calendarPrefix), folderID, token)
	case strings.HasPrefix(folderID, contactsPrefix):
		return c.contactItems(ctx, mailboxID, strings.TrimPrefix(folderID, contactsPrefix), folderID, token)
	}
	headers := abs.NewRequestHeaders()
	// Graph caps delta pages through this preference, not $top.
	headers.Add("Prefer", "odata.maxpagesize="+strconv.Itoa(c.cfg.PageSize))
	b := c.user(mailboxID).MailFolders().ByMailFolderId(folderID).Messages().Delta()
	cfg := &users.ItemMailFoldersItemMessagesDeltaRequestBuilderGetRequestConfiguration{Headers: headers}
	if token == "" {
		cfg.QueryParameters = &users.ItemMailFoldersItemMessagesDeltaRequestBuilderGetQueryParameters{
			Select: []string{"id", "changeKey", "parentFolderId"},
			Expand: []string{expandSize},
		}
	} else {
		if !strings.HasPrefix(token, c.graph+"/") {
			return platform.ItemPage{}, errs.New(errs.Invalid, "the paging token is not one this connector issued",
				"start a full enumeration with an empty token")
		}
		b = b.WithUrl(token)
	}
	resp, err := b.GetAsDeltaGetResponse(ctx, cfg)
	if err != nil {
		return platform.ItemPage{}, g.fail(err)
	}
	page := platform.ItemPage{Items: []platform.ItemRef{}}
	for _, m := range resp.GetValue() {
		ref := platform.ItemRef{ID: str(m.GetId()), FolderID: folderID, Kind: platform.Mail,
			ChangeKey: str(m.GetChangeKey()), Size: sizeOf(m)}
		if _, removed := m.GetAdditionalData()["@removed"]; removed {
			ref.Deleted, ref.Size = true, 0
		}
		page.Items = append(page.Items, ref)
	}
	page.NextToken = str(resp.GetOdataNextLink())
	if page.NextToken == "" {
		page.DeltaToken = str(resp.GetOdataDeltaLink())
		if page.DeltaToken == "" {
			return platform.ItemPage{}, errs.New(errs.Internal, "Microsoft Graph ended a delta round without a delta link",
				"report this to mailferry support")
		}
	}
	return page, nil
}

var readSelect = []string{"id", "parentFolderId", "changeKey", "isRead", "flag", "categories", "receivedDateTime"}

// ReadItem returns a message as its MIME ($value) with its read state,
// flag and categories, an event as iCalendar, a contact as a vCard.
func (c *Connector) ReadItem(ctx context.Context, mailboxID string, ref platform.ItemRef) (platform.Item, error) {
	g := graphError{what: "item " + ref.ID, perm: permMail}
	if ref.ID == "" || mailboxID == "" {
		return platform.Item{}, errs.New(errs.NotFound, "the item or mailbox id is empty", "list the folder again")
	}
	kind := ref.Kind
	if kind == "" {
		kind = kindOfFolder(ref.FolderID)
	}
	switch kind {
	case platform.Event:
		return c.readEvent(ctx, mailboxID, ref)
	case platform.Contact:
		return c.readContact(ctx, mailboxID, ref)
	case platform.Mail:
	default:
		return platform.Item{}, errs.Field("kind", fmt.Sprintf("%q is not an item kind", ref.Kind))
	}
	msg := c.user(mailboxID).Messages().ByMessageId(ref.ID)
	m, err := msg.Get(ctx, &users.ItemMessagesMessageItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemMessagesMessageItemRequestBuilderGetQueryParameters{
			Select: readSelect, Expand: []string{expandSize},
		},
	})
	if err != nil {
		return platform.Item{}, g.fail(err)
	}
	raw, err := msg.Content().Get(ctx, nil)
	if err != nil {
		return platform.Item{}, g.fail(err)
	}
	it := platform.Item{
		Ref: platform.ItemRef{ID: str(m.GetId()), FolderID: str(m.GetParentFolderId()), Kind: platform.Mail,
			Size: sizeOf(m), ChangeKey: str(m.GetChangeKey())},
		ContentType: platform.ContentMIME,
		Content:     raw,
		Categories:  m.GetCategories(),
	}
	if it.Ref.ID == "" {
		it.Ref.ID = ref.ID
	}
	if t := m.GetReceivedDateTime(); t != nil {
		it.Received = t.UTC()
	}
	if r := m.GetIsRead(); r != nil {
		it.Read = *r
	}
	if f := m.GetFlag(); f != nil && f.GetFlagStatus() != nil {
		it.Flagged = *f.GetFlagStatus() == models.FLAGGED_FOLLOWUPFLAGSTATUS
	}
	return it, nil
}

// Stats counts a mailbox exactly: every folder Folders lists, every
// message in them with its PR_MESSAGE_SIZE, and the events and contacts
// of a full enumeration with their estimated sizes: the numbers Items
// gives.
func (c *Connector) Stats(ctx context.Context, mailboxID string) (platform.Stats, error) {
	folders, err := c.Folders(ctx, mailboxID)
	if err != nil {
		return platform.Stats{}, err
	}
	st := platform.Stats{Folders: len(folders)}
	for _, f := range folders {
		if f.Kind != platform.Mail {
			token := ""
			for {
				p, err := c.Items(ctx, mailboxID, f.ID, token)
				if err != nil {
					return platform.Stats{}, err
				}
				for _, r := range p.Items {
					if f.Kind == platform.Event {
						st.Events++
					} else {
						st.Contacts++
					}
					st.SizeBytes += r.Size
					st.LargestItem = max(st.LargestItem, r.Size)
				}
				if p.NextToken == "" {
					break
				}
				token = p.NextToken
			}
			continue
		}
		g := graphError{what: "folder " + f.Name, perm: permMail}
		b := c.user(mailboxID).MailFolders().ByMailFolderId(f.ID).Messages()
		resp, err := b.Get(ctx, &users.ItemMailFoldersItemMessagesRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.ItemMailFoldersItemMessagesRequestBuilderGetQueryParameters{
				Select: []string{"id"}, Expand: []string{expandSize}, Top: ptr(int32(1000)),
			},
		})
		for {
			if err != nil {
				return platform.Stats{}, g.fail(err)
			}
			for _, m := range resp.GetValue() {
				st.Mail++
				n := sizeOf(m)
				st.SizeBytes += n
				st.LargestItem = max(st.LargestItem, n)
			}
			next := str(resp.GetOdataNextLink())
			if next == "" {
				break
			}
			resp, err = b.WithUrl(next).Get(ctx, nil)
		}
	}
	return st, nil
}

// EnsureFolder returns the folder with f's role, or creates f under its
// parent, returning the existing folder when Graph says it exists (409).
func (c *Connector) EnsureFolder(ctx context.Context, mailboxID string, f platform.Folder) (platform.Folder, error) {
	if f.Kind == "" {
		f.Kind = platform.Mail
	}
	if mailboxID == "" {
		return platform.Folder{}, errs.New(errs.NotFound, "the mailbox id is empty", "list the mailboxes again")
	}
	switch f.Kind {
	case platform.Event:
		return c.ensureCalendar(ctx, mailboxID, f)
	case platform.Contact:
		return c.ensureContactFolder(ctx, mailboxID, f)
	case platform.Mail:
	default:
		return platform.Folder{}, errs.Field("kind", fmt.Sprintf("%q is not a folder kind", f.Kind))
	}
	g := graphError{what: "mailbox " + mailboxID, perm: permMail}
	if f.Role != platform.RoleNone {
		for _, wk := range wellKnown {
			if wk.role != f.Role {
				continue
			}
			got, err := c.user(mailboxID).MailFolders().ByMailFolderId(wk.name).Get(ctx, &users.ItemMailFoldersMailFolderItemRequestBuilderGetRequestConfiguration{
				QueryParameters: &users.ItemMailFoldersMailFolderItemRequestBuilderGetQueryParameters{Select: folderSelect},
			})
			if err != nil {
				return platform.Folder{}, g.fail(err)
			}
			return platform.Folder{ID: str(got.GetId()), Name: str(got.GetDisplayName()), Role: f.Role, Kind: platform.Mail}, nil
		}
		return platform.Folder{}, errs.Field("role", fmt.Sprintf("%q is not a well-known mail folder role", f.Role))
	}
	if strings.TrimSpace(f.Name) == "" {
		return platform.Folder{}, errs.Field("name", "a folder without a role needs a name")
	}
	body := models.NewMailFolder()
	body.SetDisplayName(ptr(f.Name))
	var created models.MailFolderable
	var err error
	if f.ParentID == "" {
		created, err = c.user(mailboxID).MailFolders().Post(ctx, body, nil)
	} else {
		created, err = c.user(mailboxID).MailFolders().ByMailFolderId(f.ParentID).ChildFolders().Post(ctx, body, nil)
	}
	if err == nil {
		return platform.Folder{ID: str(created.GetId()), ParentID: f.ParentID, Name: str(created.GetDisplayName()), Kind: platform.Mail}, nil
	}
	if ferr := g.fail(err); !errs.Is(ferr, errs.Conflict) {
		return platform.Folder{}, ferr
	}
	siblings, err := c.listFolders(ctx, mailboxID, f.ParentID)
	if err != nil {
		return platform.Folder{}, g.fail(err)
	}
	for _, s := range siblings {
		// Exchange compares folder names case-insensitively.
		if strings.EqualFold(str(s.GetDisplayName()), f.Name) {
			return platform.Folder{ID: str(s.GetId()), ParentID: f.ParentID, Name: str(s.GetDisplayName()), Kind: platform.Mail}, nil
		}
	}
	return platform.Folder{}, errs.New(errs.Conflict,
		fmt.Sprintf("Microsoft 365 says folder %q exists but does not list it", f.Name),
		"nothing: mailferry retries; if it persists, check the folder is not hidden")
}

// kindOfFolder tells a folder's item kind from its id.
func kindOfFolder(folderID string) platform.ItemKind {
	switch {
	case strings.HasPrefix(folderID, calendarPrefix):
		return platform.Event
	case strings.HasPrefix(folderID, contactsPrefix):
		return platform.Contact
	}
	return platform.Mail
}
