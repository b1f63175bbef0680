package engine

import (
	"context"
	"fmt"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
)

// The mass-change guard: a resync (or initial load) that would delete, or
// separately overwrite (change a field holding a different non-empty
// value on the side written), more of one object's records than the object's
// guard.deletes / guard.overwrites setting allows is not applied. Its
// repairs are stored as a held run (billsync.HeldRunStore) until an admin
// approves it, which queues exactly those repairs, or discards it. A
// wrong mapping or a wrong org otherwise turns one command into
// thousands of destroyed records before anyone looks.

// overwrite marks it as overwriting fields of an existing record, keeping
// both sides' values of those fields for the guard's sample.
func overwrite(it resyncItem, fields []string, billing, sf mapping.Values) resyncItem {
	if len(fields) == 0 {
		return it
	}
	it.guardOp = billsync.GuardOverwrite
	it.billing, it.sf = mapping.Values{}, mapping.Values{}
	it.diff.Values = make([]billsync.DiffValue, 0, len(fields))
	for _, f := range fields {
		it.billing[f], it.sf[f] = billing[f], sf[f]
		it.diff.Values = append(it.diff.Values, billsync.DiffValue{Field: f, Billing: billing[f], Salesforce: sf[f]})
	}
	return it
}

// checkGuard counts a plan's deletes and overwrites against the object's
// limits. It reads nothing and writes nothing. A resync of one record is
// never held: the admin named the record.
func checkGuard(req billsync.ResyncRequest, s *resyncSnapshot, p *resyncPlan) (billsync.GuardCheck, []billsync.HeldRecord) {
	t := s.om.Type
	g := billsync.GuardCheck{Object: t, Total: len(p.items), DeleteLimit: s.deleteLimit, OverwriteLimit: s.overwriteLimit}
	var sample []billsync.HeldRecord
	var nDel, nOver int
	for _, it := range p.items {
		if it.repair == nil {
			continue
		}
		switch it.guardOp {
		case billsync.GuardDelete:
			g.Deletes++
			if nDel < billsync.HeldSampleMax {
				nDel++
				sample = append(sample, heldRecord(it, s))
			}
		case billsync.GuardOverwrite:
			r := heldRecord(it, s)
			if !overwritesAny(r) {
				continue // it fills empty fields only
			}
			g.Overwrites++
			if nOver < billsync.HeldSampleMax {
				nOver++
				sample = append(sample, r)
			}
		}
	}
	if req.Record != "" {
		return g, sample
	}
	if g.DeleteLimit.Exceeded(g.Deletes, g.Total) {
		g.Reasons = append(g.Reasons, fmt.Sprintf("would delete %d of %d %s records; %s%s allows %d (%s)",
			g.Deletes, g.Total, t, billsync.PrefixGuardDeletes, t, g.DeleteLimit.Max(g.Total), g.DeleteLimit))
	}
	if g.OverwriteLimit.Exceeded(g.Overwrites, g.Total) {
		g.Reasons = append(g.Reasons, fmt.Sprintf("would overwrite %d of %d %s records; %s%s allows %d (%s)",
			g.Overwrites, g.Total, t, billsync.PrefixGuardOverwrites, t, g.OverwriteLimit.Max(g.Total), g.OverwriteLimit))
	}
	g.Held = len(g.Reasons) > 0
	return g, sample
}

// overwritesAny reports whether repair r changes a field holding a
// different non-empty value on the side it writes: filling an empty field
// is not an overwrite. A field both sides changed (no side yet: the
// conflict policy decides) overwrites one of them.
func overwritesAny(r billsync.HeldRecord) bool {
	for _, f := range r.Fields {
		if f.Side == "" || f.Old != "" {
			return true
		}
	}
	return false
}

// heldRecord is one guarded repair as a held run's sample shows it: for an
// overwrite, each field's side written and its old and new values. The
// side follows the base the repair reconciles from (resyncBase): the sync
// state's agreed values, or billing's for a record never linked. A field
// both sides changed since they agreed is the conflict policy's to
// decide, and shows no side.
func heldRecord(it resyncItem, s *resyncSnapshot) billsync.HeldRecord {
	d := it.diff
	r := billsync.HeldRecord{Op: it.guardOp, BillingID: d.BillingID, SalesforceID: d.SalesforceID, Action: d.Action}
	if it.guardOp != billsync.GuardOverwrite {
		return r
	}
	if d.Kind == billsync.DiffMissingInBilling { // a delete flag, written in Salesforce
		for f, v := range it.billing {
			r.Fields = append(r.Fields, billsync.HeldField{Field: f, Side: billsync.SideSalesforce, Old: it.sf[f], New: v})
		}
		return r
	}
	base := map[string]string(it.billing)
	if a, ok := s.agreed[d.BillingID]; ok && s.linked[d.BillingID] == d.SalesforceID {
		base = a
	}
	for _, v := range d.Values {
		f := v.Field
		b, sf := it.billing[f], it.sf[f]
		hf := billsync.HeldField{Field: f, Old: sf, New: b}
		switch {
		case f == s.om.ExternalID: // a relink writes the billing id back
			hf.Side = billsync.SideSalesforce
		case base[f] == b: // Salesforce changed: billing takes its value
			hf.Side, hf.Old, hf.New = billsync.SideBilling, b, sf
		case base[f] == sf: // billing changed: Salesforce takes its value
			hf.Side = billsync.SideSalesforce
		}
		r.Fields = append(r.Fields, hf)
	}
	return r
}

// holdResync stores an object's repairs as a held run instead of queueing
// them, and warns once.
func (e *Engine) holdResync(ctx context.Context, id string, req billsync.ResyncRequest, p *resyncPlan, g *billsync.GuardCheck, sample []billsync.HeldRecord) error {
	if e.cfg.Held == nil {
		return billsync.Errorf(billsync.EUNAVAILABLE, "the mass-change guard stopped the %s repairs (%s) but this server has no store for held runs",
			g.Object, g.Reasons[0])
	}
	var changes []*billsync.Change
	for _, it := range p.items {
		if it.repair != nil {
			changes = append(changes, it.repair)
		}
	}
	kind := billsync.HeldKindResync
	if req.Initial {
		kind = billsync.HeldKindInitial
	}
	run := &billsync.HeldRun{Kind: kind, Job: id, Object: g.Object, Guard: *g, Sample: sample}
	if err := e.cfg.Held.HoldRun(ctx, run, changes); err != nil {
		return fmt.Errorf("holding the %s repairs: %w", g.Object, err)
	}
	g.HeldRun = run.ID
	e.log.Warn("mass-change guard: resync held for approval; nothing of it was applied",
		"resync", id, "held_run", run.ID, "object", g.Object, "deletes", g.Deletes, "overwrites", g.Overwrites,
		"records", g.Total, "changes", len(changes), "reason", g.Reasons,
		"approve", fmt.Sprintf("billsync held approve %d", run.ID), "discard", fmt.Sprintf("billsync held discard %d", run.ID))
	return nil
}
