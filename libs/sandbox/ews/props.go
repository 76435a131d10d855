package ews

import (
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailferry/mailferry/libs/ews/soap"
)

// EWS field URIs ("item:Subject", "message:IsRead", "contacts:GivenName")
// end in the element name of the property, so properties are copied,
// cleared and compared through the wire structs by that name.

var fieldIndex sync.Map // reflect.Type -> map[string][]int

func fieldsOf(t reflect.Type) map[string][]int {
	if v, ok := fieldIndex.Load(t); ok {
		return v.(map[string][]int)
	}
	m := map[string][]int{}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			idx := append(append([]int(nil), prefix...), i)
			if f.Anonymous {
				walk(f.Type, idx)
				continue
			}
			tag := strings.Split(f.Tag.Get("xml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			name := tag[strings.LastIndexByte(tag, ' ')+1:]
			m[name] = idx
		}
	}
	walk(t, nil)
	fieldIndex.Store(t, m)
	return m
}

// elementName is the property name of a field URI.
func elementName(uri string) string {
	if i := strings.LastIndexByte(uri, ':'); i >= 0 {
		return uri[i+1:]
	}
	return uri
}

// fieldURIAlias maps field URIs whose element has another name.
var fieldURIAlias = map[string]string{
	"contacts:EmailAddress": "EmailAddresses", "contacts:PhoneNumber": "PhoneNumbers",
	"contacts:PhysicalAddress": "PhysicalAddresses", "contacts:ImAddress": "ImAddresses",
}

func fieldName(uri string) string {
	for k, v := range fieldURIAlias {
		if strings.HasPrefix(uri, k) {
			return v
		}
	}
	return elementName(uri)
}

// structOf is the concrete item struct behind an AnyItem.
func structOf(a soap.AnyItem) reflect.Value {
	switch {
	case a.Message != nil:
		return reflect.ValueOf(a.Message).Elem()
	case a.CalendarItem != nil:
		return reflect.ValueOf(a.CalendarItem).Elem()
	case a.Contact != nil:
		return reflect.ValueOf(a.Contact).Elem()
	case a.DistributionList != nil:
		return reflect.ValueOf(a.DistributionList).Elem()
	case a.Item != nil:
		return reflect.ValueOf(a.Item).Elem()
	}
	return reflect.Value{}
}

// propField returns the field named by an element name, if the kind has it.
func propField(v reflect.Value, name string) (reflect.Value, bool) {
	if !v.IsValid() {
		return reflect.Value{}, false
	}
	idx, ok := fieldsOf(v.Type())[name]
	if !ok {
		return reflect.Value{}, false
	}
	return v.FieldByIndex(idx), true
}

// copyProp copies one property from src to dst; false if dst's kind lacks it.
func copyProp(dst, src reflect.Value, name string) bool {
	d, ok := propField(dst, name)
	if !ok {
		return false
	}
	s, ok := propField(src, name)
	if !ok {
		return false
	}
	d.Set(s)
	return true
}

// isSet says whether a property holds a value.
func isSet(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		return !v.IsNil()
	}
	return !v.IsZero()
}

// propValues renders a property as strings for restrictions.
func propValues(v reflect.Value) []string {
	if !isSet(v) {
		return nil
	}
	switch x := v.Interface().(type) {
	case *string:
		return []string{*x}
	case string:
		return []string{x}
	case *bool:
		return []string{strconv.FormatBool(*x)}
	case *int:
		return []string{strconv.Itoa(*x)}
	case *soap.DateTime:
		return []string{x.UTC().Format(time.RFC3339)}
	case *soap.Strings:
		return x.String
	case *soap.SingleRecipient:
		return []string{x.Mailbox.EmailAddress, x.Mailbox.Name}
	case *soap.Recipients:
		var out []string
		for _, m := range x.Mailbox {
			out = append(out, m.EmailAddress, m.Name)
		}
		return out
	case *soap.ItemID:
		return []string{x.ID}
	case *soap.FolderID:
		return []string{x.ID}
	}
	return nil
}

// extValues are an extended property's values.
func extValues(p soap.ExtendedProperty) []string {
	if p.Value != nil {
		return []string{*p.Value}
	}
	if p.Values != nil {
		return p.Values.Value
	}
	return nil
}
