package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/mock"
)

// windowObject is one synced record a window test edits on both sides.
type windowObject struct {
	typ       billsync.ObjectType
	billingID string
	sobject   string
	field     string // billing path
	sfField   string
}

var windowObjects = []windowObject{
	{billsync.ObjectAccount, "acc_1", "BillingAccount__c", "name", "Name"},
	{billsync.ObjectBalance, "bal_1", "BillingBalance__c", "name", "Name"},
	{billsync.ObjectBalanceTransaction, "btx_1", "BillingBalanceTransaction__c", "description", "Description__c"},
}

// syncedTrio syncs an account, a balance and a transaction and returns
// their Salesforce ids by billing id.
func (b *bundle) syncedTrio(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	ids := map[string]string{}
	for _, r := range []struct {
		typ billsync.ObjectType
		js  string
	}{
		{billsync.ObjectAccount, acc1},
		{billsync.ObjectBalance, `{"id":"bal_1","accountId":"acc_1","name":"Prepaid","amount":"100.00","currency":"USD","version":1}`},
		{billsync.ObjectBalanceTransaction, `{"id":"btx_1","balanceId":"bal_1","accountId":"acc_1","amount":"-12.25","description":"usage","appliedDate":"2026-11-01","version":1}`},
	} {
		e := b.putBilling(t, r.typ, r.js)
		if le := only(t, b.engine.Process(ctx, billingChange(t, r.typ, billsync.OpCreated, r.js))); le.Outcome != billsync.OutcomeSuccess {
			t.Fatalf("setup %s: %+v", r.typ, le)
		}
		st := b.state(t, r.typ, e.ID())
		if st.Agreed[mapping.AgreedRevision] != "0" {
			t.Fatalf("setup %s: agreed revision %q, want 0 (a record billsync created)", r.typ, st.Agreed[mapping.AgreedRevision])
		}
		ids[e.ID()] = st.SalesforceID
	}
	return ids
}

// billingEdit changes one field of a billing record as a billing user
// does (a new version), at time at, and returns its change.
func (b *bundle) billingEdit(t *testing.T, o windowObject, value string, at time.Time) billsync.Change {
	t.Helper()
	e := b.billing.Entity(o.typ, o.billingID)
	e.SetPath(o.field, value)
	e["version"] = json.Number(fmt.Sprint(e.Version() + 1))
	e["updatedAt"] = at.Format(time.RFC3339Nano)
	b.billing.Put(o.typ, e)
	return billingChange(t, o.typ, billsync.OpUpdated, jsonString(t, e))
}

// sfEdit changes one field of a Salesforce record as a sales user does,
// at time at.
func (b *bundle) sfEdit(id string, o windowObject, value string, at time.Time) {
	b.userEdit(id, o.sfField, value)
	b.org.Set(id, "LastModifiedDate", at.Format("2006-01-02T15:04:05.000-0700"))
}

// policyOutcome checks a window test's end: one conflict, with the
// policy's outcome on both sides, or held under manual with each side
// keeping its own edit. later is the side whose edit is later.
func (b *bundle) policyOutcome(t *testing.T, policy string, o windowObject, sfID string, later billsync.Side) {
	t.Helper()
	cs := b.store.ConflictList()
	if len(cs) != 1 {
		t.Fatalf("%d conflicts, want exactly 1: %+v", len(cs), cs)
	}
	sfVal := b.org.Get(sfID).Str(o.sfField)
	billVal := b.billing.Entity(o.typ, o.billingID).Str(o.field)
	if policy == billsync.PolicyManual {
		if cs[0].Status != billsync.ConflictHeld || sfVal != "From Salesforce" || billVal != "From billing" {
			t.Fatalf("manual: status %s, salesforce %q, billing %q", cs[0].Status, sfVal, billVal)
		}
		return
	}
	winner := map[string]billsync.Side{billsync.PolicyBillingWins: billsync.SideBilling, billsync.PolicySalesforceWins: billsync.SideSalesforce, billsync.PolicyLatestWins: later}[policy]
	want := map[billsync.Side]string{billsync.SideBilling: "From billing", billsync.SideSalesforce: "From Salesforce"}[winner]
	if cs[0].Status != billsync.ConflictResolved || cs[0].Winner != winner || sfVal != want || billVal != want {
		t.Fatalf("status %s winner %s: salesforce %q, billing %q, want %q", cs[0].Status, cs[0].Winner, sfVal, billVal, want)
	}
}

var policies = []string{billsync.PolicyLatestWins, billsync.PolicyBillingWins, billsync.PolicySalesforceWins, billsync.PolicyManual}

// D4: a billing change of a record whose agreed revision is known is
// written without reading Salesforce first: one call, the update.
func TestBillingUpdateWritesWithoutReading(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.syncedTrio(t)
	before := len(b.org.Calls())
	for _, o := range windowObjects {
		c := b.billingEdit(t, o, "From billing", fixedNow)
		if le := only(t, b.engine.Process(context.Background(), c)); le.Outcome != billsync.OutcomeSuccess {
			t.Fatalf("%s: %+v", o.typ, le)
		}
		if got := b.org.Get(ids[o.billingID]).Str(o.sfField); got != "From billing" {
			t.Fatalf("%s in Salesforce: %q", o.typ, got)
		}
	}
	calls := b.org.Calls()[before:]
	if len(calls) != 3 || calls[0].Method != "update" || calls[1].Method != "update" || calls[2].Method != "update" {
		t.Fatalf("calls %v, want three updates and no read", b.org.CallLog()[before:])
	}
}

// D4, D1–D3: a Salesforce edit landing between billsync's decision (made
// from the agreed values, without a read) and its write: Salesforce
// refuses the write, billsync reads the record again and the policy
// decides; the edit is never lost. The user's change event, handled
// afterwards, adds no second conflict.
func TestSalesforceEditBetweenDecisionAndWrite(t *testing.T) {
	t.Parallel()
	for _, o := range windowObjects {
		for _, policy := range policies {
			t.Run(string(o.typ)+"/"+policy, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				b := setup(t)
				ids := b.syncedTrio(t)
				sfID := ids[o.billingID]
				b.set(t, "conflicts."+string(o.typ), `"`+policy+`"`)
				change := b.billingEdit(t, o, "From billing", fixedNow.Add(-time.Minute))
				var edited atomic.Bool
				b.org.Hook = func(_ context.Context, c mock.Call) error {
					if c.Method == "update" && c.Object == o.sobject && edited.CompareAndSwap(false, true) {
						b.sfEdit(sfID, o, "From Salesforce", fixedNow)
					}
					return nil
				}
				le := only(t, b.engine.Process(ctx, change))
				if !edited.Load() || le.Outcome != billsync.OutcomeConflict || !strings.Contains(le.Message, "read again") {
					t.Fatalf("billing change: edited %v, %+v", edited.Load(), le)
				}
				b.org.Hook = nil
				b.policyOutcome(t, policy, o, sfID, billsync.SideSalesforce)
				ev := only(t, b.engine.Process(ctx, sfChange(o.typ, sfID)))
				if policy == billsync.PolicyManual && ev.Reason != "held" || policy != billsync.PolicyManual && ev.Reason != billsync.ReasonEcho {
					t.Fatalf("the user's event afterwards: %+v", ev)
				}
				b.policyOutcome(t, policy, o, sfID, billsync.SideSalesforce)
			})
		}
	}
}

// D4, C2: a billing edit landing between billsync's read of billing and
// its write (a Salesforce change going to billing): billing refuses the
// stale version, the retry reads both sides again and the policy decides;
// the billing edit's own webhook, handled afterwards, adds no second
// conflict.
func TestBillingEditBetweenReadAndWrite(t *testing.T) {
	t.Parallel()
	for _, o := range windowObjects {
		for _, policy := range policies {
			t.Run(string(o.typ)+"/"+policy, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				b := setup(t)
				ids := b.syncedTrio(t)
				sfID := ids[o.billingID]
				b.set(t, "conflicts."+string(o.typ), `"`+policy+`"`)
				b.sfEdit(sfID, o, "From Salesforce", fixedNow.Add(-time.Minute))
				var webhook billsync.Change
				var edited atomic.Bool
				b.billing.Hook = func(_ context.Context, c mock.BillingCall) error {
					if c.Method == "update" && c.Type == o.typ && edited.CompareAndSwap(false, true) {
						webhook = b.billingEdit(t, o, "From billing", fixedNow)
					}
					return nil
				}
				change := sfChange(o.typ, sfID)
				r := b.engine.Process(ctx, change)
				if le := only(t, r); !edited.Load() || r.Disposition != attempt.Retry || le.ErrorCode != "version_conflict" {
					t.Fatalf("first attempt: edited %v, %v %+v", edited.Load(), r.Disposition, le)
				}
				b.billing.Hook = nil
				change.Attempt++
				if le := only(t, b.engine.Process(ctx, change)); le.Outcome != billsync.OutcomeConflict {
					t.Fatalf("retry: %+v", le)
				}
				b.policyOutcome(t, policy, o, sfID, billsync.SideBilling)
				b.engine.Process(ctx, webhook)
				b.policyOutcome(t, policy, o, sfID, billsync.SideBilling)
			})
		}
	}
}

// D4: refused a second time (the user edits again), the change is retried
// later rather than written over the edit.
func TestRefusedTwiceRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	ids := b.syncedTrio(t)
	o := windowObjects[0]
	b.set(t, "conflicts.account", `"billing-wins"`)
	change := b.billingEdit(t, o, "From billing", fixedNow)
	n := 0
	b.org.Hook = func(_ context.Context, c mock.Call) error {
		if c.Method == "update" {
			n++
			b.sfEdit(ids[o.billingID], o, fmt.Sprintf("Sales edit %d", n), fixedNow)
		}
		return nil
	}
	r := b.engine.Process(ctx, change)
	if le := only(t, r); r.Disposition != attempt.Retry || !strings.Contains(le.Message, "changed again") || n != 2 {
		t.Fatalf("%v %+v after %d writes", r.Disposition, le, n)
	}
	if got := b.org.Get(ids[o.billingID]).Str("Name"); got != "Sales edit 2" {
		t.Fatalf("Salesforce holds %q, want the user's last edit", got)
	}
	b.org.Hook = nil
	change.Attempt++
	if le := only(t, b.engine.Process(ctx, change)); le.Outcome != billsync.OutcomeConflict || b.org.Get(ids[o.billingID]).Str("Name") != "From billing" {
		t.Fatalf("retry: %+v", le)
	}
}

// D4: a write decided without reading that finds the record deleted in
// Salesforce puts it back in full, as a change of a missing record does.
func TestBlindWriteToDeletedRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	ids := b.syncedTrio(t)
	b.org.Remove(ids["btx_1"])
	o := windowObjects[2]
	le := only(t, b.engine.Process(ctx, b.billingEdit(t, o, "From billing", fixedNow)))
	rec := b.sf("BillingBalanceTransaction__c", "btx_1")
	if le.Outcome != billsync.OutcomeSuccess || rec == nil || rec.ID() == ids["btx_1"] || rec.Str("Description__c") != "From billing" {
		t.Fatalf("%+v, record %v", le, rec)
	}
}

// D4, D1: when Salesforce was written but the billing write after it
// failed, what Salesforce now shares with billing counts as agreed and the
// revision is forgotten: a later billing edit of the field billsync wrote
// is billing's change, not a conflict with billsync's own write, and the
// record is read before the next write.
func TestSalesforceWrittenBillingRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	ids := b.syncedTrio(t)
	sfID := ids["acc_1"]
	b.set(t, "conflicts.account", `"salesforce-wins"`)
	b.userEdit(sfID, "Code__c", "SALES") // a different field: a merge
	name := windowObject{billsync.ObjectAccount, "acc_1", "BillingAccount__c", "name", "Name"}
	change := b.billingEdit(t, name, "Acme v2", fixedNow)
	var refused atomic.Bool
	var v3 billsync.Change
	b.billing.Hook = func(_ context.Context, c mock.BillingCall) error {
		if c.Method == "update" && refused.CompareAndSwap(false, true) {
			v3 = b.billingEdit(t, name, "Acme v3", fixedNow)
		}
		return nil
	}
	if r := b.engine.Process(ctx, change); r.Disposition != attempt.Retry || b.org.Get(sfID).Str("Name") != "Acme v2" {
		t.Fatalf("first attempt: %v %+v, Salesforce %v", r.Disposition, r.Entries, b.org.Get(sfID))
	}
	st := b.state(t, billsync.ObjectAccount, "acc_1")
	if _, known := st.Agreed[mapping.AgreedRevision]; known || st.Agreed["name"] != "Acme v2" || st.Agreed["code"] != "ACME" {
		t.Fatalf("agreed after the partial write: %v", st.Agreed)
	}
	b.billing.Hook = nil
	// The retry finds its own values agreed; the later edit's webhook
	// carries it to Salesforce, and the Salesforce edit to billing.
	change.Attempt++
	if le := only(t, b.engine.Process(ctx, change)); le.Reason != billsync.ReasonEcho {
		t.Fatalf("retry: %+v", le)
	}
	le := only(t, b.engine.Process(ctx, v3))
	acc := b.billing.Entity(billsync.ObjectAccount, "acc_1")
	if le.Outcome != billsync.OutcomeSuccess || len(b.store.ConflictList()) != 0 || b.org.Get(sfID).Str("Name") != "Acme v3" || acc.Str("code") != "SALES" || acc.Str("name") != "Acme v3" {
		t.Fatalf("later edit: %+v, conflicts %+v, Salesforce %v, billing %v", le, b.store.ConflictList(), b.org.Get(sfID), acc)
	}
}

// D4: a Salesforce edit of a field billsync does not map moves the
// revision on; the change event that reads it records the new revision,
// so the next billing change still writes without reading.
func TestUnmappedEditKeepsWritesBlind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	ids := b.syncedTrio(t)
	sfID := ids["acc_1"]
	b.userEdit(sfID, "Description", "a note only Salesforce has")
	if le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectAccount, sfID))); le.Reason != billsync.ReasonEcho {
		t.Fatalf("event: %+v", le)
	}
	if rev := b.state(t, billsync.ObjectAccount, "acc_1").Agreed[mapping.AgreedRevision]; rev != "1" {
		t.Fatalf("agreed revision %q, want 1", rev)
	}
	before := len(b.org.Calls())
	if le := only(t, b.engine.Process(ctx, b.billingEdit(t, windowObjects[0], "Acme v2", fixedNow))); le.Outcome != billsync.OutcomeSuccess {
		t.Fatalf("billing change: %+v", le)
	}
	if log := b.org.CallLog()[before:]; len(log) != 1 || log[0] != "update BillingAccount__c" {
		t.Fatalf("calls %v, want one update", log)
	}
}

// D4, D3: an operator's decision whose write meets a newer Salesforce edit
// reads again and applies the decision to the record as it now stands.
func TestResolutionMeetsNewerEdit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, sfID, fromBilling, _ := conflictSetup(t, billsync.PolicyManual, fixedNow, fixedNow)
	b.engine.Process(ctx, fromBilling)
	held := b.store.ConflictList()[0]
	if _, err := b.engine.ResolveConflict(ctx, held.ID, billsync.SideBilling, "ops"); err != nil {
		t.Fatal(err)
	}
	var edited atomic.Bool
	b.org.Hook = func(_ context.Context, c mock.Call) error {
		if c.Method == "update" && edited.CompareAndSwap(false, true) {
			b.userEdit(sfID, "Code__c", "EDITED")
		}
		return nil
	}
	le := only(t, b.engine.Process(ctx, b.store.Queued()[0]))
	rec := b.org.Get(sfID)
	acc := b.billing.Entity(billsync.ObjectAccount, "acc_1")
	if le.Outcome != billsync.OutcomeSuccess || !edited.Load() || rec.Str("Name") != "Name from billing" || rec.Str("Code__c") != "EDITED" || acc.Str("code") != "EDITED" {
		t.Fatalf("%+v; Salesforce %v; billing %v", le, rec, acc)
	}
	if c := b.store.ConflictList()[0]; c.Status != billsync.ConflictResolved || c.Winner != billsync.SideBilling {
		t.Fatalf("conflict %+v", c)
	}
}

// D4: linking a billing record to the Salesforce record it was created
// from writes billing's values only while the twin is unedited; a twin a
// user edited since gets the billing id alone, and the edit then reaches
// billing as a Salesforce change.
func TestLinkTwinKeepsAUserEdit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	twin := b.org.Put("BillingAccount__c", billsync.SObject{"Name": "Made in Salesforce", "Code__c": "C7", "Currency__c": "USD"})
	b.userEdit(twin, "Name", "Renamed in Salesforce")
	js := `{"id":"acc_7","code":"C7","name":"Made in Salesforce","currency":"USD","version":1,"customFields":{"salesforceId":"` + twin + `"}}`
	b.putBilling(t, billsync.ObjectAccount, js)
	le := only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, js)))
	rec := b.org.Get(twin)
	if le.Operation != "link" || !strings.Contains(le.Message, "only the billing id") || rec.Str("BillingId__c") != "acc_7" || rec.Str("Name") != "Renamed in Salesforce" {
		t.Fatalf("%+v, twin %v", le, rec)
	}
	if _, known := b.state(t, billsync.ObjectAccount, "acc_7").Agreed[mapping.AgreedRevision]; known {
		t.Fatal("a revision is recorded for a twin whose values differ from the agreed ones")
	}
	if le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectAccount, twin))); le.Outcome != billsync.OutcomeSuccess ||
		b.billing.Entity(billsync.ObjectAccount, "acc_7").Str("name") != "Renamed in Salesforce" {
		t.Fatalf("the edit's event: %+v", le)
	}
}
