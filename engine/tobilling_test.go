package engine

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mock"
)

// A5, G2: a Salesforce change while the switch is off is skipped under
// both ids; an unmapped object or an id that is not one is refused.
func TestSalesforceChangeSkips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	sfID := b.synced(t)
	b.set(t, billsync.KeySyncAccounts, `false`)
	if le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectAccount, sfID))); le.Reason != billsync.ReasonSwitchOff || le.BillingID != "acc_1" {
		t.Errorf("switch off: %+v", le)
	}
	b.set(t, billsync.KeySyncAccounts, `true`)
	if le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectQuote, sfID))); le.Reason != billsync.ReasonUnsupported {
		t.Errorf("quote from Salesforce: %+v", le)
	}
	r := b.engine.Process(ctx, sfChange(billsync.ObjectAccount, "not-an-id"))
	if le := only(t, r); r.Disposition != attempt.Dead || le.Operation != "read" {
		t.Errorf("bad id: %v %+v", r.Disposition, le)
	}
	b.org.Remove(sfID)
	if le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectAccount, sfID))); le.Reason != billsync.ReasonNotFound {
		t.Errorf("deleted before it was read: %+v", le)
	}
	c := sfChange(billsync.ObjectAccount, sfID)
	c.Source = "elsewhere"
	if le := only(t, b.engine.Process(ctx, c)); le.Reason != billsync.ReasonUnsupported {
		t.Errorf("unknown source: %+v", le)
	}
}

// A store started afresh adopts a record linked in Salesforce: the
// billing record is the base, so only what Salesforce changed flows.
func TestSalesforceChangeAdoptsLinkedRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.putBilling(t, billsync.ObjectAccount, acc1)
	sfID := b.org.Put("BillingAccount__c", billsync.SObject{"BillingId__c": "acc_1", "Name": "Acme", "Code__c": "ACME-SF", "Currency__c": "USD"})
	le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectAccount, sfID)))
	if le.Outcome != billsync.OutcomeSuccess || le.Message != "to billing: code" {
		t.Fatalf("%+v", le)
	}
	if got := b.billing.Entity(billsync.ObjectAccount, "acc_1"); got.Str("code") != "ACME-SF" || got.Str("name") != "Acme" {
		t.Fatalf("billing %v", got)
	}
	// Linked in Salesforce to a billing record that does not exist.
	ghost := b.org.Put("BillingAccount__c", billsync.SObject{"BillingId__c": "acc_ghost", "Name": "Ghost"})
	if r := b.engine.Process(ctx, sfChange(billsync.ObjectAccount, ghost)); r.Disposition != attempt.Dead || only(t, r).Reason != billsync.ReasonValidation {
		t.Fatalf("ghost: %+v", r)
	}
}

// C3: a create whose write-back failed is finished by the next change of
// the record, before anything else.
func TestSalesforceChangeFinishesWriteBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	sfID := b.org.Put("BillingAccount__c", billsync.SObject{"Name": "Made in Salesforce", "Code__c": "M"})
	b.org.FailRecord = func(object string, r billsync.SObject) *billsync.FieldError {
		if r.Str("BillingId__c") != "" {
			return &billsync.FieldError{StatusCode: "UNABLE_TO_LOCK_ROW", Message: "locked"}
		}
		return nil
	}
	r := b.engine.Process(ctx, sfChange(billsync.ObjectAccount, sfID))
	if r.Disposition != attempt.Retry || len(b.billing.Calls()) != 1 {
		t.Fatalf("failed write-back: %v %+v", r.Disposition, r.Entries)
	}
	b.org.FailRecord = nil
	b.userEdit(sfID, "Name", "Renamed meanwhile")
	le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectAccount, sfID)))
	billingID := b.org.Get(sfID).Str("BillingId__c")
	if le.Outcome != billsync.OutcomeSuccess || billingID == "" || b.billing.Entity(billsync.ObjectAccount, billingID).Str("name") != "Renamed meanwhile" {
		t.Fatalf("%+v, record %v", le, b.org.Get(sfID))
	}
	for _, c := range b.billing.Calls()[1:] {
		if c.Method == "create" {
			t.Fatalf("created twice: %+v", b.billing.Calls())
		}
	}
}

// C3, B4: a child created in Salesforce under a parent not yet in billing
// waits for it.
func TestSalesforceCreateWaitsForItsParent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bal := b.org.Put("BillingBalance__c", billsync.SObject{"Name": "New balance"})
	tx := b.org.Put("BillingBalanceTransaction__c", billsync.SObject{"Amount__c": json.Number("3"), "BillingBalance__c": bal})
	r := b.engine.Process(context.Background(), sfChange(billsync.ObjectBalanceTransaction, tx))
	if le := only(t, r); r.Disposition != attempt.Retry || le.Reason != billsync.ReasonWaitingParent || len(b.billing.Calls()) != 0 {
		t.Fatalf("%v %+v", r.Disposition, le)
	}
}

// C3: a billing create that fails marks the Salesforce record.
func TestSalesforceCreateFailureMarksTheRecord(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sfID := b.org.Put("BillingAccount__c", billsync.SObject{"Name": "N"})
	b.billing.Hook = func(context.Context, mock.BillingCall) error {
		return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 422, Code: "invalid_currency", Message: "currency required"}
	}
	r := b.engine.Process(context.Background(), sfChange(billsync.ObjectAccount, sfID))
	if le := only(t, r); r.Disposition != attempt.Dead || le.ErrorCode != "invalid_currency" || b.org.Get(sfID).Str("BillingSyncStatus__c") != "failed" {
		t.Fatalf("%v %+v %v", r.Disposition, le, b.org.Get(sfID))
	}
}

// C2, D4: a billing record that moved on between read and write is read
// again on retry; a billing record gone is skipped.
func TestSalesforceChangeBillingEdges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	sfID := b.synced(t)
	b.userEdit(sfID, "Name", "From Salesforce")
	b.billing.Hook = func(ctx context.Context, c mock.BillingCall) error {
		if c.Method == "update" {
			return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 409, Code: "version_conflict"}
		}
		return nil
	}
	r := b.engine.Process(ctx, sfChange(billsync.ObjectAccount, sfID))
	if le := only(t, r); r.Disposition != attempt.Retry || le.ErrorCode != "version_conflict" {
		t.Fatalf("409: %v %+v", r.Disposition, le)
	}
	b.billing.Hook = func(ctx context.Context, c mock.BillingCall) error { return errors.New("down") }
	if le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectAccount, sfID))); le.Operation != "read" || le.BillingID != "acc_1" {
		t.Fatalf("unreadable: %+v", le)
	}
	b.billing.Hook = nil
	if err := b.billing.Delete(ctx, billsync.ObjectAccount, "acc_1"); err != nil {
		t.Fatal(err)
	}
	if le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectAccount, sfID))); le.Reason != billsync.ReasonNotFound {
		t.Fatalf("gone: %+v", le)
	}
}

// D3: a queued decision on a conflict that is no longer held, or whose
// record is gone, settles without writing.
func TestResolveEdges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, sfID, fromBilling, _ := conflictSetup(t, billsync.PolicyManual, fixedNow, fixedNow)
	b.engine.Process(ctx, fromBilling)
	held := b.store.ConflictList()[0]
	if _, err := b.engine.ResolveConflict(ctx, 99, billsync.SideBilling, "ops"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("unknown conflict: %v", err)
	}
	if _, err := b.engine.ResolveConflict(ctx, held.ID, billsync.SideBilling, "ops"); err != nil {
		t.Fatal(err)
	}
	decision := b.store.Queued()[0]
	bad := decision
	bad.Payload = []byte(`{}`)
	if r := b.engine.Process(ctx, bad); r.Disposition != attempt.Dead {
		t.Errorf("malformed decision: %+v", r)
	}
	// The record is deleted in Salesforce before the decision applies.
	b.org.Remove(sfID)
	le := only(t, b.engine.Process(ctx, decision))
	if le.Reason != billsync.ReasonNotFound || b.store.ConflictList()[0].Status != billsync.ConflictResolved {
		t.Fatalf("%+v %+v", le, b.store.ConflictList()[0])
	}
	// Applied twice (a redelivery): already resolved.
	if le := only(t, b.engine.Process(ctx, decision)); le.Reason != billsync.ReasonStale {
		t.Fatalf("twice: %+v", le)
	}
	noQueue, _ := New(Config{Settings: b.store, State: b.store, Conflicts: b.store, CRM: b.org, Billing: b.billing})
	if _, err := noQueue.ResolveConflict(ctx, held.ID, billsync.SideBilling, "ops"); billsync.ErrorCode(err) != billsync.EUNAVAILABLE {
		t.Errorf("without a queue: %v", err)
	}
}

// D3: a decision on a conflict whose billing record is gone closes it.
func TestResolveRecordGoneFromBilling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, _, fromBilling, _ := conflictSetup(t, billsync.PolicyManual, fixedNow, fixedNow)
	b.engine.Process(ctx, fromBilling)
	held := b.store.ConflictList()[0]
	if _, err := b.engine.ResolveConflict(ctx, held.ID, billsync.SideSalesforce, "ops"); err != nil {
		t.Fatal(err)
	}
	if err := b.billing.Delete(ctx, billsync.ObjectAccount, "acc_1"); err != nil {
		t.Fatal(err)
	}
	le := only(t, b.engine.Process(ctx, b.store.Queued()[0]))
	if c := b.store.ConflictList()[0]; le.Reason != billsync.ReasonNotFound || c.Status != billsync.ConflictResolved || c.Winner != billsync.SideSalesforce {
		t.Fatalf("%+v %+v", le, c)
	}
}
