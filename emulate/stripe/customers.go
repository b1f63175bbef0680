package stripe

import (
	"maps"
	"net/http"
	"strings"
)

var addressParams = params{"city": {kind: kStr}, "country": {kind: kStr}, "line1": {kind: kStr}, "line2": {kind: kStr}, "postal_code": {kind: kStr}, "state": {kind: kStr}}

// customerParams are the create/update parameters the emulator keeps.
// currency is not among them: Stripe sets it from the first balance
// transaction (or invoice), never from a customer write.
var customerParams = params{
	"name": {kind: kStr}, "email": {kind: kStr}, "description": {kind: kStr}, "phone": {kind: kStr},
	"metadata": {kind: kMeta}, "balance": {kind: kInt}, "address": {kind: kObj, sub: addressParams},
	"preferred_locales": {kind: kStrList}, "invoice_prefix": {kind: kStr},
	"tax_exempt":    {kind: kStr, enum: []string{"", "exempt", "none", "reverse"}},
	"business_name": {kind: kEmptyStr}, "individual_name": {kind: kEmptyStr}, "expand": {kind: kStrList},
}

var txnCreateParams = params{"amount": {kind: kInt}, "currency": {kind: kStr}, "description": {kind: kStr}, "metadata": {kind: kMeta}, "expand": {kind: kStrList}}

// txnUpdateParams: a balance transaction is immutable but for these.
var txnUpdateParams = params{"description": {kind: kStr}, "metadata": {kind: kMeta}, "expand": {kind: kStrList}}

func withPaging(ps params) params {
	out := maps.Clone(ps)
	maps.Copy(out, pagingParams)
	return out
}

var rangeParams = params{"gt": {kind: kInt}, "gte": {kind: kInt}, "lt": {kind: kInt}, "lte": {kind: kInt}}

func customerRoutes() []route {
	return []route{
		{"POST", "/v1/customers", customerParams, (*Emulator).createCustomer},
		{"GET", "/v1/customers", withPaging(params{"email": {kind: kStr}, "created": {kind: kRange}}), (*Emulator).listCustomers},
		{"GET", "/v1/customers/{customer}", params{"expand": {kind: kStrList}}, (*Emulator).getCustomer},
		{"POST", "/v1/customers/{customer}", customerParams, (*Emulator).updateCustomer},
		{"DELETE", "/v1/customers/{customer}", params{}, (*Emulator).deleteCustomer},
		{"POST", "/v1/customers/{customer}/balance_transactions", txnCreateParams, (*Emulator).createTxn},
		{"GET", "/v1/customers/{customer}/balance_transactions", withPaging(params{"created": {kind: kRange}, "invoice": {kind: kStr}}), (*Emulator).listTxns},
		{"GET", "/v1/customers/{customer}/balance_transactions/{transaction}", params{"expand": {kind: kStrList}}, (*Emulator).getTxn},
		{"POST", "/v1/customers/{customer}/balance_transactions/{transaction}", txnUpdateParams, (*Emulator).updateTxn},
	}
}

func (e *Emulator) createCustomer(c *call) (obj, *apiError) {
	o := obj{
		"id": newID("cus_", 14), "object": "customer", "created": c.now, "livemode": false,
		"address": nil, "balance": int64(0), "currency": nil, "default_source": nil, "delinquent": false,
		"description": nil, "discount": nil, "email": nil, "invoice_prefix": strings.ToUpper(newID("", 8)),
		"invoice_settings": obj{"custom_fields": nil, "default_payment_method": nil, "footer": nil, "rendering_options": nil},
		"metadata":         map[string]string{}, "name": nil, "next_invoice_sequence": int64(1), "phone": nil,
		"preferred_locales": []any{}, "shipping": nil, "tax_exempt": "none", "test_clock": nil,
		"_icb": map[string]int64{},
	}
	applyCustomerFields(o, c.in)
	e.insertLocked(kCustomer, o)
	if bal, _ := c.in["balance"].(int64); bal != 0 {
		e.moveBalanceLocked(c, o, "usd", bal, "initial", nil, nil)
	}
	e.emitLocked(c, "customer.created", public(o), nil)
	return e.renderCustomer(o, c.expand)
}

func applyCustomerFields(o obj, in map[string]any) {
	for _, k := range []string{"name", "email", "description", "phone", "invoice_prefix", "tax_exempt", "business_name", "individual_name"} {
		if v, ok := in[k].(string); ok {
			if v == "" && k != "tax_exempt" {
				o[k] = nil
			} else {
				o[k] = v
			}
		}
	}
	if a, ok := in["address"].(map[string]any); ok {
		addr := obj{"city": nil, "country": nil, "line1": nil, "line2": nil, "postal_code": nil, "state": nil}
		if cur, ok := o["address"].(obj); ok {
			maps.Copy(addr, cur)
		}
		for k, v := range a {
			addr[k] = v
		}
		o["address"] = addr
	}
	if l, ok := in["preferred_locales"].([]string); ok {
		ls := make([]any, len(l))
		for i, s := range l {
			ls[i] = s
		}
		o["preferred_locales"] = ls
	}
	mergeMetadata(o, in)
}

// customerLocked finds a live customer; a deleted one is missing for
// everything but GET.
func (e *Emulator) customerLocked(id, param string) (obj, *apiError) {
	o := e.tables[kCustomer].byID[id]
	if o == nil || o["deleted"] == true {
		return nil, noSuch("customer", id, param)
	}
	return o, nil
}

func (e *Emulator) renderCustomer(o obj, expand []string) (obj, *apiError) {
	if o["deleted"] == true {
		return obj{"id": o["id"], "object": "customer", "deleted": true}, nil
	}
	out := public(o)
	for _, x := range expand {
		if x == "invoice_credit_balance" {
			icb := map[string]int64{}
			for cur, n := range icbOf(o) {
				icb[cur] = n
			}
			out["invoice_credit_balance"] = icb
			continue
		}
		if ae := e.expandLocked(out, x); ae != nil {
			return nil, ae
		}
	}
	return out, nil
}

// icbOf is the customer's invoice_credit_balance: per currency, credit
// positive (the opposite sign to balance).
func icbOf(o obj) map[string]int64 {
	switch m := o["_icb"].(type) {
	case map[string]int64:
		return m
	case map[string]any:
		out := make(map[string]int64, len(m))
		for k, v := range m {
			out[k] = intOf(v)
		}
		o["_icb"] = out
		return out
	}
	out := map[string]int64{}
	o["_icb"] = out
	return out
}

func (e *Emulator) getCustomer(c *call) (obj, *apiError) {
	id := c.r.PathValue("customer")
	o := e.tables[kCustomer].byID[id]
	if o == nil {
		return nil, noSuch("customer", id, "id")
	}
	return e.renderCustomer(o, c.expand)
}

func (e *Emulator) updateCustomer(c *call) (obj, *apiError) {
	o, ae := e.customerLocked(c.r.PathValue("customer"), "id")
	if ae != nil {
		return nil, ae
	}
	before := public(o)
	applyCustomerFields(o, c.in)
	if bal, ok := c.in["balance"].(int64); ok {
		if delta := bal - intOf(o["balance"]); delta != 0 {
			cur, _ := o["currency"].(string)
			if cur == "" {
				cur = "usd"
			}
			e.moveBalanceLocked(c, o, cur, delta, "adjustment", nil, nil)
		}
	}
	e.putLocked(kCustomer, o)
	if prev := diff(before, public(o)); len(prev) > 0 {
		e.emitLocked(c, "customer.updated", public(o), prev)
	}
	return e.renderCustomer(o, c.expand)
}

func (e *Emulator) deleteCustomer(c *call) (obj, *apiError) {
	o, ae := e.customerLocked(c.r.PathValue("customer"), "id")
	if ae != nil {
		return nil, ae
	}
	last := public(o)
	o["deleted"] = true
	e.putLocked(kCustomer, o)
	e.emitLocked(c, "customer.deleted", last, nil)
	return obj{"id": o["id"], "object": "customer", "deleted": true}, nil
}

func (e *Emulator) listCustomers(c *call) (obj, *apiError) {
	q, ae := pagingOf(c.in)
	if ae != nil {
		return nil, ae
	}
	email, hasEmail := c.in["email"].(string)
	created, _ := c.in["created"].(map[string]any)
	t := e.tables[kCustomer]
	var items []obj
	for _, o := range t.order {
		if o["deleted"] == true || hasEmail && o["email"] != email || !inRange(intOf(o["created"]), created) {
			continue
		}
		items = append(items, o)
	}
	return e.listLocked(items, q, t, "customer", "/v1/customers", c.expand, e.renderCustomer)
}

// listLocked pages items and renders each, applying "data.x" expansions.
func (e *Emulator) listLocked(items []obj, q listQuery, t *table, what, url string, expand []string, render func(obj, []string) (obj, *apiError)) (obj, *apiError) {
	pg, more, ae := page(items, q, func(id string) (int64, bool) {
		o := t.byID[id]
		return seqOf(o), o != nil
	}, what)
	if ae != nil {
		return nil, ae
	}
	var sub []string
	for _, x := range expand {
		if rest, ok := strings.CutPrefix(x, "data."); ok {
			sub = append(sub, rest)
		} else {
			return nil, cannotExpand(x)
		}
	}
	data := make([]any, 0, len(pg))
	for _, o := range pg {
		r, ae := render(o, sub)
		if ae != nil {
			return nil, ae
		}
		data = append(data, r)
	}
	return listBody(url, data, more), nil
}

func inRange(v int64, r map[string]any) bool {
	for op, x := range r {
		n := x.(int64)
		switch {
		case op == "gt" && v <= n, op == "gte" && v < n, op == "lt" && v >= n, op == "lte" && v > n:
			return false
		}
	}
	return true
}

// moveBalanceLocked records a balance transaction of amount in cur and
// moves the customer's balance: balance (default currency, debit
// positive) and invoice_credit_balance (every currency, credit positive).
// The first transaction sets a customer's currency.
func (e *Emulator) moveBalanceLocked(c *call, cust obj, cur string, amount int64, typ string, desc any, meta map[string]string) obj {
	if cc, _ := cust["currency"].(string); cc == "" {
		cust["currency"] = cur
	}
	icb := icbOf(cust)
	icb[cur] -= amount
	ending := -icb[cur]
	if cust["currency"] == cur {
		cust["balance"] = ending
	}
	if meta == nil {
		meta = map[string]string{}
	}
	txn := obj{
		"id": newID("cbtxn_", 24), "object": "customer_balance_transaction", "amount": amount, "currency": cur,
		"customer": cust["id"], "created": c.now, "credit_note": nil, "description": desc, "ending_balance": ending,
		"invoice": nil, "livemode": false, "metadata": meta, "type": typ, "checkout_session": nil, "customer_account": nil,
	}
	e.insertLocked(kTxn, txn)
	e.putLocked(kCustomer, cust)
	return txn
}

func (e *Emulator) createTxn(c *call) (obj, *apiError) {
	cust, ae := e.customerLocked(c.r.PathValue("customer"), "customer")
	if ae != nil {
		return nil, ae
	}
	amount, ok := c.in["amount"].(int64)
	if !ok {
		return nil, missing("amount")
	}
	cur, _ := c.in["currency"].(string)
	if cur == "" {
		return nil, missing("currency")
	}
	cur = strings.ToLower(cur)
	if len(cur) != 3 {
		return nil, invalidParam("currency", "Invalid currency: %s. Stripe currently supports these currencies: usd, eur, gbp, jpy, ...", cur)
	}
	if amount == 0 {
		return nil, invalidParam("amount", "The amount must not be zero.")
	}
	var desc any
	if d, ok := c.in["description"].(string); ok && d != "" {
		desc = d
	}
	meta, _ := c.in["metadata"].(map[string]string)
	before := public(cust)
	txn := e.moveBalanceLocked(c, cust, cur, amount, "adjustment", desc, meta)
	// Stripe has no balance-transaction event: the balance shows up as
	// customer.updated when the default-currency balance moved.
	if prev := diff(before, public(cust)); len(prev) > 0 {
		e.emitLocked(c, "customer.updated", public(cust), prev)
	}
	return e.renderTxn(txn, c.expand)
}

func (e *Emulator) renderTxn(o obj, expand []string) (obj, *apiError) {
	out := public(o)
	for _, x := range expand {
		if ae := e.expandLocked(out, x); ae != nil {
			return nil, ae
		}
	}
	return out, nil
}

func (e *Emulator) txnLocked(c *call) (obj, *apiError) {
	if _, ae := e.customerLocked(c.r.PathValue("customer"), "customer"); ae != nil {
		return nil, ae
	}
	id := c.r.PathValue("transaction")
	o := e.tables[kTxn].byID[id]
	if o == nil || o["customer"] != c.r.PathValue("customer") {
		return nil, noSuch("customer balance transaction", id, "transaction")
	}
	return o, nil
}

func (e *Emulator) getTxn(c *call) (obj, *apiError) {
	o, ae := e.txnLocked(c)
	if ae != nil {
		return nil, ae
	}
	return e.renderTxn(o, c.expand)
}

func (e *Emulator) updateTxn(c *call) (obj, *apiError) {
	o, ae := e.txnLocked(c)
	if ae != nil {
		return nil, ae
	}
	if d, ok := c.in["description"].(string); ok {
		if d == "" {
			o["description"] = nil
		} else {
			o["description"] = d
		}
	}
	mergeMetadata(o, c.in)
	e.putLocked(kTxn, o)
	return e.renderTxn(o, c.expand)
}

func (e *Emulator) listTxns(c *call) (obj, *apiError) {
	cust, ae := e.customerLocked(c.r.PathValue("customer"), "customer")
	if ae != nil {
		return nil, ae
	}
	q, ae := pagingOf(c.in)
	if ae != nil {
		return nil, ae
	}
	created, _ := c.in["created"].(map[string]any)
	t := e.tables[kTxn]
	var items []obj
	for _, o := range t.order {
		if o["customer"] == cust["id"] && inRange(intOf(o["created"]), created) {
			if inv, ok := c.in["invoice"].(string); ok && o["invoice"] != inv {
				continue
			}
			items = append(items, o)
		}
	}
	return e.listLocked(items, q, t, "customer balance transaction", "/v1/customers/"+cust["id"].(string)+"/balance_transactions", c.expand, e.renderTxn)
}

func cannotExpand(path string) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "parameter_invalid_string", param: "expand",
		message: "This property cannot be expanded (" + path + ")."}
}
