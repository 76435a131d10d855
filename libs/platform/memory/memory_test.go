package memory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
)

var tenantSeq atomic.Int64

// newTenant returns a seeded tenant with a small page size and item limit,
// so the contract suite exercises paging and the size check cheaply.
func newTenant(store *Store) (*Tenant, platform.Mailbox, platform.Mailbox) {
	t := store.AddTenant(fmt.Sprintf("tenant%d", tenantSeq.Add(1)), "contoso.test")
	t.SetPageSize(7)
	t.SetLimits(platform.Limits{MaxItemBytes: 256 << 10})
	seeded := Seed(t, SeedSpec{Mailboxes: 1, ItemsPerMailbox: 60, Seed: 7})[0]
	empty := t.AddMailbox(platform.Mailbox{PrimaryAddress: "empty@contoso.test", DisplayName: "Empty"})
	return t, seeded, empty
}

func TestContractTenant(t *testing.T) {
	t.Parallel()
	store := NewStore()
	platformtest.Run(t, func(t *testing.T) platformtest.Fixture {
		tn, seeded, empty := newTenant(store)
		return platformtest.Fixture{
			Connector: tn, Seeded: seeded.ID, Empty: empty.ID,
			AddItem: tn.AddItem, ChangeItem: changeHook(tn), RemoveItem: removeHook(tn),
			WantPaging: true, ExactSizes: true,
		}
	})
}

func TestContractHTTPClient(t *testing.T) {
	t.Parallel()
	store := NewStore()
	srv := httptest.NewServer(NewHandler(store))
	t.Cleanup(srv.Close)
	platformtest.Run(t, func(t *testing.T) platformtest.Fixture {
		tn, seeded, empty := newTenant(store)
		return platformtest.Fixture{
			Connector: NewClient(srv.URL, tn.Name(), tn.Token(), srv.Client()),
			Seeded:    seeded.ID, Empty: empty.ID,
			AddItem: tn.AddItem, ChangeItem: changeHook(tn), RemoveItem: removeHook(tn),
			WantPaging: true, ExactSizes: true,
		}
	})
}

// changeHook is the contract fixture's ChangeItem: the user reads the item
// and toggles its flag.
func changeHook(tn *Tenant) func(ctx context.Context, mb string, ref platform.ItemRef) error {
	return func(ctx context.Context, mb string, ref platform.ItemRef) error {
		it, err := tn.ReadItem(ctx, mb, ref)
		if err != nil {
			return err
		}
		it.Read, it.Flagged = true, !it.Flagged
		_, err = tn.ChangeItem(ctx, mb, ref.ID, it)
		return err
	}
}

func removeHook(tn *Tenant) func(ctx context.Context, mb string, ref platform.ItemRef) error {
	return func(ctx context.Context, mb string, ref platform.ItemRef) error {
		return tn.RemoveItem(ctx, mb, ref.ID)
	}
}

func serve(t *testing.T) (*Store, *httptest.Server) {
	t.Helper()
	store := NewStore()
	srv := httptest.NewServer(NewHandler(store))
	t.Cleanup(srv.Close)
	return store, srv
}

func TestAuthWrongToken(t *testing.T) {
	t.Parallel()
	store, srv := serve(t)
	tn := store.AddTenant("acme", "acme.test")
	if again := store.AddTenant("acme", "other.test"); again != tn || again.Token() != tn.Token() || again.Domain() != "acme.test" {
		t.Fatal("AddTenant is not idempotent by name")
	}
	const wrong = "wrong-token-0123456789"
	for _, token := range []string{wrong, ""} {
		c := NewClient(srv.URL, "acme", token, srv.Client())
		_, err := c.ListMailboxes(context.Background())
		if !errs.Is(err, errs.AuthFailed) {
			t.Fatalf("token %q: err = %v, want %s", token, err, errs.AuthFailed)
		}
		if strings.Contains(err.Error(), tn.Token()) || (token != "" && strings.Contains(err.Error(), token)) {
			t.Errorf("error %q contains a token", err)
		}
	}
	// The status itself must be 401 so generic HTTP tooling sees it too.
	resp, err := srv.Client().Get(srv.URL + "/tenants/acme/mailboxes")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", resp.StatusCode)
	}
	good := NewClient(srv.URL, "acme", tn.Token(), srv.Client())
	if _, err := good.ListMailboxes(context.Background()); err != nil {
		t.Errorf("right token: %v", err)
	}
	// Another tenant's token opens nothing here.
	other := store.AddTenant("globex", "globex.test")
	if _, err := NewClient(srv.URL, "acme", other.Token(), srv.Client()).ListMailboxes(context.Background()); !errs.Is(err, errs.AuthFailed) {
		t.Errorf("other tenant's token: err = %v, want %s", err, errs.AuthFailed)
	}
	if _, err := NewClient(srv.URL, "nobody", tn.Token(), srv.Client()).ListMailboxes(context.Background()); !errs.Is(err, errs.NotFound) {
		t.Errorf("unknown tenant: err = %v, want %s", err, errs.NotFound)
	}
}

func TestFailAuth(t *testing.T) {
	t.Parallel()
	store, srv := serve(t)
	tn, seeded, _ := newTenant(store)
	c := NewClient(srv.URL, tn.Name(), tn.Token(), srv.Client())
	tn.SetFaults(Faults{FailAuth: true})
	ctx := context.Background()
	for name, conn := range map[string]platform.Connector{"tenant": tn, "client": c} {
		if _, err := conn.ListMailboxes(ctx); !errs.Is(err, errs.AuthFailed) {
			t.Errorf("%s ListMailboxes: err = %v, want %s", name, err, errs.AuthFailed)
		}
		if _, err := conn.Stats(ctx, seeded.ID); !errs.Is(err, errs.AuthFailed) {
			t.Errorf("%s Stats: err = %v, want %s", name, err, errs.AuthFailed)
		}
		if _, err := conn.WriteItem(ctx, seeded.ID, "x", platformtest.Message("x", 0), "m"); !errs.Is(err, errs.AuthFailed) {
			t.Errorf("%s WriteItem: err = %v, want %s", name, err, errs.AuthFailed)
		}
	}
	tn.SetFaults(Faults{})
	if _, err := c.ListMailboxes(ctx); err != nil {
		t.Errorf("after clearing FailAuth: %v", err)
	}
}

func TestThrottleRetryAfter(t *testing.T) {
	t.Parallel()
	store, srv := serve(t)
	tn, seeded, _ := newTenant(store)
	c := NewClient(srv.URL, tn.Name(), tn.Token(), srv.Client())
	ctx := context.Background()
	cases := []struct {
		conn     platform.Connector
		name     string
		after    time.Duration
		wantWait time.Duration
	}{
		{tn, "tenant", 1500 * time.Millisecond, 1500 * time.Millisecond},
		{c, "client", 3 * time.Second, 3 * time.Second},
		// The header carries whole seconds; rounding is up, never down.
		{c, "client rounding", 1500 * time.Millisecond, 2 * time.Second},
	}
	for _, tc := range cases {
		tn.SetFaults(Faults{ThrottleEvery: 3, RetryAfter: tc.after})
		var throttled []int
		for i := 1; i <= 9; i++ {
			_, err := tc.conn.Stats(ctx, seeded.ID)
			if err == nil {
				continue
			}
			e, ok := errs.As(err)
			if !ok || e.Code != errs.Throttled {
				t.Fatalf("%s call %d: err = %v, want %s", tc.name, i, err, errs.Throttled)
			}
			if e.RetryAfter != tc.wantWait {
				t.Errorf("%s: RetryAfter = %v, want %v", tc.name, e.RetryAfter, tc.wantWait)
			}
			throttled = append(throttled, i)
		}
		if fmt.Sprint(throttled) != "[3 6 9]" {
			t.Errorf("%s: throttled calls %v, want every third", tc.name, throttled)
		}
	}
	// The raw response is a real 429 with Retry-After, as Graph sends.
	tn.SetFaults(Faults{ThrottleEvery: 1, RetryAfter: 5 * time.Second})
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/tenants/"+tn.Name()+"/mailboxes", nil)
	req.Header.Set("Authorization", "Bearer "+tn.Token())
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "5" {
		t.Errorf("status %d Retry-After %q, want 429 and 5", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestErrorsCrossHTTP checks that the client returns the coded error the
// tenant returned, field for field.
func TestErrorsCrossHTTP(t *testing.T) {
	t.Parallel()
	store, srv := serve(t)
	tn, seeded, empty := newTenant(store)
	c := NewClient(srv.URL, tn.Name(), tn.Token(), srv.Client())
	ctx := context.Background()
	inbox, _ := tn.FolderByRole(empty.ID, platform.RoleInbox)
	cal, _ := tn.FolderByRole(empty.ID, platform.RoleCalendar)
	large := platformtest.Message("x", 300<<10)
	calls := map[string]func(platform.Connector) error{
		"bad kind": func(p platform.Connector) error {
			_, err := p.EnsureFolder(ctx, empty.ID, platform.Folder{Name: "x", Kind: "video"})
			return err
		},
		"bad role": func(p platform.Connector) error {
			_, err := p.EnsureFolder(ctx, empty.ID, platform.Folder{Role: "spam"})
			return err
		},
		"missing marker": func(p platform.Connector) error {
			_, err := p.WriteItem(ctx, empty.ID, inbox.ID, platformtest.Message("x", 0), "")
			return err
		},
		"kind mismatch": func(p platform.Connector) error {
			_, err := p.WriteItem(ctx, empty.ID, cal.ID, platformtest.Message("x", 0), "m-kind")
			return err
		},
		"too large": func(p platform.Connector) error {
			// One item for both calls: each new message has its own
			// Message-ID, whose length would change the size in the cause.
			_, err := p.WriteItem(ctx, empty.ID, inbox.ID, large, "m-large")
			return err
		},
		"bad token": func(p platform.Connector) error {
			_, err := p.Items(ctx, seeded.ID, inbox.ID, "not-a-token")
			return err
		},
		"unknown parent": func(p platform.Connector) error {
			_, err := p.EnsureFolder(ctx, empty.ID, platform.Folder{ParentID: "fld-missing", Name: "x"})
			return err
		},
		"create without address": func(p platform.Connector) error {
			_, err := p.(platform.Provisioner).CreateMailbox(ctx, platform.Mailbox{DisplayName: "x"})
			return err
		},
	}
	for name, call := range calls {
		direct, overHTTP := call(tn), call(c)
		d, ok1 := errs.As(direct)
		h, ok2 := errs.As(overHTTP)
		if !ok1 || !ok2 {
			t.Errorf("%s: direct %v, over HTTP %v: want coded errors", name, direct, overHTTP)
			continue
		}
		if d.Code != h.Code || d.Cause != h.Cause || d.Action != h.Action || d.Field != h.Field {
			t.Errorf("%s: direct %+v, over HTTP %+v", name, *d, *h)
		}
	}
	if _, err := tn.EnsureFolder(ctx, empty.ID, platform.Folder{Name: "x", Kind: "video"}); err == nil {
		t.Fatal("bad kind accepted")
	} else if e, _ := errs.As(err); e.Field != "kind" {
		t.Errorf("bad kind names field %q, want kind", e.Field)
	}
	if _, err := (&Client{base: "http://127.0.0.1:1", tenant: "x", token: "t", hc: srv.Client()}).ListMailboxes(ctx); !errs.Is(err, errs.Unavailable) {
		t.Errorf("unreachable sandbox: err = %v, want %s", err, errs.Unavailable)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	store, srv := serve(t)
	tn := store.AddTenant("open", "open.test")
	full := func() platform.Credentials {
		return platform.Credentials{
			Platform: platform.Memory,
			Fields:   map[string]string{"endpoint": srv.URL, "tenant": "open"},
			Secrets:  map[string]string{"token": tn.Token()},
		}
	}
	c, err := Open(full())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateMailbox(context.Background(), platform.Mailbox{PrimaryAddress: "a@open.test"}); err != nil {
		t.Fatal(err)
	}
	if tn.Count("nope") != 0 {
		t.Error("Count of an unknown mailbox is not 0")
	}
	for field, mutate := range map[string]func(*platform.Credentials){
		"endpoint": func(c *platform.Credentials) { delete(c.Fields, "endpoint") },
		"tenant":   func(c *platform.Credentials) { c.Fields["tenant"] = " " },
		"token":    func(c *platform.Credentials) { c.Secrets = nil },
		"platform": func(c *platform.Credentials) { c.Platform = platform.Google },
	} {
		creds := full()
		mutate(&creds)
		_, err := Open(creds)
		e, ok := errs.As(err)
		if !ok || e.Code != errs.Invalid || e.Field != field {
			t.Errorf("without %s: err = %v, want %s naming %q", field, err, errs.Invalid, field)
		}
	}
	creds := full()
	creds.Fields["endpoint"] = "not a url"
	if _, err := Open(creds); !errs.Is(err, errs.Invalid) {
		t.Errorf("bad endpoint: err = %v", err)
	}
}

// TestDeltaChangesAndDeletes covers what the contract suite cannot drive
// through the interface: edits and deletions at the source.
func TestDeltaChangesAndDeletes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, srv := serve(t)
	tn, seeded, _ := newTenant(store)
	c := NewClient(srv.URL, tn.Name(), tn.Token(), srv.Client())
	inbox, _ := tn.FolderByRole(seeded.ID, platform.RoleInbox)
	full := collect(t, c, seeded.ID, inbox.ID, "")
	if len(full.refs) < 3 {
		t.Fatalf("seeded inbox has %d items, want at least 3", len(full.refs))
	}
	edited, gone := full.refs[0], full.refs[1]
	newRef, err := tn.ChangeItem(ctx, seeded.ID, edited.ID, platformtest.Message("edited", 100))
	if err != nil {
		t.Fatal(err)
	}
	if newRef.ID != edited.ID || newRef.ChangeKey == edited.ChangeKey {
		t.Errorf("change: id %s->%s, change key %s->%s; want same id, new key", edited.ID, newRef.ID, edited.ChangeKey, newRef.ChangeKey)
	}
	if err := tn.RemoveItem(ctx, seeded.ID, gone.ID); err != nil {
		t.Fatal(err)
	}
	d := collect(t, c, seeded.ID, inbox.ID, full.delta)
	if len(d.refs) != 2 {
		t.Fatalf("delta after one change and one delete: %+v", d.refs)
	}
	byID := map[string]platform.ItemRef{}
	for _, r := range d.refs {
		byID[r.ID] = r
	}
	if r := byID[edited.ID]; r.Deleted || r.ChangeKey != newRef.ChangeKey || r.Size != newRef.Size {
		t.Errorf("changed item in delta: %+v, want %+v", r, newRef)
	}
	if r := byID[gone.ID]; !r.Deleted {
		t.Errorf("deleted item in delta: %+v, want Deleted", r)
	}
	again := collect(t, c, seeded.ID, inbox.ID, "")
	if len(again.refs) != len(full.refs)-1 {
		t.Errorf("full enumeration after delete: %d items, want %d", len(again.refs), len(full.refs)-1)
	}
	if _, err := c.ReadItem(ctx, seeded.ID, gone); !errs.Is(err, errs.NotFound) {
		t.Errorf("reading a deleted item: %v", err)
	}
	other, _ := tn.FolderByRole(seeded.ID, platform.RoleSent)
	if _, err := c.Items(ctx, seeded.ID, other.ID, full.delta); !errs.Is(err, errs.Invalid) {
		t.Errorf("token of another folder: err = %v, want %s", err, errs.Invalid)
	}
}

type enumeration struct {
	refs  []platform.ItemRef
	delta string
}

func collect(t *testing.T, c platform.Source, mb, folder, token string) enumeration {
	t.Helper()
	var e enumeration
	for {
		p, err := c.Items(context.Background(), mb, folder, token)
		if err != nil {
			t.Fatal(err)
		}
		e.refs = append(e.refs, p.Items...)
		if p.DeltaToken != "" {
			e.delta = p.DeltaToken
			return e
		}
		token = p.NextToken
	}
}

// TestEnumerationIsASnapshot shows that items arriving during a full
// enumeration are not half-seen: they come with the next delta instead.
func TestEnumerationIsASnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tn, seeded, _ := newTenant(NewStore())
	inbox, _ := tn.FolderByRole(seeded.ID, platform.RoleInbox)
	first, err := tn.Items(ctx, seeded.ID, inbox.ID, "")
	if err != nil || first.NextToken == "" {
		t.Fatalf("first page: %v, next %q", err, first.NextToken)
	}
	added, err := tn.AddItem(ctx, seeded.ID, inbox.ID, platformtest.Message("during", 0))
	if err != nil {
		t.Fatal(err)
	}
	rest := collect(t, tn, seeded.ID, inbox.ID, first.NextToken)
	for _, r := range append(first.Items, rest.refs...) {
		if r.ID == added.ID {
			t.Fatal("item added during the enumeration was listed by it")
		}
	}
	d := collect(t, tn, seeded.ID, inbox.ID, rest.delta)
	if len(d.refs) != 1 || d.refs[0].ID != added.ID {
		t.Errorf("delta after the enumeration: %+v, want %s", d.refs, added.ID)
	}
}

func digest(t *testing.T, tn *Tenant) (string, int) {
	t.Helper()
	ctx := context.Background()
	h := sha256.New()
	n := 0
	mbs, err := tn.ListMailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range mbs {
		fmt.Fprintf(h, "mailbox %s %s %v\n", mb.PrimaryAddress, mb.DisplayName, mb.Aliases)
		folders, _ := tn.Folders(ctx, mb.ID)
		for _, f := range folders {
			fmt.Fprintf(h, "folder %s %s\n", f.Name, f.Role)
			for _, r := range collect(t, tn, mb.ID, f.ID, "").refs {
				it, err := tn.ReadItem(ctx, mb.ID, r)
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(it.Content)) != r.Size {
					t.Fatalf("item %s: size %d, content %d bytes", r.ID, r.Size, len(it.Content))
				}
				fmt.Fprintf(h, "item %s %d %v %v %v %v\n", r.Kind, r.Size, it.Received, it.Read, it.Flagged, it.Categories)
				h.Write(it.Content)
				n++
			}
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil)), n
}

func TestSeedDeterministic(t *testing.T) {
	t.Parallel()
	spec := SeedSpec{Mailboxes: 5, ItemsPerMailbox: 40, Seed: 2026}
	a := NewStore().AddTenant("a", "fabrikam.test")
	b := NewStore().AddTenant("b", "fabrikam.test")
	c := NewStore().AddTenant("c", "fabrikam.test")
	Seed(a, spec)
	Seed(b, spec)
	spec.Seed++
	Seed(c, spec)
	da, na := digest(t, a)
	db, _ := digest(t, b)
	dc, _ := digest(t, c)
	if na != 200 {
		t.Errorf("seeded %d items, want 200", na)
	}
	if da != db {
		t.Error("the same seed gave different data")
	}
	if da == dc {
		t.Error("different seeds gave the same data")
	}
	// Seeding again must not duplicate anything.
	spec.Seed--
	Seed(a, spec)
	if again, _ := digest(t, a); again != da {
		t.Error("seeding twice changed the tenant")
	}
}

func TestSeedContent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tn := NewStore().AddTenant("content", "northwind.test")
	mbs := Seed(tn, SeedSpec{Mailboxes: 3, ItemsPerMailbox: 100, Seed: 9, FirstIndex: 41})
	if mbs[0].PrimaryAddress != "user0041@northwind.test" || len(mbs[0].Aliases) != 1 || mbs[0].DisplayName == "" {
		t.Errorf("first mailbox %+v", mbs[0])
	}
	if got, ok := tn.MailboxByAddress(mbs[1].Aliases[0]); !ok || got.ID != mbs[1].ID {
		t.Errorf("alias lookup: %+v %v", got, ok)
	}
	var found struct {
		encodedSubject, mixed, alternative, attachment, nonASCIIFile bool
		rrule, exdate, tzid, partstat, exception                     bool
		multiEmail, multiTel, multiAdr                               bool
	}
	nested := false
	for _, mb := range mbs {
		st, err := tn.Stats(ctx, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mail != 80 || st.Events != 10 || st.Contacts != 10 {
			t.Errorf("mailbox %s stats %+v, want 80/10/10", mb.PrimaryAddress, st)
		}
		folders, _ := tn.Folders(ctx, mb.ID)
		byID := map[string]platform.Folder{}
		for _, f := range folders {
			byID[f.ID] = f
		}
		for _, f := range folders {
			if p, ok := byID[f.ParentID]; ok && p.ParentID != "" {
				nested = true
			}
			for _, r := range collect(t, tn, mb.ID, f.ID, "").refs {
				it, err := tn.ReadItem(ctx, mb.ID, r)
				if err != nil {
					t.Fatal(err)
				}
				if err := platformtest.CheckContent(r.Kind, it); err != nil {
					t.Fatalf("item %s: %v\n%s", r.ID, err, it.Content)
				}
				s := string(it.Content)
				switch r.Kind {
				case platform.Mail:
					m, _ := mail.ReadMessage(bytes.NewReader(it.Content))
					subj := m.Header.Get("Subject")
					if strings.HasPrefix(subj, "=?utf-8?") {
						found.encodedSubject = true
						if _, err := new(mime.WordDecoder).DecodeHeader(subj); err != nil {
							t.Errorf("subject %q: %v", subj, err)
						}
					}
					if it.Received.IsZero() {
						t.Errorf("mail %s without Received", r.ID)
					}
					walk(t, m.Header.Get("Content-Type"), m.Body, func(ctype string, h map[string][]string, body []byte) {
						mt, _, _ := mime.ParseMediaType(ctype)
						found.mixed = found.mixed || mt == "multipart/mixed"
						found.alternative = found.alternative || mt == "multipart/alternative"
						if cd := first(h, "Content-Disposition"); cd != "" {
							_, params, err := mime.ParseMediaType(cd)
							if err != nil || params["filename"] == "" {
								t.Errorf("Content-Disposition %q: %v", cd, err)
							}
							found.nonASCIIFile = found.nonASCIIFile || strings.Contains(params["filename"], "ü")
							if first(h, "Content-Transfer-Encoding") == "base64" {
								if _, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(body))); err != nil {
									t.Errorf("attachment does not decode: %v", err)
								}
								found.attachment = true
							}
						}
					})
				case platform.Event:
					found.rrule = found.rrule || strings.Contains(s, "\r\nRRULE:FREQ=WEEKLY")
					found.exdate = found.exdate || strings.Contains(s, "\r\nEXDATE;TZID=")
					found.tzid = found.tzid || (strings.Contains(s, "DTSTART;TZID=") && strings.Contains(s, "BEGIN:VTIMEZONE"))
					found.partstat = found.partstat || strings.Contains(s, "PARTSTAT=ACCEPTED")
					found.exception = found.exception || strings.Contains(s, "RECURRENCE-ID;TZID=")
					for _, line := range strings.Split(s, "\r\n") {
						if len(line) > 75 {
							t.Errorf("unfolded iCalendar line of %d octets: %q", len(line), line)
						}
					}
				case platform.Contact:
					if !strings.Contains(s, "VERSION:4.0\r\n") {
						t.Errorf("contact is not vCard 4.0")
					}
					found.multiEmail = found.multiEmail || strings.Count(s, "\r\nEMAIL") >= 2
					found.multiTel = found.multiTel || strings.Count(s, "\r\nTEL") >= 2
					found.multiAdr = found.multiAdr || strings.Count(s, "\r\nADR") >= 2
				}
			}
		}
	}
	if !nested {
		t.Error("no folder is nested two levels deep")
	}
	if fmt.Sprintf("%+v", found) != fmt.Sprintf("%+v", struct {
		encodedSubject, mixed, alternative, attachment, nonASCIIFile bool
		rrule, exdate, tzid, partstat, exception                     bool
		multiEmail, multiTel, multiAdr                               bool
	}{true, true, true, true, true, true, true, true, true, true, true, true, true}) {
		t.Errorf("seeded data lacks features: %+v", found)
	}
}

func first(h map[string][]string, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func walk(t *testing.T, ctype string, body io.Reader, visit func(string, map[string][]string, []byte)) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", ctype, err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return
	}
	visit(ctype, nil, nil)
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(p)
		visit(p.Header.Get("Content-Type"), p.Header, raw)
		walk(t, p.Header.Get("Content-Type"), bytes.NewReader(raw), visit)
	}
}

// TestSeedLarge seeds the population the demo uses; its speed is measured by
// BenchmarkSeed, here only the result is checked.
func TestSeedLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 100,000 items")
	}
	t.Parallel()
	tn := NewStore().AddTenant("large", "large.test")
	mbs := Seed(tn, SeedSpec{Mailboxes: 1000, ItemsPerMailbox: 100, Seed: 1})
	if len(mbs) != 1000 || mbs[999].PrimaryAddress != "user1000@large.test" {
		t.Fatalf("%d mailboxes, last %+v", len(mbs), mbs[len(mbs)-1])
	}
	total := 0
	for _, mb := range mbs {
		total += tn.Count(mb.ID)
	}
	if total != 100000 {
		t.Errorf("%d items, want 100000", total)
	}
}

func BenchmarkSeed1000x100(b *testing.B) {
	for b.Loop() {
		Seed(NewStore().AddTenant("bench", "bench.test"), SeedSpec{Mailboxes: 1000, ItemsPerMailbox: 100, Seed: 1})
	}
}

func BenchmarkReadSeededItem(b *testing.B) {
	tn := NewStore().AddTenant("bench", "bench.test")
	mb := Seed(tn, SeedSpec{Mailboxes: 1, ItemsPerMailbox: 100, Seed: 1})[0]
	inbox, _ := tn.FolderByRole(mb.ID, platform.RoleInbox)
	p, _ := tn.Items(context.Background(), mb.ID, inbox.ID, "")
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		it, err := tn.ReadItem(context.Background(), mb.ID, p.Items[i%len(p.Items)])
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(it.Content)))
	}
}

// TestConcurrentIdempotentWrites races writers that share markers, as
// redelivered commands and restarted workers do, with readers enumerating the
// same folder. Every marker must be stored exactly once.
func TestConcurrentIdempotentWrites(t *testing.T) {
	t.Parallel()
	store, srv := serve(t)
	tn, seeded, empty := newTenant(store)
	tn.SetPageSize(5)
	client := NewClient(srv.URL, tn.Name(), tn.Token(), srv.Client())
	inbox, _ := tn.FolderByRole(empty.ID, platform.RoleInbox)
	const markers, writers = 40, 8
	ctx := context.Background()
	var ids sync.Map
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		var conn platform.Connector = tn
		if w%2 == 1 {
			conn = client
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < markers; i++ {
				m := fmt.Sprintf("marker-%02d", (i+w*7)%markers)
				id, err := conn.WriteItem(ctx, empty.ID, inbox.ID, platformtest.Message(m, 512), m)
				if err != nil {
					t.Error(err)
					return
				}
				if prev, loaded := ids.LoadOrStore(m, id); loaded && prev != id {
					t.Errorf("marker %s stored as %s and %s", m, prev, id)
				}
			}
		}()
	}
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				e := collect(t, client, empty.ID, inbox.ID, "")
				for _, ref := range e.refs {
					if _, err := tn.ReadItem(ctx, empty.ID, ref); err != nil {
						t.Error(err)
					}
				}
				if _, err := client.Stats(ctx, seeded.ID); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	written := tn.WrittenMarkers(empty.ID)
	if len(written) != markers || tn.Count(empty.ID) != markers {
		t.Errorf("%d markers written, %d items stored; want %d of each", len(written), tn.Count(empty.ID), markers)
	}
	for m, n := range written {
		if n != 1 {
			t.Errorf("marker %s written %d times", m, n)
		}
	}
}

// TestWriteDelayCancelled shows that a write interrupted during its upload
// leaves nothing behind, which resume after a killed worker relies on.
func TestWriteDelayCancelled(t *testing.T) {
	t.Parallel()
	tn, _, empty := newTenant(NewStore())
	inbox, _ := tn.FolderByRole(empty.ID, platform.RoleInbox)
	tn.SetFaults(Faults{WriteDelay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := tn.WriteItem(ctx, empty.ID, inbox.ID, platformtest.Message("slow", 0), "slow")
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write: err = %v", err)
	}
	if tn.Count(empty.ID) != 0 || len(tn.WrittenMarkers(empty.ID)) != 0 {
		t.Error("a cancelled write stored an item")
	}
}

func TestCreateMailboxIdempotent(t *testing.T) {
	t.Parallel()
	store, srv := serve(t)
	tn := store.AddTenant("prov", "prov.test")
	c := NewClient(srv.URL, "prov", tn.Token(), nil)
	ctx := context.Background()
	a, err := c.CreateMailbox(ctx, platform.Mailbox{PrimaryAddress: "new@prov.test", DisplayName: "New"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateMailbox(ctx, platform.Mailbox{PrimaryAddress: "NEW@prov.test"})
	if err != nil || b.ID != a.ID {
		t.Fatalf("second create: %+v, %v; want id %s", b, err, a.ID)
	}
	if f, ok := tn.FolderByRole(a.ID, platform.RoleContacts); !ok || f.Kind != platform.Contact {
		t.Errorf("created mailbox lacks a contacts folder: %+v", f)
	}
	mbs, _ := c.ListMailboxes(ctx)
	if len(mbs) != 1 {
		t.Errorf("%d mailboxes listed, want 1", len(mbs))
	}
	if l := c.Limits(); l.MaxItemBytes != DefaultMaxItemBytes {
		t.Errorf("default limit over HTTP: %d", l.MaxItemBytes)
	}
}

// TestMoveShowsInBothDeltas: a moved item keeps its id, leaves a deletion
// in the delta of the folder it left and appears, with a new change key, in
// the delta of the folder it entered.
func TestMoveShowsInBothDeltas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tn, seeded, _ := newTenant(NewStore())
	inbox, _ := tn.FolderByRole(seeded.ID, platform.RoleInbox)
	archive, _ := tn.FolderByRole(seeded.ID, platform.RoleArchive)
	calendar, _ := tn.FolderByRole(seeded.ID, platform.RoleCalendar)
	from, to := collect(t, tn, seeded.ID, inbox.ID, ""), collect(t, tn, seeded.ID, archive.ID, "")
	moved := from.refs[0]
	ref, err := tn.MoveItem(ctx, seeded.ID, moved.ID, archive.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ref.ID != moved.ID || ref.FolderID != archive.ID || ref.ChangeKey == moved.ChangeKey {
		t.Fatalf("moved ref %+v from %+v: want the same id in %s with a new change key", ref, moved, archive.ID)
	}
	if d := collect(t, tn, seeded.ID, inbox.ID, from.delta); len(d.refs) != 1 || d.refs[0].ID != moved.ID || !d.refs[0].Deleted {
		t.Errorf("delta of the folder left: %+v, want %s deleted", d.refs, moved.ID)
	}
	if d := collect(t, tn, seeded.ID, archive.ID, to.delta); len(d.refs) != 1 || d.refs[0] != ref {
		t.Errorf("delta of the folder entered: %+v, want %+v", d.refs, ref)
	}
	if _, err := tn.MoveItem(ctx, seeded.ID, moved.ID, calendar.ID); !errs.Is(err, errs.Invalid) {
		t.Errorf("moving mail into a calendar: err = %v, want %s", err, errs.Invalid)
	}
	if it, err := tn.ReadItem(ctx, seeded.ID, ref); err != nil || it.Ref.FolderID != archive.ID {
		t.Errorf("reading the moved item: %+v, %v", it.Ref, err)
	}
}

// TestWarningCrossesHTTP: a write stored with a warning (WarnOn) returns
// the copy's id and the coded warning, in process and through the HTTP
// client alike, and a retry finds the copy and warns again.
func TestWarningCrossesHTTP(t *testing.T) {
	t.Parallel()
	store, srv := serve(t)
	tn, _, empty := newTenant(store)
	tn.SetFaults(Faults{WarnOn: "Unheld-Field"})
	ctx := context.Background()
	inbox, _ := tn.FolderByRole(empty.ID, platform.RoleInbox)
	for name, c := range map[string]platform.Connector{"tenant": tn, "http": NewClient(srv.URL, tn.Name(), tn.Token(), srv.Client())} {
		msg := platformtest.Message("carries Unheld-Field", 0)
		id, err := c.WriteItem(ctx, empty.ID, inbox.ID, msg, "m-warn-"+name)
		if id == "" || !platform.IsWarning(err) || !strings.Contains(err.Error(), "Unheld-Field") {
			t.Fatalf("%s: WriteItem = %q, %v; want the id with a %s warning", name, id, err, platform.CopiedWithWarnings)
		}
		if again, err := c.WriteItem(ctx, empty.ID, inbox.ID, msg, "m-warn-"+name); again != id || !platform.IsWarning(err) {
			t.Errorf("%s: retried write = %q, %v; want %q with the warning", name, again, err, id)
		}
		if found, err := c.FindByMarker(ctx, empty.ID, "m-warn-"+name); err != nil || len(found) != 1 || found[0].ID != id {
			t.Errorf("%s: FindByMarker = %+v, %v", name, found, err)
		}
		if id, err := c.WriteItem(ctx, empty.ID, inbox.ID, platformtest.Message("plain", 0), "m-plain-"+name); id == "" || err != nil {
			t.Errorf("%s: a write without the field = %q, %v", name, id, err)
		}
	}
}
