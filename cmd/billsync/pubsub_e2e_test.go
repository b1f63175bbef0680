package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/runner"
	"github.com/billsync/billsync/sandbox"
)

// pubsubWait is how long a Pub/Sub outcome is waited for.
const pubsubWait = 20 * time.Second

// startPubSubApp starts billsync in this process against the sandbox's
// emulators with salesforce.stream pubsub, and waits until it is ready.
func (h *harness) startPubSubApp() *App {
	h.t.Helper()
	if err := h.sb.StartApp(context.Background(), h.sb.AppAddr); err != nil {
		h.t.Fatal(err)
	}
	h.admin = adminclient.New(h.sb.AppURL(), sandbox.AdminToken, nil)
	app := h.app()
	if app.pubsub == nil || app.sub != nil {
		h.t.Fatalf("billsync is not on the Pub/Sub API (salesforce.stream %q)", app.cfg.Salesforce.Stream)
	}
	h.waitStream(http.StatusOK, "1")
	return app
}

// waitStream waits until /readyz answers ready and the connected metric
// reads connected.
func (h *harness) waitStream(ready int, connected string) {
	h.t.Helper()
	if err := waitUntil(pubsubWait, fmt.Sprintf("readyz %d, stream connected %s", ready, connected), func() (bool, string) {
		r, c := streamProbe(h.sb.AppURL())
		return r == ready && c == connected, fmt.Sprintf("readyz %d, connected %s", r, c)
	}); err != nil {
		h.t.Fatal(err)
	}
}

// waitName waits for a billing account's name.
func (h *harness) waitName(id, want string) {
	h.t.Helper()
	h.billingRecord(billsync.ObjectAccount, id, func(e billsync.Entity) bool { return e.Str("name") == want })
}

// TestPubSubServe runs billsync with salesforce.stream pubsub against the
// Salesforce emulator's Pub/Sub API: a sales user's edit reaches billing;
// the replay id is stored with the event; a restart resumes after it, so
// edits made while billsync was down arrive and no event is sent twice;
// and stopping the Pub/Sub API makes /readyz answer 503 and the connected
// metric read 0 until it is back, after which edits flow again.
func TestPubSubServe(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped in -short mode")
	}
	t.Parallel()
	h := startHarness(t, sandbox.Options{NoApp: true, Stream: sandbox.StreamPubSub})
	app := h.startPubSubApp()
	ctx := context.Background()

	// Salesforce → billing over Pub/Sub.
	var accs []billsync.Entity
	var sfIDs []string
	for i := range 3 {
		a := h.create(billsync.ObjectAccount, billsync.Entity{"code": fmt.Sprintf("PS%d", i), "name": fmt.Sprintf("PubSub %d", i), "currency": "USD"})
		accs = append(accs, a)
		sfIDs = append(sfIDs, h.sfRecord("BillingAccount__c", a.ID(), nil).ID())
	}
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfIDs[0], "Name": "Edited over Pub/Sub"})
	h.waitName(accs[0].ID(), "Edited over Pub/Sub")
	h.quiesce()
	stored, ok, err := app.store.ReplayID(ctx, runner.ChannelBillingObjectChange)
	// The emulator's replay ids are 10 bytes, as some real orgs send
	// them: the checkpoint keeps all of them.
	if err != nil || !ok || len(stored) != 10 {
		t.Fatalf("replay id stored with the event: %v %v %v, want the event's 10 bytes", stored, ok, err)
	}

	// Restart: what was published while billsync was down arrives, and
	// nothing before the stored replay id is sent again.
	if err := h.sb.App.Close(); err != nil {
		t.Fatal(err)
	}
	// Until the API has seen the closed stream go, it may still send an
	// event published now on it, and count it.
	h.eventually("the Pub/Sub API sees billsync's stream closed", func() (bool, string) { n := h.sb.PubSubStreams(); return n == 0, fmt.Sprint(n, " streams open") })
	_, before := h.sb.PubSubFlow()
	for i := 1; i < 3; i++ {
		h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfIDs[i], "Name": fmt.Sprintf("Edited while down %d", i)})
	}
	app = h.startPubSubApp()
	for i := 1; i < 3; i++ {
		h.waitName(accs[i].ID(), fmt.Sprintf("Edited while down %d", i))
	}
	h.quiesce()
	if _, after := h.sb.PubSubFlow(); after-before != 2 {
		t.Errorf("after the restart the Pub/Sub API sent %d events, want the 2 published while billsync was down", after-before)
	}

	// The Pub/Sub API goes away: not ready, and back when it returns.
	if err := h.sb.StopPubSub(); err != nil {
		t.Fatal(err)
	}
	h.waitStream(http.StatusServiceUnavailable, "0")
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfIDs[0], "Name": "Edited during the outage"})
	if err := h.sb.StartPubSub(); err != nil {
		t.Fatal(err)
	}
	h.waitStream(http.StatusOK, "1")
	h.waitName(accs[0].ID(), "Edited during the outage")
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfIDs[1], "Name": "Edited after the outage"})
	h.waitName(accs[1].ID(), "Edited after the outage")
}

// TestStreamSwitchIsAGap moves a running billsync from CometD to the
// Pub/Sub API on the same store. The stored CometD checkpoint is no
// Pub/Sub position, so the org refuses it: billsync logs a replay gap,
// starts a resync and follows the stream from every retained event,
// rather than guessing a position or starting at the newest event.
func TestStreamSwitchIsAGap(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped in -short mode")
	}
	t.Parallel()
	stream := sandbox.StreamCometD
	h := startHarness(t, sandbox.Options{NoApp: true, Stream: sandbox.StreamPubSub,
		StartApp: func(ctx context.Context, ac sandbox.AppConfig, log *slog.Logger) (sandbox.App, error) {
			ac.Stream = stream
			return startSandboxApp(ctx, ac, log)
		}})
	if err := h.sb.StartApp(context.Background(), h.sb.AppAddr); err != nil {
		t.Fatal(err)
	}
	h.waitReady() // on CometD
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "SW1", "name": "Switch", "currency": "USD"})
	sfID := h.sfRecord("BillingAccount__c", acc.ID(), nil).ID()
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfID, "Name": "Edited over CometD"})
	h.waitName(acc.ID(), "Edited over CometD")
	h.quiesce()
	if err := h.sb.App.Close(); err != nil {
		t.Fatal(err)
	}

	stream = sandbox.StreamPubSub
	h.startPubSubApp()
	h.eventually("the replay gap logged", func() (bool, string) {
		for _, e := range h.logs(billsync.LogFilter{Outcome: billsync.OutcomeFailed}) {
			if e.Reason == "replay_gap" {
				return true, ""
			}
		}
		return false, "no replay_gap entry"
	})
	h.waitStream(http.StatusOK, "1")
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfID, "Name": "Edited over Pub/Sub"})
	h.waitName(acc.ID(), "Edited over Pub/Sub")
	if id, ok, err := h.app().store.ReplayID(context.Background(), runner.ChannelBillingObjectChange); err != nil || !ok || len(id) != 10 {
		t.Errorf("checkpoint after the switch %v, %v, %v; want a 10-byte Pub/Sub replay id", id, ok, err)
	}
}
