package bulk

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/emulate/salesforce/sfemutest"
	"github.com/billsync/billsync/salesforce/rest"
)

// resultReads counts the result sets a client reads, and can make the
// finished job's info claim no failures (a count that disagrees with the
// results served).
type resultReads struct {
	mu        sync.Mutex
	sets      []string
	hideFails bool
	next      http.RoundTripper
}

var (
	resultSetPath = regexp.MustCompile(`/jobs/ingest/[^/]+/(successfulResults|failedResults|unprocessedrecords)$`)
	jobInfoPath   = regexp.MustCompile(`/jobs/ingest/[^/]+$`)
	failedCount   = regexp.MustCompile(`"numberRecordsFailed":\d+`)
)

func (r *resultReads) RoundTrip(req *http.Request) (*http.Response, error) {
	if m := resultSetPath.FindStringSubmatch(req.URL.Path); m != nil {
		r.mu.Lock()
		r.sets = append(r.sets, m[1])
		r.mu.Unlock()
	}
	res, err := r.next.RoundTrip(req)
	if err != nil || !r.hideFails || req.Method != http.MethodGet || !jobInfoPath.MatchString(req.URL.Path) {
		return res, err
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	b = failedCount.ReplaceAll(b, []byte(`"numberRecordsFailed":0`))
	res.Body, res.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	res.Header.Del("Content-Length")
	return res, nil
}

func (r *resultReads) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sets
	r.sets = nil
	return out
}

func startCounted(t *testing.T) (*sfemu.Emulator, *Client, *resultReads) {
	t.Helper()
	org := sfemutest.Start(t, sfemu.Options{})
	reads := &resultReads{next: http.DefaultTransport}
	rc := org.Integration(t, func(c *rest.Config) { c.HTTPClient = &http.Client{Transport: reads} })
	return org.Emu, New(rc, fastPolls(Options{})), reads
}

// A job's counts say which result sets hold rows: a clean job costs one
// read, a job with failures two, and a job that completed never its
// unprocessed rows.
func TestResultSetsReadAsTheJobsCountsSay(t *testing.T) {
	_, c, reads := startCounted(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	clean := []billsync.SObject{{"BillingId__c": "r-1", "Name": "One"}, {"BillingId__c": "r-2", "Name": "Two"}}
	got, err := c.Upsert(ctx, "BillingAccount__c", "BillingId__c", clean)
	if err != nil || len(got) != 2 || !got[0].Success || !got[1].Success {
		t.Fatalf("clean upsert = %+v, %v", got, err)
	}
	if sets := reads.take(); !slices.Equal(sets, []string{"successfulResults"}) {
		t.Errorf("a clean job read %v; want only successfulResults", sets)
	}

	mixed := []billsync.SObject{{"BillingId__c": "r-3", "Name": "Three"}, {"BillingId__c": "r-4", "Email__c": "not an email"}}
	got, err = c.Upsert(ctx, "BillingAccount__c", "BillingId__c", mixed)
	if err != nil || !got[0].Success || got[1].Success || got[1].Errors[0].StatusCode != "INVALID_EMAIL_ADDRESS" {
		t.Fatalf("mixed upsert = %+v, %v", got, err)
	}
	if sets := reads.take(); !slices.Equal(sets, []string{"successfulResults", "failedResults"}) {
		t.Errorf("a job with a failure read %v; want successfulResults and failedResults", sets)
	}

	bad := []billsync.SObject{{"BillingId__c": "r-5", "Email__c": "nope"}, {"BillingId__c": "r-6", "Email__c": "nope either"}}
	got, err = c.Upsert(ctx, "BillingAccount__c", "BillingId__c", bad)
	if err != nil || got[0].Success || got[1].Success {
		t.Fatalf("failing upsert = %+v, %v", got, err)
	}
	if sets := reads.take(); !slices.Equal(sets, []string{"failedResults"}) {
		t.Errorf("a job whose every row failed read %v; want only failedResults", sets)
	}
}

// When the counts say no row failed but a row is missing from the
// successful results, the sets passed over are read after all: a row's
// failure is reported, never turned into "no result".
func TestResultSetsPassedOverAreReadWhenARowIsMissing(t *testing.T) {
	_, c, reads := startCounted(t)
	reads.hideFails = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := c.Upsert(ctx, "BillingAccount__c", "BillingId__c",
		[]billsync.SObject{{"BillingId__c": "m-1", "Name": "Fine"}, {"BillingId__c": "m-2", "Email__c": "not an email"}})
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].Success || got[1].Success || len(got[1].Errors) != 1 || got[1].Errors[0].StatusCode != "INVALID_EMAIL_ADDRESS" {
		t.Errorf("results = %+v; want the second row's own error", got)
	}
	if sets := strings.Join(reads.take(), ","); sets != "successfulResults,failedResults" {
		t.Errorf("read %s; want successfulResults, then failedResults once a row had no result", sets)
	}
}
