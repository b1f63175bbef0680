package adminclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/billsync/billsync"
)

// HeldRuns lists the runs the mass-change guard held, newest first.
func (c *Client) HeldRuns(ctx context.Context, f billsync.HeldRunFilter) ([]billsync.HeldRun, error) {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", f.State)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out struct {
		HeldRuns []billsync.HeldRun `json:"heldRuns"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/held", q, nil, &out); err != nil {
		return nil, err
	}
	return out.HeldRuns, nil
}

// HeldRun returns one held run; ENOTFOUND when there is none.
func (c *Client) HeldRun(ctx context.Context, id int64) (*billsync.HeldRun, error) {
	return c.heldRun(ctx, http.MethodGet, id, "")
}

// ApproveHeldRun queues the held run's changes; the server records this
// client's token name as the one who decided. ECONFLICT when the run is
// not pending (any more), ENOTFOUND when there is none.
func (c *Client) ApproveHeldRun(ctx context.Context, id int64) (*billsync.HeldRun, error) {
	return c.heldRun(ctx, http.MethodPost, id, "/approve")
}

// DiscardHeldRun drops the held run's changes; nothing is written to
// either side. Errors as ApproveHeldRun.
func (c *Client) DiscardHeldRun(ctx context.Context, id int64) (*billsync.HeldRun, error) {
	return c.heldRun(ctx, http.MethodPost, id, "/discard")
}

func (c *Client) heldRun(ctx context.Context, method string, id int64, action string) (*billsync.HeldRun, error) {
	if id < 1 {
		return nil, billsync.Errorf(billsync.EINVALID, "held run id %d: want a positive number", id)
	}
	var body []byte
	if method == http.MethodPost {
		body = []byte(`{}`)
	}
	var out billsync.HeldRun
	if err := c.do(ctx, method, "/api/v1/held/"+strconv.FormatInt(id, 10)+action, nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
