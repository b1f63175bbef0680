package m3terapi

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/billsync/billsync"
)

// Get reads one record; ENOTFOUND when m3ter does not have it.
func (c *Client) Get(ctx context.Context, t billsync.ObjectType, id string) (billsync.Entity, error) {
	switch t {
	case billsync.ObjectAccount:
		r, err := c.readAccount(ctx, id)
		if err != nil {
			return nil, err
		}
		return accountOf(r), nil
	case billsync.ObjectBalance:
		return c.getBalance(ctx, id)
	case billsync.ObjectBalanceTransaction:
		return c.getTransaction(ctx, id)
	case billsync.ObjectQuote:
		return nil, noQuotes()
	}
	return nil, unknownType(t)
}

func unknownType(t billsync.ObjectType) error {
	return billsync.Errorf(billsync.EINVALID, "m3ter: unknown object type %q", t)
}

func noQuotes() error {
	return refusal("m3ter has no quotes billsync syncs")
}

// List pages through records; the cursor is opaque (m3ter's nextToken for
// accounts and balances).
func (c *Client) List(ctx context.Context, t billsync.ObjectType, cursor string, limit int) ([]billsync.Entity, string, error) {
	switch t {
	case billsync.ObjectAccount:
		return c.listAccounts(ctx, cursor, limit)
	case billsync.ObjectBalance:
		return c.listBalances(ctx, cursor, limit)
	case billsync.ObjectBalanceTransaction:
		return c.listTransactions(ctx, cursor, limit)
	case billsync.ObjectQuote:
		return []billsync.Entity{}, "", nil
	}
	return nil, "", unknownType(t)
}

// Create inserts a record. m3ter takes no idempotency key, so the key is
// not sent; a record created from Salesforce is looked for by the
// Salesforce id the engine stamps on it (customFields.salesforceId)
// before it is created, which serves the same end.
func (c *Client) Create(ctx context.Context, t billsync.ObjectType, e billsync.Entity, _ string) (billsync.Entity, error) {
	switch t {
	case billsync.ObjectAccount:
		return c.createAccount(ctx, e)
	case billsync.ObjectBalance:
		return c.createBalance(ctx, e)
	case billsync.ObjectBalanceTransaction:
		return c.createTransaction(ctx, e)
	case billsync.ObjectQuote:
		return nil, noQuotes()
	}
	return nil, unknownType(t)
}

// Update writes a record read at e's version; a stale version is a 409
// (*billsync.RemoteError), never retried here.
func (c *Client) Update(ctx context.Context, t billsync.ObjectType, e billsync.Entity) (billsync.Entity, error) {
	switch t {
	case billsync.ObjectAccount:
		return c.updateAccount(ctx, e)
	case billsync.ObjectBalance:
		return c.updateBalance(ctx, e)
	case billsync.ObjectBalanceTransaction:
		return nil, refusal("m3ter does not let a balance transaction change once created (%s); add one for the difference instead", e.ID())
	case billsync.ObjectQuote:
		return nil, noQuotes()
	}
	return nil, unknownType(t)
}

// Delete removes an account or a balance; m3ter keeps transactions.
func (c *Client) Delete(ctx context.Context, t billsync.ObjectType, id string) error {
	switch t {
	case billsync.ObjectAccount:
		if err := validID("account", id); err != nil {
			return err
		}
		return c.del(ctx, c.orgPath("accounts", id), nil)
	case billsync.ObjectBalance:
		if err := validID("balance", id); err != nil {
			return err
		}
		return c.del(ctx, c.orgPath("balances", id), nil)
	case billsync.ObjectBalanceTransaction:
		return refusal("m3ter does not delete a balance transaction (%s); add one for the opposite amount instead", id)
	case billsync.ObjectQuote:
		return noQuotes()
	}
	return unknownType(t)
}

func jsonOf(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
