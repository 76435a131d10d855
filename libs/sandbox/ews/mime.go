package ews

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/mailferry/mailferry/libs/ews/soap"
)

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	// Everything tenantgen and real clients send in encoded words here is
	// UTF-8 or ASCII; other charsets are passed through undecoded.
	return input, nil
}}

func decodeHeader(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

func addrList(h mail.Header, key string) []soap.EmailAddress {
	v := h.Get(key)
	if v == "" {
		return nil
	}
	p := mail.AddressParser{WordDecoder: wordDecoder}
	list, err := p.ParseList(v)
	if err != nil {
		return nil
	}
	out := make([]soap.EmailAddress, 0, len(list))
	for _, a := range list {
		out = append(out, soap.EmailAddress{Name: a.Name, EmailAddress: a.Address, RoutingType: "SMTP", MailboxType: "OneOff"})
	}
	return out
}

func displayList(as []soap.EmailAddress) *string {
	names := make([]string, 0, len(as))
	for _, a := range as {
		n := a.Name
		if n == "" {
			n = a.EmailAddress
		}
		names = append(names, n)
	}
	s := strings.Join(names, "; ")
	return &s
}

// parseMIMEHeaders fills a message's properties from its MIME, as the
// store does when it converts MIME on CreateItem. It reports false for
// bytes that are not a message.
func parseMIMEHeaders(raw []byte, m *soap.Message) bool {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return false
	}
	h := msg.Header
	subject := decodeHeader(h.Get("Subject"))
	m.Subject = &subject
	m.ConversationTopic = &subject
	if from := addrList(h, "From"); len(from) > 0 {
		m.From = &soap.SingleRecipient{Mailbox: from[0]}
		m.Sender = &soap.SingleRecipient{Mailbox: from[0]}
	}
	if s := addrList(h, "Sender"); len(s) > 0 {
		m.Sender = &soap.SingleRecipient{Mailbox: s[0]}
	}
	to, cc := addrList(h, "To"), addrList(h, "Cc")
	if len(to) > 0 {
		m.ToRecipients = &soap.Recipients{Mailbox: to}
	}
	if len(cc) > 0 {
		m.CcRecipients = &soap.Recipients{Mailbox: cc}
	}
	if rt := addrList(h, "Reply-To"); len(rt) > 0 {
		m.ReplyTo = &soap.Recipients{Mailbox: rt}
	}
	m.DisplayTo, m.DisplayCc = displayList(to), displayList(cc)
	if d, err := h.Date(); err == nil {
		m.DateTimeSent = soap.NewDateTime(d)
	}
	m.InternetMessageID = strings.TrimSpace(h.Get("Message-ID"))
	m.InReplyTo = strings.TrimSpace(h.Get("In-Reply-To"))
	m.References = strings.Join(strings.Fields(h.Get("References")), " ")
	switch strings.ToLower(h.Get("Importance")) {
	case "high":
		m.Importance = "High"
	case "low":
		m.Importance = "Low"
	}
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	hasAtt := ct == "multipart/mixed" || bytes.Contains(bytes.ToLower(raw), []byte("content-disposition: attachment"))
	m.HasAttachments = &hasAtt
	return true
}
