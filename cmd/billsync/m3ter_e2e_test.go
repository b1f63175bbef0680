package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/faults"
	"github.com/billsync/billsync/m3terapi"
	"github.com/billsync/billsync/sandbox"
)

// m3terHarness is the sandbox with the m3ter emulator as the billing side;
// console writes to m3ter as a person in m3ter's console does.
type m3terHarness struct {
	*harness
	console *m3terapi.Client
}

func startM3terHarness(t *testing.T) *m3terHarness {
	t.Helper()
	h := startHarness(t, sandbox.Options{Billing: billsync.PlatformM3ter})
	c, err := h.sb.M3terConsole()
	if err != nil {
		t.Fatal(err)
	}
	return &m3terHarness{harness: h, console: c}
}

func (h *m3terHarness) quiesce() {
	h.t.Helper()
	quiet := func() (bool, string) {
		st, err := h.app().store.Stats(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return h.sb.M3ter.Pending() == 0 && st.Pending == 0 && st.Running == 0,
			fmt.Sprintf("webhooks pending %d, queue %+v", h.sb.M3ter.Pending(), st)
	}
	h.eventually("quiet", quiet)
	h.eventually("quiet again", quiet)
}

func (h *m3terHarness) create(t billsync.ObjectType, e billsync.Entity) billsync.Entity {
	h.t.Helper()
	got, err := h.console.Create(context.Background(), t, e, "")
	if err != nil {
		h.t.Fatalf("m3ter create %s: %v", t, err)
	}
	return got
}

func (h *m3terHarness) m3ter(t billsync.ObjectType, id string, cond func(billsync.Entity) bool) billsync.Entity {
	h.t.Helper()
	var rec billsync.Entity
	h.eventually(string(t)+" "+id+" in m3ter", func() (bool, string) {
		r, err := h.console.Get(context.Background(), t, id)
		if err != nil {
			return false, err.Error()
		}
		rec = r
		return cond(r), fmt.Sprint(r)
	})
	return rec
}

func (h *m3terHarness) sfGet(object, id string) billsync.SObject {
	r, _ := h.sb.SF.Record(object, id)
	return r
}

// syncedAccount creates an account with a balance and a 100.00
// transaction in m3ter and waits for all three in Salesforce.
func (h *m3terHarness) syncedAccount(code string) (acc, bal billsync.Entity, sfAcc, sfBal billsync.SObject) {
	h.t.Helper()
	acc = h.create(billsync.ObjectAccount, billsync.Entity{"code": code, "name": code + " Ltd", "emailAddress": strings.ToLower(code) + "@example.test"})
	bal = h.create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "code": code + "-PRE", "name": "Prepaid", "currency": "USD",
		"startDate": "2026-01-01", "endDate": "2026-12-31"})
	h.create(billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bal.ID(), "amount": "100.00", "description": "prepaid", "appliedDate": "2026-11-01"})
	sfAcc = h.sfRecord("BillingAccount__c", acc.ID(), nil)
	sfBal = h.sfRecord("BillingBalance__c", bal.ID(), func(r billsync.SObject) bool { return amountIs(r, "100") })
	h.quiesce()
	return acc, bal, sfAcc, sfBal
}

// Both ways with m3ter's versions: account and balance edits from
// Salesforce are written with the version read (PUT of the whole object);
// a balance amount edit becomes one transaction for the difference; a
// transaction created in Salesforce is created in m3ter once, even when
// m3ter's answer to the create is lost; billsync's own writes do not come
// back to Salesforce.
func TestM3terTwoWay(t *testing.T) {
	t.Parallel()
	h := startM3terHarness(t)
	ctx := context.Background()
	acc, bal, sfAcc, sfBal := h.syncedAccount("ACME")
	if sfAcc.Str("Name") != "ACME Ltd" || sfAcc.Str("Code__c") != "ACME" || sfBal.Str("BillingAccount__c") != sfAcc.ID() {
		t.Errorf("in Salesforce: %v %v", sfAcc, sfBal)
	}
	fromHere := len(h.logs(billsync.LogFilter{Record: acc.ID()}))

	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfAcc.ID(), "Name": "Acme Worldwide"})
	got := h.m3ter(billsync.ObjectAccount, acc.ID(), func(e billsync.Entity) bool { return e.Str("name") == "Acme Worldwide" })
	if got.Version() <= acc.Version() || got.Str("emailAddress") != "acme@example.test" {
		t.Errorf("account after the Salesforce edit: %v (created at version %d)", got, acc.Version())
	}

	h.salesUpdate("BillingBalance__c", billsync.SObject{"Id": sfBal.ID(), "Amount__c": json.Number("250.00"), "Name": "Prepaid credit"})
	h.m3ter(billsync.ObjectBalance, bal.ID(), func(e billsync.Entity) bool {
		m, err := billsync.ParseMoney(e.Str("amount"))
		return err == nil && m.Equal(billsync.MustMoney("250")) && e.Str("name") == "Prepaid credit"
	})
	h.quiesce()

	// A transaction created in Salesforce; m3ter applies the create but
	// its answer is lost: the retry finds the one made, not a second.
	cfg, err := faults.Parse("once:path=/organizations/,method=POST,status=500,after")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Rules[0].Path = "/organizations/" + h.app().cfg.Billing.Options["orgId"] + "/balances/" + bal.ID() + "/transactions"
	if err := h.sb.BillingFaults.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	res, err := h.sales.Create(ctx, "BillingBalanceTransaction__c", []billsync.SObject{{
		"BillingBalance__c": sfBal.ID(), "Amount__c": json.Number("-7.25"), "Description__c": "manual debit", "AppliedDate__c": "2026-11-20"}})
	if err != nil || !res[0].Success {
		t.Fatalf("sales user create: %v %+v", err, res)
	}
	h.eventually("the lost answer", func() (bool, string) {
		return h.sb.BillingFaults.Counts()["once"] > 0, "no m3ter create yet"
	})
	if err := h.sb.BillingFaults.Apply(faults.Config{}); err != nil {
		t.Fatal(err)
	}
	h.eventually("the Salesforce transaction linked", func() (bool, string) {
		r := h.sfGet("BillingBalanceTransaction__c", res[0].ID)
		return r.Str("BillingId__c") != "", fmt.Sprint(r)
	})
	h.quiesce()
	txs, _, err := h.console.RecentTransactions(ctx, bal.ID(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	manual, adjustments := 0, 0
	for _, tx := range txs {
		switch {
		case strings.Contains(tx.Str("description"), "manual debit"):
			manual++
		case tx.Str("description") != "prepaid":
			adjustments++
		}
	}
	if manual != 1 || adjustments != 1 {
		t.Errorf("m3ter transactions: %d for the one created in Salesforce, %d adjustments (want 1 and 1): %v", manual, adjustments, txs)
	}
	if b := h.m3ter(billsync.ObjectBalance, bal.ID(), func(billsync.Entity) bool { return true }); !billsync.MustMoney(b.Str("amount")).Equal(billsync.MustMoney("242.75")) {
		t.Errorf("balance %s, want 242.75", b.Str("amount"))
	}

	// billsync's own writes are echoes: nothing billing→Salesforce was
	// written for the account after the rename.
	since := h.logs(billsync.LogFilter{Record: acc.ID()})
	for _, e := range since[:len(since)-fromHere] {
		if e.Direction == billsync.ToSalesforce && e.Outcome == billsync.OutcomeSuccess && e.Operation == "update" {
			t.Errorf("billsync's own write came back to Salesforce: %+v", e)
		}
	}
}

// m3ter's webhooks carry no signature billsync can check: one posted
// without the URL's token is not found, and a forged one with it causes
// at most a re-read — Salesforce gets m3ter's own values, not the body's.
func TestM3terForgedWebhookIsOnlyARead(t *testing.T) {
	t.Parallel()
	h := startM3terHarness(t)
	acc, _, sfAcc, _ := h.syncedAccount("FORGE")
	token := readTrimmed(filepath.Join(h.sb.AppConfig("").Data, "..", "m3ter-webhook-token"))
	if token == "" {
		t.Fatal("no webhook token in the sandbox's data directory")
	}
	forged := fmt.Sprintf(`{"id":"forged-1","eventName":"configuration.account.updated","eventTime":"2026-12-01T00:00:00Z",
	 "m3terEvent":{"eventData":{"newDto":{"id":%q,"name":"Forged name","code":"FORGE","version":99}}}}`, acc.ID())
	post := func(path string) int {
		res, err := http.Post(h.sb.AppURL()+path, "application/json", bytes.NewBufferString(forged))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := post("/webhooks/m3ter/not-the-token"); st != http.StatusNotFound {
		t.Errorf("without the token: %d", st)
	}
	if st := post("/webhooks/m3ter/" + token); st/100 != 2 {
		t.Fatalf("with the token: %d", st)
	}
	h.quiesce()
	if got := h.sfGet("BillingAccount__c", sfAcc.ID()).Str("Name"); got != "FORGE Ltd" {
		t.Errorf("Salesforce took the forged body's name: %q", got)
	}
}

// A transaction added in m3ter while its webhooks do not arrive is found
// by the events poll (billing.pollInterval) and reaches Salesforce.
func TestM3terPollFindsWhatWebhooksMissed(t *testing.T) {
	t.Parallel()
	h := startM3terHarness(t)
	_, bal, _, _ := h.syncedAccount("POLL")
	h.sb.M3ter.PauseDelivery(true)
	t.Cleanup(func() { h.sb.M3ter.PauseDelivery(false) })
	tx := h.create(billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bal.ID(), "amount": "-12.00", "description": "missed", "appliedDate": "2026-11-25"})
	h.sfRecord("BillingBalanceTransaction__c", tx.ID(), func(r billsync.SObject) bool { return amountIs(r, "-12") })
	h.sfRecord("BillingBalance__c", bal.ID(), func(r billsync.SObject) bool { return amountIs(r, "88") })
	if h.sb.M3ter.Pending() == 0 {
		t.Error("the webhooks were delivered after all: the poll was not what found the transaction")
	}
}
