package mock

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
)

var _ billsync.Billing = (*Billing)(nil)

// BillingCall is one call made to a Billing.
type BillingCall struct {
	Method string // get, list, create, update, delete
	Type   billsync.ObjectType
	ID     string // "" for list and create
}

// Billing is an in-memory billing platform. With the contract's
// capabilities (NewBilling) it keeps integer versions (SPEC §5.1): every
// write increments "version", and an update sent with a stale version is
// refused with 409. With other capabilities it behaves as such a platform
// does: without versions (VersionNone) records carry none and an update
// overwrites whatever is there; it refuses with 400 what the capabilities
// say it cannot take (a balance amount, a change or delete of a
// transaction), so a test sees any such call the engine should not have
// made. Records created here get ids of the form acc_N, bal_N, btx_N, q_N.
//
// Set the exported fields before the Billing is used.
type Billing struct {
	// Caps is what Capabilities reports and what the platform enforces;
	// NewBilling sets the contract's (billingapi.Capabilities). An empty
	// Versioning reports integer versions.
	Caps billsync.BillingCapabilities
	// Hook, when set, is called at the start of every call, before the
	// platform is locked: an error fails the call, and a hook that blocks
	// holds the call until it returns.
	Hook func(ctx context.Context, c BillingCall) error

	mu      sync.Mutex
	records map[billsync.ObjectType]map[string]billsync.Entity
	order   map[billsync.ObjectType][]string // ids in creation order, for List
	idem    map[string]string                // idempotency key → id
	used    map[string]bool                  // every id ever stored: a platform never reuses one
	next    int
	calls   []BillingCall
}

// NewBilling returns an empty billing platform.
func NewBilling() *Billing { return &Billing{Caps: billingapi.Capabilities} }

// NewBillingWith returns an empty billing platform with capabilities caps.
func NewBillingWith(caps billsync.BillingCapabilities) *Billing { return &Billing{Caps: caps} }

func (b *Billing) versioned() bool { return b.Caps.Versioning != billsync.VersionNone }

// refusedLocked says why the platform refuses to update cur to next, ""
// when it takes it.
func (b *Billing) refusedLocked(t billsync.ObjectType, cur, next billsync.Entity) string {
	changed := func(k string) bool {
		x, _ := json.Marshal(cur[k])
		y, _ := json.Marshal(next[k])
		return string(x) != string(y)
	}
	switch {
	case t == billsync.ObjectBalance && !b.Caps.BalanceAmountWritable && changed(billsync.BalanceAmountField):
		return "a balance's amount is derived from its transactions"
	case t == billsync.ObjectBalanceTransaction && !b.Caps.TransactionsUpdatable:
		for k := range mergedKeys(cur, next) {
			if k != "version" && k != "updatedAt" && changed(k) && !b.mutableTop(k) {
				return fmt.Sprintf("a transaction's %s cannot change once created", k)
			}
		}
	}
	return ""
}

// mutableTop reports whether top-level key k of a transaction may change:
// a mutable field is k itself, or a path under k ("customFields.").
func (b *Billing) mutableTop(k string) bool {
	for _, f := range b.Caps.TransactionMutableFields {
		if f == k || f == k+"." {
			return true
		}
	}
	return false
}

func mergedKeys(a, b billsync.Entity) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

var idPrefixes = map[billsync.ObjectType]string{
	billsync.ObjectAccount: "acc", billsync.ObjectBalance: "bal", billsync.ObjectBalanceTransaction: "btx", billsync.ObjectQuote: "q",
}

func (b *Billing) call(ctx context.Context, c BillingCall) error {
	b.mu.Lock()
	b.calls = append(b.calls, c)
	b.mu.Unlock()
	if b.Hook != nil {
		return b.Hook(ctx, c)
	}
	return nil
}

func (b *Billing) initLocked() {
	if b.records == nil {
		b.records, b.order, b.idem, b.used = map[billsync.ObjectType]map[string]billsync.Entity{}, map[billsync.ObjectType][]string{}, map[string]string{}, map[string]bool{}
	}
}

func (b *Billing) putLocked(t billsync.ObjectType, e billsync.Entity) {
	b.initLocked()
	if b.records[t] == nil {
		b.records[t] = map[string]billsync.Entity{}
	}
	if _, ok := b.records[t][e.ID()]; !ok {
		b.order[t] = append(b.order[t], e.ID())
	}
	b.records[t][e.ID()] = e.Clone()
	b.used[string(t)+"/"+e.ID()] = true
}

// Put stores a record as it is, version included (not counted, no hooks).
func (b *Billing) Put(t billsync.ObjectType, e billsync.Entity) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.putLocked(t, e)
}

// Entity returns a copy of a stored record, nil when there is none (not
// counted, no hooks).
func (b *Billing) Entity(t billsync.ObjectType, id string) billsync.Entity {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.records[t][id]; ok {
		return e.Clone()
	}
	return nil
}

// Calls returns every call made so far, in order.
func (b *Billing) Calls() []BillingCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

// Writes is the number of write calls (create, update, delete).
func (b *Billing) Writes() int {
	n := 0
	for _, c := range b.Calls() {
		if c.Method == "create" || c.Method == "update" || c.Method == "delete" {
			n++
		}
	}
	return n
}

// Capabilities returns Caps, with integer versions when unset.
func (b *Billing) Capabilities() billsync.BillingCapabilities {
	c := b.Caps
	if c.Versioning == "" {
		c.Versioning = billsync.VersionInteger
	}
	return c
}

// Tenant names the platform's tenant.
func (b *Billing) Tenant(ctx context.Context) (string, error) { return "tenant", nil }

func notFound(t billsync.ObjectType, id string) error {
	return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 404, Code: "not_found", Message: fmt.Sprintf("no %s %s", t, id)}
}

// Get reads one record; a missing one is a 404.
func (b *Billing) Get(ctx context.Context, t billsync.ObjectType, id string) (billsync.Entity, error) {
	if err := b.call(ctx, BillingCall{Method: "get", Type: t, ID: id}); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.records[t][id]; ok {
		return e.Clone(), nil
	}
	return nil, notFound(t, id)
}

// List pages through records of t in creation order; the cursor is the
// offset of the next page.
func (b *Billing) List(ctx context.Context, t billsync.ObjectType, cursor string, limit int) ([]billsync.Entity, string, error) {
	if err := b.call(ctx, BillingCall{Method: "list", Type: t}); err != nil {
		return nil, "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	from := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 {
			return nil, "", &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 400, Code: "invalid_cursor", Message: "bad cursor " + cursor}
		}
		from = n
	}
	if limit <= 0 {
		limit = 100
	}
	ids := b.order[t]
	var page []billsync.Entity
	i := from
	for ; i < len(ids) && len(page) < limit; i++ {
		if e, ok := b.records[t][ids[i]]; ok {
			page = append(page, e.Clone())
		}
	}
	next := ""
	if i < len(ids) {
		next = strconv.Itoa(i)
	}
	return page, next, nil
}

// Create stores a new record at version 1. A transaction takes its
// balance's account, as the contract derives it. A repeated idempotency
// key returns the record the first create made.
func (b *Billing) Create(ctx context.Context, t billsync.ObjectType, e billsync.Entity, key string) (billsync.Entity, error) {
	if err := b.call(ctx, BillingCall{Method: "create", Type: t}); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.initLocked()
	if id, ok := b.idem[key]; ok && key != "" {
		if e, ok := b.records[t][id]; ok {
			return e.Clone(), nil
		}
	}
	c := e.Clone()
	for { // past the ids of records put there, and of deleted ones
		b.next++
		c["id"] = fmt.Sprintf("%s_%d", idPrefixes[t], b.next)
		if !b.used[string(t)+"/"+c.ID()] {
			break
		}
	}
	delete(c, "version")
	if b.versioned() {
		c["version"] = json.Number("1")
	}
	if t == billsync.ObjectBalanceTransaction {
		if bal, ok := b.records[billsync.ObjectBalance][c.Str("balanceId")]; ok {
			c["accountId"] = bal.Str("accountId")
		}
	}
	b.putLocked(t, c)
	if key != "" {
		b.idem[key] = c.ID()
	}
	return c.Clone(), nil
}

// Update replaces a record sent with the version it was read at.
func (b *Billing) Update(ctx context.Context, t billsync.ObjectType, e billsync.Entity) (billsync.Entity, error) {
	if err := b.call(ctx, BillingCall{Method: "update", Type: t, ID: e.ID()}); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, ok := b.records[t][e.ID()]
	if !ok {
		return nil, notFound(t, e.ID())
	}
	c := e.Clone()
	if why := b.refusedLocked(t, cur, c); why != "" {
		return nil, &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 400, Code: "immutable", Message: fmt.Sprintf("%s %s: %s", t, e.ID(), why)}
	}
	if !b.versioned() {
		// No compare-and-set: the last writer wins, as on such a platform.
		delete(c, "version")
		b.putLocked(t, c)
		return c.Clone(), nil
	}
	if cur.Version() != e.Version() {
		return nil, &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 409, Code: "version_conflict",
			Message: fmt.Sprintf("%s %s is at version %d, not %d", t, e.ID(), cur.Version(), e.Version())}
	}
	c["version"] = json.Number(strconv.FormatInt(cur.Version()+1, 10))
	b.putLocked(t, c)
	return c.Clone(), nil
}

// Delete removes a record; a missing one is a 404.
func (b *Billing) Delete(ctx context.Context, t billsync.ObjectType, id string) error {
	if err := b.call(ctx, BillingCall{Method: "delete", Type: t, ID: id}); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.records[t][id]; !ok {
		return notFound(t, id)
	}
	if t == billsync.ObjectBalanceTransaction && !b.Caps.TransactionsDeletable {
		return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 400, Code: "immutable", Message: fmt.Sprintf("%s %s: transactions cannot be deleted", t, id)}
	}
	delete(b.records[t], id)
	b.order[t] = slices.DeleteFunc(b.order[t], func(x string) bool { return x == id })
	return nil
}

// RecentTransactions pages through the transactions of a balance newest
// first (billsync.TransactionScanner); the cursor is the offset of the
// next page. The engine calls it only when Caps.TransactionEvents is
// false, as for a platform whose transactions raise no events.
func (b *Billing) RecentTransactions(ctx context.Context, balanceID, cursor string, limit int) ([]billsync.Entity, string, error) {
	if err := b.call(ctx, BillingCall{Method: "scan", Type: billsync.ObjectBalanceTransaction, ID: balanceID}); err != nil {
		return nil, "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var all []billsync.Entity
	ids := b.order[billsync.ObjectBalanceTransaction]
	for i := len(ids) - 1; i >= 0; i-- {
		if e, ok := b.records[billsync.ObjectBalanceTransaction][ids[i]]; ok && e.Str("balanceId") == balanceID {
			all = append(all, e.Clone())
		}
	}
	from := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 || n > len(all) {
			return nil, "", &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 400, Code: "invalid_cursor", Message: "bad cursor " + cursor}
		}
		from = n
	}
	if limit <= 0 {
		limit = 100
	}
	to := min(from+limit, len(all))
	next := ""
	if to < len(all) {
		next = strconv.Itoa(to)
	}
	return all[from:to], next, nil
}
