package sqlstore

import (
	"context"
	"database/sql"
	"errors"
)

// Prepared statements
//
// modernc.org/sqlite parses and compiles a statement's SQL on every call
// that is not made through a prepared statement, and that parsing was up
// to a third of a call's CPU (an enqueue's, a sync-state read's). So where the dialect asks
// for it (Dialect.Prepare), the statements each change runs are prepared
// once, at Open, on the pool that runs them: database/sql keeps a Stmt
// prepared per connection, and Tx.StmtContext binds it to a transaction's
// connection reusing the driver's statement, group commit's savepoints
// included. They are prepared at Open and not on first use because SQLite's
// writer pool has one connection, which is busy with the very transaction
// that would ask for the statement. Any other statement runs unprepared,
// as before. pgx caches every statement it prepares per connection by
// itself, so PostgreSQL leaves Prepare off.

// stmts are statements prepared on one pool, by their SQL.
type stmts map[string]*sql.Stmt

// prepare prepares each of queries on db. Empty queries and repeats are
// passed over.
func prepare(ctx context.Context, db *sql.DB, queries ...string) (stmts, error) {
	m := make(stmts, len(queries))
	for _, q := range queries {
		if q == "" || m[q] != nil {
			continue
		}
		ps, err := db.PrepareContext(ctx, q)
		if err != nil {
			_ = m.close()
			return nil, err
		}
		m[q] = ps
	}
	return m, nil
}

func (m stmts) close() error {
	var errs []error
	for _, ps := range m {
		errs = append(errs, ps.Close())
	}
	return errors.Join(errs...)
}

// statements is the SQL of the store's statements that depend on the
// dialect, put together once.
type statements struct {
	followers, putSyncState, addConflict string
	lockQueueRow, lockDeadLetter         string
	fence, extendParts                   string
}

func newStatements(d Dialect) statements {
	st := statements{
		followers: FollowersSQL(d),
		fence:     fenceSQL + d.FenceLock,
		putSyncState: `INSERT INTO sync_state (` + SyncStateColumns + `) VALUES ($1, $2, $3, $4, $5, $6` + d.JSONCast + `, $7)
			` + PutSyncStateConflict,
		addConflict: `INSERT INTO conflicts (` + InsertConflictColumns + `)
			VALUES ($1, $2, $3, $4, $5` + d.JSONCast + `, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
	}
	if d.LockPartition != nil {
		st.lockQueueRow = `SELECT ` + d.LockPartition("partition_key") + ` FROM queue WHERE id = $1`
		st.lockDeadLetter = `SELECT ` + d.LockPartition("partition_key") + ` FROM dead_letters WHERE id = $1`
		st.extendParts = extendPartitionsSQL(d)
	}
	return st
}

// FollowersSQL leases, with lease end $1, the changes that follow the
// heads named in $2 (the dialect's IDsInJSON) in their partitions, up to
// $3 per partition counting the head. A head is its partition's lowest id,
// so its followers are the partition's next ids up to the ($3-1)th, which
// the subquery finds by stepping that far through queue_partition: both
// ends of each partition's range are bound, so a claim reads only what it
// takes, however many changes wait behind the runs. (Ordering by the
// index's columns keeps PostgreSQL on that index.) Without a ($3-1)th
// follower every follower is taken.
func FollowersSQL(d Dialect) string {
	return `UPDATE queue SET state = 'running', attempt = attempt + 1, fence = fence + 1, lease_until = $1
	WHERE id IN (
		SELECT f.id FROM queue h JOIN queue f ON f.partition_key = h.partition_key AND f.id > h.id
		WHERE h.id IN (` + d.IDsInJSON + `)
		AND f.id <= coalesce((SELECT x.id FROM queue x WHERE x.partition_key = h.partition_key AND x.id > h.id
			ORDER BY x.partition_key, x.id LIMIT 1 OFFSET $3 - 2), 9223372036854775807)
	)
	RETURNING ` + ClaimColumns
}

// Savepoints of group commit.
const (
	savepointSQL  = "SAVEPOINT w"
	releaseSQL    = "RELEASE w"
	rollbackToSQL = "ROLLBACK TO w"
)

// writeSQL are the statements prepared on the write pool: those every
// change runs (enqueue, claim, sync state, complete, log) and the
// stream's and leases' steady ones.
func (s *Store) writeSQL() []string {
	q := []string{s.d.InsertChangeSQL, s.d.SeenSQL, RefreshHeadSQL, s.d.ClaimSQL, s.sql.followers,
		completeSQL, retryReturningSQL, releaseChangeSQL, InsertLogSQL, s.sql.putSyncState, DeleteSyncStateSQL,
		SetReplayIDSQL, TryLeaseSQL, s.sql.lockQueueRow, s.sql.fence, ExtendSQL}
	if s.d.GroupCommit {
		q = append(q, savepointSQL, releaseSQL, rollbackToSQL)
	}
	return q
}

// readSQL are the statements prepared on the read pool: the engine's
// lookups of each change.
var readSQL = []string{SyncStateSQL, SyncStateBySalesforceSQL, HeldConflictSQL, MetaSQL, ReplayIDSQL, SettingsSQL}

// prepareAll prepares writeSQL and readSQL where the dialect asks for it.
func (s *Store) prepareAll(ctx context.Context) error {
	if !s.d.Prepare {
		return nil
	}
	var err error
	if s.wstmts, err = prepare(ctx, s.w, s.writeSQL()...); err != nil {
		return s.err("prepare", err)
	}
	if s.rstmts, err = prepare(ctx, s.r, readSQL...); err != nil {
		return s.err("prepare", err)
	}
	s.group.stmts = s.wstmts
	return nil
}

// txn is a write transaction: database/sql's, the connection it runs on
// where the dialect pipelines, and the write pool's prepared statements.
// Its ExecContext, QueryContext and QueryRowContext run a prepared
// statement where there is one, and with detach (Dialect.NoInterrupt)
// leave a live context's cancellation out of the statement.
type txn struct {
	*sql.Tx
	conn   *sql.Conn
	stmts  stmts
	bound  []boundStmt
	detach bool
}

// stmtCtx is the context a statement of tx runs under: ctx, or ctx
// without its cancellation where tx detaches and ctx is live. An ended
// context is passed on, so that the statement fails at once.
func (tx *txn) stmtCtx(ctx context.Context) context.Context {
	if tx.detach {
		return noInterrupt(ctx)
	}
	return ctx
}

// noInterrupt is ctx without its cancellation, unless it has ended.
func noInterrupt(ctx context.Context) context.Context {
	if ctx.Done() == nil || ctx.Err() != nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// boundStmt is a prepared statement bound to the transaction.
type boundStmt struct {
	pool, tx *sql.Stmt
}

// stmt is the prepared statement of query bound to tx, or nil when query
// is not prepared.
func (tx *txn) stmt(ctx context.Context, query string) *sql.Stmt {
	ps := tx.stmts[query]
	if ps == nil {
		return nil
	}
	for _, b := range tx.bound {
		if b.pool == ps {
			return b.tx
		}
	}
	ts := tx.Tx.StmtContext(ctx, ps)
	tx.bound = append(tx.bound, boundStmt{ps, ts})
	return ts
}

func (tx *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = tx.stmtCtx(ctx)
	if ps := tx.stmt(ctx, query); ps != nil {
		return ps.ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

func (tx *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = tx.stmtCtx(ctx)
	if ps := tx.stmt(ctx, query); ps != nil {
		return ps.QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

func (tx *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = tx.stmtCtx(ctx)
	if ps := tx.stmt(ctx, query); ps != nil {
		return ps.QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}

// readRow runs a query of one row on the read pool, prepared where it
// is: a lookup by key, which Dialect.NoInterrupt runs detached.
func (s *Store) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	if s.d.NoInterrupt {
		ctx = noInterrupt(ctx)
	}
	if ps := s.rstmts[query]; ps != nil {
		return ps.QueryRowContext(ctx, args...)
	}
	return s.r.QueryRowContext(ctx, query, args...)
}

// read runs a query on the read pool, prepared where it is.
func (s *Store) read(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if ps := s.rstmts[query]; ps != nil {
		return ps.QueryContext(ctx, args...)
	}
	return s.r.QueryContext(ctx, query, args...)
}
