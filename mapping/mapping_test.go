package mapping

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/billsync/billsync"
)

// SPEC §2: "12.50" from billing and 12.5 from Salesforce are equal after
// rounding to the field's scale; a rounding that loses value is reported.
func TestCanonicalMoney(t *testing.T) {
	t.Parallel()
	f := Field{Billing: "amount", Salesforce: "Amount__c", Kind: KindMoney, Scale: 2}
	for _, tc := range []struct {
		in    any
		want  string
		lossy bool
	}{
		{"12.50", "12.5", false},
		{json.Number("12.5"), "12.5", false},
		{json.Number("12.345"), "12.35", true},
		{"-0.005", "-0.01", true},
		{"100", "100", false},
		{json.Number("1.0E7"), "10000000", false},
		{json.Number("10.0"), "10", false},
		{nil, "", false},
	} {
		got, lossy, err := f.Canonical(tc.in)
		if err != nil || got != tc.want || lossy != tc.lossy {
			t.Errorf("Canonical(%v) = %q,%v,%v; want %q,%v", tc.in, got, lossy, err, tc.want, tc.lossy)
		}
	}
	if _, _, err := f.Canonical("twelve"); err == nil {
		t.Error("accepted a non-decimal amount")
	}
	if v := f.SalesforceValue("12.5"); v != json.Number("12.5") {
		t.Errorf("SalesforceValue = %#v", v)
	}
	if v := f.BillingValue("12.5"); v != "12.50" {
		t.Errorf("BillingValue = %#v, want the field's scale", v)
	}
}

func TestCanonicalDateAndBool(t *testing.T) {
	t.Parallel()
	d := Field{Billing: "appliedDate", Kind: KindDate}
	if got, _, err := d.Canonical("2026-11-01"); err != nil || got != "2026-11-01" {
		t.Fatalf("%q %v", got, err)
	}
	if _, _, err := d.Canonical("01/11/2026"); err == nil {
		t.Fatal("accepted a non-ISO date")
	}
	b := Field{Billing: "x", Kind: KindBool}
	if got, _, _ := b.Canonical(true); got != "true" {
		t.Fatal(got)
	}
}

func TestValuesBothSidesAgree(t *testing.T) {
	t.Parallel()
	m := Default()
	om, _ := m.Object(billsync.ObjectBalance)
	e, _ := billsync.DecodeEntity([]byte(`{"id":"bal_1","accountId":"acc_1","name":"Prepaid","code":"P","amount":"100.50","currency":"USD","startDate":"2026-01-01","endDate":null}`))
	bv, _, err := om.BillingValues(e, true)
	if err != nil {
		t.Fatal(err)
	}
	sf := billsync.SObject{"Name": "Prepaid", "Code__c": "P", "Amount__c": json.Number("100.5"), "Currency__c": "USD", "StartDate__c": "2026-01-01", "EndDate__c": nil, "Description__c": nil}
	sv, err := om.SalesforceValues(sf)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(sv, bv); len(d) != 0 {
		t.Fatalf("differ in %v: %v vs %v", d, sv, bv)
	}
	if fs := strings.Join(om.SalesforceFields(), ","); !strings.Contains(fs, "BillingAccount__r.BillingId__c") {
		t.Fatalf("fields %s", fs)
	}
}

func TestParseRejectsBadMappings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "objects:\n- type: account\n  sobject: A\n  externalId: X\n  colour: red\n", "colour"},
		{"unknown type", "objects:\n- type: invoice\n  sobject: A\n  externalId: X\n", "unknown object type"},
		{"bad kind", "objects:\n- type: account\n  sobject: A\n  externalId: X\n  fields:\n  - {billing: name, salesforce: Name, kind: float, direction: two-way}\n", "unknown kind"},
		{"twice", "objects:\n- type: account\n  sobject: A\n  externalId: X\n  fields:\n  - {billing: name, salesforce: Name, kind: string, direction: two-way}\n  - {billing: code, salesforce: name, kind: string, direction: two-way}\n", "mapped twice"},
	} {
		if _, err := Parse([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}
