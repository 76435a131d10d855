package google

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
	ca, err := sandboxtls.NewCA("mailferry Google sandbox CA")
	if err != nil {
		return err
	}
	s.ca = ca
	return nil
}

func (s *Sandbox) makeLeaf(host string) (*tls.Config, error) {
	return s.ca.ServerConfig(host)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
