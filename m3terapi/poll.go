package m3terapi

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/billsync/billsync"
)

// startCheckpoint is the checkpoint of a first poll that found no event
// at all: every event held from then on is new. ("" would make the next
// poll a first poll again, which only looks for where the events end and
// would pass over the events made in between.)
const startCheckpoint = "<start>"

// Poll returns the changes of the events after checkpoint (an event id),
// decoded as their deliveries are so each has the same EventID, and the
// newest event's id as the next checkpoint. m3ter's events API has no
// time filter and lists newest first, so Poll reads pages until it meets
// the checkpoint. One that m3ter no longer holds (events are kept 28
// days) is not met: every event held is then read, and what is older is
// a resync's job. The first poll (checkpoint "") only finds where the
// events end.
func (c *Client) Poll(ctx context.Context, checkpoint string) ([]*billsync.Change, string, error) {
	now := c.clock()
	if c.ServiceUser() == "" && c.userProbed.CompareAndSwap(false, true) {
		// Echo detection needs billsync's own user, asked once; a failure
		// here is not the poll's: without it, billsync's writes are told
		// apart by the engine instead.
		_, _ = c.Tenant(ctx)
	}
	if checkpoint == "" {
		var p page[json.RawMessage]
		if err := c.get(ctx, c.orgPath("events"), pageQuery("", 1, 100), &p); err != nil {
			return nil, "", err
		}
		if len(p.Data) == 0 {
			return nil, startCheckpoint, nil
		}
		ev, err := parseEvent(p.Data[0])
		if err != nil {
			return nil, "", &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 200, Message: "GET events: " + billsync.ErrorMessage(err)}
		}
		return nil, ev.ID, nil
	}
	evs, err := c.eventsAfter(ctx, checkpoint)
	if err != nil {
		return nil, "", err
	}
	if len(evs) == 0 {
		return nil, checkpoint, nil
	}
	next := evs[0].ID
	slices.Reverse(evs) // oldest first: the order they happened in
	var out []*billsync.Change
	user := c.ServiceUser()
	for _, ev := range evs {
		cs, err := ev.changes(user, now)
		if err != nil {
			// A malformed event is skipped, as its delivery would be
			// refused: stopping here would hold every later event back.
			continue
		}
		out = append(out, cs...)
	}
	return out, next, nil
}

// eventsAfter are the events newer than checkpoint, newest first.
func (c *Client) eventsAfter(ctx context.Context, checkpoint string) ([]*event, error) {
	var out []*event
	token := ""
	for {
		var p page[json.RawMessage]
		if err := c.get(ctx, c.orgPath("events"), pageQuery(token, 100, 100), &p); err != nil {
			return nil, err
		}
		for _, raw := range p.Data {
			ev, err := parseEvent(raw)
			if err != nil {
				return nil, &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 200, Message: "GET events: " + billsync.ErrorMessage(err)}
			}
			if ev.ID == checkpoint {
				return out, nil
			}
			out = append(out, ev)
		}
		if token = p.next(); token == "" || len(p.Data) == 0 {
			return out, nil
		}
	}
}
