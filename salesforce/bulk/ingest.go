package bulk

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/salesforce/rest"
)

// Insert creates records of one object through ingest jobs. Results are
// in input order, as the REST client's are.
func (c *Client) Insert(ctx context.Context, object string, records []billsync.SObject) ([]billsync.SaveResult, error) {
	return c.ingest(ctx, OpInsert, object, "", records)
}

// Update patches records of one object; each carries its "Id".
func (c *Client) Update(ctx context.Context, object string, records []billsync.SObject) ([]billsync.SaveResult, error) {
	return c.ingest(ctx, OpUpdate, object, "", records)
}

// Upsert creates or updates records matched by extIDField.
func (c *Client) Upsert(ctx context.Context, object, extIDField string, records []billsync.SObject) ([]billsync.SaveResult, error) {
	if extIDField == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "salesforce bulk upsert %s: an external id field is required", object)
	}
	return c.ingest(ctx, OpUpsert, object, extIDField, records)
}

// Delete removes records of one object by id.
func (c *Client) Delete(ctx context.Context, object string, ids []string) ([]billsync.SaveResult, error) {
	recs := make([]billsync.SObject, len(ids))
	for i, id := range ids {
		recs[i] = billsync.SObject{"Id": id}
	}
	return c.ingest(ctx, OpDelete, object, "", recs)
}

// ingest loads records in as many jobs as the upload limit needs, one
// after the other, and joins their results in input order. A job that
// cannot be created or run fails the records it carried, as a failed
// collections chunk does; an error is returned only when the first job
// could not start, so nothing was applied.
func (c *Client) ingest(ctx context.Context, op, object, extID string, records []billsync.SObject) ([]billsync.SaveResult, error) {
	if len(records) == 0 {
		return []billsync.SaveResult{}, nil
	}
	header := columns(records)
	if len(header) == 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "salesforce bulk %s %s: the records set no fields", op, object)
	}
	rows, err := encodeRows(header, records)
	if err != nil {
		return nil, err
	}
	docs, starts, err := chunk(header, rows, c.opts.MaxUploadBytes, c.opts.LineEnding == "CRLF")
	if err != nil {
		return nil, err
	}
	results := make([]billsync.SaveResult, 0, len(records))
	for i, doc := range docs {
		end := len(rows)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		got, err := c.runJob(ctx, op, object, extID, header, rows[starts[i]:end], doc)
		if err != nil && i == 0 {
			return nil, err
		}
		if err != nil {
			got = failAll(end-starts[i], "SERVER_UNAVAILABLE", err.Error(), true)
		}
		results = append(results, got...)
	}
	return results, nil
}

// runJob creates one job, uploads doc, closes the job, waits for it and
// reads its per-record results back in the order of rows.
func (c *Client) runJob(ctx context.Context, op, object, extID string, header []string, rows [][]string, doc []byte) ([]billsync.SaveResult, error) {
	body := map[string]any{"object": object, "operation": op, "contentType": "CSV", "lineEnding": c.opts.LineEnding, "columnDelimiter": "COMMA"}
	if extID != "" {
		body["externalIdFieldName"] = extID
	}
	var j Job
	if err := c.rc.Do(ctx, http.MethodPost, "/jobs/ingest", body, &j); err != nil {
		return nil, fmt.Errorf("creating a bulk %s job on %s: %w", op, object, err)
	}
	upload := "/jobs/ingest/" + j.ID + "/batches"
	if j.ContentURL != "" {
		// contentUrl is relative to the instance ("services/data/…").
		upload = "/" + strings.TrimPrefix(j.ContentURL, "/")
	}
	if _, err := c.rc.Raw(ctx, http.MethodPut, upload, "text/csv", "application/json", doc); err != nil {
		_ = c.abort(context.WithoutCancel(ctx), "ingest", j.ID)
		return nil, fmt.Errorf("uploading bulk job %s: %w", j.ID, err)
	}
	if err := c.rc.Do(ctx, http.MethodPatch, "/jobs/ingest/"+j.ID, map[string]any{"state": StateUploadComplete}, nil); err != nil {
		return nil, fmt.Errorf("closing bulk job %s: %w", j.ID, err)
	}
	done, err := c.wait(ctx, "ingest", j.ID)
	if err != nil {
		return nil, fmt.Errorf("waiting for bulk job %s: %w", j.ID, err)
	}
	return c.readResults(ctx, done, header, rows)
}

// readResults joins a finished job's result sets to the rows it was sent.
// Salesforce does not keep the input order and echoes each row's fields
// after its sf__ columns, so those fields are the join key; identical rows
// take identical results in turn.
func (c *Client) readResults(ctx context.Context, j *Job, header []string, rows [][]string) ([]billsync.SaveResult, error) {
	pending := map[string][]int{}
	for i, r := range rows {
		k := strings.Join(r, "\x00")
		pending[k] = append(pending[k], i)
	}
	out := make([]billsync.SaveResult, len(rows))
	filled := make([]bool, len(rows))
	take := func(key string) (int, bool) {
		q := pending[key]
		if len(q) == 0 {
			return 0, false
		}
		pending[key] = q[1:]
		return q[0], true
	}
	read := func(set string) error {
		res, err := c.rc.Raw(ctx, http.MethodGet, "/jobs/ingest/"+j.ID+"/"+set, "", "text/csv", nil)
		if err != nil {
			return fmt.Errorf("reading %s of bulk job %s: %w", set, j.ID, err)
		}
		head, recs, err := readCSV(res.Body)
		if err != nil {
			return err
		}
		pos := map[string]int{}
		for i, h := range head {
			pos[h] = i
		}
		for _, rec := range recs {
			key := make([]string, len(header))
			for i, h := range header {
				if p, ok := pos[h]; ok && p < len(rec) {
					key[i] = rec[p]
				}
			}
			i, ok := take(strings.Join(key, "\x00"))
			if !ok {
				continue
			}
			out[i], filled[i] = resultOf(set, j, pos, rec), true
		}
		return nil
	}
	sets, skipped := resultSets(j, len(rows))
	for _, set := range sets {
		if err := read(set); err != nil {
			return nil, err
		}
	}
	// The job's counts said a set was empty, yet a row has no result:
	// the sets passed over are read before a row is called unanswered.
	for _, set := range skipped {
		if !slices.Contains(filled, false) {
			break
		}
		if err := read(set); err != nil {
			return nil, err
		}
	}
	for i := range out {
		if !filled[i] {
			out[i] = failAll(1, "UNKNOWN_EXCEPTION", "bulk job "+j.ID+" reported no result for this record", false)[0]
		}
	}
	return out, nil
}

// resultSets are the result sets of finished job j, of rows rows, worth a
// call, and those its counts say are empty: a job that completed holds no
// unprocessed rows, one with no failures no failed results, and one whose
// every row failed no successful results. Each set read is a call against
// the org's daily allowance, so a clean job costs one read, not three.
// Without counts every set is read.
func resultSets(j *Job, rows int) (read, skipped []string) {
	processed, perr := j.NumberRecordsProcessed.Int64()
	failed, ferr := j.NumberRecordsFailed.Int64()
	counted := perr == nil && ferr == nil && j.State == StateJobComplete && processed == int64(rows)
	for _, set := range []string{"successfulResults", "failedResults", "unprocessedrecords"} {
		empty := counted && (set == "unprocessedrecords" ||
			set == "failedResults" && failed == 0 ||
			set == "successfulResults" && failed == processed)
		if empty {
			skipped = append(skipped, set)
		} else {
			read = append(read, set)
		}
	}
	return read, skipped
}

func resultOf(set string, j *Job, pos map[string]int, rec []string) billsync.SaveResult {
	get := func(col string) string {
		if p, ok := pos[col]; ok && p < len(rec) {
			return rec[p]
		}
		return ""
	}
	switch set {
	case "successfulResults":
		return billsync.SaveResult{ID: get("sf__Id"), Success: true, Created: get("sf__Created") == "true"}
	case "failedResults":
		r := billsync.SaveResult{ID: get("sf__Id"), Errors: []billsync.FieldError{parseError(get("sf__Error"))}}
		return r
	}
	// Rows a job never reached were not applied, so sending them again is
	// safe; after an abort it is worth it, after a failure the job's
	// error (a bad header, a spent limit) says whether, so the row
	// carries it and is not retried blindly.
	msg := "not processed: bulk job " + j.ID + " ended " + j.State
	if j.ErrorMessage != "" {
		msg += ": " + j.ErrorMessage
	}
	return failAll(1, "UNPROCESSED", msg, j.State == StateAborted)[0]
}

// parseError reads an sf__Error cell, "CODE:message:Field1,Field2 --".
// The message itself may hold colons, so fields are taken from the last
// segment only when it is a list of field names.
func parseError(s string) billsync.FieldError {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "--"))
	code, msg, _ := strings.Cut(s, ":")
	fe := billsync.FieldError{StatusCode: code, Message: msg, Fields: []string{}}
	if i := strings.LastIndexByte(msg, ':'); i >= 0 && fieldList(msg[i+1:]) {
		fe.Message = msg[:i]
		for _, f := range strings.Split(msg[i+1:], ",") {
			fe.Fields = append(fe.Fields, strings.TrimSpace(f))
		}
	}
	fe.Transient = rest.TransientCode(code)
	fe.RateLimited = code == "REQUEST_LIMIT_EXCEEDED"
	return fe
}

func fieldList(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == ',' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func failAll(n int, code, msg string, transient bool) []billsync.SaveResult {
	out := make([]billsync.SaveResult, n)
	for i := range out {
		out[i] = billsync.SaveResult{Errors: []billsync.FieldError{{StatusCode: code, Message: msg, Fields: []string{}, Transient: transient}}}
	}
	return out
}
