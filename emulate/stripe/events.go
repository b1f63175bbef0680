package stripe

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

func eventRoutes() []route {
	return []route{
		{"GET", "/v1/events", withPaging(params{"type": {kind: kStr}, "types": {kind: kStrList}, "created": {kind: kRange}, "delivery_success": {kind: kBool}}), (*Emulator).listEvents},
		{"GET", "/v1/events/{id}", params{"expand": {kind: kStrList}}, (*Emulator).getEvent},
		{"POST", "/v1/webhook_endpoints", endpointCreateParams, (*Emulator).createEndpoint},
		{"GET", "/v1/webhook_endpoints", pagingParams, (*Emulator).listEndpoints},
		{"GET", "/v1/webhook_endpoints/{webhook_endpoint}", params{"expand": {kind: kStrList}}, (*Emulator).getEndpoint},
		{"POST", "/v1/webhook_endpoints/{webhook_endpoint}", endpointUpdateParams, (*Emulator).updateEndpoint},
		{"DELETE", "/v1/webhook_endpoints/{webhook_endpoint}", params{}, (*Emulator).deleteEndpoint},
	}
}

var endpointCreateParams = params{
	"url": {kind: kStr}, "enabled_events": {kind: kStrList}, "api_version": {kind: kStr}, "description": {kind: kEmptyStr},
	"metadata": {kind: kMeta}, "connect": {kind: kBool}, "expand": {kind: kStrList},
}

var endpointUpdateParams = params{
	"url": {kind: kStr}, "enabled_events": {kind: kStrList}, "description": {kind: kEmptyStr},
	"metadata": {kind: kMeta}, "disabled": {kind: kBool}, "expand": {kind: kStrList},
}

// emitLocked records the event for a write and queues its deliveries.
// Called in the write's critical section, so events are in write order.
// data is the object as the write left it (already public).
func (e *Emulator) emitLocked(c *call, typ string, data obj, prev obj) {
	d := obj{"object": data}
	if prev != nil {
		d["previous_attributes"] = prev
	}
	var idem any
	if c.idemKey != "" {
		idem = c.idemKey
	}
	e.evSeq++
	ev := obj{
		"id": newID("evt_", 24), "object": "event", "api_version": APIVersion, "created": c.now, "livemode": false,
		"pending_webhooks": int64(0), "request": obj{"id": c.reqID, "idempotency_key": idem}, "type": typ, "data": d,
		"_seq": e.evSeq,
	}
	var targets []string
	for _, we := range e.tables[kEndpoint].order {
		if we["status"] == "enabled" && wants(we, typ) {
			targets = append(targets, we["id"].(string))
		}
	}
	ev["pending_webhooks"] = int64(len(targets))
	e.events = append(e.events, ev)
	e.eventIdx[ev["id"].(string)] = len(e.events) - 1
	e.noteLocked(journalEntry{Event: ev})
	for _, we := range targets {
		e.queueLocked(&delivery{Event: ev["id"].(string), Endpoint: we, Created: c.now})
	}
}

func wants(we obj, typ string) bool {
	for _, x := range strList(we["enabled_events"]) {
		if x == "*" || x == typ {
			return true
		}
	}
	return false
}

func strList(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (e *Emulator) renderEvent(ev obj) obj {
	out := public(ev)
	out["pending_webhooks"] = int64(e.pendingFor(ev["id"].(string)))
	return out
}

func (e *Emulator) getEvent(c *call) (obj, *apiError) {
	id := c.r.PathValue("id")
	i, ok := e.eventIdx[id]
	if !ok {
		return nil, noSuch("event", id, "id")
	}
	return e.renderEvent(e.events[i]), nil
}

func (e *Emulator) listEvents(c *call) (obj, *apiError) {
	q, ae := pagingOf(c.in)
	if ae != nil {
		return nil, ae
	}
	typ, _ := c.in["type"].(string)
	types, _ := c.in["types"].([]string)
	if typ != "" && types != nil {
		return nil, invalidParam("types", "You cannot specify both type and types.")
	}
	created, _ := c.in["created"].(map[string]any)
	success, hasSuccess := c.in["delivery_success"].(bool)
	var items []obj
	for _, ev := range e.events {
		t := ev["type"].(string)
		if typ != "" && !typeMatch(typ, t) || types != nil && !slices.ContainsFunc(types, func(p string) bool { return typeMatch(p, t) }) {
			continue
		}
		if !inRange(intOf(ev["created"]), created) || hasSuccess && (e.pendingFor(ev["id"].(string)) == 0) != success {
			continue
		}
		items = append(items, ev)
	}
	for _, x := range c.expand {
		return nil, cannotExpand(x)
	}
	pg, more, ae := page(items, q, func(id string) (int64, bool) {
		i, ok := e.eventIdx[id]
		if !ok {
			return 0, false
		}
		return seqOf(e.events[i]), true
	}, "event")
	if ae != nil {
		return nil, ae
	}
	data := make([]any, 0, len(pg))
	for _, ev := range pg {
		data = append(data, e.renderEvent(ev))
	}
	return listBody("/v1/events", data, more), nil
}

// typeMatch matches an event type filter; "customer.*" matches every
// customer event, as Stripe's wildcard does.
func typeMatch(pattern, typ string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(typ, p)
	}
	return pattern == typ
}

var eventTypeRe = regexp.MustCompile(`^(\*|[a-z_]+(\.[a-z_]+)+)$`)

func checkEvents(l []string) *apiError {
	if len(l) == 0 {
		return invalidParam("enabled_events", "Invalid array")
	}
	for _, x := range l {
		if !eventTypeRe.MatchString(x) {
			return invalidParam("enabled_events", "Invalid enabled_events: %s", x)
		}
	}
	return nil
}

func checkURL(s string) *apiError {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return invalidParam("url", "Invalid URL: %s", s)
	}
	return nil
}

func (e *Emulator) createEndpoint(c *call) (obj, *apiError) {
	u, _ := c.in["url"].(string)
	if u == "" {
		return nil, missing("url")
	}
	if ae := checkURL(u); ae != nil {
		return nil, ae
	}
	evs, _ := c.in["enabled_events"].([]string)
	if evs == nil {
		return nil, missing("enabled_events")
	}
	if ae := checkEvents(evs); ae != nil {
		return nil, ae
	}
	var apiVersion any
	if v, ok := c.in["api_version"].(string); ok && v != "" {
		apiVersion = v
	}
	var desc any
	if d, ok := c.in["description"].(string); ok && d != "" {
		desc = d
	}
	we := obj{
		"id": newID("we_", 24), "object": "webhook_endpoint", "api_version": apiVersion, "application": nil,
		"created": c.now, "description": desc, "enabled_events": anyList(evs), "livemode": false,
		"metadata": map[string]string{}, "status": "enabled", "url": u,
		"_secret": newID("whsec_", 32),
	}
	mergeMetadata(we, c.in)
	e.insertLocked(kEndpoint, we)
	out := public(we)
	out["secret"] = we["_secret"] // only the create answer shows it
	return out, nil
}

func anyList(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}

func (e *Emulator) endpointLocked(c *call) (obj, *apiError) {
	id := c.r.PathValue("webhook_endpoint")
	we := e.tables[kEndpoint].byID[id]
	if we == nil || we["deleted"] == true {
		return nil, noSuch("webhook endpoint", id, "webhook_endpoint")
	}
	return we, nil
}

func (e *Emulator) getEndpoint(c *call) (obj, *apiError) {
	we, ae := e.endpointLocked(c)
	if ae != nil {
		return nil, ae
	}
	return public(we), nil
}

func (e *Emulator) updateEndpoint(c *call) (obj, *apiError) {
	we, ae := e.endpointLocked(c)
	if ae != nil {
		return nil, ae
	}
	if u, ok := c.in["url"].(string); ok {
		if ae := checkURL(u); ae != nil {
			return nil, ae
		}
		we["url"] = u
	}
	if evs, ok := c.in["enabled_events"].([]string); ok {
		if ae := checkEvents(evs); ae != nil {
			return nil, ae
		}
		we["enabled_events"] = anyList(evs)
	}
	if d, ok := c.in["description"].(string); ok {
		we["description"] = nil
		if d != "" {
			we["description"] = d
		}
	}
	if dis, ok := c.in["disabled"].(bool); ok {
		we["status"] = "enabled"
		if dis {
			we["status"] = "disabled"
		}
	}
	mergeMetadata(we, c.in)
	e.putLocked(kEndpoint, we)
	return public(we), nil
}

func (e *Emulator) deleteEndpoint(c *call) (obj, *apiError) {
	we, ae := e.endpointLocked(c)
	if ae != nil {
		return nil, ae
	}
	we["deleted"] = true
	e.putLocked(kEndpoint, we)
	e.dropDeliveriesLocked(we["id"].(string))
	return obj{"id": we["id"], "object": "webhook_endpoint", "deleted": true}, nil
}

func (e *Emulator) listEndpoints(c *call) (obj, *apiError) {
	q, ae := pagingOf(c.in)
	if ae != nil {
		return nil, ae
	}
	t := e.tables[kEndpoint]
	var items []obj
	for _, we := range t.order {
		if we["deleted"] != true {
			items = append(items, we)
		}
	}
	return e.listLocked(items, q, t, "webhook endpoint", "/v1/webhook_endpoints", c.expand, func(o obj, _ []string) (obj, *apiError) { return public(o), nil })
}

// Events returns every event so far, oldest first, as GET /v1/events/{id}
// would render it.
func (e *Emulator) Events() []json.RawMessage {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]json.RawMessage, 0, len(e.events))
	for _, ev := range e.events {
		b, _ := json.Marshal(e.renderEvent(ev))
		out = append(out, b)
	}
	return out
}

// expandable names, per object kind, the fields expand[] may name: ids
// the emulator replaces by their object, includable lists it computes,
// and fields it always leaves null (expanding null is a no-op, as in
// Stripe).
var expandable = map[string][]string{
	kTxn:     {"customer", "invoice", "credit_note", "checkout_session"},
	kQuote:   {"customer", "line_items", "invoice", "subscription", "subscription_schedule", "test_clock", "application", "on_behalf_of", "from_quote", "default_tax_rates", "discounts"},
	"item":   {"price", "discounts", "taxes"},
	kPrice:   {"product"},
	kProduct: {"default_price"},
}

// expandLocked applies one expand[] path ("customer",
// "line_items.data.price.product") to a rendered object.
func (e *Emulator) expandLocked(o obj, path string) *apiError {
	segs := strings.Split(path, ".")
	if len(segs) > 4 {
		return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: "expand",
			message: "You cannot expand more than 4 levels of a property. Property: " + path}
	}
	return e.expandSegs(o, segs, path)
}

func (e *Emulator) expandSegs(o obj, segs []string, path string) *apiError {
	f := segs[0]
	kind, _ := o["object"].(string)
	if kind == "list" && f == "data" && len(segs) > 1 {
		l, _ := o["data"].([]any)
		for _, x := range l {
			if m, ok := x.(obj); ok {
				if ae := e.expandSegs(m, segs[1:], path); ae != nil {
					return ae
				}
			}
		}
		return nil
	}
	if !slices.Contains(expandable[kind], f) {
		return cannotExpand(path)
	}
	if kind == kQuote && f == "line_items" {
		if _, done := o[f].(obj); !done {
			o[f] = e.lineItemsLocked(o["id"].(string))
		}
	} else if id, ok := o[f].(string); ok {
		if x := e.lookupLocked(id); x != nil {
			o[f] = x
		}
	}
	if len(segs) == 1 {
		return nil
	}
	next, ok := o[f].(obj)
	if !ok {
		return nil
	}
	return e.expandSegs(next, segs[1:], path)
}

// lookupLocked renders the object an id names, by its prefix.
func (e *Emulator) lookupLocked(id string) obj {
	for prefix, kind := range map[string]string{"cus_": kCustomer, "prod_": kProduct, "price_": kPrice, "qt_": kQuote} {
		if strings.HasPrefix(id, prefix) {
			o := e.tables[kind].byID[id]
			if o == nil {
				return nil
			}
			if o["deleted"] == true {
				return obj{"id": id, "object": kind, "deleted": true}
			}
			return public(o)
		}
	}
	return nil
}
