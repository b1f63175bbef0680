package quotesync

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/salesforce/rest"
)

// fakeOrg is an in-memory Salesforce org for quote sync tests: it runs
// the simple SOQL quote sync sends (field = 'v', field IN (…), AND,
// parent.field in the select list), upserts by external id refusing
// create-only fields on the update path as Salesforce does, and counts
// calls.
type fakeOrg struct {
	mu      sync.Mutex
	multi   bool
	records map[string]billsync.SObject // by Id
	objects map[string]string           // Id → object
	next    int
	calls   map[string]int
	// written counts records written per object.
	written map[string]int
	// fail answers a write of one record with a per-record error.
	fail func(object string, rec billsync.SObject) *billsync.FieldError
}

var qCreateOnly = map[string][]string{
	"Quote":               {"OpportunityId"},
	"QuoteLineItem":       {"QuoteId", "PricebookEntryId", "Product2Id"},
	"OpportunityLineItem": {"OpportunityId", "PricebookEntryId", "Product2Id"},
}

var qPrefixes = map[string]string{"Account": "001", "User": "005", "Opportunity": "006", "Quote": "0Q0", "QuoteLineItem": "0QL",
	"OpportunityLineItem": "00k", "Product2": "01t", "Pricebook2": "01s", "PricebookEntry": "01u"}

func newFakeOrg(multi bool) *fakeOrg {
	return &fakeOrg{multi: multi, records: map[string]billsync.SObject{}, objects: map[string]string{}, calls: map[string]int{}, written: map[string]int{}}
}

func (o *fakeOrg) newIDLocked(object string) string {
	o.next++
	return fmt.Sprintf("%s%012dAAA", qPrefixes[object], o.next)
}

func (o *fakeOrg) put(object string, r billsync.SObject) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	id := o.newIDLocked(object)
	c := billsync.SObject{"Id": id}
	for k, v := range r {
		c[k] = v
	}
	o.records[id] = c
	o.objects[id] = object
	return id
}

func (o *fakeOrg) set(id, field string, v any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.records[id][field] = v
}

func (o *fakeOrg) get(id string) billsync.SObject {
	o.mu.Lock()
	defer o.mu.Unlock()
	return qClone(o.records[id])
}

// all returns the records of object matching every field=value pair.
func (o *fakeOrg) all(object string, kv ...string) []billsync.SObject {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []billsync.SObject
	for id, r := range o.records {
		if o.objects[id] != object {
			continue
		}
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if r.Str(kv[i]) != kv[i+1] {
				ok = false
			}
		}
		if ok {
			out = append(out, qClone(r))
		}
	}
	slices.SortFunc(out, func(a, b billsync.SObject) int { return strings.Compare(a.ID(), b.ID()) })
	return out
}

func (o *fakeOrg) byExt(object, field, v string) billsync.SObject {
	rs := o.all(object, field, v)
	if len(rs) == 0 {
		return nil
	}
	return rs[0]
}

func (o *fakeOrg) callCount() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]int{}
	for k, v := range o.calls {
		out[k] = v
	}
	return out
}

func (o *fakeOrg) recordsWritten(object string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.written[object]
}

func (o *fakeOrg) writes() int {
	c := o.callCount()
	return c["upsert"] + c["create"] + c["update"] + c["delete"]
}

func qClone(r billsync.SObject) billsync.SObject {
	if r == nil {
		return nil
	}
	c := billsync.SObject{}
	for k, v := range r {
		c[k] = v
	}
	return c
}

func (o *fakeOrg) Identity(context.Context) (string, string, error) {
	return "005000000000001AAA", "00D000000000001AAA", nil
}

func (o *fakeOrg) Upsert(ctx context.Context, object, ext string, recs []billsync.SObject) ([]billsync.SaveResult, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls["upsert"]++
	o.written[object] += len(recs)
	var out []billsync.SaveResult
	for _, r := range recs {
		if fe := o.failLocked(object, r); fe != nil {
			out = append(out, billsync.SaveResult{Errors: []billsync.FieldError{*fe}})
			continue
		}
		id := ""
		for rid, ex := range o.records {
			if o.objects[rid] == object && ex.Str(ext) == r.Str(ext) {
				id = rid
			}
		}
		if id == "" {
			res := o.createLocked(object, r)
			res.Created = res.Success
			out = append(out, res)
			continue
		}
		var bad []string
		for _, f := range qCreateOnly[object] {
			if _, ok := r[f]; ok {
				bad = append(bad, f)
			}
		}
		if len(bad) > 0 {
			out = append(out, billsync.SaveResult{Errors: []billsync.FieldError{{StatusCode: "INVALID_FIELD_FOR_INSERT_UPDATE",
				Message: "Unable to create/update fields: " + strings.Join(bad, ", "), Fields: bad}}})
			continue
		}
		for k, v := range r {
			o.records[id][k] = v
		}
		out = append(out, billsync.SaveResult{ID: id, Success: true})
	}
	return out, nil
}

func (o *fakeOrg) failLocked(object string, r billsync.SObject) *billsync.FieldError {
	if o.fail == nil {
		return nil
	}
	fe := o.fail(object, r)
	if fe != nil {
		// The real client classifies each record's failure; so does the fake.
		fe.Transient, fe.RateLimited = rest.TransientCode(fe.StatusCode), rest.RateLimitedCode(fe.StatusCode)
	}
	return fe
}

func (o *fakeOrg) createLocked(object string, r billsync.SObject) billsync.SaveResult {
	if fe := o.failLocked(object, r); fe != nil {
		return billsync.SaveResult{Errors: []billsync.FieldError{*fe}}
	}
	if _, ok := r[fieldCurrency]; ok && !o.multi {
		return billsync.SaveResult{Errors: []billsync.FieldError{{StatusCode: "INVALID_FIELD", Message: "No such column 'CurrencyIsoCode'"}}}
	}
	id := o.newIDLocked(object)
	c := billsync.SObject{"Id": id}
	for k, v := range r {
		c[k] = v
	}
	if object == "Quote" || object == "Opportunity" {
		if _, ok := c["OwnerId"]; !ok {
			c["OwnerId"] = "005000000000001AAA"
		}
	}
	o.records[id] = c
	o.objects[id] = object
	return billsync.SaveResult{ID: id, Success: true, Created: true}
}

func (o *fakeOrg) Create(ctx context.Context, object string, recs []billsync.SObject) ([]billsync.SaveResult, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls["create"]++
	o.written[object] += len(recs)
	var out []billsync.SaveResult
	for _, r := range recs {
		out = append(out, o.createLocked(object, r))
	}
	return out, nil
}

func (o *fakeOrg) Update(ctx context.Context, object string, recs []billsync.SObject) ([]billsync.SaveResult, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls["update"]++
	o.written[object] += len(recs)
	var out []billsync.SaveResult
	for _, r := range recs {
		ex, ok := o.records[r.ID()]
		if !ok {
			out = append(out, billsync.SaveResult{Errors: []billsync.FieldError{{StatusCode: "ENTITY_IS_DELETED", Message: "entity is deleted"}}})
			continue
		}
		for k, v := range r {
			ex[k] = v
		}
		out = append(out, billsync.SaveResult{ID: r.ID(), Success: true})
	}
	return out, nil
}

func (o *fakeOrg) Delete(ctx context.Context, ids []string) ([]billsync.SaveResult, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls["delete"]++
	var out []billsync.SaveResult
	for _, id := range ids {
		if _, ok := o.records[id]; !ok {
			out = append(out, billsync.SaveResult{Errors: []billsync.FieldError{{StatusCode: "ENTITY_IS_DELETED", Message: "entity is deleted"}}})
			continue
		}
		if o.objects[id] == "Quote" {
			for lid, r := range o.records {
				if o.objects[lid] == "QuoteLineItem" && r.Str("QuoteId") == id {
					delete(o.records, lid)
				}
			}
		}
		delete(o.records, id)
		out = append(out, billsync.SaveResult{ID: id, Success: true})
	}
	return out, nil
}

func (o *fakeOrg) Retrieve(ctx context.Context, object, id string, fields []string) (billsync.SObject, error) {
	return nil, fmt.Errorf("not used")
}

var (
	qSoqlRe = regexp.MustCompile(`^SELECT (.+) FROM (\w+) WHERE (.+?)(?: ORDER BY \w+)?(?: LIMIT (\d+))?$`)
	qCondRe = regexp.MustCompile(`^([\w.]+) (=|IN) (.+)$`)
	qStrRe  = regexp.MustCompile(`'((?:[^'\\]|\\.)*)'`)
)

func (o *fakeOrg) Query(ctx context.Context, soql string) ([]billsync.SObject, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls["query"]++
	m := qSoqlRe.FindStringSubmatch(soql)
	if m == nil {
		return nil, fmt.Errorf("fake cannot run %q", soql)
	}
	fields := strings.Split(m[1], ", ")
	type cond struct {
		path string
		vals []string
	}
	var conds []cond
	for _, c := range strings.Split(m[3], " AND ") {
		cm := qCondRe.FindStringSubmatch(c)
		if cm == nil {
			return nil, fmt.Errorf("fake cannot read condition %q", c)
		}
		var vals []string
		for _, s := range qStrRe.FindAllStringSubmatch(cm[3], -1) {
			vals = append(vals, strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(s[1]))
		}
		conds = append(conds, cond{cm[1], vals})
	}
	var out []billsync.SObject
	for id, r := range o.records {
		if o.objects[id] != m[2] {
			continue
		}
		ok := true
		for _, c := range conds {
			v := o.valueLocked(r, c.path)
			if !slices.ContainsFunc(c.vals, func(x string) bool { return x == v || len(x) == 15 && strings.HasPrefix(v, x) }) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		row := billsync.SObject{}
		for _, f := range fields {
			if strings.Contains(f, ".") {
				rel, sub, _ := strings.Cut(f, ".")
				parent := o.records[r.Str(rel+"Id")]
				if parent != nil {
					row[rel] = map[string]any{sub: parent[sub]}
				}
				continue
			}
			if f == fieldCurrency && !o.multi {
				return nil, fmt.Errorf("INVALID_FIELD: No such column 'CurrencyIsoCode'")
			}
			row[f] = r[f]
		}
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b billsync.SObject) int { return strings.Compare(a.ID(), b.ID()) })
	if m[4] != "" && len(out) > 1 {
		out = out[:1] // quote sync only ever asks for LIMIT 1
	}
	return out, nil
}

func (o *fakeOrg) valueLocked(r billsync.SObject, path string) string {
	if rel, sub, ok := strings.Cut(path, "."); ok {
		return o.records[r.Str(rel+"Id")].Str(sub)
	}
	return r.Str(path)
}

func (o *fakeOrg) Describe(ctx context.Context, object string) (*billsync.SObjectDescribe, error) {
	o.mu.Lock()
	o.calls["describe"]++
	o.mu.Unlock()
	f := func(name, typ string, scale int) billsync.FieldDescribe {
		return billsync.FieldDescribe{Name: name, Type: typ, Scale: scale, Createable: true, Updateable: true, Length: 255}
	}
	d := &billsync.SObjectDescribe{Name: object}
	status := []billsync.FieldDescribe{f("LastSystemToUpdate__c", "picklist", 0), f("BillingSyncStatus__c", "string", 0),
		f("BillingSyncError__c", "textarea", 0), f("BillingLastSyncedAt__c", "datetime", 0)}
	switch object {
	case "Quote":
		d.Fields = []billsync.FieldDescribe{f("Name", "string", 0), f("Status", "picklist", 0), f("Description", "textarea", 0),
			f("ExpirationDate", "date", 0), f("region__c", "string", 0), f("BillingQuoteId__c", "string", 0), f("IsDeletedInBilling__c", "boolean", 0)}
		d.Fields = append(d.Fields, status...)
	case "QuoteLineItem":
		d.Fields = []billsync.FieldDescribe{f("Quantity", "double", 2), f("UnitPrice", "currency", 2), f("Description", "textarea", 0),
			f("BillingOfferingId__c", "string", 0), f("BillingOfferingName__c", "string", 0), f("BillingQuoteItemId__c", "string", 0),
			f("OverrideOpportunitySync__c", "picklist", 0)}
		d.Fields = append(d.Fields, status...)
	case "Opportunity":
		d.Fields = []billsync.FieldDescribe{f("Name", "string", 0), f("StageName", "picklist", 0), f("BillingQuoteId__c", "string", 0)}
		d.Fields[0].Length = 120
	case "OpportunityLineItem":
		d.Fields = []billsync.FieldDescribe{f("Quantity", "double", 2), f("UnitPrice", "currency", 2), f("Description", "textarea", 0),
			f("BillingQuoteItemId__c", "string", 0)}
	}
	if o.multi {
		d.Fields = append(d.Fields, f(fieldCurrency, "picklist", 0))
	}
	return d, nil
}

func (o *fakeOrg) RetrieveRecords(ctx context.Context, object string, fields []string, ids []string) ([]billsync.SObject, error) {
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = "'" + id + "'"
	}
	return o.Query(ctx, "SELECT "+strings.Join(fields, ", ")+" FROM "+object+" WHERE Id IN ("+strings.Join(quoted, ", ")+")")
}
