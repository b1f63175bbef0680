package monetizenowapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
)

// Webhooks reads MonetizeNow's webhook deliveries for the HTTP server.
// MonetizeNow documents no signature, so nothing here depends on one:
// the delivery URL ends in an unguessable token, which the HTTP server
// checks, and a delivery is only a hint naming a quote, which the engine
// reads again from MonetizeNow before acting (SignedWebhooks false). A
// forged delivery can at most cause that read.
type Webhooks struct{}

var _ billsync.BillingWebhooks = (*Webhooks)(nil)

// NewWebhooks reads deliveries.
func NewWebhooks() *Webhooks { return &Webhooks{} }

// event is a delivery: PROVISIONAL {eventId, userId, sentTime,
// eventType, data} (a third-party summary of MonetizeNow's webhook page;
// the body itself is not published). Only eventType and data.id are used.
type event struct {
	EventID   string `json:"eventId"`
	EventType string `json:"eventType"`
	SentTime  string `json:"sentTime"`
	Data      *struct {
		ID string `json:"id"`
	} `json:"data"`
}

func parseEvent(body []byte) (*event, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "empty body")
	}
	var ev event
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&ev); err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "malformed MonetizeNow webhook: %v", err)
	}
	if dec.More() {
		return nil, billsync.Errorf(billsync.EINVALID, "malformed MonetizeNow webhook: trailing data")
	}
	if ev.EventID == "" || ev.EventType == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "MonetizeNow webhook without eventId or eventType")
	}
	return &ev, nil
}

// Verify accepts any delivery that reads as a MonetizeNow event and
// returns its id (there is no signature to check; see Webhooks).
func (w *Webhooks) Verify(_ http.Header, body []byte) (string, error) {
	ev, err := parseEvent(body)
	if err != nil {
		return "", err
	}
	return ev.EventID, nil
}

// quoteOps are the quote events billsync acts on, by the operation each
// stands for. Others (accounts, contracts, invoices, …) are not news
// here and are answered 200 and dropped. quote.offering.* events are
// dropped too: their body names the offering, not its quote, and the
// quote's own update and the poll carry the change.
var quoteOps = map[string]billsync.Op{
	"quote.created":   billsync.OpCreated,
	"quote.updated":   billsync.OpUpdated,
	"quote.accepted":  billsync.OpUpdated,
	"quote.processed": billsync.OpUpdated,
	"quote.cancelled": billsync.OpUpdated,
}

// WatchedEvents are the event types to choose for billsync's endpoint in
// MonetizeNow's Settings → Webhooks.
func WatchedEvents() []string {
	return []string{"quote.created", "quote.updated", "quote.accepted", "quote.processed", "quote.cancelled"}
}

// Decode turns a delivery into the quote change it hints at, or none. A
// body it cannot read is a *billingapi.RejectedWebhook (EINVALID).
func (w *Webhooks) Decode(webhookID string, body []byte, now time.Time) ([]*billsync.Change, error) {
	ev, err := parseEvent(body)
	if err != nil {
		return nil, &billingapi.RejectedWebhook{EventID: "monetizenow:" + webhookID, Err: err}
	}
	op, ok := quoteOps[strings.ToLower(ev.EventType)]
	if !ok {
		return nil, nil
	}
	if ev.Data == nil || ev.Data.ID == "" || strings.ContainsAny(ev.Data.ID, "/?#") {
		return nil, &billingapi.RejectedWebhook{EventID: "monetizenow:" + ev.EventID, Object: billsync.ObjectQuote,
			Err: billsync.Errorf(billsync.EINVALID, "%s: data carries no quote id", ev.EventType)}
	}
	// Only the id is taken: the engine reads the quote itself.
	payload, _ := json.Marshal(billsync.Entity{"id": ev.Data.ID})
	occurred := now
	if t, err := time.Parse(time.RFC3339Nano, ev.SentTime); err == nil {
		occurred = t
	}
	return []*billsync.Change{{Partition: billsync.QuotePartition(ev.Data.ID), Source: billsync.SideBilling, Object: billsync.ObjectQuote,
		Op: op, RecordID: ev.Data.ID, EventID: "monetizenow:" + ev.EventID, Payload: payload,
		OccurredAt: occurred.UTC(), EnqueuedAt: now.UTC()}}, nil
}
