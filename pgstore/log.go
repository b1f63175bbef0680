package pgstore

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billsync/billsync"
)

const logColumns = `id, at, direction, object, billing_id, salesforce_id, operation, outcome, reason, error_code, message, attempt, latency_ns, event_id, change_id`

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

const insertLogSQL = `INSERT INTO sync_log (at, direction, object, billing_id, salesforce_id, operation, outcome, reason,
	error_code, message, attempt, latency_ns, event_id, change_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`

// appendLog inserts entries in tx, pipelined. Entries written for a queued
// change (changeID > 0) get its id and event id when they leave them empty.
func (s *Store) appendLog(ctx context.Context, tx pgx.Tx, entries []billsync.LogEntry, changeID int64, eventID string) error {
	if len(entries) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	now := s.now()
	for _, e := range entries {
		if e.Time.IsZero() {
			e.Time = now
		}
		if e.ChangeID == 0 {
			e.ChangeID = changeID
		}
		if e.EventID == "" {
			e.EventID = eventID
		}
		b.Queue(insertLogSQL, e.Time.UnixNano(), string(e.Direction), string(e.Object), e.BillingID, e.SalesforceID,
			e.Operation, string(e.Outcome), e.Reason, e.ErrorCode, e.Message, e.Attempt, int64(e.Latency), e.EventID, e.ChangeID)
	}
	return tx.SendBatch(ctx, b).Close()
}

// Logs returns entries matching f, newest first, with keyset paging on id:
// a page costs the same however deep into the log it is.
func (s *Store) Logs(ctx context.Context, f billsync.LogFilter) ([]billsync.LogEntry, string, error) {
	limit := clampLimit(f.Limit, 100, 1000)
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Cursor != "" {
		before, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "id < "+arg(before))
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= "+arg(f.Since.UnixNano()))
	}
	if f.Object != "" {
		where = append(where, "object = "+arg(string(f.Object)))
	}
	if f.Record != "" {
		p := arg(f.Record)
		where = append(where, "(billing_id = "+p+" OR salesforce_id = "+p+")")
	}
	if f.Outcome != "" {
		where = append(where, "outcome = "+arg(string(f.Outcome)))
	}
	q := `SELECT ` + logColumns + ` FROM sync_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	// One row more than the page tells whether another page exists.
	q += " ORDER BY id DESC LIMIT " + arg(limit+1)

	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", dbErr("logs", err)
	}
	defer rows.Close()
	var out []billsync.LogEntry
	for rows.Next() {
		var e billsync.LogEntry
		var at int64
		var dir, object, outcome string
		var latency int64
		if err := rows.Scan(&e.ID, &at, &dir, &object, &e.BillingID, &e.SalesforceID, &e.Operation, &outcome, &e.Reason,
			&e.ErrorCode, &e.Message, &e.Attempt, &latency, &e.EventID, &e.ChangeID); err != nil {
			return nil, "", dbErr("logs", err)
		}
		e.Time = goTime(&at)
		e.Direction = billsync.Direction(dir)
		e.Object = billsync.ObjectType(object)
		e.Outcome = billsync.Outcome(outcome)
		e.Latency = time.Duration(latency)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", dbErr("logs", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor(out[limit-1].ID)
	}
	return out, next, nil
}

// Cursors are opaque to callers and the same as sqlitestore's; the version
// prefix lets the format change without misreading an old cursor held by a
// browser.
const cursorPrefix = "v1."

func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(id, 10)))
}

func decodeCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(b), cursorPrefix); ok {
			if id, err := strconv.ParseInt(rest, 10, 64); err == nil && id > 0 {
				return id, nil
			}
		}
	}
	return 0, billsync.Errorf(billsync.EINVALID, "malformed cursor %q", c)
}

// PruneLogs deletes entries older than before, in batches.
func (s *Store) PruneLogs(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.tx(ctx, "prune logs", func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `DELETE FROM sync_log WHERE id IN (SELECT id FROM sync_log WHERE at < $1 LIMIT $2)`,
				before.UnixNano(), pruneBatch)
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
