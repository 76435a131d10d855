package graph

import (
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // x5t thumbprints are SHA-1 by definition (RFC 7517)
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log"

	"github.com/mailferry/mailferry/libs/sandbox/sandboxtls"
)

// makeCA creates the sandbox's own CA (sandboxtls), so that clients trust
// exactly this sandbox and nothing is added to any system store.
func (s *Sandbox) makeCA() error {
	ca, err := sandboxtls.NewCA("mailferry Graph sandbox CA")
	if err != nil {
		return err
	}
	s.ca = ca
	return nil
}

func (s *Sandbox) makeLeaf(host string) (*tls.Config, error) {
	return s.ca.ServerConfig(host)
}

func sha256Sum(b []byte) []byte { h := sha256.Sum256(b); return h[:] }
func sha1Sum(b []byte) []byte   { h := sha1.Sum(b); return h[:] } //nolint:gosec

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newGUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// newSecret looks like an Entra client secret value (40 characters with a
// "~" in the fourth place); connectors sometimes check the shape to tell the
// value from the secret's id.
func newSecret() string {
	b := make([]byte, 30)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	return v[:3] + "8Q~" + v[3:37]
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
