package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/sandbox"
)

// TestWebhookVersionIsNotTakenOnItsWord: the version billsync records as
// applied comes from billing, never from a webhook's word alone (D4). A
// signed webhook with the account's values and an inflated version is an
// echo that records nothing, so the real updates after it reach
// Salesforce; and a webhook judged stale that carries other values makes
// billsync read billing again, whose answer decides.
func TestWebhookVersionIsNotTakenOnItsWord(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	ctx := context.Background()
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "TRUST", "name": "Trust Co", "currency": "USD"})
	h.sfRecord("BillingAccount__c", acc.ID(), nil)
	h.quiesce()

	inflated := acc.Clone()
	inflated["version"] = json.Number("999")
	h.sb.Billing.Inject(billsync.ObjectAccount, billsync.OpUpdated, inflated)
	h.eventually("the inflated webhook logged as an echo", func() (bool, string) {
		return h.hasLog(acc.ID(), billsync.ReasonEcho, ""), "no echo entry"
	})
	st, err := h.app().store.SyncState(ctx, billsync.ObjectAccount, acc.ID())
	if err != nil || st.BillingVersion != acc.Version() {
		t.Fatalf("recorded version %+v %v, want billing's %d", st, err, acc.Version())
	}

	for _, name := range []string{"Trust Co (v2)", "Trust Co (v3)"} {
		cur, err := h.billing.Get(ctx, billsync.ObjectAccount, acc.ID())
		if err != nil {
			t.Fatal(err)
		}
		cur["name"] = name
		if _, err := h.billing.Update(ctx, billsync.ObjectAccount, cur); err != nil {
			t.Fatal(err)
		}
		h.sfRecord("BillingAccount__c", acc.ID(), func(r billsync.SObject) bool { return r.Str("Name") == name })
	}
	h.quiesce()

	// A billing change Salesforce missed (its switch was off) ...
	h.setSetting(billsync.KeySyncAccounts, "off")
	cur, _ := h.billing.Get(ctx, billsync.ObjectAccount, acc.ID())
	cur["name"] = "Trust Co (missed)"
	missed, err := h.billing.Update(ctx, billsync.ObjectAccount, cur)
	if err != nil {
		t.Fatal(err)
	}
	h.eventually("the missed change logged as skipped", func() (bool, string) {
		return h.hasLog(acc.ID(), billsync.ReasonSwitchOff, ""), "no switch_off entry"
	})
	h.quiesce()
	h.setSetting(billsync.KeySyncAccounts, "on")
	// ... and then a stale webhook with other values than those applied:
	// billing, read again, answers the missed change, which is written.
	stale := acc.Clone()
	stale["name"] = "Trust Co (stale)"
	h.sb.Billing.Inject(billsync.ObjectAccount, billsync.OpUpdated, stale)
	h.sfRecord("BillingAccount__c", acc.ID(), func(r billsync.SObject) bool { return r.Str("Name") == "Trust Co (missed)" })
	h.quiesce()
	if !h.hasLog(acc.ID(), "", fmt.Sprintf("billing, read again, is at version %d", missed.Version())) {
		t.Fatalf("no entry tells of the re-read: %+v", h.logs(billsync.LogFilter{Record: acc.ID()}))
	}
	if st, _ := h.app().store.SyncState(ctx, billsync.ObjectAccount, acc.ID()); st.BillingVersion != missed.Version() {
		t.Fatalf("recorded version %d, want billing's %d", st.BillingVersion, missed.Version())
	}
	if got := h.sb.SF.Records("BillingAccount__c"); len(got) != 1 {
		t.Fatalf("%d Salesforce accounts, want 1", len(got))
	}
}

// hasLog reports whether a record's log has an entry with the reason
// (any when "") whose message contains text.
func (h *harness) hasLog(record, reason, text string) bool {
	for _, e := range h.logs(billsync.LogFilter{Record: record}) {
		if (reason == "" || e.Reason == reason) && strings.Contains(e.Message, text) {
			return true
		}
	}
	return false
}
