package ews

import (
	"context"
	"strings"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/platform"
)

// What Verify reports as granted.
const (
	GrantEWS           = "EWS"
	GrantImpersonation = "ApplicationImpersonation"
)

// Verify checks, before any run and in this order, that the server is
// reachable (the host name resolves, a connection opens), that its
// certificate is trusted (or is the pinned one), that it takes the service
// account's credentials with the configured method, that EWS is on, and
// that the account may impersonate a sample mailbox (SampleMailbox, the
// first configured mailbox, or the first one the directory names that is
// not the account's own). Each failure is its own coded error (CodeDNS,
// CodeTLS, CodeAuthFailed, CodeAuthMethod, CodeEWSDisabled, CodeNotEWS,
// CodeImpersonationDenied, CodeMailboxNotFound) with the fix in its
// action; a verified account has nothing missing.
func (c *Connector) Verify(ctx context.Context) (platform.Verification, error) {
	sample := c.cfg.SampleMailbox
	if sample == "" && len(c.cfg.Mailboxes) > 0 {
		sample = c.cfg.Mailboxes[0]
	}
	var err error
	if sample == "" {
		sample, err = c.pickSample(ctx)
	} else {
		// The directory lookup needs no mailbox: it proves the
		// connection, the certificate, the credentials and EWS alone.
		_, _, err = c.resolve(ctx, "SMTP:"+sample)
	}
	if err != nil {
		return platform.Verification{}, err
	}
	if sample == "" {
		return platform.Verification{}, errs.New(CodeMailboxNotFound, "the directory names no mailbox to verify impersonation with",
			"name a mailbox to check in sampleMailbox, or list the mailboxes to migrate in mailboxes")
	}
	var resp soap.GetFolderResponse
	err = c.call(ctx, sample, &soap.GetFolder{FolderShape: soap.FolderShape{BaseShape: soap.ShapeIDOnly},
		FolderIDs: *soap.FolderList("msgfolderroot")}, &resp)
	if err == nil {
		err = c.fail(soap.Check("GetFolder", resp.ResponseMessages.Messages), what{mailbox: sample})
	}
	if errs.Is(err, errs.NotFound) {
		return platform.Verification{}, errs.Wrap(CodeMailboxNotFound, err, "the sample mailbox "+sample+" does not exist on this Exchange",
			"check the address in sampleMailbox (or the first of mailboxes); it must be a mailbox's primary SMTP address")
	}
	if err != nil {
		return platform.Verification{}, err
	}
	method := "NTLM"
	if c.cfg.Auth == soap.AuthBasic {
		method = "Basic"
	}
	return platform.Verification{Granted: []string{GrantEWS + " (" + method + ")", GrantImpersonation}, Missing: []string{}}, nil
}

// pickSample finds a mailbox in the directory, preferring one that is not
// the service account's own (impersonating oneself proves little).
func (c *Connector) pickSample(ctx context.Context) (string, error) {
	own := ""
	for _, ch := range prefixAlphabet {
		res, _, err := c.resolve(ctx, string(ch))
		if err != nil {
			return "", err
		}
		for _, m := range res {
			local, _, _ := strings.Cut(m.ID, "@")
			if local == c.self {
				own = m.ID
				continue
			}
			return m.ID, nil
		}
	}
	return own, nil
}
