package pubsub

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/emulate/salesforce/streaming"
	"github.com/billsync/billsync/salesforce/pubsub/pb"
)

// Change Data Capture over Pub/Sub. The org publishes a change event on
// its bus in the CometD form (field names in the header, only changed
// fields in the body); a subscriber of /data/<Entity> gets it as Salesforce
// sends it over Pub/Sub ("Differences Between Change Events Received with
// Streaming API vs. Pub/Sub API", Change Data Capture guide):
//
//   - the schema is a record named after the change event, in namespace
//     com.sforce.eventbus, whose first field is the ChangeEventHeader record
//     and whose other fields are every field of the object, each a
//     ["null", T] union defaulting to null;
//   - every field is in the body, an unchanged one null even when the
//     record holds a value;
//   - changedFields, nulledFields and diffFields are bitmaps over the
//     schema's field positions, the header being position 0 ("Event
//     Deserialization Considerations", Pub/Sub API guide);
//   - dates are epoch numbers instead of UTC strings.
//
// The emulator's objects have no compound fields (addresses, names), so
// its bitmaps have only the top-level element.

// changeEventEntity is the change event a /data/ topic names
// (BillingAccount__ChangeEvent), "" for any other topic. The multi-entity
// /data/ChangeEvents channel is not served.
func changeEventEntity(topic string) string {
	name, ok := strings.CutPrefix(topic, "/data/")
	if !ok || !strings.HasSuffix(name, "ChangeEvent") || strings.Contains(name, "/") {
		return ""
	}
	return name
}

// changeEventHeaderSchema is the ChangeEventHeader record in the field
// order of the ChangeEventHeader Fields reference (Change Data Capture
// guide), which is the order Pub/Sub clients print decoded headers in.
const changeEventHeaderSchema = `{"type":"record","name":"ChangeEventHeader","namespace":"com.sforce.eventbus","fields":[` +
	`{"name":"entityName","type":"string"},` +
	`{"name":"recordIds","type":{"type":"array","items":"string"}},` +
	`{"name":"changeType","type":{"type":"enum","name":"ChangeType","namespace":"com.sforce.eventbus","symbols":["CREATE","UPDATE","DELETE","UNDELETE","GAP_CREATE","GAP_UPDATE","GAP_DELETE","GAP_UNDELETE","GAP_OVERFLOW","SNAPSHOT"]}},` +
	`{"name":"changeOrigin","type":"string"},` +
	`{"name":"transactionKey","type":"string"},` +
	`{"name":"sequenceNumber","type":"int"},` +
	`{"name":"commitTimestamp","type":"long"},` +
	`{"name":"commitNumber","type":"long"},` +
	`{"name":"commitUser","type":"string"},` +
	`{"name":"nulledFields","type":{"type":"array","items":"string"}},` +
	`{"name":"diffFields","type":{"type":"array","items":"string"}},` +
	`{"name":"changedFields","type":{"type":"array","items":"string"}}]}`

// cdcSchemaJSON is the Avro schema of an object's change event.
func cdcSchemaJSON(entity string, fields []salesforce.EventField) string {
	type field struct {
		Name    string          `json:"name"`
		Type    json.RawMessage `json:"type"`
		Doc     string          `json:"doc"`
		Default *struct{}       `json:"default"` // null
	}
	out := []any{map[string]any{"name": "ChangeEventHeader", "type": json.RawMessage(changeEventHeaderSchema), "doc": "Data:ChangeEventHeader"}}
	for _, f := range fields {
		t, _ := json.Marshal([]string{"null", cdcAvroType(f.Type)})
		out = append(out, field{Name: f.Name, Type: t, Doc: "Data:" + f.Type})
	}
	b, _ := json.Marshal(map[string]any{"type": "record", "name": entity, "namespace": "com.sforce.eventbus", "fields": out})
	return string(b)
}

// cdcAvroType is a field's Avro type in a change event: dates and times
// are epoch milliseconds.
func cdcAvroType(describe string) string {
	if describe == "date" {
		return "long"
	}
	return avroType(describe)
}

// encodeCDC writes a change event from the bus in the topic's schema.
func (s *Server) encodeCDC(ts *topicSchema, ev streaming.Event) (*pb.ConsumerEvent, error) {
	h, _ := ev.Payload["ChangeEventHeader"].(map[string]any)
	if h == nil {
		return nil, fmt.Errorf("change event %d has no ChangeEventHeader", ev.ReplayID)
	}
	pos := make(map[string]int, len(ts.fields))
	for i, f := range ts.fields {
		pos[f.Name] = i + 1 // position 0 is the header
	}
	changed := texts(h["changedFields"])
	var nulled []string
	for _, name := range changed {
		if v, ok := ev.Payload[name]; ok && v == nil {
			nulled = append(nulled, name)
		}
	}
	header := map[string]any{
		"entityName": text(h["entityName"]), "recordIds": texts(h["recordIds"]), "changeType": text(h["changeType"]),
		"changeOrigin": text(h["changeOrigin"]), "transactionKey": text(h["transactionKey"]),
		"sequenceNumber": int32(number(h["sequenceNumber"])), "commitTimestamp": number(h["commitTimestamp"]),
		"commitNumber": number(h["commitNumber"]), "commitUser": text(h["commitUser"]),
		"nulledFields": FieldBitmap(pos, nulled), "diffFields": []string{}, "changedFields": FieldBitmap(pos, changed),
	}
	m := map[string]any{"ChangeEventHeader": header}
	for _, f := range ts.fields {
		v, err := cdcValue(f.Type, ev.Payload[f.Name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		m[f.Name] = v
	}
	return s.consumerEvent(ts, ev, m)
}

// FieldBitmap is the Pub/Sub form of a list of top-level field names: one
// hexadecimal number whose bit p is set for the field at schema position
// p, in upper case with an even number of digits, as Salesforce sends it
// ('0x650004E0'; the Java sample decoder reads the digits in pairs). Names
// without a position are left out; no names is an empty list.
func FieldBitmap(pos map[string]int, names []string) []string {
	var n big.Int
	for _, name := range names {
		if p, ok := pos[name]; ok {
			n.SetBit(&n, p, 1)
		}
	}
	if n.Sign() == 0 {
		return []string{}
	}
	hex := strings.ToUpper(n.Text(16))
	if len(hex)%2 == 1 {
		hex = "0" + hex
	}
	return []string{"0x" + hex}
}

// cdcValue converts a body value in its REST JSON form to the Go value of
// its Avro branch; a date ("2024-05-01") becomes epoch milliseconds.
func cdcValue(describe string, v any) (any, error) {
	if d, ok := v.(string); ok && describe == "date" {
		t, err := time.Parse(time.DateOnly, d)
		if err != nil {
			return nil, err
		}
		return t.UnixMilli(), nil
	}
	return avroValue(cdcAvroType(describe), v)
}

func text(v any) string {
	s, _ := v.(string)
	return s
}

func texts(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// number reads a header number whether the bus holds it as it was
// published (json.Number) or as a journal decoded it (float64).
func number(v any) int64 {
	switch x := v.(type) {
	case json.Number:
		n, _ := x.Int64()
		return n
	case float64:
		return int64(x)
	case int64:
		return x
	case int:
		return int64(x)
	}
	return 0
}
