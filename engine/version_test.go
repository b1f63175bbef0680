package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/billsync/billsync"
)

// D4: the version billsync records as applied comes from billing, never
// from a webhook's word alone. A signed webhook with the agreed values and
// an inflated version is an echo that records nothing, so the real
// updates that follow are applied, not skipped as stale.
func TestInflatedWebhookVersionIsNotRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.putBilling(t, billsync.ObjectAccount, acc1)
	b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))

	inflated := strings.Replace(acc1, `"version":1`, `"version":999`, 1)
	le := only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, inflated)))
	if le.Reason != billsync.ReasonEcho {
		t.Fatalf("inflated echo: %+v", le)
	}
	if st := b.state(t, billsync.ObjectAccount, "acc_1"); st.BillingVersion != 1 {
		t.Fatalf("recorded version %d after a webhook claimed 999, want billing's 1", st.BillingVersion)
	}
	for i, name := range []string{"Acme Corp", "Acme Group"} {
		v := `{"id":"acc_1","code":"ACME","name":"` + name + `","currency":"USD","version":` + string(rune('2'+i)) + `}`
		b.putBilling(t, billsync.ObjectAccount, v)
		le := only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, v)))
		if le.Outcome != billsync.OutcomeSuccess || b.sf("BillingAccount__c", "acc_1").Str("Name") != name {
			t.Fatalf("real update %d: %+v, Salesforce %v", i+2, le, b.sf("BillingAccount__c", "acc_1"))
		}
		if st := b.state(t, billsync.ObjectAccount, "acc_1"); st.BillingVersion != int64(i+2) {
			t.Fatalf("recorded version %d, want %d", st.BillingVersion, i+2)
		}
	}
}

// D4: a change judged not newer whose values differ from those applied is
// not dropped on its version's word: billing is read and its answer
// decides. Here a version recorded before billsync checked (999, from a
// webhook) hides billing's real version 3, which the re-read brings to
// Salesforce, recording billing's version; the next update then flows as
// usual.
func TestStaleWebhookWithOtherValuesRereadsBilling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.putBilling(t, billsync.ObjectAccount, acc1)
	b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
	st := b.state(t, billsync.ObjectAccount, "acc_1")
	st.BillingVersion = 999 // as an inflated webhook left it before billsync checked
	if err := b.store.PutSyncState(ctx, st); err != nil {
		t.Fatal(err)
	}

	v3 := `{"id":"acc_1","code":"ACME","name":"Acme Corp","currency":"USD","version":3}`
	b.putBilling(t, billsync.ObjectAccount, v3)
	gets := b.billingGets()
	le := only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, v3)))
	if le.Outcome != billsync.OutcomeSuccess || !strings.Contains(le.Message, "billing, read again, is at version 3") {
		t.Fatalf("stale but different: %+v", le)
	}
	if b.billingGets() != gets+1 {
		t.Fatalf("%d billing reads, want 1", b.billingGets()-gets)
	}
	if got := b.sf("BillingAccount__c", "acc_1").Str("Name"); got != "Acme Corp" {
		t.Fatalf("Salesforce name %q", got)
	}
	if st := b.state(t, billsync.ObjectAccount, "acc_1"); st.BillingVersion != 3 || st.Agreed["name"] != "Acme Corp" {
		t.Fatalf("state %+v, want billing's version 3", st)
	}

	v4 := `{"id":"acc_1","code":"ACME","name":"Acme Group","currency":"USD","version":4}`
	b.putBilling(t, billsync.ObjectAccount, v4)
	if le := only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, v4))); le.Outcome != billsync.OutcomeSuccess ||
		b.sf("BillingAccount__c", "acc_1").Str("Name") != "Acme Group" {
		t.Fatalf("next update: %+v", le)
	}
}

// A genuinely older change (a retried webhook arriving late) costs one
// billing read: billing answers the applied version with the applied
// values, so it is skipped and nothing is written. One carrying the
// applied values is skipped without a read.
func TestGenuinelyStaleWebhookIsSkippedAfterOneRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	v2 := `{"id":"acc_1","code":"ACME","name":"Acme Corp","currency":"USD","version":2}`
	b.putBilling(t, billsync.ObjectAccount, v2)
	b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, v2))
	sfCalls, gets, writes := len(b.org.CallLog()), b.billingGets(), b.billing.Writes()

	le := only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1)))
	if le.Reason != billsync.ReasonStale || le.Operation != "read" || !strings.Contains(le.Message, "holds the applied version and values") {
		t.Fatalf("older: %+v", le)
	}
	if b.billingGets() != gets+1 || len(b.org.CallLog()) != sfCalls || b.billing.Writes() != writes {
		t.Fatalf("older change: %d billing reads, Salesforce calls %v", b.billingGets()-gets, b.org.CallLog()[sfCalls:])
	}
	if st := b.state(t, billsync.ObjectAccount, "acc_1"); st.BillingVersion != 2 || st.Agreed["name"] != "Acme Corp" {
		t.Fatalf("state %+v", st)
	}
	if le := only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, v2))); le.Reason != billsync.ReasonStale || b.billingGets() != gets+1 {
		t.Fatalf("repeat: %+v, %d billing reads", le, b.billingGets()-gets)
	}
}

// billingGets counts the reads of single billing records so far.
func (b *bundle) billingGets() int {
	n := 0
	for _, c := range b.billing.Calls() {
		if c.Method == "get" {
			n++
		}
	}
	return n
}
