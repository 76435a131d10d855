package ews

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-vcard"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/pim"
	"github.com/mailferry/mailferry/libs/platform"
)

// contactShape reads a contact or a distribution list whole.
var contactShape = soap.ItemShape{BaseShape: soap.ShapeAllProperties, BodyType: "Text",
	AdditionalProperties: &soap.Paths{FieldURI: []soap.FieldURI{{FieldURI: "item:Body"}, {FieldURI: "item:Categories"}, {FieldURI: "item:Size"}}}}

// phoneKeys are the slots of a contact's phone dictionary with the vCard
// types each stands for, in the order a number of those types fills them.
var phoneKeys = []struct {
	key   string
	types []string
}{
	{"BusinessPhone", []string{"work", "voice"}}, {"BusinessPhone2", []string{"work", "voice"}},
	{"HomePhone", []string{"home", "voice"}}, {"HomePhone2", []string{"home", "voice"}},
	{"MobilePhone", []string{"cell"}}, {"BusinessFax", []string{"work", "fax"}}, {"HomeFax", []string{"home", "fax"}},
	{"OtherFax", []string{"fax"}}, {"Pager", []string{"pager"}}, {"OtherTelephone", []string{"voice"}},
	{"PrimaryPhone", []string{"voice", "pref"}}, {"CarPhone", []string{"voice"}}, {"AssistantPhone", []string{"voice"}},
	{"Callback", []string{"voice"}}, {"CompanyMainPhone", []string{"work", "voice"}}, {"Isdn", []string{"voice"}},
	{"RadioPhone", []string{"voice"}}, {"Telex", []string{"voice"}}, {"TtyTddPhone", []string{"textphone"}},
}

// paramKey names the EWS slot of a phone that vCard types cannot tell
// (CarPhone, Isdn, ...), so that Exchange to Exchange keeps it.
const paramKey = "X-EWS-KEY"

var addressKeys = map[string]string{"Business": vcard.TypeWork, "Home": vcard.TypeHome, "Other": ""}

// readContact renders a contact as a vCard 4.0, or a distribution list as
// a vCard of KIND:group with its members.
func (c *Connector) readContact(ctx context.Context, mb string, ref platform.ItemRef) (platform.Item, error) {
	it, err := c.getOne(ctx, mb, ref.ID, contactShape)
	if err != nil {
		return platform.Item{}, err
	}
	card := vcard.Card{}
	card.SetValue(vcard.FieldVersion, "4.0")
	var f *soap.ItemFields
	switch {
	case it.Contact != nil:
		f = &it.Contact.ItemFields
		contactCard(card, it.Contact)
	case it.DistributionList != nil:
		f = &it.DistributionList.ItemFields
		groupCard(card, it.DistributionList)
	default:
		return platform.Item{}, errs.New(errs.CorruptItem, "item "+ref.ID+" of mailbox "+mb+" is a "+it.Kind()+", not a contact",
			"the item is listed in the reconciliation report")
	}
	if f.Body != nil && strings.TrimSpace(f.Body.Value) != "" {
		card.SetValue(vcard.FieldNote, strings.TrimSpace(f.Body.Value))
	}
	var cats []string
	if f.Categories != nil {
		cats = f.Categories.String
		for _, cat := range cats {
			card.AddValue(vcard.FieldCategories, cat)
		}
	}
	if f.LastModifiedTime != nil {
		card.SetRevision(f.LastModifiedTime.Time)
	}
	card.SetValue(vcard.FieldUID, "urn:x-ews:"+f.ItemID.ID)
	var buf bytes.Buffer
	if err := vcard.NewEncoder(&buf).Encode(card); err != nil {
		return platform.Item{}, errs.Wrap(errs.CorruptItem, err, "item "+ref.ID+" of mailbox "+mb+" cannot be rendered as a vCard", "report this to mailferry support")
	}
	out := platform.Item{
		Ref:         platform.ItemRef{ID: f.ItemID.ID, FolderID: ref.FolderID, Kind: platform.Contact, Size: int64(derefInt(f.Size)), ChangeKey: f.ItemID.ChangeKey},
		ContentType: platform.ContentVCard,
		Content:     buf.Bytes(),
		Categories:  cats,
	}
	if out.Ref.FolderID == "" && f.ParentFolderID != nil {
		out.Ref.FolderID = f.ParentFolderID.ID
	}
	return out, nil
}

func contactCard(card vcard.Card, ct *soap.Contact) {
	fn := strings.TrimSpace(ct.DisplayName)
	if fn == "" {
		fn = strings.TrimSpace(strings.Join(slices.DeleteFunc([]string{ct.GivenName, ct.MiddleName, ct.Surname}, func(s string) bool { return s == "" }), " "))
	}
	if fn == "" {
		fn = strings.TrimSpace(ct.FileAs)
	}
	if fn == "" && ct.CompanyName != "" {
		fn = ct.CompanyName
	}
	if fn == "" && ct.EmailAddresses != nil && len(ct.EmailAddresses.Entry) > 0 {
		fn = stripSMTP(ct.EmailAddresses.Entry[0].Value)
	}
	card.SetValue(vcard.FieldFormattedName, fn)
	if ct.GivenName != "" || ct.Surname != "" || ct.MiddleName != "" || ct.Generation != "" {
		card.SetName(&vcard.Name{FamilyName: ct.Surname, GivenName: ct.GivenName, AdditionalName: ct.MiddleName, HonorificSuffix: ct.Generation})
	}
	set := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			card.SetValue(k, v)
		}
	}
	set(vcard.FieldNickname, ct.Nickname)
	if ct.CompanyName != "" || ct.Department != "" {
		org := ct.CompanyName
		if ct.Department != "" {
			org += ";" + ct.Department
		}
		card.SetValue(vcard.FieldOrganization, org)
	}
	set(vcard.FieldTitle, ct.JobTitle)
	set(vcard.FieldRole, ct.Profession)
	set(vcard.FieldURL, ct.BusinessHomePage)
	set("X-MS-MANAGER", ct.Manager)
	set("X-MS-ASSISTANT", ct.AssistantName)
	set("X-MS-SPOUSE", ct.SpouseName)
	set("X-MS-OFFICE", ct.OfficeLocation)
	if ct.EmailAddresses != nil {
		entries := slices.Clone(ct.EmailAddresses.Entry)
		sort.SliceStable(entries, func(i, j int) bool { return entries[i].Key < entries[j].Key })
		for i, e := range entries {
			v := stripSMTP(e.Value)
			if v == "" {
				continue
			}
			fl := &vcard.Field{Value: v, Params: vcard.Params{}}
			if i == 0 {
				fl.Params.Set(vcard.ParamPreferred, "1")
			}
			card.Add(vcard.FieldEmail, fl)
		}
	}
	if ct.PhoneNumbers != nil {
		for _, e := range ct.PhoneNumbers.Entry {
			v := strings.TrimSpace(e.Value)
			if v == "" {
				continue
			}
			fl := &vcard.Field{Value: v, Params: vcard.Params{}}
			known := false
			for _, pk := range phoneKeys {
				if pk.key == e.Key {
					for _, t := range pk.types {
						if t != "pref" {
							fl.Params.Add(vcard.ParamType, t)
						}
					}
					known = true
				}
			}
			if !known {
				fl.Params.Add(vcard.ParamType, vcard.TypeVoice)
			}
			if e.Key == "PrimaryPhone" {
				fl.Params.Set(vcard.ParamPreferred, "1")
			}
			if !standardPhone(e.Key) {
				fl.Params.Set(paramKey, e.Key)
			}
			card.Add(vcard.FieldTelephone, fl)
		}
	}
	if ct.PhysicalAddresses != nil {
		for _, a := range ct.PhysicalAddresses.Entry {
			ad := &vcard.Address{Field: &vcard.Field{Params: vcard.Params{}}, StreetAddress: a.Street, Locality: a.City, Region: a.State,
				PostalCode: a.PostalCode, Country: a.CountryOrRegion}
			if t := addressKeys[a.Key]; t != "" {
				ad.Params.Add(vcard.ParamType, t)
			}
			card.AddAddress(ad)
		}
	}
	if ct.ImAddresses != nil {
		for _, e := range ct.ImAddresses.Entry {
			if v := strings.TrimSpace(e.Value); v != "" {
				card.AddValue(vcard.FieldIMPP, v)
			}
		}
	}
	if d := dateOf(ct.Birthday); d != "" {
		card.SetValue(vcard.FieldBirthday, d)
	}
	if d := dateOf(ct.WeddingAnniversary); d != "" {
		card.SetValue(vcard.FieldAnniversary, d)
	}
}

// standardPhone says whether vCard types alone bring a phone back to
// its slot.
func standardPhone(key string) bool {
	switch key {
	case "BusinessPhone", "BusinessPhone2", "HomePhone", "HomePhone2", "MobilePhone", "BusinessFax", "HomeFax", "OtherFax", "Pager", "OtherTelephone":
		return true
	}
	return false
}

func groupCard(card vcard.Card, dl *soap.DistributionList) {
	card.SetKind(vcard.KindGroup)
	name := strings.TrimSpace(dl.DisplayName)
	if name == "" {
		name = strings.TrimSpace(dl.FileAs)
	}
	card.SetValue(vcard.FieldFormattedName, name)
	if dl.Members == nil {
		return
	}
	for _, m := range dl.Members.Member {
		if m.Mailbox == nil || m.Mailbox.EmailAddress == "" {
			continue
		}
		fl := &vcard.Field{Value: "mailto:" + stripSMTP(m.Mailbox.EmailAddress), Params: vcard.Params{}}
		if m.Mailbox.Name != "" {
			fl.Params.Set("X-CN", m.Mailbox.Name)
		}
		card.Add(vcard.FieldMember, fl)
	}
}

func stripSMTP(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > 5 && strings.EqualFold(v[:5], "smtp:") {
		return v[5:]
	}
	return v
}

// dateOf is a contact date as a vCard date. Exchange keeps such dates as
// a time in some zone, near midnight or noon; rounding to the nearest day
// from eleven hours later lands on the intended day in every zone from
// UTC-12 to UTC+11.
func dateOf(d *soap.DateTime) string {
	if d == nil || d.IsZero() {
		return ""
	}
	return d.UTC().Add(11 * time.Hour).Format("20060102")
}

// parseDate reads a vCard date (19800102, 1980-01-02, a date-time).
func parseDate(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	for _, layout := range []string{"20060102", "2006-01-02", "20060102T150405Z", "2006-01-02T15:04:05Z07:00", "20060102T150405"} {
		if t, err := time.Parse(layout, v); err == nil {
			// Noon UTC stays on its day in every zone Exchange may show
			// it in.
			return time.Date(t.Year(), t.Month(), t.Day(), 12, 0, 0, 0, time.UTC), true
		}
	}
	return time.Time{}, false
}

// contactOf builds an EWS contact from a vCard: three e-mail addresses,
// the phone slots by type, one postal address each of business, home and
// other, three IM addresses. What has no slot left is appended to the
// notes and named in lost.
func contactOf(card vcard.Card) (*soap.Contact, []string) {
	ct := &soap.Contact{DisplayName: strings.TrimSpace(card.PreferredValue(vcard.FieldFormattedName))}
	if n := card.Name(); n != nil {
		ct.GivenName, ct.Surname, ct.MiddleName, ct.Generation = n.GivenName, n.FamilyName, n.AdditionalName, n.HonorificSuffix
	}
	if ct.DisplayName == "" {
		ct.DisplayName = strings.TrimSpace(ct.GivenName + " " + ct.Surname)
	}
	ct.Nickname = card.PreferredValue(vcard.FieldNickname)
	if org := card.PreferredValue(vcard.FieldOrganization); org != "" {
		parts := strings.SplitN(org, ";", 2)
		ct.CompanyName = strings.TrimSpace(parts[0])
		if len(parts) > 1 {
			ct.Department = strings.TrimSpace(strings.ReplaceAll(parts[1], ";", ", "))
		}
	}
	ct.JobTitle = card.PreferredValue(vcard.FieldTitle)
	ct.Profession = card.PreferredValue(vcard.FieldRole)
	ct.Manager, ct.AssistantName = card.PreferredValue("X-MS-MANAGER"), card.PreferredValue("X-MS-ASSISTANT")
	ct.SpouseName, ct.OfficeLocation = card.PreferredValue("X-MS-SPOUSE"), card.PreferredValue("X-MS-OFFICE")
	var overflow []string
	var lost []string
	lose := func(what string, n int) {
		if n == 1 {
			lost = append(lost, "1 "+what)
		} else if n > 1 {
			lost = append(lost, fmt.Sprintf("%d %ss", n, what))
		}
	}

	emails := slices.Clone(card[vcard.FieldEmail])
	sort.SliceStable(emails, func(i, j int) bool { return pim.PrefOf(emails[i]) < pim.PrefOf(emails[j]) })
	extra := 0
	for i, e := range emails {
		v := strings.TrimSpace(strings.TrimPrefix(e.Value, "mailto:"))
		if v == "" {
			continue
		}
		if i >= 3 {
			overflow = append(overflow, "E-mail: "+v)
			extra++
			continue
		}
		if ct.EmailAddresses == nil {
			ct.EmailAddresses = &soap.EmailAddresses{}
		}
		ct.EmailAddresses.Entry = append(ct.EmailAddresses.Entry, soap.EmailAddressEntry{Key: fmt.Sprintf("EmailAddress%d", i+1), Value: v})
	}
	lose("e-mail address beyond three", extra)

	used := map[string]bool{}
	extra = 0
	for _, t := range card[vcard.FieldTelephone] {
		v := strings.TrimSpace(strings.TrimPrefix(t.Value, "tel:"))
		if v == "" {
			continue
		}
		key := phoneSlot(t, used)
		if key == "" {
			overflow = append(overflow, "Phone: "+v)
			extra++
			continue
		}
		used[key] = true
		if ct.PhoneNumbers == nil {
			ct.PhoneNumbers = &soap.PhoneNumbers{}
		}
		ct.PhoneNumbers.Entry = append(ct.PhoneNumbers.Entry, soap.KeyedString{Key: key, Value: v})
	}
	lose("phone number without a free slot", extra)

	extra = 0
	for _, a := range card.Addresses() {
		key := "Other"
		switch {
		case a.Params.HasType(vcard.TypeWork):
			key = "Business"
		case a.Params.HasType(vcard.TypeHome):
			key = "Home"
		}
		if used["adr:"+key] {
			key = "Other"
		}
		street := strings.TrimSpace(strings.Join(slices.DeleteFunc([]string{a.PostOfficeBox, a.ExtendedAddress, a.StreetAddress}, func(s string) bool { return s == "" }), "\n"))
		if used["adr:"+key] {
			overflow = append(overflow, "Address: "+strings.Join([]string{street, a.PostalCode, a.Locality, a.Region, a.Country}, ", "))
			extra++
			continue
		}
		used["adr:"+key] = true
		if ct.PhysicalAddresses == nil {
			ct.PhysicalAddresses = &soap.PhysicalAddresses{}
		}
		ct.PhysicalAddresses.Entry = append(ct.PhysicalAddresses.Entry, soap.PhysicalAddressEntry{Key: key, Street: street,
			City: a.Locality, State: a.Region, PostalCode: a.PostalCode, CountryOrRegion: a.Country})
	}
	lose("postal address beyond business, home and other", extra)

	extra = 0
	for i, v := range card.Values(vcard.FieldIMPP) {
		if i >= 3 {
			overflow = append(overflow, "IM: "+v)
			extra++
			continue
		}
		if ct.ImAddresses == nil {
			ct.ImAddresses = &soap.ImAddresses{}
		}
		ct.ImAddresses.Entry = append(ct.ImAddresses.Entry, soap.KeyedString{Key: fmt.Sprintf("ImAddress%d", i+1), Value: v})
	}
	lose("IM address beyond three", extra)

	urls := card.Values(vcard.FieldURL)
	if len(urls) > 0 {
		ct.BusinessHomePage = urls[0]
		for _, u := range urls[1:] {
			overflow = append(overflow, "Web page: "+u)
		}
		lose("web page beyond the first", len(urls)-1)
	}
	if b := card.PreferredValue(vcard.FieldBirthday); b != "" {
		if t, ok := parseDate(b); ok {
			ct.Birthday = soap.NewDateTime(t)
		} else {
			overflow = append(overflow, "Birthday: "+b)
			lose("birthday without a year", 1)
		}
	}
	if b := card.PreferredValue(vcard.FieldAnniversary); b != "" {
		if t, ok := parseDate(b); ok {
			ct.WeddingAnniversary = soap.NewDateTime(t)
		}
	}
	if len(card[vcard.FieldPhoto]) > 0 {
		lost = append(lost, "the photo (EWS contact photos are attachments, which mailferry does not write)")
	}
	note := strings.TrimSpace(card.PreferredValue(vcard.FieldNote))
	if len(overflow) > 0 {
		if note != "" {
			note += "\n\n"
		}
		note += "Also (kept by mailferry):\n" + strings.Join(overflow, "\n")
	}
	if note != "" {
		ct.Body = &soap.Body{BodyType: "Text", Value: note}
	}
	if cats := card.Values(vcard.FieldCategories); len(cats) > 0 {
		var all []string
		for _, c := range cats {
			for _, x := range strings.Split(c, ",") {
				if x = strings.TrimSpace(x); x != "" && !slices.Contains(all, x) {
					all = append(all, x)
				}
			}
		}
		ct.Categories = &soap.Strings{String: all}
	}
	return ct, lost
}

// phoneSlot picks the free EWS slot for a vCard phone by its types.
func phoneSlot(t *vcard.Field, used map[string]bool) string {
	if k := t.Params.Get(paramKey); k != "" && !used[k] {
		for _, pk := range phoneKeys {
			if pk.key == k {
				return k
			}
		}
	}
	has := func(s string) bool { return t.Params.HasType(s) }
	var candidates []string
	switch {
	case has(vcard.TypeCell):
		candidates = []string{"MobilePhone"}
	case has(vcard.TypeFax) && has(vcard.TypeWork):
		candidates = []string{"BusinessFax", "OtherFax"}
	case has(vcard.TypeFax) && has(vcard.TypeHome):
		candidates = []string{"HomeFax", "OtherFax"}
	case has(vcard.TypeFax):
		candidates = []string{"OtherFax", "BusinessFax", "HomeFax"}
	case has(vcard.TypePager):
		candidates = []string{"Pager"}
	case has(vcard.TypeTextPhone):
		candidates = []string{"TtyTddPhone"}
	case has(vcard.TypeWork):
		candidates = []string{"BusinessPhone", "BusinessPhone2"}
	case has(vcard.TypeHome):
		candidates = []string{"HomePhone", "HomePhone2"}
	}
	candidates = append(candidates, "OtherTelephone")
	for _, k := range candidates {
		if !used[k] {
			return k
		}
	}
	return ""
}

// groupOf builds a distribution list from a vCard of KIND:group: its
// members are the MEMBER addresses (mailto:); members named only by a
// card's UID cannot be resolved and are named in lost.
func groupOf(card vcard.Card) (*soap.DistributionList, []string) {
	dl := &soap.DistributionList{DisplayName: strings.TrimSpace(card.PreferredValue(vcard.FieldFormattedName))}
	unresolved := 0
	members := card[vcard.FieldMember]
	members = append(members, card["X-ADDRESSBOOKSERVER-MEMBER"]...)
	for _, m := range members {
		v := strings.TrimSpace(m.Value)
		if !strings.HasPrefix(strings.ToLower(v), "mailto:") {
			unresolved++
			continue
		}
		if dl.Members == nil {
			dl.Members = &soap.Members{}
		}
		dl.Members.Member = append(dl.Members.Member, soap.Member{Mailbox: &soap.EmailAddress{Name: m.Params.Get("X-CN"),
			EmailAddress: v[len("mailto:"):], RoutingType: "SMTP", MailboxType: "OneOff"}})
	}
	var lost []string
	if unresolved > 0 {
		lost = append(lost, fmt.Sprintf("%d group members named by a contact's UID rather than an address", unresolved))
	}
	return dl, lost
}

// writeContact stores a vCard as a contact, or as a distribution list when
// it is a group (KIND:group), with the marker and version, unless the
// folder already holds that version. What the contact has no place for is
// kept in its notes and reported with platform.Warning.
func (c *Connector) writeContact(ctx context.Context, mb, folderID string, item platform.Item, marker string) (string, error) {
	version := item.Ref.ChangeKey
	if id, ok, err := c.findInFolder(ctx, mb, folderID, marker, version); err != nil || ok {
		return id, err
	}
	if err := c.tooLarge(item); err != nil {
		return "", err
	}
	card, err := vcard.NewDecoder(bytes.NewReader(item.Content)).Decode()
	if err != nil {
		return "", errs.Wrap(errs.CorruptItem, err, "the contact is not a valid vCard: "+err.Error(), "the item is listed in the reconciliation report")
	}
	isGroup := card.Kind() == vcard.KindGroup || strings.EqualFold(card.Value("X-ADDRESSBOOKSERVER-KIND"), "group")
	var obj soap.AnyItem
	var f *soap.ItemFields
	var lost []string
	if isGroup {
		dl, l := groupOf(card)
		obj, f, lost = soap.AnyItem{DistributionList: dl}, &dl.ItemFields, l
		if note := strings.TrimSpace(card.PreferredValue(vcard.FieldNote)); note != "" {
			dl.Body = &soap.Body{BodyType: "Text", Value: note}
		}
	} else {
		ct, l := contactOf(card)
		obj, f, lost = soap.AnyItem{Contact: ct}, &ct.ItemFields, l
	}
	if len(item.Categories) > 0 {
		if f.Categories == nil {
			f.Categories = &soap.Strings{}
		}
		for _, cat := range item.Categories {
			if !slices.Contains(f.Categories.String, cat) {
				f.Categories.String = append(f.Categories.String, cat)
			}
		}
	}
	f.ExtendedProperty = markProps(marker, version)
	w := what{mailbox: mb, thing: "a contact in folder " + folderID}
	id, err := c.create(ctx, mb, folderID, marker, version, &soap.CreateItem{
		SavedItemFolderID: &soap.TargetFolderID{FolderID: &soap.FolderID{ID: folderID}},
		Items:             soap.Items{Items: []soap.AnyItem{obj}}}, w)
	if err != nil {
		return "", err
	}
	if len(lost) > 0 {
		return id, platform.Warning("not kept as contact fields: " + strings.Join(lost, ", "))
	}
	return id, nil
}
