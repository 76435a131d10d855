package ews_test

import (
	"encoding/base64"
	"errors"
	"strconv"
	"testing"

	"github.com/mailferry/mailferry/libs/ews/soap"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// TestDroppedResponseAfterTheWork: DropResponseEvery carries the
// operation out and then drops the connection, so the client sees a
// transport error for an item that exists.
func TestDroppedResponseAfterTheWork(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := basicService(sb)
	as := userAddr(sb, 1)
	before, _ := sb.FolderItemCount(as, "inbox")
	raw, _ := tenantgen.RenderMail(testSeed, 90, 1, "source.example", tenantgen.Options{Profile: tenantgen.Light})
	msg := &soap.Message{}
	msg.MimeContent = &soap.MimeContent{Value: base64.StdEncoding.EncodeToString(raw)}
	sb.SetFaults(sandbox.Faults{DropResponseEvery: 1})
	err := svc.Call(ctx(t), as, &soap.CreateItem{MessageDisposition: "SaveOnly", SavedItemFolderID: soap.FolderRef("inbox"),
		Items: soap.Items{Items: []soap.AnyItem{{Message: msg}}}}, &soap.CreateItemResponse{})
	sb.SetFaults(sandbox.Faults{})
	var he *soap.HTTPError
	var f *soap.Fault
	if err == nil || errors.As(err, &he) || errors.As(err, &f) {
		t.Fatalf("CreateItem with its answer dropped: %v, want a transport error", err)
	}
	if err := inbox(t, svc, as); err != nil {
		t.Fatalf("after the fault: %v", err)
	}
	if after, _ := sb.FolderItemCount(as, "inbox"); after != before+1 {
		t.Fatalf("the inbox holds %d items, want %d: the operation must have happened", after, before+1)
	}
}

// TestFolderSizeProperty: PR_MESSAGE_SIZE_EXTENDED of a folder is the sum
// of its items' sizes, as FindItem reports them one by one.
func TestFolderSizeProperty(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := service(sb)
	as := userAddr(sb, 1)
	size := soap.ExtendedFieldURI{PropertyTag: "0x0e08", PropertyType: "Long"}
	for _, name := range []string{"inbox", "calendar", "contacts", "drafts"} {
		var fr soap.GetFolderResponse
		if err := svc.Call(ctx(t), as, &soap.GetFolder{FolderShape: soap.FolderShape{BaseShape: soap.ShapeDefault,
			AdditionalProperties: &soap.Paths{ExtendedFieldURI: []soap.ExtendedFieldURI{size}}}, FolderIDs: *soap.FolderList(name)}, &fr); err != nil {
			t.Fatal(err)
		}
		if err := soap.Check("GetFolder", fr.ResponseMessages.Messages); err != nil {
			t.Fatal(err)
		}
		fo := fr.ResponseMessages.Messages[0].Folders.Folders[0]
		if len(fo.ExtendedProperty) != 1 || fo.ExtendedProperty[0].Value == nil {
			t.Fatalf("%s: no size property in %+v", name, fo)
		}
		got, err := strconv.ParseInt(*fo.ExtendedProperty[0].Value, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		var ir soap.FindItemResponse
		if err := svc.Call(ctx(t), as, &soap.FindItem{Traversal: "Shallow", ItemShape: soap.ItemShape{BaseShape: soap.ShapeIDOnly,
			AdditionalProperties: &soap.Paths{FieldURI: []soap.FieldURI{{FieldURI: "item:Size"}}}}, ParentFolderIDs: *soap.FolderList(name)}, &ir); err != nil {
			t.Fatal(err)
		}
		var want int64
		for _, it := range ir.ResponseMessages.Messages[0].RootFolder.Items.Items {
			want += int64(*it.Fields().Size)
		}
		if got != want || (name != "drafts" && got == 0) {
			t.Errorf("%s: folder size %d, its items add up to %d", name, got, want)
		}
	}
}

// TestNTLMLostAnswerIsNotARefusal: the connection drops after an NTLM
// authenticated request was carried out. The client reports a transport
// failure (the answer was lost), not the handshake's first 401, which
// would read as a wrong password and hide that the operation happened.
func TestNTLMLostAnswerIsNotARefusal(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := service(sb)
	as := userAddr(sb, 1)
	sb.SetFaults(sandbox.Faults{DropResponseEvery: 1})
	err := inbox(t, svc, as)
	sb.SetFaults(sandbox.Faults{})
	var he *soap.HTTPError
	if err == nil || errors.As(err, &he) {
		t.Fatalf("a lost answer after NTLM: %v, want a transport error", err)
	}
	// The next call authenticates a new connection and works.
	if err := inbox(t, svc, as); err != nil {
		t.Fatalf("after the lost answer: %v", err)
	}
	// A wrong password is still a 401.
	bad := client(sb, sb.NetBIOSDomain()+`\`+sandbox.ServiceAccount, "wrong", soap.AuthNTLM)
	if err := inbox(t, bad, as); !errors.As(err, &he) || he.Status != 401 {
		t.Fatalf("a wrong password: %v, want HTTP 401", err)
	}
}
