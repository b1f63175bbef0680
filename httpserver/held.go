package httpserver

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/billsync/billsync"
)

// HeldRuns is what the held-run routes use of billsync.HeldRunStore:
// runs the mass-change guard held, listed and decided by an admin.
type HeldRuns interface {
	HeldRuns(ctx context.Context, f billsync.HeldRunFilter) ([]billsync.HeldRun, error)
	HeldRun(ctx context.Context, id int64) (*billsync.HeldRun, error)
	ApproveHeldRun(ctx context.Context, id int64, actor string) (*billsync.HeldRun, error)
	DiscardHeldRun(ctx context.Context, id int64, actor string) (*billsync.HeldRun, error)
}

// heldRoutes registers the held-run routes; GET reads (a read token
// does), POST decides (an admin token only, by the method).
func (s *Server) heldRoutes(api func(string, http.HandlerFunc)) {
	api("GET /api/v1/held", s.handleHeldRuns)
	api("GET /api/v1/held/{id}", s.handleHeldRun)
	api("POST /api/v1/held/{id}/approve", func(w http.ResponseWriter, r *http.Request) { s.handleDecideHeld(w, r, true) })
	api("POST /api/v1/held/{id}/discard", func(w http.ResponseWriter, r *http.Request) { s.handleDecideHeld(w, r, false) })
}

func (s *Server) heldStore() (HeldRuns, error) {
	if s.held == nil {
		return nil, billsync.Errorf(billsync.EUNAVAILABLE, "held runs are not available on this server")
	}
	return s.held, nil
}

// handleHeldRuns lists held runs newest first; ?state=pending|approved|
// discarded filters, ?limit bounds.
func (s *Server) handleHeldRuns(w http.ResponseWriter, r *http.Request) {
	st, err := s.heldStore()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, err := parseLimit(r.URL.Query().Get("limit"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	runs, err := st.HeldRuns(r.Context(), billsync.HeldRunFilter{State: r.URL.Query().Get("state"), Limit: limit})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if runs == nil {
		runs = []billsync.HeldRun{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"heldRuns": runs})
}

func heldID(r *http.Request) (int64, error) {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		return 0, billsync.Errorf(billsync.EINVALID, "held run id %q: want a positive whole number", raw)
	}
	return id, nil
}

func (s *Server) handleHeldRun(w http.ResponseWriter, r *http.Request) {
	st, err := s.heldStore()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := heldID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	run, err := st.HeldRun(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

// handleDecideHeld approves (queues exactly the held changes, each of
// which re-reads both sides as any resync repair does) or discards (queues
// nothing) a pending held run. The store audits the decision under the
// token's name; a run decided already answers 409.
func (s *Server) handleDecideHeld(w http.ResponseWriter, r *http.Request, approve bool) {
	st, err := s.heldStore()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := heldID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	actor := actorFrom(r.Context())
	decide, verb := st.DiscardHeldRun, "discarded"
	if approve {
		decide, verb = st.ApproveHeldRun, "approved"
	}
	run, err := decide(r.Context(), id, actor)
	if err == nil && run == nil {
		err = billsync.Errorf(billsync.EINTERNAL, "held run store returned no run and no error")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if run.State == billsync.HeldApproved {
		s.onEnqueue()
	}
	s.log.Info("mass-change guard: held run "+verb, "held_run", run.ID, "by", actor, "object", run.Object, "resync", run.Job,
		"deletes", run.Guard.Deletes, "overwrites", run.Guard.Overwrites, "changes", run.Changes)
	writeJSON(w, http.StatusOK, run)
}

// descHeldRunsPending is what to alert on: a resync the mass-change guard
// held waits for an admin, and nothing of it is applied meanwhile.
var descHeldRunsPending = prometheus.NewDesc(namespace+"_held_runs_pending",
	"Runs the mass-change guard held, waiting for an admin to approve or discard them (counted up to 1000); absent when the store could not say.", nil, nil)

// collectHeldRuns reports the pending held runs when the gauges' store
// keeps held runs (billsync.Store does).
func (c *storeCollector) collectHeldRuns(ctx context.Context, ch chan<- prometheus.Metric) {
	hs, ok := c.store.(interface {
		HeldRuns(ctx context.Context, f billsync.HeldRunFilter) ([]billsync.HeldRun, error)
	})
	if !ok {
		return
	}
	runs, err := hs.HeldRuns(ctx, billsync.HeldRunFilter{State: billsync.HeldPending, Limit: 1000})
	if err != nil {
		c.log.Warn("metrics: held runs", slog.Any("err", err))
		return
	}
	ch <- prometheus.MustNewConstMetric(descHeldRunsPending, prometheus.GaugeValue, float64(len(runs)))
}
