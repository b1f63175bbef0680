package billsync

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// MaxWebhookBody is the largest webhook body accepted.
const MaxWebhookBody = 1 << 20

// ParseWebhook decodes and validates a billing webhook body (SPEC §5.2):
// a JSON object {"type": "<entity>.<created|updated|deleted>",
// "timestamp": RFC 3339, "data": {…the whole object…}}. Every failure is an
// EINVALID *Error whose message says what is wrong.
func ParseWebhook(body []byte) (*WebhookEvent, ObjectType, Op, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, "", "", Errorf(EINVALID, "empty body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw struct {
		Type      *string         `json:"type"`
		Timestamp *string         `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := dec.Decode(&raw); err != nil {
		return nil, "", "", Errorf(EINVALID, "malformed JSON: %v", err)
	}
	if dec.More() {
		return nil, "", "", Errorf(EINVALID, "malformed JSON: trailing data after the event object")
	}
	if raw.Type == nil || *raw.Type == "" {
		return nil, "", "", Errorf(EINVALID, `missing "type"`)
	}
	ent, verb, ok := strings.Cut(*raw.Type, ".")
	if !ok {
		return nil, "", "", Errorf(EINVALID, "unknown event type %q (want <entity>.created|updated|deleted)", *raw.Type)
	}
	t, err := ParseObjectType(ent)
	if err != nil {
		return nil, "", "", Errorf(EINVALID, "unknown event type %q: unknown entity %q", *raw.Type, ent)
	}
	var op Op
	switch verb {
	case "created":
		op = OpCreated
	case "updated":
		op = OpUpdated
	case "deleted":
		op = OpDeleted
	default:
		return nil, "", "", Errorf(EINVALID, "unknown event type %q: unknown action %q", *raw.Type, verb)
	}
	ev := &WebhookEvent{Type: *raw.Type}
	if raw.Timestamp != nil && *raw.Timestamp != "" {
		ts, err := time.Parse(time.RFC3339Nano, *raw.Timestamp)
		if err != nil {
			return nil, "", "", Errorf(EINVALID, "timestamp %q is not RFC 3339", *raw.Timestamp)
		}
		ev.Timestamp = ts.UTC()
	}
	if len(raw.Data) == 0 || string(raw.Data) == "null" {
		return nil, "", "", Errorf(EINVALID, `missing "data"`)
	}
	data, err := DecodeEntity(raw.Data)
	if err != nil {
		return nil, "", "", Errorf(EINVALID, `"data" must be a JSON object`)
	}
	ev.Data = data
	if data.ID() == "" {
		return nil, "", "", Errorf(EINVALID, `data.id is missing`)
	}
	if _, err := PartitionOf(t, data); err != nil {
		return nil, "", "", err
	}
	return ev, t, op, nil
}

// PartitionOf returns the queue partition of a billing record (B2, E1):
// accounts, balances and transactions share their account's partition;
// quotes are partitioned per quote.
func PartitionOf(t ObjectType, data Entity) (string, error) {
	switch t {
	case ObjectAccount:
		return AccountPartition(data.ID()), nil
	case ObjectBalance, ObjectBalanceTransaction:
		acc := data.Str("accountId")
		if acc == "" {
			return "", Errorf(EINVALID, "data.accountId is missing (a %s belongs to an account)", t)
		}
		return AccountPartition(acc), nil
	case ObjectQuote:
		return QuotePartition(data.ID()), nil
	}
	return "", Errorf(EINVALID, "unknown object type %q", t)
}

// ChangeFromWebhook builds the queued change for a verified, parsed webhook.
func ChangeFromWebhook(webhookID string, ev *WebhookEvent, t ObjectType, op Op, now time.Time) (*Change, error) {
	part, err := PartitionOf(t, ev.Data)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(ev.Data)
	if err != nil {
		return nil, Errorf(EINVALID, "data: %v", err)
	}
	occurred := ev.Timestamp
	if occurred.IsZero() {
		occurred = now
	}
	return &Change{
		Partition:  part,
		Source:     SideBilling,
		Object:     t,
		Op:         op,
		RecordID:   ev.Data.ID(),
		EventID:    "webhook:" + webhookID,
		Payload:    payload,
		OccurredAt: occurred.UTC(),
		EnqueuedAt: now.UTC(),
	}, nil
}
