package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/billsync/billsync"
)

// Statements of finishing and releasing a change, which return its
// partition (and event id).
const (
	completeSQL       = `DELETE FROM queue WHERE id = $1 RETURNING partition_key, event_id`
	retryReturningSQL = RetrySQL + ` RETURNING partition_key, event_id`
	releaseChangeSQL  = `UPDATE queue SET state = 'pending', lease_until = NULL,
				attempt = CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END
				WHERE id = $1 AND state = 'running' RETURNING partition_key`
)

// Claim leases up to max due partition heads, longest due first. A head
// whose lease ran out is due again, so a crashed worker's change is picked
// up here like any pending one.
func (s *Store) Claim(ctx context.Context, max int, lease time.Duration) ([]billsync.Change, error) {
	runs, err := s.ClaimRuns(ctx, max, 1, lease)
	if err != nil {
		return nil, err
	}
	out := make([]billsync.Change, 0, len(runs))
	for _, r := range runs {
		out = append(out, r...)
	}
	SortByID(out)
	return out, nil
}

// ClaimRuns leases up to max due partition heads, as Claim, and with each
// up to perRun-1 of the changes behind it, in one transaction.
func (s *Store) ClaimRuns(ctx context.Context, max, perRun int, lease time.Duration) ([][]billsync.Change, error) {
	if max <= 0 {
		return nil, nil
	}
	if err := CheckLease(lease); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	until := now.Add(lease).UnixNano()
	var heads, followers []billsync.Change
	err := s.tx(ctx, "claim", func(tx *txn) error {
		var err error
		if heads, err = queryChanges(ctx, tx, heads[:0], s.d.ClaimSQL, until, now.UnixNano(), max); err != nil || perRun <= 1 || len(heads) == 0 {
			return err
		}
		ids := make([]int64, len(heads))
		for i, h := range heads {
			ids[i] = h.ID
		}
		list, _ := json.Marshal(ids)
		followers, err = queryChanges(ctx, tx, followers[:0], s.sql.followers, until, string(list), perRun)
		return err
	})
	if err != nil {
		return nil, err
	}
	return groupRuns(heads, followers), nil
}

// groupRuns puts each follower behind its partition's head, in id order.
func groupRuns(heads, followers []billsync.Change) [][]billsync.Change {
	SortByID(heads)
	SortByID(followers)
	runs := make([][]billsync.Change, len(heads))
	at := make(map[string]int, len(heads))
	for i, h := range heads {
		runs[i] = []billsync.Change{h}
		at[h.Partition] = i
	}
	for _, f := range followers {
		i := at[f.Partition]
		runs[i] = append(runs[i], f)
	}
	return runs
}

// queryChanges runs a claim statement, which returns ClaimColumns.
func queryChanges(ctx context.Context, tx *txn, out []billsync.Change, query string, args ...any) ([]billsync.Change, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var row ChangeRow
		var fence int64
		if err := rows.Scan(row.Dest(&fence)...); err != nil {
			return nil, err
		}
		c := row.Change()
		c.Fence = fence
		out = append(out, c)
	}
	return out, rows.Err()
}

// Release hands claimed changes back unattempted; each partition's head is
// refreshed so a released head is due as before its claim. Under fences
// it releases all of ids or, if any fence is stale, none: the partitions
// are locked first (in id order, as every writer locks them), then the
// fences checked, then the changes released.
func (s *Store) Release(ctx context.Context, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	sorted := sortedIDs(ids)
	return s.tx(ctx, "release changes", func(tx *txn) error {
		queued := make([]int64, 0, len(sorted))
		for _, id := range sorted {
			ok, err := s.lockRowPartition(ctx, tx, false, id)
			if err != nil {
				return err
			}
			if ok {
				queued = append(queued, id)
			} else if fenced(ctx, id) {
				return lostOrNotQueued(ctx, id)
			}
		}
		if err := s.checkFences(ctx, tx); err != nil {
			return err
		}
		for _, id := range queued {
			var partition string
			err := tx.QueryRowContext(ctx, releaseChangeSQL, id).Scan(&partition)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if err := refreshHead(ctx, tx, partition); err != nil {
				return err
			}
		}
		return nil
	})
}

type scanner interface{ Scan(dest ...any) error }

// finish ends queued change id's turn at the head of its partition: it
// takes the partition's lock, runs move (which returns the change's
// partition and event id, or sql.ErrNoRows when the change is not queued),
// then refreshes the head and appends the log entries in one batch.
// ENOTFOUND if the change is not queued (another worker finished it after
// this one's lease expired), or billsync.ErrLeaseLost when ctx fences it
// or another fence of ctx is stale.
func (s *Store) finish(ctx context.Context, op string, id int64, entries []billsync.LogEntry,
	move func(tx *txn) (partition, eventID string, err error)) error {
	return s.tx(ctx, op, func(tx *txn) error {
		if ok, err := s.lockRowPartition(ctx, tx, false, id); err != nil || !ok {
			if err != nil {
				return err
			}
			return lostOrNotQueued(ctx, id)
		}
		// After the partition lock, which every writer takes before the
		// row's, so the fence check's row lock cannot deadlock with them.
		if err := s.checkFences(ctx, tx); err != nil {
			return err
		}
		partition, eventID, err := move(tx)
		if errors.Is(err, sql.ErrNoRows) {
			return lostOrNotQueued(ctx, id)
		}
		if err != nil {
			return err
		}
		var b batch
		b.exec(RefreshHeadSQL, partition)
		s.logEntries(&b, entries, id, eventID)
		return s.run(ctx, tx, b)
	})
}

// Complete removes a finished change and appends its log entries. Entries
// with no ChangeID or EventID get the change's.
func (s *Store) Complete(ctx context.Context, id int64, entries ...billsync.LogEntry) error {
	return s.finish(ctx, "complete change", id, entries, func(tx *txn) (partition, eventID string, err error) {
		err = tx.QueryRowContext(ctx, completeSQL, id).Scan(&partition, &eventID)
		return partition, eventID, err
	})
}

// Retry releases the change until at, keeping it at the head of its
// partition. A zero at means now.
func (s *Store) Retry(ctx context.Context, id int64, at time.Time, lastError string, entries ...billsync.LogEntry) error {
	if at.IsZero() {
		at = s.now()
	}
	return s.finish(ctx, "retry change", id, entries, func(tx *txn) (partition, eventID string, err error) {
		err = tx.QueryRowContext(ctx, retryReturningSQL, id, at.UnixNano(), lastError).Scan(&partition, &eventID)
		return partition, eventID, err
	})
}

// Bury moves the change to the dead letters and lets its partition move on.
// The dead letter is the row as deleted, so a concurrent re-claim cannot
// slip in between.
func (s *Store) Bury(ctx context.Context, id int64, errorCode, errorMessage string, entries ...billsync.LogEntry) error {
	now := s.now().UTC()
	return s.finish(ctx, "bury change", id, entries, func(tx *txn) (partition, eventID string, err error) {
		row := make([]any, 12) // ChangeColumns, as the driver gives them
		dest := make([]any, len(row))
		for i := range row {
			dest[i] = &row[i]
		}
		dest[1], dest[6] = &partition, &eventID
		if err := tx.QueryRowContext(ctx, `DELETE FROM queue WHERE id = $1 RETURNING `+ChangeColumns, id).Scan(dest...); err != nil {
			return "", "", err
		}
		row[1], row[6] = partition, eventID
		if _, err := tx.ExecContext(ctx, `INSERT INTO dead_letters (`+ChangeColumns+`, dead_at, error_code, error_message)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			append(row, now.UnixNano(), errorCode, errorMessage)...); err != nil {
			return "", "", err
		}
		return partition, eventID, nil
	})
}

// DeadLetters lists dead letters, oldest first (limit default 100, at most
// 1000).
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]billsync.DeadLetter, error) {
	limit = ClampLimit(limit, DefaultLimit, MaxLimit)
	var out []billsync.DeadLetter
	err := queryAll(ctx, s, "dead letters", DeadLettersSQL, []any{limit}, func(rows *sql.Rows) error {
		var r DeadLetterRow
		if err := rows.Scan(r.Dest()...); err != nil {
			return err
		}
		out = append(out, r.DeadLetter())
		return nil
	})
	return out, err
}

// Resurrect moves dead letters back to the tail of their partitions under
// new ids, with their event ids kept (they stay deduplicated) and their
// attempts and last errors reset: all of ids or, if any is not a dead
// letter, none. Each new id is drawn under its partition's lock, so it
// lands after every change of the partition enqueued before.
func (s *Store) Resurrect(ctx context.Context, ids ...int64) error {
	now := s.now().UTC()
	return s.eachDeadLetter(ctx, "resurrect changes", ids, func(tx *txn, id int64) (bool, error) {
		var partition string
		err := tx.QueryRowContext(ctx, `INSERT INTO queue (`+ResurrectColumns+`)
			SELECT `+ResurrectValues+`
			FROM dead_letters WHERE id = $1
			RETURNING partition_key`, id, now.UnixNano()).Scan(&partition)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil // resurrected or discarded concurrently
		}
		if err != nil {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM dead_letters WHERE id = $1`, id); err != nil {
			return false, err
		}
		return true, refreshHead(ctx, tx, partition)
	})
}

// Discard deletes dead letters for good, all of ids or none, and logs a
// billsync.DiscardEntry for each in the same transaction. Their event ids
// stay in seen_events, so a redelivery is still a duplicate.
func (s *Store) Discard(ctx context.Context, actor string, ids ...int64) error {
	now := s.now().UTC()
	return s.eachDeadLetter(ctx, "discard dead letters", ids, func(tx *txn, id int64) (bool, error) {
		var r DeadLetterRow
		err := tx.QueryRowContext(ctx, `DELETE FROM dead_letters WHERE id = $1
			RETURNING `+ChangeColumns+`, dead_at, error_code, error_message`, id).Scan(r.Dest()...)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		_, err = tx.ExecContext(ctx, InsertLogSQL, LogArgs(billsync.DiscardEntry(r.DeadLetter(), actor, now), now, 0, "")...)
		return true, err
	})
}

// eachDeadLetter runs do for each of ids, in ascending order and under
// its partition's lock, in one transaction; do reports whether the dead
// letter was there. If any was not, the transaction is rolled back and
// the error names every missing id.
func (s *Store) eachDeadLetter(ctx context.Context, op string, ids []int64, do func(tx *txn, id int64) (bool, error)) error {
	ids = sortedIDs(ids)
	if len(ids) == 0 {
		return nil
	}
	return s.tx(ctx, op, func(tx *txn) error {
		var missing []int64
		for _, id := range ids {
			ok, err := s.lockRowPartition(ctx, tx, true, id)
			if err == nil && ok {
				ok, err = do(tx, id)
			}
			if err != nil {
				return err
			}
			if !ok {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return billsync.NoDeadLetters(missing)
		}
		return nil
	})
}

// sortedIDs returns ids sorted, without repeats, so that partition locks
// are always taken in the same order.
func sortedIDs(ids []int64) []int64 {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return slices.Compact(ids)
}

// statsSQL counts pending and running changes and finds the oldest pending
// one.
const statsSQL = `SELECT count(CASE WHEN state = 'pending' THEN 1 END), count(CASE WHEN state = 'running' THEN 1 END),
		min(CASE WHEN state = 'pending' THEN enqueued_at END)
	FROM queue`

// Stats summarises the queue from one snapshot.
func (s *Store) Stats(ctx context.Context) (billsync.QueueStats, error) {
	var st billsync.QueueStats
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return st, s.err("stats", err)
	}
	defer tx.Rollback()
	var oldest *int64
	if err := tx.QueryRowContext(ctx, statsSQL).Scan(&st.Pending, &st.Running, &oldest); err != nil {
		return billsync.QueueStats{}, s.err("stats", err)
	}
	if err := tx.QueryRowContext(ctx, CountDeadLettersSQL).Scan(&st.DeadLetters); err != nil {
		return billsync.QueueStats{}, s.err("stats", err)
	}
	st.OldestPending = TimeFromNanos(oldest)
	return st, nil
}

// ReleaseLeases hands every running change back to the queue and drops
// every named lease, and returns how many changes it released. Only for a
// store that belongs to one process (SQLite): when that process starts, no
// worker holds a lease any more, so the running changes and the
// subscription's lease were abandoned by a crash and need not wait to run
// out. It is a function, not a method, so that embedding Store does not
// give every engine it.
func ReleaseLeases(ctx context.Context, s *Store) (int64, error) {
	var n int64
	err := s.tx(ctx, "release leases", func(tx *txn) error {
		var err error
		n, err = rowsAffected(tx.ExecContext(ctx, `UPDATE queue
			SET state = 'pending', lease_until = NULL,
			    due_at = CASE WHEN due_at IS NULL THEN NULL ELSE next_at END
			WHERE state = 'running'`))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM leases`)
		return err
	})
	return n, err
}
