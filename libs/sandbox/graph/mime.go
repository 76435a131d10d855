package graph

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// parsedMIME is what Graph shows of a message that it derives from the
// MIME: headers, the body it presents and the attachments.
type parsedMIME struct {
	header                    mail.Header
	subject, messageID        string
	date                      time.Time
	from, sender              []*mail.Address
	to, cc, bcc, replyTo      []*mail.Address
	html, text                string
	hasHTML, hasText          bool
	attachments               []*attachment
	importance                string
	inReplyTo, references     string
	contentType, contentTrans string
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// charsetReader understands the charsets mail commonly declares besides
// UTF-8; others are passed through rather than failing the message.
func charsetReader(charset string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "windows-1252", "us-ascii", "ascii":
		b, err := io.ReadAll(in)
		if err != nil {
			return nil, err
		}
		return strings.NewReader(latin1(b)), nil
	}
	return in, nil
}

func latin1(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func decodeHeader(v string) string {
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

func addrList(h mail.Header, key string) []*mail.Address {
	v := h.Get(key)
	if v == "" {
		return nil
	}
	p := mail.AddressParser{WordDecoder: wordDecoder}
	l, err := p.ParseList(v)
	if err != nil {
		// Keep what can be read: Exchange shows malformed addresses as
		// their raw text rather than hiding the recipient.
		return []*mail.Address{{Address: strings.TrimSpace(v)}}
	}
	return l
}

func parseMIME(raw []byte) (*parsedMIME, error) {
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, fmt.Errorf("read MIME: %w", err)
	}
	p := &parsedMIME{header: msg.Header}
	h := msg.Header
	p.subject = decodeHeader(h.Get("Subject"))
	p.messageID = strings.TrimSpace(h.Get("Message-ID"))
	p.inReplyTo = strings.TrimSpace(h.Get("In-Reply-To"))
	p.references = strings.TrimSpace(h.Get("References"))
	if d, err := h.Date(); err == nil {
		p.date = d
	}
	p.from, p.sender = addrList(h, "From"), addrList(h, "Sender")
	p.to, p.cc, p.bcc, p.replyTo = addrList(h, "To"), addrList(h, "Cc"), addrList(h, "Bcc"), addrList(h, "Reply-To")
	p.importance = "normal"
	switch imp := strings.ToLower(strings.TrimSpace(h.Get("Importance"))); {
	case imp == "high" || strings.HasPrefix(h.Get("X-Priority"), "1") || strings.HasPrefix(h.Get("X-Priority"), "2"):
		p.importance = "high"
	case imp == "low" || strings.HasPrefix(h.Get("X-Priority"), "5") || strings.HasPrefix(h.Get("X-Priority"), "4"):
		p.importance = "low"
	}
	p.contentType, p.contentTrans = h.Get("Content-Type"), h.Get("Content-Transfer-Encoding")
	p.walk(textproto.MIMEHeader(h), msg.Body, 0)
	return p, nil
}

// walk visits the MIME tree: the first text/html and text/plain parts
// that are not attachments are the body; the rest are attachments.
func (p *parsedMIME) walk(h textproto.MIMEHeader, body io.Reader, depth int) {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt == "" {
		mt, params = "text/plain", map[string]string{"charset": "us-ascii"}
	}
	if strings.HasPrefix(mt, "multipart/") && depth < 20 {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err != nil {
				return
			}
			p.walk(part.Header, part, depth+1)
		}
	}
	disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	name := decodeHeader(dparams["filename"])
	if name == "" {
		name = decodeHeader(params["name"])
	}
	data, _ := io.ReadAll(decodeTransfer(h.Get("Content-Transfer-Encoding"), body))
	isText := mt == "text/plain" || mt == "text/html"
	if isText && disp != "attachment" && name == "" {
		s := data
		if cs := params["charset"]; cs != "" {
			if r, err := charsetReader(cs, bytes.NewReader(data)); err == nil {
				s, _ = io.ReadAll(r)
			}
		}
		if mt == "text/html" && !p.hasHTML {
			p.html, p.hasHTML = string(s), true
			return
		}
		if mt == "text/plain" && !p.hasText {
			p.text, p.hasText = string(s), true
			return
		}
	}
	if name == "" {
		name = "attachment"
		if mt == "message/rfc822" {
			name = "message.eml"
		}
	}
	p.attachments = append(p.attachments, &attachment{
		name: name, contentType: mt, data: data,
		contentID: strings.Trim(h.Get("Content-Id"), "<>"),
		inline:    disp == "inline" && h.Get("Content-Id") != "",
	})
}

func decodeTransfer(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &spaceStripper{r: r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// spaceStripper drops the spaces and tabs some senders leave in base64
// (the decoder already skips line breaks).
type spaceStripper struct{ r io.Reader }

func (s *spaceStripper) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	j := 0
	for i := 0; i < n; i++ {
		if b[i] != ' ' && b[i] != '\t' {
			b[j] = b[i]
			j++
		}
	}
	return j, err
}

var tagRE = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>|<[^>]+>`)

// htmlToText is the rough conversion Prefer: outlook.body-content-type
// asks for.
func htmlToText(h string) string {
	t := tagRE.ReplaceAllString(h, "")
	r := strings.NewReplacer("&nbsp;", " ", "&lt;", "<", "&gt;", ">", "&amp;", "&", "&quot;", `"`, "&#39;", "'")
	return strings.TrimSpace(r.Replace(t))
}

// preview is Graph's bodyPreview: the first 255 characters of the text,
// whitespace collapsed.
func (p *parsedMIME) preview() string {
	t := p.text
	if !p.hasText {
		t = htmlToText(p.html)
	}
	t = strings.Join(strings.Fields(t), " ")
	if utf8.RuneCountInString(t) > 255 {
		t = string([]rune(t)[:255])
	}
	return t
}

// composed is what a JSON create says about the MIME to build.
type composed struct {
	from, sender         *mail.Address
	to, cc, bcc, replyTo []*mail.Address
	subject              string
	date                 time.Time
	messageID            string
	bodyType, body       string
	importance           string
	headers              [][2]string
	attachments          []*attachment
}

// buildMIME renders a message created from JSON as RFC 5322, the way
// Exchange keeps a MIME view of every item for $value.
func buildMIME(c composed) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	list := func(k string, l []*mail.Address) {
		if len(l) == 0 {
			return
		}
		s := make([]string, len(l))
		for i, a := range l {
			s[i] = a.String()
		}
		hdr(k, strings.Join(s, ", "))
	}
	if c.from != nil {
		hdr("From", c.from.String())
	}
	if c.sender != nil && (c.from == nil || !strings.EqualFold(c.sender.Address, c.from.Address)) {
		hdr("Sender", c.sender.String())
	}
	list("To", c.to)
	list("Cc", c.cc)
	list("Bcc", c.bcc)
	list("Reply-To", c.replyTo)
	hdr("Subject", mime.QEncoding.Encode("utf-8", c.subject))
	hdr("Date", c.date.Format(time.RFC1123Z))
	hdr("Message-ID", c.messageID)
	switch c.importance {
	case "high":
		hdr("Importance", "high")
		hdr("X-Priority", "1")
	case "low":
		hdr("Importance", "low")
		hdr("X-Priority", "5")
	}
	for _, h := range c.headers {
		hdr(h[0], mime.QEncoding.Encode("utf-8", h[1]))
	}
	hdr("MIME-Version", "1.0")
	ctype := "text/plain"
	if strings.EqualFold(c.bodyType, "html") {
		ctype = "text/html"
	}
	writeBody := func() {
		fmt.Fprintf(&b, "Content-Type: %s; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", ctype)
		qw := quotedprintable.NewWriter(&b)
		_, _ = qw.Write([]byte(c.body))
		_ = qw.Close()
		b.WriteString("\r\n")
	}
	if len(c.attachments) == 0 {
		writeBody()
		return b.Bytes()
	}
	bnd := "_mf_" + randomHex(12) + "_"
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", bnd)
	fmt.Fprintf(&b, "--%s\r\n", bnd)
	writeBody()
	for _, a := range c.attachments {
		fmt.Fprintf(&b, "--%s\r\n", bnd)
		writeAttachmentPart(&b, a)
	}
	fmt.Fprintf(&b, "--%s--\r\n", bnd)
	return b.Bytes()
}

func writeAttachmentPart(b *bytes.Buffer, a *attachment) {
	ct := a.contentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	disp := "attachment"
	if a.inline {
		disp = "inline"
	}
	fmt.Fprintf(b, "Content-Type: %s\r\n", mime.FormatMediaType(ct, map[string]string{"name": a.name}))
	fmt.Fprintf(b, "Content-Disposition: %s\r\n", mime.FormatMediaType(disp, map[string]string{"filename": a.name}))
	if a.contentID != "" {
		fmt.Fprintf(b, "Content-ID: <%s>\r\n", a.contentID)
	}
	b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(a.data)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n")
}

// appendAttachments adds attachment parts to a message: into its top
// multipart/mixed when it has one, else by wrapping the original body as
// the first part of a new multipart/mixed.
func appendAttachments(raw []byte, atts []*attachment) []byte {
	sep := []byte("\r\n\r\n")
	i := bytes.Index(raw, sep)
	if i < 0 {
		sep = []byte("\n\n")
		i = bytes.Index(raw, sep)
	}
	if i < 0 {
		i, sep = len(raw), nil
	}
	head, body := raw[:i], raw[min(i+len(sep), len(raw)):]
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(raw)))
	var ct string
	if err == nil {
		ct = msg.Header.Get("Content-Type")
	}
	mt, params, _ := mime.ParseMediaType(ct)
	var parts bytes.Buffer
	if mt == "multipart/mixed" && params["boundary"] != "" {
		closing := []byte("--" + params["boundary"] + "--")
		if j := bytes.LastIndex(body, closing); j >= 0 {
			for _, a := range atts {
				fmt.Fprintf(&parts, "--%s\r\n", params["boundary"])
				writeAttachmentPart(&parts, a)
			}
			out := make([]byte, 0, len(raw)+parts.Len())
			out = append(out, raw[:i+len(sep)+j]...)
			out = append(out, parts.Bytes()...)
			return append(out, raw[i+len(sep)+j:]...)
		}
	}
	// Move the content headers into the first part of a new multipart.
	var kept, moved bytes.Buffer
	lines := strings.SplitAfter(string(head), "\n")
	into := &kept
	for _, l := range lines {
		if l == "" {
			continue
		}
		if l[0] != ' ' && l[0] != '\t' {
			name := strings.ToLower(strings.TrimSpace(strings.SplitN(l, ":", 2)[0]))
			into = &kept
			if strings.HasPrefix(name, "content-") {
				into = &moved
			}
		}
		into.WriteString(l)
	}
	bnd := "_mf_" + randomHex(12) + "_"
	var out bytes.Buffer
	out.Write(bytes.TrimRight(kept.Bytes(), "\r\n"))
	fmt.Fprintf(&out, "\r\nContent-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n--%s\r\n", bnd, bnd)
	if moved.Len() == 0 {
		moved.WriteString("Content-Type: text/plain; charset=us-ascii\r\n")
	}
	out.Write(bytes.TrimRight(moved.Bytes(), "\r\n"))
	out.WriteString("\r\n\r\n")
	out.Write(body)
	if len(body) > 0 && body[len(body)-1] != '\n' {
		out.WriteString("\r\n")
	}
	for _, a := range atts {
		fmt.Fprintf(&out, "--%s\r\n", bnd)
		writeAttachmentPart(&out, a)
	}
	fmt.Fprintf(&out, "--%s--\r\n", bnd)
	return out.Bytes()
}
