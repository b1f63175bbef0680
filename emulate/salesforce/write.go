package salesforce

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// apiError is a failure as the REST API reports it.
type apiError struct {
	Status  int
	Code    string
	Message string
	// Fields is sent for save (DML) errors, even when empty; nil omits it.
	Fields []string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newErr(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// dmlErr is a save error: HTTP 400 with a fields array.
func dmlErr(code string, fields []string, format string, args ...any) *apiError {
	if fields == nil {
		fields = []string{}
	}
	return &apiError{Status: 400, Code: code, Message: fmt.Sprintf(format, args...), Fields: fields}
}

func errNotFound() *apiError {
	return newErr(404, "NOT_FOUND", "The requested resource does not exist")
}

func errDeleted() *apiError {
	return &apiError{Status: 404, Code: "ENTITY_IS_DELETED", Message: "entity is deleted", Fields: []string{}}
}

// tx is one all-or-nothing unit of writes. Records are changed in place;
// the first change to each keeps a copy so rollback can restore it.
// Platform events wait for commit, as PublishAfterCommit events do.
type tx struct {
	e           *Emulator
	user        *userRec
	now         time.Time
	undo        map[string]*record // id → record before the tx (nil: did not exist)
	order       []string
	events      []map[string]any
	eventObject string
	// published holds the EventUuid of each event published over REST.
	published []string
	// cdc holds the change events to publish at commit (cdc.go), under
	// one transactionKey.
	cdc   []cdcPending
	txKey string
}

// begin starts a transaction; the caller holds e.mu.
func (e *Emulator) beginLocked(u *userRec) *tx {
	return &tx{e: e, user: u, now: e.clock(), undo: map[string]*record{}}
}

func (t *tx) touch(id string) {
	if _, ok := t.undo[id]; ok {
		return
	}
	if r := t.e.records[id]; r != nil {
		t.undo[id] = r.clone()
	} else {
		t.undo[id] = nil
	}
	t.order = append(t.order, id)
}

func (t *tx) rollback() {
	for i := len(t.order) - 1; i >= 0; i-- {
		id := t.order[i]
		t.e.removeLocked(id)
		if old := t.undo[id]; old != nil {
			t.e.putLocked(old)
		}
	}
	t.undo, t.order, t.events, t.cdc = map[string]*record{}, nil, nil, nil
	t.e.journalLocked() // ids and numbers the tx took stay taken
}

// savepoint and rollbackTo give allOrNone=false requests per-record
// atomicity inside one tx.
type savepoint struct{ n, events, cdc int }

func (t *tx) savepoint() savepoint { return savepoint{len(t.order), len(t.events), len(t.cdc)} }

func (t *tx) rollbackTo(sp savepoint) {
	for i := len(t.order) - 1; i >= sp.n; i-- {
		id := t.order[i]
		t.e.removeLocked(id)
		if old := t.undo[id]; old != nil {
			t.e.putLocked(old)
		}
		delete(t.undo, id)
	}
	t.order = t.order[:sp.n]
	t.events = t.events[:sp.events]
	t.cdc = t.cdc[:sp.cdc]
}

// commit journals the tx's changes, then publishes its events.
func (t *tx) commit() {
	t.e.journalLocked()
	for _, p := range t.events {
		ch := eventChannel(t.eventObject)
		t.e.bus.Publish(ch, p)
	}
	t.publishCDC()
}

// ---------------------------------------------------------------- trigger

// changeEvent applies BillingSyncTrigger's after-trigger rule: a write by a
// user without the BillsyncIntegration permission publishes
// BillingObjectChange__e; billsync's own writes publish nothing.
func (t *tx) changeEvent(o *objectDef, id, changeType string) {
	t.cdcEvent(o, id, changeType)
	if !o.Triggered || t.user.integration || t.e.cdc.noTrigger {
		return
	}
	ev := t.e.eventObject()
	if ev == "" {
		return
	}
	t.eventObject = ev
	t.events = append(t.events, map[string]any{
		"ObjectType__c": o.Name,
		"RecordId__c":   id,
		"ChangeType__c": changeType,
		"CreatedById":   t.user.ID,
		"CreatedDate":   t.now.UTC().Format("2006-01-02T15:04:05.000Z"),
	})
}

// beforeTrigger applies the before-insert/update rule to r, the record as
// it would be saved (old: as it stands; nil on insert). A user's write is
// stamped LastSystemToUpdate__c = sfdc; billsync's is left as written. The
// revision (SPEC D4) starts at 0 on insert and goes up by one on every
// update by anyone but the integration user; an integration update that
// carries a revision other than the record's is refused with the
// handler's STALE_REVISION text, and one that leaves it out keeps it.
// In an org without the trigger (Options.NoTrigger) the fields may exist,
// but nothing stamps or checks them.
func (t *tx) beforeTrigger(o *objectDef, r, old *record) *apiError {
	if !o.Triggered || t.e.cdc.noTrigger {
		return nil
	}
	if !t.user.integration && o.field("LastSystemToUpdate__c") != nil {
		r.Fields["LastSystemToUpdate__c"] = "sfdc"
	}
	rule := t.e.meta.Rule
	f := o.field(rule.RevisionField)
	if f == nil {
		return nil
	}
	if old == nil {
		r.Fields[f.Name] = json.Number("0")
		return nil
	}
	current := revisionOf(old.Fields[f.Name])
	if t.user.integration {
		if revisionOf(r.Fields[f.Name]) != current {
			return dmlErr("FIELD_CUSTOM_VALIDATION_EXCEPTION", nil, "%s", rule.StaleRevision)
		}
		return nil
	}
	r.Fields[f.Name] = json.Number(strconv.FormatInt(current+1, 10))
	return nil
}

// revisionOf reads a stored revision; empty counts as 0, as the handler
// counts it.
func revisionOf(v any) int64 {
	m, err := billsync.ParseMoney(scalarString(v))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(m.Canonical(), 10, 64)
	return n
}

// eventObject is the platform event the trigger publishes.
func (e *Emulator) eventObject() string {
	for _, o := range e.meta.Objects {
		if o.Kind == "event" {
			return o.Name
		}
	}
	return ""
}

// ---------------------------------------------------------------- body

// parseBody decodes a JSON object keeping numbers exact.
func parseBody(b []byte) (map[string]any, *apiError) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, newErr(400, "JSON_PARSER_ERROR", "%s", jsonErrorMessage(err))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, newErr(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sobject from %s", jsonKind(v))
	}
	return m, nil
}

func jsonErrorMessage(err error) string {
	return "Unexpected character in the request body: " + err.Error()
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "START_ARRAY value"
	case string:
		return "VALUE_STRING value"
	case nil:
		return "VALUE_NULL value"
	}
	return "VALUE value"
}

// ---------------------------------------------------------------- writes

// insertLocked creates a record of o from body.
func (t *tx) insert(o *objectDef, body map[string]any) (string, *apiError) {
	if o.Event {
		return t.publishEvent(o, body)
	}
	if o.Setup {
		return "", dmlErr("INSUFFICIENT_ACCESS_OR_READONLY", nil, "insufficient access rights on object")
	}
	if takeID(body) != "" {
		return "", dmlErr("INVALID_FIELD", nil, "cannot specify Id in an insert call")
	}
	vals, err := t.coerceBody(o, body, true)
	if err != nil {
		return "", err
	}
	r := &record{Object: o.Name, ID: t.e.nextIDLocked(o.KeyPrefix), Fields: map[string]any{}}
	for _, f := range o.Fields {
		if f.Type == "id" || f.Name == "IsDeleted" {
			continue
		}
		if f.DefaultedOnCreate && f.DefaultValue != nil {
			r.Fields[f.Name] = f.DefaultValue
		} else {
			r.Fields[f.Name] = nil
		}
	}
	for k, v := range vals {
		r.Fields[k] = v
	}
	t.prefill(o, r)
	var missing []string
	for _, f := range o.Fields {
		if f.requiredOnCreate() && r.Fields[f.Name] == nil {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		return "", dmlErr("REQUIRED_FIELD_MISSING", missing, "Required fields are missing: [%s]", strings.Join(missing, ", "))
	}
	t.e.stampCreateLocked(r, t.user.ID, t.now)
	if f := o.field("OwnerId"); f != nil && r.Fields["OwnerId"] == nil {
		r.Fields["OwnerId"] = t.user.ID
	}
	if f := o.field("Name"); f != nil {
		switch {
		case f.AutoNumber:
			r.Fields["Name"] = formatAutoNumber(f.DisplayFormat, t.e.nextAutoNumberLocked(o.Name))
		case o.Custom && r.Fields["Name"] == nil:
			// A custom record saved without a name is named by its
			// 15-character id, as a real org does.
			r.Fields["Name"] = r.ID[:15]
		}
	}
	t.derive(o, r)
	if err := t.beforeSave(o, r, nil, vals); err != nil {
		return "", err
	}
	if err := t.beforeTrigger(o, r, nil); err != nil {
		return "", err
	}
	if err := t.checkUnique(o, r); err != nil {
		return "", err
	}
	r.Writes = 1
	t.touch(r.ID)
	t.e.putLocked(r)
	if err := t.afterSave(o, r); err != nil {
		return "", err
	}
	t.changeEvent(o, r.ID, "INSERT")
	return r.ID, nil
}

// update patches a live record of o.
func (t *tx) update(o *objectDef, id string, body map[string]any) *apiError {
	r, err := t.e.liveLocked(o, id)
	if err != nil {
		return err
	}
	if s := takeID(body); s != "" {
		if n, ok := normalizeID(s); !ok || n != r.ID {
			return dmlErr("INVALID_FIELD", []string{"Id"}, "The Id field should not be specified in the sobject data.")
		}
	}
	vals, aerr := t.coerceBody(o, body, false)
	if aerr != nil {
		return aerr
	}
	next := r.clone()
	for k, v := range vals {
		next.Fields[k] = v
	}
	for k := range vals {
		if f := o.field(k); f != nil && !f.Nillable && f.Type != "boolean" && next.Fields[k] == nil {
			return dmlErr("REQUIRED_FIELD_MISSING", []string{f.Name}, "Required fields are missing: [%s]", f.Name)
		}
	}
	ts := formatDateTime(t.now)
	next.Fields["LastModifiedDate"] = ts
	next.Fields["LastModifiedById"] = t.user.ID
	next.Fields["SystemModstamp"] = ts
	t.derive(o, next)
	t.prefill(o, next)
	if err := t.beforeSave(o, next, r, vals); err != nil {
		return err
	}
	if err := t.beforeTrigger(o, next, r); err != nil {
		return err
	}
	if err := t.checkUnique(o, next); err != nil {
		return err
	}
	next.Writes++
	t.touch(r.ID)
	t.e.putLocked(next)
	if err := t.afterSave(o, next); err != nil {
		return err
	}
	t.changeEvent(o, r.ID, "UPDATE")
	return nil
}

// upsert matches body by the external id field and updates or inserts.
func (t *tx) upsert(o *objectDef, extField, value string, body map[string]any) (string, bool, *apiError) {
	f := o.field(extField)
	if f == nil || !(f.ExternalID || f.Type == "id") {
		return "", false, newErr(404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: %s", extField)
	}
	if f.Type == "id" {
		if value == "" {
			return t.insertReturning(o, body)
		}
		id, ok := normalizeID(value)
		if !ok {
			return "", false, newErr(400, "MALFORMED_ID", "Id in upsert is not valid")
		}
		takeID(body)
		return id, false, t.update(o, id, body)
	}
	matches := t.e.findByFieldLocked(o, f, value)
	switch len(matches) {
	case 0:
		if value != "" {
			body[f.Name] = value
		}
		return t.insertReturning(o, body)
	case 1:
		return matches[0], false, t.update(o, matches[0], body)
	}
	return "", false, &apiError{Status: 300, Code: "MULTIPLE_CHOICES", Message: strings.Join(matches, ","), Fields: matches}
}

func (t *tx) insertReturning(o *objectDef, body map[string]any) (string, bool, *apiError) {
	id, err := t.insert(o, body)
	return id, err == nil, err
}

// delete moves a record (and the master-detail children under it) to the
// recycle bin, and clears lookups to it.
func (t *tx) delete(id string) *apiError {
	r := t.e.records[id]
	if r == nil {
		return &apiError{Status: 404, Code: "INVALID_CROSS_REFERENCE_KEY", Message: "invalid cross reference id", Fields: []string{}}
	}
	if r.Deleted {
		return errDeleted()
	}
	o := t.e.schema.object(r.Object)
	if o.Event || o.Name == "User" || o.Setup {
		return dmlErr("INSUFFICIENT_ACCESS_OR_READONLY", nil, "insufficient access rights on object id")
	}
	if o.Name == "Pricebook2" && r.Fields["IsStandard"] == true {
		return dmlErr("STANDARD_PRICE_NOT_DEFINED", nil, "You can't delete the standard price book.")
	}
	t.markDeleted(r, "")
	t.afterRemove(r)
	t.changeEvent(o, r.ID, "DELETE")
	return nil
}

func (t *tx) markDeleted(r *record, with string) {
	t.touch(r.ID)
	d := r.clone()
	d.Deleted, d.DeletedWith = true, with
	d.Fields["IsDeleted"] = true
	ts := formatDateTime(t.now)
	d.Fields["LastModifiedDate"], d.Fields["LastModifiedById"], d.Fields["SystemModstamp"] = ts, t.user.ID, ts
	t.e.putLocked(d)
	root := with
	if root == "" {
		root = r.ID
	}
	for _, child := range t.e.referencingLocked(r) {
		if child.f.MasterDetail || child.f.CascadeDelete {
			if !child.r.Deleted {
				t.markDeleted(child.r, root)
			}
			continue
		}
		if !child.r.Deleted {
			t.touch(child.r.ID)
			c := child.r.clone()
			c.Fields[child.f.Name] = nil
			t.e.putLocked(c)
		}
	}
}

type childRef struct {
	r *record
	f *fieldDef
}

// referencingLocked lists records whose reference fields point at r.
func (e *Emulator) referencingLocked(r *record) []childRef {
	var out []childRef
	for _, o := range e.schema.objects {
		for _, f := range o.Fields {
			if f.Type != "reference" || !containsFold(f.ReferenceTo, r.Object) || f.Name == "CreatedById" || f.Name == "LastModifiedById" {
				continue
			}
			for _, c := range e.sortedLocked(o.Name, true) {
				if c.Fields[f.Name] == r.ID {
					out = append(out, childRef{c, f})
				}
			}
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// undelete restores a record from the recycle bin with the children its
// delete took along.
func (t *tx) undelete(id string) *apiError {
	r := t.e.records[id]
	if r == nil {
		return errNotFound()
	}
	if !r.Deleted {
		return dmlErr("UNDELETE_FAILED", nil, "Entity is not in the recycle bin")
	}
	if r.DeletedWith != "" {
		return dmlErr("UNDELETE_FAILED", nil, "Entity is deleted with its parent %s; undelete that record", r.DeletedWith)
	}
	o := t.e.schema.object(r.Object)
	restore := []*record{r}
	for _, c := range t.e.records {
		if c.Deleted && c.DeletedWith == r.ID {
			restore = append(restore, c)
		}
	}
	for _, c := range restore {
		u := c.clone()
		u.Deleted, u.DeletedWith = false, ""
		u.Fields["IsDeleted"] = false
		co := t.e.schema.object(u.Object)
		if err := t.checkUnique(co, u); err != nil {
			return err
		}
		t.touch(u.ID)
		t.e.putLocked(u)
	}
	for _, c := range restore {
		t.afterRemove(c)
	}
	t.changeEvent(o, r.ID, "UNDELETE")
	return nil
}

// publishEvent publishes a platform event posted over REST.
func (t *tx) publishEvent(o *objectDef, body map[string]any) (string, *apiError) {
	vals, err := t.coerceBody(o, body, true)
	if err != nil {
		return "", err
	}
	p := map[string]any{}
	for _, f := range o.Fields {
		if f.Custom {
			p[f.Name] = vals[f.Name]
		}
	}
	p["CreatedById"] = t.user.ID
	p["CreatedDate"] = t.now.UTC().Format("2006-01-02T15:04:05.000Z")
	id := t.e.nextIDLocked(o.KeyPrefix)
	// A REST publish is its own transaction, so the event goes out at once;
	// its EventUuid is reported back as OPERATION_ENQUEUED.
	ev := t.e.bus.Publish(eventChannel(o.Name), p)
	t.published = append(t.published, ev.UUID)
	return id, nil
}

// derive fills fields Salesforce computes from others.
func (t *tx) derive(o *objectDef, r *record) {
	switch o.Name {
	case "Opportunity":
		stage, _ := r.Fields["StageName"].(string)
		r.Fields["IsClosed"] = stage == "Closed Won" || stage == "Closed Lost"
		r.Fields["IsWon"] = stage == "Closed Won"
	case "Quote":
		if opp := t.e.records[str(r.Fields["OpportunityId"])]; opp != nil {
			r.Fields["AccountId"] = opp.Fields["AccountId"]
		}
		if r.Fields["QuoteNumber"] == nil {
			r.Fields["QuoteNumber"] = fmt.Sprintf("%08d", t.e.nextAutoNumberLocked("Quote"))
		}
	case "PricebookEntry", "QuoteLineItem", "OpportunityLineItem":
		if pbe := t.e.records[str(r.Fields["PricebookEntryId"])]; pbe != nil && o.Name != "PricebookEntry" {
			r.Fields["Product2Id"] = pbe.Fields["Product2Id"]
			if r.Fields["ListPrice"] == nil {
				r.Fields["ListPrice"] = pbe.Fields["UnitPrice"]
			}
		}
		if o.Name == "PricebookEntry" {
			if p := t.e.records[str(r.Fields["Product2Id"])]; p != nil {
				r.Fields["Name"], r.Fields["ProductCode"] = p.Fields["Name"], p.Fields["ProductCode"]
			}
		}
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

var autoNumberDigits = regexp.MustCompile(`\{(0+)\}`)

func formatAutoNumber(format string, n int64) string {
	if format == "" {
		format = "{0}"
	}
	return autoNumberDigits.ReplaceAllStringFunc(format, func(m string) string {
		return fmt.Sprintf("%0*d", len(m)-2, n)
	})
}

// checkUnique refuses a second live record with the same unique value.
func (t *tx) checkUnique(o *objectDef, r *record) *apiError {
	for _, f := range o.Fields {
		if !f.Unique {
			continue
		}
		s, ok := r.Fields[f.Name].(string)
		if !ok || s == "" {
			continue
		}
		if other := t.e.unique[uniqueKey(o.Name, f.Name)][uniqueValue(f, s)]; other != "" && other != r.ID {
			return dmlErr("DUPLICATE_VALUE", []string{}, "duplicate value found: %s duplicates value on record with id: %s", f.Name, other[:15])
		}
	}
	return nil
}

// liveLocked returns the live record id of object o.
func (e *Emulator) liveLocked(o *objectDef, id string) (*record, *apiError) {
	n, ok := normalizeID(id)
	if !ok {
		return nil, newErr(400, "MALFORMED_ID", "%s ID: id value of incorrect type: %s", o.Label, id)
	}
	r := e.records[n]
	if r == nil || !strings.EqualFold(r.Object, o.Name) {
		return nil, errNotFound()
	}
	if r.Deleted {
		return nil, errDeleted()
	}
	return r, nil
}

// findByFieldLocked lists live records of o whose field equals value.
func (e *Emulator) findByFieldLocked(o *objectDef, f *fieldDef, value string) []string {
	if value == "" {
		return nil
	}
	if f.Unique {
		if id := e.unique[uniqueKey(o.Name, f.Name)][uniqueValue(f, value)]; id != "" {
			return []string{id}
		}
		return nil
	}
	var out []string
	for _, r := range e.sortedLocked(o.Name, false) {
		if s, ok := r.Fields[f.Name].(string); ok && (s == value || !f.CaseSensitive && strings.EqualFold(s, value)) {
			out = append(out, r.ID)
		}
	}
	return out
}

// ---------------------------------------------------------------- coercion

// coerceBody validates a request body against o and converts each value
// to its stored form. Relationship objects naming a parent by external id
// ("BillingAccount__r": {"BillingId__c": "…"}) resolve to the parent's id.
func (t *tx) coerceBody(o *objectDef, body map[string]any, create bool) (map[string]any, *apiError) {
	out := map[string]any{}
	var readonly []string
	for k, v := range body {
		if k == "attributes" {
			continue
		}
		f := o.field(k)
		if f == nil {
			if rf := o.byRel[strings.ToLower(k)]; rf != nil {
				id, err := t.resolveRelationship(o, rf, v)
				if err != nil {
					return nil, err
				}
				if create && !rf.Createable || !create && !rf.Updateable {
					readonly = append(readonly, rf.Name)
					continue
				}
				out[rf.Name] = id
				continue
			}
			return nil, newErr(400, "INVALID_FIELD", "No such column '%s' on sobject of type %s", k, o.Name)
		}
		if create && !f.Createable || !create && !f.Updateable {
			readonly = append(readonly, f.Name)
			continue
		}
		cv, err := t.coerce(o, f, v)
		if err != nil {
			return nil, err
		}
		out[f.Name] = cv
	}
	if len(readonly) > 0 {
		return nil, dmlErr("INVALID_FIELD_FOR_INSERT_UPDATE", readonly,
			"Unable to create/update fields: %s. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
			strings.Join(readonly, ", "))
	}
	return out, nil
}

// resolveRelationship turns {"ExtField": value} into the parent's id.
func (t *tx) resolveRelationship(o *objectDef, rf *fieldDef, v any) (any, *apiError) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, newErr(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of %s from %s", rf.ReferenceTo[0], jsonKind(v))
	}
	parent := t.e.schema.object(rf.ReferenceTo[0])
	var key *fieldDef
	var value string
	for k, x := range m {
		if k == "attributes" {
			continue
		}
		pf := parent.field(k)
		if pf == nil {
			return nil, newErr(400, "INVALID_FIELD", "No such column '%s' on sobject of type %s", k, parent.Name)
		}
		if key != nil || !(pf.ExternalID || pf.Type == "id") {
			return nil, dmlErr("INVALID_FIELD", []string{}, "The %s relationship can only be set by one external id field; %s is not one", rf.RelationshipName, pf.Name)
		}
		key = pf
		value = scalarString(x)
	}
	if key == nil {
		return nil, dmlErr("INVALID_FIELD", []string{}, "The %s relationship names no external id field", rf.RelationshipName)
	}
	var ids []string
	if key.Type == "id" {
		if id, ok := normalizeID(value); ok {
			if r := t.e.records[id]; r != nil && !r.Deleted && strings.EqualFold(r.Object, parent.Name) {
				ids = []string{id}
			}
		}
	} else {
		ids = t.e.findByFieldLocked(parent, key, value)
	}
	switch len(ids) {
	case 0:
		return nil, dmlErr("INVALID_FIELD", []string{}, "Foreign key external ID: %s not found for field %s in entity %s", value, key.Name, parent.Name)
	case 1:
		return ids[0], nil
	}
	return nil, dmlErr("INVALID_FIELD", []string{}, "More than 1 record found for external id field: %s", key.Name)
}

func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

var (
	dateRE    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	emailRE   = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	dtLayouts = []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00"}
)

// coerce converts one value for field f, or reports the error a real org
// gives.
func (t *tx) coerce(o *objectDef, f *fieldDef, v any) (any, *apiError) {
	if v == nil || v == "" && f.Type != "string" && f.Type != "textarea" {
		if f.Type == "boolean" {
			return nil, dmlErr("INVALID_TYPE_ON_FIELD_IN_RECORD", []string{f.Name}, "%s: value not of required type: %v", f.Label, v)
		}
		return nil, nil
	}
	if _, ok := v.(map[string]any); ok {
		return nil, newErr(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of %s from START_OBJECT value { or request may be missing a required field", soapName(f))
	}
	if _, ok := v.([]any); ok {
		return nil, newErr(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of %s from START_ARRAY value [ or request may be missing a required field", soapName(f))
	}
	switch f.Type {
	case "string", "textarea", "email", "phone", "url", "picklist":
		s := scalarString(v)
		if n := len([]rune(s)); f.Length > 0 && n > f.Length {
			return nil, dmlErr("STRING_TOO_LONG", []string{f.Name}, "%s: data value too large: %s (max length=%d)", f.Label, s, f.Length)
		}
		if f.Type == "email" && !emailRE.MatchString(s) {
			return nil, dmlErr("INVALID_EMAIL_ADDRESS", []string{f.Name}, "%s: invalid email address: %s", f.Label, s)
		}
		if f.Type == "picklist" && f.Restricted && !containsExact(f.Picklist, s) {
			return nil, dmlErr("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", []string{f.Name}, "%s: bad value for restricted picklist field: %s", f.Label, s)
		}
		return s, nil
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if b, err := strconv.ParseBool(x); err == nil {
				return b, nil
			}
		}
		return nil, newErr(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of boolean from %s value %v or request may be missing a required field", valueKind(v), v)
	case "currency", "double", "percent", "int":
		s := scalarString(v)
		m, err := billsync.ParseMoney(s)
		if _, isBool := v.(bool); isBool || err != nil {
			return nil, newErr(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of %s from %s value %v or request may be missing a required field", soapName(f), valueKind(v), v)
		}
		scale, precision := f.Scale, f.Precision
		if f.Type == "int" {
			scale, precision = 0, f.Digits
			if m.Scale() > 0 {
				if _, lost := m.Round(0); lost {
					return nil, newErr(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of int from VALUE_NUMBER_FLOAT value %s or request may be missing a required field", s)
				}
			}
		}
		r, _ := m.Round(scale)
		if precision > 0 && intDigits(r.Canonical()) > precision-scale {
			return nil, dmlErr("NUMBER_OUTSIDE_VALID_RANGE", []string{f.Name}, "%s: value outside of valid range on numeric field: %s", f.Label, s)
		}
		return json.Number(r.Canonical()), nil
	case "date":
		s := scalarString(v)
		if !dateRE.MatchString(s) {
			if tm, ok := parseDateTime(s); ok {
				return tm.Format(time.DateOnly), nil
			}
			return nil, newErr(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of date from VALUE_STRING value %s or request may be missing a required field", s)
		}
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return nil, newErr(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of date from VALUE_STRING value %s or request may be missing a required field", s)
		}
		return s, nil
	case "datetime":
		s := scalarString(v)
		tm, ok := parseDateTime(s)
		if !ok {
			return nil, newErr(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of datetime from VALUE_STRING value %s or request may be missing a required field", s)
		}
		return formatDateTime(tm), nil
	case "reference":
		s := scalarString(v)
		id, ok := normalizeID(s)
		if !ok {
			return nil, dmlErr("MALFORMED_ID", []string{f.Name}, "%s: id value of incorrect type: %s", f.Label, s)
		}
		target := t.e.records[id]
		if target == nil || !containsFold(f.ReferenceTo, target.Object) {
			if target == nil && t.e.schema.byPrefix[id[:3]] != nil && containsFold(f.ReferenceTo, t.e.schema.byPrefix[id[:3]].Name) {
				return nil, dmlErr("INVALID_CROSS_REFERENCE_KEY", []string{f.Name}, "invalid cross reference id")
			}
			return nil, dmlErr("FIELD_INTEGRITY_EXCEPTION", []string{f.Name}, "%s: id value of incorrect type: %s", f.Label, s)
		}
		if target.Deleted {
			return nil, dmlErr("ENTITY_IS_DELETED", []string{f.Name}, "entity is deleted")
		}
		return id, nil
	case "id":
		return nil, dmlErr("INVALID_FIELD_FOR_INSERT_UPDATE", []string{f.Name}, "Unable to create/update fields: %s. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", f.Name)
	}
	return v, nil
}

func containsExact(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func soapName(f *fieldDef) string {
	switch f.Type {
	case "currency", "double", "percent":
		return "double"
	case "int":
		return "int"
	case "boolean":
		return "boolean"
	case "date":
		return "date"
	case "datetime":
		return "datetime"
	}
	return "string"
}

func valueKind(v any) string {
	switch v.(type) {
	case string:
		return "VALUE_STRING"
	case bool:
		return "VALUE_TRUE"
	case json.Number:
		return "VALUE_NUMBER_INT"
	}
	return "VALUE"
}

func intDigits(canonical string) int {
	s := strings.TrimPrefix(canonical, "-")
	s, _, _ = strings.Cut(s, ".")
	s = strings.TrimLeft(s, "0")
	return len(s)
}

func parseDateTime(s string) (time.Time, bool) {
	for _, l := range dtLayouts {
		if tm, err := time.Parse(l, s); err == nil {
			return tm.UTC(), true
		}
	}
	return time.Time{}, false
}

// takeID removes the record id from a body, matching the key without
// regard to case as Salesforce does (jsforce sends "id"), and returns it.
func takeID(body map[string]any) string {
	var id string
	for k, v := range body {
		if strings.EqualFold(k, "Id") {
			if s, ok := v.(string); ok {
				id = s
			}
			delete(body, k)
		}
	}
	return id
}
