package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/billsync/billsync"
	"go.yaml.in/yaml/v4"
)

// Direction says which way a field syncs.
type Direction string

const (
	TwoWay       Direction = "two-way"
	ToSalesforce Direction = "to-salesforce"
	ToBilling    Direction = "to-billing"
)

// Kind is a field's value type; it decides conversion and comparison.
type Kind string

const (
	KindString Kind = "string"
	KindMoney  Kind = "money" // decimal string in billing, number in Salesforce, compared after rounding to Scale
	KindNumber Kind = "number"
	KindDate   Kind = "date"
	KindBool   Kind = "bool"
	KindID     Kind = "id" // a Salesforce record id held in billing (e.g. crmAccountId)
)

// Field maps one billing field to one Salesforce field.
type Field struct {
	Billing    string    `yaml:"billing" json:"billing"`       // billing path, e.g. "name" or "customFields.region"
	Salesforce string    `yaml:"salesforce" json:"salesforce"` // Salesforce field API name
	Kind       Kind      `yaml:"kind" json:"kind"`
	Direction  Direction `yaml:"direction" json:"direction"`
	Scale      int       `yaml:"scale,omitempty" json:"scale,omitempty"` // money and number: the Salesforce field's scale
}

// ToSF reports whether billing changes of the field go to Salesforce.
func (f Field) ToSF() bool { return f.Direction == TwoWay || f.Direction == ToSalesforce }

// ToBill reports whether Salesforce changes of the field go to billing (C4).
func (f Field) ToBill() bool { return f.Direction == TwoWay || f.Direction == ToBilling }

// Parent says how a child record names its parent in Salesforce.
type Parent struct {
	Type         billsync.ObjectType `yaml:"type" json:"type"`                                 // parent's billing type
	BillingField string              `yaml:"billingField" json:"billingField"`                 // e.g. "accountId"
	LookupField  string              `yaml:"lookupField" json:"lookupField"`                   // e.g. "BillingAccount__c"
	Relationship string              `yaml:"relationship" json:"relationship"`                 // e.g. "BillingAccount__r"
	ExternalID   string              `yaml:"externalId,omitempty" json:"externalId,omitempty"` // the parent's external id field; default: the child's
}

// Object maps one billing type to one Salesforce object.
type Object struct {
	Type       billsync.ObjectType `yaml:"type" json:"type"`
	SObject    string              `yaml:"sobject" json:"sobject"`
	ExternalID string              `yaml:"externalId" json:"externalId"` // holds the billing id
	Parent     *Parent             `yaml:"parent,omitempty" json:"parent,omitempty"`
	Fields     []Field             `yaml:"fields" json:"fields"`
}

// Mapping is the whole mapping: the two-way record objects, and quote
// sync's objects.
type Mapping struct {
	Objects []Object `yaml:"objects" json:"objects"`
	// Quotes is quote sync's mapping. A file that leaves it out, or any
	// part of it, gets the built-in one (DefaultQuote) for what is left out.
	Quotes *QuoteMapping `yaml:"quotes,omitempty" json:"quotes,omitempty"`
}

// Fields that every synced Salesforce object carries (SPEC §2).
const (
	FieldLastSystem   = "LastSystemToUpdate__c"
	FieldSyncStatus   = "BillingSyncStatus__c"
	FieldSyncError    = "BillingSyncError__c"
	FieldLastSyncedAt = "BillingLastSyncedAt__c"
	FieldDeleted      = "IsDeletedInBilling__c"

	LastSystemBilling = "billing"
	LastSystemSFDC    = "sfdc"
)

// Default is the mapping of SPEC §2: accounts, balances and balance
// transactions, and quotes (DefaultQuote).
func Default() *Mapping {
	return &Mapping{Quotes: DefaultQuote(), Objects: []Object{
		{
			Type: billsync.ObjectAccount, SObject: "BillingAccount__c", ExternalID: "BillingId__c",
			Fields: []Field{
				{Billing: "name", Salesforce: "Name", Kind: KindString, Direction: TwoWay},
				{Billing: "code", Salesforce: "Code__c", Kind: KindString, Direction: TwoWay},
				{Billing: "emailAddress", Salesforce: "Email__c", Kind: KindString, Direction: TwoWay},
				{Billing: "currency", Salesforce: "Currency__c", Kind: KindString, Direction: TwoWay},
				{Billing: "crmAccountId", Salesforce: "Account__c", Kind: KindID, Direction: TwoWay},
			},
		},
		{
			Type: billsync.ObjectBalance, SObject: "BillingBalance__c", ExternalID: "BillingId__c",
			Parent: &Parent{Type: billsync.ObjectAccount, BillingField: "accountId", LookupField: "BillingAccount__c", Relationship: "BillingAccount__r"},
			Fields: []Field{
				{Billing: "name", Salesforce: "Name", Kind: KindString, Direction: TwoWay},
				{Billing: "code", Salesforce: "Code__c", Kind: KindString, Direction: TwoWay},
				{Billing: "description", Salesforce: "Description__c", Kind: KindString, Direction: TwoWay},
				{Billing: "amount", Salesforce: "Amount__c", Kind: KindMoney, Direction: TwoWay, Scale: 2},
				{Billing: "currency", Salesforce: "Currency__c", Kind: KindString, Direction: TwoWay},
				{Billing: "startDate", Salesforce: "StartDate__c", Kind: KindDate, Direction: TwoWay},
				{Billing: "endDate", Salesforce: "EndDate__c", Kind: KindDate, Direction: TwoWay},
			},
		},
		{
			Type: billsync.ObjectBalanceTransaction, SObject: "BillingBalanceTransaction__c", ExternalID: "BillingId__c",
			Parent: &Parent{Type: billsync.ObjectBalance, BillingField: "balanceId", LookupField: "BillingBalance__c", Relationship: "BillingBalance__r"},
			Fields: []Field{
				{Billing: "amount", Salesforce: "Amount__c", Kind: KindMoney, Direction: TwoWay, Scale: 2},
				{Billing: "description", Salesforce: "Description__c", Kind: KindString, Direction: TwoWay},
				{Billing: "appliedDate", Salesforce: "AppliedDate__c", Kind: KindDate, Direction: TwoWay},
			},
		},
	}}
}

// Load reads a YAML mapping file strictly (unknown keys are errors),
// expanding ${VAR} from the environment, and validates it.
func Load(path string) (*Mapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	return Parse(b)
}

// Parse is Load for bytes already read.
func Parse(b []byte) (*Mapping, error) {
	b = []byte(os.ExpandEnv(string(b)))
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var m Mapping
	if err := dec.Decode(&m); err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "mapping: %v", err)
	}
	m.Quotes = m.Quotes.WithDefaults()
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks the mapping is usable.
func (m *Mapping) Validate() error {
	seen := map[billsync.ObjectType]bool{}
	for i, o := range m.Objects {
		if _, err := billsync.ParseObjectType(string(o.Type)); err != nil {
			return billsync.Errorf(billsync.EINVALID, "mapping: objects[%d]: %v", i, err)
		}
		if o.Type == billsync.ObjectQuote {
			return billsync.Errorf(billsync.EINVALID, "mapping: objects[%d]: quotes are mapped under quotes:, not objects:", i)
		}
		if seen[o.Type] {
			return billsync.Errorf(billsync.EINVALID, "mapping: %s is mapped twice", o.Type)
		}
		seen[o.Type] = true
		if o.SObject == "" || o.ExternalID == "" {
			return billsync.Errorf(billsync.EINVALID, "mapping: %s: sobject and externalId are required", o.Type)
		}
		if o.Parent != nil && (o.Parent.BillingField == "" || o.Parent.Relationship == "" || o.Parent.LookupField == "") {
			return billsync.Errorf(billsync.EINVALID, "mapping: %s: parent needs billingField, lookupField and relationship", o.Type)
		}
		sf := map[string]bool{}
		for j, f := range o.Fields {
			if f.Billing == "" || f.Salesforce == "" {
				return billsync.Errorf(billsync.EINVALID, "mapping: %s.fields[%d]: billing and salesforce are required", o.Type, j)
			}
			if strings.Contains(f.Billing, Wildcard) || strings.Contains(f.Salesforce, Wildcard) {
				// A two-way field needs a definite partner on each side
				// for its agreed value and its conflicts.
				return billsync.Errorf(billsync.EINVALID,
					"mapping: %s.%s: a wildcard maps quote fields only; list each custom field of a two-way object (customFields.<key>)", o.Type, f.Billing)
			}
			if strings.HasPrefix(f.Billing, "@") {
				return billsync.Errorf(billsync.EINVALID, "mapping: %s.%s: a billing path may not start with @", o.Type, f.Billing)
			}
			switch f.Kind {
			case KindString, KindMoney, KindNumber, KindDate, KindBool, KindID:
			default:
				return billsync.Errorf(billsync.EINVALID, "mapping: %s.%s: unknown kind %q", o.Type, f.Billing, f.Kind)
			}
			switch f.Direction {
			case TwoWay, ToSalesforce, ToBilling:
			default:
				return billsync.Errorf(billsync.EINVALID, "mapping: %s.%s: unknown direction %q", o.Type, f.Billing, f.Direction)
			}
			key := strings.ToLower(f.Salesforce)
			if sf[key] {
				return billsync.Errorf(billsync.EINVALID, "mapping: %s: Salesforce field %s is mapped twice", o.Type, f.Salesforce)
			}
			sf[key] = true
		}
	}
	if m.Quotes != nil {
		return m.Quotes.Validate()
	}
	return nil
}

// Object returns the mapping of t.
func (m *Mapping) Object(t billsync.ObjectType) (*Object, bool) {
	for i := range m.Objects {
		if m.Objects[i].Type == t {
			return &m.Objects[i], true
		}
	}
	return nil, false
}

// BySObject returns the mapping whose Salesforce object is name.
func (m *Mapping) BySObject(name string) (*Object, bool) {
	for i := range m.Objects {
		if strings.EqualFold(m.Objects[i].SObject, name) {
			return &m.Objects[i], true
		}
	}
	return nil, false
}

// JSON renders the mapping (for `billsync mapping show`).
func (m *Mapping) JSON() []byte {
	b, _ := json.MarshalIndent(m, "", "  ")
	return b
}
