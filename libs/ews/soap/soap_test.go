package soap_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/ews/soap"
)

// An ErrorServerBusy fault in the shape Exchange 2013 and later send when a
// budget is exhausted.
const busyFault = `<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Body>
    <s:Fault>
      <faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode>
      <faultstring xml:lang="en-US">The server cannot service this request right now. Try again later.</faultstring>
      <detail>
        <e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode>
        <e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">The server cannot service this request right now. Try again later.</e:Message>
        <t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
          <t:Value Name="BackOffMilliseconds">178510</t:Value>
        </t:MessageXml>
      </detail>
    </s:Fault>
  </s:Body>
</s:Envelope>`

func TestParseServerBusyFault(t *testing.T) {
	env, err := soap.ParseEnvelope([]byte(busyFault))
	if err != nil {
		t.Fatal(err)
	}
	if env.Fault == nil || env.Fault.ResponseCode != "ErrorServerBusy" {
		t.Fatalf("fault %+v", env.Fault)
	}
	wait, busy := soap.ServerBusy(env.Fault)
	if !busy || wait != 178510*time.Millisecond {
		t.Fatalf("busy %v, back-off %v", busy, wait)
	}
	// Our own faults parse back the same way.
	out, err := soap.BuildEnvelope(nil, nil, env.Fault)
	if err != nil {
		t.Fatal(err)
	}
	again, err := soap.ParseEnvelope(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Fault.Values, env.Fault.Values) || again.Fault.ResponseCode != "ErrorServerBusy" {
		t.Fatalf("round trip %+v", again.Fault)
	}
	if _, busy := soap.ServerBusy(errors.New("other")); busy {
		t.Fatal("a plain error is not ErrorServerBusy")
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	marker := soap.ExtendedFieldURI{PropertySetID: "c11ff724-aa03-4555-9952-8fa248a11c3e", PropertyName: "MailferryMarker", PropertyType: "String"}
	req := &soap.FindItem{Traversal: "Shallow",
		ItemShape:           soap.ItemShape{BaseShape: soap.ShapeIDOnly, AdditionalProperties: &soap.Paths{ExtendedFieldURI: []soap.ExtendedFieldURI{marker}}},
		IndexedPageItemView: &soap.IndexedPageView{MaxEntriesReturned: 50, Offset: 100, BasePoint: "Beginning"},
		Restriction: &soap.Restriction{Expr: soap.And(soap.IsEqualTo(soap.Extended(marker), "a|b"),
			soap.Or(soap.Exists(soap.Field("item:Categories")), soap.IsEqualTo(soap.Field("message:IsRead"), "false")))},
		ParentFolderIDs: *soap.FolderList("inbox", "AAMkAGI2")}
	h := &soap.Header{RequestServerVersion: &soap.RequestServerVersion{Version: "Exchange2013_SP1"},
		ExchangeImpersonation: &soap.ExchangeImpersonation{ConnectingSID: soap.ConnectingSID{PrimarySmtpAddress: "user0001@example.org"}}}
	raw, err := soap.BuildEnvelope(h, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(raw, []byte("xmlns")) != 3 || !bytes.Contains(raw, []byte("<m:FindItem Traversal=\"Shallow\">")) {
		t.Fatalf("not in the prefixed form of EWS traffic:\n%s", raw)
	}
	env, err := soap.ParseEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	if env.BodyName.Local != "FindItem" || env.BodyName.Space != soap.NSMessages || env.Header.ExchangeImpersonation.ConnectingSID.Address() != "user0001@example.org" {
		t.Fatalf("envelope %+v", env)
	}
	var got soap.FindItem
	if err := env.Decode(&got); err != nil {
		t.Fatal(err)
	}
	got.XMLName = req.XMLName
	if !reflect.DeepEqual(&got, req) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, *req)
	}
}

func TestSyncChangesKeepTheirOrder(t *testing.T) {
	subject := "Hello"
	msg := &soap.Message{IsRead: soap.Bool(true)}
	msg.Subject = &subject
	msg.ItemID = &soap.ItemID{ID: "c"}
	resp := &soap.SyncFolderItemsResponse{}
	resp.ResponseMessages.Messages = []soap.SyncFolderItemsResponseMessage{{ResponseMessage: soap.OK(), SyncState: "s",
		IncludesLastItemInRange: soap.Bool(true), Changes: &soap.SyncChanges{Changes: []soap.SyncChange{
			{Kind: "Delete", ItemID: &soap.ItemID{ID: "a"}},
			{Kind: "Create", Item: soap.AnyItem{Message: msg}},
			{Kind: "ReadFlagChange", ItemID: &soap.ItemID{ID: "b"}, IsRead: true},
		}}}}
	raw, err := soap.BuildEnvelope(nil, resp, nil)
	if err != nil {
		t.Fatal(err)
	}
	env, err := soap.ParseEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	var got soap.SyncFolderItemsResponse
	if err := env.Decode(&got); err != nil {
		t.Fatal(err)
	}
	ch := got.ResponseMessages.Messages[0].Changes.Changes
	if len(ch) != 3 || ch[0].Kind != "Delete" || ch[0].ItemID.ID != "a" || ch[1].Item.Message == nil || *ch[1].Item.Message.Subject != "Hello" ||
		ch[2].Kind != "ReadFlagChange" || !ch[2].IsRead {
		t.Fatalf("changes %+v", ch)
	}
}

func TestExtendedFieldKeysIgnoreSpelling(t *testing.T) {
	cases := []struct{ a, b soap.ExtendedFieldURI }{
		{soap.ExtendedFieldURI{PropertyTag: "0x0E07", PropertyType: "Integer"}, soap.ExtendedFieldURI{PropertyTag: "3591", PropertyType: "Integer"}},
		{soap.ExtendedFieldURI{PropertySetID: "{C11FF724-AA03-4555-9952-8FA248A11C3E}", PropertyName: "M", PropertyType: "String"},
			soap.ExtendedFieldURI{PropertySetID: "c11ff724-aa03-4555-9952-8fa248a11c3e", PropertyName: "M", PropertyType: "String"}},
	}
	for _, tc := range cases {
		if tc.a.Key() != tc.b.Key() {
			t.Errorf("%+v and %+v differ: %s %s", tc.a, tc.b, tc.a.Key(), tc.b.Key())
		}
	}
}

// TestUnknownItemKindsKeepTheirIds: a mail folder holds meeting requests
// and other kinds the package does not model; they decode with their ids
// and common fields instead of vanishing from a listing.
func TestUnknownItemKindsKeepTheirIds(t *testing.T) {
	const body = `<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<m:FindItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<m:ResponseMessages><m:FindItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>
<m:RootFolder TotalItemsInView="2" IncludesLastItemInRange="true"><t:Items>
<t:MeetingRequest><t:ItemId Id="AAMkMR" ChangeKey="CQmr"/><t:Size>2048</t:Size><t:IsRead>true</t:IsRead><t:AssociatedCalendarItemId Id="x"/></t:MeetingRequest>
<t:Message><t:ItemId Id="AAMkMsg" ChangeKey="CQmsg"/><t:Size>100</t:Size></t:Message>
</t:Items></m:RootFolder></m:FindItemResponseMessage></m:ResponseMessages></m:FindItemResponse></s:Body></s:Envelope>`
	env, err := soap.ParseEnvelope([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var resp soap.FindItemResponse
	if err := env.Decode(&resp); err != nil {
		t.Fatal(err)
	}
	items := resp.ResponseMessages.Messages[0].RootFolder.Items.Items
	if len(items) != 2 {
		t.Fatalf("%d items, want 2", len(items))
	}
	mr := items[0]
	if mr.Kind() != "MeetingRequest" || mr.Fields() == nil || mr.Fields().ItemID.ID != "AAMkMR" || *mr.Fields().Size != 2048 ||
		mr.Message == nil || mr.Message.IsRead == nil || !*mr.Message.IsRead {
		t.Fatalf("meeting request decoded as %q %+v", mr.Kind(), mr.Fields())
	}
	if items[1].Kind() != "Message" || items[1].Fields().ItemID.ID != "AAMkMsg" {
		t.Fatalf("message decoded as %q", items[1].Kind())
	}
}
