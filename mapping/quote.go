package mapping

import (
	"strings"

	"github.com/billsync/billsync"
)

// QuoteField maps one billing quote (or flattened line) field to a field of
// the Quote, QuoteLineItem, Opportunity or OpportunityLineItem (E7, E8).
// Quote sync is one-way, so the only direction is to-salesforce (the
// default when a mapping file leaves it out).
type QuoteField struct {
	Field `yaml:",inline"`
	// Values translates a billing code into the Salesforce picklist value
	// (quote status DRAFT → Draft). A code not listed is not written: a
	// value the picklist lacks would fail the whole record, and the Quote
	// keeps the value it has.
	Values map[string]string `yaml:"values,omitempty" json:"values,omitempty"`
	// Optional entries are written only when describe shows the field in
	// the org, so one mapping serves orgs with and without the custom
	// fields; a required entry whose field is missing fails validation.
	Optional bool `yaml:"optional,omitempty" json:"optional,omitempty"`
}

// Wildcard is the billing path suffix and Salesforce name of a catch-all
// entry: "customFields.*" → "*__c" writes every custom field whose name,
// with the Salesforce suffix, is a field of the org's Quote (E8).
const Wildcard = "*"

// QuoteMapping is the declarative mapping of quote sync: the Salesforce
// objects it writes and, per object, the fields. Quote and Opportunity
// paths are those of the billing quote; line and oppProduct paths are
// those of a flattened line: itemId, offeringId, offeringName,
// productCode, productName, productType, quantity, unitPrice,
// amendmentStatus and the item's customFields.
type QuoteMapping struct {
	Objects     QuoteObjects `yaml:"objects,omitempty" json:"objects"`
	Quote       []QuoteField `yaml:"quote" json:"quote"`
	Line        []QuoteField `yaml:"line" json:"line"`               // QuoteLineItem
	Opportunity []QuoteField `yaml:"opportunity" json:"opportunity"` // the quote's Opportunity
	OppProduct  []QuoteField `yaml:"oppProduct" json:"oppProduct"`   // OpportunityLineItem
}

// QuoteStatusValues is the default billing status → Quote.Status picklist
// translation (standard Quote statuses).
var QuoteStatusValues = map[string]string{
	"DRAFT":            "Draft",
	"PENDING_APPROVAL": "Needs Review",
	"APPROVED":         "Approved",
	"REJECTED":         "Rejected",
	"PRESENTED":        "Presented",
	"ACCEPTED":         "Accepted",
	"DENIED":           "Denied",
	"CANCELED":         "Denied",
	"CANCELLED":        "Denied",
}

// customFieldsWildcard is the default catch-all of every quote object but
// the Opportunity: customFields.<name> → <name>__c where the org has it.
func customFieldsWildcard() QuoteField {
	return qf("customFields."+Wildcard, Wildcard+"__c", KindString, 0, true)
}

func qf(billing, sf string, kind Kind, scale int, optional bool) QuoteField {
	return QuoteField{Field: Field{Billing: billing, Salesforce: sf, Kind: kind, Direction: ToSalesforce, Scale: scale}, Optional: optional}
}

// DefaultQuote is the quote mapping of SPEC §2 and §3 E7/E8.
func DefaultQuote() *QuoteMapping {
	status := qf("status", "Status", KindString, 0, false)
	status.Values = QuoteStatusValues
	return &QuoteMapping{
		Objects: DefaultQuoteObjects(),
		Quote: []QuoteField{
			status,
			qf("description", "Description", KindString, 0, false),
			qf("expiresAt", "ExpirationDate", KindDate, 0, false),
			// The standard Quote has no start or end date; orgs that add
			// these fields get them filled.
			qf("startDate", "BillingStartDate__c", KindDate, 0, true),
			qf("endDate", "BillingEndDate__c", KindDate, 0, true),
			qf("type", "BillingQuoteType__c", KindString, 0, true),
			customFieldsWildcard(),
		},
		Line: []QuoteField{
			qf("quantity", "Quantity", KindNumber, 2, false),
			qf("unitPrice", "UnitPrice", KindMoney, 2, false),
			qf("offeringId", "BillingOfferingId__c", KindString, 0, false),
			qf("offeringName", "BillingOfferingName__c", KindString, 0, false),
			qf("productName", "Description", KindString, 0, false),
			customFieldsWildcard(),
		},
		// The Opportunity is the sales team's: billsync sets only what it
		// needs to create one (and the stage), unless a mapping adds more.
		Opportunity: []QuoteField{},
		OppProduct: []QuoteField{
			qf("quantity", "Quantity", KindNumber, 2, false),
			qf("unitPrice", "UnitPrice", KindMoney, 2, false),
			qf("productName", "Description", KindString, 0, false),
			customFieldsWildcard(),
		},
	}
}

// Validate checks the quote mapping is usable.
func (m *QuoteMapping) Validate() error {
	if err := m.Objects.validate(); err != nil {
		return err
	}
	for _, part := range m.parts() {
		seen := map[string]bool{}
		for i, f := range part.Fields {
			if err := f.validate(part.Name, i); err != nil {
				return err
			}
			key := strings.ToLower(f.Salesforce)
			if seen[key] {
				return billsync.Errorf(billsync.EINVALID, "quote mapping: %s: Salesforce field %s is mapped twice", part.Name, f.Salesforce)
			}
			seen[key] = true
		}
	}
	return nil
}

func (f QuoteField) validate(part string, i int) error {
	if f.Billing == "" || f.Salesforce == "" {
		return billsync.Errorf(billsync.EINVALID, "quote mapping: %s[%d]: billing and salesforce are required", part, i)
	}
	switch f.Kind {
	case KindString, KindMoney, KindNumber, KindDate, KindBool, KindID:
	default:
		return billsync.Errorf(billsync.EINVALID, "quote mapping: %s.%s: unknown kind %q", part, f.Billing, f.Kind)
	}
	switch f.Direction {
	case "", ToSalesforce:
	case TwoWay, ToBilling:
		return billsync.Errorf(billsync.EINVALID,
			"quote mapping: %s.%s: direction %s: quote sync is one-way, billing to Salesforce (use %s or leave direction out)",
			part, f.Billing, f.Direction, ToSalesforce)
	default:
		return billsync.Errorf(billsync.EINVALID, "quote mapping: %s.%s: unknown direction %q", part, f.Billing, f.Direction)
	}
	if f.isWildcard() && (!strings.HasSuffix(f.Billing, "."+Wildcard) || strings.Count(f.Billing, Wildcard) != 1 ||
		strings.Count(f.Salesforce, Wildcard) != 1) {
		return billsync.Errorf(billsync.EINVALID,
			"quote mapping: %s.%s: a wildcard must be the last element of the billing path and appear once in the Salesforce name", part, f.Billing)
	}
	if strings.HasPrefix(f.Billing, "@") {
		return billsync.Errorf(billsync.EINVALID, "quote mapping: %s.%s: a billing path may not start with @", part, f.Billing)
	}
	return nil
}

func (f QuoteField) isWildcard() bool {
	return strings.Contains(f.Billing, Wildcard) || strings.Contains(f.Salesforce, Wildcard)
}

// FieldInfo is what the mapping needs to know of a Salesforce field: that
// it exists, whether billsync may write it, and its scale.
type FieldInfo struct {
	Type       string // describe type: string, picklist, date, double, currency, boolean, …
	Scale      int
	Createable bool
	Updateable bool
}

// FieldSet answers which fields an sObject has (from describe); nil means
// "not known", and then every entry is assumed present.
type FieldSet func(name string) (FieldInfo, bool)

// Assignment is one Salesforce field value ready to write.
type Assignment struct {
	Billing    string // the billing path it came from (for messages)
	Salesforce string
	Value      any // the JSON value for Salesforce; nil clears the field
	Lossy      bool
	// Wildcard marks a field a wildcard entry reached, which the caller
	// keeps off the fields it sets itself (a customFields key must not
	// overwrite an external id).
	Wildcard bool
}

// Missing is a required mapped field the org lacks.
type Missing struct {
	Billing, Salesforce string
}

// Apply reads the billing values of fields from src and returns what to
// write, in mapping order. A wildcard entry expands to every key under its
// billing prefix that the org has a matching field for. Fields the org
// lacks are left out; required ones are reported in missing so the engine
// can refuse the quote before any write (E5).
func Apply(fields []QuoteField, src billsync.Entity, has FieldSet) (out []Assignment, missing []Missing, err error) {
	// A field an entry names is that entry's, wherever the wildcard is.
	named := map[string]bool{}
	for _, f := range fields {
		if !f.isWildcard() {
			named[strings.ToLower(f.Salesforce)] = true
		}
	}
	for _, f := range fields {
		if f.isWildcard() {
			as, err := f.expand(src, has)
			if err != nil {
				return nil, nil, err
			}
			for _, a := range as {
				if !named[strings.ToLower(a.Salesforce)] {
					out = append(out, a)
				}
			}
			continue
		}
		info, present := FieldInfo{Scale: f.Scale}, true
		if has != nil {
			info, present = has(f.Salesforce)
		}
		if !present {
			if !f.Optional {
				missing = append(missing, Missing{Billing: f.Billing, Salesforce: f.Salesforce})
			}
			continue
		}
		v, _ := src.Path(f.Billing)
		as, ok, err := f.assign(v, info)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			out = append(out, as)
		}
	}
	return out, missing, nil
}

// assign converts one value; ok is false when nothing is to be written (a
// code with no picklist translation).
func (f QuoteField) assign(v any, info FieldInfo) (Assignment, bool, error) {
	fld := f.Field
	if (fld.Kind == KindMoney || fld.Kind == KindNumber) && info.Scale > 0 {
		// describe knows the org's scale better than a mapping file.
		fld.Scale = info.Scale
	}
	c, lossy, err := fld.Canonical(v)
	if err != nil {
		return Assignment{}, false, err
	}
	if len(f.Values) > 0 && c != "" {
		t, ok := f.Values[c]
		if !ok {
			return Assignment{}, false, nil
		}
		c = t
	}
	return Assignment{Billing: f.Billing, Salesforce: f.Salesforce, Value: fld.SalesforceValue(c), Lossy: lossy}, true, nil
}

func (f QuoteField) expand(src billsync.Entity, has FieldSet) ([]Assignment, error) {
	prefix := strings.TrimSuffix(f.Billing, "."+Wildcard)
	raw, ok := src.Path(prefix)
	if !ok {
		return nil, nil
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		if e, isEnt := raw.(billsync.Entity); isEnt {
			obj = e
		} else {
			return nil, nil
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sortStrings(keys)
	var out []Assignment
	for _, k := range keys {
		if !validAPIName(k) {
			continue
		}
		sfName := strings.ReplaceAll(f.Salesforce, Wildcard, k)
		info, present := FieldInfo{Type: "string"}, has == nil
		if has != nil {
			info, present = has(sfName)
		}
		if !present {
			continue
		}
		one := f
		one.Billing, one.Salesforce, one.Kind = prefix+"."+k, sfName, kindOfDescribe(info.Type)
		as, ok, err := one.assign(obj[k], info)
		if err != nil {
			return nil, err
		}
		if ok {
			as.Wildcard = true
			out = append(out, as)
		}
	}
	return out, nil
}

// kindOfDescribe picks the conversion for a field a wildcard reached,
// whose kind the mapping could not declare.
func kindOfDescribe(t string) Kind {
	switch t {
	case "double", "currency", "percent", "int":
		return KindNumber
	case "date":
		return KindDate
	case "boolean":
		return KindBool
	}
	return KindString
}

// validAPIName keeps a customFields key from forming anything but a plain
// field name (letters, digits, single underscores, starting with a letter).
func validAPIName(s string) bool {
	if s == "" || len(s) > 40 || strings.Contains(s, "__") || strings.HasSuffix(s, "_") {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case (r >= '0' && r <= '9' || r == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}
