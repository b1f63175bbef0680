package sqlstore

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/billsync/billsync"
)

// ChangeColumns are the columns ChangeRow scans, in its order; queue and
// dead_letters share them.
const ChangeColumns = `id, partition_key, source, object, op, record_id, event_id, payload, occurred_at, enqueued_at, attempt, last_error`

// ClaimColumns are what a claim returns: ChangeColumns and the claim's
// fencing token.
const ClaimColumns = ChangeColumns + `, fence`

// Queue SQL both engines run unchanged.
const (
	// RefreshHeadSQL marks the lowest-id row of partition $1 as due. Every
	// other row of it keeps due_at NULL: rows are inserted without it and
	// only ever lose their head status by being removed. A head already
	// marked (an enqueue behind it) is left unwritten: rewriting it would
	// cost SQLite a page in the commit and PostgreSQL a dead row version.
	RefreshHeadSQL = `UPDATE queue
	SET due_at = CASE state WHEN 'running' THEN lease_until ELSE next_at END
	WHERE id = (SELECT min(id) FROM queue WHERE partition_key = $1)
	AND due_at IS DISTINCT FROM (CASE state WHEN 'running' THEN lease_until ELSE next_at END)`

	// PruneSeenSQL forgets event ids older than $1. An id whose change is
	// still queued or dead is kept: a stuck change must not be duplicated
	// by a late redelivery.
	PruneSeenSQL = `DELETE FROM seen_events WHERE seen_at < $1
	AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.event_id = seen_events.event_id)
	AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.event_id = seen_events.event_id)`

	// SetReplayIDSQL moves checkpoint $1 to $2 at $3.
	SetReplayIDSQL = `INSERT INTO stream_checkpoints (channel, replay_id, updated_at) VALUES ($1, $2, $3)
	ON CONFLICT (channel) DO UPDATE SET replay_id = excluded.replay_id, updated_at = excluded.updated_at`
	ReplayIDSQL = `SELECT replay_id FROM stream_checkpoints WHERE channel = $1`

	// DeadLettersSQL lists the oldest $1 dead letters: ChangeColumns, then
	// dead_at, error_code, error_message.
	DeadLettersSQL = `SELECT ` + ChangeColumns + `, dead_at, error_code, error_message
	FROM dead_letters ORDER BY dead_at, id LIMIT $1`

	// RetrySQL releases change $1 until $2 with last error $3.
	RetrySQL = `UPDATE queue SET state = 'pending', next_at = $2, lease_until = NULL, last_error = $3
	WHERE id = $1`

	// ResurrectColumns are the queue columns a resurrected dead letter
	// fills, and ResurrectValues what it fills them with from the dead
	// letter's row, $2 being now.
	ResurrectColumns = `partition_key, state, source, object, op, record_id, event_id, payload,
	occurred_at, enqueued_at, attempt, last_error, next_at`
	ResurrectValues = `partition_key, 'pending', source, object, op, record_id, event_id, payload, occurred_at, $2, 0, '', $2`

	CountDeadLettersSQL = `SELECT count(*) FROM dead_letters`
)

// CheckChange is EINVALID for a change Enqueue cannot store.
func CheckChange(c *billsync.Change) error {
	switch {
	case c == nil:
		return billsync.Errorf(billsync.EINVALID, "nil change")
	case c.Partition == "":
		return billsync.Errorf(billsync.EINVALID, "change %s %s has no partition", c.Object, c.RecordID)
	}
	return nil
}

// CheckChanges is CheckChange of each change.
func CheckChanges(changes []*billsync.Change) error {
	for _, c := range changes {
		if err := CheckChange(c); err != nil {
			return err
		}
	}
	return nil
}

// CheckStreamEvent checks the arguments of EnqueueStreamEvent; c may be
// nil.
func CheckStreamEvent(channel string, replayID billsync.ReplayID, c *billsync.Change) error {
	if err := CheckChannel(channel); err != nil {
		return err
	}
	if err := CheckReplayID(replayID); err != nil {
		return err
	}
	if c != nil {
		return CheckChange(c)
	}
	return nil
}

// CheckChannel is EINVALID for an empty stream channel.
func CheckChannel(channel string) error {
	if channel == "" {
		return billsync.Errorf(billsync.EINVALID, "stream channel is empty")
	}
	return nil
}

// CheckReplayID is EINVALID for an empty replay id: no transport issues
// one, and storing it would lose the position.
func CheckReplayID(replayID billsync.ReplayID) error {
	if len(replayID) == 0 {
		return billsync.Errorf(billsync.EINVALID, "stream replay id is empty")
	}
	return nil
}

// CheckLease is EINVALID for a claim lease that is not positive.
func CheckLease(lease time.Duration) error {
	if lease <= 0 {
		return billsync.Errorf(billsync.EINVALID, "claim lease must be positive, got %s", lease)
	}
	return nil
}

// NotQueued is the ENOTFOUND of a change that is not (or no longer) queued.
func NotQueued(id int64) error {
	return billsync.Errorf(billsync.ENOTFOUND, "change %d is not queued", id)
}

// ChangeArgs are the arguments of a change's insert: $1 partition, $2
// source, $3 object, $4 op, $5 record id, $6 event id, $7 payload (NULL if
// none), $8 occurred at, $9 now (enqueued at and next at).
func ChangeArgs(c *billsync.Change, now time.Time) []any {
	var payload any
	if c.Payload != nil {
		payload = []byte(c.Payload)
	}
	return []any{c.Partition, string(c.Source), string(c.Object), string(c.Op), c.RecordID,
		c.EventID, payload, NanosOrNull(c.OccurredAt), now.UnixNano()}
}

// Enqueued sets ID, EnqueuedAt and Attempt on each stored (not duplicate)
// change, once its transaction committed: a rolled-back batch must not
// look stored.
func Enqueued(changes []*billsync.Change, ids []int64, dup []bool, now time.Time) {
	for i, c := range changes {
		if !dup[i] {
			c.ID, c.EnqueuedAt, c.Attempt = ids[i], now, 0
		}
	}
}

// SortByID orders claimed changes by id (RETURNING has no defined order).
func SortByID(out []billsync.Change) {
	slices.SortFunc(out, func(a, b billsync.Change) int { return cmp.Compare(a.ID, b.ID) })
}

// ChangeRow is what a row of ChangeColumns is scanned into.
type ChangeRow struct {
	c                  billsync.Change
	source, object, op string
	payload            []byte
	occurred, enqueued *int64
}

// Dest are the scan destinations of ChangeColumns, then extra.
func (r *ChangeRow) Dest(extra ...any) []any {
	return append([]any{&r.c.ID, &r.c.Partition, &r.source, &r.object, &r.op, &r.c.RecordID, &r.c.EventID, &r.payload,
		&r.occurred, &r.enqueued, &r.c.Attempt, &r.c.LastError}, extra...)
}

// Change is the scanned change.
func (r *ChangeRow) Change() billsync.Change {
	c := r.c
	c.Source, c.Object, c.Op = billsync.Side(r.source), billsync.ObjectType(r.object), billsync.Op(r.op)
	if r.payload != nil {
		c.Payload = r.payload
	}
	c.OccurredAt, c.EnqueuedAt = TimeFromNanos(r.occurred), TimeFromNanos(r.enqueued)
	return c
}

// Throttle lets something happen at most once per interval of the clock
// it is given (pruning seen event ids on enqueue). A clock moved back
// makes it due at once. The zero value is due at first.
type Throttle struct {
	mu   sync.Mutex
	last time.Time
}

// Due reports whether at least every has passed since the last time Due
// reported true (or the clock went back), and if so starts a new interval.
func (t *Throttle) Due(now time.Time, every time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	due := now.Sub(t.last) >= every || now.Before(t.last)
	if due {
		t.last = now
	}
	return due
}

// DeadLetterRow is what a row of DeadLettersSQL is scanned into.
type DeadLetterRow struct {
	ChangeRow
	d      billsync.DeadLetter
	deadAt *int64
}

// Dest are the scan destinations of DeadLettersSQL.
func (r *DeadLetterRow) Dest() []any {
	return r.ChangeRow.Dest(&r.deadAt, &r.d.ErrorCode, &r.d.Error)
}

// DeadLetter is the scanned dead letter.
func (r *DeadLetterRow) DeadLetter() billsync.DeadLetter {
	d := r.d
	d.Change, d.DeadAt = r.Change(), TimeFromNanos(r.deadAt)
	return d
}
