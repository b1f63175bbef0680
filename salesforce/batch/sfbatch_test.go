package batch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

// callSizes is the records (written or asked for) of each call to org.
func callSizes(org *mock.Org) []int {
	var out []int
	for _, c := range org.Calls() {
		out = append(out, c.Records)
	}
	return out
}

// upsertAll has n goroutines upsert one record each, as n partitions do.
// The batcher is held until all n wait, so how they are cut into calls
// does not depend on how fast the goroutines start on a loaded machine.
func upsertAll(t *testing.T, b *Batcher, n int) []billsync.SaveResult {
	t.Helper()
	release := b.Hold()
	defer release()
	out := make([]billsync.SaveResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := b.Upsert(context.Background(), "BillingAccount__c", "BillingId__c",
				[]billsync.SObject{{"BillingId__c": fmt.Sprintf("acc_%04d", i)}})
			errs[i] = err
			if err == nil {
				out[i] = res[0]
			}
		}()
	}
	for deadline := time.Now().Add(15 * time.Second); b.Waiting() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests waiting after 15 s", b.Waiting(), n)
		}
	}
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	return out
}

// 1,000 concurrent single-record upserts cost 5 calls of 200, and each
// caller gets its own record's result.
func TestMergesIntoCollections(t *testing.T) {
	t.Parallel()
	org := mock.NewOrg()
	b := New(org, Options{MaxWait: 200 * time.Millisecond})
	res := upsertAll(t, b, 1000)
	for i, r := range res {
		if got, want := org.Get(r.ID).Str("BillingId__c"), fmt.Sprintf("acc_%04d", i); !r.Success || got != want {
			t.Fatalf("record %d got the result of %q (%+v), want its own", i, got, r)
		}
	}
	if got := callSizes(org); !slices.Equal(got, []int{200, 200, 200, 200, 200}) {
		t.Fatalf("calls %v, want 5 of 200", got)
	}
}

// A rejected record fails alone, with its classification; the others land.
func TestOneBadRecordFailsAlone(t *testing.T) {
	t.Parallel()
	// The org classifies each failure as the REST client does; the
	// classification rides along with the result.
	org := &mock.Org{FailRecord: func(_ string, r billsync.SObject) *billsync.FieldError {
		switch r.Str("BillingId__c") {
		case "acc_0007":
			return &billsync.FieldError{StatusCode: "STRING_TOO_LONG", Message: "too long", Fields: []string{"Name"}}
		case "acc_0009":
			return &billsync.FieldError{StatusCode: "UNABLE_TO_LOCK_ROW", Message: "unable to obtain exclusive access to this record"}
		}
		return nil
	}}
	b := New(org, Options{MaxWait: 100 * time.Millisecond})
	res := upsertAll(t, b, 200)
	bad := 0
	for i, r := range res {
		if !r.Success {
			bad++
			ok := i == 7 && billsync.RemoteCode(r.Err()) == "STRING_TOO_LONG" && !billsync.IsTransient(r.Err()) ||
				i == 9 && billsync.RemoteCode(r.Err()) == "UNABLE_TO_LOCK_ROW" && billsync.IsTransient(r.Err())
			if !ok {
				t.Fatalf("record %d failed: %+v", i, r)
			}
		}
	}
	if bad != 2 || len(org.Calls()) != 1 {
		t.Fatalf("%d failed in %v calls", bad, callSizes(org))
	}
}

// A whole-call failure reaches every caller, with its code.
func TestCallFailureReachesEveryone(t *testing.T) {
	t.Parallel()
	org := &mock.Org{Hook: func(context.Context, mock.Call) error {
		return &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 503, Code: "SERVER_UNAVAILABLE", Transient: true}
	}}
	b := New(org, Options{MaxWait: 50 * time.Millisecond})
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.Upsert(context.Background(), "BillingAccount__c", "BillingId__c", []billsync.SObject{{"BillingId__c": fmt.Sprint(i)}})
			var re *billsync.RemoteError
			if !errors.As(err, &re) || re.Code != "SERVER_UNAVAILABLE" || !billsync.IsTransient(err) {
				t.Errorf("caller %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
}

// A lone request goes after MaxWait, not later; two requests for the same
// record never share a call.
func TestLoneRequestAndDuplicates(t *testing.T) {
	t.Parallel()
	org := mock.NewOrg()
	b := New(org, Options{MaxWait: 5 * time.Millisecond})
	if _, err := b.Upsert(context.Background(), "BillingAccount__c", "BillingId__c", []billsync.SObject{{"BillingId__c": "a"}}); err != nil {
		t.Fatal(err)
	}
	res, err := b.Upsert(context.Background(), "BillingAccount__c", "BillingId__c", []billsync.SObject{{"BillingId__c": "x"}, {"BillingId__c": "x"}, {"BillingId__c": "y"}})
	if err != nil || len(res) != 3 || !res[0].Success || !res[1].Success {
		t.Fatalf("%+v %v", res, err)
	}
	if got := callSizes(org); len(got) != 3 || got[1] != 2 || got[2] != 1 {
		t.Fatalf("calls %v: the duplicate should wait for the next call", got)
	}
}

// Reads of one object and field list share queries; a missing record is
// absent, not an error.
func TestReadsMerge(t *testing.T) {
	t.Parallel()
	org := mock.NewOrg()
	ids := make([]string, 50)
	for i := range 49 {
		ids[i] = org.Put("Account", billsync.SObject{"Name": fmt.Sprint("n-", i)})
	}
	ids[49] = "001999999999999AAA"
	b := New(org, Options{MaxWait: 100 * time.Millisecond})
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows, err := b.RetrieveRecords(context.Background(), "Account", []string{"Id", "Name"}, []string{id})
			if err != nil {
				t.Error(err)
				return
			}
			if i == 49 && len(rows) != 0 || i != 49 && (len(rows) != 1 || rows[0].ID() != id) {
				t.Errorf("read %d: %v", i, rows)
			}
		}()
	}
	wg.Wait()
	if got := callSizes(org); len(got) != 1 || got[0] != 50 {
		t.Fatalf("calls %v, want one of 50", got)
	}
}
