package project_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mailferry/mailferry/libs/connectors/google"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

// googleSandbox starts a sandbox Workspace with its administrator.
func googleSandbox(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	sb.AddUser("admin@"+sb.Domain(), "Workspace Admin")
	sb.SetAdmin("admin@"+sb.Domain(), true)
	return sb
}

// editKeyField changes one field of a key file.
func editKeyField(t *testing.T, key []byte, field, value string) string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(key, &m); err != nil {
		t.Fatal(err)
	}
	m[field] = value
	b, _ := json.Marshal(m)
	return string(b)
}

// TestGoogleCredentialsAtPut: Google credentials take adminEmail and the
// key, and optionally clientId, labelMode and maxConcurrentPerMailbox;
// the endpoint overrides need MAILFERRY_ALLOW_SANDBOX. What the key file
// itself shows is checked when it is stored: each problem is refused with
// its code and the field at fault, and the key never comes back.
func TestGoogleCredentialsAtPut(t *testing.T) {
	t.Parallel()
	sb, err := sandbox.New(sandbox.Config{}) // its keys only: nothing is called
	if err != nil {
		t.Fatal(err)
	}
	key := sb.ServiceAccountKey()
	h := startWith(t, false)
	_, apiKey := h.account(t, "G")
	_, p := h.call(t, apiKey, "POST", "/api/projects", map[string]string{"name": "g", "source": "google", "destination": "m365"})
	pid := p["id"].(string)
	admin := "admin@" + sb.Domain()
	cases := []struct {
		name    string
		fields  map[string]string
		secrets map[string]string
		code    string // "" = accepted
		field   string
		says    string
	}{
		{"key and administrator", map[string]string{"adminEmail": admin}, map[string]string{"serviceAccountKey": string(key)}, "", "", ""},
		{"every optional field", map[string]string{"adminEmail": admin, "clientId": sb.ClientID(), "labelMode": "categories", "maxConcurrentPerMailbox": "4"},
			map[string]string{"serviceAccountKey": string(key)}, "", "", ""},
		{"endpoint without the sandbox gate", map[string]string{"adminEmail": admin, "endpoint": "https://evil.example/"}, map[string]string{"serviceAccountKey": string(key)},
			"invalid_input", "fields.endpoint", "MAILFERRY_ALLOW_SANDBOX"},
		{"token URL without the sandbox gate", map[string]string{"adminEmail": admin, "tokenUrl": "https://evil.example/token"}, map[string]string{"serviceAccountKey": string(key)},
			"invalid_input", "fields.tokenUrl", "MAILFERRY_ALLOW_SANDBOX"},
		{"CA without the sandbox gate", map[string]string{"adminEmail": admin, "caPem": "-----BEGIN CERTIFICATE-----"}, map[string]string{"serviceAccountKey": string(key)},
			"invalid_input", "fields.caPem", "MAILFERRY_ALLOW_SANDBOX"},
		{"no administrator", map[string]string{}, map[string]string{"serviceAccountKey": string(key)}, "invalid_input", "fields.adminEmail", "required"},
		{"administrator without a domain", map[string]string{"adminEmail": "admin"}, map[string]string{"serviceAccountKey": string(key)}, "invalid_input", "fields.adminEmail", "super administrator"},
		{"no key", map[string]string{"adminEmail": admin}, map[string]string{}, "invalid_input", "secrets.serviceAccountKey", "required"},
		{"a field of another platform", map[string]string{"adminEmail": admin, "tenantId": "t"}, map[string]string{"serviceAccountKey": string(key)}, "invalid_input", "fields.tenantId", "labelMode"},
		{"unknown label mode", map[string]string{"adminEmail": admin, "labelMode": "copies"}, map[string]string{"serviceAccountKey": string(key)}, "invalid_input", "fields.labelMode", "first"},
		{"concurrency not a number", map[string]string{"adminEmail": admin, "maxConcurrentPerMailbox": "lots"}, map[string]string{"serviceAccountKey": string(key)}, "invalid_input", "fields.maxConcurrentPerMailbox", "1 to 64"},
		{"not JSON", map[string]string{"adminEmail": admin}, map[string]string{"serviceAccountKey": "-----BEGIN PRIVATE KEY-----\nMIIsecretbits"}, "google_key_malformed", "", "Create new key > JSON"},
		{"an OAuth client file", map[string]string{"adminEmail": admin}, map[string]string{"serviceAccountKey": editKeyField(t, key, "type", "authorized_user")}, "google_key_malformed", "", "authorized_user"},
		{"a damaged private key", map[string]string{"adminEmail": admin}, map[string]string{"serviceAccountKey": editKeyField(t, key, "private_key", "-----BEGIN PRIVATE KEY-----\nMIIsecretbits\n-----END PRIVATE KEY-----\n")},
			"google_key_malformed", "", "private_key"},
		{"the key of another service account than the delegated client id", map[string]string{"adminEmail": admin, "clientId": "109876543210987654321"},
			map[string]string{"serviceAccountKey": string(key)}, "google_key_wrong_account", "", "Domain-wide delegation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out := h.call(t, apiKey, "PUT", "/api/projects/"+pid+"/credentials/source", map[string]any{"fields": tc.fields, "secrets": tc.secrets})
			raw, _ := json.Marshal(out)
			if strings.Contains(string(raw), "MIIsecretbits") || strings.Contains(string(raw), "PRIVATE KEY") {
				t.Fatalf("the answer quotes the key: %s", raw)
			}
			if tc.code == "" {
				if code != 200 {
					t.Fatalf("got %d %s, want 200", code, raw)
				}
				return
			}
			if code != 422 || errCode(out) != tc.code || errField(out) != tc.field {
				t.Fatalf("got %d %s, want 422 %s on field %q", code, raw, tc.code, tc.field)
			}
			e, _ := out["error"].(map[string]any)
			if text := fmt.Sprint(e["cause"], " ", e["action"]); !strings.Contains(text, tc.says) {
				t.Errorf("the answer does not say %q: %s", tc.says, text)
			}
		})
	}
	t.Cleanup(func() {
		if strings.Contains(h.logs.String(), "MIIsecretbits") {
			t.Error("a key was logged")
		}
	})
}

// TestGoogleVerify: with the sandbox gate on, credentials pointing at a
// sandbox Workspace verify with every scope granted; each problem only
// Google can see comes back from the verify endpoint as its own code,
// saying what to change in the Admin console or the Cloud console.
func TestGoogleVerify(t *testing.T) {
	t.Parallel()
	h := start(t)
	_, apiKey := h.account(t, "GV")
	cases := []struct {
		name  string
		setup func(t *testing.T, sb *sandbox.Sandbox, fields map[string]string, secrets map[string]string)
		code  string // "" = verified
		says  []string
	}{
		{"all granted", func(*testing.T, *sandbox.Sandbox, map[string]string, map[string]string) {}, "", nil},
		{"delegation not granted", func(t *testing.T, sb *sandbox.Sandbox, _, _ map[string]string) { sb.Undelegate(sb.ClientID()) },
			"google_delegation_missing", []string{"Admin console", "Domain-wide delegation", strings.Join(google.RequiredScopes, ",")}},
		{"a scope missing", func(t *testing.T, sb *sandbox.Sandbox, _, _ map[string]string) {
			sb.Undelegate(sb.ClientID(), google.ScopeContacts)
		}, "google_scope_missing", []string{google.ScopeContacts, "Admin console"}},
		{"a deleted key", func(t *testing.T, sb *sandbox.Sandbox, _, secrets map[string]string) {
			k, id, err := sb.NewKey()
			if err != nil {
				t.Fatal(err)
			}
			sb.DeleteKey(id)
			secrets["serviceAccountKey"] = string(k)
		}, "google_key_rejected", []string{"Invalid JWT Signature", "IAM & Admin > Service accounts"}},
		{"a key of another project", func(t *testing.T, sb *sandbox.Sandbox, _, secrets map[string]string) {
			k, err := sb.ForeignKey()
			if err != nil {
				t.Fatal(err)
			}
			secrets["serviceAccountKey"] = string(k)
		}, "google_delegation_missing", []string{"other-project-", "another project"}},
		{"an administrator that does not exist", func(t *testing.T, sb *sandbox.Sandbox, fields, _ map[string]string) {
			fields["adminEmail"] = "nobody@" + sb.Domain()
		}, "google_user_not_found", []string{"nobody@", "super administrator"}},
		{"a user who is no administrator", func(t *testing.T, sb *sandbox.Sandbox, fields, _ map[string]string) {
			sb.AddUser("clerk@"+sb.Domain(), "Clerk")
			fields["adminEmail"] = "clerk@" + sb.Domain()
		}, "google_admin_required", []string{"clerk@", "Admin roles"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sb := googleSandbox(t)
			fields := map[string]string{"adminEmail": "admin@" + sb.Domain(), "endpoint": sb.Endpoint(), "tokenUrl": sb.TokenURL(), "caPem": string(sb.CAPEM())}
			secrets := map[string]string{"serviceAccountKey": string(sb.ServiceAccountKey())}
			tc.setup(t, sb, fields, secrets)
			_, p := h.call(t, apiKey, "POST", "/api/projects", map[string]string{"name": tc.name, "source": "google", "destination": "google"})
			pid := p["id"].(string)
			if code, out := h.call(t, apiKey, "PUT", "/api/projects/"+pid+"/credentials/destination", map[string]any{"fields": fields, "secrets": secrets}); code != 200 {
				t.Fatalf("set credentials: %d %v", code, out)
			}
			code, out := h.call(t, apiKey, "POST", "/api/projects/"+pid+"/credentials/destination/verify", nil)
			raw, _ := json.Marshal(out)
			if strings.Contains(string(raw), "PRIVATE KEY") {
				t.Fatalf("the answer quotes the key: %s", raw)
			}
			if tc.code == "" {
				granted, _ := out["granted"].([]any)
				if code != 200 || out["ok"] != true || len(granted) != len(google.RequiredScopes) {
					t.Fatalf("verify: %d %s, want ok with every scope granted", code, raw)
				}
				return
			}
			if code != 422 || errCode(out) != tc.code {
				t.Fatalf("verify: %d %s, want 422 %s", code, raw, tc.code)
			}
			e, _ := out["error"].(map[string]any)
			text, _ := e["cause"].(string)
			action, _ := e["action"].(string)
			for _, s := range tc.says {
				if !strings.Contains(text+" "+action, s) {
					t.Errorf("the error does not say %q: %s", s, raw)
				}
			}
		})
	}
}
