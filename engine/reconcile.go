package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
)

// plan is what reconciling one record decided: the fields to write to
// each side, the values both sides agree on afterwards, and the conflicts
// met on the way (D1, D2).
type plan struct {
	toSF, toBill mapping.Values
	agreed       mapping.Values
	conflicts    []billsync.ConflictField
	policy       string
	winner       billsync.Side
	held         bool
	lossy        []string
	bTime, sTime time.Time
	// resolving is the held conflict an operator's decision settles.
	resolving int64
	actor     string
	// assumed: decided without reading Salesforce, from the agreed values
	// at the agreed revision (assumedRecord). again: decided from a
	// second read, after Salesforce refused the first plan's write (D4).
	assumed, again bool
	// note opens the log message: why the change was decided from billing
	// read again (a change not newer than the applied version), or the
	// external id a resync restored first (relinked).
	note     string
	relinked bool
	// base is the agreed values the plan was decided from, bill billing's
	// values as read. refused are the billing writes the platform cannot
	// take, with why (screen); flagged: Salesforce keeps its values of
	// them instead of getting billing's back. moved: decided from a second
	// read of billing, after its content changed under a write (D4).
	base, bill mapping.Values
	refused    map[string]string
	flagged    bool
	moved      bool
}

func (p *plan) empty() bool { return len(p.toSF) == 0 && len(p.toBill) == 0 }

// decide compares a record's two sides with the values they last agreed
// on (D1): a field changed on one side flows to the other; a field changed
// on both sides to different values is a conflict, settled by the policy
// (D2) — or by force, when an operator resolves a held conflict. A field
// one side owns (mapped one way) always takes that side's value.
func (e *Engine) decide(a *attempt.Attempt, om *mapping.Object, st *billsync.SyncState, ent billsync.Entity, rec billsync.SObject, force billsync.Side) (*plan, error) {
	bVals, lossy, err := om.AllBillingValues(ent)
	if err != nil {
		return nil, err
	}
	sVals, err := om.AllSalesforceValues(rec)
	if err != nil {
		return nil, err
	}
	var agreed mapping.Values
	if st != nil {
		agreed = st.Agreed
	}
	p := &plan{toSF: mapping.Values{}, toBill: mapping.Values{}, agreed: mapping.Merge(agreed, nil), lossy: lossy, base: agreed, bill: bVals,
		bTime: timeOf(ent.Str("updatedAt")), sTime: timeOf(rec.Str("LastModifiedDate"))}
	if p.bTime.IsZero() && a.Change.Source == billsync.SideBilling {
		// A platform that keeps no update time (Stripe): the event that
		// brought the change says when billing changed.
		p.bTime = a.Change.OccurredAt
	}
	var both []mapping.Field
	for _, f := range om.Fields {
		k := f.Billing
		b, s, g := bVals[k], sVals[k], agreed[k]
		if b == s {
			p.agreed[k] = b
			continue
		}
		bc, sc := b != g, s != g
		switch {
		case !f.ToBill(), bc && !sc && f.ToSF():
			p.toSF[k], p.agreed[k] = b, b
		case !f.ToSF(), sc && !bc:
			p.toBill[k], p.agreed[k] = s, s
		default:
			both = append(both, f)
		}
	}
	if len(both) == 0 {
		return p, nil
	}
	p.policy = a.Settings.ConflictPolicy(om.Type)
	switch {
	case force != "":
		p.winner = force
	case p.policy == billsync.PolicyBillingWins:
		p.winner = billsync.SideBilling
	case p.policy == billsync.PolicySalesforceWins:
		p.winner = billsync.SideSalesforce
	case p.policy == billsync.PolicyManual:
		p.held = true
	default: // latest-wins, by change time; a tie goes to billing, the system of record for money
		p.winner = billsync.SideBilling
		if p.sTime.After(p.bTime) {
			p.winner = billsync.SideSalesforce
		}
	}
	for _, f := range both {
		k := f.Billing
		p.conflicts = append(p.conflicts, billsync.ConflictField{Field: k, Agreed: agreed[k], Billing: bVals[k], Salesforce: sVals[k]})
		if p.held {
			continue
		}
		if p.winner == billsync.SideBilling {
			p.toSF[k], p.agreed[k] = bVals[k], bVals[k]
		} else {
			p.toBill[k], p.agreed[k] = sVals[k], sVals[k]
		}
	}
	return p, nil
}

// apply writes a plan: Salesforce first (as the integration user, so no
// event comes back), conditional on the revision rec was read at (or, for
// an assumed record, the agreed revision), then billing with the version
// it was read at (D4). It returns the billing entity as written (or as
// read, when billing needed no write), and whether Salesforce was written,
// which a failure of the billing write after it needs to know. A failure
// leaves the agreed values as they were, so a retry decides again from
// both sides as they then stand.
func (e *Engine) apply(ctx context.Context, om *mapping.Object, p *plan, ent billsync.Entity, rec billsync.SObject) (_ billsync.Entity, sfWritten bool, _ error) {
	if len(p.toSF) > 0 || len(p.refused) > 0 {
		up := billsync.SObject{"Id": rec.ID(), mapping.FieldLastSystem: mapping.LastSystemBilling,
			mapping.FieldRevision: mapping.RevisionValue(mapping.Revision(rec))}
		for k, v := range p.toSF {
			f, _ := om.Field(k)
			up[f.Salesforce] = f.SalesforceValue(v)
		}
		if note := unsupportedNote(p); note != "" {
			mapping.SyncStatusFields(up, billsync.ReasonUnsupported, note, e.now())
		} else {
			mapping.SyncStatusFields(up, "success", "", e.now())
		}
		if err := e.updateOne(ctx, om, up); err != nil {
			return nil, false, err
		}
		sfWritten = true
	}
	if len(p.toBill) > 0 {
		cur := ent.Clone()
		for k, v := range p.toBill {
			f, _ := om.Field(k)
			cur.SetPath(k, f.BillingValue(v))
		}
		if e.unversioned() {
			if err := e.unchangedSince(ctx, om, ent); err != nil {
				return nil, sfWritten, err
			}
		}
		upd, err := e.cfg.Billing.Update(ctx, om.Type, cur)
		if err != nil {
			if billsync.ErrorCode(err) == billsync.ECONFLICT {
				// Billing changed between our read and write: a retry
				// reads both sides again (C2).
				err = &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 409, Code: billsync.RemoteCode(err),
					Message: "the billing record changed while it was being updated; reading it again", Transient: true}
			}
			return nil, sfWritten, err
		}
		return upd, sfWritten, nil
	}
	return ent, sfWritten, nil
}

// settle applies a decided plan and records its outcome: the new sync
// state, the conflict (D3), and the change's log entry. A held conflict
// (manual policy) writes nothing. A write Salesforce refuses because the
// record changed since the plan was decided goes to applyFailed, which
// reads it again and decides anew (D4).
func (e *Engine) settle(ctx context.Context, a *attempt.Attempt, om *mapping.Object, st *billsync.SyncState, p *plan, ent billsync.Entity, rec billsync.SObject) {
	billingID, sfID := ent.ID(), rec.ID()
	if p.held {
		e.hold(ctx, a, om, p, billingID, sfID)
		return
	}
	e.screen(a, om, p)
	if e.holdOverwrite(ctx, a, om, st, p, ent, rec) {
		return
	}
	e.trackWindows(om, st, p, rec)
	written, sfWritten, err := e.apply(ctx, om, p, ent, rec)
	var moved *billingMoved
	if errors.As(err, &moved) {
		if !sfWritten && !p.again {
			e.reconcileMoved(ctx, a, om, st, p, moved.cur, rec)
			return
		}
		err = moved.transient()
	}
	if err != nil {
		e.applyFailed(ctx, a, om, st, p, ent, sfID, sfWritten, err)
		return
	}
	if om.Parent != nil && st != nil {
		if v, ok := st.Agreed[om.Parent.BillingField]; ok {
			p.agreed[om.Parent.BillingField] = v
		}
	}
	// Salesforce now holds the agreed values at rec's revision: billsync's
	// own write does not move it. A flagged record holds others.
	p.agreed[mapping.AgreedRevision] = mapping.Revision(rec)
	if p.flagged {
		delete(p.agreed, mapping.AgreedRevision)
	}
	// ent is billing's record as read (or written): its version is
	// billing's answer, recorded even when lower than the version recorded
	// before, which then was not billing's (D4).
	ns := &billsync.SyncState{Object: om.Type, BillingID: billingID, SalesforceID: sfID, AccountID: accountOf(om.Type, written),
		BillingVersion: max(written.Version(), ent.Version()), Agreed: p.agreed, UpdatedAt: e.now()}
	if err := e.cfg.State.PutSyncState(ctx, ns); err != nil {
		a.Fail(err, billingID, sfID)
		return
	}
	e.finishSettled(ctx, a, om, p, billingID, sfID)
}

// hold records a conflict held by the manual policy; nothing is written.
func (e *Engine) hold(ctx context.Context, a *attempt.Attempt, om *mapping.Object, p *plan, billingID, sfID string) {
	c := &billsync.Conflict{Time: e.now(), Object: om.Type, BillingID: billingID, SalesforceID: sfID, Fields: p.conflicts,
		Policy: p.policy, Status: billsync.ConflictHeld, BillingChangedAt: p.bTime, SalesforceChangedAt: p.sTime,
		ChangeID: a.Change.ID, EventID: a.Change.EventID}
	if err := e.conflicts().AddConflict(ctx, c); err != nil {
		a.Fail(err, billingID, sfID)
		return
	}
	a.Finish(billsync.OutcomeConflict, "held", "", "",
		fmt.Sprintf("%sconflict #%d held (manual policy) on %s; nothing written until `billsync conflicts resolve %d`", againNote(p), c.ID, fieldNames(p.conflicts), c.ID),
		billingID, sfID)
}

// finishSettled records the outcome of an applied plan: the operator's
// resolution, the conflict the policy settled, or the writes.
func (e *Engine) finishSettled(ctx context.Context, a *attempt.Attempt, om *mapping.Object, p *plan, billingID, sfID string) {
	if finishUnsupported(a, om, p, billingID, sfID) {
		return
	}
	msg := againNote(p) + describeWrites(p)
	if p.resolving != 0 {
		if _, err := e.conflicts().ResolveConflict(ctx, p.resolving, p.winner, p.actor, e.now()); err != nil {
			a.Fail(err, billingID, sfID)
			return
		}
		a.Finish(billsync.OutcomeSuccess, "", "resolve", "",
			fmt.Sprintf("conflict #%d resolved by %s: %s wins; %s", p.resolving, p.actor, p.winner, msg), billingID, sfID)
		return
	}
	if len(p.conflicts) > 0 {
		c := &billsync.Conflict{Time: e.now(), Object: om.Type, BillingID: billingID, SalesforceID: sfID, Fields: p.conflicts,
			Policy: p.policy, Status: billsync.ConflictResolved, Winner: p.winner, BillingChangedAt: p.bTime,
			SalesforceChangedAt: p.sTime, ResolvedAt: e.now(), ResolvedBy: "policy:" + p.policy, ChangeID: a.Change.ID, EventID: a.Change.EventID}
		if err := e.conflicts().AddConflict(ctx, c); err != nil {
			e.log.Error("recording a conflict", "err", err)
		}
		a.Finish(billsync.OutcomeConflict, "policy:"+p.policy, "update", "",
			fmt.Sprintf("conflict #%d on %s: %s wins (%s); %s", c.ID, fieldNames(p.conflicts), p.winner, p.policy, msg), billingID, sfID)
		return
	}
	if p.empty() && p.relinked {
		a.Finish(billsync.OutcomeSuccess, "", "link", "", againNote(p)+"both sides already agree", billingID, sfID)
		return
	}
	if p.empty() {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonEcho, "", "", againNote(p)+"both sides already agree", billingID, sfID)
		return
	}
	a.Finish(billsync.OutcomeSuccess, "", "update", "", msg, billingID, sfID)
}

func describeWrites(p *plan) string {
	var parts []string
	if len(p.toSF) > 0 {
		parts = append(parts, "to salesforce: "+strings.Join(keys(p.toSF), ", "))
	}
	if len(p.toBill) > 0 {
		parts = append(parts, "to billing: "+strings.Join(keys(p.toBill), ", "))
	}
	if len(p.lossy) > 0 {
		parts = append(parts, "rounded to the Salesforce field's scale, value changed: "+strings.Join(p.lossy, ", "))
	}
	if len(parts) == 0 {
		return "nothing to write"
	}
	return strings.Join(parts, "; ")
}

func keys(v mapping.Values) []string {
	out := make([]string, 0, len(v))
	for k := range v {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func fieldNames(cs []billsync.ConflictField) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Field
	}
	return strings.Join(names, ", ")
}

// timeOf reads a billing RFC 3339 time or a Salesforce datetime
// ("2026-01-02T03:04:05.000+0000").
func timeOf(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// heldConflict reports a record's held conflict, if any: while one is
// held, neither side is written (D2 manual).
func (e *Engine) heldConflict(ctx context.Context, t billsync.ObjectType, billingID string) (*billsync.Conflict, error) {
	c, err := e.conflicts().HeldConflict(ctx, t, billingID)
	if notFound(err) {
		return nil, nil
	}
	return c, err
}

func held(a *attempt.Attempt, c *billsync.Conflict, billingID, sfID string) {
	a.Finish(billsync.OutcomeConflict, "held", "", "",
		fmt.Sprintf("conflict #%d is held; nothing is written until `billsync conflicts resolve %d`", c.ID, c.ID), billingID, sfID)
}

// isHeld reports whether a held conflict keeps the record from being
// written (D2 manual), recording the outcome; a failure to read conflicts
// is the attempt's failure. logBilling and logSF name the record in the
// log entry.
func (e *Engine) isHeld(ctx context.Context, a *attempt.Attempt, t billsync.ObjectType, billingID, logBilling, logSF string) bool {
	c, err := e.heldConflict(ctx, t, billingID)
	switch {
	case err != nil:
		a.Fail(err, logBilling, logSF)
	case c != nil:
		held(a, c, logBilling, logSF)
	default:
		return false
	}
	return true
}
