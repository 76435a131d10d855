package graph_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"testing"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

func fullContact(n int) models.Contactable {
	c := models.NewContact()
	c.SetGivenName(ptr("Zoë"))
	c.SetMiddleName(ptr("Åse"))
	c.SetSurname(ptr(fmt.Sprintf("Müller %d", n)))
	c.SetNickName(ptr("zo"))
	c.SetTitle(ptr("Dr."))
	c.SetCompanyName(ptr("Müller GmbH"))
	c.SetDepartment(ptr("Einkauf"))
	c.SetJobTitle(ptr("Projektleiterin"))
	var mails []models.EmailAddressable
	for _, a := range []string{"zoe@example.com", "z.mueller@example.net"} {
		e := models.NewEmailAddress()
		e.SetAddress(ptr(a))
		e.SetName(ptr("Zoë Müller"))
		mails = append(mails, e)
	}
	c.SetEmailAddresses(mails)
	c.SetBusinessPhones([]string{"+49 30 5550100"})
	c.SetHomePhones([]string{"+49 30 5550199"})
	c.SetMobilePhone(ptr("+49 170 5550123"))
	addr := models.NewPhysicalAddress()
	addr.SetStreet(ptr("Friedrichstraße 123"))
	addr.SetCity(ptr("Berlin"))
	addr.SetPostalCode(ptr("10117"))
	addr.SetCountryOrRegion(ptr("Germany"))
	c.SetBusinessAddress(addr)
	c.SetHomeAddress(addr)
	c.SetBirthday(ptr(time.Date(1984, 7, 22, 0, 0, 0, 0, time.UTC)))
	c.SetPersonalNotes(ptr("Bevorzugt E-Mail.\nCafé ☕ freitags."))
	c.SetImAddresses([]string{"sip:zoe@example.com"})
	c.SetCategories([]string{"Kunde"})
	return c
}

func TestContactsFoldersPagingFieldsAndDelta(t *testing.T) {
	sb := start(t, graph.Config{})
	uid := sb.AddUser("mia@"+sb.Domain(), "Mia Mateo")
	gc := sdkClient(t, sb)
	ctx := context.Background()
	mb := gc.Users().ByUserId(uid)
	nf := models.NewContactFolder()
	nf.SetDisplayName(ptr("Kunden"))
	folder, err := mb.ContactFolders().Post(ctx, nf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mb.ContactFolders().Post(ctx, nf, nil); err == nil {
		t.Fatal("duplicate folder name accepted")
	}
	child := models.NewContactFolder()
	child.SetDisplayName(ptr("Berlin"))
	if _, err := mb.ContactFolders().ByContactFolderId(*folder.GetId()).ChildFolders().Post(ctx, child, nil); err != nil {
		t.Fatal(err)
	}
	kids, err := mb.ContactFolders().ByContactFolderId(*folder.GetId()).ChildFolders().Get(ctx, nil)
	if err != nil || len(kids.GetValue()) != 1 || *kids.GetValue()[0].GetParentFolderId() != *folder.GetId() {
		t.Fatalf("child folders: %v", err)
	}
	box := mb.ContactFolders().ByContactFolderId(*folder.GetId()).Contacts()
	var ids []string
	for i := range 7 {
		c, err := box.Post(ctx, fullContact(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *c.GetId())
	}
	got, err := mb.Contacts().ByContactId(ids[0]).Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.GetDisplayName() != "Zoë Åse Müller 0" || len(got.GetEmailAddresses()) != 2 || *got.GetBusinessAddress().GetCity() != "Berlin" ||
		got.GetBirthday().Year() != 1984 || *got.GetParentFolderId() != *folder.GetId() || got.GetImAddresses()[0] != "sip:zoe@example.com" ||
		*got.GetPersonalNotes() != "Bevorzugt E-Mail.\nCafé ☕ freitags." || *got.GetTitle() != "Dr." || *got.GetMiddleName() != "Åse" {
		t.Fatalf("fields did not survive: %+v", got.GetDisplayName())
	}
	page, err := box.Get(ctx, &users.ItemContactFoldersItemContactsRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemContactFoldersItemContactsRequestBuilderGetQueryParameters{Top: ptr(int32(3)), Select: []string{"displayName"}}})
	if err != nil || len(page.GetValue()) != 3 || page.GetOdataNextLink() == nil || page.GetValue()[0].GetEmailAddresses() != nil {
		t.Fatalf("paging with $select: %v", err)
	}
	// The default folder holds none of them.
	if def, _ := mb.Contacts().Get(ctx, nil); len(def.GetValue()) != 0 {
		t.Fatalf("default folder has %d", len(def.GetValue()))
	}

	hdr := abstractions.NewRequestHeaders()
	hdr.Add("Prefer", "odata.maxpagesize=3")
	round := func(link string) ([]models.Contactable, string) {
		var items []models.Contactable
		for {
			cfg := &users.ItemContactFoldersItemContactsDeltaRequestBuilderGetRequestConfiguration{Headers: hdr}
			var res users.ItemContactFoldersItemContactsDeltaGetResponseable
			var err error
			if link == "" {
				res, err = box.Delta().GetAsDeltaGetResponse(ctx, cfg)
			} else {
				res, err = users.NewItemContactFoldersItemContactsDeltaRequestBuilder(link, gc.GetAdapter()).GetAsDeltaGetResponse(ctx, cfg)
			}
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, res.GetValue()...)
			if nl := res.GetOdataNextLink(); nl != nil {
				link = *nl
				continue
			}
			return items, *res.GetOdataDeltaLink()
		}
	}
	items, delta := round("")
	if len(items) != 7 {
		t.Fatalf("initial contact delta: %d", len(items))
	}
	patch := models.NewContact()
	patch.SetJobTitle(ptr("CFO"))
	if _, err := mb.Contacts().ByContactId(ids[2]).Patch(ctx, patch, nil); err != nil {
		t.Fatal(err)
	}
	if err := mb.Contacts().ByContactId(ids[4]).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	items, _ = round(delta)
	if len(items) != 2 || *items[0].GetId() != ids[2] || *items[0].GetJobTitle() != "CFO" || items[1].GetAdditionalData()["@removed"] == nil {
		t.Fatalf("contact delta after update and delete: %d", len(items))
	}
}

func TestContactEmailLimitAndPhotoRoundTrip(t *testing.T) {
	sb := start(t, graph.Config{})
	uid := sb.AddUser("noa@"+sb.Domain(), "Noa")
	gc := sdkClient(t, sb)
	ctx := context.Background()
	c := fullContact(1)
	var mails []models.EmailAddressable
	for i := range 4 {
		e := models.NewEmailAddress()
		e.SetAddress(ptr(fmt.Sprintf("z%d@example.com", i)))
		mails = append(mails, e)
	}
	c.SetEmailAddresses(mails)
	_, err := gc.Users().ByUserId(uid).Contacts().Post(ctx, c, nil)
	if code, status := odataErr(t, err); status != 400 || code != "ErrorInvalidArgument" {
		t.Fatalf("four addresses: %s %d", code, status)
	}
	c.SetEmailAddresses(mails[:3])
	created, err := gc.Users().ByUserId(uid).Contacts().Post(ctx, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	photo := gc.Users().ByUserId(uid).Contacts().ByContactId(*created.GetId()).Photo()
	if _, err := photo.Get(ctx, nil); err == nil {
		t.Fatal("a contact without a photo has one")
	}
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	img.Set(3, 4, color.RGBA{200, 10, 10, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if _, err := photo.Content().Put(ctx, b.Bytes(), nil); err != nil {
		t.Fatal(err)
	}
	back, err := photo.Content().Get(ctx, nil)
	if err != nil || !bytes.Equal(back, b.Bytes()) {
		t.Fatalf("photo round trip: %v, %d bytes", err, len(back))
	}
	meta, err := photo.Get(ctx, nil)
	if err != nil || *meta.GetWidth() != 64 || *meta.GetHeight() != 48 {
		t.Fatalf("photo metadata: %v", err)
	}
	// Seeded contacts carry many fields and some photos.
	seeded := sb.Seed(graph.SeedSpec{Users: 1, Seed: 4, ContactsPerUser: 6, FirstIndex: 3})[0]
	if n := sb.ContactCount(seeded); n != 6 {
		t.Fatalf("seeded %d contacts", n)
	}
	list, err := gc.Users().ByUserId(seeded).Contacts().Get(ctx, nil)
	if err != nil || len(list.GetValue()) != 4 {
		t.Fatalf("seeded default folder: %v", err)
	}
	withPhoto := 0
	for _, ct := range list.GetValue() {
		if len(ct.GetEmailAddresses()) == 0 || ct.GetBusinessAddress().GetCity() == nil || ct.GetMobilePhone() == nil {
			t.Fatal("seeded contact lacks fields")
		}
		if _, err := gc.Users().ByUserId(seeded).Contacts().ByContactId(*ct.GetId()).Photo().Content().Get(ctx, nil); err == nil {
			withPhoto++
		}
	}
	if withPhoto != 2 {
		t.Fatalf("%d seeded photos in the default folder", withPhoto)
	}
}
