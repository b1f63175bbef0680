package mapping

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// Values are a record's mapped fields in canonical form, keyed by billing
// path. Canonical means: strings as they are, money and numbers rounded to
// the Salesforce field's scale with trailing zeros dropped ("12.50" and
// 12.5 are both "12.5"), dates "YYYY-MM-DD", booleans "true"/"false", and
// "" for absent or null. Two values are equal exactly when their
// canonical strings are.
type Values map[string]string

// Canonical renders v, as read from either side, in canonical form.
// lossy reports a money or number value that rounding to the field's scale
// changed (SPEC §2: such a rounding is logged).
func (f Field) Canonical(v any) (s string, lossy bool, err error) {
	str := billsync.ValueString(v)
	if str == "" {
		return "", false, nil
	}
	switch f.Kind {
	case KindMoney, KindNumber:
		parse := billsync.ParseMoney
		if _, isNum := v.(json.Number); isNum {
			// A JSON number from Salesforce may be in exponent form.
			parse = billsync.ParseNumber
		}
		m, err := parse(str)
		if err != nil {
			return "", false, billsync.Errorf(billsync.EINVALID, "%s: %q is not a decimal", f.Billing, str)
		}
		r, lost := m.Round(f.Scale)
		if f.Kind == KindNumber && f.Scale == 0 && m.Scale() > 0 {
			// A number field without a declared scale keeps its digits.
			r, lost = m, false
		}
		return r.Canonical(), lost, nil
	case KindDate:
		if len(str) >= 10 {
			if d, err := billsync.ParseDate(str[:10]); err == nil {
				return d.String(), false, nil
			}
		}
		return "", false, billsync.Errorf(billsync.EINVALID, "%s: %q is not a date", f.Billing, str)
	case KindBool:
		switch strings.ToLower(str) {
		case "true":
			return "true", false, nil
		case "false":
			return "false", false, nil
		}
		return "", false, billsync.Errorf(billsync.EINVALID, "%s: %q is not a boolean", f.Billing, str)
	}
	return str, false, nil
}

// SalesforceValue is the JSON value written to Salesforce for a canonical
// value: money and numbers as JSON numbers, never through float64.
func (f Field) SalesforceValue(canonical string) any {
	if canonical == "" {
		return nil
	}
	switch f.Kind {
	case KindMoney, KindNumber:
		m, err := billsync.ParseMoney(canonical)
		if err != nil {
			return nil
		}
		if f.Kind == KindMoney {
			m, _ = m.Round(f.Scale)
		}
		return m.NumberLiteral()
	case KindBool:
		return canonical == "true"
	}
	return canonical
}

// BillingValue is the JSON value written to billing for a canonical value:
// money as a decimal string (SPEC §2), booleans as booleans.
func (f Field) BillingValue(canonical string) any {
	if canonical == "" {
		return nil
	}
	switch f.Kind {
	case KindMoney:
		m, err := billsync.ParseMoney(canonical)
		if err != nil {
			return nil
		}
		// Salesforce drops trailing zeros; billing shows money at the
		// field's scale ("12.50").
		return m.Pad(f.Scale).String()
	case KindNumber:
		return json.Number(canonical)
	case KindBool:
		return canonical == "true"
	}
	return canonical
}

// BillingValues reads the mapped fields of a billing entity that flow in
// direction dir ("to Salesforce" when toSF), in canonical form. Lossy
// lists fields whose value rounding changed.
func (o *Object) BillingValues(e billsync.Entity, toSF bool) (vals Values, lossy []string, err error) {
	vals = Values{}
	for _, f := range o.Fields {
		if toSF && !f.ToSF() || !toSF && !f.ToBill() {
			continue
		}
		v, _ := e.Path(f.Billing)
		c, lost, err := f.Canonical(v)
		if err != nil {
			return nil, nil, err
		}
		if lost {
			lossy = append(lossy, f.Billing)
		}
		vals[f.Billing] = c
	}
	return vals, lossy, nil
}

// SalesforceValues reads the mapped fields of a Salesforce record that
// flow to billing (C4), in canonical form, keyed by billing path.
func (o *Object) SalesforceValues(r billsync.SObject) (Values, error) {
	return o.sfValues(r, true)
}

// AllBillingValues reads every mapped field of a billing entity, whatever
// its direction (the view a resync or conflict check compares).
func (o *Object) AllBillingValues(e billsync.Entity) (Values, []string, error) {
	to, lossy, err := o.BillingValues(e, true)
	if err != nil {
		return nil, nil, err
	}
	from, _, err := o.BillingValues(e, false)
	if err != nil {
		return nil, nil, err
	}
	return Merge(to, from), lossy, nil
}

// AllSalesforceValues reads every mapped field of a Salesforce record,
// whatever its direction.
func (o *Object) AllSalesforceValues(r billsync.SObject) (Values, error) {
	return o.sfValues(r, false)
}

func (o *Object) sfValues(r billsync.SObject, toBillOnly bool) (Values, error) {
	vals := Values{}
	for _, f := range o.Fields {
		if toBillOnly && !f.ToBill() {
			continue
		}
		c, _, err := f.Canonical(lookupFold(r, f.Salesforce))
		if err != nil {
			return nil, err
		}
		vals[f.Billing] = c
	}
	return vals, nil
}

// Field returns the field mapped to billing path p.
func (o *Object) Field(p string) (Field, bool) {
	for _, f := range o.Fields {
		if f.Billing == p {
			return f, true
		}
	}
	return Field{}, false
}

// SalesforceFields lists the Salesforce fields to read for the object:
// Id, the external id, the parent's external id through the relationship,
// LastSystemToUpdate__c, the revision (FieldRevision) and every mapped
// field.
func (o *Object) SalesforceFields() []string {
	fs := []string{"Id", o.ExternalID, FieldLastSystem, FieldRevision, "LastModifiedById", "LastModifiedDate"}
	if o.Parent != nil {
		fs = append(fs, o.Parent.LookupField, o.Parent.Relationship+"."+o.ExternalIDOfParent())
	}
	for _, f := range o.Fields {
		if !strings.EqualFold(f.Salesforce, o.ExternalID) {
			fs = append(fs, f.Salesforce)
		}
	}
	return dedupeFold(fs)
}

// ExternalIDOfParent is the parent object's external id field (Parent's
// ExternalID, by default the same name as the child's).
func (o *Object) ExternalIDOfParent() string {
	if o.Parent != nil && o.Parent.ExternalID != "" {
		return o.Parent.ExternalID
	}
	return o.ExternalID
}

// Diff returns the billing paths whose values differ between a and b,
// considering only the keys of a.
func Diff(a, b Values) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k)
		}
	}
	sortStrings(out)
	return out
}

// Merge returns base with over's entries applied.
func Merge(base, over Values) Values {
	m := Values{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

// SyncStatusFields are the fields that show a record's sync state in
// Salesforce (G1), set by every billsync write.
func SyncStatusFields(r billsync.SObject, status, errMsg string, now time.Time) {
	r[FieldSyncStatus] = status
	if errMsg == "" {
		r[FieldSyncError] = nil
	} else {
		if len(errMsg) > 32000 {
			errMsg = errMsg[:32000]
		}
		r[FieldSyncError] = errMsg
	}
	r[FieldLastSyncedAt] = now.UTC().Format("2006-01-02T15:04:05.000Z")
}

func lookupFold(r billsync.SObject, name string) any {
	if v, ok := r[name]; ok {
		return v
	}
	for k, v := range r {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func dedupeFold(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		k := strings.ToLower(s)
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}

func sortStrings(s []string) { sort.Strings(s) }
