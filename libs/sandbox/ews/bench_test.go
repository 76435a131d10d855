package ews_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/mailferry/mailferry/libs/ews/soap"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// BenchmarkMIMERoundTrip measures one CreateItem from MIME and one GetItem
// with IncludeMimeContent over NTLM, unthrottled: the sandbox's own cost
// per migrated message, to compare with Exchange's throttle.
func BenchmarkMIMERoundTrip(b *testing.B) {
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		b.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	sb.Seed(sandbox.SeedSpec{Users: 1, Seed: testSeed})
	svc := service(sb)
	as := sb.Mailboxes()[1].SMTP
	raws := make([][]byte, 64)
	var total int64
	for i := range raws {
		raws[i], _ = tenantgen.RenderMail(testSeed, 5, i, "source.example", tenantgen.Options{Profile: tenantgen.Light})
		total += int64(len(raws[i]))
	}
	b.SetBytes(total / int64(len(raws)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw := raws[i%len(raws)]
		msg := &soap.Message{}
		msg.MimeContent = &soap.MimeContent{Value: base64.StdEncoding.EncodeToString(raw)}
		var cr soap.CreateItemResponse
		if err := svc.Call(context.Background(), as, &soap.CreateItem{MessageDisposition: "SaveOnly", SavedItemFolderID: soap.FolderRef("inbox"),
			Items: soap.Items{Items: []soap.AnyItem{{Message: msg}}}}, &cr); err != nil {
			b.Fatal(err)
		}
		var gr soap.GetItemResponse
		if err := svc.Call(context.Background(), as, &soap.GetItem{ItemShape: soap.ItemShape{BaseShape: soap.ShapeIDOnly, IncludeMimeContent: soap.Bool(true)},
			ItemIDs: *soap.ItemList(*cr.ResponseMessages.Messages[0].Items.Items[0].Message.ItemID)}, &gr); err != nil {
			b.Fatal(err)
		}
	}
}
