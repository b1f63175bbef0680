package stripeapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	"github.com/stripe/stripe-go/v85/webhook"
)

// Tolerance is how far a Stripe-Signature timestamp may be from now,
// either way (stripe-go's default).
const Tolerance = webhook.DefaultTolerance

// Webhooks verifies and decodes Stripe's webhooks for the HTTP server.
type Webhooks struct {
	secret string
	clock  func() time.Time
	quotes string
}

var _ billsync.BillingWebhooks = (*Webhooks)(nil)

// NewWebhooks takes the endpoint's signing secret ("whsec_…", used whole
// as the HMAC key, as Stripe does); clock nil is time.Now; quotes is the
// billing.options.quotes mode ("" is draft).
func NewWebhooks(secret string, clock func() time.Time, quotes string) (*Webhooks, error) {
	secret = strings.TrimSpace(secret)
	if !strings.HasPrefix(secret, "whsec_") || len(secret) == len("whsec_") {
		return nil, billsync.Errorf(billsync.EINVALID, `billing.webhookSecret: want the endpoint's signing secret ("whsec_…"; billsync stripe setup prints it)`)
	}
	if clock == nil {
		clock = time.Now
	}
	if quotes == "" {
		quotes = quotesDraft
	}
	return &Webhooks{secret: secret, clock: clock, quotes: quotes}, nil
}

// Verify checks Stripe-Signature (any of several v1 values, as while a
// secret is rolled) and returns the event's id. The timestamp is checked
// against the injected clock both ways; stripe-go then checks the HMAC.
// Every failure is EUNAUTHORIZED.
func (w *Webhooks) Verify(h http.Header, body []byte) (string, error) {
	sig := h.Get("Stripe-Signature")
	if sig == "" {
		return "", billsync.Errorf(billsync.EUNAUTHORIZED, "webhook signature: missing Stripe-Signature header")
	}
	ts, ok := signatureTime(sig)
	if !ok {
		return "", billsync.Errorf(billsync.EUNAUTHORIZED, "webhook signature: Stripe-Signature has no t=<unix seconds>")
	}
	now, tol := w.clock().Unix(), int64(Tolerance/time.Second)
	switch {
	case ts < now-tol:
		return "", billsync.Errorf(billsync.EUNAUTHORIZED, "webhook signature: timestamp is too old (%d s in the past; at most %d allowed)", now-ts, tol)
	case ts > now+tol:
		return "", billsync.Errorf(billsync.EUNAUTHORIZED, "webhook signature: timestamp is too new (%d s in the future; at most %d allowed)", ts-now, tol)
	}
	if err := webhook.ValidatePayloadIgnoringTolerance(body, sig, w.secret); err != nil {
		return "", billsync.Errorf(billsync.EUNAUTHORIZED, "webhook signature: %v (wrong billing.webhookSecret, or the body was altered)", err)
	}
	var peek struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &peek) != nil || peek.ID == "" {
		return "", billsync.Errorf(billsync.EINVALID, "webhook: a signed body that is not a Stripe event with an id")
	}
	return peek.ID, nil
}

func signatureTime(h string) (int64, bool) {
	for _, part := range strings.Split(h, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if k == "t" {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// Decode turns a verified event into its changes (none for a type billsync
// has no use for). A body it cannot read is a *billingapi.RejectedWebhook
// (EINVALID) naming what could be read of it.
func (w *Webhooks) Decode(webhookID string, body []byte, now time.Time) ([]*billsync.Change, error) {
	ev, err := parseEvent(body)
	if err != nil {
		return nil, &billingapi.RejectedWebhook{EventID: "stripe:" + webhookID, Err: err}
	}
	changes, err := ev.changes(w.quotes, now)
	if err != nil {
		obj, rec := ev.peek()
		return nil, &billingapi.RejectedWebhook{EventID: "stripe:" + ev.ID, Object: obj, RecordID: rec, Err: err}
	}
	return changes, nil
}

// event is a Stripe event as billsync reads it.
type event struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		Object             json.RawMessage `json:"object"`
		PreviousAttributes json.RawMessage `json:"previous_attributes"`
	} `json:"data"`
	Request *struct {
		ID             string `json:"id"`
		IdempotencyKey string `json:"idempotency_key"`
	} `json:"request"`
}

func parseEvent(body []byte) (*event, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "empty body")
	}
	var ev event
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&ev); err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "malformed Stripe event: %v", err)
	}
	if dec.More() {
		return nil, billsync.Errorf(billsync.EINVALID, "malformed Stripe event: trailing data")
	}
	switch {
	case ev.Object != "event":
		return nil, billsync.Errorf(billsync.EINVALID, `not a Stripe event (object %q, want "event"; thin events are not supported, use snapshot events)`, ev.Object)
	case ev.ID == "" || ev.Type == "":
		return nil, billsync.Errorf(billsync.EINVALID, "Stripe event without id or type")
	}
	return &ev, nil
}

// ours reports an event caused by billsync's own request.
func (ev *event) ours() bool {
	return ev.Request != nil && strings.HasPrefix(ev.Request.IdempotencyKey, KeyPrefix)
}

// peek is the object and record a refused event names, as far as known.
func (ev *event) peek() (billsync.ObjectType, string) {
	id, _ := idOrObject(ev.Data.Object)
	switch {
	case strings.HasPrefix(ev.Type, "customer."):
		return billsync.ObjectAccount, id
	case strings.HasPrefix(ev.Type, "quote."):
		return billsync.ObjectQuote, id
	}
	return "", id
}

func (ev *event) change(t billsync.ObjectType, op billsync.Op, id, part, suffix string, payload billsync.Entity, now time.Time) (*billsync.Change, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "data.object: %v", err)
	}
	occurred := now
	if ev.Created != 0 {
		occurred = time.Unix(ev.Created, 0)
	}
	return &billsync.Change{Partition: part, Source: billsync.SideBilling, Object: t, Op: op, RecordID: id,
		EventID: "stripe:" + ev.ID + suffix, Payload: b, OccurredAt: occurred.UTC(), EnqueuedAt: now.UTC()}, nil
}

// changes are the changes one event stands for; the same function serves
// webhooks and the poll, so both give a change the same EventID.
func (ev *event) changes(quotes string, now time.Time) ([]*billsync.Change, error) {
	kind, action, _ := strings.Cut(ev.Type, ".")
	switch kind {
	case "customer":
		switch action {
		case "created", "updated", "deleted":
			return ev.customerChanges(billsync.Op(action), now)
		}
	case "quote":
		switch action {
		case "created", "finalized", "accepted", "canceled":
			return ev.quoteChanges(action, quotes, now)
		}
	}
	return nil, nil
}

func (ev *event) customerChanges(op billsync.Op, now time.Time) ([]*billsync.Change, error) {
	var cu customer
	if err := json.Unmarshal(ev.Data.Object, &cu); err != nil || cu.ID == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "%s: data.object is not a customer with an id", ev.Type)
	}
	part := billsync.AccountPartition(cu.ID)
	var out []*billsync.Change
	// billsync's own write comes back as an echo; only the balance it
	// moved is news to Salesforce.
	if !ev.ours() {
		c, err := ev.change(billsync.ObjectAccount, op, cu.ID, part, "", accountOf(&cu), now)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if op == billsync.OpDeleted {
		return out, nil
	}
	moved, err := ev.movedBalances(&cu, op)
	if err != nil {
		return nil, err
	}
	for _, m := range moved {
		credit, _ := creditMinor(&cu, m.cur)
		b, err := balanceOf(&cu, m.cur, credit)
		if err != nil {
			return nil, billsync.Errorf(billsync.EINVALID, "%s: %v", ev.Type, err)
		}
		c, err := ev.change(billsync.ObjectBalance, m.op, b.ID(), part, ":balance:"+m.cur, b, now)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

type movedBalance struct {
	cur string
	op  billsync.Op
}

// movedBalances are the currencies whose balance the event changed: for
// an update, those previous_attributes name (balance and currency stand
// for the customer's own currency; invoice_credit_balance for each
// currency whose value differs); for a creation, every non-zero one.
func (ev *event) movedBalances(cu *customer, op billsync.Op) ([]movedBalance, error) {
	var out []movedBalance
	if op == billsync.OpCreated {
		for _, cur := range currenciesOf(cu) {
			if credit, _ := creditMinor(cu, cur); credit != 0 {
				out = append(out, movedBalance{cur, billsync.OpCreated})
			}
		}
		return out, nil
	}
	if len(ev.Data.PreviousAttributes) == 0 || string(ev.Data.PreviousAttributes) == "null" {
		return nil, nil
	}
	var prev map[string]json.RawMessage
	if err := json.Unmarshal(ev.Data.PreviousAttributes, &prev); err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "%s: data.previous_attributes is not an object", ev.Type)
	}
	seen := map[string]bool{}
	_, balMoved := prev["balance"]
	prevCur, curMoved := prev["currency"]
	if (balMoved || curMoved) && cu.Currency != "" {
		cur := strings.ToLower(cu.Currency)
		op := billsync.OpUpdated
		var was *string
		if curMoved && json.Unmarshal(prevCur, &was) == nil && (was == nil || !strings.EqualFold(*was, cur)) {
			op = billsync.OpCreated
		}
		seen[cur] = true
		out = append(out, movedBalance{cur, op})
	}
	if raw, ok := prev["invoice_credit_balance"]; ok {
		var was map[string]int64
		if err := json.Unmarshal(raw, &was); err != nil {
			return nil, billsync.Errorf(billsync.EINVALID, "%s: previous_attributes.invoice_credit_balance is not a map of integers", ev.Type)
		}
		for _, cur := range currenciesOf(cu) {
			now, _ := creditMinor(cu, cur)
			before, had := was[cur]
			if seen[cur] || (had && before == now) || (!had && now == 0) {
				continue
			}
			op := billsync.OpUpdated
			if !had {
				op = billsync.OpCreated
			}
			seen[cur] = true
			out = append(out, movedBalance{cur, op})
		}
	}
	return out, nil
}

func (ev *event) quoteChanges(action, quotes string, now time.Time) ([]*billsync.Change, error) {
	var q quote
	if err := json.Unmarshal(ev.Data.Object, &q); err != nil || q.ID == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "%s: data.object is not a quote with an id", ev.Type)
	}
	if quotes == quotesFinalized && q.Status == "draft" {
		return nil, nil
	}
	op := billsync.OpUpdated
	if action == "created" {
		op = billsync.OpCreated
	}
	c, err := ev.change(billsync.ObjectQuote, op, q.ID, billsync.QuotePartition(q.ID), "", quoteOf(&q), now)
	if err != nil {
		return nil, err
	}
	return []*billsync.Change{c}, nil
}
