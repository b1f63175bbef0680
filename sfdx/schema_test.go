package sfdx

import (
	"slices"
	"testing"
)

func TestSchemaHasEveryField(t *testing.T) {
	m, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if m.APIVersion != "62.0" {
		t.Errorf("APIVersion = %q", m.APIVersion)
	}
	type want struct {
		typ       string
		length    int
		precision int
		scale     int
		required  bool
		extID     bool
		ref       string
		rel       string
	}
	common := map[string]want{
		"LastSystemToUpdate__c":  {typ: "Picklist"},
		"BillingSyncStatus__c":   {typ: "Text", length: 40},
		"BillingSyncError__c":    {typ: "LongTextArea", length: 32768},
		"BillingLastSyncedAt__c": {typ: "DateTime"},
		"IsDeletedInBilling__c":  {typ: "Checkbox"},
	}
	objects := map[string]map[string]want{
		"BillingAccount__c": {
			"Name": {typ: "Text", length: 80}, "BillingId__c": {typ: "Text", length: 255, extID: true},
			"Code__c": {typ: "Text", length: 80}, "Email__c": {typ: "Email", length: 80}, "Currency__c": {typ: "Text", length: 3},
			"Account__c": {typ: "Lookup", ref: "Account", rel: "Account__r"},
		},
		"BillingBalance__c": {
			"Name": {typ: "Text", length: 80}, "BillingId__c": {typ: "Text", length: 255, extID: true},
			"BillingAccount__c": {typ: "MasterDetail", required: true, ref: "BillingAccount__c", rel: "BillingAccount__r"},
			"Code__c":           {typ: "Text", length: 80}, "Description__c": {typ: "Text", length: 255},
			"Amount__c": {typ: "Currency", precision: 16, scale: 2}, "Currency__c": {typ: "Text", length: 3},
			"StartDate__c": {typ: "Date"}, "EndDate__c": {typ: "Date"},
		},
		"BillingBalanceTransaction__c": {
			"Name": {typ: "AutoNumber"}, "BillingId__c": {typ: "Text", length: 255, extID: true},
			"BillingBalance__c": {typ: "MasterDetail", required: true, ref: "BillingBalance__c", rel: "BillingBalance__r"},
			"Amount__c":         {typ: "Currency", precision: 16, scale: 2, required: true},
			"Description__c":    {typ: "Text", length: 255}, "AppliedDate__c": {typ: "Date"},
		},
		"Quote": {"BillingQuoteId__c": {typ: "Text", length: 255, extID: true}},
		"QuoteLineItem": {
			"BillingQuoteItemId__c": {typ: "Text", length: 255, extID: true},
			"BillingOfferingId__c":  {typ: "Text", length: 255}, "BillingOfferingName__c": {typ: "Text", length: 255},
			"OverrideOpportunitySync__c": {typ: "Picklist"},
		},
		"OpportunityLineItem":    {"BillingQuoteItemId__c": {typ: "Text", length: 255, extID: true}},
		"BillingObjectChange__e": {"ObjectType__c": {typ: "Text", length: 80}, "RecordId__c": {typ: "Text", length: 18}, "ChangeType__c": {typ: "Text", length: 20}},
	}
	for obj, fields := range objects {
		if obj != "OpportunityLineItem" && obj != "BillingObjectChange__e" {
			for k, v := range common {
				fields[k] = v
			}
		}
		o := m.Object(obj)
		if o == nil {
			t.Errorf("object %s missing", obj)
			continue
		}
		for name, w := range fields {
			f := o.Field(name)
			if f == nil {
				t.Errorf("%s.%s missing", obj, name)
				continue
			}
			got := want{f.Type, f.Length, f.Precision, f.Scale, f.Required, f.ExternalID, f.ReferenceTo, f.RelationshipName}
			if got != w {
				t.Errorf("%s.%s = %+v, want %+v", obj, name, got, w)
			}
			if f.ExternalID && !f.Unique {
				t.Errorf("%s.%s: external id not unique", obj, name)
			}
		}
	}
	if f := m.Object("BillingAccount__c").Field("LastSystemToUpdate__c"); !slices.Equal(f.PicklistValues, []string{"billing", "sfdc"}) {
		t.Errorf("LastSystemToUpdate__c values %v", f.PicklistValues)
	}
	if f := m.Object("QuoteLineItem").Field("OverrideOpportunitySync__c"); !slices.Equal(f.PicklistValues, []string{"ALWAYS", "NEVER"}) {
		t.Errorf("OverrideOpportunitySync__c values %v", f.PicklistValues)
	}
	if f := m.Object("BillingAccount__c").Field("IsDeletedInBilling__c"); f.DefaultValue != "false" {
		t.Errorf("IsDeletedInBilling__c default %q", f.DefaultValue)
	}
	if f := m.Object("BillingBalanceTransaction__c").NameField; f.DisplayFormat != "BT-{000000}" {
		t.Errorf("transaction name format %q", f.DisplayFormat)
	}
	ev := m.Object("BillingObjectChange__e")
	if ev.Kind != KindEvent || ev.PublishBehavior != "PublishAfterCommit" {
		t.Errorf("event %+v", ev)
	}
	for _, o := range m.Objects {
		wantTrig := o.Name == "BillingAccount__c" || o.Name == "BillingBalance__c" || o.Name == "BillingBalanceTransaction__c"
		if o.Triggered != wantTrig {
			t.Errorf("%s.Triggered = %v", o.Name, o.Triggered)
		}
	}
	for _, tr := range m.Triggers {
		for _, ev := range []string{"before insert", "before update", "after insert", "after update", "after delete", "after undelete"} {
			if !slices.Contains(tr.Events, ev) {
				t.Errorf("trigger %s lacks %s", tr.Name, ev)
			}
		}
	}
	if !slices.Contains(m.CustomPermissions, "BillsyncIntegration") {
		t.Errorf("custom permissions %v", m.CustomPermissions)
	}
	ps := m.PermissionSet("BillsyncIntegration")
	if ps == nil || !slices.Contains(ps.CustomPermissions, "BillsyncIntegration") {
		t.Fatalf("permission set %+v", ps)
	}
	if a := ps.Objects["BillingBalanceTransaction__c"]; !a.Create || !a.Edit || !a.Delete || !a.Read {
		t.Errorf("object access %+v", a)
	}
	if a := ps.Fields["BillingAccount__c.BillingId__c"]; !a.Editable {
		t.Errorf("field access %+v", a)
	}
}
