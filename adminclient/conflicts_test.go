package adminclient_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/httpserver"
	"github.com/billsync/billsync/mock"
)

func setupConflicts(t *testing.T, withEngine bool) (*mock.Store, *adminclient.Client) {
	t.Helper()
	st := &mock.Store{Now: func() time.Time { return testNow }}
	for i, c := range []billsync.Conflict{ // ids 1 to 3
		{Object: billsync.ObjectAccount, BillingID: "acc_1", SalesforceID: "001A", Status: billsync.ConflictResolved, Winner: billsync.SideBilling},
		{Object: billsync.ObjectBalance, BillingID: "bal_1", SalesforceID: "a01B", Status: billsync.ConflictHeld},
		{Object: billsync.ObjectAccount, BillingID: "acc_2", SalesforceID: "001C", Status: billsync.ConflictHeld,
			Fields: []billsync.ConflictField{{Field: "name", Agreed: "A", Billing: "B", Salesforce: "C"}}},
	} {
		c.Time = testNow.Add(time.Duration(i) * time.Minute)
		if err := st.AddConflict(context.Background(), &c); err != nil {
			t.Fatal(err)
		}
	}
	cfg := httpserver.Config{
		Webhooks: refuseAll{}, Queue: st,
		Settings: st, Logs: st, DeadLetters: st, Conflicts: st,
		AdminTokens: map[string]string{"s3cret-token": "alice"},
		Clock:       func() time.Time { return testNow },
	}
	if withEngine {
		// The engine's part: resolve in the store; a resync is done by
		// the time it is asked about.
		cfg.Resolver = &mock.ConflictResolver{ResolveConflictFn: func(ctx context.Context, id int64, winner billsync.Side, actor string) (*billsync.Conflict, error) {
			return st.ResolveConflict(ctx, id, winner, actor, testNow)
		}}
		var mu sync.Mutex
		reports := map[string]billsync.ResyncReport{}
		cfg.Resyncer = &mock.Resyncer{
			StartResyncFn: func(_ context.Context, req billsync.ResyncRequest) (*billsync.ResyncReport, error) {
				mu.Lock()
				defer mu.Unlock()
				rep := billsync.ResyncReport{ID: fmt.Sprintf("rs/%d", len(reports)+1), Request: req, State: "running", Started: testNow}
				reports[rep.ID] = rep
				return &rep, nil
			},
			ResyncFn: func(_ context.Context, id string) (*billsync.ResyncReport, error) {
				mu.Lock()
				defer mu.Unlock()
				rep, ok := reports[id]
				if !ok {
					return nil, billsync.Errorf(billsync.ENOTFOUND, "no resync %q", id)
				}
				rep.State, rep.Total, rep.Compared, rep.Finished = "done", 3, 3, testNow.Add(time.Second)
				rep.Diffs = []billsync.ResyncDiff{{Object: billsync.ObjectAccount, BillingID: "acc_1", Kind: billsync.DiffMissingInSalesforce, Action: "create in Salesforce"}}
				return &rep, nil
			},
		}
	}
	srv, err := httpserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return st, adminclient.New(ts.URL, "s3cret-token", nil)
}

func TestConflictsListAndShow(t *testing.T) {
	_, c := setupConflicts(t, true)
	ctx := context.Background()

	var ids []int64
	f := billsync.ConflictFilter{Limit: 2}
	for range 4 {
		page, next, err := c.Conflicts(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page {
			ids = append(ids, x.ID)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	if diff := cmp.Diff([]int64{3, 2, 1}, ids); diff != "" {
		t.Errorf("all, newest first (-want +got):\n%s", diff)
	}

	held, next, err := c.Conflicts(ctx, billsync.ConflictFilter{Status: billsync.ConflictHeld, Object: billsync.ObjectAccount})
	if err != nil || next != "" || len(held) != 1 || held[0].BillingID != "acc_2" {
		t.Errorf("held accounts: %+v %q %v", held, next, err)
	}
	byRecord, _, err := c.Conflicts(ctx, billsync.ConflictFilter{Record: "a01B"})
	if err != nil || len(byRecord) != 1 || byRecord[0].ID != 2 {
		t.Errorf("by Salesforce id: %+v %v", byRecord, err)
	}
	if _, _, err := c.Conflicts(ctx, billsync.ConflictFilter{Status: "open"}); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("bad status: %v", err)
	}

	one, err := c.Conflict(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []billsync.ConflictField{{Field: "name", Agreed: "A", Billing: "B", Salesforce: "C"}}
	if diff := cmp.Diff(want, one.Fields); diff != "" || !one.Time.Equal(testNow.Add(2*time.Minute)) {
		t.Errorf("conflict 3: %+v (-want +got fields):\n%s", one, diff)
	}
	if _, err := c.Conflict(ctx, 42); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("missing: %v", err)
	}
	if _, err := c.Conflict(ctx, 0); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("id 0: %v", err)
	}
}

func TestResolveConflict(t *testing.T) {
	st, c := setupConflicts(t, true)
	ctx := context.Background()

	got, err := c.ResolveConflict(ctx, 2, billsync.SideSalesforce)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != billsync.ConflictResolved || got.Winner != billsync.SideSalesforce || got.ResolvedBy != "alice" {
		t.Errorf("resolved: %+v", got)
	}
	if stored, _ := st.Conflict(ctx, 2); stored.Status != billsync.ConflictResolved {
		t.Errorf("stored: %+v", stored)
	}
	if _, err := c.ResolveConflict(ctx, 2, billsync.SideBilling); billsync.ErrorCode(err) != billsync.ECONFLICT {
		t.Errorf("twice: %v", err)
	}
	if _, err := c.ResolveConflict(ctx, 9, billsync.SideBilling); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("missing: %v", err)
	}
	if _, err := c.ResolveConflict(ctx, 3, "both"); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("bad winner: %v", err)
	}

	_, noEngine := setupConflicts(t, false)
	if _, err := noEngine.ResolveConflict(ctx, 3, billsync.SideBilling); billsync.ErrorCode(err) != billsync.EUNAVAILABLE {
		t.Errorf("without an engine: %v", err)
	}
}

func TestResync(t *testing.T) {
	_, c := setupConflicts(t, true)
	ctx := context.Background()

	req := billsync.ResyncRequest{Object: billsync.ObjectAccount, Record: "acc_1", DryRun: true, Initial: true}
	started, err := c.StartResync(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if started.State != "running" || started.Request != req || started.ID != "rs/1" {
		t.Errorf("started: %+v", started)
	}
	// An id with a slash still reaches its one path segment.
	rep, err := c.Resync(ctx, started.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.State != "done" || rep.Compared != 3 || len(rep.Diffs) != 1 || rep.Diffs[0].Kind != billsync.DiffMissingInSalesforce {
		t.Errorf("report: %+v", rep)
	}
	if _, err := c.Resync(ctx, "nope"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("unknown: %v", err)
	}
	if _, err := c.Resync(ctx, ""); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("empty id: %v", err)
	}
	if _, err := c.StartResync(ctx, billsync.ResyncRequest{Record: "acc_1"}); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("record without object: %v", err)
	}

	_, noEngine := setupConflicts(t, false)
	if _, err := noEngine.StartResync(ctx, billsync.ResyncRequest{}); billsync.ErrorCode(err) != billsync.EUNAVAILABLE {
		t.Errorf("without an engine: %v", err)
	}
}

func TestResyncAnswerWithoutID(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"state":"running"}`))
	}))
	defer ts.Close()
	if _, err := adminclient.New(ts.URL, "t", nil).StartResync(context.Background(), billsync.ResyncRequest{}); billsync.ErrorCode(err) != billsync.EINTERNAL {
		t.Errorf("answer without id: %v", err)
	}
}
