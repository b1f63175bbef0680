package soql

import (
	"strconv"
	"strings"
)

// Error codes this package raises. The emulator answers them verbatim in
// Salesforce's error array ({"message", "errorCode"}).
const (
	CodeMalformedQuery = "MALFORMED_QUERY"
	// CodeInvalidField is raised by Match when a literal's type cannot be
	// compared with the record's value (a quoted string against a number
	// field and the like); the emulator raises it for unknown fields.
	CodeInvalidField = "INVALID_FIELD"
	// CodeNumberOutsideValidRange is Salesforce's code for OFFSET > 2000.
	CodeNumberOutsideValidRange = "NUMBER_OUTSIDE_VALID_RANGE"
)

// MaxOffset is the largest OFFSET Salesforce accepts.
const MaxOffset = 2000

// Error is a query failure with a Salesforce error code. Message is what
// Salesforce would put in the "message" member of its error body.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// excerptTokens is how many tokens either side of the offending one the
// excerpt shows on long lines. Real MALFORMED_QUERY / INVALID_FIELD bodies
// show about four (see testdata/SOURCES.md); short lines are shown whole.
const (
	excerptTokens   = 4
	shortLineLength = 60
)

// positioned formats msg the way Salesforce does for errors it can place:
//
//	"\n<excerpt of the row>\n<spaces>^\nERROR at Row:r:Column:c\n<msg>"
//
// Row and Column are 1-based; the column counts bytes within the row.
func positioned(src string, toks []token, pos int, msg string) string {
	if pos < 0 {
		pos = 0
	}
	if pos > len(src) {
		pos = len(src)
	}
	lineStart := strings.LastIndexByte(src[:pos], '\n') + 1
	lineEnd := len(src)
	if i := strings.IndexByte(src[pos:], '\n'); i >= 0 {
		lineEnd = pos + i
	}
	row := strings.Count(src[:lineStart], "\n") + 1
	col := pos - lineStart + 1

	from, to := lineStart, lineEnd
	if lineEnd-lineStart > shortLineLength {
		from, to = window(toks, pos, lineStart, lineEnd)
	}
	excerpt := strings.TrimRight(src[from:to], "\r")
	caret := strings.Repeat(" ", pos-from) + "^"

	var b strings.Builder
	b.WriteString("\n")
	b.WriteString(excerpt)
	b.WriteString("\n")
	b.WriteString(caret)
	b.WriteString("\nERROR at Row:")
	b.WriteString(strconv.Itoa(row))
	b.WriteString(":Column:")
	b.WriteString(strconv.Itoa(col))
	b.WriteString("\n")
	b.WriteString(msg)
	return b.String()
}

// window picks the byte range of up to excerptTokens tokens before and after
// the token at pos, clipped to the row.
func window(toks []token, pos, lineStart, lineEnd int) (int, int) {
	at := len(toks) - 1
	for i, t := range toks {
		if t.pos >= pos {
			at = i
			break
		}
	}
	if at < 0 {
		return lineStart, lineEnd
	}
	from, to := pos, pos
	for i := at; i >= 0 && i >= at-excerptTokens; i-- {
		if toks[i].pos < lineStart || toks[i].kind == tEOF && i != at {
			break
		}
		if toks[i].pos < from {
			from = toks[i].pos
		}
	}
	for i := at; i < len(toks) && i <= at+excerptTokens; i++ {
		end := toks[i].pos + len(toks[i].text)
		if toks[i].pos >= lineEnd || end > lineEnd {
			break
		}
		if end > to {
			to = end
		}
	}
	if from < lineStart {
		from = lineStart
	}
	if to > lineEnd {
		to = lineEnd
	}
	if to < pos {
		to = pos
	}
	return from, to
}

// unexpected is Salesforce's generic syntax error.
func unexpected(t token) string {
	if t.kind == tEOF {
		return "unexpected token: '<EOF>'"
	}
	return "unexpected token: '" + t.text + "'"
}

// lexError is the form Salesforce uses for characters its lexer cannot read:
// "line 1:15 unexpected token: '$'", with a 0-based column and no excerpt.
func lexError(src string, pos int, msg string) *Error {
	lineStart := strings.LastIndexByte(src[:pos], '\n') + 1
	row := strings.Count(src[:lineStart], "\n") + 1
	return &Error{Code: CodeMalformedQuery, Message: "line " + strconv.Itoa(row) + ":" + strconv.Itoa(pos-lineStart) + " " + msg}
}

// noSuchColumn is Salesforce's INVALID_FIELD wording for an unknown field.
func noSuchColumn(field, object string) string {
	return "No such column '" + field + "' on entity '" + object + "'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
}
