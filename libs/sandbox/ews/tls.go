package ews

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"io"
	"log"

	"github.com/mailferry/mailferry/libs/sandbox/sandboxtls"
)

// makeCA creates the sandbox's own CA (sandboxtls), so that clients trust
// exactly this sandbox and nothing is added to any system store.
func (s *Sandbox) makeCA() error {
	ca, err := sandboxtls.NewCA("mailferry Exchange sandbox CA")
	if err != nil {
		return err
	}
	s.ca = ca
	return nil
}

func (s *Sandbox) makeLeaf(host string) (*tls.Config, error) {
	cfg, err := s.ca.ServerConfig(host, s.host)
	if err != nil {
		return nil, err
	}
	// HTTP/1.1 only: NTLM authenticates a connection, which HTTP/2 does
	// not have per request, so IIS refuses HTTP/2 with Windows
	// authentication as well.
	cfg.NextProtos = []string{"http/1.1"}
	return cfg, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
