package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/emulate/faults"
	"github.com/billsync/billsync/sandbox"
)

// whileDown stops billsync, runs f, and starts billsync again on the same
// store and address: what f changes on either side arrives together.
func (h *harness) whileDown(f func()) {
	h.t.Helper()
	if err := h.sb.App.Close(); err != nil {
		h.t.Fatal(err)
	}
	f()
	if err := h.sb.StartApp(context.Background(), h.sb.AppAddr); err != nil {
		h.t.Fatal(err)
	}
	h.admin = adminclient.New(h.sb.AppURL(), sandbox.AdminToken, nil)
	h.waitReady()
}

// syncedAccount creates an account in billing and waits for it in
// Salesforce, returning both ids.
func (h *harness) syncedAccount(code string) (billsync.Entity, billsync.SObject) {
	h.t.Helper()
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": code, "name": code + " Inc", "currency": "USD"})
	rec := h.sfRecord("BillingAccount__c", acc.ID(), nil)
	h.quiesce()
	return acc, rec
}

func (h *harness) billingUpdate(t billsync.ObjectType, id string, f func(billsync.Entity)) {
	h.t.Helper()
	cur, err := h.billing.Get(context.Background(), t, id)
	if err != nil {
		h.t.Fatal(err)
	}
	f(cur)
	if _, err := h.billing.Update(context.Background(), t, cur); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) conflictsOf(billingID string) []billsync.Conflict {
	h.t.Helper()
	cs, _, err := h.app().store.Conflicts(context.Background(), billsync.ConflictFilter{Record: billingID})
	if err != nil {
		h.t.Fatal(err)
	}
	return cs
}

// TestConflictPoliciesEndToEnd: a same-field edit on both sides within
// one second is exactly one conflict under each policy, with the outcome
// the policy defines; under manual neither side changes until resolved
// (D1–D3).
func TestConflictPoliciesEndToEnd(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	ctx := context.Background()
	for i, policy := range []string{billsync.PolicyLatestWins, billsync.PolicyBillingWins, billsync.PolicySalesforceWins, billsync.PolicyManual} {
		h.setSetting("conflicts.account", policy)
		acc, rec := h.syncedAccount(fmt.Sprintf("C%d", i))
		// Both edits land while billsync is stopped, so they meet as a
		// conflict whatever the timing: Salesforce first, billing a moment
		// later, so latest-wins picks billing.
		h.whileDown(func() {
			h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": rec.ID(), "Name": "From Salesforce"})
			time.Sleep(20 * time.Millisecond)
			h.billingUpdate(billsync.ObjectAccount, acc.ID(), func(e billsync.Entity) { e["name"] = "From billing" })
		})
		h.eventually(policy+": one conflict", func() (bool, string) {
			cs := h.conflictsOf(acc.ID())
			return len(cs) == 1, fmt.Sprintf("%d conflicts", len(cs))
		})
		h.quiesce()
		cs := h.conflictsOf(acc.ID())
		if len(cs) != 1 {
			t.Fatalf("%s: %d conflicts, want 1", policy, len(cs))
		}
		sfName := func() string { r, _ := h.sb.SF.Record("BillingAccount__c", rec.ID()); return r.Str("Name") }
		billName := func() string { e, _ := h.billing.Get(ctx, billsync.ObjectAccount, acc.ID()); return e.Str("name") }
		want := map[string]string{billsync.PolicyLatestWins: "From billing", billsync.PolicyBillingWins: "From billing", billsync.PolicySalesforceWins: "From Salesforce"}[policy]
		if policy != billsync.PolicyManual {
			if cs[0].Status != billsync.ConflictResolved || sfName() != want || billName() != want {
				t.Fatalf("%s: status %s, salesforce %q, billing %q, want %q", policy, cs[0].Status, sfName(), billName(), want)
			}
			continue
		}
		if cs[0].Status != billsync.ConflictHeld || sfName() != "From Salesforce" || billName() != "From billing" {
			t.Fatalf("manual: status %s, salesforce %q, billing %q", cs[0].Status, sfName(), billName())
		}
		if _, err := h.app().engine.ResolveConflict(ctx, cs[0].ID, billsync.SideSalesforce, "ops"); err != nil {
			t.Fatal(err)
		}
		h.eventually("resolved", func() (bool, string) {
			return billName() == "From Salesforce" && h.conflictsOf(acc.ID())[0].Status == billsync.ConflictResolved, billName()
		})
	}
}

// TestDeletesEndToEnd: with mirror, a transaction deleted in billing is
// deleted in Salesforce, and undeleting it there brings it back in
// billing; with ignore, each is logged as skipped (H1).
func TestDeletesEndToEnd(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	ctx := context.Background()
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "DEL", "name": "Deleter", "currency": "USD"})
	bal := h.create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "code": "B", "name": "B", "amount": "10.00", "currency": "USD"})
	for _, policy := range []string{billsync.DeleteMirror, billsync.DeleteIgnore} {
		h.setSetting("deletes.balance_transaction", policy)
		tx := h.create(billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bal.ID(), "amount": "3.00", "description": policy})
		sfTx := h.sfRecord("BillingBalanceTransaction__c", tx.ID(), nil)
		if err := h.billing.Delete(ctx, billsync.ObjectBalanceTransaction, tx.ID()); err != nil {
			t.Fatal(err)
		}
		if policy == billsync.DeleteIgnore {
			h.eventually("delete skipped", func() (bool, string) {
				for _, e := range h.logs(billsync.LogFilter{Record: tx.ID()}) {
					if e.Reason == billsync.ReasonDeleteIgnored {
						return true, ""
					}
				}
				return false, "no delete_ignored entry"
			})
			if _, ok := h.sb.SF.Record("BillingBalanceTransaction__c", sfTx.ID()); !ok {
				t.Fatal("ignore: the Salesforce record was deleted")
			}
			continue
		}
		h.eventually("deleted in Salesforce", func() (bool, string) {
			_, ok := h.sb.SF.Record("BillingBalanceTransaction__c", sfTx.ID())
			return !ok, "still there"
		})
		if err := h.sb.SF.Undelete(sfTx.ID(), "sales@billsync.test"); err != nil {
			t.Fatal(err)
		}
		var newID string
		h.eventually("back in billing", func() (bool, string) {
			r, ok := h.sb.SF.Record("BillingBalanceTransaction__c", sfTx.ID())
			newID = r.Str("BillingId__c")
			return ok && newID != "" && newID != tx.ID(), fmt.Sprintf("%v", r)
		})
		back := h.billingRecord(billsync.ObjectBalanceTransaction, newID, func(billsync.Entity) bool { return true })
		if back.Str("amount") != "3.00" || back.Str("balanceId") != bal.ID() {
			t.Fatalf("restored %v", back)
		}
	}

	// Deletes made in Salesforce: mirror deletes the billing record;
	// ignore logs the delete and the undelete as skipped.
	for _, policy := range []string{billsync.DeleteMirror, billsync.DeleteIgnore} {
		h.setSetting("deletes.balance_transaction", policy)
		tx := h.create(billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bal.ID(), "amount": "4.00", "description": "sf delete " + policy})
		sfTx := h.sfRecord("BillingBalanceTransaction__c", tx.ID(), nil)
		h.quiesce()
		if res, err := h.sales.Delete(ctx, []string{sfTx.ID()}); err != nil || !res[0].Success {
			t.Fatalf("sales user delete: %v %+v", err, res)
		}
		if policy == billsync.DeleteMirror {
			h.eventually("deleted in billing", func() (bool, string) {
				_, err := h.billing.Get(ctx, billsync.ObjectBalanceTransaction, tx.ID())
				return billsync.ErrorCode(err) == billsync.ENOTFOUND, fmt.Sprint(err)
			})
			continue
		}
		if err := h.sb.SF.Undelete(sfTx.ID(), "sales@billsync.test"); err != nil {
			t.Fatal(err)
		}
		h.eventually("delete and undelete skipped", func() (bool, string) {
			ops := map[string]bool{}
			for _, e := range h.logs(billsync.LogFilter{Record: sfTx.ID(), Outcome: billsync.OutcomeSkipped}) {
				if e.Reason == billsync.ReasonDeleteIgnored {
					ops[e.Operation] = true
				}
			}
			return ops["delete"] && ops["undelete"], fmt.Sprint(ops)
		})
		if _, err := h.billing.Get(ctx, billsync.ObjectBalanceTransaction, tx.ID()); err != nil {
			t.Fatalf("ignore: the billing record is gone: %v", err)
		}
	}
}

// TestResyncRepairsDrift: with an object switched off, records change on
// both sides; once it is back on, a dry run lists the differences and
// changes nothing, and the resync repairs every one (H2, H4, A5).
func TestResyncRepairsDrift(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	ctx := context.Background()
	a1, r1 := h.syncedAccount("R1")
	a2, r2 := h.syncedAccount("R2")
	h.setSetting(billsync.KeySyncAccounts, "off")
	h.billingUpdate(billsync.ObjectAccount, a1.ID(), func(e billsync.Entity) { e["name"] = "R1 renamed in billing" })
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": r2.ID(), "Code__c": "R2-SF"})
	a3 := h.create(billsync.ObjectAccount, billsync.Entity{"code": "R3", "name": "Created while off", "currency": "USD"})
	h.quiesce()
	h.setSetting(billsync.KeySyncAccounts, "on")
	// Two overwrites of three accounts pass the mass-change guard's
	// default (10 %); this test is about the repairs, not the guard.
	h.setSetting("guard.overwrites.account", "100%,500")

	run := func(dry bool) *billsync.ResyncReport {
		rep, err := h.app().engine.StartResync(ctx, billsync.ResyncRequest{Object: billsync.ObjectAccount, DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		h.eventually("resync done", func() (bool, string) {
			rep, err = h.app().engine.Resync(ctx, rep.ID)
			return err == nil && rep.State != "running", fmt.Sprint(rep.State, err)
		})
		if rep.State != "done" {
			t.Fatalf("resync %s: %s", rep.State, rep.Error)
		}
		return rep
	}
	dry := run(true)
	kinds := map[string]string{}
	for _, d := range dry.Diffs {
		kinds[d.BillingID] = d.Kind
	}
	if dry.Differences != 3 || kinds[a1.ID()] != billsync.DiffFields || kinds[a2.ID()] != billsync.DiffFields || kinds[a3.ID()] != billsync.DiffMissingInSalesforce || dry.Repairs != 0 {
		b, _ := json.MarshalIndent(dry, "", " ")
		t.Fatalf("dry run: %s", b)
	}
	// The dry run changed nothing on either side.
	time.Sleep(300 * time.Millisecond)
	if r, _ := h.sb.SF.Record("BillingAccount__c", r1.ID()); r.Str("Name") == "R1 renamed in billing" {
		t.Fatal("dry run wrote to Salesforce")
	}
	if e, _ := h.billing.Get(ctx, billsync.ObjectAccount, a2.ID()); e.Str("code") != "R2" {
		t.Fatalf("dry run wrote to billing: code %q", e.Str("code"))
	}
	for _, r := range h.sb.SF.Records("BillingAccount__c") {
		if r.Str("BillingId__c") == a3.ID() {
			t.Fatal("dry run created a Salesforce record")
		}
	}
	rep := run(false)
	if rep.Differences != 3 || rep.Repairs != 3 {
		t.Fatalf("resync: %+v", rep)
	}
	// The repair found the same differences the dry run listed.
	for _, d := range rep.Diffs {
		if kinds[d.BillingID] != d.Kind {
			t.Fatalf("resync found %s %s, the dry run %q", d.BillingID, d.Kind, kinds[d.BillingID])
		}
	}
	h.sfRecord("BillingAccount__c", a1.ID(), func(r billsync.SObject) bool { return r.Str("Name") == "R1 renamed in billing" })
	h.billingRecord(billsync.ObjectAccount, a2.ID(), func(e billsync.Entity) bool { return e.Str("code") == "R2-SF" })
	h.sfRecord("BillingAccount__c", a3.ID(), nil)
	h.quiesce()
	if again := run(true); again.Differences != 0 {
		t.Fatalf("differences left after the repair: %+v", again.Diffs)
	}
}

// TestLostAnswerOnSalesforceCreate reproduces, deterministically,
// what the chaos test found: a transaction created in Salesforce whose billing
// create succeeds but whose answer is lost (a 500 after the write, or a
// SIGKILL before billsync saved the id map) ends up twice in Salesforce.
// The billing webhook of the new record arrives before the retry, finds
// no sync state and upserts a second Salesforce record by BillingId__c;
// the retry then gets the same billing record back (idempotency key) and
// cannot write BillingId__c to the user's record: DUPLICATE_VALUE, dead
// letter (C3, §4 "creates no duplicate record").
func TestLostAnswerOnSalesforceCreate(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "LA", "name": "Lost answer", "currency": "USD"})
	bal := h.create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "code": "B", "name": "B", "amount": "10.00", "currency": "USD"})
	sfBal := h.sfRecord("BillingBalance__c", bal.ID(), nil)
	h.quiesce()

	// The next create of a transaction in billing happens, but its
	// answer is a 500.
	cfg, err := faults.Parse("once:path=/api/v1/balance-transactions,method=POST,status=500,after")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sb.BillingFaults.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	res, err := h.sales.Create(context.Background(), "BillingBalanceTransaction__c", []billsync.SObject{{
		"BillingBalance__c": sfBal.ID(), "Amount__c": json.Number("7.00"), "Description__c": "manual", "AppliedDate__c": "2026-11-20"}})
	if err != nil || !res[0].Success {
		t.Fatalf("sales user create: %v %+v", err, res)
	}
	h.eventually("the lost answer", func() (bool, string) {
		return h.sb.BillingFaults.Counts()["once"] > 0, "no billing create yet"
	})
	if err := h.sb.BillingFaults.Apply(faults.Config{}); err != nil {
		t.Fatal(err)
	}
	h.quiesce()
	recs := h.sb.SF.Records("BillingBalanceTransaction__c")
	if len(recs) != 1 || recs[0].Str("BillingId__c") == "" {
		for _, r := range recs {
			t.Logf("Salesforce: %s BillingId__c=%q BillingSyncError__c=%q", r.ID(), r.Str("BillingId__c"), r.Str("BillingSyncError__c"))
		}
		dls, _ := h.app().store.DeadLetters(context.Background(), 10)
		for _, d := range dls {
			t.Logf("dead letter: %s %s %s: %s %s", d.Object, d.Op, d.RecordID, d.ErrorCode, d.Error)
		}
		t.Fatalf("%d Salesforce transactions for one created in Salesforce, want 1", len(recs))
	}
}

// TestReplayGapStartsResync: when the stored replay id has fallen out of
// the org's retention window, the gap is logged and a resync repairs what
// the lost events carried (C5).
func TestReplayGapStartsResync(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	// The resync overwrites the one account there is: past the
	// mass-change guard's default (10 %), so it would be held for
	// approval; this test is about the gap, not the guard.
	h.setSetting("guard.overwrites.account", "100%,500")
	acc, rec := h.syncedAccount("GAP")
	// One event handled, so a replay id is stored.
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": rec.ID(), "Name": "GAP seen"})
	h.billingRecord(billsync.ObjectAccount, acc.ID(), func(e billsync.Entity) bool { return e.Str("name") == "GAP seen" })
	h.quiesce()

	h.whileDown(func() {
		h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": rec.ID(), "Name": "GAP edited while down"})
		// The org's retention runs out: every retained event is purged,
		// the stored replay id with them, and the edit's event too.
		if n := h.sb.SF.Bus().Purge(time.Now().Add(time.Hour)); n == 0 {
			t.Fatal("nothing purged")
		}
	})
	h.billingRecord(billsync.ObjectAccount, acc.ID(), func(e billsync.Entity) bool { return e.Str("name") == "GAP edited while down" })
	found := false
	for _, e := range h.logs(billsync.LogFilter{}) {
		if e.Reason == "replay_gap" && e.Outcome == billsync.OutcomeFailed {
			found = true
		}
	}
	if !found {
		t.Fatal("the replay gap was not logged")
	}
}
