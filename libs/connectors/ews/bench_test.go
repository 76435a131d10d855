package ews_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/mailferry/mailferry/libs/connectors/ews"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
)

// benchWrite measures the engine's sequence for new mail (FindByMarker,
// then WriteItem of a 20 KB message) into mailboxes of an Exchange
// sandbox without throttling, over NTLM and HTTPS, one goroutine per
// mailbox: the connector's own cost, under the platform's throttle.
func benchWrite(b *testing.B, mailboxes int) {
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		b.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	sb.Seed(sandbox.SeedSpec{Seed: testSeed})
	c, err := ews.Open(ews.Config{URL: sb.URL(), Username: sb.NetBIOSDomain() + `\` + sandbox.ServiceAccount,
		Password: sandbox.Password(testSeed, sandbox.ServiceAccount), Auth: soap.AuthNTLM, RootCAs: sb.CertPool()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	inboxes := make([]string, mailboxes)
	mbs := make([]string, mailboxes)
	for i := range mbs {
		user := fmt.Sprintf("bench%d", i)
		if err := sb.AddAccount(sandbox.Account{Username: user, Password: "Pw-bench!1", HasMailbox: true}); err != nil {
			b.Fatal(err)
		}
		mbs[i] = user + "@" + sb.Domain()
		folders, err := c.Folders(ctx, mbs[i])
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range folders {
			if f.Role == platform.RoleInbox {
				inboxes[i] = f.ID
			}
		}
	}
	msg := platformtest.Message("bench", 20<<10)
	b.SetBytes(int64(len(msg.Content)))
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + mailboxes - 1) / mailboxes
	for i := range mbs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for n := 0; n < per; n++ {
				marker := fmt.Sprintf("mf-bench-%d-%d", i, n)
				if _, err := c.FindByMarker(ctx, mbs[i], marker); err != nil {
					b.Error(err)
					return
				}
				if _, err := c.WriteItem(ctx, mbs[i], inboxes[i], msg, marker); err != nil {
					b.Error(err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	b.ReportMetric(float64(per*mailboxes)/b.Elapsed().Seconds(), "items/s")
}

func BenchmarkWriteMailOneMailbox(b *testing.B)     { benchWrite(b, 1) }
func BenchmarkWriteMailEightMailboxes(b *testing.B) { benchWrite(b, 8) }
