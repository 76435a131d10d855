package ews_test

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/mailferry/mailferry/libs/ews/soap"
	sandbox "github.com/mailferry/mailferry/libs/sandbox/ews"
)

func TestAuthentication(t *testing.T) {
	sb := start(t, sandbox.Config{})
	pw := sandbox.Password(testSeed, sandbox.ServiceAccount)
	upn := sandbox.ServiceAccount + "@" + sb.Domain()
	cases := []struct {
		name     string
		user, pw string
		auth     soap.Auth
		ok       bool
	}{
		{"NTLM with DOMAIN\\user", sb.NetBIOSDomain() + `\` + sandbox.ServiceAccount, pw, soap.AuthNTLM, true},
		{"NTLM with the UPN", upn, pw, soap.AuthNTLM, true},
		{"NTLM with the DNS domain", sb.Domain() + `\` + sandbox.ServiceAccount, pw, soap.AuthNTLM, true},
		{"Basic with DOMAIN\\user", sb.NetBIOSDomain() + `\` + sandbox.ServiceAccount, pw, soap.AuthBasic, true},
		{"Basic with the UPN", upn, pw, soap.AuthBasic, true},
		{"NTLM with a wrong password", upn, pw + "x", soap.AuthNTLM, false},
		{"NTLM with another domain", `OTHER\` + sandbox.ServiceAccount, pw, soap.AuthNTLM, false},
		{"Basic with a wrong password", upn, "nope", soap.AuthBasic, false},
		{"Basic with an unknown user", "nobody@" + sb.Domain(), pw, soap.AuthBasic, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := client(sb, tc.user, tc.pw, tc.auth)
			var resp soap.GetFolderResponse
			err := c.Call(ctx(t), "", &soap.GetFolder{FolderShape: soap.FolderShape{BaseShape: soap.ShapeDefault},
				FolderIDs: *soap.FolderList("inbox")}, &resp)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if err := soap.Check("GetFolder", resp.ResponseMessages.Messages); err != nil {
					t.Fatal(err)
				}
				return
			}
			var he *soap.HTTPError
			if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
				t.Fatalf("want 401, got %v", err)
			}
		})
	}
}

func TestUnauthenticatedRequestsAreOfferedExchangesSchemes(t *testing.T) {
	sb := start(t, sandbox.Config{})
	resp, err := httpClient(sb).Post(sb.URL(), "text/xml", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := resp.Header.Values("WWW-Authenticate")
	want := []string{"Negotiate", "NTLM", `Basic realm="ex01.` + sb.Domain() + `"`}
	if resp.StatusCode != http.StatusUnauthorized || !slices.Equal(got, want) {
		t.Fatalf("got %d %q, want 401 %q", resp.StatusCode, got, want)
	}
	getFolder(t, service(sb), "", "inbox")

	off := start(t, sandbox.Config{DisableBasic: true})
	c := client(off, off.NetBIOSDomain()+`\`+sandbox.ServiceAccount, sandbox.Password(testSeed, sandbox.ServiceAccount), soap.AuthBasic)
	err = c.Call(ctx(t), "", &soap.GetFolder{FolderShape: soap.FolderShape{BaseShape: soap.ShapeIDOnly}, FolderIDs: *soap.FolderList("inbox")}, nil)
	var he *soap.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized || slices.ContainsFunc(he.Authenticate, func(s string) bool { return s != "Negotiate" && s != "NTLM" }) {
		t.Fatalf("Basic against a server without it: %v", err)
	}
	// The same account over NTLM still works.
	c.Auth = soap.AuthNTLM
	if err := c.Call(ctx(t), "", &soap.GetFolder{FolderShape: soap.FolderShape{BaseShape: soap.ShapeIDOnly}, FolderIDs: *soap.FolderList("inbox")}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestImpersonation(t *testing.T) {
	sb := start(t, sandbox.Config{})
	svc := service(sb)
	target := userAddr(sb, 1)
	inbox := getFolder(t, svc, target, "inbox")
	n, err := sb.FolderItemCount(target, "inbox")
	if err != nil {
		t.Fatal(err)
	}
	if inbox.TotalCount == nil || *inbox.TotalCount != n || n == 0 {
		t.Fatalf("impersonated inbox has %v items, the store %d", inbox.TotalCount, n)
	}
	own := getFolder(t, svc, "", "inbox")
	if own.FolderID.ID == inbox.FolderID.ID {
		t.Fatal("the service account's own inbox is the impersonated one")
	}

	user := sb.Mailboxes()[1]
	plain := client(sb, user.Username+"@"+sb.Domain(), sandbox.Password(testSeed, user.Username), soap.AuthNTLM)
	cases := []struct {
		name string
		c    *soap.Client
		as   string
		code string
	}{
		{"without the role", plain, userAddr(sb, 2), "ErrorImpersonateUserDenied"},
		{"of an unknown address", svc, "ghost@" + sb.Domain(), "ErrorNonExistentMailbox"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Call(ctx(t), tc.as, &soap.GetFolder{FolderShape: soap.FolderShape{BaseShape: soap.ShapeIDOnly},
				FolderIDs: *soap.FolderList("inbox")}, nil)
			var f *soap.Fault
			if !errors.As(err, &f) || f.ResponseCode != tc.code {
				t.Fatalf("want fault %s, got %v", tc.code, err)
			}
		})
	}

	t.Run("granted later", func(t *testing.T) {
		if err := sb.SetImpersonation(user.Username, true); err != nil {
			t.Fatal(err)
		}
		getFolder(t, plain, userAddr(sb, 2), "inbox")
	})
	t.Run("EWS disabled for the mailbox", func(t *testing.T) {
		if err := sb.SetEWSDisabled(sb.Mailboxes()[2].Username, true); err != nil {
			t.Fatal(err)
		}
		defer sb.SetEWSDisabled(sb.Mailboxes()[2].Username, false)
		err := svc.Call(ctx(t), userAddr(sb, 2), &soap.GetFolder{FolderShape: soap.FolderShape{BaseShape: soap.ShapeIDOnly},
			FolderIDs: *soap.FolderList("inbox")}, nil)
		var he *soap.HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusForbidden {
			t.Fatalf("want 403, got %v", err)
		}
	})
	t.Run("EWS disabled on the server", func(t *testing.T) {
		sb.SetEWSEnabled(false)
		defer sb.SetEWSEnabled(true)
		err := svc.Call(ctx(t), "", &soap.GetFolder{FolderShape: soap.FolderShape{BaseShape: soap.ShapeIDOnly},
			FolderIDs: *soap.FolderList("inbox")}, nil)
		var he *soap.HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusForbidden {
			t.Fatalf("want 403, got %v", err)
		}
	})
}
