package stripe

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/billsync/billsync/emulate/outbound"
	"net/http"
	"strconv"
	"time"
)

// deliveryWorkers is how many webhook deliveries are in flight at once.
// Stripe does not order deliveries; neither does the emulator.
const deliveryWorkers = 8

// maxRetryAge is how long Stripe keeps retrying a delivery in test mode
// (three days).
const maxRetryAge = 3 * 24 * time.Hour

// DefaultRetryBackoff doubles from one second up to five minutes.
func DefaultRetryBackoff(attempt int) time.Duration { return outbound.DefaultBackoff(attempt) }

// delivery is one event owed to one endpoint.
type delivery struct {
	Event    string `json:"event"`
	Endpoint string `json:"endpoint"`
	Created  int64  `json:"created"`
	outbound.State
}

func (d *delivery) key() string { return d.Event + "/" + d.Endpoint }

func (e *Emulator) queueLocked(d *delivery) {
	e.pending[d.key()] = d
	e.noteLocked(journalEntry{Queue: d})
	e.deliv.AddLocked(d)
}

// pendingFor counts the endpoints an event is still owed to.
func (e *Emulator) pendingFor(eventID string) int {
	n := 0
	for _, d := range e.pending {
		if d.Event == eventID {
			n++
		}
	}
	return n
}

func (e *Emulator) dropDeliveriesLocked(endpoint string) {
	for k, d := range e.pending {
		if d.Endpoint == endpoint {
			delete(e.pending, k)
			e.noteLocked(journalEntry{Done: k})
		}
	}
}

// PauseDelivery holds every delivery (true) until called with false.
// Redeliver still sends while paused.
func (e *Emulator) PauseDelivery(paused bool) { e.deliv.Pause(paused) }

// Pending is the number of deliveries not yet accepted.
func (e *Emulator) Pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.pending)
}

// Redeliver sends an event now, synchronously, to every enabled endpoint
// that wants it, whether or not it was delivered before (a duplicate, as
// Stripe sends at times), and even while delivery is paused. A pending
// delivery of it to an endpoint that accepts counts as done.
func (e *Emulator) Redeliver(eventID string) error {
	e.mu.Lock()
	i, ok := e.eventIdx[eventID]
	if !ok {
		e.mu.Unlock()
		return fmt.Errorf("stripe emulator: no event %s", eventID)
	}
	ev := e.events[i]
	var ts []outbound.Target
	var ids []string
	for _, we := range e.tables[kEndpoint].order {
		if we["deleted"] != true && we["status"] == "enabled" && wants(we, ev["type"].(string)) {
			ts, ids = append(ts, e.targetLocked(ev, we)), append(ids, we["id"].(string))
		}
	}
	e.mu.Unlock()
	if len(ts) == 0 {
		return fmt.Errorf("stripe emulator: no enabled webhook endpoint takes %s events", ev["type"])
	}
	var errs []error
	for i, t := range ts {
		if err := e.deliv.Post(context.Background(), t); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ids[i], err))
			continue
		}
		e.mu.Lock()
		k := eventID + "/" + ids[i]
		if d := e.pending[k]; d != nil && !d.InFlight() {
			delete(e.pending, k)
			e.noteLocked(journalEntry{Done: k})
			e.saveLocked()
		}
		e.mu.Unlock()
	}
	return errors.Join(errs...)
}

// payload is an event as one endpoint receives it: at the endpoint's API
// version (the shape is the pinned one's).
func payload(ev, we obj) []byte {
	out := public(ev)
	if v, ok := we["api_version"].(string); ok && v != "" {
		out["api_version"] = v
	}
	b, _ := json.Marshal(out)
	return b
}

// targetLocked is an event as endpoint we receives it, signed now.
func (e *Emulator) targetLocked(ev, we obj) outbound.Target {
	body := payload(ev, we)
	return outbound.Target{URL: we["url"].(string), Body: body, Header: http.Header{
		"Content-Type":     {"application/json; charset=utf-8"},
		"Stripe-Signature": {Sign(we["_secret"].(string), e.now(), body)},
	}}
}

// outbox is the Emulator as the delivery queue's host; its methods run
// under e.mu.
type outbox Emulator

func (o *outbox) Current(d *delivery) bool { return o.pending[d.key()] == d }
func (o *outbox) Save()                    { (*Emulator)(o).saveLocked() }

func (o *outbox) Expired(d *delivery) bool {
	return (*Emulator)(o).now().Sub(time.Unix(d.Created, 0)) >= maxRetryAge
}

// Target is Gone when the endpoint or the event is, and held (no URL)
// while the endpoint is disabled.
func (o *outbox) Target(d *delivery) outbound.Target {
	we := o.tables[kEndpoint].byID[d.Endpoint]
	i, ok := o.eventIdx[d.Event]
	if we == nil || we["deleted"] == true || !ok {
		return outbound.Target{Gone: true}
	}
	if we["status"] != "enabled" {
		return outbound.Target{}
	}
	return (*Emulator)(o).targetLocked(o.events[i], we)
}

func (o *outbox) Delivered(d *delivery) {
	delete(o.pending, d.key())
	(*Emulator)(o).noteLocked(journalEntry{Done: d.key()})
}

func (o *outbox) Dropped(d *delivery, err error) {
	o.Delivered(d)
	if err != nil {
		o.log.Error("stripe emulator: webhook dropped after three days of failed deliveries", "event", d.Event, "endpoint", d.Endpoint, "err", err)
	}
}

func (o *outbox) Retrying(d *delivery, delay time.Duration, err error) {
	(*Emulator)(o).noteLocked(journalEntry{Queue: d})
	o.log.Warn("stripe emulator: webhook delivery failed; will retry", "event", d.Event, "endpoint", d.Endpoint,
		"attempt", d.Attempts, "retry_in", delay, "err", err)
}

// Sign computes a Stripe-Signature header value for body at time t:
// "t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">", keyed with the whole
// "whsec_..." secret as bytes, as Stripe signs.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// WebhookSecret returns an endpoint's signing secret (which the API shows
// only when the endpoint is created).
func (e *Emulator) WebhookSecret(endpointID string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	we := e.tables[kEndpoint].byID[endpointID]
	if we == nil {
		return "", false
	}
	s, _ := we["_secret"].(string)
	return s, true
}
