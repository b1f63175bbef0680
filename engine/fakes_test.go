package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/billsync/billsync"
)

// memStore is an in-memory SettingsStore and StateStore.
type memStore struct {
	mu       sync.Mutex
	settings map[string]json.RawMessage
	states   map[string]*billsync.SyncState
}

func newMemStore() *memStore {
	return &memStore{settings: map[string]json.RawMessage{}, states: map[string]*billsync.SyncState{}}
}

func (m *memStore) Settings(ctx context.Context) ([]billsync.Setting, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []billsync.Setting
	for k, v := range m.settings {
		out = append(out, billsync.Setting{Key: k, Value: v})
	}
	return out, nil
}
func (m *memStore) SetSetting(ctx context.Context, key string, value json.RawMessage, actor string) (billsync.Setting, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.settings[key] = value
	return billsync.Setting{Key: key, Value: value}, nil
}
func (m *memStore) SeedSettings(context.Context, map[string]json.RawMessage, string) error {
	return nil
}
func (m *memStore) Audit(context.Context, int) ([]billsync.AuditEntry, error) { return nil, nil }

func (m *memStore) SyncState(ctx context.Context, t billsync.ObjectType, id string) (*billsync.SyncState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.states[string(t)+"/"+id]; ok {
		c := *s
		c.Agreed = copyMap(s.Agreed)
		return &c, nil
	}
	return nil, billsync.Errorf(billsync.ENOTFOUND, "no state")
}
func (m *memStore) SyncStateBySalesforceID(ctx context.Context, sfID string) (*billsync.SyncState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.states {
		if s.SalesforceID == sfID {
			c := *s
			c.Agreed = copyMap(s.Agreed)
			return &c, nil
		}
	}
	return nil, billsync.Errorf(billsync.ENOTFOUND, "no state")
}
func (m *memStore) PutSyncState(ctx context.Context, s *billsync.SyncState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *s
	c.Agreed = copyMap(s.Agreed)
	m.states[string(s.Object)+"/"+s.BillingID] = &c
	return nil
}
func (m *memStore) DeleteSyncState(ctx context.Context, t billsync.ObjectType, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.states, string(t)+"/"+id)
	return nil
}

func copyMap(in map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		out[k] = v
	}
	return out
}

// fakeCRM keeps Salesforce records in memory and records every call.
type fakeCRM struct {
	mu      sync.Mutex
	records map[string]billsync.SObject // by Id
	objects map[string]string           // Id → object
	next    int
	calls   []string
	// fail, when set, answers a write with this per-record error.
	fail func(object string, rec billsync.SObject) *billsync.FieldError
	// callErr, when set, fails whole calls.
	callErr error
}

func newFakeCRM() *fakeCRM {
	return &fakeCRM{records: map[string]billsync.SObject{}, objects: map[string]string{}}
}

func (f *fakeCRM) Identity(ctx context.Context) (string, string, error) {
	return "005000000000001AAA", "00D000000000001AAA", nil
}

func (f *fakeCRM) Upsert(ctx context.Context, object, ext string, recs []billsync.SObject) ([]billsync.SaveResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "upsert "+object)
	if f.callErr != nil {
		return nil, f.callErr
	}
	var out []billsync.SaveResult
	for _, r := range recs {
		if f.fail != nil {
			if fe := f.fail(object, r); fe != nil {
				out = append(out, billsync.SaveResult{Errors: []billsync.FieldError{*fe}})
				continue
			}
		}
		id, created := "", false
		for rid, ex := range f.records {
			if f.objects[rid] == object && ex.Str(ext) == r.Str(ext) {
				id = rid
			}
		}
		if id == "" {
			f.next++
			id = fmt.Sprintf("a01%015d", f.next)
			created = true
			f.records[id] = billsync.SObject{"Id": id}
			f.objects[id] = object
		}
		for k, v := range r {
			if strings.HasSuffix(k, "__r") {
				// Resolve the parent by its external id.
				m := v.(map[string]any)
				for pid, p := range f.records {
					for pk, pv := range m {
						if p.Str(pk) == fmt.Sprint(pv) {
							f.records[id][strings.TrimSuffix(k, "__r")+"__c"] = pid
						}
					}
				}
				f.records[id][k] = m
				continue
			}
			f.records[id][k] = v
		}
		out = append(out, billsync.SaveResult{ID: id, Success: true, Created: created})
	}
	return out, nil
}

func (f *fakeCRM) Create(ctx context.Context, object string, recs []billsync.SObject) ([]billsync.SaveResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "create "+object)
	var out []billsync.SaveResult
	for _, r := range recs {
		f.next++
		id := fmt.Sprintf("a01%015d", f.next)
		c := billsync.SObject{"Id": id}
		for k, v := range r {
			c[k] = v
		}
		f.records[id] = c
		f.objects[id] = object
		out = append(out, billsync.SaveResult{ID: id, Success: true, Created: true})
	}
	return out, nil
}

func (f *fakeCRM) Update(ctx context.Context, object string, recs []billsync.SObject) ([]billsync.SaveResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "update "+object)
	var out []billsync.SaveResult
	for _, r := range recs {
		ex, ok := f.records[r.ID()]
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

func (f *fakeCRM) Delete(ctx context.Context, ids []string) ([]billsync.SaveResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "delete")
	var out []billsync.SaveResult
	for _, id := range ids {
		if _, ok := f.records[id]; !ok {
			out = append(out, billsync.SaveResult{Errors: []billsync.FieldError{{StatusCode: "ENTITY_IS_DELETED", Message: "entity is deleted"}}})
			continue
		}
		delete(f.records, id)
		out = append(out, billsync.SaveResult{ID: id, Success: true})
	}
	return out, nil
}

func (f *fakeCRM) Retrieve(ctx context.Context, object, id string, fields []string) (billsync.SObject, error) {
	return nil, fmt.Errorf("not used")
}

var idInQuery = regexp.MustCompile(`FROM (\w+) WHERE Id = '(\w+)'`)

func (f *fakeCRM) Query(ctx context.Context, soql string) ([]billsync.SObject, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "query")
	m := idInQuery.FindStringSubmatch(soql)
	if m == nil {
		return nil, fmt.Errorf("fake cannot run %q", soql)
	}
	r, ok := f.records[m[2]]
	if !ok {
		return nil, nil
	}
	out := billsync.SObject{}
	for k, v := range r {
		out[k] = v
	}
	return []billsync.SObject{out}, nil
}

func (f *fakeCRM) Describe(ctx context.Context, object string) (*billsync.SObjectDescribe, error) {
	return nil, fmt.Errorf("not used")
}

func (f *fakeCRM) put(object string, r billsync.SObject) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	id := fmt.Sprintf("a01%015d", f.next)
	r["Id"] = id
	f.records[id] = r
	f.objects[id] = object
	return id
}

func (f *fakeCRM) get(id string) billsync.SObject {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.records[id]
}

func (f *fakeCRM) byExt(object, ext string) billsync.SObject {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, r := range f.records {
		if f.objects[id] == object && r.Str("BillingId__c") == ext {
			return r
		}
	}
	return nil
}

func (f *fakeCRM) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// fakeBilling keeps billing records in memory with integer versions.
type fakeBilling struct {
	mu      sync.Mutex
	records map[string]billsync.Entity
	next    int
	writes  int
}

func newFakeBilling() *fakeBilling { return &fakeBilling{records: map[string]billsync.Entity{}} }

func (b *fakeBilling) Capabilities() billsync.BillingCapabilities {
	return billsync.BillingCapabilities{Versioning: billsync.VersionInteger}
}
func (b *fakeBilling) Tenant(ctx context.Context) (string, error) { return "tenant", nil }
func (b *fakeBilling) Get(ctx context.Context, t billsync.ObjectType, id string) (billsync.Entity, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.records[id]; ok {
		return e.Clone(), nil
	}
	return nil, &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 404, Code: "not_found"}
}
func (b *fakeBilling) List(ctx context.Context, t billsync.ObjectType, cursor string, limit int) ([]billsync.Entity, string, error) {
	return nil, "", fmt.Errorf("not used")
}
func (b *fakeBilling) Create(ctx context.Context, t billsync.ObjectType, e billsync.Entity, key string) (billsync.Entity, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	c := e.Clone()
	c["id"] = fmt.Sprintf("%s_%d", t, b.next)
	c["version"] = json.Number("1")
	if t == billsync.ObjectBalanceTransaction {
		if bal, ok := b.records[c.Str("balanceId")]; ok {
			c["accountId"] = bal.Str("accountId")
		}
	}
	b.records[c.ID()] = c
	b.writes++
	return c.Clone(), nil
}
func (b *fakeBilling) Update(ctx context.Context, t billsync.ObjectType, e billsync.Entity) (billsync.Entity, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, ok := b.records[e.ID()]
	if !ok {
		return nil, &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 404, Code: "not_found"}
	}
	if cur.Version() != e.Version() {
		return nil, &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 409, Code: "version_conflict"}
	}
	c := e.Clone()
	c["version"] = json.Number(fmt.Sprint(cur.Version() + 1))
	b.records[c.ID()] = c
	b.writes++
	return c.Clone(), nil
}
func (b *fakeBilling) Delete(ctx context.Context, t billsync.ObjectType, id string) error {
	return fmt.Errorf("not used")
}
func (b *fakeBilling) put(e billsync.Entity) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records[e.ID()] = e.Clone()
}

var fixedNow = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// memConflicts is an in-memory ConflictStore.
type memConflicts struct {
	mu   sync.Mutex
	list []*billsync.Conflict
}

func (m *memConflicts) AddConflict(ctx context.Context, c *billsync.Conflict) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c.ID = int64(len(m.list) + 1)
	cp := *c
	m.list = append(m.list, &cp)
	return nil
}
func (m *memConflicts) Conflicts(ctx context.Context, f billsync.ConflictFilter) ([]billsync.Conflict, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []billsync.Conflict
	for i := len(m.list) - 1; i >= 0; i-- {
		if f.Status == "" || m.list[i].Status == f.Status {
			out = append(out, *m.list[i])
		}
	}
	return out, "", nil
}
func (m *memConflicts) Conflict(ctx context.Context, id int64) (*billsync.Conflict, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id < 1 || int(id) > len(m.list) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no conflict %d", id)
	}
	c := *m.list[id-1]
	return &c, nil
}
func (m *memConflicts) HeldConflict(ctx context.Context, t billsync.ObjectType, billingID string) (*billsync.Conflict, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.list {
		if c.Object == t && c.BillingID == billingID && c.Status == billsync.ConflictHeld {
			cp := *c
			return &cp, nil
		}
	}
	return nil, billsync.Errorf(billsync.ENOTFOUND, "none held")
}
func (m *memConflicts) ResolveConflict(ctx context.Context, id int64, winner billsync.Side, actor string, at time.Time) (*billsync.Conflict, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id < 1 || int(id) > len(m.list) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no conflict %d", id)
	}
	c := m.list[id-1]
	if c.Status != billsync.ConflictHeld {
		return nil, billsync.Errorf(billsync.ECONFLICT, "conflict %d is not held", id)
	}
	c.Status, c.Winner, c.ResolvedBy, c.ResolvedAt = billsync.ConflictResolved, winner, actor, at
	cp := *c
	return &cp, nil
}
func (m *memConflicts) CountHeld(ctx context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, c := range m.list {
		if c.Status == billsync.ConflictHeld {
			n++
		}
	}
	return n, nil
}

func (f *fakeCRM) RetrieveRecords(ctx context.Context, object string, fields []string, ids []string) ([]billsync.SObject, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "query")
	var out []billsync.SObject
	for _, id := range ids {
		r, ok := f.records[id]
		if !ok || f.objects[id] != object {
			continue
		}
		c := billsync.SObject{}
		for k, v := range r {
			c[k] = v
		}
		out = append(out, c)
	}
	return out, nil
}
