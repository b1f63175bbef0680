package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
)

// maxDiffs bounds the differences a report lists (the counts stay exact).
const maxDiffs = 1000

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
	var plans []objectPlan
	var err error
	for _, om := range objects {
		var op objectPlan
		if op, err = e.planObject(ctx, id, req, om); err != nil {
			break
		}
		plans = append(plans, op)
	}
	// What was planned is queued even when a later object could not be
	// compared, as each object's repairs stand on their own.
	if qerr := e.applyResync(ctx, id, req, plans); err == nil {
		err = qerr
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

// objectPlan is one object type's plan, and whether the guard held its
// repairs for approval.
type objectPlan struct {
	p    *resyncPlan
	held bool
}

// planObject compares one object type: it reads both sides, decides
// every difference and its repair (planResync, a pure function of what
// was read), and holds the repairs when the guard says so.
func (e *Engine) planObject(ctx context.Context, id string, req billsync.ResyncRequest, om *mapping.Object) (objectPlan, error) {
	snap, err := e.readResync(ctx, req, om)
	if err != nil {
		return objectPlan{}, err
	}
	p, err := planResync(id, req, snap, e.now())
	if err != nil {
		return objectPlan{}, err
	}
	g, sample := checkGuard(req, snap, p)
	held := g.Held && !req.DryRun
	if held {
		if err := e.holdResync(ctx, id, req, p, &g, sample); err != nil {
			return objectPlan{}, err
		}
	}
	e.jobs().update(id, func(r *billsync.ResyncReport) { r.Guard = append(r.Guard, g) })
	return objectPlan{p: p, held: held}, nil
}

// readResync reads what a resync of one object type compares: every
// billing record, every Salesforce record, the sync state of the records
// on both sides, and the delete policy.
func (e *Engine) readResync(ctx context.Context, req billsync.ResyncRequest, om *mapping.Object) (*resyncSnapshot, error) {
	s := &resyncSnapshot{om: om, linked: map[string]string{}, agreed: map[string]map[string]string{}}
	for cursor := ""; ; {
		page, next, err := e.cfg.Billing.List(ctx, om.Type, cursor, 1000)
		if err != nil {
			return nil, fmt.Errorf("listing billing %s: %w", om.Type, err)
		}
		s.billing = append(s.billing, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	rows, err := e.readSnapshot(ctx, om)
	if err != nil {
		return nil, err
	}
	s.rows = rows
	twins := map[string]string{} // billing id → Salesforce id
	for _, r := range rows {
		if ext := r.Str(om.ExternalID); ext != "" {
			twins[ext] = r.ID()
		}
	}
	scope := resyncScope(req.Record)
	for _, ent := range s.billing {
		// A state that cannot be read counts as none: the record is
		// reported unlinked (or missing) and its repair records the link
		// again. A billing record no Salesforce record carries the id of
		// is read too: its state may name a twin whose external id was
		// edited in Salesforce (relinkByState).
		if st, _ := e.state(ctx, om.Type, ent.ID()); st != nil && st.SalesforceID != "" &&
			(scope.has(ent.ID(), twins[ent.ID()]) || scope.has(ent.ID(), st.SalesforceID)) {
			s.linked[ent.ID()] = st.SalesforceID
			s.agreed[ent.ID()] = st.Agreed
		}
	}
	s.deletePolicy = e.deletePolicy(ctx, om.Type)
	// Settings that cannot be read leave the guard at its defaults, the
	// cautious side.
	set, _ := e.settings(ctx)
	s.deleteLimit, s.overwriteLimit = set.GuardLimits(om.Type)
	return s, nil
}

// applyResync queues the plans' repairs (none in a dry run, nor those
// the guard held) and reports their differences.
//
// Repairs are queued a large chunk to a transaction, not one each: a
// resync of a large org queues thousands, and they become due together,
// so the runner finds the backlog whole and widens for it (its writes
// then go as Bulk ingest jobs). They are queued once every object is
// compared, a partition's repairs side by side (an account, then its
// balances, then their transactions, as the plans came in mapping
// order): a run claimed from them carries the whole partition, so the
// runs in flight move through the objects together and each object's
// writes gather into one job, where an object queued while the next was
// still being compared left runs of accounts alone.
func (e *Engine) applyResync(ctx context.Context, id string, req billsync.ResyncRequest, plans []objectPlan) error {
	j := e.jobs()
	var repairs []*billsync.Change
	for _, op := range plans {
		j.update(id, func(r *billsync.ResyncReport) {
			r.Total += len(op.p.items)
			r.APICalls += op.p.apiCalls
		})
		if req.DryRun || op.held {
			continue
		}
		for _, it := range op.p.items {
			if it.repair != nil {
				repairs = append(repairs, it.repair)
			}
		}
	}
	repairs = byAccount(repairs)
	for lo := 0; lo < len(repairs); lo += repairTx {
		chunk := repairs[lo:min(lo+repairTx, len(repairs))]
		if _, err := e.cfg.Queue.Enqueue(ctx, chunk...); err != nil {
			return fmt.Errorf("queueing the repairs of %s (%d, the first %s): %w", chunk[0].Object, len(chunk), chunk[0].RecordID, err)
		}
		if e.cfg.OnEnqueue != nil {
			e.cfg.OnEnqueue()
		}
	}
	for _, op := range plans {
		notQueued := req.DryRun || op.held
		j.update(id, func(r *billsync.ResyncReport) {
			for _, it := range op.p.items {
				tally(r, it, notQueued)
			}
		})
	}
	return nil
}

// byAccount orders repairs for queueing: those of account partitions
// first, a partition's side by side in their plan order (parents first),
// then the rest (records known only in Salesforce, each a partition of
// its own) in plan order, so a parent's repair still comes before its
// children's.
func byAccount(repairs []*billsync.Change) []*billsync.Change {
	out := make([]*billsync.Change, 0, len(repairs))
	var rest []*billsync.Change
	for _, c := range repairs {
		if strings.HasPrefix(c.Partition, billsync.AccountPartition("")) {
			out = append(out, c)
		} else {
			rest = append(rest, c)
		}
	}
	slices.SortStableFunc(out, func(a, b *billsync.Change) int { return strings.Compare(a.Partition, b.Partition) })
	return append(out, rest...)
}

// repairTx is the most repairs queued in one transaction.
const repairTx = 50000

// tally counts one compared record in a report; notQueued: its repair
// was not queued (a dry run, or held by the guard).
func tally(r *billsync.ResyncReport, it resyncItem, notQueued bool) {
	r.Compared++
	if it.diff.Kind == "" {
		return
	}
	r.Differences++
	if it.repair != nil {
		r.APICalls += 2 // read, then write
		if !notQueued {
			r.Repairs++
		}
	}
	if len(r.Diffs) < maxDiffs {
		r.Diffs = append(r.Diffs, it.diff)
	}
}

func (e *Engine) deletePolicy(ctx context.Context, t billsync.ObjectType) string {
	s, err := e.settings(ctx)
	if err != nil {
		return billsync.DeleteIgnore
	}
	return s.DeletePolicy(t)
}
