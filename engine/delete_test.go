package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/mock"
)

// H1, B6: a billing delete, decided from the policy, the sync state and
// the deleted record.
func TestDecideBillingDelete(t *testing.T) {
	t.Parallel()
	synced := &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: "acc_1", SalesforceID: "a01000000000001AAA", BillingVersion: 3}
	notInSF := &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: "acc_1", BillingVersion: 3}
	v4, v3 := ent(t, `{"id":"acc_1","version":4}`), ent(t, `{"id":"acc_1","version":3}`)
	for _, tc := range []struct {
		name   string
		policy string
		st     *billsync.SyncState
		ent    billsync.Entity
		want   deleteAction
		reason string
	}{
		{"ignore", billsync.DeleteIgnore, synced, v4, deleteSkip, billsync.ReasonDeleteIgnored},
		{"never synced", billsync.DeleteMirror, nil, v4, deleteSkip, billsync.ReasonNotFound},
		{"never reached Salesforce", billsync.DeleteMirror, notInSF, v4, deleteSkip, billsync.ReasonNotFound},
		{"billsync's own delete", billsync.DeleteMirror, synced, v3, deleteSkip, billsync.ReasonStale},
		{"mirror", billsync.DeleteMirror, synced, v4, deleteMirror, ""},
		{"mirror without a payload", billsync.DeleteMirror, synced, nil, deleteMirror, ""},
		{"flag", billsync.DeleteFlag, synced, v4, deleteFlag, ""},
	} {
		v := decideBillingDelete(billsync.ObjectAccount, tc.policy, tc.st, tc.ent)
		if v.action != tc.want || v.reason != tc.reason || (v.action == deleteSkip) != (v.msg != "") {
			t.Errorf("%s: %+v", tc.name, v)
		}
	}
}

func TestDecideSalesforceDelete(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy string
		synced bool
		want   deleteAction
		reason string
	}{
		{billsync.DeleteIgnore, true, deleteSkip, billsync.ReasonDeleteIgnored},
		{billsync.DeleteMirror, false, deleteSkip, billsync.ReasonNotFound},
		{billsync.DeleteFlag, true, deleteFlag, ""},
		{billsync.DeleteMirror, true, deleteMirror, ""},
	} {
		if v := decideSalesforceDelete(billsync.ObjectBalance, tc.policy, tc.synced); v.action != tc.want || v.reason != tc.reason {
			t.Errorf("%+v: %+v", tc, v)
		}
	}
}

func TestDecideUndelete(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy            string
		synced, inBilling bool
		want              undeleteAction
		reason            string
	}{
		{billsync.DeleteFlag, true, false, undeleteSkip, billsync.ReasonDeleteIgnored},
		{billsync.DeleteIgnore, false, false, undeleteSkip, billsync.ReasonDeleteIgnored},
		{billsync.DeleteMirror, true, true, undeleteSkip, billsync.ReasonEcho},
		{billsync.DeleteMirror, true, false, undeleteCreate, ""},
		{billsync.DeleteMirror, false, false, undeleteCreate, ""},
	} {
		if got, reason, _ := decideUndelete(billsync.ObjectAccount, tc.policy, tc.synced, tc.inBilling); got != tc.want || reason != tc.reason {
			t.Errorf("%+v: %v %q", tc, got, reason)
		}
	}
}

// synced sets b up with acc_1 in billing and in Salesforce, linked, and
// returns the Salesforce id.
func (b *bundle) synced(t *testing.T) string {
	t.Helper()
	b.putBilling(t, billsync.ObjectAccount, acc1)
	r := b.engine.Process(context.Background(), billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
	if le := only(t, r); le.Outcome != billsync.OutcomeSuccess {
		t.Fatalf("setup: %+v", le)
	}
	return b.sf("BillingAccount__c", "acc_1").ID()
}

// H1: billing deletes that write nothing, and Salesforce answers.
func TestBillingDeleteEdges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	deleted := func(version string) billsync.Change {
		return billingChange(t, billsync.ObjectAccount, billsync.OpDeleted, `{"id":"acc_1","code":"ACME","name":"Acme","version":`+version+`}`)
	}

	b := setup(t)
	b.set(t, "deletes.account", `"mirror"`)
	if le := only(t, b.engine.Process(ctx, deleted("2"))); le.Reason != billsync.ReasonNotFound || len(b.org.Calls()) != 0 {
		t.Errorf("never synced: %+v", le)
	}
	sfID := b.synced(t)
	if le := only(t, b.engine.Process(ctx, deleted("1"))); le.Reason != billsync.ReasonStale || le.SalesforceID != sfID || b.org.Get(sfID) == nil {
		t.Errorf("an older event: %+v", le)
	}
	// Gone from Salesforce already: the mirror is done all the same.
	b.org.Remove(sfID)
	if le := only(t, b.engine.Process(ctx, deleted("2"))); le.Outcome != billsync.OutcomeSuccess || b.state(t, billsync.ObjectAccount, "acc_1") != nil {
		t.Errorf("already gone: %+v", le)
	}

	b = setup(t)
	b.set(t, "deletes.account", `"mirror"`)
	sfID = b.synced(t)
	b.org.FailRecord = func(string, billsync.SObject) *billsync.FieldError {
		return &billsync.FieldError{StatusCode: "UNABLE_TO_LOCK_ROW", Message: "locked"}
	}
	r := b.engine.Process(ctx, deleted("2"))
	if le := only(t, r); r.Disposition != attempt.Retry || le.ErrorCode != "UNABLE_TO_LOCK_ROW" || b.state(t, billsync.ObjectAccount, "acc_1") == nil {
		t.Errorf("a refused delete: %v %+v", r.Disposition, le)
	}

	b = setup(t)
	b.set(t, "deletes.account", `"flag"`)
	sfID = b.synced(t)
	b.org.Remove(sfID)
	if le := only(t, b.engine.Process(ctx, deleted("2"))); le.Outcome != billsync.OutcomeSuccess || le.Operation != "flag" {
		t.Errorf("flag of a record gone: %+v", le)
	}
}

// H1: Salesforce deletes under each policy; a mirrored delete's own
// webhook from billing is then recognised and writes nothing.
func TestSalesforceDeletePolicies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, policy := range []string{billsync.DeleteIgnore, billsync.DeleteMirror, billsync.DeleteFlag} {
		b := setup(t)
		b.set(t, "deletes.account", `"`+policy+`"`)
		sfID := b.synced(t)
		b.org.Remove(sfID)
		le := only(t, b.engine.Process(ctx, sfOp(billsync.ObjectAccount, billsync.OpDeleted, sfID)))
		got := b.billing.Entity(billsync.ObjectAccount, "acc_1")
		switch policy {
		case billsync.DeleteIgnore:
			if le.Reason != billsync.ReasonDeleteIgnored || got == nil {
				t.Errorf("ignore: %+v", le)
			}
		case billsync.DeleteFlag:
			st := b.state(t, billsync.ObjectAccount, "acc_1")
			if le.Operation != "flag" || got.PathStr("customFields.deletedInSalesforce") != "true" || st.BillingVersion != got.Version() {
				t.Errorf("flag: %+v, billing %v, state %+v", le, got, st)
			}
		case billsync.DeleteMirror:
			if le.Operation != "delete" || le.BillingID != "acc_1" || got != nil {
				t.Errorf("mirror: %+v, billing %v", le, got)
			}
			// Billing's webhook for billsync's own delete carries version 2.
			r := b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpDeleted, `{"id":"acc_1","version":2}`))
			if le := only(t, r); le.Reason != billsync.ReasonStale {
				t.Errorf("the echo of billsync's delete: %+v", le)
			}
		}
	}
}

func TestSalesforceDeleteEdges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.set(t, "deletes.account", `"flag"`)
	if le := only(t, b.engine.Process(ctx, sfOp(billsync.ObjectAccount, billsync.OpDeleted, "a01000000000042AAA"))); le.Reason != billsync.ReasonNotFound {
		t.Errorf("never synced: %+v", le)
	}
	sfID := b.synced(t)
	down := errors.New("billing is down")
	b.billing.Hook = func(context.Context, mock.BillingCall) error { return down }
	r := b.engine.Process(ctx, sfOp(billsync.ObjectAccount, billsync.OpDeleted, sfID))
	if le := only(t, r); le.Operation != "read" || le.Outcome != billsync.OutcomeDead {
		t.Errorf("billing unreadable: %+v", le)
	}
	b.billing.Hook = nil
	if err := b.billing.Delete(ctx, billsync.ObjectAccount, "acc_1"); err != nil {
		t.Fatal(err)
	}
	if le := only(t, b.engine.Process(ctx, sfOp(billsync.ObjectAccount, billsync.OpDeleted, sfID))); le.Reason != billsync.ReasonNotFound {
		t.Errorf("flag of a billing record gone: %+v", le)
	}
	// Mirror: a billing record already gone is fine.
	b.set(t, "deletes.account", `"mirror"`)
	if le := only(t, b.engine.Process(ctx, sfOp(billsync.ObjectAccount, billsync.OpDeleted, sfID))); le.Outcome != billsync.OutcomeSuccess {
		t.Errorf("mirror of a billing record gone: %+v", le)
	}
}

// H1: an undelete under mirror creates the billing record again and
// writes its new id back; otherwise it is logged.
func TestSalesforceUndelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	sfID := b.synced(t)
	if le := only(t, b.engine.Process(ctx, sfOp(billsync.ObjectAccount, billsync.OpUndeleted, sfID))); le.Reason != billsync.ReasonDeleteIgnored {
		t.Errorf("not mirrored: %+v", le)
	}
	b.set(t, "deletes.account", `"mirror"`)
	if le := only(t, b.engine.Process(ctx, sfOp(billsync.ObjectAccount, billsync.OpUndeleted, sfID))); le.Reason != billsync.ReasonEcho || le.BillingID != "acc_1" {
		t.Errorf("billing record still there: %+v", le)
	}
	if err := b.billing.Delete(ctx, billsync.ObjectAccount, "acc_1"); err != nil {
		t.Fatal(err)
	}
	le := only(t, b.engine.Process(ctx, sfOp(billsync.ObjectAccount, billsync.OpUndeleted, sfID)))
	if le.Operation != "create" || le.BillingID == "" || le.BillingID == "acc_1" {
		t.Fatalf("restore: %+v", le)
	}
	if got := b.billing.Entity(billsync.ObjectAccount, le.BillingID); got.Str("name") != "Acme" || b.org.Get(sfID).Str("BillingId__c") != le.BillingID {
		t.Errorf("restored %v, Salesforce %v", got, b.org.Get(sfID))
	}
	if b.state(t, billsync.ObjectAccount, "acc_1") != nil || b.state(t, billsync.ObjectAccount, le.BillingID).SalesforceID != sfID {
		t.Errorf("id map not moved to the new billing record")
	}
	b.org.Remove(sfID)
	if le := only(t, b.engine.Process(ctx, sfOp(billsync.ObjectAccount, billsync.OpUndeleted, sfID))); le.Reason != billsync.ReasonNotFound {
		t.Errorf("deleted again before it was read: %+v", le)
	}
}

// An undelete of a record billsync never knew creates it in billing.
func TestSalesforceUndeleteOfUnknownRecord(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.set(t, "deletes.account", `"mirror"`)
	sfID := b.org.Put("BillingAccount__c", billsync.SObject{"Name": "Zeta", "Code__c": "Z"})
	le := only(t, b.engine.Process(context.Background(), sfOp(billsync.ObjectAccount, billsync.OpUndeleted, sfID)))
	if le.Operation != "create" || b.org.Get(sfID).Str(mapping.FieldLastSystem) != mapping.LastSystemBilling {
		t.Fatalf("%+v %v", le, b.org.Get(sfID))
	}
}

// A mirrored delete that billing refuses is retried; the version billsync
// expects back is recorded first, so the later echo is still recognised.
func TestSalesforceDeleteRefusedByBilling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.set(t, "deletes.account", `"mirror"`)
	sfID := b.synced(t)
	b.billing.Hook = func(ctx context.Context, c mock.BillingCall) error {
		if c.Method == "delete" {
			return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 503, Code: "unavailable", Transient: true}
		}
		return nil
	}
	r := b.engine.Process(ctx, sfOp(billsync.ObjectAccount, billsync.OpDeleted, sfID))
	if le := only(t, r); r.Disposition != attempt.Retry || le.Operation != "delete" || le.BillingID != "acc_1" {
		t.Fatalf("%v %+v", r.Disposition, le)
	}
	if st := b.state(t, billsync.ObjectAccount, "acc_1"); st.BillingVersion != 2 {
		t.Fatalf("state %+v", st)
	}
}
