package google_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	oauthgoogle "golang.org/x/oauth2/google"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"

	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

func TestGmailListPagesAndRawIsTheSeededMIME(t *testing.T) {
	const seed, n = 7, 60
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	email := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: n, Seed: seed})[0]
	svc := gmailFor(t, sb, email)
	prof, err := svc.Users.GetProfile("me").Do()
	if err != nil || prof.MessagesTotal != n {
		t.Fatalf("profile %+v %v", prof, err)
	}
	collect := func(call *gmail.UsersMessagesListCall) []*gmail.Message {
		var out []*gmail.Message
		pages := 0
		if err := call.MaxResults(25).Pages(t.Context(), func(r *gmail.ListMessagesResponse) error {
			pages++
			out = append(out, r.Messages...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if pages != (len(out)+24)/25 {
			t.Fatalf("%d pages for %d messages", pages, len(out))
		}
		return out
	}
	all := collect(svc.Users.Messages.List("me").IncludeSpamTrash(true))
	visible := collect(svc.Users.Messages.List("me"))
	if len(all) != n || len(visible) >= n || len(visible) < n*8/10 {
		t.Fatalf("all %d, without spam and trash %d", len(all), len(visible))
	}
	// Every raw message is byte for byte one the generator renders.
	want := map[[32]byte]bool{}
	for idx := range n {
		raw, _ := tenantgen.RenderMail(seed, 1, idx, "acme.example", tenantgen.Options{Profile: tenantgen.Realistic.WithMax(150 << 20)})
		want[sha256.Sum256(raw)] = true
	}
	var last int64 = 1 << 62
	for _, ref := range visible {
		m, err := svc.Users.Messages.Get("me", ref.Id).Format("raw").Do()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.URLEncoding.DecodeString(m.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if !want[sha256.Sum256(raw)] || m.SizeEstimate != int64(len(raw)) || m.ThreadId == "" || m.HistoryId == 0 {
			t.Fatalf("message %s: size %d/%d", m.Id, m.SizeEstimate, len(raw))
		}
		if m.InternalDate > last || slices.Contains(m.LabelIds, "SPAM") || slices.Contains(m.LabelIds, "TRASH") {
			t.Fatalf("order or labels: %d after %d, %v", m.InternalDate, last, m.LabelIds)
		}
		last = m.InternalDate
	}
	// Partial responses keep what "fields" selects.
	partial, err := svc.Users.Messages.List("me").MaxResults(3).Fields("messages(id),nextPageToken").Do()
	if err != nil || len(partial.Messages) != 3 || partial.Messages[0].ThreadId != "" || partial.NextPageToken == "" || partial.ResultSizeEstimate != 0 {
		t.Fatalf("fields: %+v %v", partial, err)
	}
	// metadata keeps only the asked-for headers; minimal has no payload.
	m, err := svc.Users.Messages.Get("me", visible[0].Id).Format("metadata").MetadataHeaders("Subject", "From").Do()
	if err != nil || m.Payload == nil || len(m.Payload.Headers) != 2 || m.Raw != "" {
		t.Fatalf("metadata: %+v %v", m, err)
	}
	m, err = svc.Users.Messages.Get("me", visible[0].Id).Format("minimal").Do()
	if err != nil || m.Payload != nil || m.Raw != "" || m.Snippet == "" {
		t.Fatalf("minimal: %+v %v", m, err)
	}
	// full: the MIME tree with attachments behind attachment ids.
	found := false
	for _, ref := range visible {
		m, err := svc.Users.Messages.Get("me", ref.Id).Do()
		if err != nil {
			t.Fatal(err)
		}
		var walk func(p *gmail.MessagePart)
		walk = func(p *gmail.MessagePart) {
			if p.Filename != "" && p.Body.AttachmentId != "" && !found {
				a, err := svc.Users.Messages.Attachments.Get("me", m.Id, p.Body.AttachmentId).Do()
				if err != nil {
					t.Fatal(err)
				}
				data, err := base64.URLEncoding.DecodeString(a.Data)
				if err != nil || int64(len(data)) != p.Body.Size {
					t.Fatalf("attachment %s: %d bytes, part says %d (%v)", p.Filename, len(data), p.Body.Size, err)
				}
				found = true
			}
			for _, c := range p.Parts {
				walk(c)
			}
		}
		walk(m.Payload)
	}
	if !found {
		t.Fatal("no seeded message has an attachment")
	}
	_, err = svc.Users.Messages.Get("me", "0123456789abcdef").Do()
	if ge := apiErr(t, err); ge.Code != 404 || reason(ge) != "notFound" {
		t.Fatalf("missing message: %d %s", ge.Code, reason(ge))
	}
}

func labelID(t *testing.T, svc *gmail.Service, name string) string {
	t.Helper()
	res, err := svc.Users.Labels.List("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range res.Labels {
		if l.Name == name {
			return l.Id
		}
	}
	t.Fatalf("no label %q", name)
	return ""
}

func TestGmailLabelsSystemNestedAndConflicts(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	email := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 300, Seed: 2})[0]
	svc := gmailFor(t, sb, email)
	res, err := svc.Users.Labels.List("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*gmail.Label{}
	for _, l := range res.Labels {
		byID[l.Id] = l
	}
	for _, id := range []string{"INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "STARRED", "IMPORTANT", "UNREAD",
		"CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_FORUMS"} {
		if l := byID[id]; l == nil || l.Type != "system" || l.Name != id {
			t.Fatalf("system label %s: %+v", id, l)
		}
	}
	q1 := labelID(t, svc, "Projects/2026/Q1 Planung")
	if !strings.HasPrefix(q1, "Label_") || byID[q1].Type != "user" {
		t.Fatalf("nested user label %q", q1)
	}
	// Some project mail is also filed under Customers: one message, two
	// labels (labelIds combine with AND).
	projects, customers := labelID(t, svc, "Projects"), labelID(t, svc, "Customers")
	both, err := svc.Users.Messages.List("me").LabelIds(projects, customers).Do()
	if err != nil || len(both.Messages) == 0 {
		t.Fatalf("messages in Projects and Customers: %v", err)
	}
	m, err := svc.Users.Messages.Get("me", both.Messages[0].Id).Format("minimal").Do()
	if err != nil || !slices.Contains(m.LabelIds, projects) || !slices.Contains(m.LabelIds, customers) {
		t.Fatalf("labels %v %v", m.LabelIds, err)
	}
	list, err := svc.Users.Messages.List("me").LabelIds(q1).Do()
	if err != nil || len(list.Messages) == 0 {
		t.Fatalf("messages in %s: %v", q1, err)
	}
	byQuery, err := svc.Users.Messages.List("me").Q("label:projects-2026-q1-planung").Do()
	if err != nil || len(byQuery.Messages) != len(list.Messages) {
		t.Fatalf("label: query found %d, labelIds %d (%v)", len(byQuery.Messages), len(list.Messages), err)
	}
	got, err := svc.Users.Labels.Get("me", q1).Do()
	if err != nil || got.MessagesTotal != int64(len(list.Messages)) {
		t.Fatalf("label counts %+v %v", got, err)
	}
	// Creating labels: nested names, conflicts, reserved names.
	parent, err := svc.Users.Labels.Create("me", &gmail.Label{Name: "Parent"}).Do()
	if err != nil {
		t.Fatal(err)
	}
	child, err := svc.Users.Labels.Create("me", &gmail.Label{Name: "Parent/Child", LabelListVisibility: "labelShow", MessageListVisibility: "show"}).Do()
	if err != nil || child.Id == parent.Id || child.Type != "user" {
		t.Fatalf("child %+v %v", child, err)
	}
	_, err = svc.Users.Labels.Create("me", &gmail.Label{Name: "parent/child"}).Do()
	if ge := apiErr(t, err); ge.Code != 409 || ge.Message != "Label name exists or conflicts" {
		t.Fatalf("conflict: %d %q", ge.Code, ge.Message)
	}
	for _, name := range []string{"Inbox", "SENT", "CATEGORY_SOCIAL", "", "/Lead"} {
		_, err = svc.Users.Labels.Create("me", &gmail.Label{Name: name}).Do()
		if ge := apiErr(t, err); ge.Code != 400 || ge.Message != "Invalid label name" {
			t.Fatalf("reserved %q: %d %q", name, ge.Code, ge.Message)
		}
	}
}

const sampleMIME = "Date: Tue, 05 Mar 2019 10:11:12 +0100\r\n" +
	"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@partner.example>\r\n" +
	"To: Ana Lima <ana@acme.example>\r\n" +
	"Subject: =?UTF-8?Q?Angebot_f=C3=BCr_Q2?=\r\n" +
	"Message-ID: <offer-42@partner.example>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Hallo Ana, anbei das Angebot f=C3=BCr Q2.\r\n" +
	"--b1\r\n" +
	"Content-Type: application/pdf; name=\"angebot.pdf\"\r\n" +
	"Content-Disposition: attachment; filename=\"angebot.pdf\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4Kc3RyZWFtCg==\r\n" +
	"--b1--\r\n"

func TestGmailImportKeepsDateLabelsAndBytes(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	svc := gmailFor(t, sb, "ana@acme.example")
	archive, err := svc.Users.Labels.Create("me", &gmail.Label{Name: "Archiv/2019"}).Do()
	if err != nil {
		t.Fatal(err)
	}
	labels := []string{"INBOX", "UNREAD", "STARRED", "CATEGORY_UPDATES", archive.Id}
	imp, err := svc.Users.Messages.Import("me", &gmail.Message{LabelIds: labels}).
		InternalDateSource("dateHeader").NeverMarkSpam(true).ProcessForCalendar(false).
		Media(strings.NewReader(sampleMIME), googleapi.ContentType("message/rfc822")).Do()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(imp.LabelIds, labels) || imp.Id == "" || imp.ThreadId != imp.Id {
		t.Fatalf("import answer %+v", imp)
	}
	m, err := svc.Users.Messages.Get("me", imp.Id).Format("raw").Do()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.URLEncoding.DecodeString(m.Raw)
	wantDate := time.Date(2019, 3, 5, 9, 11, 12, 0, time.UTC).UnixMilli()
	if string(raw) != sampleMIME || m.InternalDate != wantDate || m.SizeEstimate != int64(len(sampleMIME)) {
		t.Fatalf("stored %d bytes, internalDate %d (want %d)", len(raw), m.InternalDate, wantDate)
	}
	full, err := svc.Users.Messages.Get("me", imp.Id).Do()
	if err != nil || full.Payload.MimeType != "multipart/mixed" || len(full.Payload.Parts) != 2 {
		t.Fatalf("full %+v %v", full.Payload, err)
	}
	subject := ""
	for _, h := range full.Payload.Headers {
		if h.Name == "Subject" {
			subject = h.Value
		}
	}
	text, _ := base64.URLEncoding.DecodeString(full.Payload.Parts[0].Body.Data)
	if subject != "Angebot für Q2" || string(text) != "Hallo Ana, anbei das Angebot für Q2." || full.Payload.Parts[1].Filename != "angebot.pdf" {
		t.Fatalf("decoded subject %q, text %q", subject, text)
	}
	// The message is found by its Message-ID, as a re-run looks for it.
	found, err := svc.Users.Messages.List("me").Q("rfc822msgid:offer-42@partner.example").Do()
	if err != nil || len(found.Messages) != 1 || found.Messages[0].Id != imp.Id {
		t.Fatalf("rfc822msgid: %+v %v", found, err)
	}
	// insert defaults to the time of receipt; JSON raw works as well as media.
	ins, err := svc.Users.Messages.Insert("me", &gmail.Message{Raw: base64.URLEncoding.EncodeToString([]byte(strings.Replace(sampleMIME, "offer-42", "offer-43", 1)))}).Do()
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.Users.Messages.Get("me", ins.Id).Format("minimal").Do()
	if err != nil || time.Since(time.UnixMilli(got.InternalDate)) > time.Minute || len(got.LabelIds) != 0 {
		t.Fatalf("insert: %+v %v", got, err)
	}
	// A reply with In-Reply-To and the same subject joins the thread.
	reply := strings.NewReplacer("Message-ID: <offer-42@partner.example>", "Message-ID: <reply-1@acme.example>\r\nIn-Reply-To: <offer-42@partner.example>",
		"Subject: =?UTF-8?Q?Angebot_f=C3=BCr_Q2?=", "Subject: Re: =?UTF-8?Q?Angebot_f=C3=BCr_Q2?=").Replace(sampleMIME)
	rep, err := svc.Users.Messages.Import("me", &gmail.Message{LabelIds: []string{"SENT"}}).Media(strings.NewReader(reply)).Do()
	if err != nil || rep.ThreadId != imp.ThreadId {
		t.Fatalf("reply thread %q, want %q (%v)", rep.ThreadId, imp.ThreadId, err)
	}
	thread, err := svc.Users.Threads.Get("me", imp.ThreadId).Format("minimal").Do()
	if err != nil || len(thread.Messages) != 2 || thread.Messages[0].Id != imp.Id {
		t.Fatalf("thread %+v %v", thread, err)
	}
	threads, err := svc.Users.Threads.List("me").Do()
	if err != nil || len(threads.Threads) != 2 { // the offer with its reply, and the inserted copy
		t.Fatalf("threads %+v %v", threads, err)
	}
	_, err = svc.Users.Messages.Import("me", &gmail.Message{LabelIds: []string{"Label_999"}}).Media(strings.NewReader(sampleMIME)).Do()
	if ge := apiErr(t, err); ge.Code != 400 || ge.Message != "Invalid label: Label_999" {
		t.Fatalf("unknown label: %d %q", ge.Code, ge.Message)
	}
	if sb.SentMessages() != 0 || sb.CalendarProcessed() != 0 {
		t.Fatalf("import sent %d, processed %d invitations", sb.SentMessages(), sb.CalendarProcessed())
	}
}

func TestGmailImportClassifiesSpamUnlessNeverMarkSpam(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	svc := gmailFor(t, sb, "ana@acme.example")
	spammy := "X-Spam-Flag: YES\r\n" + sampleMIME
	for _, never := range []bool{false, true} {
		m, err := svc.Users.Messages.Import("me", &gmail.Message{LabelIds: []string{"INBOX"}}).NeverMarkSpam(never).
			Media(strings.NewReader(spammy)).Do()
		if err != nil {
			t.Fatal(err)
		}
		if spam := slices.Contains(m.LabelIds, "SPAM"); spam == never || slices.Contains(m.LabelIds, "INBOX") == !never {
			t.Fatalf("neverMarkSpam=%v: labels %v", never, m.LabelIds)
		}
	}
	// Sending is counted: a migration must never do it.
	if _, err := svc.Users.Messages.Send("me", &gmail.Message{Raw: base64.URLEncoding.EncodeToString([]byte(sampleMIME))}).Do(); err != nil {
		t.Fatal(err)
	}
	if sb.SentMessages() != 1 {
		t.Fatalf("sent %d", sb.SentMessages())
	}
}

// recorder notes the URLs a client calls.
type recorder struct {
	mu   sync.Mutex
	base http.RoundTripper
	urls []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.Method+" "+req.URL.String())
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

func TestGmailLargeImportGoesThroughResumableUpload(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	rec := &recorder{base: tlsClient(sb).Transport}
	cfg, err := oauthgoogle.JWTConfigFromJSON(sb.ServiceAccountKey(), gmail.MailGoogleComScope)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Subject = "ana@acme.example"
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rec})
	svc, err := gmail.NewService(ctx, opts(sb, cfg.Client(ctx), sb.Endpoint())...)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("Zeile mit Inhalt, damit die Nachricht groß wird.\r\n", 14000) // ~700 KB
	raw := strings.Replace(sampleMIME, "Hallo Ana, anbei das Angebot f=C3=BCr Q2.\r\n", body, 1)
	m, err := svc.Users.Messages.Import("me", &gmail.Message{LabelIds: []string{"INBOX"}}).InternalDateSource("dateHeader").
		Media(bytes.NewReader([]byte(raw)), googleapi.ChunkSize(256*1024), googleapi.ContentType("message/rfc822")).Do()
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.Users.Messages.Get("me", m.Id).Format("raw").Do()
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := base64.URLEncoding.DecodeString(got.Raw)
	if string(stored) != raw {
		t.Fatalf("stored %d bytes, sent %d", len(stored), len(raw))
	}
	chunks := 0
	for _, u := range rec.urls {
		if strings.Contains(u, "upload_id=") {
			chunks++
		}
	}
	if chunks != 3 || !strings.Contains(rec.urls[1], "uploadType=resumable") {
		t.Fatalf("%d chunk requests: %v", chunks, rec.urls)
	}
	// Over the 150 MB limit (scaled down here) the upload is refused.
	small := start(t, sandbox.Config{Domain: "acme.example", MaxMessageBytes: 100 << 10})
	small.AddUser("ana@acme.example", "Ana Lima")
	_, err = gmailFor(t, small, "ana@acme.example").Users.Messages.Import("me", &gmail.Message{}).Media(strings.NewReader(raw)).Do()
	if ge := apiErr(t, err); ge.Code != 413 {
		t.Fatalf("oversized: %d %s", ge.Code, ge.Message)
	}
}

func TestGmailSimpleMediaUpload(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.AddUser("ana@acme.example", "Ana Lima")
	hc := authed(t, sb, sb.ServiceAccountKey(), "ana@acme.example", gmail.MailGoogleComScope)
	res, err := hc.Post(sb.BaseURL()+"/upload/gmail/v1/users/me/messages/import?uploadType=media&internalDateSource=dateHeader",
		"message/rfc822", strings.NewReader(sampleMIME))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m gmail.Message
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode != 200 || m.Id == "" {
		t.Fatalf("media upload: %d %+v %v", res.StatusCode, m, err)
	}
	got, err := gmailFor(t, sb, "ana@acme.example").Users.Messages.Get("me", m.Id).Format("minimal").Do()
	if err != nil || got.InternalDate != time.Date(2019, 3, 5, 9, 11, 12, 0, time.UTC).UnixMilli() || len(got.LabelIds) != 0 {
		t.Fatalf("stored %+v %v", got, err)
	}
	res, err = hc.Post(sb.BaseURL()+"/upload/gmail/v1/users/me/messages/import", "message/rfc822", strings.NewReader(sampleMIME))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Fatalf("upload without uploadType: %d", res.StatusCode)
	}
}

type histSummary struct{ added, deleted, labelAdded, labelRemoved []string }

func summarize(hs []*gmail.History) histSummary {
	var s histSummary
	for _, h := range hs {
		for _, a := range h.MessagesAdded {
			s.added = append(s.added, a.Message.Id)
		}
		for _, d := range h.MessagesDeleted {
			s.deleted = append(s.deleted, d.Message.Id)
		}
		for _, l := range h.LabelsAdded {
			s.labelAdded = append(s.labelAdded, l.Message.Id+":"+strings.Join(l.LabelIds, ","))
		}
		for _, l := range h.LabelsRemoved {
			s.labelRemoved = append(s.labelRemoved, l.Message.Id+":"+strings.Join(l.LabelIds, ","))
		}
	}
	return s
}

func TestGmailHistoryFollowsImportModifyTrashDelete(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	email := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 10, Seed: 5})[0]
	svc := gmailFor(t, sb, email)
	prof, err := svc.Users.GetProfile("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	start := prof.HistoryId
	imp := func(id string) string {
		m, err := svc.Users.Messages.Import("me", &gmail.Message{LabelIds: []string{"INBOX", "UNREAD"}}).
			Media(strings.NewReader(strings.Replace(sampleMIME, "offer-42", id, 1))).Do()
		if err != nil {
			t.Fatal(err)
		}
		return m.Id
	}
	m1, m2 := imp("h1"), imp("h2")
	if _, err := svc.Users.Messages.Modify("me", m1, &gmail.ModifyMessageRequest{AddLabelIds: []string{"STARRED"}, RemoveLabelIds: []string{"UNREAD"}}).Do(); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Users.Messages.Trash("me", m2).Do(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Users.Messages.Delete("me", m1).Do(); err != nil {
		t.Fatal(err)
	}
	var all []*gmail.History
	var lastID uint64
	pages := 0
	err = svc.Users.History.List("me").StartHistoryId(start).MaxResults(2).Pages(t.Context(), func(r *gmail.ListHistoryResponse) error {
		pages++
		all = append(all, r.History...)
		lastID = r.HistoryId
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := summarize(all)
	want := histSummary{added: []string{m1, m2}, deleted: []string{m1},
		labelAdded: []string{m1 + ":STARRED", m2 + ":TRASH"}, labelRemoved: []string{m1 + ":UNREAD"}}
	if fmt.Sprint(got) != fmt.Sprint(want) || pages != 3 {
		t.Fatalf("%d pages, history %+v, want %+v", pages, got, want)
	}
	now, _ := svc.Users.GetProfile("me").Do()
	if lastID != now.HistoryId || all[len(all)-1].Id != now.HistoryId {
		t.Fatalf("response historyId %d, last record %d, profile %d", lastID, all[len(all)-1].Id, now.HistoryId)
	}
	onlyAdded, err := svc.Users.History.List("me").StartHistoryId(start).HistoryTypes("messageAdded").Do()
	if err != nil || fmt.Sprint(summarize(onlyAdded.History)) != fmt.Sprint(histSummary{added: []string{m1, m2}}) {
		t.Fatalf("messageAdded only: %+v %v", summarize(onlyAdded.History), err)
	}
	trashed, err := svc.Users.History.List("me").StartHistoryId(start).LabelId("TRASH").Do()
	if err != nil || fmt.Sprint(summarize(trashed.History)) != fmt.Sprint(histSummary{labelAdded: []string{m2 + ":TRASH"}}) {
		t.Fatalf("labelId TRASH: %+v %v", summarize(trashed.History), err)
	}
	// Nothing new: no records, the same history id.
	quiet, err := svc.Users.History.List("me").StartHistoryId(now.HistoryId).Do()
	if err != nil || len(quiet.History) != 0 || quiet.HistoryId != now.HistoryId {
		t.Fatalf("no changes: %+v %v", quiet, err)
	}
	sb.ExpireHistory(email)
	_, err = svc.Users.History.List("me").StartHistoryId(start).Do()
	if ge := apiErr(t, err); ge.Code != 404 {
		t.Fatalf("expired start id: %d", ge.Code)
	}
	// Permanent deletion needs the full mail scope.
	sb.Delegate(sb.ClientID(), gmail.GmailModifyScope)
	err = gmailFor(t, sb, email, gmail.GmailModifyScope).Users.Messages.Delete("me", m2).Do()
	if ge := apiErr(t, err); ge.Code != 403 || reason(ge) != "insufficientPermissions" {
		t.Fatalf("delete with gmail.modify: %d %s", ge.Code, reason(ge))
	}
}

func TestGmailHistoryRetentionTrimsOldStartIDs(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example", HistoryRetention: 3})
	sb.AddUser("ana@acme.example", "Ana Lima")
	svc := gmailFor(t, sb, "ana@acme.example")
	prof, _ := svc.Users.GetProfile("me").Do()
	var ids []string
	for i := range 5 {
		m, err := svc.Users.Messages.Import("me", &gmail.Message{}).Media(strings.NewReader(strings.Replace(sampleMIME, "offer-42", fmt.Sprint("r", i), 1))).Do()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.Id)
	}
	_, err := svc.Users.History.List("me").StartHistoryId(prof.HistoryId).Do()
	if ge := apiErr(t, err); ge.Code != 404 {
		t.Fatalf("trimmed start id: %d", ge.Code)
	}
	m, _ := svc.Users.Messages.Get("me", ids[1]).Format("minimal").Do()
	res, err := svc.Users.History.List("me").StartHistoryId(m.HistoryId).Do()
	if err != nil || fmt.Sprint(summarize(res.History).added) != fmt.Sprint(ids[2:]) {
		t.Fatalf("kept history: %+v %v", res, err)
	}
}
