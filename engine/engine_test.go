package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
)

type bundle struct {
	conflicts *memConflicts
	store     *memStore
	crm       *fakeCRM
	billing   *fakeBilling
	engine    *Engine
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{store: newMemStore(), crm: newFakeCRM(), billing: newFakeBilling(), conflicts: &memConflicts{}}
	e, err := New(Config{Settings: b.store, State: b.store, CRM: b.crm, Billing: b.billing, Conflicts: b.conflicts,
		Clock: func() time.Time { return fixedNow }, MaxAttempts: 3, Backoff: func(int) time.Duration { return time.Second }})
	if err != nil {
		t.Fatal(err)
	}
	b.engine = e
	return b
}

func ent(t *testing.T, js string) billsync.Entity {
	t.Helper()
	e, err := billsync.DecodeEntity([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func billingChange(t *testing.T, obj billsync.ObjectType, op billsync.Op, js string) billsync.Change {
	t.Helper()
	e := ent(t, js)
	part, err := billsync.PartitionOf(obj, e)
	if err != nil {
		t.Fatal(err)
	}
	return billsync.Change{ID: 1, Partition: part, Source: billsync.SideBilling, Object: obj, Op: op, RecordID: e.ID(),
		EventID: "webhook:x", Payload: json.RawMessage(js), Attempt: 1, EnqueuedAt: fixedNow}
}

func sfChange(obj billsync.ObjectType, id string) billsync.Change {
	return billsync.Change{ID: 2, Partition: billsync.RecordPartition(id), Source: billsync.SideSalesforce, Object: obj,
		Op: billsync.OpUpdated, RecordID: id, EventID: "event:y", Attempt: 1, EnqueuedAt: fixedNow}
}

func only(t *testing.T, r attempt.Result) billsync.LogEntry {
	t.Helper()
	if len(r.Entries) == 0 {
		t.Fatal("no log entry")
	}
	return r.Entries[len(r.Entries)-1]
}

const acc1 = `{"id":"acc_1","code":"ACME","name":"Acme","currency":"USD","version":1}`

func TestBillingAccountCreatesSalesforceRecord(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.engine.Process(context.Background(), billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
	le := only(t, r)
	if r.Disposition != attempt.Done || le.Outcome != billsync.OutcomeSuccess || le.Operation != "create" {
		t.Fatalf("result %+v", le)
	}
	rec := b.crm.byExt("BillingAccount__c", "acc_1")
	if rec == nil || rec.Str("Name") != "Acme" || rec.Str("LastSystemToUpdate__c") != "billing" || rec.Str("BillingSyncStatus__c") != "success" {
		t.Fatalf("salesforce record %v", rec)
	}
	st, err := b.store.SyncState(context.Background(), billsync.ObjectAccount, "acc_1")
	if err != nil || st.SalesforceID != rec.ID() || st.BillingVersion != 1 || st.Agreed["name"] != "Acme" {
		t.Fatalf("state %+v %v", st, err)
	}
}

// B6: an echo (same values, newer version) writes nothing; a stale event
// (not newer) is skipped.
func TestBillingEchoAndStale(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
	calls := len(b.crm.callLog())

	r := b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, strings.Replace(acc1, `"version":1`, `"version":2`, 1)))
	if le := only(t, r); le.Outcome != billsync.OutcomeSkipped || le.Reason != billsync.ReasonEcho {
		t.Fatalf("echo: %+v", le)
	}
	r = b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, strings.Replace(acc1, `"Acme"`, `"Old"`, 1)))
	if le := only(t, r); le.Outcome != billsync.OutcomeSkipped || le.Reason != billsync.ReasonStale {
		t.Fatalf("stale: %+v", le)
	}
	if got := len(b.crm.callLog()); got != calls {
		t.Fatalf("echo or stale event called Salesforce: %v", b.crm.callLog()[calls:])
	}
}

// D1: changes to different fields merge. Billing renames the account
// while a Salesforce user edits its code: each side gets the other's field
// and nothing is overwritten.
func TestDifferentFieldsMerge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.billing.put(ent(t, acc1))
	b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
	rec := b.crm.byExt("BillingAccount__c", "acc_1")
	rec["Code__c"] = "EDITED-IN-SF" // someone edits another field in Salesforce
	v2 := `{"id":"acc_1","code":"ACME","name":"Acme Corp","currency":"USD","version":2}`
	b.billing.put(ent(t, v2))
	r := b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, v2))
	if le := only(t, r); le.Outcome != billsync.OutcomeSuccess || le.Message != "to salesforce: name; to billing: code" {
		t.Fatalf("%+v", le)
	}
	rec = b.crm.byExt("BillingAccount__c", "acc_1")
	if rec.Str("Name") != "Acme Corp" || rec.Str("Code__c") != "EDITED-IN-SF" {
		t.Fatalf("record %v", rec)
	}
	got, _ := b.billing.Get(ctx, billsync.ObjectAccount, "acc_1")
	if got.Str("name") != "Acme Corp" || got.Str("code") != "EDITED-IN-SF" {
		t.Fatalf("billing %v", got)
	}
	if len(b.conflicts.list) != 0 {
		t.Fatalf("conflicts %+v", b.conflicts.list)
	}
}

// A5: switches off → skipped with the reason, nothing written.
func TestSwitchOffSkips(t *testing.T) {
	t.Parallel()
	for _, key := range []string{billsync.KeySyncEnabled, billsync.KeySyncBalances} {
		b := setup(t)
		ctx := context.Background()
		b.store.SetSetting(ctx, key, json.RawMessage(`false`), "test")
		r := b.engine.Process(ctx, billingChange(t, billsync.ObjectBalance, billsync.OpCreated,
			`{"id":"bal_1","accountId":"acc_1","name":"B","amount":"1.00","version":1}`))
		le := only(t, r)
		if le.Outcome != billsync.OutcomeSkipped || le.Reason != billsync.ReasonSwitchOff || !strings.Contains(le.Message, key) {
			t.Fatalf("%s: %+v", key, le)
		}
		if len(b.crm.callLog()) != 0 {
			t.Fatalf("wrote with %s off: %v", key, b.crm.callLog())
		}
	}
}

// B4: a transaction whose balance and account are not in Salesforce brings
// them along, parents first.
func TestChildBringsParentsAlong(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.billing.put(ent(t, acc1))
	b.billing.put(ent(t, `{"id":"bal_1","accountId":"acc_1","name":"Prepaid","amount":"100.00","currency":"USD","version":1}`))
	r := b.engine.Process(ctx, billingChange(t, billsync.ObjectBalanceTransaction, billsync.OpCreated,
		`{"id":"btx_1","balanceId":"bal_1","accountId":"acc_1","amount":"-12.345","appliedDate":"2026-11-01","version":1}`))
	if r.Disposition != attempt.Done || len(r.Entries) != 3 {
		t.Fatalf("entries %+v", r.Entries)
	}
	if got := b.crm.callLog(); strings.Join(got, ",") != "upsert BillingAccount__c,upsert BillingBalance__c,upsert BillingBalanceTransaction__c" {
		t.Fatalf("order %v", got)
	}
	tx := b.crm.byExt("BillingBalanceTransaction__c", "btx_1")
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
	b.crm.fail = func(string, billsync.SObject) *billsync.FieldError {
		return &billsync.FieldError{StatusCode: "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [Name]", Fields: []string{"Name"}}
	}
	r := b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
	if le := only(t, r); r.Disposition != attempt.Dead || le.ErrorCode != "REQUIRED_FIELD_MISSING" || le.Outcome != billsync.OutcomeDead {
		t.Fatalf("%v %+v", r.Disposition, le)
	}
	b.crm.fail = func(string, billsync.SObject) *billsync.FieldError {
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
	b.billing.put(ent(t, acc1))
	b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
	rec := b.crm.byExt("BillingAccount__c", "acc_1")
	rec["Name"] = "Acme (from SF)"
	rec["LastSystemToUpdate__c"] = "sfdc"

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
	b.billing.put(ent(t, acc1))
	bal := `{"id":"bal_1","accountId":"acc_1","name":"Prepaid","amount":"100.00","currency":"USD","version":1}`
	b.billing.put(ent(t, bal))
	b.engine.Process(ctx, billingChange(t, billsync.ObjectBalance, billsync.OpCreated, bal))
	txID := b.crm.put("BillingBalanceTransaction__c", billsync.SObject{"Amount__c": json.Number("25.5"), "Description__c": "top-up",
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
	if got := b.crm.get(txID); got.Str("BillingId__c") != le.BillingID || got.Str("LastSystemToUpdate__c") != "billing" {
		t.Fatalf("write-back %v", got)
	}
	// The webhook billing sends for the create is stale: no second write.
	before := len(b.crm.callLog())
	r = b.engine.Process(ctx, billingChange(t, billsync.ObjectBalanceTransaction, billsync.OpCreated, jsonString(t, created)))
	if le := only(t, r); le.Reason != billsync.ReasonStale || len(b.crm.callLog()) != before {
		t.Fatalf("%+v", le)
	}
}

func jsonString(t *testing.T, e billsync.Entity) string {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// H3: REQUEST_LIMIT_EXCEEDED pauses every Salesforce call; the change
// waits without spending its attempts.
func TestRequestLimitPausesSalesforceCalls(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.crm.callErr = &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 403, Code: "REQUEST_LIMIT_EXCEEDED", RateLimited: true,
		Message: "TotalRequests Limit exceeded.", Transient: true}
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
