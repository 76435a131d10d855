// Package schemacheck validates EWS SOAP envelopes against Microsoft's
// official schemas (messages.xsd and types.xsd, with services.wsdl beside
// them) using xmllint from libxml2-utils, since Go has no XSD validator.
//
// The schemas are Microsoft's files, not ours, so they are not kept in this
// repository: Dir looks for them in $MAILFERRY_EWS_SCHEMA_DIR and then in
// shared/ews-schema beside the checkout (docs/sandbox-exchange.md says where
// they come from). The SOAP envelope schema and the xml:lang declaration
// the EWS schemas import without a location are written here.
//
// An envelope validates when its body holds one global element of
// messages.xsd (or a SOAP fault) and its header only global elements of
// types.xsd; the wildcards are strict, so an unknown or misplaced element
// anywhere fails.
package schemacheck

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// envelopeXSD is the SOAP 1.1 envelope as EWS uses it.
const envelopeXSD = `<?xml version="1.0" encoding="utf-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
    xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
    targetNamespace="http://schemas.xmlsoap.org/soap/envelope/"
    elementFormDefault="qualified">
  <xs:import namespace="http://www.w3.org/XML/1998/namespace" schemaLocation="xml.xsd"/>
  <xs:import namespace="http://schemas.microsoft.com/exchange/services/2006/messages" schemaLocation="%s"/>
  <xs:element name="Envelope">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="Header" minOccurs="0">
          <xs:complexType>
            <xs:sequence>
              <xs:any namespace="##other" processContents="strict" minOccurs="0" maxOccurs="unbounded"/>
            </xs:sequence>
          </xs:complexType>
        </xs:element>
        <xs:element name="Body">
          <xs:complexType>
            <xs:choice>
              <xs:element ref="soap:Fault"/>
              <xs:any namespace="##other" processContents="strict"/>
            </xs:choice>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
  <xs:element name="Fault">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="faultcode" type="xs:QName" form="unqualified"/>
        <xs:element name="faultstring" form="unqualified">
          <xs:complexType>
            <xs:simpleContent>
              <xs:extension base="xs:string">
                <xs:attribute ref="xml:lang"/>
              </xs:extension>
            </xs:simpleContent>
          </xs:complexType>
        </xs:element>
        <xs:element name="faultactor" type="xs:anyURI" minOccurs="0" form="unqualified"/>
        <xs:element name="detail" minOccurs="0" form="unqualified">
          <xs:complexType>
            <xs:sequence>
              <xs:any namespace="##any" processContents="lax" minOccurs="0" maxOccurs="unbounded"/>
            </xs:sequence>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
</xs:schema>
`

const xmlXSD = `<?xml version="1.0" encoding="utf-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="http://www.w3.org/XML/1998/namespace">
  <xs:attribute name="lang" type="xs:language"/>
</xs:schema>
`

// ErrUnavailable says the schemas or xmllint are missing.
var ErrUnavailable = errors.New("schemacheck: EWS schemas or xmllint not available")

// Dir finds the directory holding messages.xsd, types.xsd and
// services.wsdl.
func Dir() (string, error) {
	var tried []string
	try := func(d string) bool {
		if d == "" {
			return false
		}
		tried = append(tried, d)
		for _, f := range []string{"messages.xsd", "types.xsd"} {
			if _, err := os.Stat(filepath.Join(d, f)); err != nil {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("MAILFERRY_EWS_SCHEMA_DIR"); try(d) {
		return d, nil
	}
	wd, _ := os.Getwd()
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			if s := filepath.Join(filepath.Dir(d), "shared", "ews-schema"); try(s) {
				return s, nil
			}
			if s := filepath.Join(d, "shared", "ews-schema"); try(s) {
				return s, nil
			}
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", fmt.Errorf("%w: no messages.xsd and types.xsd in %s (set MAILFERRY_EWS_SCHEMA_DIR)", ErrUnavailable, strings.Join(tried, ", "))
}

// Validator validates envelopes with one compiled schema set per call of
// xmllint.
type Validator struct {
	dir     string
	xmllint string
}

// New finds the schemas and xmllint.
func New() (*Validator, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		return nil, fmt.Errorf("%w: xmllint not on PATH (Debian package libxml2-utils)", ErrUnavailable)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("schemacheck: %w", err)
	}
	return &Validator{dir: abs, xmllint: bin}, nil
}

// Failure is one document that did not validate.
type Failure struct {
	Index    int
	Messages []string
}

var lineRE = regexp.MustCompile(`^.*?doc(\d+)\.xml:(\d+):(.*)$`)

// Validate checks every document and returns those that failed, with
// xmllint's messages.
func (v *Validator) Validate(docs [][]byte) ([]Failure, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	tmp, err := os.MkdirTemp("", "ews-schemacheck-")
	if err != nil {
		return nil, fmt.Errorf("schemacheck: %w", err)
	}
	defer os.RemoveAll(tmp)
	env := fmt.Sprintf(envelopeXSD, filepath.ToSlash(filepath.Join(v.dir, "messages.xsd")))
	if err := os.WriteFile(filepath.Join(tmp, "envelope.xsd"), []byte(env), 0o644); err != nil {
		return nil, fmt.Errorf("schemacheck: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "xml.xsd"), []byte(xmlXSD), 0o644); err != nil {
		return nil, fmt.Errorf("schemacheck: %w", err)
	}
	args := []string{"--noout", "--nonet", "--schema", filepath.Join(tmp, "envelope.xsd")}
	for i, d := range docs {
		name := filepath.Join(tmp, fmt.Sprintf("doc%d.xml", i))
		if err := os.WriteFile(name, d, 0o644); err != nil {
			return nil, fmt.Errorf("schemacheck: %w", err)
		}
		args = append(args, name)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(v.xmllint, args...)
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	byDoc := map[int][]string{}
	failed := map[int]bool{}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if m := lineRE.FindStringSubmatch(line); m != nil {
			i, _ := strconv.Atoi(m[1])
			byDoc[i] = append(byDoc[i], "line "+m[2]+":"+m[3])
			failed[i] = true
			continue
		}
		if strings.HasSuffix(line, "fails to validate") {
			if m := regexp.MustCompile(`doc(\d+)\.xml`).FindStringSubmatch(line); m != nil {
				i, _ := strconv.Atoi(m[1])
				failed[i] = true
			}
		}
		if strings.Contains(line, "failed to compile") {
			return nil, fmt.Errorf("schemacheck: schemas do not compile: %s", strings.TrimSpace(stderr.String()))
		}
	}
	var out []Failure
	for i := range docs {
		if failed[i] {
			out = append(out, Failure{Index: i, Messages: byDoc[i]})
		}
	}
	if runErr != nil && len(out) == 0 {
		return nil, fmt.Errorf("schemacheck: xmllint: %w: %s", runErr, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

var (
	once      sync.Once
	shared    *Validator
	sharedErr error
)

// Check validates docs and reports each failure as a test error, naming
// the document. Where the schemas or xmllint are missing it logs why and
// checks nothing; TestSchemasAvailable-style tests make that visible.
func Check(t testing.TB, what string, docs [][]byte) {
	t.Helper()
	once.Do(func() { shared, sharedErr = New() })
	if sharedErr != nil {
		t.Logf("EWS schema validation skipped: %v", sharedErr)
		return
	}
	fails, err := shared.Validate(docs)
	if err != nil {
		t.Errorf("schema validation of %s: %v", what, err)
		return
	}
	for _, f := range fails {
		doc := docs[f.Index]
		if len(doc) > 1500 {
			doc = append(doc[:1500:1500], "..."...)
		}
		t.Errorf("%s %d of %d is not valid against the EWS schemas: %s\n%s", what, f.Index+1, len(docs), strings.Join(f.Messages, "; "), doc)
	}
}
