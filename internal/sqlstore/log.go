package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/billsync/billsync"
)

// LogColumns are the columns LogRow scans, in its order.
const LogColumns = `id, at, direction, object, billing_id, salesforce_id, operation, outcome, reason, error_code, message, attempt, latency_ns, event_id, change_id`

// InsertLogSQL stores one log entry; LogArgs gives its arguments.
const InsertLogSQL = `INSERT INTO sync_log (at, direction, object, billing_id, salesforce_id, operation, outcome, reason,
	error_code, message, attempt, latency_ns, event_id, change_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`

// PruneLogsSQL deletes up to $2 entries older than $1.
const PruneLogsSQL = `DELETE FROM sync_log WHERE id IN (SELECT id FROM sync_log WHERE at < $1 LIMIT $2)`

// LogArgs are the arguments of InsertLogSQL for e. A zero Time is now;
// entries written for a queued change (changeID > 0) get its id and event
// id when they leave them empty.
func LogArgs(e billsync.LogEntry, now time.Time, changeID int64, eventID string) []any {
	if e.Time.IsZero() {
		e.Time = now
	}
	if e.ChangeID == 0 {
		e.ChangeID = changeID
	}
	if e.EventID == "" {
		e.EventID = eventID
	}
	return []any{e.Time.UnixNano(), string(e.Direction), string(e.Object), e.BillingID, e.SalesforceID,
		e.Operation, string(e.Outcome), e.Reason, e.ErrorCode, e.Message, e.Attempt, int64(e.Latency), e.EventID, e.ChangeID}
}

// LogQuery builds the query of one Logs page: the entries matching f,
// newest first, with keyset paging on id, so a page costs the same however
// deep into the log it is. It reads limit+1 rows; NextPage cuts them to
// limit and makes the next cursor.
func LogQuery(f billsync.LogFilter) (query string, args []any, limit int, err error) {
	limit = ClampLimit(f.Limit, DefaultLimit, MaxLimit)
	var w where
	if err := w.cursor(f.Cursor); err != nil {
		return "", nil, 0, err
	}
	if !f.Since.IsZero() {
		w.add("at >= " + w.arg(f.Since.UnixNano()))
	}
	if f.Object != "" {
		w.add("object = " + w.arg(string(f.Object)))
	}
	if f.Record != "" {
		w.record(f.Record)
	}
	if f.Outcome != "" {
		w.add("outcome = " + w.arg(string(f.Outcome)))
	}
	if f.Direction != "" {
		w.add("direction = " + w.arg(string(f.Direction)))
	}
	if f.Reason != "" {
		w.add("reason = " + w.arg(f.Reason))
	}
	return w.query(LogColumns, "sync_log", limit), w.args, limit, nil
}

// LogRow is what a row of LogColumns is scanned into.
type LogRow struct {
	e                    billsync.LogEntry
	at                   *int64
	dir, object, outcome string
	latency              int64
}

// Dest are the scan destinations of LogColumns.
func (r *LogRow) Dest() []any {
	return []any{&r.e.ID, &r.at, &r.dir, &r.object, &r.e.BillingID, &r.e.SalesforceID, &r.e.Operation, &r.outcome, &r.e.Reason,
		&r.e.ErrorCode, &r.e.Message, &r.e.Attempt, &r.latency, &r.e.EventID, &r.e.ChangeID}
}

// Entry is the scanned entry.
func (r *LogRow) Entry() billsync.LogEntry {
	e := r.e
	e.Time = TimeFromNanos(r.at)
	e.Direction = billsync.Direction(r.dir)
	e.Object = billsync.ObjectType(r.object)
	e.Outcome = billsync.Outcome(r.outcome)
	e.Latency = time.Duration(r.latency)
	return e
}

// pruneBatch bounds how long one PruneLogs transaction runs, so that
// webhooks keep being accepted (SQLite's write lock) and no long
// transaction holds back vacuum (PostgreSQL) while a large backlog is
// deleted.
const pruneBatch = 5000

// AppendLog stores entries; a zero Time is set to now.
func (s *Store) AppendLog(ctx context.Context, entries ...billsync.LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	return s.tx(ctx, "append log", func(tx *txn) error {
		if err := s.checkFences(ctx, tx); err != nil {
			return err
		}
		var b batch
		s.logEntries(&b, entries, 0, "")
		return s.run(ctx, tx, b)
	})
}

// logEntries adds the inserts of entries to b. Entries written for a
// queued change (changeID > 0) get its id and event id when they leave
// them empty.
func (s *Store) logEntries(b *batch, entries []billsync.LogEntry, changeID int64, eventID string) {
	now := s.now()
	for _, e := range entries {
		b.exec(InsertLogSQL, LogArgs(e, now, changeID, eventID)...)
	}
}

// Logs returns entries matching f, newest first, with keyset paging on id:
// a page costs the same however deep into the log it is.
func (s *Store) Logs(ctx context.Context, f billsync.LogFilter) ([]billsync.LogEntry, string, error) {
	q, args, limit, err := LogQuery(f)
	if err != nil {
		return nil, "", err
	}
	var out []billsync.LogEntry
	err = queryAll(ctx, s, "logs", q, args, func(rows *sql.Rows) error {
		var r LogRow
		if err := rows.Scan(r.Dest()...); err != nil {
			return err
		}
		out = append(out, r.Entry())
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	out, next := NextPage(out, limit, func(e *billsync.LogEntry) int64 { return e.ID })
	return out, next, nil
}

// PruneLogs deletes entries older than before, in batches.
func (s *Store) PruneLogs(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.tx(ctx, "prune logs", func(tx *txn) error {
			var err error
			n, err = rowsAffected(tx.ExecContext(ctx, PruneLogsSQL, before.UnixNano(), pruneBatch))
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
