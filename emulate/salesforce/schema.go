package salesforce

import (
	"fmt"
	"sort"
	"strings"

	"github.com/billsync/billsync/sfdx"
)

// objectDef is one sObject type as the emulator serves it.
type objectDef struct {
	Name        string
	Label       string
	LabelPlural string
	KeyPrefix   string
	Custom      bool
	Event       bool // a platform event: publish-only
	// Triggered objects run BillingSyncTrigger's rule (SPEC C1).
	Triggered bool
	// Setup objects (setup.go) mirror the users' permission sets and are
	// read-only over the API.
	Setup  bool
	Fields []*fieldDef
	byName map[string]*fieldDef // lower-case name
	byRel  map[string]*fieldDef // lower-case relationship name → reference field
}

// fieldDef is one field, in describe terms.
type fieldDef struct {
	Name              string
	Label             string
	Type              string // describe type: id, string, email, textarea, currency, double, percent, int, date, datetime, boolean, picklist, reference
	SoapType          string
	Length            int
	Precision, Scale  int
	Digits            int
	Nillable          bool
	Createable        bool
	Updateable        bool
	DefaultedOnCreate bool
	ExternalID        bool
	Unique            bool
	IDLookup          bool
	NameField         bool
	Custom            bool
	AutoNumber        bool
	Calculated        bool
	CaseSensitive     bool
	Filterable        bool
	ReferenceTo       []string
	RelationshipName  string
	MasterDetail      bool // cascade delete, required, not reparentable
	// CascadeDelete marks a standard lookup whose parent's delete takes the
	// child along (Quote→Opportunity, line items→their parent), as on a
	// real org, without making it a custom master-detail in describe.
	CascadeDelete bool
	Picklist      []string
	Restricted    bool
	DefaultValue  any // describe defaultValue and the value written when left out on create
	DisplayFormat string
	ExtraTypeInfo string
}

// requiredOnCreate: the API refuses an insert without it.
func (f *fieldDef) requiredOnCreate() bool {
	return !f.Nillable && f.Createable && !f.DefaultedOnCreate
}

func (o *objectDef) field(name string) *fieldDef { return o.byName[strings.ToLower(name)] }

func (o *objectDef) add(fs ...*fieldDef) {
	for _, f := range fs {
		if o.byName[strings.ToLower(f.Name)] != nil {
			continue
		}
		o.Fields = append(o.Fields, f)
		o.byName[strings.ToLower(f.Name)] = f
		if f.RelationshipName != "" {
			o.byRel[strings.ToLower(f.RelationshipName)] = f
		}
	}
}

// orgSchema is every object of the emulated org.
type orgSchema struct {
	objects  map[string]*objectDef // lower-case name
	byPrefix map[string]*objectDef
	names    []string // sorted API names
}

func (s *orgSchema) object(name string) *objectDef { return s.objects[strings.ToLower(name)] }

// standard key prefixes (fixed by Salesforce).
var standardPrefixes = map[string]string{
	"Account": "001", "User": "005", "Opportunity": "006", "Quote": "0Q0", "QuoteLineItem": "0QL",
	"OpportunityLineItem": "00k", "Product2": "01t", "Pricebook2": "01s", "PricebookEntry": "01u",
}

// Field constructors, in describe terms.
func fText(name string, length int) *fieldDef {
	return &fieldDef{Name: name, Type: "string", SoapType: "xsd:string", Length: length, Nillable: true, Createable: true, Updateable: true, Filterable: true}
}
func orgCustom(f *fieldDef) *fieldDef { f.Custom = true; return f }
func fTextArea(name string, length int) *fieldDef {
	f := fText(name, length)
	f.Type, f.ExtraTypeInfo, f.Filterable = "textarea", "plaintextarea", length <= 255
	return f
}
func fEmail(name string) *fieldDef { f := fText(name, 80); f.Type = "email"; return f }
func fPhone(name string) *fieldDef { f := fText(name, 40); f.Type = "phone"; return f }
func fURL(name string) *fieldDef   { f := fText(name, 255); f.Type = "url"; return f }
func fNum(name, typ string, precision, scale int) *fieldDef {
	soap := "xsd:double"
	if typ == "int" {
		soap = "xsd:int"
	}
	return &fieldDef{Name: name, Type: typ, SoapType: soap, Precision: precision, Scale: scale, Nillable: true, Createable: true, Updateable: true, Filterable: true}
}
func fDate(name string) *fieldDef {
	return &fieldDef{Name: name, Type: "date", SoapType: "xsd:date", Nillable: true, Createable: true, Updateable: true, Filterable: true}
}
func fDateTime(name string) *fieldDef {
	return &fieldDef{Name: name, Type: "datetime", SoapType: "xsd:dateTime", Nillable: true, Createable: true, Updateable: true, Filterable: true}
}
func fBool(name string, def bool) *fieldDef {
	return &fieldDef{Name: name, Type: "boolean", SoapType: "xsd:boolean", Createable: true, Updateable: true, DefaultedOnCreate: true, DefaultValue: def, Filterable: true}
}
func fPick(name string, values ...string) *fieldDef {
	return &fieldDef{Name: name, Type: "picklist", SoapType: "xsd:string", Length: 255, Nillable: true, Createable: true, Updateable: true, Picklist: values, Filterable: true}
}
func fRef(name, to, rel string) *fieldDef {
	return &fieldDef{Name: name, Type: "reference", SoapType: "tns:ID", Length: 18, Nillable: true, Createable: true, Updateable: true, ReferenceTo: []string{to}, RelationshipName: rel, Filterable: true}
}

func required(f *fieldDef) *fieldDef   { f.Nillable = false; return f }
func cascade(f *fieldDef) *fieldDef    { f.CascadeDelete = true; return f }
func readOnly(f *fieldDef) *fieldDef   { f.Createable, f.Updateable = false, false; return f }
func createOnly(f *fieldDef) *fieldDef { f.Updateable = false; return f }
func defaulted(f *fieldDef, v any) *fieldDef {
	f.DefaultedOnCreate, f.DefaultValue = true, v
	return f
}

// systemFields are on every object but events.
func systemFields() []*fieldDef {
	id := &fieldDef{Name: "Id", Type: "id", SoapType: "tns:ID", Length: 18, DefaultedOnCreate: true, IDLookup: true, Filterable: true}
	return []*fieldDef{
		id,
		readOnly(defaulted(fBool("IsDeleted", false), false)),
		readOnly(required(defaulted(fDateTime("CreatedDate"), nil))),
		readOnly(required(defaulted(fRef("CreatedById", "User", "CreatedBy"), nil))),
		readOnly(required(defaulted(fDateTime("LastModifiedDate"), nil))),
		readOnly(required(defaulted(fRef("LastModifiedById", "User", "LastModifiedBy"), nil))),
		readOnly(required(defaulted(fDateTime("SystemModstamp"), nil))),
	}
}

func ownerField() *fieldDef {
	return defaulted(required(fRef("OwnerId", "User", "Owner")), nil)
}

// opportunityStages are a new org's standard stages.
var opportunityStages = []string{"Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
	"Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"}

// CorporateCurrency is the emulated org's corporate currency: the default
// CurrencyIsoCode of every record in a multi-currency org.
const CorporateCurrency = "USD"

// Currencies are the active currencies of a multi-currency org.
var Currencies = []string{"USD", "EUR", "GBP"}

func standardObjects() []*objectDef {
	mk := func(name, label, plural string, fields ...*fieldDef) *objectDef {
		o := &objectDef{Name: name, Label: label, LabelPlural: plural, KeyPrefix: standardPrefixes[name], byName: map[string]*fieldDef{}, byRel: map[string]*fieldDef{}}
		o.add(systemFields()...)
		o.add(fields...)
		return o
	}
	nameField := func(length int) *fieldDef {
		f := required(fText("Name", length))
		f.NameField, f.IDLookup = true, true
		return f
	}
	userName := readOnly(fText("Name", 121))
	userName.NameField = true
	return []*objectDef{
		mk("User", "User", "Users",
			required(fText("Username", 80)), userName, fText("FirstName", 40), required(fText("LastName", 80)),
			required(fEmail("Email")), required(fText("Alias", 8)), defaulted(fBool("IsActive", true), true),
			fText("TimeZoneSidKey", 40), fText("ProfileId", 18)),
		mk("Account", "Account", "Accounts",
			nameField(255), fText("AccountNumber", 40), fPick("Type", "Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"),
			fPick("Industry", "Agriculture", "Banking", "Technology", "Other"), fPhone("Phone"), fURL("Website"),
			fTextArea("Description", 32000), fText("BillingCity", 40), fText("BillingCountry", 80), ownerField()),
		mk("Opportunity", "Opportunity", "Opportunities",
			nameField(120), required(fPick("StageName", opportunityStages...)), required(fDate("CloseDate")),
			fRef("AccountId", "Account", "Account"), ownerField(), fRef("Pricebook2Id", "Pricebook2", "Pricebook2"),
			fNum("Amount", "currency", 18, 2), fNum("Probability", "percent", 3, 0), fTextArea("Description", 32000),
			fPick("Type", "Existing Business", "New Business"), fText("NextStep", 255),
			readOnly(defaulted(fBool("IsClosed", false), false)), readOnly(defaulted(fBool("IsWon", false), false)),
			fRef("SyncedQuoteId", "Quote", "SyncedQuote")),
		mk("Quote", "Quote", "Quotes",
			nameField(255), cascade(required(createOnly(fRef("OpportunityId", "Opportunity", "Opportunity")))),
			readOnly(fRef("AccountId", "Account", "Account")), fRef("Pricebook2Id", "Pricebook2", "Pricebook2"),
			defaulted(fPick("Status", "Draft", "Needs Review", "In Review", "Approved", "Rejected", "Presented", "Accepted", "Denied"), "Draft"),
			fDate("ExpirationDate"), fTextArea("Description", 32000), fEmail("Email"), fPhone("Phone"), ownerField(),
			readOnly(fText("QuoteNumber", 30)), readOnly(defaulted(fBool("IsSyncing", false), false)),
			readOnly(fNum("Subtotal", "currency", 18, 2)), readOnly(fNum("TotalPrice", "currency", 18, 2)),
			readOnly(fNum("GrandTotal", "currency", 18, 2)), fNum("Discount", "percent", 5, 2),
			fNum("ShippingHandling", "currency", 18, 2), fNum("Tax", "currency", 18, 2)),
		mk("QuoteLineItem", "Quote Line Item", "Quote Line Items",
			cascade(required(createOnly(fRef("QuoteId", "Quote", "Quote")))), required(createOnly(fRef("PricebookEntryId", "PricebookEntry", "PricebookEntry"))),
			createOnly(fRef("Product2Id", "Product2", "Product2")), required(fNum("Quantity", "double", 18, 2)),
			required(fNum("UnitPrice", "currency", 18, 2)), fNum("Discount", "percent", 5, 2), fTextArea("Description", 255),
			fDate("ServiceDate"), readOnly(fText("LineNumber", 255)), readOnly(fNum("ListPrice", "currency", 18, 2)),
			readOnly(fNum("Subtotal", "currency", 18, 2)), readOnly(fNum("TotalPrice", "currency", 18, 2)), fNum("SortOrder", "int", 9, 0),
			// An org's own custom field, not billsync's (so not in the SFDX
			// source): the quote lines' customFields mapping writes to it.
			orgCustom(fText("Region__c", 80))),
		mk("OpportunityLineItem", "Opportunity Product", "Opportunity Products",
			cascade(required(createOnly(fRef("OpportunityId", "Opportunity", "Opportunity")))), createOnly(fRef("PricebookEntryId", "PricebookEntry", "PricebookEntry")),
			createOnly(fRef("Product2Id", "Product2", "Product2")), readOnly(fText("Name", 376)),
			required(fNum("Quantity", "double", 18, 2)), fNum("UnitPrice", "currency", 18, 2), fNum("TotalPrice", "currency", 18, 2),
			readOnly(fNum("ListPrice", "currency", 18, 2)), readOnly(fNum("Subtotal", "currency", 18, 2)), fNum("Discount", "percent", 5, 2),
			fTextArea("Description", 255), fDate("ServiceDate"), fNum("SortOrder", "int", 9, 0)),
		mk("Product2", "Product", "Products",
			nameField(255), fText("ProductCode", 255), fTextArea("Description", 4000), defaulted(fBool("IsActive", false), false),
			fPick("Family", "None"), fText("StockKeepingUnit", 180)),
		mk("Pricebook2", "Price Book", "Price Books",
			nameField(255), defaulted(fBool("IsActive", false), false), readOnly(defaulted(fBool("IsStandard", false), false)),
			fTextArea("Description", 255)),
		mk("PricebookEntry", "Price Book Entry", "Price Book Entries",
			readOnly(fText("Name", 255)), required(createOnly(fRef("Pricebook2Id", "Pricebook2", "Pricebook2"))),
			required(createOnly(fRef("Product2Id", "Product2", "Product2"))), required(fNum("UnitPrice", "currency", 18, 2)),
			defaulted(fBool("IsActive", false), false), defaulted(fBool("UseStandardPrice", false), false),
			readOnly(fText("ProductCode", 255))),
	}
}

// fieldFromSource converts a field of the SFDX source to describe terms.
func fieldFromSource(f *sfdx.Field) (*fieldDef, error) {
	var d *fieldDef
	switch f.Type {
	case "Text":
		d = fText(f.Name, f.Length)
	case "Email":
		d = fEmail(f.Name)
	case "Phone":
		d = fPhone(f.Name)
	case "Url":
		d = fURL(f.Name)
	case "TextArea":
		d = fTextArea(f.Name, 255)
	case "LongTextArea":
		d = fTextArea(f.Name, f.Length)
	case "Currency":
		d = fNum(f.Name, "currency", f.Precision, f.Scale)
	case "Number":
		d = fNum(f.Name, "double", f.Precision, f.Scale)
	case "Percent":
		d = fNum(f.Name, "percent", f.Precision, f.Scale)
	case "Date":
		d = fDate(f.Name)
	case "DateTime":
		d = fDateTime(f.Name)
	case "Checkbox":
		d = fBool(f.Name, strings.EqualFold(f.DefaultValue, "true"))
	case "Picklist":
		d = fPick(f.Name, f.PicklistValues...)
		d.Restricted = f.RestrictedPicklist
	case "Lookup":
		d = fRef(f.Name, f.ReferenceTo, f.RelationshipName)
	case "MasterDetail":
		d = required(fRef(f.Name, f.ReferenceTo, f.RelationshipName))
		d.MasterDetail = true
	case "AutoNumber":
		d = readOnly(fText(f.Name, 30))
		d.AutoNumber, d.DefaultedOnCreate, d.DisplayFormat = true, true, f.DisplayFormat
	default:
		return nil, fmt.Errorf("salesforce emulator: field %s: unsupported metadata type %q", f.Name, f.Type)
	}
	d.Label = f.Label
	d.Custom = strings.HasSuffix(f.Name, "__c")
	if f.Required && f.Type != "Checkbox" {
		d.Nillable = false
	}
	d.ExternalID, d.Unique, d.CaseSensitive = f.ExternalID, f.Unique, f.CaseSensitive
	if f.ExternalID {
		d.IDLookup = true
	}
	return d, nil
}

// buildSchema merges the standard objects with the SFDX source.
func buildSchema(md *sfdx.Metadata, multiCurrency bool) (*orgSchema, error) {
	s := &orgSchema{objects: map[string]*objectDef{}, byPrefix: map[string]*objectDef{}}
	for _, o := range append(standardObjects(), setupObjects()...) {
		s.objects[strings.ToLower(o.Name)] = o
	}
	// Custom objects get a0X prefixes in name order, so ids stay stable
	// across restarts of the same source.
	next := 0
	for _, src := range md.Objects {
		o := s.object(src.Name)
		switch src.Kind {
		case sfdx.KindStandard:
			if o == nil {
				return nil, fmt.Errorf("salesforce emulator: the source adds fields to %s, which the emulator does not model", src.Name)
			}
		case sfdx.KindCustom:
			o = &objectDef{Name: src.Name, Label: src.Label, LabelPlural: src.PluralLabel, Custom: true,
				KeyPrefix: fmt.Sprintf("a0%c", base62[next]), byName: map[string]*fieldDef{}, byRel: map[string]*fieldDef{}}
			next++
			o.add(systemFields()...)
			if src.NameField != nil {
				nf, err := fieldFromSource(src.NameField)
				if err != nil {
					return nil, err
				}
				nf.Custom, nf.NameField, nf.IDLookup = false, true, true
				if !nf.AutoNumber {
					nf.Nillable, nf.DefaultedOnCreate = true, true // left out, Name becomes the id
				}
				o.add(nf)
			}
			if !hasMasterDetail(src) {
				o.add(ownerField())
			}
		case sfdx.KindEvent:
			o = &objectDef{Name: src.Name, Label: src.Label, LabelPlural: src.PluralLabel, Custom: true, Event: true,
				KeyPrefix: "e00", byName: map[string]*fieldDef{}, byRel: map[string]*fieldDef{}}
			o.add(
				&fieldDef{Name: "ReplayId", Type: "string", SoapType: "xsd:string", Length: 255, Nillable: true, Filterable: true},
				readOnly(required(defaulted(fDateTime("CreatedDate"), nil))),
				readOnly(required(defaulted(fRef("CreatedById", "User", "CreatedBy"), nil))),
				readOnly(fText("EventUuid", 36)),
			)
		}
		o.Triggered = src.Triggered
		for _, f := range src.Fields {
			d, err := fieldFromSource(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", src.Name, err)
			}
			o.add(d)
		}
		s.objects[strings.ToLower(o.Name)] = o
	}
	for _, o := range s.objects {
		if multiCurrency && !o.Event {
			f := defaulted(fPick("CurrencyIsoCode", Currencies...), CorporateCurrency)
			f.Label, f.Restricted, f.Length = "Currency ISO Code", true, 3
			o.add(f)
		}
		for _, f := range o.Fields {
			if f.Label == "" {
				f.Label = standardLabel(o, f)
			}
			if f.Type == "currency" || f.Type == "double" || f.Type == "percent" {
				f.Digits = 0
			}
			if f.Type == "int" {
				f.Digits, f.Precision = f.Precision, 0
			}
			for _, to := range f.ReferenceTo {
				if s.object(to) == nil {
					return nil, fmt.Errorf("salesforce emulator: %s.%s refers to unknown object %s", o.Name, f.Name, to)
				}
			}
		}
		s.byPrefix[o.KeyPrefix] = o
		s.names = append(s.names, o.Name)
	}
	sort.Strings(s.names)
	return s, nil
}

func hasMasterDetail(o *sfdx.Object) bool {
	for _, f := range o.Fields {
		if f.Type == "MasterDetail" {
			return true
		}
	}
	return false
}

// labelFor turns an API name into a label: "BillingId__c" → "Billing Id".
func labelFor(name string) string {
	name = strings.TrimSuffix(strings.TrimSuffix(name, "__c"), "Id")
	if name == "" {
		return "Id"
	}
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' && !(name[i-1] >= 'A' && name[i-1] <= 'Z') {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
