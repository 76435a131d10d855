package analytics

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// unwrap strips the wrappers that do not change a value's Go type.
func unwrap(typ string) (inner string, nullable bool) {
	for {
		switch {
		case strings.HasPrefix(typ, "Nullable(") && strings.HasSuffix(typ, ")"):
			typ, nullable = typ[len("Nullable("):len(typ)-1], true
		case strings.HasPrefix(typ, "LowCardinality(") && strings.HasSuffix(typ, ")"):
			typ = typ[len("LowCardinality(") : len(typ)-1]
		default:
			return typ, nullable
		}
	}
}

// args splits the top-level arguments of a parametrised type such as
// Map(String, UInt64) or Tuple(a String, b UInt8).
func args(typ string) []string {
	open := strings.IndexByte(typ, '(')
	if open < 0 || !strings.HasSuffix(typ, ")") {
		return nil
	}
	body := typ[open+1 : len(typ)-1]
	var out []string
	depth, start := 0, 0
	inQuote := false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '\'' && (i == 0 || body[i-1] != '\\'):
			inQuote = !inQuote
		case inQuote:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(body[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(body[start:]))
}

func base(typ string) string {
	if i := strings.IndexByte(typ, '('); i >= 0 {
		return typ[:i]
	}
	return typ
}

// timeZone is the zone of a DateTime type, UTC when it names none (the
// engine's default zone here is UTC too).
func timeZone(typ string) *time.Location {
	for _, a := range args(typ) {
		if strings.HasPrefix(a, "'") {
			if loc, err := time.LoadLocation(strings.Trim(a, "'")); err == nil {
				return loc
			}
		}
	}
	return time.UTC
}

// fromJSON turns a value decoded with UseNumber from the engine's JSON
// output into the Go type Rows documents for typ.
func fromJSON(v any, typ string) (any, error) {
	typ, _ = unwrap(typ)
	if v == nil {
		return nil, nil
	}
	switch b := base(typ); {
	case strings.HasPrefix(b, "Int") && !strings.HasPrefix(b, "Interval"):
		if b == "Int128" || b == "Int256" {
			return jsonString(v), nil
		}
		return strconv.ParseInt(jsonString(v), 10, 64)
	case strings.HasPrefix(b, "UInt"):
		if b == "UInt128" || b == "UInt256" {
			return jsonString(v), nil
		}
		return strconv.ParseUint(jsonString(v), 10, 64)
	case strings.HasPrefix(b, "Float"), strings.HasPrefix(b, "Decimal"):
		s := jsonString(v)
		switch s {
		case "inf", "+inf":
			s = "Inf"
		case "-inf":
			s = "-Inf"
		case "nan":
			s = "NaN"
		}
		return strconv.ParseFloat(s, 64)
	case b == "Bool":
		x, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("analytics: %v is not a Bool", v)
		}
		return x, nil
	case b == "Date", b == "Date32":
		return time.ParseInLocation("2006-01-02", jsonString(v), time.UTC)
	case b == "DateTime", b == "DateTime64":
		t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", jsonString(v), timeZone(typ))
		if err != nil {
			return nil, err
		}
		return t, nil
	case b == "Array":
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("analytics: %v is not an Array", v)
		}
		elem := args(typ)[0]
		out := make([]any, len(list))
		for i, e := range list {
			var err error
			if out[i], err = fromJSON(e, elem); err != nil {
				return nil, err
			}
		}
		return out, nil
	case b == "Tuple":
		types := args(typ)
		var list []any
		switch x := v.(type) {
		case []any:
			list = x
		case map[string]any:
			// Named tuples may come as objects, in declaration order.
			for _, t := range types {
				name, _, _ := strings.Cut(t, " ")
				list = append(list, x[name])
			}
		}
		out := make([]any, len(list))
		for i, e := range list {
			t := ""
			if i < len(types) {
				t = types[i]
				if name, rest, ok := strings.Cut(t, " "); ok && identifier.MatchString(name) && !strings.Contains(name, "(") {
					t = rest
				}
			}
			var err error
			if out[i], err = fromJSON(e, t); err != nil {
				return nil, err
			}
		}
		return out, nil
	case b == "Map":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("analytics: %v is not a Map", v)
		}
		vt := ""
		if a := args(typ); len(a) == 2 {
			vt = a[1]
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			var err error
			if out[k], err = fromJSON(e, vt); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return jsonString(v), nil
}

func jsonString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// normalize turns a value scanned by clickhouse-go into the Go type Rows
// documents.
func normalize(v any) any {
	if v == nil {
		return nil
	}
	switch x := v.(type) {
	case time.Time:
		return x
	case *big.Int:
		return x.String()
	case json.Number:
		return x.String()
	case fmt.Stringer:
		if _, isTime := v.(time.Time); !isTime && reflect.ValueOf(v).Kind() != reflect.Pointer {
			// UUID, IP addresses, decimals: their text.
			if d, ok := v.(interface{ InexactFloat64() float64 }); ok {
				return d.InexactFloat64()
			}
			return x.String()
		}
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
		return normalize(rv.Elem().Interface())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return rv.Uint()
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.Bool:
		return rv.Bool()
	case reflect.String:
		return rv.String()
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 && rv.Kind() == reflect.Slice {
			return string(rv.Bytes())
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = normalize(rv.Index(i).Interface())
		}
		return out
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			out[fmt.Sprint(normalize(it.Key().Interface()))] = normalize(it.Value().Interface())
		}
		return out
	}
	return fmt.Sprint(v)
}
