package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/sandbox"
)

// runSandboxCLI runs one command against the sandbox's billsync with the
// sandbox's admin token, as a user of the sandbox would.
func (h *harness) runSandboxCLI(newCmd func(*globals) *cobra.Command, args ...string) (string, error) {
	h.t.Helper()
	var out, errw bytes.Buffer
	g := &globals{out: &out, err: &errw}
	cmd := newCmd(g)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetOut(&out)
	cmd.SetErr(&errw)
	cmd.SetArgs(append(args, "--server", h.sb.AppURL(), "--token", sandbox.AdminToken))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String() + errw.String(), err
}

// resyncBalances runs a resync of balances through the admin API to its
// end.
func (h *harness) resyncBalances(dry bool) *billsync.ResyncReport {
	h.t.Helper()
	ctx := context.Background()
	rep, err := h.admin.StartResync(ctx, billsync.ResyncRequest{Object: billsync.ObjectBalance, DryRun: dry})
	if err != nil {
		h.t.Fatal(err)
	}
	h.eventually("resync done", func() (bool, string) {
		rep, err = h.admin.Resync(ctx, rep.ID)
		return err == nil && rep.State != "running", fmt.Sprint(rep.State, err)
	})
	if rep.State != "done" || len(rep.Guard) != 1 {
		b, _ := json.MarshalIndent(rep, "", " ")
		h.t.Fatalf("resync: %s", b)
	}
	return rep
}

// TestGuardHoldsMassDeleteOfBalances: a resync that would delete 8 of
// the 10 synced balances in Salesforce (as a mapping mistake or the
// wrong billing tenant would make it: 8 of the balances Salesforce holds
// are not found in billing, and deletes are mirrored) deletes nothing. The
// dry run reports the numbers and says a real run would be held; the
// real run is held and listed with its counts and a sample through the
// API and the CLI; discarding it leaves every balance in place; a new
// resync is held again, and approving it through the CLI deletes the 8.
func TestGuardHoldsMassDeleteOfBalances(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	ctx := context.Background()
	h.setSetting("deletes.balance", "mirror")
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "GUARD", "name": "Guarded", "currency": "USD"})
	var bals []billsync.Entity
	for i := range 10 {
		bals = append(bals, h.create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "code": fmt.Sprintf("G%d", i),
			"name": "Prepaid", "amount": fmt.Sprintf("%d.25", 10+i), "currency": "USD"}))
	}
	for _, b := range bals {
		h.sfRecord("BillingBalance__c", b.ID(), nil)
	}
	h.quiesce()
	// The balances vanish from billing while balance sync is off, so
	// only a resync sees the difference.
	h.setSetting(billsync.KeySyncBalances, "off")
	for _, b := range bals[:8] {
		if err := h.billing.Delete(ctx, billsync.ObjectBalance, b.ID()); err != nil {
			t.Fatal(err)
		}
	}
	h.quiesce()
	h.setSetting(billsync.KeySyncBalances, "on")
	balancesInSalesforce := func() int { return len(h.sb.SF.Records("BillingBalance__c")) }

	dry := h.resyncBalances(true)
	if g := dry.Guard[0]; !g.Held || g.HeldRun != 0 || g.Deletes != 8 || g.Total != 10 {
		t.Fatalf("dry run guard %+v", g)
	}
	out, err := h.runSandboxCLI(newResyncCmd, "--object", "balance", "--dry-run", "--progress", "none")
	if err != nil || !strings.Contains(out, "a real run would hold the balance repairs") ||
		!strings.Contains(out, "would delete 8 of 10 balance records; guard.deletes.balance allows 1 (10%, at most 500)") {
		t.Fatalf("resync --dry-run: %v\n%s", err, out)
	}

	held := func() billsync.HeldRun {
		t.Helper()
		rep := h.resyncBalances(false)
		g := rep.Guard[0]
		if !g.Held || g.HeldRun == 0 || g.Deletes != 8 || rep.Repairs != 0 {
			t.Fatalf("resync guard %+v, report %+v", g, rep)
		}
		h.quiesce()
		if n := balancesInSalesforce(); n != 10 {
			t.Fatalf("%d balances in Salesforce after a held resync, want 10", n)
		}
		runs, err := h.admin.HeldRuns(ctx, billsync.HeldRunFilter{State: billsync.HeldPending})
		if err != nil || len(runs) != 1 || runs[0].ID != g.HeldRun || runs[0].Object != billsync.ObjectBalance ||
			runs[0].Guard.Deletes != 8 || runs[0].Guard.Total != 10 || runs[0].Changes != 8 || len(runs[0].Sample) != 8 {
			t.Fatalf("held runs %+v, %v", runs, err)
		}
		return runs[0]
	}

	first := held()
	out, err = h.runSandboxCLI(newHeldCmd)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("held run %d: pending, resync of balance", first.ID),
		"would delete 8 of 10 balance records",
		first.Sample[0].BillingID,
		"(5 of 8 records shown)",
		fmt.Sprintf("billsync held approve %d", first.ID),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("billsync held: no %q in\n%s", want, out)
		}
	}
	if out, err := h.runSandboxCLI(newHeldCmd, "discard", fmt.Sprint(first.ID)); err != nil || !strings.Contains(out, "discarded") {
		t.Fatalf("billsync held discard: %v\n%s", err, out)
	}
	h.quiesce()
	if n := balancesInSalesforce(); n != 10 {
		t.Fatalf("%d balances in Salesforce after the discard, want 10", n)
	}
	if audit, err := h.admin.Audit(ctx, 5); err != nil || len(audit) == 0 || audit[0].Key != billsync.HeldAuditKey(first.ID) {
		t.Fatalf("audit %+v, %v", audit, err)
	}

	second := held()
	if out, err := h.runSandboxCLI(newHeldCmd, "approve", fmt.Sprint(second.ID)); err != nil || !strings.Contains(out, "8 repairs of balance queued") {
		t.Fatalf("billsync held approve: %v\n%s", err, out)
	}
	h.eventually("the 8 balances deleted in Salesforce", func() (bool, string) {
		n := balancesInSalesforce()
		return n == 2, fmt.Sprint(n)
	})
	h.quiesce()
	for _, r := range h.sb.SF.Records("BillingBalance__c") {
		if id := r.Str("BillingId__c"); id != bals[8].ID() && id != bals[9].ID() {
			t.Errorf("balance %s left in Salesforce", id)
		}
	}
	if _, err := h.runSandboxCLI(newHeldCmd, "approve", fmt.Sprint(second.ID)); billsync.ErrorCode(err) != billsync.ECONFLICT {
		t.Fatalf("approving twice: %v", err)
	}
	if again := h.resyncBalances(false); again.Differences != 0 || again.Guard[0].Held {
		t.Fatalf("the resync after the approval finds %+v", again)
	}
}

// TestGuardHoldsBurstOfBalanceDeletes: balances deleted in billing one by
// one, with deletes mirrored, are deleted in Salesforce up to the count
// of guard.deletes.balance; the rest are held in one burst run, listed by
// the CLI, and deleted once it is approved.
func TestGuardHoldsBurstOfBalanceDeletes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	ctx := context.Background()
	h.setSetting("deletes.balance", "mirror")
	h.setSetting("guard.deletes.balance", "10%,2")
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "BURST", "name": "Burst", "currency": "USD"})
	var bals []billsync.Entity
	for i := range 6 {
		bals = append(bals, h.create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "code": fmt.Sprintf("B%d", i),
			"name": "Prepaid", "amount": "1.00", "currency": "USD"}))
	}
	for _, b := range bals {
		h.sfRecord("BillingBalance__c", b.ID(), nil)
	}
	h.quiesce()
	for _, b := range bals[:4] {
		if err := h.billing.Delete(ctx, billsync.ObjectBalance, b.ID()); err != nil {
			t.Fatal(err)
		}
	}
	h.quiesce()
	if n := len(h.sb.SF.Records("BillingBalance__c")); n != 4 {
		t.Fatalf("%d balances in Salesforce, want 4 (2 deleted, 2 held)", n)
	}
	runs, err := h.admin.HeldRuns(ctx, billsync.HeldRunFilter{State: billsync.HeldPending})
	if err != nil || len(runs) != 1 || runs[0].Kind != billsync.HeldKindBurst || runs[0].Changes != 2 {
		t.Fatalf("held runs %+v, %v", runs, err)
	}
	out, err := h.runSandboxCLI(newHeldCmd)
	if err != nil || !strings.Contains(out, fmt.Sprintf("held run %d: pending, burst of balance deletes", runs[0].ID)) ||
		!strings.Contains(out, "more than 2 deletes of balance records within 10m0s") {
		t.Fatalf("billsync held: %v\n%s", err, out)
	}
	if out, err := h.runSandboxCLI(newHeldCmd, "approve", fmt.Sprint(runs[0].ID)); err != nil {
		t.Fatalf("billsync held approve: %v\n%s", err, out)
	}
	h.eventually("the held balance deletes applied", func() (bool, string) {
		n := len(h.sb.SF.Records("BillingBalance__c"))
		return n == 2, fmt.Sprint(n)
	})
}

// TestGuardHoldsAMappingMistake: a mapping file that names the wrong
// external id field for balances (Code__c, which holds the billing id on
// only 2 of 10 records) makes a resync see 8 of 10 Salesforce balances
// with a foreign id; it would write the billing ids over their codes (and
// with no sync state to link them, delete them as gone from billing, with
// deletes mirrored). The guard holds the run instead: nothing is written,
// the held run is listed with its counts, and discarding it leaves the
// data untouched.
func TestGuardHoldsAMappingMistake(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	t.Parallel()
	h, remap := startRemappable(t)
	ctx := context.Background()
	h.setSetting("deletes.balance", "mirror")
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "MAP", "name": "Mapped", "currency": "USD"})
	var bals []billsync.Entity
	for i := range 10 {
		bals = append(bals, h.create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "code": fmt.Sprintf("M%d", i),
			"name": "Prepaid", "amount": "10.00", "currency": "USD"}))
	}
	// Two balances' codes happen to equal their billing ids.
	for _, b := range bals[:2] {
		cur, err := h.billing.Get(ctx, billsync.ObjectBalance, b.ID())
		if err != nil {
			t.Fatal(err)
		}
		cur["code"] = b.ID()
		if _, err := h.billing.Update(ctx, billsync.ObjectBalance, cur); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range bals {
		want := fmt.Sprintf("M%d", i)
		if i < 2 {
			want = b.ID()
		}
		h.sfRecord("BillingBalance__c", b.ID(), func(r billsync.SObject) bool { return r.Str("Code__c") == want })
	}
	h.quiesce()

	// The mistake: balances keyed by Code__c instead of BillingId__c.
	m := mapping.Default()
	for i := range m.Objects {
		if m.Objects[i].Type == billsync.ObjectBalance {
			m.Objects[i].ExternalID = "Code__c"
		}
	}
	remap.useMapping(t, m)
	h.whileDown(func() {})

	rep := h.resyncBalances(false)
	var g billsync.GuardCheck
	for _, c := range rep.Guard {
		if c.Object == billsync.ObjectBalance {
			g = c
		}
	}
	if !g.Held || g.HeldRun == 0 || g.Deletes+g.Overwrites != 8 || g.Total != 10 || rep.Repairs != 0 {
		t.Fatalf("resync guard %+v, report %+v", g, rep)
	}
	h.quiesce()
	codes := func() map[string]string {
		out := map[string]string{}
		for _, r := range h.sb.SF.Records("BillingBalance__c") {
			out[r.Str("BillingId__c")] = r.Str("Code__c")
		}
		return out
	}
	for i, b := range bals[2:] {
		if got := codes()[b.ID()]; got != fmt.Sprintf("M%d", i+2) {
			t.Errorf("balance %s: Code__c %q after the held resync", b.ID(), got)
		}
	}
	runs, err := h.admin.HeldRuns(ctx, billsync.HeldRunFilter{State: billsync.HeldPending})
	if err != nil || len(runs) != 1 || runs[0].Guard.Deletes+runs[0].Guard.Overwrites != 8 || runs[0].Guard.Total != 10 {
		t.Fatalf("held runs %+v, %v", runs, err)
	}
	if out, err := h.runSandboxCLI(newHeldCmd, "discard", fmt.Sprint(runs[0].ID)); err != nil || !strings.Contains(out, "discarded") {
		t.Fatalf("billsync held discard: %v\n%s", err, out)
	}
	h.quiesce()
	for i, b := range bals {
		want := fmt.Sprintf("M%d", i)
		if i < 2 {
			want = b.ID()
		}
		if got, ok := codes()[b.ID()]; !ok || got != want {
			t.Errorf("balance %s after the discard: present %v, Code__c %q", b.ID(), ok, got)
		}
	}
}

// TestGuardHoldsDeletesAfterAMappingChange: billsync starts on a fresh
// store (a new deployment, say) with a mapping file whose balances are keyed
// by Code__c instead of BillingId__c. Only 2 of the org's 10 balances have
// a code that is a billing id, so a resync sees the other 8 as gone from
// billing and, with deletes mirrored, would delete 80 % of the balances.
// The guard holds it: nothing is deleted, the run is listed with its
// counts, and discarding it leaves the data untouched; the same resync,
// held again and approved, deletes the 8.
func TestGuardHoldsDeletesAfterAMappingChange(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	t.Parallel()
	h, remap := startRemappable(t)
	ctx := context.Background()
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "MAPD", "name": "Mapped", "currency": "USD"})
	var bals []billsync.Entity
	for i := range 10 {
		bals = append(bals, h.create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "code": fmt.Sprintf("D%d", i),
			"name": "Prepaid", "amount": "10.00", "currency": "USD"}))
	}
	for _, b := range bals[:2] {
		cur, err := h.billing.Get(ctx, billsync.ObjectBalance, b.ID())
		if err != nil {
			t.Fatal(err)
		}
		cur["code"] = b.ID()
		if _, err := h.billing.Update(ctx, billsync.ObjectBalance, cur); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range bals {
		want := fmt.Sprintf("D%d", i)
		if i < 2 {
			want = b.ID()
		}
		h.sfRecord("BillingBalance__c", b.ID(), func(r billsync.SObject) bool { return r.Str("Code__c") == want })
	}
	h.quiesce()

	m := mapping.Default()
	for i := range m.Objects {
		if m.Objects[i].Type == billsync.ObjectBalance {
			m.Objects[i].ExternalID = "Code__c"
		}
	}
	remap.useMapping(t, m)
	remap.data.Store(t.TempDir())
	h.whileDown(func() {})
	h.setSetting("deletes.balance", "mirror")

	rep := h.resyncBalances(false)
	var g billsync.GuardCheck
	for _, c := range rep.Guard {
		if c.Object == billsync.ObjectBalance {
			g = c
		}
	}
	if !g.Held || g.HeldRun == 0 || g.Deletes != 8 || g.Total < 10 {
		t.Fatalf("resync guard %+v, report %+v", g, rep)
	}
	h.quiesce()
	present := func() map[string]bool {
		out := map[string]bool{}
		for _, r := range h.sb.SF.Records("BillingBalance__c") {
			out[r.Str("BillingId__c")] = true
		}
		return out
	}
	for _, b := range bals {
		if !present()[b.ID()] {
			t.Errorf("balance %s deleted by a held resync", b.ID())
		}
	}
	runs, err := h.admin.HeldRuns(ctx, billsync.HeldRunFilter{State: billsync.HeldPending})
	if err != nil || len(runs) != 1 || runs[0].Guard.Deletes != 8 {
		t.Fatalf("held runs %+v, %v", runs, err)
	}
	out, err := h.runSandboxCLI(newHeldCmd)
	if err != nil || !strings.Contains(out, "would delete 8 of") {
		t.Fatalf("billsync held: %v\n%s", err, out)
	}
	if out, err := h.runSandboxCLI(newHeldCmd, "discard", fmt.Sprint(runs[0].ID)); err != nil || !strings.Contains(out, "discarded") {
		t.Fatalf("billsync held discard: %v\n%s", err, out)
	}
	h.quiesce()
	for _, b := range bals {
		if !present()[b.ID()] {
			t.Errorf("balance %s gone after the discard", b.ID())
		}
	}

	// The same resync again is held again; approving it applies it: the
	// 8 balances are deleted, the 2 the mapping still finds are kept.
	rep = h.resyncBalances(false)
	g = rep.Guard[0]
	if !g.Held || g.HeldRun == 0 || g.HeldRun == runs[0].ID || g.Deletes != 8 {
		t.Fatalf("the second resync: guard %+v, report %+v", g, rep)
	}
	h.quiesce()
	if n := len(present()); n != 10 {
		t.Fatalf("%d balances in Salesforce after the second held resync, want 10", n)
	}
	if out, err := h.runSandboxCLI(newHeldCmd, "approve", fmt.Sprint(g.HeldRun)); err != nil || !strings.Contains(out, "approved") {
		t.Fatalf("billsync held approve: %v\n%s", err, out)
	}
	h.eventually("the 8 balances deleted in Salesforce", func() (bool, string) {
		p := present()
		return len(p) == 2 && p[bals[0].ID()] && p[bals[1].ID()], fmt.Sprint(p)
	})
	h.quiesce()
	if n := len(present()); n != 2 {
		t.Fatalf("%d balances in Salesforce after the approval, want 2", n)
	}
}
