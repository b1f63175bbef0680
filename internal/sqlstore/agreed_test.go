package sqlstore

import (
	"encoding/json"
	"reflect"
	"testing"
)

var agreedCases = []string{
	`null`, ` null `, `{}`, ` { } `, `{"a":"b"}`, `{"a": "b", "c": "d"}`, "{\n\t\"a\" :\r\n \"\" }",
	`{"name":"Zoë Ångström","city":"Kraków"}`, `{"a":"x","a":"y"}`, `{"a":"line\nbreak"}`, `{"a":"\u00e9"}`,
	`{"a":"quote\"d"}`, `{"a":1}`, `{"a":null}`, `{"a":"b",}`, `{"a":"b"`, `{"a" "b"}`, `{a:"b"}`, `["a"]`,
	`nul`, `nullx`, `{"a":"b"} x`, `{"a":"b"}{}`, "{\"a\":\"\xff\"}", "{\"a\":\"tab\there\"}", ``, `"s"`,
	`{"a":"b","c":{"d":"e"}}`, `{"":""}`,
}

// decodeAgreed reads what encoding/json reads, and fails where it fails.
func TestDecodeAgreedAsEncodingJSON(t *testing.T) {
	for _, c := range agreedCases {
		checkAgreed(t, []byte(c))
	}
}

func FuzzDecodeAgreed(f *testing.F) {
	for _, c := range agreedCases {
		f.Add([]byte(c))
	}
	f.Fuzz(checkAgreed)
}

func checkAgreed(t *testing.T, data []byte) {
	var want map[string]string
	wantErr := json.Unmarshal(data, &want)
	got, err := decodeAgreed(data)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("decodeAgreed(%q) error %v, encoding/json %v", data, err, wantErr)
	}
	if err == nil && (!reflect.DeepEqual(got, want) || (got == nil) != (want == nil)) {
		t.Fatalf("decodeAgreed(%q) = %#v, encoding/json %#v", data, got, want)
	}
}

// The fast path takes what json.Marshal writes.
func TestScanFlatObjectReadsMarshalled(t *testing.T) {
	for _, m := range []map[string]string{nil, {}, {"name": "Acme", "address.city": "Zürich", "empty": ""}} {
		data, _ := json.Marshal(m)
		got, ok := scanFlatObject(data)
		if !ok || !reflect.DeepEqual(got, m) {
			t.Errorf("scanFlatObject(%s) = %v, %v", data, got, ok)
		}
	}
}

func BenchmarkDecodeAgreed(b *testing.B) {
	data := []byte(`{"address.city":"Rotterdam","address.country":"NL","address.line1":"12 Harbour Road","currency":"EUR","email":"billing@acme.example","name":"Acme Industrial Supply Ltd","status":"active","taxId":"NL123456789B01"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeAgreed(data); err != nil {
			b.Fatal(err)
		}
	}
}
