package google

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-vcard"
	"google.golang.org/api/people/v1"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/pim"
	"github.com/mailferry/mailferry/libs/platform"
)

// Contacts live in one list per user in Google, with contact groups as
// labels: a contact may be in several. They map like Gmail labels do: the
// contacts folder (role contacts) is "My Contacts" without a user group,
// each user group is a folder, a contact is in the folder of its first
// group by name (or the one mailferry wrote it to), and its other groups
// are its categories; writing puts a contact in its folder's group and in
// a group per category, created when missing (docs/google.md).

// clientData keys of the contacts mailferry writes.
const (
	dataMarker  = "mailferryMarker"
	dataVersion = "mailferryVersion"
	dataFolder  = "mailferryFolder"
	dataUID     = "mailferryUid"
)

const (
	myContacts       = "contactGroups/myContacts"
	contactsFolderID = contactsPrefix + myContacts
	pplTokenPrefix   = "gp1:"
)

// personFields is what the connector reads of a contact.
const personFields = "names,nicknames,emailAddresses,phoneNumbers,addresses,birthdays,biographies,organizations,urls," +
	"imClients,relations,events,memberships,clientData,userDefined,metadata"

func pplOp(mailboxID, what string) op {
	return op{what: what, mailbox: mailboxID, scope: ScopeContacts}
}

// groupSet is a user's contact groups.
type groupSet struct {
	names map[string]string // resource name -> name, user groups only
	user  []string          // user group resource names, by name
}

func (c *Connector) groupsOf(ctx context.Context, mailboxID string) (*groupSet, error) {
	svc, err := c.peopleFor(mailboxID)
	if err != nil {
		return nil, err
	}
	gs := &groupSet{names: map[string]string{}}
	token := ""
	for {
		call := svc.ContactGroups.List().PageSize(1000).GroupFields("name,groupType").Context(ctx)
		if token != "" {
			call = call.PageToken(token)
		}
		resp, err := call.Do()
		if err != nil {
			return nil, c.fail(pplOp(mailboxID, "the contact groups of mailbox "+mailboxID), err)
		}
		for _, g := range resp.ContactGroups {
			if g.GroupType == "USER_CONTACT_GROUP" {
				gs.names[g.ResourceName] = g.Name
				gs.user = append(gs.user, g.ResourceName)
			}
		}
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	sort.Slice(gs.user, func(i, j int) bool {
		a, b := gs.names[gs.user[i]], gs.names[gs.user[j]]
		if la, lb := strings.ToLower(a), strings.ToLower(b); la != lb {
			return la < lb
		}
		return gs.user[i] < gs.user[j]
	})
	return gs, nil
}

func (gs *groupSet) byName(name string) string {
	for _, rn := range gs.user {
		if strings.EqualFold(gs.names[rn], name) {
			return rn
		}
	}
	return ""
}

// placeContact is a contact's folder and categories.
func (gs *groupSet) placeContact(p *people.Person) (folder string, categories []string) {
	var groups []string
	for _, m := range p.Memberships {
		if m != nil && m.ContactGroupMembership != nil {
			groups = append(groups, m.ContactGroupMembership.ContactGroupResourceName)
		}
	}
	var mine []string
	for _, rn := range gs.user {
		if slices.Contains(groups, rn) {
			mine = append(mine, rn)
		}
	}
	recorded := strings.TrimPrefix(clientValue(p, dataFolder), contactsPrefix)
	switch {
	case recorded == myContacts:
		folder = contactsFolderID
	case recorded != "" && slices.Contains(mine, recorded):
		folder = contactsPrefix + recorded
	case len(mine) > 0:
		folder = contactsPrefix + mine[0]
	default:
		folder = contactsFolderID
	}
	for _, rn := range mine {
		if contactsPrefix+rn != folder {
			categories = append(categories, gs.names[rn])
		}
	}
	return folder, categories
}

func clientValue(p *people.Person, key string) string {
	for _, d := range p.ClientData {
		if d != nil && d.Key == key {
			return d.Value
		}
	}
	return ""
}

// contactFolders lists My Contacts (role contacts) and the user groups.
func (c *Connector) contactFolders(ctx context.Context, mailboxID string) ([]platform.Folder, error) {
	gs, err := c.groupsOf(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	out := []platform.Folder{{ID: contactsFolderID, Name: "Contacts", Role: platform.RoleContacts, Kind: platform.Contact}}
	for _, rn := range gs.user {
		out = append(out, platform.Folder{ID: contactsPrefix + rn, Name: gs.names[rn], Kind: platform.Contact})
	}
	return out, nil
}

// ensureContactFolder returns My Contacts for the contacts role, or the
// user group of that name, creating it.
func (c *Connector) ensureContactFolder(ctx context.Context, mailboxID string, f platform.Folder) (platform.Folder, error) {
	switch f.Role {
	case platform.RoleContacts:
		if _, err := c.groupsOf(ctx, mailboxID); err != nil {
			return platform.Folder{}, err
		}
		return platform.Folder{ID: contactsFolderID, Name: "Contacts", Role: platform.RoleContacts, Kind: platform.Contact}, nil
	case platform.RoleNone:
	default:
		return platform.Folder{}, errs.Field("role", fmt.Sprintf("%q is not a contact folder role", f.Role))
	}
	if strings.TrimSpace(f.Name) == "" {
		return platform.Folder{}, errs.Field("name", "a contact folder without a role needs a name")
	}
	gs, err := c.groupsOf(ctx, mailboxID)
	if err != nil {
		return platform.Folder{}, err
	}
	rn, err := c.ensureGroup(ctx, mailboxID, gs, strings.TrimSpace(f.Name))
	if err != nil {
		return platform.Folder{}, err
	}
	return platform.Folder{ID: contactsPrefix + rn, Name: strings.TrimSpace(f.Name), Kind: platform.Contact}, nil
}

func (c *Connector) ensureGroup(ctx context.Context, mailboxID string, gs *groupSet, name string) (string, error) {
	if rn := gs.byName(name); rn != "" {
		return rn, nil
	}
	svc, err := c.peopleFor(mailboxID)
	if err != nil {
		return "", err
	}
	g, err := svc.ContactGroups.Create(&people.CreateContactGroupRequest{ContactGroup: &people.ContactGroup{Name: name}}).Context(ctx).Do()
	if err != nil {
		ferr := c.fail(pplOp(mailboxID, "contact group "+name), err)
		if !errs.Is(ferr, errs.Conflict) {
			return "", ferr
		}
		fresh, err := c.groupsOf(ctx, mailboxID)
		if err != nil {
			return "", err
		}
		if rn := fresh.byName(name); rn != "" {
			return rn, nil
		}
		return "", ferr
	}
	gs.names[g.ResourceName] = name
	gs.user = append(gs.user, g.ResourceName)
	return g.ResourceName, nil
}

// pplToken is the state of a contacts paging token.
type pplToken struct {
	Page string `json:"p,omitempty"`
	Sync string `json:"s,omitempty"`
}

func encodePpl(t pplToken) string {
	b, _ := json.Marshal(t)
	return pplTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func decodePpl(token string) (pplToken, error) {
	var t pplToken
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, pplTokenPrefix))
	if !strings.HasPrefix(token, pplTokenPrefix) || err != nil || json.Unmarshal(raw, &t) != nil {
		return t, errs.New(errs.Invalid, "the paging token is not one this connector issued", "start a full enumeration with an empty token")
	}
	return t, nil
}

// contactSize estimates a contact's size from its JSON.
func contactSize(p *people.Person) int64 {
	b, _ := json.Marshal(p)
	return int64(len(b))
}

// contactItems lists the contacts of a folder: a full round reads every
// connection and keeps those placed in the folder; the delta token is
// People's sync token, and a delta round reports contacts now in the
// folder as changed and the others it names (deleted, or now elsewhere)
// as deleted.
func (c *Connector) contactItems(ctx context.Context, mailboxID, folderID, token string) (platform.ItemPage, error) {
	svc, err := c.peopleFor(mailboxID)
	if err != nil {
		return platform.ItemPage{}, err
	}
	gs, err := c.groupsOf(ctx, mailboxID)
	if err != nil {
		return platform.ItemPage{}, err
	}
	if folderID != contactsFolderID {
		if _, ok := gs.names[strings.TrimPrefix(folderID, contactsPrefix)]; !ok {
			return platform.ItemPage{}, errs.New(errs.NotFound, "mailbox "+mailboxID+" has no contact folder "+folderID, "list the folders again")
		}
	}
	var st pplToken
	if token != "" {
		if st, err = decodePpl(token); err != nil {
			return platform.ItemPage{}, err
		}
	}
	call := svc.People.Connections.List("people/me").PersonFields(personFields).PageSize(int64(min(c.cfg.PageSize*10, 1000))).Context(ctx)
	if st.Sync != "" {
		call = call.SyncToken(st.Sync)
	} else {
		call = call.RequestSyncToken(true)
	}
	if st.Page != "" {
		call = call.PageToken(st.Page)
	}
	resp, err := call.Do()
	if err != nil {
		ferr := c.fail(pplOp(mailboxID, "the contacts of mailbox "+mailboxID), err)
		if st.Sync != "" && errs.Is(ferr, errs.Invalid) {
			return platform.ItemPage{}, errs.Wrap(errs.Invalid, ferr, "People no longer accepts the sync token of mailbox "+mailboxID,
				"nothing: mailferry enumerates the contacts in full; items already copied are found by their marker")
		}
		return platform.ItemPage{}, ferr
	}
	page := platform.ItemPage{Items: []platform.ItemRef{}}
	var here []*people.Person
	defer func() { c.others.keepPeople(mailboxID, here) }()
	for _, p := range resp.Connections {
		if p == nil || p.ResourceName == "" {
			continue
		}
		if p.Metadata != nil && p.Metadata.Deleted {
			page.Items = append(page.Items, platform.ItemRef{ID: p.ResourceName, FolderID: folderID, Kind: platform.Contact, Deleted: true})
			continue
		}
		folder, _ := gs.placeContact(p)
		switch {
		case folder == folderID:
			here = append(here, p)
			page.Items = append(page.Items, platform.ItemRef{ID: p.ResourceName, FolderID: folderID, Kind: platform.Contact,
				ChangeKey: p.Etag, Size: contactSize(p)})
		case st.Sync != "":
			// Changed, and not (or no longer) in this folder.
			page.Items = append(page.Items, platform.ItemRef{ID: p.ResourceName, FolderID: folderID, Kind: platform.Contact, Deleted: true})
		}
	}
	switch {
	case resp.NextPageToken != "":
		page.NextToken = encodePpl(pplToken{Page: resp.NextPageToken, Sync: st.Sync})
	case resp.NextSyncToken != "":
		page.DeltaToken = encodePpl(pplToken{Sync: resp.NextSyncToken})
	default:
		return platform.ItemPage{}, errs.New(errs.Internal, "People ended a listing without a sync token", "report this to mailferry support")
	}
	return page, nil
}

// vcard TYPEs of People's types, and back.
var (
	emailTypes = map[string]string{"home": "home", "work": "work", "other": "other"}
	phoneTypes = map[string]string{"home": "home,voice", "work": "work,voice", "mobile": "cell", "homeFax": "home,fax",
		"workFax": "work,fax", "otherFax": "fax", "pager": "pager", "workMobile": "work,cell", "workPager": "work,pager",
		"main": "voice,pref", "other": "voice"}
)

// readContact renders a contact as a vCard 4.0.
func (c *Connector) readContact(ctx context.Context, mailboxID string, ref platform.ItemRef) (platform.Item, error) {
	svc, err := c.peopleFor(mailboxID)
	if err != nil {
		return platform.Item{}, err
	}
	// The listing read every field already: a contact unchanged since
	// costs no request (People allows about 90 a minute per user).
	p := c.others.listedPerson(mailboxID, ref.ID, ref.ChangeKey)
	if p == nil {
		if p, err = svc.People.Get(ref.ID).PersonFields(personFields).Context(ctx).Do(); err != nil {
			return platform.Item{}, c.notFoundIfInvalid(c.fail(pplOp(mailboxID, "contact "+ref.ID), err), "contact "+ref.ID)
		}
	}
	gs, err := c.groupsOf(ctx, mailboxID)
	if err != nil {
		return platform.Item{}, err
	}
	folder, cats := gs.placeContact(p)
	if ref.FolderID != "" {
		folder = ref.FolderID
	}
	card := cardOf(p, cats)
	var buf bytes.Buffer
	if err := vcard.NewEncoder(&buf).Encode(card); err != nil {
		return platform.Item{}, errs.Wrap(errs.CorruptItem, err, "contact "+ref.ID+" cannot be rendered as a vCard", "report this to mailferry support")
	}
	return platform.Item{
		Ref:         platform.ItemRef{ID: p.ResourceName, FolderID: folder, Kind: platform.Contact, ChangeKey: p.Etag, Size: contactSize(p)},
		ContentType: platform.ContentVCard,
		Content:     buf.Bytes(),
		Categories:  cats,
	}, nil
}

// cardOf maps a People contact onto a vCard: every address, phone and
// e-mail with its type, names, nicknames, birthday, notes, organizations,
// URLs, IM, relations, anniversaries, and the custom fields as X- fields.
func cardOf(p *people.Person, cats []string) vcard.Card {
	card := vcard.Card{}
	card.SetValue(vcard.FieldVersion, "4.0")
	uid := clientValue(p, dataUID)
	if uid == "" {
		uid = "urn:google:" + p.ResourceName
	}
	card.SetValue(vcard.FieldUID, uid)
	add := func(k, v string, params vcard.Params) {
		if v != "" {
			card.Add(k, &vcard.Field{Value: v, Params: params})
		}
	}
	typed := func(t string) vcard.Params {
		if t == "" {
			return nil
		}
		return vcard.Params{vcard.ParamType: strings.Split(t, ",")}
	}
	fn := ""
	if len(p.Names) > 0 && p.Names[0] != nil {
		n := p.Names[0]
		// The free-form name is the vCard's FN as written; Google derives
		// displayName from the parts ("Dr. Ana Lima" for FN "Ana Lima").
		fn = n.UnstructuredName
		if fn == "" {
			fn = n.DisplayName
		}
		if fn == "" {
			fn = strings.TrimSpace(strings.Join(slices.DeleteFunc([]string{n.HonorificPrefix, n.GivenName, n.MiddleName, n.FamilyName, n.HonorificSuffix},
				func(s string) bool { return s == "" }), " "))
		}
		card.SetName(&vcard.Name{FamilyName: n.FamilyName, GivenName: n.GivenName, AdditionalName: n.MiddleName,
			HonorificPrefix: n.HonorificPrefix, HonorificSuffix: n.HonorificSuffix})
		add("X-PHONETIC-FIRST-NAME", n.PhoneticGivenName, nil)
		add("X-PHONETIC-LAST-NAME", n.PhoneticFamilyName, nil)
	}
	if fn == "" && len(p.Organizations) > 0 && p.Organizations[0] != nil {
		fn = p.Organizations[0].Name
	}
	if fn == "" {
		for _, e := range p.EmailAddresses {
			if e != nil && e.Value != "" {
				fn = e.Value
				break
			}
		}
	}
	card.SetValue(vcard.FieldFormattedName, fn)
	for _, n := range p.Nicknames {
		if n != nil {
			add(vcard.FieldNickname, n.Value, nil)
		}
	}
	for i, e := range p.EmailAddresses {
		if e == nil {
			continue
		}
		params := typed(emailTypes[e.Type])
		if params == nil && e.Type != "" {
			params = vcard.Params{vcard.ParamType: {"x-" + e.Type}}
		}
		if i == 0 {
			if params == nil {
				params = vcard.Params{}
			}
			params.Set(vcard.ParamPreferred, "1")
		}
		add(vcard.FieldEmail, e.Value, params)
	}
	for _, ph := range p.PhoneNumbers {
		if ph == nil {
			continue
		}
		t := phoneTypes[ph.Type]
		if t == "" && ph.Type != "" {
			t = "x-" + ph.Type
		}
		add(vcard.FieldTelephone, ph.Value, typed(t))
	}
	for _, a := range p.Addresses {
		if a == nil {
			continue
		}
		va := &vcard.Address{PostOfficeBox: a.PoBox, ExtendedAddress: a.ExtendedAddress, StreetAddress: a.StreetAddress,
			Locality: a.City, Region: a.Region, PostalCode: a.PostalCode, Country: a.Country}
		if va.PostOfficeBox+va.ExtendedAddress+va.StreetAddress+va.Locality+va.Region+va.PostalCode+va.Country == "" {
			continue
		}
		if a.Type != "" {
			va.Field = &vcard.Field{Params: vcard.Params{vcard.ParamType: {a.Type}}}
		}
		card.AddAddress(va)
	}
	for _, b := range p.Birthdays {
		if b == nil {
			continue
		}
		if v := dateValue(b.Date); v != "" {
			add(vcard.FieldBirthday, v, nil)
			break
		}
		if b.Text != "" {
			add(vcard.FieldBirthday, b.Text, vcard.Params{vcard.ParamValue: {"text"}})
			break
		}
	}
	for _, ev := range p.Events {
		if ev != nil && ev.Type == "anniversary" {
			add(vcard.FieldAnniversary, dateValue(ev.Date), nil)
		}
	}
	var notes []string
	for _, b := range p.Biographies {
		if b != nil && b.Value != "" {
			notes = append(notes, b.Value)
		}
	}
	add(vcard.FieldNote, strings.Join(notes, "\n"), nil)
	for _, o := range p.Organizations {
		if o == nil {
			continue
		}
		org := o.Name
		if o.Department != "" {
			org += ";" + o.Department
		}
		add(vcard.FieldOrganization, org, nil)
		add(vcard.FieldTitle, o.Title, nil)
	}
	for _, u := range p.Urls {
		if u != nil {
			add(vcard.FieldURL, u.Value, typed(u.Type))
		}
	}
	for _, im := range p.ImClients {
		if im == nil || im.Username == "" {
			continue
		}
		v := im.Username
		if im.Protocol != "" && !strings.Contains(v, ":") {
			v = strings.ToLower(im.Protocol) + ":" + v
		}
		add(vcard.FieldIMPP, v, typed(im.Type))
	}
	for _, r := range p.Relations {
		if r != nil {
			add(vcard.FieldRelated, r.Person, vcard.Params{vcard.ParamType: {strings.ToLower(r.Type)}, vcard.ParamValue: {"text"}})
		}
	}
	for _, u := range p.UserDefined {
		if u != nil && strings.HasPrefix(strings.ToUpper(u.Key), "X-") {
			add(strings.ToUpper(u.Key), u.Value, nil)
		} else if u != nil {
			add("X-GOOGLE-CUSTOM", u.Key+": "+u.Value, nil)
		}
	}
	if len(cats) > 0 {
		card.SetCategories(cats)
	}
	if p.Metadata != nil {
		for _, s := range p.Metadata.Sources {
			if s != nil && s.UpdateTime != "" {
				if t, err := time.Parse(time.RFC3339Nano, s.UpdateTime); err == nil {
					card.SetRevision(t.UTC())
				}
				break
			}
		}
	}
	return card
}

func dateValue(d *people.Date) string {
	switch {
	case d == nil || d.Month == 0 || d.Day == 0:
		return ""
	case d.Year == 0:
		return fmt.Sprintf("--%02d%02d", d.Month, d.Day)
	}
	return fmt.Sprintf("%04d%02d%02d", d.Year, d.Month, d.Day)
}

func parseDate(v string) (*people.Date, bool) {
	v = strings.ReplaceAll(strings.TrimSpace(v), "-", "")
	if i := strings.IndexByte(v, 'T'); i >= 0 {
		v = v[:i]
	}
	switch len(v) {
	case 8:
		y, e1 := strconv.Atoi(v[:4])
		m, e2 := strconv.Atoi(v[4:6])
		d, e3 := strconv.Atoi(v[6:])
		return &people.Date{Year: int64(y), Month: int64(m), Day: int64(d)}, e1 == nil && e2 == nil && e3 == nil
	case 4: // --MMDD without the dashes
		m, e2 := strconv.Atoi(v[:2])
		d, e3 := strconv.Atoi(v[2:])
		return &people.Date{Month: int64(m), Day: int64(d)}, e2 == nil && e3 == nil
	}
	return nil, false
}

func typeOf(f *vcard.Field) []string {
	var l []string
	for _, t := range f.Params.Types() {
		l = append(l, strings.ToLower(t))
	}
	return l
}

// personOf maps a vCard onto a People contact. People holds any number of
// e-mails, phones and addresses, so nothing is dropped for lack of room;
// fields People has no place for become userDefined entries under their
// vCard name, which cardOf renders back.
func personOf(card vcard.Card) (*people.Person, []string) {
	p := &people.Person{}
	names := make([]string, 0, len(card))
	for k := range card {
		names = append(names, k)
	}
	sort.Strings(names)
	var cats []string
	for _, name := range names {
		fields := card[name]
		switch name {
		case vcard.FieldVersion, vcard.FieldRevision, vcard.FieldProductID, vcard.FieldUID, vcard.FieldKind:
		case vcard.FieldFormattedName:
			if card.Get(vcard.FieldName) == nil {
				p.Names = []*people.Name{{UnstructuredName: fields[0].Value}}
			}
		case vcard.FieldName:
			n := card.Name()
			p.Names = []*people.Name{{FamilyName: n.FamilyName, GivenName: n.GivenName, MiddleName: n.AdditionalName,
				HonorificPrefix: n.HonorificPrefix, HonorificSuffix: n.HonorificSuffix, UnstructuredName: card.Value(vcard.FieldFormattedName)}}
		case vcard.FieldNickname:
			for _, f := range fields {
				for _, v := range strings.Split(f.Value, ",") {
					if v = strings.TrimSpace(v); v != "" {
						p.Nicknames = append(p.Nicknames, &people.Nickname{Value: v})
					}
				}
			}
		case vcard.FieldEmail:
			sorted := slices.Clone(fields)
			sort.SliceStable(sorted, func(i, j int) bool { return pim.PrefOf(sorted[i]) < pim.PrefOf(sorted[j]) })
			for _, f := range sorted {
				p.EmailAddresses = append(p.EmailAddresses, &people.EmailAddress{Value: f.Value, Type: emailType(typeOf(f))})
			}
		case vcard.FieldTelephone:
			for _, f := range fields {
				p.PhoneNumbers = append(p.PhoneNumbers, &people.PhoneNumber{Value: strings.TrimPrefix(f.Value, "tel:"), Type: phoneType(typeOf(f))})
			}
		case vcard.FieldAddress:
			for _, f := range fields {
				parts := strings.Split(f.Value, ";")
				get := func(i int) string {
					if i < len(parts) {
						return parts[i]
					}
					return ""
				}
				t := "other"
				switch ts := typeOf(f); {
				case slices.Contains(ts, "home"):
					t = "home"
				case slices.Contains(ts, "work"):
					t = "work"
				}
				p.Addresses = append(p.Addresses, &people.Address{PoBox: get(0), ExtendedAddress: get(1), StreetAddress: get(2),
					City: get(3), Region: get(4), PostalCode: get(5), Country: get(6), Type: t})
			}
		case vcard.FieldBirthday:
			if d, ok := parseDate(fields[0].Value); ok {
				p.Birthdays = []*people.Birthday{{Date: d}}
			} else {
				p.Birthdays = []*people.Birthday{{Text: fields[0].Value}}
			}
		case vcard.FieldAnniversary:
			for _, f := range fields {
				if d, ok := parseDate(f.Value); ok {
					p.Events = append(p.Events, &people.Event{Date: d, Type: "anniversary"})
				}
			}
		case vcard.FieldNote:
			var l []string
			for _, f := range fields {
				l = append(l, f.Value)
			}
			p.Biographies = []*people.Biography{{Value: strings.Join(l, "\n"), ContentType: "TEXT_PLAIN"}}
		case vcard.FieldOrganization:
			for i, f := range fields {
				co, dep, _ := strings.Cut(f.Value, ";")
				o := &people.Organization{Name: co, Department: strings.ReplaceAll(dep, ";", ", ")}
				if i == 0 {
					o.Title = card.Value(vcard.FieldTitle)
				}
				p.Organizations = append(p.Organizations, o)
			}
		case vcard.FieldTitle:
			if card.Get(vcard.FieldOrganization) == nil {
				p.Organizations = []*people.Organization{{Title: fields[0].Value}}
			}
		case vcard.FieldURL:
			for _, f := range fields {
				t := ""
				if ts := typeOf(f); len(ts) > 0 {
					t = ts[0]
				}
				p.Urls = append(p.Urls, &people.Url{Value: f.Value, Type: t})
			}
		case vcard.FieldIMPP:
			for _, f := range fields {
				proto, user, ok := strings.Cut(f.Value, ":")
				if !ok {
					proto, user = "", f.Value
				}
				p.ImClients = append(p.ImClients, &people.ImClient{Username: user, Protocol: proto})
			}
		case vcard.FieldRelated:
			for _, f := range fields {
				t := ""
				if ts := typeOf(f); len(ts) > 0 {
					t = ts[0]
				}
				p.Relations = append(p.Relations, &people.Relation{Person: f.Value, Type: t})
			}
		case vcard.FieldCategories:
			cats = append(cats, card.Categories()...)
		case "X-PHONETIC-FIRST-NAME", "X-PHONETIC-LAST-NAME":
			// Set on the name below.
		case "X-GOOGLE-CUSTOM":
			for _, f := range fields {
				k, v, _ := strings.Cut(f.Value, ": ")
				p.UserDefined = append(p.UserDefined, &people.UserDefined{Key: k, Value: v})
			}
		case vcard.FieldPhoto, vcard.FieldLogo:
			// People takes photos only through updateContactPhoto; a
			// photo is not kept (docs/google.md).
		default:
			for _, f := range fields {
				if f.Value != "" {
					p.UserDefined = append(p.UserDefined, &people.UserDefined{Key: name, Value: f.Value})
				}
			}
		}
	}
	if len(p.Names) > 0 {
		p.Names[0].PhoneticGivenName = card.Value("X-PHONETIC-FIRST-NAME")
		p.Names[0].PhoneticFamilyName = card.Value("X-PHONETIC-LAST-NAME")
	}
	return p, cats
}

func emailType(ts []string) string {
	for _, t := range ts {
		switch t {
		case "home", "work", "other":
			return t
		}
		if x, ok := strings.CutPrefix(t, "x-"); ok {
			return x
		}
	}
	return ""
}

func phoneType(ts []string) string {
	has := func(x string) bool { return slices.Contains(ts, x) }
	switch {
	case has("fax") && has("home"):
		return "homeFax"
	case has("fax") && has("work"):
		return "workFax"
	case has("fax"):
		return "otherFax"
	case has("pager") && has("work"):
		return "workPager"
	case has("pager"):
		return "pager"
	case has("cell") && has("work"):
		return "workMobile"
	case has("cell"):
		return "mobile"
	case has("home"):
		return "home"
	case has("work"):
		return "work"
	case has("pref"):
		return "main"
	}
	for _, t := range ts {
		if x, ok := strings.CutPrefix(t, "x-"); ok {
			return x
		}
	}
	if len(ts) > 0 {
		return "other"
	}
	return ""
}

// writeContact creates a contact from a vCard in its folder's group and a
// group per category, with the marker, version and folder in clientData.
// The contact is created in one call, so a marked contact is complete.
func (c *Connector) writeContact(ctx context.Context, mailboxID, folderID string, item platform.Item, marker string) (string, error) {
	version := item.Ref.ChangeKey
	found, err := c.findContacts(ctx, mailboxID, marker)
	if err != nil {
		return "", err
	}
	for _, p := range found {
		if p.FolderID == folderID && p.Version == version {
			return p.ID, nil
		}
	}
	card, err := vcard.NewDecoder(bytes.NewReader(item.Content)).Decode()
	if err != nil {
		return "", errs.Wrap(errs.CorruptItem, err, "the contact is not a valid vCard: "+err.Error(), "the item is listed in the reconciliation report")
	}
	p, cats := personOf(card)
	cats = append(cats, item.Categories...)
	gs, err := c.groupsOf(ctx, mailboxID)
	if err != nil {
		return "", err
	}
	groups := []string{myContacts}
	if folderID != contactsFolderID {
		rn := strings.TrimPrefix(folderID, contactsPrefix)
		if _, ok := gs.names[rn]; !ok {
			return "", errs.New(errs.NotFound, "mailbox "+mailboxID+" has no contact folder "+folderID, "list the folders again")
		}
		groups = append(groups, rn)
	}
	for _, cat := range cats {
		if cat = strings.TrimSpace(cat); cat == "" {
			continue
		}
		rn, err := c.ensureGroup(ctx, mailboxID, gs, cat)
		if err != nil {
			return "", err
		}
		if !slices.Contains(groups, rn) {
			groups = append(groups, rn)
		}
	}
	for _, rn := range groups {
		p.Memberships = append(p.Memberships, &people.Membership{ContactGroupMembership: &people.ContactGroupMembership{ContactGroupResourceName: rn}})
	}
	p.ClientData = []*people.ClientData{{Key: dataMarker, Value: marker}, {Key: dataFolder, Value: folderID}}
	if version != "" {
		p.ClientData = append(p.ClientData, &people.ClientData{Key: dataVersion, Value: version})
	}
	if uid := card.Value(vcard.FieldUID); uid != "" {
		p.ClientData = append(p.ClientData, &people.ClientData{Key: dataUID, Value: uid})
	}
	svc, err := c.peopleFor(mailboxID)
	if err != nil {
		return "", err
	}
	created, err := svc.People.CreateContact(p).PersonFields("metadata").Context(ctx).Do()
	if err != nil {
		ferr := c.fail(pplOp(mailboxID, "the contacts of mailbox "+mailboxID), err)
		if ambiguous(ferr) {
			c.others.mu.Lock()
			indexIn(&c.others.contacts, mailboxID).stale = true
			c.others.mu.Unlock()
		}
		return "", ferr
	}
	c.others.mu.Lock()
	indexIn(&c.others.contacts, mailboxID).note(marker, platform.Placed{ID: created.ResourceName, FolderID: folderID, Version: version})
	c.others.mu.Unlock()
	return created.ResourceName, nil
}

// deleteContact removes a copy; one already gone is not an error.
func (c *Connector) deleteContact(ctx context.Context, mailboxID string, p platform.Placed) error {
	svc, err := c.peopleFor(mailboxID)
	if err != nil {
		return err
	}
	if _, err := svc.People.DeleteContact(p.ID).Context(ctx).Do(); err != nil {
		ferr := c.notFoundIfInvalid(c.fail(pplOp(mailboxID, "contact "+p.ID), err), "contact "+p.ID)
		if !errs.Is(ferr, errs.NotFound) {
			return ferr
		}
	}
	c.others.mu.Lock()
	indexIn(&c.others.contacts, mailboxID).forget(p.ID)
	c.others.mu.Unlock()
	return nil
}

// keepPeople remembers the contacts a listing returned, for ReadItem.
func (x *otherIndexes) keepPeople(mailboxID string, ps []*people.Person) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.listed == nil {
		x.listed = map[string]*people.Person{}
	}
	if len(x.listed) > 50000 {
		// Listed and never read (a run cancelled mid-folder): start over
		// rather than grow; a miss costs one people.get.
		clear(x.listed)
	}
	mb := strings.ToLower(mailboxID)
	for _, p := range ps {
		if p != nil && p.ResourceName != "" && (p.Metadata == nil || !p.Metadata.Deleted) {
			x.listed[mb+"\x00"+p.ResourceName] = p
		}
	}
}

// listedPerson returns a listed contact when it is still the version the
// caller holds, and forgets it: it is read once.
func (x *otherIndexes) listedPerson(mailboxID, rn, etag string) *people.Person {
	x.mu.Lock()
	defer x.mu.Unlock()
	k := strings.ToLower(mailboxID) + "\x00" + rn
	p := x.listed[k]
	delete(x.listed, k)
	if p == nil || etag == "" || p.Etag != etag {
		return nil
	}
	return p
}

// findContacts looks a marker up among the user's contacts.
func (c *Connector) findContacts(ctx context.Context, mailboxID, marker string) ([]platform.Placed, error) {
	c.others.mu.Lock()
	ix := indexIn(&c.others.contacts, mailboxID)
	fresh := ix.copies != nil && !ix.stale && time.Since(ix.built) < otherTTL
	c.others.mu.Unlock()
	if !fresh {
		copies, err := c.scanContacts(ctx, mailboxID)
		if err != nil {
			return nil, err
		}
		c.others.mu.Lock()
		ix.copies, ix.built, ix.stale = copies, time.Now(), false
		c.others.mu.Unlock()
	}
	c.others.mu.Lock()
	defer c.others.mu.Unlock()
	return slices.Clone(ix.copies[marker]), nil
}

func (c *Connector) scanContacts(ctx context.Context, mailboxID string) (map[string][]platform.Placed, error) {
	svc, err := c.peopleFor(mailboxID)
	if err != nil {
		return nil, err
	}
	gs, err := c.groupsOf(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	copies := map[string][]platform.Placed{}
	token := ""
	for {
		call := svc.People.Connections.List("people/me").PersonFields("clientData,memberships").PageSize(1000).Context(ctx)
		if token != "" {
			call = call.PageToken(token)
		}
		resp, err := call.Do()
		if err != nil {
			return nil, c.fail(pplOp(mailboxID, "the contacts of mailbox "+mailboxID), err)
		}
		for _, p := range resp.Connections {
			if m := clientValue(p, dataMarker); m != "" {
				folder, _ := gs.placeContact(p)
				copies[m] = append(copies[m], platform.Placed{ID: p.ResourceName, FolderID: folder, Version: clientValue(p, dataVersion)})
			}
		}
		if token = resp.NextPageToken; token == "" {
			return copies, nil
		}
	}
}
