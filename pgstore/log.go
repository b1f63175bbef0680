package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// pruneBatch bounds how long one PruneLogs transaction runs, so that a
// large backlog is deleted without one long transaction holding back
// vacuum and replication.
const pruneBatch = 5000

// AppendLog stores entries; a zero Time is set to now.
func (s *Store) AppendLog(ctx context.Context, entries ...billsync.LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	return s.tx(ctx, "append log", func(tx pgx.Tx) error {
		return s.appendLog(ctx, tx, entries, 0, "")
	})
}

// appendLog inserts entries in tx, pipelined. Entries written for a queued
// change (changeID > 0) get its id and event id when they leave them empty.
func (s *Store) appendLog(ctx context.Context, tx pgx.Tx, entries []billsync.LogEntry, changeID int64, eventID string) error {
	if len(entries) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	now := s.now()
	for _, e := range entries {
		b.Queue(sqlstore.InsertLogSQL, sqlstore.LogArgs(e, now, changeID, eventID)...)
	}
	return tx.SendBatch(ctx, b).Close()
}

// Logs returns entries matching f, newest first, with keyset paging on id:
// a page costs the same however deep into the log it is.
func (s *Store) Logs(ctx context.Context, f billsync.LogFilter) ([]billsync.LogEntry, string, error) {
	q, args, limit, err := sqlstore.LogQuery(f)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", dbErr("logs", err)
	}
	defer rows.Close()
	var out []billsync.LogEntry
	for rows.Next() {
		var r sqlstore.LogRow
		if err := rows.Scan(r.Dest()...); err != nil {
			return nil, "", dbErr("logs", err)
		}
		out = append(out, r.Entry())
	}
	if err := rows.Err(); err != nil {
		return nil, "", dbErr("logs", err)
	}
	out, next := sqlstore.NextPage(out, limit, func(e *billsync.LogEntry) int64 { return e.ID })
	return out, next, nil
}

// PruneLogs deletes entries older than before, in batches.
func (s *Store) PruneLogs(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.tx(ctx, "prune logs", func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, sqlstore.PruneLogsSQL, before.UnixNano(), pruneBatch)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}
