package m3terapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
)

// Webhooks reads m3ter's notification deliveries for the HTTP server.
// m3ter's signing of outgoing webhooks (M3TER_SIGNED_REQUEST) is not
// publicly confirmed, so nothing here depends on it: the delivery URL
// carries an unguessable token, which the HTTP server checks, and a
// delivery is only a hint naming a record, which the engine reads again
// from m3ter before acting (SignedWebhooks false). A forged delivery can
// at most cause that read.
type Webhooks struct {
	// serviceUser is the id billsync writes as ("" while unknown).
	serviceUser func() string
}

var _ billsync.BillingWebhooks = (*Webhooks)(nil)

// NewWebhooks reads deliveries for client c, whose service user tells
// billsync's own writes apart.
func NewWebhooks(c *Client) *Webhooks {
	return &Webhooks{serviceUser: c.ServiceUser}
}

// Verify accepts any delivery that is an m3ter event with an id and
// returns that id (there is no signature to check; see Webhooks).
func (w *Webhooks) Verify(_ http.Header, body []byte) (string, error) {
	ev, err := parseEvent(body)
	if err != nil {
		return "", err
	}
	return ev.ID, nil
}

// Decode turns a delivery into the change it hints at (none for an event
// billsync has no use for, or for billsync's own write of an account). A
// body it cannot read is a *billingapi.RejectedWebhook (EINVALID).
func (w *Webhooks) Decode(webhookID string, body []byte, now time.Time) ([]*billsync.Change, error) {
	ev, err := parseEvent(body)
	if err != nil {
		return nil, &billingapi.RejectedWebhook{EventID: "m3ter:" + webhookID, Err: err}
	}
	cs, err := ev.changes(w.serviceUser(), now)
	if err != nil {
		obj, id := ev.peek()
		return nil, &billingapi.RejectedWebhook{EventID: "m3ter:" + ev.ID, Object: obj, RecordID: id, Err: err}
	}
	return cs, nil
}

// event is an m3ter event record: {id, eventName, eventTime, dtActioned,
// m3terEvent}. PROVISIONAL: a notification delivery is taken to carry the
// same record (billing-adapters notes §1.4), with the entity as
// m3terEvent.eventData.newDto (oldDto for a deletion).
type event struct {
	ID         string          `json:"id"`
	EventName  string          `json:"eventName"`
	EventTime  string          `json:"eventTime"`
	M3terEvent json.RawMessage `json:"m3terEvent"`
}

func parseEvent(body []byte) (*event, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "empty body")
	}
	var ev event
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&ev); err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "malformed m3ter event: %v", err)
	}
	if dec.More() {
		return nil, billsync.Errorf(billsync.EINVALID, "malformed m3ter event: trailing data")
	}
	if ev.ID == "" || ev.EventName == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "m3ter event without id or eventName")
	}
	return &ev, nil
}

// watched are the event names billsync acts on, by the object they name.
// A new balance transaction raises no event of its own, only its
// balance's update; the engine then lists the balance's transactions.
var watched = map[string]billsync.ObjectType{
	"configuration.account": billsync.ObjectAccount,
	"billing.balance":       billsync.ObjectBalance,
}

// WatchedEvents are the event names billsync needs notifications for.
func WatchedEvents() []string {
	return []string{
		"configuration.account.created", "configuration.account.updated", "configuration.account.deleted",
		"billing.balance.created", "billing.balance.updated", "billing.balance.deleted",
	}
}

// kind is the object and operation an event name stands for; ok false
// for a name billsync does not act on.
func kind(name string) (billsync.ObjectType, billsync.Op, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", "", false
	}
	t, ok := watched[name[:i]]
	if !ok {
		return "", "", false
	}
	switch op := billsync.Op(name[i+1:]); op {
	case billsync.OpCreated, billsync.OpUpdated, billsync.OpDeleted:
		return t, op, true
	}
	return "", "", false
}

// entity is the record the event carries: newDto, or oldDto when there is
// no new state (a deletion).
func (ev *event) entity() (record, error) {
	var body struct {
		EventData *struct {
			NewDto record `json:"newDto"`
			OldDto record `json:"oldDto"`
		} `json:"eventData"`
	}
	if len(ev.M3terEvent) > 0 {
		dec := json.NewDecoder(bytes.NewReader(ev.M3terEvent))
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			return nil, billsync.Errorf(billsync.EINVALID, "%s: m3terEvent is not an object with eventData", ev.EventName)
		}
	}
	if body.EventData == nil {
		return nil, billsync.Errorf(billsync.EINVALID, "%s: m3terEvent.eventData is missing", ev.EventName)
	}
	r := body.EventData.NewDto
	if r == nil {
		r = body.EventData.OldDto
	}
	if r == nil || r.str("id") == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "%s: m3terEvent.eventData carries no entity with an id (newDto or oldDto)", ev.EventName)
	}
	return r, nil
}

// peek is the object and record a refused event names, as far as known.
func (ev *event) peek() (billsync.ObjectType, string) {
	t, _, _ := kind(ev.EventName)
	r, err := ev.entity()
	if err != nil {
		return t, ""
	}
	return t, r.str("id")
}

// changes are the changes one event stands for: the same function serves
// deliveries and the poll, so both give a change the same EventID and it
// is queued once. Only the record's identity is trusted (the engine
// re-reads it); the payload is what the event carried, mapped.
func (ev *event) changes(serviceUser string, now time.Time) ([]*billsync.Change, error) {
	t, op, ok := kind(ev.EventName)
	if !ok {
		return nil, nil
	}
	r, err := ev.entity()
	if err != nil {
		return nil, err
	}
	var ent billsync.Entity
	var part string
	switch t {
	case billsync.ObjectAccount:
		// billsync's own write of an account comes back as an event
		// naming billsync's service user; it is not news to Salesforce.
		// Balances are always passed on: a transaction billsync added
		// moves its balance's amount, which Salesforce must then learn,
		// and the engine tells a true echo by its values.
		if op != billsync.OpDeleted && serviceUser != "" && r.str("lastModifiedBy") == serviceUser {
			return nil, nil
		}
		ent = accountOf(r)
		part = billsync.AccountPartition(ent.ID())
	case billsync.ObjectBalance:
		if ent, err = balanceOf(r); err != nil {
			return nil, err
		}
		if ent.Str("accountId") == "" {
			return nil, billsync.Errorf(billsync.EINVALID, "%s: the balance carries no accountId", ev.EventName)
		}
		part = billsync.AccountPartition(ent.Str("accountId"))
	}
	payload, err := json.Marshal(ent)
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "%s: %v", ev.EventName, err)
	}
	occurred := now
	if ts, err := time.Parse(time.RFC3339Nano, ev.EventTime); err == nil {
		occurred = ts
	}
	return []*billsync.Change{{Partition: part, Source: billsync.SideBilling, Object: t, Op: op, RecordID: ent.ID(),
		EventID: "m3ter:" + ev.ID, Payload: payload, OccurredAt: occurred.UTC(), EnqueuedAt: now.UTC()}}, nil
}
