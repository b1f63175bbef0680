package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billsync/billsync"
)

const conflictColumns = `id, at, object, billing_id, salesforce_id, fields, policy, status, winner,
	billing_changed_at, salesforce_changed_at, resolved_at, resolved_by, change_id, event_id`

// The engine asks for a record's held conflict on every change it applies,
// and metrics count held conflicts on every scrape, however long the
// history of resolved ones. The status is a literal so that the planner
// can prove the partial index conflicts_held applies, which it cannot for
// a bound parameter under a generic plan.
const (
	heldConflictSQL = `SELECT ` + conflictColumns + ` FROM conflicts WHERE object = $1 AND billing_id = $2 AND status = 'held'`
	countHeldSQL    = `SELECT count(*) FROM conflicts WHERE status = 'held'`
)

// AddConflict stores c and sets its ID; a zero Time is set to now, on c
// too. A second held conflict for a record that already has one is
// ECONFLICT.
func (s *Store) AddConflict(ctx context.Context, c *billsync.Conflict) error {
	if c == nil || c.Object == "" || c.BillingID == "" {
		return billsync.Errorf(billsync.EINVALID, "a conflict needs an object type and a billing id")
	}
	if c.Status != billsync.ConflictHeld && c.Status != billsync.ConflictResolved {
		return billsync.Errorf(billsync.EINVALID, "conflict status must be %s or %s, not %q", billsync.ConflictHeld, billsync.ConflictResolved, c.Status)
	}
	if c.Winner != "" && !validSide(c.Winner) {
		return billsync.Errorf(billsync.EINVALID, "conflict winner must be billing or salesforce, not %q", c.Winner)
	}
	fields := c.Fields
	if fields == nil {
		fields = []billsync.ConflictField{}
	}
	fj, err := json.Marshal(fields)
	if err != nil {
		return billsync.Errorf(billsync.EINVALID, "conflict fields of %s %s: %v", c.Object, c.BillingID, err)
	}
	if c.Time.IsZero() {
		c.Time = s.now().UTC()
	}
	var id int64
	err = s.tx(ctx, "add conflict", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO conflicts (at, object, billing_id, salesforce_id, fields, policy, status, winner,
			billing_changed_at, salesforce_changed_at, resolved_at, resolved_by, change_id, event_id)
			VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
			c.Time.UnixNano(), string(c.Object), c.BillingID, c.SalesforceID, string(fj), c.Policy, c.Status, string(c.Winner),
			dbTime(c.BillingChangedAt), dbTime(c.SalesforceChangedAt), dbTime(c.ResolvedAt), c.ResolvedBy, c.ChangeID, c.EventID,
		).Scan(&id)
	})
	if err != nil {
		return err
	}
	// Only after the commit: a rolled-back insert must not look stored.
	c.ID = id
	return nil
}

// Conflicts lists conflicts newest first, with keyset paging on id like
// Logs.
func (s *Store) Conflicts(ctx context.Context, f billsync.ConflictFilter) ([]billsync.Conflict, string, error) {
	if f.Status != "" && f.Status != billsync.ConflictHeld && f.Status != billsync.ConflictResolved {
		return nil, "", billsync.Errorf(billsync.EINVALID, "conflict status must be %s or %s, not %q", billsync.ConflictHeld, billsync.ConflictResolved, f.Status)
	}
	limit := clampLimit(f.Limit, 100, 1000)
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Cursor != "" {
		before, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "id < "+arg(before))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(f.Status))
	}
	if f.Object != "" {
		where = append(where, "object = "+arg(string(f.Object)))
	}
	if f.Record != "" {
		p := arg(f.Record)
		where = append(where, "(billing_id = "+p+" OR salesforce_id = "+p+")")
	}
	q := `SELECT ` + conflictColumns + ` FROM conflicts`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	// One row more than the page tells whether another page exists.
	q += " ORDER BY id DESC LIMIT " + arg(limit+1)

	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", dbErr("conflicts", err)
	}
	defer rows.Close()
	var out []billsync.Conflict
	for rows.Next() {
		c, err := scanConflict(rows)
		if err != nil {
			return nil, "", dbErr("conflicts", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", dbErr("conflicts", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor(out[limit-1].ID)
	}
	return out, next, nil
}

// Conflict returns one conflict; ENOTFOUND when there is none.
func (s *Store) Conflict(ctx context.Context, id int64) (*billsync.Conflict, error) {
	c, err := scanConflict(s.pool.QueryRow(ctx, `SELECT `+conflictColumns+` FROM conflicts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no conflict %d", id)
	}
	if err != nil {
		return nil, dbErr("conflict", err)
	}
	return c, nil
}

// HeldConflict returns the held conflict of a record, or ENOTFOUND.
func (s *Store) HeldConflict(ctx context.Context, t billsync.ObjectType, billingID string) (*billsync.Conflict, error) {
	c, err := scanConflict(s.pool.QueryRow(ctx, heldConflictSQL, string(t), billingID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no held conflict for %s %s", t, billingID)
	}
	if err != nil {
		return nil, dbErr("held conflict", err)
	}
	return c, nil
}

// ResolveConflict marks a held conflict resolved. ENOTFOUND for an unknown
// id, ECONFLICT when it is no longer held (resolved already, perhaps by a
// concurrent request on another replica), EINVALID for a winner that is
// not a side. A zero at is now.
func (s *Store) ResolveConflict(ctx context.Context, id int64, winner billsync.Side, actor string, at time.Time) (*billsync.Conflict, error) {
	if !validSide(winner) {
		return nil, billsync.Errorf(billsync.EINVALID, "conflict winner must be billing or salesforce, not %q", winner)
	}
	if at.IsZero() {
		at = s.now()
	}
	var out *billsync.Conflict
	err := s.tx(ctx, "resolve conflict", func(tx pgx.Tx) error {
		// FOR UPDATE makes a concurrent resolver wait for this one and
		// then read "resolved", so two operators cannot both succeed.
		var status string
		err := tx.QueryRow(ctx, `SELECT status FROM conflicts WHERE id = $1 FOR UPDATE`, id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return billsync.Errorf(billsync.ENOTFOUND, "no conflict %d", id)
		}
		if err != nil {
			return err
		}
		if status != billsync.ConflictHeld {
			return billsync.Errorf(billsync.ECONFLICT, "conflict %d is %s, not held", id, status)
		}
		out, err = scanConflict(tx.QueryRow(ctx, `UPDATE conflicts SET status = $1, winner = $2, resolved_by = $3, resolved_at = $4
			WHERE id = $5 RETURNING `+conflictColumns, billsync.ConflictResolved, string(winner), actor, at.UnixNano(), id))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CountHeld is the number of held conflicts.
func (s *Store) CountHeld(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, countHeldSQL).Scan(&n); err != nil {
		return 0, dbErr("count held conflicts", err)
	}
	return n, nil
}

func validSide(s billsync.Side) bool {
	return s == billsync.SideBilling || s == billsync.SideSalesforce
}

func scanConflict(r pgx.Row) (*billsync.Conflict, error) {
	var c billsync.Conflict
	var object, winner string
	var fields []byte
	var at int64
	var bAt, sAt, rAt *int64
	if err := r.Scan(&c.ID, &at, &object, &c.BillingID, &c.SalesforceID, &fields, &c.Policy, &c.Status, &winner,
		&bAt, &sAt, &rAt, &c.ResolvedBy, &c.ChangeID, &c.EventID); err != nil {
		return nil, err
	}
	c.Time = goTime(&at)
	c.Object = billsync.ObjectType(object)
	c.Winner = billsync.Side(winner)
	c.BillingChangedAt = goTime(bAt)
	c.SalesforceChangedAt = goTime(sAt)
	c.ResolvedAt = goTime(rAt)
	if err := json.Unmarshal(fields, &c.Fields); err != nil {
		return nil, fmt.Errorf("fields of conflict %d: %w", c.ID, err)
	}
	if len(c.Fields) == 0 {
		c.Fields = nil
	}
	return &c, nil
}
