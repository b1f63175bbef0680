package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	"github.com/billsync/billsync/sandbox"
)

// TestBurstIsBatched: 1,000 account changes arriving together cost at
// most 6 Salesforce write calls (sObject Collections of 200); one bad
// record among them fails alone with Salesforce's code while the others
// land; and a change alone still reaches Salesforce promptly: the runner
// is woken by the webhook, not by its poll (set here to an hour).
func TestBurstIsBatched(t *testing.T) {
	if testing.Short() {
		t.Skip("burst test: skipped in -short mode")
	}
	// Not parallel: the other end-to-end tests would compete for the two
	// cores and spread the burst's arrival at the batcher.
	alone := startHarness(t, sandbox.Options{Poll: time.Hour}) // default batching
	one := alone.create(billsync.ObjectAccount, billsync.Entity{"code": "ALONE", "name": "Alone", "currency": "USD"})
	alone.sfRecord("BillingAccount__c", one.ID(), nil) // before the next poll, an hour away

	h := startHarness(t, sandbox.Options{})
	h.quiesce()

	// The burst arrives together: 1,000 accounts created in billing are
	// queued in one transaction, as a backlog is after an outage or a
	// billing run. (Their own webhooks are held meanwhile; delivered
	// later they are stale and write nothing.)
	h.sb.Billing.SetWebhookURL("")
	const n, bad = 1000, 500
	changes := make([]*billsync.Change, 0, n)
	for i := range n {
		name := fmt.Sprintf("Burst %d", i)
		if i == bad {
			name = strings.Repeat("x", 81) // Salesforce refuses it: STRING_TOO_LONG
		}
		acc, err := h.sb.Billing.Create(billsync.ObjectAccount, billsync.Entity{"code": fmt.Sprintf("B%04d", i), "name": name, "currency": "USD"})
		if err != nil {
			t.Fatal(err)
		}
		ev := &billingapi.WebhookEvent{Type: "account.created", Object: billsync.ObjectAccount, Op: billsync.OpCreated, Data: acc}
		c, err := ev.Change(fmt.Sprintf("burst-%d", i), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		changes = append(changes, c)
	}
	before := h.sb.SF.Calls()
	// The batcher is held until every record of the burst waits in it, so
	// the count of calls depends on the batching, not on how quickly the
	// workers get a core on a loaded machine.
	release := h.app().crm.Hold()
	defer release()
	if _, err := h.app().store.Enqueue(context.Background(), changes...); err != nil {
		t.Fatal(err)
	}
	h.app().runner.Wake()
	h.eventually("the whole burst waiting in the batcher", func() (bool, string) {
		n := h.app().crm.Waiting()
		return n == len(changes), fmt.Sprintf("%d of %d", n, len(changes))
	})
	release()
	h.eventually("the burst in Salesforce", func() (bool, string) {
		got := 0
		for _, r := range h.sb.SF.Records("BillingAccount__c") {
			if r.Str("Code__c") != "" && r.Str("Code__c")[0] == 'B' {
				got++
			}
		}
		return got == n-1, fmt.Sprintf("%d of %d", got, n-1)
	})
	// The one bad record failed alone, with Salesforce's code.
	h.eventually("the bad record dead-lettered", func() (bool, string) {
		dls, err := h.app().store.DeadLetters(context.Background(), 10)
		return err == nil && len(dls) == 1 && dls[0].ErrorCode == "STRING_TOO_LONG" && dls[0].RecordID == changes[bad].RecordID, fmt.Sprintf("%+v %v", dls, err)
	})
	after := h.sb.SF.Calls()
	writes := (after["composite"] - before["composite"]) + (after["sobjects"] - before["sobjects"])
	t.Logf("%d accounts: %d write calls, %d queries", n, writes, after["query"]-before["query"])
	if writes > 6 {
		t.Fatalf("%d write calls for %d accounts, want at most 6", writes, n)
	}
	h.sb.Billing.SetWebhookURL("http://" + h.sb.AppAddr + "/webhooks/billing")
	h.quiesce()
	for _, r := range h.sb.SF.Records("BillingAccount__c") {
		if strings.HasPrefix(r.Str("Code__c"), "B") && h.sb.SF.Writes(r.ID()) != 1 {
			t.Fatalf("%s written %d times: the held webhooks, stale by now, must write nothing", r.Str("BillingId__c"), h.sb.SF.Writes(r.ID()))
		}
	}
}
