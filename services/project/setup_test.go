package project_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

// TestM365SetupListsOptionalPermissions: the guide names the optional
// permissions of full fidelity with the tenant each belongs in and what it
// buys, and verifying credentials reports them as granted or
// missing-optional without failing the check.
func TestM365SetupListsOptionalPermissions(t *testing.T) {
	t.Parallel()
	h := start(t)
	_, key := h.account(t, "O")
	code, out := h.call(t, key, "GET", "/api/setup/m365?tenantId=contoso.onmicrosoft.com", nil)
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	var guide struct {
		Optional []struct {
			Name, ID, Why, Tenant, Without string
		} `json:"optional"`
		Manifest json.RawMessage `json:"manifest"`
	}
	raw, _ := json.Marshal(out)
	if err := json.Unmarshal(raw, &guide); err != nil {
		t.Fatal(err)
	}
	tenants := map[string]string{}
	for _, p := range guide.Optional {
		if p.ID == "" || p.Why == "" || p.Without == "" {
			t.Errorf("optional permission %+v lacks its id, what it buys or what happens without it", p)
		}
		tenants[p.Name] = p.Tenant
	}
	want := map[string]string{"MailboxItem.ImportExport.All": "source, destination", "MailboxItem.Export.All": "source", "MailboxItem.ReadWrite.All": "destination"}
	if len(tenants) != len(want) {
		t.Errorf("optional permissions %v, want %v", tenants, want)
	}
	for name, tenant := range want {
		if tenants[name] != tenant {
			t.Errorf("optional %s is for %q, want %q", name, tenants[name], tenant)
		}
		if strings.Contains(string(guide.Manifest), name) {
			t.Errorf("the manifest of required permissions names the optional %s", name)
		}
	}

	sb, err := graph.New(graph.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	tenant, client, secret := sb.Credentials()
	_, p := h.call(t, key, "POST", "/api/projects", map[string]string{"name": "t2t", "source": "m365", "destination": "m365"})
	pid := p["id"].(string)
	if code, out := h.call(t, key, "PUT", "/api/projects/"+pid+"/credentials/destination", map[string]any{
		"fields":  map[string]string{"tenantId": tenant, "clientId": client, "graphBaseUrl": sb.BaseURL(), "authorityUrl": sb.AuthorityURL(), "caPem": string(sb.CAPEM())},
		"secrets": map[string]string{"clientSecret": secret}}); code != 200 {
		t.Fatalf("set credentials: %d %v", code, out)
	}
	verify := func() (bool, []string, []string, map[string]any) {
		t.Helper()
		code, out := h.call(t, key, "POST", "/api/projects/"+pid+"/credentials/destination/verify", nil)
		if code != 200 {
			t.Fatalf("verify: %d %v", code, out)
		}
		var v struct {
			OK              bool     `json:"ok"`
			Granted         []string `json:"granted"`
			MissingOptional []string `json:"missingOptional"`
		}
		raw, _ := json.Marshal(out)
		_ = json.Unmarshal(raw, &v)
		return v.OK, v.Granted, v.MissingOptional, out
	}
	ok, granted, missingOpt, out := verify()
	if !ok || len(missingOpt) != 3 || out["optionalNote"] == nil || len(out["missing"].([]any)) != 0 {
		t.Errorf("required permissions only: %v", out)
	}
	sb.Grant(graph.RoleMailboxImportExport, graph.RoleMailboxItemReadWrite)
	ok, granted, missingOpt, out = verify()
	if !ok || !slices.Contains(granted, "MailboxItem.ImportExport.All") || !slices.Contains(granted, "MailboxItem.ReadWrite.All") ||
		len(missingOpt) != 0 {
		t.Errorf("with the optional permissions of the destination: %v", out)
	}
}
