package engine

import (
	"context"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

// A Salesforce change the listener put in the record's own partition (it
// found no sync state: the answer of the record's first upsert was lost,
// or the store failed) must not be applied beside its account's billing
// changes. Here it runs while the account's billing change upserts the
// record: it read Salesforce before that write, and billing after it, so
// it would take Salesforce's old values for Salesforce's edits and write
// them to billing while the upsert wrote billing's to Salesforce — each
// side ending with the other's old values (the chaos test's crossing).
// It is queued again in the account's partition instead, and there, after
// the billing change, finds both sides agreeing.
func TestSalesforceChangeOutsideItsAccountPartitionMoves(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	// The first upsert reached Salesforce, its answer was lost: no state.
	b.putBilling(t, billsync.ObjectAccount, `{"id":"acc_1","code":"ACME","name":"Acme","emailAddress":"old@x.example","currency":"USD","version":1}`)
	sfID := b.org.Put("BillingAccount__c", billsync.SObject{"BillingId__c": "acc_1", "Name": "Acme", "Code__c": "ACME",
		"Email__c": "old@x.example", "Currency__c": "USD"})
	// Billing's edit of the email, and a sales user's of the name.
	edited := b.putBilling(t, billsync.ObjectAccount, `{"id":"acc_1","code":"ACME","name":"Acme","emailAddress":"new@x.example","currency":"USD","version":2}`)
	b.userEdit(sfID, "Name", "Sales name")
	b.org.Set(sfID, "LastModifiedDate", fixedNow.Format("2006-01-02T15:04:05.000-0700"))

	// The billing change, in the account's partition, runs between the
	// Salesforce change's read of Salesforce and its first read of billing.
	var billingSide *billsync.LogEntry
	b.billing.Hook = func(_ context.Context, c mock.BillingCall) error {
		if billingSide == nil && c.Method == "get" {
			billingSide = &billsync.LogEntry{}
			*billingSide = only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, jsonString(t, edited))))
		}
		return nil
	}
	inOwn := sfChange(billsync.ObjectAccount, sfID)
	inOwn.Partition = billsync.RecordPartition(sfID)
	le := only(t, b.engine.Process(ctx, inOwn))
	b.billing.Hook = nil
	// The billing change's full write, refused as the record was edited
	// since billsync created it, reconciled instead: what the record held
	// before is unknown, so the fields the sides differ on met the policy
	// (latest-wins: the sales user's edit is the later), recorded as a
	// conflict rather than overwritten.
	if billingSide == nil || billingSide.Outcome != billsync.OutcomeConflict {
		t.Fatalf("the billing change did not run beside it: %+v", billingSide)
	}
	if cs := b.store.ConflictList(); len(cs) != 1 || len(cs[0].Fields) != 2 || cs[0].Winner != billsync.SideSalesforce {
		t.Fatalf("conflicts %+v", cs)
	}
	assertAgree(t, b, sfID)
	if name := b.org.Get(sfID).Str("Name"); name != "Sales name" {
		t.Fatalf("the sales user's edit was overwritten: %q", name)
	}
	if le.Outcome != billsync.OutcomeSkipped || le.Reason != billsync.ReasonRequeued {
		t.Fatalf("salesforce change applied outside its account's partition: %+v", le)
	}

	queued := b.store.Queued()
	if len(queued) != 1 || queued[0].Partition != billsync.AccountPartition("acc_1") || queued[0].RecordID != sfID ||
		queued[0].Source != billsync.SideSalesforce || queued[0].Op != billsync.OpUpdated || len(b.wakes) != 1 {
		t.Fatalf("queued %+v, %d wakes", queued, len(b.wakes))
	}
	moved := queued[0]
	moved.Attempt = 1
	if le := only(t, b.engine.Process(ctx, moved)); le.Outcome == billsync.OutcomeFailed {
		t.Fatalf("moved change: %+v", le)
	}
	assertAgree(t, b, sfID)
	if name := b.billing.Entity(billsync.ObjectAccount, "acc_1").Str("name"); name != "Sales name" || len(b.store.ConflictList()) != 1 {
		t.Fatalf("billing name %q, %d conflicts", name, len(b.store.ConflictList()))
	}
	if err := b.store.Complete(ctx, moved.ID); err != nil {
		t.Fatal(err)
	}
	// Moved again (a crash before its outcome was recorded), it is not
	// queued a second time.
	if le := only(t, b.engine.Process(ctx, inOwn)); le.Reason != billsync.ReasonRequeued {
		t.Fatalf("%+v", le)
	}
	if queued := b.store.Queued(); len(queued) != 0 {
		t.Fatalf("queued twice: %+v", queued)
	}
}

// assertAgree fails unless billing and Salesforce hold the same name and
// email of account acc_1.
func assertAgree(t *testing.T, b *bundle, sfID string) {
	t.Helper()
	bill, rec := b.billing.Entity(billsync.ObjectAccount, "acc_1"), b.org.Get(sfID)
	if bill.Str("name") != rec.Str("Name") || bill.Str("emailAddress") != rec.Str("Email__c") {
		t.Fatalf("crossed: billing name %q email %q; salesforce name %q email %q",
			bill.Str("name"), bill.Str("emailAddress"), rec.Str("Name"), rec.Str("Email__c"))
	}
}

// A record created in Salesforce belongs to no account until billing has
// it: its change stays in the record's own partition and creates it.
func TestSalesforceCreateStaysInItsOwnPartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	sfID := b.org.Put("BillingAccount__c", billsync.SObject{"Name": "Made in Salesforce", "Code__c": "M", "Currency__c": "USD"})
	c := sfChange(billsync.ObjectAccount, sfID)
	c.Partition = billsync.RecordPartition(sfID)
	le := only(t, b.engine.Process(ctx, c))
	if le.Outcome != billsync.OutcomeSuccess || le.Operation != "create" || len(b.store.Queued()) != 0 {
		t.Fatalf("%+v, queued %+v", le, b.store.Queued())
	}
}
