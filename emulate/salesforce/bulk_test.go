package salesforce

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rawDo sends a body with its own content type, as a CSV upload needs.
func (o *testOrg) rawDo(tok, method, path, ctype, body string) resp {
	o.t.Helper()
	req, err := http.NewRequest(method, o.srv.URL+path, strings.NewReader(body))
	if err != nil {
		o.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", ctype)
	res, err := o.srv.Client().Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

// kinds maps each key of a JSON object to its JSON kind.
func kinds(t *testing.T, m map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range m {
		switch v.(type) {
		case string:
			out[k] = "string"
		case json.Number:
			out[k] = "number"
		case bool:
			out[k] = "bool"
		case nil:
			out[k] = "null"
		default:
			out[k] = "other"
		}
	}
	return out
}

func example(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "bulk", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameShape checks that got has every field of the documented example
// with the same JSON kind.
func sameShape(t *testing.T, what string, got map[string]any, exampleFile string) {
	t.Helper()
	want := resp{Body: example(t, exampleFile)}.obj(t)
	gk, wk := kinds(t, got), kinds(t, want)
	for k, kind := range wk {
		if gk[k] != kind {
			t.Errorf("%s: %s is %s, the documented example has %s (%s)", what, k, gk[k], kind, exampleFile)
		}
	}
	if got["state"] != want["state"] {
		t.Errorf("%s: state %v, documented %v", what, got["state"], want["state"])
	}
}

// waitJob polls a job's info until it leaves the running states.
func (o *testOrg) waitJob(tok, path string) map[string]any {
	o.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info := o.do(tok, "GET", path, nil).obj(o.t)
		switch info["state"] {
		case "JobComplete", "Failed", "Aborted":
			return info
		}
		if time.Now().After(deadline) {
			o.t.Fatalf("job %s still %v", path, info["state"])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBulkConformsToDocumentedShapes(t *testing.T) {
	o := newTestOrg(t, Options{})
	tok := o.token(IntegrationUsername)
	const v = "/services/data/v58.0"

	// Ingest: create, upload, close, results.
	r := o.do(tok, "POST", v+"/jobs/ingest", map[string]any{"object": "BillingAccount__c", "operation": "insert", "contentType": "CSV", "lineEnding": "LF"})
	if r.Status != 200 {
		t.Fatalf("create ingest job: %d %s", r.Status, r.Body)
	}
	job := r.obj(t)
	sameShape(t, "ingest job", job, "ingest_job_create.json")
	url, _ := job["contentUrl"].(string)
	if !regexp.MustCompile(`^services/data/v58\.0/jobs/ingest/750\w{15}/batches$`).MatchString(url) {
		t.Errorf("contentUrl = %q", url)
	}
	id := job["id"].(string)
	up := o.rawDo(tok, "PUT", "/"+url, "text/csv", "Name,Email__c\nGood,good@example.com\n\"Bad, one\",nope\n")
	if up.Status != 201 || len(up.Body) != 0 {
		t.Errorf("upload = %d %q; want 201 and no body", up.Status, up.Body)
	}
	if r := o.do(tok, "PATCH", v+"/jobs/ingest/"+id, map[string]any{"state": "UploadComplete"}); r.Status != 200 || r.obj(t)["state"] != "UploadComplete" {
		t.Errorf("close = %d %s", r.Status, r.Body)
	}
	info := o.waitJob(tok, v+"/jobs/ingest/"+id)
	if info["state"] != "JobComplete" || info["numberRecordsProcessed"] != json.Number("2") || info["numberRecordsFailed"] != json.Number("1") || info["jobType"] != "V2Ingest" {
		t.Errorf("job info = %v", info)
	}
	ok := o.do(tok, "GET", v+"/jobs/ingest/"+id+"/successfulResults/", nil)
	if ct := ok.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("successfulResults Content-Type %q", ct)
	}
	checkResult(t, ok.Body, []string{"sf__Id", "sf__Created", "Name", "Email__c"}, 1)
	failed := o.do(tok, "GET", v+"/jobs/ingest/"+id+"/failedResults/", nil)
	rows := checkResult(t, failed.Body, []string{"sf__Id", "sf__Error", "Name", "Email__c"}, 1)
	if len(rows) == 1 && (!strings.HasPrefix(rows[0][1], "INVALID_EMAIL_ADDRESS:") || !strings.HasSuffix(rows[0][1], ":Email__c --") || rows[0][2] != "Bad, one") {
		t.Errorf("failed row = %q", rows[0])
	}
	checkResult(t, o.do(tok, "GET", v+"/jobs/ingest/"+id+"/unprocessedrecords/", nil).Body, []string{"Name", "Email__c"}, 0)

	// Query: create, poll, page by locator.
	r = o.do(tok, "POST", v+"/jobs/query", map[string]any{"operation": "query", "query": "SELECT Id, Name FROM BillingAccount__c"})
	if r.Status != 200 {
		t.Fatalf("create query job: %d %s", r.Status, r.Body)
	}
	qjob := r.obj(t)
	sameShape(t, "query job", qjob, "query_job_create.json")
	qid := qjob["id"].(string)
	o.waitJob(tok, v+"/jobs/query/"+qid)
	page := o.do(tok, "GET", v+"/jobs/query/"+qid+"/results", nil)
	if page.Header.Get("Sforce-Locator") != "null" || page.Header.Get("Sforce-NumberOfRecords") != "1" {
		t.Errorf("last set headers: locator %q, records %q", page.Header.Get("Sforce-Locator"), page.Header.Get("Sforce-NumberOfRecords"))
	}
	doc := string(example(t, "query_results.csv"))
	if first, _, _ := strings.Cut(doc, "\n"); !strings.HasPrefix(string(page.Body), first+"\n") {
		t.Errorf("result set %q should start with the documented header line %q", page.Body, first)
	}
	if wrong := o.do(tok, "GET", "/services/data/v62.0/jobs/query/"+qid+"/results", nil); wrong.Status != 409 {
		t.Errorf("results read with another version: %d, want 409", wrong.Status)
	}

	// Errors are Salesforce's error arrays.
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", v + "/jobs/ingest/750000000000000AAA", 404},
		{"PATCH", v + "/jobs/ingest/" + id, 400},
	} {
		r := o.do(tok, tc.method, tc.path, map[string]any{"state": "UploadComplete"})
		if r.Status != tc.status {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, r.Status, tc.status)
			continue
		}
		arr := r.arr(t)
		if e, _ := arr[0].(map[string]any); len(arr) != 1 || e["errorCode"] == nil || e["message"] == nil {
			t.Errorf("%s %s error body %s", tc.method, tc.path, r.Body)
		}
	}
}

// checkResult reads a result CSV: the header must be want (sf__ columns
// first), every value quoted as Salesforce writes them, n rows.
func checkResult(t *testing.T, body []byte, want []string, n int) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("result %q: %v", body, err)
	}
	if strings.Join(recs[0], ",") != strings.Join(want, ",") {
		t.Errorf("header %q, want %q", recs[0], want)
	}
	if len(recs)-1 != n {
		t.Errorf("%d rows, want %d: %q", len(recs)-1, n, body)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		if !strings.HasPrefix(line, `"`) || !strings.HasSuffix(line, `"`) {
			t.Errorf("line %q is not fully quoted", line)
		}
	}
	return recs[1:]
}

// A poll sees a held job InProgress, and it completes after the polls.
func TestBulkHoldShowsInProgress(t *testing.T) {
	o := newTestOrg(t, Options{})
	o.e.SetBulkHold(3)
	tok := o.token(IntegrationUsername)
	const v = "/services/data/v62.0"
	qid := o.do(tok, "POST", v+"/jobs/query", map[string]any{"operation": "query", "query": "SELECT Id FROM BillingAccount__c"}).obj(t)["id"].(string)
	var states []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := o.do(tok, "GET", v+"/jobs/query/"+qid, nil).obj(t)["state"].(string)
		states = append(states, st)
		if st == "JobComplete" || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	seen := strings.Join(states, " ")
	if !strings.Contains(seen, "InProgress") || states[len(states)-1] != "JobComplete" {
		t.Errorf("states polled: %s", seen)
	}
	if o.e.Calls()["bulk"] < len(states)+1 {
		t.Errorf("bulk calls %d for %d polls and a create", o.e.Calls()["bulk"], len(states))
	}
}

// A Bulk load follows the REST writes' rules: a sales user's rows fire
// the trigger's change events, billsync's own rows do not, and a field the
// user may not write fails its row only.
func TestBulkWritesFollowTheTrigger(t *testing.T) {
	o := newTestOrg(t, Options{})
	const v = "/services/data/v62.0"
	const ch = "/event/BillingObjectChange__e"
	load := func(user, csv string) map[string]any {
		t.Helper()
		tok := o.token(user)
		id := o.do(tok, "POST", v+"/jobs/ingest", map[string]any{"object": "BillingAccount__c", "operation": "upsert", "externalIdFieldName": "BillingId__c"}).obj(t)["id"].(string)
		if r := o.rawDo(tok, "PUT", v+"/jobs/ingest/"+id+"/batches", "text/csv", csv); r.Status != 201 {
			t.Fatalf("upload: %d %s", r.Status, r.Body)
		}
		o.do(tok, "PATCH", v+"/jobs/ingest/"+id, map[string]any{"state": "UploadComplete"})
		return o.waitJob(tok, v+"/jobs/ingest/"+id)
	}
	before := len(o.e.Bus().Events(ch))
	if info := load(IntegrationUsername, "BillingId__c,Name\nx-1,Mine\n"); info["numberRecordsFailed"] != json.Number("0") {
		t.Fatalf("integration load: %v", info)
	}
	if n := len(o.e.Bus().Events(ch)) - before; n != 0 {
		t.Errorf("billsync's own bulk write published %d change events", n)
	}
	info := load(SalesUsername, "BillingId__c,Name,CreatedDate\nx-2,Theirs,\nx-3,Bad,2020-01-01T00:00:00.000Z\n")
	if info["numberRecordsProcessed"] != json.Number("2") || info["numberRecordsFailed"] != json.Number("1") {
		t.Errorf("sales load: %v; want the row writing CreatedDate to fail alone", info)
	}
	if n := len(o.e.Bus().Events(ch)) - before; n != 1 {
		t.Errorf("a sales user's bulk insert published %d change events, want 1", n)
	}
}

// Delete is refused while a job is Open and answers 204 once it ended;
// the job is then gone.
func TestBulkDeleteJob(t *testing.T) {
	o := newTestOrg(t, Options{})
	tok := o.token(IntegrationUsername)
	const v = "/services/data/v62.0"
	id := o.do(tok, "POST", v+"/jobs/ingest", map[string]any{"object": "BillingAccount__c", "operation": "insert"}).obj(t)["id"].(string)
	if r := o.do(tok, "DELETE", v+"/jobs/ingest/"+id, nil); r.Status != 400 {
		t.Errorf("delete an Open job: %d %s", r.Status, r.Body)
	}
	if r := o.do(tok, "PATCH", v+"/jobs/ingest/"+id, map[string]any{"state": "Aborted"}); r.Status != 200 || r.obj(t)["state"] != "Aborted" {
		t.Fatalf("abort: %d %s", r.Status, r.Body)
	}
	if r := o.do(tok, "DELETE", v+"/jobs/ingest/"+id, nil); r.Status != 204 || len(r.Body) != 0 {
		t.Errorf("delete an aborted job: %d %q", r.Status, r.Body)
	}
	if r := o.do(tok, "GET", v+"/jobs/ingest/"+id, nil); r.Status != 404 {
		t.Errorf("a deleted job answers %d", r.Status)
	}
}
