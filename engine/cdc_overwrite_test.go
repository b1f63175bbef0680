package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
)

// These tests are of an org without BillingSyncTrigger (Unguarded): the
// fake org refuses nothing and stamps nothing, so each step sets the
// record's LastModifiedDate as Salesforce would. A sales user's edit that
// lands between billsync's read and its update is played as what it
// leaves behind: the record holding billsync's value, and the edit's
// change event, saved after the read, still to be applied.

const sfStamp = "2006-01-02T15:04:05.000-0700"

// unguardedTrio syncs an account, a balance and a transaction and then
// removes the trigger.
func unguardedTrio(t *testing.T) (*bundle, map[string]string) {
	t.Helper()
	b := setup(t)
	ids := b.syncedTrio(t)
	b.engine.cfg.Unguarded = true
	b.org.FailRecord = nil
	return b, ids
}

// stamp sets a record's LastModifiedDate, as any write to it does.
func (b *bundle) stamp(id string, at time.Time) {
	b.org.Set(id, "LastModifiedDate", at.Format(sfStamp))
}

// cdcEdit is the change event of a sales user's edit of o's field to
// value, saved at at, queued as the listener queues it.
func cdcEdit(id string, o windowObject, value string, at time.Time) billsync.Change {
	c := sfChange(o.typ, id)
	c.EventID = "event:cdc:" + value
	c.Payload = json.RawMessage(fmt.Sprintf(`{"ChangeEventHeader":{"entityName":%q,"changeType":"UPDATE","commitTimestamp":%d,`+
		`"changedFields":[%q,"LastModifiedDate"],"recordIds":[%q],"commitUser":"005sales"},%q:%q,"LastModifiedDate":%q}`,
		o.sobject, at.UnixMilli(), o.sfField, id, o.sfField, value, at.Format(sfStamp)))
	return c
}

// An edit saved after billsync's read and overwritten by its write meets
// the policy when its change event arrives, as an edit billsync had seen
// would: one conflict, Salesforce's value back on both sides when it wins
// (it is the later edit), both edits kept apart under manual.
func TestCDCOverwrittenEditMeetsThePolicy(t *testing.T) {
	t.Parallel()
	for _, o := range windowObjects {
		for _, policy := range policies {
			t.Run(string(o.typ)+"/"+policy, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				b, ids := unguardedTrio(t)
				b.set(t, "conflicts."+string(o.typ), fmt.Sprintf("%q", policy))
				sfID := ids[o.billingID]
				t0 := fixedNow.Add(-time.Hour)
				b.stamp(sfID, t0)
				if le := only(t, b.engine.Process(ctx, b.billingEdit(t, o, "From billing", t0.Add(-time.Minute)))); le.Outcome != billsync.OutcomeSuccess {
					t.Fatalf("billing change: %+v", le)
				}
				// The user's edit was saved at t1, after billsync's read and
				// before its write at t2, which replaced it.
				t1, t2 := t0.Add(time.Second), t0.Add(2*time.Second)
				b.stamp(sfID, t2)
				le := only(t, b.engine.Process(ctx, cdcEdit(sfID, o, "From Salesforce", t1)))
				if le.Reason == billsync.ReasonEcho {
					t.Fatalf("the overwritten edit was skipped as an echo: %+v", le)
				}
				b.policyOutcome(t, policy, o, sfID, billsync.SideSalesforce)
				// Applying the event again (a redelivery) adds nothing.
				b.stamp(sfID, t2.Add(time.Second))
				b.engine.Process(ctx, cdcEdit(sfID, o, "From Salesforce", t1))
				b.policyOutcome(t, policy, o, sfID, billsync.SideSalesforce)
			})
		}
	}
}

// An edit billsync's read saw, decided on and then wrote over is not
// taken for an overwritten one when its own change event is applied
// afterwards: one conflict, not two, whatever the policy.
func TestCDCSeenEditIsNotOverwritten(t *testing.T) {
	t.Parallel()
	for _, policy := range policies {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			o := windowObjects[0]
			b, ids := unguardedTrio(t)
			b.set(t, "conflicts."+string(o.typ), fmt.Sprintf("%q", policy))
			sfID := ids[o.billingID]
			t1 := fixedNow.Add(-time.Hour)
			b.sfEdit(sfID, o, "From Salesforce", t1)
			b.engine.Process(ctx, b.billingEdit(t, o, "From billing", t1.Add(-time.Minute)))
			b.stamp(sfID, t1.Add(time.Second))
			b.engine.Process(ctx, cdcEdit(sfID, o, "From Salesforce", t1))
			b.policyOutcome(t, policy, o, sfID, billsync.SideSalesforce)
		})
	}
}

// Edits a read saw superseded are not brought back: the user's two edits
// S1 then S2 were both saved before billsync's read, which found S2;
// under salesforce-wins S2 reaches billing, then a later billing edit
// reaches Salesforce. The events of S1 and S2, applied after all that,
// change nothing.
func TestCDCSupersededEditIsNotRestored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := windowObjects[0]
	b, ids := unguardedTrio(t)
	b.set(t, "conflicts.account", `"salesforce-wins"`)
	sfID := ids[o.billingID]
	t1, t2 := fixedNow.Add(-time.Hour), fixedNow.Add(-time.Hour+time.Second)
	b.sfEdit(sfID, o, "S2", t2)
	b.engine.Process(ctx, b.billingEdit(t, o, "B1", t1.Add(-time.Minute)))
	if got := b.billing.Entity(o.typ, o.billingID).Str(o.field); got != "S2" {
		t.Fatalf("billing %q after salesforce-wins, want S2", got)
	}
	if le := only(t, b.engine.Process(ctx, b.billingEdit(t, o, "B2", fixedNow))); le.Outcome != billsync.OutcomeSuccess {
		t.Fatalf("later billing edit: %+v", le)
	}
	b.stamp(sfID, fixedNow.Add(time.Second))
	for _, c := range []billsync.Change{cdcEdit(sfID, o, "S1", t1), cdcEdit(sfID, o, "S2", t2)} {
		if le := only(t, b.engine.Process(ctx, c)); le.Reason != billsync.ReasonEcho {
			t.Fatalf("event of an edit billsync had seen: %+v", le)
		}
	}
	if sfVal, billVal := b.org.Get(sfID).Str(o.sfField), b.billing.Entity(o.typ, o.billingID).Str(o.field); sfVal != "B2" || billVal != "B2" {
		t.Fatalf("salesforce %q, billing %q, want B2 on both", sfVal, billVal)
	}
	if cs := b.store.ConflictList(); len(cs) != 1 {
		t.Fatalf("%d conflicts, want the one S2 met: %+v", len(cs), cs)
	}
}

// An overwritten edit is still found after billsync wrote the field again
// from a read that found only its own value: the window stays open from
// the first read.
func TestCDCOverwrittenEditSurvivesALaterWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := windowObjects[0]
	b, ids := unguardedTrio(t)
	sfID := ids[o.billingID]
	t0 := fixedNow.Add(-time.Hour)
	b.stamp(sfID, t0)
	b.engine.Process(ctx, b.billingEdit(t, o, "B1", t0.Add(-2*time.Minute)))
	b.stamp(sfID, t0.Add(2*time.Second)) // billsync's write, over the edit saved at t0+1s
	if le := only(t, b.engine.Process(ctx, b.billingEdit(t, o, "From billing", t0.Add(-time.Minute)))); le.Outcome != billsync.OutcomeSuccess {
		t.Fatalf("second billing edit: %+v", le)
	}
	b.stamp(sfID, t0.Add(3*time.Second))
	b.engine.Process(ctx, cdcEdit(sfID, o, "From Salesforce", t0.Add(time.Second)))
	b.policyOutcome(t, billsync.PolicyLatestWins, o, sfID, billsync.SideSalesforce)
	if c := b.store.ConflictList()[0]; c.Fields[0].Agreed != "Acme" {
		t.Fatalf("conflict base %q, want Acme, the value before both edits", c.Fields[0].Agreed)
	}
}

// unguardedLostCreate creates acc_1 in an org without the trigger through
// billsync and then loses the answer (no sync state is left); edit, when
// set, is a sales user's rename saved before the retry. The fake org
// refuses a second record with the same billing id, as the external id's
// uniqueness does.
func unguardedLostCreate(t *testing.T, policy string, edit bool) (*bundle, string, billsync.Change) {
	t.Helper()
	ctx := context.Background()
	b := setup(t)
	b.engine.cfg.Unguarded = true
	var created atomic.Bool // FailRecord runs under the org's lock: it cannot look
	b.org.FailRecord = func(object string, r billsync.SObject) *billsync.FieldError {
		if r.ID() == "" && object == "BillingAccount__c" && r.Str("BillingId__c") == "acc_1" && created.Swap(true) {
			return &billsync.FieldError{StatusCode: "DUPLICATE_VALUE", Message: "duplicate value found: BillingId__c", Fields: []string{}}
		}
		return nil
	}
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
	at := fixedNow.Add(-time.Hour)
	for k, v := range map[string]string{"CreatedById": "005integration", "LastModifiedById": "005integration", "CreatedDate": at.Format(sfStamp), "LastModifiedDate": at.Format(sfStamp)} {
		b.org.Set(sfID, k, v)
	}
	if edit {
		b.org.Set(sfID, "Name", "Sales name")
		b.org.Set(sfID, "LastModifiedById", "005sales")
	}
	c.Attempt = 2
	return b, sfID, c
}

// A lost create's retry in an org without the trigger does not overwrite
// a sales user's edit made since (the record was modified by another
// user after billsync created it): the field the two sides differ on
// meets the policy, as with the trigger.
func TestCDCLostCreateKeepsSalesforceEdit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ policy, want string }{
		{billsync.PolicySalesforceWins, "Sales name"},
		{billsync.PolicyBillingWins, "Acme"},
		{billsync.PolicyManual, ""},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			b, sfID, retry := unguardedLostCreate(t, tc.policy, true)
			if le := only(t, b.engine.Process(context.Background(), retry)); le.Outcome != billsync.OutcomeConflict {
				t.Fatalf("retry: %+v", le)
			}
			cs := b.store.ConflictList()
			if len(cs) != 1 || cs[0].Fields[0].Salesforce != "Sales name" || cs[0].Fields[0].Billing != "Acme" {
				t.Fatalf("conflicts %+v", cs)
			}
			sfName, billName := b.org.Get(sfID).Str("Name"), b.billing.Entity(billsync.ObjectAccount, "acc_1").Str("name")
			if tc.want == "" && (sfName != "Sales name" || billName != "Acme") || tc.want != "" && (sfName != tc.want || billName != tc.want) {
				t.Fatalf("salesforce %q, billing %q, want %q", sfName, billName, tc.want)
			}
		})
	}
}

// An unedited record found by a lost create's retry is written in full;
// an edit saved between the retry's read and its write is overwritten
// there, and its change event then brings it back: billing still holds
// what the read found, so the edit is Salesforce's alone and reaches
// both sides.
func TestCDCLostCreateRetryLeavesAWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, sfID, retry := unguardedLostCreate(t, billsync.PolicySalesforceWins, false)
	if le := only(t, b.engine.Process(ctx, retry)); le.Outcome != billsync.OutcomeSuccess {
		t.Fatalf("retry: %+v", le)
	}
	if st := b.state(t, billsync.ObjectAccount, "acc_1"); st == nil || st.SalesforceID != sfID || st.Agreed[windowPrefix+"name"] == "" {
		t.Fatalf("state after the retry: %+v", st)
	}
	b.stamp(sfID, fixedNow)
	le := only(t, b.engine.Process(ctx, cdcEdit(sfID, windowObjects[0], "Sales name", fixedNow.Add(-time.Minute))))
	if le.Outcome != billsync.OutcomeSuccess {
		t.Fatalf("the overwritten edit's event: %+v", le)
	}
	if sfName, billName := b.org.Get(sfID).Str("Name"), b.billing.Entity(billsync.ObjectAccount, "acc_1").Str("name"); sfName != "Sales name" || billName != "Sales name" {
		t.Fatalf("salesforce %q, billing %q", sfName, billName)
	}
}

// The conflict an overwritten edit meets under manual is held with the
// person's value back in Salesforce, and either decision settles it.
func TestCDCOverwrittenEditHeldConflictResolves(t *testing.T) {
	t.Parallel()
	for _, winner := range []billsync.Side{billsync.SideSalesforce, billsync.SideBilling} {
		t.Run(string(winner), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			o := windowObjects[0]
			b, ids := unguardedTrio(t)
			b.set(t, "conflicts.account", `"manual"`)
			sfID := ids[o.billingID]
			t0 := fixedNow.Add(-time.Hour)
			b.stamp(sfID, t0)
			b.engine.Process(ctx, b.billingEdit(t, o, "From billing", t0.Add(-time.Minute)))
			b.stamp(sfID, t0.Add(2*time.Second))
			b.engine.Process(ctx, cdcEdit(sfID, o, "From Salesforce", t0.Add(time.Second)))
			b.policyOutcome(t, billsync.PolicyManual, o, sfID, billsync.SideSalesforce)
			b.stamp(sfID, t0.Add(3*time.Second)) // billsync's write putting the person's value back
			if _, err := b.engine.ResolveConflict(ctx, b.store.ConflictList()[0].ID, winner, "ops"); err != nil {
				t.Fatal(err)
			}
			c := b.store.Queued()[0]
			c.Attempt = 1
			if le := only(t, b.engine.Process(ctx, c)); le.Outcome != billsync.OutcomeSuccess {
				t.Fatalf("resolve: %+v", le)
			}
			want := map[billsync.Side]string{billsync.SideSalesforce: "From Salesforce", billsync.SideBilling: "From billing"}[winner]
			if sfVal, billVal := b.org.Get(sfID).Str(o.sfField), b.billing.Entity(o.typ, o.billingID).Str(o.field); sfVal != want || billVal != want {
				t.Fatalf("salesforce %q, billing %q, want %q", sfVal, billVal, want)
			}
		})
	}
}

// A change event's values reach the engine in the CometD shape over
// either transport, except that over the Pub/Sub API dates are epoch
// milliseconds; a cleared field is an explicit null; gap events and
// creates carry nothing to compare.
func TestParseCDCUpdate(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 1, 9, 30, 0, 0, time.UTC)
	const head = `{"ChangeEventHeader":{"commitTimestamp":1793525400000,`
	for _, tc := range []struct {
		name, payload string
		typ           billsync.ObjectType
		field, want   string // a Salesforce field and its canonical value; "" field: no update
	}{
		{"cometd", head + `"changeType":"UPDATE","changedFields":["Name","LastModifiedDate"]},"Name":"New","LastModifiedDate":"2026-11-01T09:30:00.000+0000"}`,
			billsync.ObjectAccount, "Name", "New"},
		{"pubsub date", head + `"changeType":"UPDATE","changedFields":["AppliedDate__c","LastModifiedDate"]},"AppliedDate__c":1793491200000,"LastModifiedDate":1793525400000}`,
			billsync.ObjectBalanceTransaction, "AppliedDate__c", "2026-11-01"},
		{"cleared", head + `"changeType":"UPDATE","changedFields":["Description__c"],"nulledFields":["Description__c"]},"Description__c":null}`,
			billsync.ObjectBalanceTransaction, "Description__c", ""},
		{"gap", head + `"changeType":"GAP_UPDATE","changedFields":[]}}`, "", "", ""},
		{"create", head + `"changeType":"CREATE","changedFields":[]},"Name":"New"}`, "", "", ""},
		{"compound part only", head + `"changeType":"UPDATE","changedFields":["BillingAddress.City"]},"BillingAddress":{"City":"Oslo"}}`, "", "", ""},
	} {
		u := parseCDCUpdate(json.RawMessage(tc.payload))
		if tc.field == "" {
			if u != nil {
				t.Errorf("%s: %+v, want nothing", tc.name, u)
			}
			continue
		}
		if u == nil || !u.saved.Equal(at) {
			t.Fatalf("%s: %+v, want an update saved at %s", tc.name, u, at)
		}
		om, _ := mapping.Default().Object(tc.typ)
		found := false
		for _, f := range om.Fields {
			if f.Salesforce == tc.field {
				got, ok := u.value(f)
				found = true
				if !ok || got != tc.want {
					t.Errorf("%s: %s = %q %v, want %q", tc.name, tc.field, got, ok, tc.want)
				}
			}
		}
		if !found {
			t.Fatalf("%s: %s is not mapped", tc.name, tc.field)
		}
	}
}

// A window kept open by a later write (its read found billsync's own
// value) takes what that read found as seen: a person's edit back to the
// value the window's first read found, overwritten by the later write,
// meets the policy instead of passing for an edit billsync saw.
func TestCDCEditBackToAnEarlierReadIsOverwritten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := windowObjects[0]
	b, ids := unguardedTrio(t)
	sfID := ids[o.billingID]
	first := b.org.Get(sfID).Str(o.sfField)
	t0 := fixedNow.Add(-time.Hour)
	b.stamp(sfID, t0)
	b.engine.Process(ctx, b.billingEdit(t, o, "B1", t0.Add(-3*time.Minute))) // reads first, writes B1
	b.stamp(sfID, t0.Add(time.Second))
	b.engine.Process(ctx, b.billingEdit(t, o, "From billing", t0.Add(-2*time.Minute))) // reads B1, unmoved
	// billsync's second write landed over a person's edit back to first,
	// saved after that read.
	b.stamp(sfID, t0.Add(3*time.Second))
	b.engine.Process(ctx, cdcEdit(sfID, o, first, t0.Add(2*time.Second)))
	cs := b.store.ConflictList()
	if len(cs) != 1 {
		t.Fatalf("%d conflicts, want the overwritten edit's one: %+v", len(cs), cs)
	}
	if sfVal, billVal := b.org.Get(sfID).Str(o.sfField), b.billing.Entity(o.typ, o.billingID).Str(o.field); sfVal != first || billVal != first {
		t.Errorf("latest wins (the person's edit): salesforce %q, billing %q, want %q", sfVal, billVal, first)
	}
}
