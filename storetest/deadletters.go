package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// bury enqueues one change per record in partitions of their own, claims
// and buries each, and returns their ids.
func bury(t *testing.T, s billsync.Store, records ...string) []int64 {
	t.Helper()
	var ids []int64
	for _, r := range records {
		c := change("account:"+r, r)
		enqueue(t, s, c)
		claimOne(t, s, time.Hour)
		must(t, s.Bury(t.Context(), c.ID, "X", "failed for good"))
		ids = append(ids, c.ID)
	}
	return ids
}

func deadIDs(t *testing.T, s billsync.Store) []int64 {
	t.Helper()
	dead, err := s.DeadLetters(t.Context(), 100)
	must(t, err)
	var ids []int64
	for _, d := range dead {
		ids = append(ids, d.ID)
	}
	return ids
}

// Resurrect and Discard take several dead letters at once, all or none:
// an unknown id among them moves nothing and is named in the error.
func testDeadLettersAllOrNone(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	ids := bury(t, s, "d1", "d2", "d3", "d4")
	const unknown = 987654

	for name, call := range map[string]func() error{
		"resurrect": func() error { return s.Resurrect(ctx, ids[0], unknown, ids[1]) },
		"discard":   func() error { return s.Discard(ctx, "ops", ids[0], unknown) },
	} {
		err := call()
		wantCode(t, err, billsync.ENOTFOUND)
		if msg := billsync.ErrorMessage(err); !strings.Contains(msg, "987654") || strings.Contains(msg, "d1") {
			t.Errorf("%s: error %q does not name the unknown id alone", name, msg)
		}
		if got := deadIDs(t, s); len(got) != 4 {
			t.Fatalf("%s with an unknown id moved something: dead letters %v", name, got)
		}
	}
	if st, err := s.Stats(ctx); err != nil || st.Pending != 0 {
		t.Fatalf("queue after refused calls: %+v %v", st, err)
	}

	// Two back in the queue, the same id twice counting once.
	must(t, s.Resurrect(ctx, ids[1], ids[0], ids[1]))
	if got := deadIDs(t, s); len(got) != 2 || got[0] != ids[2] || got[1] != ids[3] {
		t.Fatalf("dead letters after resurrecting two: %v", got)
	}
	if st, err := s.Stats(ctx); err != nil || st.Pending != 2 {
		t.Fatalf("queue after resurrecting two: %+v %v", st, err)
	}

	// Discarded for good, logged under the actor, the event id still known.
	dead, err := s.DeadLetters(ctx, 100)
	must(t, err)
	must(t, s.Discard(ctx, "ops", ids[2], ids[3]))
	if got := deadIDs(t, s); len(got) != 0 {
		t.Fatalf("dead letters after discarding: %v", got)
	}
	logs, _, err := s.Logs(ctx, billsync.LogFilter{Outcome: billsync.OutcomeSkipped})
	must(t, err)
	if len(logs) != 2 {
		t.Fatalf("discard log entries = %+v", logs)
	}
	for _, e := range logs {
		if e.Reason != billsync.ReasonDiscarded || !strings.Contains(e.Message, "ops") || e.EventID == "" ||
			(e.BillingID != "d3" && e.BillingID != "d4") || e.Direction != billsync.ToSalesforce {
			t.Errorf("discard log entry = %+v", e)
		}
	}
	again := dead[0].Change
	dup, err := s.Enqueue(ctx, &again)
	must(t, err)
	if !dup[0] {
		t.Error("the event id of a discarded dead letter was forgotten: a redelivery would be applied")
	}
	wantCode(t, s.Discard(ctx, "ops", ids[2]), billsync.ENOTFOUND)
	must(t, s.Resurrect(ctx))
	must(t, s.Discard(ctx, "ops"))
}
