package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestSecretsAreSealed(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "agent")
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.LoadAgent(); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("fresh directory: %v, want ErrNotRegistered", err)
	}
	if _, _, err := st.LoadConnector(); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("fresh directory: %v, want ErrNotConfigured", err)
	}
	const cred, password = "mfa_credential-0123456789abcdef", "Exch@nge-Passw0rd!"
	a := Agent{PlatformURL: "https://platform.example", AgentID: "agt_0123456789abcdef", Name: "dc1"}
	if err := st.SaveAgent(a, cred); err != nil {
		t.Fatal(err)
	}
	c := Connector{Platform: "exchange", Fields: map[string]string{"ewsUrl": "https://mail.example/EWS/Exchange.asmx", "username": "CORP\\svc"}}
	if err := st.SaveConnector(c, map[string]string{"password": password}); err != nil {
		t.Fatal(err)
	}

	// A second process (the service) opens what the first sealed.
	again, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	gotA, gotCred, err := again.LoadAgent()
	if err != nil || gotA != a || gotCred != cred {
		t.Fatalf("agent: %+v %q %v", gotA, gotCred, err)
	}
	gotC, secrets, err := again.LoadConnector()
	if err != nil || gotC.Fields["username"] != "CORP\\svc" || secrets["password"] != password {
		t.Fatalf("connector: %+v %v %v", gotC, secrets, err)
	}

	// Nothing secret is in clear in any file, and every file is private.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{cred, password} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s holds a secret in clear", e.Name())
			}
		}
		if runtime.GOOS != "windows" {
			fi, _ := e.Info()
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s has mode %o; others may read it", e.Name(), fi.Mode().Perm())
			}
		}
	}
	if fi, err := os.Stat(dir); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700) {
		t.Errorf("directory mode: %v %v", fi.Mode().Perm(), err)
	}
}

func TestTamperedSecretsAreRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveConnector(Connector{Platform: "memory", Fields: map[string]string{}}, map[string]string{"token": "tok-123456"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, secretsFile)
	data, _ := os.ReadFile(path)
	data[len(data)-1] ^= 1
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.LoadConnector(); err == nil || !strings.Contains(err.Error(), secretsFile) {
		t.Fatalf("tampered secrets: %v, want a refusal naming the file", err)
	}
}

func TestKeyReadableByOthersIsRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows keeps no key file: DPAPI holds the key")
	}
	t.Parallel()
	dir := t.TempDir()
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, keyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("key file of mode 0644: %v, want a refusal", err)
	}
}
