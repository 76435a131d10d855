package m365

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/net/html/charset"
)

// parsed is what a MIME message gives Graph's message resource.
type parsed struct {
	messageID          string
	date               time.Time
	subject            string
	from, sender       *mail.Address
	to, cc, bcc, reply []*mail.Address
	importance         string // "", "high", "low"
	html, text         string
	hasHTML, hasText   bool
	attachments        []attachment
}

type attachment struct {
	name        string
	contentType string
	contentID   string
	inline      bool
	data        []byte
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(label string, r io.Reader) (io.Reader, error) {
	return charset.NewReaderLabel(label, r)
}}

func decodeHeader(s string) string {
	d, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// parseMIME reads an RFC 5322 message. Malformed parts do not fail the
// whole message: what cannot be parsed travels as an attachment, so that
// nothing is silently dropped.
func parseMIME(raw []byte) (*parsed, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	p := &parsed{
		messageID: strings.TrimSpace(m.Header.Get("Message-ID")),
		subject:   decodeHeader(m.Header.Get("Subject")),
	}
	if d, err := m.Header.Date(); err == nil {
		p.date = d
	}
	ap := &mail.AddressParser{WordDecoder: wordDecoder}
	one := func(h string) *mail.Address {
		if v := m.Header.Get(h); v != "" {
			if l, err := ap.ParseList(v); err == nil && len(l) > 0 {
				return l[0]
			}
		}
		return nil
	}
	list := func(h string) []*mail.Address {
		var out []*mail.Address
		for _, v := range m.Header[h] {
			if l, err := ap.ParseList(v); err == nil {
				out = append(out, l...)
			}
		}
		return out
	}
	p.from, p.sender = one("From"), one("Sender")
	p.to, p.cc, p.bcc, p.reply = list("To"), list("Cc"), list("Bcc"), list("Reply-To")
	switch imp := strings.ToLower(strings.TrimSpace(m.Header.Get("Importance"))); {
	case imp == "high" || imp == "low":
		p.importance = imp
	default:
		switch pr := strings.TrimSpace(m.Header.Get("X-Priority")); {
		case strings.HasPrefix(pr, "1") || strings.HasPrefix(pr, "2"):
			p.importance = "high"
		case strings.HasPrefix(pr, "4") || strings.HasPrefix(pr, "5"):
			p.importance = "low"
		}
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return nil, err
	}
	p.walk(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Header.Get("Content-Disposition"), "", body, 0)
	return p, nil
}

func (p *parsed) walk(ctype, cte, disp, cid string, body []byte, depth int) {
	if ctype == "" {
		ctype = "text/plain; charset=us-ascii"
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt, params = "application/octet-stream", map[string]string{}
	}
	if strings.HasPrefix(mt, "multipart/") && depth < 20 {
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		n := 0
		for {
			part, err := mr.NextRawPart()
			if err != nil {
				break
			}
			b, err := io.ReadAll(part)
			if err != nil {
				break
			}
			n++
			p.walk(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"),
				part.Header.Get("Content-Disposition"), part.Header.Get("Content-Id"), b, depth+1)
		}
		if n > 0 {
			return
		}
		// An unparseable multipart keeps its bytes as an attachment.
	}
	data := decodeTransfer(cte, body)
	dtype, dparams, _ := mime.ParseMediaType(disp)
	name := decodeHeader(dparams["filename"])
	if name == "" {
		name = decodeHeader(params["name"])
	}
	isAttachment := strings.EqualFold(dtype, "attachment") || name != ""
	if !isAttachment && (mt == "text/html" && !p.hasHTML || mt == "text/plain" && !p.hasText) {
		text := toUTF8(params["charset"], data)
		if mt == "text/html" {
			p.html, p.hasHTML = text, true
		} else {
			p.text, p.hasText = text, true
		}
		return
	}
	if name == "" {
		name = defaultName(mt, len(p.attachments)+1)
	}
	p.attachments = append(p.attachments, attachment{
		name:        name,
		contentType: mt,
		contentID:   strings.Trim(strings.TrimSpace(cid), "<>"),
		// A part referenced by Content-ID (multipart/related images) is
		// shown in the body unless it says it is an attachment.
		inline: cid != "" && !strings.EqualFold(dtype, "attachment"),
		data:   data,
	})
}

func defaultName(mt string, n int) string {
	switch mt {
	case "message/rfc822":
		return fmt.Sprintf("message-%d.eml", n)
	case "text/plain":
		return fmt.Sprintf("part-%d.txt", n)
	case "text/html":
		return fmt.Sprintf("part-%d.html", n)
	case "text/calendar":
		return fmt.Sprintf("invite-%d.ics", n)
	}
	if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
		return fmt.Sprintf("part-%d%s", n, exts[0])
	}
	return fmt.Sprintf("part-%d.bin", n)
}

func decodeTransfer(cte string, body []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, body)
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(out, clean)
		if err != nil {
			// Unpadded or damaged base64: keep what decodes.
			if n2, err2 := base64.RawStdEncoding.Decode(out, bytes.TrimRight(clean, "=")); err2 == nil {
				return out[:n2]
			}
		}
		return out[:n]
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return body
		}
		return out
	}
	return body
}

func toUTF8(label string, data []byte) string {
	if label == "" || strings.EqualFold(label, "utf-8") || strings.EqualFold(label, "us-ascii") {
		return string(data)
	}
	r, err := charset.NewReaderLabel(label, bytes.NewReader(data))
	if err != nil {
		return string(data)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return string(data)
	}
	return string(out)
}
