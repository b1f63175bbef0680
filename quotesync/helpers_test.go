package quotesync

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/billsync/billsync"
)

var fixedNow = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// memState is an in-memory StateStore.
type memState struct {
	mu     sync.Mutex
	states map[string]*billsync.SyncState
}

func newMemState() *memState { return &memState{states: map[string]*billsync.SyncState{}} }

func (m *memState) SyncState(ctx context.Context, t billsync.ObjectType, id string) (*billsync.SyncState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.states[string(t)+"/"+id]; ok {
		return cloneState(s), nil
	}
	return nil, billsync.Errorf(billsync.ENOTFOUND, "no state")
}

func (m *memState) SyncStateBySalesforceID(ctx context.Context, sfID string) (*billsync.SyncState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.states {
		if s.SalesforceID == sfID {
			return cloneState(s), nil
		}
	}
	return nil, billsync.Errorf(billsync.ENOTFOUND, "no state")
}

func (m *memState) PutSyncState(ctx context.Context, s *billsync.SyncState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states[string(s.Object)+"/"+s.BillingID] = cloneState(s)
	return nil
}

func (m *memState) DeleteSyncState(ctx context.Context, t billsync.ObjectType, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.states, string(t)+"/"+id)
	return nil
}

func cloneState(s *billsync.SyncState) *billsync.SyncState {
	c := *s
	c.Agreed = map[string]string{}
	for k, v := range s.Agreed {
		c.Agreed[k] = v
	}
	return &c
}

// fakeBilling holds billing records with integer versions.
type fakeBilling struct {
	mu      sync.Mutex
	records map[string]billsync.Entity
}

func newFakeBilling() *fakeBilling { return &fakeBilling{records: map[string]billsync.Entity{}} }

func (b *fakeBilling) Get(ctx context.Context, t billsync.ObjectType, id string) (billsync.Entity, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.records[id]; ok {
		return e.Clone(), nil
	}
	return nil, &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 404, Code: "not_found"}
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
	return c.Clone(), nil
}

func (b *fakeBilling) put(e billsync.Entity) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records[e.ID()] = e.Clone()
}
