package m3ter

import (
	"slices"
)

// resource is an entity with m3ter's CRUD: list, create, read, replace
// (PUT with version) and delete.
type resource struct {
	kind, what string
	path       string // under the organization, e.g. "/accounts"
	idParam    string // the path parameter naming one record
	maxPage    int    // the spec's pageSize maximum for its list
	req        fields // the spec's request schema
	// event is the eventName prefix its writes record ("" = none), e.g.
	// "configuration.account" (+ ".created").
	event string
	// filter keeps a record in a list ("" filters pass everything).
	filter func(c *call, o obj) bool
	// validate checks a create (old == nil) or update beyond the schema.
	validate func(e *Emulator, c *call, in, old obj) *apiError
	// render shapes a record for an answer (default: public).
	render func(e *Emulator, o obj) obj
	// cascade runs after a delete (a balance's transactions go with it).
	cascade func(e *Emulator, o obj)
}

func (rs *resource) routes() []route {
	one := rs.path + "/{" + rs.idParam + "}"
	return []route{
		{"GET", rs.path, rs.maxPage, rs.list},
		{"POST", rs.path, 0, rs.create},
		{"GET", one, 0, rs.get},
		{"PUT", one, 0, rs.update},
		{"DELETE", one, 0, rs.delete},
	}
}

func (rs *resource) out(e *Emulator, o obj) obj {
	if rs.render != nil {
		return rs.render(e, o)
	}
	return public(o)
}

func (rs *resource) list(e *Emulator, c *call) (any, *apiError) {
	ids := queryList(c.r, "ids")
	var items []obj
	for _, o := range e.tables[rs.kind].order {
		if len(ids) > 0 && !slices.Contains(ids, o["id"].(string)) {
			continue
		}
		if rs.filter != nil && !rs.filter(c, o) {
			continue
		}
		items = append(items, o)
	}
	pg, next, ae := page(c.r, items)
	if ae != nil {
		return nil, ae
	}
	data := make([]any, 0, len(pg))
	for _, o := range pg {
		data = append(data, rs.out(e, o))
	}
	return listBody(data, next), nil
}

func (rs *resource) lookup(e *Emulator, c *call) (obj, *apiError) {
	id := c.r.PathValue(rs.idParam)
	o := e.tables[rs.kind].byID[id]
	if o == nil {
		return nil, notFound(rs.what, id)
	}
	return o, nil
}

func (rs *resource) get(e *Emulator, c *call) (any, *apiError) {
	o, ae := rs.lookup(e, c)
	if ae != nil {
		return nil, ae
	}
	return rs.out(e, o), nil
}

func (rs *resource) create(e *Emulator, c *call) (any, *apiError) {
	in, ae := check(c.body, rs.req)
	if ae != nil {
		return nil, ae
	}
	if rs.validate != nil {
		if ae := rs.validate(e, c, in, nil); ae != nil {
			return nil, ae
		}
	}
	o := in
	ts := timestamp(c.now)
	o["id"] = newUUID()
	o["version"] = int64(1)
	o["dtCreated"], o["dtLastModified"] = ts, ts
	o["createdBy"], o["lastModifiedBy"] = c.user, c.user
	e.insertLocked(rs.kind, o)
	if rs.event != "" {
		e.emitLocked(c, rs.event+".created", rs.out(e, o), nil, o)
	}
	return rs.out(e, o), nil
}

// update replaces the whole record: fields the request leaves out are
// gone (customFields included), as m3ter's PUT does. The request must
// carry the current version (PROVISIONAL: else 409).
func (rs *resource) update(e *Emulator, c *call) (any, *apiError) {
	old, ae := rs.lookup(e, c)
	if ae != nil {
		return nil, ae
	}
	cur := versionOf(old)
	v, ok := c.body["version"]
	if !ok || v == nil {
		return nil, staleVersion(rs.what, "none", cur)
	}
	if ae := checkValue("version", v, field{kind: kInt}); ae != nil {
		return nil, ae
	}
	if intOf(v) != cur {
		return nil, staleVersion(rs.what, v, cur)
	}
	in, ae := check(c.body, rs.req)
	if ae != nil {
		return nil, ae
	}
	if rs.validate != nil {
		if ae := rs.validate(e, c, in, old); ae != nil {
			return nil, ae
		}
	}
	before := rs.out(e, old)
	o := in
	for k, x := range old { // what the request cannot set survives it
		if _, settable := rs.req[k]; !settable {
			o[k] = x
		}
	}
	o["version"] = cur + 1
	o["dtLastModified"], o["lastModifiedBy"] = timestamp(c.now), c.user
	e.putLocked(rs.kind, o)
	if rs.event != "" {
		e.emitLocked(c, rs.event+".updated", rs.out(e, o), before, o)
	}
	return rs.out(e, o), nil
}

func (rs *resource) delete(e *Emulator, c *call) (any, *apiError) {
	o, ae := rs.lookup(e, c)
	if ae != nil {
		return nil, ae
	}
	e.removeLocked(rs.kind, o["id"].(string))
	if rs.cascade != nil {
		rs.cascade(e, o)
	}
	out := rs.out(e, o)
	if rs.event != "" {
		e.emitLocked(c, rs.event+".deleted", nil, out, o)
	}
	return out, nil
}

var accountFields = fields{
	"name":                      {kind: kStr, required: true, minLen: 1, maxLen: 200},
	"code":                      {kind: kStr, required: true, minLen: 1, maxLen: 80},
	"emailAddress":              {kind: kEmail, required: true},
	"address":                   {kind: kAddress},
	"parentAccountId":           {kind: kStr},
	"billEpoch":                 {kind: kDate},
	"purchaseOrderNumber":       {kind: kStr, maxLen: 100},
	"currency":                  {kind: kStr},
	"statementDefinitionId":     {kind: kStr},
	"autoGenerateStatementMode": {kind: kStr, enum: []string{"NONE", "JSON", "JSON_AND_CSV"}},
	"creditApplicationOrder":    {kind: kStrList, enum: []string{"PREPAYMENT", "BALANCE"}},
	"daysBeforeBillDue":         {kind: kInt, positive: true},
	"customFields":              {kind: kCustom},
}

var accounts = &resource{
	kind: kAccount, what: "Account", path: "/accounts", idParam: "id", maxPage: 100, req: accountFields,
	event: "configuration.account",
	filter: func(c *call, o obj) bool {
		codes := queryList(c.r, "codes")
		return len(codes) == 0 || slices.Contains(codes, strOf(o["code"]))
	},
	validate: func(e *Emulator, c *call, in, old obj) *apiError {
		if a, ok := in["address"].(map[string]any); ok {
			in["address"] = known(a, addressFields)
		}
		code := strOf(in["code"])
		for _, o := range e.tables[kAccount].order {
			if o["code"] == code && (old == nil || o["id"] != old["id"]) {
				return badRequest("An Account with code %q already exists", code)
			}
		}
		if p := strOf(in["parentAccountId"]); p != "" {
			if e.tables[kAccount].byID[p] == nil || old != nil && p == old["id"] {
				return badRequest("parentAccountId %s is not an Account that can be a parent", p)
			}
		}
		return nil
	},
}

func accountRoutes() []route { return accounts.routes() }

// errAmountReadOnly refuses an amount on a balance write (PROVISIONAL: it
// is derived from the transactions and not in the spec's request schema).
var errAmountReadOnly = badRequest("amount is read-only: a Balance's amount is the sum of its transactions; add a transaction instead")
