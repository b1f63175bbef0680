package engine

import (
	"context"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
)

// A create whose answer was lost (D4). billsync writes a billing record
// in full when it has no sync state for it (upsertWhole); when an earlier
// attempt's write went through but its answer was lost, Salesforce already
// has the record, and a sales user may have edited it before the retry.
// The full write therefore carries revision 0, "unedited since it was
// created", as linkTwin's does: the trigger refuses it once a user has
// edited the record, and the record is adopted instead (adoptEdited).
//
// What the record held before the user's edit is not known: billing's
// values may have changed since the lost write as well. A field on which
// the two sides agree counts as agreed; one on which they differ is
// recorded as unknown (unknownAgreed), so that reconciling it is a
// conflict that meets the policy, never a silent overwrite of either
// side's edit.
//
// The guard needs BillingSyncTrigger: with salesforce.changeSource cdc and
// no Apex deployed nothing keeps the revision, the write is not refused,
// and the user's edit is overwritten as before.

// unknownAgreed stands for an agreed value billsync does not know. It is
// never a canonical value, so both sides differ from it.
const unknownAgreed = "\x00unknown"

// adoptEdited records sync state for billing record ent whose Salesforce
// twin (found by billing id) a user edited after billsync's lost create:
// the values both sides hold count as agreed, the others as unknown, and
// no revision is known.
func (e *Engine) adoptEdited(ctx context.Context, om *mapping.Object, ent billsync.Entity) (*billsync.SyncState, billsync.SObject, error) {
	rec, err := e.readByExternalID(ctx, om, ent.ID())
	if err != nil {
		return nil, nil, err
	}
	if rec == nil {
		return nil, nil, &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 404, Code: "NOT_FOUND", Transient: true,
			Message: "Salesforce refused the write as edited since it was created, and the record is now gone; writing it again"}
	}
	st, err := resyncBase(om, ent, rec, nil)
	if err != nil {
		return nil, nil, err
	}
	bVals, _, err := om.AllBillingValues(ent)
	if err != nil {
		return nil, nil, err
	}
	sVals, err := om.AllSalesforceValues(rec)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range om.Fields {
		if bVals[f.Billing] != sVals[f.Billing] {
			st.Agreed[f.Billing] = unknownAgreed
		}
	}
	st.UpdatedAt = e.now()
	if err := e.cfg.State.PutSyncState(ctx, st); err != nil {
		return nil, nil, err
	}
	return st, rec, nil
}

// reconcileEdited answers the refusal of a full write of billing record
// ent whose twin a user edited after billsync's lost create: it adopts the
// twin and reconciles the two field by field, as a resync does, with the
// fields they differ on meeting the conflict policy.
func (e *Engine) reconcileEdited(ctx context.Context, a *attempt.Attempt, om *mapping.Object, ent billsync.Entity) {
	st, rec, err := e.adoptEdited(ctx, om, ent)
	if err != nil {
		a.FailOp(err, "read", "", "")
		return
	}
	p, err := e.decide(a, om, st, ent, rec, "")
	if err != nil {
		a.Fail(err, "", rec.ID())
		return
	}
	for i := range p.conflicts {
		if p.conflicts[i].Agreed == unknownAgreed {
			p.conflicts[i].Agreed = ""
		}
	}
	p.note = "the record was already in Salesforce (an earlier write's answer was lost) and edited there since: "
	e.settle(ctx, a, om, st, p, ent, rec)
}
