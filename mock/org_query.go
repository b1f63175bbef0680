package mock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/billsync/billsync"
	parser "github.com/billsync/billsync/emulate/salesforce/soql"
)

// Query runs SOQL with the emulator's parser and matcher, so conditions
// mean what they mean in Salesforce (text compares case-insensitively, a
// 15-character id matches its 18-character form). A selected
// relationship path (BillingAccount__r.BillingId__c, Opportunity.OwnerId)
// comes back as a nested object, null when the parent is missing. COUNT()
// is not supported.
func (o *Org) Query(ctx context.Context, soql string) ([]billsync.SObject, error) {
	if err := o.call(ctx, Call{Method: "query", SOQL: soql}); err != nil {
		return nil, err
	}
	q, err := parser.Parse(soql)
	if err != nil {
		return nil, queryError(err)
	}
	if q.Count {
		return nil, queryError(fmt.Errorf("mock: COUNT() is not supported"))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.checkSelectLocked(q); err != nil {
		return nil, err
	}
	o.canonicalIDsLocked(q.Where)
	var rows []view
	for _, id := range o.sortedIDsLocked() {
		if !strings.EqualFold(o.objects[id], q.Object) {
			continue
		}
		v := view{o, o.records[id]}
		ok, err := q.Match(v)
		if err != nil {
			return nil, queryError(err)
		}
		if ok {
			rows = append(rows, v)
		}
	}
	slices.SortStableFunc(rows, func(a, b view) int {
		switch {
		case q.Less(a, b):
			return -1
		case q.Less(b, a):
			return 1
		}
		return 0
	})
	if q.Offset > 0 {
		rows = rows[min(q.Offset, len(rows)):]
	}
	if q.Limit >= 0 {
		rows = rows[:min(q.Limit, len(rows))]
	}
	out := make([]billsync.SObject, 0, len(rows))
	for _, v := range rows {
		out = append(out, o.projectLocked(v.r, q.Fields))
	}
	return out, nil
}

// RetrieveRecords reads records of object by id; missing ones are absent.
func (o *Org) RetrieveRecords(ctx context.Context, object string, fields []string, ids []string) ([]billsync.SObject, error) {
	if err := o.call(ctx, Call{Method: "retrieveRecords", Object: object, Records: len(ids)}); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.MultiCurrency && slices.ContainsFunc(fields, func(f string) bool { return strings.EqualFold(f, FieldCurrency) }) {
		return nil, noCurrency(object)
	}
	paths := make([]parser.Field, len(fields))
	for i, f := range fields {
		paths[i] = parser.Field{Path: strings.Split(f, ".")}
	}
	var out []billsync.SObject
	for _, id := range ids {
		r, ok := o.records[id]
		if ok && o.objects[id] == object {
			out = append(out, o.projectLocked(r, paths))
		}
	}
	return out, nil
}

// Retrieve reads one record; a missing one is a 404 NOT_FOUND.
func (o *Org) Retrieve(ctx context.Context, object, id string, fields []string) (billsync.SObject, error) {
	if err := o.call(ctx, Call{Method: "retrieve", Object: object, Records: 1}); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.records[id]
	if !ok || o.objects[id] != object {
		return nil, &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 404, Code: "NOT_FOUND", Message: "The requested resource does not exist"}
	}
	if len(fields) == 0 {
		return maps.Clone(r), nil
	}
	paths := make([]parser.Field, len(fields))
	for i, f := range fields {
		paths[i] = parser.Field{Path: strings.Split(f, ".")}
	}
	return o.projectLocked(r, paths), nil
}

// Describe returns Describes[object], or StandardDescribe(object); a
// multi-currency org adds FieldCurrency.
func (o *Org) Describe(ctx context.Context, object string) (*billsync.SObjectDescribe, error) {
	if err := o.call(ctx, Call{Method: "describe", Object: object}); err != nil {
		return nil, err
	}
	d := StandardDescribe(object)
	if o.Describes[object] != nil {
		d = o.Describes[object]
	}
	c := *d
	c.Fields = slices.Clone(d.Fields)
	if o.MultiCurrency {
		c.Fields = append(c.Fields, describeField(FieldCurrency, "picklist", 0))
	}
	return &c, nil
}

// StandardDescribe describes the fields quote sync reads of the standard
// quote objects; any other object is described with no fields.
func StandardDescribe(object string) *billsync.SObjectDescribe {
	f := describeField
	d := &billsync.SObjectDescribe{Name: object}
	switch object {
	case "Quote":
		d.Fields = []billsync.FieldDescribe{f("Name", "string", 0), f("Status", "picklist", 0), f("Description", "textarea", 0),
			f("ExpirationDate", "date", 0)}
	case "QuoteLineItem":
		d.Fields = []billsync.FieldDescribe{f("Quantity", "double", 2), f("UnitPrice", "currency", 2), f("Description", "textarea", 0),
			f("BillingOfferingId__c", "string", 0), f("BillingOfferingName__c", "string", 0)}
	case "Opportunity":
		d.Fields = []billsync.FieldDescribe{f("Name", "string", 0), f("StageName", "picklist", 0)}
		d.Fields[0].Length = 120
	case "OpportunityLineItem":
		d.Fields = []billsync.FieldDescribe{f("Quantity", "double", 2), f("UnitPrice", "currency", 2), f("Description", "textarea", 0)}
	}
	return d
}

func describeField(name, typ string, scale int) billsync.FieldDescribe {
	return billsync.FieldDescribe{Name: name, Type: typ, Scale: scale, Createable: true, Updateable: true, Nillable: true, Length: 255}
}

func queryError(err error) error {
	code, msg := "MALFORMED_QUERY", err.Error()
	var pe *parser.Error
	if errors.As(err, &pe) {
		code, msg = pe.Code, pe.Message
	}
	return &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 400, Code: code, Message: msg}
}

func noCurrency(object string) error {
	return &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 400, Code: "INVALID_FIELD",
		Message: "No such column '" + FieldCurrency + "' on entity '" + object + "'"}
}

func (o *Org) checkSelectLocked(q *parser.Query) error {
	if o.MultiCurrency {
		return nil
	}
	for _, p := range q.Paths() {
		if strings.EqualFold(p[len(p)-1], FieldCurrency) {
			return noCurrency(q.Object)
		}
	}
	return nil
}

func (o *Org) sortedIDsLocked() []string {
	ids := slices.Collect(maps.Keys(o.records))
	slices.Sort(ids)
	return ids
}

// canonicalIDsLocked replaces 15-character ids in conditions with the
// 18-character ids they stand for, as Salesforce accepts either.
func (o *Org) canonicalIDsLocked(x parser.Expr) {
	switch x := x.(type) {
	case *parser.Logical:
		for _, t := range x.Terms {
			o.canonicalIDsLocked(t)
		}
	case *parser.Not:
		o.canonicalIDsLocked(x.X)
	case *parser.Cond:
		for i, l := range x.Values {
			if l.Kind != parser.KindString || len(l.Str) != 15 {
				continue
			}
			for id := range o.records {
				if strings.HasPrefix(id, l.Str) {
					x.Values[i].Str = id
				}
			}
		}
	}
}

// projectLocked returns the selected fields of r, spelled as stored.
func (o *Org) projectLocked(r billsync.SObject, fields []parser.Field) billsync.SObject {
	row := billsync.SObject{}
	for _, f := range fields {
		if len(f.Path) == 1 {
			k := keyOf(r, f.Path[0])
			row[k] = r[k]
			continue
		}
		rel := f.Path[0]
		v := o.valueLocked(r, f.Path)
		parent := o.parentLocked(r, rel)
		if parent == nil && !hasRef(r, rel) {
			row[rel] = nil
			continue
		}
		m, _ := row[rel].(map[string]any)
		if m == nil {
			m = map[string]any{}
			row[rel] = m
		}
		m[strings.Join(f.Path[1:], ".")] = v
	}
	return row
}

func hasRef(r billsync.SObject, rel string) bool {
	_, ok := r[rel].(map[string]any)
	return ok
}

// keyOf is the stored spelling of field in r (Salesforce names are
// case-insensitive), or field itself.
func keyOf(r billsync.SObject, field string) string {
	if _, ok := r[field]; ok {
		return field
	}
	for k := range r {
		if strings.EqualFold(k, field) {
			return k
		}
	}
	return field
}

func (o *Org) parentLocked(r billsync.SObject, rel string) billsync.SObject {
	id := r.Str(keyOf(r, lookupField(rel)))
	if id == "" {
		return nil
	}
	return o.records[id]
}

// view is a record as the SOQL matcher reads it. The org has no schema,
// so a field it does not hold is null rather than unknown.
type view struct {
	o *Org
	r billsync.SObject
}

func (v view) Value(path []string) (any, bool) {
	return matchable(v.o.valueLocked(v.r, path)), true
}

// valueLocked follows path from r through parents; nil when a parent is
// missing.
func (o *Org) valueLocked(r billsync.SObject, path []string) any {
	for _, rel := range path[:len(path)-1] {
		parent := o.parentLocked(r, rel)
		if parent == nil {
			// A parent stored by reference only ({"BillingId__c": "acc_1"}).
			if m, ok := r[keyOf(r, rel)].(map[string]any); ok {
				parent = billsync.SObject(m)
			}
		}
		if parent == nil {
			return nil
		}
		r = parent
	}
	return r[keyOf(r, path[len(path)-1])]
}

// matchable maps a stored value onto the types the matcher knows.
func matchable(v any) any {
	switch x := v.(type) {
	case float64:
		return json.Number(strconv.FormatFloat(x, 'f', -1, 64))
	case float32:
		return json.Number(strconv.FormatFloat(float64(x), 'f', -1, 32))
	case map[string]any, []any:
		return nil
	}
	return v
}
