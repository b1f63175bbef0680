package stripe

import (
	"fmt"
	"strconv"
	"strings"
)

var lineItemParams = params{"id": {kind: kStr}, "price": {kind: kStr}, "quantity": {kind: kInt}}

var quoteParams = params{
	"customer": {kind: kStr}, "line_items": {kind: kObjList, sub: lineItemParams}, "description": {kind: kEmptyStr},
	"expires_at": {kind: kInt}, "metadata": {kind: kMeta}, "header": {kind: kEmptyStr}, "footer": {kind: kEmptyStr},
	"collection_method": {kind: kStr, enum: []string{"charge_automatically", "send_invoice"}},
	"subscription_data": {kind: kObj, sub: params{
		"effective_date": {kind: kEmptyStr}, "description": {kind: kStr}, "trial_period_days": {kind: kInt}, "metadata": {kind: kMeta},
	}},
	"expand": {kind: kStrList},
}

func quoteRoutes() []route {
	return []route{
		{"POST", "/v1/quotes", quoteParams, (*Emulator).createQuote},
		{"GET", "/v1/quotes", withPaging(params{"status": {kind: kStr, enum: []string{"accepted", "canceled", "draft", "open"}}, "customer": {kind: kStr}}), (*Emulator).listQuotes},
		{"GET", "/v1/quotes/{quote}", params{"expand": {kind: kStrList}}, (*Emulator).getQuote},
		{"POST", "/v1/quotes/{quote}", quoteParams, (*Emulator).updateQuote},
		{"POST", "/v1/quotes/{quote}/finalize", params{"expand": {kind: kStrList}, "expires_at": {kind: kInt}}, (*Emulator).finalizeQuote},
		{"POST", "/v1/quotes/{quote}/accept", params{"expand": {kind: kStrList}}, (*Emulator).acceptQuote},
		{"POST", "/v1/quotes/{quote}/cancel", params{"expand": {kind: kStrList}}, (*Emulator).cancelQuote},
		{"GET", "/v1/quotes/{quote}/line_items", pagingParams, (*Emulator).listLineItems},
	}
}

// quoteTTL is the default life of a quote (Stripe's template default).
const quoteTTL = 30 * 24 * 3600

func (e *Emulator) createQuote(c *call) (obj, *apiError) {
	zero := func() obj {
		return obj{"amount_discount": int64(0), "amount_shipping": int64(0), "amount_tax": int64(0)}
	}
	q := obj{
		"id": newID("qt_", 24), "object": "quote", "amount_subtotal": int64(0), "amount_total": int64(0),
		"application": nil, "application_fee_amount": nil, "application_fee_percent": nil,
		"automatic_tax":     obj{"enabled": false, "liability": nil, "provider": nil, "status": nil},
		"collection_method": "charge_automatically",
		"computed":          obj{"recurring": nil, "upfront": obj{"amount_subtotal": int64(0), "amount_total": int64(0), "total_details": zero()}},
		"created":           c.now, "currency": nil, "customer": nil, "default_tax_rates": []any{}, "description": nil,
		"discounts": []any{}, "expires_at": c.now + quoteTTL, "footer": nil, "from_quote": nil, "header": nil,
		"invoice": nil, "invoice_settings": obj{"days_until_due": nil, "issuer": obj{"type": "self"}},
		"livemode": false, "metadata": map[string]string{}, "number": nil, "on_behalf_of": nil, "status": "draft",
		"status_transitions":    obj{"accepted_at": nil, "canceled_at": nil, "finalized_at": nil},
		"subscription":          nil,
		"subscription_data":     obj{"billing_mode": obj{"type": "classic"}, "description": nil, "effective_date": nil, "metadata": nil, "trial_period_days": nil},
		"subscription_schedule": nil, "test_clock": nil, "total_details": zero(), "transfer_data": nil,
		"_line_items": []any{},
	}
	if ae := e.applyQuoteLocked(c, q); ae != nil {
		return nil, ae
	}
	e.insertLocked(kQuote, q)
	e.emitLocked(c, "quote.created", public(q), nil)
	return e.renderPlain(q, c.expand)
}

// applyQuoteLocked applies create/update parameters to a draft quote and
// recomputes its amounts. Nothing is changed when it fails.
func (e *Emulator) applyQuoteLocked(c *call, q obj) *apiError {
	if cus, ok := c.in["customer"].(string); ok {
		if cur, _ := q["customer"].(string); cur != "" && cur != cus {
			return invalidParam("customer", "The customer of a quote cannot be changed once set.")
		}
		if _, ae := e.customerLocked(cus, "customer"); ae != nil {
			return ae
		}
	}
	var items []any
	if lines, ok := c.in["line_items"].([]map[string]any); ok {
		old := map[string]obj{}
		for _, it := range quoteItems(q) {
			old[it["id"].(string)] = it
		}
		for i, l := range lines {
			it, ae := e.lineItemLocked(l, old, i)
			if ae != nil {
				return ae
			}
			items = append(items, it)
		}
		if items == nil {
			items = []any{}
		}
	}
	// Everything is checked: apply.
	if cus, ok := c.in["customer"].(string); ok {
		q["customer"] = cus
	}
	for _, k := range []string{"description", "header", "footer", "collection_method"} {
		if v, ok := c.in[k].(string); ok {
			q[k] = v
			if v == "" {
				q[k] = nil
			}
		}
	}
	if v, ok := c.in["expires_at"].(int64); ok {
		q["expires_at"] = v
	}
	if sd, ok := c.in["subscription_data"].(map[string]any); ok {
		cur := q["subscription_data"].(obj)
		for _, k := range []string{"description", "trial_period_days"} {
			if v, ok := sd[k]; ok {
				cur[k] = v
			}
		}
		if v, ok := sd["effective_date"].(string); ok {
			// A timestamp is kept; "current_period_end" (and "") show as
			// null until acceptance, which the emulator does not model.
			cur["effective_date"] = nil
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				cur["effective_date"] = n
			} else if v != "" && v != "current_period_end" {
				return invalidParam("subscription_data[effective_date]", "Invalid subscription_data[effective_date]: %s", v)
			}
		}
		if m, ok := sd["metadata"].(map[string]string); ok {
			cur["metadata"] = m
		}
	}
	mergeMetadata(q, c.in)
	if items != nil {
		q["_line_items"] = items
	}
	return e.recomputeLocked(q)
}

func (e *Emulator) lineItemLocked(l map[string]any, old map[string]obj, i int) (obj, *apiError) {
	param := fmt.Sprintf("line_items[%d]", i)
	var it obj
	if id, ok := l["id"].(string); ok {
		if it = old[id]; it == nil {
			return nil, noSuch("line item", id, param+"[id]")
		}
		it = public(it)
	} else {
		it = obj{"id": newID("li_", 24), "object": "item", "quantity": int64(1), "amount_discount": int64(0), "amount_tax": int64(0), "discounts": []any{}, "taxes": []any{}}
	}
	if pid, ok := l["price"].(string); ok {
		if e.tables[kPrice].byID[pid] == nil {
			return nil, noSuch("price", pid, param+"[price]")
		}
		it["price"] = pid
	} else if _, has := it["price"]; !has {
		return nil, missing(param + "[price]")
	}
	if n, ok := l["quantity"].(int64); ok {
		if n < 0 {
			return nil, invalidParam(param+"[quantity]", "This value must be greater than or equal to 0.")
		}
		it["quantity"] = n
	}
	return it, nil
}

func quoteItems(q obj) []obj {
	l, _ := q["_line_items"].([]any)
	out := make([]obj, 0, len(l))
	for _, x := range l {
		if m, ok := x.(obj); ok {
			out = append(out, m)
		}
	}
	return out
}

// recomputeLocked sets every amount of the quote from its lines: exact
// integers, each line unit_amount_decimal × quantity rounded.
func (e *Emulator) recomputeLocked(q obj) *apiError {
	var total, recurring int64
	var interval any
	var count any
	var currency any
	for i, it := range quoteItems(q) {
		pr := e.tables[kPrice].byID[it["price"].(string)]
		if currency != nil && pr["currency"] != currency {
			return invalidParam(fmt.Sprintf("line_items[%d][price]", i), "All prices on a quote must have the same currency.")
		}
		currency = pr["currency"]
		amt := lineAmount(pr, intOf(it["quantity"]))
		it["amount_subtotal"], it["amount_total"], it["currency"] = amt, amt, currency
		if prod := e.tables[kProduct].byID[pr["product"].(string)]; prod != nil {
			it["description"] = prod["name"]
		}
		total += amt
		if rec, ok := pr["recurring"].(obj); ok {
			if rec2, ok := asObj(rec); ok {
				recurring += amt
				interval, count = rec2["interval"], rec2["interval_count"]
			}
		}
	}
	if currency == nil {
		if cus, _ := q["customer"].(string); cus != "" {
			currency = e.tables[kCustomer].byID[cus]["currency"]
		}
		if currency == nil {
			currency = "usd"
		}
	}
	q["currency"] = currency
	q["amount_subtotal"], q["amount_total"] = total, total
	comp := q["computed"].(obj)
	comp["upfront"] = obj{"amount_subtotal": total, "amount_total": total,
		"total_details": obj{"amount_discount": int64(0), "amount_shipping": int64(0), "amount_tax": int64(0)}}
	comp["recurring"] = nil
	if interval != nil {
		comp["recurring"] = obj{"amount_subtotal": recurring, "amount_total": recurring, "interval": interval, "interval_count": count,
			"total_details": obj{"amount_discount": int64(0), "amount_shipping": int64(0), "amount_tax": int64(0)}}
	}
	return nil
}

func asObj(v any) (obj, bool) {
	m, ok := v.(obj)
	return m, ok
}

func (e *Emulator) quoteLocked(c *call) (obj, *apiError) {
	id := c.r.PathValue("quote")
	q := e.tables[kQuote].byID[id]
	if q == nil {
		return nil, noSuch("quote", id, "quote")
	}
	return q, nil
}

func (e *Emulator) getQuote(c *call) (obj, *apiError) {
	q, ae := e.quoteLocked(c)
	if ae != nil {
		return nil, ae
	}
	return e.renderPlain(q, c.expand)
}

// updateQuote edits a draft. Stripe has no quote.updated event: edits of
// a draft are silent.
func (e *Emulator) updateQuote(c *call) (obj, *apiError) {
	q, ae := e.quoteLocked(c)
	if ae != nil {
		return nil, ae
	}
	if q["status"] != "draft" {
		return nil, badState("You can only update a quote that is in draft status. This quote has status %s.", q["status"])
	}
	work := public(q)
	work["_line_items"] = q["_line_items"]
	if ae := e.applyQuoteLocked(c, work); ae != nil {
		return nil, ae
	}
	for k, v := range work {
		q[k] = v
	}
	e.putLocked(kQuote, q)
	return e.renderPlain(q, c.expand)
}

func (e *Emulator) transitionLocked(c *call, from []string, to, stamp, event string, prep func(q obj) *apiError) (obj, *apiError) {
	q, ae := e.quoteLocked(c)
	if ae != nil {
		return nil, ae
	}
	st, _ := q["status"].(string)
	ok := false
	for _, f := range from {
		ok = ok || st == f
	}
	if !ok {
		verb := strings.TrimPrefix(event, "quote.")
		return nil, badState("This quote cannot be %s because it has a status of %s. Only quotes with status %s can be %s.", verb, st, strings.Join(from, " or "), verb)
	}
	if prep != nil {
		if ae := prep(q); ae != nil {
			return nil, ae
		}
	}
	q["status"] = to
	q["status_transitions"].(obj)[stamp] = c.now
	e.putLocked(kQuote, q)
	e.emitLocked(c, event, public(q), nil)
	return e.renderPlain(q, c.expand)
}

func (e *Emulator) finalizeQuote(c *call) (obj, *apiError) {
	return e.transitionLocked(c, []string{"draft"}, "open", "finalized_at", "quote.finalized", func(q obj) *apiError {
		if cus, _ := q["customer"].(string); cus == "" {
			return invalidParam("customer", "A customer is required before finalizing a quote.")
		}
		if len(quoteItems(q)) == 0 {
			return invalidParam("line_items", "A quote must have at least one line item before it can be finalized.")
		}
		if v, ok := c.in["expires_at"].(int64); ok {
			q["expires_at"] = v
		}
		e.quoteNumber++
		e.noteLocked(journalEntry{Quotes: e.quoteNumber})
		acct := strings.ToUpper(strings.TrimPrefix(e.account, "acct_"))
		q["number"] = fmt.Sprintf("QT-%s-%04d-1", acct[:min(8, len(acct))], e.quoteNumber)
		return nil
	})
}

// acceptQuote marks an open quote accepted. Stripe would also create the
// subscription or invoice; the emulator leaves those null.
func (e *Emulator) acceptQuote(c *call) (obj, *apiError) {
	return e.transitionLocked(c, []string{"open"}, "accepted", "accepted_at", "quote.accepted", nil)
}

func (e *Emulator) cancelQuote(c *call) (obj, *apiError) {
	return e.transitionLocked(c, []string{"draft", "open"}, "canceled", "canceled_at", "quote.canceled", nil)
}

func (e *Emulator) listQuotes(c *call) (obj, *apiError) {
	q, ae := pagingOf(c.in)
	if ae != nil {
		return nil, ae
	}
	t := e.tables[kQuote]
	var items []obj
	for _, x := range t.order {
		if s, ok := c.in["status"].(string); ok && x["status"] != s {
			continue
		}
		if s, ok := c.in["customer"].(string); ok && x["customer"] != s {
			continue
		}
		items = append(items, x)
	}
	return e.listLocked(items, q, t, "quote", "/v1/quotes", c.expand, e.renderPlain)
}

// renderItem shows a line item with its price as a full object, as
// Stripe does.
func (e *Emulator) renderItem(it obj) obj {
	out := public(it)
	if pid, ok := out["price"].(string); ok {
		if pr := e.lookupLocked(pid); pr != nil {
			out["price"] = pr
		}
	}
	return out
}

// lineItemsLocked is the includable line_items of a quote: its first
// page, in the quote's order.
func (e *Emulator) lineItemsLocked(id string) obj {
	items := quoteItems(e.tables[kQuote].byID[id])
	data := make([]any, 0, min(len(items), 10))
	for _, it := range items[:min(len(items), 10)] {
		data = append(data, e.renderItem(it))
	}
	return listBody("/v1/quotes/"+id+"/line_items", data, len(items) > 10)
}

func (e *Emulator) listLineItems(c *call) (obj, *apiError) {
	q, ae := e.quoteLocked(c)
	if ae != nil {
		return nil, ae
	}
	pq, ae := pagingOf(c.in)
	if ae != nil {
		return nil, ae
	}
	items := quoteItems(q)
	find := func(id, param string) (int, *apiError) {
		for i, it := range items {
			if it["id"] == id {
				return i, nil
			}
		}
		return 0, noSuch("line item", id, param)
	}
	lo, hi := 0, len(items)
	if pq.startingAfter != "" {
		i, ae := find(pq.startingAfter, "starting_after")
		if ae != nil {
			return nil, ae
		}
		lo = i + 1
	}
	if pq.endingBefore != "" {
		i, ae := find(pq.endingBefore, "ending_before")
		if ae != nil {
			return nil, ae
		}
		hi, lo = i, max(0, i-pq.limit)
	}
	end := min(hi, lo+pq.limit)
	more := end < hi
	if pq.endingBefore != "" {
		more = lo > 0
	}
	var sub []string
	for _, x := range c.expand {
		rest, ok := strings.CutPrefix(x, "data.")
		if !ok {
			return nil, cannotExpand(x)
		}
		sub = append(sub, rest)
	}
	data := make([]any, 0, end-lo)
	for _, it := range items[lo:end] {
		r := e.renderItem(it)
		for _, x := range sub {
			if ae := e.expandLocked(r, x); ae != nil {
				return nil, ae
			}
		}
		data = append(data, r)
	}
	return listBody("/v1/quotes/"+q["id"].(string)+"/line_items", data, more), nil
}
