package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync"
)

// runIDs claims runs with a long lease and returns each run's record ids,
// runs ordered by their heads' ids.
func runIDs(t *testing.T, s billsync.Store, max, perRun int) [][]string {
	t.Helper()
	runs, err := s.ClaimRuns(t.Context(), max, perRun, time.Hour)
	must(t, err)
	out := [][]string{}
	for _, r := range runs {
		out = append(out, records(r))
	}
	return out
}

func testQueueClaimRuns(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, a2, a3, a4 := change("account:a", "a1"), change("account:a", "a2"), change("account:a", "a3"), change("account:a", "a4")
	b1, b2, c1 := change("account:b", "b1"), change("account:b", "b2"), change("account:c", "c1")
	enqueue(t, s, a1, b1, a2, c1, a3, b2, a4)

	// Two runs of up to three changes: each a head and what follows it in
	// its partition, in id order; the third partition waits for max.
	if d := cmp.Diff([][]string{{"a1", "a2", "a3"}, {"b1", "b2"}}, runIDs(t, s, 2, 3)); d != "" {
		t.Fatalf("first claim (-want +got):\n%s", d)
	}
	// a4 is behind a claimed run: only c1's partition is free.
	if d := cmp.Diff([][]string{{"c1"}}, runIDs(t, s, 10, 3)); d != "" {
		t.Fatalf("second claim (-want +got):\n%s", d)
	}
	if got := runIDs(t, s, 10, 3); len(got) != 0 {
		t.Fatalf("third claim got %v, want nothing", got)
	}
	// Finishing part of a run frees nothing: the rest of it is still
	// claimed, and the partition's next change waits behind it.
	must(t, s.Complete(ctx, a1.ID))
	must(t, s.Complete(ctx, a2.ID))
	if got := runIDs(t, s, 10, 3); len(got) != 0 {
		t.Fatalf("claim with a3 in flight got %v, want nothing", got)
	}
	must(t, s.Complete(ctx, a3.ID))
	if d := cmp.Diff([][]string{{"a4"}}, runIDs(t, s, 10, 3)); d != "" {
		t.Fatalf("after the run (-want +got):\n%s", d)
	}

	// Every change of a run was attempted once.
	runs, err := s.ClaimRuns(ctx, 10, 3, time.Hour)
	must(t, err)
	if len(runs) != 0 {
		t.Fatalf("claimed %v from busy partitions", runs)
	}
	if got, err := s.ClaimRuns(ctx, 0, 3, time.Hour); err != nil || len(got) != 0 {
		t.Fatalf("ClaimRuns(0) = %v, %v", got, err)
	}
}

func testQueueClaimRunsAttempts(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, a2 := change("account:a", "a1"), change("account:a", "a2")
	enqueue(t, s, a1, a2)
	runs, err := s.ClaimRuns(ctx, 1, 5, time.Hour)
	must(t, err)
	if len(runs) != 1 || len(runs[0]) != 2 {
		t.Fatalf("runs = %v, want one of two", runs)
	}
	for _, c := range runs[0] {
		if c.Attempt != 1 {
			t.Errorf("%s: Attempt = %d, want 1", c.RecordID, c.Attempt)
		}
	}
	// A retried follower keeps its place behind the head; when the head is
	// done it is the head, due at its retry time.
	must(t, s.Retry(ctx, a2.ID, time.Now().Add(time.Hour), "boom"))
	must(t, s.Complete(ctx, a1.ID))
	if got := runIDs(t, s, 10, 5); len(got) != 0 {
		t.Fatalf("claimed %v before the retry time", got)
	}
}

func testQueueRelease(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, a2, a3 := change("account:a", "a1"), change("account:a", "a2"), change("account:a", "a3")
	enqueue(t, s, a1, a2, a3)
	runs, err := s.ClaimRuns(ctx, 1, 3, time.Hour)
	must(t, err)
	if len(runs) != 1 || len(runs[0]) != 3 {
		t.Fatalf("runs = %v, want one of three", runs)
	}
	// The head is done; the rest goes back unattempted and is claimable
	// at once, lease or not.
	must(t, s.Complete(ctx, a1.ID))
	must(t, s.Release(ctx, a2.ID, a3.ID, 999999))
	runs, err = s.ClaimRuns(ctx, 1, 3, time.Hour)
	must(t, err)
	if len(runs) != 1 {
		t.Fatalf("after release: runs = %v", runs)
	}
	if d := cmp.Diff([]string{"a2", "a3"}, records(runs[0])); d != "" {
		t.Fatalf("after release (-want +got):\n%s", d)
	}
	for _, c := range runs[0] {
		if c.Attempt != 1 {
			t.Errorf("%s: Attempt = %d after a release and a claim, want 1", c.RecordID, c.Attempt)
		}
	}
	// Releasing what is not claimed changes nothing.
	must(t, s.Release(ctx))
	must(t, s.Complete(ctx, a2.ID))
	must(t, s.Release(ctx, a2.ID))
}
