package httpserver

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// maxAdminBody bounds admin request bodies; a setting value is small.
const maxAdminBody = 64 << 10

// Paging bounds shared by the list endpoints.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// settingBody is a setting on the wire. UpdatedAt is null for a key that
// was never set; UpdatedBy is then "default".
type settingBody struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	UpdatedAt *time.Time      `json:"updatedAt"`
	UpdatedBy string          `json:"updatedBy"`
	Summary   string          `json:"summary,omitempty"`
}

// updatedByDefault marks a setting that still holds its default.
const updatedByDefault = "default"

func toSettingBody(st billsync.Setting) settingBody {
	b := settingBody{Key: st.Key, Value: st.Value, UpdatedBy: st.UpdatedBy, Summary: billsync.SettingSummary(st.Key)}
	if !st.UpdatedAt.IsZero() {
		t := st.UpdatedAt.UTC()
		b.UpdatedAt = &t
	}
	return b
}

// effectiveSettings lists every known key with its stored value or its
// default, sorted by key.
func (s *Server) effectiveSettings(r *http.Request) ([]settingBody, error) {
	stored, err := s.settings.Settings(r.Context())
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]billsync.Setting, len(stored))
	for _, st := range stored {
		byKey[st.Key] = st
	}
	defaults := billsync.DefaultSettings()
	out := make([]settingBody, 0, len(defaults))
	for _, k := range billsync.SettingKeys() {
		st, ok := byKey[k]
		if !ok {
			st = billsync.Setting{Key: k, Value: defaults[k], UpdatedBy: updatedByDefault}
		}
		out = append(out, toSettingBody(st))
	}
	return out, nil
}

func knownSetting(key string) bool {
	_, ok := slices.BinarySearch(billsync.SettingKeys(), key)
	return ok
}

func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request) {
	all, err := s.effectiveSettings(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"settings": all})
}

func (s *Server) handleSetting(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if !knownSetting(key) {
		s.writeError(w, r, billsync.Errorf(billsync.ENOTFOUND, "unknown setting %q", key))
		return
	}
	all, err := s.effectiveSettings(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, st := range all {
		if st.Key == key {
			writeJSON(w, http.StatusOK, st)
			return
		}
	}
	s.writeError(w, r, billsync.Errorf(billsync.ENOTFOUND, "unknown setting %q", key))
}

func (s *Server) handlePutSetting(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if !knownSetting(key) {
		s.writeError(w, r, billsync.Errorf(billsync.ENOTFOUND, "unknown setting %q", key))
		return
	}
	var req struct {
		Value json.RawMessage `json:"value"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Value) == 0 || string(req.Value) == "null" {
		s.writeError(w, r, billsync.Errorf(billsync.EINVALID, `body must be {"value": …} with a non-null value`))
		return
	}
	v, err := billsync.ValidateSetting(key, req.Value)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.settings.SetSetting(r.Context(), key, v, actorFrom(r.Context()))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.onSettings()
	writeJSON(w, http.StatusOK, toSettingBody(st))
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	limit, err := parseLimit(r.URL.Query().Get("limit"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	entries, err := s.settings.Audit(r.Context(), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if entries == nil {
		entries = []billsync.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}

type logsBody struct {
	Entries    []billsync.LogEntry `json:"entries"`
	NextCursor *string             `json:"nextCursor"`
}

func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	f, err := parseLogFilter(r.URL.Query(), s.now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	entries, next, err := s.logs.Logs(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body := logsBody{Entries: entries}
	if body.Entries == nil {
		body.Entries = []billsync.LogEntry{}
	}
	if next != "" {
		body.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, body)
}

// parseLogFilter reads the G2 filters. since is RFC 3339 or a Go duration
// meaning that long before now ("15m", "24h").
func parseLogFilter(q map[string][]string, now time.Time) (billsync.LogFilter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	var f billsync.LogFilter
	if v := get("since"); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			f.Since = t.UTC()
		} else if d, err := time.ParseDuration(v); err == nil {
			if d <= 0 {
				return f, billsync.Errorf(billsync.EINVALID, "since %q: a duration must be positive (how long ago)", v)
			}
			f.Since = now.Add(-d).UTC()
		} else {
			return f, billsync.Errorf(billsync.EINVALID, "since %q: want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration (15m, 24h)", v)
		}
	}
	if v := get("object"); v != "" {
		t, err := billsync.ParseObjectType(v)
		if err != nil {
			return f, err
		}
		f.Object = t
	}
	if v := get("outcome"); v != "" {
		o, err := billsync.ParseOutcome(v)
		if err != nil {
			return f, err
		}
		f.Outcome = o
	}
	if v := get("direction"); v != "" {
		d, err := billsync.ParseDirection(v)
		if err != nil {
			return f, err
		}
		f.Direction = d
	}
	if v := get("reason"); v != "" {
		if len(v) > 64 {
			return f, billsync.Errorf(billsync.EINVALID, "reason: at most 64 characters")
		}
		f.Reason = v
	}
	if v := get("record"); v != "" {
		if len(v) > 255 {
			return f, billsync.Errorf(billsync.EINVALID, "record: at most 255 characters")
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

func parseLimit(v string) (int, error) {
	if v == "" {
		return defaultListLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, billsync.Errorf(billsync.EINVALID, "limit %q: want a whole number from 1 to %d", v, maxListLimit)
	}
	return n, nil
}

func (s *Server) handleQueue(w http.ResponseWriter, r *http.Request) {
	st, err := s.deadLetters.Stats(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// decodeBody reads one JSON object of at most maxAdminBody bytes,
// refusing unknown fields so a typo is an error rather than a no-op.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return billsync.Errorf(billsync.EINVALID, "empty request body")
		}
		return billsync.Errorf(billsync.EINVALID, "malformed JSON body: %v", err)
	}
	if dec.More() {
		return billsync.Errorf(billsync.EINVALID, "malformed JSON body: trailing data")
	}
	return nil
}

// handleStatus answers health and recent activity (the console's
// overview).
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	if s.status == nil {
		s.writeError(w, r, billsync.Errorf(billsync.EUNAVAILABLE, "status is not available on this server"))
		return
	}
	st, err := s.status.Status(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// handleMapping answers the mapping in force.
func (s *Server) handleMapping(w http.ResponseWriter, r *http.Request) {
	if s.mapping == nil {
		s.writeError(w, r, billsync.Errorf(billsync.EUNAVAILABLE, "the mapping is not available on this server"))
		return
	}
	writeJSON(w, http.StatusOK, s.mapping)
}
