package tenantgen_test

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
	"github.com/smallstep/pkcs7"

	"github.com/mailferry/mailferry/libs/tenantgen"
)

const domain = "contoso.test"

// part is one node of a parsed message: its path of media types from the
// top, its header and its decoded body (leaves only).
type part struct {
	path   string
	mt     string
	params map[string]string
	header message.Header
	body   []byte
}

// walk visits every part of e depth first, descending into multiparts and
// into message/rfc822 parts, and reads every leaf to its end, so that a
// broken boundary, base64 or quoted-printable body fails here.
func walk(e *message.Entity, path string, visit func(part)) error {
	mt, params, err := e.Header.ContentType()
	if err != nil {
		return fmt.Errorf("%s: Content-Type: %w", path, err)
	}
	if path != "" {
		path += ">"
	}
	path += mt
	if mr := e.MultipartReader(); mr != nil {
		visit(part{path: path, mt: mt, params: params, header: e.Header})
		n := 0
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: part %d: %w", path, n+1, err)
			}
			n++
			if err := walk(p, path, visit); err != nil {
				return err
			}
		}
		if n == 0 {
			return fmt.Errorf("%s: no parts", path)
		}
		return nil
	}
	body, err := io.ReadAll(e.Body)
	if err != nil {
		return fmt.Errorf("%s: body: %w", path, err)
	}
	visit(part{path: path, mt: mt, params: params, header: e.Header, body: body})
	if mt == "message/rfc822" {
		inner, err := message.Read(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%s: embedded message: %w", path, err)
		}
		return walk(inner, path, visit)
	}
	return nil
}

// signedEntity is the raw first part of a top-level multipart/signed: the
// bytes the signature covers.
func signedEntity(raw []byte, bnd string) []byte {
	open := []byte("--" + bnd + "\r\n")
	i := bytes.Index(raw, open)
	j := bytes.Index(raw[i+len(open):], []byte("\r\n--"+bnd))
	return raw[i+len(open) : i+len(open)+j]
}

// features are what the parsed mail showed; every one must turn up.
type features struct {
	encodedSubject, encodedName, rfc2231File, wordFile bool
	signed, signature, enveloped                       bool
	relatedInAlternativeInMixed, inlineCID             bool
	forwardedMultipart, quotedPrintable, receivedHops  bool
}

// checkMessage parses one generated message with go-message, walks all of
// it and checks what each shape promises.
func checkMessage(t *testing.T, raw []byte, meta tenantgen.MailMeta, f *features) {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: read: %v", meta.MessageID, err)
	}
	h := gomail.Header{Header: e.Header}
	subject, err := h.Subject()
	if err != nil || subject != meta.Subject {
		t.Errorf("%s: subject %q (%v), metadata says %q", meta.MessageID, subject, err, meta.Subject)
	}
	f.encodedSubject = f.encodedSubject || strings.HasPrefix(e.Header.Get("Subject"), "=?utf-8?")
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 {
		t.Fatalf("%s: From: %v %v", meta.MessageID, from, err)
	}
	f.encodedName = f.encodedName || strings.Contains(e.Header.Get("From"), "=?utf-8?")
	if date, err := h.Date(); err != nil || !date.Equal(meta.Received) {
		t.Errorf("%s: Date %v (%v), received %v", meta.MessageID, date, err, meta.Received)
	}
	if id, _ := h.MessageID(); "<"+id+">" != meta.MessageID {
		t.Errorf("Message-ID %q, metadata says %q", id, meta.MessageID)
	}
	f.receivedHops = f.receivedHops || len(e.Header.Values("Received")) == 2

	var parts []part
	if err := walk(e, "", func(p part) { parts = append(parts, p) }); err != nil {
		t.Fatalf("%s (%s): %v\n%.3000s", meta.MessageID, meta.Shape, err, raw)
	}
	cids := map[string]bool{}
	var refs []string
	attachments := 0
	for _, p := range parts {
		if p.header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			f.quotedPrintable = true
		}
		if id := p.header.Get("Content-Id"); id != "" {
			cids[strings.Trim(id, "<>")] = true
		}
		if p.mt == "text/html" {
			for _, s := range strings.Split(string(p.body), `src="cid:`)[1:] {
				refs = append(refs, s[:strings.IndexByte(s, '"')])
			}
		}
		if disp, dp, err := p.header.ContentDisposition(); err == nil && disp != "" {
			ah := gomail.AttachmentHeader{Header: p.header}
			name, err := ah.Filename()
			if err != nil || name == "" {
				t.Errorf("%s: %s: file name %q: %v", meta.MessageID, p.path, name, err)
			}
			if strings.Contains(p.header.Get("Content-Disposition"), "filename*=") && name != "" {
				f.rfc2231File = true
			}
			if strings.Contains(p.header.Get("Content-Disposition"), `filename="=?utf-8?`) {
				f.wordFile = true
			}
			if disp == "attachment" {
				attachments++
			}
			if s := dp["size"]; s != "" && s != fmt.Sprint(len(p.body)) {
				t.Errorf("%s: %s: size=%s, decoded %d bytes", meta.MessageID, name, s, len(p.body))
			}
		}
		switch {
		case p.mt == "multipart/signed":
			if p.params["protocol"] != "application/pkcs7-signature" || p.params["micalg"] != "sha-256" {
				t.Errorf("%s: multipart/signed params %v", meta.MessageID, p.params)
			}
			f.signed = true
		case p.mt == "application/pkcs7-signature":
			checkSignature(t, raw, p, parts[0].params["boundary"], from[0].Address, meta)
			f.signature = true
		case p.mt == "application/pkcs7-mime":
			if p.params["smime-type"] != "enveloped-data" {
				t.Errorf("%s: pkcs7-mime params %v", meta.MessageID, p.params)
			}
			if _, err := pkcs7.Parse(p.body); err != nil {
				t.Errorf("%s: enveloped data does not parse: %v", meta.MessageID, err)
			}
			f.enveloped = true
		case p.path == "multipart/mixed>multipart/alternative>multipart/related":
			f.relatedInAlternativeInMixed = true
		case strings.HasPrefix(p.path, "multipart/mixed>message/rfc822>multipart/"):
			f.forwardedMultipart = true
		}
	}
	for _, ref := range refs {
		if !cids[ref] {
			t.Errorf("%s: HTML refers to cid:%s, no part has that Content-ID", meta.MessageID, ref)
		}
		f.inlineCID = true
	}
	if has := attachments > 0; has != meta.HasAttachments {
		t.Errorf("%s (%s): %d attachments, metadata says HasAttachments %v", meta.MessageID, meta.Shape, attachments, meta.HasAttachments)
	}
}

// checkSignature parses the detached signature with a CMS library and
// verifies it as far as a fake key allows: the certificates parse and name
// the sender, the signed digest is the real one of the signed part, the
// signing time is within the certificate's validity, and only the RSA
// signature itself fails.
func checkSignature(t *testing.T, raw []byte, p part, bnd, sender string, meta tenantgen.MailMeta) {
	t.Helper()
	p7, err := pkcs7.Parse(p.body)
	if err != nil {
		t.Fatalf("%s: signature does not parse: %v", meta.MessageID, err)
	}
	if len(p7.Certificates) != 2 || len(p7.Certificates[0].EmailAddresses) != 1 || p7.Certificates[0].EmailAddresses[0] != sender {
		t.Fatalf("%s: certificates %d, signer's addresses %v, want %s", meta.MessageID, len(p7.Certificates), p7.Certificates[0].EmailAddresses, sender)
	}
	if !p7.Certificates[1].IsCA || p7.Certificates[0].Issuer.String() != p7.Certificates[1].Subject.String() {
		t.Errorf("%s: chain %s <- %s", meta.MessageID, p7.Certificates[0].Issuer, p7.Certificates[1].Subject)
	}
	p7.Content = signedEntity(raw, bnd)
	if err := p7.Verify(); !errors.Is(err, rsa.ErrVerification) {
		t.Errorf("%s: verification ended with %v, want only the signature to fail", meta.MessageID, err)
	}
	var digest []byte
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeMessageDigest, &digest); err != nil || !bytes.Equal(digest, sha256Of(p7.Content)) {
		t.Errorf("%s: messageDigest %x (%v)", meta.MessageID, digest, err)
	}
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// TestMIMEParsesAndSizesAreExact renders a few thousand messages of each
// profile, parses each with go-message down to every leaf (through
// message/rfc822), and checks that the metadata's size is the rendered
// length, that every shape occurs, and that the realism the shapes promise
// is there.
func TestMIMEParsesAndSizesAreExact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		profile tenantgen.Profile
		boxes   int
		per     int
	}{
		{"light", tenantgen.Light, 6, 500},
		{"realistic", tenantgen.Realistic, 2, 300},
		{"small maximum", tenantgen.Realistic.WithMax(2 << 20), 1, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var f features
			shapes := map[tenantgen.Shape]int{}
			for mb := 1; mb <= tc.boxes; mb++ {
				for idx := range tc.per {
					o := tenantgen.Options{Profile: tc.profile}
					meta := tenantgen.Mail(42, mb, idx, domain, o)
					raw, rmeta := tenantgen.RenderMail(42, mb, idx, domain, o)
					if int64(len(raw)) != meta.Size || rmeta.Size != meta.Size {
						t.Fatalf("mailbox %d item %d (%s): metadata size %d, rendered %d bytes (render says %d)", mb, idx, meta.Shape, meta.Size, len(raw), rmeta.Size)
					}
					if fmt.Sprint(meta) != fmt.Sprint(rmeta) {
						t.Fatalf("metadata differs between counting and rendering:\n%+v\n%+v", meta, rmeta)
					}
					if meta.Size > tc.profile.Max {
						t.Fatalf("%s: %d bytes, over the profile's maximum %d", meta.MessageID, meta.Size, tc.profile.Max)
					}
					checkMessage(t, raw, meta, &f)
					shapes[meta.Shape]++
				}
			}
			for s := tenantgen.Plain; s <= tenantgen.Encrypted; s++ {
				if shapes[s] == 0 {
					t.Errorf("no %s message among %d", s, tc.boxes*tc.per)
				}
			}
			if tc.name == "light" {
				want := features{true, true, true, true, true, true, true, true, true, true, true, true}
				if f != want {
					t.Errorf("parsed mail lacks features: %+v", f)
				}
			}
			t.Logf("shapes %v", shapes)
		})
	}
}

// TestLargeMessageRenders renders the largest of a thousand realistic
// messages (one of the multi-megabyte tail, written in chunks) and checks
// its length and that it parses to the last byte.
func TestLargeMessageRenders(t *testing.T) {
	t.Parallel()
	var big tenantgen.MailMeta
	at := 0
	for idx := range 1000 {
		if m := tenantgen.Mail(11, 1, idx, domain, tenantgen.Options{}); m.Size > big.Size {
			big, at = m, idx
		}
	}
	if big.Size < 1<<20 {
		t.Fatalf("largest of 1000 realistic messages is %d bytes, want the tail over 1 MiB", big.Size)
	}
	raw, _ := tenantgen.RenderMail(11, 1, at, domain, tenantgen.Options{})
	if int64(len(raw)) != big.Size {
		t.Fatalf("metadata size %d, rendered %d", big.Size, len(raw))
	}
	var f features
	checkMessage(t, raw, big, &f)
}

// TestDeterministic: the same name gives the same bytes, another seed
// other bytes, for every kind of item.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	render := func(seed int64) []byte {
		var all []byte
		for idx := range 200 {
			m, _ := tenantgen.RenderMail(seed, 7, idx, domain, tenantgen.Options{})
			e, _ := tenantgen.RenderEvent(seed, 7, idx, domain)
			c, _ := tenantgen.RenderContact(seed, 7, idx, domain)
			all = append(append(append(all, m...), e...), c...)
		}
		return all
	}
	a, b, c := render(3), render(3), render(4)
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave different bytes")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds gave the same bytes")
	}
	if x, y := tenantgen.Owner(3, 12, domain), tenantgen.Owner(3, 12, domain); x != y || x.Address != "user0012@"+domain || x.Alias == "" {
		t.Errorf("owner %+v, again %+v", x, y)
	}
}

// sample is the size statistics of mailboxes [from, to) x per messages,
// from metadata alone.
type sample struct {
	n, over1MiB, over10MiB int
	mean, largest          int64
	shapes                 map[tenantgen.Shape]int
}

func measure(seed int64, from, to, per int, p tenantgen.Profile) sample {
	s := sample{shapes: map[tenantgen.Shape]int{}}
	var sum int64
	for mb := from; mb < to; mb++ {
		for idx := range per {
			m := tenantgen.Mail(seed, mb, idx, domain, tenantgen.Options{Profile: p})
			sum += m.Size
			s.largest = max(s.largest, m.Size)
			if m.Size > 1<<20 {
				s.over1MiB++
			}
			if m.Size > 10<<20 {
				s.over10MiB++
			}
			s.shapes[m.Shape]++
			s.n++
		}
	}
	s.mean = sum / int64(s.n)
	return s
}

// TestProfileMeans draws 20,000 messages of each profile from metadata
// alone and checks the size model: the mean, the tail and the maximum.
// The sample (seed 1, mailboxes 1 to 20) holds none of the one-in-100,000
// messages over 10 MB, whose single 150 MB specimen would move the mean of
// 20,000 by 7.5 KB on its own; TestRealisticMeanWithHugeTail covers them.
func TestProfileMeans(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		profile        tenantgen.Profile
		lo, hi         int64 // bounds of the mean
		maxAbove       int64 // the largest message is at least this
		overOneMB      int   // at least this many messages over 1 MiB
		largestAllowed int64
	}{
		{tenantgen.Realistic, 70_000, 80_000, 3 << 20, 40, 150 << 20},
		{tenantgen.Light, 18_000, 22_000, 256 << 10, 0, 1 << 20},
	} {
		t.Run(tc.profile.Name, func(t *testing.T) {
			t.Parallel()
			s := measure(1, 1, 21, 1000, tc.profile)
			t.Logf("%s: mean %d bytes, largest %d, %d of %d over 1 MiB, shapes %v", tc.profile.Name, s.mean, s.largest, s.over1MiB, s.n, s.shapes)
			if s.over10MiB != 0 {
				t.Fatalf("the sample holds %d messages over 10 MiB; it was chosen to hold none", s.over10MiB)
			}
			if s.mean < tc.lo || s.mean > tc.hi {
				t.Errorf("mean %d bytes, want %d to %d", s.mean, tc.lo, tc.hi)
			}
			if s.largest < tc.maxAbove || s.largest > tc.largestAllowed {
				t.Errorf("largest %d bytes, want %d to %d", s.largest, tc.maxAbove, tc.largestAllowed)
			}
			if s.over1MiB < tc.overOneMB {
				t.Errorf("%d messages over 1 MiB, want at least %d", s.over1MiB, tc.overOneMB)
			}
			for sh := tenantgen.Plain; sh <= tenantgen.Encrypted; sh++ {
				if share := float64(s.shapes[sh]) / float64(s.n); share < 0.02 {
					t.Errorf("%s is %.1f%% of the mail, want a few percent at least", sh, 100*share)
				}
			}
		})
	}
}

// TestRealisticMeanWithHugeTail measures 100,000 realistic messages, one
// whole cell of the huge tail, so exactly one message of 10 MB to 150 MB
// is among them: the mean stays near 75 KB with it.
func TestRealisticMeanWithHugeTail(t *testing.T) {
	if testing.Short() {
		t.Skip("measures 100,000 messages")
	}
	t.Parallel()
	s := measure(2026, 0, 100, 1000, tenantgen.Realistic)
	t.Logf("mean %d bytes, largest %d, %d over 1 MiB, %d over 10 MiB", s.mean, s.largest, s.over1MiB, s.over10MiB)
	if s.over10MiB != 1 || s.largest > 150<<20 {
		t.Errorf("%d messages over 10 MiB, the largest %d bytes; want one of at most 150 MiB", s.over10MiB, s.largest)
	}
	if s.mean < 70_000 || s.mean > 80_000 {
		t.Errorf("mean %d bytes, want 70,000 to 80,000", s.mean)
	}
}

// TestFolders: the tree lists parents before children, is at least four
// levels deep, and Place puts mail in every folder.
func TestFolders(t *testing.T) {
	t.Parallel()
	seen := map[tenantgen.Folder]bool{tenantgen.Root: true}
	depth := 0
	for _, f := range tenantgen.Folders() {
		if !seen[f.Parent()] {
			t.Errorf("%s listed before its parent", f)
		}
		seen[f] = true
		depth = max(depth, strings.Count(f.String(), "/")+1)
	}
	if depth < 4 {
		t.Errorf("folder tree %d deep, want at least 4", depth)
	}
	placed := map[tenantgen.Folder]int{}
	for idx := range 5000 {
		placed[tenantgen.Place(1, 1, idx)]++
	}
	for _, f := range tenantgen.Folders() {
		if placed[f] == 0 {
			t.Errorf("no mail placed in %s", f)
		}
	}
	if m := tenantgen.Mail(1, 1, 0, domain, tenantgen.Options{}); m.Folder != tenantgen.Place(1, 1, 0) {
		t.Errorf("metadata folder %s, Place says %s", m.Folder, tenantgen.Place(1, 1, 0))
	}
}

// TestMailInDecidesDirection: a sandbox that places mail itself gets
// messages the owner sent for Sent Items and received ones elsewhere.
func TestMailInDecidesDirection(t *testing.T) {
	t.Parallel()
	owner := tenantgen.Owner(8, 4, domain)
	for idx := range 50 {
		for _, folder := range []tenantgen.Folder{tenantgen.SentItems, tenantgen.Archive} {
			raw, meta := tenantgen.RenderMailIn(8, 4, idx, domain, folder, tenantgen.Options{Profile: tenantgen.Light})
			if meta.Folder != folder || meta.Size != tenantgen.MailIn(8, 4, idx, domain, folder, tenantgen.Options{Profile: tenantgen.Light}).Size {
				t.Fatalf("message %d in %s: metadata %+v", idx, folder, meta)
			}
			e, err := message.Read(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			h := gomail.Header{Header: e.Header}
			from, _ := h.AddressList("From")
			to, _ := h.AddressList("To")
			if sent := folder == tenantgen.SentItems; (from[0].Address == owner.Address) != sent || (to[0].Address == owner.Address) == sent {
				t.Errorf("message %d in %s: from %s to %s, owner %s", idx, folder, from[0].Address, to[0].Address, owner.Address)
			}
		}
	}
}

func BenchmarkMail(b *testing.B) {
	for _, p := range []tenantgen.Profile{tenantgen.Realistic, tenantgen.Light} {
		b.Run("meta/"+p.Name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				tenantgen.Mail(1, 1+i/1000, i%1000, domain, tenantgen.Options{Profile: p})
			}
		})
		b.Run("render/"+p.Name, func(b *testing.B) {
			var n int64
			for i := 0; b.Loop(); i++ {
				raw, _ := tenantgen.RenderMail(1, 1+i/1000, i%1000, domain, tenantgen.Options{Profile: p})
				n += int64(len(raw))
			}
			b.ReportMetric(float64(n)/float64(b.N), "bytes/msg")
		})
	}
}
