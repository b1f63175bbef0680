package billsync

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// ObjectType names a billing entity type, as in webhook event types
// ("balance_transaction.updated") and settings keys ("deletes.balance").
type ObjectType string

const (
	ObjectAccount            ObjectType = "account"
	ObjectBalance            ObjectType = "balance"
	ObjectBalanceTransaction ObjectType = "balance_transaction"
	ObjectQuote              ObjectType = "quote"
)

// ObjectTypes lists every type, parents before children.
var ObjectTypes = []ObjectType{ObjectAccount, ObjectBalance, ObjectBalanceTransaction, ObjectQuote}

// ParseObjectType accepts the names above.
func ParseObjectType(s string) (ObjectType, error) {
	for _, t := range ObjectTypes {
		if string(t) == s {
			return t, nil
		}
	}
	return "", Errorf(EINVALID, "unknown object type %q (want account, balance, balance_transaction or quote)", s)
}

// Parent is the type this one belongs to ("" for an account or quote).
func (t ObjectType) Parent() ObjectType {
	switch t {
	case ObjectBalance:
		return ObjectAccount
	case ObjectBalanceTransaction:
		return ObjectBalance
	}
	return ""
}

// ParentField is the billing field holding the parent's id.
func (t ObjectType) ParentField() string {
	switch t {
	case ObjectBalance:
		return "accountId"
	case ObjectBalanceTransaction:
		return "balanceId"
	}
	return ""
}

// SwitchKey is the per-object settings switch covering this type (A2).
func (t ObjectType) SwitchKey() string {
	switch t {
	case ObjectAccount:
		return KeySyncAccounts
	case ObjectBalance, ObjectBalanceTransaction:
		return KeySyncBalances
	case ObjectQuote:
		return KeySyncQuotes
	}
	return ""
}

// Op is what happened to a record.
type Op string

const (
	OpCreated   Op = "created"
	OpUpdated   Op = "updated"
	OpDeleted   Op = "deleted"
	OpUndeleted Op = "undeleted"
)

// ParseOp accepts created, updated, deleted, undeleted (and Salesforce's
// INSERT, UPDATE, DELETE, UNDELETE, as the platform event carries them).
func ParseOp(s string) (Op, error) {
	switch strings.ToLower(s) {
	case "created", "create", "insert":
		return OpCreated, nil
	case "updated", "update":
		return OpUpdated, nil
	case "deleted", "delete":
		return OpDeleted, nil
	case "undeleted", "undelete":
		return OpUndeleted, nil
	}
	return "", Errorf(EINVALID, "unknown change type %q", s)
}

// Side names where a change came from, or which way it goes.
type Side string

const (
	SideBilling    Side = "billing"
	SideSalesforce Side = "salesforce"
)

// Direction of a sync-log entry.
type Direction string

const (
	ToSalesforce Direction = "billing_to_salesforce"
	ToBilling    Direction = "salesforce_to_billing"
)

// ParseDirection reads a sync-log direction: its name, or the short
// forms "to_salesforce" and "to_billing".
func ParseDirection(s string) (Direction, error) {
	switch s {
	case string(ToSalesforce), "to_salesforce":
		return ToSalesforce, nil
	case string(ToBilling), "to_billing":
		return ToBilling, nil
	}
	return "", Errorf(EINVALID, "direction %q: want %s or %s", s, ToSalesforce, ToBilling)
}

// Entity is a billing record as its JSON object: what a webhook's data and
// the billing REST API carry. Numbers are json.Number (decoded with
// UseNumber), money is a decimal string, so nothing passes through float64.
type Entity map[string]any

// DecodeEntity decodes a JSON object, keeping numbers exact.
func DecodeEntity(b []byte) (Entity, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var e Entity
	if err := dec.Decode(&e); err != nil {
		return nil, Errorf(EINVALID, "malformed JSON object: %v", err)
	}
	if e == nil {
		return nil, Errorf(EINVALID, "expected a JSON object, got null")
	}
	return e, nil
}

// Str returns a top-level field as a string ("" when absent or null);
// numbers are rendered exactly as received.
func (e Entity) Str(key string) string { return valueString(e[key]) }

// ID is the billing id.
func (e Entity) ID() string { return e.Str("id") }

// Version is the optimistic-locking version (0 when absent).
func (e Entity) Version() int64 {
	n, _ := strconv.ParseInt(e.Str("version"), 10, 64)
	return n
}

// Path returns a field by dotted path ("customFields.region").
func (e Entity) Path(path string) (any, bool) {
	var cur any = map[string]any(e)
	for _, p := range strings.Split(path, ".") {
		m, ok := asMap(cur)
		if !ok {
			return nil, false
		}
		cur, ok = m[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// PathStr returns a field by dotted path as a string ("" when absent).
func (e Entity) PathStr(path string) string {
	v, _ := e.Path(path)
	return valueString(v)
}

// SetPath sets a field by dotted path, creating intermediate objects.
func (e Entity) SetPath(path string, v any) {
	parts := strings.Split(path, ".")
	m := map[string]any(e)
	for _, p := range parts[:len(parts)-1] {
		next, ok := asMap(m[p])
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

// Clone is a deep copy.
func (e Entity) Clone() Entity {
	b, _ := json.Marshal(e)
	c, _ := DecodeEntity(b)
	return c
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case Entity:
		return m, true
	case SObject:
		return m, true
	}
	return nil, false
}

// ValueString renders a field value from either side as a string: ""
// for absent or null, numbers exactly as received, money and dates in
// their own forms, other JSON values as JSON.
func ValueString(v any) string { return valueString(v) }

func valueString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case Money:
		return x.String()
	case Date:
		return x.String()
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		// Only reached for values built in code, never for decoded input.
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// SObject is a Salesforce record as its JSON object ("attributes", "Id",
// field API names). Numbers are json.Number.
type SObject map[string]any

// ID is the 18-character record id ("" when absent).
func (s SObject) ID() string { return valueString(s["Id"]) }

// Str returns a field as a string; a dotted path follows relationship
// objects ("BillingAccount__r.BillingId__c").
func (s SObject) Str(path string) string {
	v, _ := Entity(s).Path(path)
	return valueString(v)
}
