package m3terapi

import (
	"encoding/json"
	"maps"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// record is an m3ter object as its JSON, numbers as json.Number: kept
// whole so that a PUT, which replaces the object, sends back every field
// billsync does not map (address, billEpoch, rolloverAmount, …) as m3ter
// holds it.
type record map[string]any

// readOnly are the fields m3ter sets itself; they are left out of a PUT.
var readOnly = []string{"id", "dtCreated", "dtLastModified", "createdBy", "lastModifiedBy", "amount"}

// Keys billsync keeps in m3ter's customFields for fields the spec does
// not have.
const (
	// cfCRMAccount holds an account's Salesforce Account id (the
	// contract's crmAccountId): m3ter's account has no field for it.
	cfCRMAccount = "crmAccountId"
	// cfSalesforceID is where the engine puts the Salesforce id of a
	// record created from Salesforce (engine.LinkField,
	// "customFields.salesforceId"); billsync looks for it before a create.
	cfSalesforceID = "salesforceId"
)

func (r record) str(k string) string { return billsync.ValueString(r[k]) }

// version is the record's version as the JSON number m3ter sent.
func (r record) version() int64 {
	return billsync.Entity(r).Version()
}

func (r record) customFields() map[string]any {
	out := map[string]any{}
	if m, ok := r["customFields"].(map[string]any); ok {
		maps.Copy(out, m)
	}
	return out
}

// forPut is the record as a PUT body: every field m3ter holds except
// those it sets itself.
func (r record) forPut() record {
	out := record{}
	for k, v := range r {
		out[k] = v
	}
	for _, k := range readOnly {
		delete(out, k)
	}
	return out
}

// stamp copies m3ter's audit fields into the entity shape.
func stamp(e billsync.Entity, r record) {
	e["version"] = numberOr(r["version"], "0")
	e["createdAt"] = r.str("dtCreated")
	e["updatedAt"] = r.str("dtLastModified")
	e["createdBy"] = r.str("createdBy")
	e["lastModifiedBy"] = r.str("lastModifiedBy")
}

func numberOr(v any, def string) json.Number {
	s := billsync.ValueString(v)
	if s == "" {
		s = def
	}
	return json.Number(s)
}

// amountOf reads a JSON number m3ter sent as an exact decimal string
// (m3ter may write large or small values with an exponent).
func amountOf(v any) (string, error) {
	s := billsync.ValueString(v)
	if s == "" {
		return "0", nil
	}
	m, err := billsync.ParseNumber(s)
	if err != nil {
		return "", err
	}
	return m.String(), nil
}

// number is an amount as the JSON number m3ter takes, digit for digit.
func number(m billsync.Money) json.Number { return json.Number(m.String()) }

// negate is -m, exactly.
func negate(m billsync.Money) billsync.Money {
	s := m.String()
	if strings.HasPrefix(s, "-") {
		return billsync.MustMoney(s[1:])
	}
	if m.IsZero() {
		return m
	}
	return billsync.MustMoney("-" + s)
}

// dateOf is the calendar date (UTC) of an m3ter date-time, as billsync's
// entities carry dates; a value it cannot read is passed on as it is.
func dateOf(s string) string {
	if s == "" || len(s) == len(time.DateOnly) {
		return s
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC().Format(time.DateOnly)
	}
	return s
}

// dateTimeFor is the m3ter date-time for a billsync date: midnight UTC.
// When the record already holds a date-time on that date (have), it is
// kept, so that a time of day set in m3ter survives a write of the date.
func dateTimeFor(d, have string) string {
	if d == "" {
		return ""
	}
	if have != "" && dateOf(have) == d {
		return have
	}
	if _, err := time.Parse(time.DateOnly, d); err == nil {
		return d + "T00:00:00Z"
	}
	return d
}

// mergeCustom is the customFields of a write: what m3ter holds, with the
// entity's custom fields laid over it (a nil value removes a key). A key
// the entity does not name is kept, as m3ter's PUT would otherwise wipe
// custom fields billsync does not map.
func mergeCustom(have map[string]any, e billsync.Entity) map[string]any {
	out := map[string]any{}
	maps.Copy(out, have)
	if cf, ok := asMap(e["customFields"]); ok {
		for k, v := range cf {
			if v == nil {
				delete(out, k)
				continue
			}
			out[k] = v
		}
	}
	return out
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case billsync.Entity:
		return m, true
	case record:
		return m, true
	}
	return nil, false
}

// setOrDelete sets k in r to the entity's value of k when the entity has
// the key: "" removes an optional field.
func setOrDelete(r record, e billsync.Entity, k string) {
	v, ok := e[k]
	if !ok {
		return
	}
	if s := billsync.ValueString(v); s == "" {
		delete(r, k)
	} else {
		r[k] = s
	}
}

// salesforceID is the Salesforce id the engine stamped on a record it
// creates from Salesforce, "" for any other create.
func salesforceID(e billsync.Entity) string {
	return e.PathStr("customFields." + cfSalesforceID)
}

// setCustom puts the customFields of a write into its body: an empty map
// only where m3ter holds the key, so that an unchanged record reads as
// unchanged.
func setCustom(body, have record, cf map[string]any) {
	if _, had := have["customFields"]; had || len(cf) > 0 {
		body["customFields"] = cf
	}
}
