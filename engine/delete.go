package engine

import (
	"context"
	"fmt"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
)

// deleteAction is what a delete calls for (H1).
type deleteAction int

const (
	deleteSkip   deleteAction = iota // log it and write nothing
	deleteMirror                     // delete the record on the other side
	deleteFlag                       // flag the record on the other side
)

// deleteVerdict is a delete's action, with the skip's reason.
type deleteVerdict struct {
	action      deleteAction
	reason, msg string
}

func skipDelete(reason, msg string) deleteVerdict { return deleteVerdict{deleteSkip, reason, msg} }

// decideBillingDelete decides a billing delete of a record of type t from
// the delete policy, the record's sync state (nil: never synced; not read
// under ignore) and the deleted record as the webhook carried it (nil
// when it carried none).
func decideBillingDelete(t billsync.ObjectType, policy string, st *billsync.SyncState, ent billsync.Entity) deleteVerdict {
	switch {
	case policy == billsync.DeleteIgnore:
		return skipDelete(billsync.ReasonDeleteIgnored, "deletes."+string(t)+" is ignore")
	case st == nil || st.SalesforceID == "":
		return skipDelete(billsync.ReasonNotFound, "the record was never synced to Salesforce")
	case ent != nil && ent.Version() > 0 && ent.Version() <= st.BillingVersion:
		// A delete billsync made itself (mirroring a Salesforce delete)
		// comes back as a webhook whose version it already recorded.
		return skipDelete(billsync.ReasonStale, "billsync's own delete, or an older event")
	case policy == billsync.DeleteFlag:
		return deleteVerdict{action: deleteFlag}
	}
	return deleteVerdict{action: deleteMirror}
}

// decideSalesforceDelete decides a Salesforce delete of a record of type
// t from the delete policy and whether billsync synced the record.
func decideSalesforceDelete(t billsync.ObjectType, policy string, synced bool) deleteVerdict {
	switch {
	case policy == billsync.DeleteIgnore:
		return skipDelete(billsync.ReasonDeleteIgnored, "deletes."+string(t)+" is ignore")
	case !synced:
		return skipDelete(billsync.ReasonNotFound, "the record was never synced to billing")
	case policy == billsync.DeleteFlag:
		return deleteVerdict{action: deleteFlag}
	}
	return deleteVerdict{action: deleteMirror}
}

// deleteFromBilling applies a billing delete to Salesforce per the
// object's delete policy (H1): mirror deletes the Salesforce record (its
// master-detail children go with it, as billing's children do), flag sets
// IsDeletedInBilling__c, ignore logs it as the seed does.
func (e *Engine) deleteFromBilling(ctx context.Context, a *attempt.Attempt, om *mapping.Object) {
	c := a.Change
	policy := a.Settings.DeletePolicy(c.Object)
	var st *billsync.SyncState
	if policy != billsync.DeleteIgnore {
		var err error
		if st, err = e.state(ctx, c.Object, c.RecordID); err != nil {
			a.Fail(err, "", "")
			return
		}
	}
	ent, _ := decodeObject(c.Payload)
	v := decideBillingDelete(c.Object, policy, st, ent)
	if v.action != deleteSkip && e.stillInBilling(ctx, a, c.Object, c.RecordID, st.SalesforceID) {
		return
	}
	switch v.action {
	case deleteSkip:
		sfID := ""
		if v.reason == billsync.ReasonStale {
			sfID = st.SalesforceID
		}
		a.Finish(billsync.OutcomeSkipped, v.reason, "delete", "", v.msg, "", sfID)
	case deleteFlag:
		rec := billsync.SObject{"Id": st.SalesforceID, mapping.FieldDeleted: true, mapping.FieldLastSystem: mapping.LastSystemBilling}
		mapping.SyncStatusFields(rec, "deleted_in_billing", "", e.now())
		if err := e.updateOne(ctx, om, rec); err != nil && !gone(err) {
			a.FailOp(err, "flag", "", st.SalesforceID)
			return
		}
		a.Finish(billsync.OutcomeSuccess, "", "flag", "", "deleted in billing: "+mapping.FieldDeleted+" set", "", st.SalesforceID)
	case deleteMirror:
		if e.holdBurst(ctx, a, c.Object, c.RecordID, st.SalesforceID, "delete in Salesforce (deleted in billing)") {
			return
		}
		res, err := e.cfg.CRM.Delete(ctx, []string{st.SalesforceID})
		if err == nil && len(res) == 1 {
			err = res[0].Err()
		}
		if err != nil && !gone(err) {
			a.FailOp(err, "delete", "", st.SalesforceID)
			return
		}
		if err := e.cfg.State.DeleteSyncState(ctx, c.Object, c.RecordID); err != nil {
			a.Fail(err, "", st.SalesforceID)
			return
		}
		a.Finish(billsync.OutcomeSuccess, "", "delete", "", "deleted in Salesforce (deletes."+string(c.Object)+" is mirror)", "", st.SalesforceID)
	}
}

// deleteFromSalesforce applies a Salesforce delete to billing per the
// delete policy (H1). The sync state is kept under mirror, so that an
// undelete can bring the record back.
func (e *Engine) deleteFromSalesforce(ctx context.Context, a *attempt.Attempt, om *mapping.Object) {
	c := a.Change
	policy := a.Settings.DeletePolicy(c.Object)
	var st *billsync.SyncState
	if policy != billsync.DeleteIgnore {
		var err error
		if st, err = e.cfg.State.SyncStateBySalesforceID(ctx, c.RecordID); notFound(err) {
			st = nil
		} else if err != nil {
			a.Fail(err, "", "")
			return
		}
	}
	v := decideSalesforceDelete(c.Object, policy, st != nil)
	if why := e.salesforceDeleteRefusal(c.Object, v.action); why != "" {
		e.deleteUnsupported(ctx, a, om, st, why)
		return
	}
	switch v.action {
	case deleteSkip:
		a.Finish(billsync.OutcomeSkipped, v.reason, "delete", "", v.msg, "", "")
	case deleteFlag:
		e.flagInBilling(ctx, a, om.Type, st)
	case deleteMirror:
		if e.holdBurst(ctx, a, om.Type, st.BillingID, c.RecordID, "delete in billing (deleted in Salesforce)") {
			return
		}
		e.deleteInBilling(ctx, a, om.Type, st)
	}
}

// salesforceDeleteRefusal says why the billing platform cannot take what
// a Salesforce delete calls for, "" when it can.
func (e *Engine) salesforceDeleteRefusal(t billsync.ObjectType, act deleteAction) string {
	switch act {
	case deleteMirror:
		return e.deleteRefusal(t)
	case deleteFlag:
		return e.refusal(t, flagField)
	}
	return ""
}

// deleteUnsupported handles a Salesforce delete the billing platform
// cannot take: nothing is sent to billing; under unsupported.action
// restore the record is put back in Salesforce from billing (a new
// Salesforce record carrying the billing id), under flag it is only
// logged, as no Salesforce record is left to flag.
func (e *Engine) deleteUnsupported(ctx context.Context, a *attempt.Attempt, om *mapping.Object, st *billsync.SyncState, why string) {
	msg := "not sent to billing, which cannot take it: " + why
	if a.Settings.UnsupportedAction() == billsync.UnsupportedFlag {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonUnsupported, "flag", "",
			msg+"; billing keeps the record ("+billsync.KeyUnsupportedAction+" is flag)", st.BillingID, "")
		return
	}
	ent, err := e.cfg.Billing.Get(ctx, om.Type, st.BillingID)
	if notFound(err) {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonNotFound, "restore", "", "the billing record no longer exists", st.BillingID, "")
		return
	}
	if err != nil {
		a.FailOp(err, "read", st.BillingID, "")
		return
	}
	ns, _, err := e.upsertWhole(ctx, om, ent)
	if mapping.IsStaleRevision(err) {
		// Undeleted meanwhile, and edited: its own change reconciles it.
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonUnsupported, "restore", "",
			msg+"; the record is back in Salesforce, edited there since, so it was not overwritten", st.BillingID, "")
		return
	}
	if err != nil {
		a.FailOp(err, "restore", st.BillingID, "")
		return
	}
	a.Finish(billsync.OutcomeSkipped, billsync.ReasonUnsupported, "restore", "",
		msg+"; restored in Salesforce from billing as "+ns.SalesforceID+" ("+billsync.KeyUnsupportedAction+" is restore)", st.BillingID, "")
}

// flagField is the billing path that marks a record deleted in Salesforce
// (deletes.<object> flag).
const flagField = "customFields.deletedInSalesforce"

// flagInBilling marks a record deleted in Salesforce in billing
// (customFields.deletedInSalesforce).
func (e *Engine) flagInBilling(ctx context.Context, a *attempt.Attempt, t billsync.ObjectType, st *billsync.SyncState) {
	cur, err := e.cfg.Billing.Get(ctx, t, st.BillingID)
	if err != nil {
		if notFound(err) {
			a.Finish(billsync.OutcomeSkipped, billsync.ReasonNotFound, "flag", "", "the billing record no longer exists", st.BillingID, "")
			return
		}
		a.FailOp(err, "read", st.BillingID, "")
		return
	}
	cur.SetPath(flagField, true)
	upd, err := e.cfg.Billing.Update(ctx, t, cur)
	if err != nil {
		a.FailOp(err, "flag", st.BillingID, "")
		return
	}
	st.BillingVersion = upd.Version()
	if err := e.cfg.State.PutSyncState(ctx, st); err != nil {
		a.Fail(err, st.BillingID, "")
		return
	}
	a.Finish(billsync.OutcomeSuccess, "", "flag", "", "deleted in Salesforce: customFields.deletedInSalesforce set", st.BillingID, "")
}

// deleteInBilling deletes in billing a record deleted in Salesforce.
func (e *Engine) deleteInBilling(ctx context.Context, a *attempt.Attempt, t billsync.ObjectType, st *billsync.SyncState) {
	cur, err := e.cfg.Billing.Get(ctx, t, st.BillingID)
	if err != nil && !notFound(err) {
		a.FailOp(err, "read", st.BillingID, "")
		return
	}
	if cur != nil {
		// Record the version billing's "deleted" webhook will carry, so
		// that echo of our own delete is recognised.
		st.BillingVersion = cur.Version() + 1
		if err := e.cfg.State.PutSyncState(ctx, st); err != nil {
			a.Fail(err, st.BillingID, "")
			return
		}
		if err := e.cfg.Billing.Delete(ctx, t, st.BillingID); err != nil && !notFound(err) {
			a.FailOp(err, "delete", st.BillingID, "")
			return
		}
	}
	a.Finish(billsync.OutcomeSuccess, "", "delete", "", "deleted in billing (deletes."+string(t)+" is mirror)", st.BillingID, "")
}

// undeleteAction is what an undelete in Salesforce calls for (H1).
type undeleteAction int

const (
	undeleteSkip   undeleteAction = iota // not mirrored, or nothing to restore
	undeleteCreate                       // create the record in billing again
)

// decideUndelete decides an undelete from the delete policy, whether
// billsync knew the record, and whether its billing record still exists.
func decideUndelete(t billsync.ObjectType, policy string, synced, inBilling bool) (undeleteAction, string, string) {
	switch {
	case policy != billsync.DeleteMirror:
		return undeleteSkip, billsync.ReasonDeleteIgnored, "deletes." + string(t) + " is " + policy
	case synced && inBilling:
		return undeleteSkip, billsync.ReasonEcho, "the billing record still exists"
	}
	return undeleteCreate, "", ""
}

// undeleteFromSalesforce handles a record restored from the recycle bin:
// under mirror its billing record is created again (a new billing id,
// written back); otherwise it is logged.
func (e *Engine) undeleteFromSalesforce(ctx context.Context, a *attempt.Attempt, om *mapping.Object) {
	c := a.Change
	policy := a.Settings.DeletePolicy(c.Object)
	// The policy alone may settle it, before anything is read.
	if act, reason, msg := decideUndelete(c.Object, policy, false, false); act == undeleteSkip {
		a.Finish(billsync.OutcomeSkipped, reason, "undelete", "", msg, "", "")
		return
	}
	rec, ok := e.readChanged(ctx, a, om, "undelete")
	if !ok {
		return
	}
	st, err := e.cfg.State.SyncStateBySalesforceID(ctx, c.RecordID)
	if notFound(err) {
		st = nil
	} else if err != nil {
		a.Fail(err, "", "")
		return
	}
	inBilling := false
	if st != nil {
		_, err := e.cfg.Billing.Get(ctx, c.Object, st.BillingID)
		if err != nil && !notFound(err) {
			a.FailOp(err, "read", st.BillingID, "")
			return
		}
		inBilling = err == nil
	}
	if act, reason, msg := decideUndelete(c.Object, policy, st != nil, inBilling); act == undeleteSkip {
		a.Finish(billsync.OutcomeSkipped, reason, "undelete", "", msg, st.BillingID, "")
		return
	}
	if st != nil {
		// The old id map names a billing record that is gone.
		if err := e.cfg.State.DeleteSyncState(ctx, c.Object, st.BillingID); err != nil {
			a.Fail(err, st.BillingID, "")
			return
		}
	}
	e.createFromSalesforce(ctx, a, om, rec, fmt.Sprintf("sf:%s:undelete:%s", c.RecordID, c.EventID))
}

func (e *Engine) updateOne(ctx context.Context, om *mapping.Object, rec billsync.SObject) error {
	res, err := e.cfg.CRM.Update(ctx, om.SObject, []billsync.SObject{rec})
	if err != nil {
		return err
	}
	if len(res) != 1 {
		return billsync.Errorf(billsync.EINTERNAL, "update returned %d results for 1 record", len(res))
	}
	return res[0].Err()
}

// gone reports a Salesforce answer meaning the record is already deleted.
func gone(err error) bool {
	switch billsync.RemoteCode(err) {
	case "ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND":
		return true
	}
	return notFound(err)
}
