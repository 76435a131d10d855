package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mailferry/mailferry/libs/tenantgen"
)

// Serve runs a seeded sandbox with the real Graph limits on addr until ctx
// ends. Its mail has realistic sizes (tenantgen.Realistic: about 75 KB a
// message, a few multi-megabyte ones, rarely one up to the 150 MB limit),
// so a client meets Graph's upload throttle as it would in production. Its
// first line of output is one JSON object with everything a client needs:
// baseUrl, authorityUrl, caFile (written to a new temporary directory),
// tenantId, clientId and clientSecret.
func Serve(ctx context.Context, addr string, seed int64, users, messages int, w io.Writer) error {
	sb, err := New(Config{Limits: RealLimits()})
	if err != nil {
		return err
	}
	if err := sb.StartOn(addr); err != nil {
		return err
	}
	defer sb.Close()
	sb.Seed(SeedSpec{Users: users, MessagesPerUser: messages, Seed: seed, EventsPerUser: 10, ContactsPerUser: 12,
		Profile: tenantgen.Realistic.WithMax(sb.cfg.MaxMessageBytes)})
	dir, err := os.MkdirTemp("", "mailferry-graph-sandbox-")
	if err != nil {
		return fmt.Errorf("graph sandbox: temporary directory for the CA: %w", err)
	}
	defer os.RemoveAll(dir)
	caFile := filepath.Join(dir, "ca.pem")
	if err := sb.WriteCA(caFile); err != nil {
		return err
	}
	tid, cid, secret := sb.Credentials()
	line, err := json.Marshal(map[string]string{
		"baseUrl": sb.BaseURL(), "authorityUrl": sb.AuthorityURL(), "caFile": caFile,
		"tenantId": tid, "clientId": cid, "clientSecret": secret,
	})
	if err != nil {
		return fmt.Errorf("graph sandbox: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%s\n", line); err != nil {
		return fmt.Errorf("graph sandbox: write the connection line: %w", err)
	}
	<-ctx.Done()
	return nil
}
