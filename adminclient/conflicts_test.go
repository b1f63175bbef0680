package adminclient_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/httpserver"
)

// conflictStore adds conflicts to memStore.
type conflictStore struct {
	*memStore
	cmu       sync.Mutex
	conflicts []billsync.Conflict // ascending id
}

func (s *conflictStore) Conflicts(_ context.Context, f billsync.ConflictFilter) ([]billsync.Conflict, string, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	before := int64(1 << 62)
	if f.Cursor != "" {
		n, err := strconv.ParseInt(f.Cursor, 10, 64)
		if err != nil {
			return nil, "", billsync.Errorf(billsync.EINVALID, "bad cursor")
		}
		before = n
	}
	var out []billsync.Conflict
	for i := len(s.conflicts) - 1; i >= 0; i-- {
		c := s.conflicts[i]
		if c.ID >= before || (f.Status != "" && c.Status != f.Status) || (f.Object != "" && c.Object != f.Object) ||
			(f.Record != "" && c.BillingID != f.Record && c.SalesforceID != f.Record) {
			continue
		}
		if len(out) == f.Limit {
			return out, strconv.FormatInt(out[len(out)-1].ID, 10), nil
		}
		out = append(out, c)
	}
	return out, "", nil
}

func (s *conflictStore) Conflict(_ context.Context, id int64) (*billsync.Conflict, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	for _, c := range s.conflicts {
		if c.ID == id {
			return &c, nil
		}
	}
	return nil, billsync.Errorf(billsync.ENOTFOUND, "no conflict %d", id)
}

// resolve plays the engine's part.
func (s *conflictStore) resolve(_ context.Context, id int64, winner billsync.Side, actor string) (*billsync.Conflict, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	for i := range s.conflicts {
		c := &s.conflicts[i]
		if c.ID != id {
			continue
		}
		if c.Status != billsync.ConflictHeld {
			return nil, billsync.Errorf(billsync.ECONFLICT, "conflict %d is not held", id)
		}
		c.Status, c.Winner, c.ResolvedBy, c.ResolvedAt = billsync.ConflictResolved, winner, actor, testNow
		out := *c
		return &out, nil
	}
	return nil, billsync.Errorf(billsync.ENOTFOUND, "no conflict %d", id)
}

// resolver adapts conflictStore to billsync.ConflictResolver, whose
// ResolveConflict has no time argument.
type resolver struct{ s *conflictStore }

func (r resolver) ResolveConflict(ctx context.Context, id int64, winner billsync.Side, actor string) (*billsync.Conflict, error) {
	return r.s.resolve(ctx, id, winner, actor)
}

type resyncer struct {
	mu      sync.Mutex
	reports map[string]billsync.ResyncReport
}

func (r *resyncer) StartResync(_ context.Context, req billsync.ResyncRequest) (*billsync.ResyncReport, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := billsync.ResyncReport{ID: fmt.Sprintf("rs/%d", len(r.reports)+1), Request: req, State: "running", Started: testNow}
	r.reports[rep.ID] = rep
	return &rep, nil
}

func (r *resyncer) Resync(_ context.Context, id string) (*billsync.ResyncReport, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep, ok := r.reports[id]
	if !ok {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no resync %q", id)
	}
	rep.State, rep.Total, rep.Compared, rep.Finished = "done", 3, 3, testNow.Add(time.Second)
	rep.Diffs = []billsync.ResyncDiff{{Object: billsync.ObjectAccount, BillingID: "acc_1", Kind: billsync.DiffMissingInSalesforce, Action: "create in Salesforce"}}
	return &rep, nil
}

func setupConflicts(t *testing.T, withEngine bool) (*conflictStore, *adminclient.Client) {
	t.Helper()
	st := &conflictStore{memStore: &memStore{settings: map[string]billsync.Setting{}}}
	for i, c := range []billsync.Conflict{
		{Object: billsync.ObjectAccount, BillingID: "acc_1", SalesforceID: "001A", Status: billsync.ConflictResolved, Winner: billsync.SideBilling},
		{Object: billsync.ObjectBalance, BillingID: "bal_1", SalesforceID: "a01B", Status: billsync.ConflictHeld},
		{Object: billsync.ObjectAccount, BillingID: "acc_2", SalesforceID: "001C", Status: billsync.ConflictHeld,
			Fields: []billsync.ConflictField{{Field: "name", Agreed: "A", Billing: "B", Salesforce: "C"}}},
	} {
		c.ID, c.Time = int64(i+1), testNow.Add(time.Duration(i)*time.Minute)
		st.conflicts = append(st.conflicts, c)
	}
	cfg := httpserver.Config{
		Webhooks: refuseAll{}, Queue: st,
		Settings: st, Logs: st, DeadLetters: st, Conflicts: st,
		AdminTokens: map[string]string{"s3cret-token": "alice"},
		Clock:       func() time.Time { return testNow },
	}
	if withEngine {
		cfg.Resolver = resolver{st}
		cfg.Resyncer = &resyncer{reports: map[string]billsync.ResyncReport{}}
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
