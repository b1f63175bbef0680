package adminclient

import (
	"context"
	"net/http"

	"github.com/billsync/billsync/alert"
)

// Alerts lists every alert rule's standing: state (ok, pending, firing),
// since when, the last reading and the last message sent for it.
// EUNAVAILABLE from a server that evaluates no alerts.
func (c *Client) Alerts(ctx context.Context) ([]alert.Status, error) {
	var out struct {
		Alerts []alert.Status `json:"alerts"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/alerts", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Alerts, nil
}
