package salesforce

import (
	"github.com/billsync/billsync/emulate/salesforce/streaming"
)

// This file is the hook the Pub/Sub API server (emulate/salesforce/pubsub)
// reaches the org through: the same sessions, platform event objects and
// event bus as REST and CometD, so an event published or triggered one way
// is seen the other way with the same replay id.

// SessionUser returns the id of the user an access token belongs to.
func (e *Emulator) SessionUser(token string) (userID string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.sessions[token]
	if !ok {
		return "", false
	}
	e.calls["pubsub"]++
	return id, true
}

// EventField is one field of a platform event object, in describe terms.
type EventField struct {
	Name   string
	Type   string // describe type: string, boolean, double, int, date, datetime, ...
	Custom bool
}

// PlatformEvent returns the fields of a platform event object in describe
// order; ok is false when object is not a platform event of this org.
func (e *Emulator) PlatformEvent(object string) (fields []EventField, ok bool) {
	o := e.schema.object(object)
	if o == nil || !o.Event {
		return nil, false
	}
	for _, f := range o.Fields {
		fields = append(fields, EventField{Name: f.Name, Type: f.Type, Custom: f.Custom})
	}
	return fields, true
}

// PublishEvent publishes a platform event as the given user, exactly as a
// REST insert of the event object would (the same coercion and errors),
// and returns the event as the bus retains it.
func (e *Emulator) PublishEvent(userID, object string, fields map[string]any) (streaming.Event, error) {
	o := e.schema.object(object)
	if o == nil || !o.Event {
		return streaming.Event{}, newErr(404, "NOT_FOUND", "The requested resource does not exist")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var u *userRec
	for _, c := range e.users {
		if c.ID == userID {
			u = c
		}
	}
	if u == nil {
		return streaming.Event{}, newErr(401, "INVALID_SESSION_ID", "Session expired or invalid")
	}
	t := e.beginLocked(u)
	if _, aerr := t.insert(o, fields); aerr != nil {
		t.rollback()
		return streaming.Event{}, aerr
	}
	t.commit()
	uuid := t.published[len(t.published)-1]
	if ev, ok := e.bus.EventByUUID(eventChannel(o.Name), uuid); ok {
		return ev, nil
	}
	return streaming.Event{}, newErr(500, "UNKNOWN_EXCEPTION", "published event not retained")
}
