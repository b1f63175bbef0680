package httpserver

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/billsync/billsync"
)

// maxSelectedIDs bounds the ids one retry or discard request may name.
const maxSelectedIDs = 1000

// deadLetterBatch is how many dead letters are taken per round when a
// request asks for all of them.
const deadLetterBatch = 500

// deadLetterSelection is the body of a retry or discard: every dead
// letter, said explicitly, or a list of ids, never an empty body meaning
// "all".
type deadLetterSelection struct {
	All bool    `json:"all"`
	IDs []int64 `json:"ids"`
}

func (s *Server) handleDeadLetters(w http.ResponseWriter, r *http.Request) {
	limit, err := parseLimit(r.URL.Query().Get("limit"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	dls, err := s.deadLetters.DeadLetters(r.Context(), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if dls == nil {
		dls = []billsync.DeadLetter{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"deadLetters": dls})
}

// handleRetryDeadLetters moves the selected dead letters back to the
// queue: {"ids": [...]} exactly those, all or none (an unknown id is a 404
// naming it, and nothing moves), or {"all": true}. It answers
// {"retried": [ids]}.
func (s *Server) handleRetryDeadLetters(w http.ResponseWriter, r *http.Request) {
	ids, err := s.onDeadLetters(w, r, func(ctx context.Context, ids []int64) error {
		return s.deadLetters.Resurrect(ctx, ids...)
	})
	if len(ids) > 0 {
		s.onEnqueue()
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"retried": ids})
}

// handleDiscardDeadLetters deletes the selected dead letters for good, as
// handleRetryDeadLetters selects them; each leaves a sync-log entry naming
// the token. It answers {"discarded": [ids]}.
func (s *Server) handleDiscardDeadLetters(w http.ResponseWriter, r *http.Request) {
	actor := actorFrom(r.Context())
	ids, err := s.onDeadLetters(w, r, func(ctx context.Context, ids []int64) error {
		return s.deadLetters.Discard(ctx, actor, ids...)
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"discarded": ids})
}

// handleRetry retries the one dead letter in the path, as {"ids": [id]}.
func (s *Server) handleRetry(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		s.writeError(w, r, billsync.Errorf(billsync.EINVALID, "dead letter id %q: want a positive whole number", raw))
		return
	}
	if err := s.deadLetters.Resurrect(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.onEnqueue()
	writeJSON(w, http.StatusOK, map[string]any{"status": "requeued", "id": id, "retried": []int64{id}})
}

// onDeadLetters reads the selection and applies do to it, returning the
// ids done, sorted. A list is done in one call of do, all or none.
func (s *Server) onDeadLetters(w http.ResponseWriter, r *http.Request, do func(context.Context, []int64) error) ([]int64, error) {
	var sel deadLetterSelection
	if err := decodeBody(w, r, &sel); err != nil {
		return nil, err
	}
	switch {
	case sel.All && len(sel.IDs) > 0:
		return nil, billsync.Errorf(billsync.EINVALID, `give either "all": true or "ids", not both`)
	case sel.All:
		return s.onAllDeadLetters(r.Context(), do)
	case len(sel.IDs) == 0:
		return nil, billsync.Errorf(billsync.EINVALID, `body must be {"ids": [id, ...]} or {"all": true}`)
	case len(sel.IDs) > maxSelectedIDs:
		return nil, billsync.Errorf(billsync.EINVALID, "at most %d ids per request (or {\"all\": true})", maxSelectedIDs)
	}
	ids := slices.Clone(sel.IDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		if id < 1 {
			return nil, billsync.Errorf(billsync.EINVALID, "dead letter id %d: want a positive whole number", id)
		}
	}
	if err := do(r.Context(), ids); err != nil {
		return nil, err
	}
	return ids, nil
}

// onAllDeadLetters applies do to every dead letter there was when the
// request began, a batch at a time, oldest first. A change that dies
// again while this runs died after the request and is left for the next.
// A batch of which another request took a part meanwhile is read again.
func (s *Server) onAllDeadLetters(ctx context.Context, do func(context.Context, []int64) error) ([]int64, error) {
	start := s.now()
	done := []int64{}
	seen := make(map[int64]bool)
	races := 0
	for {
		dls, err := s.deadLetters.DeadLetters(ctx, deadLetterBatch)
		if err != nil {
			return done, err
		}
		var batch []int64
		later := false // listed oldest first: the rest died after start too
		for _, dl := range dls {
			if dl.DeadAt.After(start) {
				later = true
				break
			}
			if !seen[dl.ID] {
				batch = append(batch, dl.ID)
			}
		}
		if len(batch) == 0 {
			break
		}
		err = do(ctx, batch)
		if billsync.ErrorCode(err) == billsync.ENOTFOUND && races < 10 {
			races++
			continue
		}
		if err != nil {
			return done, err
		}
		for _, id := range batch {
			seen[id] = true
		}
		done = append(done, batch...)
		if later || len(dls) < deadLetterBatch {
			break
		}
	}
	slices.Sort(done)
	return done, nil
}
