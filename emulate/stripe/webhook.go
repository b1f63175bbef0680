package stripe

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// deliveryWorkers is how many webhook deliveries are in flight at once.
// Stripe does not order deliveries; neither does the emulator.
const deliveryWorkers = 8

// maxRetryAge is how long Stripe keeps retrying a delivery in test mode
// (three days).
const maxRetryAge = 3 * 24 * time.Hour

// DefaultRetryBackoff doubles from one second up to five minutes.
func DefaultRetryBackoff(attempt int) time.Duration {
	d := time.Second
	for i := 1; i < attempt && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// delivery is one event owed to one endpoint.
type delivery struct {
	Event     string `json:"event"`
	Endpoint  string `json:"endpoint"`
	Created   int64  `json:"created"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"lastError,omitempty"`

	notBefore time.Time // monotonic; a reload retries at once
	inflight  bool
}

func (d *delivery) key() string { return d.Event + "/" + d.Endpoint }

// deliveryQueue is the workers' view of the pending deliveries (which
// live in state.pending): due ones in ready, failed ones waiting in retry.
type deliveryQueue struct {
	cond     *sync.Cond
	ready    []*delivery
	retry    []*delivery
	paused   bool
	stopping bool
	wake     chan struct{}
}

func (q *deliveryQueue) init(mu *sync.Mutex) {
	q.cond = sync.NewCond(mu)
	q.wake = make(chan struct{}, 1)
}

func (e *Emulator) queueLocked(d *delivery) {
	e.pending[d.key()] = d
	e.noteLocked(journalEntry{Queue: d})
	e.deliv.ready = append(e.deliv.ready, d)
	e.deliv.cond.Signal()
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
func (e *Emulator) PauseDelivery(paused bool) {
	e.mu.Lock()
	e.deliv.paused = paused
	e.deliv.cond.Broadcast()
	e.mu.Unlock()
}

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
	type target struct{ id, url, secret string }
	var ts []target
	var bodies [][]byte
	for _, we := range e.tables[kEndpoint].order {
		if we["deleted"] != true && we["status"] == "enabled" && wants(we, ev["type"].(string)) {
			ts = append(ts, target{we["id"].(string), we["url"].(string), we["_secret"].(string)})
			bodies = append(bodies, payload(ev, we))
		}
	}
	e.mu.Unlock()
	if len(ts) == 0 {
		return fmt.Errorf("stripe emulator: no enabled webhook endpoint takes %s events", ev["type"])
	}
	var errs []error
	for i, t := range ts {
		if err := e.post(context.Background(), t.url, t.secret, bodies[i]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.id, err))
			continue
		}
		e.mu.Lock()
		k := eventID + "/" + t.id
		if d := e.pending[k]; d != nil && !d.inflight {
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

func (e *Emulator) startDelivery(ctx context.Context) {
	e.wg.Add(2 + deliveryWorkers)
	go func() { defer e.wg.Done(); e.retryLoop(ctx) }()
	go func() {
		defer e.wg.Done()
		<-ctx.Done()
		e.mu.Lock()
		e.deliv.stopping = true
		e.deliv.cond.Broadcast()
		e.mu.Unlock()
	}()
	for range deliveryWorkers {
		go func() { defer e.wg.Done(); e.worker(ctx) }()
	}
}

func (e *Emulator) worker(ctx context.Context) {
	q := &e.deliv
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		for !q.stopping && (q.paused || len(q.ready) == 0) {
			q.cond.Wait()
		}
		if q.stopping {
			return
		}
		d := q.ready[0]
		q.ready[0] = nil
		q.ready = q.ready[1:]
		if e.pending[d.key()] != d || d.inflight {
			continue // done meanwhile (Redeliver, endpoint deleted)
		}
		we := e.tables[kEndpoint].byID[d.Endpoint]
		i, ok := e.eventIdx[d.Event]
		if we == nil || we["deleted"] == true || !ok {
			delete(e.pending, d.key())
			e.noteLocked(journalEntry{Done: d.key()})
			e.saveLocked()
			continue
		}
		if we["status"] != "enabled" {
			continue // held until the endpoint is enabled again and the event redelivered
		}
		body, url, secret := payload(e.events[i], we), we["url"].(string), we["_secret"].(string)
		d.inflight = true
		e.mu.Unlock()
		err := e.post(ctx, url, secret, body)
		e.mu.Lock()
		d.inflight = false
		e.settleLocked(d, err)
	}
}

func (e *Emulator) settleLocked(d *delivery, err error) {
	defer e.saveLocked()
	if e.pending[d.key()] != d {
		return
	}
	d.Attempts++
	switch {
	case err == nil:
		delete(e.pending, d.key())
		e.noteLocked(journalEntry{Done: d.key()})
	case e.now().Sub(time.Unix(d.Created, 0)) >= maxRetryAge:
		delete(e.pending, d.key())
		e.noteLocked(journalEntry{Done: d.key()})
		e.log.Error("stripe emulator: webhook dropped after three days of failed deliveries", "event", d.Event, "endpoint", d.Endpoint, "err", err)
	default:
		d.LastError = err.Error()
		e.noteLocked(journalEntry{Queue: d})
		delay := e.backoff(d.Attempts)
		d.notBefore = time.Now().Add(delay)
		e.deliv.retry = append(e.deliv.retry, d)
		select {
		case e.deliv.wake <- struct{}{}:
		default:
		}
		e.log.Warn("stripe emulator: webhook delivery failed; will retry", "event", d.Event, "endpoint", d.Endpoint,
			"attempt", d.Attempts, "retry_in", delay, "err", err)
	}
}

// retryLoop hands failed deliveries back to the workers once their
// backoff has passed.
func (e *Emulator) retryLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		e.mu.Lock()
		now := time.Now()
		var wake time.Time
		keep := e.deliv.retry[:0]
		for _, d := range e.deliv.retry {
			switch {
			case !d.notBefore.After(now):
				e.deliv.ready = append(e.deliv.ready, d)
				e.deliv.cond.Signal()
			default:
				keep = append(keep, d)
				if wake.IsZero() || d.notBefore.Before(wake) {
					wake = d.notBefore
				}
			}
		}
		clear(e.deliv.retry[len(keep):])
		e.deliv.retry = keep
		e.mu.Unlock()
		next := time.Hour
		if !wake.IsZero() {
			next = time.Until(wake)
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-e.deliv.wake:
		case <-timer.C:
		}
	}
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

// post makes one delivery attempt, signed now.
func (e *Emulator) post(ctx context.Context, url, secret string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook URL %q: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", Sign(secret, e.now(), body))
	resp, err := e.httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %d: %s", resp.StatusCode, bytes.TrimSpace(snippet))
	}
	return nil
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
