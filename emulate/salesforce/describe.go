package salesforce

import "strings"

func (e *Emulator) handleGlobalDescribe(c *call) {
	var list []map[string]any
	for _, n := range e.schema.names {
		o := e.schema.object(n)
		m := sobjectSummary(o, c.base())
		list = append(list, m)
	}
	writeJSON(c.w, 200, map[string]any{"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list})
}

func objectURLs(o *objectDef, base string) map[string]string {
	u := base + "/sobjects/" + o.Name
	return map[string]string{"sobject": u, "describe": u + "/describe", "rowTemplate": u + "/{ID}"}
}

// sobjectSummary is an object's entry in the global describe.
func sobjectSummary(o *objectDef, base string) map[string]any {
	data := !o.Event
	return map[string]any{
		"activateable": false, "associateEntityType": nil, "associateParentEntity": nil,
		"createable": true, "custom": o.Custom, "customSetting": false, "deepCloneable": false,
		"deletable": data, "deprecatedAndHidden": false, "feedEnabled": false, "hasSubtypes": false,
		"isInterface": false, "isSubtype": false, "keyPrefix": o.KeyPrefix, "label": o.Label,
		"labelPlural": o.LabelPlural, "layoutable": data, "mergeable": o.Name == "Account",
		"mruEnabled": data, "name": o.Name, "queryable": data, "replicateable": data,
		"retrieveable": data, "searchable": data, "triggerable": true, "undeletable": data,
		"updateable": data, "urls": objectURLs(o, base),
	}
}

func (e *Emulator) handleObjectInfo(c *call) {
	o, ok := e.objectFor(c, c.r.PathValue("object"))
	if !ok {
		return
	}
	writeJSON(c.w, 200, map[string]any{"objectDescribe": sobjectSummary(o, c.base()), "recentItems": []any{}})
}

func (e *Emulator) handleDescribe(c *call) {
	o, ok := e.objectFor(c, c.r.PathValue("object"))
	if !ok {
		return
	}
	m := sobjectSummary(o, c.base())
	for k, v := range map[string]any{
		"actionOverrides": []any{}, "compactLayoutable": !o.Event, "defaultImplementation": nil,
		"extendedBy": nil, "extendsInterfaces": nil, "implementedBy": nil, "implementsInterfaces": nil,
		"listviewable": nil, "lookupLayoutable": nil, "namedLayoutInfos": []any{}, "networkScopeFieldName": nil,
		"recordTypeInfos": []any{}, "searchLayoutable": !o.Event, "sobjectDescribeOption": "FULL",
		"supportedScopes":    []any{map[string]string{"label": "All " + strings.ToLower(o.LabelPlural), "name": "everything"}},
		"childRelationships": e.childRelationships(o),
	} {
		m[k] = v
	}
	fields := make([]map[string]any, 0, len(o.Fields))
	for _, f := range o.Fields {
		fields = append(fields, describeField(f))
	}
	m["fields"] = fields
	writeJSON(c.w, 200, m)
}

func (e *Emulator) childRelationships(parent *objectDef) []map[string]any {
	out := []map[string]any{}
	for _, n := range e.schema.names {
		o := e.schema.object(n)
		for _, f := range o.Fields {
			if f.Type != "reference" || !containsFold(f.ReferenceTo, parent.Name) {
				continue
			}
			var rel any
			if f.Custom {
				rel = strings.TrimSuffix(o.Name, "__c") + "s__r"
			}
			out = append(out, map[string]any{
				"cascadeDelete": f.MasterDetail || f.CascadeDelete, "childSObject": o.Name, "deprecatedAndHidden": false,
				"field": f.Name, "junctionIdListNames": []any{}, "junctionReferenceTo": []any{},
				"relationshipName": rel, "restrictedDelete": false,
			})
		}
	}
	return out
}

// describeField is a field's describe entry, with every key a real
// describe carries.
func describeField(f *fieldDef) map[string]any {
	byteLength := f.Length * 3
	if f.Type == "id" || f.Type == "reference" {
		byteLength = f.Length
	}
	picklist := []map[string]any{}
	for _, v := range f.Picklist {
		picklist = append(picklist, map[string]any{"active": true, "defaultValue": f.DefaultValue == v, "label": v, "validFor": nil, "value": v})
	}
	ref := f.ReferenceTo
	if ref == nil {
		ref = []string{}
	}
	var rel any
	if f.RelationshipName != "" {
		rel = f.RelationshipName
	}
	var relOrder any
	if f.MasterDetail {
		relOrder = 0
	}
	var def any
	if f.Type == "boolean" || f.Type == "picklist" {
		def = f.DefaultValue
	}
	var extra any
	if f.ExtraTypeInfo != "" {
		extra = f.ExtraTypeInfo
	}
	sortable := f.Type != "textarea" || f.Length <= 255
	return map[string]any{
		"aggregatable": sortable && f.Type != "id", "aiPredictionField": false, "autoNumber": f.AutoNumber,
		"byteLength": byteLength, "calculated": f.Calculated, "calculatedFormula": nil,
		"cascadeDelete": false, "caseSensitive": f.CaseSensitive, "compoundFieldName": nil,
		"controllerName": nil, "createable": f.Createable, "custom": f.Custom, "defaultValue": def,
		"defaultValueFormula": nil, "defaultedOnCreate": f.DefaultedOnCreate, "dependentPicklist": false,
		"deprecatedAndHidden": false, "digits": f.Digits, "displayLocationInDecimal": false,
		"encrypted": false, "externalId": f.ExternalID, "extraTypeInfo": extra, "filterable": f.Filterable,
		"filteredLookupInfo": nil, "formulaTreatNullNumberAsZero": false, "groupable": sortable && f.Type != "currency" && f.Type != "double",
		"highScaleNumber": false, "htmlFormatted": false, "idLookup": f.IDLookup, "inlineHelpText": nil,
		"label": f.Label, "length": f.Length, "mask": nil, "maskType": nil, "name": f.Name,
		"nameField": f.NameField, "namePointing": false, "nillable": f.Nillable, "permissionable": f.Custom && f.Nillable,
		"picklistValues": picklist, "polymorphicForeignKey": false, "precision": f.Precision,
		"queryByDistance": false, "referenceTargetField": nil, "referenceTo": ref, "relationshipName": rel,
		"relationshipOrder": relOrder, "restrictedDelete": false, "restrictedPicklist": f.Restricted,
		"scale": f.Scale, "searchPrefilterable": false, "soapType": f.SoapType, "sortable": sortable,
		"type": f.Type, "unique": f.Unique, "updateable": f.Updateable, "writeRequiresMasterRead": false,
	}
}

// recordedLabels are standard field labels whose wording is not the rule
// of standardLabel, as describe answers them in a real org (SFDO-Tooling/
// CumulusCI cumulusci/tests/shared_cassettes GET_sobjects_Account_describe
// and GET_sobjects_Opportunity_describe).
var recordedLabels = map[string]map[string]string{
	"Account": {"Name": "Account Name", "Type": "Account Type", "Phone": "Account Phone",
		"Description": "Account Description"},
	"Opportunity": {"StageName": "Stage", "Probability": "Probability (%)", "Type": "Opportunity Type",
		"IsClosed": "Closed", "IsWon": "Won", "Pricebook2Id": "Price Book ID"},
}

// standardLabel is the label of a standard field. Save and lookup errors
// are built from it ("Account ID: id value of incorrect type: …"), so it
// follows the recordings: Id is "<Object> ID" ("Record ID" on custom
// objects), IsDeleted "Deleted", and an id-valued field ends in " ID"
// ("Owner ID", "Created By ID", "Account ID").
func standardLabel(o *objectDef, f *fieldDef) string {
	if l := recordedLabels[o.Name][f.Name]; l != "" {
		return l
	}
	switch f.Name {
	case "Id":
		if o.Custom {
			return "Record ID"
		}
		return o.Label + " ID"
	case "IsDeleted":
		return "Deleted"
	case "Product2Id":
		return "Product ID"
	case "Pricebook2Id":
		return "Price Book ID"
	case "PricebookEntryId":
		return "Price Book Entry ID"
	}
	if strings.HasSuffix(f.Name, "Id") && !strings.HasSuffix(f.Name, "__c") && len(f.Name) > 2 {
		return labelFor(f.Name) + " ID"
	}
	return labelFor(f.Name)
}
