package runner

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
)

// outcome is an attempt's result waiting to be recorded.
type outcome struct {
	c   billsync.Change
	res attempt.Result
}

// retryLater keeps the retry of c until the run ends. Recorded at once,
// it would hand c back to the queue while the run still applies other
// changes of c's partition: should c become the partition's head (it is
// the lowest id, or the changes before it finish), c would be due at its
// retry time, and the next claim — this process's other workers' too —
// would take it together with the changes behind it, this run's
// included, and apply them a second time beside this run, an older
// state of a record possibly landing after its newer one.
func (cl *claim) retryLater(c billsync.Change, res attempt.Result) {
	cl.mu.Lock()
	cl.retries = append(cl.retries, outcome{c: c, res: res})
	cl.mu.Unlock()
}

// release ends a run: it hands the changes of rounds back to the queue
// unattempted and records the retries the run kept (retryLater), every
// write fenced. Each write may make a change of the partition its due
// head, so the run's lowest id stays claimed until the last write: the
// writes go from the highest id down, the hand-back (one transaction)
// in its place, and the partition is claimable again only once the run
// has let go of all of it.
func (r *Runner) release(ctx context.Context, cl *claim, rounds []round) {
	// The run joins no more levels: the other runs' batches need not
	// wait for these writes.
	cl.bridge.leave()
	ids := stepIDs(rounds)
	cl.mu.Lock()
	retries := cl.retries
	cl.retries = nil
	cl.mu.Unlock()
	slices.SortFunc(retries, func(a, b outcome) int { return cmp.Compare(b.c.ID, a.c.ID) })
	handedBack := len(ids) == 0
	for _, o := range retries {
		if !handedBack && o.c.ID < slices.Min(ids) {
			r.unclaim(ctx, cl, ids)
			handedBack = true
		}
		qctx, cancel := r.queueContext(ctx)
		r.record(qctx, cl, o.c, o.res)
		cancel()
	}
	if !handedBack {
		r.unclaim(ctx, cl, ids)
	}
}

// unclaim hands changes ids of the run back to the queue unattempted,
// fenced: if another claimer took any of them over, none is handed back,
// and the run's lease is lost.
func (r *Runner) unclaim(ctx context.Context, cl *claim, ids []int64) {
	qctx, cancel := r.queueContext(ctx)
	defer cancel()
	fctx := qctx
	cl.letGo(ids...)
	for _, c := range cl.run {
		if slices.Contains(ids, c.ID) {
			fctx = billsync.Fenced(fctx, c)
		}
	}
	err := r.cfg.Queue.Release(fctx, ids...)
	switch {
	case errors.Is(err, billsync.ErrLeaseLost):
		cl.lose(ids...)
	case err != nil:
		// Their lease runs out and they are claimed again.
		r.cfg.Logger.Error("handing changes back to the queue", "changes", len(ids), "err", err)
	}
}
