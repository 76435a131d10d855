// Package store keeps the agent's state on its own server: the platform's
// address and the agent's identity (agent.json), the agent's credential,
// the local connector's settings (connector.json) and its secrets (the
// Exchange password). Secrets are sealed: on Windows with DPAPI in files
// only SYSTEM and Administrators may read; elsewhere with AES-256-GCM
// under a key file of mode 0600, in a directory of mode 0700. Nothing
// here ever leaves the server except the credential, which authenticates
// the agent to the platform.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Sealer encrypts and decrypts secrets at rest. There is one
// implementation per operating system (sealer_windows.go, sealer_other.go).
type Sealer interface {
	Seal(plain []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
	// Name says how secrets are kept, for people.
	Name() string
}

// Agent is the agent's identity and its platform.
type Agent struct {
	PlatformURL string `json:"platformUrl"`
	AgentID     string `json:"agentId"`
	AccountID   string `json:"accountId,omitempty"`
	Name        string `json:"name"`
	// CAFile, when set, is a PEM bundle trusted for the platform's TLS
	// certificate in addition to the system's roots.
	CAFile string `json:"caFile,omitempty"`
	// InsecureHTTP allows a plain http:// platform URL that is not on
	// this machine (test laboratories only).
	InsecureHTTP bool `json:"insecureHttp,omitempty"`
}

// Connector is the local connector's settings without its secrets.
type Connector struct {
	Platform string            `json:"platform"`
	Fields   map[string]string `json:"fields"`
}

// ErrNotRegistered is returned when the agent has no identity yet.
var ErrNotRegistered = errors.New("this agent is not registered yet: run connector-agent register --url <platform> --token <token>")

// ErrNotConfigured is returned when no local connector is configured.
var ErrNotConfigured = errors.New("no local platform is configured: run connector-agent configure exchange --ews-url <url> --user <account> --password-stdin")

// Store is the agent's directory.
type Store struct {
	dir    string
	sealer Sealer
}

// Files of the directory.
const (
	agentFile      = "agent.json"
	credentialFile = "credential.sealed"
	connectorFile  = "connector.json"
	secretsFile    = "secrets.sealed"
	// keyFile holds the AES-256 key, mode 0600, beside the sealed files
	// (not on Windows, where DPAPI holds the key).
	keyFile = "key"
)

// DefaultDir is where the agent keeps its state when --dir is not given:
// %ProgramData%\mailferry\connector-agent on Windows, /var/lib/mailferry-
// connector-agent for root elsewhere, else the user's config directory.
func DefaultDir() string {
	if d := os.Getenv("MAILFERRY_AGENT_DIR"); d != "" {
		return d
	}
	if runtime.GOOS == "windows" {
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, "mailferry", "connector-agent")
	}
	if os.Geteuid() == 0 {
		return "/var/lib/mailferry-connector-agent"
	}
	if cd, err := os.UserConfigDir(); err == nil {
		return filepath.Join(cd, "mailferry-connector-agent")
	}
	return ".mailferry-connector-agent"
}

// Open opens (creating it if needed) the directory dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent directory %s: %w", dir, err)
	}
	if err := restrictDir(dir); err != nil {
		return nil, fmt.Errorf("agent directory %s: %w", dir, err)
	}
	s, err := newSealer(dir)
	if err != nil {
		return nil, err
	}
	return &Store{dir: dir, sealer: s}, nil
}

// Dir is the directory.
func (s *Store) Dir() string { return s.dir }

// Sealing says how secrets are kept.
func (s *Store) Sealing() string { return s.sealer.Name() }

func (s *Store) readJSON(name string, v any) error {
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func (s *Store) writeJSON(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writePrivate(filepath.Join(s.dir, name), data)
}

func (s *Store) writeSealed(name string, plain []byte) error {
	sealed, err := s.sealer.Seal(plain)
	if err != nil {
		return fmt.Errorf("seal %s: %w", name, err)
	}
	return writePrivate(filepath.Join(s.dir, name), sealed)
}

func (s *Store) readSealed(name string) ([]byte, error) {
	sealed, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		return nil, err
	}
	plain, err := s.sealer.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("open %s (%s): %w", name, s.sealer.Name(), err)
	}
	return plain, nil
}

// SaveAgent records the identity and credential a registration returned.
func (s *Store) SaveAgent(a Agent, credential string) error {
	if err := s.writeSealed(credentialFile, []byte(credential)); err != nil {
		return err
	}
	return s.writeJSON(agentFile, a)
}

// LoadAgent returns the identity and the credential.
func (s *Store) LoadAgent() (Agent, string, error) {
	var a Agent
	if err := s.readJSON(agentFile, &a); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return a, "", ErrNotRegistered
		}
		return a, "", err
	}
	cred, err := s.readSealed(credentialFile)
	if err != nil {
		return a, "", err
	}
	return a, string(cred), nil
}

// SaveConnector records the local connector's settings and secrets.
func (s *Store) SaveConnector(c Connector, secrets map[string]string) error {
	data, err := json.Marshal(secrets)
	if err != nil {
		return err
	}
	if err := s.writeSealed(secretsFile, data); err != nil {
		return err
	}
	return s.writeJSON(connectorFile, c)
}

// LoadConnector returns the local connector's settings and secrets.
func (s *Store) LoadConnector() (Connector, map[string]string, error) {
	var c Connector
	if err := s.readJSON(connectorFile, &c); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return c, nil, ErrNotConfigured
		}
		return c, nil, err
	}
	data, err := s.readSealed(secretsFile)
	if err != nil {
		return c, nil, err
	}
	secrets := map[string]string{}
	if err := json.Unmarshal(data, &secrets); err != nil {
		return c, nil, fmt.Errorf("the sealed secrets are damaged: %w", err)
	}
	return c, secrets, nil
}

// writePrivate writes a file only the agent's account may read, through a
// temporary file, so a crash never leaves half a file.
func writePrivate(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := restrictFile(tmp); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
