package mapping

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/billsync/billsync"
)

func TestRevision(t *testing.T) {
	for _, tc := range []struct {
		rec  billsync.SObject
		want string
	}{
		{billsync.SObject{}, "0"}, // saved before the field existed
		{billsync.SObject{FieldRevision: nil}, "0"},
		{billsync.SObject{FieldRevision: json.Number("3")}, "3"},
		{billsync.SObject{FieldRevision: json.Number("3.0")}, "3"},
		{billsync.SObject{FieldRevision: 12.0}, "12"},
		{billsync.SObject{"billingsyncrevision__c": json.Number("4")}, "4"}, // Salesforce names are case-insensitive
	} {
		if got := Revision(tc.rec); got != tc.want {
			t.Errorf("Revision(%v) = %q, want %q", tc.rec, got, tc.want)
		}
	}
	if v := RevisionValue("7"); fmt.Sprint(v) != "7" {
		t.Errorf("RevisionValue(7) = %v", v)
	}
}

func TestIsStaleRevision(t *testing.T) {
	stale := billsync.SaveResult{Errors: []billsync.FieldError{{StatusCode: "FIELD_CUSTOM_VALIDATION_EXCEPTION",
		Message: StaleRevision + ": the record changed after billsync read it; billsync reads it again and reconciles"}}}
	if !IsStaleRevision(stale.Err()) {
		t.Error("the trigger's refusal is not recognised")
	}
	other := billsync.SaveResult{Errors: []billsync.FieldError{{StatusCode: "FIELD_CUSTOM_VALIDATION_EXCEPTION", Message: "names are frozen"}}}
	if IsStaleRevision(other.Err()) {
		t.Error("another validation error taken for a stale revision")
	}
	billing := &billsync.RemoteError{System: billsync.SystemBilling, Code: "FIELD_CUSTOM_VALIDATION_EXCEPTION", Message: StaleRevision}
	if IsStaleRevision(billing) || IsStaleRevision(nil) {
		t.Error("not a Salesforce refusal, yet recognised")
	}
	if IsStaleRevision(fmt.Errorf("wrapped: %w", stale.Err())) != true {
		t.Error("a wrapped refusal is not recognised")
	}
}

func TestRevisionIsReadAndPathsAvoidItsKey(t *testing.T) {
	om, _ := Default().Object(billsync.ObjectAccount)
	if !slices.Contains(om.SalesforceFields(), FieldRevision) {
		t.Errorf("%s is not read: %v", FieldRevision, om.SalesforceFields())
	}
	m := Default()
	m.Objects[0].Fields = append(m.Objects[0].Fields, Field{Billing: AgreedRevision, Salesforce: "X__c", Kind: KindString, Direction: TwoWay})
	if err := m.Validate(); err == nil {
		t.Errorf("a billing path %q was accepted", AgreedRevision)
	}
}
