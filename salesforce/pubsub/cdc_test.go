package pubsub

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

// docSchema has 31 fields, f0 … f30, the compound ones (records in a
// ["null", record] union) at positions 4 and 7, each with 8 parts p0 … p7:
// enough positions for the example in Salesforce's "Event Deserialization
// Considerations" page of the Pub/Sub API guide,
// 'changedFields': ['0x650004E0','4-0x10','7-0x06'].
func docSchema(t *testing.T) avro.Schema {
	t.Helper()
	var fields []string
	for i := range 31 {
		typ := `["null","string"]`
		if i == 4 || i == 7 {
			var parts []string
			for p := range 8 {
				parts = append(parts, fmt.Sprintf(`{"name":"p%d","type":["null","string"],"default":null}`, p))
			}
			typ = fmt.Sprintf(`["null",{"type":"record","name":"C%d","fields":[%s]}]`, i, strings.Join(parts, ","))
		}
		fields = append(fields, fmt.Sprintf(`{"name":"f%d","type":%s,"default":null}`, i, typ))
	}
	return avro.MustParse(`{"type":"record","name":"DocChangeEvent","namespace":"com.sforce.eventbus","fields":[` + strings.Join(fields, ",") + `]}`)
}

// TestFieldNamesDocumentedExample decodes the documented bitmap by the
// rule of Salesforce's sample decoders (forcedotcom/pub-sub-api
// java/…/utility/EventParser.java, python/util/ChangeEventHeaderUtility.py):
// 0x650004E0 is binary 0110 0101 0000 0000 0000 0100 1110 0000, bits 5, 6,
// 7, 10, 24, 26, 29 and 30 from the least significant; "4-0x10" is part 4
// of the compound field at position 4, and "7-0x06" parts 1 and 2 of the
// one at position 7.
func TestFieldNamesDocumentedExample(t *testing.T) {
	s := docSchema(t)
	got, err := FieldNames(s, []string{"0x650004E0", "4-0x10", "7-0x06"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"f5", "f6", "f7", "f10", "f24", "f26", "f29", "f30", "f4.p4", "f7.p1", "f7.p2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FieldNames = %v, want %v", got, want)
	}
	// The ChangeEventHeaderUtility README's example, alone and in lower
	// case hex (the bitmap is a number, whatever its case).
	got, err = FieldNames(s, []string{"0x650004e0"})
	if err != nil || !reflect.DeepEqual(got, want[:8]) {
		t.Errorf("FieldNames(0x650004e0) = %v, %v; want %v", got, err, want[:8])
	}
}

func TestFieldNamesRefusesWhatTheSchemaCannotHold(t *testing.T) {
	s := docSchema(t)
	for _, bad := range [][]string{
		{"0x80000000"},      // bit 31: the schema has 31 fields
		{"0xZZ"},            // not hexadecimal
		{"0x01", "5-0x01"},  // f5 is not compound
		{"0x01", "31-0x01"}, // no field 31
		{"0x01", "4-0x100"}, // the compound has 8 parts
		{"0x01", "x-0x01"},  // no position
	} {
		if got, err := FieldNames(s, bad); err == nil {
			t.Errorf("FieldNames(%q) = %v, want an error", bad, got)
		}
	}
	// A list that already names fields (as over CometD) passes through.
	if got, err := FieldNames(s, []string{"Name", "BillingAddress.City"}); err != nil || !reflect.DeepEqual(got, []string{"Name", "BillingAddress.City"}) {
		t.Errorf("names passed through as %v, %v", got, err)
	}
	if got, err := FieldNames(s, nil); err != nil || got != nil {
		t.Errorf("empty list = %v, %v", got, err)
	}
}

// accountSchema is a change event schema in the shape Salesforce's
// GetSchema returns: ChangeEventHeader first, then the object's fields as
// nullable unions, an address as a nested record.
const accountSchema = `{"type":"record","name":"AccountChangeEvent","namespace":"com.sforce.eventbus","fields":[
{"name":"ChangeEventHeader","type":{"type":"record","name":"ChangeEventHeader","fields":[
 {"name":"entityName","type":"string"},{"name":"recordIds","type":{"type":"array","items":"string"}},
 {"name":"changeType","type":{"type":"enum","name":"ChangeType","symbols":["CREATE","UPDATE","DELETE","UNDELETE","GAP_CREATE","GAP_UPDATE","GAP_DELETE","GAP_UNDELETE","GAP_OVERFLOW","SNAPSHOT"]}},
 {"name":"changeOrigin","type":"string"},{"name":"transactionKey","type":"string"},{"name":"sequenceNumber","type":"int"},
 {"name":"commitTimestamp","type":"long"},{"name":"commitNumber","type":"long"},{"name":"commitUser","type":"string"},
 {"name":"nulledFields","type":{"type":"array","items":"string"}},{"name":"diffFields","type":{"type":"array","items":"string"}},
 {"name":"changedFields","type":{"type":"array","items":"string"}}]}},
{"name":"Name","type":["null","string"],"default":null},
{"name":"Type","type":["null","string"],"default":null},
{"name":"BillingAddress","type":["null",{"type":"record","name":"Address","fields":[
 {"name":"Street","type":["null","string"],"default":null},{"name":"City","type":["null","string"],"default":null},
 {"name":"State","type":["null","string"],"default":null}]}],"default":null},
{"name":"Phone","type":["null","string"],"default":null},
{"name":"LastModifiedDate","type":["null","long"],"default":null}]}`

func header(changeType string, changed, nulled []string) map[string]any {
	return map[string]any{"entityName": "Account", "recordIds": []string{"001000000000001AAA"}, "changeType": changeType,
		"changeOrigin": "", "transactionKey": "tx1", "sequenceNumber": int32(1), "commitTimestamp": int64(1700000000000),
		"commitNumber": int64(7), "commitUser": "005000000000001AAA", "nulledFields": nulled, "diffFields": []string{}, "changedFields": changed}
}

// TestChangeEventShape: an update that set Phone to null and changed the
// billing city arrives, after Avro, with bitmaps and every unchanged field
// null; the subscriber hands on the CometD shape: names in the header,
// and only the changed fields in the body, the nulled one as null.
func TestChangeEventShape(t *testing.T) {
	s := avro.MustParse(accountSchema)
	// Positions: 0 header, 1 Name, 2 Type, 3 BillingAddress, 4 Phone,
	// 5 LastModifiedDate; Address parts 0 Street, 1 City, 2 State.
	in := map[string]any{
		changeEventHeader: header("UPDATE", []string{"0x30", "3-0x02"}, []string{"0x10"}),
		"Name":            nil, "Type": nil, "Phone": nil, "LastModifiedDate": int64(1700000000000),
		"BillingAddress": map[string]any{"com.sforce.eventbus.Address": map[string]any{"Street": nil, "City": "Lyon", "State": nil}},
	}
	raw, err := avro.Marshal(s, in)
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]any
	if err := avro.Unmarshal(s, raw, &payload); err != nil {
		t.Fatal(err)
	}
	if err := changeEvent(s, payload); err != nil {
		t.Fatal(err)
	}
	ev, err := streamEvent("/data/AccountChangeEvent", Event{ReplayID: []byte{1}, Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(ev.Payload)
	want := `{"BillingAddress":{"City":"Lyon"},"ChangeEventHeader":{"changeOrigin":"","changeType":"UPDATE","changedFields":["Phone","LastModifiedDate","BillingAddress.City"],` +
		`"commitNumber":7,"commitTimestamp":1700000000000,"commitUser":"005000000000001AAA","diffFields":[],"entityName":"Account","nulledFields":["Phone"],` +
		`"recordIds":["001000000000001AAA"],"sequenceNumber":1,"transactionKey":"tx1"},"LastModifiedDate":1700000000000,"Phone":null}`
	if string(got) != want {
		t.Errorf("payload\n got %s\nwant %s", got, want)
	}
	if ev.CreatedByID != "005000000000001AAA" || ev.CreatedDate.UnixMilli() != 1700000000000 {
		t.Errorf("who and when from the header: %q %v", ev.CreatedByID, ev.CreatedDate)
	}
}

// TestChangeEventBadBitmap: bitmaps that do not fit the schema are
// reported, and the lists left empty, so the listener reads the record
// rather than trusting names that may be wrong.
func TestChangeEventBadBitmap(t *testing.T) {
	s := avro.MustParse(accountSchema)
	payload := map[string]any{changeEventHeader: map[string]any{"changedFields": []any{"0xFF00"}, "nulledFields": []any{}}, "Name": "x"}
	if err := changeEvent(s, payload); err == nil {
		t.Fatal("no error for a bitmap past the schema's fields")
	}
	h := payload[changeEventHeader].(map[string]any)
	if l := h["changedFields"].([]any); len(l) != 0 {
		t.Errorf("changedFields kept %v", l)
	}
	if payload["Name"] != "x" {
		t.Errorf("body value dropped: %v", payload)
	}
	// A platform event is not a change event and is left alone.
	pe := map[string]any{"CreatedById": "005"}
	if err := changeEvent(avro.MustParse(`{"type":"record","name":"E__e","fields":[{"name":"CreatedById","type":"string"}]}`), pe); err != errNotChangeEvent {
		t.Errorf("platform event: %v", err)
	}
}
