package adminclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/billsync/billsync"
)

// Conflicts returns one page of conflicts, newest first, and the cursor
// of the next page ("" on the last).
func (c *Client) Conflicts(ctx context.Context, f billsync.ConflictFilter) ([]billsync.Conflict, string, error) {
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", f.Status)
	}
	if f.Object != "" {
		q.Set("object", string(f.Object))
	}
	if f.Record != "" {
		q.Set("record", f.Record)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	var out struct {
		Conflicts  []billsync.Conflict `json:"conflicts"`
		NextCursor *string             `json:"nextCursor"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/conflicts", q, nil, &out); err != nil {
		return nil, "", err
	}
	next := ""
	if out.NextCursor != nil {
		next = *out.NextCursor
	}
	return out.Conflicts, next, nil
}

// Conflict returns one conflict; ENOTFOUND when there is none.
func (c *Client) Conflict(ctx context.Context, id int64) (*billsync.Conflict, error) {
	if err := checkConflictID(id); err != nil {
		return nil, err
	}
	var out billsync.Conflict
	if err := c.do(ctx, http.MethodGet, "/api/v1/conflicts/"+strconv.FormatInt(id, 10), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ResolveConflict settles a held conflict in favour of winner; the server
// records this client's token name as the one who decided. ECONFLICT when
// the conflict is not held (any more), ENOTFOUND when there is none.
func (c *Client) ResolveConflict(ctx context.Context, id int64, winner billsync.Side) (*billsync.Conflict, error) {
	if err := checkConflictID(id); err != nil {
		return nil, err
	}
	if winner != billsync.SideBilling && winner != billsync.SideSalesforce {
		return nil, billsync.Errorf(billsync.EINVALID, "winner %q: want %s or %s", winner, billsync.SideBilling, billsync.SideSalesforce)
	}
	body, err := json.Marshal(struct {
		Winner billsync.Side `json:"winner"`
	}{winner})
	if err != nil {
		return nil, billsync.Errorf(billsync.EINTERNAL, "resolve conflict %d: %v", id, err)
	}
	var out billsync.Conflict
	if err := c.do(ctx, http.MethodPost, "/api/v1/conflicts/"+strconv.FormatInt(id, 10)+"/resolve", nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// StartResync asks the server to start a resync and returns its first
// report, whose ID Resync follows.
func (c *Client) StartResync(ctx context.Context, req billsync.ResyncRequest) (*billsync.ResyncReport, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "resync request: %v", err)
	}
	var out billsync.ResyncReport
	if err := c.do(ctx, http.MethodPost, "/api/v1/resync", nil, body, &out); err != nil {
		return nil, err
	}
	if out.ID == "" {
		return nil, billsync.Errorf(billsync.EINTERNAL, "POST /api/v1/resync: the answer has no resync id")
	}
	return &out, nil
}

// Resync returns a resync's report as it stands; ENOTFOUND for an unknown
// id.
func (c *Client) Resync(ctx context.Context, id string) (*billsync.ResyncReport, error) {
	if id == "" || id == "." || id == ".." {
		return nil, billsync.Errorf(billsync.EINVALID, "resync id %q is not valid", id)
	}
	var out billsync.ResyncReport
	if err := c.do(ctx, http.MethodGet, "/api/v1/resync/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func checkConflictID(id int64) error {
	if id < 1 {
		return billsync.Errorf(billsync.EINVALID, "conflict id %d: want a positive number", id)
	}
	return nil
}
