package httpserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
)

// contractWebhooks decodes as the billing contract's adapter does,
// refusals included (billingapi.RejectedWebhook), behind the fake
// signature check.
type contractWebhooks struct{ fakeVerifier }

func (contractWebhooks) Decode(webhookID string, body []byte, now time.Time) ([]*billsync.Change, error) {
	return (*billingapi.Webhooks)(nil).Decode(webhookID, body, now)
}

// A correctly signed webhook refused as invalid leaves a sync-log entry
// (outcome rejected) with its reason and event id, found by the outcome
// filter like any other entry.
func TestRejectedWebhookIsInTheSyncLog(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Webhooks = contractWebhooks{} })
	body := `{"type":"balance.updated","data":{"id":"bal_1","amount":"5.00"}}`
	res := h.do("POST", "/webhooks/billing", "", []byte(body), signedHeader("msg_bad_1"))
	if res.status != http.StatusBadRequest {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	// Unsigned is refused before anything is read: no entry.
	h.do("POST", "/webhooks/billing", "", []byte(body), http.Header{"Webhook-Id": {"msg_unsigned"}})
	// An accepted webhook is not rejected.
	h.do("POST", "/webhooks/billing", "", []byte(accountUpdated), signedHeader("msg_good"))

	var page logsBody
	h.do("GET", "/api/v1/logs?outcome=rejected", readToken, nil, nil).json(t, &page)
	if len(page.Entries) != 1 {
		t.Fatalf("rejected entries: %+v", page.Entries)
	}
	e := page.Entries[0]
	if e.Outcome != billsync.OutcomeRejected || e.Reason != billsync.ReasonInvalidWebhook || e.EventID != "webhook:msg_bad_1" ||
		e.Object != billsync.ObjectBalance || e.BillingID != "bal_1" || e.Direction != billsync.ToSalesforce ||
		!strings.Contains(e.Message, "accountId is missing") || !e.Time.Equal(testNow) {
		t.Errorf("rejected entry %+v", e)
	}
	// Filterable by record too, like any entry.
	h.do("GET", "/api/v1/logs?record=bal_1", readToken, nil, nil).json(t, &page)
	if len(page.Entries) != 1 {
		t.Errorf("by record: %+v", page.Entries)
	}
}

// A body that cannot be read at all, or a decoder that says nothing more
// than its reason, still leaves an entry naming the webhook-id.
func TestRejectedWebhookWithoutDetail(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Webhooks = contractWebhooks{} })
	h.do("POST", "/webhooks/billing", "", []byte(`{"type":`), signedHeader("msg_garbled"))
	if entries := h.store.LogEntries(); len(entries) != 1 || entries[0].EventID != "webhook:msg_garbled" ||
		entries[0].Object != "" || !strings.Contains(entries[0].Message, "malformed JSON") {
		t.Errorf("garbled body: entries %+v", entries)
	}
	h = newHarness(t, func(c *Config) {
		c.Webhooks = seamDecoder{err: errors.New("unknown event type customer.tax_id.created")}
	})
	res := h.do("POST", "/webhooks/billing", "", []byte(`{}`), signedHeader("evt_9"))
	if res.status != http.StatusBadRequest {
		t.Fatalf("status %d", res.status)
	}
	entries := h.store.LogEntries()
	if len(entries) != 1 || entries[0].EventID != "evt_9" || entries[0].Object != "" ||
		entries[0].Message != "unknown event type customer.tax_id.created" {
		t.Errorf("entries %+v", entries)
	}
}

// If the sync log cannot take the entry, the sender still gets its 400
// (the refusal does not depend on the store) and the failure is logged.
func TestRejectedWebhookLogFailure(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Webhooks = contractWebhooks{} })
	h.logReader.AppendLogFn = func(context.Context, ...billsync.LogEntry) error { return errors.New("disk full") }
	res := h.do("POST", "/webhooks/billing", "", []byte(`{"type":"account.updated"}`), signedHeader("msg_x"))
	if res.status != http.StatusBadRequest {
		t.Fatalf("status %d", res.status)
	}
	if !strings.Contains(h.logs.String(), "refused webhook not recorded in the sync log") {
		t.Errorf("log:\n%s", h.logs)
	}
}
