package salesforce

import (
	"encoding/json"
	"io"
	"strings"
)

// maxCollectionRead is how many records one collections read returns
// (REST API Developer Guide, "Get Records With a Request Body Using sObject
// Collections": up to 2,000; the GET form is bounded by the URL length).
const maxCollectionRead = 2000

// handleCollectionRetrieve serves sObject Collections reads:
// GET /composite/sobjects/{object}?ids=…&fields=… and the POST form with
// {"ids": […], "fields": […]} for long id lists. The answer holds one entry
// per id in order: the record with the fields asked for, or null for an id
// that names no live record of the object — a deleted record reads as null
// here, not as ENTITY_IS_DELETED (jsforce test/connection-crud.test.ts,
// live org: "should delete multiple accounts … and not get any records").
func (e *Emulator) handleCollectionRetrieve(c *call) {
	o, ok := e.objectFor(c, c.r.PathValue("object"))
	if !ok {
		return
	}
	ids, names, aerr := collectionReadArgs(c)
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	if len(ids) > maxCollectionRead {
		writeErrors(c.w, newErr(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than %d records into this call", maxCollectionRead))
		return
	}
	fields, aerr := e.fieldList(o, strings.Join(names, ","))
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	out := make([]any, len(ids))
	e.mu.Lock()
	for i, raw := range ids {
		id, ok := normalizeID(strings.TrimSpace(raw))
		if !ok {
			continue
		}
		r := e.records[id]
		if r == nil || r.Deleted || !strings.EqualFold(r.Object, o.Name) {
			continue
		}
		out[i] = e.renderLocked(r, fields, c.version)
	}
	e.mu.Unlock()
	writeJSON(c.w, 200, out)
}

// collectionReadArgs reads the ids and field names of a collections read
// from the query string (GET) or the JSON body (POST).
func collectionReadArgs(c *call) ([]string, []string, *apiError) {
	if c.r.Method != "POST" {
		q := c.r.URL.Query()
		return splitList(q.Get("ids")), splitList(q.Get("fields")), nil
	}
	b, err := io.ReadAll(io.LimitReader(c.r.Body, maxBody))
	if err != nil {
		return nil, nil, newErr(400, "JSON_PARSER_ERROR", "could not read the request body")
	}
	var req struct {
		IDs    []string `json:"ids"`
		Fields []string `json:"fields"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, nil, newErr(400, "JSON_PARSER_ERROR", "%s", jsonErrorMessage(err))
	}
	return req.IDs, req.Fields, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
