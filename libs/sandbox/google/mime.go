package google

import (
	"bytes"
	"encoding/base64"
	"html"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// field is one header field in its original order, as Gmail lists them.
type field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, in io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(in)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "windows-1252", "us-ascii", "ascii":
		return strings.NewReader(latin1(b)), nil
	}
	return bytes.NewReader(b), nil
}}

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

func decodeWords(v string) string {
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// splitHeader separates a header block from the body and unfolds it,
// keeping the order and the names' spelling.
func splitHeader(raw []byte) ([]field, []byte) {
	var fields []field
	rest := raw
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		var line []byte
		if i < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:i], rest[i+1:]
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			return fields, rest
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].Value += " " + strings.TrimSpace(string(line))
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			// Not a header: the message has no header block worth the
			// name; Gmail then treats everything as body.
			return fields, append(line, rest...)
		}
		fields = append(fields, field{Name: strings.TrimSpace(string(name)), Value: strings.TrimSpace(string(value))})
	}
	return fields, nil
}

func headerGet(fs []field, name string) string {
	for _, f := range fs {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// splitMultipart cuts a multipart body into its raw parts.
func splitMultipart(body []byte, boundary string) [][]byte {
	if boundary == "" {
		return nil
	}
	delim := []byte("--" + boundary)
	var parts [][]byte
	i := bytes.Index(body, delim)
	if i < 0 {
		return nil
	}
	pos := i + len(delim)
	for {
		if bytes.HasPrefix(body[pos:], []byte("--")) {
			return parts
		}
		if nl := bytes.IndexByte(body[pos:], '\n'); nl >= 0 {
			pos += nl + 1
		} else {
			return parts
		}
		next := bytes.Index(body[pos:], append([]byte("\n"), delim...))
		if next < 0 {
			return append(parts, body[pos:])
		}
		part := body[pos : pos+next]
		part = bytes.TrimSuffix(part, []byte("\r"))
		parts = append(parts, part)
		pos += next + 1 + len(delim)
	}
}

func decodeTransfer(enc string, b []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, b)
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(out, clean)
		if err != nil {
			n, _ = base64.RawStdEncoding.Decode(out, bytes.TrimRight(clean, "="))
		}
		return out[:n]
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
		if err != nil {
			return b
		}
		return out
	}
	return b
}

// part is a MessagePart of the Gmail API.
type part struct {
	PartID   string  `json:"partId"`
	MimeType string  `json:"mimeType"`
	Filename string  `json:"filename"`
	Headers  []field `json:"headers"`
	Body     struct {
		AttachmentID string `json:"attachmentId,omitempty"`
		Size         int    `json:"size"`
		Data         string `json:"data,omitempty"`
	} `json:"body"`
	Parts []*part `json:"parts,omitempty"`

	data []byte // decoded content of a leaf
}

// parsePart builds the MessagePart tree Gmail shows for format=full:
// headers decoded from RFC 2047, leaves' data decoded from their transfer
// encoding, attachments (parts with a file name) behind an attachment id.
func parsePart(raw []byte, id string, depth int) *part {
	fs, body := splitHeader(raw)
	p := &part{PartID: id, Headers: make([]field, len(fs))}
	for i, f := range fs {
		p.Headers[i] = field{Name: f.Name, Value: decodeWords(f.Value)}
	}
	mt, params, err := mime.ParseMediaType(headerGet(fs, "Content-Type"))
	if err != nil || mt == "" {
		mt, params = "text/plain", nil
	}
	p.MimeType = mt
	_, dparams, _ := mime.ParseMediaType(headerGet(fs, "Content-Disposition"))
	p.Filename = decodeWords(dparams["filename"])
	if p.Filename == "" {
		p.Filename = decodeWords(params["name"])
	}
	if strings.HasPrefix(mt, "multipart/") && depth < 20 {
		for i, raw := range splitMultipart(body, params["boundary"]) {
			childID := strconv.Itoa(i)
			if id != "" {
				childID = id + "." + childID
			}
			p.Parts = append(p.Parts, parsePart(raw, childID, depth+1))
		}
		return p
	}
	if mt == "message/rfc822" && depth < 20 {
		sub := parsePart(body, id+".0", depth+1)
		if id == "" {
			sub.PartID = "0"
		}
		p.Parts = []*part{sub}
		p.data = body
		p.Body.Size = len(body)
		return p
	}
	p.data = decodeTransfer(headerGet(fs, "Content-Transfer-Encoding"), body)
	p.Body.Size = len(p.data)
	return p
}

// fill sets body.data and attachment ids for format=full.
func (p *part) fill(msgID string) {
	for _, c := range p.Parts {
		c.fill(msgID)
	}
	if len(p.Parts) > 0 && p.MimeType != "message/rfc822" {
		return
	}
	if p.Filename != "" {
		p.Body.AttachmentID = attachmentID(msgID, p.PartID)
		return
	}
	if len(p.data) > 0 {
		p.Body.Data = base64.URLEncoding.EncodeToString(p.data)
	}
}

func (p *part) find(partID string) *part {
	if p.PartID == partID {
		return p
	}
	for _, c := range p.Parts {
		if f := c.find(partID); f != nil {
			return f
		}
	}
	return nil
}

// attachmentID is opaque to clients; the sandbox's name the part.
func attachmentID(msgID, partID string) string {
	return "ANGjdJ" + base64.RawURLEncoding.EncodeToString([]byte(msgID+"/"+partID))
}

func partOfAttachment(msgID, attID string) (string, bool) {
	rest, ok := strings.CutPrefix(attID, "ANGjdJ")
	if !ok {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", false
	}
	m, p, ok := strings.Cut(string(b), "/")
	return p, ok && m == msgID
}

// msgInfo is what the sandbox needs of a message's headers and text for
// searching, threading and snippets; it is computed once.
type msgInfo struct {
	messageID         string
	subject           string
	from, to, cc, bcc string
	refs              []string
	date              time.Time
	snippet           string
	spam, hasCalendar bool
	hasAttachment     bool
}

var tagRE = regexp.MustCompile(`(?s)<style.*?</style>|<script.*?</script>|<[^>]*>`)

func infoOf(raw []byte) *msgInfo {
	root := parsePart(raw, "", 0)
	fs := root.Headers
	in := &msgInfo{
		messageID: strings.Trim(strings.TrimSpace(headerGet(fs, "Message-ID")), "<>"),
		subject:   headerGet(fs, "Subject"),
		from:      headerGet(fs, "From"), to: headerGet(fs, "To"), cc: headerGet(fs, "Cc"), bcc: headerGet(fs, "Bcc"),
	}
	for _, r := range strings.Fields(headerGet(fs, "In-Reply-To") + " " + headerGet(fs, "References")) {
		in.refs = append(in.refs, strings.Trim(r, "<>"))
	}
	if d, err := mail.ParseDate(headerGet(fs, "Date")); err == nil {
		in.date = d
	}
	flag := strings.ToLower(headerGet(fs, "X-Spam-Flag") + " " + headerGet(fs, "X-Spam-Status"))
	in.spam = strings.HasPrefix(strings.TrimSpace(flag), "yes")
	var text, htm string
	var walk func(p *part)
	walk = func(p *part) {
		switch {
		case p.MimeType == "text/calendar":
			in.hasCalendar = true
		case p.Filename != "":
			in.hasAttachment = true
		case p.MimeType == "text/plain" && text == "":
			text = string(p.data)
		case p.MimeType == "text/html" && htm == "":
			htm = string(p.data)
		}
		for _, c := range p.Parts {
			walk(c)
		}
	}
	walk(root)
	if text == "" && htm != "" {
		text = html.UnescapeString(tagRE.ReplaceAllString(htm, " "))
	}
	in.snippet = snippetOf(text)
	return in
}

// snippetOf is the start of the text with whitespace collapsed and HTML
// special characters escaped, as Gmail's snippets are.
func snippetOf(text string) string {
	text = strings.Join(strings.Fields(latin1([]byte(text))), " ")
	if r := []rune(text); len(r) > 200 {
		text = string(r[:200])
	}
	return html.EscapeString(text)
}
