// Package soql builds the SOQL queries billsync sends to Salesforce. Every
// value that reaches a query goes through Quote, the one escaper, so a
// billing id or a product code holding a quote or a backslash can never
// change a query's meaning. It builds text only: it must not run queries.
package soql

import "strings"

// escaper escapes what the SOQL reference lists for string literals.
var escaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "\b", `\b`, "\f", `\f`, `"`, `\"`)

// Quote returns s as a SOQL string literal, quotes included.
func Quote(s string) string { return "'" + escaper.Replace(s) + "'" }

// List returns vals as a parenthesised list of literals for IN.
func List(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = Quote(v)
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// Eq is the condition field = 'value'.
func Eq(field, value string) string { return field + " = " + Quote(value) }

// In is the condition field IN ('a', 'b'). An empty vals gives a condition
// no record meets, as Salesforce refuses an empty IN list.
func In(field string, vals []string) string {
	if len(vals) == 0 {
		return "Id = null"
	}
	return field + " IN " + List(vals)
}

// Query is a SELECT under construction.
type Query struct {
	fields  []string
	object  string
	where   []string
	orderBy string
	limit   int
}

// Select starts a query of the given fields; duplicates (compared
// case-insensitively, as Salesforce does, which refuses them) are dropped.
func Select(fields ...string) *Query {
	q := &Query{}
	return q.Fields(fields...)
}

// Fields adds fields to the SELECT list.
func (q *Query) Fields(fields ...string) *Query {
	for _, f := range fields {
		if f == "" || q.has(f) {
			continue
		}
		q.fields = append(q.fields, f)
	}
	return q
}

func (q *Query) has(f string) bool {
	for _, g := range q.fields {
		if strings.EqualFold(f, g) {
			return true
		}
	}
	return false
}

// From names the object.
func (q *Query) From(object string) *Query { q.object = object; return q }

// Where adds a condition (built with Eq or In); conditions are joined with AND.
func (q *Query) Where(cond string) *Query { q.where = append(q.where, cond); return q }

// OrderBy sets the ORDER BY clause ("Id", "CreatedDate DESC").
func (q *Query) OrderBy(clause string) *Query { q.orderBy = clause; return q }

// Limit sets LIMIT; 0 means none.
func (q *Query) Limit(n int) *Query { q.limit = n; return q }

// String renders the query.
func (q *Query) String() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(strings.Join(q.fields, ", "))
	b.WriteString(" FROM ")
	b.WriteString(q.object)
	if len(q.where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(q.where, " AND "))
	}
	if q.orderBy != "" {
		b.WriteString(" ORDER BY ")
		b.WriteString(q.orderBy)
	}
	if q.limit > 0 {
		b.WriteString(" LIMIT ")
		b.WriteString(itoa(q.limit))
	}
	return b.String()
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	for n >= 10 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	buf[i] = byte('0' + n)
	return string(buf[i:])
}
