package google

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// gquery is the subset of Gmail's search syntax a migration uses: label
// and location operators, is:, category:, header operators, rfc822msgid:,
// date and size operators, has:attachment and bare words; terms are
// ANDed and may be negated with "-". OR and grouping are refused.
type gquery struct {
	terms     []qterm
	spamTrash bool // in:spam, in:trash or in:anywhere lift the default exclusion
}

type qterm struct {
	neg bool
	f   func(sn msgSnap, info func() *msgInfo) bool
}

func (q *gquery) match(sn msgSnap, info func() *msgInfo) bool {
	var cached *msgInfo
	get := func() *msgInfo {
		if cached == nil {
			cached = info()
		}
		return cached
	}
	for _, t := range q.terms {
		if t.f(sn, get) == t.neg {
			return false
		}
	}
	return true
}

func tokenize(q string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inQuote := false
	for _, r := range q {
		switch {
		case r == '"':
			inQuote = !inQuote
		case (r == ' ' || r == '\t') && !inQuote:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if inQuote {
		return nil, errors.New("unbalanced quotes")
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out, nil
}

// labelSlug is how label: matches names: case-insensitive, with spaces
// and slashes also written as "-".
func labelSlug(s string) string {
	return strings.NewReplacer(" ", "-", "/", "-").Replace(strings.ToLower(s))
}

func hasLabel(id string) func(msgSnap, func() *msgInfo) bool {
	return func(sn msgSnap, _ func() *msgInfo) bool {
		for _, l := range sn.labels {
			if l == id {
				return true
			}
		}
		return false
	}
}

func contains(get func(*msgInfo) string, v string) func(msgSnap, func() *msgInfo) bool {
	v = strings.ToLower(v)
	return func(_ msgSnap, info func() *msgInfo) bool { return strings.Contains(strings.ToLower(get(info())), v) }
}

func parseQueryDate(v string) (time.Time, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	for _, f := range []string{"2006/01/02", "2006-01-02", "2006/1/2"} {
		if t, err := time.Parse(f, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad date %q", v)
}

func parseAge(v string) (time.Duration, error) {
	if len(v) < 2 {
		return 0, fmt.Errorf("bad age %q", v)
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil {
		return 0, fmt.Errorf("bad age %q", v)
	}
	day := 24 * time.Hour
	switch v[len(v)-1] {
	case 'd':
		return time.Duration(n) * day, nil
	case 'm':
		return time.Duration(n) * 30 * day, nil
	case 'y':
		return time.Duration(n) * 365 * day, nil
	}
	return 0, fmt.Errorf("bad age %q", v)
}

func parseSize(v string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(strings.ToLower(v), "m"):
		mult, v = 1<<20, v[:len(v)-1]
	case strings.HasSuffix(strings.ToLower(v), "k"):
		mult, v = 1<<10, v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q", v)
	}
	return n * mult, nil
}

// parseGmailQuery compiles q; label names resolve against the mailbox, so
// the caller holds the sandbox lock.
func parseGmailQuery(q string, mb *mailbox) (*gquery, error) {
	toks, err := tokenize(q)
	if err != nil {
		return nil, err
	}
	out := &gquery{}
	for _, tok := range toks {
		neg := false
		if strings.HasPrefix(tok, "-") && len(tok) > 1 {
			neg, tok = true, tok[1:]
		}
		if tok == "OR" || strings.ContainsAny(tok, "{}()") {
			return nil, fmt.Errorf("the sandbox does not support %q", tok)
		}
		op, val, hasOp := strings.Cut(tok, ":")
		op = strings.ToLower(op)
		var f func(msgSnap, func() *msgInfo) bool
		switch {
		case !hasOp:
			word := strings.ToLower(tok)
			f = func(_ msgSnap, info func() *msgInfo) bool {
				in := info()
				for _, s := range []string{in.subject, in.snippet, in.from, in.to, in.cc} {
					if strings.Contains(strings.ToLower(s), word) {
						return true
					}
				}
				return false
			}
		case op == "in":
			switch v := strings.ToLower(val); v {
			case "anywhere", "all":
				out.spamTrash = true
				f = func(msgSnap, func() *msgInfo) bool { return true }
			case "spam", "trash":
				out.spamTrash = true
				f = hasLabel(strings.ToUpper(v))
			case "inbox", "sent", "starred", "important", "unread":
				f = hasLabel(strings.ToUpper(v))
			case "chats", "chat":
				f = hasLabel("CHAT")
			case "drafts", "draft":
				f = hasLabel("DRAFT")
			default:
				f = labelTerm(mb, val)
			}
		case op == "label":
			f = labelTerm(mb, val)
			if v := strings.ToLower(val); v == "spam" || v == "trash" {
				out.spamTrash = true
			}
		case op == "is":
			switch v := strings.ToLower(val); v {
			case "unread", "starred", "important":
				f = hasLabel(strings.ToUpper(v))
			case "read":
				f, neg = hasLabel("UNREAD"), !neg
			default:
				return nil, fmt.Errorf("unsupported is:%s", v)
			}
		case op == "category":
			v := strings.ToLower(val)
			if v == "primary" {
				v = "personal"
			}
			f = hasLabel("CATEGORY_" + strings.ToUpper(v))
		case op == "from":
			f = contains(func(in *msgInfo) string { return in.from }, val)
		case op == "to":
			f = contains(func(in *msgInfo) string { return in.to }, val)
		case op == "cc":
			f = contains(func(in *msgInfo) string { return in.cc }, val)
		case op == "bcc":
			f = contains(func(in *msgInfo) string { return in.bcc }, val)
		case op == "subject":
			f = contains(func(in *msgInfo) string { return in.subject }, val)
		case op == "rfc822msgid":
			want := strings.ToLower(strings.Trim(val, "<>"))
			f = func(sn msgSnap, info func() *msgInfo) bool {
				if sn.m.rfcID != "" {
					return strings.ToLower(sn.m.rfcID) == want
				}
				return strings.ToLower(info().messageID) == want
			}
		case op == "after" || op == "newer" || op == "before" || op == "older":
			t, err := parseQueryDate(val)
			if err != nil {
				return nil, err
			}
			after := op == "after" || op == "newer"
			f = func(sn msgSnap, _ func() *msgInfo) bool {
				if after {
					return !sn.m.internal.Before(t)
				}
				return sn.m.internal.Before(t)
			}
		case op == "newer_than" || op == "older_than":
			d, err := parseAge(strings.ToLower(val))
			if err != nil {
				return nil, err
			}
			cut := time.Now().Add(-d)
			newer := op == "newer_than"
			f = func(sn msgSnap, _ func() *msgInfo) bool { return sn.m.internal.After(cut) == newer }
		case op == "larger" || op == "smaller" || op == "size":
			n, err := parseSize(val)
			if err != nil {
				return nil, err
			}
			f = func(sn msgSnap, _ func() *msgInfo) bool {
				if op == "smaller" {
					return sn.m.size < n
				}
				return sn.m.size > n
			}
		case op == "has" && strings.EqualFold(val, "attachment"):
			f = func(_ msgSnap, info func() *msgInfo) bool { return info().hasAttachment }
		default:
			return nil, fmt.Errorf("the sandbox does not support %s:", op)
		}
		out.terms = append(out.terms, qterm{neg: neg, f: f})
	}
	return out, nil
}

func labelTerm(mb *mailbox, name string) func(msgSnap, func() *msgInfo) bool {
	slug := labelSlug(name)
	for _, l := range mb.order {
		if labelSlug(l.name) == slug || strings.EqualFold(l.id, name) {
			return hasLabel(l.id)
		}
	}
	return func(msgSnap, func() *msgInfo) bool { return false }
}
