package m3terapi

import (
	"context"
	"strings"

	"github.com/billsync/billsync"
)

// balanceOf is an m3ter balance in the contract's balance shape; its
// amount (derived by m3ter from its transactions) as an exact decimal.
func balanceOf(r record) (billsync.Entity, error) {
	amt, err := amountOf(r["amount"])
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "m3ter: balance %s: amount: %v", r.str("id"), err)
	}
	e := billsync.Entity{
		"id":           r.str("id"),
		"accountId":    r.str("accountId"),
		"code":         r.str("code"),
		"name":         r.str("name"),
		"description":  r.str("description"),
		"currency":     r.str("currency"),
		"startDate":    dateOf(r.str("startDate")),
		"endDate":      dateOf(r.str("endDate")),
		"amount":       amt,
		"customFields": r.customFields(),
	}
	stamp(e, r)
	return e, nil
}

func (c *Client) readBalance(ctx context.Context, id string) (record, error) {
	if err := validID("balance", id); err != nil {
		return nil, err
	}
	var r record
	if err := c.get(ctx, c.orgPath("balances", id), nil, &r); err != nil {
		return nil, err
	}
	return r, nil
}

func (c *Client) getBalance(ctx context.Context, id string) (billsync.Entity, error) {
	r, err := c.readBalance(ctx, id)
	if err != nil {
		return nil, err
	}
	return balanceOf(r)
}

// targetAmount is the amount an entity asks its balance to hold, and
// whether it names one.
func targetAmount(e billsync.Entity) (billsync.Money, bool, error) {
	s := e.Str("amount")
	if s == "" {
		return billsync.Money{}, false, nil
	}
	m, err := billsync.ParseMoney(s)
	if err != nil {
		return billsync.Money{}, false, billsync.Errorf(billsync.EINVALID, "m3ter: balance amount %q is not a decimal amount", s)
	}
	return m, true, nil
}

// createBalance creates a balance (or finds the one an earlier try of the
// same create made, see findBalance) and, when the entity names an
// amount, brings it there with a transaction: m3ter derives a balance's
// amount from its transactions. What m3ter requires of a balance is
// checked before the call. After a crash between the two, the retry
// finds the balance and adds only what is still missing.
func (c *Client) createBalance(ctx context.Context, e billsync.Entity) (billsync.Entity, error) {
	sfID := salesforceID(e)
	body := record{"accountId": e.Str("accountId"), "code": e.Str("code"), "name": e.Str("name"), "currency": e.Str("currency"),
		"startDate": dateTimeFor(e.Str("startDate"), ""), "endDate": dateTimeFor(e.Str("endDate"), ""),
		"customFields": mergeCustom(nil, e)}
	var missing []string
	for _, k := range []string{"accountId", "code", "currency", "endDate", "name", "startDate"} {
		if body.str(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "m3ter: a balance needs %s", strings.Join(missing, ", "))
	}
	if d := e.Str("description"); d != "" {
		body["description"] = d
	}
	target, hasAmount, err := targetAmount(e)
	if err != nil {
		return nil, err
	}
	if hasAmount && !target.IsZero() && c.balanceAmount != amountTransaction {
		return nil, refusal("m3ter derives a balance's amount from its transactions (billing.options.balanceAmount is unsupported)")
	}
	var r record
	if sfID != "" {
		if r, err = c.findBalance(ctx, body.str("accountId"), sfID); err != nil {
			return nil, err
		}
	}
	if r == nil {
		if err := c.post(ctx, c.orgPath("balances"), body, &r); err != nil {
			return nil, err
		}
	}
	if !hasAmount {
		return balanceOf(r)
	}
	return c.settleAmount(ctx, r, target)
}

// findBalance is the balance of account acct that an earlier create from
// Salesforce record sfID made, nil when there is none: m3ter takes no
// idempotency key, so a create retried after a crash or a lost answer
// looks for its record before making a second one.
func (c *Client) findBalance(ctx context.Context, acct, sfID string) (record, error) {
	token := ""
	for {
		q := pageQuery(token, 100, 100)
		q.Set("accountId", acct)
		var p page[record]
		if err := c.get(ctx, c.orgPath("balances"), q, &p); err != nil {
			return nil, err
		}
		for _, r := range p.Data {
			if billsync.ValueString(r.customFields()[cfSalesforceID]) == sfID {
				return r, nil
			}
		}
		if token = p.next(); token == "" || len(p.Data) == 0 {
			return nil, nil
		}
	}
}

// settleAmount brings balance r to target with one transaction for the
// difference, and returns the balance as m3ter then holds it. A retry
// after the transaction was made sees no difference left and writes
// nothing.
func (c *Client) settleAmount(ctx context.Context, r record, target billsync.Money) (billsync.Entity, error) {
	b, err := balanceOf(r)
	if err != nil {
		return nil, err
	}
	have := billsync.MustMoney(b.Str("amount"))
	diff, err := target.Add(negate(have))
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "m3ter: balance %s: %v", b.ID(), err)
	}
	if diff.IsZero() {
		return b, nil
	}
	if c.balanceAmount != amountTransaction {
		return nil, refusal("m3ter derives a balance's amount from its transactions (billing.options.balanceAmount is unsupported)")
	}
	body := record{"amount": number(diff),
		"description": "billsync: balance set to " + target.String() + " " + b.Str("currency") + " in Salesforce"}
	if err := c.post(ctx, c.orgPath("balances", b.ID(), "transactions"), body, nil); err != nil {
		return nil, err
	}
	return c.getBalance(ctx, b.ID())
}

// updateBalance reads the balance, PUTs it whole with the entity's fields
// laid over it (when any of them differs) at the version the engine read,
// then brings its amount to the entity's with a transaction for the
// difference (billing.options.balanceAmount transaction).
func (c *Client) updateBalance(ctx context.Context, e billsync.Entity) (billsync.Entity, error) {
	r, err := c.readBalance(ctx, e.ID())
	if err != nil {
		return nil, err
	}
	if err := checkVersion("balance", r, e); err != nil {
		return nil, err
	}
	target, hasAmount, err := targetAmount(e)
	if err != nil {
		return nil, err
	}
	body := r.forPut()
	for _, k := range []string{"accountId", "code", "name", "description", "currency"} {
		setOrDelete(body, e, k)
	}
	for _, k := range []string{"startDate", "endDate"} {
		if _, ok := e[k]; ok {
			body[k] = dateTimeFor(e.Str(k), r.str(k))
		}
	}
	setCustom(body, r, mergeCustom(r.customFields(), e))
	if changed(r.forPut(), body) {
		body["version"] = e.Version()
		var out record
		if err := c.put(ctx, c.orgPath("balances", e.ID()), body, &out); err != nil {
			return nil, err
		}
		r = out
	}
	if !hasAmount {
		return balanceOf(r)
	}
	return c.settleAmount(ctx, r, target)
}

// changed reports whether a PUT body differs from what m3ter holds.
func changed(have, want record) bool {
	a, _ := jsonOf(have)
	b, _ := jsonOf(want)
	return a != b
}

func (c *Client) listBalances(ctx context.Context, cursor string, limit int) ([]billsync.Entity, string, error) {
	var p page[record]
	if err := c.get(ctx, c.orgPath("balances"), pageQuery(cursor, limit, 100), &p); err != nil {
		return nil, "", err
	}
	out := make([]billsync.Entity, 0, len(p.Data))
	for _, r := range p.Data {
		b, err := balanceOf(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, b)
	}
	return out, p.next(), nil
}
