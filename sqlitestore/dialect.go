package sqlitestore

import (
	"errors"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// dialect is what SQLite needs beside the shared SQL. Its single writer
// connection with immediate transactions serialises every write, so it
// needs no locks; every commit costs an fsync, so writes share commits.
var dialect = sqlstore.Dialect{
	Types:           types,
	Name:            "sqlite store",
	ClaimSQL:        claimSQL,
	IDsInJSON:       `SELECT value FROM json_each($2)`,
	SeenSQL:         `INSERT INTO seen_events (event_id, seen_at) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING`,
	InsertChangeSQL: insertChangeSQL,
	GroupCommit:     true,
	Prepare:         true,
	NoInterrupt:     true,
	Code:            code,
}

// claimSQL leases the due heads: $1 lease end, $2 now, $3 max.
//
//	EXPLAIN QUERY PLAN claimSQL (SQLite 3.54, pinned by TestClaimUsesIndexes):
//	  SEARCH queue USING INTEGER PRIMARY KEY (rowid=?)
//	  LIST SUBQUERY 1
//	  SEARCH queue USING COVERING INDEX queue_due (due_at<?)
const claimSQL = `UPDATE queue
	SET state = 'running', attempt = attempt + 1, fence = fence + 1, lease_until = $1, due_at = $1
	WHERE id IN (SELECT id FROM queue WHERE due_at <= $2 ORDER BY due_at, id LIMIT $3)
	RETURNING ` + sqlstore.ClaimColumns

// insertChangeSQL stores sqlstore.ChangeArgs unless their event id ($6)
// was seen; SeenSQL then records it. The single writer keeps the check
// and the record from racing.
const insertChangeSQL = `INSERT INTO queue (partition_key, state, source, object, op, record_id, event_id, payload,
		occurred_at, enqueued_at, attempt, last_error, next_at)
	SELECT $1, 'pending', $2, $3, $4, $5, $6, $7, $8, $9, 0, '', $9
	WHERE $6 = '' OR NOT EXISTS (SELECT 1 FROM seen_events WHERE event_id = $6)
	RETURNING id`

// code gives the failures a caller can act on their billsync code.
func code(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return billsync.Errorf(billsync.EUNAVAILABLE, "database is busy")
	case sqlite3.SQLITE_FULL:
		return billsync.Errorf(billsync.EUNAVAILABLE, "disk is full")
	case sqlite3.SQLITE_CONSTRAINT:
		return billsync.Errorf(billsync.ECONFLICT, "%s", constraintMessage(se))
	}
	return nil
}

func constraintMessage(se *sqlite.Error) string {
	msg := se.Error()
	if strings.Contains(msg, "sync_state.salesforce_id") {
		return "another record is already mapped to this Salesforce id"
	}
	if strings.Contains(msg, "conflicts.object") {
		return "the record already has a held conflict"
	}
	return "constraint violated"
}
