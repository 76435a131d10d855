package ews_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/mailferry/mailferry/libs/connectors/ews"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/platform"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// displayed is a fingerprint as the connector shows it (AB:CD:...).
func displayed(fp string) string {
	var parts []string
	for i := 0; i+1 < len(fp); i += 2 {
		parts = append(parts, strings.ToUpper(fp[i:i+2]))
	}
	return strings.Join(parts, ":")
}

// TestVerify: every way the first contact with an Exchange can fail is
// its own code, with a cause and an action a person can follow, and none
// of them repeats the password.
func TestVerify(t *testing.T) {
	t.Parallel()
	type env struct {
		sb  *sandbox.Sandbox
		cfg ews.Config
	}
	cases := []struct {
		name   string
		sbcfg  sandbox.Config
		setup  func(t *testing.T, e *env)
		code   errs.Code
		cause  []string // what the cause must name
		action string   // what the action must name
	}{
		{name: "verified", setup: func(t *testing.T, e *env) {}},
		{name: "verified with Basic and the system's trust replaced by the CA", setup: func(t *testing.T, e *env) {
			e.cfg.Auth, e.cfg.CertFingerprint, e.cfg.RootCAs = soap.AuthBasic, "", e.sb.CertPool()
			e.cfg.Username = sandbox.ServiceAccount + "@" + e.sb.Domain()
		}},
		{name: "host name does not resolve", setup: func(t *testing.T, e *env) {
			e.cfg.URL = "https://mailferry-no-such-host.invalid/EWS/Exchange.asmx"
			if _, err := net.LookupHost("mailferry-no-such-host.invalid"); err != nil {
				var d *net.DNSError
				if !(asDNS(err, &d) && d.IsNotFound) {
					t.Skipf("this machine's resolver cannot answer (%v); the DNS case needs one that says 'no such host'", err)
				}
			}
		}, code: ews.CodeDNS, cause: []string{"mailferry-no-such-host.invalid", "does not resolve"}},
		{name: "untrusted self-signed certificate", setup: func(t *testing.T, e *env) {
			e.cfg.CertFingerprint = ""
		}, code: ews.CodeTLS, cause: []string{"not trusted", "SHA-256 fingerprint"}, action: "certFingerprint"},
		{name: "certificate other than the pinned one", setup: func(t *testing.T, e *env) {
			e.cfg.CertFingerprint = strings.Repeat("ab", 32)
		}, code: ews.CodeTLS, cause: []string{"not the pinned", displayed(strings.Repeat("ab", 32))}},
		{name: "wrong password", setup: func(t *testing.T, e *env) {
			e.cfg.Password = "Wrong-Password-42"
		}, code: ews.CodeAuthFailed, cause: []string{"HTTP 401", "NTLM"}, action: "password"},
		{name: "NTLM switched off", sbcfg: sandbox.Config{DisableNTLM: true}, setup: func(t *testing.T, e *env) {},
			code: ews.CodeAuthMethod, cause: []string{"does not accept NTLM", "Basic"}, action: "WindowsAuthentication"},
		{name: "Basic switched off", sbcfg: sandbox.Config{DisableBasic: true}, setup: func(t *testing.T, e *env) {
			e.cfg.Auth = soap.AuthBasic
		}, code: ews.CodeAuthMethod, cause: []string{"does not accept Basic", "NTLM"}, action: "BasicAuthentication"},
		{name: "impersonation not granted", setup: func(t *testing.T, e *env) {
			if err := e.sb.SetImpersonation(sandbox.ServiceAccount, false); err != nil {
				t.Fatal(err)
			}
		}, code: ews.CodeImpersonationDenied, cause: []string{"ApplicationImpersonation"}, action: "New-ManagementRoleAssignment"},
		{name: "EWS disabled", setup: func(t *testing.T, e *env) {
			e.sb.SetEWSEnabled(false)
		}, code: ews.CodeEWSDisabled, cause: []string{"HTTP 403"}, action: "EwsEnabled"},
		{name: "EWS disabled for the sample mailbox", setup: func(t *testing.T, e *env) {
			mb := e.sb.Mailboxes()[1]
			e.cfg.SampleMailbox = mb.SMTP
			if err := e.sb.SetEWSDisabled(mb.Username, true); err != nil {
				t.Fatal(err)
			}
		}, code: ews.CodeEWSDisabled, cause: []string{"HTTP 403", seededUser(1)}},
		{name: "sample mailbox does not exist", setup: func(t *testing.T, e *env) {
			e.cfg.SampleMailbox = "nobody@" + e.sb.Domain()
		}, code: ews.CodeMailboxNotFound, cause: []string{"nobody@"}, action: "sampleMailbox"},
		{name: "not an EWS endpoint", setup: func(t *testing.T, e *env) {
			e.cfg.URL = strings.TrimSuffix(e.sb.URL(), "/EWS/Exchange.asmx") + "/owa/"
		}, code: ews.CodeNotEWS, cause: []string{"HTTP 404"}, action: "Exchange.asmx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sb := newSandbox(t, tc.sbcfg)
			sb.Seed(sandbox.SeedSpec{Users: 2, MessagesPerUser: 1, Seed: testSeed, Profile: tenantgen.Light})
			e := &env{sb: sb, cfg: configFor(t, sb)}
			// A recorded exchange keeps the schema check of failures
			// that never reach EWS meaningful.
			raw := rawClient(sb)
			if tc.sbcfg.DisableBasic {
				raw.Auth, raw.Username = soap.AuthNTLM, e.cfg.Username
			}
			if err := raw.Call(ctxFor(t), "", &soap.ResolveNames{UnresolvedEntry: "user"}, &soap.ResolveNamesResponse{}); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, e)
			c, err := ews.Open(e.cfg)
			if err != nil {
				t.Fatal(err)
			}
			v, err := c.Verify(ctxFor(t))
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if len(v.Missing) != 0 || len(v.Granted) != 2 || !strings.Contains(strings.Join(v.Granted, ","), ews.GrantImpersonation) {
					t.Fatalf("verification %+v", v)
				}
				return
			}
			ce, ok := errs.As(err)
			if !ok || ce.Code != tc.code {
				t.Fatalf("Verify: %v, want code %s", err, tc.code)
			}
			for _, want := range tc.cause {
				if !strings.Contains(ce.Cause, want) {
					t.Errorf("cause %q does not name %q", ce.Cause, want)
				}
			}
			if !strings.Contains(ce.Action, tc.action) {
				t.Errorf("action %q does not mention %q", ce.Action, tc.action)
			}
			if strings.Contains(err.Error(), e.cfg.Password) || strings.Contains(ce.Cause+ce.Action, e.cfg.Password) {
				t.Errorf("the error carries the password: %v", err)
			}
		})
	}
}

// seededUser is the local part of seeded user n's address.
func seededUser(n int) string {
	return strings.SplitN(tenantgen.Owner(testSeed, n, "x").Address, "@", 2)[0]
}

func asDNS(err error, d **net.DNSError) bool {
	e, ok := err.(*net.DNSError)
	if ok {
		*d = e
	}
	return ok
}

// TestUntrustedCertificateCanBePinned: the fingerprint the TLS error names
// is the one that, pinned, makes the same server trusted.
func TestUntrustedCertificateCanBePinned(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	sb.Seed(sandbox.SeedSpec{Users: 1, MessagesPerUser: 1, Seed: testSeed, Profile: tenantgen.Light})
	cfg := configFor(t, sb)
	cfg.CertFingerprint = ""
	_, err := open(t, cfg).Verify(ctxFor(t))
	ce, ok := errs.As(err)
	if !ok || ce.Code != ews.CodeTLS {
		t.Fatalf("Verify without trust: %v", err)
	}
	i := strings.Index(ce.Cause, "fingerprint ")
	if i < 0 {
		t.Fatalf("cause %q names no fingerprint", ce.Cause)
	}
	cfg.CertFingerprint = strings.Fields(ce.Cause[i+len("fingerprint "):])[0]
	if _, err := open(t, cfg).Verify(ctxFor(t)); err != nil {
		t.Fatalf("Verify with the fingerprint from the error pinned: %v", err)
	}
	if _, err := ews.Open(ews.Config{URL: sb.URL(), Username: "u", Password: "p", CertFingerprint: "not hex"}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("a malformed fingerprint: %v, want %s", err, errs.Invalid)
	}
}

// TestFromCredentials opens the connector from stored credentials, as the
// platform and the connector agent do, and refuses bad fields by name.
func TestFromCredentials(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Config{})
	users := sb.Seed(sandbox.SeedSpec{Users: 2, MessagesPerUser: 1, Seed: testSeed, Profile: tenantgen.Light})
	cfg := configFor(t, sb)
	creds := platform.Credentials{Platform: platform.Exchange, Fields: map[string]string{
		"ewsUrl": sb.URL(), "username": cfg.Username, "auth": "ntlm", "certFingerprint": displayed(cfg.CertFingerprint),
		"mailboxes": "address,name\n" + users[0] + ",First User\n\"" + users[1] + "\",Second\n" + users[0], "maxConcurrentPerMailbox": "4",
	}, Secrets: map[string]string{"password": cfg.Password}}
	c, err := ews.FromCredentials(context.Background(), creds)
	if err != nil {
		t.Fatal(err)
	}
	mbs, err := c.ListMailboxes(ctxFor(t))
	if err != nil || len(mbs) != 2 || mbs[0].ID != users[0] || mbs[1].ID != users[1] {
		t.Fatalf("configured mailboxes: %+v %v", mbs, err)
	}
	if c.Concurrency(users[0]) != 4 {
		t.Errorf("concurrency starts at %d, want the configured cap 4 (below the default start)", c.Concurrency(users[0]))
	}
	if _, err := c.Verify(ctxFor(t)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for field, bad := range map[string]string{"auth": "kerberos", "ewsUrl": "http://plain.example/EWS/Exchange.asmx", "maxConcurrentPerMailbox": "0", "certFingerprint": "12:34"} {
		f := map[string]string{}
		for k, v := range creds.Fields {
			f[k] = v
		}
		f[field] = bad
		_, err := ews.FromCredentials(context.Background(), platform.Credentials{Fields: f, Secrets: creds.Secrets})
		if e, ok := errs.As(err); !ok || e.Code != errs.Invalid || e.Field != field {
			t.Errorf("%s=%q: %v, want %s on the field", field, bad, err, errs.Invalid)
		}
	}
}
