package mock

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/billsync/billsync"
)

// heldRun is a held run with the changes it holds (nil once decided).
type heldRun struct {
	r       billsync.HeldRun
	changes []billsync.Change
}

func cloneHeld(r billsync.HeldRun) billsync.HeldRun {
	r.Sample = slices.Clone(r.Sample)
	if r.Sample == nil {
		r.Sample = []billsync.HeldRecord{}
	}
	r.Guard.Reasons = slices.Clone(r.Guard.Reasons)
	return r
}

// HoldRun stores r as pending with its changes.
func (s *Store) HoldRun(ctx context.Context, r *billsync.HeldRun, changes []*billsync.Change) error {
	if r == nil || r.Object == "" {
		return billsync.Errorf(billsync.EINVALID, "a held run needs an object type")
	}
	if r.Kind != billsync.HeldKindResync && r.Kind != billsync.HeldKindInitial && r.Kind != billsync.HeldKindBurst {
		return billsync.Errorf(billsync.EINVALID, "held run kind must be resync, initial or burst, not %q", r.Kind)
	}
	held := make([]billsync.Change, len(changes))
	for i, c := range changes {
		if err := checkChange(c); err != nil {
			return err
		}
		held[i] = cloneChange(*c)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Created.IsZero() {
		r.Created = s.now()
	}
	r.ID, r.State, r.Changes = int64(len(s.held)+1), billsync.HeldPending, len(changes)
	r.DecidedAt, r.DecidedBy = time.Time{}, ""
	s.held = append(s.held, &heldRun{r: cloneHeld(*r), changes: held})
	return nil
}

// HeldRuns lists held runs newest first.
func (s *Store) HeldRuns(ctx context.Context, f billsync.HeldRunFilter) ([]billsync.HeldRun, error) {
	switch f.State {
	case "", billsync.HeldPending, billsync.HeldApproved, billsync.HeldDiscarded:
	default:
		return nil, billsync.Errorf(billsync.EINVALID, "held run state must be pending, approved or discarded, not %q", f.State)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []billsync.HeldRun{}
	for i := len(s.held) - 1; i >= 0 && len(out) < limit; i-- {
		if f.State == "" || s.held[i].r.State == f.State {
			out = append(out, cloneHeld(s.held[i].r))
		}
	}
	return out, nil
}

// HeldRun returns one held run; ENOTFOUND when there is none.
func (s *Store) HeldRun(ctx context.Context, id int64) (*billsync.HeldRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, err := s.heldRunLocked(id)
	if err != nil {
		return nil, err
	}
	r := cloneHeld(h.r)
	return &r, nil
}

func (s *Store) heldRunLocked(id int64) (*heldRun, error) {
	if id < 1 || id > int64(len(s.held)) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no held run %d", id)
	}
	return s.held[id-1], nil
}

// ApproveHeldRun queues a pending run's changes and marks it approved.
func (s *Store) ApproveHeldRun(ctx context.Context, id int64, actor string) (*billsync.HeldRun, error) {
	return s.decideHeld(id, actor, billsync.HeldApproved)
}

// DiscardHeldRun drops a pending run's changes and marks it discarded.
func (s *Store) DiscardHeldRun(ctx context.Context, id int64, actor string) (*billsync.HeldRun, error) {
	return s.decideHeld(id, actor, billsync.HeldDiscarded)
}

func (s *Store) decideHeld(id int64, actor, state string) (*billsync.HeldRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, err := s.heldRunLocked(id)
	if err != nil {
		return nil, err
	}
	if h.r.State != billsync.HeldPending {
		return nil, billsync.Errorf(billsync.ECONFLICT, "held run %d is %s, not pending", id, h.r.State)
	}
	now := s.now()
	if state == billsync.HeldApproved {
		for i := range h.changes {
			c := h.changes[i]
			c.ID, c.Attempt, c.LastError = 0, 0, ""
			if h.r.Kind == billsync.HeldKindBurst && c.EventID != "" {
				c.EventID = fmt.Sprintf("%s%d:%s", billsync.HeldEventPrefix, id, c.EventID)
			}
			s.enqueueLocked(&c, now)
		}
	}
	h.changes = nil
	h.r.State, h.r.DecidedAt, h.r.DecidedBy = state, now, actor
	old, _ := json.Marshal(map[string]string{"state": billsync.HeldPending})
	nv, _ := json.Marshal(map[string]any{"state": state, "object": h.r.Object, "job": h.r.Job,
		"deletes": h.r.Guard.Deletes, "overwrites": h.r.Guard.Overwrites, "changes": h.r.Changes})
	s.audit = append(s.audit, billsync.AuditEntry{ID: int64(len(s.audit) + 1), Time: now, Actor: actor, Key: billsync.HeldAuditKey(id), Old: old, New: nv})
	r := cloneHeld(h.r)
	return &r, nil
}

// HoldBurstChange adds c to the pending burst run of r.Object, creating
// it from r when there is none.
func (s *Store) HoldBurstChange(ctx context.Context, r *billsync.HeldRun, c *billsync.Change, rec billsync.HeldRecord) (*billsync.HeldRun, bool, error) {
	if r == nil || r.Object == "" {
		return nil, false, billsync.Errorf(billsync.EINVALID, "a held run needs an object type")
	}
	if err := checkChange(c); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var h *heldRun
	for _, x := range s.held {
		if x.r.Kind == billsync.HeldKindBurst && x.r.Object == r.Object && x.r.State == billsync.HeldPending {
			h = x
		}
	}
	created := h == nil
	if created {
		nr := cloneHeld(*r)
		nr.ID, nr.Kind, nr.State, nr.Changes, nr.Created = int64(len(s.held)+1), billsync.HeldKindBurst, billsync.HeldPending, 0, s.now()
		nr.Sample = []billsync.HeldRecord{}
		h = &heldRun{r: nr}
		s.held = append(s.held, h)
	}
	dup := c.EventID != "" && slices.ContainsFunc(h.changes, func(x billsync.Change) bool { return x.EventID == c.EventID })
	if !dup {
		h.changes = append(h.changes, cloneChange(*c))
		h.r.Changes++
		h.r.AddBurstRecord(rec, r.Guard.Reasons)
	}
	out := cloneHeld(h.r)
	return &out, created, nil
}

// CountSynced counts the sync states of t.
func (s *Store) CountSynced(ctx context.Context, t billsync.ObjectType) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for k := range s.states {
		if k.t == t {
			n++
		}
	}
	return n, nil
}
