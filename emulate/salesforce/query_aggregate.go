package salesforce

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/salesforce/soql"
)

// fieldAt resolves a field path from o through its relationships.
func (e *Emulator) fieldAt(o *objectDef, path []string) *fieldDef {
	for len(path) > 1 {
		rf := o.byRel[strings.ToLower(path[0])]
		if rf == nil {
			return nil
		}
		o = e.schema.object(rf.ReferenceTo[0])
		path = path[1:]
	}
	return o.field(path[0])
}

// aggregatable reports whether an aggregate function applies to a field of
// type typ. SUM and AVG take numbers only; no function takes a checkbox or
// a long text area (Salesforce: "field X does not support aggregate
// operator COUNT" for both).
func aggregatable(fn, typ string) bool {
	switch typ {
	case "boolean", "textarea":
		return false
	}
	if fn == "SUM" || fn == "AVG" {
		switch typ {
		case "currency", "double", "percent", "int":
			return true
		}
		return false
	}
	return true
}

// checkAggregates refuses an aggregate function on a field that does not
// support it, in Salesforce's MALFORMED_QUERY wording.
func (e *Emulator) checkAggregates(q *soql.Query, o *objectDef) *apiError {
	for _, f := range q.Fields {
		if f.Func == "" {
			continue
		}
		fd := e.fieldAt(o, f.Path)
		if fd == nil || aggregatable(f.Func, fd.Type) {
			continue
		}
		return queryError(q.ErrorAtPath(f.Path, "MALFORMED_QUERY", "field "+fd.Name+" does not support aggregate operator "+f.Func))
	}
	return nil
}

// aggregatePageLocked answers an aggregate query over the records that
// matched it: one AggregateResult row per group, whose attributes carry
// only the type (the rows are no stored records, so there is no url).
func (e *Emulator) aggregatePageLocked(q *soql.Query, rows []*record) map[string]any {
	recs := make([]soql.Record, len(rows))
	for i, r := range rows {
		recs[i] = recView{e, r}
	}
	groups := q.AggregateRows(recs)
	if q.Offset > 0 {
		groups = groups[min(q.Offset, len(groups)):]
	}
	if q.Limit >= 0 && q.Limit < len(groups) {
		groups = groups[:q.Limit]
	}
	out := make([]billsync.SObject, len(groups))
	for i, cols := range groups {
		row := billsync.SObject{"attributes": map[string]any{"type": "AggregateResult"}}
		for _, c := range cols {
			row[c.Name] = aggregateWire(c.Value)
		}
		out[i] = row
	}
	return map[string]any{"totalSize": len(out), "done": true, "records": out}
}

// aggregateWire writes an aggregate value. Numbers are plain decimals
// without trailing zeros (a SUM of currency answers 105, not 105.0);
// dates and datetimes are written as in records.
func aggregateWire(v any) any {
	switch x := v.(type) {
	case json.Number:
		return json.Number(plainNumber(string(x)))
	case billsync.Date:
		return x.String()
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000+0000")
	}
	return v
}

// plainNumber trims a decimal's trailing fractional zeros.
func plainNumber(s string) string {
	if strings.ContainsAny(s, "eE") || !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" || s == "" {
		return "0"
	}
	return s
}
