package batch

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

// fakeBulk is a BulkWriter over a fake org: each job writes its records
// in one go, except those unprocessed names, which it leaves unprocessed
// as a failed job does.
type fakeBulk struct {
	org         *mock.Org
	unprocessed map[string]bool // external ids left unprocessed

	mu   sync.Mutex
	jobs []int // records per job
}

func (f *fakeBulk) job(recs []billsync.SObject, write func([]billsync.SObject) ([]billsync.SaveResult, error)) ([]billsync.SaveResult, error) {
	f.mu.Lock()
	f.jobs = append(f.jobs, len(recs))
	f.mu.Unlock()
	out := make([]billsync.SaveResult, len(recs))
	var run []billsync.SObject
	var at []int
	for i, r := range recs {
		if f.unprocessed[r.Str("BillingId__c")] {
			out[i] = billsync.SaveResult{Errors: []billsync.FieldError{{StatusCode: Unprocessed, Message: "not processed: job failed"}}}
			continue
		}
		run, at = append(run, r), append(at, i)
	}
	got, err := write(run)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		out[i] = got[j]
	}
	return out, nil
}

func (f *fakeBulk) Insert(ctx context.Context, object string, recs []billsync.SObject) ([]billsync.SaveResult, error) {
	return f.job(recs, func(r []billsync.SObject) ([]billsync.SaveResult, error) { return f.org.Create(ctx, object, r) })
}

func (f *fakeBulk) Update(ctx context.Context, object string, recs []billsync.SObject) ([]billsync.SaveResult, error) {
	return f.job(recs, func(r []billsync.SObject) ([]billsync.SaveResult, error) { return f.org.Update(ctx, object, r) })
}

func (f *fakeBulk) Upsert(ctx context.Context, object, ext string, recs []billsync.SObject) ([]billsync.SaveResult, error) {
	return f.job(recs, func(r []billsync.SObject) ([]billsync.SaveResult, error) { return f.org.Upsert(ctx, object, ext, r) })
}

func (f *fakeBulk) jobSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.jobs)
}

// A wide runner's joined callers: n of them upsert one record each and
// the batch goes once all wait (the runner has no more on its way).
func upsertJoined(t *testing.T, b *Batcher, n int, rec func(i int) billsync.SObject) ([]billsync.SaveResult, []error) {
	t.Helper()
	out := make([]billsync.SaveResult, n)
	errs := make([]error, n)
	ctxs := make([]context.Context, n)
	leaves := make([]func(), n)
	for i := range n {
		ctxs[i], leaves[i] = b.Join(context.Background())
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer leaves[i]()
			res, err := b.Upsert(ctxs[i], "BillingAccount__c", "BillingId__c", []billsync.SObject{rec(i)})
			errs[i] = err
			if err == nil {
				out[i] = res[0]
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute): // thousands of callers under -race on a busy machine
		t.Fatalf("joined upserts did not finish; %d waiting", b.Waiting())
	}
	return out, errs
}

func acct(i int) billsync.SObject {
	return billsync.SObject{"BillingId__c": fmt.Sprintf("acc_%04d", i), "Name": fmt.Sprintf("Account %d", i)}
}

// While the runner is wide, a level of 2,500 upserts does not leave in
// calls of 200 as it fills: it waits for every joined caller and goes as
// one ingest job. Each caller gets its own row's result, a refused row
// fails alone with its code, and no collections call is made.
func TestWideBacklogGoesAsOneIngestJob(t *testing.T) {
	t.Parallel()
	org := mock.NewOrg()
	org.FailRecord = func(_ string, r billsync.SObject) *billsync.FieldError {
		if r.Str("BillingId__c") == "acc_0007" {
			return &billsync.FieldError{StatusCode: "FIELD_CUSTOM_VALIDATION_EXCEPTION", Message: "name refused", Fields: []string{"Name"}}
		}
		return nil
	}
	fb := &fakeBulk{org: org}
	b := New(org, Options{MaxWait: 5 * time.Millisecond, Idle: func() bool { return true },
		BulkOptions: BulkOptions{Bulk: fb, Wide: func() bool { return true }, BulkLinger: time.Minute}})
	res, errs := upsertJoined(t, b, 2500, acct)
	for i, r := range res {
		if errs[i] != nil {
			t.Fatalf("record %d: %v", i, errs[i])
		}
		if i == 7 {
			if r.Success || r.Err() == nil || billsync.RemoteCode(r.Err()) != "FIELD_CUSTOM_VALIDATION_EXCEPTION" {
				t.Errorf("the refused row's result = %+v", r)
			}
			continue
		}
		if got := org.Get(r.ID).Str("BillingId__c"); !r.Success || got != fmt.Sprintf("acc_%04d", i) {
			t.Fatalf("record %d got the result of %q (%+v)", i, got, r)
		}
	}
	if got := fb.jobSizes(); !slices.Equal(got, []int{2500}) {
		t.Errorf("ingest jobs %v, want one of 2500", got)
	}
	if calls := org.Calls(); len(calls) != 1 {
		t.Errorf("org calls %+v; want only the job's own write", calls)
	}
	if jobs, recs, fell := b.BulkStats(); jobs != 1 || recs != 2500 || fell != 0 {
		t.Errorf("BulkStats = %d jobs, %d records, %d fell back", jobs, recs, fell)
	}
}

// Below the threshold, a backlog's writes stay on collections, 200 a
// call, even with a Bulk writer set and the runner wide.
func TestBelowThresholdStaysOnCollections(t *testing.T) {
	t.Parallel()
	org := mock.NewOrg()
	fb := &fakeBulk{org: org}
	b := New(org, Options{MaxWait: 5 * time.Millisecond, Idle: func() bool { return true },
		BulkOptions: BulkOptions{Bulk: fb, Wide: func() bool { return true }, BulkLinger: time.Minute}})
	res, errs := upsertJoined(t, b, 1000, acct)
	for i := range res {
		if errs[i] != nil || !res[i].Success {
			t.Fatalf("record %d: %+v %v", i, res[i], errs[i])
		}
	}
	if got := fb.jobSizes(); len(got) != 0 {
		t.Errorf("ingest jobs %v for 1,000 records under a threshold of 2,000", got)
	}
	if got := callSizes(org); !slices.Equal(got, []int{200, 200, 200, 200, 200}) {
		t.Errorf("calls %v, want 5 of 200", got)
	}
}

// Not wide (no backlog), full batches leave at 200 as they always did:
// the Bulk path never delays ordinary traffic.
func TestNotWideLeavesAt200(t *testing.T) {
	t.Parallel()
	org := mock.NewOrg()
	fb := &fakeBulk{org: org}
	b := New(org, Options{MaxWait: time.Hour, BulkOptions: BulkOptions{Bulk: fb, BulkThreshold: 300}})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if _, err := b.Upsert(context.Background(), "BillingAccount__c", "BillingId__c", []billsync.SObject{acct(i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait() // a full batch went without waiting MaxWait (an hour)
	if got := callSizes(org); !slices.Equal(got, []int{200}) || len(fb.jobSizes()) != 0 {
		t.Errorf("calls %v, jobs %v", got, fb.jobSizes())
	}
}

// Rows a job left unprocessed (it failed or was aborted) were not
// applied: they go through collections, and their callers get those
// results.
func TestUnprocessedRowsFallBackToCollections(t *testing.T) {
	t.Parallel()
	org := mock.NewOrg()
	fb := &fakeBulk{org: org, unprocessed: map[string]bool{}}
	for i := range 450 {
		fb.unprocessed[fmt.Sprintf("acc_%04d", 2*i)] = true
	}
	b := New(org, Options{MaxWait: 5 * time.Millisecond, Idle: func() bool { return true },
		BulkOptions: BulkOptions{Bulk: fb, BulkThreshold: 1000, Wide: func() bool { return true }, BulkLinger: time.Minute}})
	res, errs := upsertJoined(t, b, 1200, acct)
	for i, r := range res {
		if errs[i] != nil || !r.Success || org.Get(r.ID).Str("BillingId__c") != fmt.Sprintf("acc_%04d", i) {
			t.Fatalf("record %d: %+v %v", i, r, errs[i])
		}
	}
	if got := fb.jobSizes(); !slices.Equal(got, []int{1200}) {
		t.Errorf("jobs %v", got)
	}
	// The job's write, then 450 rows in calls of 200.
	if got := callSizes(org); !slices.Equal(got, []int{750, 200, 200, 50}) {
		t.Errorf("calls %v", got)
	}
	if _, _, fell := b.BulkStats(); fell != 450 {
		t.Errorf("%d rows fell back, want 450", fell)
	}
}

// Deletes never go through Bulk (the batcher's deletes name ids only).
func TestDeletesStayOnCollections(t *testing.T) {
	t.Parallel()
	org := mock.NewOrg()
	fb := &fakeBulk{org: org}
	b := New(org, Options{MaxWait: 5 * time.Millisecond, Idle: func() bool { return true },
		BulkOptions: BulkOptions{Bulk: fb, BulkThreshold: 10, Wide: func() bool { return true }}})
	res := upsertAll(t, b, 50)
	ids := make([]string, len(res))
	for i, r := range res {
		ids[i] = r.ID
	}
	if got := fb.jobSizes(); !slices.Equal(got, []int{50}) {
		t.Fatalf("upsert jobs %v", got)
	}
	if del, err := b.Delete(context.Background(), ids); err != nil || len(del) != 50 || !del[0].Success {
		t.Fatalf("delete = %v, %v", del, err)
	}
	if got := fb.jobSizes(); len(got) != 1 {
		t.Errorf("jobs after the delete %v", got)
	}
}

// A job's rows go grouped by their parent, so that children of one
// parent share a chunk and do not lock it against each other.
func TestParentKeyGroupsChildren(t *testing.T) {
	a := billsync.SObject{"BillingId__c": "t1", "BillingBalance__r": map[string]any{"BillingId__c": "bal_2"}}
	b := billsync.SObject{"BillingId__c": "t2", "BillingBalance__r": billsync.SObject{"BillingId__c": "bal_1"}}
	c := billsync.SObject{"BillingId__c": "t3", "BillingBalance__r": map[string]any{"BillingId__c": "bal_2"}}
	recs := []billsync.SObject{a, b, c}
	slices.SortStableFunc(recs, func(x, y billsync.SObject) int {
		kx, ky := parentKey(x), parentKey(y)
		switch {
		case kx < ky:
			return -1
		case kx > ky:
			return 1
		}
		return 0
	})
	if got := []string{recs[0].Str("BillingId__c"), recs[1].Str("BillingId__c"), recs[2].Str("BillingId__c")}; !slices.Equal(got, []string{"t2", "t1", "t3"}) {
		t.Errorf("order %v", got)
	}
}
