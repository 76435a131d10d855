package ews_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/mailferry/mailferry/libs/ews/soap"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
)

func TestServePrintsAWorkingConnectionLine(t *testing.T) {
	c, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- sandbox.Serve(c, "127.0.0.1:0", 11, 3, 8, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	var info sandbox.ServeInfo
	if err := json.Unmarshal(line, &info); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(info.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	ews := &soap.Client{URL: info.EWSURL, Username: info.Username, Password: info.Password, Auth: soap.AuthNTLM, HTTP: &http.Client{Transport: tr}}
	if !strings.HasSuffix(info.EWSURL, "/EWS/Exchange.asmx") || len(info.Mailboxes) != 4 {
		t.Fatalf("line %s", line)
	}
	target := info.Mailboxes[2].SMTP
	var resp soap.FindItemResponse
	if err := ews.Call(context.Background(), target, &soap.FindItem{Traversal: "Shallow", ItemShape: soap.ItemShape{BaseShape: soap.ShapeIDOnly},
		ParentFolderIDs: *soap.FolderList("inbox", "sentitems", "archive")}, &resp); err != nil {
		t.Fatal(err)
	}
	if err := soap.Check("FindItem", resp.ResponseMessages.Messages); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range resp.ResponseMessages.Messages {
		n += *m.RootFolder.TotalItemsInView
	}
	if n == 0 || n > 8 {
		t.Fatalf("%s's inbox, sent items and archive hold %d of its 8 messages", target, n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(info.CAFile); !os.IsNotExist(err) {
		t.Fatalf("CA file left behind: %v", err)
	}
}

// TestSeedIsDeterministic: two sandboxes seeded alike hold the same
// accounts, passwords, folders and bytes.
func TestSeedIsDeterministic(t *testing.T) {
	a, b := start(t, sandbox.Config{}), start(t, sandbox.Config{})
	if ma, mb := a.Mailboxes(), b.Mailboxes(); len(ma) != 4 || len(ma) != len(mb) || ma[3] != mb[3] {
		t.Fatalf("mailboxes differ: %v %v", ma, mb)
	}
	digest := func(sb *sandbox.Sandbox) [32]byte {
		svc := service(sb)
		var fi soap.FindItemResponse
		if err := svc.Call(ctx(t), userAddr(sb, 2), &soap.FindItem{Traversal: "Shallow", ItemShape: soap.ItemShape{BaseShape: soap.ShapeIDOnly},
			ParentFolderIDs: *soap.FolderList("inbox")}, &fi); err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		for _, it := range fi.ResponseMessages.Messages[0].RootFolder.Items.Items {
			m, err := getMessage(t, svc, userAddr(sb, 2), *it.Message.ItemID, soap.ItemShape{BaseShape: soap.ShapeIDOnly, IncludeMimeContent: soap.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := base64.StdEncoding.DecodeString(m.MimeContent.Value)
			h.Write(raw)
		}
		var d [32]byte
		copy(d[:], h.Sum(nil))
		return d
	}
	if digest(a) != digest(b) {
		t.Fatal("the same seed gave different mail")
	}
}
