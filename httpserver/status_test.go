package httpserver

import (
	"context"
	"testing"

	"github.com/billsync/billsync"
)

type fixedStatus billsync.Status

func (f fixedStatus) Status(context.Context) (billsync.Status, error) { return billsync.Status(f), nil }

// The status route answers read tokens with the reader's figures, and
// 503 on a server without one.
func TestStatusRoute(t *testing.T) {
	h := newHarness(t)
	if res := h.do("GET", "/api/v1/status", readToken, nil, nil); res.status != 503 {
		t.Fatalf("without a status reader: %d %s", res.status, res.body)
	}
	want := billsync.Status{Stream: billsync.StreamStatus{Connected: true}, APIUsed: 12, APIMax: 100, SyncedLastHour: 7,
		Trend: []billsync.StatusSample{{Pending: 3, APIUsed: 12, Synced: 7}}}
	h = newHarness(t, func(c *Config) { c.Status = fixedStatus(want) })
	var got billsync.Status
	res := h.do("GET", "/api/v1/status", readToken, nil, nil)
	res.json(t, &got)
	if res.status != 200 || !got.Stream.Connected || got.APIUsed != 12 || got.SyncedLastHour != 7 || len(got.Trend) != 1 || got.Trend[0].Pending != 3 {
		t.Fatalf("status %d %+v", res.status, got)
	}
}

// The sync log filters by direction and reason; a direction that is not
// one is refused with the accepted names.
func TestLogsByDirectionAndReason(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.store.AppendLog(ctx,
		billsync.LogEntry{Direction: billsync.ToSalesforce, Object: billsync.ObjectAccount, BillingID: "a1", Outcome: billsync.OutcomeSkipped, Reason: billsync.ReasonEcho},
		billsync.LogEntry{Direction: billsync.ToBilling, Object: billsync.ObjectAccount, BillingID: "a2", Outcome: billsync.OutcomeSkipped, Reason: billsync.ReasonEcho},
		billsync.LogEntry{Direction: billsync.ToBilling, Object: billsync.ObjectAccount, BillingID: "a3", Outcome: billsync.OutcomeSkipped, Reason: billsync.ReasonStale},
	); err != nil {
		t.Fatal(err)
	}
	var page struct {
		Entries []billsync.LogEntry `json:"entries"`
	}
	res := h.do("GET", "/api/v1/logs?direction=to_billing&reason=echo", readToken, nil, nil)
	res.json(t, &page)
	if res.status != 200 || len(page.Entries) != 1 || page.Entries[0].BillingID != "a2" {
		t.Fatalf("filtered: %d %+v", res.status, page.Entries)
	}
	if res := h.do("GET", "/api/v1/logs?direction=up", readToken, nil, nil); res.status != 400 {
		t.Fatalf("bad direction: %d %s", res.status, res.body)
	}
}
