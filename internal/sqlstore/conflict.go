package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/billsync/billsync"
)

// ConflictColumns are the columns ConflictRow scans, in its order.
const ConflictColumns = `id, at, object, billing_id, salesforce_id, fields, policy, status, winner,
	billing_changed_at, salesforce_changed_at, resolved_at, resolved_by, change_id, event_id`

// InsertConflictColumns are the columns ConflictArgs fills, in its order.
const InsertConflictColumns = `at, object, billing_id, salesforce_id, fields, policy, status, winner,
	billing_changed_at, salesforce_changed_at, resolved_at, resolved_by, change_id, event_id`

// The engine asks for a record's held conflict on every change it applies,
// and metrics count held conflicts on every scrape, however long the
// history of resolved ones; each store pins both to index searches in its
// tests. The status is a literal because both planners use the partial
// index conflicts_held only when they can prove the query's WHERE implies
// the index's, which they cannot for a bound parameter (SQLite never,
// PostgreSQL not under a generic plan).
const (
	HeldConflictSQL = `SELECT ` + ConflictColumns + ` FROM conflicts WHERE object = $1 AND billing_id = $2 AND status = 'held'`
	CountHeldSQL    = `SELECT count(*) FROM conflicts WHERE status = 'held'`
	ConflictSQL     = `SELECT ` + ConflictColumns + ` FROM conflicts WHERE id = $1`
)

// ResolveConflictSQL marks conflict $5 resolved if it is held: $1 status,
// $2 winner, $3 resolved by, $4 resolved at; ResolveArgs gives the
// arguments. It returns the conflict as resolved. Under PostgreSQL's READ
// COMMITTED, a concurrent resolver waits for this one's row lock and then
// re-checks the status on the new row version, so at most one succeeds.
const ResolveConflictSQL = `UPDATE conflicts SET status = $1, winner = $2, resolved_by = $3, resolved_at = $4
	WHERE id = $5 AND status = 'held' RETURNING ` + ConflictColumns

// ValidSide reports whether s is one of the two sides.
func ValidSide(s billsync.Side) bool {
	return s == billsync.SideBilling || s == billsync.SideSalesforce
}

// CheckConflictStatus is EINVALID unless status is held or resolved.
func CheckConflictStatus(status string) error {
	if status != billsync.ConflictHeld && status != billsync.ConflictResolved {
		return billsync.Errorf(billsync.EINVALID, "conflict status must be %s or %s, not %q", billsync.ConflictHeld, billsync.ConflictResolved, status)
	}
	return nil
}

// CheckWinner is EINVALID unless winner is a side.
func CheckWinner(winner billsync.Side) error {
	if !ValidSide(winner) {
		return billsync.Errorf(billsync.EINVALID, "conflict winner must be billing or salesforce, not %q", winner)
	}
	return nil
}

// ConflictArgs validates c for AddConflict and returns the arguments of
// an insert of InsertConflictColumns, fields JSON as a string. A zero Time
// is set to now(), on c too (only once c is valid).
func ConflictArgs(c *billsync.Conflict, now func() time.Time) ([]any, error) {
	if c == nil || c.Object == "" || c.BillingID == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "a conflict needs an object type and a billing id")
	}
	if err := CheckConflictStatus(c.Status); err != nil {
		return nil, err
	}
	if c.Winner != "" {
		if err := CheckWinner(c.Winner); err != nil {
			return nil, err
		}
	}
	fields := c.Fields
	if fields == nil {
		fields = []billsync.ConflictField{}
	}
	fj, err := json.Marshal(fields)
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "conflict fields of %s %s: %v", c.Object, c.BillingID, err)
	}
	if c.Time.IsZero() {
		c.Time = now().UTC()
	}
	return []any{c.Time.UnixNano(), string(c.Object), c.BillingID, c.SalesforceID, string(fj), c.Policy, c.Status, string(c.Winner),
		NanosOrNull(c.BillingChangedAt), NanosOrNull(c.SalesforceChangedAt), NanosOrNull(c.ResolvedAt), c.ResolvedBy, c.ChangeID, c.EventID}, nil
}

// ResolveArgs are the arguments of ResolveConflictSQL.
func ResolveArgs(id int64, winner billsync.Side, actor string, at time.Time) []any {
	return []any{billsync.ConflictResolved, string(winner), actor, at.UnixNano(), id}
}

// CheckHeld is ECONFLICT unless a conflict's stored status is held.
func CheckHeld(id int64, status string) error {
	if status != billsync.ConflictHeld {
		return billsync.Errorf(billsync.ECONFLICT, "conflict %d is %s, not held", id, status)
	}
	return nil
}

// ConflictQuery builds the query of one Conflicts page, newest first with
// keyset paging on id like LogQuery. An unknown status is EINVALID.
func ConflictQuery(f billsync.ConflictFilter) (query string, args []any, limit int, err error) {
	if f.Status != "" {
		if err := CheckConflictStatus(f.Status); err != nil {
			return "", nil, 0, err
		}
	}
	limit = ClampLimit(f.Limit, DefaultLimit, MaxLimit)
	var w where
	if err := w.cursor(f.Cursor); err != nil {
		return "", nil, 0, err
	}
	if f.Status != "" {
		w.add("status = " + w.arg(f.Status))
	}
	if f.Object != "" {
		w.add("object = " + w.arg(string(f.Object)))
	}
	if f.Record != "" {
		w.record(f.Record)
	}
	return w.query(ConflictColumns, "conflicts", limit), w.args, limit, nil
}

// ConflictRow is what a row of ConflictColumns is scanned into.
type ConflictRow struct {
	c                 billsync.Conflict
	object, winner    string
	fields            []byte
	at, bAt, sAt, rAt *int64
}

// Dest are the scan destinations of ConflictColumns.
func (r *ConflictRow) Dest() []any {
	return []any{&r.c.ID, &r.at, &r.object, &r.c.BillingID, &r.c.SalesforceID, &r.fields, &r.c.Policy, &r.c.Status, &r.winner,
		&r.bAt, &r.sAt, &r.rAt, &r.c.ResolvedBy, &r.c.ChangeID, &r.c.EventID}
}

// Conflict is the scanned conflict.
func (r *ConflictRow) Conflict() (*billsync.Conflict, error) {
	c := r.c
	c.Time = TimeFromNanos(r.at)
	c.Object = billsync.ObjectType(r.object)
	c.Winner = billsync.Side(r.winner)
	c.BillingChangedAt = TimeFromNanos(r.bAt)
	c.SalesforceChangedAt = TimeFromNanos(r.sAt)
	c.ResolvedAt = TimeFromNanos(r.rAt)
	if err := json.Unmarshal(r.fields, &c.Fields); err != nil {
		return nil, fmt.Errorf("fields of conflict %d: %w", c.ID, err)
	}
	if len(c.Fields) == 0 {
		c.Fields = nil
	}
	return &c, nil
}

// AddConflict stores c and sets its ID; a zero Time is set to now, on c
// too. A second held conflict for a record that already has one is
// ECONFLICT.
func (s *Store) AddConflict(ctx context.Context, c *billsync.Conflict) error {
	args, err := ConflictArgs(c, s.now)
	if err != nil {
		return err
	}
	var id int64
	err = s.tx(ctx, "add conflict", func(tx *txn) error {
		if err := s.checkFences(ctx, tx); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, s.sql.addConflict, args...).Scan(&id)
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
	q, args, limit, err := ConflictQuery(f)
	if err != nil {
		return nil, "", err
	}
	var out []billsync.Conflict
	err = queryAll(ctx, s, "conflicts", q, args, func(rows *sql.Rows) error {
		c, err := scanConflict(rows)
		if err == nil {
			out = append(out, *c)
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	out, next := NextPage(out, limit, func(c *billsync.Conflict) int64 { return c.ID })
	return out, next, nil
}

// Conflict returns one conflict; ENOTFOUND when there is none.
func (s *Store) Conflict(ctx context.Context, id int64) (*billsync.Conflict, error) {
	c, err := scanConflict(s.readRow(ctx, ConflictSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no conflict %d", id)
	}
	if err != nil {
		return nil, s.err("conflict", err)
	}
	return c, nil
}

// HeldConflict returns the held conflict of a record, or ENOTFOUND.
func (s *Store) HeldConflict(ctx context.Context, t billsync.ObjectType, billingID string) (*billsync.Conflict, error) {
	c, err := scanConflict(s.readRow(ctx, HeldConflictSQL, string(t), billingID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no held conflict for %s %s", t, billingID)
	}
	if err != nil {
		return nil, s.err("held conflict", err)
	}
	return c, nil
}

// ResolveConflict marks a held conflict resolved. ENOTFOUND for an unknown
// id, ECONFLICT when it is no longer held (resolved already, perhaps by a
// concurrent request on another replica), EINVALID for a winner that is
// not a side. A zero at is now.
func (s *Store) ResolveConflict(ctx context.Context, id int64, winner billsync.Side, actor string, at time.Time) (*billsync.Conflict, error) {
	if err := CheckWinner(winner); err != nil {
		return nil, err
	}
	if at.IsZero() {
		at = s.now()
	}
	var out *billsync.Conflict
	err := s.tx(ctx, "resolve conflict", func(tx *txn) error {
		if err := s.checkFences(ctx, tx); err != nil {
			return err
		}
		var err error
		out, err = scanConflict(tx.QueryRowContext(ctx, ResolveConflictSQL, ResolveArgs(id, winner, actor, at)...))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Unknown, or not held: the status says which.
		var status string
		err = tx.QueryRowContext(ctx, `SELECT status FROM conflicts WHERE id = $1`, id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return billsync.Errorf(billsync.ENOTFOUND, "no conflict %d", id)
		}
		if err != nil {
			return err
		}
		if err := CheckHeld(id, status); err != nil {
			return err
		}
		return fmt.Errorf("conflict %d is held but was not resolved", id)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CountHeld is the number of held conflicts.
func (s *Store) CountHeld(ctx context.Context) (int64, error) {
	var n int64
	if err := s.readRow(ctx, CountHeldSQL).Scan(&n); err != nil {
		return 0, s.err("count held conflicts", err)
	}
	return n, nil
}

func scanConflict(r scanner) (*billsync.Conflict, error) {
	var row ConflictRow
	if err := r.Scan(row.Dest()...); err != nil {
		return nil, err
	}
	return row.Conflict()
}
