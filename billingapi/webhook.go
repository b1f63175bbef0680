package billingapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// WebhookEvent is a billing webhook body of the contract (SPEC §5.2),
// decoded and checked.
type WebhookEvent struct {
	Type      string // "<entity>.<created|updated|deleted>", as sent
	Object    billsync.ObjectType
	Op        billsync.Op
	Timestamp time.Time // UTC; zero when the body carries none
	Data      billsync.Entity
}

// ParseWebhook decodes and validates a billing webhook body: a JSON object
// {"type": "<entity>.<created|updated|deleted>", "timestamp": RFC 3339,
// "data": {…the whole object…}}. Every failure is an EINVALID
// *billsync.Error whose message says what is wrong, written for the sender.
func ParseWebhook(body []byte) (*WebhookEvent, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "empty body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw struct {
		Type      *string         `json:"type"`
		Timestamp *string         `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := dec.Decode(&raw); err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "malformed JSON: %v", err)
	}
	if dec.More() {
		return nil, billsync.Errorf(billsync.EINVALID, "malformed JSON: trailing data after the event object")
	}
	if raw.Type == nil || *raw.Type == "" {
		return nil, billsync.Errorf(billsync.EINVALID, `missing "type"`)
	}
	t, op, err := parseEventType(*raw.Type)
	if err != nil {
		return nil, err
	}
	ev := &WebhookEvent{Type: *raw.Type, Object: t, Op: op}
	if raw.Timestamp != nil && *raw.Timestamp != "" {
		ts, err := time.Parse(time.RFC3339Nano, *raw.Timestamp)
		if err != nil {
			return nil, billsync.Errorf(billsync.EINVALID, "timestamp %q is not RFC 3339", *raw.Timestamp)
		}
		ev.Timestamp = ts.UTC()
	}
	if len(raw.Data) == 0 || string(raw.Data) == "null" {
		return nil, billsync.Errorf(billsync.EINVALID, `missing "data"`)
	}
	data, err := billsync.DecodeEntity(raw.Data)
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, `"data" must be a JSON object`)
	}
	ev.Data = data
	if data.ID() == "" {
		return nil, billsync.Errorf(billsync.EINVALID, `data.id is missing`)
	}
	if _, err := billsync.PartitionOf(t, data); err != nil {
		return nil, err
	}
	return ev, nil
}

// parseEventType splits "<entity>.<action>" into the object and operation.
func parseEventType(typ string) (billsync.ObjectType, billsync.Op, error) {
	ent, verb, ok := strings.Cut(typ, ".")
	if !ok {
		return "", "", billsync.Errorf(billsync.EINVALID, "unknown event type %q (want <entity>.created|updated|deleted)", typ)
	}
	t, err := billsync.ParseObjectType(ent)
	if err != nil {
		return "", "", billsync.Errorf(billsync.EINVALID, "unknown event type %q: unknown entity %q", typ, ent)
	}
	switch verb {
	case "created":
		return t, billsync.OpCreated, nil
	case "updated":
		return t, billsync.OpUpdated, nil
	case "deleted":
		return t, billsync.OpDeleted, nil
	}
	return "", "", billsync.Errorf(billsync.EINVALID, "unknown event type %q: unknown action %q", typ, verb)
}

// Change builds the queued change for a verified, parsed webhook. Its
// EventID is the webhook-id, so a redelivery is stored once (SPEC §5.2: a
// repeated webhook-id gets 200 and is not processed again); without a
// timestamp the event is taken to have happened now.
func (ev *WebhookEvent) Change(webhookID string, now time.Time) (*billsync.Change, error) {
	part, err := billsync.PartitionOf(ev.Object, ev.Data)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(ev.Data)
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "data: %v", err)
	}
	occurred := ev.Timestamp
	if occurred.IsZero() {
		occurred = now
	}
	return &billsync.Change{
		Partition:  part,
		Source:     billsync.SideBilling,
		Object:     ev.Object,
		Op:         ev.Op,
		RecordID:   ev.Data.ID(),
		EventID:    "webhook:" + webhookID,
		Payload:    payload,
		OccurredAt: occurred.UTC(),
		EnqueuedAt: now.UTC(),
	}, nil
}

// DecodeWebhook parses a verified webhook body into the change to
// enqueue. Every failure is an EINVALID *billsync.Error.
func DecodeWebhook(webhookID string, body []byte, now time.Time) (*billsync.Change, error) {
	ev, err := ParseWebhook(body)
	if err != nil {
		return nil, err
	}
	return ev.Change(webhookID, now)
}

// Webhooks verifies and decodes the contract's webhooks: the decoder the
// HTTP server takes (httpserver.WebhookDecoder), so that the server knows
// neither the signature scheme nor the body format, and another platform's
// adapter brings its own.
type Webhooks struct {
	*Verifier
}

// NewWebhooks takes the webhook secret as NewVerifier does.
func NewWebhooks(secret string, clock func() time.Time) (*Webhooks, error) {
	v, err := NewVerifier(secret, clock)
	if err != nil {
		return nil, err
	}
	return &Webhooks{Verifier: v}, nil
}

// Decode parses a body Verify accepted into the change to enqueue. A
// body it refuses is a *RejectedWebhook naming what could be read of the
// event.
func (*Webhooks) Decode(webhookID string, body []byte, now time.Time) ([]*billsync.Change, error) {
	c, err := DecodeWebhook(webhookID, body, now)
	if err != nil {
		return nil, rejected(webhookID, body, err)
	}
	return []*billsync.Change{c}, nil
}

// RejectedWebhook is a signed webhook body refused as invalid: the reason
// (Err, an EINVALID *billsync.Error written for the sender) with what
// could be read of the event, so that its sync-log entry names it.
type RejectedWebhook struct {
	EventID  string              // the event id its change would have had
	Object   billsync.ObjectType // "" when the type could not be read
	RecordID string              // "" when data.id could not be read
	Err      error
}

func (e *RejectedWebhook) Error() string { return e.Err.Error() }
func (e *RejectedWebhook) Unwrap() error { return e.Err }

// RejectedEvent is what the HTTP server records of the refusal.
func (e *RejectedWebhook) RejectedEvent() (eventID string, object billsync.ObjectType, recordID string) {
	return e.EventID, e.Object, e.RecordID
}

// rejected wraps a decoding failure with what a lenient read of the body
// finds of the event's type and record.
func rejected(webhookID string, body []byte, err error) error {
	r := &RejectedWebhook{EventID: "webhook:" + webhookID, Err: err}
	var peek struct {
		Type string `json:"type"`
		Data struct {
			ID any `json:"id"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &peek) != nil {
		return r
	}
	if t, _, perr := parseEventType(peek.Type); perr == nil {
		r.Object = t
	}
	if id, ok := peek.Data.ID.(string); ok {
		r.RecordID = id
	}
	return r
}
