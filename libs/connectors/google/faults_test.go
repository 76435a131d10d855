package google_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/connectors/google"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

// losingTransport loses the answer of every nth import after Gmail has
// stored the message, as a connection that breaks on the way back does.
type losingTransport struct {
	next http.RoundTripper
	n    int64
	seen atomic.Int64
	lost atomic.Int64
}

func (l *losingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err != nil || r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/messages/import") {
		return resp, err
	}
	if l.seen.Add(1)%l.n != 0 {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	l.lost.Add(1)
	return nil, errors.New("read: connection reset by peer")
}

// TestLostAnswersImportOnce: when Gmail stored a message but its answer
// was lost, the retry finds the copy through the marker index (which
// catches up through the History API first) instead of importing it again.
func TestLostAnswersImportOnce(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	cfg := configFor(sb)
	lt := &losingTransport{next: cfg.HTTPClient.Transport, n: 3}
	cfg.HTTPClient = &http.Client{Transport: lt}
	cfg.MarkerRefresh = time.Hour // only a lost answer may make the index catch up
	c := open(t, cfg)
	ctx := ctxFor(t)
	mb := "lossy@" + sb.Domain()
	sb.AddUser(mb, "Lossy")
	inbox := folderByRole(t, c, mb, platform.RoleInbox)
	const n = 12
	ids := map[string]string{}
	for i := 0; i < n; i++ {
		msg := platformtest.Message(fmt.Sprintf("lossy %d", i), 700)
		marker := fmt.Sprintf("mf-lossy-%d", i)
		for attempt := 0; ; attempt++ {
			id, err := c.WriteItem(ctx, mb, inbox.ID, msg, marker)
			if err == nil {
				ids[marker] = id
				break
			}
			if attempt > 3 || errs.Is(err, errs.Invalid) {
				t.Fatalf("write %d: %v", i, err)
			}
		}
	}
	if lt.lost.Load() == 0 {
		t.Fatal("no answer was lost; the test tested nothing")
	}
	if got := messageCount(t, sb, mb); got != n {
		t.Errorf("after %d lost answers the mailbox holds %d messages, want %d", lt.lost.Load(), got, n)
	}
	for marker, id := range ids {
		if found, err := c.FindByMarker(ctx, mb, marker); err != nil || len(found) != 1 || found[0].ID != id {
			t.Errorf("%s: %+v, %v; want just %s", marker, found, err, id)
		}
	}
}

// TestFaultsMidMailbox copies a mailbox while the sandbox fails and drops
// requests and, halfway, ends every access token: the failures are
// unavailable (retried, as the engine does; a refused token is replaced),
// and every message lands exactly once.
func TestFaultsMidMailbox(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	src := sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 40, Seed: 9})[0]
	dst := "faulty@" + sb.Domain()
	sb.AddUser(dst, "Faulty")
	want := messageCount(t, sb, src)
	sb.SetFaults(sandbox.Faults{FailEvery: 7, DropEvery: 11})
	c := open(t, configFor(sb))
	ctx := ctxFor(t)
	var transient atomic.Int64
	do := func(fn func() error) {
		t.Helper()
		for i := 0; ; i++ {
			err := fn()
			if err == nil {
				return
			}
			if !errs.Is(err, errs.Unavailable) || i > 30 {
				t.Fatalf("call failed: %v", err)
			}
			transient.Add(1)
		}
	}
	var folders []platform.Folder
	do(func() (err error) { folders, err = c.Folders(ctx, src); return err })
	mapped := map[string]string{}
	copied := 0
	for _, f := range folders {
		if f.Kind != platform.Mail {
			continue
		}
		var df platform.Folder
		do(func() (err error) {
			df, err = c.EnsureFolder(ctx, dst, platform.Folder{Name: f.Name, Role: f.Role, ParentID: mapped[f.ParentID], Kind: platform.Mail})
			return err
		})
		mapped[f.ID] = df.ID
		token := ""
		for {
			var page platform.ItemPage
			do(func() (err error) { page, err = c.Items(ctx, src, f.ID, token); return err })
			for _, r := range page.Items {
				if copied == want/2 {
					// Tokens end mid-run, as they do when they expire.
					sb.ExpireTokens()
				}
				var it platform.Item
				do(func() (err error) { it, err = c.ReadItem(ctx, src, r); return err })
				do(func() error { _, err := c.WriteItem(ctx, dst, df.ID, it, "mf-fault-"+r.ID); return err })
				copied++
			}
			if page.NextToken == "" {
				break
			}
			token = page.NextToken
		}
	}
	sb.SetFaults(sandbox.Faults{})
	if transient.Load() == 0 {
		t.Error("no fault was seen; the test tested nothing")
	}
	if copied != want || messageCount(t, sb, dst) != want {
		t.Errorf("copied %d of %d messages, the destination holds %d", copied, want, messageCount(t, sb, dst))
	}
}

// TestCreateMailbox: a flagged destination user is created through the
// Directory API and listed; creating it again returns the same mailbox;
// an address outside the Workspace's domains says why it failed.
func TestCreateMailbox(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	sb.AddUser("admin@"+sb.Domain(), "Workspace Admin")
	sb.SetAdmin("admin@"+sb.Domain(), true)
	c := open(t, configFor(sb))
	ctx := ctxFor(t)
	m, err := c.CreateMailbox(ctx, platform.Mailbox{PrimaryAddress: "New.Person@" + sb.Domain(), DisplayName: "New Person"})
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "new.person@"+sb.Domain() || m.DisplayName != "New Person" {
		t.Errorf("created %+v", m)
	}
	again, err := c.CreateMailbox(ctx, platform.Mailbox{PrimaryAddress: "new.person@" + sb.Domain(), DisplayName: "New Person"})
	if err != nil || again.ID != m.ID {
		t.Errorf("creating again: %+v, %v", again, err)
	}
	mbs, err := c.ListMailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, x := range mbs {
		listed = listed || x.ID == m.ID
	}
	if !listed {
		t.Errorf("the new mailbox is not listed: %+v", mbs)
	}
	_, err = c.CreateMailbox(ctx, platform.Mailbox{PrimaryAddress: "someone@elsewhere.example", DisplayName: "Some One"})
	if e, ok := errs.As(err); !ok || e.Code != errs.Invalid || !strings.Contains(e.Cause, "someone@elsewhere.example") {
		t.Errorf("outside the domains: %v", err)
	}
}

// TestFromCredentials opens the connector the way libs/connect does, from
// stored fields and the key as a secret, with the sandbox's endpoints.
func TestFromCredentials(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	sb.AddUser("admin@"+sb.Domain(), "Workspace Admin")
	sb.SetAdmin("admin@"+sb.Domain(), true)
	c, err := google.FromCredentials(context.Background(), platform.Credentials{
		Platform: platform.Google,
		Fields: map[string]string{"adminEmail": "admin@" + sb.Domain(), "clientId": sb.ClientID(), "endpoint": sb.BaseURL(),
			"tokenUrl": sb.TokenURL(), "caPem": string(sb.CAPEM()), "labelMode": "categories"},
		Secrets: map[string]string{"serviceAccountKey": string(sb.ServiceAccountKey())},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(ctxFor(t)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if _, err := google.FromCredentials(context.Background(), platform.Credentials{Fields: map[string]string{"adminEmail": "a@b.example", "labelMode": "sideways"},
		Secrets: map[string]string{"serviceAccountKey": string(sb.ServiceAccountKey())}}); !errs.Is(err, errs.Invalid) {
		t.Errorf("an unknown label mode: %v", err)
	}
}
