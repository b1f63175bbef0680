package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// syncedAccounts creates n accounts in billing and syncs each to
// Salesforce; it returns their billing ids.
func (b *bundle) syncedAccounts(t *testing.T, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		js := fmt.Sprintf(`{"id":"acc_%02d","code":"C%02d","name":"Account %02d","currency":"USD","version":1}`, i, i, i)
		b.putBilling(t, billsync.ObjectAccount, js)
		b.engine.Process(context.Background(), billingChange(t, billsync.ObjectAccount, billsync.OpCreated, js))
		ids = append(ids, fmt.Sprintf("acc_%02d", i))
	}
	if got := len(b.org.All("BillingAccount__c")); got != n {
		t.Fatalf("%d accounts in Salesforce, want %d", got, n)
	}
	return ids
}

// resync runs a resync of accounts to its end.
func (b *bundle) resync(t *testing.T, req billsync.ResyncRequest) *billsync.ResyncReport {
	t.Helper()
	req.Object = billsync.ObjectAccount
	r, err := b.engine.StartResync(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	rep := waitResync(t, b.engine, r.ID)
	if rep.State != "done" || len(rep.Guard) != 1 {
		t.Fatalf("resync report %+v", rep)
	}
	return rep
}

func (b *bundle) pendingHeld(t *testing.T) []billsync.HeldRun {
	t.Helper()
	runs, err := b.store.HeldRuns(context.Background(), billsync.HeldRunFilter{State: billsync.HeldPending})
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// A resync that would delete 8 of 10 accounts deletes nothing: it is
// held with its counts and a sample; a dry run reports the same numbers
// and holds nothing; approving queues exactly the held repairs, which
// delete the 8.
func TestGuardHoldsMassDelete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.set(t, "deletes.account", `"mirror"`)
	ids := b.syncedAccounts(t, 10)
	for _, id := range ids[:8] {
		if err := b.billing.Delete(ctx, billsync.ObjectAccount, id); err != nil {
			t.Fatal(err)
		}
	}

	dry := b.resync(t, billsync.ResyncRequest{DryRun: true})
	g := dry.Guard[0]
	if !g.Held || g.HeldRun != 0 || g.Deletes != 8 || g.Total != 10 || g.Overwrites != 0 || len(g.Reasons) != 1 {
		t.Fatalf("dry run guard %+v", g)
	}
	if runs := b.pendingHeld(t); len(runs) != 0 {
		t.Fatalf("a dry run held %+v", runs)
	}

	rep := b.resync(t, billsync.ResyncRequest{})
	g = rep.Guard[0]
	if !g.Held || g.HeldRun == 0 || g.Deletes != 8 || rep.Repairs != 0 || rep.Differences != 8 {
		t.Fatalf("report %+v, guard %+v", rep, g)
	}
	if q := b.store.Queued(); len(q) != 0 {
		t.Fatalf("a held resync queued %+v", q)
	}
	b.drain(t)
	if got := len(b.org.All("BillingAccount__c")); got != 10 {
		t.Fatalf("%d accounts left in Salesforce, want all 10", got)
	}
	runs := b.pendingHeld(t)
	if len(runs) != 1 || runs[0].ID != g.HeldRun || runs[0].Job != rep.ID || runs[0].Kind != billsync.HeldKindResync ||
		runs[0].Changes != 8 || runs[0].Guard.Deletes != 8 || len(runs[0].Sample) != 8 {
		t.Fatalf("held runs %+v", runs)
	}
	for _, s := range runs[0].Sample {
		if s.Op != billsync.GuardDelete || s.SalesforceID == "" || s.BillingID == "" {
			t.Fatalf("sample %+v", s)
		}
	}

	if _, err := b.store.ApproveHeldRun(ctx, g.HeldRun, "alice"); err != nil {
		t.Fatal(err)
	}
	if q := b.store.Queued(); len(q) != 8 {
		t.Fatalf("approval queued %d changes, want 8", len(q))
	}
	for _, le := range b.drain(t) {
		if le.Outcome != billsync.OutcomeSuccess || le.Operation != "delete" {
			t.Errorf("repair %+v", le)
		}
	}
	left := b.org.All("BillingAccount__c")
	if len(left) != 2 {
		t.Fatalf("%d accounts in Salesforce after the approval, want 2", len(left))
	}
	for _, r := range left {
		if id := r.Str("BillingId__c"); id != ids[8] && id != ids[9] {
			t.Errorf("left %s in Salesforce", id)
		}
	}
}

// Discarding a held run queues nothing and leaves both sides untouched.
func TestGuardDiscardLeavesData(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.set(t, "deletes.account", `"mirror"`)
	ids := b.syncedAccounts(t, 5)
	for _, id := range ids[:4] {
		if err := b.billing.Delete(ctx, billsync.ObjectAccount, id); err != nil {
			t.Fatal(err)
		}
	}
	rep := b.resync(t, billsync.ResyncRequest{Initial: true})
	runs := b.pendingHeld(t)
	if len(runs) != 1 || runs[0].Kind != billsync.HeldKindInitial || rep.Guard[0].HeldRun != runs[0].ID {
		t.Fatalf("held runs %+v, report %+v", runs, rep)
	}
	if _, err := b.store.DiscardHeldRun(ctx, runs[0].ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if q := b.store.Queued(); len(q) != 0 {
		t.Fatalf("a discard queued %+v", q)
	}
	if got := len(b.org.All("BillingAccount__c")); got != 5 {
		t.Fatalf("%d accounts in Salesforce, want 5", got)
	}
}

// Overwrites have their own limit: 3 of 10 accounts renamed in
// Salesforce is held under the default (10 %), with each field's side,
// old and new value in the sample; under a looser overwrite limit the
// same resync repairs at once.
func TestGuardHoldsMassOverwrite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.syncedAccounts(t, 10)
	for _, id := range ids[:3] {
		b.userEdit(b.sf("BillingAccount__c", id).ID(), "Name", "Renamed "+id)
	}
	rep := b.resync(t, billsync.ResyncRequest{})
	g := rep.Guard[0]
	if !g.Held || g.Overwrites != 3 || g.Deletes != 0 || len(g.Reasons) != 1 || rep.Repairs != 0 {
		t.Fatalf("guard %+v, report %+v", g, rep)
	}
	runs := b.pendingHeld(t)
	if len(runs) != 1 || len(runs[0].Sample) != 3 {
		t.Fatalf("held runs %+v", runs)
	}
	s := runs[0].Sample[0]
	if s.Op != billsync.GuardOverwrite || len(s.Fields) != 1 {
		t.Fatalf("sample %+v", s)
	}
	f := s.Fields[0]
	if f.Field != "name" || f.Side != billsync.SideBilling || f.Old != "Account "+s.BillingID[len("acc_"):] || f.New != "Renamed "+s.BillingID {
		t.Fatalf("field %+v", f)
	}

	b.set(t, "guard.overwrites.account", `{"percent":50,"count":500}`)
	rep = b.resync(t, billsync.ResyncRequest{})
	if g := rep.Guard[0]; g.Held || g.Overwrites != 3 || rep.Repairs != 3 || len(b.store.Queued()) != 3 {
		t.Fatalf("under a 50%% limit: guard %+v, report %+v", g, rep)
	}
}

// Within the limits nothing is held: 1 delete of 20 accounts is 5 %.
func TestGuardLetsSmallChangesThrough(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.set(t, "deletes.account", `"mirror"`)
	ids := b.syncedAccounts(t, 20)
	if err := b.billing.Delete(context.Background(), billsync.ObjectAccount, ids[0]); err != nil {
		t.Fatal(err)
	}
	rep := b.resync(t, billsync.ResyncRequest{})
	if g := rep.Guard[0]; g.Held || g.Deletes != 1 || rep.Repairs != 1 || len(b.pendingHeld(t)) != 0 {
		t.Fatalf("guard %+v, report %+v", g, rep)
	}
}

// The count limit applies below the share: 3 deletes of 20 (15 %) pass a
// 20 % limit but not a count of 2.
func TestGuardCountLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.set(t, "deletes.account", `"mirror"`)
	b.set(t, "guard.deletes.account", `{"percent":20,"count":2}`)
	ids := b.syncedAccounts(t, 20)
	for _, id := range ids[:3] {
		if err := b.billing.Delete(context.Background(), billsync.ObjectAccount, id); err != nil {
			t.Fatal(err)
		}
	}
	rep := b.resync(t, billsync.ResyncRequest{})
	if g := rep.Guard[0]; !g.Held || g.Deletes != 3 || rep.Repairs != 0 {
		t.Fatalf("guard %+v, report %+v", g, rep)
	}
}

// deleteInBilling deletes account id in billing and queues its webhook.
func (b *bundle) deleteInBilling(t *testing.T, id string) {
	t.Helper()
	if err := b.billing.Delete(context.Background(), billsync.ObjectAccount, id); err != nil {
		t.Fatal(err)
	}
	c := billingChange(t, billsync.ObjectAccount, billsync.OpDeleted, `{"id":"`+id+`","version":9}`)
	c.ID, c.EventID = 0, "webhook:delete:"+id
	if _, err := b.store.Enqueue(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
}

// A burst of deletes arriving as webhooks is mirrored up to the count of
// guard.deletes.account; the rest join one pending burst run, unapplied
// but not lost; a later delete joins it too. Approving applies them;
// the sync log says why each was held.
func TestGuardHoldsBurstOfDeletes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.set(t, "deletes.account", `"mirror"`)
	b.set(t, "guard.deletes.account", `{"percent":10,"count":2}`)
	ids := b.syncedAccounts(t, 10)
	for _, id := range ids[:4] {
		b.deleteInBilling(t, id)
	}
	entries := b.drain(t)
	held := 0
	for _, le := range entries {
		if le.Reason == billsync.ReasonHeld {
			held++
		}
	}
	if held != 2 {
		t.Fatalf("%d deletes held, want 2: %+v", held, entries)
	}
	if got := len(b.org.All("BillingAccount__c")); got != 8 {
		t.Fatalf("%d accounts in Salesforce, want 8 (2 deleted, 2 held)", got)
	}
	runs := b.pendingHeld(t)
	if len(runs) != 1 || runs[0].Kind != billsync.HeldKindBurst || runs[0].Changes != 2 || runs[0].Guard.Deletes != 2 ||
		runs[0].Guard.Total != 8 || len(runs[0].Sample) != 2 || runs[0].Sample[0].SalesforceID == "" {
		t.Fatalf("held runs %+v", runs)
	}
	// While the run is pending, every delete of accounts joins it.
	b.deleteInBilling(t, ids[4])
	b.drain(t)
	if runs = b.pendingHeld(t); len(runs) != 1 || runs[0].Changes != 3 {
		t.Fatalf("held runs after one more delete %+v", runs)
	}
	if _, err := b.store.ApproveHeldRun(ctx, runs[0].ID, "alice"); err != nil {
		t.Fatal(err)
	}
	for _, le := range b.drain(t) {
		if le.Outcome != billsync.OutcomeSuccess || le.Operation != "delete" {
			t.Errorf("approved delete %+v", le)
		}
	}
	if got := len(b.org.All("BillingAccount__c")); got != 5 {
		t.Fatalf("%d accounts in Salesforce after the approval, want 5", got)
	}
}

// Discarding a burst run deletes nothing of it.
func TestGuardDiscardBurst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.set(t, "deletes.account", `"mirror"`)
	b.set(t, "guard.deletes.account", `{"percent":10,"count":1}`)
	ids := b.syncedAccounts(t, 4)
	for _, id := range ids[:3] {
		b.deleteInBilling(t, id)
	}
	b.drain(t)
	runs := b.pendingHeld(t)
	if len(runs) != 1 || runs[0].Changes != 2 {
		t.Fatalf("held runs %+v", runs)
	}
	if _, err := b.store.DiscardHeldRun(context.Background(), runs[0].ID, "bob"); err != nil {
		t.Fatal(err)
	}
	b.drain(t)
	if got := len(b.org.All("BillingAccount__c")); got != 3 {
		t.Fatalf("%d accounts in Salesforce, want 3 (1 deleted, 2 discarded)", got)
	}
}

func TestBurstCounter(t *testing.T) {
	var c burstCounter
	now := fixedNow
	acc := burstKey{billsync.ObjectAccount, billsync.GuardDelete}
	upTo3 := func(n int) bool { return n <= 3 }
	for _, id := range []string{"1", "2", "3"} {
		if !c.admit(acc, id, now, time.Minute, upTo3) {
			t.Fatalf("change %s refused", id)
		}
	}
	if c.admit(acc, "4", now, time.Minute, upTo3) {
		t.Fatal("a fourth delete within the window admitted")
	}
	if !c.admit(acc, "2", now, time.Minute, upTo3) {
		t.Fatal("a retried change refused")
	}
	if !c.admit(burstKey{billsync.ObjectBalance, billsync.GuardDelete}, "5", now, time.Minute, upTo3) {
		t.Fatal("another object's delete refused")
	}
	if !c.admit(burstKey{billsync.ObjectAccount, billsync.GuardOverwrite}, "6", now, time.Minute, upTo3) {
		t.Fatal("an overwrite counted among the deletes")
	}
	if !c.admit(acc, "7", now.Add(time.Minute), time.Minute, upTo3) {
		t.Fatal("a delete after the window refused")
	}
}

// Filling empty fields overwrites nothing: a resync writing the e-mail
// address billing has for every account to Salesforce, where it is
// empty, is not held; a resync clearing them in Salesforce is.
func TestGuardFillIsNoOverwrite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.syncedAccounts(t, 10)
	fill := func(email string) {
		for i, id := range ids {
			b.putBilling(t, billsync.ObjectAccount, fmt.Sprintf(
				`{"id":%q,"code":"C%02d","name":"Account %02d","emailAddress":%q,"currency":"USD","version":2}`, id, i, i, email))
		}
	}
	fill("ops@example.com")
	rep := b.resync(t, billsync.ResyncRequest{})
	if g := rep.Guard[0]; g.Held || g.Overwrites != 0 || rep.Repairs != 10 {
		t.Fatalf("filling: guard %+v, report %+v", g, rep)
	}
	b.drain(t)
	for _, id := range ids {
		if got := b.sf("BillingAccount__c", id).Str("Email__c"); got != "ops@example.com" {
			t.Fatalf("%s: Email__c %q after the resync", id, got)
		}
	}
	fill("")
	rep = b.resync(t, billsync.ResyncRequest{})
	if g := rep.Guard[0]; !g.Held || g.Overwrites != 10 || rep.Repairs != 0 {
		t.Fatalf("clearing: guard %+v, report %+v", g, rep)
	}
}
