package tenantgen

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sync"
	"time"
)

// The S/MIME blobs are syntactically real CMS (RFC 5652) in DER: a
// detached SignedData with the signer's certificate and its issuing CA's,
// and an EnvelopedData with one key-transport recipient per reader. Their
// keys, signatures, encrypted keys and ciphertext are pseudo-random bytes:
// nothing verifies or decrypts, but parsers, size limits and
// "has attachment smime.p7m" logic see what real signed and encrypted mail
// gives them. The messageDigest attribute is the real SHA-256 of the
// signed part.

var (
	oidData             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidEnvelopedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidSHA256           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSAEncryption    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA256WithRSA    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidAES256CBC        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidAttrContentType  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrDigest       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidEmailAddress     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidExtKeyUsage      = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtExtKeyUsage   = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidExtSAN           = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidExtBasic         = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidEmailProtection  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 4}
	rsaWithNull         = pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}
	sha256WithRSAOnNull = pkix.AlgorithmIdentifier{Algorithm: oidSHA256WithRSA, Parameters: asn1.NullRawValue}
	sha256Alg           = pkix.AlgorithmIdentifier{Algorithm: oidSHA256}
)

type validity struct{ NotBefore, NotAfter time.Time }

type spki struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

type tbsCertificate struct {
	Version      int `asn1:"explicit,tag:0"`
	SerialNumber *big.Int
	Signature    pkix.AlgorithmIdentifier
	Issuer       asn1.RawValue
	Validity     validity
	Subject      asn1.RawValue
	PublicKey    spki
	Extensions   []pkix.Extension `asn1:"explicit,tag:3"`
}

type certificate struct {
	TBS       tbsCertificate
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
}

type issuerAndSerial struct {
	IssuerName   asn1.RawValue
	SerialNumber *big.Int
}

type attribute struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type signerInfo struct {
	Version                   int
	IssuerAndSerialNumber     issuerAndSerial
	DigestAlgorithm           pkix.AlgorithmIdentifier
	AuthenticatedAttributes   []attribute `asn1:"tag:0"`
	DigestEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedDigest           []byte
}

type encapContent struct{ ContentType asn1.ObjectIdentifier }

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	ContentInfo      encapContent
	Certificates     asn1.RawValue
	SignerInfos      []signerInfo `asn1:"set"`
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue
}

type keyTransRecipient struct {
	Version                int
	IssuerAndSerialNumber  issuerAndSerial
	KeyEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedKey           []byte
}

// certAuthorities issue every generated person's certificate.
var certAuthorities = []string{"Example Trust S/MIME CA 2025", "Contoso Issuing CA 02"}

func randBytes(r *rand.PCG, n int) []byte {
	b := make([]byte, (n+7)/8*8)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n]
}

func mustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		// Only fixed structures of this file are marshalled: an error is a
		// bug here, not bad input.
		panic(fmt.Sprintf("tenantgen: DER: %v", err))
	}
	return b
}

func rdn(cn, org, email string) asn1.RawValue {
	n := pkix.Name{CommonName: cn, Organization: []string{org}}
	seq := n.ToRDNSequence()
	if email != "" {
		seq = append(seq, pkix.RelativeDistinguishedNameSET{{Type: oidEmailAddress, Value: email}})
	}
	return asn1.RawValue{FullBytes: mustMarshal(seq)}
}

// personCert is the certificate of a person's address: the same address
// always gets the same certificate, issuer and serial, as a real user's
// does across the mail they sign.
type personCert struct {
	der    []byte // nil unless asked for
	issuer asn1.RawValue
	serial *big.Int
	ca     int
}

func certFor(p Person, withDER bool) personCert {
	var h uint64 = 0xce57
	for i := 0; i < len(p.Address); i++ {
		h = mix(h, uint64(p.Address[i]), uint64(i))
	}
	r := rand.NewPCG(h, 0x5e1a1)
	ca := int(h % uint64(len(certAuthorities)))
	c := personCert{
		issuer: rdn(certAuthorities[ca], "mailferry test PKI", ""),
		serial: new(big.Int).SetBytes(randBytes(r, 16)),
		ca:     ca,
	}
	if withDER {
		c.der = makeCert(r, c.serial, c.issuer, rdn(p.DisplayName(), "mailferry test PKI", p.Address), p.Address, false)
	}
	return c
}

// caCerts are the issuers' certificates, made once.
var caCerts = sync.OnceValue(func() [][]byte {
	out := make([][]byte, len(certAuthorities))
	for i := range out {
		out[i] = makeCACert(i)
	}
	return out
})

func makeCACert(ca int) []byte {
	r := rand.NewPCG(uint64(ca), 0xca)
	name := rdn(certAuthorities[ca], "mailferry test PKI", "")
	return makeCert(r, new(big.Int).SetBytes(randBytes(r, 16)), name, name, "", true)
}

func makeCert(r *rand.PCG, serial *big.Int, issuer, subject asn1.RawValue, email string, isCA bool) []byte {
	modulus := randBytes(r, 256)
	modulus[0] |= 0x80
	modulus[255] |= 1
	pub := mustMarshal(struct {
		N *big.Int
		E int
	}{new(big.Int).SetBytes(modulus), 65537})
	var exts []pkix.Extension
	if isCA {
		exts = append(exts,
			pkix.Extension{Id: oidExtBasic, Critical: true, Value: mustMarshal(struct {
				IsCA bool `asn1:"optional"`
			}{true})},
			pkix.Extension{Id: oidExtKeyUsage, Critical: true, Value: mustMarshal(asn1.BitString{Bytes: []byte{0x06}, BitLength: 7})})
	} else {
		exts = append(exts,
			pkix.Extension{Id: oidExtKeyUsage, Critical: true, Value: mustMarshal(asn1.BitString{Bytes: []byte{0xa0}, BitLength: 3})},
			pkix.Extension{Id: oidExtExtKeyUsage, Value: mustMarshal([]asn1.ObjectIdentifier{oidEmailProtection})},
			pkix.Extension{Id: oidExtSAN, Value: mustMarshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte(email)}})})
	}
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Uint64()%(300*24)) * time.Hour)
	return mustMarshal(certificate{
		TBS: tbsCertificate{
			Version: 2, SerialNumber: serial, Signature: sha256WithRSAOnNull,
			Issuer: issuer, Subject: subject,
			Validity:   validity{from, from.AddDate(3, 0, 0)},
			PublicKey:  spki{Algorithm: rsaWithNull, PublicKey: asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)}},
			Extensions: exts,
		},
		Algorithm: sha256WithRSAOnNull,
		Signature: asn1.BitString{Bytes: randBytes(r, 256), BitLength: 2048},
	})
}

// signatureDER is an application/pkcs7-signature body: a detached
// SignedData by signer at signed over content whose SHA-256 is digest
// (zeros while only counting; the length is the same).
func signatureDER(seed uint64, signer Person, signed time.Time, digest [32]byte) []byte {
	cert := certFor(signer, true)
	certs := append(append([]byte(nil), cert.der...), caCerts()[cert.ca]...)
	attr := func(oid asn1.ObjectIdentifier, v any) attribute {
		return attribute{Type: oid, Value: asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: mustMarshal(v)}}
	}
	// DER sorts a SET OF by the members' encodings; these three differ
	// first in their length octet (24, 28 and 47 content octets).
	attrs := []attribute{
		attr(oidAttrContentType, oidData),
		attr(oidAttrSigningTime, signed.UTC()),
		attr(oidAttrDigest, digest[:]),
	}
	sd := signedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{sha256Alg},
		ContentInfo:      encapContent{oidData},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: certs},
		SignerInfos: []signerInfo{{
			Version:                   1,
			IssuerAndSerialNumber:     issuerAndSerial{cert.issuer, cert.serial},
			DigestAlgorithm:           sha256Alg,
			AuthenticatedAttributes:   attrs,
			DigestEncryptionAlgorithm: rsaWithNull,
			EncryptedDigest:           randBytes(rand.NewPCG(seed, 0x519), 256),
		}},
	}
	return mustMarshal(contentInfo{
		ContentType: oidSignedData,
		Content:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: mustMarshal(sd)},
	})
}

// derHeader is the identifier and length octets of a DER value of n
// content octets.
func derHeader(tag byte, n int) []byte {
	if n < 0x80 {
		return []byte{tag, byte(n)}
	}
	var l []byte
	for v := n; v > 0; v >>= 8 {
		l = append([]byte{byte(v)}, l...)
	}
	return append([]byte{tag, 0x80 | byte(len(l))}, l...)
}

// envelopedPrefix is an application/pkcs7-mime (enveloped-data) body up
// to the encrypted content: the blob is the prefix followed by n bytes of
// ciphertext, which the caller writes as random bytes without holding them.
// n must be a multiple of the AES block, as CBC with padding gives.
func envelopedPrefix(seed uint64, recipients []Person, n int) []byte {
	r := rand.NewPCG(seed, 0xe7)
	var ris []byte
	for _, p := range recipients {
		c := certFor(p, false)
		ris = append(ris, mustMarshal(keyTransRecipient{
			IssuerAndSerialNumber:  issuerAndSerial{c.issuer, c.serial},
			KeyEncryptionAlgorithm: rsaWithNull,
			EncryptedKey:           randBytes(r, 256),
		})...)
	}
	alg := mustMarshal(pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: mustMarshal(randBytes(r, 16))}})
	dataOID := mustMarshal(oidData)
	ec := derHeader(0x80, n) // [0] IMPLICIT OCTET STRING
	eciLen := len(dataOID) + len(alg) + len(ec) + n
	eci := append(append(append(derHeader(0x30, eciLen), dataOID...), alg...), ec...)
	version := []byte{0x02, 0x01, 0x00}
	riSet := append(derHeader(0x31, len(ris)), ris...)
	envLen := len(version) + len(riSet) + len(derHeader(0x30, eciLen)) + eciLen
	env := append(append(derHeader(0x30, envLen), version...), riSet...)
	envTotal := len(derHeader(0x30, envLen)) + envLen
	explicit := derHeader(0xa0, envTotal)
	oid := mustMarshal(oidEnvelopedData)
	ciLen := len(oid) + len(explicit) + envTotal
	out := append(derHeader(0x30, ciLen), oid...)
	out = append(out, explicit...)
	out = append(out, env...)
	return append(out, eci...)
}
