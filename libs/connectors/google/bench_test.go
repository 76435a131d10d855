package google_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/connectors/google"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

// BenchmarkImportAtGmailQuota imports into one mailbox from 8 goroutines
// for two of Gmail's one-minute quota windows, with the
// sandbox enforcing Google's real per-user quota (15,000 units a minute)
// and the connector pacing itself to it. It reports imports per second,
// the share of the quota used (units charged over units the windows
// allowed) and how many requests Gmail refused. At 25 units an import the
// quota allows 10 imports a second.
func BenchmarkImportAtGmailQuota(b *testing.B) {
	sb, err := sandbox.New(sandbox.Config{Limits: sandbox.RealLimits()})
	if err != nil {
		b.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	mb := "bench@" + sb.Domain()
	sb.AddUser(mb, "Bench")
	cfg := configFor(sb)
	cfg.GmailUnitsPerMinute = sandbox.RealLimits().GmailUserUnits
	c, err := google.Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var inbox platform.Folder
	folders, err := c.Folders(ctx, mb)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range folders {
		if f.Role == platform.RoleInbox {
			inbox = f
		}
	}
	// Just under two windows: the sandbox's windows start with the first
	// request, so the run touches exactly two.
	const run = 119 * time.Second
	b.ResetTimer()
	start := time.Now()
	var imported, throttled atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < run {
				i := next.Add(1)
				msg := platformtest.Message(fmt.Sprintf("bench %d", i), 4<<10)
				for {
					_, err := c.WriteItem(ctx, mb, inbox.ID, msg, fmt.Sprintf("mf-bench-%d", i))
					if err == nil {
						imported.Add(1)
						break
					}
					e, ok := errs.As(err)
					if !ok || e.Code != errs.Throttled {
						b.Error(err)
						return
					}
					throttled.Add(1)
					time.Sleep(e.RetryAfter)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	windows := float64(int((elapsed-time.Second)/time.Minute) + 1)
	units := float64(sb.GmailUnits(mb))
	b.ReportMetric(float64(imported.Load())/elapsed.Seconds(), "imports/s")
	b.ReportMetric(100*units/(windows*float64(cfg.GmailUnitsPerMinute)), "%quota")
	b.ReportMetric(float64(imported.Load())/elapsed.Seconds()/(float64(cfg.GmailUnitsPerMinute)/60/25)*100, "%imports-allowed")
	b.ReportMetric(float64(sb.Throttled()), "refused")
}

// BenchmarkAggregateImportsNoQuota imports into 20 mailboxes at once, 4
// goroutines each, with the sandbox's quotas and the connector's pacing
// off: what the connector and the client library cost per import when
// Google is not the limit.
func BenchmarkAggregateImportsNoQuota(b *testing.B) {
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		b.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	c, err := google.Open(context.Background(), configFor(sb))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const mailboxes, perMailbox = 20, 50
	var inboxes []string
	for m := 0; m < mailboxes; m++ {
		mb := fmt.Sprintf("agg%02d@%s", m, sb.Domain())
		sb.AddUser(mb, fmt.Sprintf("Aggregate %d", m))
		inboxes = append(inboxes, mb)
	}
	b.ResetTimer()
	start := time.Now()
	for n := 0; n < b.N; n++ {
		var wg sync.WaitGroup
		for _, mb := range inboxes {
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < perMailbox; i += 4 {
						msg := platformtest.Message(fmt.Sprintf("agg %d", i), 4<<10)
						if _, err := c.WriteItem(ctx, mb, "INBOX", msg, fmt.Sprintf("mf-agg-%d-%d", n, i)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.N*mailboxes*perMailbox)/time.Since(start).Seconds(), "imports/s")
}
