package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mock"
)

// On a platform whose transactions raise no events, a balance change
// queues the balance's transactions billsync has not seen, oldest first,
// and stops at the first one it knows; a repeat of the scan queues
// nothing twice. With transaction events the balance change scans
// nothing.
func TestBalanceChangeQueuesUnseenTransactions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupCaps(t, func(c *billsync.BillingCapabilities) { c.TransactionEvents = false })
	const acct = `{"id":"acc_1","code":"ACME","name":"Acme","currency":"USD","version":1}`
	const bal = `{"id":"bal_1","accountId":"acc_1","code":"C","name":"Credit","amount":"30.00","currency":"USD","version":1}`
	b.putBilling(t, billsync.ObjectAccount, acct)
	b.putBilling(t, billsync.ObjectBalance, bal)
	for i := 1; i <= 3; i++ {
		b.putBilling(t, billsync.ObjectBalanceTransaction, fmt.Sprintf(`{"id":"btx_%d","balanceId":"bal_1","accountId":"acc_1","amount":"10.00","version":1}`, i))
	}
	if le := only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acct))); le.Outcome != billsync.OutcomeSuccess {
		t.Fatalf("account: %+v", le)
	}

	r := b.engine.Process(ctx, billingChange(t, billsync.ObjectBalance, billsync.OpCreated, bal))
	if le := only(t, r); le.Outcome != billsync.OutcomeSuccess {
		t.Fatalf("balance: %+v", r.Entries)
	}
	queued := b.store.Queued()
	if len(queued) != 3 {
		t.Fatalf("queued %d changes, want the 3 unseen transactions: %+v", len(queued), queued)
	}
	for i, c := range queued {
		want := fmt.Sprintf("btx_%d", i+1)
		if c.RecordID != want || c.Op != billsync.OpCreated || c.Object != billsync.ObjectBalanceTransaction ||
			c.Partition != "account:acc_1" || c.EventID != "scan:"+want {
			t.Errorf("queued[%d] = %+v, want %s created in account:acc_1", i, c, want)
		}
	}
	if !hasScanNote(r, "found 3 new transaction(s)") {
		t.Errorf("no scan note in %+v", r.Entries)
	}

	// btx_1 synced: the next scan stops at it and queues btx_2, btx_3
	// again, which the queue keeps once.
	first := queued[0]
	first.ID = 1
	if le := only(t, b.engine.Process(ctx, first)); le.Outcome != billsync.OutcomeSuccess {
		t.Fatalf("transaction: %+v", le)
	}
	calls := b.billingCalls("scan", billsync.ObjectBalanceTransaction)
	r = b.engine.Process(ctx, billingChange(t, billsync.ObjectBalance, billsync.OpUpdated, bal))
	if !hasScanNote(r, "found 2 new transaction(s)") {
		t.Errorf("second scan did not stop at the synced btx_1: %+v", r.Entries)
	}
	if got := b.billingCalls("scan", billsync.ObjectBalanceTransaction); got != calls+1 {
		t.Errorf("scans %d → %d, want one more", calls, got)
	}
	if n := len(b.store.Queued()); n != 3 {
		t.Errorf("queued %d after a second scan, want still 3 (event ids dedupe)", n)
	}
}

// A scan that cannot read billing fails the balance change, which is
// retried: nothing is queued and the balance is not written.
func TestFailedScanRetriesTheBalanceChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupCaps(t, func(c *billsync.BillingCapabilities) { c.TransactionEvents = false })
	const bal = `{"id":"bal_1","accountId":"acc_1","code":"C","name":"Credit","amount":"30.00","currency":"USD","version":1}`
	b.putBilling(t, billsync.ObjectBalance, bal)
	b.billing.Hook = func(_ context.Context, c mock.BillingCall) error {
		if c.Method == "scan" {
			return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 503, Transient: true, Message: "down"}
		}
		return nil
	}
	r := b.engine.Process(ctx, billingChange(t, billsync.ObjectBalance, billsync.OpUpdated, bal))
	if r.Disposition != attempt.Retry {
		t.Fatalf("disposition %v, entries %+v", r.Disposition, r.Entries)
	}
	var re *billsync.RemoteError
	if !errors.As(r.Err, &re) || b.sf("BillingBalance__c", "bal_1") != nil || len(b.store.Queued()) != 0 {
		t.Errorf("err %v; balance written or changes queued after a failed scan", r.Err)
	}
}

func hasScanNote(r attempt.Result, text string) bool {
	for _, e := range r.Entries {
		if e.Operation == "scan" && len(e.Message) >= len(text) && e.Message[:len(text)] == text {
			return true
		}
	}
	return false
}

// A transaction billsync created in billing from a Salesforce record is
// known from the moment it is made, so a scan does not stop at it: a
// billing user's transaction made just before it, not scanned yet, is
// still found.
func TestScanLooksPastTransactionsMadeFromSalesforce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupCaps(t, func(c *billsync.BillingCapabilities) { c.TransactionEvents = false })
	const bal = `{"id":"bal_1","accountId":"acc_1","code":"C","name":"Credit","amount":"30.00","currency":"USD","version":1}`
	b.putBilling(t, billsync.ObjectBalance, bal)
	b.putBilling(t, billsync.ObjectBalanceTransaction, `{"id":"btx_1","balanceId":"bal_1","accountId":"acc_1","amount":"10.00","version":1}`)
	b.putBilling(t, billsync.ObjectBalanceTransaction, `{"id":"btx_2","balanceId":"bal_1","accountId":"acc_1","amount":"5.00","version":1,
		"customFields":{"salesforceId":"a015g0000000009AAA"}}`)
	if err := b.store.PutSyncState(ctx, &billsync.SyncState{Object: billsync.ObjectBalanceTransaction, BillingID: "btx_2",
		SalesforceID: "a015g0000000009AAA", AccountID: "acc_1", BillingVersion: 1}); err != nil {
		t.Fatal(err)
	}
	r := b.engine.Process(ctx, billingChange(t, billsync.ObjectBalance, billsync.OpUpdated, bal))
	queued := b.store.Queued()
	if len(queued) != 1 || queued[0].RecordID != "btx_1" {
		t.Fatalf("queued %+v, want btx_1 (below billsync's own btx_2); entries %+v", queued, r.Entries)
	}
}

// A transaction a scan queued carries billing's own answer to the list
// call: on a platform whose webhooks are only hints it is not read again
// (m3ter spends two calls per transaction read), and it syncs.
func TestScannedTransactionIsNotReadAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupCaps(t, func(c *billsync.BillingCapabilities) {
		c.TransactionEvents, c.SignedWebhooks = false, false
	})
	const acct = `{"id":"acc_1","code":"ACME","name":"Acme","currency":"USD","version":1}`
	const bal = `{"id":"bal_1","accountId":"acc_1","code":"C","name":"Credit","amount":"10.00","currency":"USD","version":1}`
	b.putBilling(t, billsync.ObjectAccount, acct)
	b.putBilling(t, billsync.ObjectBalance, bal)
	b.putBilling(t, billsync.ObjectBalanceTransaction, `{"id":"btx_1","balanceId":"bal_1","accountId":"acc_1","amount":"10.00","version":1}`)
	only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acct)))
	only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectBalance, billsync.OpCreated, bal)))
	queued := b.store.Queued()
	if len(queued) != 1 || queued[0].RecordID != "btx_1" {
		t.Fatalf("queued %+v", queued)
	}
	reads := b.billingCalls("get", billsync.ObjectBalanceTransaction)
	c := queued[0]
	c.ID = 9
	if le := only(t, b.engine.Process(ctx, c)); le.Outcome != billsync.OutcomeSuccess {
		t.Fatalf("scanned transaction: %+v", le)
	}
	if got := b.billingCalls("get", billsync.ObjectBalanceTransaction); got != reads {
		t.Errorf("billing read the scanned transaction again (%d → %d reads)", reads, got)
	}
}
