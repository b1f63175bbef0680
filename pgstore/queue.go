package pgstore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// How the queue stays ordered with several replicas
//
// As in sqlitestore, only the head (lowest id) of a partition may run, so
// the head alone carries due_at (next_at while pending, lease_until while
// running) and Claim reads the partial index queue_due from its start:
// its cost follows the number of due partitions, not the backlog.
//
// SQLite keeps heads right with its single writer. Here, every transaction
// that adds or removes rows of a partition first takes the partition's
// transaction-scoped advisory lock (lockPartitions), then recomputes the
// head. So two enqueues into an empty partition cannot both make their row
// the head, and because ids are drawn while the lock is held, ids within a
// partition follow commit order. Enqueue takes its partitions' locks in
// sorted order, and the other writers take their one lock before any row
// lock, so writers never wait on each other in a cycle.
//
// Claim takes no partition lock: it locks due heads with FOR UPDATE SKIP
// LOCKED, so concurrent claimers pass over each other's rows instead of
// queueing, and re-checks due_at on the newest row version, so a head that
// was just completed, retried or re-claimed is not handed out twice.

const changeColumns = sqlstore.ChangeColumns

// partitionLockSQL locks one partition until the transaction ends. The
// schema is part of the key so that deployments sharing a database do not
// contend; a hash collision only serialises two partitions needlessly.
const partitionLockSQL = `SELECT pg_advisory_xact_lock(hashtextextended(coalesce(current_schema(), '') || '/' || $1::text, 0))`

// insertChangeSQL stores a change unless its event id was seen: $6 is the
// event id, and an empty one is never deduplicated. No row back means a
// duplicate. The data-modifying CTE runs exactly once, before the insert
// reads its result.
const insertChangeSQL = `WITH seen AS (
		INSERT INTO seen_events (event_id, seen_at) SELECT $6::text, $9::bigint WHERE $6::text <> ''
		ON CONFLICT (event_id) DO NOTHING RETURNING 1
	)
	INSERT INTO queue (partition_key, state, source, object, op, record_id, event_id, payload,
		occurred_at, enqueued_at, attempt, last_error, next_at)
	SELECT $1, 'pending', $2, $3, $4, $5, $6::text, $7, $8, $9::bigint, 0, '', $9::bigint
	WHERE $6::text = '' OR EXISTS (SELECT 1 FROM seen)
	RETURNING id`

// refreshHeadSQL marks the lowest-id row of a partition as due.
const refreshHeadSQL = sqlstore.RefreshHeadSQL

// Enqueue stores changes, skipping those whose EventID was seen before.
// It sets ID and EnqueuedAt on each stored change. Changes with an empty
// EventID are never deduplicated.
func (s *Store) Enqueue(ctx context.Context, changes ...*billsync.Change) ([]bool, error) {
	if err := sqlstore.CheckChanges(changes); err != nil {
		return nil, err
	}
	dup := make([]bool, len(changes))
	if len(changes) == 0 {
		return dup, nil
	}
	ids := make([]int64, len(changes))
	now := s.now().UTC()
	err := s.tx(ctx, "enqueue", func(tx pgx.Tx) error {
		return s.insertChanges(ctx, tx, changes, now, ids, dup)
	})
	if err != nil {
		return nil, err
	}
	sqlstore.Enqueued(changes, ids, dup, now)
	return dup, nil
}

// insertChanges locks the changes' partitions, inserts the changes and
// refreshes each partition's head, in one pipelined round trip: a resync
// enqueues thousands of changes in one call. It fills ids and dup.
func (s *Store) insertChanges(ctx context.Context, tx pgx.Tx, changes []*billsync.Change, now time.Time, ids []int64, dup []bool) error {
	var parts []string
	for _, c := range changes {
		parts = append(parts, c.Partition)
	}
	slices.Sort(parts)
	parts = slices.Compact(parts)

	b := &pgx.Batch{}
	for _, p := range parts {
		b.Queue(partitionLockSQL, p)
	}
	// Seen event ids are pruned at most once a minute per process.
	pruning := s.prune.Due(now, seenPruneEvery)
	if pruning {
		b.Queue(sqlstore.PruneSeenSQL, now.Add(-s.seenTT).UnixNano())
	}
	for _, c := range changes {
		b.Queue(insertChangeSQL, sqlstore.ChangeArgs(c, now)...)
	}
	// A partition whose changes were all duplicates has an unchanged head;
	// refreshing it anyway is harmless and keeps this one round trip.
	for _, p := range parts {
		b.Queue(refreshHeadSQL, p)
	}

	br := tx.SendBatch(ctx, b)
	for range parts {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	if pruning {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return err
		}
		if n := tag.RowsAffected(); n > 0 {
			s.log.Debug("postgres store: forgot processed event ids", "count", n)
		}
	}
	for i := range changes {
		err := br.QueryRow().Scan(&ids[i])
		dup[i] = errors.Is(err, pgx.ErrNoRows)
		if err != nil && !dup[i] {
			br.Close()
			return err
		}
	}
	for range parts {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	return br.Close()
}

// EnqueueStreamEvent stores c (if any) and moves channel's checkpoint in
// one transaction.
func (s *Store) EnqueueStreamEvent(ctx context.Context, channel string, replayID int64, c *billsync.Change) (bool, error) {
	if err := sqlstore.CheckStreamEvent(channel, c); err != nil {
		return false, err
	}
	now := s.now().UTC()
	ids, dup := make([]int64, 1), make([]bool, 1)
	err := s.tx(ctx, "enqueue stream event", func(tx pgx.Tx) error {
		if c != nil {
			if err := s.insertChanges(ctx, tx, []*billsync.Change{c}, now, ids, dup); err != nil {
				return err
			}
		}
		return setReplayID(ctx, tx, channel, replayID, now)
	})
	if err != nil {
		return false, err
	}
	if c == nil {
		return false, nil
	}
	if !dup[0] {
		c.ID, c.EnqueuedAt, c.Attempt = ids[0], now, 0
	}
	return dup[0], nil
}

func setReplayID(ctx context.Context, tx pgx.Tx, channel string, replayID int64, now time.Time) error {
	_, err := tx.Exec(ctx, sqlstore.SetReplayIDSQL, channel, replayID, now.UnixNano())
	return err
}

// ReplayID returns the checkpoint of channel.
func (s *Store) ReplayID(ctx context.Context, channel string) (int64, bool, error) {
	var id int64
	err := s.pool.QueryRow(ctx, sqlstore.ReplayIDSQL, channel).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, dbErr("replay id", err)
	}
	return id, true, nil
}

// SetReplayID moves the checkpoint of channel.
func (s *Store) SetReplayID(ctx context.Context, channel string, replayID int64) error {
	if err := sqlstore.CheckChannel(channel); err != nil {
		return err
	}
	return s.tx(ctx, "set replay id", func(tx pgx.Tx) error {
		return setReplayID(ctx, tx, channel, replayID, s.now().UTC())
	})
}

// claimSQL leases the due heads: $1 lease end, $2 now, $3 max.
const claimSQL = `WITH due AS (
		SELECT id FROM queue WHERE due_at <= $2 ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED
	)
	UPDATE queue q SET state = 'running', attempt = q.attempt + 1, lease_until = $1, due_at = $1
	FROM due WHERE q.id = due.id
	RETURNING q.id, q.partition_key, q.source, q.object, q.op, q.record_id, q.event_id, q.payload,
		q.occurred_at, q.enqueued_at, q.attempt, q.last_error`

// Claim leases up to max due partition heads, longest due first. A head
// whose lease ran out is due again, so a crashed replica's change is picked
// up here like any pending one.
func (s *Store) Claim(ctx context.Context, max int, lease time.Duration) ([]billsync.Change, error) {
	if max <= 0 {
		return nil, nil
	}
	if err := sqlstore.CheckLease(lease); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	until := now.Add(lease).UnixNano()
	var out []billsync.Change
	err := s.tx(ctx, "claim", func(tx pgx.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, claimSQL, until, now.UnixNano(), max)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanChange(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	sqlstore.SortByID(out)
	return out, nil
}

// scanChange reads changeColumns.
func scanChange(r pgx.Row) (billsync.Change, error) {
	var row sqlstore.ChangeRow
	if err := r.Scan(row.Dest()...); err != nil {
		return billsync.Change{}, err
	}
	return row.Change(), nil
}

// lockQueued takes the partition lock of queued change id and returns its
// partition. The partition is read before the lock is taken (a row's
// partition never changes); ENOTFOUND if the change is not queued.
func lockQueued(ctx context.Context, tx pgx.Tx, id int64) (string, error) {
	var partition string
	err := tx.QueryRow(ctx, `SELECT partition_key FROM queue WHERE id = $1`, id).Scan(&partition)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", sqlstore.NotQueued(id)
	}
	if err != nil {
		return "", err
	}
	_, err = tx.Exec(ctx, partitionLockSQL, partition)
	return partition, err
}

// Complete removes a finished change and appends its log entries. Entries
// with no ChangeID or EventID get the change's. ENOTFOUND if the change is
// not queued (another worker finished it after this one's lease expired).
func (s *Store) Complete(ctx context.Context, id int64, entries ...billsync.LogEntry) error {
	return s.tx(ctx, "complete change", func(tx pgx.Tx) error {
		partition, err := lockQueued(ctx, tx, id)
		if err != nil {
			return err
		}
		var eventID string
		err = tx.QueryRow(ctx, `DELETE FROM queue WHERE id = $1 RETURNING event_id`, id).Scan(&eventID)
		if errors.Is(err, pgx.ErrNoRows) {
			return sqlstore.NotQueued(id)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, refreshHeadSQL, partition); err != nil {
			return err
		}
		return s.appendLog(ctx, tx, entries, id, eventID)
	})
}

// Retry releases the change until at, keeping it at the head of its
// partition. A zero at means now.
func (s *Store) Retry(ctx context.Context, id int64, at time.Time, lastError string, entries ...billsync.LogEntry) error {
	if at.IsZero() {
		at = s.now()
	}
	return s.tx(ctx, "retry change", func(tx pgx.Tx) error {
		partition, err := lockQueued(ctx, tx, id)
		if err != nil {
			return err
		}
		var eventID string
		err = tx.QueryRow(ctx, sqlstore.RetrySQL+` RETURNING event_id`, id, at.UnixNano(), lastError).Scan(&eventID)
		if errors.Is(err, pgx.ErrNoRows) {
			return sqlstore.NotQueued(id)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, refreshHeadSQL, partition); err != nil {
			return err
		}
		return s.appendLog(ctx, tx, entries, id, eventID)
	})
}

// Bury moves the change to the dead letters and lets its partition move on.
func (s *Store) Bury(ctx context.Context, id int64, errorCode, errorMessage string, entries ...billsync.LogEntry) error {
	now := s.now().UTC()
	return s.tx(ctx, "bury change", func(tx pgx.Tx) error {
		partition, err := lockQueued(ctx, tx, id)
		if err != nil {
			return err
		}
		// Moved in one statement, so the dead letter is the row as deleted.
		var eventID string
		err = tx.QueryRow(ctx, `WITH gone AS (DELETE FROM queue WHERE id = $1 RETURNING `+changeColumns+`)
			INSERT INTO dead_letters (`+changeColumns+`, dead_at, error_code, error_message)
			SELECT `+changeColumns+`, $2, $3, $4 FROM gone
			RETURNING event_id`, id, now.UnixNano(), errorCode, errorMessage).Scan(&eventID)
		if errors.Is(err, pgx.ErrNoRows) {
			return sqlstore.NotQueued(id)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, refreshHeadSQL, partition); err != nil {
			return err
		}
		return s.appendLog(ctx, tx, entries, id, eventID)
	})
}

// DeadLetters lists dead letters, oldest first (limit default 100, at most
// 1000).
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]billsync.DeadLetter, error) {
	limit = sqlstore.ClampLimit(limit, sqlstore.DefaultLimit, sqlstore.MaxLimit)
	rows, err := s.pool.Query(ctx, sqlstore.DeadLettersSQL, limit)
	if err != nil {
		return nil, dbErr("dead letters", err)
	}
	defer rows.Close()
	var out []billsync.DeadLetter
	for rows.Next() {
		var r sqlstore.DeadLetterRow
		if err := rows.Scan(r.Dest()...); err != nil {
			return nil, dbErr("dead letters", err)
		}
		out = append(out, r.DeadLetter())
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("dead letters", err)
	}
	return out, nil
}

// Resurrect moves dead letter id back to the tail of its partition under a
// new id, with its event id kept (it stays deduplicated) and its attempts
// and last error reset.
func (s *Store) Resurrect(ctx context.Context, id int64) error {
	now := s.now().UTC()
	return s.tx(ctx, "resurrect change", func(tx pgx.Tx) error {
		var partition string
		err := tx.QueryRow(ctx, `SELECT partition_key FROM dead_letters WHERE id = $1`, id).Scan(&partition)
		if errors.Is(err, pgx.ErrNoRows) {
			return sqlstore.NoDeadLetter(id)
		}
		if err != nil {
			return err
		}
		// The new id is drawn under the partition lock, so it lands after
		// every change of the partition enqueued before.
		if _, err := tx.Exec(ctx, partitionLockSQL, partition); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `WITH gone AS (DELETE FROM dead_letters WHERE id = $1 RETURNING *)
			INSERT INTO queue (`+sqlstore.ResurrectColumns+`)
			SELECT `+sqlstore.ResurrectValues+`
			FROM gone`, id, now.UnixNano())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return sqlstore.NoDeadLetter(id) // resurrected concurrently
		}
		_, err = tx.Exec(ctx, refreshHeadSQL, partition)
		return err
	})
}

// Stats summarises the queue from one snapshot.
func (s *Store) Stats(ctx context.Context) (billsync.QueueStats, error) {
	var st billsync.QueueStats
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var oldest *int64
		if err := tx.QueryRow(ctx, `SELECT
				count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'running'),
				min(enqueued_at) FILTER (WHERE state = 'pending')
			FROM queue`).Scan(&st.Pending, &st.Running, &oldest); err != nil {
			return err
		}
		st.OldestPending = sqlstore.TimeFromNanos(oldest)
		return tx.QueryRow(ctx, sqlstore.CountDeadLettersSQL).Scan(&st.DeadLetters)
	})
	if err != nil {
		return billsync.QueueStats{}, dbErr("stats", err)
	}
	return st, nil
}
