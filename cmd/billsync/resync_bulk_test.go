package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/sandbox"
)

// bulkApp starts billsync with Bulk ingest at threshold records and a
// runner that widens from 8 workers to 1,000 for a backlog.
func bulkApp(threshold int) sandbox.StartFunc {
	return func(ctx context.Context, ac sandbox.AppConfig, log *slog.Logger) (sandbox.App, error) {
		cfg := sandboxConfig(ac)
		cfg.Workers, cfg.BulkWorkers = 8, 1000
		cfg.Salesforce.BulkIngestThreshold = threshold
		app, err := StartApp(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		return app, nil
	}
}

// loadBilling creates n accounts in billing, each with a balance and two
// transactions, while billing's webhooks are held: an existing billing
// platform billsync has not seen. Account bad gets a name Salesforce
// refuses (81 characters: STRING_TOO_LONG).
func loadBilling(t *testing.T, h *harness, n, bad int) (accts, bals, txs []billsync.Entity) {
	t.Helper()
	h.sb.Billing.SetWebhookURL("")
	for i := range n {
		name := fmt.Sprintf("Initial %d", i)
		if i == bad {
			name = strings.Repeat("x", 81)
		}
		acc, err := h.sb.Billing.Create(billsync.ObjectAccount, billsync.Entity{"code": fmt.Sprintf("I%04d", i), "name": name, "currency": "USD"})
		if err != nil {
			t.Fatal(err)
		}
		bal, err := h.sb.Billing.Create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "code": "PREPAID", "name": "Prepaid",
			"amount": fmt.Sprintf("%d.25", 100+i), "currency": "USD"})
		if err != nil {
			t.Fatal(err)
		}
		accts, bals = append(accts, acc), append(bals, bal)
		for j, amt := range []string{"250.00", fmt.Sprintf("-%d.05", i)} {
			tx, err := h.sb.Billing.Create(billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bal.ID(), "amount": amt,
				"description": fmt.Sprintf("Transaction %d", j+1), "appliedDate": "2026-11-01"})
			if err != nil {
				t.Fatal(err)
			}
			txs = append(txs, tx)
		}
	}
	return accts, bals, txs
}

// runResync starts a resync through the admin API and waits for it.
func (h *harness) runResync(req billsync.ResyncRequest) *billsync.ResyncReport {
	h.t.Helper()
	ctx := context.Background()
	rep, err := h.admin.StartResync(ctx, req)
	if err != nil {
		h.t.Fatal(err)
	}
	h.eventually("the resync done", func() (bool, string) {
		if rep, err = h.admin.Resync(ctx, rep.ID); err != nil {
			return false, err.Error()
		}
		return rep.State != "running", fmt.Sprintf("%s compared %d", rep.State, rep.Compared)
	})
	if rep.State != "done" {
		h.t.Fatalf("resync %+v", rep)
	}
	return rep
}

// `resync --initial` of an existing billing platform goes through Bulk
// API 2.0: each object's repairs are claimed together, the runner widens,
// and each level's writes leave as one ingest job, without a read per
// record. Rows failing in a job fail their own change only: a row
// Salesforce could not lock (UNABLE_TO_LOCK_ROW, transient) is retried
// and lands; an account whose name Salesforce refuses (STRING_TOO_LONG)
// is dead-lettered, and so are its balance and transactions, whose
// parent cannot be brought along; every other record lands with its
// values.
func TestInitialLoadThroughBulk(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped in -short mode")
	}
	const n, bad = 150, 3
	h := startHarness(t, sandbox.Options{StartApp: bulkApp(40)})
	h.quiesce()
	accts, bals, txs := loadBilling(t, h, n, bad)
	// The first transaction row of any ingest job cannot be locked once:
	// which rows share a job depends on how the runs meet, so the row is
	// chosen as the job meets it, not in advance.
	var mu sync.Mutex
	lockedTx := ""
	h.sb.SF.SetIngestRowFault(func(object string, row map[string]any) (string, string) {
		mu.Lock()
		defer mu.Unlock()
		if object == "BillingBalanceTransaction__c" && lockedTx == "" {
			lockedTx, _ = row["BillingId__c"].(string)
			return "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record"
		}
		return "", ""
	})
	calls := h.sb.SF.Calls()
	rep := h.runResync(billsync.ResyncRequest{Initial: true})
	if rep.Repairs != 4*n {
		t.Errorf("the resync queued %d repairs, want %d", rep.Repairs, 4*n)
	}
	h.eventually("every good record in Salesforce and the bad ones dead-lettered", func() (bool, string) {
		st, err := h.admin.Queue(context.Background())
		if err != nil {
			return false, err.Error()
		}
		got := len(h.sb.SF.Records("BillingAccount__c")) + len(h.sb.SF.Records("BillingBalance__c")) + len(h.sb.SF.Records("BillingBalanceTransaction__c"))
		return got == 4*(n-1) && st.DeadLetters == 4 && st.Pending == 0 && st.Running == 0, fmt.Sprintf("%d records, queue %+v", got, st)
	})
	mu.Lock()
	locked := lockedTx
	mu.Unlock()
	if locked == "" {
		t.Error("no transaction row was attempted through a job")
	}

	dead, err := h.admin.DeadLetters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dead {
		if d.ErrorCode != "STRING_TOO_LONG" {
			t.Errorf("dead letter %s %s: %s %s", d.Object, d.RecordID, d.ErrorCode, d.Error)
		}
	}
	// Every record that landed holds billing's values and its parent.
	sfByExt := func(object string) map[string]billsync.SObject {
		m := map[string]billsync.SObject{}
		for _, r := range h.sb.SF.Records(object) {
			m[r.Str("BillingId__c")] = r
		}
		return m
	}
	sfAccts, sfBals, sfTxs := sfByExt("BillingAccount__c"), sfByExt("BillingBalance__c"), sfByExt("BillingBalanceTransaction__c")
	if _, ok := sfTxs[locked]; locked != "" && !ok {
		t.Errorf("transaction %s, refused once as locked, never landed", locked)
	}
	for i := range n {
		if i == bad {
			continue
		}
		a, b := sfAccts[accts[i].ID()], sfBals[bals[i].ID()]
		if a.Str("Name") != accts[i].Str("name") || b.Str("BillingAccount__c") != a.ID() || !sameMoney(b["Amount__c"], bals[i].Str("amount")) {
			t.Fatalf("account %d: %v / balance %v", i, a, b)
		}
		for _, tx := range txs[2*i : 2*i+2] {
			if r := sfTxs[tx.ID()]; r.Str("BillingBalance__c") != b.ID() || !sameMoney(r["Amount__c"], tx.Str("amount")) {
				t.Fatalf("transaction %s: %v", tx.ID(), r)
			}
		}
	}
	jobs, viaBulk, fellBack := h.app().crm.BulkStats()
	after := h.sb.SF.Calls()
	t.Logf("bulk: %d jobs, %d records, %d fell back; emulator ingest jobs %d; REST calls: query %d, collections writes %d",
		jobs, viaBulk, fellBack, h.sb.SF.BulkJobs()["ingest"], after["query"]-calls["query"], after["composite"]-calls["composite"])
	if jobs < 3 || viaBulk < 3*n {
		t.Errorf("%d ingest jobs carried %d records; want the three levels through Bulk", jobs, viaBulk)
	}
	// Reads: the snapshot of each object and its count; no read per record.
	if q := after["query"] - calls["query"]; q > 20 {
		t.Errorf("the initial load made %d queries for %d records", q, 4*n)
	}
}

// sameMoney compares a Salesforce amount with billing's decimal string.
func sameMoney(v any, want string) bool {
	got, err := billsync.ParseMoney(fmt.Sprint(v))
	w, err2 := billsync.ParseMoney(want)
	return err == nil && err2 == nil && got.Equal(w)
}

// A backlog below salesforce.bulkIngestThreshold stays on collections:
// no ingest job is created.
func TestSmallResyncStaysOnCollections(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped in -short mode")
	}
	const n = 20
	h := startHarness(t, sandbox.Options{StartApp: bulkApp(2000)})
	h.quiesce()
	loadBilling(t, h, n, -1)
	h.runResync(billsync.ResyncRequest{Initial: true})
	h.eventually("every record in Salesforce", func() (bool, string) {
		got := len(h.sb.SF.Records("BillingAccount__c")) + len(h.sb.SF.Records("BillingBalance__c")) + len(h.sb.SF.Records("BillingBalanceTransaction__c"))
		return got == 4*n, fmt.Sprintf("%d of %d", got, 4*n)
	})
	if jobs, _, _ := h.app().crm.BulkStats(); jobs != 0 || h.sb.SF.BulkJobs()["ingest"] != 0 {
		t.Errorf("%d ingest jobs (emulator %d) for a backlog of %d records", jobs, h.sb.SF.BulkJobs()["ingest"], 4*n)
	}
}
