package google_test

import (
	"testing"
	"time"

	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/gmail/v1"

	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

func TestDirectoryListsTheDomainPageByPage(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	seeded := sb.Seed(sandbox.SeedSpec{Users: 7, Seed: 3})
	dir := directoryFor(t, sb, "admin@acme.example")
	var got []string
	pages := 0
	err := dir.Users.List().Domain("acme.example").MaxResults(3).OrderBy("email").Pages(t.Context(), func(p *admin.Users) error {
		pages++
		for _, u := range p.Users {
			got = append(got, u.PrimaryEmail)
			if u.Id == "" || u.Name == nil || u.Name.FullName == "" || u.CustomerId != sb.CustomerID() || !u.IsMailboxSetup {
				t.Errorf("user %+v", u)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages != 3 || len(got) != 8 { // 7 users and the administrator
		t.Fatalf("%d pages, users %v", pages, got)
	}
	for i := 1; i < len(got); i++ {
		if got[i-1] >= got[i] {
			t.Fatalf("not ordered by email: %v", got)
		}
	}
	u, err := dir.Users.Get(seeded[2]).Do()
	if err != nil || u.PrimaryEmail != seeded[2] || len(u.Aliases) != 1 {
		t.Fatalf("get: %+v %v", u, err)
	}
	byID, err := dir.Users.Get(u.Id).Do()
	if err != nil || byID.PrimaryEmail != seeded[2] {
		t.Fatalf("get by id: %v", err)
	}
	_, err = dir.Users.Get("nobody@acme.example").Do()
	if ge := apiErr(t, err); ge.Code != 404 || ge.Message != "Resource Not Found: userKey" {
		t.Fatalf("missing user: %d %q", ge.Code, ge.Message)
	}
	// Customer-wide listing and a query.
	res, err := dir.Users.List().Customer("my_customer").Query("email:" + seeded[0]).Do()
	if err != nil || len(res.Users) != 1 || res.Users[0].PrimaryEmail != seeded[0] {
		t.Fatalf("query: %v %+v", err, res)
	}
	_, err = dir.Users.List().Do()
	if ge := apiErr(t, err); ge.Code != 400 {
		t.Fatalf("neither customer nor domain: %d", ge.Code)
	}
}

func TestDirectoryAnswersOnlyAdministrators(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	users := sb.Seed(sandbox.SeedSpec{Users: 1, Seed: 3})
	_, err := directoryFor(t, sb, users[0]).Users.List().Customer("my_customer").Do()
	if ge := apiErr(t, err); ge.Code != 403 || ge.Message != "Not Authorized to access this resource/api" {
		t.Fatalf("non-admin: %d %q", ge.Code, ge.Message)
	}
	sb.Delegate(sb.ClientID(), admin.AdminDirectoryUserReadonlyScope)
	_, err = directoryFor(t, sb, "admin@acme.example", admin.AdminDirectoryUserReadonlyScope).Users.Insert(&admin.User{}).Do()
	if ge := apiErr(t, err); ge.Code != 403 || reason(ge) != "insufficientPermissions" {
		t.Fatalf("read-only insert: %d %s", ge.Code, reason(ge))
	}
}

func TestDirectoryInsertCreatesAMailbox(t *testing.T) {
	sb := start(t, sandbox.Config{Domain: "acme.example"})
	sb.Seed(sandbox.SeedSpec{Seed: 1})
	dir := directoryFor(t, sb, "admin@acme.example")
	in := &admin.User{PrimaryEmail: "new.hire@acme.example", Password: "s3cret-Passw0rd",
		Name: &admin.UserName{GivenName: "New", FamilyName: "Hire"}}
	sb.MailboxSetupDelay(time.Hour)
	u, err := dir.Users.Insert(in).Do()
	if err != nil || u.Id == "" || u.IsMailboxSetup {
		t.Fatalf("insert: %+v %v", u, err)
	}
	_, err = dir.Users.Insert(in).Do()
	if ge := apiErr(t, err); ge.Code != 409 || reason(ge) != "duplicate" {
		t.Fatalf("duplicate: %d %s", ge.Code, reason(ge))
	}
	_, err = dir.Users.Insert(&admin.User{PrimaryEmail: "x@other.example", Password: "s3cret-Passw0rd",
		Name: &admin.UserName{GivenName: "X", FamilyName: "Y"}}).Do()
	if ge := apiErr(t, err); ge.Code != 400 || ge.Message != "Domain not found." {
		t.Fatalf("foreign domain: %d %q", ge.Code, ge.Message)
	}
	// The mailbox is not ready until setup finishes.
	_, err = gmailFor(t, sb, "new.hire@acme.example", gmail.MailGoogleComScope).Users.GetProfile("me").Do()
	if ge := apiErr(t, err); ge.Code != 400 || reason(ge) != "failedPrecondition" {
		t.Fatalf("mailbox before setup: %d %s", ge.Code, reason(ge))
	}
}
