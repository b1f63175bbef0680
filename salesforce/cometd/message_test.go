package cometd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

func readMessages(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "messages", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRecordedMessages(t *testing.T) {
	msgs, err := DecodeMessages(readMessages(t, "event-loginstream-mohan.json"))
	if err != nil {
		t.Fatal(err)
	}
	ev := msgs[0].Event
	if ev == nil || !ev.ReplayID.Equal(billsync.ReplayInt(7711181)) || ev.EventUUID != "59ebff93-6ac2-42ee-b1a6-3ded4d03e4e4" ||
		ev.CreatedByID != "0058W00000CGsFSQA1" || !ev.CreatedDate.Equal(time.Date(2023, 12, 5, 12, 1, 5, 558e6, time.UTC)) ||
		ev.Channel != "/event/LoginEventStream" {
		t.Fatalf("platform event %+v", ev)
	}
	if n, ok := ev.Payload["EvaluationTime"].(json.Number); !ok || n != "0" {
		t.Fatalf("numbers must stay json.Number: %#v", ev.Payload["EvaluationTime"])
	}
	if msgs[1].Channel != "/meta/connect" || !msgs[1].Successful || msgs[1].Event != nil {
		t.Fatalf("connect reply %+v", msgs[1])
	}

	msgs, err = DecodeMessages(readMessages(t, "event-cdc-workpuma.json"))
	if err != nil {
		t.Fatal(err)
	}
	ev = msgs[0].Event
	h := ev.Payload["ChangeEventHeader"].(map[string]any)
	if !ev.ReplayID.Equal(billsync.ReplayInt(2142496)) || ev.EventUUID != "" || ev.CreatedByID != "005Rj000005UEfQIAW" ||
		!ev.CreatedDate.Equal(time.UnixMilli(1725357365000)) || h["commitNumber"] != json.Number("1725357365187780609") ||
		ev.Payload["ActualDuration"] != json.Number("0.0") {
		t.Fatalf("change event %+v", ev)
	}

	msgs, err = DecodeMessages(readMessages(t, "unknown-client-kdcllc43.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m := msgs[0]; m.Successful || m.Error != "403::Unknown client" || m.Advice == nil || m.Advice.Reconnect != "handshake" || m.Advice.HasTime {
		t.Fatalf("unknown client %+v %+v", m, m.Advice)
	}

	msgs, err = DecodeMessages(readMessages(t, "first-connect-kdcllc43.json"))
	if err != nil {
		t.Fatal(err)
	}
	if a := msgs[0].Advice; a.Timeout != 110*time.Second || !a.HasTime || a.Reconnect != "retry" || a.Interval != 0 {
		t.Fatalf("advice %+v", a)
	}

	msgs, err = DecodeMessages(readMessages(t, "handshake-denied-jsforce.json"))
	if err != nil {
		t.Fatal(err)
	}
	if sfdc := msgs[0].Ext["sfdc"].(map[string]any); sfdc["failureReason"] != "401::Authentication invalid" {
		t.Fatalf("denied %+v", msgs[0])
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, body := range map[string]string{
		"not json":           `<html>`,
		"no channel":         `[{"successful":true}]`,
		"fractional replay":  `[{"channel":"/event/X__e","data":{"payload":{},"event":{"replayId":1.5}}}]`,
		"no replay":          `[{"channel":"/event/X__e","data":{"payload":{},"event":{}}}]`,
		"payload not object": `[{"channel":"/event/X__e","data":{"payload":[1],"event":{"replayId":1}}}]`,
		"bad date":           `[{"channel":"/event/X__e","data":{"payload":{"CreatedDate":"yesterday"},"event":{"replayId":1}}}]`,
		"trailing":           `[] []`,
	} {
		if _, err := DecodeMessages([]byte(body)); err == nil {
			t.Errorf("%s: accepted %s", name, body)
		}
	}
	// Tolerated: numeric ids, REST-style dates, unknown fields.
	msgs, err := DecodeMessages([]byte(`[{"channel":"/event/X__e","id":7,"x":{},"data":{"payload":{"CreatedDate":"2024-01-02T03:04:05.000+0000"},"event":{"replayId":3}}}]`))
	if err != nil || msgs[0].ID != "7" || msgs[0].Event.CreatedDate.Hour() != 3 {
		t.Fatalf("tolerant decode: %v %+v", err, msgs)
	}
}

// FuzzDecodeMessages checks that no input panics the decoder and that an
// accepted event always has a usable replay id and payload. Seeds are
// recorded real messages (testdata/SOURCES.md).
func FuzzDecodeMessages(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "messages"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(readMessages(f, e.Name()))
	}
	f.Add([]byte(`[{"channel":"/event/X__e","data":{"payload":null,"event":{"replayId":-0}}}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := DecodeMessages(body)
		if err != nil {
			return
		}
		for _, m := range msgs {
			if m.Channel == "" {
				t.Fatal("accepted a message without channel")
			}
			if m.Event != nil && m.Event.Payload == nil {
				t.Fatal("accepted an event without payload")
			}
			if m.Advice != nil && (m.Advice.Interval < 0 || m.Advice.Timeout < 0) {
				t.Fatal("negative advice")
			}
		}
	})
}
