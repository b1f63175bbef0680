package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// groupCommit shares commits between concurrent write transactions. With
// one writer whose every commit costs an fsync (SQLite), the writes that
// arrive while one commit is under way wait and then commit together, each
// inside its own savepoint, so one failing write rolls back alone.
type groupCommit struct {
	db     *sql.DB
	stmts  stmts // prepared on db
	detach bool  // Dialect.NoInterrupt

	mu      sync.Mutex
	writes  []*writeReq
	writing bool
}

// writeReq is one caller's write, waiting for a group commit.
type writeReq struct {
	ctx  context.Context
	fn   func(tx *txn) error
	done chan error
}

// maxGroupWrites bounds the writes one commit takes.
const maxGroupWrites = 256

// run runs fn in a write transaction and returns once it is committed (or
// failed).
func (g *groupCommit) run(ctx context.Context, fn func(tx *txn) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.writes = append(g.writes, r)
	if !g.writing {
		g.writing = true
		go g.commitLoop()
	}
	g.mu.Unlock()
	return <-r.done
}

// commitLoop commits pending writes in groups until none is left.
func (g *groupCommit) commitLoop() {
	for {
		g.mu.Lock()
		n := min(len(g.writes), maxGroupWrites)
		if n == 0 {
			g.writing = false
			g.mu.Unlock()
			return
		}
		group := g.writes[:n:n]
		g.writes = g.writes[n:]
		g.mu.Unlock()
		if len(group) == 1 {
			group[0].done <- runTx(group[0].ctx, g.db, txn{stmts: g.stmts, detach: g.detach}, group[0].fn)
			continue
		}
		g.runGroup(group)
	}
}

// runGroup commits several writes in one transaction. A write whose
// savepoint fails is rolled back to it and reports its own error; if the
// commit itself fails, every write in the group reports it.
func (g *groupCommit) runGroup(group []*writeReq) {
	tx, err := g.db.BeginTx(context.Background(), nil)
	if err != nil {
		for _, r := range group {
			r.done <- err
		}
		return
	}
	// One txn for the group, so that a statement is bound to the
	// transaction once whichever write runs it.
	t := &txn{Tx: tx, stmts: g.stmts, detach: g.detach}
	errs := make([]error, len(group))
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := t.ExecContext(r.ctx, savepointSQL); err != nil {
			errs[i] = err
			continue
		}
		if err := r.fn(t); err != nil {
			errs[i] = err
			if _, rerr := t.ExecContext(context.Background(), rollbackToSQL); rerr != nil {
				// The transaction is unusable: fail the whole group.
				_ = tx.Rollback()
				for j, r := range group {
					if errs[j] == nil {
						errs[j] = rerr
					}
					r.done <- errs[j]
				}
				return
			}
		}
		if _, err := t.ExecContext(context.Background(), releaseSQL); err != nil && errs[i] == nil {
			errs[i] = err
		}
	}
	if err := tx.Commit(); err != nil {
		for _, r := range group {
			r.done <- err
		}
		return
	}
	for i, r := range group {
		r.done <- errs[i]
	}
}
