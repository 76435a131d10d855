package m365

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// GraphAppID is Microsoft Graph's application id, the resource of every
// permission below.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// Permission is a Microsoft Graph application permission (app role).
type Permission struct {
	Name string `json:"name"`
	// ID is the app role's GUID in Microsoft Graph's service principal.
	ID  string `json:"id"`
	Why string `json:"why"`
}

// Permissions are the application permissions mailferry needs, in the
// order the setup guide lists them.
var Permissions = []Permission{
	{permMail, "e2a3a72e-5f79-4c64-b1b1-878b674786c9", "read every mailbox's mail folders and messages and write migrated messages"},
	{permCal, "ef54d2bf-783f-4e0f-bca1-3210c0444d99", "read and write calendars and events"},
	{permCont, "6918b873-d17a-4dc1-b314-35f528134491", "read and write contact folders and contacts"},
	{permUsers, "741f803b-c850-494e-b5df-cde7c675a1ca", "list mailboxes and create missing destination users with a licence"},
	{permOrg, "498476ce-e0fe-48b0-b801-37ba7e2685c6", "read the tenant's subscribed licences (SKUs) to assign one to created users"},
}

// RequiredRoles are the names of Permissions, as they appear in a token's
// roles claim.
var RequiredRoles = func() []string {
	out := make([]string, len(Permissions))
	for i, p := range Permissions {
		out[i] = p.Name
	}
	return out
}()

// OptionalPermission is an application permission mailferry works
// without and uses when it is granted: Verify lists it as granted or as
// missing-optional, never as missing.
type OptionalPermission struct {
	Permission
	// Tenant says where it counts: "source", "destination", or both
	// ("source, destination").
	Tenant string `json:"tenant"`
	// Without says what happens when it is not granted.
	Without string `json:"without"`
}

// OptionalPermissions are the permissions of full fidelity between
// Exchange Online tenants (the mailbox import/export API, docs/m365.md),
// in the order the setup guide lists them. The app role ids of
// MailboxItem.Export.All and MailboxItem.ReadWrite.All are as third-party
// permission references republish them, not checked against a live
// tenant; the names are what Verify compares.
var OptionalPermissions = []OptionalPermission{
	{Permission: NativePermission, Tenant: "source, destination",
		Without: "items are copied as MIME, iCalendar and vCard: meetings arrive as the owner's appointments, attendees kept only in a hidden property (docs/m365.md)"},
	{Permission: Permission{permExport, "937550e9-33a3-494b-88ae-d9cd394b1fbb",
		"in the source tenant, enough instead of MailboxItem.ImportExport.All to export items in full fidelity (read only)"},
		Tenant: "source", Without: "the source needs MailboxItem.ImportExport.All for full fidelity"},
	{Permission: Permission{permItemReadWrite, "1583d471-fede-4e7c-b062-57e9d60cfb49",
		"replace the old version of a full-fidelity copy (a meeting changed at the source) with a store delete that notifies nobody"},
		Tenant: "destination", Without: "replacing such a meeting fails with m365_consent_missing rather than sending its attendees a cancellation; new items copy normally"},
}

// Guide walks a person through registering the app in Microsoft Entra ID.
type Guide struct {
	Permissions []Permission `json:"permissions"`
	// Optional are the permissions of full fidelity between Exchange
	// Online tenants, with what each one buys; the manifest does not
	// include them.
	Optional []OptionalPermission `json:"optional"`
	// Manifest is the requiredResourceAccess fragment of the app
	// manifest, ready to paste into the app registration's Manifest page.
	Manifest json.RawMessage `json:"manifest"`
	// ConsentURL grants admin consent for the tenant in one click.
	ConsentURL string   `json:"consentUrl"`
	Steps      []string `json:"steps"`
}

// SetupGuide returns the guide for a tenant and app. tenantID may be a
// tenant id or domain; clientID may be empty before the app is registered.
func SetupGuide(tenantID, clientID string) Guide {
	type access struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	type resource struct {
		ResourceAppID  string   `json:"resourceAppId"`
		ResourceAccess []access `json:"resourceAccess"`
	}
	r := resource{ResourceAppID: GraphAppID}
	for _, p := range Permissions {
		// "Role" is an application permission; "Scope" would be delegated.
		r.ResourceAccess = append(r.ResourceAccess, access{ID: p.ID, Type: "Role"})
	}
	manifest, _ := json.MarshalIndent(map[string]any{"requiredResourceAccess": []resource{r}}, "", "  ")
	tenant := tenantID
	if tenant == "" {
		tenant = "organizations"
	}
	client := clientID
	if client == "" {
		client = "{client-id}"
	}
	names := strings.Join(RequiredRoles, ", ")
	return Guide{
		Permissions: append([]Permission(nil), Permissions...),
		Optional:    append([]OptionalPermission(nil), OptionalPermissions...),
		Manifest:    manifest,
		ConsentURL:  DefaultAuthorityURL + url.PathEscape(tenant) + "/adminconsent?client_id=" + url.QueryEscape(client),
		Steps: []string{
			"Sign in to the Microsoft Entra admin center (entra.microsoft.com) as a Global Administrator or Privileged Role Administrator.",
			"App registrations > New registration: name it mailferry, single tenant, no redirect URI; register.",
			"Copy the Application (client) ID and the Directory (tenant) ID from the Overview page.",
			"API permissions > Add a permission > Microsoft Graph > Application permissions: add " + names + ". Or paste the manifest's requiredResourceAccess into the Manifest page.",
			"Optional, for full fidelity between two Microsoft 365 tenants: add " + optionalNames() + " as the optional list says (Verify reports them without failing).",
			"Open the admin consent link (or press Grant admin consent) and accept.",
			"Certificates & secrets: create a client secret and copy its Value, or upload a certificate.",
			"Enter the tenant id, client id and secret (or certificate) in mailferry and run the verification.",
		},
	}
}

func optionalNames() string {
	names := make([]string, len(OptionalPermissions))
	for i, p := range OptionalPermissions {
		names[i] = p.Name + " (" + p.Tenant + ")"
	}
	return strings.Join(names, ", ")
}

// VerifyResult says which required permissions the app's token carries;
// it is platform.Verification, so the connector is a platform.Verifier.
type VerifyResult = platform.Verification

// Verify acquires an app-only token and compares its roles claim with
// RequiredRoles and OptionalPermissions. Credential problems come back as
// their distinct coded errors (wrong secret, unknown tenant, unknown or
// disabled app); missing consent is not an error but the Missing list.
// Optional permissions are listed in Granted when granted and in
// MissingOptional otherwise; they never make the verification fail.
func (c *Connector) Verify(ctx context.Context) (VerifyResult, error) {
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{graphScope}})
	if err != nil {
		return VerifyResult{}, authError(err)
	}
	roles, err := tokenRoles(tok.Token)
	if err != nil {
		return VerifyResult{}, errs.Wrap(errs.AuthFailed, err, "the token from Microsoft 365 could not be read",
			"check that the authority URL points at the Microsoft identity platform")
	}
	have := map[string]bool{}
	for _, r := range roles {
		have[strings.ToLower(r)] = true
	}
	res := VerifyResult{Granted: []string{}, Missing: []string{}}
	for _, want := range RequiredRoles {
		// A broader permission covers a narrower one for our calls.
		if have[strings.ToLower(want)] || want == permOrg && have["directory.read.all"] {
			res.Granted = append(res.Granted, want)
		} else {
			res.Missing = append(res.Missing, want)
		}
	}
	for _, opt := range OptionalPermissions {
		switch {
		case have[strings.ToLower(opt.Name)]:
			res.Granted = append(res.Granted, opt.Name)
		case opt.Name == permExport && have[strings.ToLower(permImportExport)]:
			// ImportExport covers export: nothing is missing.
		default:
			res.MissingOptional = append(res.MissingOptional, opt.Name)
		}
	}
	return res, nil
}

// tokenRoles reads the roles claim of a JWT. The signature is not checked:
// the token comes straight from the authority over TLS and only tells us
// what was granted; Graph checks it on every call.
func tokenRoles(jwt string) ([]string, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errs.New(errs.AuthFailed, "the access token is not a JWT", "")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, err
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, err
	}
	return claims.Roles, nil
}
