package sqlstore

import (
	"context"
	"database/sql"
	"errors"
)

// Query is one statement of a batch, and what it gave back.
type Query struct {
	SQL  string
	Args []any
	// Dest, when set, receives the statement's first row; NoRow is set
	// when it has none. Both pgx and database/sql must scan into them
	// (*int64, *string).
	Dest  []any
	NoRow bool
	// Affected is the count of rows a statement without Dest affected.
	Affected int64
}

// batch collects the statements of a transaction that do not depend on
// each other's results, so that a network engine sends them together.
type batch []*Query

func (b *batch) exec(query string, args ...any) *Query {
	q := &Query{SQL: query, Args: args}
	*b = append(*b, q)
	return q
}

func (b *batch) queryRow(query string, args []any, dest ...any) *Query {
	q := &Query{SQL: query, Args: args, Dest: dest}
	*b = append(*b, q)
	return q
}

// run runs b in tx, through the dialect's pipeline if it has one.
// Otherwise each statement runs on its own, through its prepared statement
// where the store has one, and a statement the store has not prepared but
// the batch repeats (a resync's thousands of inserts) is prepared for the
// batch.
func (s *Store) run(ctx context.Context, tx *txn, b batch) error {
	if len(b) == 0 {
		return nil
	}
	if s.d.Pipeline != nil && tx.conn != nil {
		return s.d.Pipeline(ctx, tx.conn, b)
	}
	ctx = tx.stmtCtx(ctx)
	var seen map[string]int
	var prepared map[string]*sql.Stmt
	defer func() {
		for _, ps := range prepared {
			_ = ps.Close()
		}
	}()
	for _, q := range b {
		ps := tx.stmt(ctx, q.SQL)
		if ps == nil && len(b) > 1 {
			if seen == nil {
				seen, prepared = make(map[string]int, 4), map[string]*sql.Stmt{}
				for _, q := range b {
					seen[q.SQL]++
				}
			}
			if seen[q.SQL] > 1 {
				if ps = prepared[q.SQL]; ps == nil {
					var err error
					if ps, err = tx.PrepareContext(ctx, q.SQL); err != nil {
						return err
					}
					prepared[q.SQL] = ps
				}
			}
		}
		if err := runOne(ctx, tx, ps, q); err != nil {
			return err
		}
	}
	return nil
}

// runOne runs q in tx, through ps when it is prepared.
func runOne(ctx context.Context, tx *txn, ps *sql.Stmt, q *Query) error {
	if q.Dest != nil {
		var row *sql.Row
		if ps != nil {
			row = ps.QueryRowContext(ctx, q.Args...)
		} else {
			row = tx.Tx.QueryRowContext(ctx, q.SQL, q.Args...)
		}
		err := row.Scan(q.Dest...)
		q.NoRow = errors.Is(err, sql.ErrNoRows)
		if q.NoRow {
			return nil
		}
		return err
	}
	var res sql.Result
	var err error
	if ps != nil {
		res, err = ps.ExecContext(ctx, q.Args...)
	} else {
		res, err = tx.Tx.ExecContext(ctx, q.SQL, q.Args...)
	}
	q.Affected, err = rowsAffected(res, err)
	return err
}
