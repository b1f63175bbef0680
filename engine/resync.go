package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
)

// maxDiffs bounds the differences a report lists (the counts stay exact).
const maxDiffs = 1000

// resyncPayload is the payload of an OpResync change.
type resyncPayload struct {
	Job  string `json:"job"`
	Link string `json:"link,omitempty"` // initial load: the billing id to link a Salesforce record to
}

// resyncJobs keeps the reports of the resyncs this process ran.
type resyncJobs struct {
	mu   sync.Mutex
	jobs map[string]*billsync.ResyncReport
}

func (e *Engine) jobs() *resyncJobs {
	e.jobsOnce.Do(func() { e.resyncs = &resyncJobs{jobs: map[string]*billsync.ResyncReport{}} })
	return e.resyncs
}

func (j *resyncJobs) update(id string, f func(r *billsync.ResyncReport)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if r, ok := j.jobs[id]; ok {
		f(r)
	}
}

// Resync returns a resync's report (H2).
func (e *Engine) Resync(ctx context.Context, id string) (*billsync.ResyncReport, error) {
	j := e.jobs()
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.jobs[id]
	if !ok {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no resync %q", id)
	}
	c := *r
	c.Diffs = slices.Clone(r.Diffs)
	return &c, nil
}

// StartResync compares both sides through their APIs and queues a repair
// for every difference, through the normal engine path so rules, logs and
// conflicts apply (H2). A dry run only reports (H4). It runs in the
// background; Resync reports its progress.
func (e *Engine) StartResync(ctx context.Context, req billsync.ResyncRequest) (*billsync.ResyncReport, error) {
	if req.Record != "" && req.Object == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "a resync of one record needs its object type")
	}
	objects, err := e.resyncObjects(req.Object)
	if err != nil {
		return nil, err
	}
	if !req.DryRun && e.cfg.Queue == nil {
		return nil, billsync.Errorf(billsync.EUNAVAILABLE, "repairing needs the queue")
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	r := &billsync.ResyncReport{ID: "rs_" + hex.EncodeToString(b[:]), Request: req, State: "running", Started: e.now(), Diffs: []billsync.ResyncDiff{}}
	j := e.jobs()
	j.mu.Lock()
	j.jobs[r.ID] = r
	j.mu.Unlock()
	go e.runResync(context.WithoutCancel(ctx), r.ID, req, objects)
	return e.Resync(ctx, r.ID)
}

func (e *Engine) resyncObjects(t billsync.ObjectType) ([]*mapping.Object, error) {
	var out []*mapping.Object
	for _, ot := range billsync.ObjectTypes {
		om, ok := e.m.Object(ot)
		if !ok || (t != "" && ot != t) {
			continue
		}
		out = append(out, om)
	}
	if t != "" && len(out) == 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "%s is not synced both ways (resync covers account, balance, balance_transaction)", t)
	}
	return out, nil
}

func (e *Engine) runResync(ctx context.Context, id string, req billsync.ResyncRequest, objects []*mapping.Object) {
	j := e.jobs()
	var err error
	for _, om := range objects {
		if err = e.resyncObject(ctx, id, req, om); err != nil {
			break
		}
	}
	j.update(id, func(r *billsync.ResyncReport) {
		r.Finished = e.now()
		r.State = "done"
		if err != nil {
			r.State, r.Error = "failed", err.Error()
		}
	})
	if e.cfg.OnEnqueue != nil {
		e.cfg.OnEnqueue()
	}
	e.log.Info("resync finished", "id", id, "err", err)
}

// resyncObject compares one object type.
func (e *Engine) resyncObject(ctx context.Context, id string, req billsync.ResyncRequest, om *mapping.Object) error {
	j := e.jobs()
	billing := map[string]billsync.Entity{}
	var order []string
	for cursor := ""; ; {
		page, next, err := e.cfg.Billing.List(ctx, om.Type, cursor, 1000)
		if err != nil {
			return fmt.Errorf("listing billing %s: %w", om.Type, err)
		}
		for _, ent := range page {
			billing[ent.ID()] = ent
			order = append(order, ent.ID())
		}
		if next == "" {
			break
		}
		cursor = next
	}
	rows, err := e.cfg.CRM.Query(ctx, fmt.Sprintf("SELECT %s FROM %s", strings.Join(om.SalesforceFields(), ", "), om.SObject))
	if err != nil {
		return fmt.Errorf("querying Salesforce %s: %w", om.SObject, err)
	}
	byExt := map[string]billsync.SObject{}
	var unlinked []billsync.SObject
	for _, r := range rows {
		if ext := r.Str(om.ExternalID); ext != "" {
			byExt[ext] = r
		} else {
			unlinked = append(unlinked, r)
		}
	}
	match := func(billingID, sfID string) bool {
		return req.Record == "" || req.Record == billingID || (sfID != "" && req.Record == sfID)
	}
	total := 0
	for _, bid := range order {
		if match(bid, byExt[bid].ID()) {
			total++
		}
	}
	for ext, r := range byExt {
		if _, ok := billing[ext]; !ok && match(ext, r.ID()) {
			total++
		}
	}
	for _, r := range unlinked {
		if match("", r.ID()) {
			total++
		}
	}
	j.update(id, func(r *billsync.ResyncReport) {
		r.Total += total
		r.APICalls += 1 + len(rows)/2000
	})

	// Initial load (H2): a Salesforce record without a billing id that
	// matches an unlinked billing record by code is linked, not duplicated.
	linkable := map[string]string{} // Salesforce id → billing id
	if req.Initial {
		byCode := map[string]string{}
		for _, bid := range order {
			if _, linked := byExt[bid]; !linked {
				if code := billing[bid].Str("code"); code != "" {
					byCode[strings.ToLower(code)] = bid
				}
			}
		}
		if f, ok := om.Field("code"); ok {
			for _, r := range unlinked {
				if bid, ok := byCode[strings.ToLower(r.Str(f.Salesforce))]; ok {
					linkable[r.ID()] = bid
					delete(byCode, strings.ToLower(r.Str(f.Salesforce)))
				}
			}
		}
	}
	linkedTo := map[string]bool{}
	for _, bid := range linkable {
		linkedTo[bid] = true
	}

	report := func(d billsync.ResyncDiff, c *billsync.Change) error {
		if c != nil && !req.DryRun {
			link := ""
			if d.Kind == billsync.DiffUnlinked && c.Source == billsync.SideSalesforce {
				link = d.BillingID
			}
			payload, _ := json.Marshal(resyncPayload{Job: id, Link: link})
			c.Payload, c.Op, c.Object = payload, billsync.OpResync, om.Type
			c.EventID = fmt.Sprintf("resync:%s:%s:%s", id, om.Type, c.RecordID)
			c.OccurredAt, c.EnqueuedAt = e.now(), e.now()
			if _, err := e.cfg.Queue.Enqueue(ctx, c); err != nil {
				return err
			}
		}
		j.update(id, func(r *billsync.ResyncReport) {
			r.Compared++
			if d.Kind == "" {
				return
			}
			r.Differences++
			if c != nil {
				r.APICalls += 2 // read, then write
				if !req.DryRun {
					r.Repairs++
				}
			}
			if len(r.Diffs) < maxDiffs {
				r.Diffs = append(r.Diffs, d)
			}
		})
		return nil
	}

	for _, bid := range order {
		ent := billing[bid]
		rec := byExt[bid]
		if !match(bid, rec.ID()) {
			continue
		}
		part := billsync.AccountPartition(accountOf(om.Type, ent))
		repair := &billsync.Change{Partition: part, Source: billsync.SideBilling, RecordID: bid}
		if rec == nil {
			if linkedTo[bid] {
				if err := report(billsync.ResyncDiff{}, nil); err != nil {
					return err
				}
				continue
			}
			if err := report(billsync.ResyncDiff{Object: om.Type, BillingID: bid, Kind: billsync.DiffMissingInSalesforce, Action: "create in Salesforce"}, repair); err != nil {
				return err
			}
			continue
		}
		bv, _, err := om.AllBillingValues(ent)
		if err != nil {
			return err
		}
		sv, err := om.AllSalesforceValues(rec)
		if err != nil {
			return err
		}
		diff := mapping.Diff(bv, sv)
		st, _ := e.state(ctx, om.Type, bid)
		if len(diff) == 0 && st != nil && st.SalesforceID == rec.ID() {
			if err := report(billsync.ResyncDiff{}, nil); err != nil {
				return err
			}
			continue
		}
		d := billsync.ResyncDiff{Object: om.Type, BillingID: bid, SalesforceID: rec.ID(), Kind: billsync.DiffFields, Fields: diff, Action: "reconcile fields (conflict policy applies)"}
		if len(diff) == 0 {
			d.Kind, d.Action = billsync.DiffUnlinked, "record the link"
		}
		if err := report(d, repair); err != nil {
			return err
		}
	}
	policy := e.deletePolicy(ctx, om.Type)
	for ext, rec := range byExt {
		if _, ok := billing[ext]; ok || !match(ext, rec.ID()) {
			continue
		}
		d := billsync.ResyncDiff{Object: om.Type, BillingID: ext, SalesforceID: rec.ID(), Kind: billsync.DiffMissingInBilling}
		var repair *billsync.Change
		switch policy {
		case billsync.DeleteMirror:
			d.Action = "delete in Salesforce (deleted in billing; deletes." + string(om.Type) + " is mirror)"
			repair = &billsync.Change{Partition: billsync.RecordPartition(rec.ID()), Source: billsync.SideSalesforce, RecordID: rec.ID()}
		case billsync.DeleteFlag:
			d.Action = "flag " + mapping.FieldDeleted + " (deleted in billing)"
			repair = &billsync.Change{Partition: billsync.RecordPartition(rec.ID()), Source: billsync.SideSalesforce, RecordID: rec.ID()}
		default:
			d.Action = "none: deleted in billing and deletes." + string(om.Type) + " is ignore"
		}
		if err := report(d, repair); err != nil {
			return err
		}
	}
	for _, rec := range unlinked {
		if !match("", rec.ID()) {
			continue
		}
		repair := &billsync.Change{Partition: billsync.RecordPartition(rec.ID()), Source: billsync.SideSalesforce, RecordID: rec.ID()}
		d := billsync.ResyncDiff{Object: om.Type, SalesforceID: rec.ID(), Kind: billsync.DiffMissingInBilling, Action: "create in billing"}
		if bid, ok := linkable[rec.ID()]; ok {
			d.Kind, d.BillingID, d.Action = billsync.DiffUnlinked, bid, "link by code"
		}
		if err := report(d, repair); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) deletePolicy(ctx context.Context, t billsync.ObjectType) string {
	s, err := e.settings(ctx)
	if err != nil {
		return billsync.DeleteIgnore
	}
	return s.DeletePolicy(t)
}

// resyncRecord repairs one record a resync found different: both sides
// are read afresh and reconciled (H2).
func (e *Engine) resyncRecord(ctx context.Context, a *attempt.Attempt) {
	c := a.Change
	om, ok := e.m.Object(c.Object)
	if !ok {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonUnsupported, "resync", "", fmt.Sprintf("no mapping for %s", c.Object), "", "")
		return
	}
	var p resyncPayload
	_ = json.Unmarshal(c.Payload, &p)

	if c.Source == billsync.SideBilling {
		e.resyncFromBilling(ctx, a, om, c.RecordID)
		return
	}
	rec, ok := e.readChanged(ctx, a, om, "resync")
	if !ok {
		return
	}
	billingID := rec.Str(om.ExternalID)
	if p.Link != "" && billingID == "" {
		if err := e.writeBack(ctx, om, rec.ID(), p.Link); err != nil {
			a.FailOp(err, "link", p.Link, "")
			return
		}
		rec[om.ExternalID] = p.Link
		e.resyncFromBilling(ctx, a, om, p.Link)
		return
	}
	if billingID == "" {
		sfVals, err := om.SalesforceValues(rec)
		if err != nil {
			a.Fail(err, "", "")
			return
		}
		e.createInBilling(ctx, a, om, rec, sfVals, "sf:"+rec.ID())
		return
	}
	if _, err := e.cfg.Billing.Get(ctx, om.Type, billingID); notFound(err) {
		// Deleted in billing: the delete policy decides.
		switch a.Settings.DeletePolicy(om.Type) {
		case billsync.DeleteMirror:
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
		case billsync.DeleteFlag:
			up := billsync.SObject{"Id": rec.ID(), mapping.FieldDeleted: true, mapping.FieldLastSystem: mapping.LastSystemBilling}
			if err := e.updateOne(ctx, om, up); err != nil {
				a.FailOp(err, "flag", billingID, "")
				return
			}
			a.Finish(billsync.OutcomeSuccess, "", "flag", "", "deleted in billing: flagged (resync)", billingID, "")
		default:
			a.Finish(billsync.OutcomeSkipped, billsync.ReasonDeleteIgnored, "resync", "", "deleted in billing; deletes."+string(om.Type)+" is ignore", billingID, "")
		}
		return
	} else if err != nil {
		a.FailOp(err, "read", billingID, "")
		return
	}
	e.resyncFromBilling(ctx, a, om, billingID)
}

// resyncFromBilling reconciles a billing record with its Salesforce twin,
// creating the twin when it is missing.
func (e *Engine) resyncFromBilling(ctx context.Context, a *attempt.Attempt, om *mapping.Object, billingID string) {
	if ok, key := a.Settings.SyncAllowed(om.Type); !ok {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonSwitchOff, "resync", "", key+" is off", billingID, "")
		return
	}
	ent, err := e.cfg.Billing.Get(ctx, om.Type, billingID)
	if err != nil {
		if notFound(err) {
			a.Finish(billsync.OutcomeSkipped, billsync.ReasonNotFound, "resync", "", "the billing record no longer exists", billingID, "")
			return
		}
		a.FailOp(err, "read", billingID, "")
		return
	}
	st, err := e.state(ctx, om.Type, billingID)
	if err != nil {
		a.Fail(err, billingID, "")
		return
	}
	if c, err := e.heldConflict(ctx, om.Type, billingID); err != nil || c != nil {
		if err != nil {
			a.Fail(err, billingID, "")
		} else {
			held(a, c, billingID, "")
		}
		return
	}
	var rec billsync.SObject
	if st != nil && st.SalesforceID != "" {
		rec, err = e.readSalesforce(ctx, om, st.SalesforceID)
	} else {
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
		if err != nil {
			a.FailOp(err, "upsert", billingID, "")
			return
		}
		a.Finish(billsync.OutcomeSuccess, "", "create", "", "created in Salesforce (resync)", billingID, ns.SalesforceID)
		return
	}
	if st == nil || st.SalesforceID != rec.ID() {
		// Never linked here: billing, the system of record for money,
		// counts as the agreed base.
		base, _, err := om.AllBillingValues(ent)
		if err != nil {
			a.Fail(err, billingID, rec.ID())
			return
		}
		if om.Parent != nil {
			base[om.Parent.BillingField] = ent.Str(om.Parent.BillingField)
		}
		st = &billsync.SyncState{Object: om.Type, BillingID: billingID, SalesforceID: rec.ID(), AccountID: accountOf(om.Type, ent),
			BillingVersion: ent.Version(), Agreed: base}
	}
	p, err := e.decide(a, om, st, ent, rec, "")
	if err != nil {
		a.Fail(err, billingID, rec.ID())
		return
	}
	e.settle(ctx, a, om, st, p, ent, rec)
}

// readByExternalID finds a Salesforce record by its billing id.
func (e *Engine) readByExternalID(ctx context.Context, om *mapping.Object, billingID string) (billsync.SObject, error) {
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s = '%s'", strings.Join(om.SalesforceFields(), ", "), om.SObject, om.ExternalID, soqlEscape(billingID))
	rows, err := e.cfg.CRM.Query(ctx, q)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}

// soqlEscape escapes a value for a SOQL string literal.
func soqlEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
}
