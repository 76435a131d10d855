package m365

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-vcard"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/pim"
	"github.com/mailferry/mailferry/libs/platform"
)

// ContactExtraProperty holds, as JSON, what a vCard had that a Graph
// contact has no field for: the UID, the vCard TYPE of each address and
// number, and whole properties beyond Exchange's slots (a fourth e-mail
// address, a fax number, ...). Reading the contact back restores them, so
// a round trip through Microsoft 365 keeps the vCard.
const ContactExtraProperty = "String {6f2bd7c4-7a3e-4a56-9b7d-2f1c0e3a5b10} Name mailferryVCard"

// notesHeading starts the part of personalNotes where WriteItem puts, for
// people using Outlook, what the contact's fields cannot hold.
const notesHeading = "--- Kept by mailferry: not held by Microsoft 365 contact fields ---"

type contactExtra struct {
	UID      string            `json:"uid,omitempty"`
	Types    map[string]string `json:"types,omitempty"` // "EMAIL:addr" / "TEL:number" -> TYPE
	Overflow []extraField      `json:"overflow,omitempty"`
	Notes    string            `json:"notes,omitempty"` // the suffix appended to personalNotes
}

type extraField struct {
	Name   string              `json:"name"`
	Value  string              `json:"value"`
	Params map[string][]string `json:"params,omitempty"`
	Group  string              `json:"group,omitempty"`
}

// contactFolders lists the default Contacts folder (role contacts) and
// the folders under it, parents first.
func (c *Connector) contactFolders(ctx context.Context, mailboxID string) ([]platform.Folder, error) {
	g := graphError{what: "the contact folders of mailbox " + mailboxID, perm: permCont}
	def, err := c.user(mailboxID).ContactFolders().ByContactFolderId("contacts").Get(ctx, &users.ItemContactFoldersContactFolderItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemContactFoldersContactFolderItemRequestBuilderGetQueryParameters{Select: []string{"id", "displayName"}},
	})
	if err != nil {
		return nil, g.fail(err)
	}
	root := platform.Folder{ID: contactsPrefix + str(def.GetId()), Name: str(def.GetDisplayName()), Role: platform.RoleContacts, Kind: platform.Contact}
	out := []platform.Folder{root}
	queue := []platform.Folder{root}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		kids, err := c.childContactFolders(ctx, mailboxID, strings.TrimPrefix(parent.ID, contactsPrefix))
		if err != nil {
			return nil, g.fail(err)
		}
		for _, k := range kids {
			f := platform.Folder{ID: contactsPrefix + str(k.GetId()), ParentID: parent.ID, Name: str(k.GetDisplayName()), Kind: platform.Contact}
			out = append(out, f)
			queue = append(queue, f)
		}
	}
	return out, nil
}

func (c *Connector) childContactFolders(ctx context.Context, mailboxID, parentID string) ([]models.ContactFolderable, error) {
	b := c.user(mailboxID).ContactFolders().ByContactFolderId(parentID).ChildFolders()
	resp, err := b.Get(ctx, &users.ItemContactFoldersItemChildFoldersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemContactFoldersItemChildFoldersRequestBuilderGetQueryParameters{
			Select: []string{"id", "displayName", "parentFolderId"}, Top: ptr(int32(250)),
		},
	})
	var out []models.ContactFolderable
	for {
		if err != nil {
			return nil, err
		}
		out = append(out, resp.GetValue()...)
		next := str(resp.GetOdataNextLink())
		if next == "" {
			return out, nil
		}
		resp, err = b.WithUrl(next).Get(ctx, nil)
	}
}

// ensureContactFolder returns the default folder for the contacts role,
// or the folder of that name under its parent (the default folder when
// none is given), creating it.
func (c *Connector) ensureContactFolder(ctx context.Context, mailboxID string, f platform.Folder) (platform.Folder, error) {
	folders, err := c.contactFolders(ctx, mailboxID)
	if err != nil {
		return platform.Folder{}, err
	}
	root := folders[0]
	switch f.Role {
	case platform.RoleContacts:
		return root, nil
	case platform.RoleNone:
	default:
		return platform.Folder{}, errs.Field("role", fmt.Sprintf("%q is not a contact folder role", f.Role))
	}
	if strings.TrimSpace(f.Name) == "" {
		return platform.Folder{}, errs.Field("name", "a contact folder without a role needs a name")
	}
	parent := f.ParentID
	if parent == "" {
		parent = root.ID
	}
	if !strings.HasPrefix(parent, contactsPrefix) {
		return platform.Folder{}, errs.New(errs.NotFound, "the parent "+parent+" is not a contact folder", "list the folders again")
	}
	find := func(l []platform.Folder) (platform.Folder, bool) {
		for _, x := range l {
			if x.ParentID == parent && strings.EqualFold(x.Name, f.Name) {
				return x, true
			}
		}
		return platform.Folder{}, false
	}
	if x, ok := find(folders); ok {
		return x, nil
	}
	body := models.NewContactFolder()
	body.SetDisplayName(ptr(f.Name))
	created, err := c.user(mailboxID).ContactFolders().ByContactFolderId(strings.TrimPrefix(parent, contactsPrefix)).ChildFolders().Post(ctx, body, nil)
	if err != nil {
		ferr := graphError{what: "contact folder " + f.Name, perm: permCont}.fail(err)
		if errs.Is(ferr, errs.Conflict) {
			if folders, err := c.contactFolders(ctx, mailboxID); err == nil {
				if x, ok := find(folders); ok {
					return x, nil
				}
			}
		}
		return platform.Folder{}, ferr
	}
	return platform.Folder{ID: contactsPrefix + str(created.GetId()), ParentID: parent, Name: str(created.GetDisplayName()), Kind: platform.Contact}, nil
}

// contactSize estimates a contact's size: Graph reports none.
func contactSize(ct models.Contactable) int64 {
	n := 256 + len(str(ct.GetDisplayName())) + len(str(ct.GetPersonalNotes())) + 48*len(ct.GetEmailAddresses())
	return int64(n)
}

// contactItems enumerates a contact folder through contacts/delta, with
// the same token handling as mail.
func (c *Connector) contactItems(ctx context.Context, mailboxID, fid, folderID, token string) (platform.ItemPage, error) {
	g := graphError{what: "contact folder " + fid + " of mailbox " + mailboxID, perm: permCont}
	headers := abs.NewRequestHeaders()
	headers.Add("Prefer", "odata.maxpagesize="+strconv.Itoa(c.cfg.PageSize))
	b := c.user(mailboxID).ContactFolders().ByContactFolderId(fid).Contacts().Delta()
	cfg := &users.ItemContactFoldersItemContactsDeltaRequestBuilderGetRequestConfiguration{Headers: headers}
	if token != "" {
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
	for _, ct := range resp.GetValue() {
		ref := platform.ItemRef{ID: str(ct.GetId()), FolderID: folderID, Kind: platform.Contact, ChangeKey: str(ct.GetChangeKey()), Size: contactSize(ct)}
		if _, removed := ct.GetAdditionalData()["@removed"]; removed {
			ref.Deleted, ref.Size = true, 0
		}
		page.Items = append(page.Items, ref)
	}
	page.NextToken = str(resp.GetOdataNextLink())
	if page.NextToken == "" {
		page.DeltaToken = str(resp.GetOdataDeltaLink())
		if page.DeltaToken == "" {
			return platform.ItemPage{}, errs.New(errs.Internal, "Microsoft Graph ended a contacts delta round without a delta link",
				"report this to mailferry support")
		}
	}
	return page, nil
}

func addrTypes(kind string) string {
	switch kind {
	case "home":
		return "home"
	case "business":
		return "work"
	}
	return ""
}

// readContact renders a contact as a vCard 4.0 with its photo.
func (c *Connector) readContact(ctx context.Context, mailboxID string, ref platform.ItemRef) (platform.Item, error) {
	g := graphError{what: "contact " + ref.ID, perm: permCont}
	item := c.user(mailboxID).Contacts().ByContactId(ref.ID)
	ct, err := item.Get(ctx, &users.ItemContactsContactItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemContactsContactItemRequestBuilderGetQueryParameters{Expand: []string{expandProps(ContactExtraProperty)}},
	})
	if err != nil {
		return platform.Item{}, g.fail(err)
	}
	var ex contactExtra
	if v := propValue(ct.GetSingleValueExtendedProperties(), ContactExtraProperty); v != "" {
		_ = json.Unmarshal([]byte(v), &ex) // a foreign value is ignored, not fatal
	}
	photo, err := item.Photo().Content().Get(ctx, nil)
	if err != nil {
		if ferr := g.fail(err); !errs.Is(ferr, errs.NotFound) {
			return platform.Item{}, ferr
		}
		photo = nil
	}
	card := vcard.Card{}
	set := func(name, value string, params vcard.Params) {
		if value != "" {
			card.Add(name, &vcard.Field{Value: value, Params: params})
		}
	}
	typed := func(key, def string) vcard.Params {
		t := def
		if x, ok := ex.Types[key]; ok {
			t = x
		}
		if t == "" {
			return nil
		}
		return vcard.Params{vcard.ParamType: strings.Split(t, ",")}
	}
	card.SetValue(vcard.FieldVersion, "4.0")
	uid := ex.UID
	if uid == "" {
		h := sha256.Sum256([]byte(str(ct.GetId())))
		uid = fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	}
	card.SetValue(vcard.FieldUID, uid)
	fn := str(ct.GetDisplayName())
	if fn == "" {
		for _, e := range ct.GetEmailAddresses() {
			if fn = str(e.GetAddress()); fn != "" {
				break
			}
		}
	}
	card.SetValue(vcard.FieldFormattedName, fn)
	card.SetName(&vcard.Name{FamilyName: str(ct.GetSurname()), GivenName: str(ct.GetGivenName()), AdditionalName: str(ct.GetMiddleName()),
		HonorificPrefix: str(ct.GetTitle()), HonorificSuffix: str(ct.GetGeneration())})
	set(vcard.FieldNickname, str(ct.GetNickName()), nil)
	for i, e := range ct.GetEmailAddresses() {
		a := str(e.GetAddress())
		p := typed("EMAIL:"+strings.ToLower(a), "")
		if i == 0 {
			if p == nil {
				p = vcard.Params{}
			}
			p.Set(vcard.ParamPreferred, "1")
		}
		set(vcard.FieldEmail, a, p)
	}
	for _, x := range []struct {
		list []string
		def  string
	}{{ct.GetBusinessPhones(), "work,voice"}, {ct.GetHomePhones(), "home,voice"}, {[]string{str(ct.GetMobilePhone())}, "cell"}} {
		for _, n := range x.list {
			set(vcard.FieldTelephone, n, typed("TEL:"+n, x.def))
		}
	}
	for _, x := range []struct {
		a    models.PhysicalAddressable
		kind string
	}{{ct.GetBusinessAddress(), "business"}, {ct.GetHomeAddress(), "home"}, {ct.GetOtherAddress(), "other"}} {
		if x.a == nil {
			continue
		}
		a := &vcard.Address{StreetAddress: str(x.a.GetStreet()), Locality: str(x.a.GetCity()), Region: str(x.a.GetState()),
			PostalCode: str(x.a.GetPostalCode()), Country: str(x.a.GetCountryOrRegion())}
		if a.StreetAddress+a.Locality+a.Region+a.PostalCode+a.Country == "" {
			continue
		}
		if t := addrTypes(x.kind); t != "" {
			a.Field = &vcard.Field{Params: vcard.Params{vcard.ParamType: {t}}}
		}
		card.AddAddress(a)
	}
	if b := ct.GetBirthday(); b != nil {
		set(vcard.FieldBirthday, b.UTC().Format("20060102"), nil)
	}
	notes := str(ct.GetPersonalNotes())
	if ex.Notes != "" {
		notes = strings.TrimSuffix(notes, ex.Notes)
	}
	set(vcard.FieldNote, notes, nil)
	if co, dep := str(ct.GetCompanyName()), str(ct.GetDepartment()); co+dep != "" {
		org := co
		if dep != "" {
			org += ";" + dep
		}
		set(vcard.FieldOrganization, org, nil)
	}
	set(vcard.FieldTitle, str(ct.GetJobTitle()), nil)
	set(vcard.FieldRole, str(ct.GetProfession()), nil)
	set(vcard.FieldURL, str(ct.GetBusinessHomePage()), nil)
	for _, im := range ct.GetImAddresses() {
		set(vcard.FieldIMPP, im, nil)
	}
	if cats := ct.GetCategories(); len(cats) > 0 {
		card.SetCategories(cats)
	}
	set(vcard.FieldRelated, str(ct.GetSpouseName()), vcard.Params{vcard.ParamType: {"spouse"}, vcard.ParamValue: {"text"}})
	for _, ch := range ct.GetChildren() {
		set(vcard.FieldRelated, ch, vcard.Params{vcard.ParamType: {"child"}, vcard.ParamValue: {"text"}})
	}
	set("X-MANAGER", str(ct.GetManager()), nil)
	set("X-ASSISTANT", str(ct.GetAssistantName()), nil)
	set("X-PHONETIC-FIRST-NAME", str(ct.GetYomiGivenName()), nil)
	set("X-PHONETIC-LAST-NAME", str(ct.GetYomiSurname()), nil)
	set("X-PHONETIC-ORG", str(ct.GetYomiCompanyName()), nil)
	set("X-OFFICE-LOCATION", str(ct.GetOfficeLocation()), nil)
	if len(photo) > 0 {
		set(vcard.FieldPhoto, "data:"+http.DetectContentType(photo)+";base64,"+base64.StdEncoding.EncodeToString(photo), nil)
	}
	if t := ct.GetLastModifiedDateTime(); t != nil {
		card.SetRevision(t.UTC())
	}
	for _, f := range ex.Overflow {
		card.Add(f.Name, &vcard.Field{Value: f.Value, Params: f.Params, Group: f.Group})
	}
	var buf bytes.Buffer
	if err := vcard.NewEncoder(&buf).Encode(card); err != nil {
		return platform.Item{}, errs.Wrap(errs.CorruptItem, err, "contact "+ref.ID+" cannot be rendered as a vCard", "report this to mailferry support")
	}
	return platform.Item{
		Ref:         platform.ItemRef{ID: str(ct.GetId()), FolderID: ref.FolderID, Kind: platform.Contact, ChangeKey: str(ct.GetChangeKey()), Size: contactSize(ct)},
		ContentType: platform.ContentVCard,
		Content:     buf.Bytes(),
		Categories:  ct.GetCategories(),
	}, nil
}

// contactOf maps a vCard onto a Graph contact. Exchange holds three
// e-mail addresses, two business and two home numbers, one mobile, three
// IM addresses and one address of each kind; what does not fit, and
// properties Graph has no field for, go to the overflow (kept in
// ContactExtraProperty and listed at the end of the notes).
func contactOf(card vcard.Card) (models.Contactable, *contactExtra, []byte) {
	ct := models.NewContact()
	ex := &contactExtra{Types: map[string]string{}}
	overflow := func(name string, f *vcard.Field) {
		ex.Overflow = append(ex.Overflow, extraField{Name: name, Value: f.Value, Params: f.Params, Group: f.Group})
	}
	typeOf := func(f *vcard.Field) string {
		var l []string
		for _, t := range f.Params.Types() {
			l = append(l, strings.ToLower(t))
		}
		return strings.Join(l, ",")
	}
	var photo []byte
	names := make([]string, 0, len(card))
	for k := range card {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		fields := card[name]
		switch name {
		case vcard.FieldVersion, vcard.FieldRevision, vcard.FieldProductID:
		case vcard.FieldUID:
			ex.UID = fields[0].Value
		case vcard.FieldFormattedName:
			ct.SetDisplayName(ptr(fields[0].Value))
			for _, f := range fields[1:] {
				overflow(name, f)
			}
		case vcard.FieldName:
			n := card.Name()
			setIf(ct.SetSurname, n.FamilyName)
			setIf(ct.SetGivenName, n.GivenName)
			setIf(ct.SetMiddleName, n.AdditionalName)
			setIf(ct.SetTitle, n.HonorificPrefix)
			setIf(ct.SetGeneration, n.HonorificSuffix)
		case vcard.FieldNickname:
			ct.SetNickName(ptr(fields[0].Value))
			for _, f := range fields[1:] {
				overflow(name, f)
			}
		case vcard.FieldEmail:
			sorted := slices.Clone(fields)
			sort.SliceStable(sorted, func(i, j int) bool { return prefOf(sorted[i]) < prefOf(sorted[j]) })
			var list []models.EmailAddressable
			for _, f := range sorted {
				if len(list) == 3 {
					overflow(name, f)
					continue
				}
				e := models.NewEmailAddress()
				e.SetAddress(ptr(f.Value))
				if fn := card.Value(vcard.FieldFormattedName); fn != "" {
					e.SetName(ptr(fn))
				}
				list = append(list, e)
				if t := typeOf(f); t != "" {
					ex.Types["EMAIL:"+strings.ToLower(f.Value)] = t
				}
			}
			ct.SetEmailAddresses(list)
		case vcard.FieldTelephone:
			var business, home []string
			mobile := ""
			for _, f := range fields {
				n := strings.TrimPrefix(f.Value, "tel:")
				t := typeOf(f)
				has := func(x string) bool { return slices.Contains(strings.Split(t, ","), x) }
				switch {
				case has("fax") || has("pager") || has("textphone") || has("video"):
					overflow(name, f)
					continue
				case has("cell"):
					if mobile != "" {
						overflow(name, f)
						continue
					}
					mobile = n
				case has("home"):
					if len(home) == 2 {
						overflow(name, f)
						continue
					}
					home = append(home, n)
				default:
					if len(business) == 2 {
						overflow(name, f)
						continue
					}
					business = append(business, n)
				}
				if t != "" {
					ex.Types["TEL:"+n] = t
				}
			}
			ct.SetBusinessPhones(business)
			ct.SetHomePhones(home)
			setIf(ct.SetMobilePhone, mobile)
		case vcard.FieldAddress:
			taken := map[string]bool{}
			for _, f := range fields {
				a := &vcard.Address{Field: f}
				parts := strings.Split(f.Value, ";")
				get := func(i int) string {
					if i < len(parts) {
						return parts[i]
					}
					return ""
				}
				a.PostOfficeBox, a.ExtendedAddress, a.StreetAddress, a.Locality, a.Region, a.PostalCode, a.Country =
					get(0), get(1), get(2), get(3), get(4), get(5), get(6)
				kind := "other"
				switch {
				case f.Params.HasType("home"):
					kind = "home"
				case f.Params.HasType("work"):
					kind = "business"
				}
				if taken[kind] || a.PostOfficeBox != "" || a.ExtendedAddress != "" {
					overflow(name, f)
					continue
				}
				taken[kind] = true
				pa := models.NewPhysicalAddress()
				setIf(pa.SetStreet, a.StreetAddress)
				setIf(pa.SetCity, a.Locality)
				setIf(pa.SetState, a.Region)
				setIf(pa.SetPostalCode, a.PostalCode)
				setIf(pa.SetCountryOrRegion, a.Country)
				switch kind {
				case "home":
					ct.SetHomeAddress(pa)
				case "business":
					ct.SetBusinessAddress(pa)
				default:
					ct.SetOtherAddress(pa)
				}
			}
		case vcard.FieldBirthday:
			v := strings.ReplaceAll(fields[0].Value, "-", "")
			t, err := time.Parse("20060102", v)
			if err != nil {
				// No year (--0412) or a text value: Graph wants a date.
				overflow(name, fields[0])
				continue
			}
			ct.SetBirthday(ptr(t))
		case vcard.FieldNote:
			var l []string
			for _, f := range fields {
				l = append(l, f.Value)
			}
			ct.SetPersonalNotes(ptr(strings.Join(l, "\n")))
		case vcard.FieldOrganization:
			co, dep, _ := strings.Cut(fields[0].Value, ";")
			setIf(ct.SetCompanyName, co)
			setIf(ct.SetDepartment, strings.ReplaceAll(dep, ";", ", "))
			for _, f := range fields[1:] {
				overflow(name, f)
			}
		case vcard.FieldTitle:
			ct.SetJobTitle(ptr(fields[0].Value))
			for _, f := range fields[1:] {
				overflow(name, f)
			}
		case vcard.FieldRole:
			ct.SetProfession(ptr(fields[0].Value))
			for _, f := range fields[1:] {
				overflow(name, f)
			}
		case vcard.FieldURL:
			ct.SetBusinessHomePage(ptr(fields[0].Value))
			for _, f := range fields[1:] {
				overflow(name, f)
			}
		case vcard.FieldIMPP:
			var l []string
			for _, f := range fields {
				if len(l) == 3 {
					overflow(name, f)
					continue
				}
				l = append(l, f.Value)
			}
			ct.SetImAddresses(l)
		case vcard.FieldCategories:
			ct.SetCategories(card.Categories())
		case vcard.FieldRelated:
			var kids []string
			for _, f := range fields {
				switch {
				case f.Params.HasType("spouse") && ct.GetSpouseName() == nil:
					ct.SetSpouseName(ptr(f.Value))
				case f.Params.HasType("child"):
					kids = append(kids, f.Value)
				default:
					overflow(name, f)
				}
			}
			if len(kids) > 0 {
				ct.SetChildren(kids)
			}
		case "X-MANAGER":
			ct.SetManager(ptr(fields[0].Value))
		case "X-ASSISTANT":
			ct.SetAssistantName(ptr(fields[0].Value))
		case "X-PHONETIC-FIRST-NAME":
			ct.SetYomiGivenName(ptr(fields[0].Value))
		case "X-PHONETIC-LAST-NAME":
			ct.SetYomiSurname(ptr(fields[0].Value))
		case "X-PHONETIC-ORG":
			ct.SetYomiCompanyName(ptr(fields[0].Value))
		case "X-OFFICE-LOCATION":
			ct.SetOfficeLocation(ptr(fields[0].Value))
		case vcard.FieldPhoto:
			if b, ok := photoData(fields[0]); ok {
				photo = b
			} else {
				overflow(name, fields[0])
			}
			for _, f := range fields[1:] {
				overflow(name, f)
			}
		default:
			for _, f := range fields {
				overflow(name, f)
			}
		}
	}
	if len(ex.Overflow) > 0 {
		var b strings.Builder
		b.WriteString("\n\n" + notesHeading + "\n")
		for _, f := range ex.Overflow {
			fmt.Fprintf(&b, "%s", f.Name)
			if t := f.Params[vcard.ParamType]; len(t) > 0 {
				fmt.Fprintf(&b, " (%s)", strings.Join(t, ","))
			}
			fmt.Fprintf(&b, ": %s\n", f.Value)
		}
		ex.Notes = b.String()
		ct.SetPersonalNotes(ptr(str(ct.GetPersonalNotes()) + ex.Notes))
	}
	return ct, ex, photo
}

func setIf(set func(*string), v string) {
	if v != "" {
		set(ptr(v))
	}
}

func prefOf(f *vcard.Field) int { return pim.PrefOf(f) }

// photoData decodes an inline PHOTO (pim.PhotoData).
func photoData(f *vcard.Field) ([]byte, bool) { return pim.PhotoData(f) }

// overflowWarning is the platform.Warning of a contact with properties no
// Microsoft 365 contact field holds, naming them (not their values, which
// are personal data and would travel into checkpoints and events); nil
// when everything fits.
func overflowWarning(ex *contactExtra) error {
	if len(ex.Overflow) == 0 {
		return nil
	}
	names := make([]string, 0, len(ex.Overflow))
	for _, f := range ex.Overflow {
		n := f.Name
		if t := f.Params[vcard.ParamType]; len(t) > 0 {
			n += " (" + strings.ToLower(strings.Join(t, ",")) + ")"
		}
		names = append(names, n)
	}
	return platform.Warning(fmt.Sprintf("%d vCard %s no Microsoft 365 contact field and %s kept only in the contact's notes and a hidden property: %s",
		len(names), map[bool]string{true: "property has", false: "properties have"}[len(names) == 1],
		map[bool]string{true: "is", false: "are"}[len(names) == 1], strings.Join(names, ", ")))
}

// writeContact creates a contact from a vCard, then its photo, then the
// marker, so that a marked contact is complete. What no contact field
// holds is kept (ContactExtraProperty and the notes) and reported as a
// platform.Warning with the id, also when the copy already existed.
func (c *Connector) writeContact(ctx context.Context, mailboxID, fid string, item platform.Item, marker string) (string, error) {
	version := item.Ref.ChangeKey
	card, err := vcard.NewDecoder(bytes.NewReader(item.Content)).Decode()
	if err != nil {
		return "", errs.Wrap(errs.CorruptItem, err, "the contact is not a valid vCard: "+err.Error(), "the item is listed in the reconciliation report")
	}
	ct, ex, photo := contactOf(card)
	warning := overflowWarning(ex)
	if id, found, err := c.findContactIn(ctx, mailboxID, fid, marker, version); err != nil || found {
		if err != nil {
			return "", err
		}
		return id, warning
	}
	if len(item.Categories) > 0 {
		ct.SetCategories(mergeStrings(ct.GetCategories(), item.Categories))
	}
	raw, _ := json.Marshal(ex)
	props := []models.SingleValueLegacyExtendedPropertyable{extProp(ContactExtraProperty, string(raw))}
	if len(photo) == 0 {
		props = append(props, markProps(marker, version)...)
	}
	ct.SetSingleValueExtendedProperties(props)
	g := graphError{what: "contact folder " + fid + " of mailbox " + mailboxID, perm: permCont}
	created, err := c.user(mailboxID).ContactFolders().ByContactFolderId(fid).Contacts().Post(ctx, ct, nil)
	if err != nil {
		return "", g.fail(err)
	}
	id := str(created.GetId())
	if len(photo) > 0 {
		discard := func() {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = c.user(mailboxID).Contacts().ByContactId(id).Delete(dctx, nil)
		}
		if _, err := c.user(mailboxID).Contacts().ByContactId(id).Photo().Content().Put(ctx, photo, nil); err != nil {
			discard()
			return "", graphError{what: "the photo of contact " + id, perm: permCont}.fail(err)
		}
		patch := models.NewContact()
		patch.SetSingleValueExtendedProperties(markProps(marker, version))
		if _, err := c.user(mailboxID).Contacts().ByContactId(id).Patch(ctx, patch, nil); err != nil {
			discard()
			return "", graphError{what: "contact " + id, perm: permCont}.fail(err)
		}
	}
	c.markers.note(mailboxID, marker, platform.Placed{ID: id, FolderID: contactsPrefix + fid, Version: version})
	return id, warning
}

// findContactIn returns the id of the contact in one folder that carries
// the marker and version, if there is one.
func (c *Connector) findContactIn(ctx context.Context, mailboxID, fid, marker, version string) (string, bool, error) {
	filter := markerFilter(marker)
	resp, err := c.user(mailboxID).ContactFolders().ByContactFolderId(fid).Contacts().Get(ctx, &users.ItemContactFoldersItemContactsRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemContactFoldersItemContactsRequestBuilderGetQueryParameters{
			Filter: &filter, Select: []string{"id"}, Expand: []string{expandMarks}, Top: ptr(int32(10)),
		},
	})
	if err != nil {
		return "", false, graphError{what: "contact folder " + fid + " of mailbox " + mailboxID, perm: permCont}.fail(err)
	}
	for _, ct := range resp.GetValue() {
		if propValue(ct.GetSingleValueExtendedProperties(), VersionProperty) == version {
			return str(ct.GetId()), true, nil
		}
	}
	return "", false, nil
}
