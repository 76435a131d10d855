// Package soap is the wire model of Exchange Web Services (EWS) and a small
// client for it: encoding/xml structures for the operations mailferry uses
// (folders, items as MIME, calendar items, contacts, sync, name resolution),
// the SOAP envelope with the ExchangeImpersonation and RequestServerVersion
// headers, SOAP faults such as ErrorServerBusy with BackOffMilliseconds,
// and an HTTP client that authenticates with Basic or NTLM.
//
// The structures follow the official schemas (types.xsd, messages.xsd): the
// fields of every struct are declared in the order of the schema's
// sequence, because encoding/xml writes them in declaration order and EWS
// rejects elements out of order. Only what mailferry needs is modelled;
// unknown elements in responses are ignored on decoding.
//
// Both sides of the EWS sandbox (libs/sandbox/ews) speak through these
// types, and its tests validate every request and response against the
// official schemas, so a drift of this package from the real protocol
// fails a test rather than a customer's migration.
package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// XML namespaces of EWS.
const (
	NSSoap     = "http://schemas.xmlsoap.org/soap/envelope/"
	NSMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
	NSTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
	NSErrors   = "http://schemas.microsoft.com/exchange/services/2006/errors"
	nsXML      = "http://www.w3.org/XML/1998/namespace"
)

// prefixes are the prefixes EWS traffic conventionally uses; the envelope
// declares them once, so elements carry no namespace declarations of their
// own.
var prefixes = map[string]string{NSSoap: "soap", NSMessages: "m", NSTypes: "t"}

// Header is the part of the SOAP header mailferry reads or writes.
type Header struct {
	RequestServerVersion  *RequestServerVersion  `xml:"http://schemas.microsoft.com/exchange/services/2006/types RequestServerVersion"`
	ExchangeImpersonation *ExchangeImpersonation `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExchangeImpersonation"`
	ServerVersionInfo     *ServerVersionInfo     `xml:"http://schemas.microsoft.com/exchange/services/2006/types ServerVersionInfo"`
}

// RequestServerVersion names the schema version a request is written for.
type RequestServerVersion struct {
	Version string `xml:"Version,attr"`
}

// ExchangeImpersonation makes the request act as another mailbox; the
// caller needs the ApplicationImpersonation role.
type ExchangeImpersonation struct {
	ConnectingSID ConnectingSID `xml:"http://schemas.microsoft.com/exchange/services/2006/types ConnectingSID"`
}

// ConnectingSID names the impersonated account by exactly one of its
// identifiers.
type ConnectingSID struct {
	PrincipalName      string `xml:"http://schemas.microsoft.com/exchange/services/2006/types PrincipalName,omitempty"`
	SID                string `xml:"http://schemas.microsoft.com/exchange/services/2006/types SID,omitempty"`
	PrimarySmtpAddress string `xml:"http://schemas.microsoft.com/exchange/services/2006/types PrimarySmtpAddress,omitempty"`
	SmtpAddress        string `xml:"http://schemas.microsoft.com/exchange/services/2006/types SmtpAddress,omitempty"`
}

// Address is whichever identifier the SID carries.
func (c ConnectingSID) Address() string {
	for _, s := range []string{c.PrimarySmtpAddress, c.SmtpAddress, c.PrincipalName, c.SID} {
		if s != "" {
			return s
		}
	}
	return ""
}

// ServerVersionInfo is the server's build, sent in every response header.
type ServerVersionInfo struct {
	MajorVersion     int    `xml:"MajorVersion,attr"`
	MinorVersion     int    `xml:"MinorVersion,attr"`
	MajorBuildNumber int    `xml:"MajorBuildNumber,attr"`
	MinorBuildNumber int    `xml:"MinorBuildNumber,attr"`
	Version          string `xml:"Version,attr,omitempty"`
}

// Fault is a SOAP 1.1 fault as EWS sends it: a fault code in the types
// namespace (a:ErrorServerBusy), a text, and in the detail the response
// code, the message and MessageXml values such as BackOffMilliseconds.
type Fault struct {
	Code         string
	String       string
	ResponseCode string
	Message      string
	// Values are the Name/value pairs of the detail's MessageXml.
	Values map[string]string
}

// faultXML is Fault on the wire. SOAP 1.1 fault children are unqualified.
type faultXML struct {
	XMLName     xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault"`
	FaultCode   string   `xml:"faultcode"`
	FaultString struct {
		Lang string `xml:"http://www.w3.org/XML/1998/namespace lang,attr,omitempty"`
		Text string `xml:",chardata"`
	} `xml:"faultstring"`
	Detail struct {
		ResponseCode string `xml:"http://schemas.microsoft.com/exchange/services/2006/errors ResponseCode,omitempty"`
		Message      string `xml:"http://schemas.microsoft.com/exchange/services/2006/errors Message,omitempty"`
		MessageXML   *struct {
			Values []struct {
				Name  string `xml:"Name,attr"`
				Value string `xml:",chardata"`
			} `xml:"Value"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/types MessageXml"`
	} `xml:"detail"`
}

func (f *Fault) Error() string {
	code := f.ResponseCode
	if code == "" {
		code = f.Code
	}
	return fmt.Sprintf("ews fault %s: %s", code, f.String)
}

// MarshalFault writes a fault element. The fault code is written with its
// own prefix declaration, as Exchange does, because a QName's prefix must
// be in scope where it is used.
func MarshalFault(f *Fault) []byte {
	var b bytes.Buffer
	b.WriteString(`<soap:Fault><faultcode xmlns:a="` + NSTypes + `">a:`)
	xml.EscapeText(&b, []byte(f.ResponseCode))
	b.WriteString(`</faultcode><faultstring xml:lang="en-US">`)
	xml.EscapeText(&b, []byte(f.String))
	b.WriteString(`</faultstring><detail><e:ResponseCode xmlns:e="` + NSErrors + `">`)
	xml.EscapeText(&b, []byte(f.ResponseCode))
	b.WriteString(`</e:ResponseCode><e:Message xmlns:e="` + NSErrors + `">`)
	msg := f.Message
	if msg == "" {
		msg = f.String
	}
	xml.EscapeText(&b, []byte(msg))
	b.WriteString(`</e:Message>`)
	if len(f.Values) > 0 {
		b.WriteString(`<t:MessageXml>`)
		for _, k := range sortedKeys(f.Values) {
			b.WriteString(`<t:Value Name="`)
			xml.EscapeText(&b, []byte(k))
			b.WriteString(`">`)
			xml.EscapeText(&b, []byte(f.Values[k]))
			b.WriteString(`</t:Value>`)
		}
		b.WriteString(`</t:MessageXml>`)
	}
	b.WriteString(`</detail></soap:Fault>`)
	return b.Bytes()
}

// Envelope is a decoded SOAP envelope: its header, the name of the one
// element inside its body, and the fault if the body holds one. The body
// element itself is decoded by Decode, once the caller knows its type.
type Envelope struct {
	Header Header
	// BodyName is the name of the element inside the body.
	BodyName xml.Name
	Fault    *Fault
	raw      []byte
}

// ErrNotSOAP says a body is not a SOAP envelope.
var ErrNotSOAP = errors.New("not a SOAP envelope")

// bodyStart advances d to the start of the element inside the body,
// decoding the header on the way when h is not nil.
func bodyStart(d *xml.Decoder, h *Header) (*xml.StartElement, error) {
	depth := 0
	inBody := false
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				if t.Name.Space != NSSoap || t.Name.Local != "Envelope" {
					return nil, fmt.Errorf("root element is %s", t.Name.Local)
				}
			case depth == 2 && t.Name.Space == NSSoap && t.Name.Local == "Header":
				if h != nil {
					if err := d.DecodeElement(h, &t); err != nil {
						return nil, err
					}
				} else if err := d.Skip(); err != nil {
					return nil, err
				}
				depth--
			case depth == 2 && t.Name.Space == NSSoap && t.Name.Local == "Body":
				inBody = true
			case depth == 3 && inBody:
				return &t, nil
			}
		case xml.EndElement:
			depth--
			if depth < 2 && inBody {
				return nil, io.EOF
			}
		}
	}
}

// ParseEnvelope reads an envelope's header and finds its body element
// without decoding it, so the caller can dispatch on BodyName and decode
// the (possibly large) body once.
func ParseEnvelope(data []byte) (*Envelope, error) {
	env := &Envelope{raw: data}
	d := xml.NewDecoder(bytes.NewReader(data))
	start, err := bodyStart(d, &env.Header)
	if errors.Is(err, io.EOF) {
		return env, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSOAP, err)
	}
	env.BodyName = start.Name
	if start.Name.Space == NSSoap && start.Name.Local == "Fault" {
		var fx faultXML
		if err := d.DecodeElement(&fx, start); err != nil {
			return nil, fmt.Errorf("%w: fault: %w", ErrNotSOAP, err)
		}
		env.Fault = fx.fault()
	}
	return env, nil
}

func (fx *faultXML) fault() *Fault {
	f := &Fault{Code: fx.FaultCode, String: fx.FaultString.Text, ResponseCode: fx.Detail.ResponseCode, Message: fx.Detail.Message}
	if i := strings.LastIndexByte(f.Code, ':'); i >= 0 && f.ResponseCode == "" {
		f.ResponseCode = f.Code[i+1:]
	}
	if fx.Detail.MessageXML != nil {
		f.Values = map[string]string{}
		for _, v := range fx.Detail.MessageXML.Values {
			f.Values[v.Name] = strings.TrimSpace(v.Value)
		}
	}
	return f
}

// Decode decodes the body element into v.
func (e *Envelope) Decode(v any) error {
	if e.BodyName.Local == "" {
		return errors.New("ews: empty SOAP body")
	}
	d := xml.NewDecoder(bytes.NewReader(e.raw))
	start, err := bodyStart(d, nil)
	if err != nil {
		return fmt.Errorf("ews: decode %s: %w", e.BodyName.Local, err)
	}
	if err := d.DecodeElement(v, start); err != nil {
		return fmt.Errorf("ews: decode %s: %w", e.BodyName.Local, err)
	}
	return nil
}

// BuildEnvelope writes a complete envelope with the header and the body
// (an operation's request or response, or nil with a fault).
func BuildEnvelope(h *Header, body any, fault *Fault) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` +
		`<soap:Envelope xmlns:soap="` + NSSoap + `" xmlns:m="` + NSMessages + `" xmlns:t="` + NSTypes + `">`)
	if h != nil && (h.RequestServerVersion != nil || h.ExchangeImpersonation != nil || h.ServerVersionInfo != nil) {
		b.WriteString(`<soap:Header>`)
		if h.RequestServerVersion != nil {
			if err := marshalInto(&b, h.RequestServerVersion, "RequestServerVersion"); err != nil {
				return nil, err
			}
		}
		if h.ExchangeImpersonation != nil {
			if err := marshalInto(&b, h.ExchangeImpersonation, "ExchangeImpersonation"); err != nil {
				return nil, err
			}
		}
		if h.ServerVersionInfo != nil {
			if err := marshalInto(&b, h.ServerVersionInfo, "ServerVersionInfo"); err != nil {
				return nil, err
			}
		}
		b.WriteString(`</soap:Header>`)
	}
	b.WriteString(`<soap:Body>`)
	switch {
	case fault != nil:
		b.Write(MarshalFault(fault))
	case body != nil:
		if err := marshalInto(&b, body, ""); err != nil {
			return nil, err
		}
	}
	b.WriteString(`</soap:Body></soap:Envelope>`)
	return b.Bytes(), nil
}

// marshalInto writes v with the conventional prefixes. A header struct has
// no XMLName, so typesName names its element in the types namespace.
func marshalInto(w *bytes.Buffer, v any, typesName string) error {
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	var err error
	if typesName != "" {
		err = enc.EncodeElement(v, xml.StartElement{Name: xml.Name{Space: NSTypes, Local: typesName}})
	} else {
		err = enc.Encode(v)
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		return fmt.Errorf("ews: encode: %w", err)
	}
	return prefixed(w, b.Bytes())
}

// prefixed rewrites encoding/xml's output, which declares a default
// namespace on every element, into the prefixed form of EWS traffic.
// Elements of other namespaces keep a default namespace declaration.
func prefixed(w *bytes.Buffer, raw []byte) error {
	d := xml.NewDecoder(bytes.NewReader(raw))
	type frame struct{ name string }
	var stack []frame
	defaultNS := []string{""}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ews: encode: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			cur := defaultNS[len(defaultNS)-1]
			decl := ""
			if p, ok := prefixes[t.Name.Space]; ok {
				name = p + ":" + name
			} else if t.Name.Space != cur {
				decl = t.Name.Space
				cur = t.Name.Space
			}
			defaultNS = append(defaultNS, cur)
			w.WriteString("<" + name)
			if decl != "" {
				w.WriteString(` xmlns="`)
				xml.EscapeText(w, []byte(decl))
				w.WriteString(`"`)
			}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				an := a.Name.Local
				switch a.Name.Space {
				case "":
				case nsXML:
					an = "xml:" + an
				default:
					return fmt.Errorf("ews: encode: attribute %s in namespace %s", a.Name.Local, a.Name.Space)
				}
				w.WriteString(" " + an + `="`)
				escapeAttr(w, a.Value)
				w.WriteString(`"`)
			}
			w.WriteString(">")
			stack = append(stack, frame{name})
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			defaultNS = defaultNS[:len(defaultNS)-1]
			w.WriteString("</" + f.name + ">")
		case xml.CharData:
			xml.EscapeText(w, t)
		}
	}
}

func escapeAttr(w *bytes.Buffer, s string) {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	w.Write(b.Bytes())
}
