package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
)

// The mass-change guard on live overwrites. An overwrite is a write that
// changes a field already holding a different non-empty value on the
// side written: filling an empty field is not one, clearing a field is.
// A live change (a webhook, a Salesforce event) whose plan overwrites at
// least one field of a record at rest — one billsync had not synced
// within the burst window — counts that record among its object's
// overwrites within the window (by the time the source says each change
// happened). Records created or synced moments ago, which a busy day's
// traffic keeps editing, do not count: the guard is for a job rewriting
// established records. The change is held, unapplied, when the records
// so counted pass both the count and the share of the object's
// guard.overwrites setting (of the records it has synced): 10 % and 500
// by default, so a busy org of 20,000 balances is held only past 2,000
// records overwritten within the window, and a small one past 500. Edits
// are everyday traffic; a script rewriting a whole object, or a mapping
// change read on every event, is not. While the object's pending burst
// run holds overwrites, every further overwrite of a record of the
// object at rest joins it (a held record stays at rest: its sync state
// does not move). Approving the run queues the changes again (each
// record is read afresh and reconciled as it then stands); discarding
// drops them, and nothing of them is written — a later change of the
// same record reconciles the record as it then stands, the held values
// included when the source still has them.
//
// Not guarded here: the changes of a resync (its whole plan was counted
// by the resync's guard), an admin's resolution of a held conflict, and
// creates (nothing is overwritten).

// overwrites are the fields of plan p that overwrite a non-empty value:
// those written to Salesforce compared with sf, its values as read (or
// assumed, D4), and those written to billing compared with p.bill.
func overwrites(p *plan, sf mapping.Values) []billsync.HeldField {
	var out []billsync.HeldField
	add := func(side billsync.Side, to, from mapping.Values) {
		for k, v := range to {
			if old := from[k]; old != "" && old != v {
				out = append(out, billsync.HeldField{Field: k, Side: side, Old: old, New: v})
			}
		}
	}
	add(billsync.SideSalesforce, p.toSF, sf)
	add(billsync.SideBilling, p.toBill, p.bill)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Side != out[j].Side {
			return out[i].Side < out[j].Side
		}
		return out[i].Field < out[j].Field
	})
	return out
}

// holdOverwrite decides whether plan p of live change a (the record as
// ent in billing and rec in Salesforce, st its sync state) is held by the
// guard on overwrites, and if so holds the change and finishes a.
func (e *Engine) holdOverwrite(ctx context.Context, a *attempt.Attempt, om *mapping.Object, st *billsync.SyncState, p *plan, ent billsync.Entity, rec billsync.SObject) bool {
	c := a.Change
	if !e.guarded(c) || c.Op == billsync.OpResync || p.resolving != 0 {
		return false
	}
	if st != nil && e.now().Sub(st.UpdatedAt) < e.burstWindow() {
		return false // not at rest: synced within the window
	}
	billingID, sfID := ent.ID(), rec.ID()
	sf, err := om.AllSalesforceValues(rec)
	if err != nil {
		a.Fail(err, billingID, sfID)
		return true
	}
	fields := overwrites(p, sf)
	if len(fields) == 0 {
		return false
	}
	t := om.Type
	_, ol := a.Settings.GuardLimits(t)
	pending, err := e.pendingBurst(ctx, t)
	if err != nil {
		a.Fail(err, billingID, sfID)
		return true
	}
	total := int64(-1)
	if pending == nil || pending.Guard.Overwrites == 0 {
		// Counted by when the source says the change happened: a backlog
		// of a day's edits, drained after an outage, is no burst.
		now := c.OccurredAt
		if now.IsZero() {
			now = e.now()
		}
		k, window := burstKey{t, billsync.GuardOverwrite}, e.burstWindow()
		if e.bursts.admit(k, billingID, now, window, func(n int) bool { return n <= ol.Count }) {
			return false
		}
		// Past the count: the share decides, of the records synced.
		if total, err = e.cfg.Held.CountSynced(ctx, t); err != nil {
			a.Fail(err, billingID, sfID)
			return true
		}
		share := func(n int) bool { return n <= ol.Count || int64(n)*100 <= int64(ol.Percent)*total }
		if e.bursts.admit(k, billingID, now, window, share) {
			return false
		}
	}
	why := fmt.Sprintf("more than %d overwrites of %s records within %s, and more than %d%% of those synced (%s%s)",
		ol.Count, t, e.burstWindow(), ol.Percent, billsync.PrefixGuardOverwrites, t)
	hr := billsync.HeldRecord{Op: billsync.GuardOverwrite, BillingID: billingID, SalesforceID: sfID,
		Action: "overwrite " + describeHeld(fields) + " (live change)", Fields: fields}
	run, err := e.holdLive(ctx, a, t, why, hr, total)
	if err != nil {
		a.Fail(err, billingID, sfID)
		return true
	}
	a.Finish(billsync.OutcomeSkipped, billsync.ReasonHeld, "update", "",
		fmt.Sprintf("held by the mass-change guard in held run %d (%s); approve or discard it with billsync held", run.ID, why), billingID, sfID)
	return true
}

// describeHeld names the fields overwritten, with the side written.
func describeHeld(fields []billsync.HeldField) string {
	var parts []string
	for _, f := range fields {
		parts = append(parts, fmt.Sprintf("%s in %s", f.Field, f.Side))
	}
	return strings.Join(parts, ", ")
}
