package httpserver

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"

	"github.com/billsync/billsync"
)

// maxWebhookBody is the largest webhook body read; a larger one is
// answered 413 before its signature is checked.
const maxWebhookBody = 1 << 20

// Webhook results, as the billsync_webhooks_received_total label.
const (
	webhookAccepted     = "accepted"
	webhookDuplicate    = "duplicate"
	webhookUnauthorized = "unauthorized"
	webhookInvalid      = "invalid"
	webhookTooLarge     = "too_large"
	webhookUnavailable  = "unavailable"
	webhookIgnored      = "ignored"
)

type webhookAnswer struct {
	Status string `json:"status"`
}

// handleWebhook receives a billing webhook (B1, §4, §5.2). The order
// matters: nothing is parsed before the signature is checked, and nothing
// is answered 2xx before the change is committed, so a sender's retry is
// the only recovery a failure needs.
func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request) {
	s.webhookHandler(s.webhooks)(w, r)
}

// webhookHandler receives the webhooks dec verifies and decodes.
func (s *Server) webhookHandler(dec WebhookDecoder) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.receiveWebhook(dec, w, r) }
}

func (s *Server) receiveWebhook(dec WebhookDecoder, w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.metrics.webhook(webhookTooLarge)
			s.writeError(w, r, err)
			return
		}
		// The sender went away or the connection broke mid-body.
		s.metrics.webhook(webhookInvalid)
		s.writeError(w, r, billsync.Errorf(billsync.EINVALID, "could not read the request body"))
		return
	}

	webhookID, err := dec.Verify(r.Header, body)
	if err == nil && webhookID == "" {
		err = billsync.Errorf(billsync.EUNAUTHORIZED, "missing webhook-id")
	}
	if err != nil {
		if billsync.ErrorCode(err) == billsync.EUNAVAILABLE {
			s.metrics.webhook(webhookUnavailable)
			s.writeError(w, r, err)
			return
		}
		s.metrics.webhook(webhookUnauthorized)
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook refused: signature",
			slog.String("remote", r.RemoteAddr), slog.Any("err", err))
		s.writeError(w, r, unauthorized(err))
		return
	}

	changes, err := dec.Decode(webhookID, body, s.now())
	if err == nil && slices.Contains(changes, nil) {
		// The decoder broke its contract; not the sender's fault, so an
		// answer it will retry rather than a 400 it would give up on.
		s.metrics.webhook(webhookUnavailable)
		s.writeError(w, r, billsync.Errorf(billsync.EINTERNAL, "webhook decoder %T returned a nil change", dec))
		return
	}
	if err != nil {
		s.refuseInvalid(w, r, webhookID, err)
		return
	}
	if len(changes) == 0 {
		// An event of a kind billsync does not sync: acknowledged, so the
		// sender does not retry it, and kept nowhere.
		s.metrics.webhook(webhookIgnored)
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "webhook ignored", slog.String("webhook_id", webhookID))
		writeJSON(w, http.StatusOK, webhookAnswer{Status: webhookIgnored})
		return
	}
	change := changes[0]
	evType := string(change.Object) + "." + string(change.Op)

	dup, err := s.ingest.enqueue(r.Context(), changes...)
	if err != nil {
		s.metrics.webhook(webhookUnavailable)
		s.log.LogAttrs(r.Context(), slog.LevelError, "webhook not stored",
			slog.String("webhook_id", webhookID), slog.String("type", evType), slog.Any("err", err))
		// Whatever the store's reason, the sender should try again later:
		// nothing was committed.
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: errorDetail{
			Code: billsync.EUNAVAILABLE, Message: "the event could not be stored; retry later",
		}})
		return
	}
	if dup {
		s.metrics.webhook(webhookDuplicate)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "webhook duplicate",
			slog.String("webhook_id", webhookID), slog.String("type", evType))
		writeJSON(w, http.StatusOK, webhookAnswer{Status: webhookDuplicate})
		return
	}
	s.metrics.webhook(webhookAccepted)
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "webhook accepted",
		slog.String("webhook_id", webhookID), slog.String("type", evType),
		slog.String("record", change.RecordID), slog.Int64("change_id", change.ID))
	s.onEnqueue()
	writeJSON(w, http.StatusOK, webhookAnswer{Status: webhookAccepted})
}

// rejectedEvent is what a decoder's error may also say about the event it
// refused (billingapi.RejectedWebhook does): the event id its change would
// have had, and its object and record as far as they could be read.
type rejectedEvent interface {
	RejectedEvent() (eventID string, object billsync.ObjectType, recordID string)
}

// refuseInvalid answers 400 to a signed webhook the decoder refused, after
// recording the refusal in the sync log (outcome rejected): the billing
// platform sent an event billsync cannot take, and only the operator can
// have that fixed, so it must not stay a log line and a counter.
func (s *Server) refuseInvalid(w http.ResponseWriter, r *http.Request, webhookID string, err error) {
	s.metrics.webhook(webhookInvalid)
	reason := billsync.ErrorMessage(err)
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook refused: invalid",
		slog.String("webhook_id", webhookID), slog.String("reason", reason))
	e := billsync.LogEntry{Time: s.now().UTC(), Direction: billsync.ToSalesforce, Operation: "webhook",
		Outcome: billsync.OutcomeRejected, Reason: billsync.ReasonInvalidWebhook, Message: reason, EventID: webhookID}
	var ev rejectedEvent
	if errors.As(err, &ev) {
		if id, object, record := ev.RejectedEvent(); id != "" {
			e.EventID, e.Object, e.BillingID = id, object, record
		}
	}
	if lerr := s.logs.AppendLog(r.Context(), e); lerr != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "refused webhook not recorded in the sync log",
			slog.String("webhook_id", webhookID), slog.Any("err", lerr))
	}
	if billsync.ErrorCode(err) != billsync.EINVALID {
		err = billsync.Errorf(billsync.EINVALID, "%s", reason)
	}
	s.writeError(w, r, err)
}

// unauthorized answers every verification failure with 401 (§4: unsigned
// or tampered is refused, whatever the detail). It keeps the message of a
// verifier's own *billsync.Error, which says what was wrong (stale
// timestamp, missing header), and replaces any other error's text, which
// was not written for the sender.
func unauthorized(err error) error {
	var e *billsync.Error
	if errors.As(err, &e) && (e.Code == billsync.EUNAUTHORIZED || e.Code == billsync.EINVALID) {
		return billsync.Errorf(billsync.EUNAUTHORIZED, "%s", e.Message)
	}
	return billsync.Errorf(billsync.EUNAUTHORIZED, "webhook signature verification failed")
}
