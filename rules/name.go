package rules

import (
	"strings"
	"unicode"
	"unicode/utf16"
)

// QuoteNameMaxLength is the length of the standard Quote.Name field; the
// engine passes the length describe reports, this is the fallback.
const QuoteNameMaxLength = 255

// QuoteName builds the Salesforce Quote name of E4: the description and the
// billing id, "Acme expansion (Q-1042)", no longer than maxLen.
//
// Length is counted in UTF-16 code units, as Salesforce counts characters
// (a character outside the Basic Multilingual Plane, such as most emoji,
// counts as two), so the name never draws STRING_TOO_LONG; a cut never
// splits a character. When the name is too long the description is cut and
// the "(id)" suffix kept whole, because the id is what tells two quotes
// apart. A blank description gives the bare id; if even the id does not fit,
// the id itself is cut. Runs of whitespace and control characters in the
// description become one space, since Name is a single-line field.
// maxLen <= 0 means QuoteNameMaxLength.
func QuoteName(description, billingID string, maxLen int) string {
	if maxLen <= 0 {
		maxLen = QuoteNameMaxLength
	}
	desc := singleLine(description)
	id := singleLine(billingID)
	if desc == "" {
		return cutUTF16(id, maxLen)
	}
	if id == "" {
		return strings.TrimRight(cutUTF16(desc, maxLen), " \u200d")
	}
	suffix := " (" + id + ")"
	budget := maxLen - utf16Len(suffix)
	if budget < 1 {
		return cutUTF16(id, maxLen)
	}
	// A cut can end on the space between two words or on a zero-width
	// joiner, both of which would look like a mistake before "(id)".
	desc = strings.TrimRight(cutUTF16(desc, budget), " \u200d")
	if desc == "" {
		return cutUTF16(id, maxLen)
	}
	return desc + suffix
}

func singleLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// cutUTF16 returns the longest prefix of s, ending on a rune boundary, whose
// UTF-16 length is at most max.
func cutUTF16(s string, max int) string {
	n := 0
	for i, r := range s {
		w := utf16.RuneLen(r)
		if w < 0 { // not reached: s is valid UTF-8 here
			w = 1
		}
		if n+w > max {
			return s[:i]
		}
		n += w
	}
	return s
}
