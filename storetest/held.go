package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync"
)

// heldChanges are n resync repairs of job, one per record.
func heldChanges(job string, n int) []*billsync.Change {
	var out []*billsync.Change
	for i := range n {
		rec := fmt.Sprintf("a01%015d", i)
		out = append(out, &billsync.Change{Partition: billsync.RecordPartition(rec), Source: billsync.SideSalesforce, Object: billsync.ObjectBalance,
			Op: billsync.OpResync, RecordID: rec, EventID: fmt.Sprintf("resync:%s:balance:%s", job, rec), Payload: []byte(`{"job":"` + job + `"}`),
			OccurredAt: time.Unix(1_700_000_000, 0).UTC()})
	}
	return out
}

func heldRun(job string) *billsync.HeldRun {
	return &billsync.HeldRun{Kind: billsync.HeldKindResync, Job: job, Object: billsync.ObjectBalance,
		Guard: billsync.GuardCheck{Object: billsync.ObjectBalance, Total: 10, Deletes: 8, DeleteLimit: billsync.DefaultGuardLimit,
			OverwriteLimit: billsync.DefaultGuardLimit, Held: true, Reasons: []string{"8 of 10 deletes"}},
		Sample: []billsync.HeldRecord{
			{Op: billsync.GuardDelete, BillingID: "bal_1", SalesforceID: "a01000000000000001", Action: "delete in Salesforce"},
			{Op: billsync.GuardOverwrite, BillingID: "bal_2", SalesforceID: "a01000000000000002", Action: "reconcile",
				Fields: []billsync.HeldField{{Field: "amount", Side: billsync.SideSalesforce, Old: "1.50", New: "2.00"}}},
		}}
}

// queuedEventIDs claims everything queued and returns the event ids.
func queuedEventIDs(t *testing.T, s billsync.Store) []string {
	t.Helper()
	runs, err := s.ClaimRuns(context.Background(), 1000, 1000, time.Minute)
	must(t, err)
	var ids []string
	for _, r := range runs {
		for _, c := range r {
			ids = append(ids, c.EventID)
		}
	}
	slices.Sort(ids)
	return ids
}

func testHeldRoundTrip(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	r := heldRun("rs_1")
	must(t, s.HoldRun(ctx, r, heldChanges("rs_1", 3)))
	if r.ID == 0 || r.State != billsync.HeldPending || r.Changes != 3 || r.Created.IsZero() {
		t.Fatalf("held run as stored: %+v", r)
	}
	got, err := s.HeldRun(ctx, r.ID)
	must(t, err)
	if diff := cmp.Diff(r, got, equateTime); diff != "" {
		t.Fatalf("HeldRun (-stored +read):\n%s", diff)
	}
	if ids := queuedEventIDs(t, s); len(ids) != 0 {
		t.Fatalf("holding a run queued %v", ids)
	}
	_, err = s.HeldRun(ctx, r.ID+100)
	wantCode(t, err, billsync.ENOTFOUND)
	wantCode(t, s.HoldRun(ctx, &billsync.HeldRun{Kind: "sideways", Object: billsync.ObjectBalance}, nil), billsync.EINVALID)
}

func testHeldList(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	var ids []int64
	for i := range 3 {
		r := heldRun(fmt.Sprintf("rs_%d", i))
		must(t, s.HoldRun(ctx, r, heldChanges(r.Job, 1)))
		ids = append(ids, r.ID)
	}
	_, err := s.DiscardHeldRun(ctx, ids[1], "ops")
	must(t, err)
	all, err := s.HeldRuns(ctx, billsync.HeldRunFilter{})
	must(t, err)
	if len(all) != 3 || all[0].ID != ids[2] || all[2].ID != ids[0] {
		t.Fatalf("HeldRuns: %+v, want newest first", all)
	}
	pending, err := s.HeldRuns(ctx, billsync.HeldRunFilter{State: billsync.HeldPending})
	must(t, err)
	if len(pending) != 2 || pending[0].ID != ids[2] || pending[1].ID != ids[0] {
		t.Fatalf("pending: %+v", pending)
	}
	one, err := s.HeldRuns(ctx, billsync.HeldRunFilter{Limit: 1})
	must(t, err)
	if len(one) != 1 || one[0].ID != ids[2] {
		t.Fatalf("limit 1: %+v", one)
	}
	_, err = s.HeldRuns(ctx, billsync.HeldRunFilter{State: "sideways"})
	wantCode(t, err, billsync.EINVALID)
}

func testHeldApprove(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	r := heldRun("rs_ok")
	changes := heldChanges("rs_ok", 3)
	must(t, s.HoldRun(ctx, r, changes))
	// One repair was queued before (by an earlier attempt): approving
	// must not queue it twice.
	_, err := s.Enqueue(ctx, heldChanges("rs_ok", 1)...)
	must(t, err)
	if got := queuedEventIDs(t, s); len(got) != 1 {
		t.Fatalf("queued before approval: %v", got)
	}
	out, err := s.ApproveHeldRun(ctx, r.ID, "alice")
	must(t, err)
	if out.State != billsync.HeldApproved || out.DecidedBy != "alice" || out.DecidedAt.IsZero() || out.Guard.Deletes != 8 || out.Changes != 3 {
		t.Fatalf("approved: %+v", out)
	}
	var want []string
	for _, c := range changes[1:] {
		want = append(want, c.EventID)
	}
	if got := queuedEventIDs(t, s); !slices.Equal(got, want) {
		t.Fatalf("queued by the approval %v, want %v", got, want)
	}
	_, err = s.ApproveHeldRun(ctx, r.ID, "bob")
	wantCode(t, err, billsync.ECONFLICT)
	_, err = s.DiscardHeldRun(ctx, r.ID, "bob")
	wantCode(t, err, billsync.ECONFLICT)
	_, err = s.ApproveHeldRun(ctx, r.ID+100, "bob")
	wantCode(t, err, billsync.ENOTFOUND)
	a, err := s.Audit(ctx, 10)
	must(t, err)
	if len(a) != 1 || a[0].Key != billsync.HeldAuditKey(r.ID) || a[0].Actor != "alice" || !jsonHas(a[0].New, `"state":"approved"`) {
		t.Fatalf("audit %+v", a)
	}
	got, err := s.HeldRun(ctx, r.ID)
	must(t, err)
	if got.State != billsync.HeldApproved || got.DecidedBy != "alice" {
		t.Fatalf("read back: %+v", got)
	}
}

func testHeldDiscard(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	r := heldRun("rs_no")
	must(t, s.HoldRun(ctx, r, heldChanges("rs_no", 2)))
	out, err := s.DiscardHeldRun(ctx, r.ID, "carol")
	must(t, err)
	if out.State != billsync.HeldDiscarded || out.DecidedBy != "carol" {
		t.Fatalf("discarded: %+v", out)
	}
	if got := queuedEventIDs(t, s); len(got) != 0 {
		t.Fatalf("discarding queued %v", got)
	}
	_, err = s.ApproveHeldRun(ctx, r.ID, "dave")
	wantCode(t, err, billsync.ECONFLICT)
	if got := queuedEventIDs(t, s); len(got) != 0 {
		t.Fatalf("approving a discarded run queued %v", got)
	}
	a, err := s.Audit(ctx, 10)
	must(t, err)
	if len(a) != 1 || a[0].Key != billsync.HeldAuditKey(r.ID) || !jsonHas(a[0].New, `"state":"discarded"`) {
		t.Fatalf("audit %+v", a)
	}
}

func jsonHas(b []byte, s string) bool { return strings.Contains(string(b), s) }

// Deletes past the guard in a burst join one pending burst run per
// object; a change held twice is kept once; approving queues them under
// new event ids (their own were seen); afterwards a new burst starts a
// new run.
func testHeldBurst(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	base := func(obj billsync.ObjectType) *billsync.HeldRun {
		return &billsync.HeldRun{Object: obj, Guard: billsync.GuardCheck{Object: obj, Total: 40, DeleteLimit: billsync.GuardLimit{Percent: 10, Count: 2},
			Held: true, Reasons: []string{"burst"}}}
	}
	changes := heldChanges("burst", 3)
	// Seen and finished before, as a change that came through the
	// queue was.
	_, err := s.Enqueue(ctx, changes...)
	must(t, err)
	runs, err := s.ClaimRuns(ctx, 100, 100, time.Minute)
	must(t, err)
	for _, r := range runs {
		for _, c := range r {
			must(t, s.Complete(ctx, c.ID))
		}
	}
	var runID int64
	for i, c := range append(changes, changes[1]) {
		rec := billsync.HeldRecord{Op: billsync.GuardDelete, SalesforceID: c.RecordID, Action: "delete in billing"}
		run, created, err := s.HoldBurstChange(ctx, base(billsync.ObjectBalance), c, rec)
		must(t, err)
		if created != (i == 0) || run.Kind != billsync.HeldKindBurst || run.State != billsync.HeldPending {
			t.Fatalf("hold %d: created %v, %+v", i, created, run)
		}
		if i == 0 {
			runID = run.ID
		}
		if want := min(i+1, 3); run.ID != runID || run.Changes != want || run.Guard.Deletes != want || len(run.Sample) != want {
			t.Fatalf("hold %d: %+v", i, run)
		}
	}
	other, created, err := s.HoldBurstChange(ctx, base(billsync.ObjectAccount), heldChanges("acc", 1)[0], billsync.HeldRecord{Op: billsync.GuardDelete})
	must(t, err)
	if !created || other.ID == runID {
		t.Fatalf("another object's burst joined run %d: %+v", runID, other)
	}
	_, err = s.ApproveHeldRun(ctx, runID, "alice")
	must(t, err)
	var want []string
	for _, c := range changes {
		want = append(want, fmt.Sprintf("%s%d:%s", billsync.HeldEventPrefix, runID, c.EventID))
	}
	slices.Sort(want)
	if got := queuedEventIDs(t, s); !slices.Equal(got, want) {
		t.Fatalf("approving the burst queued %v, want %v", got, want)
	}
	next, created, err := s.HoldBurstChange(ctx, base(billsync.ObjectBalance), heldChanges("later", 1)[0], billsync.HeldRecord{Op: billsync.GuardDelete})
	must(t, err)
	if !created || next.ID == runID || next.Changes != 1 {
		t.Fatalf("a burst after the approval: created %v, %+v", created, next)
	}
	n, err := s.CountSynced(ctx, billsync.ObjectBalance)
	must(t, err)
	if n != 0 {
		t.Fatalf("CountSynced of an empty store: %d", n)
	}
	must(t, s.PutSyncState(ctx, &billsync.SyncState{Object: billsync.ObjectBalance, BillingID: "bal_1", AccountID: "acc_1"}))
	must(t, s.PutSyncState(ctx, &billsync.SyncState{Object: billsync.ObjectBalance, BillingID: "bal_2", AccountID: "acc_1"}))
	must(t, s.PutSyncState(ctx, &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: "acc_1", AccountID: "acc_1"}))
	if n, err := s.CountSynced(ctx, billsync.ObjectBalance); err != nil || n != 2 {
		t.Fatalf("CountSynced = %d, %v; want 2", n, err)
	}
}

// Deletes held at once (replicas, workers) join one burst run, each once.
func testHeldBurstConcurrent(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	changes := heldChanges("concurrent", 8)
	errs := make(chan error, len(changes))
	for _, c := range changes {
		go func() {
			r := &billsync.HeldRun{Object: billsync.ObjectBalance, Guard: billsync.GuardCheck{Object: billsync.ObjectBalance, Held: true}}
			_, _, err := s.HoldBurstChange(ctx, r, c, billsync.HeldRecord{Op: billsync.GuardDelete, SalesforceID: c.RecordID})
			errs <- err
		}()
	}
	for range changes {
		must(t, <-errs)
	}
	runs, err := s.HeldRuns(ctx, billsync.HeldRunFilter{State: billsync.HeldPending})
	must(t, err)
	if len(runs) != 1 || runs[0].Changes != 8 || runs[0].Guard.Deletes != 8 {
		t.Fatalf("held runs %+v", runs)
	}
	_, err = s.ApproveHeldRun(ctx, runs[0].ID, "alice")
	must(t, err)
	if got := queuedEventIDs(t, s); len(got) != 8 {
		t.Fatalf("approval queued %v", got)
	}
}

// Overwrites held in a burst join the object's one pending burst run as
// deletes do, counted apart; the reasons of both limits are kept once
// each, and the stored run reads back the same.
func testHeldBurstOverwrites(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	run := func(why string) *billsync.HeldRun {
		return &billsync.HeldRun{Object: billsync.ObjectBalance, Guard: billsync.GuardCheck{Object: billsync.ObjectBalance, Total: 40,
			Held: true, Reasons: []string{why}}}
	}
	over := billsync.HeldRecord{Op: billsync.GuardOverwrite, BillingID: "bal_1", Action: "overwrite name in salesforce (live change)",
		Fields: []billsync.HeldField{{Field: "name", Side: billsync.SideSalesforce, Old: "Prepaid", New: "Wrong"}}}
	cs := heldChanges("mixed", 3)
	first, created, err := s.HoldBurstChange(ctx, run("overwrites"), cs[0], over)
	must(t, err)
	if !created || first.Guard.Overwrites != 1 || first.Guard.Deletes != 0 {
		t.Fatalf("first overwrite: created %v, %+v", created, first)
	}
	_, _, err = s.HoldBurstChange(ctx, run("overwrites"), cs[1], over)
	must(t, err)
	got, created, err := s.HoldBurstChange(ctx, run("deletes"), cs[2], billsync.HeldRecord{Op: billsync.GuardDelete, SalesforceID: "a01"})
	must(t, err)
	if created || got.ID != first.ID || got.Changes != 3 || got.Guard.Overwrites != 2 || got.Guard.Deletes != 1 {
		t.Fatalf("a delete after two overwrites: created %v, %+v", created, got)
	}
	stored, err := s.HeldRun(ctx, first.ID)
	must(t, err)
	if !slices.Equal(stored.Guard.Reasons, []string{"overwrites", "deletes"}) || stored.Guard.Overwrites != 2 || stored.Guard.Deletes != 1 ||
		len(stored.Sample) != 3 || len(stored.Sample[0].Fields) != 1 || stored.Sample[0].Fields[0] != over.Fields[0] {
		t.Fatalf("stored run %+v", stored)
	}
}
