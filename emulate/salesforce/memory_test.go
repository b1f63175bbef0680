package salesforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/billsync/billsync/internal/heapmeter"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// BenchmarkBulkLoadMemory loads accounts, a balance and two transactions
// each into an empty org through Bulk API 2.0 ingest jobs, as an initial
// load does, with the org kept in a data directory as the sandbox keeps
// it, and reports the live heap the org holds afterwards per record
// loaded: records, their change events (retained 72 hours), the jobs and
// their results. peak-heap-B/record is the most the heap held over the
// load (sampled; garbage not yet collected and the journal's folds
// included), which is what the process's resident size follows.
func BenchmarkBulkLoadMemory(b *testing.B) {
	const accounts = 2500
	records := 4 * accounts
	var perRecord, peakPerRecord float64
	for range b.N {
		e, err := New(Options{DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		tok, err := e.IssueToken(IntegrationUsername)
		if err != nil {
			b.Fatal(err)
		}
		before := heapmeter.Live()
		peak := heapmeter.Peak()
		bulkLoad(b, e.Handler(), tok, accounts)
		e.journal.WaitFolds()
		peakPerRecord += float64(peak()-before) / float64(records)
		perRecord += float64(heapmeter.Live()-before) / float64(records)
		runtime.KeepAlive(e)
		if err := e.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(perRecord/float64(b.N), "heap-B/record")
	b.ReportMetric(peakPerRecord/float64(b.N), "peak-heap-B/record")
}

// bulkLoad upserts the accounts, balances and transactions of an initial
// load of n accounts, one ingest job per object.
func bulkLoad(tb testing.TB, h http.Handler, tok string, n int) {
	tb.Helper()
	var acc, bal, tx strings.Builder
	acc.WriteString("BillingId__c,Name,Code__c,Currency__c\n")
	bal.WriteString("BillingId__c,Name,Currency__c,Amount__c,BillingAccount__r.BillingId__c\n")
	tx.WriteString("BillingId__c,Amount__c,BillingBalance__r.BillingId__c\n")
	for i := range n {
		s := strconv.Itoa(i)
		fmt.Fprintf(&acc, "acc-%s,Account %s,C%s,USD\n", s, s, s)
		fmt.Fprintf(&bal, "bal-%s,Prepaid,USD,%d.25,acc-%s\n", s, i%1000, s)
		fmt.Fprintf(&tx, "tx-%s-0,250.00,bal-%s\ntx-%s-1,-%d.05,bal-%s\n", s, s, s, i%100, s)
	}
	for _, job := range []struct{ object, csv string }{{"BillingAccount__c", acc.String()}, {"BillingBalance__c", bal.String()}, {"BillingBalanceTransaction__c", tx.String()}} {
		info := runIngest(tb, h, tok, job.object, "upsert", job.csv)
		if info["state"] != "JobComplete" || info["numberRecordsFailed"] != json.Number("0") {
			tb.Fatalf("%s job: %v", job.object, info)
		}
	}
}

// runIngest creates an ingest job, uploads body, closes the job and waits
// until it ends; it returns the job's info.
func runIngest(tb testing.TB, h http.Handler, tok, object, op string, uploads ...string) map[string]any {
	tb.Helper()
	const v = "/services/data/v62.0/jobs/ingest/"
	job := map[string]any{"object": object, "operation": op}
	if op == "upsert" {
		job["externalIdFieldName"] = "BillingId__c"
	}
	body, _ := json.Marshal(job)
	res := doCall(h, tok, "POST", v, "application/json", body)
	id, _ := decodeObj(tb, res)["id"].(string)
	for _, up := range uploads {
		if r := doCall(h, tok, "PUT", v+id+"/batches", "text/csv", []byte(up)); r.Code != 201 {
			tb.Fatalf("upload: %d %s", r.Code, r.Body)
		}
	}
	doCall(h, tok, "PATCH", v+id, "application/json", []byte(`{"state":"UploadComplete"}`))
	deadline := time.Now().Add(60 * time.Second)
	for {
		info := decodeObj(tb, doCall(h, tok, "GET", v+id, "", nil))
		switch info["state"] {
		case "JobComplete", "Failed", "Aborted":
			info["id"] = id
			return info
		}
		if time.Now().After(deadline) {
			tb.Fatalf("job %s still %v", id, info["state"])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func doCall(h http.Handler, tok, method, path, ctype string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodeObj(tb testing.TB, r *httptest.ResponseRecorder) map[string]any {
	tb.Helper()
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		tb.Fatalf("%d %s: %v", r.Code, r.Body, err)
	}
	return m
}

// A job keeps its uploads as the CSV they came as and parses them again
// for its results: every result set is still served whole, row for row,
// across uploads, with quoted delimiters, quotes and line breaks intact.
func TestBulkResultsServedInFullFromKeptUploads(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tok, err := e.IssueToken(IntegrationUsername)
	if err != nil {
		t.Fatal(err)
	}
	h := e.Handler()
	info := runIngest(t, h, tok, "BillingAccount__c", "upsert",
		"BillingId__c,Name,Email__c\nk-1,\"Comma, \"\"quoted\"\"\",a@example.com\nk-2,Bad,not-an-email\n",
		"BillingId__c,Name,Email__c\nk-3,\"Two\nlines\",b@example.com\n")
	if info["numberRecordsProcessed"] != json.Number("3") || info["numberRecordsFailed"] != json.Number("1") {
		t.Fatalf("job info %v", info)
	}
	id := info["id"].(string)
	get := func(set string) string {
		r := doCall(h, tok, "GET", "/services/data/v62.0/jobs/ingest/"+id+"/"+set, "", nil)
		if r.Code != 200 {
			t.Fatalf("%s: %d %s", set, r.Code, r.Body)
		}
		return r.Body.String()
	}
	sf := func(ext string) string {
		for _, r := range e.Records("BillingAccount__c") {
			if r.Str("BillingId__c") == ext {
				return r.ID()
			}
		}
		t.Fatalf("%s not loaded", ext)
		return ""
	}
	want := `"sf__Id","sf__Created","BillingId__c","Name","Email__c"` + "\n" +
		`"` + sf("k-1") + `","true","k-1","Comma, ""quoted""","a@example.com"` + "\n" +
		`"` + sf("k-3") + `","true","k-3","Two` + "\n" + `lines","b@example.com"` + "\n"
	if diff := cmp.Diff(want, get("successfulResults")); diff != "" {
		t.Errorf("successfulResults (-want +got):\n%s", diff)
	}
	failed := get("failedResults")
	if !strings.HasPrefix(failed, `"sf__Id","sf__Error","BillingId__c","Name","Email__c"`+"\n"+`"","INVALID_EMAIL_ADDRESS:`) ||
		!strings.HasSuffix(failed, `:Email__c --","k-2","Bad","not-an-email"`+"\n") || strings.Count(failed, "\n") != 2 {
		t.Errorf("failedResults %q", failed)
	}
	if got := get("unprocessedrecords"); got != `"BillingId__c","Name","Email__c"`+"\n" {
		t.Errorf("unprocessedrecords %q", got)
	}
}

// An aborted job that never ran serves every uploaded row as unprocessed.
func TestBulkAbortedJobServesUploadsUnprocessed(t *testing.T) {
	o := newTestOrg(t, Options{})
	tok := o.token(IntegrationUsername)
	const v = "/services/data/v62.0/jobs/ingest/"
	id := o.do(tok, "POST", v, map[string]any{"object": "BillingAccount__c", "operation": "insert"}).obj(t)["id"].(string)
	for _, up := range []string{"Name\nOne\n", "Name\nTwo\n"} {
		if r := o.rawDo(tok, "PUT", v+id+"/batches", "text/csv", up); r.Status != 201 {
			t.Fatalf("upload: %d %s", r.Status, r.Body)
		}
	}
	if r := o.do(tok, "PATCH", v+id, map[string]any{"state": "Aborted"}); r.Status != 200 {
		t.Fatalf("abort: %d %s", r.Status, r.Body)
	}
	if got := string(o.do(tok, "GET", v+id+"/unprocessedrecords", nil).Body); got != "\"Name\"\n\"One\"\n\"Two\"\n" {
		t.Errorf("unprocessedrecords %q", got)
	}
}

// A data directory written before the event bus was kept inline (as a
// base64 string in the snapshot) is still read, events and all.
func TestSnapshotWithBase64BusStillRead(t *testing.T) {
	dir := t.TempDir()
	e, err := New(Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.IssueToken(SalesUsername)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"BillingId__c":"old-1","Name":"Old","Code__c":"O1"}`)
	if r := doCall(e.Handler(), tok, "POST", "/services/data/v62.0/sobjects/BillingAccount__c", "application/json", body); r.Code != 201 {
		t.Fatalf("insert: %d %s", r.Code, r.Body)
	}
	const ch = "/event/BillingObjectChange__e"
	want := e.Bus().Events(ch)
	if len(want) == 0 {
		t.Fatal("the sales user's insert published no event")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, snapshotFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m["bus"]) == 0 || m["bus"][0] != '{' {
		t.Fatalf("the snapshot's bus is not inline: %.40s", m["bus"])
	}
	old, _ := json.Marshal([]byte(m["bus"])) // the earlier form: a base64 string
	m["bus"] = old
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	e2, err := New(Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	got := e2.Bus().Events(ch)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events after reading the old snapshot (-want +got):\n%s", diff)
	}
	if len(e2.Records("BillingAccount__c")) != 1 {
		t.Errorf("records after reading the old snapshot: %v", e2.Records("BillingAccount__c"))
	}
}
