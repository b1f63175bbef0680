package httpserver

import (
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/alert"
)

// GET /api/v1/alerts lists each rule's standing to read tokens too; the
// route needs a token, and a server without alerts says so (503).
func TestAlertsRoute(t *testing.T) {
	since := testNow.Add(-time.Minute)
	h := newHarness(t, func(c *Config) {
		c.Alerts = func() []alert.Status {
			return []alert.Status{{Rule: alert.StreamDown, Title: "Salesforce event stream down", State: alert.StateFiring,
				Since: since, Detail: "503", Last: &alert.Message{Text: "billsync FIRING: …", State: alert.Firing}}}
		}
	})
	res := h.do("GET", "/api/v1/alerts", readToken, nil, nil)
	var got struct{ Alerts []alert.Status }
	res.json(t, &got)
	if res.status != 200 || len(got.Alerts) != 1 {
		t.Fatalf("%d %s", res.status, res.body)
	}
	if a := got.Alerts[0]; a.Rule != alert.StreamDown || a.State != alert.StateFiring || !a.Since.Equal(since) ||
		a.Last == nil || a.Last.State != alert.Firing {
		t.Errorf("alert %+v", a)
	}
	if res := h.do("GET", "/api/v1/alerts", "", nil, nil); res.status != 401 {
		t.Errorf("without a token: %d", res.status)
	}
	if res := h.do("POST", "/api/v1/alerts", readToken, []byte(`{}`), nil); res.status == 200 {
		t.Errorf("POST with a read token: %d", res.status)
	}

	h = newHarness(t)
	res = h.do("GET", "/api/v1/alerts", opsToken, nil, nil)
	if res.status != 503 || res.errorOf(t).Code != billsync.EUNAVAILABLE {
		t.Errorf("without alerts: %d %s", res.status, res.body)
	}
}
