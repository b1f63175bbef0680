package httpserver

import (
	"net/http"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/alert"
)

// handleAlerts lists every alert rule with its state, since when, the
// last reading and the last message sent for it. A GET: read tokens see
// it too (a dashboard, the console's overview).
func (s *Server) handleAlerts(w http.ResponseWriter, r *http.Request) {
	if s.alerts == nil {
		s.writeError(w, r, billsync.Errorf(billsync.EUNAVAILABLE, "alerts are not evaluated on this server"))
		return
	}
	st := s.alerts()
	if st == nil {
		st = []alert.Status{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": st})
}
