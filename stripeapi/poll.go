package stripeapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	"github.com/billsync/billsync"
)

// NeededEvents are the event types billsync reads, on the webhook
// endpoint and in the poll.
func NeededEvents() []string {
	return []string{"customer.created", "customer.updated", "customer.deleted",
		"quote.accepted", "quote.canceled", "quote.created", "quote.finalized"}
}

func eventQuery() form {
	q := form{}
	for _, t := range NeededEvents() {
		q.Add("types[]", t)
	}
	return q
}

// Poll returns the changes of the events after checkpoint (an event id),
// decoded as their webhooks are so each has the same EventID, and, with
// billing.options.quotes draft, a change per draft quote whose EventID
// stands for its content. The first poll (checkpoint "") only finds where
// the events end: what came before is a resync's job.
func (c *Client) Poll(ctx context.Context, checkpoint string) ([]*billsync.Change, string, error) {
	now := c.clock()
	if checkpoint == "" {
		q := eventQuery()
		q.Set("limit", "1")
		var page list[json.RawMessage]
		if err := c.get(ctx, "/v1/events", q, &page); err != nil {
			return nil, "", err
		}
		if len(page.Data) == 0 {
			return nil, "", nil
		}
		var ev event
		if err := json.Unmarshal(page.Data[0], &ev); err != nil || ev.ID == "" {
			return nil, "", &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 200, Message: "GET /v1/events answered an event without an id"}
		}
		return nil, ev.ID, nil
	}
	evs, err := c.eventsAfter(ctx, checkpoint)
	if err != nil {
		return nil, "", err
	}
	next := checkpoint
	var out []*billsync.Change
	for _, raw := range evs {
		ev, err := parseEvent(raw)
		if err != nil {
			return nil, "", &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 200, Message: "GET /v1/events: " + billsync.ErrorMessage(err)}
		}
		next = ev.ID
		cs, err := ev.changes(c.quotes, now)
		if err != nil {
			// A malformed event is skipped, as its webhook would be refused:
			// stopping here would hold every later event back.
			continue
		}
		out = append(out, cs...)
	}
	if c.quotes == quotesDraft {
		drafts, err := c.draftChanges(ctx)
		if err != nil {
			return nil, "", err
		}
		out = append(out, drafts...)
	}
	return out, next, nil
}

// eventsAfter are the events newer than checkpoint, oldest first. Stripe
// lists newest first even with ending_before, so each page's first event
// is the cursor of the next, newer one.
func (c *Client) eventsAfter(ctx context.Context, checkpoint string) ([]json.RawMessage, error) {
	var all []json.RawMessage
	before := checkpoint
	for {
		q := eventQuery()
		q.Set("ending_before", before)
		q.Set("limit", "100")
		var page list[json.RawMessage]
		if err := c.get(ctx, "/v1/events", q, &page); err != nil {
			return nil, err
		}
		// A page is newest first; the next page is newer still.
		oldest := slices.Clone(page.Data)
		slices.Reverse(oldest)
		all = append(all, oldest...)
		if !page.HasMore || len(page.Data) == 0 {
			break
		}
		var top struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(page.Data[0], &top); err != nil || top.ID == "" {
			return nil, &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 200, Message: "GET /v1/events answered an event without an id"}
		}
		before = top.ID
	}
	return all, nil
}

// draftChanges is a change per draft quote, with an EventID that stands
// for its content: a draft edited since the last poll is queued again, an
// unchanged one is not (Stripe sends no event for a draft's edits).
func (c *Client) draftChanges(ctx context.Context) ([]*billsync.Change, error) {
	var out []*billsync.Change
	now := c.clock().UTC()
	cursor := ""
	for {
		page, next, err := c.listQuotesWith(ctx, cursor, 100, "draft")
		if err != nil {
			return nil, err
		}
		for _, q := range page {
			b, err := json.Marshal(q)
			if err != nil {
				return nil, billsync.Errorf(billsync.EINTERNAL, "stripe: quote %s: %v", q.ID(), err)
			}
			sum := sha256.Sum256(b)
			out = append(out, &billsync.Change{Partition: billsync.QuotePartition(q.ID()), Source: billsync.SideBilling,
				Object: billsync.ObjectQuote, Op: billsync.OpUpdated, RecordID: q.ID(),
				EventID: "stripe:quote:" + q.ID() + ":" + hex.EncodeToString(sum[:]), Payload: b, OccurredAt: now, EnqueuedAt: now})
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}
