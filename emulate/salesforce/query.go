package salesforce

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/salesforce/soql"
)

// defaultBatchSize is the rows per page a query answers with.
const defaultBatchSize = 2000

// maxCursors bounds the open query locators kept for nextRecordsUrl.
const maxCursors = 100

// cursor holds the rest of a paged query.
type cursor struct {
	rows  []billsync.SObject
	total int
	batch int
}

// recView offers a record to the SOQL matcher, resolving relationship paths.
type recView struct {
	e *Emulator
	r *record
}

func (v recView) Value(path []string) (any, bool) {
	return v.e.valueLocked(v.r, path)
}

func (e *Emulator) valueLocked(r *record, path []string) (any, bool) {
	o := e.schema.object(r.Object)
	if len(path) == 1 {
		f := o.field(path[0])
		if f == nil {
			return nil, false
		}
		var raw any
		switch f.Name {
		case "Id":
			raw = r.ID
		case "IsDeleted":
			raw = r.Deleted
		default:
			raw = r.Fields[f.Name]
		}
		return typedValue(f, raw), true
	}
	rf := o.byRel[strings.ToLower(path[0])]
	if rf == nil {
		return nil, false
	}
	parentID, _ := r.Fields[rf.Name].(string)
	parent := e.records[parentID]
	if parent == nil {
		if !e.pathExists(e.schema.object(rf.ReferenceTo[0]), path[1:]) {
			return nil, false
		}
		return nil, true
	}
	return e.valueLocked(parent, path[1:])
}

// typedValue converts a stored value to what the matcher compares.
func typedValue(f *fieldDef, raw any) any {
	s, ok := raw.(string)
	if !ok {
		return raw
	}
	switch f.Type {
	case "date":
		if d, err := billsync.ParseDate(s); err == nil {
			return d
		}
	case "datetime":
		if t, err := time.Parse("2006-01-02T15:04:05.000-0700", s); err == nil {
			return t.UTC()
		}
	}
	return raw
}

// pathProblem is Salesforce's INVALID_FIELD text for a path that names no
// field reachable from o, or "" when it does: an unknown relationship on
// the way is not understood, an unknown last step is no column of the
// object the path has reached.
func (e *Emulator) pathProblem(o *objectDef, path []string) string {
	for len(path) > 1 {
		rf := o.byRel[strings.ToLower(path[0])]
		if rf == nil {
			return "Didn't understand relationship '" + path[0] + "' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
		}
		o = e.schema.object(rf.ReferenceTo[0])
		path = path[1:]
	}
	if o.field(path[0]) != nil {
		return ""
	}
	return "No such column '" + path[0] + "' on entity '" + o.Name + "'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
}

// pathExists reports whether path names a field reachable from o.
func (e *Emulator) pathExists(o *objectDef, path []string) bool {
	for len(path) > 1 {
		rf := o.byRel[strings.ToLower(path[0])]
		if rf == nil {
			return false
		}
		o = e.schema.object(rf.ReferenceTo[0])
		path = path[1:]
	}
	return o.field(path[0]) != nil
}

func queryError(err error) *apiError {
	var se *soql.Error
	if errors.As(err, &se) {
		return newErr(400, se.Code, "%s", se.Message)
	}
	return newErr(400, "MALFORMED_QUERY", "%s", err.Error())
}

func (e *Emulator) handleQuery(c *call, all bool) {
	src := c.r.URL.Query().Get("q")
	if strings.TrimSpace(src) == "" {
		writeErrors(c.w, newErr(400, "MALFORMED_QUERY", "A query string has to be specified"))
		return
	}
	q, err := soql.Parse(src)
	if err != nil {
		writeErrors(c.w, queryError(err))
		return
	}
	q.Now = e.clock
	o := e.schema.object(q.Object)
	if o == nil || o.Event {
		writeErrors(c.w, queryError(q.ErrorAtObject("INVALID_TYPE", "sObject type '"+q.Object+"' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.")))
		return
	}
	for _, p := range q.Paths() {
		if msg := e.pathProblem(o, p); msg != "" {
			writeErrors(c.w, queryError(q.ErrorAtPath(p, "INVALID_FIELD", msg)))
			return
		}
	}
	if aerr := e.checkAggregates(q, o); aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	e.mu.Lock()
	var rows []*record
	for _, r := range e.sortedLocked(o.Name, all) {
		ok, err := q.Match(recView{e, r})
		if err != nil {
			e.mu.Unlock()
			writeErrors(c.w, queryError(err))
			return
		}
		if ok {
			rows = append(rows, r)
		}
	}
	if q.Aggregate() {
		page := e.aggregatePageLocked(q, rows)
		e.mu.Unlock()
		writeJSON(c.w, 200, page)
		return
	}
	if len(q.OrderBy) > 0 {
		sort.SliceStable(rows, func(i, j int) bool { return q.Less(recView{e, rows[i]}, recView{e, rows[j]}) })
	}
	if q.Offset > 0 {
		rows = rows[min(q.Offset, len(rows)):]
	}
	if q.Limit >= 0 && q.Limit < len(rows) {
		rows = rows[:q.Limit]
	}
	if q.Count {
		e.mu.Unlock()
		writeJSON(c.w, 200, map[string]any{"totalSize": len(rows), "done": true, "records": []any{}})
		return
	}
	out := make([]billsync.SObject, len(rows))
	for i, r := range rows {
		out[i] = e.projectLocked(r, q.Fields, c.version)
	}
	cur := &cursor{rows: out, total: len(out), batch: batchSize(c.r.Header.Get("Sforce-Query-Options"))}
	page := e.pageLocked(cur, 0, c.base())
	e.mu.Unlock()
	writeJSON(c.w, 200, page)
}

// batchSize reads "Sforce-Query-Options: batchSize=N" (200 to 2000).
func batchSize(h string) int {
	for _, part := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "batchSize") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		return min(max(n, 200), defaultBatchSize)
	}
	return defaultBatchSize
}

// pageLocked answers rows [offset, offset+batch) and registers a locator
// for the rest.
func (e *Emulator) pageLocked(cur *cursor, offset int, base string) map[string]any {
	end := min(offset+cur.batch, len(cur.rows))
	page := map[string]any{"totalSize": cur.total, "done": end >= len(cur.rows), "records": cur.rows[offset:end]}
	if end < len(cur.rows) {
		loc := e.nextIDLocked("01g")
		e.cursors[loc] = cur
		e.cursorOrder = append(e.cursorOrder, loc)
		if len(e.cursorOrder) > maxCursors {
			delete(e.cursors, e.cursorOrder[0])
			e.cursorOrder = e.cursorOrder[1:]
		}
		page["nextRecordsUrl"] = base + "/query/" + loc + "-" + strconv.Itoa(end)
	}
	return page
}

func (e *Emulator) handleQueryMore(c *call) {
	raw := c.r.PathValue("locator")
	loc, off, ok := strings.Cut(raw, "-")
	offset, err := strconv.Atoi(off)
	e.mu.Lock()
	cur := e.cursors[loc]
	if !ok || err != nil || cur == nil || offset < 0 || offset > len(cur.rows) {
		e.mu.Unlock()
		writeErrors(c.w, newErr(400, "INVALID_QUERY_LOCATOR", "invalid query locator"))
		return
	}
	page := e.pageLocked(cur, offset, c.base())
	e.mu.Unlock()
	writeJSON(c.w, 200, page)
}

// projectLocked renders the selected fields of r, nesting relationship
// fields under their relationship name as the API does.
func (e *Emulator) projectLocked(r *record, fields []soql.Field, version string) billsync.SObject {
	o := e.schema.object(r.Object)
	out := billsync.SObject{"attributes": map[string]any{"type": o.Name, "url": "/services/data/v" + version + "/sobjects/" + o.Name + "/" + r.ID}}
	for _, f := range fields {
		e.projectPath(out, r, f.Path, version)
	}
	return out
}

func (e *Emulator) projectPath(out billsync.SObject, r *record, path []string, version string) {
	o := e.schema.object(r.Object)
	if len(path) == 1 {
		f := o.field(path[0])
		switch f.Name {
		case "Id":
			out["Id"] = r.ID
		case "IsDeleted":
			out["IsDeleted"] = r.Deleted
		default:
			out[f.Name] = wireValue(f, r.Fields[f.Name])
		}
		return
	}
	rf := o.byRel[strings.ToLower(path[0])]
	parent := e.records[str(r.Fields[rf.Name])]
	if parent == nil {
		if _, set := out[rf.RelationshipName]; !set {
			out[rf.RelationshipName] = nil
		}
		return
	}
	sub, _ := out[rf.RelationshipName].(billsync.SObject)
	if sub == nil {
		po := e.schema.object(parent.Object)
		sub = billsync.SObject{"attributes": map[string]any{"type": po.Name, "url": "/services/data/v" + version + "/sobjects/" + po.Name + "/" + parent.ID}}
		out[rf.RelationshipName] = sub
	}
	e.projectPath(sub, parent, path[1:], version)
}
