package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/salesforce/soql"
)

// Create inserts records of one object through sObject Collections
// (POST /composite/sobjects, allOrNone false), 200 records a call.
func (c *Client) Create(ctx context.Context, object string, records []billsync.SObject) ([]billsync.SaveResult, error) {
	if err := checkName("object", object); err != nil {
		return nil, err
	}
	return c.collection(ctx, http.MethodPost, "/composite/sobjects", object, records)
}

// Update patches records of one object, each carrying its "Id"
// (PATCH /composite/sobjects).
func (c *Client) Update(ctx context.Context, object string, records []billsync.SObject) ([]billsync.SaveResult, error) {
	if err := checkName("object", object); err != nil {
		return nil, err
	}
	return c.collection(ctx, http.MethodPatch, "/composite/sobjects", object, records)
}

// Upsert creates or updates records matched by extIDField
// (PATCH /composite/sobjects/{object}/{extIDField}); each result says
// whether the record was created.
func (c *Client) Upsert(ctx context.Context, object, extIDField string, records []billsync.SObject) ([]billsync.SaveResult, error) {
	if err := checkName("object", object); err != nil {
		return nil, err
	}
	if err := checkName("external id field", extIDField); err != nil {
		return nil, err
	}
	return c.collection(ctx, http.MethodPatch, "/composite/sobjects/"+object+"/"+extIDField, object, records)
}

// Delete removes records by id
// (DELETE /composite/sobjects?ids=…&allOrNone=false).
func (c *Client) Delete(ctx context.Context, ids []string) ([]billsync.SaveResult, error) {
	if len(ids) == 0 {
		return []billsync.SaveResult{}, nil
	}
	for _, id := range ids {
		if !isRecordID(id) {
			return nil, billsync.Errorf(billsync.EINVALID, "salesforce delete: %q is not a record id", id)
		}
	}
	return inChunks(len(ids), func(lo, hi int) ([]billsync.SaveResult, error) {
		var got []billsync.SaveResult
		_, err := c.call(ctx, http.MethodDelete, "/composite/sobjects?ids="+strings.Join(ids[lo:hi], ",")+"&allOrNone=false", nil, &got)
		return got, err
	})
}

// collection sends records in chunks of 200 and re-assembles the results
// in input order. Salesforce answers one result per record, in request
// order, so position is the join key. When a later chunk fails as a whole
// after earlier ones were applied, its records get a failed result
// carrying the call's error code instead of an error for the lot, so the
// caller does not redo (and duplicate) what already succeeded.
func (c *Client) collection(ctx context.Context, method, path, object string, records []billsync.SObject) ([]billsync.SaveResult, error) {
	if len(records) == 0 {
		return []billsync.SaveResult{}, nil
	}
	return inChunks(len(records), func(lo, hi int) ([]billsync.SaveResult, error) {
		payload, err := encodeJSON(map[string]any{"allOrNone": false, "records": wireRecords(object, records[lo:hi])})
		if err != nil {
			return nil, billsync.Errorf(billsync.EINVALID, "salesforce %s %s: encoding records: %v", method, path, err)
		}
		var got []billsync.SaveResult
		_, err = c.call(ctx, method, path, payload, &got)
		return got, err
	})
}

// inChunks calls send for each run of up to batchSize of n records and
// joins the results in order, classified. A failure of the first call is
// the caller's error; a later chunk that fails as a whole gets a failed
// result per record, as earlier chunks were applied already.
func inChunks(n int, send func(lo, hi int) ([]billsync.SaveResult, error)) ([]billsync.SaveResult, error) {
	results := make([]billsync.SaveResult, 0, n)
	for lo := 0; lo < n; lo += batchSize {
		hi := min(lo+batchSize, n)
		got, err := send(lo, hi)
		if err == nil && len(got) != hi-lo {
			err = countMismatch(hi-lo, len(got))
		}
		var re *billsync.Error
		if err != nil && (lo == 0 || errors.As(err, &re) && re.Code == billsync.EINVALID) {
			return nil, err
		}
		if err != nil {
			results = append(results, failAll(hi-lo, err)...)
			continue
		}
		classify(got)
		results = append(results, got...)
	}
	return results, nil
}

// wireRecords tags each record with its type, as sObject Collections
// requires, and writes money as JSON numbers. A record read from a query
// brings attributes with a url; only the type is sent.
func wireRecords(object string, records []billsync.SObject) []map[string]any {
	out := make([]map[string]any, len(records))
	for i, r := range records {
		m := wireMap(r)
		if m == nil {
			m = map[string]any{}
		}
		m["attributes"] = map[string]any{"type": object}
		out[i] = m
	}
	return out
}

func countMismatch(want, got int) error {
	return &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: http.StatusOK,
		Message: fmt.Sprintf("sent %d records, got %d results", want, got)}
}

// failAll gives each record of a failed chunk a result with the call's
// error, classified as the call was. A failure with no Salesforce code is
// labelled for the sync log: SERVER_UNAVAILABLE when it is worth retrying
// (5xx, timeout, a cancelled context), else UNKNOWN_EXCEPTION.
func failAll(n int, err error) []billsync.SaveResult {
	fe := billsync.FieldError{StatusCode: "SERVER_UNAVAILABLE", Message: err.Error(), Fields: []string{}, Transient: true}
	var re *billsync.RemoteError
	if errors.As(err, &re) {
		fe.Transient, fe.RateLimited = re.Transient, re.RateLimited
		switch {
		case re.Code != "":
			fe.StatusCode = re.Code
		case !re.Transient:
			fe.StatusCode = "UNKNOWN_EXCEPTION"
		}
	}
	out := make([]billsync.SaveResult, n)
	for i := range out {
		out[i] = billsync.SaveResult{Errors: []billsync.FieldError{fe}}
	}
	return out
}

// Retrieve reads one record (GET /sobjects/{object}/{id}?fields=…); all
// fields when fields is empty. A missing or deleted record is a
// *RemoteError with status 404 (ENOTFOUND).
func (c *Client) Retrieve(ctx context.Context, object, id string, fields []string) (billsync.SObject, error) {
	if err := checkName("object", object); err != nil {
		return nil, err
	}
	if !isRecordID(id) {
		return nil, billsync.Errorf(billsync.EINVALID, "salesforce retrieve %s: %q is not a record id", object, id)
	}
	for _, f := range fields {
		if err := checkName("field", f); err != nil {
			return nil, err
		}
	}
	path := "/sobjects/" + object + "/" + id
	if len(fields) > 0 {
		path += "?fields=" + strings.Join(fields, ",")
	}
	var rec billsync.SObject
	if _, err := c.call(ctx, http.MethodGet, path, nil, &rec); err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: http.StatusOK, Message: "empty answer to a record read"}
	}
	return rec, nil
}

// queryPage is one page of a SOQL answer.
type queryPage struct {
	TotalSize      int                `json:"totalSize"`
	Done           bool               `json:"done"`
	NextRecordsURL string             `json:"nextRecordsUrl"`
	Records        []billsync.SObject `json:"records"`
}

// Query runs SOQL (GET /query?q=…) and follows nextRecordsUrl to the end.
// Numbers come back as json.Number. A COUNT() query returns no records;
// use QueryCount for it.
func (c *Client) Query(ctx context.Context, soql string) ([]billsync.SObject, error) {
	var all []billsync.SObject
	err := c.query(ctx, soql, func(p *queryPage) {
		if all == nil {
			all = make([]billsync.SObject, 0, p.TotalSize)
		}
		all = append(all, p.Records...)
	})
	if err != nil {
		return nil, err
	}
	if all == nil {
		all = []billsync.SObject{}
	}
	return all, nil
}

// QueryCount runs a SELECT COUNT() query and returns totalSize.
func (c *Client) QueryCount(ctx context.Context, soql string) (int, error) {
	total := 0
	err := c.query(ctx, soql, func(p *queryPage) { total = p.TotalSize })
	return total, err
}

func (c *Client) query(ctx context.Context, soql string, page func(*queryPage)) error {
	if strings.TrimSpace(soql) == "" {
		return billsync.Errorf(billsync.EINVALID, "salesforce query: empty SOQL")
	}
	path := "/query?q=" + url.QueryEscape(soql)
	seen := map[string]bool{}
	for {
		var p queryPage
		if _, err := c.call(ctx, http.MethodGet, path, nil, &p); err != nil {
			return err
		}
		page(&p)
		if p.Done || p.NextRecordsURL == "" {
			return nil
		}
		// A locator served twice would page forever.
		if seen[p.NextRecordsURL] {
			return &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: http.StatusOK,
				Message: "query paging repeats " + p.NextRecordsURL}
		}
		seen[p.NextRecordsURL] = true
		path = p.NextRecordsURL
	}
}

// Describe reports an object's fields (GET /sobjects/{object}/describe),
// from a cache after the first call; InvalidateDescribe drops it.
func (c *Client) Describe(ctx context.Context, object string) (*billsync.SObjectDescribe, error) {
	if err := checkName("object", object); err != nil {
		return nil, err
	}
	key := strings.ToLower(object)
	c.descMu.Lock()
	d, ok := c.desc[key]
	c.descMu.Unlock()
	if ok {
		return d, nil
	}
	var got billsync.SObjectDescribe
	if _, err := c.call(ctx, http.MethodGet, "/sobjects/"+object+"/describe", nil, &got); err != nil {
		return nil, err
	}
	c.descMu.Lock()
	c.desc[key] = &got
	c.descMu.Unlock()
	return &got, nil
}

// InvalidateDescribe forgets the cached describe of object, or of every
// object when object is "".
func (c *Client) InvalidateDescribe(object string) {
	c.descMu.Lock()
	defer c.descMu.Unlock()
	if object == "" {
		c.desc = map[string]*billsync.SObjectDescribe{}
		return
	}
	delete(c.desc, strings.ToLower(object))
}

// Publish publishes one platform event (POST /sobjects/{eventObject}),
// such as BillingObjectChange__e.
func (c *Client) Publish(ctx context.Context, eventObject string, fields billsync.SObject) error {
	if err := checkName("event object", eventObject); err != nil {
		return err
	}
	payload, err := encodeJSON(wireMap(fields))
	if err != nil {
		return billsync.Errorf(billsync.EINVALID, "salesforce publish %s: %v", eventObject, err)
	}
	if fields == nil {
		payload = []byte("{}")
	}
	var res billsync.SaveResult
	if _, err := c.call(ctx, http.MethodPost, "/sobjects/"+eventObject, payload, &res); err != nil {
		return err
	}
	classifyOne(&res)
	// A successful publish may still list "errors" such as
	// OPERATION_ENQUEUED (publish after commit); only success counts.
	if !res.Success {
		return fmt.Errorf("salesforce publish %s: %w", eventObject, res.Err())
	}
	return nil
}

// checkName refuses object and field names that would change the URL's
// shape; API names are letters, digits and underscores.
func checkName(what, name string) error {
	if name == "" {
		return billsync.Errorf(billsync.EINVALID, "salesforce: empty %s name", what)
	}
	for _, r := range name {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return billsync.Errorf(billsync.EINVALID, "salesforce: %s name %q is not an API name", what, name)
		}
	}
	return nil
}

// isRecordID accepts 15- and 18-character Salesforce ids (letters and
// digits), which also keeps them safe in a path or a comma-separated list.
func isRecordID(id string) bool {
	if len(id) != 15 && len(id) != 18 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// retrieveChunk bounds the ids of one RetrieveRecords query, keeping the
// query URL well under Salesforce's 16,384-character limit.
const retrieveChunk = 200

// RetrieveRecords reads records by id with one SOQL query per 200 ids
// (relationship fields need SOQL; the REST retrieve cannot follow them).
func (c *Client) RetrieveRecords(ctx context.Context, object string, fields []string, ids []string) ([]billsync.SObject, error) {
	if !validName(object) {
		return nil, billsync.Errorf(billsync.EINVALID, "salesforce: %q is not an object name", object)
	}
	for _, f := range fields {
		for _, part := range strings.Split(f, ".") {
			if !validName(part) {
				return nil, billsync.Errorf(billsync.EINVALID, "salesforce: %q is not a field name", f)
			}
		}
	}
	out := []billsync.SObject{}
	for start := 0; start < len(ids); start += retrieveChunk {
		chunk := ids[start:min(start+retrieveChunk, len(ids))]
		for _, id := range chunk {
			if !validID(id) {
				return nil, billsync.Errorf(billsync.EINVALID, "salesforce: %q is not a record id", id)
			}
		}
		rows, err := c.Query(ctx, soql.Select(fields...).From(object).Where(soql.In("Id", chunk)).String())
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func validID(s string) bool {
	return (len(s) == 15 || len(s) == 18) && validName(s) && !strings.Contains(s, "_")
}
