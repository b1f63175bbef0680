package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

func seedConflicts(t *testing.T, st *mock.Store) {
	t.Helper()
	for i, c := range []billsync.Conflict{
		{Object: billsync.ObjectAccount, BillingID: "acc_1", SalesforceID: "001A", Status: billsync.ConflictResolved, Policy: "latest-wins", Winner: billsync.SideBilling},
		{Object: billsync.ObjectAccount, BillingID: "acc_2", SalesforceID: "001B", Status: billsync.ConflictHeld, Policy: "manual"},
		{Object: billsync.ObjectBalance, BillingID: "bal_1", SalesforceID: "a01C", Status: billsync.ConflictHeld, Policy: "manual"},
		{Object: billsync.ObjectAccount, BillingID: "acc_1", SalesforceID: "001A", Status: billsync.ConflictHeld, Policy: "manual",
			Fields: []billsync.ConflictField{{Field: "name", Agreed: "Acme", Billing: "Acme Ltd", Salesforce: "ACME"}}},
	} {
		c.Time = testNow.Add(time.Duration(i) * time.Minute)
		if err := st.AddConflict(context.Background(), &c); err != nil {
			t.Fatal(err)
		}
	}
}

type conflictsPage struct {
	Conflicts  []billsync.Conflict `json:"conflicts"`
	NextCursor *string             `json:"nextCursor"`
}

func ids(cs []billsync.Conflict) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestConflictsList(t *testing.T) {
	h := newHarness(t)

	var empty conflictsPage
	res := h.do("GET", "/api/v1/conflicts", opsToken, nil, nil)
	res.json(t, &empty)
	if res.status != 200 || empty.Conflicts == nil || empty.NextCursor != nil || !strings.Contains(string(res.body), `"conflicts":[]`) {
		t.Fatalf("empty list: %d %s", res.status, res.body)
	}

	seedConflicts(t, h.store)
	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"", []int64{4, 3, 2, 1}},
		{"?status=held", []int64{4, 3, 2}},
		{"?status=resolved", []int64{1}},
		{"?object=account&status=held", []int64{4, 2}},
		{"?record=001A", []int64{4, 1}},
		{"?record=acc_1&status=held", []int64{4}},
	} {
		var page conflictsPage
		res := h.do("GET", "/api/v1/conflicts"+tc.query, opsToken, nil, nil)
		if res.status != 200 {
			t.Fatalf("%s: %d %s", tc.query, res.status, res.body)
		}
		res.json(t, &page)
		if diff := cmp.Diff(tc.want, ids(page.Conflicts)); diff != "" {
			t.Errorf("%s: ids (-want +got):\n%s", tc.query, diff)
		}
	}

	// Paging: two per page, following the cursor to the end.
	var got []int64
	path := "/api/v1/conflicts?limit=2"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("cursor never ends")
		}
		var page conflictsPage
		h.do("GET", path, opsToken, nil, nil).json(t, &page)
		got = append(got, ids(page.Conflicts)...)
		if page.NextCursor == nil {
			break
		}
		path = "/api/v1/conflicts?limit=2&cursor=" + *page.NextCursor
	}
	if diff := cmp.Diff([]int64{4, 3, 2, 1}, got); diff != "" {
		t.Errorf("paged ids (-want +got):\n%s", diff)
	}

	// The conflict keeps both sides' values on the wire.
	var page conflictsPage
	h.do("GET", "/api/v1/conflicts?limit=1", opsToken, nil, nil).json(t, &page)
	want := []billsync.ConflictField{{Field: "name", Agreed: "Acme", Billing: "Acme Ltd", Salesforce: "ACME"}}
	if diff := cmp.Diff(want, page.Conflicts[0].Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestConflictsListRefusesBadFilters(t *testing.T) {
	h := newHarness(t)
	for _, q := range []string{
		"?status=open",
		"?object=invoice",
		"?limit=0",
		"?limit=1001",
		"?limit=ten",
		"?record=" + strings.Repeat("x", 256),
	} {
		res := h.do("GET", "/api/v1/conflicts"+q, opsToken, nil, nil)
		if res.status != http.StatusBadRequest {
			t.Errorf("%.40s: %d, want 400: %s", q, res.status, res.body)
			continue
		}
		if e := res.errorOf(t); e.Code != billsync.EINVALID {
			t.Errorf("%.40s: code %q", q, e.Code)
		}
	}
	if res := h.do("GET", "/api/v1/conflicts", "", nil, nil); res.status != http.StatusUnauthorized {
		t.Errorf("no token: %d", res.status)
	}
}

func TestConflictShow(t *testing.T) {
	h := newHarness(t)
	seedConflicts(t, h.store)
	var c billsync.Conflict
	res := h.do("GET", "/api/v1/conflicts/3", opsToken, nil, nil)
	res.json(t, &c)
	if res.status != 200 || c.ID != 3 || c.BillingID != "bal_1" || c.Status != billsync.ConflictHeld {
		t.Fatalf("show: %d %s", res.status, res.body)
	}
	for path, want := range map[string]int{
		"/api/v1/conflicts/99":  404,
		"/api/v1/conflicts/0":   400,
		"/api/v1/conflicts/-1":  400,
		"/api/v1/conflicts/abc": 400,
	} {
		if res := h.do("GET", path, opsToken, nil, nil); res.status != want {
			t.Errorf("%s: %d, want %d: %s", path, res.status, want, res.body)
		}
	}
	if res := h.do("GET", "/api/v1/conflicts/3", "wrong", nil, nil); res.status != http.StatusUnauthorized {
		t.Errorf("bad token: %d", res.status)
	}
}

func TestConflictResolve(t *testing.T) {
	// The resolver resolves through the store, as the engine resolves
	// through the real one, and remembers who asked.
	var mu sync.Mutex
	var calls []string
	callLog := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(calls)
	}
	var h *harness
	resolver := &mock.ConflictResolver{ResolveConflictFn: func(ctx context.Context, id int64, winner billsync.Side, actor string) (*billsync.Conflict, error) {
		mu.Lock()
		calls = append(calls, fmt.Sprintf("%d %s %s", id, winner, actor))
		mu.Unlock()
		return h.store.ResolveConflict(ctx, id, winner, actor, testNow)
	}}
	h = newHarness(t, func(c *Config) { c.Resolver = resolver })
	seedConflicts(t, h.store)

	var c billsync.Conflict
	res := h.do("POST", "/api/v1/conflicts/2/resolve", robotToken, []byte(`{"winner":"salesforce"}`), nil)
	if res.status != 200 {
		t.Fatalf("resolve: %d %s", res.status, res.body)
	}
	res.json(t, &c)
	if c.ID != 2 || c.Status != billsync.ConflictResolved || c.Winner != billsync.SideSalesforce || c.ResolvedBy != "robot" {
		t.Errorf("resolved conflict: %+v", c)
	}
	// The actor is the token's name, never the token.
	if diff := cmp.Diff([]string{"2 salesforce robot"}, callLog()); diff != "" {
		t.Errorf("resolver calls (-want +got):\n%s", diff)
	}
	if h.enqueued.Load() != 1 {
		t.Error("a resolution did not wake the workers")
	}

	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"already resolved", "/api/v1/conflicts/2/resolve", `{"winner":"billing"}`, 409, billsync.ECONFLICT},
		{"resolved by policy", "/api/v1/conflicts/1/resolve", `{"winner":"billing"}`, 409, billsync.ECONFLICT},
		{"no such conflict", "/api/v1/conflicts/99/resolve", `{"winner":"billing"}`, 404, billsync.ENOTFOUND},
		{"bad winner", "/api/v1/conflicts/3/resolve", `{"winner":"both"}`, 400, billsync.EINVALID},
		{"winner missing", "/api/v1/conflicts/3/resolve", `{}`, 400, billsync.EINVALID},
		{"winner in the wrong case", "/api/v1/conflicts/3/resolve", `{"winner":"Billing"}`, 400, billsync.EINVALID},
		{"unknown field", "/api/v1/conflicts/3/resolve", `{"winner":"billing","force":true}`, 400, billsync.EINVALID},
		{"empty body", "/api/v1/conflicts/3/resolve", ``, 400, billsync.EINVALID},
		{"malformed", "/api/v1/conflicts/3/resolve", `{"winner":`, 400, billsync.EINVALID},
		{"bad id", "/api/v1/conflicts/x/resolve", `{"winner":"billing"}`, 400, billsync.EINVALID},
	} {
		res := h.do("POST", tc.path, opsToken, []byte(tc.body), nil)
		if res.status != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.name, res.status, tc.status, res.body)
			continue
		}
		if e := res.errorOf(t); e.Code != tc.code {
			t.Errorf("%s: code %q, want %q", tc.name, e.Code, tc.code)
		}
	}
	if h.enqueued.Load() != 1 {
		t.Error("a refused resolution woke the workers")
	}
	// Only valid requests reach the engine.
	if calls := callLog(); len(calls) != 4 {
		t.Errorf("resolver called %d times, want 4: %v", len(calls), calls)
	}

	if res := h.do("POST", "/api/v1/conflicts/3/resolve", "", []byte(`{"winner":"billing"}`), nil); res.status != 401 {
		t.Errorf("no token: %d", res.status)
	}
	if res := h.do("GET", "/api/v1/conflicts/3/resolve", opsToken, nil, nil); res.status != 404 && res.status != 405 {
		t.Errorf("GET resolve: %d", res.status)
	}

	// An engine failure is a 503 or a 500 that says nothing of its cause.
	fail := func(err error) func(context.Context, int64, billsync.Side, string) (*billsync.Conflict, error) {
		return func(context.Context, int64, billsync.Side, string) (*billsync.Conflict, error) { return nil, err }
	}
	resolver.ResolveConflictFn = fail(billsync.Errorf(billsync.EUNAVAILABLE, "queue is closed"))
	if res := h.do("POST", "/api/v1/conflicts/3/resolve", opsToken, []byte(`{"winner":"billing"}`), nil); res.status != 503 {
		t.Errorf("unavailable engine: %d %s", res.status, res.body)
	}
	resolver.ResolveConflictFn = fail(errors.New("pq: relation secret_table does not exist"))
	res = h.do("POST", "/api/v1/conflicts/3/resolve", opsToken, []byte(`{"winner":"billing"}`), nil)
	if res.status != 500 || strings.Contains(string(res.body), "secret_table") {
		t.Errorf("internal failure: %d %s", res.status, res.body)
	}
}

func TestConflictResolveWithoutResolver(t *testing.T) {
	h := newHarness(t)
	seedConflicts(t, h.store)
	res := h.do("POST", "/api/v1/conflicts/2/resolve", opsToken, []byte(`{"winner":"billing"}`), nil)
	if res.status != http.StatusServiceUnavailable {
		t.Fatalf("%d %s", res.status, res.body)
	}
	if e := res.errorOf(t); e.Code != billsync.EUNAVAILABLE {
		t.Errorf("code %q", e.Code)
	}
	if c, _ := h.store.Conflict(context.Background(), 2); c.Status != billsync.ConflictHeld {
		t.Error("conflict changed without a resolver")
	}
	// Listing needs only the store.
	if res := h.do("GET", "/api/v1/conflicts/2", opsToken, nil, nil); res.status != 200 {
		t.Errorf("show without a resolver: %d", res.status)
	}
}

func TestResync(t *testing.T) {
	// The engine's side keeps reports in memory, numbered rs-1, rs-2…
	var mu sync.Mutex
	var reqs []billsync.ResyncRequest
	reports := map[string]*billsync.ResyncReport{}
	rs := &mock.Resyncer{
		StartResyncFn: func(ctx context.Context, req billsync.ResyncRequest) (*billsync.ResyncReport, error) {
			mu.Lock()
			defer mu.Unlock()
			reqs = append(reqs, req)
			rep := &billsync.ResyncReport{ID: fmt.Sprintf("rs-%d", len(reqs)), Request: req, State: "running", Started: testNow}
			reports[rep.ID] = rep
			out := *rep
			return &out, nil
		},
		ResyncFn: func(ctx context.Context, id string) (*billsync.ResyncReport, error) {
			mu.Lock()
			defer mu.Unlock()
			rep, ok := reports[id]
			if !ok {
				return nil, billsync.Errorf(billsync.ENOTFOUND, "no resync %q", id)
			}
			out := *rep
			return &out, nil
		},
	}
	h := newHarness(t, func(c *Config) { c.Resyncer = rs })

	res := h.do("POST", "/api/v1/resync", opsToken, []byte(`{"object":"account","record":"acc_1","dryRun":true}`), nil)
	if res.status != http.StatusAccepted {
		t.Fatalf("start: %d %s", res.status, res.body)
	}
	var rep billsync.ResyncReport
	res.json(t, &rep)
	want := billsync.ResyncRequest{Object: billsync.ObjectAccount, Record: "acc_1", DryRun: true}
	if rep.ID != "rs-1" || rep.State != "running" || rep.Request != want {
		t.Errorf("report: %+v", rep)
	}
	if loc := res.header.Get("Location"); loc != "/api/v1/resync/rs-1" {
		t.Errorf("Location %q", loc)
	}
	if !strings.Contains(string(res.body), `"diffs":[]`) {
		t.Errorf("no diffs should be [], got %s", res.body)
	}

	// Everything, as a first load.
	if res := h.do("POST", "/api/v1/resync", opsToken, []byte(`{"initial":true}`), nil); res.status != 202 {
		t.Fatalf("start all: %d %s", res.status, res.body)
	}
	mu.Lock()
	if diff := cmp.Diff([]billsync.ResyncRequest{want, {Initial: true}}, reqs); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	// Progress is read back by id.
	r := reports["rs-1"]
	r.State, r.Total, r.Compared, r.Differences = "done", 10, 10, 1
	r.Diffs = []billsync.ResyncDiff{{Object: billsync.ObjectAccount, BillingID: "acc_1", SalesforceID: "001A", Kind: billsync.DiffFields, Fields: []string{"name"}, Action: "would update Salesforce"}}
	mu.Unlock()
	var got billsync.ResyncReport
	res = h.do("GET", "/api/v1/resync/rs-1", opsToken, nil, nil)
	if res.status != 200 {
		t.Fatalf("get: %d %s", res.status, res.body)
	}
	res.json(t, &got)
	if got.State != "done" || got.Compared != 10 || len(got.Diffs) != 1 || got.Diffs[0].Fields[0] != "name" {
		t.Errorf("report read back: %+v", got)
	}
	if res := h.do("GET", "/api/v1/resync/rs-9", opsToken, nil, nil); res.status != 404 {
		t.Errorf("unknown resync: %d", res.status)
	}
	if res := h.do("GET", "/api/v1/resync/"+strings.Repeat("a", 129), opsToken, nil, nil); res.status != 400 {
		t.Errorf("overlong id: %d", res.status)
	}
}

func TestResyncRefusesBadRequests(t *testing.T) {
	var started atomic.Int32
	rs := &mock.Resyncer{StartResyncFn: func(context.Context, billsync.ResyncRequest) (*billsync.ResyncReport, error) {
		started.Add(1)
		return &billsync.ResyncReport{ID: "rs-1", State: "running"}, nil
	}}
	h := newHarness(t, func(c *Config) { c.Resyncer = rs })
	for _, tc := range []struct{ name, body, reason string }{
		{"record without object", `{"record":"acc_1"}`, "object type"},
		{"unknown object", `{"object":"invoice"}`, "unknown object type"},
		{"unknown field", `{"object":"account","dry_run":true}`, "unknown field"},
		{"empty body", ``, "empty"},
		{"not an object", `[]`, "malformed"},
		{"overlong record", `{"object":"account","record":"` + strings.Repeat("x", 256) + `"}`, "at most"},
		{"padded record", `{"object":"account","record":" acc_1"}`, "spaces"},
	} {
		res := h.do("POST", "/api/v1/resync", opsToken, []byte(tc.body), nil)
		if res.status != 400 {
			t.Errorf("%s: %d, want 400: %s", tc.name, res.status, res.body)
			continue
		}
		if e := res.errorOf(t); e.Code != billsync.EINVALID || !strings.Contains(e.Message, tc.reason) {
			t.Errorf("%s: %+v, want a message with %q", tc.name, e, tc.reason)
		}
	}
	if n := started.Load(); n != 0 {
		t.Errorf("%d refused requests reached the resyncer", n)
	}
	if res := h.do("POST", "/api/v1/resync", "", []byte(`{}`), nil); res.status != 401 {
		t.Errorf("no token: %d", res.status)
	}

	// One already running: the engine's ECONFLICT is a 409.
	rs.StartResyncFn = func(context.Context, billsync.ResyncRequest) (*billsync.ResyncReport, error) {
		return nil, billsync.Errorf(billsync.ECONFLICT, "a resync is already running")
	}
	res := h.do("POST", "/api/v1/resync", opsToken, []byte(`{}`), nil)
	if res.status != 409 || res.errorOf(t).Message != "a resync is already running" {
		t.Errorf("busy: %d %s", res.status, res.body)
	}
}

func TestResyncWithoutResyncer(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/v1/resync", `{"object":"account"}`},
		{"GET", "/api/v1/resync/rs-1", ``},
	} {
		res := h.do(tc.method, tc.path, opsToken, []byte(tc.body), nil)
		if res.status != 503 || res.errorOf(t).Code != billsync.EUNAVAILABLE {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, res.status, res.body)
		}
	}
}
