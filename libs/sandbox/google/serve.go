package google

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ServeInfo is the first line Serve prints: everything a client needs to
// reach the sandbox.
type ServeInfo struct {
	// BaseURL is the endpoint of Gmail, People and the Directory API
	// (with a trailing slash for option.WithEndpoint); CalendarURL that
	// of Calendar.
	BaseURL     string `json:"baseUrl"`
	CalendarURL string `json:"calendarUrl"`
	TokenURL    string `json:"tokenUrl"`
	// CAFile is the sandbox CA's certificate (PEM) to trust; KeyFile a
	// service-account key file whose client id holds domain-wide
	// delegation of RequiredScopes.
	CAFile     string   `json:"caFile"`
	KeyFile    string   `json:"keyFile"`
	ClientID   string   `json:"clientId"`
	Scopes     []string `json:"scopes"`
	Domain     string   `json:"domain"`
	CustomerID string   `json:"customerId"`
	// Admin is the administrator to impersonate for the Directory API.
	Admin string `json:"admin"`
	Users []User `json:"users"`
}

// Serve runs a seeded sandbox with Google's real quotas on addr until ctx
// ends; `mailferry sandbox google --addr --seed` calls it. Its first line
// of output is a ServeInfo as JSON; the CA certificate and the key file
// are written to a new temporary directory, removed when Serve returns.
func Serve(ctx context.Context, addr string, seed int64, users, messages int, w io.Writer) error {
	sb, err := New(Config{Domain: "mailferry-sandbox.example", Limits: RealLimits()})
	if err != nil {
		return err
	}
	if err := sb.StartOn(addr); err != nil {
		return err
	}
	defer sb.Close()
	sb.Seed(SeedSpec{Users: users, MessagesPerUser: messages, Seed: seed, EventsPerUser: 10, ContactsPerUser: 12})
	dir, err := os.MkdirTemp("", "mailferry-google-sandbox-")
	if err != nil {
		return fmt.Errorf("google sandbox: temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	info := ServeInfo{
		BaseURL: sb.Endpoint(), CalendarURL: sb.CalendarEndpoint(), TokenURL: sb.TokenURL(),
		CAFile: filepath.Join(dir, "ca.pem"), KeyFile: filepath.Join(dir, "service-account.json"),
		ClientID: sb.ClientID(), Scopes: RequiredScopes, Domain: sb.Domain(), CustomerID: sb.CustomerID(),
		Admin: "admin@" + sb.Domain(), Users: sb.Users(),
	}
	if err := sb.WriteCA(info.CAFile); err != nil {
		return err
	}
	if err := os.WriteFile(info.KeyFile, sb.ServiceAccountKey(), 0o600); err != nil {
		return fmt.Errorf("google sandbox: write the key file: %w", err)
	}
	line, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("google sandbox: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%s\n", line); err != nil {
		return fmt.Errorf("google sandbox: write the connection line: %w", err)
	}
	<-ctx.Done()
	return nil
}
