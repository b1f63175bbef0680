package sqlitestore

import (
	"context"
	"database/sql"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// pruneBatch bounds how long PruneLogs holds the write lock at a time, so
// that webhooks keep being accepted while a large backlog is deleted.
const pruneBatch = 5000

// AppendLog stores entries; a zero Time is set to now.
func (s *Store) AppendLog(ctx context.Context, entries ...billsync.LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	return s.tx(ctx, "append log", func(tx *sql.Tx) error {
		return s.appendLog(ctx, tx, entries, 0, "")
	})
}

// appendLog inserts entries in tx. Entries written for a queued change
// (changeID > 0) get its id and event id when they leave them empty.
func (s *Store) appendLog(ctx context.Context, tx *sql.Tx, entries []billsync.LogEntry, changeID int64, eventID string) error {
	if len(entries) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, sqlstore.InsertLogSQL)
	if err != nil {
		return err
	}
	defer stmt.Close()
	now := s.now()
	for _, e := range entries {
		if _, err := stmt.ExecContext(ctx, sqlstore.LogArgs(e, now, changeID, eventID)...); err != nil {
			return err
		}
	}
	return nil
}

// Logs returns entries matching f, newest first, with keyset paging on id:
// a page costs the same however deep into the log it is.
func (s *Store) Logs(ctx context.Context, f billsync.LogFilter) ([]billsync.LogEntry, string, error) {
	q, args, limit, err := sqlstore.LogQuery(f)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
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
		err := s.tx(ctx, "prune logs", func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, sqlstore.PruneLogsSQL, before.UnixNano(), pruneBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
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
