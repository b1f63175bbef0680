package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/billsync/billsync"
)

// How the queue keeps claims cheap and partitions in order
//
// Only the head (lowest id) of a partition may run, so the head carries
// due_at: next_at while pending, lease_until while running; every other row
// has due_at NULL. Claim then reads the partial index queue_due from its
// start and stops after max entries, which costs O(max·log n) whatever the
// backlog behind the heads; the index order (due_at, id) also serves the
// ORDER BY, so nothing is sorted. Heads are claimed longest-due first, which
// keeps partitions fair. Whenever a partition loses or gains rows,
// refreshHead recomputes its head through queue_partition (partition_key,
// id) in O(log n). Each store's tests pin these plans.
//
// The head computation must not race. SQLite's single writer makes it so;
// where the dialect has partition locks, every transaction that adds or
// removes rows of a partition first takes the partition's lock. So two
// enqueues into an empty partition cannot both make their row the head,
// and because ids are drawn while the lock is held, ids within a partition
// follow commit order. Enqueue takes its partitions' locks in sorted order,
// and the other writers take their one lock before any row lock, so
// writers never wait on each other in a cycle. Claim takes no partition
// lock: the dialect's claim hands a head to one claimer only.

// Enqueue stores changes, skipping those whose EventID was seen before.
// It sets ID and EnqueuedAt on each stored change. Changes with an empty
// EventID are never deduplicated.
func (s *Store) Enqueue(ctx context.Context, changes ...*billsync.Change) ([]bool, error) {
	if err := CheckChanges(changes); err != nil {
		return nil, err
	}
	dup := make([]bool, len(changes))
	if len(changes) == 0 {
		return dup, nil
	}
	ids := make([]int64, len(changes))
	now := s.now().UTC()
	err := s.tx(ctx, "enqueue", func(tx *txn) error {
		return s.insertChanges(ctx, tx, changes, now, ids, dup)
	})
	if err != nil {
		return nil, err
	}
	Enqueued(changes, ids, dup, now)
	return dup, nil
}

// insertChanges locks the changes' partitions, stores the changes and
// refreshes each partition's head, in one batch (with then at its end): a
// resync enqueues thousands of changes in one call. It fills ids and dup.
func (s *Store) insertChanges(ctx context.Context, tx *txn, changes []*billsync.Change, now time.Time, ids []int64, dup []bool, then ...*Query) error {
	parts := make([]string, 0, len(changes))
	for _, c := range changes {
		parts = append(parts, c.Partition)
	}
	slices.Sort(parts)
	parts = slices.Compact(parts)

	var b batch
	if s.d.LockPartition != nil {
		// In sorted order, so that enqueues never wait on each other in
		// a cycle.
		for _, p := range parts {
			b.exec(`SELECT `+s.d.LockPartition("$1"), p)
		}
	}
	var prune *Query
	if s.prune.Due(now, SeenPruneEvery) {
		prune = b.exec(PruneSeenSQL, now.Add(-s.seenTT).UnixNano())
	}
	inserts := make([]*Query, len(changes))
	for i, c := range changes {
		inserts[i] = b.queryRow(s.d.InsertChangeSQL, ChangeArgs(c, now), &ids[i])
		if s.d.SeenSQL != "" && c.EventID != "" {
			b.exec(s.d.SeenSQL, c.EventID, now.UnixNano())
		}
	}
	// Once per partition, after all its rows are in. A partition whose
	// changes were all duplicates keeps its head; refreshing it anyway is
	// harmless and keeps the batch independent of the inserts' results.
	for _, p := range parts {
		b.exec(RefreshHeadSQL, p)
	}
	b = append(b, then...)
	if err := s.run(ctx, tx, b); err != nil {
		return err
	}
	for i, q := range inserts {
		dup[i] = q.NoRow
	}
	if prune != nil && prune.Affected > 0 {
		s.log.Debug(s.d.Name+": forgot processed event ids", "count", prune.Affected)
	}
	return nil
}

// lockRowPartition takes the partition lock of row id of the queue or,
// with deadLetter, of the dead letters where the dialect has partition
// locks, and reports whether the row exists; without partition locks it
// reports true unread. A row's partition never changes, so reading it
// before the lock is safe.
func (s *Store) lockRowPartition(ctx context.Context, tx *txn, deadLetter bool, id int64) (bool, error) {
	if s.d.LockPartition == nil {
		return true, nil
	}
	query := s.sql.lockQueueRow
	if deadLetter {
		query = s.sql.lockDeadLetter
	}
	n, err := rowsAffected(tx.ExecContext(ctx, query, id))
	return n > 0, err
}

// refreshHead marks the lowest-id row of partition as due and leaves every
// other row of it unmarked. It runs after any change to a partition's rows.
func refreshHead(ctx context.Context, tx *txn, partition string) error {
	_, err := tx.ExecContext(ctx, RefreshHeadSQL, partition)
	return err
}

// EnqueueStreamEvent stores c (if any) and moves channel's checkpoint in
// one transaction.
func (s *Store) EnqueueStreamEvent(ctx context.Context, channel string, replayID billsync.ReplayID, c *billsync.Change) (bool, error) {
	if err := CheckStreamEvent(channel, replayID, c); err != nil {
		return false, err
	}
	now := s.now().UTC()
	ids, dup := make([]int64, 1), make([]bool, 1)
	err := s.tx(ctx, "enqueue stream event", func(tx *txn) error {
		checkpoint := &Query{SQL: SetReplayIDSQL, Args: []any{channel, []byte(replayID), now.UnixNano()}}
		if c == nil {
			return s.run(ctx, tx, batch{checkpoint})
		}
		return s.insertChanges(ctx, tx, []*billsync.Change{c}, now, ids, dup, checkpoint)
	})
	if err != nil || c == nil {
		return false, err
	}
	Enqueued([]*billsync.Change{c}, ids, dup, now)
	return dup[0], nil
}

// ReplayID returns the checkpoint of channel.
func (s *Store) ReplayID(ctx context.Context, channel string) (billsync.ReplayID, bool, error) {
	var id []byte // Scan copies into a fresh slice
	err := s.readRow(ctx, ReplayIDSQL, channel).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.err("replay id", err)
	}
	return id, true, nil
}

// SetReplayID moves the checkpoint of channel.
func (s *Store) SetReplayID(ctx context.Context, channel string, replayID billsync.ReplayID) error {
	if err := CheckChannel(channel); err != nil {
		return err
	}
	if err := CheckReplayID(replayID); err != nil {
		return err
	}
	return s.tx(ctx, "set replay id", func(tx *txn) error {
		_, err := tx.ExecContext(ctx, SetReplayIDSQL, channel, []byte(replayID), s.now().UnixNano())
		return err
	})
}
