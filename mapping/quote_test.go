package mapping

import (
	"encoding/json"
	"testing"

	"github.com/billsync/billsync"
	"github.com/google/go-cmp/cmp"
)

func quoteEntity(t *testing.T, js string) billsync.Entity {
	t.Helper()
	e, err := billsync.DecodeEntity([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func fieldsOf(names map[string]FieldInfo) FieldSet {
	return func(n string) (FieldInfo, bool) {
		fi, ok := names[n]
		return fi, ok
	}
}

// E7, E8: status through the picklist translation, description, dates,
// expiresAt → ExpirationDate, customFields through the wildcard only where
// the org has the field.
func TestApplyQuoteFields(t *testing.T) {
	t.Parallel()
	m := DefaultQuote()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	e := quoteEntity(t, `{"id":"q1","status":"PENDING_APPROVAL","description":"Acme expansion","expiresAt":"2026-12-31T18:00:00Z",
		"startDate":"2026-01-01","type":"NEW","customFields":{"region":"EMEA","seats":12,"bad__name":"x","PONumber":"PO-1"}}`)
	has := fieldsOf(map[string]FieldInfo{
		"Status": {Type: "picklist"}, "Description": {Type: "textarea"}, "ExpirationDate": {Type: "date"},
		"BillingStartDate__c": {Type: "date"}, "region__c": {Type: "string"}, "seats__c": {Type: "double", Scale: 0},
	})
	got, missing, err := Apply(m.Quote, e, has)
	if err != nil || len(missing) != 0 {
		t.Fatalf("err %v missing %v", err, missing)
	}
	want := []Assignment{
		{Billing: "status", Salesforce: "Status", Value: "Needs Review"},
		{Billing: "description", Salesforce: "Description", Value: "Acme expansion"},
		{Billing: "expiresAt", Salesforce: "ExpirationDate", Value: "2026-12-31"},
		{Billing: "startDate", Salesforce: "BillingStartDate__c", Value: "2026-01-01"},
		{Billing: "customFields.region", Salesforce: "region__c", Value: "EMEA", Wildcard: true},
		{Billing: "customFields.seats", Salesforce: "seats__c", Value: json.Number("12"), Wildcard: true},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("assignments (-want +got):\n%s", d)
	}
}

// A status the picklist translation does not know is not written (the
// Quote keeps its value) rather than failing the record.
func TestApplyUnknownStatusIsLeftOut(t *testing.T) {
	t.Parallel()
	got, _, err := Apply(DefaultQuote().Quote[:1], quoteEntity(t, `{"status":"ON_HOLD"}`), nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
}

// A required mapped field the org lacks is reported, so the engine refuses
// the quote before writing; an optional one is silently left out.
func TestApplyReportsMissingRequiredFields(t *testing.T) {
	t.Parallel()
	_, missing, err := Apply(DefaultQuote().Quote, quoteEntity(t, `{"status":"DRAFT"}`), fieldsOf(map[string]FieldInfo{"Status": {}}))
	if err != nil {
		t.Fatal(err)
	}
	want := []Missing{{"description", "Description"}, {"expiresAt", "ExpirationDate"}}
	if d := cmp.Diff(want, missing); d != "" {
		t.Errorf("missing (-want +got):\n%s", d)
	}
}

// Line money uses the scale describe reports and never goes through float.
func TestApplyLineMoneyScale(t *testing.T) {
	t.Parallel()
	e := quoteEntity(t, `{"quantity":"3","unitPrice":"19.999","offeringId":"off1","offeringName":"Platform","productName":"Seat"}`)
	got, _, err := Apply(DefaultQuote().Line, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got[1].Value != json.Number("20") || !got[1].Lossy {
		t.Errorf("unitPrice = %#v lossy %v", got[1].Value, got[1].Lossy)
	}
	if got[0].Value != json.Number("3") {
		t.Errorf("quantity = %#v", got[0].Value)
	}
}

func TestQuoteMappingValidate(t *testing.T) {
	t.Parallel()
	bad := &QuoteMapping{Quote: []QuoteField{qf("a", "A", KindString, 0, false), qf("b", "a", KindString, 0, false)}}
	if bad.Validate() == nil {
		t.Error("accepted a Salesforce field mapped twice")
	}
	bad = &QuoteMapping{Quote: []QuoteField{qf("customFields.*.x", "*__c", KindString, 0, true)}}
	if bad.Validate() == nil {
		t.Error("accepted a wildcard in the middle of a path")
	}
}

func TestValidAPIName(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{"region": true, "PO_Number": true, "a__b": false, "1x": false, "x_": false, "": false, "x y": false} {
		if validAPIName(s) != want {
			t.Errorf("validAPIName(%q) = %v", s, !want)
		}
	}
}
