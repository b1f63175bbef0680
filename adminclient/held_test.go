package adminclient_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/httpserver"
	"github.com/billsync/billsync/mock"
)

// The client lists, shows, approves and discards held runs through the
// server; decisions carry the token's name and a second one is ECONFLICT.
func TestHeldRuns(t *testing.T) {
	ctx := context.Background()
	st := &mock.Store{Now: func() time.Time { return testNow }}
	var ids []int64
	for _, n := range []int{2, 1} {
		var changes []*billsync.Change
		for i := range n {
			changes = append(changes, &billsync.Change{Partition: "sfrecord:a01", Source: billsync.SideSalesforce, Object: billsync.ObjectBalance,
				Op: billsync.OpResync, RecordID: "a01", EventID: "resync:rs_1:balance:a01:" + string(rune('a'+len(ids))) + string(rune('0'+i))})
		}
		r := &billsync.HeldRun{Kind: billsync.HeldKindResync, Job: "rs_1", Object: billsync.ObjectBalance,
			Guard: billsync.GuardCheck{Object: billsync.ObjectBalance, Total: 4, Deletes: n, Held: true}}
		if err := st.HoldRun(ctx, r, changes); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	srv, err := httpserver.New(httpserver.Config{Webhooks: refuseAll{}, Queue: st, Settings: st, Logs: st, DeadLetters: st, Conflicts: st, Held: st,
		AdminTokens: map[string]string{"s3cret-token": "alice"}, Clock: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	c := adminclient.New(ts.URL, "s3cret-token", nil)

	runs, err := c.HeldRuns(ctx, billsync.HeldRunFilter{State: billsync.HeldPending})
	if err != nil || len(runs) != 2 || runs[0].ID != ids[1] || runs[1].Guard.Deletes != 2 {
		t.Fatalf("HeldRuns %+v, %v", runs, err)
	}
	r, err := c.HeldRun(ctx, ids[0])
	if err != nil || r.Changes != 2 {
		t.Fatalf("HeldRun %+v, %v", r, err)
	}
	if r, err = c.ApproveHeldRun(ctx, ids[0]); err != nil || r.State != billsync.HeldApproved || r.DecidedBy != "alice" || len(st.Queued()) != 2 {
		t.Fatalf("approve %+v, %v, queued %d", r, err, len(st.Queued()))
	}
	if _, err := c.ApproveHeldRun(ctx, ids[0]); billsync.ErrorCode(err) != billsync.ECONFLICT {
		t.Fatalf("second approval: %v", err)
	}
	if r, err = c.DiscardHeldRun(ctx, ids[1]); err != nil || r.State != billsync.HeldDiscarded || len(st.Queued()) != 2 {
		t.Fatalf("discard %+v, %v", r, err)
	}
	if _, err := c.HeldRun(ctx, 99); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := c.DiscardHeldRun(ctx, 0); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Fatalf("id 0: %v", err)
	}
}
