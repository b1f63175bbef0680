package m3ter

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/govalues/decimal"
)

var balanceFields = fields{
	"code":                            {kind: kStr, required: true, minLen: 1, maxLen: 80},
	"name":                            {kind: kStr, required: true, minLen: 1},
	"description":                     {kind: kStr},
	"accountId":                       {kind: kStr, required: true, minLen: 1},
	"startDate":                       {kind: kDateTime, required: true},
	"endDate":                         {kind: kDateTime, required: true},
	"currency":                        {kind: kStr, required: true, minLen: 1},
	"rolloverAmount":                  {kind: kNum},
	"rolloverEndDate":                 {kind: kDateTime},
	"balanceDrawDownDescription":      {kind: kStr, maxLen: 200},
	"overageSurchargePercent":         {kind: kNum},
	"overageDescription":              {kind: kStr, maxLen: 200},
	"productIds":                      {kind: kStrList},
	"lineItemTypes":                   {kind: kStrList, enum: []string{"STANDING_CHARGE", "USAGE", "MINIMUM_SPEND", "COUNTER_RUNNING_TOTAL_CHARGE", "COUNTER_ADJUSTMENT_DEBIT", "AD_HOC"}},
	"contractId":                      {kind: kStr},
	"consumptionsAccountingProductId": {kind: kStr, minLen: 36, maxLen: 36},
	"feesAccountingProductId":         {kind: kStr, minLen: 36, maxLen: 36},
	"allowOverdraft":                  {kind: kBool},
	"customFields":                    {kind: kCustom},
}

var balances = &resource{
	kind: kBalance, what: "Balance", path: "/balances", idParam: "id", maxPage: 100, req: balanceFields,
	event: "billing.balance",
	filter: func(c *call, o obj) bool {
		q := c.r.URL.Query()
		if a := q.Get("accountId"); a != "" && o["accountId"] != a {
			return false
		}
		if q.Has("contractId") && strOf(o["contractId"]) != q.Get("contractId") {
			return false
		}
		end := strOf(o["endDate"])
		if r := strOf(o["rolloverEndDate"]); r != "" && o["rolloverAmount"] != nil {
			end = r // the spec: with a rollover, its end date is the end date
		}
		if s := q.Get("endDateStart"); s != "" && before(end, s) {
			return false
		}
		if s := q.Get("endDateEnd"); s != "" && !before(end, s) {
			return false
		}
		return true
	},
	validate: func(e *Emulator, c *call, in, old obj) *apiError {
		if a, ok := c.body["amount"]; ok && (old == nil || !sameAmount(a, old["amount"])) {
			return errAmountReadOnly
		}
		if n, ok := in["rolloverAmount"].(json.Number); ok {
			if d, _ := decimal.Parse(n.String()); d.IsNeg() {
				return badRequest("rolloverAmount must not be negative")
			}
		}
		acct := strOf(in["accountId"])
		if e.tables[kAccount].byID[acct] == nil {
			return badRequest("accountId %s is not an Account", acct)
		}
		if !before(strOf(in["startDate"]), strOf(in["endDate"])) {
			return badRequest("endDate must be after startDate")
		}
		if old == nil {
			in["amount"] = json.Number("0")
		}
		return nil
	},
	cascade: func(e *Emulator, o obj) {
		id := o["id"]
		for _, t := range slices.Clone(e.tables[kTxn].order) {
			if t["_balance"] == id {
				e.removeLocked(kTxn, t["id"].(string))
			}
		}
	},
}

// before compares two date-times (or dates); unparsable ones compare as
// strings.
func before(a, b string) bool {
	ta, ea := parseTime(a)
	tb, eb := parseTime(b)
	if ea != nil || eb != nil {
		return a < b
	}
	return ta.Before(tb)
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}

var txnFields = fields{
	"description":       {kind: kStr},
	"amount":            {kind: kNum, required: true},
	"paid":              {kind: kNum},
	"currencyPaid":      {kind: kStr},
	"transactionTypeId": {kind: kStr, maxLen: 36},
	"appliedDate":       {kind: kDateTime},
	"transactionDate":   {kind: kDateTime},
}

func balanceRoutes() []route {
	rs := balances.routes()
	return append(rs,
		route{"GET", "/balances/{balanceId}/transactions", 200, (*Emulator).listTransactions},
		route{"POST", "/balances/{balanceId}/transactions", 0, (*Emulator).createTransaction},
	)
}

func (e *Emulator) balanceLocked(c *call) (obj, *apiError) {
	id := c.r.PathValue("balanceId")
	b := e.tables[kBalance].byID[id]
	if b == nil {
		return nil, notFound("Balance", id)
	}
	return b, nil
}

func (e *Emulator) listTransactions(c *call) (any, *apiError) {
	b, ae := e.balanceLocked(c)
	if ae != nil {
		return nil, ae
	}
	q := c.r.URL.Query()
	var items []obj
	for _, t := range e.tables[kTxn].order {
		if t["_balance"] != b["id"] {
			continue
		}
		if v := q.Get("transactionTypeId"); v != "" && t["transactionTypeId"] != v {
			continue
		}
		if v := q.Get("entityType"); v != "" && t["entityType"] != v {
			continue
		}
		if v := q.Get("entityId"); v != "" && t["entityId"] != v {
			continue
		}
		items = append(items, t)
	}
	pg, next, ae := page(c.r, items)
	if ae != nil {
		return nil, ae
	}
	data := make([]any, 0, len(pg))
	for _, t := range pg {
		data = append(data, public(t))
	}
	return listBody(data, next), nil
}

// createTransaction appends a transaction and moves its balance's amount
// by exactly its amount; the balance's version goes up and its
// billing.balance.updated event is the only event (m3ter has no
// transaction event).
func (e *Emulator) createTransaction(c *call) (any, *apiError) {
	b, ae := e.balanceLocked(c)
	if ae != nil {
		return nil, ae
	}
	in, ae := check(c.body, txnFields)
	if ae != nil {
		return nil, ae
	}
	amt, _ := decOf(in["amount"])
	cur, err := decOf(b["amount"])
	if err != nil {
		return nil, &apiError{status: 500, message: "the balance's amount is corrupt"}
	}
	sum, err := cur.Add(amt)
	if err != nil {
		return nil, badRequest("amount: %v", err)
	}
	ts := timestamp(c.now)
	t := in
	t["id"] = newUUID()
	t["version"] = int64(1)
	t["entityType"] = e.entityTypeOf(c.user)
	t["entityId"] = c.user
	if _, ok := t["transactionDate"]; !ok {
		t["transactionDate"] = ts
	}
	t["dtCreated"], t["dtLastModified"] = ts, ts
	t["createdBy"], t["lastModifiedBy"] = c.user, c.user
	t["_balance"] = b["id"]
	e.insertLocked(kTxn, t)

	before := public(b)
	nb := cloneObj(b)
	nb["amount"] = json.Number(sum.String())
	nb["version"] = versionOf(b) + 1
	nb["dtLastModified"], nb["lastModifiedBy"] = ts, c.user
	e.putLocked(kBalance, nb)
	e.emitLocked(c, "billing.balance.updated", public(nb), before, nb)
	return public(t), nil
}

// entityTypeOf is who made a transaction, in m3ter's EntityType.
func (e *Emulator) entityTypeOf(user string) string {
	if user == e.serviceUser {
		return "SERVICE_USER"
	}
	return "USER"
}

// sameAmount tells whether a (from a request) is numerically the stored
// amount b: a client that sends a balance back unchanged is not refused.
func sameAmount(a, b any) bool {
	da, err1 := decOf(a)
	db, err2 := decOf(b)
	return err1 == nil && err2 == nil && da.Cmp(db) == 0
}
