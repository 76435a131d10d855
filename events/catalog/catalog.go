// Package catalog renders the event catalog, docs/events.md, from the event
// registry. `make catalog` writes it; a test fails when the file is stale.
package catalog

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/mailferry/mailferry/events"
	_ "github.com/mailferry/mailferry/events/all"
)

// Markdown returns the whole catalog.
func Markdown() string {
	var b strings.Builder
	b.WriteString("# Event catalog\n\n")
	b.WriteString("Generated from `events/` by `make catalog`; do not edit by hand.\n\n")
	b.WriteString("Every event travels as JSON with its envelope in NATS headers: `Mailferry-Type`, `Mailferry-Version`, ")
	b.WriteString("`Nats-Msg-Id` (the event id, deduplicated by the server), `Mailferry-Correlation-Id`, `Mailferry-Causation-Id`, ")
	b.WriteString("`Mailferry-Time` and the W3C `traceparent` / `tracestate`.\n\n")
	b.WriteString("## Streams\n\n| stream | subjects | retention | holds |\n|---|---|---|---|\n")
	for _, s := range events.Streams {
		ret := "everything (source of truth)"
		switch {
		case s.WorkQueue:
			ret = "work queue: removed once acknowledged"
		case s.MaxAgeHours > 0:
			ret = fmt.Sprintf("%d days", s.MaxAgeHours/24)
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", s.Name, strings.Join(s.Subjects, "`, `"), ret, s.Doc)
	}
	b.WriteString("\n## Events\n\n| event | version | subject | published by | consumed by |\n|---|---|---|---|---|\n")
	specs := events.All()
	for _, s := range specs {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %d | `%s` | %s | %s |\n", s.Name, anchor(s.Name), s.Version, s.Subject,
			strings.Join(s.Publishers, ", "), strings.Join(s.Consumers, ", "))
	}
	for _, s := range specs {
		fmt.Fprintf(&b, "\n### %s\n\n%s\n\nVersion %d, subject `%s`. Published by %s; consumed by %s.\n\n",
			s.Name, s.Doc, s.Version, s.Subject, strings.Join(s.Publishers, ", "), strings.Join(s.Consumers, ", "))
		b.WriteString("| field | type |\n|---|---|\n")
		writeFields(&b, s.Type, "")
	}
	return b.String()
}

func anchor(name string) string {
	return strings.NewReplacer(".", "", "_", "_").Replace(name)
}

// writeFields lists JSON fields, flattening nested structs with a dotted
// prefix so a reader sees the whole payload shape.
func writeFields(b *strings.Builder, t reflect.Type, prefix string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		ft := f.Type
		fmt.Fprintf(b, "| `%s%s` | %s |\n", prefix, name, typeName(ft))
		elem := ft
		for elem.Kind() == reflect.Slice || elem.Kind() == reflect.Pointer {
			elem = elem.Elem()
		}
		if elem.Kind() == reflect.Struct && elem.PkgPath() != "time" {
			sub := prefix + name
			if ft.Kind() == reflect.Slice {
				sub += "[]"
			}
			writeFields(b, elem, sub+".")
		}
	}
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	case reflect.Struct:
		return "object"
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	default:
		return t.Kind().String()
	}
}
