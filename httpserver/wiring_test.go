package httpserver

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

// seamDecoder is a billing adapter other than the contract's: the server
// must answer from the decoder's result alone, knowing no body format.
type seamDecoder struct {
	fakeVerifier
	changes []*billsync.Change // nil with err nil: an event of no use
	err     error
}

func (d seamDecoder) Decode(webhookID string, body []byte, now time.Time) ([]*billsync.Change, error) {
	if d.err != nil {
		return nil, d.err
	}
	var out []*billsync.Change
	for i, ch := range d.changes {
		if ch == nil {
			out = append(out, nil)
			continue
		}
		c := *ch
		c.EventID = fmt.Sprintf("other:%s:%d", webhookID, i)
		out = append(out, &c)
	}
	return out, nil
}

func TestWebhookDecoderSeam(t *testing.T) {
	change := &billsync.Change{Partition: "account:cus_1", Source: billsync.SideBilling, Object: billsync.ObjectAccount,
		Op: billsync.OpUpdated, RecordID: "cus_1", Payload: []byte(`{"id":"cus_1"}`)}
	balance := &billsync.Change{Partition: "account:cus_1", Source: billsync.SideBilling, Object: billsync.ObjectBalance,
		Op: billsync.OpUpdated, RecordID: "cus_1.usd", Payload: []byte(`{"id":"cus_1.usd"}`)}
	h := newHarness(t, func(c *Config) { c.Webhooks = seamDecoder{changes: []*billsync.Change{change, balance}} })
	body := []byte(`not the contract's format at all`)
	for i, want := range []string{`"status":"accepted"`, `"status":"duplicate"`} {
		res := h.do("POST", "/webhooks/billing", "", body, signedHeader("evt_1"))
		if res.status != http.StatusOK || !strings.Contains(string(res.body), want) {
			t.Fatalf("delivery %d: %d %s", i+1, res.status, res.body)
		}
	}
	// One event, two changes: both kept, in the decoder's order, once.
	if q := h.store.Queued(); len(q) != 2 || q[0].EventID != "other:evt_1:0" || q[0].RecordID != "cus_1" ||
		q[1].EventID != "other:evt_1:1" || q[1].RecordID != "cus_1.usd" {
		t.Fatalf("queued %+v", q)
	}

	// An event of no use is acknowledged and kept nowhere.
	h = newHarness(t, func(c *Config) { c.Webhooks = seamDecoder{} })
	res := h.do("POST", "/webhooks/billing", "", body, signedHeader("evt_0"))
	if res.status != http.StatusOK || !strings.Contains(string(res.body), `"status":"ignored"`) || len(h.store.Queued()) != 0 {
		t.Fatalf("no changes: %d %s, queued %d", res.status, res.body, len(h.store.Queued()))
	}

	// A decoder's uncoded failure is still the sender's 400, with its
	// message; an unsigned request is refused before Decode.
	h = newHarness(t, func(c *Config) {
		c.Webhooks = seamDecoder{err: errors.New("unknown event type customer.tax_id.created")}
	})
	res = h.do("POST", "/webhooks/billing", "", body, signedHeader("evt_2"))
	if e := res.errorOf(t); res.status != http.StatusBadRequest || e.Code != billsync.EINVALID || e.Message != "unknown event type customer.tax_id.created" {
		t.Errorf("uncoded decode failure: %d %s", res.status, res.body)
	}
	if res := h.do("POST", "/webhooks/billing", "", body, http.Header{"Webhook-Id": {"evt_3"}}); res.status != http.StatusUnauthorized {
		t.Errorf("unsigned: %d %s", res.status, res.body)
	}

	// A nil change is the decoder's bug: a 500 the sender retries, with
	// no detail.
	h = newHarness(t, func(c *Config) { c.Webhooks = seamDecoder{changes: []*billsync.Change{nil}} })
	res = h.do("POST", "/webhooks/billing", "", body, signedHeader("evt_4"))
	if e := res.errorOf(t); res.status != http.StatusInternalServerError || e.Message != "internal error" {
		t.Errorf("no change, no error: %d %s", res.status, res.body)
	}
	if len(h.store.Queued()) != 0 || h.enqueued.Load() != 0 {
		t.Error("queued after a refused webhook")
	}
}

// Metrics are built before the server (the engine reports to them first)
// and the server serves and counts into the ones it is given.
func TestMetricsBuiltFirst(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(MetricsConfig{Registry: reg, Gauges: &mock.Store{Now: func() time.Time { return testNow }}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Registry() != reg {
		t.Fatal("NewMetrics did not keep the registry it was given")
	}
	m.ObserveSync("billing_to_salesforce", "account", "success", time.Millisecond)
	h := newHarness(t, func(c *Config) { c.Metrics = m })
	if h.srv.Metrics() != m {
		t.Fatal("the server made metrics of its own")
	}
	h.do("POST", "/webhooks/billing", "", []byte(accountUpdated), signedHeader("msg_1"))
	body := string(h.do("GET", "/metrics", "", nil, nil).body)
	for _, want := range []string{
		`billsync_sync_attempts_total{direction="billing_to_salesforce",object="account",outcome="success"} 1`,
		`billsync_webhooks_received_total{result="accepted"} 1`,
		`billsync_queue_stats_up 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// A registry given is the caller's: nothing is added to it unasked.
	if strings.Contains(body, "go_goroutines") {
		t.Error("Go collector registered on a caller's registry")
	}

	// Registering twice on one registry is refused, not a panic.
	if _, err := NewMetrics(MetricsConfig{Registry: reg}); billsync.ErrorCode(err) != billsync.EINTERNAL {
		t.Errorf("second NewMetrics on one registry: %v", err)
	}
}

// Without Config.Metrics the server has metrics of its own: the Go and
// process collectors and its counters, but no store to read gauges from.
func TestServerOwnMetrics(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Metrics = nil })
	if h.srv.Metrics() == nil || h.srv.Metrics().Registry() == nil {
		t.Fatal("no metrics")
	}
	h.do("POST", "/webhooks/billing", "", []byte(accountUpdated), signedHeader("msg_1"))
	body := string(h.do("GET", "/metrics", "", nil, nil).body)
	if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, `billsync_webhooks_received_total{result="accepted"} 1`) {
		t.Errorf("own metrics:\n%s", body)
	}
	if strings.Contains(body, "billsync_queue_depth") {
		t.Error("queue gauges without a store to read them from")
	}
}

// A platform with a webhook path of its own (Stripe's /webhooks/stripe)
// is served there as well as at /webhooks/billing; other paths are not.
func TestPlatformWebhookPath(t *testing.T) {
	change := &billsync.Change{Partition: "account:cus_1", Source: billsync.SideBilling, Object: billsync.ObjectAccount,
		Op: billsync.OpUpdated, RecordID: "cus_1", Payload: []byte(`{"id":"cus_1"}`)}
	h := newHarness(t, func(c *Config) {
		c.Webhooks = seamDecoder{changes: []*billsync.Change{change}}
		c.WebhookPath = "/webhooks/stripe"
	})
	for _, p := range []string{"/webhooks/stripe", "/webhooks/billing"} {
		if res := h.do("POST", p, "", []byte(`{}`), signedHeader("evt_"+p)); res.status != http.StatusOK {
			t.Errorf("%s: %d %s", p, res.status, res.body)
		}
	}
	if res := h.do("POST", "/webhooks/m3ter", "", []byte(`{}`), signedHeader("evt_x")); res.status != http.StatusNotFound {
		t.Errorf("/webhooks/m3ter: %d", res.status)
	}
}

// A platform whose webhooks carry no signature (m3ter) posts to a URL with
// a secret last segment: the right one is accepted, any other is not found,
// and no log line carries the token.
func TestWebhookToken(t *testing.T) {
	change := &billsync.Change{Partition: "account:acc_1", Source: billsync.SideBilling, Object: billsync.ObjectAccount,
		Op: billsync.OpUpdated, RecordID: "acc_1", Payload: []byte(`{"id":"acc_1"}`)}
	const token = "tok-3f9a1c7e5b2d48a6"
	h := newHarness(t, func(c *Config) {
		c.Webhooks = seamDecoder{changes: []*billsync.Change{change}}
		c.WebhookPath, c.WebhookToken = "/webhooks/m3ter", token
	})
	if res := h.do("POST", "/webhooks/m3ter/"+token, "", []byte(`{}`), signedHeader("evt_1")); res.status != http.StatusOK {
		t.Errorf("with the token: %d %s", res.status, res.body)
	}
	for _, p := range []string{"/webhooks/m3ter/wrong", "/webhooks/m3ter/" + token + "x", "/webhooks/m3ter"} {
		if res := h.do("POST", p, "", []byte(`{}`), signedHeader("evt_2")); res.status != http.StatusNotFound {
			t.Errorf("%s: %d", p, res.status)
		}
	}
	if strings.Contains(h.logs.String(), token) {
		t.Errorf("the token is in the log:\n%s", h.logs.String())
	}
	if !strings.Contains(h.logs.String(), "/webhooks/m3ter/<token>") {
		t.Errorf("the log does not show the webhook path:\n%s", h.logs.String())
	}
}
