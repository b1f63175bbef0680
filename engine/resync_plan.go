package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
)

// resyncPayload is the payload of an OpResync change.
type resyncPayload struct {
	Job  string `json:"job"`
	Link string `json:"link,omitempty"` // initial load: the billing id to link a Salesforce record to
	// Missing: the resync found no Salesforce record for the billing
	// record, so its repair inserts one without reading first
	// (createMissing).
	Missing bool `json:"missing,omitempty"`
}

// resyncSnapshot is what a resync of one object type read before deciding
// anything.
type resyncSnapshot struct {
	om      *mapping.Object
	billing []billsync.Entity  // every billing record, in listing order
	rows    []billsync.SObject // every Salesforce record, in query order
	// linked maps the billing id of a record found on both sides to the
	// Salesforce id its sync state names (absent: no state).
	linked map[string]string
	// agreed maps the billing id of a linked record to the values both
	// sides last agreed on (its sync state's), for the guard's sample.
	agreed       map[string]map[string]string
	deletePolicy string // of the object type (H1)
	// The mass-change guard's limits of the object type.
	deleteLimit, overwriteLimit billsync.GuardLimit
}

// resyncPlan is what a resync decided for one object type: one item per
// compared record, in order, and the Salesforce calls spent reading.
type resyncPlan struct {
	items    []resyncItem
	apiCalls int
}

// resyncItem is one compared record: its difference (Kind "" when both
// sides agree) and the change that repairs it (nil when none is due).
type resyncItem struct {
	diff   billsync.ResyncDiff
	repair *billsync.Change
	// guardOp is what the guard counts the repair as: GuardDelete,
	// GuardOverwrite, or "" (a create, a link, a flag, nothing).
	guardOp string
	// billing and sf are both sides' values of the differing fields of
	// an overwrite, for the guard's sample.
	billing, sf mapping.Values
}

// resyncScope limits a resync to one record (a billing or Salesforce id);
// "" covers every record.
type resyncScope string

func (s resyncScope) has(billingID, sfID string) bool {
	return s == "" || string(s) == billingID || (sfID != "" && string(s) == sfID)
}

// planResync compares both sides of one object type (H2) and decides each
// difference's repair, queued through the normal engine path so rules,
// logs and conflicts apply: billing records first (missing in Salesforce,
// fields differing, not linked yet), then Salesforce records whose billing
// record is gone (the delete policy decides), then Salesforce records with
// no billing id (created in billing, or linked by code on an initial load).
// It reads nothing and writes nothing.
func planResync(job string, req billsync.ResyncRequest, s *resyncSnapshot, now time.Time) (*resyncPlan, error) {
	om, scope := s.om, resyncScope(req.Record)
	byExt, unlinked := indexSalesforce(s.rows, om)
	inBilling := map[string]bool{}
	for _, ent := range s.billing {
		inBilling[ent.ID()] = true
	}
	var links map[string]string // Salesforce id → billing id
	if req.Initial {
		links = linkByCode(s.billing, byExt, unlinked, om)
	}
	linkedTo := map[string]bool{}
	for _, bid := range links {
		linkedTo[bid] = true
	}

	relinked := relinkByState(s, byExt)

	p := &resyncPlan{apiCalls: 1 + len(s.rows)/2000}
	for _, ent := range s.billing {
		rec, relink := byExt[ent.ID()], false
		if rec == nil {
			rec, relink = relinked[ent.ID()], relinked[ent.ID()] != nil
		}
		if !scope.has(ent.ID(), rec.ID()) {
			continue
		}
		it, err := compareBilling(om, ent, rec, s.linked, linkedTo[ent.ID()])
		if relink && err == nil {
			it, err = compareRelinked(om, ent, rec)
		}
		if err != nil {
			return nil, err
		}
		p.items = append(p.items, it)
	}
	claimed := map[string]bool{} // Salesforce ids a billing record's state names
	for _, rec := range relinked {
		claimed[rec.ID()] = true
	}
	for _, rec := range s.rows {
		ext := rec.Str(om.ExternalID)
		if ext == "" || byExt[ext].ID() != rec.ID() || inBilling[ext] || claimed[rec.ID()] || !scope.has(ext, rec.ID()) {
			continue
		}
		p.items = append(p.items, compareOrphan(om, rec, ext, s.deletePolicy))
	}
	for _, rec := range unlinked {
		if !claimed[rec.ID()] && scope.has("", rec.ID()) {
			p.items = append(p.items, compareUnlinked(om, rec, links[rec.ID()]))
		}
	}
	for _, it := range p.items {
		if it.repair != nil {
			fillRepair(it.repair, it.diff, job, om.Type, now)
		}
	}
	return p, nil
}

// indexSalesforce splits Salesforce records into those carrying a billing
// id (by it; the last of duplicates wins) and those without one.
func indexSalesforce(rows []billsync.SObject, om *mapping.Object) (byExt map[string]billsync.SObject, unlinked []billsync.SObject) {
	byExt = map[string]billsync.SObject{}
	for _, r := range rows {
		if ext := r.Str(om.ExternalID); ext != "" {
			byExt[ext] = r
		} else {
			unlinked = append(unlinked, r)
		}
	}
	return byExt, unlinked
}

// linkByCode pairs, on an initial load (H2), Salesforce records without a
// billing id with billing records not in Salesforce that have the same
// code (compared case-insensitively), so they are linked, not duplicated.
// It returns Salesforce id → billing id.
func linkByCode(billing []billsync.Entity, byExt map[string]billsync.SObject, unlinked []billsync.SObject, om *mapping.Object) map[string]string {
	links := map[string]string{}
	f, ok := om.Field("code")
	if !ok {
		return links
	}
	byCode := map[string]string{}
	for _, ent := range billing {
		if _, linked := byExt[ent.ID()]; !linked {
			if code := ent.Str("code"); code != "" {
				byCode[strings.ToLower(code)] = ent.ID()
			}
		}
	}
	for _, r := range unlinked {
		code := strings.ToLower(r.Str(f.Salesforce))
		if bid, ok := byCode[code]; ok {
			links[r.ID()] = bid
			delete(byCode, code)
		}
	}
	return links
}

// compareBilling compares a billing record with its Salesforce twin (rec,
// nil when there is none). linked is the Salesforce id the sync state
// names per billing id; linkedByCode says an initial load links the
// record to a Salesforce record without a billing id.
func compareBilling(om *mapping.Object, ent billsync.Entity, rec billsync.SObject, linked map[string]string, linkedByCode bool) (resyncItem, error) {
	bid := ent.ID()
	repair := &billsync.Change{Partition: billsync.AccountPartition(accountOf(om.Type, ent)), Source: billsync.SideBilling, RecordID: bid}
	if rec == nil {
		if linkedByCode {
			return resyncItem{}, nil // the Salesforce side's repair links it
		}
		return resyncItem{diff: billsync.ResyncDiff{Object: om.Type, BillingID: bid, Kind: billsync.DiffMissingInSalesforce, Action: "create in Salesforce"},
			repair: repair}, nil
	}
	bv, _, err := om.AllBillingValues(ent)
	if err != nil {
		return resyncItem{}, err
	}
	sv, err := om.AllSalesforceValues(rec)
	if err != nil {
		return resyncItem{}, err
	}
	fields := mapping.Diff(bv, sv)
	if sfID, ok := linked[bid]; len(fields) == 0 && ok && sfID == rec.ID() {
		return resyncItem{}, nil
	}
	d := billsync.ResyncDiff{Object: om.Type, BillingID: bid, SalesforceID: rec.ID(), Kind: billsync.DiffFields, Fields: fields,
		Action: "reconcile fields (conflict policy applies)"}
	if len(fields) == 0 {
		d.Kind, d.Action = billsync.DiffUnlinked, "record the link"
		return resyncItem{diff: d, repair: repair}, nil
	}
	return overwrite(resyncItem{diff: d, repair: repair}, fields, bv, sv), nil
}

// relinkByState finds, per billing record that no Salesforce record
// carries the billing id of, the Salesforce record its sync state names,
// when that record still exists: its external id was edited in
// Salesforce. The sync state, billsync's own record of the link, is
// trusted over the edited field.
func relinkByState(s *resyncSnapshot, byExt map[string]billsync.SObject) map[string]billsync.SObject {
	byID := map[string]billsync.SObject{}
	for _, r := range s.rows {
		byID[r.ID()] = r
	}
	out := map[string]billsync.SObject{}
	for _, ent := range s.billing {
		if _, ok := byExt[ent.ID()]; ok {
			continue
		}
		if rec, ok := byID[s.linked[ent.ID()]]; ok {
			out[ent.ID()] = rec
		}
	}
	return out
}

// compareRelinked reports a billing record whose Salesforce twin (rec, by
// the sync state) carries another external id: the repair writes the
// billing id back, then reconciles the fields that differ.
func compareRelinked(om *mapping.Object, ent billsync.Entity, rec billsync.SObject) (resyncItem, error) {
	bv, _, err := om.AllBillingValues(ent)
	if err != nil {
		return resyncItem{}, err
	}
	sv, err := om.AllSalesforceValues(rec)
	if err != nil {
		return resyncItem{}, err
	}
	fields := mapping.Diff(bv, sv)
	action := fmt.Sprintf("restore %s to %s (edited in Salesforce to %q)", om.ExternalID, ent.ID(), rec.Str(om.ExternalID))
	if len(fields) > 0 {
		action += ", then reconcile fields (conflict policy applies)"
	}
	d := billsync.ResyncDiff{Object: om.Type, BillingID: ent.ID(), SalesforceID: rec.ID(), Kind: billsync.DiffUnlinked, Fields: fields, Action: action}
	repair := &billsync.Change{Partition: billsync.AccountPartition(accountOf(om.Type, ent)), Source: billsync.SideBilling, RecordID: ent.ID()}
	// Writing the external id back overwrites a Salesforce field too: a
	// mapping naming the wrong field makes every record look relinked,
	// which is what the guard is for.
	bv[om.ExternalID], sv[om.ExternalID] = ent.ID(), rec.Str(om.ExternalID)
	return overwrite(resyncItem{diff: d, repair: repair}, append(fields, om.ExternalID), bv, sv), nil
}

// compareOrphan decides for a Salesforce record whose billing record
// (ext) is gone: the delete policy says whether it is deleted, flagged or
// left alone (H1).
func compareOrphan(om *mapping.Object, rec billsync.SObject, ext, policy string) resyncItem {
	d := billsync.ResyncDiff{Object: om.Type, BillingID: ext, SalesforceID: rec.ID(), Kind: billsync.DiffMissingInBilling}
	repair := &billsync.Change{Partition: billsync.RecordPartition(rec.ID()), Source: billsync.SideSalesforce, RecordID: rec.ID()}
	switch policy {
	case billsync.DeleteMirror:
		d.Action = "delete in Salesforce (deleted in billing; deletes." + string(om.Type) + " is mirror)"
		return resyncItem{diff: d, repair: repair, guardOp: billsync.GuardDelete}
	case billsync.DeleteFlag:
		d.Action = "flag " + mapping.FieldDeleted + " (deleted in billing)"
		// A flag overwrites a live record's field: a mapping mistake
		// flagging most records is what the guard is for.
		return resyncItem{diff: d, repair: repair, guardOp: billsync.GuardOverwrite,
			billing: mapping.Values{mapping.FieldDeleted: "true"}, sf: mapping.Values{mapping.FieldDeleted: "false"}}
	default:
		d.Action = "none: deleted in billing and deletes." + string(om.Type) + " is ignore"
		repair = nil
	}
	return resyncItem{diff: d, repair: repair}
}

// compareUnlinked decides for a Salesforce record without a billing id:
// it is created in billing, or linked to linkTo (a billing id) when an
// initial load matched it by code.
func compareUnlinked(om *mapping.Object, rec billsync.SObject, linkTo string) resyncItem {
	d := billsync.ResyncDiff{Object: om.Type, SalesforceID: rec.ID(), Kind: billsync.DiffMissingInBilling, Action: "create in billing"}
	if linkTo != "" {
		d.Kind, d.BillingID, d.Action = billsync.DiffUnlinked, linkTo, "link by code"
	}
	return resyncItem{diff: d, repair: &billsync.Change{Partition: billsync.RecordPartition(rec.ID()), Source: billsync.SideSalesforce, RecordID: rec.ID()}}
}

// fillRepair makes c the OpResync change of job: its event id is unique
// per job and record, so a job queues each repair once.
func fillRepair(c *billsync.Change, d billsync.ResyncDiff, job string, t billsync.ObjectType, now time.Time) {
	link := ""
	if d.Kind == billsync.DiffUnlinked && c.Source == billsync.SideSalesforce {
		link = d.BillingID
	}
	payload, _ := json.Marshal(resyncPayload{Job: job, Link: link, Missing: d.Kind == billsync.DiffMissingInSalesforce})
	c.Payload, c.Op, c.Object = payload, billsync.OpResync, t
	c.EventID = fmt.Sprintf("resync:%s:%s:%s", job, t, c.RecordID)
	c.OccurredAt, c.EnqueuedAt = now, now
}
