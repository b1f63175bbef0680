package engine

import (
	"context"
	"fmt"
	"strconv"
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
// to delete bursts: a live stream deletes one record at a time, and in a
// small org one delete would be a large share.
//
// Overwrites are guarded the same way with guard.overwrites (see
// guard_overwrite.go), except that a burst of them is held only past both
// the count and the share: edits are everyday traffic, deletes are not.
// The window is counted per process: replicas each count the changes they
// applied.

// DefaultBurstWindow is how far back the guard counts the deletes and
// overwrites of live changes.
const DefaultBurstWindow = 10 * time.Minute

// burstKey is what the guard counts separately: one object's deletes, or
// its overwrites.
type burstKey struct {
	t  billsync.ObjectType
	op string // billsync.GuardDelete | billsync.GuardOverwrite
}

// burstCounter remembers, per object and operation, what it let through
// within the window: deletes by change id (a retried change counts
// once), overwrites by record (a record edited twice counts once).
type burstCounter struct {
	mu   sync.Mutex
	seen map[burstKey]map[string]time.Time
}

// admit counts id among k's at now unless allow refuses the count that
// makes within window; it reports whether id was admitted. An id already
// counted within the window is admitted again, and its time is kept.
func (b *burstCounter) admit(k burstKey, id string, now time.Time, window time.Duration, allow func(n int) bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen == nil {
		b.seen = map[burstKey]map[string]time.Time{}
	}
	m := b.seen[k]
	if m == nil {
		m = map[string]time.Time{}
		b.seen[k] = m
	}
	for id, at := range m {
		if now.Sub(at) >= window {
			delete(m, id)
		}
	}
	if _, ok := m[id]; ok {
		return true
	}
	if !allow(len(m) + 1) {
		return false
	}
	m[id] = now
	return true
}

// burstWindow is the window the guard counts live changes in.
func (e *Engine) burstWindow() time.Duration {
	if e.cfg.BurstWindow > 0 {
		return e.cfg.BurstWindow
	}
	return DefaultBurstWindow
}

// guarded reports whether the guard looks at live change c at all: not
// without a store for held runs, and not for a change an approved burst
// run queued again.
func (e *Engine) guarded(c billsync.Change) bool {
	return e.cfg.Held != nil && !strings.HasPrefix(c.EventID, billsync.HeldEventPrefix)
}

// holdBurst decides whether the mirrored delete of attempt a (of a record
// of type t, billingID and sfID as known) is held by the burst guard, and
// if so holds it and finishes a. It lets through the deletes of an
// approved burst run, and everything when there is no store for held
// runs.
func (e *Engine) holdBurst(ctx context.Context, a *attempt.Attempt, t billsync.ObjectType, billingID, sfID, action string) bool {
	c := a.Change
	if !e.guarded(c) {
		return false
	}
	window := e.burstWindow()
	dl, _ := a.Settings.GuardLimits(t)
	pending, err := e.pendingBurst(ctx, t)
	if err != nil {
		a.Fail(err, billingID, sfID)
		return true
	}
	k := burstKey{t, billsync.GuardDelete}
	if (pending == nil || pending.Guard.Deletes == 0) &&
		e.bursts.admit(k, strconv.FormatInt(c.ID, 10), e.now(), window, func(n int) bool { return n <= dl.Count }) {
		return false
	}
	why := fmt.Sprintf("more than %d deletes of %s records within %s (%s%s count)", dl.Count, t, window, billsync.PrefixGuardDeletes, t)
	rec := billsync.HeldRecord{Op: billsync.GuardDelete, BillingID: billingID, SalesforceID: sfID, Action: action}
	run, err := e.holdLive(ctx, a, t, why, rec, -1)
	if err != nil {
		a.Fail(err, billingID, sfID)
		return true
	}
	a.Finish(billsync.OutcomeSkipped, billsync.ReasonHeld, "delete", "",
		fmt.Sprintf("held by the mass-change guard in held run %d (%s); approve or discard it with billsync held", run.ID, why), billingID, sfID)
	return true
}

// holdLive adds live change a.Change, shown as rec, to t's pending burst
// run, creating it when there is none, and warns once per run. total is
// t's synced records when the caller counted them already, else -1.
func (e *Engine) holdLive(ctx context.Context, a *attempt.Attempt, t billsync.ObjectType, why string, rec billsync.HeldRecord, total int64) (*billsync.HeldRun, error) {
	if total < 0 {
		var err error
		if total, err = e.cfg.Held.CountSynced(ctx, t); err != nil {
			return nil, err
		}
	}
	dl, ol := a.Settings.GuardLimits(t)
	r := &billsync.HeldRun{Kind: billsync.HeldKindBurst, Object: t,
		Guard: billsync.GuardCheck{Object: t, Total: int(total), DeleteLimit: dl, OverwriteLimit: ol, Held: true, Reasons: []string{why}}}
	held := a.Change
	held.ID, held.Attempt, held.LastError = 0, 0, ""
	run, created, err := e.cfg.Held.HoldBurstChange(ctx, r, &held, rec)
	if err != nil {
		return nil, err
	}
	if created {
		e.log.Warn("mass-change guard: a burst of "+rec.Op+"s is held for approval; further "+rec.Op+"s of the object join it",
			"held_run", run.ID, "object", t, "window", e.burstWindow(), "reason", why,
			"approve", fmt.Sprintf("billsync held approve %d", run.ID), "discard", fmt.Sprintf("billsync held discard %d", run.ID))
	}
	return run, nil
}

// pendingBurst is t's pending burst run, nil when there is none: while
// it holds deletes (overwrites), every delete (overwrite) of t joins it.
func (e *Engine) pendingBurst(ctx context.Context, t billsync.ObjectType) (*billsync.HeldRun, error) {
	runs, err := e.cfg.Held.HeldRuns(ctx, billsync.HeldRunFilter{State: billsync.HeldPending, Limit: 1000})
	if err != nil {
		return nil, err
	}
	for i := range runs {
		if runs[i].Kind == billsync.HeldKindBurst && runs[i].Object == t {
			return &runs[i], nil
		}
	}
	return nil, nil
}
