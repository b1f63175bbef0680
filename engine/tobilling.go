package engine

import (
	"context"
	"fmt"
	"regexp"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
)

var sfIDPattern = regexp.MustCompile(`^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$`)

// toBilling applies a Salesforce change to billing (C2–C4): read the
// record, compare it with the agreed values, push what Salesforce changed.
func (e *Engine) toBilling(ctx context.Context, a *attempt.Attempt) {
	c := a.Change
	if ok, key := a.Settings.SyncAllowed(c.Object); !ok {
		// Name the billing record too when it is known, so the skip shows
		// up under either id (G2).
		billingID := ""
		if st, err := e.cfg.State.SyncStateBySalesforceID(ctx, c.RecordID); err == nil {
			billingID = st.BillingID
		}
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonSwitchOff, "", "", key+" is off; a resync catches this change up", billingID, "")
		return
	}
	om, ok := e.m.Object(c.Object)
	if !ok {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonUnsupported, "", "", fmt.Sprintf("no mapping for %s", c.Object), "", "")
		return
	}
	switch c.Op {
	case billsync.OpDeleted:
		e.deleteFromSalesforce(ctx, a, om)
		return
	case billsync.OpUndeleted:
		e.undeleteFromSalesforce(ctx, a, om)
		return
	}
	rec, ok := e.readChanged(ctx, a, om, "read")
	if !ok {
		return
	}
	st, err := e.stateOf(ctx, om, rec)
	if err != nil {
		a.Fail(err, "", "")
		return
	}
	if e.requeueInAccount(ctx, a, st) {
		return
	}
	if st == nil {
		e.createFromSalesforce(ctx, a, om, rec, "sf:"+rec.ID())
		return
	}
	if rec.Str(om.ExternalID) != st.BillingID {
		// An earlier attempt created the billing record but could not
		// write its id back (C3), or a user edited the id: the sync state
		// is billsync's record of the link, so the id is written back
		// first.
		if err := e.writeBack(ctx, om, rec.ID(), st.BillingID); err != nil {
			a.FailOp(err, "update", st.BillingID, "")
			return
		}
	}
	if e.isHeld(ctx, a, om.Type, st.BillingID, st.BillingID, "") {
		return
	}
	all, err := om.AllSalesforceValues(rec)
	if err != nil {
		a.Fail(err, st.BillingID, "")
		return
	}
	if ov, u := e.overwritten(a, om, st, all); ov != nil {
		e.reconcileOverwritten(ctx, a, om, st, rec, all, ov, u)
		return
	}
	if len(mapping.Diff(all, st.Agreed)) == 0 {
		e.noteRevision(ctx, st, rec)
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonEcho, "", "", "equal to the values both sides agreed on", st.BillingID, "")
		return
	}
	e.reconcileWithBilling(ctx, a, om, st, rec)
}

// stateOf reads the sync state of a Salesforce record; nil when billsync
// does not know it. A record linked in Salesforce but unknown here (for
// example a store started afresh) is adopted: its billing record is the
// base to compare with.
func (e *Engine) stateOf(ctx context.Context, om *mapping.Object, rec billsync.SObject) (*billsync.SyncState, error) {
	st, err := e.cfg.State.SyncStateBySalesforceID(ctx, rec.ID())
	if !notFound(err) {
		return st, err
	}
	if billingID := rec.Str(om.ExternalID); billingID != "" {
		return e.adopt(ctx, om, billingID, rec.ID())
	}
	return nil, nil
}

// billingOf reads the billing record of a Salesforce change's state;
// false once the attempt is finished: the record is gone (skipped) or
// could not be read (failed).
func (e *Engine) billingOf(ctx context.Context, a *attempt.Attempt, om *mapping.Object, st *billsync.SyncState) (billsync.Entity, bool) {
	cur, err := e.cfg.Billing.Get(ctx, om.Type, st.BillingID)
	if err == nil {
		return cur, true
	}
	if notFound(err) {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonNotFound, "read", "", "the billing record no longer exists", st.BillingID, "")
	} else {
		a.FailOp(err, "read", st.BillingID, "")
	}
	return nil, false
}

// reconcileWithBilling reads the billing record of a Salesforce change
// and reconciles the two field by field (C2, D1).
func (e *Engine) reconcileWithBilling(ctx context.Context, a *attempt.Attempt, om *mapping.Object, st *billsync.SyncState, rec billsync.SObject) {
	cur, ok := e.billingOf(ctx, a, om, st)
	if !ok {
		return
	}
	p, err := e.decide(a, om, st, cur, rec, "")
	if err != nil {
		a.Fail(err, st.BillingID, "")
		return
	}
	e.settle(ctx, a, om, st, p, cur, rec)
}

// createFromSalesforce creates in billing a record made in Salesforce
// (C3); idemKey makes a repeated create return the first one's record.
func (e *Engine) createFromSalesforce(ctx context.Context, a *attempt.Attempt, om *mapping.Object, rec billsync.SObject, idemKey string) {
	sfVals, err := om.SalesforceValues(rec)
	if err != nil {
		a.Fail(err, "", "")
		return
	}
	e.createInBilling(ctx, a, om, rec, sfVals, idemKey)
}

// createInBilling creates a record that was created in Salesforce, and
// writes the new billing id back to it (C3).
func (e *Engine) createInBilling(ctx context.Context, a *attempt.Attempt, om *mapping.Object, rec billsync.SObject, sfVals mapping.Values, idemKey string) {
	ent := billsync.Entity{}
	refused := map[string]string{}
	for k, v := range sfVals {
		if v == "" {
			continue
		}
		if why := e.createRefusal(om.Type, k); why != "" {
			refused[k] = why
			continue
		}
		f, _ := om.Field(k)
		ent.SetPath(k, f.BillingValue(v))
	}
	if om.Parent != nil {
		parentID := rec.Str(om.Parent.Relationship + "." + om.ExternalIDOfParent())
		if parentID == "" {
			// The parent was created in Salesforce too and is not in
			// billing yet: wait for it (B4).
			a.Wait(billsync.ReasonWaitingParent, fmt.Sprintf("parent %s is not in billing yet", rec.Str(om.Parent.LookupField)), "", "")
			return
		}
		ent[om.Parent.BillingField] = parentID
		if om.Parent.Type == billsync.ObjectBalance {
			if pst, err := e.state(ctx, billsync.ObjectBalance, parentID); err == nil && pst != nil && pst.AccountID != "" {
				ent["accountId"] = pst.AccountID
			}
		}
	}

	// The billing record carries its Salesforce twin's id from birth, so
	// that its "created" webhook, should it be handled before this change
	// saves the id map (a lost answer, a crash), links to this record
	// instead of upserting a second one.
	ent.SetPath(LinkField, rec.ID())
	e.createMu.Lock()
	created, err := e.cfg.Billing.Create(ctx, om.Type, ent, idemKey)
	if err != nil {
		e.createMu.Unlock()
		e.markFailed(ctx, om, rec.ID(), err)
		a.FailOp(err, "create", "", "")
		return
	}
	agreed, _, verr := om.BillingValues(created, false)
	if verr != nil {
		agreed = sfVals
	}
	// Fields that flow only to Salesforce start agreed at billing's value.
	if toSF, _, err := om.BillingValues(created, true); err == nil {
		agreed = mapping.Merge(toSF, agreed)
	}
	if om.Parent != nil {
		agreed[om.Parent.BillingField] = created.Str(om.Parent.BillingField)
	}
	if all, err := om.AllSalesforceValues(rec); err == nil && len(mapping.Diff(all, agreed)) == 0 {
		// Salesforce holds what billing now holds, at the revision read.
		agreed[mapping.AgreedRevision] = mapping.Revision(rec)
	}
	st := &billsync.SyncState{Object: om.Type, BillingID: created.ID(), SalesforceID: rec.ID(), AccountID: accountOf(om.Type, created),
		BillingVersion: created.Version(), Agreed: agreed, UpdatedAt: e.now()}
	err = e.cfg.State.PutSyncState(ctx, st)
	e.createMu.Unlock()
	if err != nil {
		a.Fail(err, created.ID(), "")
		return
	}
	set, status, note := e.unsupportedOnCreate(a, om, refused, agreed)
	if err := e.writeBackWith(ctx, om, rec.ID(), created.ID(), set, status, note); err != nil {
		a.FailOp(err, "update", created.ID(), "")
		return
	}
	if note != "" {
		a.Note(a.Entry(om.Type, created.ID(), rec.ID(), "create", billsync.OutcomeSkipped, billsync.ReasonUnsupported, "", note))
	}
	a.Finish(billsync.OutcomeSuccess, "", "create", "", "created in billing; id written back to "+om.ExternalID, created.ID(), "")
}

// LinkField is the billing field holding the Salesforce id of a record
// created in Salesforce.
const LinkField = "customFields.salesforceId"

// writeBack stores the billing id on the Salesforce record, as billsync's
// own write (no event, no loop).
func (e *Engine) writeBack(ctx context.Context, om *mapping.Object, sfID, billingID string) error {
	return e.writeBackWith(ctx, om, sfID, billingID, nil, "success", "")
}

// writeBackWith is writeBack also setting the fields of set, with the
// given sync status.
func (e *Engine) writeBackWith(ctx context.Context, om *mapping.Object, sfID, billingID string, set billsync.SObject, status, msg string) error {
	rec := billsync.SObject{"Id": sfID, om.ExternalID: billingID, mapping.FieldLastSystem: mapping.LastSystemBilling}
	for k, v := range set {
		rec[k] = v
	}
	mapping.SyncStatusFields(rec, status, msg, e.now())
	res, err := e.cfg.CRM.Update(ctx, om.SObject, []billsync.SObject{rec})
	if err != nil {
		return err
	}
	if len(res) != 1 {
		return billsync.Errorf(billsync.EINTERNAL, "update returned %d results for 1 record", len(res))
	}
	return res[0].Err()
}

// adopt builds sync state for a record linked on both sides that billsync
// has no state for: the billing record's current values count as agreed.
func (e *Engine) adopt(ctx context.Context, om *mapping.Object, billingID, sfID string) (*billsync.SyncState, error) {
	ent, err := e.cfg.Billing.Get(ctx, om.Type, billingID)
	if notFound(err) {
		return nil, billsync.Errorf(billsync.EINVALID, "%s %s names billing record %s, which does not exist", om.SObject, sfID, billingID)
	}
	if err != nil {
		return nil, err
	}
	vals, _, err := om.BillingValues(ent, false)
	if err != nil {
		return nil, err
	}
	if toSF, _, err := om.BillingValues(ent, true); err == nil {
		vals = mapping.Merge(toSF, vals)
	}
	return &billsync.SyncState{Object: om.Type, BillingID: billingID, SalesforceID: sfID, AccountID: accountOf(om.Type, ent),
		BillingVersion: ent.Version(), Agreed: vals, UpdatedAt: e.now()}, nil
}

// readChanged reads the Salesforce record a change is about; when it
// cannot (a failure, or the record is gone) it records the outcome and
// reports false.
func (e *Engine) readChanged(ctx context.Context, a *attempt.Attempt, om *mapping.Object, op string) (billsync.SObject, bool) {
	rec, err := e.readSalesforce(ctx, om, a.Change.RecordID)
	if err != nil {
		a.FailOp(err, "read", "", "")
		return nil, false
	}
	if rec == nil {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonNotFound, op, "", "the record is no longer in Salesforce", "", "")
		return nil, false
	}
	return rec, true
}

// readSalesforce reads the mapped fields of one record (with the
// parent's external id through the relationship); nil when it no longer
// exists. Reads of many partitions share queries (salesforce/batch).
func (e *Engine) readSalesforce(ctx context.Context, om *mapping.Object, id string) (billsync.SObject, error) {
	if !sfIDPattern.MatchString(id) {
		return nil, billsync.Errorf(billsync.EINVALID, "%q is not a Salesforce id", id)
	}
	rows, err := e.cfg.CRM.RetrieveRecords(ctx, om.SObject, om.SalesforceFields(), []string{id})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return rows[0], nil
}
