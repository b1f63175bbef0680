package monetizenow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Event is one recorded change: PROVISIONAL {eventId, userId, sentTime,
// eventType, data} (see the package comment). Seq orders events.
type Event struct {
	EventID   string          `json:"eventId"`
	UserID    string          `json:"userId"`
	SentTime  string          `json:"sentTime"`
	EventType string          `json:"eventType"`
	Data      json.RawMessage `json:"data"`
	Seq       int64           `json:"-"`
}

// eventRecord is how the data directory keeps an event: its Seq too,
// which the webhook body does not carry.
type eventRecord struct {
	EventID   string          `json:"eventId"`
	UserID    string          `json:"userId"`
	SentTime  string          `json:"sentTime"`
	EventType string          `json:"eventType"`
	Data      json.RawMessage `json:"data"`
	Seq       int64           `json:"seq"`
}

// MarshalJSON keeps Seq in the data directory; body renders the webhook.
func (ev *Event) MarshalJSON() ([]byte, error) { return json.Marshal((*eventRecord)(ev)) }

// UnmarshalJSON reads what MarshalJSON wrote.
func (ev *Event) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, (*eventRecord)(ev)) }

// body is the webhook body of ev.
func (ev *Event) body() []byte {
	b, _ := json.Marshal(struct {
		EventID   string          `json:"eventId"`
		UserID    string          `json:"userId"`
		SentTime  string          `json:"sentTime"`
		EventType string          `json:"eventType"`
		Data      json.RawMessage `json:"data"`
	}{ev.EventID, ev.UserID, ev.SentTime, ev.EventType, ev.Data})
	return b
}

// Events are the recorded events of type eventType ("" for all), oldest
// first.
func (e *Emulator) Events(eventType string) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.events {
		if eventType == "" || ev.EventType == eventType {
			out = append(out, *ev)
		}
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Seq < out[i].Seq {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// eventLocked records an event of data and owes its delivery when a
// webhook URL is set.
func (e *Emulator) eventLocked(eventType string, data any) {
	raw, _ := json.Marshal(data)
	e.eventSeq++
	ev := &Event{EventID: newID("evnt_"), UserID: userID, SentTime: e.now(), EventType: eventType, Data: raw, Seq: e.eventSeq}
	e.apply(&journalEntry{Event: ev})
	e.noteLocked(journalEntry{Event: ev})
	if e.webhookURL == "" {
		return
	}
	d := &delivery{Event: ev.EventID, Created: time.Now().UTC()}
	e.pending[d.Event] = d
	e.noteLocked(journalEntry{Queue: d})
	e.deliv.ready = append(e.deliv.ready, d)
	e.deliv.cond.Signal()
}

// deliveryWorkers is how many webhook deliveries are in flight at once:
// deliveries are not ordered, so a receiver must not rely on order.
const deliveryWorkers = 4

// maxRetryAge is how long a failing delivery is retried before it is
// dropped (MonetizeNow's retry policy is not documented; PROVISIONAL: one
// day).
const maxRetryAge = 24 * time.Hour

// DefaultRetryBackoff doubles from one second up to five minutes.
func DefaultRetryBackoff(attempt int) time.Duration {
	d := time.Second
	for i := 1; i < attempt && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// delivery is one event owed to the webhook URL.
type delivery struct {
	Event     string    `json:"event"`
	Created   time.Time `json:"created"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError,omitempty"`

	notBefore time.Time // monotonic; a reload retries at once
	inflight  bool
}

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

// Redeliver sends an event now, synchronously, whether or not it was
// delivered before (a duplicate), and even while delivery is paused. A
// pending delivery of it that is accepted counts as done.
func (e *Emulator) Redeliver(eventID string) error {
	e.mu.Lock()
	ev, url := e.events[eventID], e.webhookURL
	e.mu.Unlock()
	if ev == nil {
		return fmt.Errorf("monetizenow emulator: no event %s", eventID)
	}
	if url == "" {
		return fmt.Errorf("monetizenow emulator: no webhook URL is set")
	}
	if err := e.post(context.Background(), url, ev.body()); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if d := e.pending[eventID]; d != nil && !d.inflight {
		delete(e.pending, eventID)
		e.noteLocked(journalEntry{Done: eventID})
		e.saveLocked()
	}
	return nil
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
		for !q.stopping && (q.paused || len(q.ready) == 0 || e.webhookURL == "") {
			q.cond.Wait()
		}
		if q.stopping {
			return
		}
		d := q.ready[0]
		q.ready[0] = nil
		q.ready = q.ready[1:]
		if e.pending[d.Event] != d || d.inflight {
			continue // done meanwhile (Redeliver)
		}
		ev := e.events[d.Event]
		if ev == nil {
			delete(e.pending, d.Event)
			e.noteLocked(journalEntry{Done: d.Event})
			e.saveLocked()
			continue
		}
		url, body := e.webhookURL, ev.body()
		d.inflight = true
		e.mu.Unlock()
		err := e.post(ctx, url, body)
		e.mu.Lock()
		d.inflight = false
		e.settleLocked(d, err)
	}
}

func (e *Emulator) settleLocked(d *delivery, err error) {
	defer e.saveLocked()
	if e.pending[d.Event] != d {
		return
	}
	d.Attempts++
	switch {
	case err == nil:
		delete(e.pending, d.Event)
		e.noteLocked(journalEntry{Done: d.Event})
	case time.Since(d.Created) >= maxRetryAge:
		delete(e.pending, d.Event)
		e.noteLocked(journalEntry{Done: d.Event})
		e.log.Error("monetizenow emulator: webhook dropped after a day of failed deliveries", "event", d.Event, "err", err)
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
		e.log.Warn("monetizenow emulator: webhook delivery failed; will retry", "event", d.Event, "attempt", d.Attempts, "retry_in", delay, "err", err)
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

// post makes one delivery attempt, unsigned (MonetizeNow documents no
// signature); the receiver must answer 2xx.
func (e *Emulator) post(ctx context.Context, url string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook URL %q: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "monetizenow-emulator (billsync)")
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
