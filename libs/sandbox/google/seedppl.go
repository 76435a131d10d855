package google

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/emersion/go-vcard"

	"github.com/mailferry/mailferry/libs/tenantgen"
)

// seedContactsLocked fills the contact list with the shared generator's
// vCards, turned into People contacts: names, several addresses and
// phones, organizations, birthdays, notes; some starred, some with a
// photo, most in the user groups "Kunden" and "Partner" or in a group
// named after their category.
func (s *Sandbox) seedContactsLocked(u *user, seed int64, n, count int) {
	if count <= 0 {
		return
	}
	cs := u.ppl
	group := func(name string) string {
		for _, g := range cs.gorder {
			if g.name == name {
				return g.rn
			}
		}
		cs.n++
		g := &cgroup{rn: "contactGroups/" + strconv.FormatUint(mix(uint64(seed), uint64(n), cs.n)%(1<<40), 16), name: name, updated: seedStamp}
		cs.groups[g.rn] = g
		cs.gorder = append(cs.gorder, g)
		return g.rn
	}
	kunden, partner := group("Kunden"), group("Partner")
	for k := 0; k < count; k++ {
		raw, meta := tenantgen.RenderContact(seed, n, k, s.domain)
		card, err := vcard.NewDecoder(bytes.NewReader(raw)).Decode()
		if err != nil {
			continue
		}
		p := cs.newPerson(seedStamp)
		p.fields = personFromVCard(card)
		h := mix(uint64(seed), uint64(n)<<32|uint64(k), 0x636f6e74)
		switch h % 3 {
		case 0:
			p.groups = append(p.groups, kunden)
		case 1:
			p.groups = append(p.groups, partner)
		}
		if meta.Flagged {
			p.groups = append(p.groups, "contactGroups/starred")
		}
		for _, c := range meta.Categories {
			p.groups = append(p.groups, group(c))
		}
		if h%4 == 0 {
			p.photoURL = "https://lh3.googleusercontent.com/contacts/" + p.sourceID + "=s100"
		}
		if h%5 == 0 {
			p.fields["urls"] = []map[string]any{{"value": "https://www.example.com/" + strconv.Itoa(k), "type": "work"}}
		}
	}
}

// personFromVCard maps vCard properties to People fields.
func personFromVCard(card vcard.Card) map[string][]map[string]any {
	f := map[string][]map[string]any{}
	typeOf := func(p vcard.Params) string {
		for _, t := range p.Types() {
			switch t {
			case "work", "home":
				return t
			case "cell":
				return "mobile"
			}
		}
		return "other"
	}
	if n := card.Name(); n != nil {
		f["names"] = []map[string]any{{"givenName": n.GivenName, "familyName": n.FamilyName, "middleName": n.AdditionalName,
			"honorificPrefix": n.HonorificPrefix, "honorificSuffix": n.HonorificSuffix}}
		for k, v := range f["names"][0] {
			if v == "" {
				delete(f["names"][0], k)
			}
		}
	}
	for _, e := range card[vcard.FieldEmail] {
		f["emailAddresses"] = append(f["emailAddresses"], map[string]any{"value": e.Value, "type": typeOf(e.Params)})
	}
	for _, t := range card[vcard.FieldTelephone] {
		f["phoneNumbers"] = append(f["phoneNumbers"], map[string]any{"value": strings.TrimPrefix(t.Value, "tel:"), "type": typeOf(t.Params)})
	}
	for _, a := range card.Addresses() {
		m := map[string]any{"streetAddress": a.StreetAddress, "city": a.Locality, "postalCode": a.PostalCode,
			"country": a.Country, "type": typeOf(a.Params)}
		if a.Region != "" {
			m["region"] = a.Region
		}
		f["addresses"] = append(f["addresses"], m)
	}
	if org := card.Value(vcard.FieldOrganization); org != "" {
		f["organizations"] = []map[string]any{{"name": org, "title": card.Value(vcard.FieldTitle), "type": "work"}}
	}
	if b := card.Value(vcard.FieldBirthday); len(b) == 8 {
		y, _ := strconv.Atoi(b[:4])
		m, _ := strconv.Atoi(b[4:6])
		d, _ := strconv.Atoi(b[6:])
		f["birthdays"] = []map[string]any{{"date": map[string]any{"year": y, "month": m, "day": d}}}
	}
	if note := card.Value(vcard.FieldNote); note != "" {
		f["biographies"] = []map[string]any{{"value": note, "contentType": "TEXT_PLAIN"}}
	}
	return f
}
