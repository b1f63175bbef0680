package m3ter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/billsync/billsync/emulate/outbound"
	"time"
)

// deliveryWorkers is how many webhook deliveries are in flight at once:
// deliveries are not ordered, so a receiver must not rely on order.
const deliveryWorkers = 4

// maxRetryAge is how long a failing delivery is retried before it is
// dropped (m3ter's schedule is unpublished; PROVISIONAL: one day).
const maxRetryAge = 24 * time.Hour

// DefaultRetryBackoff doubles from one second up to five minutes.
func DefaultRetryBackoff(attempt int) time.Duration { return outbound.DefaultBackoff(attempt) }

// delivery is one event owed through one integration config (to its
// webhook destination).
type delivery struct {
	Event   string    `json:"event"`
	Config  string    `json:"config"`
	Created time.Time `json:"created"`
	outbound.State
}

func (d *delivery) key() string { return d.Event + "/" + d.Config }

func (e *Emulator) queueLocked(d *delivery) {
	e.pending[d.key()] = d
	e.noteLocked(journalEntry{Queue: d})
	e.deliv.AddLocked(d)
}

func (e *Emulator) doneLocked(d *delivery) {
	delete(e.pending, d.key())
	e.noteLocked(journalEntry{Done: d.key()})
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

// targetLocked resolves a delivery's destination now: Gone when the
// config, its destination or the event is gone (the delivery is dropped);
// no URL while the destination or config is switched off.
func (e *Emulator) targetLocked(eventID, configID string) outbound.Target {
	ev := e.tables[kEvent].byID[eventID]
	ic := e.tables[kIntegration].byID[configID]
	if ev == nil || ic == nil {
		return outbound.Target{Gone: true}
	}
	dest := e.tables[kDestination].byID[strOf(ic["destinationId"])]
	if dest == nil {
		return outbound.Target{Gone: true}
	}
	var t outbound.Target
	if dest["active"] == true && ic["enabled"] != false {
		t.URL = strOf(dest["url"])
		t.Body, _ = json.Marshal(public(ev))
	}
	return t
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
	var ts []outbound.Target
	var configs []string
	for _, ic := range e.tables[kIntegration].order {
		for _, n := range fired {
			if ic["entityType"] == "Notification" && ic["entityId"] == n {
				if t := e.targetLocked(eventID, ic["id"].(string)); t.URL != "" {
					ts, configs = append(ts, t), append(configs, ic["id"].(string))
				}
			}
		}
	}
	e.mu.Unlock()
	if len(ts) == 0 {
		return fmt.Errorf("m3ter emulator: no active webhook destination takes %s events", ev["eventName"])
	}
	var errs []error
	for i, t := range ts {
		if err := e.deliv.Post(context.Background(), t); err != nil {
			errs = append(errs, fmt.Errorf("integration config %s: %w", configs[i], err))
			continue
		}
		e.mu.Lock()
		if d := e.pending[eventID+"/"+configs[i]]; d != nil && !d.InFlight() {
			e.doneLocked(d)
			e.noteRunLocked(configs[i], "COMPLETE", "")
			e.saveLocked()
		}
		e.mu.Unlock()
	}
	return errors.Join(errs...)
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

// outbox is the Emulator as the delivery queue's host; its methods run
// under e.mu.
type outbox Emulator

func (o *outbox) Current(d *delivery) bool { return o.pending[d.key()] == d }
func (o *outbox) Target(d *delivery) outbound.Target {
	return (*Emulator)(o).targetLocked(d.Event, d.Config)
}
func (o *outbox) Expired(d *delivery) bool { return (*Emulator)(o).now().Sub(d.Created) >= maxRetryAge }
func (o *outbox) Save()                    { (*Emulator)(o).saveLocked() }

func (o *outbox) Delivered(d *delivery) {
	e := (*Emulator)(o)
	e.doneLocked(d)
	e.noteRunLocked(d.Config, "COMPLETE", "")
}

func (o *outbox) Dropped(d *delivery, err error) {
	e := (*Emulator)(o)
	e.doneLocked(d)
	if err != nil {
		e.noteRunLocked(d.Config, "ERROR", err.Error())
		e.log.Error("m3ter emulator: webhook dropped after a day of failed deliveries", "event", d.Event, "integration_config", d.Config, "err", err)
	}
}

func (o *outbox) Retrying(d *delivery, delay time.Duration, err error) {
	e := (*Emulator)(o)
	e.noteLocked(journalEntry{Queue: d})
	e.noteRunLocked(d.Config, "AWAITING_RETRY", err.Error())
	e.log.Warn("m3ter emulator: webhook delivery failed; will retry", "event", d.Event, "integration_config", d.Config,
		"attempt", d.Attempts, "retry_in", delay, "err", err)
}
