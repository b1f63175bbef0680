package pgstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// dialect is what PostgreSQL needs beside the shared SQL. Several replicas
// write at once, so what SQLite gets from its single writer comes from
// locks here: per-partition advisory locks for the head bookkeeping, FOR
// UPDATE SKIP LOCKED for claims, an advisory lock for settings writers and
// one for migrations. Advisory locks are per database, so every key
// includes the schema: deployments (and parallel tests) in different
// schemas of one database do not contend.
var dialect = sqlstore.Dialect{
	Types:     types,
	Name:      "postgres store",
	ClaimSQL:  claimSQL,
	IDsInJSON: `SELECT jsonb_array_elements_text($2::text::jsonb)::bigint`,
	// A fenced write holds its change's row until it commits, so a
	// re-claim (which updates the row) waits for it or passes it over.
	FenceLock:       " FOR SHARE",
	InsertChangeSQL: insertChangeSQL,
	JSONCast:        "::text::jsonb",
	LockPartition:   lockPartition,
	LockSettingsSQL: `SELECT pg_advisory_xact_lock(hashtextextended('billsync.settings:' || coalesce(current_schema(), ''), 0))`,
	LockMigrations:  lockMigrations,
	Pipeline:        pipeline,
	// The lock order (sqlstore's enqueue.go) makes deadlocks unlikely; the
	// retry covers what the order cannot (another tool holding locks).
	MaxAttempts: 3,
	Retry:       retryable,
	Code:        code,
}

// lockPartition locks one partition until the transaction ends. A hash
// collision only serialises two partitions needlessly.
func lockPartition(p string) string {
	return `pg_advisory_xact_lock(hashtextextended(coalesce(current_schema(), '') || '/' || (` + p + `)::text, 0))`
}

// claimSQL leases the due heads: $1 lease end, $2 now, $3 max. Concurrent
// claimers pass over each other's rows instead of queueing, so replicas
// claiming together never receive the same change.
const claimSQL = `WITH due AS (
		SELECT id FROM queue WHERE due_at <= $2 ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED
	)
	UPDATE queue q SET state = 'running', attempt = q.attempt + 1, fence = q.fence + 1, lease_until = $1, due_at = $1
	FROM due WHERE q.id = due.id
	RETURNING q.id, q.partition_key, q.source, q.object, q.op, q.record_id, q.event_id, q.payload,
		q.occurred_at, q.enqueued_at, q.attempt, q.last_error, q.fence`

// insertChangeSQL stores a change unless its event id was seen: $6 is the
// event id, and an empty one is never deduplicated. No row back means a
// duplicate. The data-modifying CTE runs exactly once, before the insert
// reads its result, so a change costs one round trip.
const insertChangeSQL = `WITH seen AS (
		INSERT INTO seen_events (event_id, seen_at) SELECT $6::text, $9::bigint WHERE $6::text <> ''
		ON CONFLICT (event_id) DO NOTHING RETURNING 1
	)
	INSERT INTO queue (partition_key, state, source, object, op, record_id, event_id, payload,
		occurred_at, enqueued_at, attempt, last_error, next_at)
	SELECT $1, 'pending', $2, $3, $4, $5, $6::text, $7, $8, $9::bigint, 0, '', $9::bigint
	WHERE $6::text = '' OR EXISTS (SELECT 1 FROM seen)
	RETURNING id`

// pipeline sends a batch in one round trip, on the pgx connection under
// database/sql's, inside the transaction open on it.
func pipeline(ctx context.Context, conn *sql.Conn, qs []*sqlstore.Query) error {
	return conn.Raw(func(dc any) error {
		b := &pgx.Batch{}
		for _, q := range qs {
			b.Queue(q.SQL, q.Args...)
		}
		br := dc.(*stdlib.Conn).Conn().SendBatch(ctx, b)
		for _, q := range qs {
			if err := result(br, q); err != nil {
				_ = br.Close()
				return err
			}
		}
		return br.Close()
	})
}

// result reads q's result from br.
func result(br pgx.BatchResults, q *sqlstore.Query) error {
	if q.Dest != nil {
		err := br.QueryRow().Scan(q.Dest...)
		q.NoRow = errors.Is(err, pgx.ErrNoRows)
		if q.NoRow {
			return nil
		}
		return err
	}
	tag, err := br.Exec()
	q.Affected = tag.RowsAffected()
	return err
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// code gives the failures a caller can act on their billsync code.
func code(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return billsync.Errorf(billsync.ECONFLICT, "%s", constraintMessage(pe))
		case pe.Code == "40001", pe.Code == "40P01", pe.Code == "55P03": // serialization, deadlock, lock not available
			return billsync.Errorf(billsync.EUNAVAILABLE, "database is busy")
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "53"), strings.HasPrefix(pe.Code, "57P"):
			// connection exceptions, insufficient resources, shutdown
			return billsync.Errorf(billsync.EUNAVAILABLE, "database unavailable: %s", pe.Message)
		case pe.Code == "3F000": // invalid_schema_name
			return billsync.Errorf(billsync.EINVALID, "the schema on the search_path does not exist")
		}
		return nil
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.Is(err, driver.ErrBadConn) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return billsync.Errorf(billsync.EUNAVAILABLE, "database unreachable")
	}
	return nil
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
