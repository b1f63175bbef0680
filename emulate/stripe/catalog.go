package stripe

import (
	"math/big"
	"strings"
)

var productParams = params{
	"name": {kind: kStr}, "active": {kind: kBool}, "description": {kind: kEmptyStr}, "metadata": {kind: kMeta},
	"unit_label": {kind: kEmptyStr}, "url": {kind: kEmptyStr}, "shippable": {kind: kBool},
	"statement_descriptor": {kind: kStr}, "expand": {kind: kStrList},
}

var priceCreateParams = params{
	"currency": {kind: kStr}, "product": {kind: kStr}, "product_data": {kind: kObj, sub: params{"name": {kind: kStr}, "active": {kind: kBool}, "metadata": {kind: kMeta}, "unit_label": {kind: kStr}}},
	"unit_amount": {kind: kInt}, "unit_amount_decimal": {kind: kDecimal},
	"recurring": {kind: kObj, sub: params{
		"interval":       {kind: kStr, enum: []string{"day", "week", "month", "year"}},
		"interval_count": {kind: kInt}, "usage_type": {kind: kStr, enum: []string{"licensed", "metered"}}, "meter": {kind: kStr},
	}},
	"nickname": {kind: kStr}, "active": {kind: kBool}, "metadata": {kind: kMeta}, "lookup_key": {kind: kStr},
	"tax_behavior": {kind: kStr, enum: []string{"exclusive", "inclusive", "unspecified"}}, "expand": {kind: kStrList},
}

var priceUpdateParams = params{"nickname": {kind: kStr}, "active": {kind: kBool}, "metadata": {kind: kMeta}, "lookup_key": {kind: kStr}, "expand": {kind: kStrList}}

func catalogRoutes() []route {
	return []route{
		{"POST", "/v1/products", productParams, (*Emulator).createProduct},
		{"GET", "/v1/products", withPaging(params{"active": {kind: kBool}, "created": {kind: kRange}}), (*Emulator).listProducts},
		{"GET", "/v1/products/{id}", params{"expand": {kind: kStrList}}, (*Emulator).getProduct},
		{"POST", "/v1/products/{id}", productParams, (*Emulator).updateProduct},
		{"POST", "/v1/prices", priceCreateParams, (*Emulator).createPrice},
		{"GET", "/v1/prices", withPaging(params{"active": {kind: kBool}, "currency": {kind: kStr}, "product": {kind: kStr}, "type": {kind: kStr, enum: []string{"one_time", "recurring"}}, "created": {kind: kRange}}), (*Emulator).listPrices},
		{"GET", "/v1/prices/{price}", params{"expand": {kind: kStrList}}, (*Emulator).getPrice},
		{"POST", "/v1/prices/{price}", priceUpdateParams, (*Emulator).updatePrice},
	}
}

func (e *Emulator) newProductLocked(c *call, in map[string]any) (obj, *apiError) {
	name, _ := in["name"].(string)
	if name == "" {
		return nil, missing("name")
	}
	p := obj{
		"id": newID("prod_", 14), "object": "product", "active": true, "created": c.now, "default_price": nil,
		"description": nil, "images": []any{}, "livemode": false, "marketing_features": []any{}, "metadata": map[string]string{},
		"name": name, "package_dimensions": nil, "shippable": nil, "statement_descriptor": nil, "tax_code": nil,
		"unit_label": nil, "updated": c.now, "url": nil,
	}
	applyProductFields(p, in)
	e.insertLocked(kProduct, p)
	e.emitLocked(c, "product.created", public(p), nil)
	return p, nil
}

func applyProductFields(p obj, in map[string]any) {
	for _, k := range []string{"name", "description", "unit_label", "url", "statement_descriptor"} {
		if v, ok := in[k].(string); ok {
			p[k] = v
			if v == "" && k != "name" {
				p[k] = nil
			}
		}
	}
	for _, k := range []string{"active", "shippable"} {
		if v, ok := in[k].(bool); ok {
			p[k] = v
		}
	}
	mergeMetadata(p, in)
}

func (e *Emulator) createProduct(c *call) (obj, *apiError) {
	p, ae := e.newProductLocked(c, c.in)
	if ae != nil {
		return nil, ae
	}
	return e.renderPlain(p, c.expand)
}

// renderPlain renders an object and applies its expansions.
func (e *Emulator) renderPlain(o obj, expand []string) (obj, *apiError) {
	out := public(o)
	for _, x := range expand {
		if ae := e.expandLocked(out, x); ae != nil {
			return nil, ae
		}
	}
	return out, nil
}

func (e *Emulator) getProduct(c *call) (obj, *apiError) {
	id := c.r.PathValue("id")
	p := e.tables[kProduct].byID[id]
	if p == nil {
		return nil, noSuch("product", id, "id")
	}
	return e.renderPlain(p, c.expand)
}

func (e *Emulator) updateProduct(c *call) (obj, *apiError) {
	id := c.r.PathValue("id")
	p := e.tables[kProduct].byID[id]
	if p == nil {
		return nil, noSuch("product", id, "id")
	}
	before := public(p)
	applyProductFields(p, c.in)
	if prev := diff(before, public(p)); len(prev) > 0 {
		p["updated"] = c.now
		e.putLocked(kProduct, p)
		e.emitLocked(c, "product.updated", public(p), prev)
	}
	return e.renderPlain(p, c.expand)
}

func (e *Emulator) listProducts(c *call) (obj, *apiError) {
	q, ae := pagingOf(c.in)
	if ae != nil {
		return nil, ae
	}
	created, _ := c.in["created"].(map[string]any)
	t := e.tables[kProduct]
	var items []obj
	for _, p := range t.order {
		if a, ok := c.in["active"].(bool); ok && p["active"] != a || !inRange(intOf(p["created"]), created) {
			continue
		}
		items = append(items, p)
	}
	return e.listLocked(items, q, t, "product", "/v1/products", c.expand, e.renderPlain)
}

func (e *Emulator) createPrice(c *call) (obj, *apiError) {
	cur, _ := c.in["currency"].(string)
	if cur == "" {
		return nil, missing("currency")
	}
	cur = strings.ToLower(cur)
	ua, hasUA := c.in["unit_amount"].(int64)
	uad, hasUAD := c.in["unit_amount_decimal"].(string)
	switch {
	case hasUA && hasUAD:
		return nil, invalidParam("unit_amount", "You may only specify one of these parameters: unit_amount, unit_amount_decimal.")
	case !hasUA && !hasUAD:
		return nil, missing("unit_amount")
	case hasUA && ua < 0:
		return nil, invalidParam("unit_amount", "This value must be greater than or equal to 0.")
	case hasUAD && strings.HasPrefix(uad, "-"):
		return nil, invalidParam("unit_amount_decimal", "This value must be greater than or equal to 0.")
	}
	prodID, _ := c.in["product"].(string)
	pd, hasPD := c.in["product_data"].(map[string]any)
	switch {
	case prodID != "" && hasPD:
		return nil, invalidParam("product", "You may only specify one of these parameters: product, product_data.")
	case hasPD:
		p, ae := e.newProductLocked(c, pd)
		if ae != nil {
			ae.param = "product_data[" + ae.param + "]"
			return nil, ae
		}
		prodID = p["id"].(string)
	case prodID == "":
		return nil, missing("product")
	case e.tables[kProduct].byID[prodID] == nil:
		return nil, noSuch("product", prodID, "product")
	}
	pr := obj{
		"id": newID("price_", 24), "object": "price", "active": true, "billing_scheme": "per_unit", "created": c.now,
		"currency": cur, "custom_unit_amount": nil, "livemode": false, "lookup_key": nil, "metadata": map[string]string{},
		"nickname": nil, "product": prodID, "recurring": nil, "tax_behavior": "unspecified", "tiers_mode": nil,
		"transform_quantity": nil, "type": "one_time",
	}
	if hasUA {
		pr["unit_amount"], pr["unit_amount_decimal"] = ua, big.NewInt(ua).String()
	} else {
		r, _ := new(big.Rat).SetString(uad)
		pr["unit_amount_decimal"] = uad
		pr["unit_amount"] = nil
		if r.IsInt() {
			pr["unit_amount"] = r.Num().Int64()
			pr["unit_amount_decimal"] = r.Num().String()
		}
	}
	if rec, ok := c.in["recurring"].(map[string]any); ok {
		interval, _ := rec["interval"].(string)
		if interval == "" {
			return nil, missing("recurring[interval]")
		}
		count := int64(1)
		if n, ok := rec["interval_count"].(int64); ok {
			count = n
		}
		usage, _ := rec["usage_type"].(string)
		if usage == "" {
			usage = "licensed"
		}
		var meter any
		if m, ok := rec["meter"].(string); ok {
			meter = m
		}
		pr["recurring"] = obj{"interval": interval, "interval_count": count, "meter": meter, "trial_period_days": nil, "usage_type": usage}
		pr["type"] = "recurring"
	}
	for _, k := range []string{"nickname", "lookup_key", "tax_behavior"} {
		if v, ok := c.in[k].(string); ok {
			pr[k] = v
		}
	}
	if a, ok := c.in["active"].(bool); ok {
		pr["active"] = a
	}
	mergeMetadata(pr, c.in)
	e.insertLocked(kPrice, pr)
	e.emitLocked(c, "price.created", public(pr), nil)
	return e.renderPlain(pr, c.expand)
}

func (e *Emulator) getPrice(c *call) (obj, *apiError) {
	id := c.r.PathValue("price")
	p := e.tables[kPrice].byID[id]
	if p == nil {
		return nil, noSuch("price", id, "price")
	}
	return e.renderPlain(p, c.expand)
}

func (e *Emulator) updatePrice(c *call) (obj, *apiError) {
	id := c.r.PathValue("price")
	p := e.tables[kPrice].byID[id]
	if p == nil {
		return nil, noSuch("price", id, "price")
	}
	before := public(p)
	for _, k := range []string{"nickname", "lookup_key"} {
		if v, ok := c.in[k].(string); ok {
			p[k] = v
			if v == "" {
				p[k] = nil
			}
		}
	}
	if a, ok := c.in["active"].(bool); ok {
		p["active"] = a
	}
	mergeMetadata(p, c.in)
	if prev := diff(before, public(p)); len(prev) > 0 {
		e.putLocked(kPrice, p)
		e.emitLocked(c, "price.updated", public(p), prev)
	}
	return e.renderPlain(p, c.expand)
}

func (e *Emulator) listPrices(c *call) (obj, *apiError) {
	q, ae := pagingOf(c.in)
	if ae != nil {
		return nil, ae
	}
	created, _ := c.in["created"].(map[string]any)
	t := e.tables[kPrice]
	var items []obj
	for _, p := range t.order {
		if a, ok := c.in["active"].(bool); ok && p["active"] != a {
			continue
		}
		if v, ok := c.in["currency"].(string); ok && p["currency"] != strings.ToLower(v) {
			continue
		}
		if v, ok := c.in["product"].(string); ok && p["product"] != v {
			continue
		}
		if v, ok := c.in["type"].(string); ok && p["type"] != v || !inRange(intOf(p["created"]), created) {
			continue
		}
		items = append(items, p)
	}
	return e.listLocked(items, q, t, "price", "/v1/prices", c.expand, e.renderPlain)
}

// lineAmount is unit_amount_decimal × quantity in minor units, rounded
// half away from zero to an integer.
func lineAmount(price obj, qty int64) int64 {
	var unit *big.Rat
	if d, ok := price["unit_amount_decimal"].(string); ok {
		unit, _ = new(big.Rat).SetString(d)
	}
	if unit == nil {
		unit = new(big.Rat).SetInt64(intOf(price["unit_amount"]))
	}
	total := new(big.Rat).Mul(unit, new(big.Rat).SetInt64(qty))
	num, den := new(big.Int).Set(total.Num()), total.Denom()
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if new(big.Int).Mul(new(big.Int).Abs(r), big.NewInt(2)).Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q.Int64()
}
