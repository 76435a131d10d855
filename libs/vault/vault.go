// Package vault keeps platform credentials encrypted at rest. Secrets are
// sealed with AES-256-GCM under a key from MAILFERRY_VAULT_KEY (or, for the
// embedded single-machine mode, a key file created in the data directory)
// and stored in a JetStream key-value bucket, so every service that needs a
// credential can read it without sharing a database. Events carry only the
// reference; the reference is bound to the ciphertext as additional data, so
// a sealed value copied under another reference does not open.
package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailferry/mailferry/libs/errs"
)

// Bucket is the KV bucket holding sealed secrets.
const Bucket = "vault"

// Store is anything that keeps bytes by key; a JetStream KV bucket in
// production.
type Store interface {
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error)
}

// Vault seals and opens secrets.
type Vault struct {
	aead  cipher.AEAD
	store Store
}

// New returns a vault using key (32 bytes) over store.
func New(key []byte, store Store) (*Vault, error) {
	if store == nil {
		return nil, errors.New("vault: nil store")
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("vault: key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Vault{aead: aead, store: store}, nil
}

// LoadKey returns the vault key: MAILFERRY_VAULT_KEY (standard base64 of 32
// bytes) when set, else the key file in dataDir, created on first use.
// Services running as separate processes must all be given the same
// MAILFERRY_VAULT_KEY; the key file only serves the single-process mode.
func LoadKey(env, dataDir string) ([]byte, error) {
	if env != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(env))
		if err != nil || len(k) != 32 {
			return nil, errs.New(errs.Invalid, "MAILFERRY_VAULT_KEY must be the standard base64 encoding of 32 random bytes", "generate one with: head -c 32 /dev/urandom | base64")
		}
		return k, nil
	}
	if dataDir == "" {
		return nil, errs.New(errs.Invalid, "no vault key: set MAILFERRY_VAULT_KEY or MAILFERRY_DATA_DIR", "set MAILFERRY_VAULT_KEY to the base64 of 32 random bytes")
	}
	path := filepath.Join(dataDir, "vault.key")
	if b, err := os.ReadFile(path); err == nil {
		return LoadKey(string(b), "")
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)), 0o600); err != nil {
		return nil, fmt.Errorf("vault: write key file: %w", err)
	}
	return k, nil
}

// Put seals secret under ref.
func (v *Vault) Put(ctx context.Context, ref string, secret map[string]string) error {
	plain, err := json.Marshal(secret)
	if err != nil {
		return err
	}
	nonce := make([]byte, v.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := v.aead.Seal(nonce, nonce, plain, []byte(ref))
	if _, err := v.store.Put(ctx, key(ref), sealed); err != nil {
		return fmt.Errorf("vault: store %s: %w", ref, err)
	}
	return nil
}

// Get opens the secret stored under ref.
func (v *Vault) Get(ctx context.Context, ref string) (map[string]string, error) {
	e, err := v.store.Get(ctx, key(ref))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, errs.New(errs.NotFound, "no credentials are stored under "+ref, "enter the credentials for this project again")
	}
	if err != nil {
		return nil, fmt.Errorf("vault: read %s: %w", ref, err)
	}
	sealed := e.Value()
	n := v.aead.NonceSize()
	if len(sealed) < n {
		return nil, errs.New(errs.Internal, "the stored credentials under "+ref+" are damaged", "enter the credentials again")
	}
	plain, err := v.aead.Open(nil, sealed[:n], sealed[n:], []byte(ref))
	if err != nil {
		return nil, errs.New(errs.Internal, "the stored credentials cannot be decrypted: the vault key differs from the one they were stored with", "give every service the same MAILFERRY_VAULT_KEY, or enter the credentials again")
	}
	out := map[string]string{}
	if err := json.Unmarshal(plain, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// key turns a reference into a valid KV key.
func key(ref string) string {
	return strings.NewReplacer("/", ".", ":", "_").Replace(ref)
}
