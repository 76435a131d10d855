package google_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mailferry/mailferry/libs/connectors/google"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/google"
)

// editKey changes one field of a key file.
func editKey(t *testing.T, key []byte, field, value string) []byte {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(key, &m); err != nil {
		t.Fatal(err)
	}
	m[field] = value
	b, _ := json.Marshal(m)
	return b
}

// TestKeyChecks: each way a key or its delegation can be wrong is its own
// coded error, raised before any run (by Open for what the file shows, by
// Verify for what Google says), and says what to do in the Admin console
// without quoting the key.
func TestKeyChecks(t *testing.T) {
	t.Parallel()
	type when int
	const (
		atOpen when = iota
		atVerify
	)
	cases := []struct {
		name   string
		setup  func(t *testing.T, sb *sandbox.Sandbox, cfg *google.Config)
		when   when
		code   errs.Code
		says   []string // in cause or action
		miss   []string // Verification.Missing
		notice string
	}{
		{"not JSON", func(t *testing.T, sb *sandbox.Sandbox, cfg *google.Config) {
			cfg.ServiceAccountKey = []byte("-----BEGIN PRIVATE KEY-----\nnot a key file")
		}, atOpen, google.CodeKeyMalformed, []string{"not JSON", "Create new key > JSON"}, nil, ""},
		{"an OAuth client instead of a service account", func(t *testing.T, sb *sandbox.Sandbox, cfg *google.Config) {
			cfg.ServiceAccountKey = editKey(t, cfg.ServiceAccountKey, "type", "authorized_user")
		}, atOpen, google.CodeKeyMalformed, []string{`"authorized_user"`}, nil, ""},
		{"a damaged private key", func(t *testing.T, sb *sandbox.Sandbox, cfg *google.Config) {
			cfg.ServiceAccountKey = editKey(t, cfg.ServiceAccountKey, "private_key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
		}, atOpen, google.CodeKeyMalformed, []string{"private"}, nil, ""},
		{"the key of another service account than the delegated client id", func(t *testing.T, sb *sandbox.Sandbox, cfg *google.Config) {
			cfg.ClientID = "109876543210987654321"
		}, atOpen, google.CodeKeyWrongAccount, []string{"109876543210987654321", "Domain-wide delegation"}, nil, ""},
		{"a deleted key", func(t *testing.T, sb *sandbox.Sandbox, cfg *google.Config) {
			key, id, err := sb.NewKey()
			if err != nil {
				t.Fatal(err)
			}
			sb.DeleteKey(id)
			cfg.ServiceAccountKey = key
		}, atVerify, google.CodeKeyRejected, []string{"Invalid JWT Signature", "Keys", sb0Email}, nil, ""},
		{"a key of another project", func(t *testing.T, sb *sandbox.Sandbox, cfg *google.Config) {
			key, err := sb.ForeignKey()
			if err != nil {
				t.Fatal(err)
			}
			cfg.ServiceAccountKey = key
		}, atVerify, google.CodeDelegationMissing, []string{"other-project-", "another project", "Domain-wide delegation"}, google.RequiredScopes, ""},
		{"delegation not granted", func(t *testing.T, sb *sandbox.Sandbox, cfg *google.Config) {
			sb.Undelegate(sb.ClientID())
		}, atVerify, google.CodeDelegationMissing, []string{"Security > Access and data control > API controls > Domain-wide delegation", strings.Join(google.RequiredScopes, ",")}, google.RequiredScopes, "client id"},
		{"a scope missing", func(t *testing.T, sb *sandbox.Sandbox, cfg *google.Config) {
			sb.Undelegate(sb.ClientID(), google.ScopeCalendar)
		}, atVerify, google.CodeScopeMissing, []string{google.ScopeCalendar, strings.Join(google.RequiredScopes, ",")}, []string{google.ScopeCalendar}, "client id"},
		{"an administrator that does not exist", func(t *testing.T, sb *sandbox.Sandbox, cfg *google.Config) {
			cfg.AdminEmail = "nobody@" + sb.Domain()
		}, atVerify, google.CodeUserNotFound, []string{"nobody@", "Invalid email or User ID"}, nil, ""},
		{"a user who is no administrator", func(t *testing.T, sb *sandbox.Sandbox, cfg *google.Config) {
			sb.AddUser("clerk@"+sb.Domain(), "Clerk")
			cfg.AdminEmail = "clerk@" + sb.Domain()
		}, atVerify, google.CodeAdminRequired, []string{"clerk@", "super administrator"}, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sb := newSandbox(t, sandbox.Config{})
			sb.AddUser("admin@"+sb.Domain(), "Workspace Admin")
			sb.SetAdmin("admin@"+sb.Domain(), true)
			cfg := configFor(sb)
			tc.setup(t, sb, &cfg)
			c, err := google.Open(context.Background(), cfg)
			var res platform.Verification
			if tc.when == atVerify {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				res, err = c.Verify(ctxFor(t))
			}
			e, ok := errs.As(err)
			if !ok || e.Code != tc.code {
				t.Fatalf("err = %v, want code %s", err, tc.code)
			}
			text := e.Cause + " " + e.Action
			for _, s := range append(tc.says, tc.notice) {
				if s == sb0Email {
					s = sb.ClientEmail()
				}
				if s == "client id" {
					s = sb.ClientID()
				}
				if !strings.Contains(text, s) {
					t.Errorf("%q does not say %q", text, s)
				}
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "MII") {
				t.Errorf("the error quotes the key: %v", err)
			}
			if tc.miss != nil && !slices.Equal(res.Missing, tc.miss) {
				t.Errorf("Missing = %v, want %v", res.Missing, tc.miss)
			}
		})
	}

	t.Run("all granted", func(t *testing.T) {
		t.Parallel()
		sb := newSandbox(t, sandbox.Config{})
		sb.AddUser("admin@"+sb.Domain(), "Workspace Admin")
		sb.SetAdmin("admin@"+sb.Domain(), true)
		res, err := open(t, configFor(sb)).Verify(ctxFor(t))
		want := slices.Clone(google.RequiredScopes)
		slices.Sort(want)
		if err != nil || len(res.Missing) != 0 || !slices.Equal(res.Granted, want) {
			t.Fatalf("Verify = %+v, %v; want every scope granted", res, err)
		}
	})

	// A user of the Workspace that does not exist is not found, as the
	// contract wants, on every call that names it.
	t.Run("unknown mailbox", func(t *testing.T) {
		t.Parallel()
		sb := newSandbox(t, sandbox.Config{})
		c := open(t, configFor(sb))
		_, err := c.Folders(ctxFor(t), "ghost@"+sb.Domain())
		if !errs.Is(err, errs.NotFound) || !strings.Contains(err.Error(), "ghost@") {
			t.Fatalf("Folders(ghost) = %v, want not_found naming the user", err)
		}
	})
}

// sb0Email stands for the sandbox's service account address in the table.
const sb0Email = "\x00service-account"
