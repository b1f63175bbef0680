package runner

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/billsync/billsync"
)

// Renewing leases
//
// A run's lease (Config.Lease) is what lets another claimer take over the
// changes of a replica that died. A run at work may legitimately outlast
// it: one level's writes can wait in one Bulk API ingest job of tens of
// thousands of rows, which takes minutes on a real org. Left to run out,
// the lease would hand the run to another claimer, which sends the same
// changes again, while the first run's outcomes are refused as a lost
// lease; a large load would never converge. So one renewer per runner
// extends, every Lease/3 and in one store call, the lease of every run
// with a step being processed (its Process call, its writes waiting in
// the batcher).
//
// Only a run at work is renewed, and only for RenewFor after its claim:
// a step stuck in a call that never returns must not hold its partition
// forever. A stalled or frozen process stalls its renewer too, so its
// claims still run out and move on. The store renews a change only while
// the claim's fence is current, so a renewal never takes back a change
// another claimer took; it reports such changes lost, and the run stops
// as when a write of it is refused.

// holds are the claims in flight, for the renewer.
type holds struct {
	mu     sync.Mutex
	claims map[*claim]struct{}
}

// hold registers cl with the renewer until the returned call.
func (r *Runner) hold(cl *claim) (release func()) {
	r.holds.mu.Lock()
	if r.holds.claims == nil {
		r.holds.claims = map[*claim]struct{}{}
	}
	r.holds.claims[cl] = struct{}{}
	r.holds.mu.Unlock()
	return func() {
		r.holds.mu.Lock()
		delete(r.holds.claims, cl)
		r.holds.mu.Unlock()
	}
}

// startRenewer starts renewing the leases of the runs at work, every
// Lease/3, until the returned call. Renewing goes on after Run's context
// ends, while the runs in flight finish.
func (r *Runner) startRenewer() (stop func()) {
	if r.cfg.RenewFor < 0 {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(r.cfg.Lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				r.renew()
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// renewable returns the claims to renew at now: at work, not lost, and
// claimed less than RenewFor ago. A run that outlasted RenewFor is logged,
// once.
func (r *Runner) renewable(now time.Time) []*claim {
	r.holds.mu.Lock()
	defer r.holds.mu.Unlock()
	var out []*claim
	for cl := range r.holds.claims {
		if cl.working.Load() == 0 || cl.isLost() {
			continue
		}
		if now.Sub(cl.claimed) < r.cfg.RenewFor {
			out = append(out, cl)
			continue
		}
		cl.mu.Lock()
		first := !cl.unrenewed
		cl.unrenewed = true
		cl.mu.Unlock()
		if first {
			r.cfg.Logger.Warn("a run has been at work for longer than claim leases are renewed: its lease is left to run out, and another replica may then take its changes over",
				"partition", cl.run[0].Partition, "claimedAt", cl.claimed.UTC().Format(time.RFC3339Nano), "claimLease", r.cfg.Lease, "renewedFor", r.cfg.RenewFor)
		}
	}
	return out
}

// renew extends, in one store call, the leases of the changes held by
// the runs at work, and marks a run whose changes the store found taken
// over as lost.
func (r *Runner) renew() {
	// The lease runs from no earlier than now, as the store counts it.
	now := time.Now()
	claims := r.renewable(now)
	// A change held by two runs of this process (the first stalled past
	// its lease, a later claim took the change again) is the newer
	// claim's, whose fence is the higher: only that one is renewed.
	newest := map[int64]billsync.Fence{}
	sent := make([][]billsync.Fence, len(claims))
	for i, cl := range claims {
		sent[i] = cl.fences()
		for _, f := range sent[i] {
			if n, ok := newest[f.ChangeID]; !ok || f.Token > n.Token {
				newest[f.ChangeID] = f
			}
		}
	}
	if len(newest) == 0 {
		return
	}
	fences := slices.SortedFunc(maps.Values(newest), func(a, b billsync.Fence) int { return cmp.Compare(a.ChangeID, b.ChangeID) })
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.QueueTimeout)
	defer cancel()
	lost, err := r.cfg.Queue.Extend(ctx, r.cfg.Lease, fences...)
	if err != nil {
		// The next tick tries again; if none gets through, the leases run
		// out as they would without renewal.
		r.cfg.Logger.Error("renewing the claim lease of runs at work", "runs", len(claims), "changes", len(fences), "err", err)
		return
	}
	refused := make(map[int64]bool, len(lost))
	for _, id := range lost {
		refused[id] = true
	}
	gone := func(f billsync.Fence) bool { return refused[f.ChangeID] || newest[f.ChangeID] != f }
	for i, cl := range claims {
		cl.renewed(now, now.Add(r.cfg.Lease), sent[i], gone)
	}
}
