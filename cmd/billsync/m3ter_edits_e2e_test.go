package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/sandbox"
)

// consoleEdit changes a record in m3ter as a person in its console does:
// read, edit, PUT at the version read.
func (h *m3terHarness) consoleEdit(t billsync.ObjectType, id string, edit func(billsync.Entity)) billsync.Entity {
	h.t.Helper()
	cur, err := h.console.Get(context.Background(), t, id)
	if err != nil {
		h.t.Fatal(err)
	}
	edit(cur)
	got, err := h.console.Update(context.Background(), t, cur)
	if err != nil {
		h.t.Fatalf("m3ter console update of %s %s: %v", t, id, err)
	}
	if got.Version() != cur.Version()+1 {
		h.t.Fatalf("m3ter %s %s: version %d after an update at version %d", t, id, got.Version(), cur.Version())
	}
	return got
}

// applied is the m3ter version billsync last applied of a record.
func (h *m3terHarness) applied(t billsync.ObjectType, id string) int64 {
	h.t.Helper()
	st, err := h.app().store.SyncState(context.Background(), t, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return st.BillingVersion
}

// Edits made in m3ter to an account and a balance Salesforce already has
// reach Salesforce by their versions: two edits whose webhooks arrive
// only after both were made are written once, at the newer version (the
// other is not newer than what was applied), and billsync's next write to
// m3ter goes at the version it applied.
func TestM3terEditsOfExistingRecordsReachSalesforce(t *testing.T) {
	t.Parallel()
	h := startM3terHarness(t)
	acc, bal, sfAcc, sfBal := h.syncedAccount("EDIT")
	before := len(h.logs(billsync.LogFilter{Record: acc.ID()}))

	h.sb.M3ter.PauseDelivery(true)
	h.consoleEdit(billsync.ObjectAccount, acc.ID(), func(e billsync.Entity) { e["name"] = "Edit One" })
	acc2 := h.consoleEdit(billsync.ObjectAccount, acc.ID(), func(e billsync.Entity) {
		e["name"], e["emailAddress"] = "Edit Two", "two@example.test"
	})
	bal2 := h.consoleEdit(billsync.ObjectBalance, bal.ID(), func(e billsync.Entity) {
		e["name"], e["endDate"] = "Prepaid 2027", "2027-06-30"
	})
	if h.sb.M3ter.Pending() == 0 {
		t.Fatal("no webhooks held: the edits were not seen as news")
	}
	h.sb.M3ter.PauseDelivery(false)

	h.sfRecord("BillingAccount__c", acc.ID(), func(r billsync.SObject) bool {
		return r.Str("Name") == "Edit Two" && r.Str("Email__c") == "two@example.test"
	})
	h.sfRecord("BillingBalance__c", bal.ID(), func(r billsync.SObject) bool {
		return r.Str("Name") == "Prepaid 2027" && r.Str("EndDate__c") == "2027-06-30" && amountIs(r, "100")
	})
	h.quiesce()
	if v := h.applied(billsync.ObjectAccount, acc.ID()); v != acc2.Version() {
		t.Errorf("account applied at version %d, m3ter has %d", v, acc2.Version())
	}
	if v := h.applied(billsync.ObjectBalance, bal.ID()); v != bal2.Version() {
		t.Errorf("balance applied at version %d, m3ter has %d", v, bal2.Version())
	}
	entries := h.logs(billsync.LogFilter{Record: acc.ID()})
	writes, notNewer := 0, 0
	for _, e := range entries[:len(entries)-before] {
		switch {
		case e.Direction != billsync.ToSalesforce:
		case e.Outcome == billsync.OutcomeSuccess && e.Operation == "update":
			writes++
		case e.Reason == billsync.ReasonStale || e.Reason == billsync.ReasonCoalesced || e.Reason == billsync.ReasonEcho:
			notNewer++
		}
	}
	if writes != 1 || notNewer == 0 {
		t.Errorf("two m3ter edits: %d Salesforce writes, %d changes not newer than the one applied (want 1 and at least 1): %+v",
			writes, notNewer, entries[:len(entries)-before])
	}

	// Salesforce's next edit goes to m3ter at the version billsync applied.
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfAcc.ID(), "Name": "Edit Three"})
	got := h.m3ter(billsync.ObjectAccount, acc.ID(), func(e billsync.Entity) bool { return e.Str("name") == "Edit Three" })
	if got.Version() != acc2.Version()+1 || got.Str("emailAddress") != "two@example.test" {
		t.Errorf("m3ter after the Salesforce edit: %v (was version %d)", got, acc2.Version())
	}
	h.salesUpdate("BillingBalance__c", billsync.SObject{"Id": sfBal.ID(), "Name": "Prepaid 2027 (SF)"})
	gotBal := h.m3ter(billsync.ObjectBalance, bal.ID(), func(e billsync.Entity) bool { return e.Str("name") == "Prepaid 2027 (SF)" })
	if gotBal.Version() != bal2.Version()+1 || gotBal.Str("endDate") != "2027-06-30" {
		t.Errorf("m3ter balance after the Salesforce edit: %v (was version %d)", gotBal, bal2.Version())
	}
}

// With billing.options.balanceAmount unsupported, a Salesforce edit of a
// balance's amount is not sent to m3ter (no transaction is created): it
// is logged unsupported and restored, or flagged, per unsupported.action;
// the rest of the same edit (the name) goes through.
func TestM3terBalanceAmountUnsupported(t *testing.T) {
	t.Parallel()
	base := startSandboxApp
	h := startHarness(t, sandbox.Options{Billing: billsync.PlatformM3ter,
		StartApp: func(ctx context.Context, ac sandbox.AppConfig, log *slog.Logger) (sandbox.App, error) {
			ac.BillingOptions = maps.Clone(ac.BillingOptions)
			ac.BillingOptions["balanceAmount"] = "unsupported"
			return base(ctx, ac, log)
		}})
	c, err := h.sb.M3terConsole()
	if err != nil {
		t.Fatal(err)
	}
	m := &m3terHarness{harness: h, console: c}
	_, bal, _, sfBal := m.syncedAccount("NOAMT")
	ctx := context.Background()
	transactions := func() int {
		txs, _, err := m.console.RecentTransactions(ctx, bal.ID(), "", 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(txs)
	}

	m.salesUpdate("BillingBalance__c", billsync.SObject{"Id": sfBal.ID(), "Amount__c": json.Number("250.00"), "Name": "Prepaid renamed"})
	m.m3ter(billsync.ObjectBalance, bal.ID(), func(e billsync.Entity) bool { return e.Str("name") == "Prepaid renamed" })
	m.eventually("the amount restored", func() (bool, string) {
		r := m.sfGet("BillingBalance__c", sfBal.ID())
		return amountIs(r, "100") && r.Str("Name") == "Prepaid renamed", fmt.Sprint(r)
	})
	m.quiesce()
	if !hasUnsupported(m.logs(billsync.LogFilter{Record: sfBal.ID()}), "restore") {
		t.Errorf("no unsupported restore in the sync log: %+v", m.logs(billsync.LogFilter{Record: sfBal.ID()}))
	}
	if n := transactions(); n != 1 {
		t.Errorf("%d m3ter transactions after the restored amount edit, want the 1 seeded", n)
	}

	m.setSetting(billsync.KeyUnsupportedAction, billsync.UnsupportedFlag)
	m.salesUpdate("BillingBalance__c", billsync.SObject{"Id": sfBal.ID(), "Amount__c": json.Number("42.00")})
	m.eventually("the balance flagged", func() (bool, string) {
		entries := m.logs(billsync.LogFilter{Record: sfBal.ID()})
		return hasUnsupported(entries, "flag"), fmt.Sprint(len(entries), " log entries")
	})
	m.quiesce()
	if r := m.sfGet("BillingBalance__c", sfBal.ID()); !amountIs(r, "42") || r.Str("BillingSyncStatus__c") != billsync.ReasonUnsupported {
		t.Errorf("flagged balance: %v", r)
	}
	if n := transactions(); n != 1 {
		t.Errorf("%d m3ter transactions after the flagged amount edit, want the 1 seeded", n)
	}
	if b := m.m3ter(billsync.ObjectBalance, bal.ID(), func(billsync.Entity) bool { return true }); !billsync.MustMoney(b.Str("amount")).Equal(billsync.MustMoney("100")) {
		t.Errorf("m3ter balance %s, want 100", b.Str("amount"))
	}
}
