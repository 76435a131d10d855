package connectoragent_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/pe"
	"encoding/pem"
	"go/parser"
	"go/token"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the test directory")
		}
		dir = parent
	}
}

// checkPE asserts path is a Windows amd64 console executable.
func checkPE(t *testing.T, path string) {
	t.Helper()
	f, err := pe.Open(path)
	if err != nil {
		t.Fatalf("%s is not a PE binary: %v", path, err)
	}
	defer f.Close()
	if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
		t.Errorf("machine %#x, want amd64", f.Machine)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok || oh.Subsystem != pe.IMAGE_SUBSYSTEM_WINDOWS_CUI {
		t.Errorf("optional header %T: want a 64-bit console executable", f.OptionalHeader)
	}
}

// TestWindowsBuild builds the agent for windows/amd64 and checks the
// result is a valid PE executable; the Makefile target then builds it
// unsigned and, with a throwaway certificate, signed.
func TestWindowsBuild(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH: the Windows build needs the Go toolchain")
	}
	t.Parallel()
	out := filepath.Join(t.TempDir(), "connector-agent.exe")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/connector-agent")
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=windows go build: %v\n%s", err, b)
	}
	checkPE(t, out)

	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not on PATH: the agent-windows target was not tried")
	}
	root := repoRoot(t)
	unsigned := filepath.Join(t.TempDir(), "agent.exe")
	mk := exec.Command("make", "-s", "agent-windows", "AGENT_OUT="+unsigned, "AGENT_VERSION=9.9.9-test")
	mk.Dir = root
	mk.Env = append(os.Environ(), "MAILFERRY_SIGN_CERT=", "MAILFERRY_SIGN_KEY=")
	b, err := mk.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "unsigned") {
		t.Fatalf("make agent-windows without a certificate: %v\n%s", err, b)
	}
	checkPE(t, unsigned)
	data, err := os.ReadFile(unsigned)
	if err != nil || !strings.Contains(string(data), "9.9.9-test") {
		t.Errorf("the executable does not carry the version set by the Makefile")
	}

	if _, err := exec.LookPath("osslsigncode"); err != nil {
		t.Skip("osslsigncode is not on PATH: signing was not tried")
	}
	cert, key := throwawayCert(t)
	signed := filepath.Join(t.TempDir(), "agent-signed.exe")
	mk = exec.Command("make", "-s", "agent-windows", "AGENT_OUT="+signed, "AGENT_VERSION=9.9.9-test")
	mk.Dir = root
	mk.Env = append(os.Environ(), "MAILFERRY_SIGN_CERT="+cert, "MAILFERRY_SIGN_KEY="+key)
	if b, err := mk.CombinedOutput(); err != nil || !strings.Contains(string(b), "signed with") {
		t.Fatalf("make agent-windows with a certificate: %v\n%s", err, b)
	}
	checkPE(t, signed)
	if b, err := exec.Command("osslsigncode", "verify", "-CAfile", cert, "-in", signed).CombinedOutput(); err != nil {
		t.Fatalf("the signature does not verify: %v\n%s", err, b)
	}
	if b, err := exec.Command("osslsigncode", "verify", "-CAfile", cert, "-in", unsigned).CombinedOutput(); err == nil {
		t.Fatalf("the unsigned build verifies; the check proves nothing\n%s", b)
	}
}

// throwawayCert writes a self-signed code-signing certificate and its
// key as PEM files.
func throwawayCert(t *testing.T) (certPath, keyPath string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "mailferry test signer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// TestNothingListens: no package of the agent program (its own and the
// mailferry packages it links) opens a listening socket. The end-to-end
// test checks the running process itself (services/mailferry/internal/e2e).
func TestNothingListens(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH: the agent's packages cannot be listed")
	}
	t.Parallel()
	for _, goos := range []string{"linux", "windows"} {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{\"\\t\"}}{{.ImportPath}}{{\"\\t\"}}{{join .GoFiles \",\"}}{{end}}", "./cmd/connector-agent")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		scanned := 0
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			parts := strings.Split(line, "\t")
			if len(parts) != 3 || !strings.HasPrefix(parts[1], "github.com/mailferry/") {
				continue
			}
			for _, f := range strings.Split(parts[2], ",") {
				scanned++
				for _, call := range listeners(t, filepath.Join(parts[0], f)) {
					t.Errorf("%s: %s/%s calls %s", goos, parts[1], f, call)
				}
			}
		}
		if scanned < 10 {
			t.Fatalf("%s: scanned %d files; the listing is wrong and the check proves nothing", goos, scanned)
		}
	}
}

// listeners returns the calls in a Go file that accept connections.
func listeners(t *testing.T, path string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]bool{"net.Listen": true, "net.ListenTCP": true, "net.ListenUDP": true, "net.ListenPacket": true, "net.ListenUnix": true,
		"http.ListenAndServe": true, "http.ListenAndServeTLS": true, "http.Serve": true, "http.ServeTLS": true, "tls.Listen": true}
	var found []string
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if p == "net/http/httptest" {
			found = append(found, "net/http/httptest")
		}
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for call := range bad {
		if strings.Contains(string(src), call+"(") {
			found = append(found, call)
		}
	}
	return found
}
