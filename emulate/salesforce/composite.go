package salesforce

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
)

// maxCollection is the sObject Collections limit per request.
const maxCollection = 200

type collectionRequest struct {
	AllOrNone bool             `json:"allOrNone"`
	Records   []map[string]any `json:"records"`
}

// saveResult is one record's outcome in a collections answer.
type saveResult struct {
	ID      string            `json:"id,omitempty"`
	Success bool              `json:"success"`
	Errors  []collectionError `json:"errors"`
	Created *bool             `json:"created,omitempty"`
}

func (e *Emulator) readCollection(c *call) (*collectionRequest, *apiError) {
	b, err := io.ReadAll(io.LimitReader(c.r.Body, maxBody))
	if err != nil {
		return nil, newErr(400, "JSON_PARSER_ERROR", "could not read the request body")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var req collectionRequest
	if err := dec.Decode(&req); err != nil {
		return nil, newErr(400, "JSON_PARSER_ERROR", "%s", jsonErrorMessage(err))
	}
	if len(req.Records) > maxCollection {
		return nil, newErr(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than %d records into this call", maxCollection)
	}
	return &req, nil
}

func recordType(rec map[string]any) string {
	attrs, _ := rec["attributes"].(map[string]any)
	s, _ := attrs["type"].(string)
	return s
}

// collectionObject is the type of a collection's records ("" when they
// are of several).
func collectionObject(recs []map[string]any) string {
	name := ""
	for i, r := range recs {
		if t := recordType(r); i == 0 {
			name = t
		} else if !strings.EqualFold(t, name) {
			return ""
		}
	}
	return name
}

// externalValues lists the records' values of an external id field.
func externalValues(recs []map[string]any, field string) []string {
	var out []string
	for _, r := range recs {
		for k, v := range r {
			if strings.EqualFold(k, field) {
				out = append(out, scalarString(v))
			}
		}
	}
	return out
}

func failure(err *apiError) saveResult {
	fields := err.Fields
	if fields == nil {
		fields = []string{}
	}
	return saveResult{Success: false, Errors: []collectionError{{StatusCode: err.Code, Message: err.Message, Fields: fields}}}
}

// runCollection applies op to each record in one transaction. With
// allOrNone, the first failure rolls everything back and every other
// record reports ALL_OR_NONE_OPERATION_ROLLED_BACK; without it each record
// stands alone.
// Every record is tried even after a failure, so each invalid one reports
// its own error, as Salesforce does.
func (e *Emulator) runCollection(c *call, n int, allOrNone bool, op func(t *tx, i int) saveResult) []saveResult {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.beginLocked(c.user)
	results := make([]saveResult, n)
	failed := false
	for i := 0; i < n; i++ {
		sp := t.savepoint()
		results[i] = op(t, i)
		if !results[i].Success {
			t.rollbackTo(sp)
			failed = true
		}
	}
	if allOrNone && failed {
		t.rollback()
		for i := range results {
			if results[i].Success || results[i].Errors == nil {
				results[i] = saveResult{Success: false, Errors: []collectionError{{
					StatusCode: "ALL_OR_NONE_OPERATION_ROLLED_BACK",
					Message:    "Record rolled back because not all records were valid and the request was using AllOrNone header",
					Fields:     []string{},
				}}}
			}
		}
		return results
	}
	t.commit()
	return results
}

func (e *Emulator) handleCollectionCreate(c *call) {
	req, aerr := e.readCollection(c)
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	e.beforeWrite(c, "create", collectionObject(req.Records), req.Records, nil)
	results := e.runCollection(c, len(req.Records), req.AllOrNone, func(t *tx, i int) saveResult {
		rec := req.Records[i]
		o := e.schema.object(recordType(rec))
		if o == nil {
			return failure(dmlErr("INVALID_TYPE", nil, "sObject type '%s' is not supported.", recordType(rec)))
		}
		before := len(t.published)
		id, err := t.insert(o, rec)
		if err != nil {
			return failure(err)
		}
		return saveResult{ID: id, Success: true, Errors: enqueued(t.published[before:])}
	})
	writeJSON(c.w, 200, results)
}

func (e *Emulator) handleCollectionUpdate(c *call) {
	req, aerr := e.readCollection(c)
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	e.beforeWrite(c, "update", collectionObject(req.Records), req.Records, nil)
	results := e.runCollection(c, len(req.Records), req.AllOrNone, func(t *tx, i int) saveResult {
		rec := req.Records[i]
		o := e.schema.object(recordType(rec))
		if o == nil {
			return failure(dmlErr("INVALID_TYPE", nil, "sObject type '%s' is not supported.", recordType(rec)))
		}
		raw := takeID(rec)
		if raw == "" {
			return failure(dmlErr("MISSING_ARGUMENT", nil, "Id not specified in an update call"))
		}
		id, ok := normalizeID(raw)
		if !ok {
			return failure(dmlErr("MALFORMED_ID", []string{"Id"}, "%s ID: id value of incorrect type: %s", o.Label, raw))
		}
		if err := t.update(o, id, rec); err != nil {
			r := failure(err)
			r.ID = id
			return r
		}
		return saveResult{ID: id, Success: true, Errors: []collectionError{}}
	})
	writeJSON(c.w, 200, results)
}

func (e *Emulator) handleCollectionDelete(c *call) {
	q := c.r.URL.Query()
	var ids []string
	for _, s := range strings.Split(q.Get("ids"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			ids = append(ids, s)
		}
	}
	if len(ids) == 0 {
		writeErrors(c.w, newErr(400, "MISSING_ARGUMENT", "ids parameter is required"))
		return
	}
	if len(ids) > maxCollection {
		writeErrors(c.w, newErr(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than %d records into this call", maxCollection))
		return
	}
	allOrNone, _ := strconv.ParseBool(q.Get("allOrNone"))
	e.beforeWrite(c, "delete", "", nil, ids)
	results := e.runCollection(c, len(ids), allOrNone, func(t *tx, i int) saveResult {
		id, ok := normalizeID(ids[i])
		if !ok {
			return failure(dmlErr("MALFORMED_ID", nil, "malformed id %s", ids[i]))
		}
		if err := t.delete(id); err != nil {
			r := failure(err)
			r.ID = id
			return r
		}
		return saveResult{ID: id, Success: true, Errors: []collectionError{}}
	})
	// Deletes report the id even when they fail, except a malformed one.
	for i := range results {
		if id, ok := normalizeID(ids[i]); ok && results[i].ID == "" {
			results[i].ID = id
		}
	}
	writeJSON(c.w, 200, results)
}

func (e *Emulator) handleCollectionUpsert(c *call) {
	o, ok := e.objectFor(c, c.r.PathValue("object"))
	if !ok {
		return
	}
	field := c.r.PathValue("field")
	f := o.field(field)
	if f == nil || !(f.ExternalID || f.Type == "id") {
		writeErrors(c.w, newErr(404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: %s", field))
		return
	}
	req, aerr := e.readCollection(c)
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	e.beforeWrite(c, "upsert", o.Name, req.Records, externalValues(req.Records, f.Name))
	results := e.runCollection(c, len(req.Records), req.AllOrNone, func(t *tx, i int) saveResult {
		rec := req.Records[i]
		if ty := recordType(rec); ty != "" && !strings.EqualFold(ty, o.Name) {
			return failure(dmlErr("INVALID_TYPE", nil, "Record type %s does not match the upsert type %s", ty, o.Name))
		}
		var value string
		for k, v := range rec {
			if strings.EqualFold(k, f.Name) {
				value = scalarString(v)
			}
		}
		if value == "" && f.Type != "id" {
			return failure(dmlErr("MISSING_ARGUMENT", []string{f.Name}, "%s not specified", f.Name))
		}
		id, created, err := t.upsert(o, f.Name, value, rec)
		if err != nil {
			if err.Status == 300 {
				err = dmlErr("DUPLICATE_EXTERNAL_ID", []string{f.Name}, "%s: more than one record found for external id field: %v", f.Name, err.Fields)
			}
			return failure(err)
		}
		return saveResult{ID: id, Success: true, Errors: []collectionError{}, Created: &created}
	})
	writeJSON(c.w, 200, results)
}
