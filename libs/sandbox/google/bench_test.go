package google_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"golang.org/x/oauth2"
	oauthgoogle "golang.org/x/oauth2/google"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"

	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

func benchGmail(b *testing.B, sb *sandbox.Sandbox, subject string) *gmail.Service {
	b.Helper()
	cfg, err := oauthgoogle.JWTConfigFromJSON(sb.ServiceAccountKey(), gmail.MailGoogleComScope)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Subject = subject
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, tlsClient(sb))
	svc, err := gmail.NewService(ctx, opts(sb, cfg.Client(ctx), sb.Endpoint())...)
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// BenchmarkGmailImport measures what the sandbox serves of
// messages.import through the official client, quotas off, with
// realistic messages (about 75 KB): the sandbox must never be the
// bottleneck of a throughput benchmark.
func BenchmarkGmailImport(b *testing.B) {
	sb, err := sandbox.New(sandbox.Config{Domain: "acme.example"})
	if err != nil {
		b.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	sb.AddUser("ana@acme.example", "Ana Lima")
	svc := benchGmail(b, sb, "ana@acme.example")
	msgs := make([][]byte, 64)
	var total int64
	for i := range msgs {
		msgs[i], _ = tenantgen.RenderMail(1, 1, i, "acme.example", tenantgen.Options{Profile: tenantgen.Realistic.WithMax(4 << 20)})
		total += int64(len(msgs[i]))
	}
	b.SetBytes(total / int64(len(msgs)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		raw := bytes.Replace(msgs[i%len(msgs)], []byte("Message-ID: <"), []byte(fmt.Sprintf("Message-ID: <b%d.", i)), 1)
		if _, err := svc.Users.Messages.Import("me", &gmail.Message{LabelIds: []string{"INBOX"}}).
			InternalDateSource("dateHeader").NeverMarkSpam(true).
			Media(bytes.NewReader(raw), googleapi.ContentType("message/rfc822")).Do(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkGmailGetRaw measures messages.get format=raw of seeded
// messages, rendered on demand.
func BenchmarkGmailGetRaw(b *testing.B) {
	sb, err := sandbox.New(sandbox.Config{Domain: "acme.example"})
	if err != nil {
		b.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	email := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 200, Seed: 1, Profile: tenantgen.Realistic.WithMax(4 << 20)})[0]
	svc := benchGmail(b, sb, email)
	list, err := svc.Users.Messages.List("me").MaxResults(500).IncludeSpamTrash(true).Do()
	if err != nil {
		b.Fatal(err)
	}
	var bytesRead int64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m, err := svc.Users.Messages.Get("me", list.Messages[i%len(list.Messages)].Id).Format("raw").Do()
		if err != nil {
			b.Fatal(err)
		}
		bytesRead += m.SizeEstimate
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(bytesRead)/b.Elapsed().Seconds()/1e6, "MB/s")
}
