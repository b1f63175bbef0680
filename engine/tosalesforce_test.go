package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/mock"
)

// B6, D1: what a billing change calls for, from its version, the sync
// state and its values.
func TestClassifyBillingChange(t *testing.T) {
	t.Parallel()
	agreed := map[string]string{"name": "Acme"}
	linked := &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: "acc_1", SalesforceID: "a01000000000001AAA", BillingVersion: 3,
		Agreed: agreed, UpdatedAt: fixedNow}
	notInSF := &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: "acc_1", BillingVersion: 3, Agreed: agreed}
	at := func(v string) billsync.Entity { return ent(t, `{"id":"acc_1","version":`+v+`}`) }
	twin := ent(t, `{"id":"acc_1","version":1,"customFields":{"salesforceId":"a01000000000009AAA"}}`)
	before, after := fixedNow.Add(-time.Second), fixedNow.Add(time.Second)
	for _, tc := range []struct {
		name     string
		enqueued time.Time
		ent      billsync.Entity
		st       *billsync.SyncState
		vals     mapping.Values
		want     billingAction
		reason   string
	}{
		{"new to billsync", after, at("1"), nil, mapping.Values{"name": "Acme"}, billingUpsert, ""},
		{"created from Salesforce, not linked yet", after, twin, nil, nil, billingLinkTwin, ""},
		{"a repeat of the applied version", after, at("3"), linked, agreed, billingSkip, billsync.ReasonStale},
		{"older, arrived after the newer was applied", after, at("2"), linked, agreed, billingSkip, billsync.ReasonStale},
		{"older, waiting while the newer was applied", before, at("2"), linked, agreed, billingSkip, billsync.ReasonCoalesced},
		{"older, no enqueue time", time.Time{}, at("2"), linked, agreed, billingSkip, billsync.ReasonStale},
		{"a repeat of the applied version, other values", after, at("3"), linked, mapping.Values{"name": "Acme Ltd"}, billingReread, billsync.ReasonStale},
		{"older, other values", after, at("2"), linked, mapping.Values{"name": "Old"}, billingReread, billsync.ReasonStale},
		{"older, waiting, other values", before, at("2"), linked, mapping.Values{"name": "Old"}, billingReread, billsync.ReasonCoalesced},
		{"older, other values, never reached Salesforce", after, at("2"), notInSF, mapping.Values{"name": "Old"}, billingSkip, billsync.ReasonStale},
		{"newer, values agreed", after, at("4"), linked, mapping.Values{"name": "Acme"}, billingEcho, ""},
		{"newer, values changed", after, at("4"), linked, mapping.Values{"name": "Acme Ltd"}, billingReconcile, ""},
		{"newer, never reached Salesforce", after, at("4"), notInSF, mapping.Values{"name": "Acme Ltd"}, billingUpsert, ""},
	} {
		c := billsync.Change{Source: billsync.SideBilling, Object: billsync.ObjectAccount, RecordID: "acc_1", EnqueuedAt: tc.enqueued}
		v := classifyBillingChange(c, tc.ent, tc.st, tc.vals)
		if v.action != tc.want || v.reason != tc.reason || (v.action == billingSkip || v.action == billingReread) != (v.msg != "") {
			t.Errorf("%s: %+v", tc.name, v)
		}
	}
}

// A billing record created from Salesforce whose id map was not saved (a
// lost answer, a crash) links its Salesforce twin instead of creating a
// second record; when the twin is gone, it is written in full.
func TestBillingChangeLinksItsTwin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	twin := b.org.Put("BillingAccount__c", billsync.SObject{"Name": "Made in Salesforce"})
	js := `{"id":"acc_7","code":"C7","name":"Made in Salesforce","currency":"USD","version":1,"customFields":{"salesforceId":"` + twin + `"}}`
	le := only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, js)))
	if le.Operation != "link" || le.SalesforceID != twin || b.org.Get(twin).Str("BillingId__c") != "acc_7" || len(b.org.All("BillingAccount__c")) != 1 {
		t.Fatalf("%+v, twin %v", le, b.org.Get(twin))
	}
	if st := b.state(t, billsync.ObjectAccount, "acc_7"); st == nil || st.SalesforceID != twin || st.Agreed["code"] != "C7" || st.Agreed[mapping.AgreedRevision] != "0" {
		t.Fatalf("state %+v", st)
	}

	b = setup(t)
	gone := "a01000000000077AAA"
	js = strings.Replace(js, twin, gone, 1)
	le = only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, js)))
	if le.Operation != "create" || b.sf("BillingAccount__c", "acc_7") == nil {
		t.Fatalf("twin gone: %+v", le)
	}
}

// A linked record deleted in Salesforce behind billsync's back is put
// back in full by the next billing change.
func TestBillingChangeRestoresRecordGoneFromSalesforce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	sfID := b.synced(t)
	b.org.Remove(sfID)
	v2 := `{"id":"acc_1","code":"ACME","name":"Acme Ltd","currency":"USD","version":2}`
	b.putBilling(t, billsync.ObjectAccount, v2)
	le := only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, v2)))
	rec := b.sf("BillingAccount__c", "acc_1")
	if le.Outcome != billsync.OutcomeSuccess || rec == nil || rec.ID() == sfID || rec.Str("Name") != "Acme Ltd" {
		t.Fatalf("%+v, record %v", le, rec)
	}
	if st := b.state(t, billsync.ObjectAccount, "acc_1"); st.SalesforceID != rec.ID() || st.BillingVersion != 2 {
		t.Fatalf("state %+v", st)
	}
}

// Failures on the way: a record without its parent id, unreadable state,
// an unmapped object, a held conflict, a record gone from billing.
func TestBillingChangeEdges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	orphan := billingChange(t, billsync.ObjectBalance, billsync.OpCreated, `{"id":"bal_1","accountId":"x","name":"B","version":1}`)
	orphan.Payload = []byte(`{"id":"bal_1","accountId":"","name":"B","version":1}`)
	r := b.engine.Process(ctx, orphan)
	if le := only(t, r); r.Disposition != attempt.Dead || le.Reason != billsync.ReasonValidation || !strings.Contains(le.Message, "has no accountId") {
		t.Errorf("no parent id: %v %+v", r.Disposition, le)
	}
	bad := billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1)
	bad.Payload = nil
	if r := b.engine.Process(ctx, bad); r.Disposition != attempt.Dead {
		t.Errorf("no payload: %+v", r)
	}
	// A parent that billing no longer has cannot be brought along.
	r = b.engine.Process(ctx, billingChange(t, billsync.ObjectBalance, billsync.OpCreated, `{"id":"bal_1","accountId":"acc_gone","name":"B","version":1}`))
	if le := only(t, r); le.Outcome != billsync.OutcomeDead || le.ErrorCode != "not_found" || !strings.Contains(le.Message, "acc_gone") {
		t.Errorf("parent gone: %+v", le)
	}

	// Both sides changed and a conflict is held: nothing is written.
	sfID := b.synced(t)
	b.set(t, "conflicts.account", `"manual"`)
	b.userEdit(sfID, "Name", "Edited in Salesforce")
	v2 := `{"id":"acc_1","code":"ACME","name":"Acme Ltd","currency":"USD","version":2}`
	b.putBilling(t, billsync.ObjectAccount, v2)
	if le := only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, v2))); le.Reason != "held" {
		t.Fatalf("first: %+v", le)
	}
	v3 := strings.Replace(v2, `"version":2`, `"version":3`, 1)
	if le := only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, v3))); le.Reason != "held" || le.Outcome != billsync.OutcomeConflict {
		t.Fatalf("while held: %+v", le)
	}

	// Gone from billing by the time the change is applied.
	b = setup(t)
	b.synced(t)
	if err := b.billing.Delete(ctx, billsync.ObjectAccount, "acc_1"); err != nil {
		t.Fatal(err)
	}
	if le := only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, v2))); le.Reason != billsync.ReasonNotFound {
		t.Errorf("gone from billing: %+v", le)
	}

	// A billing change of a type the mapping does not hold.
	m := mapping.Default()
	m.Objects = m.Objects[:1]
	e, err := New(Config{Settings: b.store, State: b.store, Conflicts: b.store, CRM: b.org, Billing: b.billing, Mapping: m})
	if err != nil {
		t.Fatal(err)
	}
	r = e.Process(ctx, billingChange(t, billsync.ObjectBalance, billsync.OpCreated, `{"id":"bal_1","accountId":"acc_1","version":1}`))
	if le := only(t, r); le.Reason != billsync.ReasonUnsupported {
		t.Errorf("unmapped: %+v", le)
	}
}

// G1: a failed update shows on the Salesforce record itself.
func TestFailedUpdateMarksTheRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	sfID := b.synced(t)
	v2 := `{"id":"acc_1","code":"ACME","name":"Acme Ltd","currency":"USD","version":2}`
	b.putBilling(t, billsync.ObjectAccount, v2)
	b.org.FailRecord = func(object string, r billsync.SObject) *billsync.FieldError {
		if r.Str("Name") != "" {
			return &billsync.FieldError{StatusCode: "FIELD_CUSTOM_VALIDATION_EXCEPTION", Message: "names are frozen"}
		}
		return nil
	}
	r := b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, v2))
	if le := only(t, r); le.ErrorCode != "FIELD_CUSTOM_VALIDATION_EXCEPTION" || r.Disposition != attempt.Dead {
		t.Fatalf("%v %+v", r.Disposition, le)
	}
	if rec := b.org.Get(sfID); rec.Str("BillingSyncStatus__c") != "failed" || !strings.Contains(rec.Str("BillingSyncError__c"), "names are frozen") {
		t.Fatalf("record %v", rec)
	}
}

// B4: a parent brought along is logged as its own entry; a chain too
// deep is refused.
func TestEnsureParent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.putBilling(t, billsync.ObjectAccount, acc1)
	a := attempt.New(&attempt.Policy{Now: func() time.Time { return fixedNow }}, billingChange(t, billsync.ObjectBalance, billsync.OpCreated, `{"id":"bal_1","accountId":"acc_1","version":1}`), billsync.ToSalesforce, billsync.NewSettings(nil))
	if err := b.engine.ensureParent(ctx, a, billsync.ObjectAccount, "acc_1", 0); err != nil {
		t.Fatal(err)
	}
	if es := a.Entries(); len(es) != 1 || es[0].BillingID != "acc_1" || es[0].Operation != "upsert" || !strings.Contains(es[0].Message, "parent of balance bal_1") {
		t.Fatalf("entries %+v", es)
	}
	// Already there: nothing more.
	if err := b.engine.ensureParent(ctx, a, billsync.ObjectAccount, "acc_1", 0); err != nil || len(a.Entries()) != 1 {
		t.Fatalf("second: %v %+v", err, a.Entries())
	}
	if err := b.engine.ensureParent(ctx, a, billsync.ObjectAccount, "acc_1", 5); billsync.ErrorCode(err) != billsync.EINTERNAL {
		t.Fatalf("too deep: %v", err)
	}
	down := errors.New("down")
	b.org.Hook = func(context.Context, mock.Call) error { return down }
	b.putBilling(t, billsync.ObjectAccount, `{"id":"acc_2","name":"B","version":1}`)
	if err := b.engine.ensureParent(ctx, a, billsync.ObjectAccount, "acc_2", 0); !errors.Is(err, down) {
		t.Fatalf("upsert failing: %v", err)
	}
}
