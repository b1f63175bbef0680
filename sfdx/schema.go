package sfdx

import (
	"embed"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/billsync/billsync"
)

//go:embed sfdx-project.json all:force-app
var source embed.FS

// sourceRoot is where the metadata lives inside the package directory.
const sourceRoot = "force-app/main/default"

// Source is the embedded SFDX project (sfdx-project.json and force-app/),
// for callers that deploy or print it.
func Source() fs.FS { return source }

// Object kinds.
const (
	KindCustom   = "custom"   // a custom object defined here (__c)
	KindStandard = "standard" // a standard object to which this source adds fields
	KindEvent    = "event"    // a platform event (__e)
)

// Metadata is the parsed SFDX source.
type Metadata struct {
	// APIVersion is sfdx-project.json's sourceApiVersion ("62.0").
	APIVersion string
	// Objects are the custom objects, the platform events and the standard
	// objects that gain custom fields, sorted by name.
	Objects []*Object
	// Triggers are the Apex triggers, sorted by name.
	Triggers []Trigger
	// CustomPermissions are the custom permissions' API names.
	CustomPermissions []string
	// PermissionSets are the permission sets, sorted by name.
	PermissionSets []PermissionSet
	// Rule is what the triggers' handler enforces beyond its structure.
	Rule TriggerRule
}

// Object is one object of the source.
type Object struct {
	Name        string // API name: BillingAccount__c, Quote, BillingObjectChange__e
	Kind        string // KindCustom, KindStandard or KindEvent
	Label       string // empty for a standard object
	PluralLabel string
	Description string
	// SharingModel is ReadWrite, ControlledByParent (a master-detail child)…
	SharingModel string
	// NameField is the custom object's Name field; nil for standard objects
	// and events.
	NameField *Field
	// PublishBehavior is PublishAfterCommit or PublishImmediately (events).
	PublishBehavior string
	// Fields are the custom fields declared in the source, sorted by name.
	Fields []*Field
	// Triggered is true when a trigger of the source runs on the object:
	// the emulator applies BillingSyncTrigger's rule to exactly these.
	Triggered bool
}

// Field is one field of an object.
type Field struct {
	Name        string // API name: BillingId__c (or Name for a name field)
	Label       string
	Description string
	// Type is the metadata type: Text, Email, Currency, Number, Date,
	// DateTime, Checkbox, Picklist, LongTextArea, Lookup, MasterDetail,
	// AutoNumber.
	Type      string
	Length    int // text types
	Precision int // Currency, Number: total digits
	Scale     int // Currency, Number: digits after the point
	// Required: the field must have a value. Always true for MasterDetail.
	Required      bool
	ExternalID    bool
	Unique        bool
	CaseSensitive bool
	// ReferenceTo is the parent object of a Lookup or MasterDetail.
	ReferenceTo string
	// RelationshipName is the name a query or a write uses to reach the
	// parent (Account__r for Account__c), as describe reports it.
	RelationshipName string
	// ChildRelationshipName is the metadata <relationshipName>: the name of
	// the child list on the parent (BillingBalances).
	ChildRelationshipName string
	PicklistValues        []string
	RestrictedPicklist    bool
	// DefaultValue is the metadata default formula as written ("false").
	DefaultValue string
	// DisplayFormat is an AutoNumber's format ("BT-{000000}").
	DisplayFormat string
}

// Trigger is an Apex trigger of the source.
type Trigger struct {
	Name   string
	Object string
	// Events are the trigger events ("before insert", "after delete"…).
	Events []string
}

// PermissionSet is a permission set of the source.
type PermissionSet struct {
	Name              string
	Label             string
	CustomPermissions []string // enabled custom permissions
	Objects           map[string]ObjectAccess
	// Fields maps "Object.Field" to its access.
	Fields map[string]FieldAccess
}

// ObjectAccess is a permission set's access to an object.
type ObjectAccess struct {
	Create, Read, Edit, Delete, ViewAll, ModifyAll bool
}

// FieldAccess is a permission set's access to a field.
type FieldAccess struct {
	Readable, Editable bool
}

// Object returns the named object (case-insensitive, as Salesforce is).
func (m *Metadata) Object(name string) *Object {
	for _, o := range m.Objects {
		if strings.EqualFold(o.Name, name) {
			return o
		}
	}
	return nil
}

// PermissionSet returns the named permission set.
func (m *Metadata) PermissionSet(name string) *PermissionSet {
	for i := range m.PermissionSets {
		if strings.EqualFold(m.PermissionSets[i].Name, name) {
			return &m.PermissionSets[i]
		}
	}
	return nil
}

// Field returns the named field, the name field included (case-insensitive).
func (o *Object) Field(name string) *Field {
	if o.NameField != nil && strings.EqualFold(o.NameField.Name, name) {
		return o.NameField
	}
	for _, f := range o.Fields {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return nil
}

// Schema parses the embedded SFDX source. It fails on metadata that does
// not parse or refers to something missing, which is a defect of the
// source, so tests catch it before users deploy it.
func Schema() (*Metadata, error) {
	return Parse(source)
}

// Parse reads an SFDX project (sfdx-project.json and
// force-app/main/default) from fsys.
func Parse(fsys fs.FS) (*Metadata, error) {
	m := &Metadata{}
	var proj struct {
		SourceAPIVersion string `json:"sourceApiVersion"`
	}
	b, err := fs.ReadFile(fsys, "sfdx-project.json")
	if err != nil {
		return nil, fmt.Errorf("salesforce source: %w", err)
	}
	if err := json.Unmarshal(b, &proj); err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "salesforce source: sfdx-project.json: %v", err)
	}
	m.APIVersion = proj.SourceAPIVersion

	objDirs, err := fs.ReadDir(fsys, sourceRoot+"/objects")
	if err != nil {
		return nil, fmt.Errorf("salesforce source: %w", err)
	}
	for _, d := range objDirs {
		if !d.IsDir() {
			continue
		}
		o, err := parseObject(fsys, sourceRoot+"/objects/"+d.Name(), d.Name())
		if err != nil {
			return nil, err
		}
		m.Objects = append(m.Objects, o)
	}
	sort.Slice(m.Objects, func(i, j int) bool { return m.Objects[i].Name < m.Objects[j].Name })

	if err := parseTriggers(fsys, m); err != nil {
		return nil, err
	}
	if err := parseHandler(fsys, m); err != nil {
		return nil, err
	}
	if err := parsePermissions(fsys, m); err != nil {
		return nil, err
	}
	return m, m.check()
}

// check reports references the source makes to things it does not hold.
func (m *Metadata) check() error {
	for _, o := range m.Objects {
		for _, f := range o.Fields {
			if (f.Type == "Lookup" || f.Type == "MasterDetail") && f.ReferenceTo == "" {
				return billsync.Errorf(billsync.EINVALID, "salesforce source: %s.%s: %s without referenceTo", o.Name, f.Name, f.Type)
			}
		}
	}
	for _, t := range m.Triggers {
		if m.Object(t.Object) == nil {
			return billsync.Errorf(billsync.EINVALID, "salesforce source: trigger %s is on %s, which the source does not define", t.Name, t.Object)
		}
	}
	return nil
}

// xmlValue is a picklist value.
type xmlValue struct {
	FullName string `xml:"fullName"`
}

type xmlField struct {
	FullName         string `xml:"fullName"`
	Label            string `xml:"label"`
	Description      string `xml:"description"`
	Type             string `xml:"type"`
	Length           int    `xml:"length"`
	Precision        int    `xml:"precision"`
	Scale            int    `xml:"scale"`
	Required         bool   `xml:"required"`
	ExternalID       bool   `xml:"externalId"`
	Unique           bool   `xml:"unique"`
	CaseSensitive    bool   `xml:"caseSensitive"`
	ReferenceTo      string `xml:"referenceTo"`
	RelationshipName string `xml:"relationshipName"`
	DefaultValue     string `xml:"defaultValue"`
	DisplayFormat    string `xml:"displayFormat"`
	ValueSet         struct {
		Restricted bool       `xml:"restricted"`
		Values     []xmlValue `xml:"valueSetDefinition>value"`
	} `xml:"valueSet"`
}

type xmlObject struct {
	Label           string    `xml:"label"`
	PluralLabel     string    `xml:"pluralLabel"`
	Description     string    `xml:"description"`
	SharingModel    string    `xml:"sharingModel"`
	EventType       string    `xml:"eventType"`
	PublishBehavior string    `xml:"publishBehavior"`
	NameField       *xmlField `xml:"nameField"`
}

func parseObject(fsys fs.FS, dir, name string) (*Object, error) {
	o := &Object{Name: name, Kind: KindStandard}
	b, err := fs.ReadFile(fsys, dir+"/"+name+".object-meta.xml")
	switch {
	case err == nil:
		var x xmlObject
		if err := xml.Unmarshal(b, &x); err != nil {
			return nil, billsync.Errorf(billsync.EINVALID, "salesforce source: %s.object-meta.xml: %v", name, err)
		}
		o.Label, o.PluralLabel, o.Description, o.SharingModel = x.Label, x.PluralLabel, x.Description, x.SharingModel
		o.PublishBehavior = x.PublishBehavior
		switch {
		case strings.HasSuffix(name, "__e"):
			o.Kind = KindEvent
		case strings.HasSuffix(name, "__c"):
			o.Kind = KindCustom
		}
		if x.NameField != nil {
			x.NameField.FullName = "Name"
			f := convertField(*x.NameField)
			if f.Type == "Text" && f.Length == 0 {
				f.Length = 80 // a custom object's text name field is always 80 long
			}
			o.NameField = f
		}
	case isNotExist(err):
		if strings.HasSuffix(name, "__c") || strings.HasSuffix(name, "__e") {
			return nil, billsync.Errorf(billsync.EINVALID, "salesforce source: %s has fields but no %s.object-meta.xml", name, name)
		}
	default:
		return nil, fmt.Errorf("salesforce source: %w", err)
	}

	entries, err := fs.ReadDir(fsys, dir+"/fields")
	if err != nil && !isNotExist(err) {
		return nil, fmt.Errorf("salesforce source: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".field-meta.xml") {
			continue
		}
		b, err := fs.ReadFile(fsys, dir+"/fields/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("salesforce source: %w", err)
		}
		var x xmlField
		if err := xml.Unmarshal(b, &x); err != nil {
			return nil, billsync.Errorf(billsync.EINVALID, "salesforce source: %s/%s: %v", name, e.Name(), err)
		}
		want := strings.TrimSuffix(e.Name(), ".field-meta.xml")
		if x.FullName != want {
			return nil, billsync.Errorf(billsync.EINVALID, "salesforce source: %s/%s declares fullName %q", name, e.Name(), x.FullName)
		}
		o.Fields = append(o.Fields, convertField(x))
	}
	sort.Slice(o.Fields, func(i, j int) bool { return o.Fields[i].Name < o.Fields[j].Name })
	return o, nil
}

func convertField(x xmlField) *Field {
	f := &Field{
		Name: x.FullName, Label: x.Label, Description: x.Description, Type: x.Type,
		Length: x.Length, Precision: x.Precision, Scale: x.Scale,
		Required: x.Required, ExternalID: x.ExternalID, Unique: x.Unique, CaseSensitive: x.CaseSensitive,
		ReferenceTo: x.ReferenceTo, ChildRelationshipName: x.RelationshipName,
		DefaultValue: x.DefaultValue, DisplayFormat: x.DisplayFormat,
		RestrictedPicklist: x.ValueSet.Restricted,
	}
	for _, v := range x.ValueSet.Values {
		f.PicklistValues = append(f.PicklistValues, v.FullName)
	}
	switch f.Type {
	case "MasterDetail":
		f.Required = true
		f.RelationshipName = strings.TrimSuffix(f.Name, "__c") + "__r"
	case "Lookup":
		f.RelationshipName = strings.TrimSuffix(f.Name, "__c") + "__r"
	case "Email":
		f.Length = 80 // Salesforce fixes an Email field's length
	}
	return f
}

// A trigger's header: trigger Name on Object (events).
var triggerHeader = regexp.MustCompile(`(?is)\btrigger\s+(\w+)\s+on\s+(\w+)\s*\(([^)]*)\)`)

func parseTriggers(fsys fs.FS, m *Metadata) error {
	entries, err := fs.ReadDir(fsys, sourceRoot+"/triggers")
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("salesforce source: %w", err)
	}
	for _, e := range entries {
		if path.Ext(e.Name()) != ".trigger" {
			continue
		}
		b, err := fs.ReadFile(fsys, sourceRoot+"/triggers/"+e.Name())
		if err != nil {
			return fmt.Errorf("salesforce source: %w", err)
		}
		g := triggerHeader.FindSubmatch(b)
		if g == nil {
			return billsync.Errorf(billsync.EINVALID, "salesforce source: %s: no trigger header", e.Name())
		}
		t := Trigger{Name: string(g[1]), Object: string(g[2])}
		for _, ev := range strings.Split(string(g[3]), ",") {
			t.Events = append(t.Events, strings.ToLower(strings.Join(strings.Fields(ev), " ")))
		}
		m.Triggers = append(m.Triggers, t)
		if o := m.Object(t.Object); o != nil {
			o.Triggered = true
		}
	}
	sort.Slice(m.Triggers, func(i, j int) bool { return m.Triggers[i].Name < m.Triggers[j].Name })
	return nil
}

type xmlPermissionSet struct {
	Label             string `xml:"label"`
	CustomPermissions []struct {
		Enabled bool   `xml:"enabled"`
		Name    string `xml:"name"`
	} `xml:"customPermissions"`
	ObjectPermissions []struct {
		Object    string `xml:"object"`
		Create    bool   `xml:"allowCreate"`
		Read      bool   `xml:"allowRead"`
		Edit      bool   `xml:"allowEdit"`
		Delete    bool   `xml:"allowDelete"`
		ViewAll   bool   `xml:"viewAllRecords"`
		ModifyAll bool   `xml:"modifyAllRecords"`
	} `xml:"objectPermissions"`
	FieldPermissions []struct {
		Field    string `xml:"field"`
		Readable bool   `xml:"readable"`
		Editable bool   `xml:"editable"`
	} `xml:"fieldPermissions"`
}

func parsePermissions(fsys fs.FS, m *Metadata) error {
	if entries, err := fs.ReadDir(fsys, sourceRoot+"/customPermissions"); err == nil {
		for _, e := range entries {
			if n, ok := strings.CutSuffix(e.Name(), ".customPermission-meta.xml"); ok {
				m.CustomPermissions = append(m.CustomPermissions, n)
			}
		}
	} else if !isNotExist(err) {
		return fmt.Errorf("salesforce source: %w", err)
	}
	entries, err := fs.ReadDir(fsys, sourceRoot+"/permissionsets")
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("salesforce source: %w", err)
	}
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".permissionset-meta.xml")
		if !ok {
			continue
		}
		b, err := fs.ReadFile(fsys, sourceRoot+"/permissionsets/"+e.Name())
		if err != nil {
			return fmt.Errorf("salesforce source: %w", err)
		}
		var x xmlPermissionSet
		if err := xml.Unmarshal(b, &x); err != nil {
			return billsync.Errorf(billsync.EINVALID, "salesforce source: %s: %v", e.Name(), err)
		}
		ps := PermissionSet{Name: n, Label: x.Label, Objects: map[string]ObjectAccess{}, Fields: map[string]FieldAccess{}}
		for _, c := range x.CustomPermissions {
			if c.Enabled {
				ps.CustomPermissions = append(ps.CustomPermissions, c.Name)
			}
		}
		for _, o := range x.ObjectPermissions {
			ps.Objects[o.Object] = ObjectAccess{Create: o.Create, Read: o.Read, Edit: o.Edit, Delete: o.Delete, ViewAll: o.ViewAll, ModifyAll: o.ModifyAll}
		}
		for _, f := range x.FieldPermissions {
			ps.Fields[f.Field] = FieldAccess{Readable: f.Readable, Editable: f.Editable}
		}
		m.PermissionSets = append(m.PermissionSets, ps)
	}
	sort.Slice(m.PermissionSets, func(i, j int) bool { return m.PermissionSets[i].Name < m.PermissionSets[j].Name })
	return nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
