package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/billsync/billsync"
)

// --- queue ------------------------------------------------------------

var eventSeq struct {
	sync.Mutex
	n int
}

// change returns a distinct change in partition p.
func change(p, record string) *billsync.Change {
	eventSeq.Lock()
	eventSeq.n++
	n := eventSeq.n
	eventSeq.Unlock()
	return &billsync.Change{
		Partition:  p,
		Source:     billsync.SideBilling,
		Object:     billsync.ObjectAccount,
		Op:         billsync.OpUpdated,
		RecordID:   record,
		EventID:    fmt.Sprintf("evt-%d-%s-%s", n, p, record),
		Payload:    json.RawMessage(`{"id":"` + record + `","amount":"12.50"}`),
		OccurredAt: time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC),
	}
}

func enqueue(t *testing.T, s billsync.Store, cs ...*billsync.Change) {
	t.Helper()
	dup, err := s.Enqueue(t.Context(), cs...)
	must(t, err)
	for i, d := range dup {
		if d {
			t.Fatalf("change %d (%s) reported duplicate", i, cs[i].EventID)
		}
	}
}

// claimIDs claims with a long lease and returns the record ids, in ID order.
func claimIDs(t *testing.T, s billsync.Store, max int) []string {
	t.Helper()
	got, err := s.Claim(t.Context(), max, time.Hour)
	must(t, err)
	return records(got)
}

func records(cs []billsync.Change) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.RecordID)
	}
	return out
}

func claimOne(t *testing.T, s billsync.Store, lease time.Duration) billsync.Change {
	t.Helper()
	got, err := s.Claim(t.Context(), 1, lease)
	must(t, err)
	if len(got) != 1 {
		t.Fatalf("Claim returned %d changes, want 1", len(got))
	}
	return got[0]
}

func testQueueEnqueueDedupe(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a, b, c := change("account:1", "r1"), change("account:1", "r2"), change("account:2", "r3")
	c.EventID = a.EventID
	before := time.Now().Add(-time.Minute)
	dup, err := s.Enqueue(ctx, a, b, c)
	must(t, err)
	if d := cmp.Diff([]bool{false, false, true}, dup); d != "" {
		t.Fatalf("dup (-want +got):\n%s", d)
	}
	if a.ID <= 0 || b.ID <= a.ID {
		t.Errorf("ids not ascending: %d, %d", a.ID, b.ID)
	}
	if a.EnqueuedAt.Before(before) {
		t.Errorf("EnqueuedAt = %v", a.EnqueuedAt)
	}

	again := *a
	again.ID = 0
	dup, err = s.Enqueue(ctx, &again)
	must(t, err)
	if !dup[0] {
		t.Error("re-enqueued event id not reported duplicate")
	}

	// Still a duplicate after its change is done: a webhook redelivered
	// after processing must not apply twice.
	got := claimOne(t, s, time.Hour)
	must(t, s.Complete(ctx, got.ID))
	dup, err = s.Enqueue(ctx, &again)
	must(t, err)
	if !dup[0] {
		t.Error("event id of a completed change not reported duplicate")
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Pending != 1 {
		t.Errorf("pending = %d, want 1 (only r2)", st.Pending)
	}

	dup, err = s.Enqueue(ctx)
	must(t, err)
	if len(dup) != 0 {
		t.Errorf("empty Enqueue: dup %v", dup)
	}
	_, err = s.Enqueue(ctx, &billsync.Change{EventID: "no-partition"})
	wantCode(t, err, billsync.EINVALID)
}

func testQueueRoundTrip(t *testing.T, s billsync.Store) {
	in := change("quote:q1", "q1")
	in.Source, in.Object, in.Op = billsync.SideSalesforce, billsync.ObjectQuote, billsync.OpDeleted
	enqueue(t, s, in)
	got := claimOne(t, s, time.Hour)
	want := *in
	want.Attempt = 1
	if got.Fence == 0 {
		t.Error("the claim handed out no fencing token")
	}
	want.Fence = got.Fence
	if d := cmp.Diff(want, got, equateTime); d != "" {
		t.Errorf("claimed change (-want +got):\n%s", d)
	}
	if got.EnqueuedAt.Location() != time.UTC || got.OccurredAt.Location() != time.UTC {
		t.Errorf("times not UTC: %v %v", got.EnqueuedAt, got.OccurredAt)
	}

	// No payload and no occurrence time survive as such.
	bare := change("quote:q2", "q2")
	bare.Payload, bare.OccurredAt = nil, time.Time{}
	enqueue(t, s, bare)
	got = claimOne(t, s, time.Hour)
	if got.Payload != nil || !got.OccurredAt.IsZero() {
		t.Errorf("bare change came back as %+v", got)
	}
}

func testQueuePartitionOrder(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, a2, a3, b1 := change("account:a", "a1"), change("account:a", "a2"), change("account:a", "a3"), change("account:b", "b1")
	enqueue(t, s, a1, a2)
	enqueue(t, s, b1, a3)

	if d := cmp.Diff([]string{"a1", "b1"}, claimIDs(t, s, 10)); d != "" {
		t.Fatalf("first claim (-want +got):\n%s", d)
	}
	// One change in flight per partition: nothing more until one finishes.
	if got := claimIDs(t, s, 10); len(got) != 0 {
		t.Fatalf("second claim got %v, want nothing", got)
	}
	must(t, s.Complete(ctx, a1.ID))
	if d := cmp.Diff([]string{"a2"}, claimIDs(t, s, 10)); d != "" {
		t.Fatalf("after completing a1 (-want +got):\n%s", d)
	}
	must(t, s.Complete(ctx, a2.ID))
	must(t, s.Complete(ctx, b1.ID))
	if d := cmp.Diff([]string{"a3"}, claimIDs(t, s, 10)); d != "" {
		t.Fatalf("after completing a2 (-want +got):\n%s", d)
	}
	must(t, s.Complete(ctx, a3.ID))
	if got := claimIDs(t, s, 10); len(got) != 0 {
		t.Fatalf("empty queue claimed %v", got)
	}
	if got, err := s.Claim(ctx, 0, time.Hour); err != nil || len(got) != 0 {
		t.Fatalf("Claim(0) = %v, %v", got, err)
	}
}

func testQueuePartitionsInParallel(t *testing.T, s billsync.Store) {
	var cs []*billsync.Change
	for p := range 5 {
		for i := range 3 {
			cs = append(cs, change(fmt.Sprintf("account:%d", p), fmt.Sprintf("p%d-%d", p, i)))
		}
	}
	enqueue(t, s, cs...)
	got := claimIDs(t, s, 3)
	if len(got) != 3 {
		t.Fatalf("Claim(3) = %v", got)
	}
	rest := claimIDs(t, s, 10)
	if d := cmp.Diff([]string{"p0-0", "p1-0", "p2-0", "p3-0", "p4-0"}, append(got, rest...), cmpopts.SortSlices(func(a, b string) bool { return a < b })); d != "" {
		t.Errorf("heads claimed (-want +got):\n%s", d)
	}
}

func testQueueRetryKeepsHead(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, a2, b1 := change("account:a", "a1"), change("account:a", "a2"), change("account:b", "b1")
	enqueue(t, s, a1, a2, b1)
	if d := cmp.Diff([]string{"a1", "b1"}, claimIDs(t, s, 10)); d != "" {
		t.Fatalf("claim (-want +got):\n%s", d)
	}
	// a1 waits an hour; a2 must wait behind it, b moves on.
	must(t, s.Retry(ctx, a1.ID, time.Now().Add(time.Hour), "UNABLE_TO_LOCK_ROW",
		billsync.LogEntry{Object: billsync.ObjectAccount, BillingID: "a1", Outcome: billsync.OutcomeRetrying}))
	must(t, s.Complete(ctx, b1.ID))
	if got := claimIDs(t, s, 10); len(got) != 0 {
		t.Fatalf("claimed %v while a1 waits for its retry time", got)
	}
	logs, _, err := s.Logs(ctx, billsync.LogFilter{Record: "a1"})
	must(t, err)
	if len(logs) != 1 || logs[0].Outcome != billsync.OutcomeRetrying {
		t.Errorf("retry log = %+v", logs)
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Pending != 2 || st.Running != 0 {
		t.Errorf("stats while waiting = %+v", st)
	}

	// Moving the retry time to now releases a1, still ahead of a2.
	must(t, s.Retry(ctx, a1.ID, time.Now().Add(-time.Second), "UNABLE_TO_LOCK_ROW"))
	got := claimOne(t, s, time.Hour)
	if got.ID != a1.ID || got.Attempt != 2 || got.LastError != "UNABLE_TO_LOCK_ROW" {
		t.Fatalf("claimed %+v, want a1 on attempt 2 with its last error", got)
	}
	// A retry time a moment ahead is honoured once it passes.
	must(t, s.Retry(ctx, a1.ID, time.Now().Add(300*time.Millisecond), "again"))
	deadline := time.Now().Add(waitFor)
	for {
		cs, err := s.Claim(ctx, 10, time.Hour)
		must(t, err)
		if len(cs) > 0 {
			if cs[0].ID != a1.ID || cs[0].Attempt != 3 || len(cs) != 1 {
				t.Fatalf("claimed %+v, want a1 on attempt 3", cs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a1 never became claimable after its retry time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(t, s.Complete(ctx, a1.ID))
	if d := cmp.Diff([]string{"a2"}, claimIDs(t, s, 10)); d != "" {
		t.Fatalf("after a1 (-want +got):\n%s", d)
	}
}

func testQueueLeaseExpiry(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, a2 := change("account:a", "a1"), change("account:a", "a2")
	enqueue(t, s, a1, a2)
	first := claimOne(t, s, 200*time.Millisecond)
	if first.ID != a1.ID || first.Attempt != 1 {
		t.Fatalf("claimed %+v", first)
	}
	// The worker "crashes": its lease runs out and a1 is claimed again,
	// before a2.
	deadline := time.Now().Add(waitFor)
	for {
		cs, err := s.Claim(ctx, 10, time.Hour)
		must(t, err)
		if len(cs) > 0 {
			if len(cs) != 1 || cs[0].ID != a1.ID || cs[0].Attempt != 2 {
				t.Fatalf("re-claimed %+v, want a1 on attempt 2", cs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("abandoned change never re-claimed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Running != 1 || st.Pending != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func testQueueBuryResurrect(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, a2, a3 := change("account:a", "a1"), change("account:a", "a2"), change("account:a", "a3")
	enqueue(t, s, a1, a2)
	claimOne(t, s, time.Hour)
	before := time.Now().Add(-time.Minute)
	must(t, s.Bury(ctx, a1.ID, "INVALID_FIELD", "No such column 'Foo__c'",
		billsync.LogEntry{Object: billsync.ObjectAccount, BillingID: "a1", Outcome: billsync.OutcomeDead, Reason: billsync.ReasonRemoteError}))

	// The partition moves on.
	got := claimOne(t, s, time.Hour)
	if got.ID != a2.ID {
		t.Fatalf("after burying a1 claimed %+v, want a2", got)
	}
	dead, err := s.DeadLetters(ctx, 0)
	must(t, err)
	if len(dead) != 1 {
		t.Fatalf("dead letters = %+v", dead)
	}
	d := dead[0]
	wantChange := *a1
	wantChange.Attempt = 1
	if diff := cmp.Diff(wantChange, d.Change, equateTime); diff != "" {
		t.Errorf("dead letter change (-want +got):\n%s", diff)
	}
	if d.ErrorCode != "INVALID_FIELD" || d.Error != "No such column 'Foo__c'" || d.DeadAt.Before(before) {
		t.Errorf("dead letter = %+v", d)
	}
	logs, _, err := s.Logs(ctx, billsync.LogFilter{Outcome: billsync.OutcomeDead})
	must(t, err)
	if len(logs) != 1 || logs[0].BillingID != "a1" {
		t.Errorf("bury log = %+v", logs)
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.DeadLetters != 1 {
		t.Errorf("stats = %+v", st)
	}

	// Resurrect goes to the tail of the partition, behind a3, with its
	// attempts reset and its event id kept.
	enqueue(t, s, a3)
	must(t, s.Resurrect(ctx, a1.ID))
	dead, err = s.DeadLetters(ctx, 10)
	must(t, err)
	if len(dead) != 0 {
		t.Errorf("dead letters after resurrect = %+v", dead)
	}
	must(t, s.Complete(ctx, a2.ID))
	if got := claimOne(t, s, time.Hour); got.ID != a3.ID {
		t.Fatalf("claimed %+v, want a3 before the resurrected a1", got)
	}
	must(t, s.Complete(ctx, a3.ID))
	back := claimOne(t, s, time.Hour)
	if back.RecordID != "a1" || back.EventID != a1.EventID || back.Attempt != 1 || back.ID <= a3.ID || back.LastError != "" {
		t.Errorf("resurrected change = %+v", back)
	}
	if string(back.Payload) != string(a1.Payload) {
		t.Errorf("resurrected payload = %s", back.Payload)
	}
	// Its event id is still known.
	again := *a1
	dup, err := s.Enqueue(ctx, &again)
	must(t, err)
	if !dup[0] {
		t.Error("event id of a resurrected change not reported duplicate")
	}

	wantCode(t, s.Resurrect(ctx, a1.ID), billsync.ENOTFOUND)

	// Oldest first.
	must(t, s.Bury(ctx, back.ID, "X", "first"))
	b1 := change("account:b", "b1")
	enqueue(t, s, b1)
	claimOne(t, s, time.Hour)
	must(t, s.Bury(ctx, b1.ID, "Y", "second"))
	dead, err = s.DeadLetters(ctx, 10)
	must(t, err)
	if len(dead) != 2 || dead[0].Error != "first" || dead[1].Error != "second" {
		t.Errorf("dead letters = %+v", dead)
	}
	dead, err = s.DeadLetters(ctx, 1)
	must(t, err)
	if len(dead) != 1 {
		t.Errorf("DeadLetters(1) = %d", len(dead))
	}
}

func testQueueUnknownIDs(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	wantCode(t, s.Complete(ctx, 12345), billsync.ENOTFOUND)
	wantCode(t, s.Retry(ctx, 12345, time.Now(), "x"), billsync.ENOTFOUND)
	wantCode(t, s.Bury(ctx, 12345, "x", "y"), billsync.ENOTFOUND)
	wantCode(t, s.Resurrect(ctx, 12345), billsync.ENOTFOUND)

	// A worker whose lease ran out finishes after another worker did.
	c := change("account:a", "a1")
	enqueue(t, s, c)
	claimOne(t, s, time.Hour)
	must(t, s.Complete(ctx, c.ID))
	wantCode(t, s.Complete(ctx, c.ID), billsync.ENOTFOUND)
}

func testQueueCompleteAppendsLog(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	c := change("account:a", "a1")
	enqueue(t, s, c)
	claimOne(t, s, time.Hour)
	e1 := billsync.LogEntry{Object: billsync.ObjectAccount, BillingID: "a1", SalesforceID: "001A", Outcome: billsync.OutcomeSuccess, Operation: "upsert", ChangeID: c.ID, EventID: c.EventID}
	e2 := e1
	e2.Object, e2.BillingID, e2.Operation = billsync.ObjectBalance, "bal1", "create"
	must(t, s.Complete(ctx, c.ID, e1, e2))
	logs, _, err := s.Logs(ctx, billsync.LogFilter{})
	must(t, err)
	if len(logs) != 2 || logs[0].BillingID != "bal1" || logs[1].BillingID != "a1" || logs[1].ChangeID != c.ID || logs[1].EventID != c.EventID {
		t.Errorf("logs after Complete = %+v", logs)
	}
}

func testQueueStats(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	st, err := s.Stats(ctx)
	must(t, err)
	if st != (billsync.QueueStats{}) {
		t.Fatalf("empty stats = %+v", st)
	}
	a1, a2, b1, c1 := change("account:a", "a1"), change("account:a", "a2"), change("account:b", "b1"), change("account:c", "c1")
	enqueue(t, s, a1)
	enqueue(t, s, a2, b1, c1)
	claimIDs(t, s, 2) // a1, b1
	got, err := s.Claim(ctx, 1, time.Hour)
	must(t, err)
	must(t, s.Bury(ctx, got[0].ID, "E", "m"))
	st, err = s.Stats(ctx)
	must(t, err)
	if st.Pending != 1 || st.Running != 2 || st.DeadLetters != 1 {
		t.Errorf("stats = %+v, want 1 pending, 2 running, 1 dead", st)
	}
	if !st.OldestPending.Equal(a2.EnqueuedAt) {
		t.Errorf("OldestPending = %v, want a2's %v", st.OldestPending, a2.EnqueuedAt)
	}
}

// testQueueConcurrentClaimers runs workers that claim, check and complete
// changes at the same time: no change is handed out twice, no partition
// ever has two changes in flight, and each partition finishes in order.
func testQueueConcurrentClaimers(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	const partitions, perPartition, workers = 8, 25, 4
	var cs []*billsync.Change
	for i := range perPartition {
		for p := range partitions {
			cs = append(cs, change(fmt.Sprintf("account:%d", p), fmt.Sprintf("%d/%03d", p, i)))
		}
	}
	for i := 0; i < len(cs); i += 50 {
		enqueue(t, s, cs[i:min(i+50, len(cs))]...)
	}

	var (
		mu       sync.Mutex
		inFlight = map[string]int64{}
		done     = map[int64]int{}
		order    = map[string][]int64{}
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	deadline := time.Now().Add(waitFor)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				got, err := s.Claim(ctx, 3, time.Minute)
				if err != nil {
					fail("worker %d: claim: %v", w, err)
					return
				}
				if len(got) == 0 {
					mu.Lock()
					finished := len(done) == len(cs)
					mu.Unlock()
					if finished {
						return
					}
					time.Sleep(time.Millisecond)
					continue
				}
				mu.Lock()
				for _, c := range got {
					if other, busy := inFlight[c.Partition]; busy {
						failures = append(failures, fmt.Sprintf("partition %s: %d claimed while %d in flight", c.Partition, c.ID, other))
					}
					inFlight[c.Partition] = c.ID
					order[c.Partition] = append(order[c.Partition], c.ID)
				}
				mu.Unlock()
				for _, c := range got {
					mu.Lock()
					delete(inFlight, c.Partition)
					done[c.ID]++
					mu.Unlock()
					if err := s.Complete(ctx, c.ID); err != nil {
						fail("worker %d: complete %d: %v", w, c.ID, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if len(done) != len(cs) {
		t.Fatalf("completed %d of %d changes before the deadline", len(done), len(cs))
	}
	for id, n := range done {
		if n != 1 {
			t.Errorf("change %d handed out %d times", id, n)
		}
	}
	for p, ids := range order {
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Errorf("partition %s out of order: %v", p, ids)
				break
			}
		}
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Pending != 0 || st.Running != 0 {
		t.Errorf("stats after draining = %+v", st)
	}
}
