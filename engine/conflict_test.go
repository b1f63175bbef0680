package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// conflictSetup syncs acc_1 and then edits its name on both sides: in
// billing at bTime, in Salesforce at sTime.
func conflictSetup(t *testing.T, policy string, bTime, sTime time.Time) (*bundle, string, billsync.Change, billsync.Change) {
	t.Helper()
	b := setup(t)
	ctx := context.Background()
	b.set(t, "conflicts.account", `"`+policy+`"`)
	b.putBilling(t, billsync.ObjectAccount, acc1)
	b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
	rec := b.sf("BillingAccount__c", "acc_1")
	b.userEdit(rec.ID(), "Name", "Name from Salesforce")
	b.org.Set(rec.ID(), "LastModifiedDate", sTime.Format("2006-01-02T15:04:05.000-0700"))
	v2 := fmt.Sprintf(`{"id":"acc_1","code":"ACME","name":"Name from billing","currency":"USD","version":2,"updatedAt":%q}`, bTime.Format(time.RFC3339Nano))
	b.putBilling(t, billsync.ObjectAccount, v2)
	return b, rec.ID(), billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, v2), sfChange(billsync.ObjectAccount, rec.ID())
}

// D1–D3: a same-field edit on both sides is one conflict under each
// policy, with the outcome the policy defines, whichever side's change is
// processed first.
func TestConflictPolicies(t *testing.T) {
	t.Parallel()
	early, late := fixedNow.Add(-time.Minute), fixedNow
	for _, tc := range []struct {
		policy       string
		bTime, sTime time.Time
		want         string // "" = held
	}{
		{billsync.PolicyBillingWins, late, early, "Name from billing"},
		{billsync.PolicyBillingWins, early, late, "Name from billing"},
		{billsync.PolicySalesforceWins, late, early, "Name from Salesforce"},
		{billsync.PolicyLatestWins, late, early, "Name from billing"},
		{billsync.PolicyLatestWins, early, late, "Name from Salesforce"},
		{billsync.PolicyManual, late, early, ""},
	} {
		for _, billingFirst := range []bool{true, false} {
			name := fmt.Sprintf("%s/billing-later=%v/billing-first=%v", tc.policy, tc.bTime == late, billingFirst)
			t.Run(name, func(t *testing.T) {
				b, sfID, fromBilling, fromSF := conflictSetup(t, tc.policy, tc.bTime, tc.sTime)
				ctx := context.Background()
				first, second := fromBilling, fromSF
				if !billingFirst {
					first, second = fromSF, fromBilling
				}
				r := b.engine.Process(ctx, first)
				if le := only(t, r); le.Outcome != billsync.OutcomeConflict {
					t.Fatalf("first: %+v", le)
				}
				b.engine.Process(ctx, second)
				cs := b.store.ConflictList()
				if len(cs) != 1 {
					t.Fatalf("%d conflicts, want exactly 1: %+v", len(cs), cs)
				}
				c := cs[0]
				if len(c.Fields) != 1 || c.Fields[0].Field != "name" || c.Fields[0].Billing != "Name from billing" || c.Fields[0].Salesforce != "Name from Salesforce" {
					t.Fatalf("conflict fields %+v", c.Fields)
				}
				sfName := b.org.Get(sfID).Str("Name")
				bill, _ := b.billing.Get(ctx, billsync.ObjectAccount, "acc_1")
				if tc.want == "" {
					if c.Status != billsync.ConflictHeld || sfName != "Name from Salesforce" || bill.Str("name") != "Name from billing" {
						t.Fatalf("manual: status %s, sf %q, billing %q", c.Status, sfName, bill.Str("name"))
					}
					return
				}
				if c.Status != billsync.ConflictResolved || sfName != tc.want || bill.Str("name") != tc.want {
					t.Fatalf("status %s winner %s: sf %q billing %q, want %q", c.Status, c.Winner, sfName, bill.Str("name"), tc.want)
				}
			})
		}
	}
}

// D2 manual: nothing changes until an operator resolves; the decision is
// queued in the record's partition and applied from both sides as they
// stand.
func TestManualConflictResolve(t *testing.T) {
	t.Parallel()
	b, sfID, fromBilling, _ := conflictSetup(t, billsync.PolicyManual, fixedNow, fixedNow)
	ctx := context.Background()
	b.engine.Process(ctx, fromBilling)
	held := b.store.ConflictList()[0]
	// Another change of the record while held writes nothing.
	calls := len(b.org.CallLog())
	r := b.engine.Process(ctx, sfChange(billsync.ObjectAccount, sfID))
	if le := only(t, r); le.Outcome != billsync.OutcomeConflict || le.Reason != "held" || len(b.org.CallLog()) != calls+1 {
		t.Fatalf("%+v %v", le, b.org.CallLog()[calls:])
	}
	if _, err := b.engine.ResolveConflict(ctx, held.ID, "nobody", "ops"); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Fatalf("bad winner: %v", err)
	}
	if _, err := b.engine.ResolveConflict(ctx, held.ID, billsync.SideSalesforce, "ops"); err != nil {
		t.Fatal(err)
	}
	queued := b.store.Queued()
	if len(queued) != 1 || queued[0].Op != billsync.OpResolve || queued[0].Partition != "account:acc_1" || len(b.wakes) != 1 {
		t.Fatalf("queued %+v, %d wake-ups", queued, len(b.wakes))
	}
	c := queued[0]
	c.Attempt = 1
	r = b.engine.Process(ctx, c)
	if le := only(t, r); le.Outcome != billsync.OutcomeSuccess || le.Operation != "resolve" {
		t.Fatalf("%+v", le)
	}
	bill, _ := b.billing.Get(ctx, billsync.ObjectAccount, "acc_1")
	if c := b.store.ConflictList()[0]; bill.Str("name") != "Name from Salesforce" || c.Status != billsync.ConflictResolved || c.ResolvedBy != "ops" {
		t.Fatalf("billing %v conflict %+v", bill, c)
	}
	if _, err := b.engine.ResolveConflict(ctx, held.ID, billsync.SideBilling, "ops"); billsync.ErrorCode(err) != billsync.ECONFLICT {
		t.Fatalf("resolving twice: %v", err)
	}
}

// H1: billing deletes under each policy.
func TestBillingDeletePolicies(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{billsync.DeleteIgnore, billsync.DeleteMirror, billsync.DeleteFlag} {
		b := setup(t)
		ctx := context.Background()
		b.set(t, "deletes.account", `"`+policy+`"`)
		b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
		sfID := b.sf("BillingAccount__c", "acc_1").ID()
		r := b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpDeleted, `{"id":"acc_1","code":"ACME","name":"Acme","version":2}`))
		le := only(t, r)
		switch policy {
		case billsync.DeleteIgnore:
			if le.Outcome != billsync.OutcomeSkipped || le.Reason != billsync.ReasonDeleteIgnored {
				t.Fatalf("ignore: %+v", le)
			}
		case billsync.DeleteMirror:
			if le.Outcome != billsync.OutcomeSuccess || b.org.Get(sfID) != nil {
				t.Fatalf("mirror: %+v, record %v", le, b.org.Get(sfID))
			}
		case billsync.DeleteFlag:
			if le.Outcome != billsync.OutcomeSuccess || b.org.Get(sfID)["IsDeletedInBilling__c"] != true {
				t.Fatalf("flag: %+v, record %v", le, b.org.Get(sfID))
			}
		}
	}
}

// latest-wins on a platform that keeps no update time (Stripe): the time
// of the event that brought the billing change stands for it.
func TestLatestWinsTakesTheEventTimeWithoutUpdatedAt(t *testing.T) {
	t.Parallel()
	early, late := fixedNow.Add(-time.Minute), fixedNow
	for _, tc := range []struct {
		eventAt time.Time
		want    string
	}{{late, "Name from billing"}, {early.Add(-time.Minute), "Name from Salesforce"}} {
		b, sfID, fromBilling, _ := conflictSetup(t, billsync.PolicyLatestWins, early, early)
		ctx := context.Background()
		v2 := `{"id":"acc_1","code":"ACME","name":"Name from billing","currency":"USD","version":2}`
		b.putBilling(t, billsync.ObjectAccount, v2)
		fromBilling.Payload, fromBilling.OccurredAt = json.RawMessage(v2), tc.eventAt
		b.engine.Process(ctx, fromBilling)
		if got := b.org.Get(sfID).Str("Name"); got != tc.want {
			t.Errorf("event at %s: Salesforce %q, want %q", tc.eventAt, got, tc.want)
		}
	}
}
