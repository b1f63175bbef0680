package stripeapi

import (
	"context"
	"strconv"
	"strings"

	"github.com/billsync/billsync"
)

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// Get reads one record; ENOTFOUND when Stripe does not have it (or keeps
// it only as deleted).
func (c *Client) Get(ctx context.Context, t billsync.ObjectType, id string) (billsync.Entity, error) {
	switch t {
	case billsync.ObjectAccount:
		cu, err := c.readCustomer(ctx, id)
		if err != nil {
			return nil, err
		}
		return accountOf(cu), nil
	case billsync.ObjectBalance:
		return c.getBalance(ctx, id)
	case billsync.ObjectBalanceTransaction:
		return c.getTransaction(ctx, id)
	case billsync.ObjectQuote:
		return c.getQuote(ctx, id)
	}
	return nil, unknownType(t)
}

func unknownType(t billsync.ObjectType) error {
	return billsync.Errorf(billsync.EINVALID, "stripe: unknown object type %q", t)
}

// List pages through records; the cursor is opaque.
func (c *Client) List(ctx context.Context, t billsync.ObjectType, cursor string, limit int) ([]billsync.Entity, string, error) {
	switch t {
	case billsync.ObjectAccount:
		return c.listAccounts(ctx, cursor, limit)
	case billsync.ObjectBalance:
		return c.listBalances(ctx, cursor, limit)
	case billsync.ObjectBalanceTransaction:
		return c.listTransactions(ctx, cursor, limit)
	case billsync.ObjectQuote:
		return c.listQuotes(ctx, cursor, limit)
	}
	return nil, "", unknownType(t)
}

// Create inserts a record. A balance is created by setting it: one
// adjustment transaction for its amount.
func (c *Client) Create(ctx context.Context, t billsync.ObjectType, e billsync.Entity, idempotencyKey string) (billsync.Entity, error) {
	switch t {
	case billsync.ObjectAccount:
		return c.createAccount(ctx, e, idempotencyKey)
	case billsync.ObjectBalance:
		return c.createBalance(ctx, e)
	case billsync.ObjectBalanceTransaction:
		return c.createTransaction(ctx, e, idempotencyKey)
	case billsync.ObjectQuote:
		return nil, quoteReadOnly()
	}
	return nil, unknownType(t)
}

// Update writes what differs from the record as Stripe holds it. Stripe
// has no versions; the engine compares content before it calls Update.
func (c *Client) Update(ctx context.Context, t billsync.ObjectType, e billsync.Entity) (billsync.Entity, error) {
	switch t {
	case billsync.ObjectAccount:
		return c.updateAccount(ctx, e)
	case billsync.ObjectBalance:
		return c.updateBalance(ctx, e)
	case billsync.ObjectBalanceTransaction:
		return c.updateTransaction(ctx, e)
	case billsync.ObjectQuote:
		return c.linkQuote(ctx, e)
	}
	return nil, unknownType(t)
}

// Delete removes a customer; Stripe deletes no balance, transaction or
// quote, so those are refused.
func (c *Client) Delete(ctx context.Context, t billsync.ObjectType, id string) error {
	switch t {
	case billsync.ObjectAccount:
		return c.deleteAccount(ctx, id)
	case billsync.ObjectBalance:
		return refusal("Stripe keeps a customer's balance (%s); set its amount to zero instead of deleting it", id)
	case billsync.ObjectBalanceTransaction:
		return refusal("Stripe does not delete a customer balance transaction (%s); add one for the opposite amount instead", id)
	case billsync.ObjectQuote:
		return quoteReadOnly()
	}
	return unknownType(t)
}

func quoteReadOnly() error {
	return refusal("billsync reads Stripe quotes but does not write them")
}

// listTransactions walks the customers and each one's transactions. The
// cursor is "<customer>|<last transaction read>" ("" after the bar: the
// customer's first page); a page never spans two customers, and may be
// empty when a customer has none.
func (c *Client) listTransactions(ctx context.Context, cursor string, limit int) ([]billsync.Entity, string, error) {
	cus, after, _ := strings.Cut(cursor, "|")
	if cus == "" {
		first, err := c.listCustomers(ctx, "", 1)
		if err != nil {
			return nil, "", err
		}
		if len(first.Data) == 0 {
			return []billsync.Entity{}, "", nil
		}
		cus = first.Data[0].ID
	}
	page, err := c.listTxns(ctx, cus, after, limit)
	if err != nil {
		return nil, "", err
	}
	out, err := transactionsOf(cus, page.Data, "")
	if err != nil {
		return nil, "", err
	}
	if page.HasMore && len(page.Data) > 0 {
		return out, cus + "|" + page.Data[len(page.Data)-1].ID, nil
	}
	next, err := c.listCustomers(ctx, cus, 1)
	if err != nil {
		return nil, "", err
	}
	if len(next.Data) == 0 {
		return out, "", nil
	}
	return out, next.Data[0].ID + "|", nil
}

func (c *Client) listTxns(ctx context.Context, cus, after string, limit int) (list[txn], error) {
	var page list[txn]
	err := c.get(ctx, txnPath(cus, ""), pageQuery(after, limit), &page)
	return page, err
}

// transactionsOf maps a page, keeping only those in currency cur when it
// is not "".
func transactionsOf(cus string, ts []txn, cur string) ([]billsync.Entity, error) {
	out := make([]billsync.Entity, 0, len(ts))
	for i := range ts {
		if cur != "" && !strings.EqualFold(ts[i].Currency, cur) {
			continue
		}
		e, err := transactionOf(cus, &ts[i])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// RecentTransactions pages through the customer's balance transactions
// in the balance's currency, newest first (Stripe's own order). Stripe
// cannot filter by currency, so a page may hold fewer than limit.
func (c *Client) RecentTransactions(ctx context.Context, balanceID, cursor string, limit int) ([]billsync.Entity, string, error) {
	cus, cur, err := splitID("balance", balanceID)
	if err != nil {
		return nil, "", err
	}
	page, err := c.listTxns(ctx, cus, cursor, limit)
	if err != nil {
		return nil, "", err
	}
	out, err := transactionsOf(cus, page.Data, cur)
	if err != nil {
		return nil, "", err
	}
	return out, nextAfter(page.HasMore, page.Data, func(t txn) string { return t.ID }), nil
}
