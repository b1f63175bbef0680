package runner

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/billsync/billsync"
)

// claim is the runner's hold on one claimed run: when its lease ends,
// which of its changes it still holds (and so renews), and which of them
// the store refused to let it finish because another claimer took them
// over.
type claim struct {
	run     []billsync.Change
	claimed time.Time // the lease runs from no later than this
	// end is when the lease ends by this process's clock, moved on by
	// each renewal; the changes' processing reads it (LeaseOver). A
	// renewal that finds the claim lost ends it at once.
	end *billsync.LeaseEnd
	// working counts the run's steps being processed: only a run at work
	// has its lease renewed.
	working atomic.Int32

	mu sync.Mutex
	// until is when the lease ends as claimed and renewed: unlike end,
	// not cut short by a loss, so that reportLost can tell a stall from
	// a lease lost while it held.
	until time.Time
	// held are the fences of the run's changes it has not let go of yet
	// (finished, handed back): those a renewal extends.
	held map[int64]billsync.Fence
	lost []int64
	// unrenewed: the run outlasted Config.RenewFor (logged once).
	unrenewed bool
	// retries are the run's attempts to be retried, recorded only when
	// the run ends (release).
	retries []outcome
	// joined is called once the run's first change joined the batcher
	// (or the run ended): the runner's Idle waits for every claimed run.
	joined func()
	// bridge holds the run joined to the batcher between its levels
	// (Runner.bridged).
	bridge bridge
}

// bridge is a run's own membership of the batcher between two levels.
type bridge struct {
	mu   sync.Mutex
	exit func() // nil: not joined
}

// join joins the batcher through join, unless already joined.
func (b *bridge) join(join func(context.Context) (context.Context, func()), ctx context.Context) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.exit == nil && join != nil {
		_, b.exit = join(ctx)
	}
}

// leave ends the membership, if any.
func (b *bridge) leave() {
	b.mu.Lock()
	exit := b.exit
	b.exit = nil
	b.mu.Unlock()
	if exit != nil {
		exit()
	}
}

func newClaim(run []billsync.Change, claimed time.Time, lease time.Duration, joined func()) *claim {
	cl := &claim{run: run, claimed: claimed, until: claimed.Add(lease), end: billsync.NewLeaseEnd(claimed.Add(lease)),
		held: make(map[int64]billsync.Fence, len(run)), joined: joined}
	for _, c := range run {
		cl.held[c.ID] = billsync.Fence{ChangeID: c.ID, Token: c.Fence}
	}
	return cl
}

// lose notes that the lease on changes ids was lost.
func (cl *claim) lose(ids ...int64) {
	cl.mu.Lock()
	cl.lost = append(cl.lost, ids...)
	cl.mu.Unlock()
}

func (cl *claim) isLost() bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.lost) > 0
}

// letGo notes that the run is about to finish or hand back changes ids:
// they are renewed no more. Before the write, not after: a renewal that
// overlaps the write would otherwise find them gone and take the run for
// lost.
func (cl *claim) letGo(ids ...int64) {
	cl.mu.Lock()
	for _, id := range ids {
		delete(cl.held, id)
	}
	cl.mu.Unlock()
}

// fences are the fences of the changes the run still holds, by id.
func (cl *claim) fences() []billsync.Fence {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return slices.SortedFunc(maps.Values(cl.held), func(a, b billsync.Fence) int { return cmp.Compare(a.ChangeID, b.ChangeID) })
}

// renewed records a renewal of fences asked for at: the lease now ends
// at end, unless one of them is gone (the store did not renew it). A
// change the run still holds gone means another claimer took it over:
// the claim is lost, and its lease over. One the run let go of meanwhile
// may be finished by the run, or taken over (its write then fails, and
// says so): either way the lease does not move this time, lest a run
// taken over look as though it held.
func (cl *claim) renewed(at, end time.Time, fences []billsync.Fence, gone func(billsync.Fence) bool) {
	cl.mu.Lock()
	var mine []int64
	moved := len(cl.lost) == 0
	for _, f := range fences {
		if !gone(f) {
			continue
		}
		moved = false
		if cl.held[f.ChangeID] == f {
			mine = append(mine, f.ChangeID)
			delete(cl.held, f.ChangeID)
		}
	}
	cl.lost = append(cl.lost, mine...)
	if moved && end.After(cl.until) {
		cl.until = end
	}
	cl.mu.Unlock()
	switch {
	case len(mine) > 0:
		// Another claimer holds changes of the run: what the run still
		// writes outside the store must stop now, not when its lease
		// would have run out.
		cl.end.Set(at)
	case moved && end.After(cl.end.Get()):
		cl.end.Set(end)
	}
}

// expiring reports whether the run's lease is (nearly) over: past it,
// another claimer may hold the changes, so no more of them are applied.
// The margin leaves a call started now time to end within the lease.
func (cl *claim) expiring(lease time.Duration) bool {
	return !time.Now().Before(cl.end.Get().Add(-lease / 10))
}

// handBack releases the rest of a run whose lease is running out, and
// says so: a run that outlasts its lease would be claimed again by
// another replica while this one still applies it. A run's lease is
// renewed while it is at work, so this is a run that was not at work
// when its lease needed renewing (its store writes took a third of the
// lease), or that outlasted RenewFor, or whose renewals failed.
func (r *Runner) handBack(ctx context.Context, cl *claim, rest []round) {
	r.cfg.Logger.Warn("the claim lease of a run ran out before all of it was applied: handing the rest back to the queue; runs renew their lease while at work, so the store was slow or unreachable, or the run was at work for longer than leases are renewed",
		"partition", cl.run[0].Partition, "changes", len(stepIDs(rest)), "claimedAt", cl.claimed.UTC().Format(time.RFC3339Nano),
		"claimLease", r.cfg.Lease, "renewedFor", r.cfg.RenewFor)
	r.release(ctx, cl, rest)
}

// reportLost logs, once per run, that the store refused this runner's
// writes because another claimer took changes of the run over, and what
// that says. Past the run's lease: this process stopped (a long GC
// pause, a stopped or frozen process or VM, a clock jump) past the claim
// lease, its renewals with it, another replica claimed the changes
// meanwhile, and what this one did for them was dropped, not recorded.
// Within the lease, by this process's monotonic clock: no stall explains
// it; the wall clock that times claims jumped, or another replica's is
// ahead of this one's, or the changes were claimed again although their
// lease held (a bug), so the log says that instead.
func (r *Runner) reportLost(cl *claim) {
	cl.mu.Lock()
	lost := slices.Clone(cl.lost)
	until := cl.until
	cl.mu.Unlock()
	if len(lost) == 0 {
		return
	}
	slices.Sort(lost)
	lost = slices.Compact(lost)
	attrs := []any{"partition", cl.run[0].Partition, "changes", lost, "claimedAt", cl.claimed.UTC().Format(time.RFC3339Nano), "claimLease", r.cfg.Lease}
	if left := time.Until(until); left > 0 {
		r.cfg.Logger.Warn("lost the claim lease on changes before it ran out: another claimer took them over while this replica's lease still held by its own clock, so this is no stall; check the system clocks (a clock that jumped, or replicas whose clocks disagree: each times its claims by its own), else report it as a bug; nothing more is applied or recorded for them here",
			append(attrs, "leaseLeft", left.Round(time.Millisecond))...)
		return
	}
	r.cfg.Logger.Warn("lost the claim lease on changes: this replica's lease ran out and another replica took them over; it stalled past claimLease (a long pause, a stopped or frozen process: renewals stop with it), or a step of the run was at work for longer than leases are renewed; nothing more is applied or recorded for them here",
		append(attrs, "pastLease", time.Since(until).Round(time.Millisecond))...)
}
