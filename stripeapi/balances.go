package stripeapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/money"
)

// A Stripe customer holds one balance per currency: customer.balance in
// its own currency (negative is credit) and invoice_credit_balance for
// the others (positive is credit). billsync shows each as a balance whose
// amount is the credit held, with the synthetic id "<customer>.<currency>".

// balanceID is the synthetic id of a customer's balance in a currency.
func balanceID(cus, cur string) string { return cus + "." + strings.ToLower(cur) }

// splitID cuts "<customer>.<rest>" (a balance or transaction id).
func splitID(kind, id string) (cus, rest string, err error) {
	cus, rest, ok := strings.Cut(id, ".")
	if !ok || cus == "" || rest == "" || strings.ContainsAny(id, "/?#") {
		return "", "", billsync.Errorf(billsync.EINVALID, "stripe: %s id %q is not <customer id>.<%s>", kind, id, map[string]string{"balance": "currency", "transaction": "transaction id"}[kind])
	}
	return cus, rest, nil
}

// creditMinor is the credit a customer holds in cur, in minor units, and
// whether the customer has a balance in cur at all.
func creditMinor(cu *customer, cur string) (int64, bool) {
	cur = strings.ToLower(cur)
	if cu.Currency != "" && strings.EqualFold(cu.Currency, cur) {
		return -cu.Balance, true
	}
	v, ok := cu.InvoiceCreditBalance[cur]
	return v, ok
}

// currenciesOf are the currencies a customer has a balance in, its own
// first.
func currenciesOf(cu *customer) []string {
	var out []string
	if cu.Currency != "" {
		out = append(out, strings.ToLower(cu.Currency))
	}
	others := make([]string, 0, len(cu.InvoiceCreditBalance))
	for k := range cu.InvoiceCreditBalance {
		if !strings.EqualFold(k, cu.Currency) {
			others = append(others, strings.ToLower(k))
		}
	}
	slices.Sort(others)
	return append(out, others...)
}

// balanceOf is the customer's balance in cur in the balance shape.
func balanceOf(cu *customer, cur string, credit int64) (billsync.Entity, error) {
	amt, err := money.Stripe.FromMinor(credit, cur)
	if err != nil {
		return nil, err
	}
	up := strings.ToUpper(cur)
	return billsync.Entity{
		"id":        balanceID(cu.ID, cur),
		"accountId": cu.ID,
		"currency":  up,
		"code":      up,
		"name":      up + " balance",
		"amount":    amt.String(),
		"createdAt": unixUTC(cu.Created),
	}, nil
}

func balancesOf(cu *customer) ([]billsync.Entity, error) {
	var out []billsync.Entity
	for _, cur := range currenciesOf(cu) {
		credit, _ := creditMinor(cu, cur)
		b, err := balanceOf(cu, cur, credit)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func (c *Client) getBalance(ctx context.Context, id string) (billsync.Entity, error) {
	cus, cur, err := splitID("balance", id)
	if err != nil {
		return nil, err
	}
	cu, err := c.readCustomer(ctx, cus)
	if err != nil {
		return nil, err
	}
	credit, ok := creditMinor(cu, cur)
	if !ok {
		return nil, notFound("customer %s has no balance in %s", cus, strings.ToUpper(cur))
	}
	return balanceOf(cu, cur, credit)
}

// setBalance makes the credit a customer holds in cur equal to the
// entity's amount with one adjustment transaction for the difference.
// Its idempotency key stands for (balance, from, to): a retry that finds
// the write applied sees no difference left and writes nothing; one that
// does not repeats the same key, which Stripe applies once.
func (c *Client) setBalance(ctx context.Context, cus, cur string, e billsync.Entity) (billsync.Entity, error) {
	cu, err := c.readCustomer(ctx, cus)
	if err != nil {
		return nil, err
	}
	target, err := billsync.ParseMoney(e.Str("amount"))
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "stripe: balance amount %q is not a decimal amount", e.Str("amount"))
	}
	to, err := money.Stripe.ToMinor(target, cur)
	if err != nil {
		return nil, err
	}
	from, _ := creditMinor(cu, cur)
	if to != from {
		id := balanceID(cus, cur)
		sum := sha256.Sum256([]byte(id + "|" + itoa64(from) + "|" + itoa64(to)))
		f := form{}
		f.Set("amount", itoa64(from-to))
		f.Set("currency", strings.ToLower(cur))
		f.Set("description", "billsync: balance set to "+target.String()+" "+strings.ToUpper(cur))
		key := KeyPrefix + "balance-" + hex.EncodeToString(sum[:16])
		if err := c.post(ctx, txnPath(cus, ""), f, key, &txn{}); err != nil {
			return nil, err
		}
	}
	return balanceOf(cu, cur, to)
}

func (c *Client) createBalance(ctx context.Context, e billsync.Entity) (billsync.Entity, error) {
	cus, cur := e.Str("accountId"), strings.ToLower(e.Str("currency"))
	if cus == "" || cur == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "stripe: a balance needs accountId and currency")
	}
	if _, err := money.Stripe.Exponent(cur); err != nil {
		return nil, err
	}
	if e.Str("amount") == "" {
		e = e.Clone()
		e["amount"] = "0"
	}
	return c.setBalance(ctx, cus, cur, e)
}

func (c *Client) updateBalance(ctx context.Context, e billsync.Entity) (billsync.Entity, error) {
	cus, cur, err := splitID("balance", e.ID())
	if err != nil {
		return nil, err
	}
	if cc := e.Str("currency"); cc != "" && !strings.EqualFold(cc, cur) {
		return nil, refusal("a Stripe balance's currency is part of its id (%s); it cannot become %s", e.ID(), cc)
	}
	return c.setBalance(ctx, cus, cur, e)
}

// listBalances pages through customers; a page holds the balances of one
// page of customers, so it may be longer or shorter than limit.
func (c *Client) listBalances(ctx context.Context, cursor string, limit int) ([]billsync.Entity, string, error) {
	page, err := c.listCustomers(ctx, cursor, limit)
	if err != nil {
		return nil, "", err
	}
	out := []billsync.Entity{}
	for i := range page.Data {
		bs, err := balancesOf(&page.Data[i])
		if err != nil {
			return nil, "", err
		}
		out = append(out, bs...)
	}
	return out, nextAfter(page.HasMore, page.Data, func(c customer) string { return c.ID }), nil
}

// txn is a customer balance transaction.
type txn struct {
	ID          string            `json:"id"`
	Amount      int64             `json:"amount"`
	Currency    string            `json:"currency"`
	Customer    string            `json:"customer"`
	Description string            `json:"description"`
	Type        string            `json:"type"`
	Metadata    map[string]string `json:"metadata"`
	Created     int64             `json:"created"`
}

func txnPath(cus, id string) string {
	p := customerPath(cus) + "/balance_transactions"
	if id != "" {
		p += "/" + url.PathEscape(id)
	}
	return p
}

// transactionOf is a balance transaction in billsync's shape: its amount
// is the credit it adds (Stripe's sign flipped).
func transactionOf(cus string, t *txn) (billsync.Entity, error) {
	amt, err := money.Stripe.FromMinor(-t.Amount, t.Currency)
	if err != nil {
		return nil, err
	}
	if t.Customer != "" {
		cus = t.Customer
	}
	applied := ""
	if t.Created != 0 {
		applied = time.Unix(t.Created, 0).UTC().Format(time.DateOnly)
	}
	return billsync.Entity{
		"id":           cus + "." + t.ID,
		"balanceId":    balanceID(cus, t.Currency),
		"accountId":    cus,
		"amount":       amt.String(),
		"currency":     strings.ToUpper(t.Currency),
		"description":  t.Description,
		"appliedDate":  applied,
		"type":         t.Type,
		"customFields": customPart(t.Metadata),
		"createdAt":    unixUTC(t.Created),
	}, nil
}

func (c *Client) getTransaction(ctx context.Context, id string) (billsync.Entity, error) {
	cus, tid, err := splitID("transaction", id)
	if err != nil {
		return nil, err
	}
	var t txn
	if err := c.get(ctx, txnPath(cus, tid), nil, &t); err != nil {
		return nil, err
	}
	return transactionOf(cus, &t)
}

// createTransaction takes the account and currency from the entity, or
// from its balance id.
func (c *Client) createTransaction(ctx context.Context, e billsync.Entity, key string) (billsync.Entity, error) {
	cus, cur := e.Str("accountId"), e.Str("currency")
	if bid := e.Str("balanceId"); bid != "" {
		bc, bcur, err := splitID("balance", bid)
		if err != nil {
			return nil, err
		}
		if cus == "" {
			cus = bc
		}
		if cur == "" {
			cur = bcur
		}
	}
	if cus == "" || cur == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "stripe: a balance transaction needs balanceId (or accountId and currency)")
	}
	amt, err := billsync.ParseMoney(e.Str("amount"))
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "stripe: transaction amount %q is not a decimal amount", e.Str("amount"))
	}
	minor, err := money.Stripe.ToMinor(amt, cur)
	if err != nil {
		return nil, err
	}
	f := form{}
	f.Set("amount", itoa64(-minor))
	f.Set("currency", strings.ToLower(cur))
	if d := e.Str("description"); d != "" {
		f.Set("description", d)
	}
	putMetadata(f, nil, metadataOf(e, nil))
	var t txn
	if err := c.post(ctx, txnPath(cus, ""), f, idempotencyKey(key), &t); err != nil {
		return nil, err
	}
	return transactionOf(cus, &t)
}

// updateTransaction sends the description and metadata that differ; a
// change of anything else is refused, as Stripe keeps it immutable.
func (c *Client) updateTransaction(ctx context.Context, e billsync.Entity) (billsync.Entity, error) {
	cus, tid, err := splitID("transaction", e.ID())
	if err != nil {
		return nil, err
	}
	var t txn
	if err := c.get(ctx, txnPath(cus, tid), nil, &t); err != nil {
		return nil, err
	}
	if a := e.Str("amount"); a != "" {
		want, err := billsync.ParseMoney(a)
		have, _ := money.Stripe.FromMinor(-t.Amount, t.Currency)
		if err != nil || !want.Equal(have) {
			return nil, refusal("Stripe does not let a balance transaction's amount change (%s has %s, asked %s)", e.ID(), have, a)
		}
	}
	f := form{}
	if d := e.Str("description"); d != t.Description {
		f.Set("description", d)
	}
	putMetadata(f, t.Metadata, metadataOf(e, nil))
	if len(f) > 0 {
		if err := c.post(ctx, txnPath(cus, tid), f, idempotencyKey(""), &t); err != nil {
			return nil, err
		}
	}
	return transactionOf(cus, &t)
}
