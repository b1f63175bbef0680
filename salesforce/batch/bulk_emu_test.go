package batch

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/emulate/salesforce/sfemutest"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/salesforce/bulk"
	"github.com/billsync/billsync/salesforce/rest"
)

// emuOrg starts a Salesforce emulator and returns it with REST clients
// for the integration user and a sales user.
func emuOrg(t *testing.T) (*sfemu.Emulator, *rest.Client, *rest.Client) {
	t.Helper()
	org := sfemutest.Start(t, sfemu.Options{})
	return org.Emu, org.Integration(t), org.Sales(t)
}

// sendHeld has the batcher write recs, one request each, held until all
// wait so they go in one flush; it returns each request's result.
func sendHeld(t *testing.T, b *Batcher, n int, write func(i int) ([]billsync.SaveResult, error)) []billsync.SaveResult {
	t.Helper()
	release := b.Hold()
	defer release()
	out := make([]billsync.SaveResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := write(i)
			if err != nil || len(res) != 1 {
				t.Errorf("write %d: %v %v", i, res, err)
				return
			}
			out[i] = res[0]
		})
	}
	for deadline := time.Now().Add(15 * time.Second); b.Waiting() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests waiting", b.Waiting(), n)
		}
	}
	release()
	wg.Wait()
	return out
}

// A sales user edits a record while billsync's update of it sits in a
// Bulk job. The job's rows carry the revision billsync decided from, as
// collections writes do, and the trigger checks it when the row is
// applied: that row is refused as stale (the engine reads it again and
// reconciles) and the user's edit stands; the other rows land. The edit
// is made by the emulator's write hook after the job was uploaded and
// closed and before its rows are applied, so the order is certain.
func TestBulkUpdateKeepsTheRevisionGuard(t *testing.T) {
	t.Parallel()
	e, rc, sales := emuOrg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seeded, err := rc.Upsert(ctx, "BillingAccount__c", "BillingId__c", []billsync.SObject{
		{"BillingId__c": "acc_1", "Name": "One"}, {"BillingId__c": "acc_2", "Name": "Two"}, {"BillingId__c": "acc_3", "Name": "Three"}})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	e.SetBeforeWrite(func(w sfemu.Write) {
		if w.Op != "update" || !w.Integration {
			return
		}
		once.Do(func() {
			if res, err := sales.Update(ctx, "BillingAccount__c", []billsync.SObject{{"Id": seeded[1].ID, "Name": "Two, as the user wrote it"}}); err != nil || !res[0].Success {
				t.Errorf("the user's edit: %v %v", res, err)
			}
		})
	})
	bc := bulk.New(rc, bulk.Options{PollMin: 5 * time.Millisecond, PollMax: 50 * time.Millisecond})
	b := New(rc, Options{MaxWait: 5 * time.Millisecond, BulkOptions: BulkOptions{Bulk: bc, BulkThreshold: 3}})
	got := sendHeld(t, b, 3, func(i int) ([]billsync.SaveResult, error) {
		return b.Update(ctx, "BillingAccount__c", []billsync.SObject{{"Id": seeded[i].ID, "Name": "billsync's value",
			mapping.FieldRevision: mapping.RevisionValue("0")}})
	})
	if jobs, _, _ := b.BulkStats(); jobs != 1 || e.BulkJobs()["ingest"] != 1 {
		t.Fatalf("bulk jobs: batcher %d, emulator %d; want the updates in one ingest job", jobs, e.BulkJobs()["ingest"])
	}
	if !got[0].Success || !got[2].Success {
		t.Errorf("the unedited records' rows: %+v %+v", got[0], got[2])
	}
	if got[1].Success || !mapping.IsStaleRevision(got[1].Err()) {
		t.Errorf("the edited record's row = %+v; want it refused as stale", got[1])
	}
	if rec, _ := e.Record("BillingAccount__c", seeded[1].ID); rec.Str("Name") != "Two, as the user wrote it" {
		t.Errorf("the user's edit was overwritten: %v", rec.Str("Name"))
	}
	if rec, _ := e.Record("BillingAccount__c", seeded[0].ID); rec.Str("Name") != "billsync's value" {
		t.Errorf("an unedited record: %v", rec.Str("Name"))
	}
}

// A record created by a user while billsync's insert of the same
// billing record sits in a Bulk job is not doubled or overwritten: the
// external id is unique, so the row fails DUPLICATE_VALUE (the engine
// then reads that record and reconciles) and the others land.
func TestBulkInsertRefusesATwinCreatedMeanwhile(t *testing.T) {
	t.Parallel()
	e, rc, sales := emuOrg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var once sync.Once
	e.SetBeforeWrite(func(w sfemu.Write) {
		if w.Op != "create" || !w.Integration {
			return
		}
		once.Do(func() {
			if res, err := sales.Create(ctx, "BillingAccount__c", []billsync.SObject{{"BillingId__c": "acc_2", "Name": "The user's own"}}); err != nil || !res[0].Success {
				t.Errorf("the user's create: %v %v", res, err)
			}
		})
	})
	bc := bulk.New(rc, bulk.Options{PollMin: 5 * time.Millisecond, PollMax: 50 * time.Millisecond})
	b := New(rc, Options{MaxWait: 5 * time.Millisecond, BulkOptions: BulkOptions{Bulk: bc, BulkThreshold: 3}})
	names := []string{"acc_1", "acc_2", "acc_3"}
	got := sendHeld(t, b, 3, func(i int) ([]billsync.SaveResult, error) {
		return b.Create(ctx, "BillingAccount__c", []billsync.SObject{{"BillingId__c": names[i], "Name": "billsync's " + names[i]}})
	})
	if e.BulkJobs()["ingest"] != 1 || !got[0].Success || !got[2].Success {
		t.Fatalf("jobs %d, results %+v", e.BulkJobs()["ingest"], got)
	}
	if got[1].Success || billsync.RemoteCode(got[1].Err()) != "DUPLICATE_VALUE" {
		t.Errorf("the twin's row = %+v; want DUPLICATE_VALUE", got[1])
	}
	n := 0
	for _, r := range e.Records("BillingAccount__c") {
		if r.Str("BillingId__c") == "acc_2" {
			n++
			if r.Str("Name") != "The user's own" {
				t.Errorf("the user's record was overwritten: %v", r)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d records carry acc_2", n)
	}
}
