package soap

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DateTime is an xs:dateTime. EWS writes UTC with a Z; clients may send a
// local time without an offset, which is read as UTC.
type DateTime struct{ time.Time }

// NewDateTime wraps t, in UTC.
func NewDateTime(t time.Time) *DateTime { return &DateTime{t.UTC()} }

// MarshalText writes whole seconds in UTC, as Exchange does.
func (d DateTime) MarshalText() ([]byte, error) {
	return []byte(d.UTC().Format("2006-01-02T15:04:05Z")), nil
}

// UnmarshalText accepts RFC 3339 and the offset-less form.
func (d *DateTime) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			d.Time = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("ews: bad dateTime %q", s)
}

// Date is an xs:date (recurrence ranges).
type Date struct{ time.Time }

// MarshalText writes the date.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.Format("2006-01-02")), nil }

// UnmarshalText reads a date, with or without a zone suffix.
func (d *Date) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if len(s) > 10 {
		s = s[:10]
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return fmt.Errorf("ews: bad date %q", s)
	}
	d.Time = t
	return nil
}

// FolderID names a folder by id.
type FolderID struct {
	ID        string `xml:"Id,attr"`
	ChangeKey string `xml:"ChangeKey,attr,omitempty"`
}

// DistinguishedFolderID names a well-known folder ("inbox"), optionally in
// another mailbox.
type DistinguishedFolderID struct {
	Mailbox   *EmailAddress `xml:"http://schemas.microsoft.com/exchange/services/2006/types Mailbox,omitempty"`
	ID        string        `xml:"Id,attr"`
	ChangeKey string        `xml:"ChangeKey,attr,omitempty"`
}

// TargetFolderID is a choice of one folder id (SavedItemFolderId,
// ParentFolderId, SyncFolderId).
type TargetFolderID struct {
	FolderID              *FolderID              `xml:"http://schemas.microsoft.com/exchange/services/2006/types FolderId,omitempty"`
	DistinguishedFolderID *DistinguishedFolderID `xml:"http://schemas.microsoft.com/exchange/services/2006/types DistinguishedFolderId,omitempty"`
}

// FolderRef builds a TargetFolderID from a folder id or a distinguished
// name (a name of DistinguishedFolderNames).
func FolderRef(idOrName string) *TargetFolderID {
	if slices.Contains(DistinguishedFolderNames, idOrName) {
		return &TargetFolderID{DistinguishedFolderID: &DistinguishedFolderID{ID: idOrName}}
	}
	return &TargetFolderID{FolderID: &FolderID{ID: idOrName}}
}

// DistinguishedFolderNames are the well-known folders mailferry uses.
var DistinguishedFolderNames = []string{
	"root", "msgfolderroot", "inbox", "outbox", "sentitems", "deleteditems", "drafts", "junkemail",
	"archive", "calendar", "contacts", "tasks", "notes", "journal", "conversationhistory", "syncissues",
}

// FolderIDs is a non-empty list of folder ids of either kind.
type FolderIDs struct {
	FolderID              []FolderID              `xml:"http://schemas.microsoft.com/exchange/services/2006/types FolderId,omitempty"`
	DistinguishedFolderID []DistinguishedFolderID `xml:"http://schemas.microsoft.com/exchange/services/2006/types DistinguishedFolderId,omitempty"`
}

// FolderList builds FolderIDs from ids and distinguished names.
func FolderList(idsOrNames ...string) *FolderIDs {
	out := &FolderIDs{}
	for _, s := range idsOrNames {
		if r := FolderRef(s); r.DistinguishedFolderID != nil {
			out.DistinguishedFolderID = append(out.DistinguishedFolderID, *r.DistinguishedFolderID)
		} else {
			out.FolderID = append(out.FolderID, *r.FolderID)
		}
	}
	return out
}

// ItemID names an item.
type ItemID struct {
	ID        string `xml:"Id,attr"`
	ChangeKey string `xml:"ChangeKey,attr,omitempty"`
}

// OccurrenceItemID names the InstanceIndex-th occurrence (from 1) of a
// recurring series.
type OccurrenceItemID struct {
	RecurringMasterID string `xml:"RecurringMasterId,attr"`
	ChangeKey         string `xml:"ChangeKey,attr,omitempty"`
	InstanceIndex     int    `xml:"InstanceIndex,attr"`
}

// ItemIDs is a non-empty list of item ids.
type ItemIDs struct {
	ItemID           []ItemID           `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId,omitempty"`
	OccurrenceItemID []OccurrenceItemID `xml:"http://schemas.microsoft.com/exchange/services/2006/types OccurrenceItemId,omitempty"`
}

// ItemList builds ItemIDs.
func ItemList(ids ...ItemID) *ItemIDs { return &ItemIDs{ItemID: ids} }

// EmailAddress is a mailbox.
type EmailAddress struct {
	Name         string  `xml:"http://schemas.microsoft.com/exchange/services/2006/types Name,omitempty"`
	EmailAddress string  `xml:"http://schemas.microsoft.com/exchange/services/2006/types EmailAddress,omitempty"`
	RoutingType  string  `xml:"http://schemas.microsoft.com/exchange/services/2006/types RoutingType,omitempty"`
	MailboxType  string  `xml:"http://schemas.microsoft.com/exchange/services/2006/types MailboxType,omitempty"`
	ItemID       *ItemID `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId,omitempty"`
}

// SingleRecipient wraps one mailbox (From, Sender, Organizer).
type SingleRecipient struct {
	Mailbox EmailAddress `xml:"http://schemas.microsoft.com/exchange/services/2006/types Mailbox"`
}

// Recipients is a list of mailboxes (ToRecipients, CcRecipients).
type Recipients struct {
	Mailbox []EmailAddress `xml:"http://schemas.microsoft.com/exchange/services/2006/types Mailbox"`
}

// Strings is an ArrayOfStringsType (Categories).
type Strings struct {
	String []string `xml:"http://schemas.microsoft.com/exchange/services/2006/types String"`
}

// MimeContent is an item's MIME, base64-encoded.
type MimeContent struct {
	CharacterSet string `xml:"CharacterSet,attr,omitempty"`
	Value        string `xml:",chardata"`
}

// Body is an item's body.
type Body struct {
	BodyType    string `xml:"BodyType,attr"`
	IsTruncated *bool  `xml:"IsTruncated,attr,omitempty"`
	Value       string `xml:",chardata"`
}

// Flag is a follow-up flag.
type Flag struct {
	FlagStatus   string    `xml:"http://schemas.microsoft.com/exchange/services/2006/types FlagStatus"`
	StartDate    *DateTime `xml:"http://schemas.microsoft.com/exchange/services/2006/types StartDate,omitempty"`
	DueDate      *DateTime `xml:"http://schemas.microsoft.com/exchange/services/2006/types DueDate,omitempty"`
	CompleteDate *DateTime `xml:"http://schemas.microsoft.com/exchange/services/2006/types CompleteDate,omitempty"`
}

// FieldURI is a property path such as item:Subject or message:IsRead.
type FieldURI struct {
	FieldURI string `xml:"FieldURI,attr"`
}

// IndexedFieldURI is an entry of a dictionary property, such as
// contacts:EmailAddress with index EmailAddress1.
type IndexedFieldURI struct {
	FieldURI   string `xml:"FieldURI,attr"`
	FieldIndex string `xml:"FieldIndex,attr"`
}

// ExtendedFieldURI is a MAPI property: by tag, or by property set and
// name or id.
type ExtendedFieldURI struct {
	DistinguishedPropertySetID string `xml:"DistinguishedPropertySetId,attr,omitempty"`
	PropertySetID              string `xml:"PropertySetId,attr,omitempty"`
	PropertyTag                string `xml:"PropertyTag,attr,omitempty"`
	PropertyName               string `xml:"PropertyName,attr,omitempty"`
	PropertyID                 *int   `xml:"PropertyId,attr,omitempty"`
	PropertyType               string `xml:"PropertyType,attr"`
}

// Key identifies the property regardless of how its tag or GUID is
// spelled, so two paths to one property compare equal.
func (e ExtendedFieldURI) Key() string {
	if e.PropertyTag != "" {
		// A tag is written in hex with 0x or in decimal.
		tag := strings.ToLower(strings.TrimSpace(e.PropertyTag))
		base := 10
		if strings.HasPrefix(tag, "0x") {
			tag, base = tag[2:], 16
		}
		if n, err := strconv.ParseUint(tag, base, 32); err == nil {
			return fmt.Sprintf("tag:%04x", n&0xffff)
		}
		return "tag:" + tag
	}
	set := strings.ToLower(strings.Trim(e.PropertySetID, "{}"))
	if e.DistinguishedPropertySetID != "" {
		set = e.DistinguishedPropertySetID
	}
	if e.PropertyID != nil {
		return fmt.Sprintf("id:%s:%d", set, *e.PropertyID)
	}
	return "name:" + set + ":" + e.PropertyName
}

// ExtendedProperty is a MAPI property value (Value or Values for arrays).
type ExtendedProperty struct {
	ExtendedFieldURI ExtendedFieldURI `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExtendedFieldURI"`
	Value            *string          `xml:"http://schemas.microsoft.com/exchange/services/2006/types Value,omitempty"`
	Values           *struct {
		Value []string `xml:"http://schemas.microsoft.com/exchange/services/2006/types Value"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/types Values,omitempty"`
}

// NewExtendedProperty is a single-valued property.
func NewExtendedProperty(uri ExtendedFieldURI, value string) ExtendedProperty {
	return ExtendedProperty{ExtendedFieldURI: uri, Value: &value}
}

// Paths is a list of property paths (AdditionalProperties). The schema
// allows them in any order; they are written grouped by kind.
type Paths struct {
	FieldURI         []FieldURI         `xml:"http://schemas.microsoft.com/exchange/services/2006/types FieldURI,omitempty"`
	IndexedFieldURI  []IndexedFieldURI  `xml:"http://schemas.microsoft.com/exchange/services/2006/types IndexedFieldURI,omitempty"`
	ExtendedFieldURI []ExtendedFieldURI `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExtendedFieldURI,omitempty"`
}

// Path is one property path: exactly one field is set.
type Path struct {
	FieldURI         *FieldURI         `xml:"http://schemas.microsoft.com/exchange/services/2006/types FieldURI,omitempty"`
	IndexedFieldURI  *IndexedFieldURI  `xml:"http://schemas.microsoft.com/exchange/services/2006/types IndexedFieldURI,omitempty"`
	ExtendedFieldURI *ExtendedFieldURI `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExtendedFieldURI,omitempty"`
}

// Field is a Path to an unindexed field.
func Field(uri string) Path { return Path{FieldURI: &FieldURI{FieldURI: uri}} }

// Extended is a Path to a MAPI property.
func Extended(uri ExtendedFieldURI) Path { return Path{ExtendedFieldURI: &uri} }

// ItemShape says which properties an item response carries.
type ItemShape struct {
	BaseShape            string `xml:"http://schemas.microsoft.com/exchange/services/2006/types BaseShape"`
	IncludeMimeContent   *bool  `xml:"http://schemas.microsoft.com/exchange/services/2006/types IncludeMimeContent,omitempty"`
	BodyType             string `xml:"http://schemas.microsoft.com/exchange/services/2006/types BodyType,omitempty"`
	AdditionalProperties *Paths `xml:"http://schemas.microsoft.com/exchange/services/2006/types AdditionalProperties,omitempty"`
}

// FolderShape says which properties a folder response carries.
type FolderShape struct {
	BaseShape            string `xml:"http://schemas.microsoft.com/exchange/services/2006/types BaseShape"`
	AdditionalProperties *Paths `xml:"http://schemas.microsoft.com/exchange/services/2006/types AdditionalProperties,omitempty"`
}

// Shapes.
const (
	ShapeIDOnly        = "IdOnly"
	ShapeDefault       = "Default"
	ShapeAllProperties = "AllProperties"
)

// IndexedPageView pages a FindItem or FindFolder.
type IndexedPageView struct {
	MaxEntriesReturned int    `xml:"MaxEntriesReturned,attr,omitempty"`
	Offset             int    `xml:"Offset,attr"`
	BasePoint          string `xml:"BasePoint,attr"`
}

// FieldOrder sorts a FindItem.
type FieldOrder struct {
	Path
	Order string `xml:"Order,attr"`
}

// SortOrder is a list of field orders.
type SortOrder struct {
	FieldOrder []FieldOrder `xml:"http://schemas.microsoft.com/exchange/services/2006/types FieldOrder"`
}

// Restriction filters a FindItem or FindFolder.
type Restriction struct {
	Expr SearchExpr
}

// MarshalXML writes the restriction's one expression.
func (r Restriction) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if err := r.Expr.MarshalXML(e, xml.StartElement{}); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

// UnmarshalXML reads the expression.
func (r *Restriction) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := r.Expr.UnmarshalXML(d, t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// SearchExpr is one node of a restriction: a comparison (IsEqualTo,
// IsNotEqualTo, IsGreaterThan, IsGreaterThanOrEqualTo, IsLessThan,
// IsLessThanOrEqualTo) of Path with Constant, Exists, Contains, or a
// boolean And, Or, Not over Children.
type SearchExpr struct {
	Op       string
	Path     Path
	Constant string
	// ContainmentMode and ContainmentComparison qualify Contains.
	ContainmentMode       string
	ContainmentComparison string
	Children              []SearchExpr
}

// Restriction builders.
func IsEqualTo(p Path, value string) SearchExpr {
	return SearchExpr{Op: "IsEqualTo", Path: p, Constant: value}
}

// And is a conjunction.
func And(exprs ...SearchExpr) SearchExpr { return SearchExpr{Op: "And", Children: exprs} }

// Or is a disjunction.
func Or(exprs ...SearchExpr) SearchExpr { return SearchExpr{Op: "Or", Children: exprs} }

// Exists is true where the property is set.
func Exists(p Path) SearchExpr { return SearchExpr{Op: "Exists", Path: p} }

type constantXML struct {
	Value string `xml:"Value,attr"`
}

// MarshalXML writes the expression as its substitution-group element.
func (s SearchExpr) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	start := xml.StartElement{Name: xml.Name{Space: NSTypes, Local: s.Op}}
	if s.Op == "Contains" {
		if s.ContainmentMode != "" {
			start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "ContainmentMode"}, Value: s.ContainmentMode})
		}
		if s.ContainmentComparison != "" {
			start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "ContainmentComparison"}, Value: s.ContainmentComparison})
		}
	}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	tname := func(l string) xml.StartElement { return xml.StartElement{Name: xml.Name{Space: NSTypes, Local: l}} }
	switch s.Op {
	case "And", "Or", "Not":
		for _, c := range s.Children {
			if err := c.MarshalXML(e, xml.StartElement{}); err != nil {
				return err
			}
		}
	case "Exists":
		if err := encodePath(e, s.Path); err != nil {
			return err
		}
	case "Contains":
		if err := encodePath(e, s.Path); err != nil {
			return err
		}
		if err := e.EncodeElement(constantXML{s.Constant}, tname("Constant")); err != nil {
			return err
		}
	default:
		if err := encodePath(e, s.Path); err != nil {
			return err
		}
		st := tname("FieldURIOrConstant")
		if err := e.EncodeToken(st); err != nil {
			return err
		}
		if err := e.EncodeElement(constantXML{s.Constant}, tname("Constant")); err != nil {
			return err
		}
		if err := e.EncodeToken(st.End()); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

func encodePath(e *xml.Encoder, p Path) error {
	tname := func(l string) xml.StartElement { return xml.StartElement{Name: xml.Name{Space: NSTypes, Local: l}} }
	switch {
	case p.FieldURI != nil:
		return e.EncodeElement(p.FieldURI, tname("FieldURI"))
	case p.IndexedFieldURI != nil:
		return e.EncodeElement(p.IndexedFieldURI, tname("IndexedFieldURI"))
	case p.ExtendedFieldURI != nil:
		return e.EncodeElement(p.ExtendedFieldURI, tname("ExtendedFieldURI"))
	}
	return fmt.Errorf("ews: empty property path")
}

// UnmarshalXML reads one expression and its children.
func (s *SearchExpr) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	s.Op = start.Name.Local
	for _, a := range start.Attr {
		switch a.Name.Local {
		case "ContainmentMode":
			s.ContainmentMode = a.Value
		case "ContainmentComparison":
			s.ContainmentComparison = a.Value
		}
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "FieldURI":
				s.Path.FieldURI = &FieldURI{}
				if err := d.DecodeElement(s.Path.FieldURI, &t); err != nil {
					return err
				}
			case "IndexedFieldURI":
				s.Path.IndexedFieldURI = &IndexedFieldURI{}
				if err := d.DecodeElement(s.Path.IndexedFieldURI, &t); err != nil {
					return err
				}
			case "ExtendedFieldURI":
				s.Path.ExtendedFieldURI = &ExtendedFieldURI{}
				if err := d.DecodeElement(s.Path.ExtendedFieldURI, &t); err != nil {
					return err
				}
			case "FieldURIOrConstant":
				// Its Constant is read by the next iteration.
			case "Constant":
				var c constantXML
				if err := d.DecodeElement(&c, &t); err != nil {
					return err
				}
				s.Constant = c.Value
			default:
				var c SearchExpr
				if err := c.UnmarshalXML(d, t); err != nil {
					return err
				}
				s.Children = append(s.Children, c)
			}
		case xml.EndElement:
			if t.Name.Local == "FieldURIOrConstant" {
				continue
			}
			return nil
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Bool is a *bool for optional fields.
func Bool(b bool) *bool { return &b }

// Int is an *int for optional fields.
func Int(i int) *int { return &i }

// String is a *string for optional fields.
func String(s string) *string { return &s }
