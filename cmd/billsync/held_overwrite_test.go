package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
)

// balancePair is one balance as both sides hold it: billing's name and
// code, Salesforce's Name and Code__c.
type balancePair struct{ name, code, sfName, sfCode string }

// balancePairs reads every balance of ids from both sides.
func (h *harness) balancePairs(ids []string) map[string]balancePair {
	h.t.Helper()
	sf := map[string]billsync.SObject{}
	for _, r := range h.sb.SF.Records("BillingBalance__c") {
		sf[r.Str("BillingId__c")] = r
	}
	out := map[string]balancePair{}
	for _, id := range ids {
		b, err := h.billing.Get(context.Background(), billsync.ObjectBalance, id)
		if err != nil {
			h.t.Fatal(err)
		}
		out[id] = balancePair{b.Str("name"), b.Str("code"), sf[id].Str("Name"), sf[id].Str("Code__c")}
	}
	return out
}

// TestGuardHoldsOverwritesAfterAMappingChange: billsync restarts with a
// mapping file that swaps the Salesforce fields of the balances' name and
// code. For 8 of the 10 balances name and code differ, so a resync would
// overwrite both fields of 80 % of the balances. The dry run reports the
// numbers; the real run is held and listed with its counts and a sample
// (each field with the side written, its old and new value) through the
// API and the CLI; discarding it leaves both sides untouched; the same
// resync, held again and approved, applies it: both sides agree under the
// new mapping.
func TestGuardHoldsOverwritesAfterAMappingChange(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	t.Parallel()
	h, remap := startRemappable(t)
	ctx := context.Background()
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "SWAP", "name": "Swapped", "currency": "USD"})
	var ids []string
	for i := range 10 {
		code, name := fmt.Sprintf("W%d", i), fmt.Sprintf("Prepaid %d", i)
		if i < 2 {
			name = code // name and code agree: the swap changes nothing
		}
		b := h.create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "code": code, "name": name,
			"amount": "10.00", "currency": "USD"})
		h.sfRecord("BillingBalance__c", b.ID(), func(r billsync.SObject) bool { return r.Str("Code__c") == code })
		ids = append(ids, b.ID())
	}
	h.quiesce()
	before := h.balancePairs(ids)

	m := mapping.Default()
	for i := range m.Objects {
		if m.Objects[i].Type != billsync.ObjectBalance {
			continue
		}
		for j, f := range m.Objects[i].Fields {
			switch f.Billing {
			case "name":
				m.Objects[i].Fields[j].Salesforce = "Code__c"
			case "code":
				m.Objects[i].Fields[j].Salesforce = "Name"
			}
		}
	}
	remap.useMapping(t, m)
	h.whileDown(func() {})

	if g := h.resyncBalances(true).Guard[0]; !g.Held || g.HeldRun != 0 || g.Overwrites != 8 || g.Deletes != 0 || g.Total != 10 {
		t.Fatalf("dry run guard %+v", g)
	}
	held := func() billsync.HeldRun {
		t.Helper()
		rep := h.resyncBalances(false)
		g := rep.Guard[0]
		if !g.Held || g.HeldRun == 0 || g.Overwrites != 8 || g.Deletes != 0 || g.Total != 10 || rep.Repairs != 0 {
			t.Fatalf("resync guard %+v, report %+v", g, rep)
		}
		h.quiesce()
		if got := h.balancePairs(ids); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Fatalf("balances after a held resync:\n%v\nwant\n%v", got, before)
		}
		r, err := h.admin.HeldRun(ctx, g.HeldRun)
		if err != nil || r.State != billsync.HeldPending || r.Guard.Overwrites != 8 || r.Changes != 8 || len(r.Sample) != 8 {
			t.Fatalf("held run %+v, %v", r, err)
		}
		for _, s := range r.Sample {
			p := before[s.BillingID]
			if s.Op != billsync.GuardOverwrite || len(s.Fields) != 2 {
				t.Fatalf("sample %+v", s)
			}
			for _, f := range s.Fields {
				if f.Side == "" || f.Old == "" || f.New == "" || f.Old == f.New ||
					(f.Field == "name" && !strings.Contains(p.name+p.sfCode, f.Old)) {
					t.Fatalf("sample field %+v of %+v", f, p)
				}
			}
		}
		return *r
	}

	first := held()
	out, err := h.runSandboxCLI(newHeldCmd)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("held run %d: pending, resync of balance", first.ID),
		"would overwrite 8 of 10 balance records; guard.overwrites.balance allows 1 (10%, at most 500)",
		first.Sample[0].BillingID,
		"(5 of 8 records shown)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("billsync held: no %q in\n%s", want, out)
		}
	}
	if out, err := h.runSandboxCLI(newHeldCmd, "discard", fmt.Sprint(first.ID)); err != nil || !strings.Contains(out, "discarded") {
		t.Fatalf("billsync held discard: %v\n%s", err, out)
	}
	h.quiesce()
	if got := h.balancePairs(ids); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("balances after the discard:\n%v\nwant\n%v", got, before)
	}

	second := held()
	if out, err := h.runSandboxCLI(newHeldCmd, "approve", fmt.Sprint(second.ID)); err != nil || !strings.Contains(out, "8 repairs of balance queued") {
		t.Fatalf("billsync held approve: %v\n%s", err, out)
	}
	h.eventually("both sides agree under the swapped mapping", func() (bool, string) {
		got := h.balancePairs(ids)
		for _, p := range got {
			if p.name != p.sfCode || p.code != p.sfName {
				return false, fmt.Sprint(got)
			}
		}
		return true, ""
	})
	h.quiesce()
	after := h.balancePairs(ids)
	for i, id := range ids {
		changed := after[id] != before[id]
		if changed != (i >= 2) {
			t.Errorf("balance %d: %+v before, %+v after the approval", i, before[id], after[id])
		}
	}
	if again := h.resyncBalances(false); again.Differences != 0 || again.Guard[0].Held {
		t.Fatalf("the resync after the approval finds %+v", again)
	}
}
