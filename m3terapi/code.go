package m3terapi

import (
	"context"
	"net/url"

	"github.com/billsync/billsync"
)

// AccountByCode reads the account whose code is code (m3ter keeps codes
// unique in an organization); ENOTFOUND when none has it. billsync uses
// it when another platform's records name an m3ter account by its code
// (billing.quotes.accountLink code: a MonetizeNow account's customId).
func (c *Client) AccountByCode(ctx context.Context, code string) (billsync.Entity, error) {
	if code == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "m3ter: an account code is needed")
	}
	rs, err := c.accountsByCode(ctx, code)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.str("code") == code {
			return accountOf(r), nil
		}
	}
	return nil, billsync.Errorf(billsync.ENOTFOUND, "m3ter: no account has code %q", code)
}

// accountsByCode lists the accounts m3ter finds for code (one page: codes
// are unique in an organization).
func (c *Client) accountsByCode(ctx context.Context, code string) ([]record, error) {
	q := url.Values{}
	q.Set("codes", code)
	q.Set("pageSize", "100")
	var p page[record]
	if err := c.get(ctx, c.orgPath("accounts"), q, &p); err != nil {
		return nil, err
	}
	return p.Data, nil
}
