package mock

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/billsync/billsync"
)

func cloneConflict(c *billsync.Conflict) *billsync.Conflict {
	cp := *c
	cp.Fields = slices.Clone(c.Fields)
	cp.Time, cp.ResolvedAt = cp.Time.UTC(), cp.ResolvedAt.UTC()
	cp.BillingChangedAt, cp.SalesforceChangedAt = cp.BillingChangedAt.UTC(), cp.SalesforceChangedAt.UTC()
	return &cp
}

func checkConflict(c *billsync.Conflict) error {
	switch {
	case c == nil:
		return billsync.Errorf(billsync.EINVALID, "no conflict")
	case c.Object == "" || c.BillingID == "":
		return billsync.Errorf(billsync.EINVALID, "a conflict needs an object and a billing id")
	case c.Status != billsync.ConflictHeld && c.Status != billsync.ConflictResolved:
		return billsync.Errorf(billsync.EINVALID, "conflict status %q is neither held nor resolved", c.Status)
	case c.Winner != "" && c.Winner != billsync.SideBilling && c.Winner != billsync.SideSalesforce:
		return billsync.Errorf(billsync.EINVALID, "conflict winner %q is neither billing nor salesforce", c.Winner)
	}
	return nil
}

// AddConflict stores c and sets its ID and, when zero, its Time. A record
// has one held conflict at most (ECONFLICT).
func (s *Store) AddConflict(ctx context.Context, c *billsync.Conflict) error {
	if err := checkConflict(c); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFencesLocked(ctx); err != nil {
		return err
	}
	if c.Status == billsync.ConflictHeld && s.heldLocked(c.Object, c.BillingID) != nil {
		return billsync.Errorf(billsync.ECONFLICT, "%s %s already has a held conflict", c.Object, c.BillingID)
	}
	if c.Time.IsZero() {
		c.Time = s.now()
	}
	c.ID = int64(len(s.conf) + 1)
	s.conf = append(s.conf, cloneConflict(c))
	return nil
}

func (s *Store) heldLocked(t billsync.ObjectType, billingID string) *billsync.Conflict {
	for _, c := range s.conf {
		if c.Object == t && c.BillingID == billingID && c.Status == billsync.ConflictHeld {
			return c
		}
	}
	return nil
}

// Conflicts lists conflicts matching f, newest first, a page at a time.
func (s *Store) Conflicts(ctx context.Context, f billsync.ConflictFilter) ([]billsync.Conflict, string, error) {
	if f.Status != "" && f.Status != billsync.ConflictHeld && f.Status != billsync.ConflictResolved {
		return nil, "", billsync.Errorf(billsync.EINVALID, "conflict status %q is neither held nor resolved", f.Status)
	}
	before, err := parseCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := pageSize(f.Limit)
	var out []billsync.Conflict
	for i := len(s.conf) - 1; i >= 0; i-- {
		c := s.conf[i]
		if c.ID >= before || (f.Status != "" && c.Status != f.Status) || (f.Object != "" && c.Object != f.Object) ||
			(f.Record != "" && c.BillingID != f.Record && c.SalesforceID != f.Record) {
			continue
		}
		if len(out) == limit {
			return out, strconv.FormatInt(out[len(out)-1].ID, 10), nil
		}
		out = append(out, *cloneConflict(c))
	}
	return out, "", nil
}

// Conflict returns one conflict; ENOTFOUND when there is none.
func (s *Store) Conflict(ctx context.Context, id int64) (*billsync.Conflict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || int(id) > len(s.conf) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no conflict %d", id)
	}
	return cloneConflict(s.conf[id-1]), nil
}

// HeldConflict returns a record's held conflict, or ENOTFOUND.
func (s *Store) HeldConflict(ctx context.Context, t billsync.ObjectType, billingID string) (*billsync.Conflict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.heldLocked(t, billingID); c != nil {
		return cloneConflict(c), nil
	}
	return nil, billsync.Errorf(billsync.ENOTFOUND, "%s %s has no held conflict", t, billingID)
}

// ResolveConflict marks a held conflict resolved.
func (s *Store) ResolveConflict(ctx context.Context, id int64, winner billsync.Side, actor string, at time.Time) (*billsync.Conflict, error) {
	if winner != billsync.SideBilling && winner != billsync.SideSalesforce {
		return nil, billsync.Errorf(billsync.EINVALID, "winner %q is neither billing nor salesforce", winner)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFencesLocked(ctx); err != nil {
		return nil, err
	}
	if id < 1 || int(id) > len(s.conf) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no conflict %d", id)
	}
	c := s.conf[id-1]
	if c.Status != billsync.ConflictHeld {
		return nil, billsync.Errorf(billsync.ECONFLICT, "conflict %d is %s, not held", id, c.Status)
	}
	c.Status, c.Winner, c.ResolvedBy, c.ResolvedAt = billsync.ConflictResolved, winner, actor, at.UTC()
	return cloneConflict(c), nil
}

// CountHeld counts held conflicts.
func (s *Store) CountHeld(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, c := range s.conf {
		if c.Status == billsync.ConflictHeld {
			n++
		}
	}
	return n, nil
}

// ConflictList returns every conflict, oldest first.
func (s *Store) ConflictList() []billsync.Conflict {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]billsync.Conflict, 0, len(s.conf))
	for _, c := range s.conf {
		out = append(out, *cloneConflict(c))
	}
	return out
}
