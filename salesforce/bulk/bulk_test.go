package bulk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/emulate/salesforce/sfemutest"
	"github.com/billsync/billsync/salesforce/rest"
)

// seenStates records the job states a client's polls were answered with.
type seenStates struct {
	mu     sync.Mutex
	states []string
	next   http.RoundTripper
}

func (s *seenStates) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := s.next.RoundTrip(r)
	if err != nil || r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/jobs/") {
		return res, err
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(b))
	for _, st := range []string{StateInProgress, StateJobComplete} {
		if bytes.Contains(b, []byte(`"state":"`+st+`"`)) {
			s.mu.Lock()
			s.states = append(s.states, st)
			s.mu.Unlock()
		}
	}
	return res, nil
}

func (s *seenStates) saw(st string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.states {
		if x == st {
			return true
		}
	}
	return false
}

func startOrg(t *testing.T) (*sfemu.Emulator, *rest.Client, *seenStates) {
	t.Helper()
	org := sfemutest.Start(t, sfemu.Options{})
	seen := &seenStates{next: http.DefaultTransport}
	rc := org.Integration(t, func(c *rest.Config) { c.HTTPClient = &http.Client{Transport: seen} })
	return org.Emu, rc, seen
}

func fastPolls(o Options) Options {
	o.PollMin, o.PollMax = 5*time.Millisecond, 50*time.Millisecond
	return o
}

func TestUpsertReportsEachRowInInputOrder(t *testing.T) {
	e, rc, seen := startOrg(t)
	e.SetBulkHold(2)
	c := New(rc, fastPolls(Options{}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	recs := []billsync.SObject{
		{"BillingId__c": "b-1", "Name": "One, \"quoted\"", "Email__c": "one@example.com"},
		{"BillingId__c": "b-2", "Name": "Two", "Email__c": "not an email"},
		{"BillingId__c": "b-3", "Name": "Three\nlines", "Email__c": nil},
	}
	got, err := c.Upsert(ctx, "BillingAccount__c", "BillingId__c", recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d results, want 3", len(got))
	}
	if !got[0].Success || !got[0].Created || got[0].ID == "" || !got[2].Success {
		t.Errorf("rows 1 and 3 should be created: %+v", got)
	}
	if got[1].Success || len(got[1].Errors) != 1 || got[1].Errors[0].StatusCode != "INVALID_EMAIL_ADDRESS" ||
		len(got[1].Errors[0].Fields) != 1 || got[1].Errors[0].Fields[0] != "Email__c" {
		t.Errorf("row 2 should fail with INVALID_EMAIL_ADDRESS on Email__c: %+v", got[1])
	}
	rec, ok := e.Record("BillingAccount__c", got[0].ID)
	if !ok || rec.Str("Name") != `One, "quoted"` || rec.Str("Email__c") != "one@example.com" {
		t.Errorf("stored record = %v", rec)
	}
	if rec, _ := e.Record("BillingAccount__c", got[2].ID); rec.Str("Name") != "Three\nlines" {
		t.Errorf("a value with a line break came back as %q", rec.Str("Name"))
	}
	if !seen.saw(StateInProgress) || !seen.saw(StateJobComplete) {
		t.Errorf("polls saw %v; want InProgress then JobComplete", seen.states)
	}

	// Second run: the same external ids update, and #N/A clears a field.
	again, err := c.Upsert(ctx, "BillingAccount__c", "BillingId__c", []billsync.SObject{{"BillingId__c": "b-1", "Email__c": nil}})
	if err != nil || len(again) != 1 || !again[0].Success || again[0].Created || again[0].ID != got[0].ID {
		t.Fatalf("second upsert = %+v, %v", again, err)
	}
	if rec, _ := e.Record("BillingAccount__c", got[0].ID); rec["Email__c"] != nil || rec.Str("Name") != `One, "quoted"` {
		t.Errorf("after clearing the email: %v (the name should be kept)", rec)
	}
	if e.Calls()["bulk"] == 0 {
		t.Error("the emulator counted no bulk calls")
	}
}

func TestLoadSplitsAtTheUploadLimit(t *testing.T) {
	e, rc, _ := startOrg(t)
	c := New(rc, fastPolls(Options{MaxUploadBytes: 200}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []billsync.SObject
	for i := range 12 {
		recs = append(recs, billsync.SObject{"Name": "Account number " + string(rune('A'+i))})
	}
	got, err := c.Insert(ctx, "BillingAccount__c", recs)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.BulkJobs()["ingest"]; n < 2 {
		t.Errorf("%d ingest jobs for %d bytes of CSV; want the load split", n, 12*20)
	}
	for i, r := range got {
		rec, ok := e.Record("BillingAccount__c", r.ID)
		if !r.Success || !ok || rec.Str("Name") != recs[i].Str("Name") {
			t.Errorf("result %d = %+v, record %v", i, r, rec)
		}
	}
	ids := make([]string, len(got))
	for i, r := range got {
		ids[i] = r.ID
	}
	del, err := c.Delete(ctx, "BillingAccount__c", append(ids[:2], "a0B000000000000AAA"))
	if err != nil {
		t.Fatal(err)
	}
	if !del[0].Success || !del[1].Success || del[2].Success {
		t.Errorf("delete results = %+v", del)
	}
	if _, ok := e.Record("BillingAccount__c", ids[0]); ok {
		t.Error("a deleted record is still live")
	}
}

func TestQueryPagesByLocator(t *testing.T) {
	e, rc, _ := startOrg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	acct, err := rc.Upsert(ctx, "BillingAccount__c", "BillingId__c", []billsync.SObject{{"BillingId__c": "acc-1", "Name": "Acme"}})
	if err != nil || !acct[0].Success {
		t.Fatal(acct, err)
	}
	var recs []billsync.SObject
	for i := range 7 {
		recs = append(recs, billsync.SObject{"BillingId__c": "bal-" + string(rune('a'+i)), "Name": "Balance",
			"Amount__c": billsync.MustMoney("1234567890.10"), "BillingAccount__c": acct[0].ID})
	}
	recs[3]["Amount__c"] = nil
	if res, err := rc.Upsert(ctx, "BillingBalance__c", "BillingId__c", recs); err != nil || !res[0].Success || !res[3].Success {
		t.Fatal(res, err)
	}
	c := New(rc, fastPolls(Options{MaxRecords: 3, Threshold: 5}))
	soql := "SELECT Id, BillingId__c, Amount__c, BillingAccount__r.BillingId__c FROM BillingBalance__c ORDER BY BillingId__c"
	rows, usedBulk, err := c.ReadAll(ctx, soql, "SELECT COUNT() FROM BillingBalance__c")
	if err != nil {
		t.Fatal(err)
	}
	if !usedBulk || len(rows) != 7 {
		t.Fatalf("ReadAll used bulk %v and read %d rows; want a query job and 7", usedBulk, len(rows))
	}
	if got := rows[0].Str("Amount__c"); got != "1234567890.1" && got != "1234567890.10" {
		t.Errorf("Amount__c = %q; want the decimal digits", got)
	}
	if rows[0].Str("BillingAccount__r.BillingId__c") != "acc-1" {
		t.Errorf("relationship field = %v", rows[0]["BillingAccount__r"])
	}
	if rows[3]["Amount__c"] != nil || rows[3].Str("BillingId__c") != "bal-d" {
		t.Errorf("null fields should read nil: %v", rows[3])
	}
	if e.BulkJobs()["query"] != 1 {
		t.Errorf("query jobs = %d, want 1", e.BulkJobs()["query"])
	}
	// Under the threshold, REST pages answer.
	c = New(rc, fastPolls(Options{Threshold: 100}))
	if rows, usedBulk, err := c.ReadAll(ctx, soql, "SELECT COUNT() FROM BillingBalance__c"); err != nil || usedBulk || len(rows) != 7 {
		t.Errorf("ReadAll under the threshold = %d rows, bulk %v, %v", len(rows), usedBulk, err)
	}
}

func TestQueryErrorsAreSalesforceErrors(t *testing.T) {
	_, rc, _ := startOrg(t)
	c := New(rc, fastPolls(Options{}))
	_, err := c.Query(context.Background(), "SELECT Nope__c FROM BillingBalance__c")
	var re *billsync.RemoteError
	if !asRemote(err, &re) || re.Code != "INVALID_FIELD" || re.StatusCode != 400 {
		t.Fatalf("err = %v; want INVALID_FIELD 400", err)
	}
}

func TestParseError(t *testing.T) {
	for _, tc := range []struct {
		in, code, msg string
		fields        []string
	}{
		{"REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --", "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", []string{"Name"}},
		{"UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record --", "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", nil},
		{"INVALID_FIELD:Foo: bar:A__c,B__c --", "INVALID_FIELD", "Foo: bar", []string{"A__c", "B__c"}},
	} {
		fe := parseError(tc.in)
		if fe.StatusCode != tc.code || fe.Message != tc.msg || strings.Join(fe.Fields, ",") != strings.Join(tc.fields, ",") {
			t.Errorf("parseError(%q) = %+v", tc.in, fe)
		}
	}
	if !parseError("UNABLE_TO_LOCK_ROW:x --").Transient {
		t.Error("UNABLE_TO_LOCK_ROW should be transient")
	}
}

func asRemote(err error, re **billsync.RemoteError) bool { return errors.As(err, re) }

// A job that fails as a whole leaves every row unprocessed; each gets a
// result naming the job's error rather than a success or silence.
func TestFailedJobLeavesRowsUnprocessed(t *testing.T) {
	_, rc, _ := startOrg(t)
	c := New(rc, fastPolls(Options{}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := c.Insert(ctx, "BillingAccount__c", []billsync.SObject{{"Name": "A", "Nope__c": "x"}, {"Name": "B"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if r.Success || len(r.Errors) != 1 || r.Errors[0].StatusCode != "UNPROCESSED" || r.Errors[0].Transient ||
			!strings.Contains(r.Errors[0].Message, "Nope__c") {
			t.Errorf("row %d = %+v", i, r)
		}
	}
}

// Waiting for a job ends with the caller's context, and the job is
// aborted rather than left running for nobody.
func TestWaitEndsWithTheContextAndAbortsTheJob(t *testing.T) {
	e, rc, seen := startOrg(t)
	e.SetBulkHold(1 << 30)
	c := New(rc, fastPolls(Options{}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Query(ctx, "SELECT Id FROM BillingAccount__c")
		done <- err
	}()
	deadline := time.Now().Add(15 * time.Second)
	for !seen.saw(StateInProgress) {
		if time.Now().After(deadline) {
			t.Fatal("the job was never seen InProgress")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v; want context.Canceled", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Query did not return after its context ended")
	}
	var list struct {
		Records []Job `json:"records"`
	}
	if err := rc.Do(context.Background(), http.MethodGet, "/jobs/query", nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Records) != 1 || list.Records[0].State != StateAborted {
		t.Errorf("jobs after the cancel: %+v", list.Records)
	}
}

// CRLF uploads load the same values as LF ones.
func TestCRLFUpload(t *testing.T) {
	e, rc, _ := startOrg(t)
	c := New(rc, fastPolls(Options{LineEnding: "CRLF"}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := c.Insert(ctx, "BillingAccount__c", []billsync.SObject{{"Name": "One"}, {"Name": "Two, too"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"One", "Two, too"} {
		if rec, ok := e.Record("BillingAccount__c", got[i].ID); !got[i].Success || !ok || rec.Str("Name") != want {
			t.Errorf("row %d: %+v, stored %q", i, got[i], rec.Str("Name"))
		}
	}
}
