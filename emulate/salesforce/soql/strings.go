package soql

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type likeKind uint8

const (
	likeLit likeKind = iota
	likeAny          // %
	likeOne          // _
)

type likeRune struct {
	r    rune
	kind likeKind
}

// decodeString applies SOQL's escape sequences (\n \N \r \R \t \T \b \B \f
// \F \" \' \\ \uXXXX, and in a LIKE pattern \% \_) to a string body. For a
// LIKE pattern it also returns the compiled pattern, in which escaped % and
// _ are literal. Any other backslash is an error, as in Salesforce.
func decodeString(raw string, like bool) (string, []likeRune, string) {
	var b strings.Builder
	var pat []likeRune
	add := func(r rune, k likeKind) {
		b.WriteRune(r)
		if like {
			pat = append(pat, likeRune{r, k})
		}
	}
	for i := 0; i < len(raw); {
		r, size := utf8.DecodeRuneInString(raw[i:])
		if r != '\\' {
			k := likeLit
			if like && r == '%' {
				k = likeAny
			} else if like && r == '_' {
				k = likeOne
			}
			add(r, k)
			i += size
			continue
		}
		if i+1 >= len(raw) {
			return "", nil, badEscape(raw, `\`)
		}
		e := raw[i+1]
		i += 2
		switch e {
		case 'n', 'N':
			add('\n', likeLit)
		case 'r', 'R':
			add('\r', likeLit)
		case 't', 'T':
			add('\t', likeLit)
		case 'b', 'B':
			add('\b', likeLit)
		case 'f', 'F':
			add('\f', likeLit)
		case '"', '\'', '\\':
			add(rune(e), likeLit)
		case '%', '_':
			if !like {
				return "", nil, badEscape(raw, `\`+string(e))
			}
			add(rune(e), likeLit)
		case 'u':
			if i+4 > len(raw) {
				return "", nil, badEscape(raw, `\u`+raw[i:])
			}
			v, err := strconv.ParseUint(raw[i:i+4], 16, 32)
			if err != nil {
				return "", nil, badEscape(raw, `\u`+raw[i:i+4])
			}
			add(rune(v), likeLit)
			i += 4
		default:
			r, _ := utf8.DecodeRuneInString(raw[i-1:])
			return "", nil, badEscape(raw, `\`+string(r))
		}
	}
	return b.String(), pat, ""
}

func badEscape(raw, seq string) string {
	return "Invalid string literal '" + raw + "'. Illegal character sequence '" + seq + "' in string literal."
}

// likeMatch reports whether s matches the pattern, ignoring case. It is the
// classic wildcard matcher with one backtrack point per %, so it runs in
// O(len(s)·len(p)) at worst and cannot blow up on hostile patterns.
func likeMatch(p []likeRune, s string) bool {
	rs := []rune(s)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(rs) {
		switch {
		case pi < len(p) && p[pi].kind == likeAny:
			star, mark = pi, si
			pi++
		case pi < len(p) && (p[pi].kind == likeOne || foldEq(p[pi].r, rs[si])):
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi].kind == likeAny {
		pi++
	}
	return pi == len(p)
}

func foldEq(a, b rune) bool {
	return a == b || unicode.ToLower(a) == unicode.ToLower(b) || unicode.ToUpper(a) == unicode.ToUpper(b)
}
