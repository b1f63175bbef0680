package soql

import (
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/govalues/decimal"
)

// Query is a parsed SOQL statement.
type Query struct {
	Fields []Field
	Count  bool // SELECT COUNT(): Fields is empty
	Object string
	Where  Expr // nil when there is no WHERE clause
	// GroupBy holds the GROUP BY keys (Path only); empty without GROUP BY.
	GroupBy []Field
	// OrderBy is empty when there is no ORDER BY clause.
	OrderBy []Order
	Limit   int // -1 when absent
	Offset  int // -1 when absent

	// Now is the clock relative date literals (TODAY, LAST_N_DAYS:n…) are
	// evaluated against; nil means time.Now. Set it before calling Match.
	Now func() time.Time

	src       string
	toks      []token
	objectPos int
	paths     []posPath // every path in order of appearance
}

// Field is one selected field: ["Name"] or ["BillingAccount__r",
// "BillingId__c"]. Names keep the spelling of the query; compare them with
// strings.EqualFold.
//
// In an aggregate query Func names the aggregate function applied to Path
// (COUNT, COUNT_DISTINCT, MIN, MAX, SUM, AVG, upper case) and Alias the
// name the row's value is answered under ("" when none was written).
type Field struct {
	Path  []string
	Func  string
	Alias string

	pos int
}

// Order is one ORDER BY key. The defaults are Salesforce's: ASC sorts nulls
// first, DESC sorts nulls last, unless NULLS FIRST / NULLS LAST says so.
type Order struct {
	Path      []string
	Func      string // an aggregate function, in aggregate queries only
	Desc      bool
	NullsLast bool

	pos int
}

type posPath struct {
	path []string
	pos  int
}

// Expr is a WHERE condition: *Logical, *Not or *Cond.
type Expr interface{ isExpr() }

// Logical is a run of conditions joined by one operator, "AND" or "OR".
// SOQL forbids mixing them without parentheses, so a Logical never holds
// both.
type Logical struct {
	Op    string
	Terms []Expr
}

// Not negates X.
type Not struct {
	X Expr
}

// Cond compares a field with literals. Op is one of = != < > <= >= LIKE IN
// "NOT IN"; <> is normalised to !=. Values holds one literal except for IN
// and NOT IN.
type Cond struct {
	Path   []string
	Op     string
	Values []Literal

	pos  int        // of the field, for error excerpts
	like []likeRune // compiled pattern for LIKE
}

func (*Logical) isExpr() {}
func (*Not) isExpr()     {}
func (*Cond) isExpr()    {}

// LiteralKind says which member of a Literal is meaningful.
type LiteralKind int

const (
	KindNull LiteralKind = iota
	KindString
	KindNumber
	KindBool
	KindDate
	KindDateTime
	KindDateLiteral // TODAY, LAST_N_DAYS:n… (Name and N)
)

// Literal is a constant on the right-hand side of a condition.
type Literal struct {
	Kind LiteralKind
	Text string // as written in the query

	Str  string          // KindString, escapes decoded (LIKE: the pattern with \% \_ kept as % _)
	Num  decimal.Decimal // KindNumber
	Bool bool            // KindBool
	Date billsync.Date   // KindDate
	Time time.Time       // KindDateTime, in UTC
	Name string          // KindDateLiteral, upper case: "LAST_N_DAYS"
	N    int             // KindDateLiteral with ":n"

	pos int
}

// Paths returns every field path the query references — SELECT list,
// WHERE, ORDER BY — in order of appearance, so the emulator can reject an
// unknown field before evaluating anything. Duplicates are kept.
func (q *Query) Paths() [][]string {
	out := make([][]string, len(q.paths))
	for i, p := range q.paths {
		out[i] = p.path
	}
	return out
}

// ErrorAtPath builds an error placed at the first occurrence of path (case-
// insensitive), in Salesforce's "ERROR at Row:r:Column:c" layout; the
// emulator uses it for INVALID_FIELD. A path the query does not mention is
// placed at the start of the query.
func (q *Query) ErrorAtPath(path []string, code, message string) *Error {
	pos := 0
	for _, p := range q.paths {
		if equalPath(p.path, path) {
			pos = p.pos
			break
		}
	}
	return &Error{Code: code, Message: positioned(q.src, q.toks, pos, message)}
}

// ErrorAtObject builds an error placed at the FROM object; the emulator
// uses it for INVALID_TYPE ("sObject type 'X' is not supported…").
func (q *Query) ErrorAtObject(code, message string) *Error {
	return &Error{Code: code, Message: positioned(q.src, q.toks, q.objectPos, message)}
}

func equalPath(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

func (q *Query) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

// String renders the query as canonical SOQL: keywords upper case, one
// space between tokens, literals as written, parentheses wherever a nested
// AND/OR needs them. Parsing the result yields the same query.
func (q *Query) String() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	if q.Count {
		b.WriteString("COUNT()")
	}
	for i, f := range q.Fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(fieldText(f.Func, f.Path))
		if f.Alias != "" {
			b.WriteString(" " + f.Alias)
		}
	}
	b.WriteString(" FROM ")
	b.WriteString(q.Object)
	if q.Where != nil {
		b.WriteString(" WHERE ")
		writeExpr(&b, q.Where, false)
	}
	for i, g := range q.GroupBy {
		if i == 0 {
			b.WriteString(" GROUP BY ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(strings.Join(g.Path, "."))
	}
	for i, o := range q.OrderBy {
		if i == 0 {
			b.WriteString(" ORDER BY ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(fieldText(o.Func, o.Path))
		if o.Desc {
			b.WriteString(" DESC")
		} else {
			b.WriteString(" ASC")
		}
		if o.NullsLast {
			b.WriteString(" NULLS LAST")
		} else {
			b.WriteString(" NULLS FIRST")
		}
	}
	if q.Limit >= 0 {
		b.WriteString(" LIMIT " + strconv.Itoa(q.Limit))
	}
	if q.Offset >= 0 {
		b.WriteString(" OFFSET " + strconv.Itoa(q.Offset))
	}
	return b.String()
}

func writeExpr(b *strings.Builder, x Expr, nested bool) {
	switch x := x.(type) {
	case *Logical:
		if nested {
			b.WriteString("(")
		}
		for i, t := range x.Terms {
			if i > 0 {
				b.WriteString(" " + x.Op + " ")
			}
			writeExpr(b, t, true)
		}
		if nested {
			b.WriteString(")")
		}
	case *Not:
		b.WriteString("NOT ")
		writeExpr(b, x.X, true)
	case *Cond:
		b.WriteString(strings.Join(x.Path, "."))
		b.WriteString(" " + x.Op + " ")
		if x.Op == "IN" || x.Op == "NOT IN" {
			b.WriteString("(")
			for i, v := range x.Values {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(v.Text)
			}
			b.WriteString(")")
			return
		}
		b.WriteString(x.Values[0].Text)
	}
}
