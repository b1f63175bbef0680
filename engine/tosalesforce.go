package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
)

// toSalesforce applies a billing change to Salesforce (B1–B6): it reads
// the record's sync state, decides with classifyBillingChange, and
// applies what that decided.
func (e *Engine) toSalesforce(ctx context.Context, a *attempt.Attempt) {
	c := a.Change
	if ok, key := a.Settings.SyncAllowed(c.Object); !ok {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonSwitchOff, "", "", key+" is off; a resync catches this change up", "", "")
		return
	}
	if c.Object == billsync.ObjectQuote {
		if e.cfg.Quotes == nil {
			a.Finish(billsync.OutcomeSkipped, billsync.ReasonUnsupported, "", "", "quote sync is not configured in this process", "", "")
			return
		}
		payload, err := e.quotePayload(ctx, c)
		if notFound(err) {
			a.Finish(billsync.OutcomeSkipped, billsync.ReasonNotFound, "read", "", "billing no longer has the quote the webhook named", "", "")
			return
		}
		if err != nil {
			a.FailOp(err, "read", "", "")
			return
		}
		a.Change.Payload = payload
		e.cfg.Quotes.SyncQuote(ctx, a)
		return
	}
	om, ok := e.m.Object(c.Object)
	if !ok {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonUnsupported, "", "", fmt.Sprintf("no mapping for %s", c.Object), "", "")
		return
	}
	if c.Op == billsync.OpDeleted {
		e.deleteFromBilling(ctx, a, om)
		return
	}
	ent, err := decodeObject(c.Payload)
	if err != nil {
		a.Fail(err, "", "")
		return
	}
	var fresh billsync.Entity // billing's own copy, when the webhook's may not be acted on
	switch {
	case fromScan(c):
		// Not a webhook's copy: billing's own answer to the scan's list
		// call, moments ago. Reading it again would cost calls for
		// nothing (m3ter needs two per transaction).
		fresh = ent
	case e.fetchOnNotify():
		if fresh, ok = e.readNotified(ctx, a, c.Object, ent.ID()); !ok {
			return
		}
		ent = fresh
	}
	if c.Object == billsync.ObjectBalance && !e.scanTransactions(ctx, a, ent.ID()) {
		return
	}
	st, unlock, err := e.lockedState(ctx, c.Object, ent.ID())
	defer unlock()
	if err != nil {
		a.Fail(err, "", "")
		return
	}
	vals, lossy, err := om.BillingValues(ent, true)
	if err != nil {
		a.Fail(err, "", "")
		return
	}
	v := classifyBillingChange(c, ent, st, vals)
	if e.unversioned() {
		v = classifyUnversioned(ent, st, vals)
	}
	switch v.action {
	case billingSkip:
		a.Finish(billsync.OutcomeSkipped, v.reason, "", "", v.msg, "", st.SalesforceID)
		return
	case billingEcho:
		// The version is not recorded: a webhook's word on it is not
		// billing's (D4), and nothing was written that would need it. The
		// next change that differs reads billing and records its answer.
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonEcho, "", "", "equal to the values both sides agreed on", "", st.SalesforceID)
		return
	case billingReconcile, billingReread:
		cur, done := e.reconcileFromBilling(ctx, a, om, st, v, fresh)
		if done {
			return
		}
		// The Salesforce record was deleted there: billing's record, as
		// read, is put back in full below.
		ent = cur
		if _, lossy, err = om.BillingValues(ent, true); err != nil {
			a.Fail(err, "", st.SalesforceID)
			return
		}
	case billingLinkTwin:
		if e.linkTwin(ctx, a, om, ent, vals, ent.PathStr(LinkField)) {
			return
		}
	}
	e.upsertFromBilling(ctx, a, om, ent, lossy)
}

// lockedState reads a billing record's sync state. When there is none it
// takes createMu's read lock and reads again, so that no Salesforce-side
// create lands between this read of the id map and the upsert that
// follows; unlock releases it.
func (e *Engine) lockedState(ctx context.Context, t billsync.ObjectType, billingID string) (st *billsync.SyncState, unlock func(), err error) {
	if st, err = e.state(ctx, t, billingID); err != nil || st != nil {
		return st, func() {}, err
	}
	e.createMu.RLock()
	st, err = e.state(ctx, t, billingID)
	return st, e.createMu.RUnlock, err
}

// billingAction is what a billing change calls for.
type billingAction int

const (
	billingUpsert    billingAction = iota // write the record in full: new to Salesforce (or gone from it)
	billingSkip                           // stale, coalesced or a repeat, with the applied values: nothing to write
	billingReread                         // not newer, yet with other values than those applied: billing's answer decides (D4)
	billingEcho                           // newer, equal to the agreed values: nothing to write (B6)
	billingReconcile                      // both sides have it: reconcile field by field (D1)
	billingLinkTwin                       // created from Salesforce and not linked yet: link the twin
)

// billingVerdict is a billing change's action, with the skip's reason.
type billingVerdict struct {
	action      billingAction
	reason, msg string
}

// classifyBillingChange decides what billing change c, carrying ent, calls
// for, from the record's sync state (nil: never synced) and its values
// that flow to Salesforce (B6). A change that is not newer than the
// applied version is dropped only when it carries the applied values: one
// that carries others may be telling the truth about its values and not
// about its version (a webhook's version is its word, not billing's), so
// billing is read and its answer decides.
func classifyBillingChange(c billsync.Change, ent billsync.Entity, st *billsync.SyncState, vals mapping.Values) billingVerdict {
	switch {
	case st != nil && ent.Version() <= st.BillingVersion:
		// An event that was already waiting when a later state of its
		// record was written (updates read billing afresh, so several
		// queued changes of one record collapse into one write) is
		// coalesced; one that arrives after it is stale.
		v := billingVerdict{billingSkip, billsync.ReasonStale, fmt.Sprintf("version %d is not newer than the applied version %d", ent.Version(), st.BillingVersion)}
		if ent.Version() == st.BillingVersion {
			v.msg = fmt.Sprintf("version %d is already applied (billsync's own write, or a repeat)", ent.Version())
		} else if !c.EnqueuedAt.IsZero() && c.EnqueuedAt.Before(st.UpdatedAt) {
			v.reason, v.msg = billsync.ReasonCoalesced, fmt.Sprintf("version %d was written together with version %d", ent.Version(), st.BillingVersion)
		}
		if st.SalesforceID != "" && len(mapping.Diff(vals, st.Agreed)) > 0 {
			v.action = billingReread
		}
		return v
	case st != nil && st.SalesforceID != "" && len(mapping.Diff(vals, st.Agreed)) == 0:
		return billingVerdict{action: billingEcho}
	case st != nil && st.SalesforceID != "":
		return billingVerdict{action: billingReconcile}
	case st == nil && ent.PathStr(LinkField) != "":
		return billingVerdict{action: billingLinkTwin}
	}
	return billingVerdict{action: billingUpsert}
}

// classifyUnversioned is classifyBillingChange for a platform without
// versions: no order can be read from its events, so a change is judged
// by its values alone, and ent is billing's own copy (fetchOnNotify).
func classifyUnversioned(ent billsync.Entity, st *billsync.SyncState, vals mapping.Values) billingVerdict {
	switch {
	case st != nil && st.SalesforceID != "" && len(mapping.Diff(vals, st.Agreed)) == 0:
		return billingVerdict{action: billingEcho}
	case st != nil && st.SalesforceID != "":
		return billingVerdict{action: billingReconcile}
	case st == nil && ent.PathStr(LinkField) != "":
		return billingVerdict{action: billingLinkTwin}
	}
	return billingVerdict{action: billingUpsert}
}

// upsertFromBilling writes a billing record to Salesforce in full, its
// parents first when billsync has not put them there yet (B4).
func (e *Engine) upsertFromBilling(ctx context.Context, a *attempt.Attempt, om *mapping.Object, ent billsync.Entity, lossy []string) {
	if om.Parent != nil {
		parentID := ent.Str(om.Parent.BillingField)
		if parentID == "" {
			a.Fail(billsync.Errorf(billsync.EINVALID, "%s %s has no %s", om.Type, ent.ID(), om.Parent.BillingField), "", "")
			return
		}
		if err := e.ensureParent(ctx, a, om.Parent.Type, parentID, 0); err != nil {
			a.Fail(err, "", "")
			return
		}
	}
	ns, created, err := e.upsertWhole(ctx, om, ent)
	if mapping.IsStaleRevision(err) {
		e.reconcileEdited(ctx, a, om, ent)
		return
	}
	if err != nil {
		a.FailOp(err, "upsert", "", "")
		return
	}
	op, msg := "update", "all mapped fields written"
	if created {
		op, msg = "create", ""
	}
	if len(lossy) > 0 {
		msg = strings.TrimSpace(msg + "; rounded to the Salesforce field's scale, value changed: " + strings.Join(lossy, ", "))
	}
	a.Finish(billsync.OutcomeSuccess, "", op, "", msg, "", ns.SalesforceID)
}

// reconcileFromBilling handles a billing change of a record both sides
// have: it reads billing's current version and reconciles it with the
// Salesforce record field by field, so a Salesforce edit of the same field
// since the last sync is a conflict (D1) rather than silently overwritten.
// When the agreed revision is known, the Salesforce record is not read:
// the plan is decided from the agreed values and its write carries that
// revision, so Salesforce refuses it if a user edited the record since,
// and only then is the record read and reconciled (D4, settle).
//
// For a change v judged not newer whose values differ from those applied
// (billingReread), billing's answer decides: when billing holds the
// applied version with the applied values the change was a genuinely old
// one and is skipped; otherwise billing's record is reconciled like any
// change, and the version recorded is the one billing answered.
//
// fresh, when not nil, is billing's record read just now (fetchOnNotify),
// which it is not read again for. It reports done false, with the billing
// record as read, when the Salesforce record is gone.
func (e *Engine) reconcileFromBilling(ctx context.Context, a *attempt.Attempt, om *mapping.Object, st *billsync.SyncState, v billingVerdict, fresh billsync.Entity) (_ billsync.Entity, done bool) {
	if e.isHeld(ctx, a, om.Type, st.BillingID, "", st.SalesforceID) {
		return nil, true
	}
	ent, err := fresh, error(nil)
	if ent == nil {
		ent, err = e.cfg.Billing.Get(ctx, om.Type, st.BillingID)
	}
	if err != nil {
		if notFound(err) {
			a.Finish(billsync.OutcomeSkipped, billsync.ReasonNotFound, "read", "", "the billing record no longer exists", "", st.SalesforceID)
			return nil, true
		}
		a.FailOp(err, "read", "", st.SalesforceID)
		return nil, true
	}
	note := ""
	if v.action == billingReread {
		if ent.Version() == st.BillingVersion && holdsAgreed(om, ent, st) {
			a.Finish(billsync.OutcomeSkipped, v.reason, "read", "", v.msg+"; its values differ from those applied, and billing, read again, holds the applied version and values", "", st.SalesforceID)
			return nil, true
		}
		note = fmt.Sprintf("%s, but its values differ from those applied; billing, read again, is at version %d: ", v.msg, ent.Version())
	}
	rev, assumed := st.Agreed[mapping.AgreedRevision]
	assumed = assumed && !e.cfg.Unguarded
	var rec billsync.SObject
	if assumed {
		rec = assumedRecord(om, st, rev)
	} else {
		if rec, err = e.readSalesforce(ctx, om, st.SalesforceID); err != nil {
			a.FailOp(err, "read", "", st.SalesforceID)
			return nil, true
		}
		if rec == nil {
			return ent, false
		}
	}
	p, err := e.decide(a, om, st, ent, rec, "")
	if err != nil {
		a.Fail(err, "", st.SalesforceID)
		return nil, true
	}
	p.assumed, p.note = assumed, note
	e.settle(ctx, a, om, st, p, ent, rec)
	return nil, true
}

// holdsAgreed reports whether billing record ent holds the values of st
// that flow to Salesforce.
func holdsAgreed(om *mapping.Object, ent billsync.Entity, st *billsync.SyncState) bool {
	vals, _, err := om.BillingValues(ent, true)
	return err == nil && len(mapping.Diff(vals, st.Agreed)) == 0
}

// linkTwin links a billing record to the Salesforce record it was created
// from: the twin gets the billing id and billing's values, conditional on
// the twin being unedited since it was created (revision 0, D4). A twin a
// user has edited since gets the billing id only, and billing's values
// count as agreed without a revision: the edit then flows to billing (or
// meets the policy) like any Salesforce change, instead of being
// overwritten. It reports false, having done nothing, when the twin is
// gone.
func (e *Engine) linkTwin(ctx context.Context, a *attempt.Attempt, om *mapping.Object, ent billsync.Entity, vals mapping.Values, twin string) bool {
	up := billsync.SObject{"Id": twin, om.ExternalID: ent.ID(), mapping.FieldLastSystem: mapping.LastSystemBilling,
		mapping.FieldRevision: mapping.RevisionValue("0")}
	for k, v := range vals {
		f, _ := om.Field(k)
		up[f.Salesforce] = f.SalesforceValue(v)
	}
	mapping.SyncStatusFields(up, "success", "", e.now())
	opened, err := e.writeTwin(ctx, om, up)
	edited := mapping.IsStaleRevision(err)
	if edited {
		err = e.writeBack(ctx, om, twin, ent.ID())
	}
	if err != nil {
		if gone(err) {
			return false
		}
		a.FailOp(err, "link", "", twin)
		return true
	}
	agreed := mapping.Merge(nil, vals)
	if from, _, err := om.BillingValues(ent, false); err == nil {
		agreed = mapping.Merge(from, agreed)
	}
	if om.Parent != nil {
		agreed[om.Parent.BillingField] = ent.Str(om.Parent.BillingField)
	}
	if !edited {
		agreed = mapping.Merge(agreed, opened)
	}
	msg := "linked to the Salesforce record it was created from"
	if edited {
		msg += "; edited in Salesforce since, so only the billing id was written"
	} else if writesEveryField(om) {
		agreed[mapping.AgreedRevision] = "0"
	}
	ns := &billsync.SyncState{Object: om.Type, BillingID: ent.ID(), SalesforceID: twin, AccountID: accountOf(om.Type, ent),
		BillingVersion: ent.Version(), Agreed: agreed, UpdatedAt: e.now()}
	if err := e.cfg.State.PutSyncState(ctx, ns); err != nil {
		a.Fail(err, "", twin)
		return true
	}
	a.Finish(billsync.OutcomeSuccess, "", "link", "", msg, "", twin)
	return true
}

// ensureParent makes sure a billing record of type t is in Salesforce,
// upserting it (and, first, its own parent) when billsync has no state for
// it.
func (e *Engine) ensureParent(ctx context.Context, a *attempt.Attempt, t billsync.ObjectType, id string, depth int) error {
	if depth > 4 {
		return billsync.Errorf(billsync.EINTERNAL, "parent chain too deep at %s %s", t, id)
	}
	st, err := e.state(ctx, t, id)
	if err != nil || (st != nil && st.SalesforceID != "") {
		return err
	}
	om, ok := e.m.Object(t)
	if !ok {
		return billsync.Errorf(billsync.EINVALID, "no mapping for parent type %s", t)
	}
	ent, err := e.cfg.Billing.Get(ctx, t, id)
	if err != nil {
		return fmt.Errorf("reading parent %s %s from billing: %w", t, id, err)
	}
	parentID := ""
	if om.Parent != nil {
		parentID = ent.Str(om.Parent.BillingField)
		if err := e.ensureParent(ctx, a, om.Parent.Type, parentID, depth+1); err != nil {
			return err
		}
	}
	ns, _, err := e.upsertWhole(ctx, om, ent)
	how := "brought along"
	if mapping.IsStaleRevision(err) {
		// Its own Salesforce change, queued by the user's edit,
		// reconciles it.
		ns, _, err = e.adoptEdited(ctx, om, ent)
		how = "found in Salesforce, edited there since billsync created it, so not overwritten,"
	}
	if err != nil {
		return fmt.Errorf("bringing parent %s %s along: %w", t, id, err)
	}
	le := a.Entry(t, id, ns.SalesforceID, "upsert", billsync.OutcomeSuccess, "", "", fmt.Sprintf("%s as the parent of %s %s", how, a.Change.Object, a.Change.RecordID))
	a.Note(le)
	return nil
}

// upsertWhole writes every mapped field of a billing record to
// Salesforce (creating it when missing) and records the sync state. The
// record's parent must already be there. created reports whether
// Salesforce made a new record.
func (e *Engine) upsertWhole(ctx context.Context, om *mapping.Object, ent billsync.Entity) (ns *billsync.SyncState, created bool, err error) {
	return e.writeWhole(ctx, om, ent, false)
}

// writeWhole is upsertWhole, or, with insert, the same write as an insert
// that fails (DUPLICATE_VALUE on the external id) when the record exists.
func (e *Engine) writeWhole(ctx context.Context, om *mapping.Object, ent billsync.Entity, insert bool) (ns *billsync.SyncState, created bool, err error) {
	vals, _, err := om.BillingValues(ent, true)
	if err != nil {
		return nil, false, err
	}
	// Revision 0: refused when the record exists and a user has edited it
	// since billsync created it (a lost create's answer; lostcreate.go).
	rec := billsync.SObject{om.ExternalID: ent.ID(), mapping.FieldLastSystem: mapping.LastSystemBilling,
		mapping.FieldRevision: mapping.RevisionValue("0")}
	for k, v := range vals {
		f, _ := om.Field(k)
		rec[f.Salesforce] = f.SalesforceValue(v)
	}
	if om.Parent != nil {
		parentID := ent.Str(om.Parent.BillingField)
		rec[om.Parent.Relationship] = map[string]any{om.ExternalIDOfParent(): parentID}
		vals[om.Parent.BillingField] = parentID
	}
	mapping.SyncStatusFields(rec, "success", "", e.now())
	var res billsync.SaveResult
	var opened mapping.Values // windows of an update without the trigger (cdc_overwrite.go)
	switch {
	case insert:
		res, err = e.insertOne(ctx, om, rec)
	case e.cfg.Unguarded:
		res, opened, err = e.upsertUnguarded(ctx, om, rec)
	default:
		res, err = e.upsertOne(ctx, om, rec)
	}
	if err != nil {
		return nil, false, err
	}
	if from, _, err := om.BillingValues(ent, false); err == nil {
		vals = mapping.Merge(from, vals)
	}
	vals = mapping.Merge(vals, opened)
	if res.Created && writesEveryField(om) {
		// A new record starts at revision 0 holding exactly what was
		// written. An existing one billsync updated may hold other values
		// (fields it does not write), and so may a record of a mapping
		// with fields that only flow to billing: their revision stays
		// unknown until the record is read.
		vals[mapping.AgreedRevision] = "0"
	}
	ns = &billsync.SyncState{Object: om.Type, BillingID: ent.ID(), SalesforceID: res.ID, AccountID: accountOf(om.Type, ent),
		BillingVersion: ent.Version(), Agreed: vals, UpdatedAt: e.now()}
	// A failure to record the state leaves Salesforce written; the retry
	// upserts the same values again and then records it.
	return ns, res.Created, e.cfg.State.PutSyncState(ctx, ns)
}

// writesEveryField reports whether a full write of a billing record sets
// every mapped Salesforce field.
func writesEveryField(om *mapping.Object) bool {
	for _, f := range om.Fields {
		if !f.ToSF() {
			return false
		}
	}
	return true
}

func (e *Engine) upsertOne(ctx context.Context, om *mapping.Object, rec billsync.SObject) (billsync.SaveResult, error) {
	results, err := e.cfg.CRM.Upsert(ctx, om.SObject, om.ExternalID, []billsync.SObject{rec})
	if err != nil {
		return billsync.SaveResult{}, err
	}
	if len(results) != 1 {
		return billsync.SaveResult{}, billsync.Errorf(billsync.EINTERNAL, "upsert returned %d results for 1 record", len(results))
	}
	if err := results[0].Err(); err != nil {
		return billsync.SaveResult{}, err
	}
	return results[0], nil
}

// insertOne creates rec; a new record, its result counts as created.
func (e *Engine) insertOne(ctx context.Context, om *mapping.Object, rec billsync.SObject) (billsync.SaveResult, error) {
	results, err := e.cfg.CRM.Create(ctx, om.SObject, []billsync.SObject{rec})
	if err != nil {
		return billsync.SaveResult{}, err
	}
	if len(results) != 1 {
		return billsync.SaveResult{}, billsync.Errorf(billsync.EINTERNAL, "insert returned %d results for 1 record", len(results))
	}
	if err := results[0].Err(); err != nil {
		return billsync.SaveResult{}, err
	}
	results[0].Created = true
	return results[0], nil
}

// markFailed shows a failed sync on the Salesforce record itself (G1).
// Best effort: the sync log has the failure either way.
func (e *Engine) markFailed(ctx context.Context, om *mapping.Object, sfID string, cause error) {
	if sfID == "" {
		return
	}
	if billsync.LeaseOver(ctx) {
		// The failed call outlived the claim (a stalled process wakes up
		// to its answer): another replica may have synced the record
		// since, and a failure marker now would overwrite its outcome.
		return
	}
	rec := billsync.SObject{"Id": sfID, mapping.FieldLastSystem: mapping.LastSystemBilling}
	mapping.SyncStatusFields(rec, "failed", cause.Error(), e.now())
	if _, err := e.cfg.CRM.Update(ctx, om.SObject, []billsync.SObject{rec}); err != nil {
		e.log.Warn("could not mark the Salesforce record as failed", "id", sfID, "err", err)
	}
}

// state reads the sync state, nil when the record was never synced.
func (e *Engine) state(ctx context.Context, t billsync.ObjectType, billingID string) (*billsync.SyncState, error) {
	st, err := e.cfg.State.SyncState(ctx, t, billingID)
	if notFound(err) {
		return nil, nil
	}
	return st, err
}

func accountOf(t billsync.ObjectType, ent billsync.Entity) string {
	if t == billsync.ObjectAccount {
		return ent.ID()
	}
	return ent.Str("accountId")
}
