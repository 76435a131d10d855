package ews_test

import (
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/ews/soap"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
)

func TestContactsAndDistributionLists(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := service(sb)
	as := userAddr(sb, 2)
	before, _ := sb.FolderItemCount(as, "contacts")
	if before != 5 {
		t.Fatalf("seeded contacts folder holds %d items, want 4 contacts and a list", before)
	}
	birthday := time.Date(1984, 7, 14, 12, 0, 0, 0, time.UTC)
	ct := &soap.Contact{
		GivenName: "Łukasz", Surname: "Kowalski", CompanyName: "Müller GmbH", JobTitle: "Projektleiter", Department: "IT",
		EmailAddresses: &soap.EmailAddresses{Entry: []soap.EmailAddressEntry{
			{Key: "EmailAddress1", Value: "lukasz@partner.example"}, {Key: "EmailAddress2", Value: "lk@home.example"}}},
		PhysicalAddresses: &soap.PhysicalAddresses{Entry: []soap.PhysicalAddressEntry{
			{Key: "Business", Street: "Friedrichstraße 123", City: "Berlin", PostalCode: "10117", CountryOrRegion: "Germany"},
			{Key: "Home", Street: "12 Rue de la Paix", City: "Paris", PostalCode: "75002", CountryOrRegion: "France"}}},
		PhoneNumbers: &soap.PhoneNumbers{Entry: []soap.KeyedString{{Key: "BusinessPhone", Value: "+49 30 5550123"}, {Key: "MobilePhone", Value: "+1 202 5550199"}}},
		Birthday:     soap.NewDateTime(birthday),
	}
	dl := &soap.DistributionList{DisplayName: "Steering committee", Members: &soap.Members{Member: []soap.Member{
		{Mailbox: &soap.EmailAddress{Name: "Łukasz Kowalski", EmailAddress: "lukasz@partner.example", RoutingType: "SMTP", MailboxType: "Contact"}},
		{Mailbox: &soap.EmailAddress{Name: "Ana Silva", EmailAddress: "ana@partner.example", RoutingType: "SMTP", MailboxType: "OneOff"}},
	}}}
	var cr soap.CreateItemResponse
	if err := svc.Call(ctx(t), as, &soap.CreateItem{SavedItemFolderID: soap.FolderRef("contacts"),
		Items: soap.Items{Items: []soap.AnyItem{{Contact: ct}, {DistributionList: dl}}}}, &cr); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("CreateItem", cr.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	var gr soap.GetItemResponse
	if err := svc.Call(ctx(t), as, &soap.GetItem{ItemShape: soap.ItemShape{BaseShape: soap.ShapeAllProperties},
		ItemIDs: *soap.ItemList(*cr.ResponseMessages.Messages[0].Items.Items[0].Contact.ItemID, *cr.ResponseMessages.Messages[1].Items.Items[0].DistributionList.ItemID)}, &gr); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("GetItem", gr.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	got := gr.ResponseMessages.Messages[0].Items.Items[0].Contact
	if got.DisplayName != "Łukasz Kowalski" || got.ItemClass != "IPM.Contact" || len(got.EmailAddresses.Entry) != 2 ||
		got.PhysicalAddresses.Entry[0].Street != "Friedrichstraße 123" || got.PhoneNumbers.Entry[1].Key != "MobilePhone" ||
		!got.Birthday.Equal(birthday) || got.CompanyName != "Müller GmbH" {
		t.Fatalf("contact after the round trip: %+v", got)
	}
	list := gr.ResponseMessages.Messages[1].Items.Items[0].DistributionList
	if list.DisplayName != "Steering committee" || list.ItemClass != "IPM.DistList" || len(list.Members.Member) != 2 {
		t.Fatalf("distribution list after the round trip: %+v", list)
	}

	// An indexed field is changed on its own.
	ch := soap.ItemChange{ItemID: got.ItemID}
	ch.Updates.SetItemField = []soap.SetItemField{{Path: soap.Path{IndexedFieldURI: &soap.IndexedFieldURI{FieldURI: "contacts:EmailAddress", FieldIndex: "EmailAddress3"}},
		Contact: &soap.Contact{EmailAddresses: &soap.EmailAddresses{Entry: []soap.EmailAddressEntry{{Key: "EmailAddress3", Value: "third@partner.example"}}}}}}
	var ur soap.UpdateItemResponse
	if err := svc.Call(ctx(t), as, &soap.UpdateItem{ConflictResolution: "AutoResolve", ItemChanges: soap.ItemChanges{ItemChange: []soap.ItemChange{ch}}}, &ur); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("UpdateItem", ur.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	gr = soap.GetItemResponse{}
	if err := svc.Call(ctx(t), as, &soap.GetItem{ItemShape: soap.ItemShape{BaseShape: soap.ShapeIDOnly,
		AdditionalProperties: &soap.Paths{FieldURI: []soap.FieldURI{{FieldURI: "contacts:EmailAddresses"}}}}, ItemIDs: *soap.ItemList(*got.ItemID)}, &gr); err != nil {
		t.Fatal(err)
	}
	if e := gr.ResponseMessages.Messages[0].Items.Items[0].Contact.EmailAddresses; e == nil || len(e.Entry) != 3 {
		t.Fatalf("after setting EmailAddress3: %+v", e)
	}
	if after, _ := sb.FolderItemCount(as, "contacts"); after != before+2 {
		t.Fatalf("contacts folder holds %d items, want %d", after, before+2)
	}
}
