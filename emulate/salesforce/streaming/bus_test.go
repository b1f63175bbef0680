package streaming

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The bus keeps a payload as its JSON: what a subscriber gets encodes
// byte for byte as what was published, whatever Go types it was built
// of, and a snapshot read back writes the same bytes again.
func TestBusPayloadEncodesAsPublished(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	b := NewBus(BusOptions{Clock: func() time.Time { return now }})
	payload := map[string]any{
		"ChangeEventHeader": map[string]any{"changedFields": []string{"Name", "Amount__c"}, "recordIds": []any{"a01"}, "sequenceNumber": 1, "commitTimestamp": int64(1761998400000)},
		"Name":              "<Acme & Co> \"quoted\" é", "Amount__c": json.Number("10.250"), "Ratio__c": 0.1, "Big__c": 1e21,
		"Active__c": true, "Empty__c": nil, "CreatedDate": "2026-11-01T12:00:00.000Z",
	}
	want, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	ev := b.Publish("/data/AccountChangeEvent", payload)
	payload["Name"] = "changed after publishing"
	check := func(what string, got []Event) {
		t.Helper()
		if len(got) != 1 || got[0].ReplayID != ev.ReplayID || got[0].UUID != ev.UUID || got[0].Schema != SchemaID("/data/AccountChangeEvent") || !got[0].Time.Equal(now) {
			t.Fatalf("%s: %+v", what, got)
		}
		b, err := json.Marshal(got[0].Payload)
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s: payload encodes as\n%s\nwant\n%s (%v)", what, b, want, err)
		}
	}
	check("Events", b.Events("/data/AccountChangeEvent"))
	after, _ := b.After("/data/AccountChangeEvent", 0, 10)
	check("After", after)

	snap, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b2 := NewBus(BusOptions{Clock: func() time.Time { return now }})
	if err := b2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	check("restored", b2.Events("/data/AccountChangeEvent"))
	snap2, err := b2.Snapshot()
	if err != nil || !bytes.Equal(snap, snap2) {
		t.Errorf("a restored bus snapshots as\n%s\nnot\n%s (%v)", snap2, snap, err)
	}
}

// An event kept as JSON still leaves with retention: read back from a
// snapshot past 72 hours, it is gone and its replay id refused.
func TestBusRetentionAfterRestore(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	b := NewBus(BusOptions{Clock: clock})
	b.Declare("/event/Test__e")
	old := b.Publish("/event/Test__e", map[string]any{"N": 1})
	now = now.Add(DefaultRetention - time.Minute)
	kept := b.Publish("/event/Test__e", map[string]any{"N": 2})
	snap, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b2 := NewBus(BusOptions{Clock: clock})
	if err := b2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Position("/event/Test__e", old.ReplayID); err != nil {
		t.Fatalf("an event within retention is not replayable: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := b2.Position("/event/Test__e", old.ReplayID); err == nil {
		t.Error("an event past retention is still replayable")
	}
	got := b2.Events("/event/Test__e")
	if len(got) != 1 || got[0].ReplayID != kept.ReplayID || got[0].Payload["N"] != json.Number("2") {
		t.Errorf("retained %+v, want only event %d", got, kept.ReplayID)
	}
}

// EventByUUID finds a retained event by its uuid, whatever its case.
func TestBusEventByUUID(t *testing.T) {
	b := NewBus(BusOptions{})
	first := b.Publish("/event/Test__e", map[string]any{"N": 1})
	b.Publish("/event/Test__e", map[string]any{"N": 2})
	got, ok := b.EventByUUID("/event/Test__e", strings.ToUpper(first.UUID))
	if !ok || got.ReplayID != first.ReplayID || got.Payload["N"] != json.Number("1") {
		t.Errorf("EventByUUID = %+v, %v", got, ok)
	}
	if _, ok := b.EventByUUID("/event/Test__e", "nope"); ok {
		t.Error("found an event never published")
	}
}
