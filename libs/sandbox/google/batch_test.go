package google_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/gmail/v1"

	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

// batchCall is one part of a hand-built batch request; google.golang.org/api
// has no batch support, so a connector builds them the same way.
type batchCall struct{ method, path, body string }

func sendBatch(t *testing.T, hc *http.Client, sb *sandbox.Sandbox, calls []batchCall) (*http.Response, []*http.Response) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i, c := range calls {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/http")
		h.Set("Content-ID", fmt.Sprintf("<item%d>", i))
		pw, _ := mw.CreatePart(h)
		fmt.Fprintf(pw, "%s %s\r\n", c.method, c.path)
		if c.body != "" {
			fmt.Fprintf(pw, "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(c.body), c.body)
		} else {
			fmt.Fprint(pw, "\r\n")
		}
	}
	mw.Close()
	req, _ := http.NewRequest("POST", sb.BaseURL()+"/batch/gmail/v1", &buf)
	req.Header.Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return res, nil
	}
	_, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*http.Response
	mr := multipart.NewReader(res.Body, params["boundary"])
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("<response-item%d>", i); p.Header.Get("Content-ID") != want {
			t.Fatalf("part %d has Content-ID %q", i, p.Header.Get("Content-ID"))
		}
		inner, err := http.ReadResponse(bufio.NewReader(p), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(inner.Body)
		inner.Body = io.NopCloser(bytes.NewReader(b))
		out = append(out, inner)
	}
	return res, out
}

func TestGmailBatchRunsEachCallOnItsOwn(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	email := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 5, Seed: 8})[0]
	svc := gmailFor(t, sb, email)
	list, err := svc.Users.Messages.List("me").IncludeSpamTrash(true).Do()
	if err != nil || len(list.Messages) != 5 {
		t.Fatalf("list: %v", err)
	}
	hc := authed(t, sb, sb.ServiceAccountKey(), email, gmail.MailGoogleComScope)
	id := list.Messages[0].Id
	_, parts := sendBatch(t, hc, sb, []batchCall{
		{"GET", "/gmail/v1/users/me/messages/" + id + "?format=minimal", ""},
		{"GET", "/gmail/v1/users/me/messages/0123456789abcdef", ""},
		{"POST", "/gmail/v1/users/me/messages/" + id + "/modify", `{"addLabelIds":["STARRED"]}`},
	})
	if len(parts) != 3 || parts[0].StatusCode != 200 || parts[1].StatusCode != 404 || parts[2].StatusCode != 200 {
		for _, p := range parts {
			b, _ := io.ReadAll(p.Body)
			t.Logf("%d %s", p.StatusCode, b)
		}
		t.Fatal("unexpected part statuses")
	}
	m, err := svc.Users.Messages.Get("me", id).Format("minimal").Do()
	if err != nil || !strings.Contains(strings.Join(m.LabelIds, ","), "STARRED") {
		t.Fatalf("modify in batch: %v %v", m.LabelIds, err)
	}
	// Each call is charged to the quota on its own.
	sb.SetLimits(sandbox.Limits{Window: time.Hour, GmailUserUnits: 12})
	_, parts = sendBatch(t, hc, sb, []batchCall{
		{"GET", "/gmail/v1/users/me/messages/" + id + "?format=minimal", ""},
		{"GET", "/gmail/v1/users/me/messages/" + id + "?format=minimal", ""},
		{"GET", "/gmail/v1/users/me/messages/" + id + "?format=minimal", ""},
	})
	ok, refused := 0, 0
	for _, p := range parts {
		switch p.StatusCode {
		case 200:
			ok++
		case 429:
			refused++
		}
	}
	if ok != 2 || refused != 1 {
		t.Fatalf("ok %d, refused %d", ok, refused)
	}
	sb.SetLimits(sandbox.Limits{})
	many := make([]batchCall, 101)
	for i := range many {
		many[i] = batchCall{"GET", "/gmail/v1/users/me/profile", ""}
	}
	res, _ := sendBatch(t, hc, sb, many)
	if res.StatusCode != 400 {
		t.Fatalf("101 calls: %d", res.StatusCode)
	}
}
