package soql

import "strings"

type tokKind int

const (
	tEOF      tokKind = iota
	tIdent            // Name, Rel__r.Field__c (dots included), keywords
	tString           // 'text' — text keeps the quotes, raw the body undecoded
	tNumber           // 12, -3.50, +.5
	tDate             // 2026-01-02
	tDateTime         // 2026-01-02T03:04:05Z
	tComma
	tLParen
	tRParen
	tColon
	tOp  // = != <> < > <= >=
	tBad // a character the lexer cannot read; always the last token
)

type token struct {
	kind tokKind
	text string // as written in the query
	pos  int    // byte offset of text in the query
	raw  string // tString only: the body between the quotes, escapes intact
	err  *Error // tBad only
}

// lex splits q into tokens, ending with a tEOF token at len(q), or with a
// tBad token where it meets something it cannot read. The parser reports a
// tBad token only when it reaches it, so that — as in Salesforce — a
// grammar error earlier in the query wins ('O'Brien' fails at Brien, not at
// the unterminated quote after it).
func lex(q string) []token {
	var toks []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case isLetter(c):
			j := i + 1
			for j < len(q) && (isLetter(q[j]) || isDigit(q[j]) || q[j] == '_' || q[j] == '.') {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: q[i:j], pos: i})
			i = j
		case isDigit(c) || (c == '.' || c == '+' || c == '-') && startsNumber(q, i):
			t := lexNumberOrDate(q, i)
			toks = append(toks, t)
			i += len(t.text)
		case c == '\'':
			t, err := lexString(q, i)
			if err != nil {
				return append(toks, token{kind: tBad, pos: i, err: err})
			}
			toks = append(toks, t)
			i += len(t.text)
		case c == ',':
			toks = append(toks, token{kind: tComma, text: ",", pos: i})
			i++
		case c == '(':
			toks = append(toks, token{kind: tLParen, text: "(", pos: i})
			i++
		case c == ')':
			toks = append(toks, token{kind: tRParen, text: ")", pos: i})
			i++
		case c == ':':
			toks = append(toks, token{kind: tColon, text: ":", pos: i})
			i++
		case c == '=':
			toks = append(toks, token{kind: tOp, text: "=", pos: i})
			i++
		case c == '!' && i+1 < len(q) && q[i+1] == '=':
			toks = append(toks, token{kind: tOp, text: "!=", pos: i})
			i += 2
		case c == '<' || c == '>':
			n := 1
			if i+1 < len(q) && (q[i+1] == '=' || c == '<' && q[i+1] == '>') {
				n = 2
			}
			toks = append(toks, token{kind: tOp, text: q[i : i+n], pos: i})
			i += n
		default:
			return append(toks, token{kind: tBad, pos: i, text: firstRune(q[i:]), err: lexError(q, i, "unexpected token: '"+firstRune(q[i:])+"'")})
		}
	}
	return append(toks, token{kind: tEOF, pos: len(q)})
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func firstRune(s string) string {
	for _, r := range s {
		return string(r)
	}
	return s
}

// startsNumber reports whether a sign or point at i begins a number.
func startsNumber(q string, i int) bool {
	j := i
	if q[j] == '+' || q[j] == '-' {
		j++
	}
	if j < len(q) && q[j] == '.' {
		j++
	}
	return j < len(q) && isDigit(q[j])
}

// lexNumberOrDate reads a signed decimal, or a date / datetime literal when
// the digits have the YYYY-MM-DD shape. Dates are validated by the parser so
// that an impossible one gets Salesforce's "Invalid date" message.
func lexNumberOrDate(q string, i int) token {
	if isDigit(q[i]) && len(q)-i >= 10 && allDigits(q[i:i+4]) && q[i+4] == '-' &&
		allDigits(q[i+5:i+7]) && q[i+7] == '-' && allDigits(q[i+8:i+10]) {
		j := i + 10
		if j < len(q) && (q[j] == 'T' || q[j] == 't') {
			// Consume everything that can belong to a datetime; the parser
			// checks the exact shape.
			j++
			for j < len(q) && (isDigit(q[j]) || strings.IndexByte(":.+-Zz", q[j]) >= 0) {
				j++
			}
			return token{kind: tDateTime, text: q[i:j], pos: i}
		}
		return token{kind: tDate, text: q[i:j], pos: i}
	}
	j := i
	if q[j] == '+' || q[j] == '-' {
		j++
	}
	for j < len(q) && isDigit(q[j]) {
		j++
	}
	if j < len(q) && q[j] == '.' {
		j++
		for j < len(q) && isDigit(q[j]) {
			j++
		}
	}
	return token{kind: tNumber, text: q[i:j], pos: i}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// lexString reads a quoted string. Escapes are only skipped here; they are
// decoded once the parser knows whether the literal is a LIKE pattern,
// because \% and \_ are legal only there.
func lexString(q string, i int) (token, *Error) {
	j := i + 1
	for j < len(q) {
		switch q[j] {
		case '\\':
			j += 2
			continue
		case '\'':
			return token{kind: tString, text: q[i : j+1], pos: i, raw: q[i+1 : j]}, nil
		}
		j++
	}
	return token{}, lexError(q, len(q), "mismatched character '<EOF>' expecting '''")
}
