package soql

import (
	"encoding/json"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/govalues/decimal"
)

// aggregateFuncs are the SOQL aggregate functions the parser accepts
// ("Aggregate Functions" in the SOQL and SOSL Reference).
var aggregateFuncs = map[string]bool{
	"COUNT": true, "COUNT_DISTINCT": true, "MIN": true, "MAX": true, "SUM": true, "AVG": true,
}

// Aggregate reports whether the query answers AggregateResult rows: it
// applies an aggregate function to a field or has a GROUP BY clause.
// SELECT COUNT() is not one: it answers only totalSize.
func (q *Query) Aggregate() bool {
	if len(q.GroupBy) > 0 {
		return true
	}
	for _, f := range q.Fields {
		if f.Func != "" {
			return true
		}
	}
	return false
}

func fieldText(fn string, path []string) string {
	if fn == "" {
		return strings.Join(path, ".")
	}
	return fn + "(" + strings.Join(path, ".") + ")"
}

// aggregateCall reads FUNC(path) when the next tokens are one; ok=false
// leaves the parser where it was.
func (p *parser) aggregateCall() (fn string, path []string, pos int, ok bool, err *Error) {
	t := p.peek()
	up := strings.ToUpper(t.text)
	if t.kind != tIdent || !aggregateFuncs[up] || p.toks[p.i+1].kind != tLParen {
		return "", nil, 0, false, nil
	}
	if up == "COUNT" && p.toks[p.i+2].kind == tRParen {
		// COUNT() stands alone; among other fields it is a syntax error.
		return "", nil, 0, true, p.fail(t)
	}
	p.next()
	p.next()
	path, _, err = p.path()
	if err != nil {
		return "", nil, 0, true, err
	}
	if r := p.next(); r.kind != tRParen {
		return "", nil, 0, true, p.fail(r)
	}
	return up, path, t.pos, true, nil
}

// selectItem reads one element of the SELECT list: a field path or an
// aggregate function of one, either followed by an alias.
func (p *parser) selectItem() (Field, *Error) {
	fn, path, pos, ok, err := p.aggregateCall()
	if err != nil {
		return Field{}, err
	}
	if !ok {
		var t token
		path, t, err = p.path()
		if err != nil {
			return Field{}, err
		}
		if p.peek().kind == tLParen {
			// Another function (FIELDS(ALL), toLabel(…), COUNT() among
			// other fields) or a subquery; none is supported.
			return Field{}, p.fail(t)
		}
		pos = t.pos
	}
	f := Field{Path: path, Func: fn, pos: pos}
	if t := p.peek(); t.kind == tIdent && !reserved[strings.ToUpper(t.text)] && !strings.Contains(t.text, ".") {
		p.next()
		f.Alias = t.text
	}
	return f, nil
}

// orderKey reads an ORDER BY key: a field path or an aggregate of one.
func (p *parser) orderKey() (string, []string, int, *Error) {
	fn, path, pos, ok, err := p.aggregateCall()
	if err != nil || ok {
		return fn, path, pos, err
	}
	path, t, err := p.path()
	return "", path, t.pos, err
}

func (p *parser) groupBy() *Error {
	for {
		path, t, err := p.path()
		if err != nil {
			return err
		}
		p.q.GroupBy = append(p.q.GroupBy, Field{Path: path, pos: t.pos})
		if p.peek().kind != tComma {
			return nil
		}
		p.next()
	}
}

// checkGrouping applies the rules of aggregate queries once the whole
// statement is read: every plain field selected or ordered by must be a
// GROUP BY key, and only aggregate queries may alias a field.
func (p *parser) checkGrouping() *Error {
	q := p.q
	if !q.Aggregate() {
		for _, f := range q.Fields {
			if f.Alias != "" {
				return p.errAt(f.pos, "only aggregate expressions use field aliasing")
			}
		}
		return nil
	}
	for _, f := range q.Fields {
		if f.Func == "" && !q.grouped(f.Path) {
			return p.errAt(f.pos, "Field must be grouped or aggregated: "+strings.Join(f.Path, "."))
		}
	}
	for _, o := range q.OrderBy {
		if o.Func == "" && !q.grouped(o.Path) {
			return p.errAt(o.pos, "Ordered field must be grouped or aggregated: "+strings.Join(o.Path, "."))
		}
	}
	return nil
}

func (p *parser) errAt(pos int, msg string) *Error {
	return &Error{Code: CodeMalformedQuery, Message: positioned(p.src, p.toks, pos, msg)}
}

func (q *Query) grouped(path []string) bool {
	for _, g := range q.GroupBy {
		if equalPath(g.Path, path) {
			return true
		}
	}
	return false
}

// Column is one value of an AggregateResult row.
type Column struct {
	// Name is the key the row answers the value under: the alias, the
	// field's own name for a GROUP BY field ("Name" for Account.Name), or
	// expr0, expr1… for unaliased aggregates, numbered in select order.
	Name  string
	Field Field
	// Value is nil, string, bool, json.Number, billsync.Date or
	// time.Time. COUNT and COUNT_DISTINCT give integers; SUM and AVG
	// exact decimals; MIN and MAX the field's own type.
	Value any
}

// Columns names the query's select list as its AggregateResult rows do.
func (q *Query) Columns() []Column {
	out := make([]Column, len(q.Fields))
	expr := 0
	for i, f := range q.Fields {
		name := f.Alias
		switch {
		case name != "":
		case f.Func != "":
			name = "expr" + strconv.Itoa(expr)
			expr++
		default:
			name = f.Path[len(f.Path)-1]
		}
		out[i] = Column{Name: name, Field: f}
	}
	return out
}

// AggregateRows groups the records that matched the query by its GROUP BY
// keys and computes each row of the answer, ordered by ORDER BY (by the
// group keys when there is none). Without GROUP BY there is exactly one
// row, even for no records: COUNT answers 0, the others null. LIMIT and
// OFFSET are left to the caller.
func (q *Query) AggregateRows(recs []Record) [][]Column {
	type group struct {
		keys []any
		recs []Record
	}
	var groups []*group
	index := map[string]*group{}
	if len(q.GroupBy) == 0 {
		groups = []*group{{recs: recs}}
	} else {
		for _, r := range recs {
			keys := make([]any, len(q.GroupBy))
			var id strings.Builder
			for i, g := range q.GroupBy {
				keys[i] = orderValue(r, g.Path)
				id.WriteString(groupKey(keys[i]))
				id.WriteByte(0)
			}
			g := index[id.String()]
			if g == nil {
				g = &group{keys: keys}
				index[id.String()] = g
				groups = append(groups, g)
			}
			g.recs = append(g.recs, r)
		}
	}
	type row struct {
		keys []any
		cols []Column
	}
	rows := make([]row, len(groups))
	for i, g := range groups {
		cols := q.Columns()
		for j := range cols {
			cols[j].Value = aggregateValue(cols[j].Field, g.recs)
		}
		rows[i] = row{g.keys, cols}
	}
	sort.SliceStable(rows, func(i, j int) bool { return q.lessRow(rows[i].keys, rows[i].cols, rows[j].keys, rows[j].cols) })
	out := make([][]Column, len(rows))
	for i, r := range rows {
		out[i] = r.cols
	}
	return out
}

// groupKey identifies a group value; text groups ignore case, as
// Salesforce's do.
func groupKey(v any) string {
	switch x := v.(type) {
	case nil:
		return "\x00null"
	case string:
		return "s" + strings.ToLower(x)
	case json.Number:
		if d, err := decimal.Parse(string(x)); err == nil {
			return "n" + d.Trim(0).String()
		}
		return "n" + string(x)
	case billsync.Date:
		return "d" + x.String()
	case time.Time:
		return "t" + x.UTC().Format(time.RFC3339Nano)
	case bool:
		return "b" + strconv.FormatBool(x)
	}
	return "?"
}

// aggregateValue computes f over a group's records: the group's own value
// for a GROUP BY field, the function's result otherwise.
func aggregateValue(f Field, recs []Record) any {
	if f.Func == "" {
		if len(recs) == 0 {
			return nil
		}
		return orderValue(recs[0], f.Path)
	}
	var vals []any
	for _, r := range recs {
		if v := orderValue(r, f.Path); v != nil {
			vals = append(vals, v)
		}
	}
	switch f.Func {
	case "COUNT":
		return json.Number(strconv.Itoa(len(vals)))
	case "COUNT_DISTINCT":
		seen := map[string]bool{}
		for _, v := range vals {
			seen[groupKey(v)] = true
		}
		return json.Number(strconv.Itoa(len(seen)))
	case "MIN", "MAX":
		var best any
		for _, v := range vals {
			if best == nil || f.Func == "MIN" && orderCmp(v, best) < 0 || f.Func == "MAX" && orderCmp(v, best) > 0 {
				best = v
			}
		}
		return best
	}
	return sumOrAverage(f.Func == "AVG", vals)
}

// sumOrAverage adds the numbers among vals exactly; null when there are
// none. The result is written without trailing zeros ("105", "15.5"), as
// Salesforce writes aggregate numbers.
func sumOrAverage(avg bool, vals []any) any {
	sum := new(big.Rat)
	n := 0
	for _, v := range vals {
		s, ok := v.(json.Number)
		if !ok {
			continue
		}
		r, ok := new(big.Rat).SetString(string(s))
		if !ok {
			continue
		}
		sum.Add(sum, r)
		n++
	}
	if n == 0 {
		return nil
	}
	if avg {
		sum.Quo(sum, new(big.Rat).SetInt64(int64(n)))
	}
	return json.Number(ratText(sum))
}

// ratText renders r as a plain decimal: exactly when it terminates,
// otherwise to 16 significant digits, about what a double holds.
func ratText(r *big.Rat) string {
	if d, exact := r.FloatPrec(); exact {
		return trimZeros(r.FloatString(d))
	}
	abs := new(big.Rat).Abs(r)
	intDigits := len(new(big.Int).Quo(abs.Num(), abs.Denom()).String())
	return trimZeros(r.FloatString(max(16-intDigits, 0)))
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

// lessRow orders two AggregateResult rows by ORDER BY, or by the GROUP BY
// keys (ascending, nulls first) when the query has no ORDER BY.
func (q *Query) lessRow(ka []any, a []Column, kb []any, b []Column) bool {
	if len(q.OrderBy) == 0 {
		for i := range ka {
			if c := nullsFirst(ka[i], kb[i]); c != 0 {
				return c < 0
			}
		}
		return false
	}
	for _, o := range q.OrderBy {
		va, vb := rowValue(a, o), rowValue(b, o)
		var c int
		switch {
		case va == nil && vb == nil:
			continue
		case va == nil:
			c = -1
			if o.NullsLast {
				c = 1
			}
		case vb == nil:
			c = 1
			if o.NullsLast {
				c = -1
			}
		default:
			c = orderCmp(va, vb)
			if o.Desc {
				c = -c
			}
		}
		if c != 0 {
			return c < 0
		}
	}
	return false
}

func nullsFirst(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return orderCmp(a, b)
}

// rowValue finds an ORDER BY key's value among a row's columns.
func rowValue(cols []Column, o Order) any {
	for _, c := range cols {
		if c.Field.Func == o.Func && equalPath(c.Field.Path, o.Path) {
			return c.Value
		}
	}
	return nil
}
