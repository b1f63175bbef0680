package engine

import (
	"context"
	"maps"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
)

// Conditional writes (D4). Every update billsync sends to a synced
// Salesforce record carries the revision it was decided from
// (mapping.FieldRevision); the trigger refuses it when a user has edited
// the record since. A refused write is read again and decided anew, so the
// edit meets the conflict policy instead of being overwritten. Because a
// refusal is the safety net, a billing change of a record whose agreed
// revision is known needs no read at all: it is decided from the agreed
// values (assumedRecord) and written straight away.

// assumedRecord stands for a Salesforce record billsync has not read: its
// mapped fields hold the agreed values, which they do for as long as the
// record stays at the agreed revision rev. A write decided from it carries
// rev, so Salesforce refuses it if the record has moved on.
func assumedRecord(om *mapping.Object, st *billsync.SyncState, rev string) billsync.SObject {
	rec := billsync.SObject{"Id": st.SalesforceID, mapping.FieldRevision: mapping.RevisionValue(rev)}
	for _, f := range om.Fields {
		rec[f.Salesforce] = f.SalesforceValue(st.Agreed[f.Billing])
	}
	return rec
}

// applyFailed records why applying plan p failed, or recovers:
//   - Salesforce refused the write because the record changed after the
//     plan was decided: read it again and decide anew (reconcileAgain);
//     refused a second time, retry later;
//   - a write decided without reading found the record deleted: write it
//     in full again, as a change of a record missing from Salesforce does;
//   - Salesforce was written but billing was not: keep what is now agreed
//     (keepProgress) before the retry.
//
// Otherwise a failed change that was to write Salesforce shows on the
// record (markFailed).
func (e *Engine) applyFailed(ctx context.Context, a *attempt.Attempt, om *mapping.Object, st *billsync.SyncState, p *plan, ent billsync.Entity, sfID string, sfWritten bool, err error) {
	billingID := ent.ID()
	switch {
	case mapping.IsStaleRevision(err) && !p.again:
		e.reconcileAgain(ctx, a, om, st, p, ent, sfID)
		return
	case mapping.IsStaleRevision(err):
		err = &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 400, Code: billsync.RemoteCode(err), Transient: true,
			Message: "the Salesforce record changed again while billsync was writing it; reading it again"}
	case p.assumed && gone(err):
		e.upsertFromBilling(ctx, a, om, ent, p.lossy)
		return
	case sfWritten:
		e.keepProgress(ctx, st, p)
		e.markFailed(ctx, om, sfID, err)
	case len(p.toSF) > 0:
		e.markFailed(ctx, om, sfID, err)
	}
	a.FailOp(err, "update", billingID, sfID)
}

// reconcileAgain answers Salesforce refusing a plan's write because the
// record changed after the state the plan was decided from: it reads the
// record as it now stands and decides again from the same billing record
// and agreed values, so the edit made in the meantime merges or meets the
// policy (D1–D3) instead of being overwritten.
func (e *Engine) reconcileAgain(ctx context.Context, a *attempt.Attempt, om *mapping.Object, st *billsync.SyncState, p *plan, ent billsync.Entity, sfID string) {
	rec, err := e.readSalesforce(ctx, om, sfID)
	if err != nil {
		a.FailOp(err, "read", ent.ID(), sfID)
		return
	}
	if rec == nil {
		if p.assumed {
			e.upsertFromBilling(ctx, a, om, ent, p.lossy)
			return
		}
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonNotFound, "read", "", "the record is no longer in Salesforce", ent.ID(), sfID)
		return
	}
	var force billsync.Side
	if p.resolving != 0 {
		force = p.winner
	}
	np, err := e.decide(a, om, st, ent, rec, force)
	if err != nil {
		a.Fail(err, ent.ID(), sfID)
		return
	}
	np.resolving, np.actor, np.again, np.note, np.relinked = p.resolving, p.actor, true, p.note, p.relinked
	e.settle(ctx, a, om, st, np, ent, rec)
}

// keepProgress saves what a plan's Salesforce write settled when the
// billing write after it failed: the fields Salesforce now shares with
// billing as read count as agreed, so the retry sees a later billing edit
// of them as billing's own change rather than as a conflict with
// billsync's write. The fields still owed to billing keep their old agreed
// value, so Salesforce no longer holds the agreed values at its revision:
// the revision is forgotten and the next write reads the record first.
func (e *Engine) keepProgress(ctx context.Context, st *billsync.SyncState, p *plan) {
	if st == nil {
		return
	}
	ns := *st
	ns.Agreed = maps.Clone(st.Agreed)
	if ns.Agreed == nil {
		ns.Agreed = map[string]string{}
	}
	for k, v := range p.agreed {
		if _, owed := p.toBill[k]; !owed {
			ns.Agreed[k] = v
		}
	}
	delete(ns.Agreed, mapping.AgreedRevision)
	if err := e.cfg.State.PutSyncState(ctx, &ns); err != nil {
		e.log.Warn("could not record the values written to Salesforce before billing refused its write", "err", err)
	}
}

// noteRevision records that a Salesforce record read at a newer revision
// still holds exactly the agreed values (an edit of unmapped fields), so
// the next billing change can write without reading. Best effort: without
// it the next write is refused once and reads.
func (e *Engine) noteRevision(ctx context.Context, st *billsync.SyncState, rec billsync.SObject) {
	rev := mapping.Revision(rec)
	if st.Agreed[mapping.AgreedRevision] == rev {
		return
	}
	ns := *st
	ns.Agreed = maps.Clone(st.Agreed)
	if ns.Agreed == nil {
		ns.Agreed = map[string]string{}
	}
	ns.Agreed[mapping.AgreedRevision] = rev
	if err := e.cfg.State.PutSyncState(ctx, &ns); err != nil {
		e.log.Warn("could not record the Salesforce revision", "err", err)
	}
}

// againNote prefixes the log message of a plan decided from a second
// read: of billing (plan.note), or of Salesforce after a refusal.
func againNote(p *plan) string {
	if p.moved {
		return p.note + "the billing record had changed (its content hash differed), so it was read again: "
	}
	if p.again {
		return p.note + "the Salesforce record had changed, so it was read again: "
	}
	return p.note
}

// reconcileMoved answers a billing write withheld because the record's
// content changed after it was read (an unversioned platform, D4): it
// decides again from billing as it now stands and the same Salesforce
// record, so the edit made in billing meanwhile merges or meets the
// conflict policy instead of being overwritten.
func (e *Engine) reconcileMoved(ctx context.Context, a *attempt.Attempt, om *mapping.Object, st *billsync.SyncState, p *plan, cur billsync.Entity, rec billsync.SObject) {
	var force billsync.Side
	if p.resolving != 0 {
		force = p.winner
	}
	np, err := e.decide(a, om, st, cur, rec, force)
	if err != nil {
		a.Fail(err, cur.ID(), rec.ID())
		return
	}
	np.resolving, np.actor, np.again, np.moved, np.note, np.relinked, np.assumed = p.resolving, p.actor, true, true, p.note, p.relinked, p.assumed
	e.settle(ctx, a, om, st, np, cur, rec)
}
