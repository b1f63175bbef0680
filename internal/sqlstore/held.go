package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/billsync/billsync"
)

// HeldRunColumns are the columns HeldRunRow scans, in its order.
const HeldRunColumns = `id, created_at, kind, job, object, state, changes, summary, decided_at, decided_by`

// Held run SQL both engines run unchanged (the insert, which casts its
// JSON, is built per dialect).
const (
	HeldRunSQL = `SELECT ` + HeldRunColumns + ` FROM held_runs WHERE id = $1`
	// HeldChangesSQL reads the changes of run $1 in their order.
	HeldChangesSQL = `SELECT change FROM held_changes WHERE run_id = $1 ORDER BY seq`
	// InsertHeldChangeSQL stores change $3 (JSON) with event id $4 as
	// number $2 of run $1, unless the run holds that event id already.
	InsertHeldChangeSQL = `INSERT INTO held_changes (run_id, seq, change, event_id) VALUES ($1, $2, $3, $4)
		ON CONFLICT (run_id, event_id) WHERE event_id <> '' DO NOTHING`
	// LockBurstSQL finds the pending burst run of object $1 and locks its
	// row (an update that changes nothing), so that concurrent holders on
	// PostgreSQL take turns and each reads the count the last one left.
	LockBurstSQL = `UPDATE held_runs SET changes = changes WHERE object = $1 AND kind = 'burst' AND state = 'pending' RETURNING ` + HeldRunColumns
	// CountSyncedSQL counts the sync states of object $1.
	CountSyncedSQL = `SELECT count(*) FROM sync_state WHERE object = $1`
	// DropHeldChangesSQL forgets the changes of a decided run.
	DropHeldChangesSQL = `DELETE FROM held_changes WHERE run_id = $1`
	// DecideHeldRunSQL marks run $4 $1 by $2 at $3 if it is pending. Under
	// PostgreSQL's READ COMMITTED a concurrent decision waits for this
	// one's row lock and then re-checks the state, so at most one wins.
	DecideHeldRunSQL = `UPDATE held_runs SET state = $1, decided_by = $2, decided_at = $3
		WHERE id = $4 AND state = 'pending' RETURNING ` + HeldRunColumns
)

// heldSummary is what held_runs.summary keeps: the parts of a HeldRun
// without a column of their own.
type heldSummary struct {
	Guard  billsync.GuardCheck   `json:"guard"`
	Sample []billsync.HeldRecord `json:"sample"`
}

// CheckHeldRun is EINVALID for a run HoldRun cannot store.
func CheckHeldRun(r *billsync.HeldRun, changes []*billsync.Change) error {
	switch {
	case r == nil || r.Object == "":
		return billsync.Errorf(billsync.EINVALID, "a held run needs an object type")
	case r.Kind != billsync.HeldKindResync && r.Kind != billsync.HeldKindInitial && r.Kind != billsync.HeldKindBurst:
		return billsync.Errorf(billsync.EINVALID, "held run kind must be %s, %s or %s, not %q",
			billsync.HeldKindResync, billsync.HeldKindInitial, billsync.HeldKindBurst, r.Kind)
	}
	return CheckChanges(changes)
}

// CheckHeldState is EINVALID for a state filter that names no state.
func CheckHeldState(state string) error {
	switch state {
	case "", billsync.HeldPending, billsync.HeldApproved, billsync.HeldDiscarded:
		return nil
	}
	return billsync.Errorf(billsync.EINVALID, "held run state must be %s, %s or %s, not %q",
		billsync.HeldPending, billsync.HeldApproved, billsync.HeldDiscarded, state)
}

// HeldRunRow is what a row of HeldRunColumns is scanned into.
type HeldRunRow struct {
	r       billsync.HeldRun
	object  string
	summary []byte
	at, dAt *int64
	changes int64
}

// Dest are the scan destinations of HeldRunColumns.
func (row *HeldRunRow) Dest() []any {
	return []any{&row.r.ID, &row.at, &row.r.Kind, &row.r.Job, &row.object, &row.r.State, &row.changes, &row.summary, &row.dAt, &row.r.DecidedBy}
}

// HeldRun is the scanned run.
func (row *HeldRunRow) HeldRun() (*billsync.HeldRun, error) {
	r := row.r
	r.Object = billsync.ObjectType(row.object)
	r.Created = TimeFromNanos(row.at)
	r.DecidedAt = TimeFromNanos(row.dAt)
	r.Changes = int(row.changes)
	var s heldSummary
	if err := json.Unmarshal(row.summary, &s); err != nil {
		return nil, fmt.Errorf("summary of held run %d: %w", r.ID, err)
	}
	r.Guard, r.Sample = s.Guard, s.Sample
	if r.Sample == nil {
		r.Sample = []billsync.HeldRecord{}
	}
	return &r, nil
}

func scanHeldRun(r scanner) (*billsync.HeldRun, error) {
	var row HeldRunRow
	if err := r.Scan(row.Dest()...); err != nil {
		return nil, err
	}
	return row.HeldRun()
}

// HoldRun stores r as pending with its changes, in one transaction.
func (s *Store) HoldRun(ctx context.Context, r *billsync.HeldRun, changes []*billsync.Change) error {
	if err := CheckHeldRun(r, changes); err != nil {
		return err
	}
	created := r.Created
	if created.IsZero() {
		created = s.now().UTC()
	}
	sum, err := json.Marshal(heldSummary{Guard: r.Guard, Sample: r.Sample})
	if err != nil {
		return billsync.Errorf(billsync.EINVALID, "held run of %s: %v", r.Object, err)
	}
	enc := make([][]byte, len(changes))
	for i, c := range changes {
		if enc[i], err = json.Marshal(c); err != nil {
			return billsync.Errorf(billsync.EINVALID, "held change of %s %s: %v", c.Object, c.RecordID, err)
		}
	}
	insert := `INSERT INTO held_runs (created_at, kind, job, object, state, changes, summary)
		VALUES ($1, $2, $3, $4, 'pending', $5, $6` + s.d.JSONCast + `) RETURNING id`
	var id int64
	err = s.tx(ctx, "hold run", func(tx *txn) error {
		if err := tx.QueryRowContext(ctx, insert, created.UnixNano(), r.Kind, r.Job, string(r.Object), len(changes), string(sum)).Scan(&id); err != nil {
			return err
		}
		var b batch
		for i := range enc {
			b.exec(InsertHeldChangeSQL, id, i, enc[i], changes[i].EventID)
		}
		return s.run(ctx, tx, b)
	})
	if err != nil {
		return err
	}
	r.ID, r.State, r.Changes, r.Created = id, billsync.HeldPending, len(changes), created
	return nil
}

// HeldRuns lists held runs newest first.
func (s *Store) HeldRuns(ctx context.Context, f billsync.HeldRunFilter) ([]billsync.HeldRun, error) {
	if err := CheckHeldState(f.State); err != nil {
		return nil, err
	}
	limit := ClampLimit(f.Limit, DefaultLimit, MaxLimit)
	q, args := `SELECT `+HeldRunColumns+` FROM held_runs ORDER BY id DESC LIMIT $1`, []any{limit}
	if f.State != "" {
		q, args = `SELECT `+HeldRunColumns+` FROM held_runs WHERE state = $1 ORDER BY id DESC LIMIT $2`, []any{f.State, limit}
	}
	out := []billsync.HeldRun{}
	err := queryAll(ctx, s, "held runs", q, args, func(rows *sql.Rows) error {
		r, err := scanHeldRun(rows)
		if err == nil {
			out = append(out, *r)
		}
		return err
	})
	return out, err
}

// HeldRun returns one held run; ENOTFOUND when there is none.
func (s *Store) HeldRun(ctx context.Context, id int64) (*billsync.HeldRun, error) {
	r, err := scanHeldRun(s.readRow(ctx, HeldRunSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no held run %d", id)
	}
	if err != nil {
		return nil, s.err("held run", err)
	}
	return r, nil
}

// ApproveHeldRun queues a pending run's changes and marks it approved.
func (s *Store) ApproveHeldRun(ctx context.Context, id int64, actor string) (*billsync.HeldRun, error) {
	return s.decideHeldRun(ctx, id, actor, billsync.HeldApproved)
}

// DiscardHeldRun drops a pending run's changes and marks it discarded.
func (s *Store) DiscardHeldRun(ctx context.Context, id int64, actor string) (*billsync.HeldRun, error) {
	return s.decideHeldRun(ctx, id, actor, billsync.HeldDiscarded)
}

// decideHeldRun marks run id state (approved or discarded), queues its
// changes when approved, drops them and audits the decision, all in one
// transaction: a crash leaves the run pending with its changes, or
// decided with them queued, never half of each.
func (s *Store) decideHeldRun(ctx context.Context, id int64, actor, state string) (*billsync.HeldRun, error) {
	now := s.now().UTC()
	var out *billsync.HeldRun
	var queued []*billsync.Change
	var ids []int64
	var dup []bool
	err := s.tx(ctx, state+" held run", func(tx *txn) error {
		queued, ids, dup = nil, nil, nil // fn may run again
		var err error
		out, err = scanHeldRun(tx.QueryRowContext(ctx, DecideHeldRunSQL, state, actor, now.UnixNano(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return heldNotPending(ctx, tx, id)
		}
		if err != nil {
			return err
		}
		if state == billsync.HeldApproved {
			if queued, err = heldChanges(ctx, tx, id); err != nil {
				return err
			}
			if out.Kind == billsync.HeldKindBurst {
				ReleaseBurst(id, queued)
			}
			if len(queued) > 0 {
				ids, dup = make([]int64, len(queued)), make([]bool, len(queued))
				if err := s.insertChanges(ctx, tx, queued, now, ids, dup); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, DropHeldChangesSQL, id); err != nil {
			return err
		}
		old, _ := json.Marshal(map[string]string{"state": billsync.HeldPending})
		nv, _ := json.Marshal(map[string]any{"state": state, "object": out.Object, "job": out.Job,
			"deletes": out.Guard.Deletes, "overwrites": out.Guard.Overwrites, "changes": out.Changes})
		o := string(old)
		_, err = tx.ExecContext(ctx, InsertAuditSQL, AuditArgs(now.UnixNano(), actor, billsync.HeldAuditKey(id), &o, nv)...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// heldNotPending says why run id could not be decided: ENOTFOUND, or
// ECONFLICT naming its state.
func heldNotPending(ctx context.Context, tx *txn, id int64) error {
	var state string
	err := tx.QueryRowContext(ctx, `SELECT state FROM held_runs WHERE id = $1`, id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return billsync.Errorf(billsync.ENOTFOUND, "no held run %d", id)
	}
	if err != nil {
		return err
	}
	return billsync.Errorf(billsync.ECONFLICT, "held run %d is %s, not pending", id, state)
}

// heldChanges reads run id's changes in their order.
func heldChanges(ctx context.Context, tx *txn, id int64) ([]*billsync.Change, error) {
	rows, err := tx.QueryContext(ctx, HeldChangesSQL, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*billsync.Change
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		var c billsync.Change
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("held change of run %d: %w", id, err)
		}
		// As queued anew: the queue assigns these.
		c.ID, c.Attempt, c.LastError = 0, 0, ""
		out = append(out, &c)
	}
	return out, rows.Err()
}

// ReleaseBurst gives the changes of approved burst run id the event ids
// they are queued under again: their own were seen when they first came.
func ReleaseBurst(id int64, changes []*billsync.Change) {
	for _, c := range changes {
		if c.EventID != "" {
			c.EventID = fmt.Sprintf("%s%d:%s", billsync.HeldEventPrefix, id, c.EventID)
		}
	}
}

// HoldBurstChange adds c to the pending burst run of r.Object.
func (s *Store) HoldBurstChange(ctx context.Context, r *billsync.HeldRun, c *billsync.Change, rec billsync.HeldRecord) (*billsync.HeldRun, bool, error) {
	r.Kind = billsync.HeldKindBurst
	if err := CheckHeldRun(r, []*billsync.Change{c}); err != nil {
		return nil, false, err
	}
	enc, err := json.Marshal(c)
	if err != nil {
		return nil, false, billsync.Errorf(billsync.EINVALID, "held change of %s %s: %v", c.Object, c.RecordID, err)
	}
	now := s.now().UTC()
	insert := `INSERT INTO held_runs (created_at, kind, job, object, state, changes, summary)
		VALUES ($1, 'burst', $2, $3, 'pending', 0, $4` + s.d.JSONCast + `) ON CONFLICT (object) WHERE kind = 'burst' AND state = 'pending' DO NOTHING`
	update := `UPDATE held_runs SET changes = $2, summary = $3` + s.d.JSONCast + ` WHERE id = $1`
	var out *billsync.HeldRun
	var created bool
	err = s.tx(ctx, "hold burst change", func(tx *txn) error {
		out, created = nil, false // fn may run again
		sum, err := json.Marshal(heldSummary{Guard: r.Guard, Sample: []billsync.HeldRecord{}})
		if err != nil {
			return err
		}
		n, err := rowsAffected(tx.ExecContext(ctx, insert, now.UnixNano(), r.Job, string(r.Object), string(sum)))
		if err != nil {
			return err
		}
		created = n > 0
		if out, err = scanHeldRun(tx.QueryRowContext(ctx, LockBurstSQL, string(r.Object))); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				// Decided between the insert and the lock: the
				// change is tried again and starts a new run.
				return billsync.Errorf(billsync.EUNAVAILABLE, "the pending burst run of %s was decided meanwhile", r.Object)
			}
			return err
		}
		added, err := rowsAffected(tx.ExecContext(ctx, InsertHeldChangeSQL, out.ID, out.Changes, enc, c.EventID))
		if err != nil || added == 0 {
			return err
		}
		out.Changes++
		out.AddBurstRecord(rec, r.Guard.Reasons)
		sum, err = json.Marshal(heldSummary{Guard: out.Guard, Sample: out.Sample})
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, update, out.ID, out.Changes, string(sum))
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

// CountSynced counts the sync states of t.
func (s *Store) CountSynced(ctx context.Context, t billsync.ObjectType) (int64, error) {
	var n int64
	if err := s.readRow(ctx, CountSyncedSQL, string(t)).Scan(&n); err != nil {
		return 0, s.err("count synced", err)
	}
	return n, nil
}
