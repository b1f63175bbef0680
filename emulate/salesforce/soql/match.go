package soql

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/govalues/decimal"
)

// Record is one row the emulator offers for evaluation.
//
// Value returns the field at path (["Name"], ["BillingAccount__r",
// "BillingId__c"]), matching names case-insensitively. ok=false means the
// object has no such field; a relationship whose parent is empty yields
// (nil, true). v is nil, string, bool, json.Number, billsync.Date or
// time.Time; billsync.Money and Go integers are accepted too.
type Record interface {
	Value(path []string) (v any, ok bool)
}

// Match evaluates the WHERE clause against r; a query without WHERE matches
// every record. Errors are *Error: INVALID_FIELD for an unknown field or a
// literal whose type does not fit the field's value, in Salesforce's
// wording. Every condition is evaluated (no short-circuit) so that such an
// error does not depend on the data.
func (q *Query) Match(r Record) (bool, error) {
	if q.Where == nil {
		return true, nil
	}
	ev := evaluator{q: q, r: r, now: q.now()}
	ok, err := ev.eval(q.Where)
	if err != nil {
		return false, err
	}
	return ok, nil
}

type evaluator struct {
	q   *Query
	r   Record
	now time.Time
}

func (ev *evaluator) eval(x Expr) (bool, *Error) {
	switch x := x.(type) {
	case *Logical:
		and := x.Op == "AND"
		res := and
		for _, t := range x.Terms {
			ok, err := ev.eval(t)
			if err != nil {
				return false, err
			}
			if and {
				res = res && ok
			} else {
				res = res || ok
			}
		}
		return res, nil
	case *Not:
		ok, err := ev.eval(x.X)
		return !ok && err == nil, err
	case *Cond:
		return ev.cond(x)
	}
	return false, &Error{Code: billsync.EINTERNAL, Message: "soql: unknown expression"}
}

func (ev *evaluator) cond(c *Cond) (bool, *Error) {
	raw, ok := ev.r.Value(c.Path)
	if !ok {
		return false, ev.errAt(c.pos, CodeInvalidField, noSuchColumn(strings.Join(c.Path, "."), ev.q.Object))
	}
	v, err := normalize(raw)
	if err != nil {
		// A Record returning a type outside its contract is the emulator's
		// bug, not the query's, so the message carries no excerpt.
		return false, err
	}
	field := strings.Join(c.Path, ".")

	switch c.Op {
	case "LIKE":
		if v == nil {
			return false, nil
		}
		s, isText := v.(string)
		if !isText {
			return false, ev.errAt(c.Values[0].pos, CodeInvalidField, mismatch(field, v))
		}
		return likeMatch(c.like, s), nil
	case "IN", "NOT IN":
		found := false
		for _, l := range c.Values {
			eq, err := ev.compare("=", v, l, field)
			if err != nil {
				return false, err
			}
			found = found || eq
		}
		return found == (c.Op == "IN"), nil
	}
	return ev.compare(c.Op, v, c.Values[0], field)
}

// compare applies op to v and l with SOQL's null rules: = null and != null
// test for null, != matches a null field, and every other comparison
// involving null is false.
func (ev *evaluator) compare(op string, v any, l Literal, field string) (bool, *Error) {
	if l.Kind == KindNull {
		// A checkbox is never null in Salesforce: "= null" means false and
		// "!= null" means true ("Use null in WHERE").
		if b, ok := v.(bool); ok {
			v = nil
			if b {
				v = true
			}
		}
		switch op {
		case "=":
			return v == nil, nil
		case "!=":
			return v != nil, nil
		}
		return false, nil
	}
	if v == nil {
		return op == "!=", nil
	}
	if l.Kind == KindDateLiteral {
		var t time.Time
		switch x := v.(type) {
		case billsync.Date:
			t = dateTime(x)
		case time.Time:
			t = x.UTC()
		default:
			return false, ev.errAt(l.pos, CodeInvalidField, mismatch(field, v))
		}
		start, end := dateRange(l, ev.now)
		switch op {
		case "=":
			return !t.Before(start) && t.Before(end), nil
		case "!=":
			return t.Before(start) || !t.Before(end), nil
		case "<":
			return t.Before(start), nil
		case "<=":
			return t.Before(end), nil
		case ">":
			return !t.Before(end), nil
		case ">=":
			return !t.Before(start), nil
		}
		return false, nil
	}
	c, ok := compareLiteral(v, l)
	if !ok {
		return false, ev.errAt(l.pos, CodeInvalidField, mismatch(field, v))
	}
	switch op {
	case "=":
		return c == 0, nil
	case "!=":
		return c != 0, nil
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	case ">=":
		return c >= 0, nil
	}
	return false, nil
}

func (ev *evaluator) errAt(pos int, code, msg string) *Error {
	return &Error{Code: code, Message: positioned(ev.q.src, ev.q.toks, pos, msg)}
}

// compareLiteral orders a non-null value against a literal of a fitting
// kind; ok=false when the kinds do not fit.
func compareLiteral(v any, l Literal) (int, bool) {
	switch x := v.(type) {
	case string:
		if l.Kind == KindString {
			return cmpText(x, l.Str), true
		}
	case bool:
		if l.Kind == KindBool {
			return cmpBool(x, l.Bool), true
		}
	case json.Number:
		if l.Kind == KindNumber {
			return cmpNumber(string(x), l.Num), true
		}
	case billsync.Date:
		if l.Kind == KindDate {
			return dateTime(x).Compare(dateTime(l.Date)), true
		}
	case time.Time:
		if l.Kind == KindDateTime {
			return x.Compare(l.Time), true
		}
	}
	return 0, false
}

// mismatch is Salesforce's INVALID_FIELD text for a literal of the wrong
// type, e.g. "value of filter criterion for field 'Amount' must be of type
// double and should not be enclosed in quotes".
func mismatch(field string, v any) string {
	if _, ok := v.(string); ok {
		return "value of filter criterion for field '" + field + "' must be of type string and should be enclosed in quotes"
	}
	return "value of filter criterion for field '" + field + "' must be of type " + typeName(v) + " and should not be enclosed in quotes"
}

func typeName(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case json.Number:
		return "double"
	case billsync.Date:
		return "date"
	case time.Time:
		return "dateTime"
	}
	return "string"
}

// normalize maps the value types a Record may return onto the six the
// comparisons know.
func normalize(v any) (any, *Error) {
	switch x := v.(type) {
	case nil, string, bool, json.Number, billsync.Date, time.Time:
		return v, nil
	case *string:
		if x == nil {
			return nil, nil
		}
		return *x, nil
	case billsync.Money:
		return json.Number(x.String()), nil
	case int:
		return json.Number(big.NewInt(int64(x)).String()), nil
	case int64:
		return json.Number(big.NewInt(x).String()), nil
	case int32:
		return json.Number(big.NewInt(int64(x)).String()), nil
	}
	return nil, &Error{Code: billsync.EINTERNAL, Message: fmt.Sprintf("soql: record value of unsupported type %T", v)}
}

// cmpText orders text the way Salesforce compares and sorts it: ignoring
// case.
func cmpText(a, b string) int {
	if strings.EqualFold(a, b) {
		return 0
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// cmpNumber compares a record's number with a literal exactly. A value
// decimal cannot hold (exponent form, more than 19 digits) is compared as an
// exact rational instead; neither path touches float64.
func cmpNumber(s string, d decimal.Decimal) int {
	if a, err := decimal.Parse(s); err == nil {
		return a.Cmp(d)
	}
	a, ok := new(big.Rat).SetString(s)
	b, ok2 := new(big.Rat).SetString(d.String())
	if !ok || !ok2 {
		return strings.Compare(s, d.String())
	}
	return a.Cmp(b)
}

func cmpNumbers(a, b string) int {
	if db, err := decimal.Parse(b); err == nil {
		return cmpNumber(a, db)
	}
	ra, ok := new(big.Rat).SetString(a)
	rb, ok2 := new(big.Rat).SetString(b)
	if !ok || !ok2 {
		return strings.Compare(a, b)
	}
	return ra.Cmp(rb)
}

// Less reports whether a sorts before b under ORDER BY. Nulls go first for
// ASC and last for DESC unless NULLS FIRST/LAST says otherwise; text sorts
// case-insensitively. Records equal on every key are not less, so the
// caller's stable sort keeps their order. An unknown field or a value of an
// unsupported type sorts as null: the emulator validates Paths beforehand.
func (q *Query) Less(a, b Record) bool {
	for _, o := range q.OrderBy {
		va := orderValue(a, o.Path)
		vb := orderValue(b, o.Path)
		switch {
		case va == nil && vb == nil:
			continue
		case va == nil:
			return !o.NullsLast
		case vb == nil:
			return o.NullsLast
		}
		c := orderCmp(va, vb)
		if o.Desc {
			c = -c
		}
		if c != 0 {
			return c < 0
		}
	}
	return false
}

func orderValue(r Record, path []string) any {
	raw, ok := r.Value(path)
	if !ok {
		return nil
	}
	if v, err := normalize(raw); err == nil {
		return v
	}
	return nil
}

// orderCmp orders two non-null values; values of different types (which a
// well-typed field never holds) are ordered by type so the sort stays
// consistent.
func orderCmp(a, b any) int {
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return cmpText(x, y)
		}
	case bool:
		if y, ok := b.(bool); ok {
			return cmpBool(x, y)
		}
	case json.Number:
		if y, ok := b.(json.Number); ok {
			return cmpNumbers(string(x), string(y))
		}
	case billsync.Date:
		if y, ok := b.(billsync.Date); ok {
			return dateTime(x).Compare(dateTime(y))
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	}
	return cmp.Compare(typeRank(a), typeRank(b))
}

func typeRank(v any) int {
	switch v.(type) {
	case bool:
		return 1
	case json.Number:
		return 2
	case billsync.Date:
		return 3
	case time.Time:
		return 4
	}
	return 0
}
