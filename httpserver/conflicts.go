package httpserver

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/billsync/billsync"
)

// maxRecordID bounds a record id in a filter or request; billing and
// Salesforce ids are far shorter.
const maxRecordID = 255

// maxResyncID bounds a resync id in a path; the engine's are UUIDs.
const maxResyncID = 128

type conflictsBody struct {
	Conflicts  []billsync.Conflict `json:"conflicts"`
	NextCursor *string             `json:"nextCursor"`
}

func (s *Server) handleConflicts(w http.ResponseWriter, r *http.Request) {
	f, err := parseConflictFilter(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, next, err := s.conflicts.Conflicts(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body := conflictsBody{Conflicts: list}
	if body.Conflicts == nil {
		body.Conflicts = []billsync.Conflict{}
	}
	if next != "" {
		body.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, body)
}

func parseConflictFilter(q map[string][]string) (billsync.ConflictFilter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	var f billsync.ConflictFilter
	switch v := get("status"); v {
	case "", billsync.ConflictHeld, billsync.ConflictResolved:
		f.Status = v
	default:
		return f, billsync.Errorf(billsync.EINVALID, "status %q: want %s or %s", v, billsync.ConflictHeld, billsync.ConflictResolved)
	}
	if v := get("object"); v != "" {
		t, err := billsync.ParseObjectType(v)
		if err != nil {
			return f, err
		}
		f.Object = t
	}
	if v := get("record"); v != "" {
		if len(v) > maxRecordID {
			return f, billsync.Errorf(billsync.EINVALID, "record: at most %d characters", maxRecordID)
		}
		f.Record = v
	}
	limit, err := parseLimit(get("limit"))
	if err != nil {
		return f, err
	}
	f.Limit = limit
	f.Cursor = get("cursor")
	return f, nil
}

func conflictID(r *http.Request) (int64, error) {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		return 0, billsync.Errorf(billsync.EINVALID, "conflict id %q: want a positive whole number", raw)
	}
	return id, nil
}

func (s *Server) handleConflict(w http.ResponseWriter, r *http.Request) {
	id, err := conflictID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.conflicts.Conflict(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// handleResolveConflict hands an operator's decision to the engine, which
// queues it in the record's partition; the store alone cannot apply it.
func (s *Server) handleResolveConflict(w http.ResponseWriter, r *http.Request) {
	id, err := conflictID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req struct {
		Winner billsync.Side `json:"winner"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Winner != billsync.SideBilling && req.Winner != billsync.SideSalesforce {
		s.writeError(w, r, billsync.Errorf(billsync.EINVALID, `winner %q: want %q or %q`, req.Winner, billsync.SideBilling, billsync.SideSalesforce))
		return
	}
	if s.resolver == nil {
		s.writeError(w, r, billsync.Errorf(billsync.EUNAVAILABLE, "resolving conflicts is not available on this server"))
		return
	}
	c, err := s.resolver.ResolveConflict(r.Context(), id, req.Winner, actorFrom(r.Context()))
	if err == nil && c == nil {
		err = billsync.Errorf(billsync.EINTERNAL, "resolver returned no conflict and no error")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.onEnqueue()
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) handleStartResync(w http.ResponseWriter, r *http.Request) {
	var req billsync.ResyncRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkResyncRequest(req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.resyncer == nil {
		s.writeError(w, r, billsync.Errorf(billsync.EUNAVAILABLE, "resync is not available on this server"))
		return
	}
	rep, err := s.resyncer.StartResync(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := reportBody(rep)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/resync/"+url.PathEscape(out.ID))
	writeJSON(w, http.StatusAccepted, out)
}

func checkResyncRequest(req billsync.ResyncRequest) error {
	if req.Object != "" {
		if _, err := billsync.ParseObjectType(string(req.Object)); err != nil {
			return err
		}
	}
	switch {
	case req.Record != "" && req.Object == "":
		return billsync.Errorf(billsync.EINVALID, "a resync of one record needs its object type too")
	case len(req.Record) > maxRecordID:
		return billsync.Errorf(billsync.EINVALID, "record: at most %d characters", maxRecordID)
	case req.Record != "" && strings.TrimSpace(req.Record) != req.Record:
		return billsync.Errorf(billsync.EINVALID, "record %q: surrounding spaces", req.Record)
	}
	return nil
}

func (s *Server) handleResync(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "" || len(id) > maxResyncID {
		s.writeError(w, r, billsync.Errorf(billsync.EINVALID, "resync id: want 1 to %d characters", maxResyncID))
		return
	}
	if s.resyncer == nil {
		s.writeError(w, r, billsync.Errorf(billsync.EUNAVAILABLE, "resync is not available on this server"))
		return
	}
	rep, err := s.resyncer.Resync(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := reportBody(rep)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// reportBody copies rep for the wire, with an empty diff list as [] so
// clients need not tell null from none. It copies rather than edits
// because the resyncer may still be filling in its own report.
func reportBody(rep *billsync.ResyncReport) (billsync.ResyncReport, error) {
	if rep == nil {
		return billsync.ResyncReport{}, billsync.Errorf(billsync.EINTERNAL, "resyncer returned no report and no error")
	}
	out := *rep
	if out.Diffs == nil {
		out.Diffs = []billsync.ResyncDiff{}
	}
	return out, nil
}
