package tenantgen

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode/utf8"
)

// builder either appends or only counts. Every generator writes through
// it, so the size of an item is found by running the same code that renders
// it with render off; bulk parts (filler prose, base64 data) have
// closed-form lengths, so counting them costs nothing however large they
// are.
type builder struct {
	render bool
	buf    []byte
	n      int64
}

func (b *builder) add(ss ...string) {
	for _, s := range ss {
		b.n += int64(len(s))
		if b.render {
			b.buf = append(b.buf, s...)
		}
	}
}

func (b *builder) addf(format string, a ...any) { b.add(fmt.Sprintf(format, a...)) }

// header writes a header line; callers keep values short enough, or fold
// them themselves, so that lines stay within RFC 5322's 998 octets.
func (b *builder) header(name, value string) { b.add(name, ": ", value, "\r\n") }

// contentLine writes an iCalendar or vCard content line folded at 75
// octets, never inside a UTF-8 sequence, as RFC 5545 and RFC 6350 require.
func (b *builder) contentLine(line string) {
	limit := 75
	for len(line) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		b.add(line[:cut], "\r\n ")
		line = line[cut:]
		limit = 74 // the leading space counts
	}
	b.add(line, "\r\n")
}

var fillerWords = strings.Fields(`the project team review budget quarter
schedule meeting customer proposal update attached please find below agenda
migration mailbox timeline we will need your feedback on draft contract
delivery next steps thanks regards following up as discussed yesterday call
numbers forecast invoice approval office travel workshop planning release
status risk owner action items deadline confirm available afternoon morning`)

// filler writes exactly n bytes of wrapped ASCII prose ending in CRLF.
// Its lines are at most 73 octets, never end in a space and contain no
// '=', so the same bytes are valid 7bit and quoted-printable.
func (b *builder) filler(seed uint64, n int) {
	b.n += int64(n)
	if !b.render {
		return
	}
	if n < 2 {
		b.buf = append(b.buf, strings.Repeat(".", n)...)
		return
	}
	r := rand.New(rand.NewPCG(seed, 0xf111e5))
	start, body := len(b.buf), n-2
	line := 0
	for len(b.buf)-start < body {
		w := fillerWords[r.IntN(len(fillerWords))]
		if line > 0 {
			if line+1+len(w) > 72 {
				b.buf = append(b.buf, '\r', '\n')
				line = 0
			} else {
				b.buf = append(b.buf, ' ')
				line++
			}
		}
		b.buf = append(b.buf, w...)
		line += len(w)
		if r.IntN(9) == 0 {
			b.buf = append(b.buf, '.')
			line++
		}
	}
	b.buf = b.buf[:start+body]
	// The cut may leave a lone CR or a trailing space; neither may end a
	// line.
	if body > 0 && (b.buf[len(b.buf)-1] == '\r' || b.buf[len(b.buf)-1] == ' ') {
		b.buf[len(b.buf)-1] = '.'
	}
	b.buf = append(b.buf, '\r', '\n')
}

// base64Len is the length of n bytes in base64 with 76-character lines,
// each ending in CRLF, as RFC 2045 wants.
func base64Len(n int) int64 {
	enc := base64.StdEncoding.EncodedLen(n)
	return int64(enc + 2*((enc+75)/76))
}

// base64Data writes n bytes, prefix first and pseudo-random bytes after it,
// in base64 lines. The prefix makes a blob look like what it claims to be
// (a PDF, a PNG, a DER structure); n smaller than the prefix is raised to
// it. It works in chunks, so a message of a hundred megabytes never holds
// its raw bytes twice.
func (b *builder) base64Data(prefix []byte, seed uint64, n int) {
	n = max(n, len(prefix))
	b.n += base64Len(n)
	if !b.render {
		return
	}
	const lineRaw, linesPerChunk = 57, 1024
	src := &blobSource{prefix: prefix, r: rand.NewPCG(seed, 0xa77ac4)}
	raw := make([]byte, lineRaw*linesPerChunk)
	var enc [76]byte
	for n > 0 {
		k := min(n, len(raw))
		src.read(raw[:k])
		n -= k
		for c := raw[:k]; len(c) > 0; {
			m := min(lineRaw, len(c))
			base64.StdEncoding.Encode(enc[:], c[:m])
			b.buf = append(b.buf, enc[:base64.StdEncoding.EncodedLen(m)]...)
			b.buf = append(b.buf, '\r', '\n')
			c = c[m:]
		}
	}
}

// blobSource yields the prefix, then a PCG stream eight bytes at a time.
type blobSource struct {
	prefix []byte
	r      *rand.PCG
	word   [8]byte
	left   int // unread bytes of word
}

func (s *blobSource) read(p []byte) {
	for len(p) > 0 {
		if len(s.prefix) > 0 {
			k := copy(p, s.prefix)
			s.prefix, p = s.prefix[k:], p[k:]
			continue
		}
		if s.left == 0 {
			if len(p) >= 8 {
				binary.LittleEndian.PutUint64(p, s.r.Uint64())
				p = p[8:]
				continue
			}
			binary.LittleEndian.PutUint64(s.word[:], s.r.Uint64())
			s.left = 8
		}
		k := copy(p, s.word[8-s.left:])
		s.left -= k
		p = p[k:]
	}
}
