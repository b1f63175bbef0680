package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/sandbox"
)

// TestAccountRunCostsThreeCalls: an account, its 2 balances and their 10
// transactions arriving together cost 3 Salesforce write calls, parents
// before children, however they were queued: the runner claims the
// partition's run, applies it level by level, and each level's writes
// share a call because every writer of the level waits in the batcher
// (counted, not timed).
func TestAccountRunCostsThreeCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	h := startHarness(t, sandbox.Options{})
	h.quiesce()
	h.sb.Billing.SetWebhookURL("") // queued below, together
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "RUN1", "name": "Run One", "currency": "USD"})
	records := []billsync.Entity{acc}
	for b := range 2 {
		bal := h.create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "code": fmt.Sprintf("RUN1-B%d", b),
			"name": "Prepaid", "amount": "100.00", "currency": "USD"})
		records = append(records, bal)
		for i := range 5 {
			records = append(records, h.create(billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bal.ID(),
				"amount": fmt.Sprintf("-%d.25", i+1), "description": fmt.Sprintf("usage %d", i), "appliedDate": "2026-11-01"}))
		}
	}

	var mu sync.Mutex
	var writes []sfemu.Write
	h.sb.SF.SetBeforeWrite(func(w sfemu.Write) {
		if w.Integration {
			mu.Lock()
			writes = append(writes, w)
			mu.Unlock()
		}
	})
	t.Cleanup(func() { h.sb.SF.SetBeforeWrite(nil) })

	// Queued children first, the account last: the level order, not the
	// queue order, must put parents first.
	slices.Reverse(records)
	h.enqueueBurst("run", billsync.OpCreated, records)
	h.eventually("the account's 13 records in Salesforce", func() (bool, string) {
		n := 0
		for _, obj := range []string{"BillingAccount__c", "BillingBalance__c", "BillingBalanceTransaction__c"} {
			for _, r := range h.sb.SF.Records(obj) {
				if id := r.Str("BillingId__c"); slices.ContainsFunc(records, func(e billsync.Entity) bool { return e.ID() == id }) {
					n++
				}
			}
		}
		return n == 13, fmt.Sprintf("%d of 13", n)
	})
	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, w := range writes {
		got = append(got, fmt.Sprintf("%s %s×%d", w.Op, w.Object, len(w.Records)))
	}
	want := []string{"upsert BillingAccount__c×1", "upsert BillingBalance__c×2", "upsert BillingBalanceTransaction__c×10"}
	if !slices.Equal(got, want) {
		t.Fatalf("Salesforce writes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
