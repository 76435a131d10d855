package google

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"slices"
	"strings"

	"golang.org/x/oauth2"
	admin "google.golang.org/api/admin/directory/v1"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

func dirOp(what string) op { return op{what: what, scope: ScopeDirectory} }

// ListMailboxes lists the Workspace's active users (as the administrator)
// with their aliases. A mailbox's id is its primary address: the Gmail,
// Calendar and People APIs impersonate by address.
func (c *Connector) ListMailboxes(ctx context.Context) ([]platform.Mailbox, error) {
	svc, err := c.directory()
	if err != nil {
		return nil, err
	}
	var out []platform.Mailbox
	err = svc.Users.List().Customer("my_customer").MaxResults(500).OrderBy("email").
		Fields("users(primaryEmail,name/fullName,aliases,suspended,archived),nextPageToken").
		Pages(ctx, func(resp *admin.Users) error {
			for _, u := range resp.Users {
				if u.Suspended || u.Archived {
					continue
				}
				m := platform.Mailbox{ID: strings.ToLower(u.PrimaryEmail), PrimaryAddress: u.PrimaryEmail}
				if u.Name != nil {
					m.DisplayName = u.Name.FullName
				}
				m.Aliases = append(m.Aliases, u.Aliases...)
				out = append(out, m)
			}
			return nil
		})
	if err != nil {
		return nil, c.fail(dirOp("the Workspace's users"), err)
	}
	return out, nil
}

// CreateMailbox creates a Workspace user for a mailbox flagged for
// automatic creation: the address and name given, a random password the
// user must change, and Gmail set up by Google within minutes (until
// then Gmail answers "Mail service not enabled", errs.MailboxMissing).
func (c *Connector) CreateMailbox(ctx context.Context, m platform.Mailbox) (platform.Mailbox, error) {
	addr := strings.ToLower(strings.TrimSpace(m.PrimaryAddress))
	if !strings.Contains(addr, "@") {
		return platform.Mailbox{}, errs.Field("primaryAddress", "is not an e-mail address")
	}
	svc, err := c.directory()
	if err != nil {
		return platform.Mailbox{}, err
	}
	given, family := splitName(m.DisplayName, addr)
	pw := make([]byte, 24)
	_, _ = rand.Read(pw)
	u := &admin.User{
		PrimaryEmail:              addr,
		Name:                      &admin.UserName{GivenName: given, FamilyName: family},
		Password:                  base64.RawURLEncoding.EncodeToString(pw),
		ChangePasswordAtNextLogin: true,
	}
	created, err := svc.Users.Insert(u).Context(ctx).Do()
	if err != nil {
		ferr := c.fail(dirOp("user "+addr), err)
		switch {
		case errs.Is(ferr, errs.Conflict):
			// Created meanwhile, or by a retried request: use it.
			got, gerr := svc.Users.Get(addr).Context(ctx).Do()
			if gerr != nil {
				return platform.Mailbox{}, c.fail(dirOp("user "+addr), gerr)
			}
			created = got
		case errs.Is(ferr, errs.Invalid):
			e, _ := errs.As(ferr)
			return platform.Mailbox{}, errs.Wrap(errs.Invalid, ferr, "Google refused to create "+addr+": "+e.Cause,
				"check that the address is in one of the Workspace's domains and that a licence is free")
		default:
			return platform.Mailbox{}, ferr
		}
	}
	out := platform.Mailbox{ID: strings.ToLower(created.PrimaryEmail), PrimaryAddress: created.PrimaryEmail, Aliases: created.Aliases}
	if created.Name != nil {
		out.DisplayName = created.Name.FullName
	}
	if out.DisplayName == "" {
		out.DisplayName = strings.TrimSpace(given + " " + family)
	}
	return out, nil
}

// splitName splits a display name into the given and family names the
// Directory API requires, falling back on the address's local part.
func splitName(display, addr string) (string, string) {
	f := strings.Fields(display)
	switch len(f) {
	case 0:
		local, _, _ := strings.Cut(addr, "@")
		return local, local
	case 1:
		return f[0], f[0]
	}
	return f[0], strings.Join(f[1:], " ")
}

// Verify checks the key and the delegation before any run, in the order
// an administrator fixes them, and returns the first problem as its own
// coded error naming what to change in the Admin console:
// google_key_malformed (checked when opening), google_key_rejected,
// google_delegation_missing (no scope delegated to the key's client id,
// which is also what a key of another project's service account gets),
// google_scope_missing (some scopes missing; Verification.Missing lists
// them), google_user_not_found (the administrator to impersonate does not
// exist) and google_admin_required (they are not an administrator).
// Each scope is asked for on its own, as the administrator, so that the
// answer names exactly what is missing.
func (c *Connector) Verify(ctx context.Context) (platform.Verification, error) {
	res := platform.Verification{Granted: []string{}, Missing: []string{}}
	var firstOther error
	for _, sc := range RequiredScopes {
		_, err := c.tokenSource(c.cfg.AdminEmail, sc).Token()
		if err == nil {
			res.Granted = append(res.Granted, sc)
			continue
		}
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			return res, errs.Wrap(errs.Unavailable, err, "Google's token endpoint could not be reached", "check the network, then verify again")
		}
		cerr := c.tokenError(re, c.cfg.AdminEmail, sc)
		if !errs.Is(cerr, CodeDelegationMissing) {
			if firstOther == nil {
				firstOther = cerr
			}
			continue
		}
		res.Missing = append(res.Missing, sc)
	}
	switch {
	case len(res.Missing) == len(RequiredScopes):
		return res, errs.New(CodeDelegationMissing,
			"the service account "+c.key.ClientEmail+" (client id "+c.key.ClientID+", project "+c.key.ProjectID+") holds no domain-wide delegation in this Workspace",
			"in the "+delegationPlace+" choose Add new, enter client id "+c.key.ClientID+" and exactly these OAuth scopes: "+scopeList()+
				"; if that client id is already listed, the key belongs to another project's service account: upload the key of the delegated one")
	case len(res.Missing) > 0:
		return res, errs.New(CodeScopeMissing,
			"domain-wide delegation for client id "+c.key.ClientID+" lacks "+strings.Join(res.Missing, ", "),
			"in the "+delegationPlace+" edit client id "+c.key.ClientID+" so that its OAuth scopes are exactly: "+scopeList())
	case firstOther != nil:
		return res, firstOther
	}
	// Delegation works; the Directory API must also accept the
	// administrator.
	svc, err := c.directory()
	if err != nil {
		return res, err
	}
	if _, err := svc.Users.List().Customer("my_customer").MaxResults(1).Fields("users(primaryEmail)").Context(ctx).Do(); err != nil {
		return res, c.fail(dirOp("the Workspace's users"), err)
	}
	slices.Sort(res.Granted)
	return res, nil
}

// privateKeyParses reports whether a PEM holds an RSA private key in
// PKCS #8 or PKCS #1, as the JWT flow needs.
func privateKeyParses(p []byte) bool {
	block, _ := pem.Decode(p)
	if block == nil {
		return false
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		_, ok := k.(*rsa.PrivateKey)
		return ok
	}
	_, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	return err == nil
}
