package monetizenow

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/billsync/billsync/emulate/outbound"
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
	e.deliv.AddLocked(d)
}

// deliveryWorkers is how many webhook deliveries are in flight at once:
// deliveries are not ordered, so a receiver must not rely on order.
const deliveryWorkers = 4

// maxRetryAge is how long a failing delivery is retried before it is
// dropped (MonetizeNow's retry policy is not documented; PROVISIONAL: one
// day).
const maxRetryAge = 24 * time.Hour

// DefaultRetryBackoff doubles from one second up to five minutes.
func DefaultRetryBackoff(attempt int) time.Duration { return outbound.DefaultBackoff(attempt) }

// delivery is one event owed to the webhook URL.
type delivery struct {
	Event   string    `json:"event"`
	Created time.Time `json:"created"`
	outbound.State
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
	if err := e.deliv.Post(context.Background(), outbound.Target{URL: url, Body: ev.body()}); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if d := e.pending[eventID]; d != nil && !d.InFlight() {
		delete(e.pending, eventID)
		e.noteLocked(journalEntry{Done: eventID})
		e.saveLocked()
	}
	return nil
}

// outbox is the Emulator as the delivery queue's host; its methods run
// under e.mu.
type outbox Emulator

func (o *outbox) Current(d *delivery) bool { return o.pending[d.Event] == d }
func (o *outbox) Expired(d *delivery) bool { return time.Since(d.Created) >= maxRetryAge }
func (o *outbox) Save()                    { (*Emulator)(o).saveLocked() }

// Target is Gone when the event is; the workers wait while no webhook
// URL is set (Config.Wait), so one is set here.
func (o *outbox) Target(d *delivery) outbound.Target {
	ev := o.events[d.Event]
	if ev == nil {
		return outbound.Target{Gone: true}
	}
	return outbound.Target{URL: o.webhookURL, Body: ev.body()}
}

func (o *outbox) Delivered(d *delivery) {
	delete(o.pending, d.Event)
	(*Emulator)(o).noteLocked(journalEntry{Done: d.Event})
}

func (o *outbox) Dropped(d *delivery, err error) {
	o.Delivered(d)
	if err != nil {
		o.log.Error("monetizenow emulator: webhook dropped after a day of failed deliveries", "event", d.Event, "err", err)
	}
}

func (o *outbox) Retrying(d *delivery, delay time.Duration, err error) {
	(*Emulator)(o).noteLocked(journalEntry{Queue: d})
	o.log.Warn("monetizenow emulator: webhook delivery failed; will retry", "event", d.Event, "attempt", d.Attempts, "retry_in", delay, "err", err)
}
