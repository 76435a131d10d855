package ews

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ServeInfo is the first line Serve prints: everything a client needs.
type ServeInfo struct {
	// EWSURL is https://host:port/EWS/Exchange.asmx; CAFile the sandbox
	// CA's certificate (PEM) to trust.
	EWSURL string `json:"ewsUrl"`
	CAFile string `json:"caFile"`
	// Username (DOMAIN\user, for NTLM and Basic) and Password are the
	// service account, which holds ApplicationImpersonation; UPN is its
	// other logon name.
	Username  string    `json:"username"`
	UPN       string    `json:"upn"`
	Password  string    `json:"password"`
	Domain    string    `json:"domain"`
	Mailboxes []Mailbox `json:"mailboxes"`
}

// Serve runs a seeded sandbox with Exchange's default throttling policy on
// addr until ctx ends; `mailferry sandbox exchange --addr --seed` calls it.
// Its first line of output is a ServeInfo as JSON; the CA certificate is
// written to a new temporary directory, removed when Serve returns.
func Serve(ctx context.Context, addr string, seed int64, users, messages int, w io.Writer) error {
	sb, err := New(Config{Limits: RealLimits()})
	if err != nil {
		return err
	}
	if err := sb.StartOn(addr); err != nil {
		return err
	}
	defer sb.Close()
	sb.Seed(SeedSpec{Users: users, MessagesPerUser: messages, EventsPerUser: 10, ContactsPerUser: 12, Seed: seed})
	dir, err := os.MkdirTemp("", "mailferry-ews-sandbox-")
	if err != nil {
		return fmt.Errorf("ews sandbox: temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	info := ServeInfo{EWSURL: sb.URL(), CAFile: filepath.Join(dir, "ca.pem"),
		Username: sb.NetBIOSDomain() + `\` + ServiceAccount, UPN: ServiceAccount + "@" + sb.Domain(),
		Password: Password(seed, ServiceAccount), Domain: sb.Domain(), Mailboxes: sb.Mailboxes()}
	if err := sb.WriteCA(info.CAFile); err != nil {
		return err
	}
	line, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("ews sandbox: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%s\n", line); err != nil {
		return fmt.Errorf("ews sandbox: write the connection line: %w", err)
	}
	<-ctx.Done()
	return nil
}
