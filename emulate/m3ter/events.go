package m3ter

import (
	"encoding/json"
	"slices"
	"time"
)

// retention is how long m3ter keeps events (28 days).
const retention = 28 * 24 * time.Hour

func eventRoutes() []route {
	return []route{
		{"GET", "/events", 100, (*Emulator).listEvents},
		{"GET", "/events/types", 0, (*Emulator).eventTypes},
		{"GET", "/events/{id}", 0, (*Emulator).getEvent},
	}
}

// emitLocked records the event of a write and queues its webhook
// deliveries, in the write's critical section so events are in write
// order. newDto is the entity after a create or update, oldDto before an
// update or delete: m3ter's event fields are "new" for a created object,
// "new" and "old" for an updated one and only "old" for a deleted one
// (the spec, GET events/fields). rec is the stored record, for the
// account the event concerns.
func (e *Emulator) emitLocked(c *call, name string, newDto, oldDto obj, rec obj) {
	ts := timestamp(c.now)
	data := obj{}
	if newDto != nil {
		data["newDto"] = newDto
	}
	if oldDto != nil {
		data["oldDto"] = oldDto
	}
	id := strOf(rec["id"])
	account := strOf(rec["accountId"])
	if name == "configuration.account.created" || name == "configuration.account.updated" || name == "configuration.account.deleted" {
		account = id
	}
	ev := obj{
		"id": newUUID(), "eventName": name, "eventTime": ts, "dtActioned": ts,
		"m3terEvent": obj{"eventData": data},
		"_resource":  id, "_account": account,
	}
	var fired []any
	var targets []string
	for _, n := range e.tables[kNotification].order {
		if n["eventName"] != name || n["active"] != true || !fires(n) {
			continue
		}
		fired = append(fired, n["id"])
		for _, ic := range e.tables[kIntegration].order {
			if ic["entityType"] == "Notification" && ic["entityId"] == n["id"] && ic["enabled"] != false {
				targets = append(targets, ic["id"].(string))
			}
		}
	}
	if fired != nil {
		ev["_notifications"] = fired
	}
	e.insertLocked(kEvent, ev)
	for _, ic := range targets {
		e.queueLocked(&delivery{Event: ev["id"].(string), Config: ic, Created: c.now})
	}
}

// fires tells whether a notification fires for every event of its name.
// PROVISIONAL: calculations are not evaluated; one that is not always
// fired fires only with no calculation or "true".
func fires(n obj) bool {
	if n["alwaysFireEvent"] == true {
		return true
	}
	calc := strOf(n["calculation"])
	return calc == "" || calc == "true"
}

// EventNames are the event types the emulator records, all of which can
// have notification rules.
var EventNames = []string{
	"billing.balance.created", "billing.balance.deleted", "billing.balance.updated",
	"configuration.account.created", "configuration.account.deleted", "configuration.account.updated",
}

func (e *Emulator) eventTypes(*call) (any, *apiError) {
	l := make([]any, len(EventNames))
	for i, n := range EventNames {
		l[i] = n
	}
	return obj{"events": l}, nil
}

func (e *Emulator) getEvent(c *call) (any, *apiError) {
	id := c.r.PathValue("id")
	ev := e.tables[kEvent].byID[id]
	if ev == nil || e.expired(ev, c.now) {
		return nil, notFound("Event", id)
	}
	return public(ev), nil
}

func (e *Emulator) expired(ev obj, now time.Time) bool {
	t, err := time.Parse(time.RFC3339Nano, strOf(ev["eventTime"]))
	return err == nil && now.Sub(t) > retention
}

// listEvents serves the events newest first: 28 days of them, no time
// filter, as m3ter's.
func (e *Emulator) listEvents(c *call) (any, *apiError) {
	q := c.r.URL.Query()
	ids := queryList(c.r, "ids")
	notification := q.Get("notificationId")
	if code := q.Get("notificationCode"); code != "" {
		notification = "-" // matches none unless the code is known
		for _, n := range e.tables[kNotification].order {
			if n["code"] == code {
				notification = n["id"].(string)
			}
		}
	}
	var items []obj
	for _, ev := range e.tables[kEvent].order {
		if e.expired(ev, c.now) ||
			len(ids) > 0 && !slices.Contains(ids, ev["id"].(string)) ||
			q.Get("eventName") != "" && ev["eventName"] != q.Get("eventName") ||
			q.Get("resourceId") != "" && ev["_resource"] != q.Get("resourceId") ||
			q.Get("accountId") != "" && ev["_account"] != q.Get("accountId") {
			continue
		}
		fired, _ := ev["_notifications"].([]any)
		if notification != "" && !slices.Contains(fired, any(notification)) {
			continue
		}
		// The emulator records only entity events; those that fired a
		// notification are Notification events.
		if t := q.Get("eventType"); t != "" && (t != "Notification" || len(fired) == 0) {
			continue
		}
		items = append(items, ev)
	}
	pg, next, ae := page(c.r, items)
	if ae != nil {
		return nil, ae
	}
	data := make([]any, 0, len(pg))
	for _, ev := range pg {
		data = append(data, public(ev))
	}
	return listBody(data, next), nil
}

// Events returns every event so far, oldest first, as GET events/{id}
// renders it.
func (e *Emulator) Events() []json.RawMessage {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]json.RawMessage, 0, len(e.tables[kEvent].order))
	for _, ev := range e.tables[kEvent].order {
		b, _ := json.Marshal(public(ev))
		out = append(out, b)
	}
	return out
}
