package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// DefaultSeenRetention is how long a processed event id is remembered.
const DefaultSeenRetention = sqlstore.DefaultSeenRetention

// seenPruneEvery bounds how often Enqueue spends time deleting expired
// event ids.
const seenPruneEvery = sqlstore.SeenPruneEvery

// minPoolConns is the pool size used unless the DSN sets pool_max_conns:
// pgx's default (the number of CPUs, at least 4) is below what a replica's
// workers, listener and HTTP handlers use at once on a small machine.
const minPoolConns = 16

// Options configures Open. The zero value is usable.
type Options struct {
	// Clock returns the current time; time.Now when nil. Queue and named
	// leases are measured on it, so replicas on different hosts need
	// synchronised clocks (NTP), as lease expiry tolerates only small skew.
	Clock func() time.Time
	// Logger receives operational messages; discarded when nil.
	Logger *slog.Logger
	// SeenRetention is how long processed event ids are remembered for
	// dedupe (default 7 days). It must exceed the longest time a source
	// may redeliver an event: billing webhooks retry for about 3 days and
	// the Salesforce event bus keeps events for 3 days.
	SeenRetention time.Duration
}

// Store is the PostgreSQL billsync.Store. It is safe for concurrent use,
// and several processes may share its database.
type Store struct {
	pool   *pgxpool.Pool
	now    func() time.Time
	log    *slog.Logger
	seenTT time.Duration

	prune sqlstore.Throttle // of pruning seen event ids

	closeOnce sync.Once
}

var _ billsync.Store = (*Store)(nil)

// Open connects to dsn (a postgres:// URL or key=value string; pgx's
// pool_* parameters and runtime parameters such as search_path are
// honoured) and brings the schema up to date under an advisory lock.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included.
		return nil, billsync.Errorf(billsync.EINVALID, "postgres store: the database URL does not parse")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = max(cfg.MaxConns, minPoolConns)
	}
	s := &Store{}
	s.now, s.log, s.seenTT = sqlstore.Defaults(opts.Clock, opts.Logger, opts.SeenRetention)
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, dbErr("connect", err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, dbErr("connect", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// maxTxAttempts bounds how often a transaction is re-run after a deadlock
// or serialization failure. The lock order below makes deadlocks unlikely;
// the retry covers what the order cannot (another tool holding locks).
const maxTxAttempts = 3

// tx runs fn in a READ COMMITTED transaction and commits it unless fn
// fails. fn may run again after a deadlock, so it must reset what it
// collects.
func (s *Store) tx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil || !retryable(err) || ctx.Err() != nil {
			break
		}
		s.log.Debug("postgres store: retrying transaction", "op", op, "attempt", attempt, "err", err)
	}
	return dbErr(op, err)
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// dbErr gives err the operation's name and, for the failures a caller can
// act on, a billsync error code. Errors that already carry a code are
// passed through with the context added.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var be *billsync.Error
	if errors.As(err, &be) {
		return fmt.Errorf("postgres store: %s: %w", op, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("postgres store: %s: %w", op, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return fmt.Errorf("postgres store: %s: %w: %w", op, billsync.Errorf(billsync.ECONFLICT, "%s", constraintMessage(pe)), err)
		case pe.Code == "40001", pe.Code == "40P01", pe.Code == "55P03": // serialization, deadlock, lock not available
			return fmt.Errorf("postgres store: %s: %w: %w", op, billsync.Errorf(billsync.EUNAVAILABLE, "database is busy"), err)
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "53"), strings.HasPrefix(pe.Code, "57P"):
			// connection exceptions, insufficient resources, shutdown
			return fmt.Errorf("postgres store: %s: %w: %w", op, billsync.Errorf(billsync.EUNAVAILABLE, "database unavailable: %s", pe.Message), err)
		case pe.Code == "3F000": // invalid_schema_name
			return fmt.Errorf("postgres store: %s: %w: %w", op, billsync.Errorf(billsync.EINVALID, "the schema on the search_path does not exist"), err)
		}
		return fmt.Errorf("postgres store: %s: %w", op, err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return fmt.Errorf("postgres store: %s: %w: %w", op, billsync.Errorf(billsync.EUNAVAILABLE, "database unreachable"), err)
	}
	return fmt.Errorf("postgres store: %s: %w", op, err)
}

func constraintMessage(pe *pgconn.PgError) string {
	switch pe.ConstraintName {
	case "sync_state_salesforce_id":
		return "another record is already mapped to this Salesforce id"
	case "conflicts_held":
		return "the record already has a held conflict"
	}
	return "constraint violated"
}
