package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mock"
)

func TestBillingAccountCreatesSalesforceRecord(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.engine.Process(context.Background(), billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
	le := only(t, r)
	if r.Disposition != attempt.Done || le.Outcome != billsync.OutcomeSuccess || le.Operation != "create" {
		t.Fatalf("result %+v", le)
	}
	rec := b.sf("BillingAccount__c", "acc_1")
	if rec == nil || rec.Str("Name") != "Acme" || rec.Str("LastSystemToUpdate__c") != "billing" || rec.Str("BillingSyncStatus__c") != "success" {
		t.Fatalf("salesforce record %v", rec)
	}
	st, err := b.store.SyncState(context.Background(), billsync.ObjectAccount, "acc_1")
	if err != nil || st.SalesforceID != rec.ID() || st.BillingVersion != 1 || st.Agreed["name"] != "Acme" {
		t.Fatalf("state %+v %v", st, err)
	}
}

// B6: an echo (same values, newer version) writes nothing; a stale event
// (not newer) is skipped, once billing, read again, confirms that its
// values are not billing's current ones.
func TestBillingEchoAndStale(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.putBilling(t, billsync.ObjectAccount, acc1)
	b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
	calls := len(b.org.CallLog())

	r := b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, strings.Replace(acc1, `"version":1`, `"version":2`, 1)))
	if le := only(t, r); le.Outcome != billsync.OutcomeSkipped || le.Reason != billsync.ReasonEcho {
		t.Fatalf("echo: %+v", le)
	}
	r = b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, strings.Replace(acc1, `"Acme"`, `"Old"`, 1)))
	if le := only(t, r); le.Outcome != billsync.OutcomeSkipped || le.Reason != billsync.ReasonStale {
		t.Fatalf("stale: %+v", le)
	}
	if got := len(b.org.CallLog()); got != calls {
		t.Fatalf("echo or stale event called Salesforce: %v", b.org.CallLog()[calls:])
	}
}

// D1: changes to different fields merge. Billing renames the account
// while a Salesforce user edits its code: each side gets the other's field
// and nothing is overwritten.
func TestDifferentFieldsMerge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.putBilling(t, billsync.ObjectAccount, acc1)
	b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
	rec := b.sf("BillingAccount__c", "acc_1")
	b.userEdit(rec.ID(), "Code__c", "EDITED-IN-SF") // someone edits another field in Salesforce
	v2 := `{"id":"acc_1","code":"ACME","name":"Acme Corp","currency":"USD","version":2}`
	b.putBilling(t, billsync.ObjectAccount, v2)
	r := b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, v2))
	if le := only(t, r); le.Outcome != billsync.OutcomeSuccess || le.Message != "the Salesforce record had changed, so it was read again: to salesforce: name; to billing: code" {
		t.Fatalf("%+v", le)
	}
	rec = b.sf("BillingAccount__c", "acc_1")
	if rec.Str("Name") != "Acme Corp" || rec.Str("Code__c") != "EDITED-IN-SF" {
		t.Fatalf("record %v", rec)
	}
	got, _ := b.billing.Get(ctx, billsync.ObjectAccount, "acc_1")
	if got.Str("name") != "Acme Corp" || got.Str("code") != "EDITED-IN-SF" {
		t.Fatalf("billing %v", got)
	}
	if cs := b.store.ConflictList(); len(cs) != 0 {
		t.Fatalf("conflicts %+v", cs)
	}
}

// A5: switches off → skipped with the reason, nothing written.
func TestSwitchOffSkips(t *testing.T) {
	t.Parallel()
	for _, key := range []string{billsync.KeySyncEnabled, billsync.KeySyncBalances} {
		b := setup(t)
		ctx := context.Background()
		b.set(t, key, `false`)
		r := b.engine.Process(ctx, billingChange(t, billsync.ObjectBalance, billsync.OpCreated,
			`{"id":"bal_1","accountId":"acc_1","name":"B","amount":"1.00","version":1}`))
		le := only(t, r)
		if le.Outcome != billsync.OutcomeSkipped || le.Reason != billsync.ReasonSwitchOff || !strings.Contains(le.Message, key) {
			t.Fatalf("%s: %+v", key, le)
		}
		if len(b.org.CallLog()) != 0 {
			t.Fatalf("wrote with %s off: %v", key, b.org.CallLog())
		}
	}
}

// B4: a transaction whose balance and account are not in Salesforce brings
// them along, parents first.
func TestChildBringsParentsAlong(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.putBilling(t, billsync.ObjectAccount, acc1)
	b.putBilling(t, billsync.ObjectBalance, `{"id":"bal_1","accountId":"acc_1","name":"Prepaid","amount":"100.00","currency":"USD","version":1}`)
	r := b.engine.Process(ctx, billingChange(t, billsync.ObjectBalanceTransaction, billsync.OpCreated,
		`{"id":"btx_1","balanceId":"bal_1","accountId":"acc_1","amount":"-12.345","appliedDate":"2026-11-01","version":1}`))
	if r.Disposition != attempt.Done || len(r.Entries) != 3 {
		t.Fatalf("entries %+v", r.Entries)
	}
	if got := b.org.CallLog(); strings.Join(got, ",") != "upsert BillingAccount__c,upsert BillingBalance__c,upsert BillingBalanceTransaction__c" {
		t.Fatalf("order %v", got)
	}
	tx := b.sf("BillingBalanceTransaction__c", "btx_1")
	if tx.Str("Amount__c") != "-12.35" || tx.Str("BillingBalance__c") == "" {
		t.Fatalf("txn %v", tx)
	}
	if le := only(t, r); !strings.Contains(le.Message, "rounded") {
		t.Fatalf("lossy rounding not logged: %q", le.Message)
	}
}

// G1, H3: a permanent Salesforce rejection is dead-lettered with
// Salesforce's code; a transient one is retried until the limit.
func TestSalesforceRejections(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.org.FailRecord = func(string, billsync.SObject) *billsync.FieldError {
		return &billsync.FieldError{StatusCode: "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [Name]", Fields: []string{"Name"}}
	}
	r := b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
	if le := only(t, r); r.Disposition != attempt.Dead || le.ErrorCode != "REQUIRED_FIELD_MISSING" || le.Outcome != billsync.OutcomeDead {
		t.Fatalf("%v %+v", r.Disposition, le)
	}
	b.org.FailRecord = func(string, billsync.SObject) *billsync.FieldError {
		return &billsync.FieldError{StatusCode: "UNABLE_TO_LOCK_ROW", Message: "unable to obtain exclusive access to this record", Transient: true}
	}
	c := billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1)
	r = b.engine.Process(ctx, c)
	if le := only(t, r); r.Disposition != attempt.Retry || le.Outcome != billsync.OutcomeRetrying || !r.RetryAt.Equal(fixedNow.Add(time.Second)) {
		t.Fatalf("%v %+v", r.Disposition, le)
	}
	c.Attempt = 3
	r = b.engine.Process(ctx, c)
	if le := only(t, r); r.Disposition != attempt.Dead || le.Reason != billsync.ReasonRetryLimit {
		t.Fatalf("%v %+v", r.Disposition, le)
	}
}

// C2, C4: a Salesforce edit updates billing with the changed fields only;
// its webhook echo is then stale.
func TestSalesforceEditUpdatesBilling(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.putBilling(t, billsync.ObjectAccount, acc1)
	b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
	rec := b.sf("BillingAccount__c", "acc_1")
	b.userEdit(rec.ID(), "Name", "Acme (from SF)")
	b.org.Set(rec.ID(), "LastSystemToUpdate__c", "sfdc")

	r := b.engine.Process(ctx, sfChange(billsync.ObjectAccount, rec.ID()))
	if le := only(t, r); le.Outcome != billsync.OutcomeSuccess || le.Direction != billsync.ToBilling || le.BillingID != "acc_1" {
		t.Fatalf("%+v", le)
	}
	got, _ := b.billing.Get(ctx, billsync.ObjectAccount, "acc_1")
	if got.Str("name") != "Acme (from SF)" || got.Version() != 2 {
		t.Fatalf("billing %v", got)
	}
	// The same event again (or a later one with nothing new) is an echo.
	r = b.engine.Process(ctx, sfChange(billsync.ObjectAccount, rec.ID()))
	if le := only(t, r); le.Reason != billsync.ReasonEcho {
		t.Fatalf("%+v", le)
	}
	// billing's webhook for our write comes back: stale.
	r = b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, jsonString(t, got)))
	if le := only(t, r); le.Reason != billsync.ReasonStale {
		t.Fatalf("%+v", le)
	}
}

// C3: a transaction created in Salesforce is created in billing and its
// billing id is written back.
func TestSalesforceCreateWritesBackBillingID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.putBilling(t, billsync.ObjectAccount, acc1)
	bal := `{"id":"bal_1","accountId":"acc_1","name":"Prepaid","amount":"100.00","currency":"USD","version":1}`
	b.putBilling(t, billsync.ObjectBalance, bal)
	b.engine.Process(ctx, billingChange(t, billsync.ObjectBalance, billsync.OpCreated, bal))
	txID := b.org.Put("BillingBalanceTransaction__c", billsync.SObject{"Amount__c": json.Number("25.5"), "Description__c": "top-up",
		"BillingBalance__r": map[string]any{"BillingId__c": "bal_1"}})

	r := b.engine.Process(ctx, sfChange(billsync.ObjectBalanceTransaction, txID))
	le := only(t, r)
	if le.Outcome != billsync.OutcomeSuccess || le.Operation != "create" || le.BillingID == "" {
		t.Fatalf("%+v", le)
	}
	created, err := b.billing.Get(ctx, billsync.ObjectBalanceTransaction, le.BillingID)
	if err != nil || created.Str("amount") != "25.50" || created.Str("balanceId") != "bal_1" || created.Str("accountId") != "acc_1" {
		t.Fatalf("billing %v %v", created, err)
	}
	if got := b.org.Get(txID); got.Str("BillingId__c") != le.BillingID || got.Str("LastSystemToUpdate__c") != "billing" {
		t.Fatalf("write-back %v", got)
	}
	// The webhook billing sends for the create is stale: no second write.
	before := len(b.org.CallLog())
	r = b.engine.Process(ctx, billingChange(t, billsync.ObjectBalanceTransaction, billsync.OpCreated, jsonString(t, created)))
	if le := only(t, r); le.Reason != billsync.ReasonStale || len(b.org.CallLog()) != before {
		t.Fatalf("%+v", le)
	}
}

// H3: REQUEST_LIMIT_EXCEEDED pauses every Salesforce call; the change
// waits without spending its attempts.
func TestRequestLimitPausesSalesforceCalls(t *testing.T) {
	t.Parallel()
	b := setup(t)
	limit := &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 403, Code: "REQUEST_LIMIT_EXCEEDED", RateLimited: true,
		Message: "TotalRequests Limit exceeded.", Transient: true}
	b.org.Hook = func(context.Context, mock.Call) error { return limit }
	c := billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1)
	c.Attempt = 99 // far past the limit: still not dead-lettered
	r := b.engine.Process(context.Background(), c)
	if le := only(t, r); r.Disposition != attempt.Retry || le.ErrorCode != "REQUEST_LIMIT_EXCEEDED" || !r.RetryAt.Equal(fixedNow.Add(time.Minute)) {
		t.Fatalf("%v %v %+v", r.Disposition, r.RetryAt, le)
	}
	if got := b.engine.PausedUntil(); !got.Equal(fixedNow.Add(time.Minute)) {
		t.Fatalf("PausedUntil = %v", got)
	}
}
