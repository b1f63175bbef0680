package streaming

import (
	"testing"
	"time"
)

// A change event (a /data/ channel) arrives as the CDC guide shows it:
// data.schema, data.payload with its ChangeEventHeader and no CreatedDate
// added, and data.event with the replayId alone.
func TestChangeEventDelivery(t *testing.T) {
	const ch = "/data/BillingAccount__ChangeEvent"
	e := newEnv(t, 10*time.Second)
	e.bus.Declare(ch)
	c := e.client()
	c.handshake()
	if s := c.subscribe(ch, -2); s["successful"] != true {
		t.Fatalf("subscribe %v", s)
	}
	ev := e.bus.Publish(ch, map[string]any{"ChangeEventHeader": map[string]any{"entityName": "BillingAccount__c", "changeType": "UPDATE"}, "Name": "X"})
	var got map[string]any
	for deadline := time.Now().Add(15 * time.Second); got == nil && time.Now().Before(deadline); {
		for _, m := range c.connect() {
			if m["channel"] == ch {
				got = m
			}
		}
	}
	if got == nil {
		t.Fatal("change event not delivered")
	}
	data := got["data"].(map[string]any)
	event := data["event"].(map[string]any)
	if _, has := event["EventUuid"]; has || event["replayId"] != float64(ev.ReplayID) {
		t.Errorf("data.event %v, want the replayId %d alone", event, ev.ReplayID)
	}
	payload := data["payload"].(map[string]any)
	if _, has := payload["CreatedDate"]; has || payload["ChangeEventHeader"] == nil || data["schema"] != SchemaID(ch) {
		t.Errorf("data %v", data)
	}
}
