package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
)

// The mass-change guard on live changes. A burst of deletes of one object
// arriving through webhooks or Salesforce events (a script run against
// the wrong org, a mistaken bulk delete) is mirrored only up to the
// object's guard.deletes count within the burst window; every further
// delete of the object joins one pending burst run, unapplied, until an
// admin approves (the deletes are queued again and applied, each record
// read afresh) or discards it. The share of guard.deletes is not applied
// to bursts: a live stream deletes one record at a time, and in a small
// org one delete would be a large share. The window is counted per
// process: replicas each count the deletes they applied.

// DefaultBurstWindow is how far back the guard counts the deletes of live
// changes.
const DefaultBurstWindow = 10 * time.Minute

// burstCounter remembers, per object, the deletes let through within the
// window, by change id (a retried change counts once).
type burstCounter struct {
	mu   sync.Mutex
	seen map[billsync.ObjectType]map[int64]time.Time
}

// admit counts change id among t's deletes at now unless that makes more
// than limit within window; it reports whether id was admitted.
func (b *burstCounter) admit(t billsync.ObjectType, id int64, now time.Time, window time.Duration, limit int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen == nil {
		b.seen = map[billsync.ObjectType]map[int64]time.Time{}
	}
	m := b.seen[t]
	if m == nil {
		m = map[int64]time.Time{}
		b.seen[t] = m
	}
	for k, at := range m {
		if now.Sub(at) >= window {
			delete(m, k)
		}
	}
	if _, ok := m[id]; ok {
		return true
	}
	if len(m)+1 > limit {
		return false
	}
	m[id] = now
	return true
}

// holdBurst decides whether the mirrored delete of attempt a (of a record
// of type t, billingID and sfID as known) is held by the burst guard, and
// if so holds it and finishes a. It lets through the deletes of an
// approved burst run, and everything when there is no store for held
// runs.
func (e *Engine) holdBurst(ctx context.Context, a *attempt.Attempt, t billsync.ObjectType, billingID, sfID, action string) bool {
	c := a.Change
	if e.cfg.Held == nil || strings.HasPrefix(c.EventID, billsync.HeldEventPrefix) {
		return false
	}
	window := e.cfg.BurstWindow
	if window <= 0 {
		window = DefaultBurstWindow
	}
	dl, ol := a.Settings.GuardLimits(t)
	pending, err := e.pendingBurst(ctx, t)
	if err != nil {
		a.Fail(err, billingID, sfID)
		return true
	}
	if !pending && e.bursts.admit(t, c.ID, e.now(), window, dl.Count) {
		return false
	}
	total, err := e.cfg.Held.CountSynced(ctx, t)
	if err != nil {
		a.Fail(err, billingID, sfID)
		return true
	}
	why := fmt.Sprintf("more than %d deletes of %s records within %s (%s%s count)", dl.Count, t, window, billsync.PrefixGuardDeletes, t)
	r := &billsync.HeldRun{Kind: billsync.HeldKindBurst, Object: t,
		Guard: billsync.GuardCheck{Object: t, Total: int(total), DeleteLimit: dl, OverwriteLimit: ol, Held: true, Reasons: []string{why}}}
	held := c
	held.ID, held.Attempt, held.LastError = 0, 0, ""
	run, created, err := e.cfg.Held.HoldBurstChange(ctx, r, &held,
		billsync.HeldRecord{Op: billsync.GuardDelete, BillingID: billingID, SalesforceID: sfID, Action: action})
	if err != nil {
		a.Fail(err, billingID, sfID)
		return true
	}
	if created {
		e.log.Warn("mass-change guard: a burst of deletes is held for approval; further deletes of the object join it",
			"held_run", run.ID, "object", t, "window", window, "limit", dl.Count, "reason", why,
			"approve", fmt.Sprintf("billsync held approve %d", run.ID), "discard", fmt.Sprintf("billsync held discard %d", run.ID))
	}
	a.Finish(billsync.OutcomeSkipped, billsync.ReasonHeld, "delete", "",
		fmt.Sprintf("held by the mass-change guard in held run %d (%s); approve or discard it with billsync held", run.ID, why), billingID, sfID)
	return true
}

// pendingBurst reports whether t has a pending burst run: while it has,
// every delete of t joins it.
func (e *Engine) pendingBurst(ctx context.Context, t billsync.ObjectType) (bool, error) {
	runs, err := e.cfg.Held.HeldRuns(ctx, billsync.HeldRunFilter{State: billsync.HeldPending, Limit: 1000})
	if err != nil {
		return false, err
	}
	for _, r := range runs {
		if r.Kind == billsync.HeldKindBurst && r.Object == t {
			return true, nil
		}
	}
	return false, nil
}
