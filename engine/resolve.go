package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
)

// resolvePayload is the payload of an OpResolve change.
type resolvePayload struct {
	ConflictID int64         `json:"conflictId"`
	Winner     billsync.Side `json:"winner"`
	Actor      string        `json:"actor"`
}

// ResolveConflict queues an operator's decision on a held conflict (D3).
// The decision is applied in the record's partition, after the changes
// queued before it; until then the conflict stays held and the record
// unwritten.
func (e *Engine) ResolveConflict(ctx context.Context, id int64, winner billsync.Side, actor string) (*billsync.Conflict, error) {
	if winner != billsync.SideBilling && winner != billsync.SideSalesforce {
		return nil, billsync.Errorf(billsync.EINVALID, "winner must be billing or salesforce, not %q", winner)
	}
	if e.cfg.Queue == nil {
		return nil, billsync.Errorf(billsync.EUNAVAILABLE, "resolving conflicts needs the queue")
	}
	c, err := e.conflicts().Conflict(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Status != billsync.ConflictHeld {
		return nil, billsync.Errorf(billsync.ECONFLICT, "conflict %d is %s, not held", id, c.Status)
	}
	st, err := e.state(ctx, c.Object, c.BillingID)
	if err != nil {
		return nil, err
	}
	part := billsync.RecordPartition(c.SalesforceID)
	if st != nil && st.AccountID != "" {
		part = billsync.AccountPartition(st.AccountID)
	}
	payload, _ := json.Marshal(resolvePayload{ConflictID: id, Winner: winner, Actor: actor})
	ch := &billsync.Change{Partition: part, Source: winner, Object: c.Object, Op: billsync.OpResolve, RecordID: c.BillingID,
		EventID: fmt.Sprintf("resolve:%d:%s", id, winner), Payload: payload, OccurredAt: e.now(), EnqueuedAt: e.now()}
	if _, err := e.cfg.Queue.Enqueue(ctx, ch); err != nil {
		return nil, err
	}
	if e.cfg.OnEnqueue != nil {
		e.cfg.OnEnqueue()
	}
	return c, nil
}

// resolve applies a queued decision: both sides are read as they stand,
// the conflicting fields take the winner's values, other changes merge as
// usual, and the conflict is marked resolved by the operator.
func (e *Engine) resolve(ctx context.Context, a *attempt.Attempt) {
	var p resolvePayload
	if err := json.Unmarshal(a.Change.Payload, &p); err != nil || p.ConflictID == 0 {
		a.Fail(billsync.Errorf(billsync.EINVALID, "malformed resolve payload"), a.Change.RecordID, "")
		return
	}
	conf, err := e.conflicts().Conflict(ctx, p.ConflictID)
	if err != nil {
		a.Fail(err, a.Change.RecordID, "")
		return
	}
	if conf.Status != billsync.ConflictHeld {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonStale, "resolve", "", fmt.Sprintf("conflict #%d is already %s", conf.ID, conf.Status), conf.BillingID, conf.SalesforceID)
		return
	}
	om, ok := e.m.Object(conf.Object)
	if !ok {
		a.Fail(billsync.Errorf(billsync.EINVALID, "no mapping for %s", conf.Object), conf.BillingID, conf.SalesforceID)
		return
	}
	st, err := e.state(ctx, conf.Object, conf.BillingID)
	if err != nil || st == nil {
		if err == nil {
			err = billsync.Errorf(billsync.ENOTFOUND, "no sync state for %s %s", conf.Object, conf.BillingID)
		}
		a.Fail(err, conf.BillingID, conf.SalesforceID)
		return
	}
	rec, err := e.readSalesforce(ctx, om, st.SalesforceID)
	if err != nil {
		a.FailOp(err, "read", conf.BillingID, conf.SalesforceID)
		return
	}
	ent, err := e.cfg.Billing.Get(ctx, conf.Object, conf.BillingID)
	if err != nil && !notFound(err) {
		a.FailOp(err, "read", conf.BillingID, conf.SalesforceID)
		return
	}
	if rec == nil || ent == nil {
		if _, err := e.conflicts().ResolveConflict(ctx, conf.ID, p.Winner, p.Actor, e.now()); err != nil {
			a.Fail(err, conf.BillingID, conf.SalesforceID)
			return
		}
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonNotFound, "resolve", "",
			fmt.Sprintf("conflict #%d closed: the record no longer exists on one side", conf.ID), conf.BillingID, conf.SalesforceID)
		return
	}
	pl, err := e.decide(a, om, st, ent, rec, p.Winner)
	if err != nil {
		a.Fail(err, conf.BillingID, conf.SalesforceID)
		return
	}
	pl.resolving, pl.actor = conf.ID, p.Actor
	e.settle(ctx, a, om, st, pl, ent, rec)
}
