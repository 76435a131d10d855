package ews

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strings"
	"time"
	"unicode/utf16"

	"golang.org/x/crypto/md4" //nolint:staticcheck // NTLM's NT hash is MD4 by definition (MS-NLMP 3.3.1).
)

// The server side of NTLM (MS-NLMP), enough to check a client's NTLMv2
// response against an account's password the way a domain controller does.
// IIS binds the handshake to the TCP connection: the challenge answers a
// NEGOTIATE message and only an AUTHENTICATE message on the same
// connection can answer it.

var ntlmSignature = []byte("NTLMSSP\x00")

const (
	flagUnicode          = 1 << 0
	flagRequestTarget    = 1 << 2
	flagNTLM             = 1 << 9
	flagAlwaysSign       = 1 << 15
	flagTargetTypeDomain = 1 << 16
	flagExtendedSession  = 1 << 19
	flagTargetInfo       = 1 << 23
	flagVersion          = 1 << 25
	flag128              = 1 << 29
	flag56               = 1 << 31

	// challengeFlags are what Windows offers an NTLMv2 client, less key
	// exchange and the LM key, which a sandbox without signing has no use
	// for (and go-ntlmssp refuses).
	challengeFlags = flagUnicode | flagRequestTarget | flagNTLM | flagAlwaysSign | flagTargetTypeDomain |
		flagExtendedSession | flagTargetInfo | flagVersion | flag128 | flag56
)

// ntlmMessageType is the type of an NTLMSSP message, 0 if it is none.
func ntlmMessageType(b []byte) uint32 {
	if len(b) < 12 || !bytes.Equal(b[:8], ntlmSignature) {
		return 0
	}
	return binary.LittleEndian.Uint32(b[8:12])
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func fromUTF16le(b []byte) string {
	if len(b)%2 != 0 {
		return ""
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// ntlmChallenge builds a CHALLENGE message naming the domain and this
// server, with the current time for the client's NTLMv2 blob.
func ntlmChallenge(nbDomain, dnsDomain, host string) (msg []byte, challenge [8]byte) {
	_, _ = rand.Read(challenge[:])
	nbHost := strings.ToUpper(strings.SplitN(host, ".", 2)[0])
	var info bytes.Buffer
	av := func(id uint16, v []byte) {
		_ = binary.Write(&info, binary.LittleEndian, id)
		_ = binary.Write(&info, binary.LittleEndian, uint16(len(v)))
		info.Write(v)
	}
	av(2, utf16le(nbDomain))
	av(1, utf16le(nbHost))
	av(4, utf16le(dnsDomain))
	av(3, utf16le(strings.ToLower(host)))
	ts := make([]byte, 8)
	binary.LittleEndian.PutUint64(ts, uint64(time.Now().UnixNano()/100)+116444736000000000)
	av(7, ts)
	av(0, nil)
	target := utf16le(nbDomain)
	const headerLen = 56
	var b bytes.Buffer
	b.Write(ntlmSignature)
	_ = binary.Write(&b, binary.LittleEndian, uint32(2))
	_ = binary.Write(&b, binary.LittleEndian, uint16(len(target)))
	_ = binary.Write(&b, binary.LittleEndian, uint16(len(target)))
	_ = binary.Write(&b, binary.LittleEndian, uint32(headerLen))
	_ = binary.Write(&b, binary.LittleEndian, uint32(challengeFlags))
	b.Write(challenge[:])
	b.Write(make([]byte, 8))
	_ = binary.Write(&b, binary.LittleEndian, uint16(info.Len()))
	_ = binary.Write(&b, binary.LittleEndian, uint16(info.Len()))
	_ = binary.Write(&b, binary.LittleEndian, uint32(headerLen+len(target)))
	// Version: Windows Server 2019 (10.0 build 17763), NTLM revision 15.
	b.Write([]byte{10, 0, 0x03, 0x45, 0, 0, 0, 15})
	b.Write(target)
	b.Write(info.Bytes())
	return b.Bytes(), challenge
}

// ntlmAuthenticate is what an AUTHENTICATE message says.
type ntlmAuthenticate struct {
	user, domain, workstation string
	ntResponse                []byte
}

var errNTLMFormat = errors.New("malformed NTLM AUTHENTICATE message")

func parseNTLMAuthenticate(b []byte) (*ntlmAuthenticate, error) {
	if ntlmMessageType(b) != 3 || len(b) < 64 {
		return nil, errNTLMFormat
	}
	field := func(off int) ([]byte, error) {
		l := int(binary.LittleEndian.Uint16(b[off:]))
		start := int(binary.LittleEndian.Uint32(b[off+4:]))
		if start < 0 || start+l > len(b) {
			return nil, errNTLMFormat
		}
		return b[start : start+l], nil
	}
	flags := binary.LittleEndian.Uint32(b[60:])
	str := func(off int) (string, error) {
		v, err := field(off)
		if err != nil {
			return "", err
		}
		if flags&flagUnicode != 0 {
			return fromUTF16le(v), nil
		}
		return string(v), nil
	}
	var a ntlmAuthenticate
	var err error
	if a.ntResponse, err = field(20); err != nil {
		return nil, err
	}
	if a.domain, err = str(28); err != nil {
		return nil, err
	}
	if a.user, err = str(36); err != nil {
		return nil, err
	}
	if a.workstation, err = str(44); err != nil {
		return nil, err
	}
	return &a, nil
}

// verifyNTLMv2 checks the NTProofStr of an NTLMv2 response: HMAC-MD5 keyed
// with NTOWFv2(password, user, domain) over the server challenge and the
// client's blob. NTLMv1 responses (24 bytes) are refused, as a server that
// requires NTLMv2 (LmCompatibilityLevel 5) does.
func verifyNTLMv2(a *ntlmAuthenticate, challenge [8]byte, password string) bool {
	if len(a.ntResponse) <= 24 {
		return false
	}
	h := md4.New()
	h.Write(utf16le(password))
	ntHash := h.Sum(nil)
	ntowf := hmacMD5(ntHash, utf16le(strings.ToUpper(a.user)+a.domain))
	proof := hmacMD5(ntowf, challenge[:], a.ntResponse[16:])
	return hmac.Equal(proof, a.ntResponse[:16])
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}
