package ews

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// transport is the HTTPS transport to Exchange: HTTP/1.1 only (IIS
// refuses HTTP/2 with Windows authentication, and NTLM authenticates a
// connection), TLS 1.2 or later, and trust in either the system's roots
// (or roots given) or exactly one pinned server certificate.
func transport(fingerprint string, roots *x509.CertPool) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	tr.MaxIdleConnsPerHost = DefaultConnections
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if fingerprint != "" {
		// A pinned certificate replaces the chain and name checks: it is
		// the one certificate trusted, whatever signed it and whatever
		// name it carries (self-signed Exchange certificates name the
		// server's NetBIOS name, rarely the URL's host).
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return &pinError{want: fingerprint}
			}
			if got := Fingerprint(cs.PeerCertificates[0]); got != fingerprint {
				return &pinError{got: got, want: fingerprint}
			}
			return nil
		}
	}
	tr.TLSClientConfig = cfg
	return tr
}

// Fingerprint is the SHA-256 fingerprint of a certificate, as lower-case
// hex: the value certFingerprint takes.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// normalizeFingerprint accepts a fingerprint as people copy it (upper or
// lower case, with colons, spaces or dashes) and returns it as
// Fingerprint writes it.
func normalizeFingerprint(s string) (string, bool) {
	s = strings.ToLower(strings.NewReplacer(":", "", " ", "", "-", "", "sha256", "", "=", "").Replace(strings.TrimSpace(s)))
	if len(s) != 64 {
		return "", false
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", false
	}
	return s, true
}

// displayFingerprint writes a fingerprint the way certificate dialogs
// show it (AB:CD:...), which is also accepted back.
func displayFingerprint(fp string) string {
	var b strings.Builder
	for i := 0; i+1 < len(fp); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.ToUpper(fp[i : i+2]))
	}
	return b.String()
}

// pinError says the server's certificate is not the pinned one.
type pinError struct{ got, want string }

func (e *pinError) Error() string {
	if e.got == "" {
		return "the server presented no certificate"
	}
	return fmt.Sprintf("the server's certificate has the SHA-256 fingerprint %s, not the pinned %s", displayFingerprint(e.got), displayFingerprint(e.want))
}

// untrustedCert finds the certificate a TLS failure was about: its
// fingerprint and subject, so a person can compare it with the server's
// and pin it.
func untrustedCert(err error) (fp, subject string, pin *pinError, ok bool) {
	if errors.As(err, &pin) {
		return pin.got, "", pin, true
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		if len(cve.UnverifiedCertificates) > 0 {
			leaf := cve.UnverifiedCertificates[0]
			return Fingerprint(leaf), leaf.Subject.CommonName, nil, true
		}
		return "", "", nil, true
	}
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		if ua.Cert != nil {
			return Fingerprint(ua.Cert), ua.Cert.Subject.CommonName, nil, true
		}
		return "", "", nil, true
	case errors.As(err, &he):
		if he.Certificate != nil {
			return Fingerprint(he.Certificate), he.Certificate.Subject.CommonName, nil, true
		}
		return "", "", nil, true
	case errors.As(err, &ci):
		if ci.Cert != nil {
			return Fingerprint(ci.Cert), ci.Cert.Subject.CommonName, nil, true
		}
		return "", "", nil, true
	}
	return "", "", nil, false
}
