package main

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/runner"
	"github.com/billsync/billsync/sandbox"
)

// TestCDCServe runs billsync with salesforce.changeSource cdc over CometD
// against the emulator, which publishes Change Data Capture events for
// every user's writes: a sales user's edit reaches billing; billsync's own
// writes come back as change events committed by its integration user and
// are logged own_write, never synced back; a gap event (no field values)
// leads to a re-read of the record that syncs it; an overflow event
// starts a resync of the object, which catches up an edit no event
// carried. A restart resumes every channel after its checkpoint; a
// checkpoint the org no longer retains is a logged gap and a resync.
func TestCDCServe(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped in -short mode")
	}
	t.Parallel()
	testCDCServe(t, sandbox.StreamCometD)
}

// TestCDCServePubSub is TestCDCServe with salesforce.stream pubsub: the
// change events arrive Avro-encoded, their changed fields as bitmaps
// over the event's schema, and the checkpoints are Pub/Sub replay ids.
func TestCDCServePubSub(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped in -short mode")
	}
	t.Parallel()
	testCDCServe(t, sandbox.StreamPubSub)
}

func testCDCServe(t *testing.T, stream string) {
	// ChangeSource cdc: the emulated org has no BillingSyncTrigger.
	h := startHarness(t, sandbox.Options{Stream: stream, ChangeSource: "cdc",
		StartApp: func(ctx context.Context, ac sandbox.AppConfig, log *slog.Logger) (sandbox.App, error) {
			cfg := sandboxConfig(ac)
			cfg.Salesforce.ChangeSource = "cdc"
			app, err := StartApp(ctx, cfg, log)
			if err != nil {
				return nil, err // not a nil *App in a non-nil interface
			}
			return app, nil
		}})
	if h.app().listener == nil || h.app().cfg.Salesforce.ChangeSource != "cdc" || h.app().cfg.Salesforce.Stream != stream {
		t.Fatalf("billsync is not on CDC over %s (salesforce.changeSource %q, salesforce.stream %q)", stream, h.app().cfg.Salesforce.ChangeSource, h.app().cfg.Salesforce.Stream)
	}
	ctx := context.Background()

	// billsync creates the record in Salesforce: the CREATE change event
	// is its own write.
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "CDC1", "name": "Change Data", "currency": "USD"})
	sfID := h.sfRecord("BillingAccount__c", acc.ID(), nil).ID()
	h.eventually("billsync's own write logged own_write", func() (bool, string) {
		for _, e := range h.logs(billsync.LogFilter{Record: sfID, Reason: billsync.ReasonOwnWrite}) {
			if e.Direction == billsync.ToBilling && e.Outcome == billsync.OutcomeSkipped {
				return true, ""
			}
		}
		return false, "no own_write entry for " + sfID
	})
	h.quiesce()
	for _, e := range h.logs(billsync.LogFilter{Record: sfID, Direction: billsync.ToBilling}) {
		if e.Reason != billsync.ReasonOwnWrite {
			t.Errorf("billsync's own write was synced back: %+v", e)
		}
	}
	if id, ok, err := h.app().store.ReplayID(ctx, runner.CDCChannel("BillingAccount__c")); err != nil || !ok || id.String() == "" {
		t.Errorf("replay id of %s not stored: %v %v %v", runner.CDCChannel("BillingAccount__c"), id, ok, err)
	} else if stream == sandbox.StreamPubSub && len(id) != 10 {
		// The emulator's Pub/Sub replay ids are 10 bytes: kept whole.
		t.Errorf("replay id of %s is %d bytes, want the event's 10", runner.CDCChannel("BillingAccount__c"), len(id))
	}

	// A sales user's edit reaches billing.
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfID, "Name": "Edited in Salesforce"})
	h.waitName(acc.ID(), "Edited in Salesforce")

	// A restart resumes each channel after its stored replay id: an edit
	// made while billsync was down arrives.
	h.quiesce()
	if err := h.sb.App.Close(); err != nil {
		t.Fatal(err)
	}
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfID, "Name": "Edited while down"})
	if err := h.sb.StartApp(ctx, h.sb.AppAddr); err != nil {
		t.Fatal(err)
	}
	h.admin = adminclient.New(h.sb.AppURL(), sandbox.AdminToken, nil)
	h.waitReady()
	h.waitName(acc.ID(), "Edited while down")

	// A gap event names the record but carries no values: billsync reads it.
	h.sb.SF.ForceCDCGap("BillingAccount__c", true)
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfID, "Name": "Edited behind a gap"})
	h.waitName(acc.ID(), "Edited behind a gap")
	h.sb.SF.ForceCDCGap("BillingAccount__c", false)
	h.quiesce()

	// An edit no event carries (the object deselected for CDC), then an
	// overflow event for the object: the resync it starts syncs the edit.
	// With one account, that one overwrite is all of them: the mass-change
	// guard is told to let it through.
	h.setSetting("guard.overwrites.account", "100%,500")
	h.sb.SF.SelectCDC("BillingAccount__c", false)
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfID, "Name": "Edited unheard"})
	h.sb.SF.SelectCDC("BillingAccount__c", true)
	h.sb.SF.PublishCDCOverflow("BillingAccount__c", h.sb.SF.UserID(sfemu.SalesUsername))
	h.waitName(acc.ID(), "Edited unheard")
	gaps := 0
	h.eventually("the overflow logged", func() (bool, string) {
		gaps = len(h.logs(billsync.LogFilter{Reason: billsync.ReasonReplayGap}))
		return gaps > 0, fmt.Sprintf("%d replay_gap entries", gaps)
	})
	h.quiesce()

	// The org's retention runs out while billsync is down: the stored
	// replay id is refused, the gap is logged, and the resync it starts
	// brings the edit whose event was purged.
	h.whileDown(func() {
		h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfID, "Name": "Edited before the purge"})
		if n := h.sb.SF.Bus().Purge(time.Now().Add(time.Hour)); n == 0 {
			t.Fatal("nothing purged")
		}
	})
	h.waitName(acc.ID(), "Edited before the purge")
	h.eventually("the expired replay id logged as a gap", func() (bool, string) {
		n := len(h.logs(billsync.LogFilter{Reason: billsync.ReasonReplayGap}))
		return n > gaps, fmt.Sprintf("%d replay_gap entries, %d before the purge", n, gaps)
	})
}
