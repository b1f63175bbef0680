package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// reclaim waits until a claim with a long lease (another claimer's) takes
// over want, whose short lease the first claimer let run out, and returns
// the new claim.
func reclaim(t *testing.T, s billsync.Store, want int64) billsync.Change {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		cs, err := s.Claim(t.Context(), 1, time.Hour)
		must(t, err)
		if len(cs) == 1 {
			if cs[0].ID != want {
				t.Fatalf("re-claimed %+v, want change %d", cs[0], want)
			}
			return cs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("change %d was never claimed again after its lease ran out", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wantLost(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, billsync.ErrLeaseLost) {
		t.Fatalf("%s with a stale fence: %v, want ErrLeaseLost", what, err)
	}
	if code := billsync.ErrorCode(err); code != billsync.ECONFLICT {
		t.Errorf("%s with a stale fence: code %q, want %q", what, code, billsync.ECONFLICT)
	}
}

// testFenceTokens: every claim hands out a token, a re-claim after the
// lease ran out a newer one, the changes of a run theirs too, and a
// release keeps the token moving forward.
func testFenceTokens(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, a2 := change("account:a", "a1"), change("account:a", "a2")
	enqueue(t, s, a1, a2)
	runs, err := s.ClaimRuns(ctx, 1, 2, 200*time.Millisecond)
	must(t, err)
	if len(runs) != 1 || len(runs[0]) != 2 || runs[0][0].ID != a1.ID || runs[0][1].ID != a2.ID {
		t.Fatalf("claimed %+v, want the run a1, a2", runs)
	}
	first := runs[0]
	for _, c := range first {
		if c.Fence == 0 {
			t.Fatalf("change %d claimed without a fencing token", c.ID)
		}
	}
	// The run's lease runs out; the next claim of the partition takes the
	// whole run again, each change with a newer token.
	deadline := time.Now().Add(waitFor)
	var again []billsync.Change
	for again == nil {
		runs, err := s.ClaimRuns(ctx, 10, 2, time.Hour)
		must(t, err)
		for _, r := range runs {
			if r[0].ID == a1.ID {
				again = r
			}
		}
		if again == nil {
			if time.Now().After(deadline) {
				t.Fatal("the run was never claimed again after its lease ran out")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if len(again) != 2 {
		t.Fatalf("re-claimed %+v, want a1, a2", again)
	}
	for i, c := range again {
		if c.Fence <= first[i].Fence {
			t.Errorf("change %d re-claimed with token %d, not newer than %d", c.ID, c.Fence, first[i].Fence)
		}
	}
	// A release hands the change back; its next claim's token is newer
	// still, so a token is never handed out twice.
	b1 := change("account:b", "b1")
	enqueue(t, s, b1)
	b := claimOne(t, s, time.Hour)
	if b.ID != b1.ID {
		t.Fatalf("claimed %+v, want b1", b)
	}
	must(t, s.Release(billsync.Fenced(ctx, b), b.ID))
	b2 := claimOne(t, s, time.Hour)
	if b2.ID != b1.ID || b2.Fence <= b.Fence {
		t.Errorf("after a release claimed %d with token %d, want b1 with a token newer than %d", b2.ID, b2.Fence, b.Fence)
	}
}

// testFenceStaleRefused: a claimer stalls past its lease and another
// claims the change; every write the first then makes under its stale
// fence is refused and writes nothing, while the new holder's succeed.
func testFenceStaleRefused(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1 := change("account:a", "a1")
	enqueue(t, s, a1)
	must(t, s.PutSyncState(ctx, &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: "kept", AccountID: "a", BillingVersion: 1}))
	held := &billsync.Conflict{Object: billsync.ObjectAccount, BillingID: "kept", Status: billsync.ConflictHeld, Policy: "manual"}
	must(t, s.AddConflict(ctx, held))

	stale := claimOne(t, s, 200*time.Millisecond)
	staleCtx := billsync.Fenced(ctx, stale)
	// Before anyone else claims it the holder's writes pass, even with
	// its lease run out: a fence only refuses once another claim exists.
	must(t, s.AppendLog(staleCtx, billsync.LogEntry{Object: billsync.ObjectAccount, BillingID: "a1", Outcome: billsync.OutcomeSkipped, Message: "before"}))

	current := reclaim(t, s, stale.ID)
	if current.Fence <= stale.Fence {
		t.Fatalf("re-claimed with token %d, not newer than %d", current.Fence, stale.Fence)
	}
	entry := billsync.LogEntry{Object: billsync.ObjectAccount, BillingID: "a1", Outcome: billsync.OutcomeSuccess, Message: "stale"}

	wantLost(t, "PutSyncState", s.PutSyncState(staleCtx, &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: "a1", AccountID: "a", BillingVersion: 9}))
	if _, err := s.SyncState(ctx, billsync.ObjectAccount, "a1"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("a refused PutSyncState wrote the state: %v", err)
	}
	wantLost(t, "PutSyncState of an existing record", s.PutSyncState(staleCtx, &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: "kept", AccountID: "a", BillingVersion: 2}))
	wantLost(t, "DeleteSyncState", s.DeleteSyncState(staleCtx, billsync.ObjectAccount, "kept"))
	if st, err := s.SyncState(ctx, billsync.ObjectAccount, "kept"); err != nil || st.BillingVersion != 1 {
		t.Errorf("refused writes changed the state of another record: %+v, %v", st, err)
	}
	wantLost(t, "AppendLog", s.AppendLog(staleCtx, entry))
	wantLost(t, "AddConflict", s.AddConflict(staleCtx, &billsync.Conflict{Object: billsync.ObjectAccount, BillingID: "a1", Status: billsync.ConflictHeld, Policy: "manual"}))
	if _, err := s.HeldConflict(ctx, billsync.ObjectAccount, "a1"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("a refused AddConflict stored a conflict: %v", err)
	}
	_, err := s.ResolveConflict(staleCtx, held.ID, billsync.SideBilling, "policy:latest", time.Time{})
	wantLost(t, "ResolveConflict", err)
	if c, err := s.Conflict(ctx, held.ID); err != nil || c.Status != billsync.ConflictHeld {
		t.Errorf("a refused ResolveConflict resolved it: %+v, %v", c, err)
	}
	wantLost(t, "Complete", s.Complete(staleCtx, stale.ID, entry))
	wantLost(t, "Retry", s.Retry(staleCtx, stale.ID, time.Now(), "timeout", entry))
	wantLost(t, "Bury", s.Bury(staleCtx, stale.ID, "INVALID_FIELD", "boom", entry))
	wantLost(t, "Release", s.Release(staleCtx, stale.ID))
	// Nothing of it landed: the change is still the new holder's, running,
	// with no dead letter and no stale log entry.
	qs, err := s.Stats(ctx)
	must(t, err)
	if qs.Running != 1 || qs.Pending != 0 || qs.DeadLetters != 0 {
		t.Errorf("after the refused writes: stats %+v, want the change running for its new holder", qs)
	}
	if cs, err := s.Claim(ctx, 10, time.Hour); err != nil || len(cs) != 0 {
		t.Errorf("a refused Release or Retry handed the change back: claimed %+v, %v", cs, err)
	}
	logs, _, err := s.Logs(ctx, billsync.LogFilter{Record: "a1"})
	must(t, err)
	if len(logs) != 1 || logs[0].Message != "before" {
		t.Errorf("log after the refused writes: %+v, want only the entry written before the re-claim", logs)
	}

	// The new holder's writes pass, and it finishes the change.
	curCtx := billsync.Fenced(ctx, current)
	must(t, s.PutSyncState(curCtx, &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: "a1", AccountID: "a", BillingVersion: 3}))
	must(t, s.Complete(curCtx, current.ID, billsync.LogEntry{Object: billsync.ObjectAccount, BillingID: "a1", Outcome: billsync.OutcomeSuccess, Message: "current"}))
	// Once it is finished, the stale holder is still refused, not told
	// the change is unknown.
	wantLost(t, "Complete after the new holder finished", s.Complete(staleCtx, stale.ID, entry))
	wantLost(t, "AppendLog after the new holder finished", s.AppendLog(staleCtx, entry))
	logs, _, err = s.Logs(ctx, billsync.LogFilter{Record: "a1", Outcome: billsync.OutcomeSuccess})
	must(t, err)
	if len(logs) != 1 || logs[0].Message != "current" {
		t.Errorf("successes logged: %+v, want the new holder's only", logs)
	}
	if st, err := s.SyncState(ctx, billsync.ObjectAccount, "a1"); err != nil || st.BillingVersion != 3 {
		t.Errorf("state %+v, %v; want the new holder's", st, err)
	}
}

// testFenceReleaseAllOrNone: a release under fences one of which is stale
// releases nothing, so a change still held is not handed back alongside
// one another claimer holds; released alone it goes back.
func testFenceReleaseAllOrNone(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, b1 := change("account:a", "a1"), change("account:b", "b1")
	enqueue(t, s, a1, b1)
	staleA := claimOne(t, s, 200*time.Millisecond)
	if staleA.ID != a1.ID {
		t.Fatalf("claimed %+v, want a1", staleA)
	}
	heldB := claimOne(t, s, time.Hour)
	if heldB.ID != b1.ID {
		t.Fatalf("claimed %+v, want b1", heldB)
	}
	reclaim(t, s, a1.ID)
	wantLost(t, "Release of a lost and a held change", s.Release(billsync.Fenced(ctx, staleA, heldB), a1.ID, b1.ID))
	if cs, err := s.Claim(ctx, 10, time.Hour); err != nil || len(cs) != 0 {
		t.Fatalf("a refused Release handed changes back: claimed %+v, %v", cs, err)
	}
	must(t, s.Release(billsync.Fenced(ctx, heldB), b1.ID))
	if got := claimOne(t, s, time.Hour); got.ID != b1.ID {
		t.Errorf("after releasing b1 claimed %+v", got)
	}
}

// testFenceUnfenced: writes without fences are not checked, and a fence
// of a change never claimed by anyone else does not stand in the way.
func testFenceUnfenced(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1 := change("account:a", "a1")
	enqueue(t, s, a1)
	c := claimOne(t, s, time.Hour)
	fctx := billsync.Fenced(ctx, c)
	must(t, s.PutSyncState(fctx, &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: "a1", AccountID: "a"}))
	must(t, s.DeleteSyncState(fctx, billsync.ObjectAccount, "a1"))
	must(t, s.AppendLog(context.WithoutCancel(fctx), billsync.LogEntry{Object: billsync.ObjectAccount, BillingID: "a1", Message: "fenced"}))
	conf := &billsync.Conflict{Object: billsync.ObjectAccount, BillingID: "a1", Status: billsync.ConflictHeld, Policy: "manual"}
	must(t, s.AddConflict(fctx, conf))
	if _, err := s.ResolveConflict(fctx, conf.ID, billsync.SideBilling, "policy:test", time.Time{}); err != nil {
		t.Fatal(err)
	}
	must(t, s.Complete(fctx, c.ID))
	// Unfenced, an unknown change is still ENOTFOUND.
	wantCode(t, s.Complete(ctx, c.ID), billsync.ENOTFOUND)
	must(t, s.AppendLog(ctx, billsync.LogEntry{Object: billsync.ObjectAccount, BillingID: "a1", Message: "unfenced"}))
}
