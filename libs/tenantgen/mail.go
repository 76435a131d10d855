package tenantgen

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"
)

// Shape is the MIME structure of a generated message.
type Shape uint8

// The shapes, each a share of the mail (see shapeDefs).
const (
	// Plain is a single text/plain body.
	Plain Shape = iota
	// Alternative is multipart/alternative: text/plain and text/html.
	Alternative
	// Mixed is multipart/mixed: an alternative body and one to three
	// attachments.
	Mixed
	// Related is Outlook's HTML with an inline image: multipart/mixed >
	// multipart/alternative > multipart/related (text/html referring to an
	// image by cid:), plus attachments.
	Related
	// Forwarded is a message forwarded as an attachment: multipart/mixed
	// with a note and a message/rfc822 part that has its own multipart.
	Forwarded
	// Signed is S/MIME clear-signed: multipart/signed with
	// protocol="application/pkcs7-signature" over an alternative or mixed
	// entity, and the detached signature.
	Signed
	// Encrypted is S/MIME enveloped: a single application/pkcs7-mime;
	// smime-type=enveloped-data body.
	Encrypted
	shapeCount
)

// shapeDefs gives each shape its share of the mail and, for the size
// calibration, how many text bodies and attachment-sized objects it holds
// on average (in encoded bytes: Encrypted encodes its content twice).
var shapeDefs = [shapeCount]struct {
	name           string
	perMille       int
	texts, objects float64
}{
	Plain:       {"plain", 120, 1, 0},
	Alternative: {"alternative", 460, 2, 0},
	Mixed:       {"mixed", 240, 2, 1.35},
	Related:     {"related", 60, 2, 2.35},
	Forwarded:   {"forwarded", 50, 2, 1.35},
	Signed:      {"signed", 40, 2, 0.675},
	Encrypted:   {"encrypted", 30, 2 * b64, 0.675 * b64},
}

func (s Shape) String() string {
	if s < shapeCount {
		return shapeDefs[s].name
	}
	return fmt.Sprintf("shape(%d)", s)
}

// Options says how mail is generated.
type Options struct {
	// Profile sizes the mail; the zero Profile is Realistic.
	Profile Profile
}

// MailMeta is what is known of a message without its content: everything
// a listing shows, and the exact size of the MIME that RenderMail gives.
type MailMeta struct {
	Size       int64
	Received   time.Time
	Read       bool
	Flagged    bool
	Categories []string
	// Folder is where the message belongs (Place, or what MailIn was
	// given); SentItems means the owner wrote it.
	Folder         Folder
	Shape          Shape
	MessageID      string
	Subject        string // decoded
	HasAttachments bool
}

// Mail is message idx of mailbox mbox without its content, in the folder
// Place gives it. It runs the generator counting instead of writing, so it
// is cheap whatever the message's size.
func Mail(seed int64, mbox, idx int, domain string, o Options) MailMeta {
	return MailIn(seed, mbox, idx, domain, Place(seed, mbox, idx), o)
}

// RenderMail is message idx of mailbox mbox as RFC 5322 MIME, with its
// metadata. The same arguments give the same bytes, and their length is
// Mail's Size.
func RenderMail(seed int64, mbox, idx int, domain string, o Options) ([]byte, MailMeta) {
	return RenderMailIn(seed, mbox, idx, domain, Place(seed, mbox, idx), o)
}

// MailIn is Mail for a sandbox that places mail itself (Gmail's labels,
// Trash, Spam): the message is generated for folder, which only decides
// whether the owner sent it (SentItems) or received it.
func MailIn(seed int64, mbox, idx int, domain string, folder Folder, o Options) MailMeta {
	b := &builder{}
	m := buildMail(b, item{seed, mbox, idx, domain}, folder, o.Profile.sizer())
	m.Size = b.n
	return m
}

// RenderMailIn is RenderMail for a message MailIn describes.
func RenderMailIn(seed int64, mbox, idx int, domain string, folder Folder, o Options) ([]byte, MailMeta) {
	it, sz := item{seed, mbox, idx, domain}, o.Profile.sizer()
	c := &builder{}
	buildMail(c, it, folder, sz)
	b := &builder{render: true, buf: make([]byte, 0, c.n)}
	m := buildMail(b, it, folder, sz)
	m.Size = b.n
	return b.buf, m
}

func (s sizer) shapeOf(it item, t tail) Shape {
	h := int(it.hash(0x5a9e) % 1000)
	shape := Plain
	for sh, d := range shapeDefs {
		if h < d.perMille {
			shape = Shape(sh)
			break
		}
		h -= d.perMille
	}
	if t != tailNone && (shape == Plain || shape == Alternative) {
		shape = Mixed // a big message has something big attached
	}
	return shape
}

var subjects = []string{
	"Quarterly report", "Budget 2026 – first draft", "Réunion d'équipe lundi",
	"Überprüfung der Angebote", "会議の議事録", "Приглашение на встречу",
	"Invoice %d", "Lunch on Friday?", "Project kickoff: agenda", "Café order ☕",
	"Migration timeline", "Contract renewal %d", "Travel plans", "Résumé attached",
	"Status update week %d", "Re-org announcement",
}

var zones = []*time.Location{
	time.FixedZone("CET", 3600), time.FixedZone("EST", -5*3600),
	time.FixedZone("JST", 9*3600), time.UTC, time.FixedZone("IST", 5*3600+1800),
}

func encodeWord(s string) string {
	for _, c := range s {
		if c > 0x24f {
			return mime.BEncoding.Encode("utf-8", s)
		}
	}
	return mime.QEncoding.Encode("utf-8", s)
}

func has8bit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

func qp(s string) string {
	var b strings.Builder
	w := quotedprintable.NewWriter(&b)
	_, _ = w.Write([]byte(s)) // a strings.Builder does not fail
	_ = w.Close()
	return b.String()
}

var categoryNames = []string{"Blue category", "Red category", "Kunde", "Important"}

func drawFlags(r *rand.Rand) (read, flagged bool, categories []string) {
	read = r.IntN(10) < 7
	flagged = r.IntN(20) == 0
	if r.IntN(8) == 0 {
		categories = []string{categoryNames[r.IntN(len(categoryNames))]}
	}
	return
}

var mailBase = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const dateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"

func domainOf(addr string) string { return addr[strings.IndexByte(addr, '@')+1:] }

// text is one written body: the same greeting, prose and signature as
// text/plain and as text/html.
type text struct {
	to, from Person
	n        int    // filler bytes
	seed     uint64 // of the filler
	qp       bool   // quoted-printable, as signed and forwarded content is
	cid      string // an inline image the HTML shows
}

func (t text) pieces() (greeting, signature, htmlHead, htmlTail string) {
	greeting = "Hi " + t.to.First + ",\r\n\r\n"
	signature = "\r\n-- \r\n" + t.from.DisplayName() + "\r\n"
	htmlHead = "<html><head><meta charset=\"utf-8\"></head><body>\r\n<p>Hi " +
		html.EscapeString(t.to.First) + ",</p>\r\n<p>\r\n"
	htmlTail = "</p>\r\n"
	if t.cid != "" {
		htmlTail += "<p><img src=\"cid:" + t.cid + "\" width=\"240\" height=\"80\" alt=\"logo\"></p>\r\n"
	}
	htmlTail += "<p>-- <br>" + html.EscapeString(t.from.DisplayName()) + "</p>\r\n</body></html>\r\n"
	return
}

func (t text) cte(s string) string {
	switch {
	case t.qp:
		return "quoted-printable"
	case has8bit(s):
		return "8bit"
	}
	return "7bit"
}

func (t text) enc(s string) string {
	if t.qp {
		return qp(s)
	}
	return s
}

func (b *builder) plainPart(t text) {
	g, sig, _, _ := t.pieces()
	b.add("Content-Type: text/plain; charset=\"utf-8\"\r\n")
	b.add("Content-Transfer-Encoding: ", t.cte(g+sig), "\r\n\r\n")
	b.add(t.enc(g))
	b.filler(t.seed, t.n)
	b.add(t.enc(sig))
}

func (b *builder) htmlPart(t text) {
	_, _, head, tail := t.pieces()
	b.add("Content-Type: text/html; charset=\"utf-8\"\r\n")
	b.add("Content-Transfer-Encoding: ", t.cte(head+tail), "\r\n\r\n")
	b.add(t.enc(head))
	b.filler(t.seed, t.n)
	b.add(t.enc(tail))
}

// attachment is a file part; its bytes are a seed, not a buffer.
type attachment struct {
	file, ctype string
	magic       []byte
	size        int
	seed        uint64
	cid         string // set for inline images
	wordName    bool   // name as an RFC 2047 word in quotes, as Outlook writes it, not RFC 2231
	modified    time.Time
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\xf0\x00\x00\x00\x50\x08\x06\x00\x00\x00")

var fileKinds = []struct {
	pattern, ctype string
	magic          []byte
}{
	{"report-%d.pdf", "application/pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")},
	{"photo-%d.png", "image/png", pngMagic},
	{"Angebotsübersicht-%d.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", []byte("PK\x03\x04\x14\x00\x06\x00")},
	{"Präsentation Q%d.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", []byte("PK\x03\x04\x14\x00\x06\x00")},
	{"契約書_%d.pdf", "application/pdf", []byte("%PDF-1.6\n%\xe2\xe3\xcf\xd3\n")},
	{"IMG_%04d.JPG", "image/jpeg", []byte("\xff\xd8\xff\xe1\x00\x18Exif\x00\x00")},
	{"Protokoll %d.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", []byte("PK\x03\x04\x14\x00\x06\x00")},
}

func drawFile(r *rand.Rand, size int, modified time.Time) attachment {
	k := fileKinds[r.IntN(len(fileKinds))]
	return attachment{
		file: fmt.Sprintf(k.pattern, r.IntN(10000)), ctype: k.ctype, magic: k.magic,
		size: max(size, len(k.magic)), seed: r.Uint64(), wordName: r.IntN(2) == 0,
		modified: modified.Add(-time.Duration(r.IntN(30*24)) * time.Hour),
	}
}

func (b *builder) attachmentPart(a attachment) {
	name := a.file
	if a.wordName && has8bit(name) {
		name = mime.BEncoding.Encode("utf-8", name)
	}
	disp := "attachment"
	if a.cid != "" {
		disp = "inline"
	}
	b.add("Content-Type: ", mime.FormatMediaType(a.ctype, map[string]string{"name": name}), "\r\n")
	b.add("Content-Description: ", encodeWord(a.file), "\r\n")
	b.add("Content-Disposition: ", mime.FormatMediaType(disp, map[string]string{
		"filename": name, "size": fmt.Sprint(a.size),
		"creation-date":     a.modified.Format(time.RFC1123Z),
		"modification-date": a.modified.Format(time.RFC1123Z),
	}), "\r\n")
	if a.cid != "" {
		b.add("Content-ID: <", a.cid, ">\r\n")
	}
	b.add("Content-Transfer-Encoding: base64\r\n\r\n")
	b.base64Data(a.magic, a.seed, a.size)
}

// randomBase64 is n random bytes from seed in base64; while counting it is
// only the right number of characters, since nobody reads them.
func (b *builder) randomBase64(seed uint64, n int) string {
	enc := base64.StdEncoding.EncodedLen(n)
	if !b.render {
		return strings.Repeat("A", enc)
	}
	return base64.StdEncoding.EncodeToString(randBytes(rand.NewPCG(seed, 0xb64), n))
}

func boundary(r *rand.Rand, kind string) string {
	return fmt.Sprintf("_%03d_mf%s_%016x_", r.IntN(1000), kind, r.Uint64())
}

// content is the entity of a message below its transport headers: the
// shape's tree of parts, starting with its Content-Type header.
type content struct {
	t      text
	atts   []attachment
	inline *attachment
}

func (b *builder) alternative(r *rand.Rand, c content) {
	bnd := boundary(r, "alt")
	b.add("Content-Type: multipart/alternative;\r\n\tboundary=\"", bnd, "\"\r\n\r\n")
	b.add("--", bnd, "\r\n")
	b.plainPart(c.t)
	b.add("--", bnd, "\r\n")
	if c.inline != nil {
		rel := boundary(r, "rel")
		b.add("Content-Type: multipart/related;\r\n\tboundary=\"", rel, "\";\r\n\ttype=\"text/html\"\r\n\r\n")
		b.add("--", rel, "\r\n")
		b.htmlPart(c.t)
		b.add("--", rel, "\r\n")
		b.attachmentPart(*c.inline)
		b.add("--", rel, "--\r\n")
	} else {
		b.htmlPart(c.t)
	}
	b.add("--", bnd, "--\r\n")
}

func (b *builder) mixed(r *rand.Rand, c content) {
	bnd := boundary(r, "mix")
	b.add("Content-Type: multipart/mixed;\r\n\tboundary=\"", bnd, "\"\r\n\r\n")
	b.add("This is a multi-part message in MIME format.\r\n")
	b.add("--", bnd, "\r\n")
	b.alternative(r, c)
	for _, a := range c.atts {
		b.add("--", bnd, "\r\n")
		b.attachmentPart(a)
	}
	b.add("--", bnd, "--\r\n")
}

// entity writes an alternative or, with attachments, a mixed entity.
func (b *builder) entity(r *rand.Rand, c content) {
	if len(c.atts) == 0 && c.inline == nil {
		b.alternative(r, c)
		return
	}
	b.mixed(r, c)
}

var langs = []string{"en-US", "de-DE", "fr-FR", "ja-JP", "en-GB"}

func buildMail(b *builder, it item, folder Folder, sz sizer) MailMeta {
	t := sz.tailOf(it)
	shape := sz.shapeOf(it, t)
	r := it.rng()
	owner := Owner(it.seed, it.mbox, it.domain)
	other := it.correspondent(r)
	from, to := other, owner
	if folder == SentItems {
		from, to = owner, other
	}
	var cc []Person
	for k := r.IntN(5); k > 0 && k < 3; k-- {
		cc = append(cc, it.colleague(r))
	}
	date := mailBase.Add(-time.Duration(r.IntN(365*24*3600)) * time.Second).In(zones[r.IntN(len(zones))])
	subject := subjects[r.IntN(len(subjects))]
	if strings.Contains(subject, "%d") {
		subject = fmt.Sprintf(subject, 1000+r.IntN(9000))
	}
	topic := subject
	reply := shape != Forwarded && r.IntN(5) == 0
	switch {
	case reply:
		subject = "Re: " + subject
	case shape == Forwarded:
		subject = []string{"Fwd: ", "WG: ", "TR: "}[r.IntN(3)] + subject
	}
	msgID := fmt.Sprintf("<%016x.%d.%d@%s>", r.Uint64(), it.mbox, it.idx, domainOf(from.Address))
	meta := MailMeta{Received: date.UTC(), Folder: folder, Shape: shape, MessageID: msgID, Subject: subject}

	if folder != SentItems {
		b.transport(r, from, date, it.domain)
	}
	b.header("Message-ID", msgID)
	b.header("Date", date.Format(dateLayout))
	b.header("From", from.NameAddr())
	b.header("To", to.NameAddr())
	if len(cc) > 0 {
		list := make([]string, len(cc))
		for i, p := range cc {
			list[i] = p.NameAddr()
		}
		b.add("Cc: ", strings.Join(list, ",\r\n\t"), "\r\n")
	}
	b.header("Subject", encodeWord(subject))
	b.header("Thread-Topic", encodeWord(topic))
	b.header("Thread-Index", b.randomBase64(r.Uint64(), 22))
	if reply {
		ref := fmt.Sprintf("<%016x@%s>", r.Uint64(), it.domain)
		b.header("In-Reply-To", ref)
		b.header("References", ref)
	}
	b.header("Content-Language", langs[r.IntN(len(langs))])

	// The sizes: one text length for the message, then its attachments
	// from the profile's budget.
	left := sz.budget
	if shape == Encrypted {
		left = int(float64(left) / b64) // encoded twice
	}
	c := content{t: text{to: to, from: from, n: sz.textLen(r), seed: r.Uint64()}}
	files := func(n int) {
		for ; n > 0; n-- {
			c.atts = append(c.atts, drawFile(r, sz.attachment(r, &left), date))
		}
		if t != tailNone && len(c.atts) > 0 {
			left += c.atts[0].size
			c.atts[0].size = sz.big(r, t, &left)
		}
	}
	count := func() int {
		n := 1
		if r.IntN(4) == 0 {
			n++
		}
		if r.IntN(10) == 0 {
			n++
		}
		return n
	}
	switch shape {
	case Mixed, Forwarded:
		files(count())
	case Related:
		file := fmt.Sprintf("image%03d.png", 1+r.IntN(3))
		img := attachment{
			file: file, ctype: "image/png", magic: pngMagic,
			size: max(sz.attachment(r, &left), len(pngMagic)), seed: r.Uint64(), modified: date,
			cid: fmt.Sprintf("%s@01DC%04X.%08X", file, r.IntN(1<<16), r.Uint32()),
		}
		c.inline, c.t.cid = &img, img.cid
		files(count())
	case Signed, Encrypted:
		// Half carry files, and a big message always does.
		if r.IntN(2) == 0 || t != tailNone {
			files(count())
		}
		c.t.qp = true
	}
	// Outlook and Graph count the signature and the encrypted blob as
	// attachments too.
	meta.HasAttachments = len(c.atts) > 0 || shape == Forwarded || shape == Signed || shape == Encrypted
	if meta.HasAttachments {
		b.header("X-MS-Has-Attach", "yes")
	}
	b.header("MIME-Version", "1.0")

	switch shape {
	case Plain:
		b.plainPart(c.t)
	case Alternative:
		b.alternative(r, c)
	case Mixed, Related:
		b.mixed(r, c)
	case Forwarded:
		b.forwarded(r, c, it, from, date, topic)
	case Signed:
		b.signed(r, c, from, date)
	case Encrypted:
		b.encrypted(r, c, []Person{to, from})
	}
	meta.Read, meta.Flagged, meta.Categories = drawFlags(r)
	return meta
}

// transport writes what the receiving servers add: two Received hops and,
// for mail from outside the tenant, a DKIM signature and the verdicts.
func (b *builder) transport(r *rand.Rand, from Person, date time.Time, domain string) {
	at := date.UTC()
	mbx := fmt.Sprintf("DB9PR%02dMB%04d.eurprd%02d.prod.outlook.com", r.IntN(10), r.IntN(10000), r.IntN(10))
	b.add("Received: from ", fmt.Sprintf("AM9PR%02dMB%04d.eurprd%02d.prod.outlook.com", r.IntN(10), r.IntN(10000), r.IntN(10)),
		fmt.Sprintf(" (2001:db8:%x::%x)\r\n by ", r.IntN(1<<16), r.IntN(1<<16)), mbx,
		" with HTTPS; ", at.Add(2*time.Second).Format(dateLayout), "\r\n")
	sender := domainOf(from.Address)
	b.add("Received: from mail-", fmt.Sprintf("%s%d", strings.SplitN(sender, ".", 2)[0], r.IntN(100)), ".", sender,
		fmt.Sprintf(" (192.0.2.%d)", 1+r.IntN(254)), " by ", mbx, "\r\n with Microsoft SMTP Server (version=TLS1_3,\r\n",
		" cipher=TLS_AES_256_GCM_SHA384) id 15.20.8466.20; ", at.Add(time.Second).Format(dateLayout), "\r\n")
	if sender == domain {
		return
	}
	b.add("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=", sender, "; s=selector", fmt.Sprint(1+r.IntN(2)), ";\r\n",
		"\th=From:Date:Subject:Message-ID:Content-Type:MIME-Version;\r\n",
		"\tbh=", b.randomBase64(r.Uint64(), 32), ";\r\n\tb=")
	s := b.randomBase64(r.Uint64(), 256)
	for len(s) > 72 {
		b.add(s[:72], "\r\n\t ")
		s = s[72:]
	}
	b.add(s, "\r\n")
	b.add("Authentication-Results: spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=", sender,
		"; dkim=pass (signature was verified)\r\n header.d=", sender, ";dmarc=pass action=none header.from=", sender, ";\r\n")
}

// forwarded writes a note and the original message as message/rfc822,
// itself a multipart with the attachments.
func (b *builder) forwarded(r *rand.Rand, c content, it item, forwarder Person, date time.Time, topic string) {
	orig := it.correspondent(r)
	sent := date.Add(-time.Duration(1+r.IntN(72)) * time.Hour)
	bnd := boundary(r, "mix")
	note := text{to: c.t.to, from: forwarder}
	g, sig, _, _ := note.pieces()
	body := g + "Please see the forwarded message below.\r\n" + sig
	b.add("Content-Type: multipart/mixed;\r\n\tboundary=\"", bnd, "\"\r\n\r\n")
	b.add("--", bnd, "\r\n")
	b.add("Content-Type: text/plain; charset=\"utf-8\"\r\n")
	b.add("Content-Transfer-Encoding: ", note.cte(body), "\r\n\r\n", body)
	b.add("--", bnd, "\r\n")
	file := strings.NewReplacer(":", "", "/", "-", "?", "").Replace(topic) + ".eml"
	b.add("Content-Type: message/rfc822\r\n")
	b.add("Content-Disposition: ", mime.FormatMediaType("attachment", map[string]string{"filename": file}), "\r\n\r\n")
	b.header("Message-ID", fmt.Sprintf("<%016x@%s>", r.Uint64(), domainOf(orig.Address)))
	b.header("Date", sent.Format(dateLayout))
	b.header("From", orig.NameAddr())
	b.header("To", forwarder.NameAddr())
	b.header("Subject", encodeWord(topic))
	b.header("MIME-Version", "1.0")
	inner := c
	inner.t.to, inner.t.from, inner.t.qp = forwarder, orig, true
	b.entity(r, inner)
	b.add("--", bnd, "--\r\n")
}

// signed writes multipart/signed: the entity, then a detached CMS
// signature whose messageDigest is the entity's real SHA-256 (RFC 8551
// 3.5.3: the signed bytes are the part's headers and body, without the
// CRLF before the next boundary).
func (b *builder) signed(r *rand.Rand, c content, signer Person, date time.Time) {
	bnd := boundary(r, "sig")
	b.add("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n\tmicalg=sha-256; boundary=\"", bnd, "\"\r\n\r\n")
	b.add("This is a cryptographically signed message in MIME format.\r\n\r\n")
	b.add("--", bnd, "\r\n")
	start := len(b.buf)
	b.entity(r, c)
	var digest [32]byte
	if b.render {
		digest = sha256.Sum256(b.buf[start : len(b.buf)-2])
	}
	der := signatureDER(r.Uint64(), signer, date, digest)
	b.add("--", bnd, "\r\n")
	b.add("Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n")
	b.add("Content-Transfer-Encoding: base64\r\n")
	b.add("Content-Disposition: attachment; filename=\"smime.p7s\"\r\n")
	b.add("Content-Description: S/MIME Cryptographic Signature\r\n\r\n")
	b.base64Data(der, 0, len(der))
	b.add("--", bnd, "--\r\n")
}

// encrypted writes the message as S/MIME enveloped data. The ciphertext
// is as long as AES-CBC makes the entity it hides, which is measured by
// generating that entity counting only, so its size is exact without it
// ever being written.
func (b *builder) encrypted(r *rand.Rand, c content, recipients []Person) {
	inner := &builder{}
	inner.entity(r, c)
	n := int(inner.n/16+1) * 16
	prefix := envelopedPrefix(r.Uint64(), recipients, n)
	b.add("Content-Type: application/pkcs7-mime; smime-type=enveloped-data;\r\n\tname=\"smime.p7m\"\r\n")
	b.add("Content-Transfer-Encoding: base64\r\n")
	b.add("Content-Disposition: attachment; filename=\"smime.p7m\"\r\n")
	b.add("Content-Description: S/MIME Encrypted Message\r\n\r\n")
	b.base64Data(prefix, r.Uint64(), len(prefix)+n)
}
