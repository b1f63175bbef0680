package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
)

// requeuedPrefix starts the event id of a change queued again in its
// account's partition (requeueInAccount).
const requeuedPrefix = "requeued:"

// requeueInAccount moves a Salesforce change out of the record's own
// partition (billsync.RecordPartition) into its account's, once the
// record turns out to belong to an account, and reports whether it did
// (or failed to, the failure recorded). The listener puts an event there
// when it finds no sync state: a record created in Salesforce, but also a
// record whose first upsert reached Salesforce with its answer lost, or a
// failed read of the store. Applied there, the change would run beside the
// account's billing changes: having read Salesforce before a billing
// change's write and the sync state or billing after it, it takes
// Salesforce's old values for edits and writes them to billing while the
// billing change writes billing's to Salesforce, and each side ends with
// the other's. In the account's partition it runs in order with them,
// reading both sides afresh. Its event id is derived from the original's,
// so a repeat (a crash before this outcome was recorded) is queued once.
func (e *Engine) requeueInAccount(ctx context.Context, a *attempt.Attempt, st *billsync.SyncState) bool {
	c := a.Change
	if e.cfg.Queue == nil || st == nil || st.AccountID == "" || !strings.HasPrefix(c.Partition, billsync.RecordPartition("")) {
		return false
	}
	part := billsync.AccountPartition(st.AccountID)
	moved := &billsync.Change{Partition: part, Source: c.Source, Object: c.Object, Op: c.Op, RecordID: c.RecordID,
		EventID: requeuedPrefix + c.EventID, Payload: c.Payload, OccurredAt: c.OccurredAt, EnqueuedAt: e.now()}
	if _, err := e.cfg.Queue.Enqueue(ctx, moved); err != nil {
		a.Fail(err, st.BillingID, "")
		return true
	}
	if e.cfg.OnEnqueue != nil {
		e.cfg.OnEnqueue()
	}
	a.Finish(billsync.OutcomeSkipped, billsync.ReasonRequeued, "", "",
		fmt.Sprintf("the record belongs to account %s: queued again in %s, to run in order with the account's billing changes", st.AccountID, part),
		st.BillingID, "")
	return true
}
