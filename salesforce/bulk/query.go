package bulk

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/billsync/billsync"
)

// Query runs SOQL as a query job and reads every result set, following
// Sforce-Locator until Salesforce answers "null". Values are the strings
// of the CSV (numbers and money keep their decimal digits); an empty
// value is null.
func (c *Client) Query(ctx context.Context, soql string) ([]billsync.SObject, error) {
	if strings.TrimSpace(soql) == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "salesforce bulk query: empty SOQL")
	}
	var j Job
	body := map[string]any{"operation": "query", "query": soql, "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA"}
	if err := c.rc.Do(ctx, http.MethodPost, "/jobs/query", body, &j); err != nil {
		return nil, fmt.Errorf("creating a bulk query job: %w", err)
	}
	done, err := c.wait(ctx, "query", j.ID)
	if err != nil {
		return nil, fmt.Errorf("waiting for bulk query job %s: %w", j.ID, err)
	}
	if done.State != StateJobComplete {
		return nil, jobError(done)
	}
	var all []billsync.SObject
	seen := map[string]bool{}
	for locator := ""; ; {
		q := url.Values{}
		if locator != "" {
			q.Set("locator", locator)
		}
		if c.opts.MaxRecords > 0 {
			q.Set("maxRecords", strconv.Itoa(c.opts.MaxRecords))
		}
		path := "/jobs/query/" + j.ID + "/results"
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		res, err := c.rc.Raw(ctx, http.MethodGet, path, "", "text/csv", nil)
		if err != nil {
			return nil, fmt.Errorf("reading results of bulk query job %s: %w", j.ID, err)
		}
		header, rows, err := readCSV(res.Body)
		if err != nil {
			return nil, err
		}
		if n, err := strconv.Atoi(res.Header.Get("Sforce-NumberOfRecords")); err == nil && n != len(rows) {
			return nil, &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: res.StatusCode,
				Message: fmt.Sprintf("bulk query job %s: result set says %d records and holds %d", j.ID, n, len(rows))}
		}
		for _, row := range rows {
			all = append(all, toSObject(done.Object, header, row))
		}
		next := res.Header.Get("Sforce-Locator")
		if next == "" || next == "null" {
			break
		}
		// A locator served twice would page forever.
		if seen[next] {
			return nil, &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: res.StatusCode,
				Message: "bulk query paging repeats locator " + next}
		}
		seen[next] = true
		locator = next
	}
	// The job's results are read; it holds the org's storage until
	// Salesforce expires it otherwise.
	_ = c.rc.Do(ctx, http.MethodDelete, "/jobs/query/"+j.ID, nil, nil)
	if all == nil {
		all = []billsync.SObject{}
	}
	return all, nil
}

// ReadAll reads every record soql selects: through REST query pages when
// countSOQL counts no more than the threshold, else through a query job.
// usedBulk says which way it went.
func (c *Client) ReadAll(ctx context.Context, soql, countSOQL string) (recs []billsync.SObject, usedBulk bool, err error) {
	if c.opts.Threshold > 0 {
		n, err := c.rc.QueryCount(ctx, countSOQL)
		if err != nil {
			return nil, false, err
		}
		if n > c.opts.Threshold {
			recs, err := c.Query(ctx, soql)
			return recs, true, err
		}
	}
	recs, err = c.rc.Query(ctx, soql)
	return recs, false, err
}
