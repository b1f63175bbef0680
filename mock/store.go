package mock

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/billsync/billsync"
)

var _ billsync.Store = (*Store)(nil)

// Store is an in-memory billsync.Store: settings with their audit, sync
// state, the sync log, the partitioned queue with leases, retries and
// dead letters, stream checkpoints, meta values, conflicts and leases. It
// passes the stores' conformance suite (storetest). The zero value is an
// empty store on the wall clock.
type Store struct {
	// Now is the clock of leases, retry times and stamps; nil: time.Now.
	Now func() time.Time

	mu       sync.Mutex
	settings map[string]billsync.Setting
	audit    []billsync.AuditEntry
	states   map[stateKey]*billsync.SyncState
	log      []billsync.LogEntry
	logID    int64
	meta     map[string]string
	leases   map[string]lease
	queue    queue
	conf     []*billsync.Conflict
	held     []*heldRun
}

type stateKey struct {
	t  billsync.ObjectType
	id string
}

type lease struct {
	owner string
	until time.Time
}

// NewStore returns an empty store on the wall clock.
func NewStore() *Store { return &Store{} }

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Close does nothing.
func (s *Store) Close() error { return nil }

// --- settings ---------------------------------------------------------

// Settings returns every stored setting, in key order.
func (s *Store) Settings(ctx context.Context) ([]billsync.Setting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []billsync.Setting
	for _, k := range slices.Sorted(maps.Keys(s.settings)) {
		out = append(out, s.settings[k])
	}
	return out, nil
}

// SetSetting stores a value and audits the change.
func (s *Store) SetSetting(ctx context.Context, key string, value json.RawMessage, actor string) (billsync.Setting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setLocked(key, value, actor), nil
}

func (s *Store) setLocked(key string, value json.RawMessage, actor string) billsync.Setting {
	if s.settings == nil {
		s.settings = map[string]billsync.Setting{}
	}
	now := s.now()
	old := s.settings[key].Value
	st := billsync.Setting{Key: key, Value: slices.Clone(value), UpdatedAt: now, UpdatedBy: actor}
	s.settings[key] = st
	s.audit = append(s.audit, billsync.AuditEntry{ID: int64(len(s.audit) + 1), Time: now, Actor: actor, Key: key,
		Old: slices.Clone(old), New: slices.Clone(value)})
	return st
}

// SeedSettings stores each value whose key was never stored.
func (s *Store) SeedSettings(ctx context.Context, values map[string]json.RawMessage, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if _, ok := s.settings[k]; !ok {
			s.setLocked(k, values[k], actor)
		}
	}
	return nil
}

// Audit returns the newest audit entries first; limit ≤ 0 returns all.
func (s *Store) Audit(ctx context.Context, limit int) ([]billsync.AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.audit)
	slices.Reverse(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// --- sync state -------------------------------------------------------

func cloneState(st *billsync.SyncState) *billsync.SyncState {
	c := *st
	c.Agreed = maps.Clone(st.Agreed)
	c.UpdatedAt = c.UpdatedAt.UTC()
	return &c
}

// SyncState returns a record's state; ENOTFOUND when never synced.
func (s *Store) SyncState(ctx context.Context, t billsync.ObjectType, billingID string) (*billsync.SyncState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.states[stateKey{t, billingID}]; ok {
		return cloneState(st), nil
	}
	return nil, billsync.Errorf(billsync.ENOTFOUND, "no sync state for %s %s", t, billingID)
}

// SyncStateBySalesforceID looks a state up by its Salesforce id.
func (s *Store) SyncStateBySalesforceID(ctx context.Context, sfID string) (*billsync.SyncState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.bySalesforceIDLocked(sfID); st != nil {
		return cloneState(st), nil
	}
	return nil, billsync.Errorf(billsync.ENOTFOUND, "no sync state for Salesforce id %s", sfID)
}

func (s *Store) bySalesforceIDLocked(sfID string) *billsync.SyncState {
	if sfID == "" {
		return nil
	}
	for _, st := range s.states {
		if st.SalesforceID == sfID {
			return st
		}
	}
	return nil
}

// PutSyncState inserts or replaces a state. One Salesforce record is the
// twin of one billing record at most (ECONFLICT).
func (s *Store) PutSyncState(ctx context.Context, st *billsync.SyncState) error {
	if st.Object == "" || st.BillingID == "" {
		return billsync.Errorf(billsync.EINVALID, "sync state needs an object and a billing id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFencesLocked(ctx); err != nil {
		return err
	}
	k := stateKey{st.Object, st.BillingID}
	if other := s.bySalesforceIDLocked(st.SalesforceID); other != nil && (stateKey{other.Object, other.BillingID}) != k {
		return billsync.Errorf(billsync.ECONFLICT, "Salesforce record %s is already the twin of %s %s", st.SalesforceID, other.Object, other.BillingID)
	}
	c := cloneState(st)
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = s.now()
	}
	if s.states == nil {
		s.states = map[stateKey]*billsync.SyncState{}
	}
	s.states[k] = c
	return nil
}

// DeleteSyncState forgets a record; forgetting an unknown one is fine.
func (s *Store) DeleteSyncState(ctx context.Context, t billsync.ObjectType, billingID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFencesLocked(ctx); err != nil {
		return err
	}
	delete(s.states, stateKey{t, billingID})
	return nil
}

// --- meta and leases --------------------------------------------------

// Meta returns a stored value.
func (s *Store) Meta(ctx context.Context, key string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.meta[key]
	return v, ok, nil
}

// SetMeta stores a value.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.meta == nil {
		s.meta = map[string]string{}
	}
	s.meta[key] = value
	return nil
}

// TryLease takes or renews a lease that is free, expired or owner's.
func (s *Store) TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if name == "" || owner == "" {
		return false, billsync.Errorf(billsync.EINVALID, "a lease needs a name and an owner")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if l, ok := s.leases[name]; ok && l.owner != owner && now.Before(l.until) {
		return false, nil
	}
	if s.leases == nil {
		s.leases = map[string]lease{}
	}
	s.leases[name] = lease{owner: owner, until: now.Add(ttl)}
	return true, nil
}

// ReleaseLease frees a lease owner holds.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[name]; ok && l.owner == owner {
		delete(s.leases, name)
	}
	return nil
}

// LeaseHolder is who holds a lease now, "" when nobody does.
func (s *Store) LeaseHolder(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[name]; ok && s.now().Before(l.until) {
		return l.owner
	}
	return ""
}
