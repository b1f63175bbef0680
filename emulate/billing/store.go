package billing

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/billsync/billsync"
)

// record is one stored entity; seq orders lists and cursors.
type record struct {
	seq  int64
	data billsync.Entity
}

// table holds one entity type, in creation order.
type table struct {
	byID  map[string]*record
	order []*record // ascending seq
}

func newTable() *table { return &table{byID: map[string]*record{}} }

func (tb *table) insert(r *record) {
	tb.byID[r.data.ID()] = r
	tb.order = append(tb.order, r) // seq only grows, so order stays sorted
}

func (tb *table) remove(id string) {
	r, ok := tb.byID[id]
	if !ok {
		return
	}
	delete(tb.byID, id)
	i := sort.Search(len(tb.order), func(i int) bool { return tb.order[i].seq >= r.seq })
	if i < len(tb.order) && tb.order[i] == r {
		tb.order = append(tb.order[:i], tb.order[i+1:]...)
	}
}

var idPrefix = map[billsync.ObjectType]string{
	billsync.ObjectAccount:            "acc_",
	billsync.ObjectBalance:            "bal_",
	billsync.ObjectBalanceTransaction: "btx_",
	billsync.ObjectQuote:              "quo_",
}

// collections maps REST path segments to entity types.
var collections = map[string]billsync.ObjectType{
	"accounts":             billsync.ObjectAccount,
	"balances":             billsync.ObjectBalance,
	"balance-transactions": billsync.ObjectBalanceTransaction,
	"quotes":               billsync.ObjectQuote,
}

func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux (Go ≥1.24 it cannot fail at all)
	return prefix + hex.EncodeToString(b[:])
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func toEntity(v any) billsync.Entity {
	b, err := json.Marshal(v)
	if err != nil {
		return billsync.Entity{}
	}
	e, err := billsync.DecodeEntity(b)
	if err != nil {
		return billsync.Entity{}
	}
	// Decoding gives every record its own copy of every field name; a
	// platform holding hundreds of thousands of records keeps one.
	out := make(billsync.Entity, len(e))
	for k, v := range e {
		out[fieldName(k)] = v
	}
	return out
}

// fieldNames holds one copy of each field name toEntity has seen: the
// fields of the typed entities, a fixed set.
var fieldNames sync.Map

func fieldName(k string) string {
	if v, ok := fieldNames.Load(k); ok {
		return v.(string)
	}
	v, _ := fieldNames.LoadOrStore(k, k)
	return v.(string)
}

// decodeStrict moves a shape-checked entity into its typed struct, which
// normalises it (money keeps its scale, dates become YYYY-MM-DD).
func decodeStrict(raw billsync.Entity, v any) *apiError {
	b, err := json.Marshal(raw)
	if err != nil {
		return invalid("", "body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("", "body: %s", billsync.ErrorMessage(err))
	}
	return nil
}

// normalize validates raw as a t (old is the stored record on update, nil
// on create) and returns it as it will be stored, without the server
// fields. Called with e.mu held.
func (e *Emulator) normalize(t billsync.ObjectType, raw, old billsync.Entity) (billsync.Entity, *apiError) {
	if err := checkShape(schemas[t], raw, ""); err != nil {
		return nil, err
	}
	switch t {
	case billsync.ObjectAccount:
		if err := required(raw, "name", "code"); err != nil {
			return nil, err
		}
		var a billsync.Account
		if err := decodeStrict(raw, &a); err != nil {
			return nil, err
		}
		return toEntity(a), nil
	case billsync.ObjectBalance:
		if err := required(raw, "accountId", "name", "amount", "currency"); err != nil {
			return nil, err
		}
		var b billsync.Balance
		if err := decodeStrict(raw, &b); err != nil {
			return nil, err
		}
		if _, ok := e.tables[billsync.ObjectAccount].byID[b.AccountID]; !ok {
			return nil, invalid("accountId", "accountId: no account with id %q", b.AccountID)
		}
		if old != nil && old.Str("accountId") != b.AccountID {
			return nil, invalid("accountId", "accountId cannot change (a balance stays with its account)")
		}
		return toEntity(b), nil
	case billsync.ObjectBalanceTransaction:
		if err := required(raw, "balanceId", "amount"); err != nil {
			return nil, err
		}
		var x billsync.BalanceTransaction
		if err := decodeStrict(raw, &x); err != nil {
			return nil, err
		}
		bal, ok := e.tables[billsync.ObjectBalance].byID[x.BalanceID]
		if !ok {
			return nil, invalid("balanceId", "balanceId: no balance with id %q", x.BalanceID)
		}
		acc := bal.data.Str("accountId")
		if x.AccountID != "" && x.AccountID != acc {
			return nil, invalid("accountId", "accountId %q does not match the balance's account %q", x.AccountID, acc)
		}
		x.AccountID = acc
		if old != nil && old.Str("balanceId") != x.BalanceID {
			return nil, invalid("balanceId", "balanceId cannot change (a transaction stays on its balance)")
		}
		return toEntity(x), nil
	case billsync.ObjectQuote:
		if err := required(raw, "accountId", "status", "type"); err != nil {
			return nil, err
		}
		var q billsync.Quote
		if err := decodeStrict(raw, &q); err != nil {
			return nil, err
		}
		if _, ok := e.tables[billsync.ObjectAccount].byID[q.AccountID]; !ok {
			return nil, invalid("accountId", "accountId: no account with id %q", q.AccountID)
		}
		switch q.Type {
		case billsync.QuoteNew:
		case billsync.QuoteAmendment, billsync.QuoteRenewal:
			if q.OriginalQuoteID == "" {
				return nil, invalid("originalQuoteId", "originalQuoteId is required for an %s quote", q.Type)
			}
			if old != nil && q.OriginalQuoteID == old.ID() {
				return nil, invalid("originalQuoteId", "a quote cannot amend or renew itself")
			}
			if _, ok := e.tables[billsync.ObjectQuote].byID[q.OriginalQuoteID]; !ok {
				return nil, invalid("originalQuoteId", "originalQuoteId: no quote with id %q", q.OriginalQuoteID)
			}
		default:
			return nil, invalid("type", "type %q: want NEW, AMENDMENT or RENEWAL", q.Type)
		}
		if q.ExpiresAt != nil {
			u := q.ExpiresAt.UTC()
			q.ExpiresAt = &u
		}
		seen := map[string]bool{}
		if q.Offerings == nil {
			q.Offerings = []billsync.QuoteOffering{}
		}
		for i := range q.Offerings {
			o := &q.Offerings[i]
			if o.ID == "" {
				o.ID = newID("qof_")
			}
			if seen[o.ID] {
				return nil, invalid("offerings", "offering id %q appears twice", o.ID)
			}
			seen[o.ID] = true
			if o.Items == nil {
				o.Items = []billsync.QuoteItem{}
			}
			for j := range o.Items {
				it := &o.Items[j]
				if it.ID == "" {
					it.ID = newID("qit_")
				}
				if seen[it.ID] {
					return nil, invalid("offerings", "item id %q appears twice", it.ID)
				}
				seen[it.ID] = true
			}
		}
		return toEntity(q), nil
	}
	return nil, invalid("", "unknown object type %q", t)
}

// partition is the webhook ordering key: the account a record belongs to.
func partition(t billsync.ObjectType, data billsync.Entity) string {
	if t == billsync.ObjectAccount {
		return data.ID()
	}
	return data.Str("accountId")
}

// createIdempotent is create keyed by an Idempotency-Key: a repeated key
// answers the record the first request made (as it stands now), so a
// client that lost the response, or crashed before saving it, never makes
// a second record. Keys are per object type.
func (e *Emulator) createIdempotent(t billsync.ObjectType, raw billsync.Entity, key string) (billsync.Entity, bool, *apiError) {
	if key == "" {
		ent, aerr := e.create(t, raw)
		return ent, false, aerr
	}
	k := string(t) + "/" + key
	e.mu.Lock()
	id, seen := e.idem[k]
	e.mu.Unlock()
	if seen {
		if ent, ok := e.Get(t, id); ok {
			return ent, true, nil
		}
	}
	ent, aerr := e.create(t, raw)
	if aerr != nil {
		return nil, false, aerr
	}
	e.mu.Lock()
	e.idem[k] = ent.ID()
	e.noteLocked(journalEntry{Idem: &idemKey{Key: k, ID: ent.ID()}})
	e.saveLocked()
	e.mu.Unlock()
	return ent, false, nil
}

func (e *Emulator) create(t billsync.ObjectType, raw billsync.Entity) (billsync.Entity, *apiError) {
	if raw == nil {
		return nil, invalid("", "body must be a JSON object")
	}
	if id, present := raw["id"]; present && id != nil && id != "" {
		return nil, invalid("id", "id is assigned by the billing platform; leave it out")
	}
	raw = withoutServerFields(raw)
	e.mu.Lock()
	defer e.mu.Unlock()
	ent, aerr := e.normalize(t, raw, nil)
	if aerr != nil {
		return nil, aerr
	}
	now := e.now()
	ent["id"] = newID(idPrefix[t])
	ent["version"] = json.Number("1")
	ent["createdAt"] = stamp(now)
	ent["updatedAt"] = stamp(now)
	e.seq++
	e.tables[t].insert(&record{seq: e.seq, data: ent})
	e.writes[ent.ID()]++
	e.noteLocked(journalEntry{Put: &putChange{Type: t, Seq: e.seq, Data: ent, Writes: e.writes[ent.ID()]}})
	e.emitLocked(t, billsync.OpCreated, ent, now)
	e.saveLocked()
	return ent.Clone(), nil
}

func withoutServerFields(raw billsync.Entity) billsync.Entity {
	out := make(billsync.Entity, len(raw))
	for k, v := range raw {
		switch k {
		case "id", "version", "createdAt", "updatedAt":
			continue
		}
		out[k] = v
	}
	return out
}

func (e *Emulator) update(t billsync.ObjectType, id string, raw billsync.Entity) (billsync.Entity, *apiError) {
	if raw == nil {
		return nil, invalid("", "body must be a JSON object")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rec, ok := e.tables[t].byID[id]
	if !ok {
		return nil, notFound(t, id)
	}
	if bodyID, present := raw["id"]; present && bodyID != nil && bodyID != "" && bodyID != id {
		return nil, invalid("id", "body id %v does not match the URL's id %q", bodyID, id)
	}
	if err := checkShape(schemas[t], raw, ""); err != nil {
		return nil, err
	}
	cur := rec.data.Version()
	v, present := raw["version"]
	if !present || v == nil {
		return nil, conflict("version_conflict", "version is required on update (the current version is %d)", cur)
	}
	if got := billsync.Entity(raw).Version(); got != cur {
		return nil, conflict("version_conflict", "version %v is stale: the current version of %s %s is %d", v, t, id, cur)
	}
	ent, aerr := e.normalize(t, withoutServerFields(raw), rec.data)
	if aerr != nil {
		return nil, aerr
	}
	now := e.now()
	ent["id"] = id
	ent["version"] = json.Number(strconv.FormatInt(cur+1, 10))
	ent["createdAt"] = rec.data["createdAt"]
	ent["updatedAt"] = stamp(now)
	rec.data = ent
	e.writes[id]++
	e.noteLocked(journalEntry{Put: &putChange{Type: t, Seq: rec.seq, Data: ent, Writes: e.writes[id]}})
	e.emitLocked(t, billsync.OpUpdated, ent, now)
	e.saveLocked()
	return ent.Clone(), nil
}

func (e *Emulator) remove(t billsync.ObjectType, id string) *apiError {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec, ok := e.tables[t].byID[id]
	if !ok {
		return notFound(t, id)
	}
	switch t {
	case billsync.ObjectAccount:
		var bals, quotes int
		for _, r := range e.tables[billsync.ObjectBalance].order {
			if r.data.Str("accountId") == id {
				bals++
			}
		}
		for _, r := range e.tables[billsync.ObjectQuote].order {
			if r.data.Str("accountId") == id {
				quotes++
			}
		}
		if bals+quotes > 0 {
			return conflict("has_dependents", "account %s still has %d balance(s) and %d quote(s); delete them first", id, bals, quotes)
		}
	case billsync.ObjectBalance:
		txs := e.tables[billsync.ObjectBalanceTransaction]
		var children []*record
		for _, r := range txs.order {
			if r.data.Str("balanceId") == id {
				children = append(children, r)
			}
		}
		for _, c := range children {
			e.deleteLocked(billsync.ObjectBalanceTransaction, c)
		}
	}
	e.deleteLocked(t, rec)
	e.saveLocked()
	return nil
}

// deleteLocked removes a record and emits its deleted event. The event
// carries the record one version on, so a consumer that skips versions it
// has already applied never mistakes the delete for a replay.
func (e *Emulator) deleteLocked(t billsync.ObjectType, rec *record) {
	now := e.now()
	gone := rec.data.Clone()
	gone["version"] = json.Number(strconv.FormatInt(rec.data.Version()+1, 10))
	gone["updatedAt"] = stamp(now)
	e.tables[t].remove(rec.data.ID())
	e.writes[rec.data.ID()]++
	e.noteLocked(journalEntry{Delete: &delChange{Type: t, ID: rec.data.ID(), Writes: e.writes[rec.data.ID()]}})
	e.emitLocked(t, billsync.OpDeleted, gone, now)
}

func (e *Emulator) get(t billsync.ObjectType, id string) (billsync.Entity, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	tb, ok := e.tables[t]
	if !ok {
		return nil, false
	}
	r, ok := tb.byID[id]
	if !ok {
		return nil, false
	}
	return r.data.Clone(), true
}

const (
	defaultLimit = 100
	maxLimit     = 1000
)

func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("s" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), "s") {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// list pages in creation order. The cursor is the seq of the last record
// returned, so a page boundary survives inserts and deletes.
func (e *Emulator) list(t billsync.ObjectType, cursor string, limit int) ([]billsync.Entity, string, *apiError) {
	var after int64
	if cursor != "" {
		var ok bool
		if after, ok = decodeCursor(cursor); !ok {
			return nil, "", invalid("cursor", "cursor %q is not one this API returned", cursor)
		}
	}
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	e.mu.Lock()
	defer e.mu.Unlock()
	order := e.tables[t].order
	i := sort.Search(len(order), func(i int) bool { return order[i].seq > after })
	page := make([]billsync.Entity, 0, min(limit, len(order)-i))
	for ; i < len(order) && len(page) < limit; i++ {
		page = append(page, order[i].data.Clone())
	}
	next := ""
	if i < len(order) {
		next = encodeCursor(order[i-1].seq)
	}
	return page, next, nil
}
