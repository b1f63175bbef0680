package engine

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/emulate/salesforce/sfemutest"
	"github.com/billsync/billsync/salesforce/bulk"
)

// An initial-load dry run over an org above the Bulk threshold reads
// Salesforce through one query job, not query pages, and reports the same
// differences as the REST read.
func TestResyncSnapshotReadsThroughBulkAboveThreshold(t *testing.T) {
	org := sfemutest.Start(t, sfemu.Options{})
	emu, rc := org.Emu, org.Integration(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	b := setup(t)
	b.putBilling(t, billsync.ObjectAccount, acc1)
	b.putBilling(t, billsync.ObjectAccount, `{"id":"acc_2","code":"BETA","name":"Beta, \"the\" second","currency":"EUR","version":1}`)
	b.putBilling(t, billsync.ObjectAccount, `{"id":"acc_3","code":"GAMMA","name":"Gamma","currency":"GBP","version":1}`)
	// Salesforce: one twin that agrees, one whose name differs, one linked
	// only by code, and one the billing side does not know.
	res, err := rc.Upsert(ctx, "BillingAccount__c", "BillingId__c", []billsync.SObject{
		{"BillingId__c": "acc_1", "Name": "Acme", "Code__c": "ACME", "Currency__c": "USD"},
		{"BillingId__c": "acc_2", "Name": "Beta renamed", "Code__c": "BETA", "Currency__c": "EUR", "Email__c": "beta@example.com"},
		{"BillingId__c": "sf_only", "Name": "Stray", "Code__c": "STRAY", "Currency__c": "USD"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.Success {
			t.Fatalf("seeding Salesforce: %+v", r)
		}
	}
	if _, err := rc.Create(ctx, "BillingAccount__c", []billsync.SObject{{"Name": "Gamma", "Code__c": "GAMMA", "Currency__c": "GBP"}}); err != nil {
		t.Fatal(err)
	}

	dryRun := func(crm billsync.CRM) *billsync.ResyncReport {
		t.Helper()
		e, err := New(Config{Settings: b.store, State: b.store, Conflicts: b.store, Queue: b.store, Held: b.store, CRM: crm,
			Billing: b.billing, Logger: slog.New(slog.DiscardHandler), Clock: func() time.Time { return fixedNow }})
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.StartResync(ctx, billsync.ResyncRequest{Object: billsync.ObjectAccount, Initial: true, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		return waitResync(t, e, r.ID)
	}

	viaREST := dryRun(rc)
	queries, jobs := emu.Calls()["query"], emu.BulkJobs()["query"]
	bc := bulk.New(rc, bulk.Options{Threshold: 2, PollMin: 5 * time.Millisecond, PollMax: 50 * time.Millisecond})
	viaBulk := dryRun(bulk.NewCRM(rc, bc))
	t.Logf("REST: %d differences %+v", viaREST.Differences, viaREST.Diffs)

	if n := emu.BulkJobs()["query"] - jobs; n != 1 {
		t.Errorf("the bulk read ran %d query jobs, want 1", n)
	}
	if n := emu.Calls()["query"] - queries; n != 1 {
		t.Errorf("the bulk read made %d REST query calls, want only the count", n)
	}
	if viaREST.State != "done" || viaBulk.State != "done" {
		t.Fatalf("resyncs ended %q (%s) and %q (%s)", viaREST.State, viaREST.Error, viaBulk.State, viaBulk.Error)
	}
	if viaREST.Differences == 0 {
		t.Fatalf("the REST dry run found no differences: %+v", viaREST)
	}
	if viaBulk.Error != viaREST.Error || viaBulk.Differences != viaREST.Differences || !reflect.DeepEqual(viaBulk.Diffs, viaREST.Diffs) {
		t.Errorf("bulk dry run differs from REST:\nREST %+v\nbulk %+v", viaREST, viaBulk)
	}
}

// A resync queues its repairs once every object is compared, a
// partition's side by side and parents first: a run claimed from them
// carries an account with its balance and transactions, so the runs in
// flight move through the objects together (each object's writes then
// gather into one Bulk job) instead of runs of accounts alone.
func TestResyncQueuesAPartitionsRepairsTogether(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	for _, n := range []string{"1", "2"} {
		b.putBilling(t, billsync.ObjectAccount, `{"id":"acc_`+n+`","code":"C`+n+`","name":"Acc `+n+`","currency":"USD","version":1}`)
		b.putBilling(t, billsync.ObjectBalance, `{"id":"bal_`+n+`","accountId":"acc_`+n+`","name":"Prepaid","amount":"5.00","currency":"USD","version":1}`)
		b.putBilling(t, billsync.ObjectBalanceTransaction, `{"id":"btx_`+n+`","balanceId":"bal_`+n+`","accountId":"acc_`+n+`","amount":"1.00","description":"t","appliedDate":"2026-11-01","version":1}`)
	}
	r, err := b.engine.StartResync(ctx, billsync.ResyncRequest{Initial: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep := waitResync(t, b.engine, r.ID); rep.State != "done" || rep.Repairs != 6 {
		t.Fatalf("report %+v", rep)
	}
	var got []string
	for _, c := range b.store.Queued() {
		got = append(got, c.Partition+" "+c.RecordID)
	}
	want := []string{"account:acc_1 acc_1", "account:acc_1 bal_1", "account:acc_1 btx_1",
		"account:acc_2 acc_2", "account:acc_2 bal_2", "account:acc_2 btx_2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("queued in the order\n%v\nwant\n%v", got, want)
	}
	if n := len(b.wakes); n != 2 {
		// One wake for the repairs, one as the resync ends.
		t.Errorf("%d wakes, want 2: the repairs are queued together", n)
	}
}

// Repairs of account partitions are queued side by side, and those of
// records known only in Salesforce after them in plan order, so a
// Salesforce-only parent's repair still precedes its children's whatever
// their ids.
func TestByAccountKeepsParentsFirst(t *testing.T) {
	mk := func(part, rec string) *billsync.Change { return &billsync.Change{Partition: part, RecordID: rec} }
	in := []*billsync.Change{mk("account:a2", "a2"), mk("sfrecord:a0Z9", "sf-acc"), mk("account:a1", "a1"),
		mk("account:a2", "b2"), mk("sfrecord:a0A1", "sf-bal"), mk("account:a1", "b1")}
	var got []string
	for _, c := range byAccount(in) {
		got = append(got, c.RecordID)
	}
	if want := []string{"a1", "b1", "a2", "b2", "sf-acc", "sf-bal"}; !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
