package mapping

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const recordsOnly = "objects:\n- type: account\n  sobject: BillingAccount__c\n  externalId: BillingId__c\n  fields:\n" +
	"  - {billing: name, salesforce: Name, kind: string, direction: two-way}\n"

// A file written before quotes could be mapped keeps today's quote sync.
func TestFileWithoutQuotesKeepsTheBuiltInQuoteMapping(t *testing.T) {
	t.Parallel()
	m, err := Parse([]byte(recordsOnly))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(DefaultQuote(), m.Quote()); d != "" {
		t.Errorf("quote mapping (-built-in +file):\n%s", d)
	}
	if d := cmp.Diff(DefaultQuote(), (&Mapping{}).Quote()); d != "" {
		t.Errorf("a mapping built without quotes (-built-in +got):\n%s", d)
	}
}

// What a quotes: section names replaces the built-in part; what it leaves
// out is the built-in one; an empty list maps nothing.
func TestQuotesSectionOverridesPartByPart(t *testing.T) {
	t.Parallel()
	m, err := Parse([]byte(recordsOnly + `quotes:
  objects:
    quote: {externalId: ExternalQuoteKey__c}
  line:
    - {billing: customFields.territory, salesforce: Territory__c, kind: string}
  oppProduct: []
  opportunity:
    - {billing: description, salesforce: Description, kind: string, direction: to-salesforce}
`))
	if err != nil {
		t.Fatal(err)
	}
	q, def := m.Quote(), DefaultQuote()
	if q.Objects.Quote != (QuoteObject{SObject: "Quote", ExternalID: "ExternalQuoteKey__c"}) || q.Objects.Line != def.Objects.Line {
		t.Errorf("objects %+v", q.Objects)
	}
	if d := cmp.Diff(def.Quote, q.Quote); d != "" {
		t.Errorf("quote fields left out should be the built-in ones:\n%s", d)
	}
	want := []QuoteField{{Field: Field{Billing: "customFields.territory", Salesforce: "Territory__c", Kind: KindString, Direction: ToSalesforce}}}
	if d := cmp.Diff(want, q.Line); d != "" {
		t.Errorf("line fields (direction defaults to to-salesforce):\n%s", d)
	}
	if q.OppProduct == nil || len(q.OppProduct) != 0 {
		t.Errorf("oppProduct: [] should map nothing, got %v", q.OppProduct)
	}
	if len(q.Opportunity) != 1 {
		t.Errorf("opportunity %v", q.Opportunity)
	}
}

// Quote sync is one-way: a file saying otherwise is refused, naming the
// field and the direction to use.
func TestQuotesSectionRefusesBadEntries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, yaml, want string }{
		{"two-way quote field", "quotes:\n  quote:\n  - {billing: description, salesforce: Description, kind: string, direction: two-way}\n",
			"quote.description: direction two-way: quote sync is one-way"},
		{"to-billing line field", "quotes:\n  line:\n  - {billing: quantity, salesforce: Quantity, kind: number, direction: to-billing}\n",
			"use to-salesforce"},
		{"unknown direction", "quotes:\n  opportunity:\n  - {billing: description, salesforce: Description, kind: string, direction: sideways}\n",
			`unknown direction "sideways"`},
		{"unknown key", "quotes:\n  lines: []\n", "lines"},
		{"wildcard twice", "quotes:\n  line:\n  - {billing: customFields.*, salesforce: \"*_*__c\", kind: string}\n", "wildcard"},
		{"wildcard on a two-way object", "objects:\n- type: account\n  sobject: A\n  externalId: X\n  fields:\n  - {billing: customFields.*, salesforce: \"*__c\", kind: string, direction: two-way}\n",
			"account.customFields.*: a wildcard maps quote fields only"},
		{"quote under objects", "objects:\n- type: quote\n  sobject: Quote\n  externalId: X\n", "quotes:"},
		{"mapped twice", "quotes:\n  oppProduct:\n  - {billing: quantity, salesforce: Quantity, kind: number}\n  - {billing: unitPrice, salesforce: quantity, kind: money}\n",
			"oppProduct: Salesforce field quantity is mapped twice"},
	} {
		if _, err := Parse([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// A wildcard never takes a field an entry of the same list names, and
// marks what it reached so the caller can keep it off its own fields.
func TestApplyWildcardLeavesNamedFieldsToTheirEntry(t *testing.T) {
	t.Parallel()
	fields := []QuoteField{
		customFieldsWildcard(),
		qf("customFields.territory", "Region__c", KindString, 0, true),
	}
	e := quoteEntity(t, `{"customFields":{"territory":"EMEA","Region":"ignored","colour":"blue"}}`)
	got, _, err := Apply(fields, e, fieldsOf(map[string]FieldInfo{"Region__c": {Type: "string"}, "colour__c": {Type: "string"}}))
	if err != nil {
		t.Fatal(err)
	}
	want := []Assignment{
		{Billing: "customFields.colour", Salesforce: "colour__c", Value: "blue", Wildcard: true},
		{Billing: "customFields.territory", Salesforce: "Region__c", Value: "EMEA"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("assignments (-want +got):\n%s", d)
	}
}

// SalesforceFields lists what must exist in the org for the mapping: every
// object, its external id, parent lookup and mapped fields; optional and
// wildcard quote entries depend on the org and are left out.
func TestSalesforceFieldsListsEveryMappedObject(t *testing.T) {
	t.Parallel()
	got := Default().SalesforceFields()
	for obj, fields := range map[string][]string{
		"BillingAccount__c":            {"BillingId__c", "Name", "Account__c"},
		"BillingBalance__c":            {"BillingId__c", "BillingAccount__c", "Amount__c"},
		"BillingBalanceTransaction__c": {"BillingId__c", "BillingBalance__c", "AppliedDate__c"},
		"Quote":                        {"BillingQuoteId__c", "Status", "ExpirationDate"},
		"QuoteLineItem":                {"BillingQuoteItemId__c", "UnitPrice", "BillingOfferingName__c"},
		"Opportunity":                  {"BillingQuoteId__c"},
		"OpportunityLineItem":          {"BillingQuoteItemId__c", "Quantity", "Description"},
	} {
		for _, f := range fields {
			if !slices.Contains(got[obj], f) {
				t.Errorf("%s: %s missing from %v", obj, f, got[obj])
			}
		}
	}
	if len(got) != 7 {
		t.Errorf("%d objects, want 7: %v", len(got), got)
	}
	for _, f := range got["Quote"] {
		if f == "BillingStartDate__c" || strings.Contains(f, Wildcard) {
			t.Errorf("Quote lists %s, which the org need not have", f)
		}
	}
	m, err := Parse([]byte(recordsOnly + "quotes:\n  line:\n  - {billing: customFields.territory, salesforce: Territory__c, kind: string}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if fs := m.SalesforceFields()["QuoteLineItem"]; !slices.Equal(fs, []string{"BillingQuoteItemId__c", "Territory__c"}) {
		t.Errorf("QuoteLineItem from a file: %v", fs)
	}
}
