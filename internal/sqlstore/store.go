package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/billsync/billsync"
)

// Config is what Open needs from the engine's Open.
type Config struct {
	Dialect Dialect
	// Write runs every write transaction; Read every query outside one. They
	// may be the same pool. Close closes both.
	Write, Read *sql.DB
	// Where names the database in messages: a file path, "the database".
	Where string

	Clock         func() time.Time // time.Now when nil
	Logger        *slog.Logger     // discarded when nil
	SeenRetention time.Duration    // DefaultSeenRetention when zero
}

// Store is billsync.Store on a SQL database, through database/sql. The
// engine's package embeds it and adds Open. It is safe for concurrent use.
type Store struct {
	d      Dialect
	w, r   *sql.DB
	where  string
	now    func() time.Time
	log    *slog.Logger
	seenTT time.Duration

	prune Throttle    // of pruning seen event ids
	group groupCommit // used when d.GroupCommit

	sql            statements
	wstmts, rstmts stmts // prepared on w and r when d.Prepare

	closeOnce sync.Once
	closeErr  error
}

var _ billsync.Store = (*Store)(nil)

// Open returns a Store on cfg's pools once it has reached the database and
// brought its schema up to date. If it fails, it closes the pools.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s := newStore(cfg)
	ms, err := Schema(cfg.Dialect.Types)
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("%s: %w", s.d.Name, err)
	}
	if err := s.w.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, s.err("connect", err)
	}
	if err := s.migrate(ctx, ms); err != nil {
		_ = s.Close()
		return nil, err
	}
	if s.r != s.w {
		if err := s.r.PingContext(ctx); err != nil {
			_ = s.Close()
			return nil, s.err("open readers", err)
		}
	}
	if err := s.prepareAll(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func newStore(cfg Config) *Store {
	s := &Store{d: cfg.Dialect, w: cfg.Write, r: cfg.Read, where: cfg.Where}
	if s.r == nil {
		s.r = s.w
	}
	if s.d.MaxAttempts < 1 {
		s.d.MaxAttempts = 1
	}
	s.now, s.log, s.seenTT = Defaults(cfg.Clock, cfg.Logger, cfg.SeenRetention)
	s.group.db, s.group.detach = s.w, s.d.NoInterrupt
	s.sql = newStatements(s.d)
	return s
}

// Close closes the pools. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		errs := []error{s.wstmts.close(), s.rstmts.close()}
		if s.r != s.w {
			errs = append(errs, s.r.Close())
		}
		errs = append(errs, s.w.Close())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("%s: close: %w", s.d.Name, err)
		}
	})
	return s.closeErr
}

// err gives err the store's and the operation's names and, for the
// failures a caller can act on, a billsync error code. Errors that already
// carry a code are passed through with the context added.
func (s *Store) err(op string, err error) error {
	if err == nil {
		return nil
	}
	var be *billsync.Error
	if !errors.As(err, &be) && s.d.Code != nil {
		if code := s.d.Code(err); code != nil {
			return fmt.Errorf("%s: %s: %w: %w", s.d.Name, op, code, err)
		}
	}
	return fmt.Errorf("%s: %s: %w", s.d.Name, op, err)
}

// tx runs fn in a write transaction and returns once it is committed (or
// failed). fn may run again after a failure the dialect calls retryable,
// so it must reset what it collects.
func (s *Store) tx(ctx context.Context, op string, fn func(tx *txn) error) error {
	if s.d.GroupCommit {
		return s.err(op, s.group.run(ctx, fn))
	}
	var err error
	for attempt := 1; attempt <= s.d.MaxAttempts; attempt++ {
		err = s.runTx(ctx, fn)
		if err == nil || s.d.Retry == nil || !s.d.Retry(err) || ctx.Err() != nil {
			break
		}
		s.log.Debug(s.d.Name+": retrying transaction", "op", op, "attempt", attempt, "err", err)
	}
	return s.err(op, err)
}

// runTx runs fn in one transaction on its own connection.
func (s *Store) runTx(ctx context.Context, fn func(tx *txn) error) error {
	if s.d.Pipeline == nil {
		return runTx(ctx, s.w, txn{stmts: s.wstmts, detach: s.d.NoInterrupt}, fn)
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return runTx(ctx, conn, txn{conn: conn, stmts: s.wstmts, detach: s.d.NoInterrupt}, fn)
}

// runTx runs fn in one transaction of db, set up as with, and commits
// unless fn fails.
func runTx(ctx context.Context, db interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}, with txn, fn func(tx *txn) error) error {
	if with.detach {
		if err := ctx.Err(); err != nil {
			return err
		}
		ctx = context.WithoutCancel(ctx)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	with.Tx = tx
	if err := fn(&with); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// rowsAffected is the row count of an Exec's result.
func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// queryAll runs a read query and scans each row with scan, which gets the
// rows positioned on one row.
func queryAll(ctx context.Context, s *Store, op, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := s.read(ctx, query, args...)
	if err != nil {
		return s.err(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return s.err(op, err)
		}
	}
	return s.err(op, rows.Err())
}
