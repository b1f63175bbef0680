package monetizenowapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/billsync/billsync"
)

// Poll finds what webhooks missed (MonetizeNow documents no retry of a
// failed delivery): it pages through the quotes and reads again each one
// modified at or after checkpoint (the newest modifyDate a previous poll
// saw; "" reads them all, so a first start picks up the quotes already
// there). Each change's EventID stands for the quote's content, so an
// unchanged quote read twice is queued once. A quote whose list entry
// has no modifyDate is always read.
func (c *Client) Poll(ctx context.Context, checkpoint string) ([]*billsync.Change, string, error) {
	var since time.Time
	if checkpoint != "" {
		t, err := time.Parse(time.RFC3339Nano, checkpoint)
		if err != nil {
			return nil, "", billsync.Errorf(billsync.EINVALID, "monetizenow: poll checkpoint %q is not a time", checkpoint)
		}
		since = t
	}
	now := c.clock().UTC()
	newest := since
	var out []*billsync.Change
	for n := 0; ; n++ {
		var p page[quote]
		if err := c.get(ctx, "/api/quotes", pageQuery(n, 100), &p); err != nil {
			return nil, "", err
		}
		for i := range p.Content {
			q := &p.Content[i]
			mod, err := time.Parse(time.RFC3339Nano, instant(q.ModifyDate))
			if err == nil {
				if mod.After(newest) {
					newest = mod
				}
				if !since.IsZero() && mod.Before(since) {
					continue
				}
			}
			e, err := c.getQuote(ctx, q.ID)
			if billsync.ErrorCode(err) == billsync.ENOTFOUND {
				continue
			}
			if err != nil {
				return nil, "", err
			}
			b, err := json.Marshal(e)
			if err != nil {
				return nil, "", billsync.Errorf(billsync.EINTERNAL, "monetizenow: quote %s: %v", q.ID, err)
			}
			sum := sha256.Sum256(b)
			out = append(out, &billsync.Change{Partition: billsync.QuotePartition(e.ID()), Source: billsync.SideBilling,
				Object: billsync.ObjectQuote, Op: billsync.OpUpdated, RecordID: e.ID(),
				EventID: "monetizenow:quote:" + e.ID() + ":" + hex.EncodeToString(sum[:16]), Payload: b, OccurredAt: now, EnqueuedAt: now})
		}
		if p.next(n) == "" {
			break
		}
	}
	next := checkpoint
	if !newest.IsZero() {
		next = newest.UTC().Format(time.RFC3339Nano)
	}
	return out, next, nil
}
