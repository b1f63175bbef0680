package quotesync

import (
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/mock"
)

// withLineFields gives the fixture's org extra text fields on the line
// objects (and the Opportunity), as an org that added them would have.
func withLineFields(f *qfix, line, product, opp []string) {
	text := func(name string) billsync.FieldDescribe {
		return billsync.FieldDescribe{Name: name, Type: "string", Length: 255, Createable: true, Updateable: true, Nillable: true}
	}
	for obj, names := range map[string][]string{"QuoteLineItem": line, "OpportunityLineItem": product, sobjOpportunity: opp} {
		d := f.org.Describes[obj]
		if d == nil {
			d = mock.StandardDescribe(obj)
		}
		for _, n := range names {
			d.Fields = append(d.Fields, text(n))
		}
		f.org.Describes[obj] = d
	}
}

func withItemCustomFields(q billsync.Quote, cf map[string]any) billsync.Quote {
	for i := range q.Offerings {
		for k := range q.Offerings[i].Items {
			q.Offerings[i].Items[k].CustomFields = cf
		}
	}
	return q
}

// E8 for quote lines with the built-in mapping: an item's customFields
// reach the line and the Opportunity product where the org has
// <key>__c, never a field billsync sets itself; an unchanged line is not
// written again, a changed custom field is.
func TestLineCustomFieldsWithTheDefaultMapping(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	withLineFields(f, []string{"Region__c", fieldLineExtID, "LastSystemToUpdate__c"}, []string{"Region__c"}, nil)
	q := withItemCustomFields(qBase("qcf"), map[string]any{"Region": "EMEA", "BillingQuoteItemId": "hijack",
		"LastSystemToUpdate": "sfdc", "colour": "blue"})
	qMustSucceed(t, f.send(q))
	line := f.org.Find("QuoteLineItem", fieldLineExtID, "qcf_it1")
	if line == nil {
		t.Fatal("line qcf_it1 not written (or its external id was overwritten)")
	}
	if line.Str("Region__c") != "EMEA" || line.Str("LastSystemToUpdate__c") != "billing" || line.Str("colour__c") != "" {
		t.Errorf("line %v: want Region__c EMEA, LastSystemToUpdate__c billing, no colour__c", line)
	}
	opp := f.sfQuote("qcf").Str("OpportunityId")
	if p := f.oppProducts(opp)["qcf_it1"]; p.Str("Region__c") != "EMEA" {
		t.Errorf("Opportunity product %v: want Region__c EMEA", p)
	}

	written := f.org.RecordsWritten("QuoteLineItem")
	q.Version, q.Description = 2, "Acme expansion, reworded"
	qMustSucceed(t, f.send(q))
	if n := f.org.RecordsWritten("QuoteLineItem") - written; n != 0 {
		t.Errorf("a description-only edit wrote %d lines; their custom fields were not read back", n)
	}
	q.Version = 3
	q.Offerings[0].Items[0].CustomFields = map[string]any{"Region": "APAC"}
	qMustSucceed(t, f.send(q))
	if n := f.org.RecordsWritten("QuoteLineItem") - written; n != 1 {
		t.Errorf("one item's custom field changed, %d lines written", n)
	}
	if got := f.org.Find("QuoteLineItem", fieldLineExtID, "qcf_it1").Str("Region__c"); got != "APAC" {
		t.Errorf("Region__c %q after the change", got)
	}
}

// A mapping file's quote part: renamed external ids, an item custom field
// under another name, and Opportunity fields (written on create, and on
// an existing Opportunity when they differ).
func TestQuoteMappingFromAFile(t *testing.T) {
	t.Parallel()
	m, err := mapping.Parse([]byte(`quotes:
  objects:
    quote: {externalId: AltQuoteKey__c}
    line: {externalId: AltItemKey__c}
    oppProduct: {externalId: AltItemKey__c}
  line:
    - {billing: quantity, salesforce: Quantity, kind: number, scale: 2}
    - {billing: unitPrice, salesforce: UnitPrice, kind: money, scale: 2}
    - {billing: customFields.territory, salesforce: Region__c, kind: string}
  opportunity:
    - {billing: description, salesforce: Description, kind: string}
`))
	if err != nil {
		t.Fatal(err)
	}
	f := newQFix(t, false)
	withLineFields(f, []string{"Region__c"}, nil, []string{"Description"})
	s, err := New(Config{CRM: f.org, State: f.state, Billing: f.billing, Mapping: m.Quote(), Clock: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.syncer = s
	q := withItemCustomFields(qBase("qmf"), map[string]any{"territory": "Nordics"})
	qMustSucceed(t, f.send(q))
	rec := f.org.Find("Quote", "AltQuoteKey__c", "qmf")
	if rec == nil {
		t.Fatal("Quote not upserted by the mapped external id")
	}
	line := f.org.Find("QuoteLineItem", "AltItemKey__c", "qmf_it1")
	if line == nil || line.Str("Region__c") != "Nordics" || line.Str("Description") != "" {
		t.Errorf("line %v: want Region__c from customFields.territory and no Description (not mapped)", line)
	}
	if p := f.org.Find("OpportunityLineItem", "AltItemKey__c", "qmf_it1"); p == nil {
		t.Error("Opportunity product not upserted by the mapped external id")
	}
	oppID := rec.Str("OpportunityId")
	if got := f.org.Find(sobjOpportunity, "Id", oppID).Str("Description"); got != "Acme expansion" {
		t.Errorf("new Opportunity's Description %q, want the quote's", got)
	}

	q.Version, q.Description = 2, "Acme expansion, phase 2"
	qMustSucceed(t, f.send(q))
	if got := f.org.Find(sobjOpportunity, "Id", oppID).Str("Description"); got != "Acme expansion, phase 2" {
		t.Errorf("existing Opportunity's Description %q, want the quote's new one", got)
	}
	updates := f.org.CallCount()["update"]
	q.Version = 3
	qMustSucceed(t, f.send(q))
	if n := f.org.CallCount()["update"] - updates; n != 0 {
		t.Errorf("an unchanged quote made %d update calls; the Opportunity's mapped fields were written again", n)
	}
}
