package engine

import (
	"context"
	"fmt"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
)

// deleteFromBilling applies a billing delete to Salesforce per the
// object's delete policy (H1): mirror deletes the Salesforce record (its
// master-detail children go with it, as billing's children do), flag sets
// IsDeletedInBilling__c, ignore logs it as the seed does.
func (e *Engine) deleteFromBilling(ctx context.Context, a *attempt.Attempt, om *mapping.Object) {
	c := a.Change
	policy := a.Settings.DeletePolicy(c.Object)
	if policy == billsync.DeleteIgnore {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonDeleteIgnored, "delete", "", "deletes."+string(c.Object)+" is ignore", "", "")
		return
	}
	st, err := e.state(ctx, c.Object, c.RecordID)
	if err != nil {
		a.Fail(err, "", "")
		return
	}
	if st == nil || st.SalesforceID == "" {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonNotFound, "delete", "", "the record was never synced to Salesforce", "", "")
		return
	}
	// A delete billsync made itself (mirroring a Salesforce delete) comes
	// back as a webhook whose version it already recorded.
	if ent, err := decodeObject(c.Payload); err == nil && ent.Version() > 0 && ent.Version() <= st.BillingVersion {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonStale, "delete", "", "billsync's own delete, or an older event", "", st.SalesforceID)
		return
	}
	if policy == billsync.DeleteFlag {
		rec := billsync.SObject{"Id": st.SalesforceID, mapping.FieldDeleted: true, mapping.FieldLastSystem: mapping.LastSystemBilling}
		mapping.SyncStatusFields(rec, "deleted_in_billing", "", e.now())
		if err := e.updateOne(ctx, om, rec); err != nil && !gone(err) {
			a.FailOp(err, "flag", "", st.SalesforceID)
			return
		}
		a.Finish(billsync.OutcomeSuccess, "", "flag", "", "deleted in billing: "+mapping.FieldDeleted+" set", "", st.SalesforceID)
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

// deleteFromSalesforce applies a Salesforce delete to billing per the
// delete policy (H1). The sync state is kept under mirror, so that an
// undelete can bring the record back.
func (e *Engine) deleteFromSalesforce(ctx context.Context, a *attempt.Attempt, om *mapping.Object) {
	c := a.Change
	policy := a.Settings.DeletePolicy(c.Object)
	if policy == billsync.DeleteIgnore {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonDeleteIgnored, "delete", "", "deletes."+string(c.Object)+" is ignore", "", "")
		return
	}
	st, err := e.cfg.State.SyncStateBySalesforceID(ctx, c.RecordID)
	if notFound(err) {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonNotFound, "delete", "", "the record was never synced to billing", "", "")
		return
	}
	if err != nil {
		a.Fail(err, "", "")
		return
	}
	if policy == billsync.DeleteFlag {
		cur, err := e.cfg.Billing.Get(ctx, c.Object, st.BillingID)
		if err != nil {
			if notFound(err) {
				a.Finish(billsync.OutcomeSkipped, billsync.ReasonNotFound, "flag", "", "the billing record no longer exists", st.BillingID, "")
				return
			}
			a.FailOp(err, "read", st.BillingID, "")
			return
		}
		cur.SetPath("customFields.deletedInSalesforce", true)
		upd, err := e.cfg.Billing.Update(ctx, c.Object, cur)
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
		return
	}
	cur, err := e.cfg.Billing.Get(ctx, c.Object, st.BillingID)
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
		if err := e.cfg.Billing.Delete(ctx, c.Object, st.BillingID); err != nil && !notFound(err) {
			a.FailOp(err, "delete", st.BillingID, "")
			return
		}
	}
	a.Finish(billsync.OutcomeSuccess, "", "delete", "", "deleted in billing (deletes."+string(c.Object)+" is mirror)", st.BillingID, "")
}

// undeleteFromSalesforce handles a record restored from the recycle bin:
// under mirror its billing record is created again (a new billing id,
// written back); otherwise it is logged.
func (e *Engine) undeleteFromSalesforce(ctx context.Context, a *attempt.Attempt, om *mapping.Object) {
	c := a.Change
	if p := a.Settings.DeletePolicy(c.Object); p != billsync.DeleteMirror {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonDeleteIgnored, "undelete", "", "deletes."+string(c.Object)+" is "+p, "", "")
		return
	}
	rec, ok := e.readChanged(ctx, a, om, "undelete")
	if !ok {
		return
	}
	if st, err := e.cfg.State.SyncStateBySalesforceID(ctx, c.RecordID); err == nil {
		if _, err := e.cfg.Billing.Get(ctx, c.Object, st.BillingID); err == nil {
			a.Finish(billsync.OutcomeSkipped, billsync.ReasonEcho, "undelete", "", "the billing record still exists", st.BillingID, "")
			return
		} else if !notFound(err) {
			a.FailOp(err, "read", st.BillingID, "")
			return
		}
		if err := e.cfg.State.DeleteSyncState(ctx, c.Object, st.BillingID); err != nil {
			a.Fail(err, st.BillingID, "")
			return
		}
	} else if !notFound(err) {
		a.Fail(err, "", "")
		return
	}
	sfVals, err := om.SalesforceValues(rec)
	if err != nil {
		a.Fail(err, "", "")
		return
	}
	e.createInBilling(ctx, a, om, rec, sfVals, fmt.Sprintf("sf:%s:undelete:%s", c.RecordID, c.EventID))
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
