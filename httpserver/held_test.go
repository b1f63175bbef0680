package httpserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

// hold stores a held run of n resync repairs of balances.
func (h *harness) hold(n int) int64 {
	h.t.Helper()
	var changes []*billsync.Change
	for i := range n {
		h.seq++
		rec := fmt.Sprintf("a01%015d", h.seq)
		changes = append(changes, &billsync.Change{Partition: billsync.RecordPartition(rec), Source: billsync.SideSalesforce,
			Object: billsync.ObjectBalance, Op: billsync.OpResync, RecordID: rec, EventID: fmt.Sprintf("resync:rs_h:balance:%s:%d", rec, i)})
	}
	r := &billsync.HeldRun{Kind: billsync.HeldKindResync, Job: "rs_h", Object: billsync.ObjectBalance,
		Guard:  billsync.GuardCheck{Object: billsync.ObjectBalance, Total: 10, Deletes: n, Held: true},
		Sample: []billsync.HeldRecord{{Op: billsync.GuardDelete, BillingID: "bal_1", SalesforceID: "a01000000000000001", Action: "delete in Salesforce"}}}
	if err := h.store.HoldRun(context.Background(), r, changes); err != nil {
		h.t.Fatal(err)
	}
	return r.ID
}

// Held runs are listed to a read token with their counts and sample;
// approving needs an admin token, queues the held changes, wakes the
// workers and is audited under the token's name; a decided run answers
// 409; discarding queues nothing.
func TestHeldRuns(t *testing.T) {
	h := newHarness(t)
	a, b := h.hold(8), h.hold(3)

	var list struct{ HeldRuns []billsync.HeldRun }
	h.do("GET", "/api/v1/held?state=pending", readToken, nil, nil).json(t, &list)
	if len(list.HeldRuns) != 2 || list.HeldRuns[0].ID != b || list.HeldRuns[1].Guard.Deletes != 8 || len(list.HeldRuns[1].Sample) != 1 {
		t.Fatalf("list %+v", list)
	}
	var one billsync.HeldRun
	h.do("GET", fmt.Sprintf("/api/v1/held/%d", a), readToken, nil, nil).json(t, &one)
	if one.ID != a || one.State != billsync.HeldPending || one.Changes != 8 {
		t.Fatalf("run %+v", one)
	}
	if res := h.do("POST", fmt.Sprintf("/api/v1/held/%d/approve", a), readToken, nil, nil); res.status != http.StatusForbidden {
		t.Fatalf("read token approve: %d %s", res.status, res.body)
	}
	if len(h.store.Queued()) != 0 {
		t.Fatal("a read token's approval queued changes")
	}
	res := h.do("POST", fmt.Sprintf("/api/v1/held/%d/approve", a), opsToken, nil, nil)
	res.json(t, &one)
	if res.status != http.StatusOK || one.State != billsync.HeldApproved || one.DecidedBy != "ops" {
		t.Fatalf("approve: %d %s", res.status, res.body)
	}
	if len(h.store.Queued()) != 8 || h.enqueued.Load() != 1 {
		t.Fatalf("approval queued %d, woke %d", len(h.store.Queued()), h.enqueued.Load())
	}
	if res := h.do("POST", fmt.Sprintf("/api/v1/held/%d/discard", a), opsToken, nil, nil); res.status != http.StatusConflict {
		t.Fatalf("discarding an approved run: %d %s", res.status, res.body)
	}
	res = h.do("POST", fmt.Sprintf("/api/v1/held/%d/discard", b), robotToken, nil, nil)
	res.json(t, &one)
	if res.status != http.StatusOK || one.State != billsync.HeldDiscarded || one.DecidedBy != "robot" || len(h.store.Queued()) != 8 {
		t.Fatalf("discard: %d %s, queued %d", res.status, res.body, len(h.store.Queued()))
	}
	audit, err := h.store.Audit(context.Background(), 10)
	if err != nil || len(audit) != 2 || audit[0].Key != billsync.HeldAuditKey(b) || audit[1].Actor != "ops" {
		t.Fatalf("audit %+v, %v", audit, err)
	}
	if !strings.Contains(h.logs.String(), "held run approved") || !strings.Contains(h.logs.String(), "held run discarded") {
		t.Errorf("decisions not logged:\n%s", h.logs.String())
	}
	for path, want := range map[string]int{
		"/api/v1/held/99":          http.StatusNotFound,
		"/api/v1/held/x":           http.StatusBadRequest,
		"/api/v1/held?state=later": http.StatusBadRequest,
	} {
		if res := h.do("GET", path, readToken, nil, nil); res.status != want {
			t.Errorf("GET %s: %d %s, want %d", path, res.status, res.body, want)
		}
	}
}

// Without a held-run store the routes answer 503.
func TestHeldRunsUnavailable(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Held = nil })
	if res := h.do("GET", "/api/v1/held", readToken, nil, nil); res.status != http.StatusServiceUnavailable {
		t.Fatalf("GET: %d %s", res.status, res.body)
	}
}

// The pending held runs are a gauge to alert on, read from the store at
// each scrape.
func TestHeldRunsGauge(t *testing.T) {
	st := &mock.Store{Now: func() time.Time { return testNow }}
	m, err := NewMetrics(MetricsConfig{Registry: prometheus.NewRegistry(), Gauges: st})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) { c.Metrics = m; c.Held = st })
	h.store = st
	gauge := func() string {
		for _, line := range strings.Split(string(h.do("GET", "/metrics", "", nil, nil).body), "\n") {
			if strings.HasPrefix(line, "billsync_held_runs_pending ") {
				return line
			}
		}
		return "absent"
	}
	if g := gauge(); g != "billsync_held_runs_pending 0" {
		t.Fatalf("gauge %q", g)
	}
	id := h.hold(2)
	h.hold(1)
	if g := gauge(); g != "billsync_held_runs_pending 2" {
		t.Fatalf("gauge %q", g)
	}
	if res := h.do("POST", fmt.Sprintf("/api/v1/held/%d/discard", id), opsToken, nil, nil); res.status != http.StatusOK {
		t.Fatalf("discard: %d %s", res.status, res.body)
	}
	if g := gauge(); g != "billsync_held_runs_pending 1" {
		t.Fatalf("gauge after a discard %q", g)
	}
}
