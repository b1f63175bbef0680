package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/sandbox"
)

// TestResyncRestoresAnEditedExternalID: a synced account whose billing id
// was edited in Salesforce (while account sync was off, so only a resync
// can see it) is reported by the dry run with the repair that will
// happen, restoring the id; the resync restores it without creating,
// deleting or flagging anything (deletes are mirrored here, so taking the
// twin for an orphan would delete it); a second resync finds no
// difference. With sync on, such an edit is restored as it happens.
func TestResyncRestoresAnEditedExternalID(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	ctx := context.Background()
	h.setSetting("deletes.account", "mirror")
	// The one account of this org is past any share: writing its id back
	// is an overwrite the mass-change guard would hold (held_test.go).
	h.setSetting("guard.overwrites.account", "100%,1000")
	acc, rec := h.syncedAccount("RELINK")
	h.setSetting(billsync.KeySyncAccounts, "off")
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": rec.ID(), "BillingId__c": "edited-by-hand"})
	h.quiesce()
	h.setSetting(billsync.KeySyncAccounts, "on")

	run := func(dry bool) *billsync.ResyncReport {
		rep, err := h.admin.StartResync(ctx, billsync.ResyncRequest{Object: billsync.ObjectAccount, DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		h.eventually("resync done", func() (bool, string) {
			rep, err = h.admin.Resync(ctx, rep.ID)
			return err == nil && rep.State != "running", fmt.Sprint(rep.State, err)
		})
		if rep.State != "done" {
			t.Fatalf("resync %s: %s", rep.State, rep.Error)
		}
		return rep
	}
	dry := run(true)
	want := fmt.Sprintf(`restore BillingId__c to %s (edited in Salesforce to "edited-by-hand")`, acc.ID())
	if dry.Differences != 1 || len(dry.Diffs) != 1 || dry.Diffs[0].Action != want || dry.Diffs[0].SalesforceID != rec.ID() {
		b, _ := json.MarshalIndent(dry, "", " ")
		t.Fatalf("dry run: %s", b)
	}
	if rep := run(false); rep.Repairs != 1 {
		t.Fatalf("resync: %+v", rep)
	}
	h.eventually("BillingId__c restored", func() (bool, string) {
		r, _ := h.sb.SF.Record("BillingAccount__c", rec.ID())
		return r.Str("BillingId__c") == acc.ID(), r.Str("BillingId__c")
	})
	h.quiesce()
	if n := len(h.sb.SF.Records("BillingAccount__c")); n != 1 {
		t.Fatalf("%d Salesforce accounts, want 1", n)
	}
	if got, _, _ := h.billing.List(ctx, billsync.ObjectAccount, "", 100); len(got) != 1 {
		t.Fatalf("%d billing accounts, want 1", len(got))
	}
	if again := run(false); again.Differences != 0 {
		t.Fatalf("the second resync finds %+v", again)
	}

	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": rec.ID(), "BillingId__c": "edited-again"})
	h.eventually("BillingId__c restored as it is edited", func() (bool, string) {
		r, _ := h.sb.SF.Record("BillingAccount__c", rec.ID())
		return r.Str("BillingId__c") == acc.ID(), r.Str("BillingId__c")
	})
}
