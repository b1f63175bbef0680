package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// How the queue keeps claims cheap
//
// Only the head (lowest id) of a partition may run, so the head carries
// due_at: next_at while pending, lease_until while running; every other row
// has due_at NULL. Claim then reads the partial index queue_due from its
// start and stops after max entries:
//
//	EXPLAIN QUERY PLAN claimSQL (SQLite 3.54, pinned by TestClaimUsesIndexes):
//	  SEARCH queue USING INTEGER PRIMARY KEY (rowid=?)
//	  LIST SUBQUERY 1
//	  SEARCH queue USING COVERING INDEX queue_due (due_at<?)
//
// which is O(max·log n) whatever the backlog behind the heads; the index
// order (due_at, id) also serves the ORDER BY, so nothing is sorted. Heads
// are claimed longest-due first, which keeps partitions fair. Whenever a
// partition loses or gains rows, refreshHead recomputes its head through
// queue_partition (partition_key, id) in O(log n). The single write
// connection and immediate transactions make the head computation race-free;
// the PostgreSQL store needs a per-partition lock for the same guarantee.

const changeColumns = sqlstore.ChangeColumns

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
	err := s.tx(ctx, "enqueue", func(tx *sql.Tx) error {
		if err := s.maybePruneSeen(ctx, tx, now); err != nil {
			return err
		}
		ins, err := prepareInserter(ctx, tx)
		if err != nil {
			return err
		}
		defer ins.close()
		touched := map[string]bool{}
		for i, c := range changes {
			if ids[i], dup[i], err = ins.insert(ctx, c, now); err != nil {
				return err
			}
			if !dup[i] {
				touched[c.Partition] = true
			}
		}
		// Once per partition, after all its rows are in.
		for p := range touched {
			if err := refreshHead(ctx, tx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sqlstore.Enqueued(changes, ids, dup, now)
	return dup, nil
}

// inserter holds the statements of an enqueue, prepared once per
// transaction: a resync enqueues thousands of changes in one call.
type inserter struct {
	seenStmt, insertStmt *sql.Stmt
}

func prepareInserter(ctx context.Context, tx *sql.Tx) (*inserter, error) {
	seen, err := tx.PrepareContext(ctx, `INSERT INTO seen_events (event_id, seen_at) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING`)
	if err != nil {
		return nil, err
	}
	insert, err := tx.PrepareContext(ctx, `INSERT INTO queue (partition_key, state, source, object, op, record_id, event_id, payload,
			occurred_at, enqueued_at, attempt, last_error, next_at)
		VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7, $8, $9, 0, '', $9) RETURNING id`)
	if err != nil {
		seen.Close()
		return nil, err
	}
	return &inserter{seenStmt: seen, insertStmt: insert}, nil
}

func (in *inserter) close() {
	in.seenStmt.Close()
	in.insertStmt.Close()
}

// insert stores c at the tail of its partition unless its event id was
// seen. The caller refreshes the partition's head afterwards.
func (in *inserter) insert(ctx context.Context, c *billsync.Change, now time.Time) (id int64, dup bool, err error) {
	if c.EventID != "" {
		res, err := in.seenStmt.ExecContext(ctx, c.EventID, now.UnixNano())
		if err != nil {
			return 0, false, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, false, err
		}
		if n == 0 {
			return 0, true, nil
		}
	}
	err = in.insertStmt.QueryRowContext(ctx, sqlstore.ChangeArgs(c, now)...).Scan(&id)
	return id, false, err
}

// refreshHead marks the lowest-id row of partition as due and leaves every
// other row of it unmarked. It runs after any change to a partition's rows.
func refreshHead(ctx context.Context, tx *sql.Tx, partition string) error {
	_, err := tx.ExecContext(ctx, sqlstore.RefreshHeadSQL, partition)
	return err
}

// maybePruneSeen forgets event ids older than the retention, at most once
// a minute. An id whose change is still queued or dead is kept: a stuck
// change must not be duplicated by a late redelivery.
func (s *Store) maybePruneSeen(ctx context.Context, tx *sql.Tx, now time.Time) error {
	if !s.prune.Due(now, seenPruneEvery) {
		return nil
	}
	res, err := tx.ExecContext(ctx, sqlstore.PruneSeenSQL, now.Add(-s.seenTT).UnixNano())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.log.Debug("sqlite store: forgot processed event ids", "count", n)
	}
	return nil
}

// EnqueueStreamEvent stores c (if any) and moves channel's checkpoint in
// one transaction.
func (s *Store) EnqueueStreamEvent(ctx context.Context, channel string, replayID int64, c *billsync.Change) (bool, error) {
	if err := sqlstore.CheckStreamEvent(channel, c); err != nil {
		return false, err
	}
	now := s.now().UTC()
	var id int64
	var dup bool
	err := s.tx(ctx, "enqueue stream event", func(tx *sql.Tx) error {
		if c != nil {
			if err := s.maybePruneSeen(ctx, tx, now); err != nil {
				return err
			}
			ins, err := prepareInserter(ctx, tx)
			if err != nil {
				return err
			}
			defer ins.close()
			if id, dup, err = ins.insert(ctx, c, now); err != nil {
				return err
			}
			if !dup {
				if err := refreshHead(ctx, tx, c.Partition); err != nil {
					return err
				}
			}
		}
		return setReplayID(ctx, tx, channel, replayID, now)
	})
	if err != nil {
		return false, err
	}
	if c != nil && !dup {
		c.ID, c.EnqueuedAt, c.Attempt = id, now, 0
	}
	return dup, nil
}

func setReplayID(ctx context.Context, tx *sql.Tx, channel string, replayID int64, now time.Time) error {
	_, err := tx.ExecContext(ctx, sqlstore.SetReplayIDSQL, channel, replayID, now.UnixNano())
	return err
}

// ReplayID returns the checkpoint of channel.
func (s *Store) ReplayID(ctx context.Context, channel string) (int64, bool, error) {
	var id int64
	err := s.rdb.QueryRowContext(ctx, sqlstore.ReplayIDSQL, channel).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
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
	return s.tx(ctx, "set replay id", func(tx *sql.Tx) error {
		return setReplayID(ctx, tx, channel, replayID, s.now().UTC())
	})
}

// Claim leases up to max due partition heads, oldest due first.
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
	err := s.tx(ctx, "claim", func(tx *sql.Tx) error {
		out = out[:0]
		// A head whose lease ran out is due again, so a crashed worker's
		// change is picked up here like any pending one.
		rows, err := tx.QueryContext(ctx, claimSQL, until, now.UnixNano(), max)
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

// claimSQL leases the due heads: $1 lease end, $2 now, $3 max.
const claimSQL = `UPDATE queue
	SET state = 'running', attempt = attempt + 1, lease_until = $1, due_at = $1
	WHERE id IN (SELECT id FROM queue WHERE due_at <= $2 ORDER BY due_at, id LIMIT $3)
	RETURNING ` + changeColumns

type scanner interface{ Scan(dest ...any) error }

// scanChange reads changeColumns.
func scanChange(r scanner) (billsync.Change, error) {
	var row sqlstore.ChangeRow
	if err := r.Scan(row.Dest()...); err != nil {
		return billsync.Change{}, err
	}
	return row.Change(), nil
}

// Complete removes a finished change and appends its log entries. Entries
// with no ChangeID or EventID get the change's. ENOTFOUND if the change is
// not queued (another worker finished it after this one's lease expired).
func (s *Store) Complete(ctx context.Context, id int64, entries ...billsync.LogEntry) error {
	return s.tx(ctx, "complete change", func(tx *sql.Tx) error {
		var partition, eventID string
		err := tx.QueryRowContext(ctx, `DELETE FROM queue WHERE id = $1 RETURNING partition_key, event_id`, id).Scan(&partition, &eventID)
		if errors.Is(err, sql.ErrNoRows) {
			return sqlstore.NotQueued(id)
		}
		if err != nil {
			return err
		}
		if err := refreshHead(ctx, tx, partition); err != nil {
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
	return s.tx(ctx, "retry change", func(tx *sql.Tx) error {
		var partition, eventID string
		err := tx.QueryRowContext(ctx, sqlstore.RetrySQL+` RETURNING partition_key, event_id`, id, at.UnixNano(), lastError).Scan(&partition, &eventID)
		if errors.Is(err, sql.ErrNoRows) {
			return sqlstore.NotQueued(id)
		}
		if err != nil {
			return err
		}
		if err := refreshHead(ctx, tx, partition); err != nil {
			return err
		}
		return s.appendLog(ctx, tx, entries, id, eventID)
	})
}

// Bury moves the change to the dead letters and lets its partition move on.
func (s *Store) Bury(ctx context.Context, id int64, errorCode, errorMessage string, entries ...billsync.LogEntry) error {
	now := s.now().UTC()
	return s.tx(ctx, "bury change", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO dead_letters (`+changeColumns+`, dead_at, error_code, error_message)
			SELECT `+changeColumns+`, $2, $3, $4 FROM queue WHERE id = $1`, id, now.UnixNano(), errorCode, errorMessage)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return sqlstore.NotQueued(id)
		}
		var partition, eventID string
		if err := tx.QueryRowContext(ctx, `DELETE FROM queue WHERE id = $1 RETURNING partition_key, event_id`, id).Scan(&partition, &eventID); err != nil {
			return err
		}
		if err := refreshHead(ctx, tx, partition); err != nil {
			return err
		}
		return s.appendLog(ctx, tx, entries, id, eventID)
	})
}

// DeadLetters lists dead letters, oldest first (limit default 100, at most
// 1000).
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]billsync.DeadLetter, error) {
	limit = sqlstore.ClampLimit(limit, sqlstore.DefaultLimit, sqlstore.MaxLimit)
	rows, err := s.rdb.QueryContext(ctx, sqlstore.DeadLettersSQL, limit)
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
	return s.tx(ctx, "resurrect change", func(tx *sql.Tx) error {
		var partition string
		err := tx.QueryRowContext(ctx, `INSERT INTO queue (`+sqlstore.ResurrectColumns+`)
			SELECT `+sqlstore.ResurrectValues+`
			FROM dead_letters WHERE id = $1
			RETURNING partition_key`, id, now.UnixNano()).Scan(&partition)
		if errors.Is(err, sql.ErrNoRows) {
			return sqlstore.NoDeadLetter(id)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM dead_letters WHERE id = $1`, id); err != nil {
			return err
		}
		return refreshHead(ctx, tx, partition)
	})
}

// Stats summarises the queue from one snapshot.
func (s *Store) Stats(ctx context.Context) (billsync.QueueStats, error) {
	var st billsync.QueueStats
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return st, dbErr("stats", err)
	}
	defer tx.Rollback()
	var oldest *int64
	if err := tx.QueryRowContext(ctx, `SELECT
			coalesce(sum(state = 'pending'), 0), coalesce(sum(state = 'running'), 0),
			min(CASE state WHEN 'pending' THEN enqueued_at END)
		FROM queue`).Scan(&st.Pending, &st.Running, &oldest); err != nil {
		return st, dbErr("stats", err)
	}
	if err := tx.QueryRowContext(ctx, sqlstore.CountDeadLettersSQL).Scan(&st.DeadLetters); err != nil {
		return st, dbErr("stats", err)
	}
	st.OldestPending = sqlstore.TimeFromNanos(oldest)
	return st, nil
}

// ReleaseLeases hands every running change back to the queue and drops
// every named lease. A SQLite store belongs to one billsync process, so
// when that process starts, no worker holds a lease any more: the running
// changes and the subscription's lease were abandoned by a crash and need
// not wait to run out. It returns how many changes were released.
func (s *Store) ReleaseLeases(ctx context.Context) (int64, error) {
	var n int64
	err := s.tx(ctx, "release leases", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE queue
			SET state = 'pending', lease_until = NULL,
			    due_at = CASE WHEN due_at IS NULL THEN NULL ELSE next_at END
			WHERE state = 'running'`)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM leases`)
		return err
	})
	return n, err
}
