package google_test

import (
	"slices"
	"testing"

	"google.golang.org/api/people/v1"

	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

const allFields = "names,emailAddresses,phoneNumbers,addresses,birthdays,biographies,organizations,memberships,photos,urls,metadata"

func contact(given, family, email string, groups ...string) *people.Person {
	p := &people.Person{
		Names:          []*people.Name{{GivenName: given, FamilyName: family}},
		EmailAddresses: []*people.EmailAddress{{Value: email, Type: "work"}, {Value: given + "@home.example", Type: "home"}},
		PhoneNumbers:   []*people.PhoneNumber{{Value: "+49 30 555 0101", Type: "work"}, {Value: "+1 (202) 555-0155", Type: "mobile"}},
		Addresses: []*people.Address{{StreetAddress: "Friedrichstraße 123", City: "Berlin", PostalCode: "10117", Country: "Germany", Type: "work"},
			{StreetAddress: "12 Rue de la Paix", City: "Paris", PostalCode: "75002", Country: "France", Type: "home"}},
		Birthdays:     []*people.Birthday{{Date: &people.Date{Year: 1985, Month: 6, Day: 9}}},
		Biographies:   []*people.Biography{{Value: "Met at the migration workshop", ContentType: "TEXT_PLAIN"}},
		Organizations: []*people.Organization{{Name: "Müller GmbH", Title: "CFO", Type: "work"}},
	}
	for _, g := range groups {
		p.Memberships = append(p.Memberships, &people.Membership{ContactGroupMembership: &people.ContactGroupMembership{ContactGroupResourceName: g}})
	}
	return p
}

func TestPeopleBatchCreateAndSyncToken(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	svc := peopleFor(t, sb, "ana@acme.example")
	kunden, err := svc.ContactGroups.Create(&people.CreateContactGroupRequest{ContactGroup: &people.ContactGroup{Name: "Kunden"}}).Do()
	if err != nil || kunden.GroupType != "USER_CONTACT_GROUP" {
		t.Fatalf("group %+v %v", kunden, err)
	}
	_, err = svc.ContactGroups.Create(&people.CreateContactGroupRequest{ContactGroup: &people.ContactGroup{Name: "kunden"}}).Do()
	if ge := apiErr(t, err); ge.Code != 409 {
		t.Fatalf("duplicate group: %d", ge.Code)
	}
	res, err := svc.People.BatchCreateContacts(&people.BatchCreateContactsRequest{
		Contacts: []*people.ContactToCreate{
			{ContactPerson: contact("Jürgen", "Müller", "j.mueller@mueller.example", kunden.ResourceName)},
			{ContactPerson: contact("Chloé", "Dubois", "chloe@dubois.example")},
			{ContactPerson: contact("Wei", "Chen", "wei@chen.example", kunden.ResourceName, "contactGroups/starred")},
		},
		ReadMask: allFields,
	}).Do()
	if err != nil || len(res.CreatedPeople) != 3 {
		t.Fatalf("batch create: %v", err)
	}
	first := res.CreatedPeople[0].Person
	if res.CreatedPeople[0].HttpStatusCode != 200 || first.Names[0].DisplayName != "Jürgen Müller" ||
		first.Names[0].DisplayNameLastFirst != "Müller, Jürgen" || first.PhoneNumbers[0].CanonicalForm != "+49305550101" ||
		first.EmailAddresses[0].FormattedType != "Work" || len(first.Addresses) != 2 || first.Birthdays[0].Date.Year != 1985 ||
		!first.EmailAddresses[0].Metadata.Primary || first.EmailAddresses[1].Metadata.Primary {
		t.Fatalf("created person %+v", first)
	}
	var groups []string
	for _, m := range first.Memberships {
		groups = append(groups, m.ContactGroupMembership.ContactGroupResourceName)
	}
	if !slices.Equal(groups, []string{"contactGroups/myContacts", kunden.ResourceName}) {
		t.Fatalf("memberships %v", groups)
	}
	// Full listing page by page, ending with a sync token.
	var listed []*people.Person
	token := ""
	err = svc.People.Connections.List("people/me").PersonFields(allFields).PageSize(2).RequestSyncToken(true).
		Pages(t.Context(), func(r *people.ListConnectionsResponse) error {
			listed = append(listed, r.Connections...)
			token = r.NextSyncToken
			if r.TotalPeople != 3 {
				t.Errorf("totalPeople %d", r.TotalPeople)
			}
			return nil
		})
	if err != nil || len(listed) != 3 || token == "" {
		t.Fatalf("listed %d, token %q, %v", len(listed), token, err)
	}
	// Changes: one new, one updated, one deleted.
	added, err := svc.People.CreateContact(contact("Noah", "Okafor", "noah@okafor.example")).PersonFields("names").Do()
	if err != nil {
		t.Fatal(err)
	}
	second := res.CreatedPeople[1].Person
	upd := &people.Person{Etag: second.Etag, Organizations: []*people.Organization{{Name: "Dubois SA", Title: "CEO"}}}
	updated, err := svc.People.UpdateContact(second.ResourceName, upd).UpdatePersonFields("organizations").PersonFields("organizations,names").Do()
	if err != nil || updated.Organizations[0].Name != "Dubois SA" || updated.Names[0].GivenName != "Chloé" {
		t.Fatalf("update: %+v %v", updated, err)
	}
	_, err = svc.People.UpdateContact(second.ResourceName, upd).UpdatePersonFields("organizations").Do()
	if ge := apiErr(t, err); ge.Code != 400 || ge.Message != "Request person.etag is different than the current person.etag. Clear local cache and get the latest person." {
		t.Fatalf("stale etag: %d %q", ge.Code, ge.Message)
	}
	third := res.CreatedPeople[2].Person
	if _, err := svc.People.DeleteContact(third.ResourceName).Do(); err != nil {
		t.Fatal(err)
	}
	delta, err := svc.People.Connections.List("people/me").PersonFields("names,organizations").SyncToken(token).RequestSyncToken(true).Do()
	if err != nil {
		t.Fatal(err)
	}
	changes := map[string]bool{}
	for _, p := range delta.Connections {
		changes[p.ResourceName] = p.Metadata != nil && p.Metadata.Deleted
	}
	if len(changes) != 3 || changes[added.ResourceName] || changes[second.ResourceName] || !changes[third.ResourceName] {
		t.Fatalf("delta %v", changes)
	}
	sb.ExpireSyncTokens("ana@acme.example")
	_, err = svc.People.Connections.List("people/me").PersonFields("names").SyncToken(delta.NextSyncToken).Do()
	if ge := apiErr(t, err); ge.Code != 400 || ge.Message != "Sync token is expired. Clear local cache and retry call without the sync token." {
		t.Fatalf("expired sync token: %d %q", ge.Code, ge.Message)
	}
	g, err := svc.ContactGroups.Get(kunden.ResourceName).MaxMembers(10).Do()
	if err != nil || g.MemberCount != 1 || len(g.MemberResourceNames) != 1 { // Wei was deleted
		t.Fatalf("group members %+v %v", g, err)
	}
}

func TestPeopleValidatesLikeGoogle(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	svc := peopleFor(t, sb, "ana@acme.example")
	_, err := svc.People.Connections.List("people/me").Do()
	if ge := apiErr(t, err); ge.Code != 400 || reason(ge) != "badRequest" {
		t.Fatalf("no personFields: %d %s", ge.Code, reason(ge))
	}
	_, err = svc.People.Connections.List("people/me").PersonFields("names,shoeSize").Do()
	if ge := apiErr(t, err); ge.Code != 400 {
		t.Fatalf("unknown field: %d", ge.Code)
	}
	withPhoto := contact("A", "B", "a@b.example")
	withPhoto.Photos = []*people.Photo{{Url: "https://example.com/x.png"}}
	_, err = svc.People.CreateContact(withPhoto).Do()
	if ge := apiErr(t, err); ge.Code != 400 {
		t.Fatalf("photo on create: %d", ge.Code)
	}
	many := make([]*people.ContactToCreate, 201)
	for i := range many {
		many[i] = &people.ContactToCreate{ContactPerson: contact("A", "B", "a@b.example")}
	}
	_, err = svc.People.BatchCreateContacts(&people.BatchCreateContactsRequest{Contacts: many, ReadMask: "names"}).Do()
	if ge := apiErr(t, err); ge.Code != 400 {
		t.Fatalf("201 contacts: %d", ge.Code)
	}
	bad := contact("A", "B", "a@b.example", "contactGroups/nope")
	_, err = svc.People.CreateContact(bad).Do()
	if ge := apiErr(t, err); ge.Code != 400 {
		t.Fatalf("unknown group: %d", ge.Code)
	}
}

func TestPeopleSeededContactsAreInGroups(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	email := sb.Seed(sandbox.SeedSpec{Users: 1, ContactsPerUser: 12, Seed: 6})[0]
	svc := peopleFor(t, sb, email)
	groups, err := svc.ContactGroups.List().Do()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*people.ContactGroup{}
	for _, g := range groups.ContactGroups {
		byName[g.Name] = g
	}
	if byName["myContacts"] == nil || byName["myContacts"].GroupType != "SYSTEM_CONTACT_GROUP" || byName["myContacts"].MemberCount != 12 ||
		byName["Kunden"] == nil || byName["Kunden"].MemberCount == 0 || byName["Partner"] == nil {
		t.Fatalf("groups %+v", byName)
	}
	list, err := svc.People.Connections.List("people/me").PersonFields(allFields).PageSize(100).Do()
	if err != nil || len(list.Connections) != 12 {
		t.Fatalf("connections: %v", err)
	}
	var multiPhone, multiAddr, photo int
	for _, p := range list.Connections {
		if len(p.PhoneNumbers) >= 2 {
			multiPhone++
		}
		if len(p.Addresses) >= 2 {
			multiAddr++
		}
		if len(p.Photos) == 1 && !p.Photos[0].Default {
			photo++
		}
		if len(p.Names) != 1 || p.Names[0].DisplayName == "" || len(p.EmailAddresses) < 2 {
			t.Fatalf("seeded contact %+v", p)
		}
	}
	if multiPhone != 12 || multiAddr != 12 || photo == 0 {
		t.Fatalf("phones %d, addresses %d, photos %d", multiPhone, multiAddr, photo)
	}
}
