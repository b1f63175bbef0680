package main

import (
	"fmt"
	"sync"
	"testing"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/sandbox"
)

// TestSalesforceEditInTheWriteWindowCDC is TestSalesforceEditInTheWriteWindow
// in an org without BillingSyncTrigger (salesforce.changeSource cdc): billsync
// reads the record before its update, and a sales user's edit of the same
// field lands between that read and the write. Nothing in Salesforce refuses
// the write, so billsync overwrites the edit; the edit's change event must
// then meet the conflict policy (one conflict naming both edits; the
// person's value back on both sides when Salesforce wins; held under
// manual, with each side holding its own edit) and never be skipped as an
// echo of billsync's write — for an account, a balance and a transaction
// under each policy, over CometD and the Pub/Sub API.
func TestSalesforceEditInTheWriteWindowCDC(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped in -short mode")
	}
	t.Parallel()
	for _, stream := range []string{sandbox.StreamCometD, sandbox.StreamPubSub} {
		t.Run(stream, func(t *testing.T) {
			t.Parallel()
			h := startHarness(t, sandbox.Options{Stream: stream, ChangeSource: "cdc"})
			if h.app().cfg.Salesforce.ChangeSource != "cdc" {
				t.Fatalf("billsync is on salesforce.changeSource %q", h.app().cfg.Salesforce.ChangeSource)
			}
			for i, policy := range []string{billsync.PolicyLatestWins, billsync.PolicyBillingWins, billsync.PolicySalesforceWins, billsync.PolicyManual} {
				h.setPolicy(policy)
				for _, r := range h.syncedTrio(fmt.Sprintf("CW%d", i)) {
					h.editInCDCWriteWindow(r, policy)
				}
			}
		})
	}
}

// editInCDCWriteWindow edits r in billing, lands a sales user's edit of
// the same field just before billsync's update of it, and waits for the
// policy's outcome.
func (h *harness) editInCDCWriteWindow(r windowRecord, policy string) {
	h.t.Helper()
	edited := make(chan error, 1)
	var once sync.Once
	h.sb.SF.SetBeforeWrite(func(w sfemu.Write) {
		if w.Integration && w.Op == "update" && w.Object == r.sobject && w.Names(r.sfID) {
			once.Do(func() { edited <- h.editSalesforce(r, "From Salesforce") })
		}
	})
	defer h.sb.SF.SetBeforeWrite(nil)
	if err := h.editBilling(r, "From billing"); err != nil {
		h.t.Fatal(err)
	}
	select {
	case err := <-edited:
		if err != nil {
			h.t.Fatal(err)
		}
	case <-h.timeout():
		h.t.Fatalf("%s %s: billsync never wrote the billing change to Salesforce", policy, r.typ)
	}
	h.sb.SF.SetBeforeWrite(nil)
	h.waitPolicyOutcome(policy, r)
}
