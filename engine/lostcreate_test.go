package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
)

// lostCreate creates acc_1 in Salesforce through billsync and then loses
// the answer (no sync state is left), and a sales user renames the record
// at sTime before the retry.
func lostCreate(t *testing.T, policy string, sTime time.Time) (*bundle, string, billsync.Change) {
	t.Helper()
	ctx := context.Background()
	b := setup(t)
	b.set(t, "conflicts.account", `"`+policy+`"`)
	b.putBilling(t, billsync.ObjectAccount, acc1)
	c := billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1)
	if le := only(t, b.engine.Process(ctx, c)); le.Outcome != billsync.OutcomeSuccess || le.Operation != "create" {
		t.Fatalf("create: %+v", le)
	}
	if err := b.store.DeleteSyncState(ctx, billsync.ObjectAccount, "acc_1"); err != nil {
		t.Fatal(err)
	}
	sfID := b.sf("BillingAccount__c", "acc_1").ID()
	b.userEdit(sfID, "Name", "Sales name")
	b.org.Set(sfID, "LastModifiedDate", sTime.Format("2006-01-02T15:04:05.000-0700"))
	c.Attempt = 2
	return b, sfID, c
}

// D4: the retry of a create whose answer was lost finds the record in
// Salesforce, edited by a user since: it does not overwrite the edit.
// What the record held before the edit is unknown, so the field the two
// sides differ on meets the conflict policy, recorded as a conflict; the
// user's queued change then finds both sides agreeing.
func TestLostCreateAnswerKeepsSalesforceEdit(t *testing.T) {
	t.Parallel()
	// acc1 has no updatedAt: under latest-wins a Salesforce edit with a
	// time is the later one.
	for _, tc := range []struct {
		policy string
		want   string // "" = held: nothing written
	}{
		{billsync.PolicyLatestWins, "Sales name"},
		{billsync.PolicySalesforceWins, "Sales name"},
		{billsync.PolicyBillingWins, "Acme"},
		{billsync.PolicyManual, ""},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b, sfID, retry := lostCreate(t, tc.policy, fixedNow)
			le := only(t, b.engine.Process(ctx, retry))
			if le.Outcome != billsync.OutcomeConflict {
				t.Fatalf("retry: %+v", le)
			}
			cs := b.store.ConflictList()
			if len(cs) != 1 || len(cs[0].Fields) != 1 {
				t.Fatalf("conflicts %+v", cs)
			}
			f := cs[0].Fields[0]
			if f.Field != "name" || f.Billing != "Acme" || f.Salesforce != "Sales name" || f.Agreed != "" {
				t.Fatalf("conflict field %+v", f)
			}
			sfName, billName := b.org.Get(sfID).Str("Name"), b.billing.Entity(billsync.ObjectAccount, "acc_1").Str("name")
			if tc.want == "" {
				if cs[0].Status != billsync.ConflictHeld || sfName != "Sales name" || billName != "Acme" {
					t.Fatalf("manual: status %s, salesforce %q, billing %q", cs[0].Status, sfName, billName)
				}
				return
			}
			if cs[0].Status != billsync.ConflictResolved || sfName != tc.want || billName != tc.want {
				t.Fatalf("status %s: salesforce %q, billing %q, want %q", cs[0].Status, sfName, billName, tc.want)
			}
			// The user's change, queued by the edit, finds nothing more to do.
			if le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectAccount, sfID))); le.Outcome == billsync.OutcomeFailed || le.Outcome == billsync.OutcomeConflict {
				t.Fatalf("user's change: %+v", le)
			}
			sfName, billName = b.org.Get(sfID).Str("Name"), b.billing.Entity(billsync.ObjectAccount, "acc_1").Str("name")
			if sfName != tc.want || billName != tc.want || len(b.store.ConflictList()) != 1 {
				t.Fatalf("after the user's change: salesforce %q, billing %q, %d conflicts", sfName, billName, len(b.store.ConflictList()))
			}
		})
	}
}

// The held conflict of a lost create (manual policy) can be resolved: the
// state the operator's decision is applied from was recorded.
func TestLostCreateAnswerHeldConflictResolves(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, sfID, retry := lostCreate(t, billsync.PolicyManual, fixedNow)
	if le := only(t, b.engine.Process(ctx, retry)); le.Outcome != billsync.OutcomeConflict {
		t.Fatalf("retry: %+v", le)
	}
	cs := b.store.ConflictList()
	if len(cs) != 1 || cs[0].Status != billsync.ConflictHeld {
		t.Fatalf("conflicts %+v", cs)
	}
	if _, err := b.engine.ResolveConflict(ctx, cs[0].ID, billsync.SideSalesforce, "ops"); err != nil {
		t.Fatal(err)
	}
	queued := b.store.Queued()
	if len(queued) != 1 || queued[0].Partition != billsync.AccountPartition("acc_1") {
		t.Fatalf("queued %+v", queued)
	}
	c := queued[0]
	c.Attempt = 1
	if le := only(t, b.engine.Process(ctx, c)); le.Outcome != billsync.OutcomeSuccess {
		t.Fatalf("resolve: %+v", le)
	}
	if sfName, billName := b.org.Get(sfID).Str("Name"), b.billing.Entity(billsync.ObjectAccount, "acc_1").Str("name"); sfName != "Sales name" || billName != "Sales name" {
		t.Fatalf("salesforce %q, billing %q", sfName, billName)
	}
}

// A lost create of a record nobody edited since: the retry's write,
// carrying revision 0, passes, and the revision is known afterwards.
func TestLostCreateAnswerUneditedRetryWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.putBilling(t, billsync.ObjectAccount, acc1)
	c := billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1)
	only(t, b.engine.Process(ctx, c))
	if err := b.store.DeleteSyncState(ctx, billsync.ObjectAccount, "acc_1"); err != nil {
		t.Fatal(err)
	}
	c.Attempt = 2
	if le := only(t, b.engine.Process(ctx, c)); le.Outcome != billsync.OutcomeSuccess || le.Operation != "update" {
		t.Fatalf("retry: %+v", le)
	}
	st, err := b.store.SyncState(ctx, billsync.ObjectAccount, "acc_1")
	if err != nil || st.Agreed["name"] != "Acme" || len(b.store.ConflictList()) != 0 {
		t.Fatalf("state %+v, %v; conflicts %+v", st, err, b.store.ConflictList())
	}
	if rec := b.sf("BillingAccount__c", "acc_1"); mapping.Revision(rec) != "0" || rec.Str("Name") != "Acme" {
		t.Fatalf("salesforce %+v", rec)
	}
}

// A parent whose create answer was lost and which a user edited since is
// not overwritten when a child brings it along: it is adopted, the child
// is written, and the user's queued change of the parent then meets the
// policy on the field the sides differ on.
func TestLostCreateAnswerParentKeepsSalesforceEdit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, sfID, _ := lostCreate(t, billsync.PolicyLatestWins, fixedNow)
	bal := `{"id":"bal_1","accountId":"acc_1","name":"B","version":1}`
	b.putBilling(t, billsync.ObjectBalance, bal)
	r := b.engine.Process(ctx, billingChange(t, billsync.ObjectBalance, billsync.OpCreated, bal))
	if le := only(t, r); le.Outcome != billsync.OutcomeSuccess || le.Operation != "create" || len(r.Entries) != 2 ||
		!strings.Contains(r.Entries[0].Message, "not overwritten") || r.Entries[0].SalesforceID != sfID {
		t.Fatalf("%+v", r.Entries)
	}
	if name := b.org.Get(sfID).Str("Name"); name != "Sales name" {
		t.Fatalf("parent overwritten: %q", name)
	}
	if le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectAccount, sfID))); le.Outcome != billsync.OutcomeConflict {
		t.Fatalf("user's change: %+v", le)
	}
	if sfName, billName := b.org.Get(sfID).Str("Name"), b.billing.Entity(billsync.ObjectAccount, "acc_1").Str("name"); sfName != "Sales name" || billName != "Sales name" {
		t.Fatalf("salesforce %q, billing %q", sfName, billName)
	}
}
