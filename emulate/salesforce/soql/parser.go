package soql

import (
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/govalues/decimal"
)

// reserved are SOQL's reserved keywords ("Reserved Characters and Keywords"
// in the SOQL and SOSL Reference); none may name a field or an object.
var reserved = map[string]bool{
	"AND": true, "ASC": true, "DESC": true, "EXCLUDES": true, "FIRST": true,
	"FROM": true, "GROUP": true, "HAVING": true, "IN": true, "INCLUDES": true,
	"LAST": true, "LIKE": true, "LIMIT": true, "NOT": true, "NULL": true,
	"NULLS": true, "OR": true, "SELECT": true, "WHERE": true, "WITH": true,
}

// maxLiteralN bounds the n of LAST_N_DAYS:n and friends so that date
// arithmetic cannot overflow; it is far beyond any useful range.
const maxLiteralN = 1_000_000

// Parse parses one SOQL statement. A syntax error is an *Error with code
// MALFORMED_QUERY (NUMBER_OUTSIDE_VALID_RANGE for an OFFSET above 2000).
func Parse(q string) (*Query, error) {
	p := &parser{src: q, toks: lex(q)}
	query, err := p.query()
	if err != nil {
		return nil, err
	}
	return query, nil
}

type parser struct {
	src  string
	toks []token
	i    int
	q    *Query
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF && t.kind != tBad {
		p.i++
	}
	return t
}

func (p *parser) fail(t token) *Error {
	if t.kind == tBad {
		return t.err
	}
	return p.failMsg(t, unexpected(t))
}

func (p *parser) failMsg(t token, msg string) *Error {
	return &Error{Code: CodeMalformedQuery, Message: positioned(p.src, p.toks, t.pos, msg)}
}

func isKeyword(t token, kw string) bool {
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) expectKeyword(kw string) *Error {
	if t := p.next(); !isKeyword(t, kw) {
		return p.fail(t)
	}
	return nil
}

func (p *parser) query() (*Query, *Error) {
	p.q = &Query{Limit: -1, Offset: -1, src: p.src, toks: p.toks}
	if err := p.expectKeyword("SELECT"); err != nil {
		return nil, err
	}
	if err := p.selectList(); err != nil {
		return nil, err
	}
	if err := p.expectKeyword("FROM"); err != nil {
		return nil, err
	}
	obj := p.next()
	if obj.kind != tIdent || reserved[strings.ToUpper(obj.text)] || strings.Contains(obj.text, ".") {
		return nil, p.fail(obj)
	}
	p.q.Object, p.q.objectPos = obj.text, obj.pos

	if isKeyword(p.peek(), "WHERE") {
		p.next()
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		p.q.Where = x
	}
	if isKeyword(p.peek(), "GROUP") {
		p.next()
		if err := p.expectKeyword("BY"); err != nil {
			return nil, err
		}
		if err := p.groupBy(); err != nil {
			return nil, err
		}
	}
	if isKeyword(p.peek(), "ORDER") {
		p.next()
		if err := p.expectKeyword("BY"); err != nil {
			return nil, err
		}
		if err := p.orderBy(); err != nil {
			return nil, err
		}
	}
	if isKeyword(p.peek(), "LIMIT") {
		p.next()
		t := p.next()
		n, ok := count(t)
		if !ok {
			return nil, p.fail(t)
		}
		p.q.Limit = n
	}
	if isKeyword(p.peek(), "OFFSET") {
		p.next()
		t := p.next()
		n, ok := count(t)
		if !ok {
			return nil, p.fail(t)
		}
		if n > MaxOffset {
			return nil, &Error{Code: CodeNumberOutsideValidRange, Message: positioned(p.src, p.toks, t.pos, "Maximum SOQL offset allowed is 2000")}
		}
		p.q.Offset = n
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.fail(t)
	}
	if err := p.checkGrouping(); err != nil {
		return nil, err
	}
	return p.q, nil
}

// count reads the unsigned integer of LIMIT or OFFSET.
func count(t token) (int, bool) {
	if t.kind != tNumber || !allDigits(t.text) {
		return 0, false
	}
	n, err := strconv.ParseInt(t.text, 10, 32)
	if err != nil {
		return 0, false
	}
	return int(n), true
}

func (p *parser) selectList() *Error {
	if t := p.peek(); isKeyword(t, "COUNT") && p.toks[p.i+1].kind == tLParen && p.toks[p.i+2].kind == tRParen {
		p.next()
		p.next()
		p.next()
		p.q.Count = true
		return nil
	}
	for {
		f, err := p.selectItem()
		if err != nil {
			return err
		}
		p.q.Fields = append(p.q.Fields, f)
		if p.peek().kind != tComma {
			return nil
		}
		p.next()
	}
}

// path reads a field path and records it for Paths.
func (p *parser) path() ([]string, token, *Error) {
	t := p.next()
	if t.kind != tIdent || reserved[strings.ToUpper(t.text)] {
		return nil, t, p.fail(t)
	}
	parts := strings.Split(t.text, ".")
	for _, s := range parts {
		if s == "" || !isLetter(s[0]) {
			return nil, t, p.fail(t)
		}
	}
	p.q.paths = append(p.q.paths, posPath{path: parts, pos: t.pos})
	return parts, t, nil
}

func (p *parser) orderBy() *Error {
	for {
		fn, path, pos, err := p.orderKey()
		if err != nil {
			return err
		}
		o := Order{Path: path, Func: fn, pos: pos}
		switch t := p.peek(); {
		case isKeyword(t, "ASC"):
			p.next()
		case isKeyword(t, "DESC"):
			p.next()
			o.Desc, o.NullsLast = true, true
		}
		if isKeyword(p.peek(), "NULLS") {
			p.next()
			switch t := p.next(); {
			case isKeyword(t, "FIRST"):
				o.NullsLast = false
			case isKeyword(t, "LAST"):
				o.NullsLast = true
			default:
				return p.fail(t)
			}
		}
		p.q.OrderBy = append(p.q.OrderBy, o)
		if p.peek().kind != tComma {
			return nil
		}
		p.next()
	}
}

// expr reads conditions joined by AND or by OR. Salesforce refuses to mix
// the two at one level ("unexpected token: 'OR'"), so a change of operator
// without parentheses is a syntax error at the second operator.
func (p *parser) expr() (Expr, *Error) {
	first, err := p.unary()
	if err != nil {
		return nil, err
	}
	var l *Logical
	for {
		t := p.peek()
		if !isKeyword(t, "AND") && !isKeyword(t, "OR") {
			break
		}
		op := strings.ToUpper(t.text)
		if l == nil {
			l = &Logical{Op: op, Terms: []Expr{first}}
		} else if l.Op != op {
			return nil, p.fail(t)
		}
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		l.Terms = append(l.Terms, x)
	}
	if l == nil {
		return first, nil
	}
	return l, nil
}

func (p *parser) unary() (Expr, *Error) {
	switch t := p.peek(); {
	case isKeyword(t, "NOT"):
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	case t.kind == tLParen:
		p.next()
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		if r := p.next(); r.kind != tRParen {
			return nil, p.fail(r)
		}
		return x, nil
	}
	return p.cond()
}

func (p *parser) cond() (Expr, *Error) {
	path, ft, err := p.path()
	if err != nil {
		return nil, err
	}
	c := &Cond{Path: path, pos: ft.pos}
	t := p.next()
	switch {
	case t.kind == tOp:
		c.Op = t.text
		if c.Op == "<>" {
			c.Op = "!="
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		c.Values = []Literal{v}
	case isKeyword(t, "LIKE"):
		c.Op = "LIKE"
		vt := p.next()
		if vt.kind != tString {
			return nil, p.fail(vt)
		}
		s, pat, msg := decodeString(vt.raw, true)
		if msg != "" {
			return nil, p.failMsg(vt, msg)
		}
		c.Values = []Literal{{Kind: KindString, Text: vt.text, Str: s, pos: vt.pos}}
		c.like = pat
	case isKeyword(t, "IN"):
		c.Op = "IN"
		if c.Values, err = p.list(); err != nil {
			return nil, err
		}
	case isKeyword(t, "NOT") && isKeyword(p.peek(), "IN"):
		p.next()
		c.Op = "NOT IN"
		if c.Values, err = p.list(); err != nil {
			return nil, err
		}
	default:
		return nil, p.fail(t)
	}
	return c, nil
}

func (p *parser) list() ([]Literal, *Error) {
	if t := p.next(); t.kind != tLParen {
		return nil, p.fail(t)
	}
	var vs []Literal
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
		switch t := p.next(); t.kind {
		case tComma:
		case tRParen:
			return vs, nil
		default:
			return nil, p.fail(t)
		}
	}
}

func (p *parser) value() (Literal, *Error) {
	t := p.next()
	l := Literal{Text: t.text, pos: t.pos}
	switch t.kind {
	case tString:
		s, _, msg := decodeString(t.raw, false)
		if msg != "" {
			return l, p.failMsg(t, msg)
		}
		l.Kind, l.Str = KindString, s
	case tNumber:
		d, err := decimal.Parse(normalNumber(t.text))
		if err != nil {
			return l, p.failMsg(t, "Invalid number: "+t.text)
		}
		l.Kind, l.Num = KindNumber, d
	case tDate:
		d, err := time.Parse(time.DateOnly, t.text)
		if err != nil {
			return l, p.failMsg(t, "Invalid date: "+t.text)
		}
		l.Kind, l.Date = KindDate, billsync.DateOf(d)
	case tDateTime:
		tm, err := time.Parse(time.RFC3339Nano, strings.ToUpper(t.text))
		if err != nil {
			return l, p.failMsg(t, "Invalid datetime: "+t.text)
		}
		l.Kind, l.Time = KindDateTime, tm.UTC()
	case tIdent:
		up := strings.ToUpper(t.text)
		switch up {
		case "NULL":
			l.Kind = KindNull
			return l, nil
		case "TRUE", "FALSE":
			l.Kind, l.Bool = KindBool, up == "TRUE"
			return l, nil
		}
		withN, known := dateLiterals[up]
		if !known {
			return l, p.fail(t)
		}
		l.Kind, l.Name = KindDateLiteral, up
		if withN {
			if c := p.next(); c.kind != tColon {
				return l, p.fail(c)
			}
			nt := p.next()
			n, ok := count(nt)
			if !ok || n > maxLiteralN {
				return l, p.fail(nt)
			}
			l.N = n
			l.Text = p.src[t.pos : nt.pos+len(nt.text)]
		}
	default:
		return l, p.fail(t)
	}
	return l, nil
}

// normalNumber rewrites the forms SOQL accepts but decimal.Parse may not:
// a leading "+", a bare leading or trailing point.
func normalNumber(s string) string {
	s = strings.TrimPrefix(s, "+")
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if strings.HasPrefix(s, ".") {
		s = "0" + s
	}
	s = strings.TrimSuffix(s, ".")
	if neg {
		s = "-" + s
	}
	return s
}
