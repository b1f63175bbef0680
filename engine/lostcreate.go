package engine

import (
	"context"
	"maps"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/salesforce/soql"
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
// The guard needs BillingSyncTrigger. In an org without it
// (salesforce.changeSource cdc, Config.Unguarded) nothing keeps the
// revision, so upsertUnguarded asks Salesforce instead: it inserts, and
// when the record exists reads who created and who last modified it. A
// record modified since it was created, or by another user, counts as
// edited and is adopted as above; an unedited one is updated in full,
// leaving windows (cdc_overwrite.go) so that an edit saved between that
// read and the update still meets the policy when its change event comes.

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

// upsertUnguarded is upsertOne for an org without the trigger. It inserts
// rec; when a record with its external id exists, it updates that record
// only if nobody has modified it since it was created, and returns the
// windows of the fields written; otherwise it answers as the trigger
// answers a stale revision, which the callers take for an edited record.
func (e *Engine) upsertUnguarded(ctx context.Context, om *mapping.Object, rec billsync.SObject) (billsync.SaveResult, mapping.Values, error) {
	res, err := e.insertOne(ctx, om, rec)
	if billsync.RemoteCode(err) != "DUPLICATE_VALUE" {
		return res, nil, err
	}
	q := soql.Select(createdFields(om)...).From(om.SObject).Where(soql.Eq(om.ExternalID, rec.Str(om.ExternalID)))
	rows, err := e.cfg.CRM.Query(ctx, q.String())
	if err != nil {
		return billsync.SaveResult{}, nil, err
	}
	if len(rows) == 0 {
		return billsync.SaveResult{}, nil, &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 404, Code: "NOT_FOUND", Transient: true,
			Message: "Salesforce refused the insert as a duplicate, and the record is not to be found; writing it again"}
	}
	up := maps.Clone(rec)
	up["Id"] = rows[0].ID()
	opened, err := e.updateUnedited(ctx, om, up, rows[0])
	if err != nil {
		return billsync.SaveResult{}, nil, err
	}
	return billsync.SaveResult{ID: rows[0].ID(), Success: true}, opened, nil
}

// createdFields are the fields read of a record whose edits since its
// creation matter where no trigger keeps its revision.
func createdFields(om *mapping.Object) []string {
	return append(om.SalesforceFields(), "CreatedDate", "CreatedById")
}

// updateUnedited writes up over cur, a record as read with createdFields,
// if nobody has modified cur since it was created, as revision 0 asks the
// trigger to check; it returns the windows of the fields written. A
// record modified since gets the trigger's stale-revision answer.
func (e *Engine) updateUnedited(ctx context.Context, om *mapping.Object, up, cur billsync.SObject) (mapping.Values, error) {
	if cur.Str("LastModifiedDate") != cur.Str("CreatedDate") || !sameID(cur.Str("LastModifiedById"), cur.Str("CreatedById")) {
		return nil, &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 400, Code: "FIELD_CUSTOM_VALIDATION_EXCEPTION",
			Message: mapping.StaleRevision + ": " + cur.ID() + " was modified after it was created (no trigger keeps its revision)"}
	}
	if err := e.updateOne(ctx, om, up); err != nil {
		return nil, err
	}
	opened := mapping.Values{}
	p := &plan{toSF: mapping.Values{}, agreed: opened}
	for _, f := range om.Fields {
		if f.ToSF() {
			p.toSF[f.Billing] = ""
		}
	}
	e.trackWindows(om, nil, p, cur)
	return opened, nil
}

// sameID compares Salesforce ids in their 15- or 18-character forms.
func sameID(a, b string) bool {
	if len(a) >= 15 && len(b) >= 15 {
		return a[:15] == b[:15]
	}
	return a == b
}

// writeTwin is linkTwin's write of its twin. Without the trigger, revision
// 0 is checked here: the twin is read first (a gone twin answers
// NOT_FOUND), and the windows of the fields written are returned.
func (e *Engine) writeTwin(ctx context.Context, om *mapping.Object, up billsync.SObject) (mapping.Values, error) {
	if !e.cfg.Unguarded {
		return nil, e.updateOne(ctx, om, up)
	}
	rows, err := e.cfg.CRM.RetrieveRecords(ctx, om.SObject, createdFields(om), []string{up.ID()})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 404, Code: "NOT_FOUND", Message: "the record is gone"}
	}
	return e.updateUnedited(ctx, om, up, rows[0])
}
