package graph

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// filterExpr is a parsed OData $filter: the subset Graph clients use on
// messages and users (comparisons, and/or/not, lambda any over
// collections).
type filterExpr struct {
	op          string // and, or, not, cmp, any
	left, right *filterExpr
	path        []string
	cmp         string
	lit         any
	lambdaVar   string
}

// getter resolves a property path of the entity being filtered.
type getter func(path []string) any

func mapGetter(m map[string]any) getter {
	return func(path []string) any {
		var cur any = m
		for _, p := range path {
			mm, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = nil
			for k, v := range mm {
				if strings.EqualFold(k, p) {
					cur = v
				}
			}
		}
		return cur
	}
}

type tok struct {
	kind string // ident, str, num, punct
	val  string
}

func lex(s string) ([]tok, error) {
	var out []tok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')' || c == ',' || c == ':' || c == '/':
			out = append(out, tok{"punct", string(c)})
			i++
		case c == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, errors.New("unterminated string")
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			out = append(out, tok{"str", b.String()})
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t()',:/", rune(s[j])) {
				j++
			}
			// Date-times contain ":"; take them whole.
			w := s[i:j]
			if len(w) >= 10 && len(w) > 4 && w[4] == '-' && isDigits(w[:4]) {
				for j < len(s) && !strings.ContainsRune(" \t()',", rune(s[j])) {
					j++
				}
				w = s[i:j]
			}
			kind := "ident"
			if _, err := strconv.ParseFloat(w, 64); err == nil {
				kind = "num"
			}
			out = append(out, tok{kind, w})
			i = j
		}
	}
	return out, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

type parser struct {
	t []tok
	i int
}

func (p *parser) peek() tok {
	if p.i < len(p.t) {
		return p.t[p.i]
	}
	return tok{}
}

func (p *parser) next() tok { t := p.peek(); p.i++; return t }

func (p *parser) expect(v string) error {
	if t := p.next(); t.val != v {
		return fmt.Errorf("expected %q, got %q", v, t.val)
	}
	return nil
}

func parseFilter(s string) (*filterExpr, error) {
	t, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{t: t}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.t) {
		return nil, fmt.Errorf("unexpected %q", p.peek().val)
	}
	return e, nil
}

func (p *parser) or() (*filterExpr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek().val, "or") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &filterExpr{op: "or", left: l, right: r}
	}
	return l, nil
}

func (p *parser) and() (*filterExpr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek().val, "and") {
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &filterExpr{op: "and", left: l, right: r}
	}
	return l, nil
}

func (p *parser) unary() (*filterExpr, error) {
	switch t := p.peek(); {
	case strings.EqualFold(t.val, "not"):
		p.next()
		e, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &filterExpr{op: "not", left: e}, nil
	case t.val == "(":
		p.next()
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		return e, p.expect(")")
	}
	return p.primary()
}

func (p *parser) primary() (*filterExpr, error) {
	var path []string
	for {
		t := p.next()
		if t.kind != "ident" {
			return nil, fmt.Errorf("expected a property, got %q", t.val)
		}
		path = append(path, t.val)
		if p.peek().val != "/" {
			break
		}
		p.next()
		if strings.EqualFold(p.peek().val, "any") {
			p.next()
			if err := p.expect("("); err != nil {
				return nil, err
			}
			v := p.next()
			if err := p.expect(":"); err != nil {
				return nil, err
			}
			body, err := p.or()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return &filterExpr{op: "any", path: path, lambdaVar: v.val, left: body}, nil
		}
	}
	op := strings.ToLower(p.next().val)
	switch op {
	case "eq", "ne", "gt", "ge", "lt", "le":
	default:
		return nil, fmt.Errorf("unsupported operator %q", op)
	}
	t := p.next()
	var lit any
	switch {
	case t.kind == "str":
		lit = t.val
	case t.kind == "num":
		f, _ := strconv.ParseFloat(t.val, 64)
		lit = f
	case strings.EqualFold(t.val, "true"), strings.EqualFold(t.val, "false"):
		lit = strings.EqualFold(t.val, "true")
	case strings.EqualFold(t.val, "null"):
		lit = nil
	case t.kind == "ident":
		if tm, err := time.Parse(time.RFC3339Nano, t.val); err == nil {
			lit = tm
		} else {
			lit = t.val // enum or guid literal
		}
	default:
		return nil, fmt.Errorf("expected a value, got %q", t.val)
	}
	return &filterExpr{op: "cmp", path: path, cmp: op, lit: lit}, nil
}

// reads reports whether the filter reads a property whose first path
// segment satisfies root (lambda variables aside).
func (e *filterExpr) reads(root func(string) bool, vars ...string) bool {
	switch e.op {
	case "and", "or":
		return e.left.reads(root, vars...) || e.right.reads(root, vars...)
	case "not":
		return e.left.reads(root, vars...)
	case "any":
		return len(e.path) > 0 && root(e.path[0]) || e.left.reads(root, append(slices.Clone(vars), e.lambdaVar)...)
	}
	return len(e.path) > 0 && !slices.Contains(vars, e.path[0]) && root(e.path[0])
}

func (e *filterExpr) match(g getter) bool {
	switch e.op {
	case "and":
		return e.left.match(g) && e.right.match(g)
	case "or":
		return e.left.match(g) || e.right.match(g)
	case "not":
		return !e.left.match(g)
	case "any":
		coll, _ := g(e.path).([]any)
		for _, el := range coll {
			inner := func(path []string) any {
				if len(path) > 0 && path[0] == e.lambdaVar {
					if len(path) == 1 {
						return el
					}
					if m, ok := el.(map[string]any); ok {
						return mapGetter(m)(path[1:])
					}
					return nil
				}
				return g(path)
			}
			if e.left.match(inner) {
				return true
			}
		}
		return false
	}
	return compare(g(e.path), e.cmp, e.lit)
}

func compare(v any, op string, lit any) bool {
	c, ok := order(v, lit)
	if !ok {
		switch op {
		case "eq":
			return v == nil && lit == nil
		case "ne":
			return !(v == nil && lit == nil)
		}
		return false
	}
	switch op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	}
	return false
}

// order compares a property value with a literal; strings compare
// case-insensitively (and extended property ids canonically), as
// Exchange does.
func order(v, lit any) (int, bool) {
	switch l := lit.(type) {
	case string:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		if strings.EqualFold(s, l) || (canonProp(s) != "" && canonProp(s) == canonProp(l)) {
			return 0, true
		}
		if tv, err := time.Parse(time.RFC3339Nano, s); err == nil {
			if tl, err := time.Parse(time.RFC3339Nano, l); err == nil {
				return tv.Compare(tl), true
			}
		}
		return strings.Compare(strings.ToLower(s), strings.ToLower(l)), true
	case time.Time:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		tv, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, false
		}
		return tv.Compare(l), true
	case bool:
		b, ok := v.(bool)
		if !ok {
			return 0, false
		}
		if b == l {
			return 0, true
		}
		return 1, true
	case float64:
		var f float64
		switch n := v.(type) {
		case int:
			f = float64(n)
		case int64:
			f = float64(n)
		case float64:
			f = n
		default:
			return 0, false
		}
		switch {
		case f < l:
			return -1, true
		case f > l:
			return 1, true
		}
		return 0, true
	}
	return 0, false
}
