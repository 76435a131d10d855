package google_test

import (
	"context"
	"testing"

	"github.com/mailferry/mailferry/libs/connectors/google"
	"github.com/mailferry/mailferry/libs/platform"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// TestQuotaCostPerItem measures what a mailbox costs in Gmail quota units,
// as the sandbox charges them with Google's table: reading a seeded
// mailbox (enumeration through batched metadata reads, then format=raw),
// importing it into an empty one, and a re-run by a new connector (whose
// marker index reads the destination once). The numbers are the ones
// docs/google.md quotes; the test fails if a change makes them worse.
func TestQuotaCostPerItem(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	src := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 300, Seed: 5, Profile: tenantgen.Light})[0]
	dst := "cost@" + sb.Domain()
	sb.AddUser(dst, "Cost")
	ctx := ctxFor(t)
	c := open(t, configFor(sb))
	mail := func(c *google.Connector, mb string) []platform.Folder {
		fs, err := c.Folders(ctx, mb)
		if err != nil {
			t.Fatal(err)
		}
		var out []platform.Folder
		for _, f := range fs {
			if f.Kind == platform.Mail {
				out = append(out, f)
			}
		}
		return out
	}
	copyMail := func(c *google.Connector) (n int, requests int) {
		before := sb.Requests()
		mapped := map[string]string{}
		for _, f := range mail(c, src) {
			df, err := c.EnsureFolder(ctx, dst, platform.Folder{Name: f.Name, Role: f.Role, ParentID: mapped[f.ParentID], Kind: platform.Mail})
			if err != nil {
				t.Fatal(err)
			}
			mapped[f.ID] = df.ID
			refs, _, _ := enumerate(t, c, src, f.ID, "")
			for _, r := range refs {
				marker := "mf-cost-" + r.ID
				found, err := c.FindByMarker(ctx, dst, marker)
				if err != nil {
					t.Fatal(err)
				}
				if len(found) > 0 && found[0].FolderID == df.ID {
					n++
					continue
				}
				it, err := c.ReadItem(ctx, src, r)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.WriteItem(context.Background(), dst, df.ID, it, marker); err != nil {
					t.Fatal(err)
				}
				n++
			}
		}
		return n, sb.Requests() - before
	}
	n, reqs := copyMail(c)
	if n != 300 {
		t.Fatalf("copied %d messages, want 300", n)
	}
	srcUnits, dstUnits := float64(sb.GmailUnits(src))/300, float64(sb.GmailUnits(dst))/300
	t.Logf("first run: %.2f units per message read, %.2f per message written, %.2f requests per message", srcUnits, dstUnits, float64(reqs)/300)
	if srcUnits > 10.6 || dstUnits > 25.5 {
		t.Errorf("first run costs %.2f units per message read and %.2f written; want at most 10.6 and 25.5", srcUnits, dstUnits)
	}
	// A re-run by a new connector: enumeration again, nothing read or
	// written, the destination's markers read once.
	s0, d0 := sb.GmailUnits(src), sb.GmailUnits(dst)
	n, reqs = copyMail(open(t, configFor(sb)))
	srcUnits, dstUnits = float64(sb.GmailUnits(src)-s0)/300, float64(sb.GmailUnits(dst)-d0)/300
	t.Logf("re-run: %.2f units per message at the source, %.2f at the destination, %.2f requests per message", srcUnits, dstUnits, float64(reqs)/300)
	if n != 300 || srcUnits > 5.6 || dstUnits > 5.2 {
		t.Errorf("re-run of %d messages costs %.2f units per message at the source and %.2f at the destination; want at most 5.6 and 5.2", n, srcUnits, dstUnits)
	}
	if got := messageCount(t, sb, dst); got != 300 {
		t.Errorf("the destination holds %d messages after the re-run, want 300", got)
	}
}
