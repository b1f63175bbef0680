package m3ter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// deliveryWorkers is how many webhook deliveries are in flight at once:
// deliveries are not ordered, so a receiver must not rely on order.
const deliveryWorkers = 4

// maxRetryAge is how long a failing delivery is retried before it is
// dropped (m3ter's schedule is unpublished; PROVISIONAL: one day).
const maxRetryAge = 24 * time.Hour

// DefaultRetryBackoff doubles from one second up to five minutes.
func DefaultRetryBackoff(attempt int) time.Duration {
	d := time.Second
	for i := 1; i < attempt && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// delivery is one event owed through one integration config (to its
// webhook destination).
type delivery struct {
	Event     string    `json:"event"`
	Config    string    `json:"config"`
	Created   time.Time `json:"created"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError,omitempty"`

	notBefore time.Time // monotonic; a reload retries at once
	inflight  bool
}

func (d *delivery) key() string { return d.Event + "/" + d.Config }

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

func (e *Emulator) doneLocked(d *delivery) {
	delete(e.pending, d.key())
	e.noteLocked(journalEntry{Done: d.key()})
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

// target is where one delivery goes.
type target struct {
	config, url string
	body        []byte
}

// targetLocked resolves a delivery's destination now: ok is false when
// the config, its destination or the event is gone (the delivery is
// dropped); url is "" while the destination or config is switched off.
func (e *Emulator) targetLocked(eventID, configID string) (target, bool) {
	ev := e.tables[kEvent].byID[eventID]
	ic := e.tables[kIntegration].byID[configID]
	if ev == nil || ic == nil {
		return target{}, false
	}
	dest := e.tables[kDestination].byID[strOf(ic["destinationId"])]
	if dest == nil {
		return target{}, false
	}
	t := target{config: configID}
	if dest["active"] == true && ic["enabled"] != false {
		t.url = strOf(dest["url"])
		t.body, _ = json.Marshal(public(ev))
	}
	return t, true
}

// Redeliver sends an event now, synchronously, through every enabled
// integration config whose notification it fired, whether or not it was
// delivered before (a duplicate), and even while delivery is paused. A
// pending delivery of it that is accepted counts as done.
func (e *Emulator) Redeliver(eventID string) error {
	e.mu.Lock()
	ev := e.tables[kEvent].byID[eventID]
	if ev == nil {
		e.mu.Unlock()
		return fmt.Errorf("m3ter emulator: no event %s", eventID)
	}
	fired, _ := ev["_notifications"].([]any)
	var ts []target
	for _, ic := range e.tables[kIntegration].order {
		for _, n := range fired {
			if ic["entityType"] == "Notification" && ic["entityId"] == n {
				if t, ok := e.targetLocked(eventID, ic["id"].(string)); ok && t.url != "" {
					ts = append(ts, t)
				}
			}
		}
	}
	e.mu.Unlock()
	if len(ts) == 0 {
		return fmt.Errorf("m3ter emulator: no active webhook destination takes %s events", ev["eventName"])
	}
	var errs []error
	for _, t := range ts {
		if err := e.post(context.Background(), t.url, t.body); err != nil {
			errs = append(errs, fmt.Errorf("integration config %s: %w", t.config, err))
			continue
		}
		e.mu.Lock()
		if d := e.pending[eventID+"/"+t.config]; d != nil && !d.inflight {
			e.doneLocked(d)
			e.noteRunLocked(t.config, "COMPLETE", "")
			e.saveLocked()
		}
		e.mu.Unlock()
	}
	return errors.Join(errs...)
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
			continue // done meanwhile (Redeliver)
		}
		t, ok := e.targetLocked(d.Event, d.Config)
		if !ok {
			e.doneLocked(d)
			e.saveLocked()
			continue
		}
		if t.url == "" {
			continue // held until switched on again and the event redelivered
		}
		d.inflight = true
		e.mu.Unlock()
		err := e.post(ctx, t.url, t.body)
		e.mu.Lock()
		d.inflight = false
		e.settleLocked(d, err)
	}
}

// noteRunLocked records a delivery's outcome on its integration config,
// which GET integrationconfigs/{id} shows as the run's status.
func (e *Emulator) noteRunLocked(configID, status, errText string) {
	ic := e.tables[kIntegration].byID[configID]
	if ic == nil {
		return
	}
	ic["_runStatus"], ic["_runError"], ic["_runAt"] = status, errText, timestamp(e.now())
	e.putLocked(kIntegration, ic)
}

func (e *Emulator) settleLocked(d *delivery, err error) {
	defer e.saveLocked()
	if e.pending[d.key()] != d {
		return
	}
	d.Attempts++
	switch {
	case err == nil:
		e.doneLocked(d)
		e.noteRunLocked(d.Config, "COMPLETE", "")
	case e.now().Sub(d.Created) >= maxRetryAge:
		e.doneLocked(d)
		e.noteRunLocked(d.Config, "ERROR", err.Error())
		e.log.Error("m3ter emulator: webhook dropped after a day of failed deliveries", "event", d.Event, "integration_config", d.Config, "err", err)
	default:
		d.LastError = err.Error()
		e.noteLocked(journalEntry{Queue: d})
		e.noteRunLocked(d.Config, "AWAITING_RETRY", err.Error())
		delay := e.backoff(d.Attempts)
		d.notBefore = time.Now().Add(delay)
		e.deliv.retry = append(e.deliv.retry, d)
		select {
		case e.deliv.wake <- struct{}{}:
		default:
		}
		e.log.Warn("m3ter emulator: webhook delivery failed; will retry", "event", d.Event, "integration_config", d.Config,
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
			if !d.notBefore.After(now) {
				e.deliv.ready = append(e.deliv.ready, d)
				e.deliv.cond.Signal()
				continue
			}
			keep = append(keep, d)
			if wake.IsZero() || d.notBefore.Before(wake) {
				wake = d.notBefore
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

// post makes one delivery attempt. Unsigned: m3ter's signing scheme is
// unpublished, and receivers are told to trust only the entity id.
func (e *Emulator) post(ctx context.Context, url string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook URL %q: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "m3ter-emulator (billsync)")
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
