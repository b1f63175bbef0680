package salesforce

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
)

// nullCell sets a field to null in ingest CSV; an empty cell leaves it.
const nullCell = "#N/A"

func (e *Emulator) handleIngestCreate(c *call) {
	body, aerr := readBody(c)
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	str := func(k string) string { s, _ := body[k].(string); return s }
	op, object, ext := str("operation"), str("object"), str("externalIdFieldName")
	info := jobInfo{Operation: op, LineEnding: str("lineEnding"), ColumnDelimiter: str("columnDelimiter"), JobType: "V2Ingest", State: "Open"}
	if info.LineEnding == "" {
		info.LineEnding = "LF"
	}
	if info.ColumnDelimiter == "" {
		info.ColumnDelimiter = "COMMA"
	}
	switch {
	case op != "insert" && op != "update" && op != "upsert" && op != "delete" && op != "hardDelete":
		writeErrors(c.w, newErr(400, "INVALIDJOB", "InvalidJob : Invalid operation: %s", op))
		return
	case ct(body) != "CSV":
		writeErrors(c.w, newErr(400, "INVALIDJOB", "InvalidJob : contentType must be CSV"))
		return
	case info.LineEnding != "LF" && info.LineEnding != "CRLF":
		writeErrors(c.w, newErr(400, "INVALIDJOB", "InvalidJob : Invalid line ending: %s", info.LineEnding))
		return
	case delimiters[info.ColumnDelimiter] == 0:
		writeErrors(c.w, newErr(400, "INVALIDJOB", "InvalidJob : Invalid column delimiter: %s", info.ColumnDelimiter))
		return
	}
	o := e.schema.object(object)
	if o == nil || o.Event {
		writeErrors(c.w, newErr(404, "NOT_FOUND", "sObject type '%s' is not supported.", object))
		return
	}
	info.Object = o.Name
	if op == "upsert" {
		f := o.field(ext)
		if ext == "" || f == nil || !(f.ExternalID || f.Type == "id") {
			writeErrors(c.w, newErr(400, "INVALIDJOB", "InvalidJob : External ID was blank or is not an external id field for %s: %s", o.Name, ext))
			return
		}
		info.ExternalIDFieldName = f.Name
	}
	j := e.newJob(c, "ingest", info)
	e.bulk.mu.Lock()
	j.info.ContentURL = "services/data/v" + c.version + "/jobs/ingest/" + j.info.ID + "/batches"
	out := j.info
	e.bulk.mu.Unlock()
	writeJSON(c.w, 200, out)
}

func ct(body map[string]any) string {
	s, _ := body["contentType"].(string)
	if s == "" {
		return "CSV"
	}
	return s
}

// handleIngestUpload takes a job's CSV: 201 and no body.
func (e *Emulator) handleIngestUpload(c *call) {
	j := e.job(c, "ingest")
	if j == nil {
		return
	}
	if mt := strings.TrimSpace(strings.Split(c.r.Header.Get("Content-Type"), ";")[0]); mt != "text/csv" {
		writeErrors(c.w, newErr(415, "INVALIDJOB", "InvalidJob : Content-Type must be text/csv, not %q", mt))
		return
	}
	data, err := io.ReadAll(io.LimitReader(c.r.Body, maxBulkUpload+1))
	if err != nil {
		writeErrors(c.w, newErr(400, "INVALIDJOB", "could not read the request body"))
		return
	}
	if len(data) > maxBulkUpload {
		writeErrors(c.w, newErr(413, "INVALIDJOB", "InvalidJob : the upload exceeds 150 MB of base64-encoded content (100 MB of CSV)"))
		return
	}
	e.bulk.mu.Lock()
	defer e.bulk.mu.Unlock()
	if j.info.State != "Open" {
		writeErrors(c.w, newErr(409, "INVALIDJOBSTATE", "Job %s is not Open; its state is %s", j.info.ID, j.info.State))
		return
	}
	header, n, err := scanUpload(data, delimiters[j.info.ColumnDelimiter])
	if err != nil {
		writeErrors(c.w, newErr(400, "INVALIDJOB", "InvalidBatch : Failed to parse CSV: %s", err.Error()))
		return
	}
	if j.header == nil {
		j.header = header
	} else if strings.Join(j.header, "\x00") != strings.Join(header, "\x00") {
		writeErrors(c.w, newErr(400, "INVALIDJOB", "InvalidBatch : every upload of a job must have the same header"))
		return
	}
	j.uploads = append(j.uploads, data)
	j.nrows += n
	c.w.WriteHeader(201)
}

// scanUpload parses an upload whole, as the upload is refused when any of
// it does not parse, and returns its header and how many rows follow.
func scanUpload(data []byte, delim rune) (header []string, rows int, err error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = delim
	r.ReuseRecord = true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		if header == nil {
			header = slices.Clone(rec)
			continue
		}
		rows++
	}
	if header == nil {
		return nil, 0, errors.New("the CSV has no header row")
	}
	return header, rows, nil
}

// eachRow calls f with every data row of the job's uploads in order,
// stopping when f returns false. The uploads parsed once already.
func (j *bulkJob) eachRow(f func(i int, row []string) bool) {
	i := 0
	for _, data := range j.uploads {
		r := csv.NewReader(bytes.NewReader(data))
		r.Comma = delimiters[j.info.ColumnDelimiter]
		if _, err := r.Read(); err != nil { // the header
			continue
		}
		for {
			rec, err := r.Read()
			if err != nil {
				break
			}
			if !f(i, rec) {
				return
			}
			i++
		}
	}
}

// applyIngest applies a job's rows bulkChunk at a time, each chunk in one
// transaction with a savepoint per row, as allOrNone=false collections
// are; it returns why the whole job failed, or "".
func (e *Emulator) applyIngest(j *bulkJob) string {
	o := e.schema.object(j.info.Object)
	for _, h := range j.header {
		if !e.ingestColumnOK(o, j.info.Operation, h) {
			return "InvalidBatch : Field name not found : " + h
		}
	}
	e.bulk.mu.Lock()
	j.results = make([]rowResult, j.nrows)
	e.bulk.mu.Unlock()
	c := &call{user: j.user, version: j.version}
	var failed int64
	bodies := make([]map[string]any, 0, bulkChunk)
	lo, aborted := 0, false
	j.eachRow(func(_ int, row []string) bool {
		bodies = append(bodies, rowBody(o, j.header, row))
		if len(bodies) == bulkChunk {
			aborted = e.applyIngestChunk(j, o, c, lo, bodies, &failed)
			lo += len(bodies)
			bodies = make([]map[string]any, 0, bulkChunk)
		}
		return !aborted
	})
	if len(bodies) > 0 && !aborted {
		e.applyIngestChunk(j, o, c, lo, bodies, &failed)
	}
	e.bulk.mu.Lock()
	zero, n, f := int64(0), int64(0), failed
	for _, r := range j.results {
		if r.done {
			n++
		}
	}
	j.info.NumberRecordsProcessed, j.info.NumberRecordsFailed, j.info.Retries = &n, &f, &zero
	e.bulk.mu.Unlock()
	return ""
}

// applyIngestChunk applies rows lo.. of a job (their bodies) in one
// transaction and reports whether the job was aborted meanwhile.
func (e *Emulator) applyIngestChunk(j *bulkJob, o *objectDef, c *call, lo int, bodies []map[string]any, failed *int64) bool {
	e.beforeWrite(c, hookOp(j.info.Operation), o.Name, bodies, hookIDs(j.info, bodies))
	chunk := make([]rowResult, len(bodies))
	e.mu.Lock()
	t := e.beginLocked(j.user)
	for i, body := range bodies {
		sp := t.savepoint()
		res := e.ingestFault(o.Name, body)
		if res.err == "" {
			res = e.ingestRow(t, o, j.info.Operation, j.info.ExternalIDFieldName, body)
		}
		if res.err != "" {
			t.rollbackTo(sp)
			*failed++
		}
		res.done = true
		chunk[i] = res
	}
	t.commit()
	e.mu.Unlock()
	// An abort lets the results be read while the job still runs.
	e.bulk.mu.Lock()
	defer e.bulk.mu.Unlock()
	copy(j.results[lo:], chunk)
	n, f := int64(lo+len(bodies)), *failed
	j.info.NumberRecordsProcessed, j.info.NumberRecordsFailed = &n, &f
	return j.info.State == "Aborted"
}

// hookIDs are what SetBeforeWrite's Write.IDs names for a chunk, as for
// the REST writes: external id values for an upsert, record ids for a
// delete (an update's ids the hook reads from its records).
func hookIDs(info jobInfo, bodies []map[string]any) []string {
	switch info.Operation {
	case "upsert":
		return externalValues(bodies, info.ExternalIDFieldName)
	case "delete", "hardDelete":
		return externalValues(bodies, "Id")
	}
	return nil
}

func hookOp(op string) string {
	if op == "hardDelete" {
		return "delete"
	}
	if op == "insert" {
		return "create"
	}
	return op
}

// ingestColumnOK reports whether a header names a field of o, or a
// relationship path "Rel__r.ExtField" to a parent's external id.
func (e *Emulator) ingestColumnOK(o *objectDef, op, h string) bool {
	if rel, field, ok := strings.Cut(h, "."); ok {
		rf := o.byRel[strings.ToLower(rel)]
		if rf == nil {
			return false
		}
		p := e.schema.object(rf.ReferenceTo[0])
		return p != nil && p.field(field) != nil
	}
	return o.field(h) != nil
}

// rowBody turns a CSV row into the JSON-typed body the REST writes take:
// an empty cell is left out (the field keeps its value), #N/A is null,
// numbers and booleans take their JSON types, and a relationship column
// becomes {"Rel__r": {"ExtField": value}}.
func rowBody(o *objectDef, header, row []string) map[string]any {
	body := map[string]any{}
	for i, h := range header {
		if i >= len(row) || row[i] == "" {
			continue
		}
		v := row[i]
		if rel, field, ok := strings.Cut(h, "."); ok {
			if v == nullCell {
				body[rel] = nil
				continue
			}
			body[rel] = map[string]any{field: v}
			continue
		}
		if v == nullCell {
			body[h] = nil
			continue
		}
		body[h] = typedCell(o.field(h), v)
	}
	return body
}

func typedCell(f *fieldDef, v string) any {
	if f == nil {
		return v
	}
	switch f.Type {
	case "currency", "double", "percent", "int":
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			return json.Number(v)
		}
	case "boolean":
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return v
}

// ingestRow applies one row with the REST writes' rules.
func (e *Emulator) ingestRow(t *tx, o *objectDef, op, ext string, body map[string]any) rowResult {
	switch op {
	case "insert":
		id, err := t.insert(o, body)
		if err != nil {
			return rowResult{err: sfError(err)}
		}
		return rowResult{id: id, created: true}
	case "update", "delete", "hardDelete":
		raw := takeID(body)
		id, ok := normalizeID(raw)
		if raw == "" || !ok {
			return rowResult{err: sfError(dmlErr("MALFORMED_ID", []string{"Id"}, "%s ID: id value of incorrect type: %s", o.Label, raw))}
		}
		var err *apiError
		if op == "update" {
			err = t.update(o, id, body)
		} else {
			err = t.delete(id)
		}
		if err != nil {
			return rowResult{id: id, err: sfError(err)}
		}
		return rowResult{id: id}
	}
	var value string
	for k, v := range body {
		if strings.EqualFold(k, ext) {
			value = scalarString(v)
		}
	}
	id, created, err := t.upsert(o, ext, value, body)
	if err != nil {
		if err.Status == 300 {
			err = dmlErr("DUPLICATE_EXTERNAL_ID", []string{ext}, "%s: more than one record found for external id field: %v", ext, err.Fields)
		}
		return rowResult{id: id, err: sfError(err)}
	}
	return rowResult{id: id, created: created}
}

// sfError writes an error as the sf__Error column does:
// "CODE:message:Field1,Field2 --".
func sfError(err *apiError) string {
	s := err.Code + ":" + err.Message
	if len(err.Fields) > 0 && err.Status != 300 {
		s += ":" + strings.Join(err.Fields, ",")
	}
	return s + " --"
}

func (e *Emulator) handleIngestResults(c *call, set string) {
	j := e.job(c, "ingest")
	if j == nil {
		return
	}
	e.bulk.mu.Lock()
	defer e.bulk.mu.Unlock()
	if st := j.info.State; st != "JobComplete" && st != "Failed" && st != "Aborted" {
		writeErrors(c.w, newErr(400, "INVALIDJOBSTATE", "Job %s is not complete; its state is %s", j.info.ID, st))
		return
	}
	// Results are written in the job's own column delimiter.
	var b strings.Builder
	eol, d := "\n", delimiters[j.info.ColumnDelimiter]
	switch set {
	case "successfulResults":
		csvLine(&b, append([]string{"sf__Id", "sf__Created"}, j.header...), d, eol)
	case "failedResults":
		csvLine(&b, append([]string{"sf__Id", "sf__Error"}, j.header...), d, eol)
	default:
		csvLine(&b, j.header, d, eol)
	}
	j.eachRow(func(i int, row []string) bool {
		var r rowResult
		if i < len(j.results) {
			r = j.results[i]
		}
		switch {
		case set == "successfulResults" && r.done && r.err == "":
			csvLine(&b, append([]string{r.id, strconv.FormatBool(r.created)}, row...), d, eol)
		case set == "failedResults" && r.done && r.err != "":
			csvLine(&b, append([]string{r.id, r.err}, row...), d, eol)
		case set == "unprocessedrecords" && !r.done:
			csvLine(&b, row, d, eol)
		}
		return true
	})
	writeCSV(c.w, 200, b.String())
}

// SetIngestRowFault installs f, which is asked about every row of an
// ingest job before it is applied (the row as the REST writes would take
// it): a non-empty code fails that row alone with code and message, as
// Salesforce fails a row it could not lock (UNABLE_TO_LOCK_ROW) or one a
// validation rule refused. Tests use it to fail chosen rows of a job.
// nil removes it.
func (e *Emulator) SetIngestRowFault(f func(object string, row map[string]any) (code, message string)) {
	e.bulk.mu.Lock()
	e.bulk.rowFault = f
	e.bulk.mu.Unlock()
}

func (e *Emulator) ingestFault(object string, body map[string]any) rowResult {
	e.bulk.mu.Lock()
	f := e.bulk.rowFault
	e.bulk.mu.Unlock()
	if f == nil {
		return rowResult{}
	}
	if code, msg := f(object, body); code != "" {
		return rowResult{err: sfError(&apiError{Code: code, Message: msg})}
	}
	return rowResult{}
}
