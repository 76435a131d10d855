package m365

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// CreateMailbox creates a user with a mailbox licence for a destination
// mailbox flagged for creation. It is idempotent by address, because
// provisioning commands arrive at least once: an existing user with the
// address is returned as it is.
func (c *Connector) CreateMailbox(ctx context.Context, m platform.Mailbox) (platform.Mailbox, error) {
	addr := strings.TrimSpace(m.PrimaryAddress)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return platform.Mailbox{}, errs.Field("primaryAddress", "must be an email address")
	}
	g := graphError{what: "user " + addr, perm: permUsers}
	existing, err := c.client.Users().ByUserId(addr).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{
			Select: []string{"id", "mail", "userPrincipalName", "proxyAddresses", "displayName"},
		},
	})
	if err == nil {
		return mailboxOf(existing), nil
	}
	if ferr := g.fail(err); !errs.Is(ferr, errs.NotFound) {
		return platform.Mailbox{}, ferr
	}
	// The licence is chosen before the user exists, so that "no free
	// licence" leaves nothing half-made behind.
	sku, err := c.freeMailboxSKU(ctx)
	if err != nil {
		return platform.Mailbox{}, err
	}
	country := c.cfg.UsageLocation
	if country == "" {
		if country, err = c.countryCode(ctx); err != nil {
			return platform.Mailbox{}, err
		}
	}
	u := models.NewUser()
	u.SetAccountEnabled(ptr(true))
	name := m.DisplayName
	if name == "" {
		name = addr[:at]
	}
	u.SetDisplayName(ptr(name))
	u.SetMailNickname(ptr(nickname(addr[:at])))
	u.SetUserPrincipalName(ptr(addr))
	// A licence can be assigned only to a user with a usage location.
	u.SetUsageLocation(ptr(country))
	pw := models.NewPasswordProfile()
	pw.SetForceChangePasswordNextSignIn(ptr(true))
	pw.SetPassword(ptr(randomPassword()))
	u.SetPasswordProfile(pw)
	created, err := c.client.Users().Post(ctx, u, nil)
	if err != nil {
		var od *odataerrors.ODataError
		if errors.As(err, &od) && od.ResponseStatusCode == 400 && od.GetErrorEscaped() != nil {
			msg := strings.ToLower(str(od.GetErrorEscaped().GetMessage()))
			switch {
			case strings.Contains(msg, "already exists"):
				return platform.Mailbox{}, errs.Wrap(errs.Conflict, err,
					fmt.Sprintf("the address %s is already used by another user, group or contact in the tenant", addr),
					"pick another address in the mapping, or map the mailbox to the existing one")
			case strings.Contains(msg, "domain"):
				return platform.Mailbox{}, &errs.Error{Code: errs.Invalid, Field: "primaryAddress", Err: err,
					Cause:  fmt.Sprintf("%s is not a verified domain of the Microsoft 365 tenant", addr[at+1:]),
					Action: "add and verify the domain in the Microsoft 365 admin center, or map the mailbox to an address in a verified domain"}
			}
		}
		return platform.Mailbox{}, g.fail(err)
	}
	lic := models.NewAssignedLicense()
	lic.SetSkuId(sku.id)
	body := users.NewItemAssignLicensePostRequestBody()
	body.SetAddLicenses([]models.AssignedLicenseable{lic})
	body.SetRemoveLicenses([]uuid.UUID{})
	if _, err := c.client.Users().ByUserId(str(created.GetId())).AssignLicense().Post(ctx, body, nil); err != nil {
		ferr := g.fail(err)
		if e, ok := errs.As(ferr); ok {
			e.Cause = fmt.Sprintf("the user %s was created but the licence %s could not be assigned: %s", addr, sku.name, e.Cause)
		}
		return platform.Mailbox{}, ferr
	}
	out := mailboxOf(created)
	if out.PrimaryAddress == "" {
		out.PrimaryAddress = addr
	}
	return out, nil
}

type skuChoice struct {
	id   *uuid.UUID
	name string
}

// freeMailboxSKU picks a subscribed SKU that includes Exchange Online and
// has an enabled unit not yet consumed.
func (c *Connector) freeMailboxSKU(ctx context.Context) (skuChoice, error) {
	resp, err := c.client.SubscribedSkus().Get(ctx, nil)
	if err != nil {
		return skuChoice{}, graphError{what: "the tenant's licences", perm: permOrg}.fail(err)
	}
	var seen []string
	for _, s := range resp.GetValue() {
		if s.GetSkuId() == nil || !strings.EqualFold(str(s.GetCapabilityStatus()), "Enabled") && s.GetCapabilityStatus() != nil {
			continue
		}
		exchange := false
		for _, sp := range s.GetServicePlans() {
			if strings.HasPrefix(strings.ToUpper(str(sp.GetServicePlanName())), "EXCHANGE_S_") {
				exchange = true
			}
		}
		if !exchange {
			continue
		}
		var enabled, consumed int32
		if pu := s.GetPrepaidUnits(); pu != nil && pu.GetEnabled() != nil {
			enabled = *pu.GetEnabled()
		}
		if s.GetConsumedUnits() != nil {
			consumed = *s.GetConsumedUnits()
		}
		seen = append(seen, fmt.Sprintf("%s (%d of %d used)", str(s.GetSkuPartNumber()), consumed, enabled))
		if enabled > consumed {
			return skuChoice{id: s.GetSkuId(), name: str(s.GetSkuPartNumber())}, nil
		}
	}
	cause := "the tenant has no licence with an Exchange Online mailbox"
	if len(seen) > 0 {
		cause = "every licence with an Exchange Online mailbox is in use: " + strings.Join(seen, ", ")
	}
	return skuChoice{}, errs.New(CodeNoFreeLicense, cause,
		"buy more licences (or free some) in the Microsoft 365 admin center, then run the provisioning again")
}

// countryCode is the tenant's country, the usage location given to users
// mailferry creates.
func (c *Connector) countryCode(ctx context.Context) (string, error) {
	resp, err := c.client.Organization().Get(ctx, nil)
	if err != nil {
		return "", graphError{what: "the tenant's organisation", perm: permOrg}.fail(err)
	}
	for _, o := range resp.GetValue() {
		if cc := str(o.GetCountryLetterCode()); cc != "" {
			return cc, nil
		}
	}
	return "US", nil
}

func nickname(local string) string {
	var b strings.Builder
	for _, r := range local {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r)) {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "user"
	}
	return b.String()
}

// randomPassword is a throwaway initial password the user must change; it
// is never stored, logged or returned.
func randomPassword() string {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("m365: no randomness: " + err.Error())
	}
	return "Mf1!" + base64.RawURLEncoding.EncodeToString(b[:])
}
