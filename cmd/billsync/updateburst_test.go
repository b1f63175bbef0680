package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	"github.com/billsync/billsync/sandbox"
)

// TestUpdateBurstWritesWithoutReading: 1,000 billing updates of accounts
// billsync created cost at most 6 Salesforce calls, all writes and no
// query: each update carries the revision billsync last agreed at instead
// of reading the record first (D4). As in TestBurstIsBatched, the burst is
// queued at once and the batcher held until all of it waits there, so the
// count does not depend on the machine's speed.
func TestUpdateBurstWritesWithoutReading(t *testing.T) {
	if testing.Short() {
		t.Skip("burst test: skipped in -short mode")
	}
	// Not parallel, for the same reason as TestBurstIsBatched.
	h := startHarness(t, sandbox.Options{})
	h.quiesce()
	ctx := context.Background()
	h.sb.Billing.SetWebhookURL("") // the burst is queued directly; webhooks come later, stale
	const n = 1000
	accounts := make([]billsync.Entity, n)
	for i := range n {
		acc, err := h.sb.Billing.Create(billsync.ObjectAccount, billsync.Entity{"code": fmt.Sprintf("U%04d", i), "name": fmt.Sprintf("Update %d", i), "currency": "USD"})
		if err != nil {
			t.Fatal(err)
		}
		accounts[i] = acc
	}
	h.enqueueBurst("account.created", billsync.OpCreated, accounts)
	h.waitSalesforceNames(n, func(name string) bool { return strings.HasPrefix(name, "Update ") })

	// Every account renamed in billing, then queued together.
	updated := make([]billsync.Entity, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				cur := accounts[i].Clone()
				cur["name"] = fmt.Sprintf("Updated %d", i)
				got, err := h.billing.Update(ctx, billsync.ObjectAccount, cur)
				if err != nil {
					errs <- err
					return
				}
				updated[i] = got
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	before := h.sb.SF.Calls()
	release := h.app().crm.Hold()
	defer release()
	h.enqueueBurst("account.updated", billsync.OpUpdated, updated)
	h.eventually("the whole update burst waiting in the batcher", func() (bool, string) {
		w := h.app().crm.Waiting()
		return w == n, fmt.Sprintf("%d of %d", w, n)
	})
	release()
	h.waitSalesforceNames(n, func(name string) bool { return strings.HasPrefix(name, "Updated ") })
	after := h.sb.SF.Calls()
	writes := (after["composite"] - before["composite"]) + (after["sobjects"] - before["sobjects"])
	queries := after["query"] - before["query"]
	t.Logf("%d account updates: %d write calls, %d queries", n, writes, queries)
	if writes > 6 || queries != 0 {
		t.Fatalf("%d write calls and %d queries for %d updates, want at most 6 writes and no query", writes, queries, n)
	}
	h.sb.Billing.SetWebhookURL("http://" + h.sb.AppAddr + "/webhooks/billing")
	h.quiesce()
}

// enqueueBurst queues one change per entity (with op, its object told
// by its parent field) in one transaction, as a backlog arrives after an
// outage, and wakes the runner. Event ids start with typ.
func (h *harness) enqueueBurst(typ string, op billsync.Op, es []billsync.Entity) {
	h.t.Helper()
	changes := make([]*billsync.Change, 0, len(es))
	for i, e := range es {
		obj := billsync.ObjectAccount
		switch {
		case e.Str("balanceId") != "":
			obj = billsync.ObjectBalanceTransaction
		case e.Str("accountId") != "":
			obj = billsync.ObjectBalance
		}
		ev := &billingapi.WebhookEvent{Type: string(obj) + "." + string(op), Object: obj, Op: op, Data: e}
		c, err := ev.Change(fmt.Sprintf("%s-%d", typ, i), time.Now())
		if err != nil {
			h.t.Fatal(err)
		}
		changes = append(changes, c)
	}
	if _, err := h.app().store.Enqueue(context.Background(), changes...); err != nil {
		h.t.Fatal(err)
	}
	h.app().runner.Wake()
}

// waitSalesforceNames waits until n Salesforce accounts have a name ok
// accepts.
func (h *harness) waitSalesforceNames(n int, ok func(string) bool) {
	h.t.Helper()
	h.eventually(fmt.Sprintf("%d accounts in Salesforce", n), func() (bool, string) {
		got := 0
		for _, r := range h.sb.SF.Records("BillingAccount__c") {
			if ok(r.Str("Name")) {
				got++
			}
		}
		return got == n, fmt.Sprintf("%d of %d", got, n)
	})
}
