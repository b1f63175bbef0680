package httpserver

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/billsync/billsync"
)

// fakeStore is an in-memory store holding just what the server's routes
// and metrics use (its narrow interfaces), plus what the tests seed with.
type fakeStore struct {
	mu         sync.Mutex
	now        func() time.Time
	settings   map[string]billsync.Setting
	audit      []billsync.AuditEntry
	changes    []*billsync.Change
	eventIDs   map[string]bool
	logs       []billsync.LogEntry // ascending id
	dead       []billsync.DeadLetter
	nextID     int64
	lastFilter billsync.LogFilter
	conflicts  []billsync.Conflict // ascending id
	lastCF     billsync.ConflictFilter

	enqueueErr error
	statsErr   error
	heldErr    error
}

func newFakeStore(now func() time.Time) *fakeStore {
	return &fakeStore{now: now, settings: map[string]billsync.Setting{}, eventIDs: map[string]bool{}}
}

func (f *fakeStore) Settings(ctx context.Context) ([]billsync.Setting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]billsync.Setting, 0, len(f.settings))
	for _, s := range f.settings {
		out = append(out, s)
	}
	return out, nil
}

func (f *fakeStore) SetSetting(ctx context.Context, key string, value json.RawMessage, actor string) (billsync.Setting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.settings[key].Value
	st := billsync.Setting{Key: key, Value: value, UpdatedAt: f.now().UTC(), UpdatedBy: actor}
	f.settings[key] = st
	f.nextID++
	f.audit = append(f.audit, billsync.AuditEntry{ID: f.nextID, Time: st.UpdatedAt, Actor: actor, Key: key, Old: old, New: value})
	return st, nil
}

func (f *fakeStore) Audit(ctx context.Context, limit int) ([]billsync.AuditEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.audit)
	slices.Reverse(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeStore) Enqueue(ctx context.Context, changes ...*billsync.Change) ([]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.enqueueErr != nil {
		return nil, f.enqueueErr
	}
	dup := make([]bool, len(changes))
	for i, c := range changes {
		if f.eventIDs[c.EventID] {
			dup[i] = true
			continue
		}
		f.eventIDs[c.EventID] = true
		f.nextID++
		c.ID = f.nextID
		f.changes = append(f.changes, c)
	}
	return dup, nil
}

func (f *fakeStore) queued() []*billsync.Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.changes)
}

func (f *fakeStore) AppendLog(ctx context.Context, entries ...billsync.LogEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range entries {
		f.nextID++
		e.ID = f.nextID
		f.logs = append(f.logs, e)
	}
	return nil
}

// Logs pages newest first; the cursor is the id of the last entry served.
func (f *fakeStore) Logs(ctx context.Context, flt billsync.LogFilter) ([]billsync.LogEntry, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastFilter = flt
	before := int64(1 << 62)
	if flt.Cursor != "" {
		n, err := strconv.ParseInt(flt.Cursor, 10, 64)
		if err != nil {
			return nil, "", billsync.Errorf(billsync.EINVALID, "bad cursor %q", flt.Cursor)
		}
		before = n
	}
	limit := flt.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []billsync.LogEntry
	for i := len(f.logs) - 1; i >= 0; i-- {
		e := f.logs[i]
		switch {
		case e.ID >= before,
			!flt.Since.IsZero() && e.Time.Before(flt.Since),
			flt.Object != "" && e.Object != flt.Object,
			flt.Outcome != "" && e.Outcome != flt.Outcome,
			flt.Record != "" && e.BillingID != flt.Record && e.SalesforceID != flt.Record:
			continue
		}
		if len(out) == limit {
			return out, strconv.FormatInt(out[len(out)-1].ID, 10), nil
		}
		out = append(out, e)
	}
	return out, "", nil
}

func (f *fakeStore) DeadLetters(ctx context.Context, limit int) ([]billsync.DeadLetter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.dead)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeStore) Resurrect(ctx context.Context, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, d := range f.dead {
		if d.ID == id {
			f.dead = slices.Delete(f.dead, i, i+1)
			c := d.Change
			c.Attempt = 0
			f.changes = append(f.changes, &c)
			return nil
		}
	}
	return billsync.Errorf(billsync.ENOTFOUND, "no dead letter %d", id)
}

func (f *fakeStore) Stats(ctx context.Context) (billsync.QueueStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statsErr != nil {
		return billsync.QueueStats{}, f.statsErr
	}
	st := billsync.QueueStats{Pending: int64(len(f.changes)), DeadLetters: int64(len(f.dead))}
	for _, c := range f.changes {
		if st.OldestPending.IsZero() || c.EnqueuedAt.Before(st.OldestPending) {
			st.OldestPending = c.EnqueuedAt
		}
	}
	return st, nil
}

func (f *fakeStore) AddConflict(ctx context.Context, c *billsync.Conflict) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	c.ID = f.nextID
	f.conflicts = append(f.conflicts, *c)
	return nil
}

// Conflicts pages newest first; the cursor is the id of the last one served.
func (f *fakeStore) Conflicts(ctx context.Context, flt billsync.ConflictFilter) ([]billsync.Conflict, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCF = flt
	before := int64(1 << 62)
	if flt.Cursor != "" {
		n, err := strconv.ParseInt(flt.Cursor, 10, 64)
		if err != nil {
			return nil, "", billsync.Errorf(billsync.EINVALID, "bad cursor %q", flt.Cursor)
		}
		before = n
	}
	limit := flt.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []billsync.Conflict
	for i := len(f.conflicts) - 1; i >= 0; i-- {
		c := f.conflicts[i]
		switch {
		case c.ID >= before,
			flt.Status != "" && c.Status != flt.Status,
			flt.Object != "" && c.Object != flt.Object,
			flt.Record != "" && c.BillingID != flt.Record && c.SalesforceID != flt.Record:
			continue
		}
		if len(out) == limit {
			return out, strconv.FormatInt(out[len(out)-1].ID, 10), nil
		}
		out = append(out, c)
	}
	return out, "", nil
}

func (f *fakeStore) Conflict(ctx context.Context, id int64) (*billsync.Conflict, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conflicts {
		if c.ID == id {
			return &c, nil
		}
	}
	return nil, billsync.Errorf(billsync.ENOTFOUND, "no conflict %d", id)
}

func (f *fakeStore) ResolveConflict(ctx context.Context, id int64, winner billsync.Side, actor string, at time.Time) (*billsync.Conflict, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.conflicts {
		c := &f.conflicts[i]
		if c.ID != id {
			continue
		}
		if c.Status != billsync.ConflictHeld {
			return nil, billsync.Errorf(billsync.ECONFLICT, "conflict %d is not held", id)
		}
		c.Status, c.Winner, c.ResolvedBy, c.ResolvedAt = billsync.ConflictResolved, winner, actor, at
		out := *c
		return &out, nil
	}
	return nil, billsync.Errorf(billsync.ENOTFOUND, "no conflict %d", id)
}

func (f *fakeStore) CountHeld(ctx context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.heldErr != nil {
		return 0, f.heldErr
	}
	var n int64
	for _, c := range f.conflicts {
		if c.Status == billsync.ConflictHeld {
			n++
		}
	}
	return n, nil
}
