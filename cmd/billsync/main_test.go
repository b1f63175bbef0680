package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/billingapi"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/salesforce/rest"
	"github.com/billsync/billsync/sandbox"
)

// TestMain lets the test binary act as the billsync command, so crash
// tests can run it as a child process and SIGKILL it (as Conduit's chaos
// harness re-executes its test binary).
func TestMain(m *testing.M) {
	if args := os.Getenv("BILLSYNC_E2E_CHILD_ARGS"); args != "" {
		os.Args = append([]string{"billsync"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// deadline is how long a wait may go without progress; stuckCap bounds a
// wait that keeps making progress.
const (
	deadline = 15 * time.Second
	stuckCap = 3 * time.Minute
)

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("BILLSYNC_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// harness is a running sandbox plus clients for each party.
type harness struct {
	t       *testing.T
	sb      *sandbox.Sandbox
	billing *billingapi.Client
	sales   *rest.Client // an ordinary sales user: their edits publish events
	admin   *adminclient.Client
}

func startHarness(t *testing.T, opts sandbox.Options) *harness {
	t.Helper()
	opts.Addr, opts.SalesforceAddr, opts.BillingAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if opts.StartApp == nil {
		opts.StartApp = startSandboxApp
	}
	if opts.Data == "" {
		opts.Data = t.TempDir()
	}
	sb, err := sandbox.Start(context.Background(), opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	sales, err := rest.New(rest.Config{LoginURL: sb.SFURL, Grant: "password", ClientID: sfemu.DefaultClientID,
		ClientSecret: sfemu.DefaultClientSecret, Username: sfemu.SalesUsername, Password: sfemu.SalesPassword})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, sb: sb, sales: sales, billing: billingapi.New(sb.BillingURL, sandbox.BillingToken, nil)}
	if sb.App != nil {
		h.admin = adminclient.New(sb.AppURL(), sandbox.AdminToken, nil)
		h.waitReady()
	}
	return h
}

// app is the billsync the sandbox runs in this process.
func (h *harness) app() *App { return h.sb.App.(*App) }

// eventually polls cond until it holds or the deadline passes.
func (h *harness) eventually(what string, cond func() (bool, string)) {
	h.t.Helper()
	// The deadline runs from the last progress (a change in what cond
	// reports), so a slow but moving machine is waited for and only a
	// stuck one fails; stuckCap bounds the whole wait.
	start := time.Now()
	end := start.Add(deadline)
	last := ""
	for now := start; now.Before(end) && now.Sub(start) < stuckCap; now = time.Now() {
		ok, why := cond()
		if ok {
			return
		}
		if why != last {
			end = time.Now().Add(deadline)
		}
		last = why
		time.Sleep(25 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %s: %s", what, last)
}

func (h *harness) waitReady() {
	h.t.Helper()
	h.eventually("billsync ready (event subscription up)", func() (bool, string) {
		err := h.app().listener.Err()
		return err == nil && h.app().listener.Status().Connected, fmt.Sprint(err)
	})
}

// quiesce waits until every webhook is delivered and the queue is empty,
// then a little longer, so "no further writes follow" can be checked.
func (h *harness) quiesce() {
	h.t.Helper()
	h.eventually("quiet", func() (bool, string) {
		st, err := h.app().store.Stats(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return h.sb.Billing.Pending() == 0 && st.Pending == 0 && st.Running == 0,
			fmt.Sprintf("webhooks pending %d, queue %+v", h.sb.Billing.Pending(), st)
	})
	time.Sleep(300 * time.Millisecond)
	h.eventually("quiet again", func() (bool, string) {
		st, _ := h.app().store.Stats(context.Background())
		return h.sb.Billing.Pending() == 0 && st.Pending == 0 && st.Running == 0, fmt.Sprintf("%+v", st)
	})
}

func (h *harness) create(t billsync.ObjectType, e billsync.Entity) billsync.Entity {
	h.t.Helper()
	got, err := h.billing.Create(context.Background(), t, e, "")
	if err != nil {
		h.t.Fatalf("billing create %s: %v", t, err)
	}
	return got
}

// sfRecord waits for the Salesforce record with BillingId__c = billingID.
func (h *harness) sfRecord(object, billingID string, cond func(billsync.SObject) bool) billsync.SObject {
	h.t.Helper()
	var rec billsync.SObject
	h.eventually(object+" "+billingID+" in Salesforce", func() (bool, string) {
		for _, r := range h.sb.SF.Records(object) {
			if r.Str("BillingId__c") == billingID {
				rec = r
				return cond == nil || cond(r), fmt.Sprintf("%v", r)
			}
		}
		return false, "not there"
	})
	return rec
}

func (h *harness) billingRecord(t billsync.ObjectType, id string, cond func(billsync.Entity) bool) billsync.Entity {
	h.t.Helper()
	var rec billsync.Entity
	h.eventually(string(t)+" "+id+" in billing", func() (bool, string) {
		r, err := h.billing.Get(context.Background(), t, id)
		if err != nil {
			return false, err.Error()
		}
		rec = r
		return cond(r), fmt.Sprintf("%v", r)
	})
	return rec
}

func (h *harness) logs(f billsync.LogFilter) []billsync.LogEntry {
	h.t.Helper()
	f.Limit = 1000
	entries, _, err := h.app().store.Logs(context.Background(), f)
	if err != nil {
		h.t.Fatal(err)
	}
	return entries
}

func countOutcome(entries []billsync.LogEntry, dir billsync.Direction, o billsync.Outcome) int {
	n := 0
	for _, e := range entries {
		if e.Direction == dir && e.Outcome == o {
			n++
		}
	}
	return n
}

func (h *harness) salesUpdate(object string, rec billsync.SObject) {
	h.t.Helper()
	res, err := h.sales.Update(context.Background(), object, []billsync.SObject{rec})
	if err != nil || len(res) != 1 || !res[0].Success {
		h.t.Fatalf("sales user update %s: %v %+v", object, err, res)
	}
}

func (h *harness) setSetting(key, value string) {
	h.t.Helper()
	v, err := billsync.ParseSettingText(key, value)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.admin.SetSetting(context.Background(), key, v); err != nil {
		h.t.Fatal(err)
	}
}

// TestTwoWaySync covers the foundation end to end on the real parts: both
// directions for all three objects, parents before children, switches and
// loop prevention (B1–B6, C1–C4, A1–A5, G1).
func TestTwoWaySync(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	ctx := context.Background()

	// Billing → Salesforce, all three objects.
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "ACME", "name": "Acme", "currency": "USD", "emailAddress": "ap@acme.example"})
	bal := h.create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "code": "PRE", "name": "Prepaid", "amount": "100.50", "currency": "USD", "startDate": "2026-01-01"})
	tx := h.create(billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bal.ID(), "amount": "-12.25", "description": "usage", "appliedDate": "2026-11-01"})

	sfAcc := h.sfRecord("BillingAccount__c", acc.ID(), nil)
	sfBal := h.sfRecord("BillingBalance__c", bal.ID(), nil)
	sfTx := h.sfRecord("BillingBalanceTransaction__c", tx.ID(), nil)
	if sfAcc.Str("Name") != "Acme" || sfAcc.Str("LastSystemToUpdate__c") != "billing" || sfAcc.Str("BillingSyncStatus__c") != "success" {
		t.Fatalf("account in Salesforce: %v", sfAcc)
	}
	if sfBal.Str("Amount__c") != "100.5" || sfBal.Str("BillingAccount__c") != sfAcc.ID() {
		t.Fatalf("balance in Salesforce: %v", sfBal)
	}
	if sfTx.Str("Amount__c") != "-12.25" || sfTx.Str("BillingBalance__c") != sfBal.ID() || sfTx.Str("AppliedDate__c") != "2026-11-01" {
		t.Fatalf("transaction in Salesforce: %v", sfTx)
	}

	// No ping-pong: each side written once, one success each, nothing follows.
	h.quiesce()
	for _, r := range []billsync.SObject{sfAcc, sfBal, sfTx} {
		if n := h.sb.SF.Writes(r.ID()); n != 1 {
			t.Errorf("Salesforce record %s written %d times, want 1", r.ID(), n)
		}
	}
	for _, id := range []string{acc.ID(), bal.ID(), tx.ID()} {
		if n := h.sb.Billing.Writes(id); n != 1 {
			t.Errorf("billing record %s written %d times, want 1", id, n)
		}
		if got := countOutcome(h.logs(billsync.LogFilter{Record: id}), billsync.ToSalesforce, billsync.OutcomeSuccess); got != 1 {
			t.Errorf("record %s: %d billing→salesforce successes, want 1", id, got)
		}
	}

	// Salesforce → billing: a sales user edits the account and the balance.
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfAcc.ID(), "Name": "Acme Worldwide"})
	h.salesUpdate("BillingBalance__c", billsync.SObject{"Id": sfBal.ID(), "Amount__c": json.Number("250.75")})
	h.billingRecord(billsync.ObjectAccount, acc.ID(), func(e billsync.Entity) bool { return e.Str("name") == "Acme Worldwide" })
	h.billingRecord(billsync.ObjectBalance, bal.ID(), func(e billsync.Entity) bool { return e.Str("amount") == "250.75" })

	// A transaction created in Salesforce is created in billing, and its
	// billing id is written back (C3).
	res, err := h.sales.Create(ctx, "BillingBalanceTransaction__c", []billsync.SObject{{
		"BillingBalance__c": sfBal.ID(), "Amount__c": json.Number("40.00"), "Description__c": "manual credit", "AppliedDate__c": "2026-11-20"}})
	if err != nil || !res[0].Success {
		t.Fatalf("sales user create: %v %+v", err, res)
	}
	newTxID := res[0].ID
	var newBillingID string
	h.eventually("billing id written back", func() (bool, string) {
		r, ok := h.sb.SF.Record("BillingBalanceTransaction__c", newTxID)
		newBillingID = r.Str("BillingId__c")
		return ok && newBillingID != "", fmt.Sprintf("%v", r)
	})
	created := h.billingRecord(billsync.ObjectBalanceTransaction, newBillingID, func(billsync.Entity) bool { return true })
	if created.Str("amount") != "40.00" || created.Str("balanceId") != bal.ID() || created.Str("accountId") != acc.ID() {
		t.Fatalf("created in billing: %v", created)
	}

	h.quiesce()
	// Each side once per real change: the account was written in
	// Salesforce by billsync (create) and the user (edit); in billing by
	// the test (create) and billsync (the edit).
	if n := h.sb.SF.Writes(sfAcc.ID()); n != 2 {
		t.Errorf("Salesforce account written %d times, want 2", n)
	}
	if n := h.sb.Billing.Writes(acc.ID()); n != 2 {
		t.Errorf("billing account written %d times, want 2", n)
	}
	if n := h.sb.SF.Writes(newTxID); n != 2 { // the user's create, billsync's write-back
		t.Errorf("Salesforce transaction written %d times, want 2", n)
	}
	if n := h.sb.Billing.Writes(newBillingID); n != 1 {
		t.Errorf("billing transaction written %d times, want 1", n)
	}
	if n := h.sb.SF.Writes(sfBal.ID()); n != 2 { // billsync's create, the user's edit
		t.Errorf("Salesforce balance written %d times, want 2", n)
	}
	if n := h.sb.Billing.Writes(bal.ID()); n != 2 { // the test's create, billsync's edit
		t.Errorf("billing balance written %d times, want 2", n)
	}
	for _, id := range []string{acc.ID(), bal.ID(), newBillingID} {
		if got := countOutcome(h.logs(billsync.LogFilter{Record: id}), billsync.ToBilling, billsync.OutcomeSuccess); got != 1 {
			t.Errorf("%s: %d salesforce→billing successes, want 1", id, got)
		}
	}

	// Switches (A1, A2, A5): off → skipped with the reason, nothing written;
	// on again → syncs without a restart.
	h.setSetting(billsync.KeySyncEnabled, "off")
	writes := h.sb.SF.Writes(sfAcc.ID())
	cur, _ := h.billing.Get(ctx, billsync.ObjectAccount, acc.ID())
	cur["name"] = "Acme (while off)"
	if _, err := h.billing.Update(ctx, billsync.ObjectAccount, cur); err != nil {
		t.Fatal(err)
	}
	h.eventually("skipped entry", func() (bool, string) {
		for _, e := range h.logs(billsync.LogFilter{Record: acc.ID(), Outcome: billsync.OutcomeSkipped}) {
			if e.Reason == billsync.ReasonSwitchOff && strings.Contains(e.Message, billsync.KeySyncEnabled) {
				return true, ""
			}
		}
		return false, "no switch_off entry"
	})
	if n := h.sb.SF.Writes(sfAcc.ID()); n != writes {
		t.Fatalf("written while the master switch was off")
	}
	h.setSetting(billsync.KeySyncEnabled, "on")

	// An object switch off, both directions: a billing change and a
	// Salesforce edit are each logged as skipped naming the switch, and
	// neither side is written.
	h.setSetting(billsync.KeySyncBalances, "off")
	sfWrites, billWrites := h.sb.SF.Writes(sfBal.ID()), h.sb.Billing.Writes(bal.ID())
	h.billingUpdate(billsync.ObjectBalance, bal.ID(), func(e billsync.Entity) { e["description"] = "changed while off" })
	billWrites++ // the test's own write
	h.salesUpdate("BillingBalance__c", billsync.SObject{"Id": sfBal.ID(), "Description__c": "edited in Salesforce while off"})
	sfWrites++ // the user's own edit
	h.eventually("both directions skipped", func() (bool, string) {
		dirs := map[billsync.Direction]bool{}
		for _, e := range h.logs(billsync.LogFilter{Record: bal.ID(), Outcome: billsync.OutcomeSkipped}) {
			if e.Reason == billsync.ReasonSwitchOff && strings.Contains(e.Message, billsync.KeySyncBalances) {
				dirs[e.Direction] = true
			}
		}
		return dirs[billsync.ToSalesforce] && dirs[billsync.ToBilling], fmt.Sprint(dirs)
	})
	h.quiesce()
	if h.sb.SF.Writes(sfBal.ID()) != sfWrites || h.sb.Billing.Writes(bal.ID()) != billWrites {
		t.Fatalf("written while sync.balances was off: salesforce %d (want %d), billing %d (want %d)",
			h.sb.SF.Writes(sfBal.ID()), sfWrites, h.sb.Billing.Writes(bal.ID()), billWrites)
	}
	h.setSetting(billsync.KeySyncBalances, "on")
	h.setSetting(billsync.KeySyncAccounts, "off")
	h.setSetting(billsync.KeySyncAccounts, "on")
	cur, _ = h.billing.Get(ctx, billsync.ObjectAccount, acc.ID())
	cur["name"] = "Acme (back on)"
	if _, err := h.billing.Update(ctx, billsync.ObjectAccount, cur); err != nil {
		t.Fatal(err)
	}
	h.sfRecord("BillingAccount__c", acc.ID(), func(r billsync.SObject) bool { return r.Str("Name") == "Acme (back on)" })

	// Parents before children (B4): an account created while accounts were
	// off is brought along by its first balance.
	h.setSetting(billsync.KeySyncAccounts, "off")
	acc2 := h.create(billsync.ObjectAccount, billsync.Entity{"code": "LATE", "name": "Late Parent", "currency": "EUR"})
	h.eventually("skip of the late account", func() (bool, string) {
		return len(h.logs(billsync.LogFilter{Record: acc2.ID(), Outcome: billsync.OutcomeSkipped})) > 0, ""
	})
	h.setSetting(billsync.KeySyncAccounts, "on")
	bal2 := h.create(billsync.ObjectBalance, billsync.Entity{"accountId": acc2.ID(), "code": "C", "name": "Credit", "amount": "5.00", "currency": "EUR"})
	sfAcc2 := h.sfRecord("BillingAccount__c", acc2.ID(), nil)
	h.sfRecord("BillingBalance__c", bal2.ID(), func(r billsync.SObject) bool { return r.Str("BillingAccount__c") == sfAcc2.ID() })
}

// TestSalesforceRejection: a record Salesforce refuses lands in the sync
// log with Salesforce's error code, and its partition moves on.
func TestSalesforceRejection(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "LONG", "name": strings.Repeat("n", 81), "currency": "USD"})
	h.eventually("dead letter", func() (bool, string) {
		for _, e := range h.logs(billsync.LogFilter{Record: acc.ID()}) {
			if e.Outcome == billsync.OutcomeDead && e.ErrorCode == "STRING_TOO_LONG" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", h.logs(billsync.LogFilter{Record: acc.ID()}))
	})
	// The partition is not blocked: the next change of the same account lands.
	cur, _ := h.billing.Get(context.Background(), billsync.ObjectAccount, acc.ID())
	cur["name"] = "Short enough"
	if _, err := h.billing.Update(context.Background(), billsync.ObjectAccount, cur); err != nil {
		t.Fatal(err)
	}
	h.sfRecord("BillingAccount__c", acc.ID(), func(r billsync.SObject) bool { return r.Str("Name") == "Short enough" })
	dls, err := h.admin.DeadLetters(context.Background())
	if err != nil || len(dls) != 1 || dls[0].ErrorCode != "STRING_TOO_LONG" {
		t.Fatalf("dead letters %+v %v", dls, err)
	}
}
