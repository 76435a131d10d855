//go:build !windows

package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// aesSealer seals with AES-256-GCM under a key file. Whoever can read the
// key file can read the secrets: the directory (0700) and the key (0600)
// belong to the account the agent runs as, as an SSH private key does.
type aesSealer struct{ aead cipher.AEAD }

func newSealer(dir string) (Sealer, error) {
	path := filepath.Join(dir, keyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := writePrivate(path, key); err != nil {
			return nil, fmt.Errorf("key file: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("key file %s: %d bytes, want 32", path, len(key))
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s is readable by others (mode %o): chmod 600 it", path, fi.Mode().Perm())
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &aesSealer{aead: aead}, nil
}

func (s *aesSealer) Seal(plain []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, nil), nil
}

func (s *aesSealer) Open(sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed data too short")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], nil)
}

func (s *aesSealer) Name() string { return "AES-256-GCM, key file mode 0600" }

func restrictDir(dir string) error { return os.Chmod(dir, 0o700) }

func restrictFile(path string) error { return os.Chmod(path, 0o600) }
