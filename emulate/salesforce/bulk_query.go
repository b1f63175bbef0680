package salesforce

import (
	"encoding/base64"
	"sort"
	"strconv"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/salesforce/soql"
)

// defaultMaxRecords is the rows per result set when the client names no
// maxRecords.
const defaultMaxRecords = 50000

func (e *Emulator) handleQueryJobCreate(c *call) {
	body, aerr := readBody(c)
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	op, _ := body["operation"].(string)
	src, _ := body["query"].(string)
	info := jobInfo{Operation: op, LineEnding: "LF", ColumnDelimiter: "COMMA", State: "UploadComplete"}
	if s, _ := body["lineEnding"].(string); s != "" {
		info.LineEnding = s
	}
	if s, _ := body["columnDelimiter"].(string); s != "" {
		info.ColumnDelimiter = s
	}
	switch {
	case op != "query" && op != "queryAll":
		writeErrors(c.w, newErr(400, "INVALIDJOB", "InvalidJob : Invalid operation: %s", op))
		return
	case ct(body) != "CSV" || delimiters[info.ColumnDelimiter] == 0 || info.LineEnding != "LF" && info.LineEnding != "CRLF":
		writeErrors(c.w, newErr(400, "INVALIDJOB", "InvalidJob : contentType must be CSV, lineEnding LF or CRLF, columnDelimiter one of COMMA, TAB, PIPE, SEMICOLON, CARET, BACKQUOTE"))
		return
	}
	q, o, aerr := e.checkQuery(src)
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	if q.Count || q.Aggregate() {
		writeErrors(c.w, newErr(400, "API_ERROR", "Aggregate queries are not supported by Bulk API 2.0"))
		return
	}
	info.Object = o.Name
	j := e.newJob(c, "query", info)
	j.rows = [][]string{{src}}
	// The answer shows the job as created: taken before the job starts,
	// which may otherwise finish first and answer JobComplete.
	created := e.snapshot(j)
	go e.runJob(j)
	writeJSON(c.w, 200, created)
}

// checkQuery parses SOQL and checks its object and fields as the REST
// query does.
func (e *Emulator) checkQuery(src string) (*soql.Query, *objectDef, *apiError) {
	if strings.TrimSpace(src) == "" {
		return nil, nil, newErr(400, "MALFORMED_QUERY", "A query string has to be specified")
	}
	q, err := soql.Parse(src)
	if err != nil {
		return nil, nil, queryError(err)
	}
	q.Now = e.clock
	o := e.schema.object(q.Object)
	if o == nil || o.Event {
		return nil, nil, queryError(q.ErrorAtObject("INVALID_TYPE", "sObject type '"+q.Object+"' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."))
	}
	for _, p := range q.Paths() {
		if !e.pathExists(o, p) {
			name := strings.Join(p, ".")
			if len(p) > 1 {
				name = p[0]
			}
			return nil, nil, queryError(q.ErrorAtPath(p, "INVALID_FIELD", "No such column '"+name+"' on entity '"+o.Name+"'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."))
		}
	}
	return q, o, nil
}

// evalQueryJob runs a query job's SOQL over the store and keeps its CSV
// rows; it returns why the job failed, or "".
func (e *Emulator) evalQueryJob(j *bulkJob) string {
	q, o, aerr := e.checkQuery(j.rows[0][0])
	if aerr != nil {
		return aerr.Code + ": " + aerr.Message
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var rows []*record
	for _, r := range e.sortedLocked(o.Name, j.info.Operation == "queryAll") {
		ok, err := q.Match(recView{e, r})
		if err != nil {
			return queryError(err).Message
		}
		if ok {
			rows = append(rows, r)
		}
	}
	if len(q.OrderBy) > 0 {
		sort.SliceStable(rows, func(a, b int) bool { return q.Less(recView{e, rows[a]}, recView{e, rows[b]}) })
	}
	if q.Offset > 0 {
		rows = rows[min(q.Offset, len(rows)):]
	}
	if q.Limit >= 0 && q.Limit < len(rows) {
		rows = rows[:q.Limit]
	}
	header := make([]string, len(q.Fields))
	for i, f := range q.Fields {
		header[i] = e.canonicalPath(o, f.Path)
	}
	out := [][]string{header}
	for _, r := range rows {
		line := make([]string, len(q.Fields))
		for i, f := range q.Fields {
			line[i] = e.csvValueLocked(r, f.Path)
		}
		out = append(out, line)
	}
	n := int64(len(rows))
	e.bulk.mu.Lock()
	j.csvOut = out
	j.info.NumberRecordsProcessed = &n
	e.bulk.mu.Unlock()
	return ""
}

// canonicalPath spells a selected field as the result header does: API
// names as the schema spells them, relationships by relationship name.
func (e *Emulator) canonicalPath(o *objectDef, path []string) string {
	parts := make([]string, 0, len(path))
	for _, seg := range path[:len(path)-1] {
		rf := o.byRel[strings.ToLower(seg)]
		parts = append(parts, rf.RelationshipName)
		o = e.schema.object(rf.ReferenceTo[0])
	}
	return strings.Join(append(parts, o.field(path[len(path)-1]).Name), ".")
}

// handleQueryResults answers one result set: CSV with a header row, every
// value quoted and null as an empty value, Sforce-NumberOfRecords, and
// Sforce-Locator naming the next set or "null" after the last.
func (e *Emulator) handleQueryResults(c *call) {
	j := e.job(c, "query")
	if j == nil {
		return
	}
	e.bulk.mu.Lock()
	st, out, le := j.info.State, j.csvOut, j.info.LineEnding
	delim := delimiters[j.info.ColumnDelimiter]
	version := j.version
	e.bulk.mu.Unlock()
	if version != c.version {
		writeErrors(c.w, newErr(409, "INVALIDJOB", "Use the API version the job was created with (%s) to read its results", version))
		return
	}
	if st != "JobComplete" {
		writeErrors(c.w, newErr(400, "INVALIDJOBSTATE", "Job %s is not complete; its state is %s", j.info.ID, st))
		return
	}
	qv := c.r.URL.Query()
	offset := 0
	if l := qv.Get("locator"); l != "" {
		b, err := base64.RawStdEncoding.DecodeString(l)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 || n > len(out)-1 {
			writeErrors(c.w, newErr(400, "INVALID_LOCATOR", "Invalid locator: %s", l))
			return
		}
		offset = n
	}
	size := defaultMaxRecords
	if m := qv.Get("maxRecords"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n <= 0 {
			writeErrors(c.w, newErr(400, "INVALIDJOB", "maxRecords must be a positive integer"))
			return
		}
		size = n
	}
	rows := out[1:]
	end := min(offset+size, len(rows))
	var b strings.Builder
	csvLine(&b, out[0], delim, lineEnd(le))
	for _, r := range rows[offset:end] {
		csvLine(&b, r, delim, lineEnd(le))
	}
	next := "null"
	if end < len(rows) {
		// Salesforce's locators are opaque; base64 of the offset reads like
		// the documented examples ("MTAwMDA").
		next = base64.RawStdEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	c.w.Header().Set("Sforce-Locator", next)
	c.w.Header().Set("Sforce-NumberOfRecords", strconv.Itoa(end-offset))
	writeCSV(c.w, 200, b.String())
}

// csvValueLocked renders a selected field of r as a result set writes
// it: numbers and money from their stored decimal digits (not the Java
// double form of REST JSON), datetimes in UTC with a Z, booleans as
// true/false, and null (or a missing parent) as an empty value.
func (e *Emulator) csvValueLocked(r *record, path []string) string {
	o := e.schema.object(r.Object)
	for len(path) > 1 {
		rf := o.byRel[strings.ToLower(path[0])]
		r = e.records[str(r.Fields[rf.Name])]
		if r == nil {
			return ""
		}
		o, path = e.schema.object(r.Object), path[1:]
	}
	f := o.field(path[0])
	switch f.Name {
	case "Id":
		return r.ID
	case "IsDeleted":
		return strconv.FormatBool(r.Deleted)
	}
	v := r.Fields[f.Name]
	if s, ok := v.(string); ok && f.Type == "datetime" {
		if t, ok := parseDateTime(s); ok {
			return t.UTC().Format("2006-01-02T15:04:05.000Z")
		}
	}
	return billsync.ValueString(v)
}
