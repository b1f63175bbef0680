package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/salesforce/soql"
)

// sfRepair is what the repair of a Salesforce record a resync queued does.
type sfRepair int

const (
	repairReconcile sfRepair = iota // reconcile it with its billing record
	repairLink                      // record the billing id an initial load matched, then reconcile
	repairCreate                    // create it in billing (C3)
	repairDelete                    // deleted in billing, deletes mirror: delete it
	repairFlag                      // deleted in billing, deletes flag: flag it
	repairIgnore                    // deleted in billing, deletes ignore: log it
)

// decideSalesforceRepair decides a Salesforce record's repair from its
// billing id (billingID, "" when it has none), the billing id an initial
// load matched it with (link), whether billingID exists in billing, and
// the delete policy (H1, H2).
func decideSalesforceRepair(billingID, link string, inBilling bool, deletePolicy string) sfRepair {
	switch {
	case billingID == "" && link != "":
		return repairLink
	case billingID == "":
		return repairCreate
	case inBilling:
		return repairReconcile
	case deletePolicy == billsync.DeleteMirror:
		return repairDelete
	case deletePolicy == billsync.DeleteFlag:
		return repairFlag
	}
	return repairIgnore
}

// resyncRecord repairs one record a resync found different: both sides
// are read afresh and reconciled (H2). While the object's switch is off,
// a repair writes nothing, whichever side it starts from (A2, A5).
func (e *Engine) resyncRecord(ctx context.Context, a *attempt.Attempt) {
	c := a.Change
	om, ok := e.m.Object(c.Object)
	if !ok {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonUnsupported, "resync", "", fmt.Sprintf("no mapping for %s", c.Object), "", "")
		return
	}
	billingID := ""
	if c.Source == billsync.SideBilling {
		billingID = c.RecordID
	}
	if e.switchedOff(a, om, billingID) {
		return
	}
	if c.Source == billsync.SideBilling {
		e.resyncFromBilling(ctx, a, om, c.RecordID)
		return
	}
	var p resyncPayload
	_ = json.Unmarshal(c.Payload, &p)
	rec, ok := e.readChanged(ctx, a, om, "resync")
	if !ok {
		return
	}
	billingID = rec.Str(om.ExternalID)
	if st, err := e.cfg.State.SyncStateBySalesforceID(ctx, rec.ID()); err == nil && st.BillingID != billingID {
		// A synced record whose external id was edited in Salesforce: the
		// sync state names its billing record, which the repair restores
		// rather than creating, deleting or flagging anything.
		e.resyncFromBilling(ctx, a, om, st.BillingID)
		return
	}
	var ent billsync.Entity
	if billingID != "" {
		var err error
		if ent, err = e.cfg.Billing.Get(ctx, om.Type, billingID); err != nil && !notFound(err) {
			a.FailOp(err, "read", billingID, "")
			return
		}
	}
	switch decideSalesforceRepair(billingID, p.Link, ent != nil, a.Settings.DeletePolicy(om.Type)) {
	case repairLink:
		if err := e.writeBack(ctx, om, rec.ID(), p.Link); err != nil {
			a.FailOp(err, "link", p.Link, "")
			return
		}
		e.resyncFromBilling(ctx, a, om, p.Link)
	case repairCreate:
		e.createFromSalesforce(ctx, a, om, rec, "sf:"+rec.ID())
	case repairReconcile:
		e.resyncEntity(ctx, a, om, ent)
	case repairDelete:
		res, err := e.cfg.CRM.Delete(ctx, []string{rec.ID()})
		if err == nil && len(res) == 1 {
			err = res[0].Err()
		}
		if err != nil && !gone(err) {
			a.FailOp(err, "delete", billingID, "")
			return
		}
		_ = e.cfg.State.DeleteSyncState(ctx, om.Type, billingID)
		a.Finish(billsync.OutcomeSuccess, "", "delete", "", "deleted in billing: deleted in Salesforce (resync)", billingID, "")
	case repairFlag:
		up := billsync.SObject{"Id": rec.ID(), mapping.FieldDeleted: true, mapping.FieldLastSystem: mapping.LastSystemBilling}
		if err := e.updateOne(ctx, om, up); err != nil {
			a.FailOp(err, "flag", billingID, "")
			return
		}
		a.Finish(billsync.OutcomeSuccess, "", "flag", "", "deleted in billing: flagged (resync)", billingID, "")
	default:
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonDeleteIgnored, "resync", "", "deleted in billing; deletes."+string(om.Type)+" is ignore", billingID, "")
	}
}

// switchedOff records a skip when the object's switch is off (A5).
func (e *Engine) switchedOff(a *attempt.Attempt, om *mapping.Object, billingID string) bool {
	if ok, key := a.Settings.SyncAllowed(om.Type); !ok {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonSwitchOff, "resync", "", key+" is off", billingID, "")
		return true
	}
	return false
}

// resyncFromBilling reconciles a billing record with its Salesforce twin,
// creating the twin when it is missing.
func (e *Engine) resyncFromBilling(ctx context.Context, a *attempt.Attempt, om *mapping.Object, billingID string) {
	ent, err := e.cfg.Billing.Get(ctx, om.Type, billingID)
	if err != nil {
		if notFound(err) {
			a.Finish(billsync.OutcomeSkipped, billsync.ReasonNotFound, "resync", "", "the billing record no longer exists", billingID, "")
			return
		}
		a.FailOp(err, "read", billingID, "")
		return
	}
	e.resyncEntity(ctx, a, om, ent)
}

// resyncEntity reconciles billing record ent, as read, with its twin: it
// reads the sync state and the twin (by the state's Salesforce id, else by
// billing id), then creates the twin or reconciles field by field.
func (e *Engine) resyncEntity(ctx context.Context, a *attempt.Attempt, om *mapping.Object, ent billsync.Entity) {
	billingID := ent.ID()
	st, err := e.state(ctx, om.Type, billingID)
	if err != nil {
		a.Fail(err, billingID, "")
		return
	}
	if e.isHeld(ctx, a, om.Type, billingID, billingID, "") {
		return
	}
	var rec billsync.SObject
	switch {
	case st != nil && st.SalesforceID != "":
		rec, err = e.readSalesforce(ctx, om, st.SalesforceID)
	case missingInSalesforce(a.Change) && e.createMissing(ctx, a, om, ent):
		return
	default:
		rec, err = e.readByExternalID(ctx, om, billingID)
	}
	if err != nil {
		a.FailOp(err, "read", billingID, "")
		return
	}
	if rec == nil {
		if om.Parent != nil {
			if err := e.ensureParent(ctx, a, om.Parent.Type, ent.Str(om.Parent.BillingField), 0); err != nil {
				a.Fail(err, billingID, "")
				return
			}
		}
		ns, _, err := e.upsertWhole(ctx, om, ent)
		if mapping.IsStaleRevision(err) {
			// Created and edited in Salesforce since it was read.
			e.reconcileEdited(ctx, a, om, ent)
			return
		}
		if err != nil {
			a.FailOp(err, "upsert", billingID, "")
			return
		}
		a.Finish(billsync.OutcomeSuccess, "", "create", "", "created in Salesforce (resync)", billingID, ns.SalesforceID)
		return
	}
	restored := ""
	if st != nil && st.SalesforceID == rec.ID() && rec.Str(om.ExternalID) != billingID {
		if restored, err = e.restoreExternalID(ctx, om, rec, billingID); err != nil {
			a.FailOp(err, "link", billingID, rec.ID())
			return
		}
	}
	base, err := resyncBase(om, ent, rec, st)
	if err != nil {
		a.Fail(err, billingID, rec.ID())
		return
	}
	p, err := e.decide(a, om, base, ent, rec, "")
	if err != nil {
		a.Fail(err, billingID, rec.ID())
		return
	}
	if restored != "" {
		p.note, p.relinked = restored+"; ", true
	}
	e.settle(ctx, a, om, base, p, ent, rec)
}

// restoreExternalID writes billing id billingID back to rec, the twin the
// sync state names, whose external id was edited in Salesforce: the sync
// state is billsync's own record of the link. It returns what it did, for
// the log.
func (e *Engine) restoreExternalID(ctx context.Context, om *mapping.Object, rec billsync.SObject, billingID string) (string, error) {
	was := rec.Str(om.ExternalID)
	if err := e.writeBack(ctx, om, rec.ID(), billingID); err != nil {
		return "", err
	}
	rec[om.ExternalID] = billingID
	return fmt.Sprintf("%s restored to %s (it had been edited in Salesforce to %q)", om.ExternalID, billingID, was), nil
}

// resyncBase is the state a resync reconciles a record from: its sync
// state when that names rec; otherwise, the record never having been
// linked here, billing's values — billing, the system of record for
// money, counts as the agreed base.
func resyncBase(om *mapping.Object, ent billsync.Entity, rec billsync.SObject, st *billsync.SyncState) (*billsync.SyncState, error) {
	if st != nil && st.SalesforceID == rec.ID() {
		return st, nil
	}
	base, _, err := om.AllBillingValues(ent)
	if err != nil {
		return nil, err
	}
	if om.Parent != nil {
		base[om.Parent.BillingField] = ent.Str(om.Parent.BillingField)
	}
	return &billsync.SyncState{Object: om.Type, BillingID: ent.ID(), SalesforceID: rec.ID(), AccountID: accountOf(om.Type, ent),
		BillingVersion: ent.Version(), Agreed: base}, nil
}

// readByExternalID finds a Salesforce record by its billing id; nil when
// there is none.
func (e *Engine) readByExternalID(ctx context.Context, om *mapping.Object, billingID string) (billsync.SObject, error) {
	q := soql.Select(om.SalesforceFields()...).From(om.SObject).Where(soql.Eq(om.ExternalID, billingID))
	rows, err := e.cfg.CRM.Query(ctx, q.String())
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}

// missingInSalesforce reports whether c is the repair of a billing record
// its resync found no Salesforce record for.
func missingInSalesforce(c billsync.Change) bool {
	if c.Op != billsync.OpResync || c.Source != billsync.SideBilling {
		return false
	}
	var p resyncPayload
	return json.Unmarshal(c.Payload, &p) == nil && p.Missing
}

// createMissing inserts the Salesforce twin of billing record ent, which
// the resync found missing, without reading first: on an initial load a
// read per record finds nothing and costs a call each. The external id is
// unique, so a twin created since the resync read (by a user, an import)
// makes the insert fail with DUPLICATE_VALUE instead of being overwritten:
// createMissing then reports false, having done nothing, and the caller
// reads that twin and reconciles it. Otherwise it finishes the attempt.
func (e *Engine) createMissing(ctx context.Context, a *attempt.Attempt, om *mapping.Object, ent billsync.Entity) bool {
	billingID := ent.ID()
	if om.Parent != nil {
		if err := e.ensureParent(ctx, a, om.Parent.Type, ent.Str(om.Parent.BillingField), 0); err != nil {
			a.Fail(err, billingID, "")
			return true
		}
	}
	ns, _, err := e.writeWhole(ctx, om, ent, true)
	if billsync.RemoteCode(err) == "DUPLICATE_VALUE" {
		return false
	}
	if err != nil {
		a.FailOp(err, "create", billingID, "")
		return true
	}
	a.Finish(billsync.OutcomeSuccess, "", "create", "", "created in Salesforce (resync)", billingID, ns.SalesforceID)
	return true
}
