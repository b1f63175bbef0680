//go:build chaos

package chaos

import (
	"os"
	"strings"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/runner"
)

// BILLSYNC_CHAOS_CHANGE_SOURCE=cdc runs billsync with
// salesforce.changeSource cdc: it hears Salesforce through the synced
// objects' Change Data Capture channels (over CometD or, with
// BILLSYNC_CHAOS_STREAM=pubsub, the Pub/Sub API, whose change events name
// their changed fields in bitmaps) instead of the trigger's platform
// event. The emulator publishes both all along; billsync listens to one.

// changeSource is salesforce.changeSource in this run: trigger or cdc.
func changeSource() string {
	if os.Getenv("BILLSYNC_CHAOS_CHANGE_SOURCE") == "cdc" {
		return "cdc"
	}
	return "trigger"
}

// validChangeSource reports whether BILLSYNC_CHAOS_CHANGE_SOURCE names a
// change source.
func validChangeSource() bool {
	switch os.Getenv("BILLSYNC_CHAOS_CHANGE_SOURCE") {
	case "", "trigger", "cdc":
		return true
	}
	return false
}

// checkCDCEvents accounts for every change event of a synced object: each
// change the listener queues for it (runner.CDCEventIDs: none for
// billsync's own writes and for updates of unsynced fields) has a
// finished sync-log entry or a dead letter.
func (c *chaos) checkCDCEvents(m *mapping.Mapping, st *chaosStore, rep *chaosReport, report func(string, ...any)) {
	integration := c.h.sb.SF.UserID(sfemu.IntegrationUsername)
	for _, ch := range runner.CDCChannels(m) {
		for _, ev := range c.h.sb.SF.Bus().Events(ch) {
			se := billsync.StreamEvent{Channel: ch, ReplayID: billsync.ReplayInt(ev.ReplayID), EventUUID: ev.UUID, Payload: ev.Payload}
			for _, id := range runner.CDCEventIDs(m, integration, se) {
				rep.EventsChecked++
				if !st.logged[id] && !st.deadEvents[id] {
					rep.Lost++
					h, _ := ev.Payload["ChangeEventHeader"].(map[string]any)
					report("lost: change event %s (replay %d, %v %v by %v) has no finished sync-log entry and no dead letter: %s",
						ev.UUID, ev.ReplayID, h["changeType"], h["recordIds"], h["commitUser"], strings.TrimPrefix(id, "event:"))
				}
			}
		}
	}
}
