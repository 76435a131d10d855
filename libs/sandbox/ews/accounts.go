package ews

import (
	"fmt"
	"strings"

	"github.com/mailferry/mailferry/libs/ews/soap"
)

// AddAccount creates an account and, with HasMailbox, its mailbox with the
// distinguished folders. An existing username is an error.
func (s *Sandbox) AddAccount(a Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.addAccountLocked(a)
	return err
}

func (s *Sandbox) addAccountLocked(a Account) (*account, error) {
	key := strings.ToLower(strings.TrimSpace(a.Username))
	if key == "" || a.Password == "" {
		return nil, fmt.Errorf("ews sandbox: an account needs a username and a password")
	}
	if s.accounts[key] != nil {
		return nil, fmt.Errorf("ews sandbox: account %s exists", a.Username)
	}
	a.SMTP = strings.ToLower(strings.TrimSpace(a.SMTP))
	if a.SMTP == "" {
		a.SMTP = key + "@" + s.domain
	}
	if a.DisplayName == "" {
		a.DisplayName = a.Username
	}
	acc := &account{Account: a}
	if a.HasMailbox {
		s.mbxN++
		acc.mbx = newMailbox(a.SMTP, a.DisplayName, s.mbxN)
	}
	s.accounts[key] = acc
	s.bySMTP[a.SMTP] = acc
	s.order = append(s.order, acc)
	return acc, nil
}

func (s *Sandbox) withAccount(username string, fn func(*account)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[strings.ToLower(username)]
	if a == nil {
		return fmt.Errorf("ews sandbox: no account %s", username)
	}
	fn(a)
	return nil
}

// SetPassword changes an account's password.
func (s *Sandbox) SetPassword(username, password string) error {
	return s.withAccount(username, func(a *account) { a.Password = password })
}

// SetImpersonation grants or removes the ApplicationImpersonation role.
func (s *Sandbox) SetImpersonation(username string, on bool) error {
	return s.withAccount(username, func(a *account) { a.Impersonation = on })
}

// SetEWSDisabled is Set-CASMailbox -EwsEnabled for an account.
func (s *Sandbox) SetEWSDisabled(username string, off bool) error {
	return s.withAccount(username, func(a *account) { a.EWSDisabled = off })
}

// Mailbox is a mailbox as Mailboxes lists it.
type Mailbox struct {
	SMTP        string `json:"smtp"`
	Username    string `json:"username"`
	DisplayName string `json:"displayName"`
}

// Mailboxes lists the accounts with a mailbox, in creation order.
func (s *Sandbox) Mailboxes() []Mailbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Mailbox
	for _, a := range s.order {
		if a.mbx != nil {
			out = append(out, Mailbox{SMTP: a.SMTP, Username: a.Username, DisplayName: a.DisplayName})
		}
	}
	return out
}

// FolderItemCount is the number of items in a mailbox's folder, named by
// distinguished name or path below the top of the store ("Projects/2026").
func (s *Sandbox) FolderItemCount(smtp, path string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.bySMTP[strings.ToLower(smtp)]
	if a == nil || a.mbx == nil {
		return 0, fmt.Errorf("ews sandbox: no mailbox %s", smtp)
	}
	f := a.mbx.byName[path]
	if f == nil {
		f = a.mbx.top
		for _, part := range strings.Split(path, "/") {
			var next *folder
			for _, ch := range f.children {
				if ch.name == part {
					next = ch
				}
			}
			if next == nil {
				return 0, fmt.Errorf("ews sandbox: no folder %s in %s", path, smtp)
			}
			f = next
		}
	}
	return len(f.items), nil
}

// resolveNames finds mailboxes by ambiguous name resolution: a prefix of
// the address, the display name or the account name; "SMTP:" asks for an
// exact address. At most 100 matches are returned, as on Exchange.
func (c *call) resolveNames() (any, *soap.Fault) {
	var req soap.ResolveNames
	if f := c.decode(&req); f != nil {
		return nil, f
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	q := strings.ToLower(strings.TrimSpace(req.UnresolvedEntry))
	exact := strings.HasPrefix(q, "smtp:")
	q = strings.TrimPrefix(q, "smtp:")
	var res []soap.Resolution
	total := 0
	for _, a := range c.s.order {
		if a.mbx == nil {
			continue
		}
		name := strings.ToLower(a.DisplayName)
		hit := a.SMTP == q
		if !exact && !hit {
			hit = strings.HasPrefix(a.SMTP, q) || strings.HasPrefix(strings.ToLower(a.Username), q) || strings.HasPrefix(name, q)
			for _, w := range strings.Fields(name) {
				hit = hit || strings.HasPrefix(w, q)
			}
		}
		if !hit {
			continue
		}
		total++
		if len(res) == 100 {
			continue
		}
		r := soap.Resolution{Mailbox: soap.EmailAddress{Name: a.DisplayName, EmailAddress: a.SMTP, RoutingType: "SMTP", MailboxType: "Mailbox"}}
		if req.ReturnFullContactData {
			given, sur, _ := strings.Cut(a.DisplayName, " ")
			r.Contact = &soap.Contact{DisplayName: a.DisplayName, GivenName: given, Surname: sur,
				EmailAddresses: &soap.EmailAddresses{Entry: []soap.EmailAddressEntry{{Key: "EmailAddress1", Value: "SMTP:" + a.SMTP}}}}
		}
		res = append(res, r)
	}
	msg := soap.ResolveNamesResponseMessage{ResponseMessage: soap.OK()}
	switch {
	case len(res) == 0:
		msg.ResponseMessage = soap.Fail("ErrorNameResolutionNoResults", "No results were found.")
	case len(res) > 1:
		msg.ResponseMessage = soap.ResponseMessage{ResponseClass: "Warning", ResponseCode: "ErrorNameResolutionMultipleResults",
			MessageText: "Multiple results were found."}
	}
	if len(res) > 0 {
		msg.ResolutionSet = &struct {
			IncludesLastItemInRange *bool             `xml:"IncludesLastItemInRange,attr,omitempty"`
			TotalItemsInView        *int              `xml:"TotalItemsInView,attr,omitempty"`
			Resolution              []soap.Resolution `xml:"http://schemas.microsoft.com/exchange/services/2006/types Resolution"`
		}{IncludesLastItemInRange: soap.Bool(total == len(res)), TotalItemsInView: soap.Int(total), Resolution: res}
	}
	var resp soap.ResolveNamesResponse
	resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, msg)
	return &resp, nil
}
