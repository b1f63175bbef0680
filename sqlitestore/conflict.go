package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// The engine asks for a record's held conflict on every change it applies,
// and metrics count held conflicts on every scrape, however long the
// history of resolved ones; TestConflictQueriesUseIndexes pins both to index
// searches. The status is a literal because SQLite uses the partial index
// conflicts_held only when the query's WHERE provably implies the index's,
// which a bound parameter does not.
const (
	heldConflictSQL = sqlstore.HeldConflictSQL
	countHeldSQL    = sqlstore.CountHeldSQL
)

// AddConflict stores c and sets its ID; a zero Time is set to now, on c
// too. A second held conflict for a record that already has one is
// ECONFLICT.
func (s *Store) AddConflict(ctx context.Context, c *billsync.Conflict) error {
	args, err := sqlstore.ConflictArgs(c, s.now)
	if err != nil {
		return err
	}
	var id int64
	err = s.tx(ctx, "add conflict", func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO conflicts (`+sqlstore.InsertConflictColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`, args...).Scan(&id)
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
	q, args, limit, err := sqlstore.ConflictQuery(f)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
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
	out, next := sqlstore.NextPage(out, limit, func(c *billsync.Conflict) int64 { return c.ID })
	return out, next, nil
}

// Conflict returns one conflict; ENOTFOUND when there is none.
func (s *Store) Conflict(ctx context.Context, id int64) (*billsync.Conflict, error) {
	c, err := scanConflict(s.rdb.QueryRowContext(ctx, sqlstore.ConflictSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no conflict %d", id)
	}
	if err != nil {
		return nil, dbErr("conflict", err)
	}
	return c, nil
}

// HeldConflict returns the held conflict of a record, or ENOTFOUND.
func (s *Store) HeldConflict(ctx context.Context, t billsync.ObjectType, billingID string) (*billsync.Conflict, error) {
	c, err := scanConflict(s.rdb.QueryRowContext(ctx, heldConflictSQL, string(t), billingID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no held conflict for %s %s", t, billingID)
	}
	if err != nil {
		return nil, dbErr("held conflict", err)
	}
	return c, nil
}

// ResolveConflict marks a held conflict resolved. ENOTFOUND for an unknown
// id, ECONFLICT when it is no longer held (resolved already, perhaps by a
// concurrent request), EINVALID for a winner that is not a side. A zero at
// is now.
func (s *Store) ResolveConflict(ctx context.Context, id int64, winner billsync.Side, actor string, at time.Time) (*billsync.Conflict, error) {
	if err := sqlstore.CheckWinner(winner); err != nil {
		return nil, err
	}
	if at.IsZero() {
		at = s.now()
	}
	var out *billsync.Conflict
	err := s.tx(ctx, "resolve conflict", func(tx *sql.Tx) error {
		// The status check and the update share the write transaction, so
		// two operators resolving at once cannot both succeed.
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM conflicts WHERE id = $1`, id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return billsync.Errorf(billsync.ENOTFOUND, "no conflict %d", id)
		}
		if err != nil {
			return err
		}
		if err := sqlstore.CheckHeld(id, status); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlstore.ResolveConflictSQL, sqlstore.ResolveArgs(id, winner, actor, at)...); err != nil {
			return err
		}
		out, err = scanConflict(tx.QueryRowContext(ctx, sqlstore.ConflictSQL, id))
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
	if err := s.rdb.QueryRowContext(ctx, countHeldSQL).Scan(&n); err != nil {
		return 0, dbErr("count held conflicts", err)
	}
	return n, nil
}

func scanConflict(r scanner) (*billsync.Conflict, error) {
	var row sqlstore.ConflictRow
	if err := r.Scan(row.Dest()...); err != nil {
		return nil, err
	}
	return row.Conflict()
}
