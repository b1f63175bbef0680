package mapping

import (
	"strings"

	"github.com/billsync/billsync"
)

// QuoteObject names one Salesforce object quote sync writes and the field
// on it that holds the billing id (of the quote, or of the quote item).
type QuoteObject struct {
	SObject    string `yaml:"sobject,omitempty" json:"sobject"`
	ExternalID string `yaml:"externalId,omitempty" json:"externalId"`
}

// QuoteObjects are the four objects of quote sync. The relationships
// between them (QuoteId, OpportunityId, PricebookEntryId) are Salesforce's
// own, so a replacement object must carry them under the same names.
type QuoteObjects struct {
	Quote       QuoteObject `yaml:"quote,omitempty" json:"quote"`
	Line        QuoteObject `yaml:"line,omitempty" json:"line"`
	Opportunity QuoteObject `yaml:"opportunity,omitempty" json:"opportunity"`
	OppProduct  QuoteObject `yaml:"oppProduct,omitempty" json:"oppProduct"`
}

// DefaultQuoteObjects are the objects of SPEC §2: the standard Quote,
// QuoteLineItem, Opportunity and OpportunityLineItem. The Opportunity's
// external id holds the id of the quote billsync created it for, so a
// create whose answer was lost is found again rather than made twice.
func DefaultQuoteObjects() QuoteObjects {
	return QuoteObjects{
		Quote:       QuoteObject{SObject: "Quote", ExternalID: "BillingQuoteId__c"},
		Line:        QuoteObject{SObject: "QuoteLineItem", ExternalID: "BillingQuoteItemId__c"},
		Opportunity: QuoteObject{SObject: "Opportunity", ExternalID: "BillingQuoteId__c"},
		OppProduct:  QuoteObject{SObject: "OpportunityLineItem", ExternalID: "BillingQuoteItemId__c"},
	}
}

// withDefaults fills every name left empty with the default's.
func (o QuoteObjects) withDefaults() QuoteObjects {
	d := DefaultQuoteObjects()
	fill := func(x *QuoteObject, def QuoteObject) {
		if x.SObject == "" {
			x.SObject = def.SObject
		}
		if x.ExternalID == "" {
			x.ExternalID = def.ExternalID
		}
	}
	fill(&o.Quote, d.Quote)
	fill(&o.Line, d.Line)
	fill(&o.Opportunity, d.Opportunity)
	fill(&o.OppProduct, d.OppProduct)
	return o
}

func (o QuoteObjects) validate() error {
	for _, x := range []struct {
		part string
		obj  QuoteObject
	}{{"quote", o.Quote}, {"line", o.Line}, {"opportunity", o.Opportunity}, {"oppProduct", o.OppProduct}} {
		if x.obj.SObject == "" || x.obj.ExternalID == "" {
			return billsync.Errorf(billsync.EINVALID, "quote mapping: objects.%s: sobject and externalId are required", x.part)
		}
	}
	return nil
}

// WithDefaults returns the mapping with what a file left out taken from
// DefaultQuote: object names left empty, and each field list left out
// (an empty list, `[]`, stays empty: it maps nothing). Directions left
// out are to-salesforce. m itself is not changed; nil gives DefaultQuote.
func (m *QuoteMapping) WithDefaults() *QuoteMapping {
	d := DefaultQuote()
	if m == nil {
		return d
	}
	out := &QuoteMapping{Objects: m.Objects.withDefaults()}
	pick := func(have, def []QuoteField) []QuoteField {
		if have == nil {
			return def
		}
		fs := make([]QuoteField, len(have))
		for i, f := range have {
			if f.Direction == "" {
				f.Direction = ToSalesforce
			}
			fs[i] = f
		}
		return fs
	}
	out.Quote, out.Line = pick(m.Quote, d.Quote), pick(m.Line, d.Line)
	out.Opportunity, out.OppProduct = pick(m.Opportunity, d.Opportunity), pick(m.OppProduct, d.OppProduct)
	return out
}

// QuotePart is one object's field list, named as in a mapping file.
type QuotePart struct {
	Name   string // quote, line, opportunity, oppProduct
	Object QuoteObject
	Fields []QuoteField
}

func (m *QuoteMapping) parts() []QuotePart {
	return []QuotePart{
		{"quote", m.Objects.Quote, m.Quote},
		{"line", m.Objects.Line, m.Line},
		{"opportunity", m.Objects.Opportunity, m.Opportunity},
		{"oppProduct", m.Objects.OppProduct, m.OppProduct},
	}
}

// Parts lists the four objects with their field lists.
func (m *QuoteMapping) Parts() []QuotePart { return m.parts() }

// Quote is the quote part of the mapping: the file's, or DefaultQuote when
// the mapping has none.
func (m *Mapping) Quote() *QuoteMapping {
	if m == nil || m.Quotes == nil {
		return DefaultQuote()
	}
	return m.Quotes
}

// SalesforceFields lists every Salesforce object the mapping names and,
// per object, the fields it maps: external ids, parent lookups and mapped
// fields of the record objects, and the external ids and mapped fields of
// the quote objects. Entries that depend on the org (optional quote
// fields and wildcards, which billsync writes only where describe shows
// them) are left out, so what is listed is what must exist. Names keep
// the mapping's spelling; each appears once per object, compared without
// case. For checks before a first sync (doctor).
func (m *Mapping) SalesforceFields() map[string][]string {
	out := map[string][]string{}
	objKey := map[string]string{} // lower-case → first spelling
	add := func(object string, fields ...string) {
		k, ok := objKey[strings.ToLower(object)]
		if !ok {
			k = object
			objKey[strings.ToLower(object)] = k
		}
		out[k] = dedupeFold(append(out[k], fields...))
	}
	for _, o := range m.Objects {
		add(o.SObject, o.ExternalID)
		if o.Parent != nil {
			add(o.SObject, o.Parent.LookupField)
		}
		for _, f := range o.Fields {
			add(o.SObject, f.Salesforce)
		}
	}
	for _, p := range m.Quote().parts() {
		add(p.Object.SObject, p.Object.ExternalID)
		for _, f := range p.Fields {
			if !f.Optional && !f.isWildcard() {
				add(p.Object.SObject, f.Salesforce)
			}
		}
	}
	return out
}
