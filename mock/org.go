package mock

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/salesforce/rest"
)

var _ billsync.CRM = (*Org)(nil)

// Default identity of an Org.
const (
	UserID = "005000000000001AAA"
	OrgID  = "00D000000000001AAA"
)

// FieldCurrency is the field a multi-currency org adds to every object.
const FieldCurrency = "CurrencyIsoCode"

// Call is one call made to an Org.
type Call struct {
	Method  string // identity, upsert, create, update, delete, retrieve, query, retrieveRecords, describe
	Object  string // "" for identity, delete and query
	Records int    // records written or ids asked for
	SOQL    string // query only
}

func (c Call) String() string {
	if c.Object == "" {
		return c.Method
	}
	return c.Method + " " + c.Object
}

// Org is an in-memory Salesforce org. Records are kept per object with
// ids of 18 characters whose prefix names the object, as Salesforce's
// do. Writes behave as sObject Collections do: one result per record, a
// failing record does not stop the others.
//
// Set the exported fields before the Org is used; the hooks may then be
// swapped between calls, not during them.
type Org struct {
	// MultiCurrency makes FieldCurrency a field of every object; in a
	// single-currency org writing or selecting it fails with INVALID_FIELD.
	MultiCurrency bool
	// Hook, when set, is called at the start of every call, before the
	// org is locked: an error fails the whole call, and a hook that blocks
	// holds the call (and only it) until it returns.
	Hook func(ctx context.Context, c Call) error
	// FailRecord, when set, answers the write of one record with a
	// per-record error (a delete passes the record as {"Id": id}).
	FailRecord func(object string, rec billsync.SObject) *billsync.FieldError
	// CreateOnly lists, per object, fields an update refuses with
	// INVALID_FIELD_FOR_INSERT_UPDATE; nil: StandardCreateOnly.
	CreateOnly map[string][]string
	// Cascade names, per child object, its master-detail field: deleting
	// the master deletes its details. nil: StandardCascade.
	Cascade map[string]string
	// Describes overrides Describe per object; others get
	// StandardDescribe.
	Describes map[string]*billsync.SObjectDescribe

	mu       sync.Mutex
	records  map[string]billsync.SObject // by Id
	objects  map[string]string           // Id → object
	prefixes map[string]string           // object → id prefix
	next     int
	calls    []Call
}

// NewOrg returns an empty single-currency org.
func NewOrg() *Org { return &Org{} }

// StandardCreateOnly are the fields of standard objects that Salesforce
// does not let an update change.
var StandardCreateOnly = map[string][]string{
	"Quote":               {"OpportunityId"},
	"QuoteLineItem":       {"QuoteId", "PricebookEntryId", "Product2Id"},
	"OpportunityLineItem": {"OpportunityId", "PricebookEntryId", "Product2Id"},
}

// StandardCascade are the master-detail relationships of the default
// schema (SPEC §2) and of the standard quote objects.
var StandardCascade = map[string]string{
	"QuoteLineItem":                "QuoteId",
	"OpportunityLineItem":          "OpportunityId",
	"BillingBalance__c":            "BillingAccount__c",
	"BillingBalanceTransaction__c": "BillingBalance__c",
}

// ownerObjects get the integration user as OwnerId when created without one.
var ownerObjects = map[string]bool{"Account": true, "Opportunity": true, "Quote": true}

var standardPrefixes = map[string]string{"Account": "001", "User": "005", "Opportunity": "006", "Quote": "0Q0",
	"QuoteLineItem": "0QL", "OpportunityLineItem": "00k", "Product2": "01t", "Pricebook2": "01s", "PricebookEntry": "01u"}

// call records c and runs the hook.
func (o *Org) call(ctx context.Context, c Call) error {
	o.mu.Lock()
	o.calls = append(o.calls, c)
	o.mu.Unlock()
	if o.Hook != nil {
		return o.Hook(ctx, c)
	}
	return nil
}

func (o *Org) initLocked() {
	if o.records == nil {
		o.records, o.objects, o.prefixes = map[string]billsync.SObject{}, map[string]string{}, map[string]string{}
	}
}

func (o *Org) newIDLocked(object string) string {
	o.initLocked()
	p, ok := standardPrefixes[object]
	if !ok {
		if p, ok = o.prefixes[object]; !ok {
			p = fmt.Sprintf("a%02d", len(o.prefixes)+1)
			o.prefixes[object] = p
		}
	}
	o.next++
	return fmt.Sprintf("%s%012dAAA", p, o.next)
}

// Put stores a record of object as it is (no hooks, no checks, not
// counted), resolving parents named by external id when it can, and
// returns its new id.
func (o *Org) Put(object string, rec billsync.SObject) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	id := o.newIDLocked(object)
	c := billsync.SObject{}
	for k, v := range rec {
		if m, ok := v.(map[string]any); ok {
			if pid, fe := o.resolveParentLocked(k, m); fe == nil {
				c[lookupField(k)] = pid
				continue
			}
		}
		c[k] = v
	}
	c["Id"] = id
	o.records[id], o.objects[id] = c, object
	return id
}

// Set changes one field of a record, as a Salesforce user would.
func (o *Org) Set(id, field string, v any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r, ok := o.records[id]; ok {
		r[field] = v
	}
}

// Remove deletes a record without cascading, as if deleted behind
// billsync's back.
func (o *Org) Remove(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.records, id)
	delete(o.objects, id)
}

// Get returns a copy of a record, nil when there is none.
func (o *Org) Get(id string) billsync.SObject {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.records[id])
}

// All returns copies of the records of object whose fields equal the
// given field, value pairs, in id order.
func (o *Org) All(object string, fieldValues ...string) []billsync.SObject {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []billsync.SObject
	for id, r := range o.records {
		if o.objects[id] != object {
			continue
		}
		ok := true
		for i := 0; i+1 < len(fieldValues); i += 2 {
			ok = ok && r.Str(fieldValues[i]) == fieldValues[i+1]
		}
		if ok {
			out = append(out, maps.Clone(r))
		}
	}
	slices.SortFunc(out, func(a, b billsync.SObject) int { return strings.Compare(a.ID(), b.ID()) })
	return out
}

// Find returns the first record of object whose field equals value, nil
// when there is none.
func (o *Org) Find(object, field, value string) billsync.SObject {
	if rs := o.All(object, field, value); len(rs) > 0 {
		return rs[0]
	}
	return nil
}

// Calls returns every call made so far, in order.
func (o *Org) Calls() []Call {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.calls)
}

// CallLog returns the calls as "method object" strings.
func (o *Org) CallLog() []string {
	var out []string
	for _, c := range o.Calls() {
		out = append(out, c.String())
	}
	return out
}

// CallCount counts the calls by method.
func (o *Org) CallCount() map[string]int {
	out := map[string]int{}
	for _, c := range o.Calls() {
		out[c.Method]++
	}
	return out
}

// Writes is the number of write calls (upsert, create, update, delete).
func (o *Org) Writes() int {
	c := o.CallCount()
	return c["upsert"] + c["create"] + c["update"] + c["delete"]
}

// RecordsWritten is the number of records of object sent in upsert,
// create and update calls, failed ones included: what a test counts to
// check that only what differs is written.
func (o *Org) RecordsWritten(object string) int {
	n := 0
	for _, c := range o.Calls() {
		if c.Object == object && (c.Method == "upsert" || c.Method == "create" || c.Method == "update") {
			n += c.Records
		}
	}
	return n
}

// Identity returns UserID and OrgID.
func (o *Org) Identity(ctx context.Context) (string, string, error) {
	if err := o.call(ctx, Call{Method: "identity"}); err != nil {
		return "", "", err
	}
	return UserID, OrgID, nil
}

// Upsert writes records by their external id: a record whose value is not
// found is created, the one found is updated.
func (o *Org) Upsert(ctx context.Context, object, extField string, recs []billsync.SObject) ([]billsync.SaveResult, error) {
	if err := o.call(ctx, Call{Method: "upsert", Object: object, Records: len(recs)}); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.initLocked()
	out := make([]billsync.SaveResult, 0, len(recs))
	for _, r := range recs {
		ext := r.Str(extField)
		if ext == "" {
			out = append(out, failed(billsync.FieldError{StatusCode: "MISSING_ARGUMENT", Message: extField + " not specified", Fields: []string{extField}}))
			continue
		}
		id := ""
		for rid, ex := range o.records {
			if o.objects[rid] == object && ex.Str(extField) == ext {
				id = rid
				break
			}
		}
		if id == "" {
			out = append(out, o.createLocked(object, r))
			continue
		}
		r = maps.Clone(r)
		r["Id"] = id
		out = append(out, o.updateLocked(object, r))
	}
	return out, nil
}

// Create inserts records.
func (o *Org) Create(ctx context.Context, object string, recs []billsync.SObject) ([]billsync.SaveResult, error) {
	if err := o.call(ctx, Call{Method: "create", Object: object, Records: len(recs)}); err != nil {
		return nil, err
	}
	return o.writeEach(object, recs, o.createLocked), nil
}

// Update patches records by their Id.
func (o *Org) Update(ctx context.Context, object string, recs []billsync.SObject) ([]billsync.SaveResult, error) {
	if err := o.call(ctx, Call{Method: "update", Object: object, Records: len(recs)}); err != nil {
		return nil, err
	}
	return o.writeEach(object, recs, o.updateLocked), nil
}

// writeEach takes the org's lock and applies write to every record, one
// result per record.
func (o *Org) writeEach(object string, recs []billsync.SObject, write func(string, billsync.SObject) billsync.SaveResult) []billsync.SaveResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.initLocked()
	out := make([]billsync.SaveResult, 0, len(recs))
	for _, r := range recs {
		out = append(out, write(object, r))
	}
	return out
}

// Delete removes records and, through Cascade, their details.
func (o *Org) Delete(ctx context.Context, ids []string) ([]billsync.SaveResult, error) {
	if err := o.call(ctx, Call{Method: "delete", Records: len(ids)}); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.initLocked()
	out := make([]billsync.SaveResult, 0, len(ids))
	for _, id := range ids {
		if _, ok := o.records[id]; !ok {
			out = append(out, failed(entityDeleted))
			continue
		}
		if fe := o.failLocked(o.objects[id], billsync.SObject{"Id": id}); fe != nil {
			out = append(out, failed(*fe))
			continue
		}
		o.deleteLocked(id)
		out = append(out, billsync.SaveResult{ID: id, Success: true})
	}
	return out, nil
}

var entityDeleted = billsync.FieldError{StatusCode: "ENTITY_IS_DELETED", Message: "entity is deleted", Fields: []string{}}

func failed(fe billsync.FieldError) billsync.SaveResult {
	return billsync.SaveResult{Errors: []billsync.FieldError{fe}}
}

func (o *Org) deleteLocked(id string) {
	cascade := o.Cascade
	if cascade == nil {
		cascade = StandardCascade
	}
	for cid, r := range o.records {
		if field, ok := cascade[o.objects[cid]]; ok && r.Str(field) == id && cid != id {
			o.deleteLocked(cid)
		}
	}
	delete(o.records, id)
	delete(o.objects, id)
}

func (o *Org) failLocked(object string, r billsync.SObject) *billsync.FieldError {
	if o.FailRecord == nil {
		return nil
	}
	fe := o.FailRecord(object, r)
	if fe != nil {
		// The real client classifies each record's failure; so does the fake.
		fe.Transient, fe.RateLimited = rest.TransientCode(fe.StatusCode), rest.RateLimitedCode(fe.StatusCode)
	}
	return fe
}

// checkLocked runs the checks every write makes; it returns the record
// with parents named by external id resolved into lookup ids.
func (o *Org) checkLocked(object string, r billsync.SObject) (billsync.SObject, *billsync.FieldError) {
	if fe := o.failLocked(object, r); fe != nil {
		return nil, fe
	}
	if _, ok := r[FieldCurrency]; ok && !o.MultiCurrency {
		return nil, &billsync.FieldError{StatusCode: "INVALID_FIELD", Message: "No such column '" + FieldCurrency + "' on sobject of type " + object, Fields: []string{}}
	}
	out := billsync.SObject{}
	for k, v := range r {
		m, ok := v.(map[string]any)
		if !ok {
			out[k] = v
			continue
		}
		pid, fe := o.resolveParentLocked(k, m)
		if fe != nil {
			return nil, fe
		}
		out[lookupField(k)] = pid
	}
	return out, nil
}

func (o *Org) createLocked(object string, r billsync.SObject) billsync.SaveResult {
	c, fe := o.checkLocked(object, r)
	if fe != nil {
		return failed(*fe)
	}
	id := o.newIDLocked(object)
	c["Id"] = id
	if _, ok := c["OwnerId"]; !ok && ownerObjects[object] {
		c["OwnerId"] = UserID
	}
	o.records[id], o.objects[id] = c, object
	return billsync.SaveResult{ID: id, Success: true, Created: true}
}

func (o *Org) updateLocked(object string, r billsync.SObject) billsync.SaveResult {
	ex, ok := o.records[r.ID()]
	if !ok {
		return failed(entityDeleted)
	}
	if o.objects[r.ID()] != object {
		return failed(billsync.FieldError{StatusCode: "MALFORMED_ID", Message: fmt.Sprintf("%s is not an id of %s", r.ID(), object), Fields: []string{"Id"}})
	}
	c, fe := o.checkLocked(object, r)
	if fe != nil {
		return failed(*fe)
	}
	createOnly := o.CreateOnly
	if createOnly == nil {
		createOnly = StandardCreateOnly
	}
	var bad []string
	for _, f := range createOnly[object] {
		if _, ok := r[f]; ok {
			bad = append(bad, f)
		}
	}
	if len(bad) > 0 {
		return failed(billsync.FieldError{StatusCode: "INVALID_FIELD_FOR_INSERT_UPDATE", Message: "Unable to create/update fields: " + strings.Join(bad, ", "), Fields: bad})
	}
	for k, v := range c {
		ex[k] = v
	}
	return billsync.SaveResult{ID: r.ID(), Success: true}
}

// lookupField is the field holding the id of the parent a relationship
// names: BillingAccount__r → BillingAccount__c, Account → AccountId.
func lookupField(rel string) string {
	if base, ok := strings.CutSuffix(rel, "__r"); ok {
		return base + "__c"
	}
	return rel + "Id"
}

// resolveParentLocked finds the parent a relationship value names by an
// external id ({"BillingId__c": "acc_1"}), preferring the object the
// relationship is named after.
func (o *Org) resolveParentLocked(rel string, ref map[string]any) (string, *billsync.FieldError) {
	if len(ref) != 1 {
		return "", &billsync.FieldError{StatusCode: "INVALID_FIELD", Message: fmt.Sprintf("%s must name its parent by exactly one external id field", rel), Fields: []string{rel}}
	}
	var field, value string
	for k, v := range ref {
		field, value = k, fmt.Sprint(v)
	}
	object := lookupField(rel)
	if !strings.HasSuffix(rel, "__r") {
		object = rel
	}
	other := ""
	for id, r := range o.records {
		if r.Str(field) != value {
			continue
		}
		if o.objects[id] == object {
			return id, nil
		}
		other = id
	}
	if other != "" {
		return other, nil
	}
	return "", &billsync.FieldError{StatusCode: "INVALID_FIELD", Fields: []string{},
		Message: fmt.Sprintf("Foreign key external ID: %s not found for field %s in entity %s", value, field, object)}
}
