package monetizenowapi

import (
	"context"
	"net/url"
	"regexp"

	"github.com/billsync/billsync"
)

// account is the part of MonetizeNow's AccountDto billsync reads.
type account struct {
	ID              string `json:"id"`
	CustomID        string `json:"customId"`
	AccountName     string `json:"accountName"`
	DefaultCurrency string `json:"defaultCurrency"`
	Status          string `json:"status"`
}

// sfID matches a Salesforce record id (15 or 18 characters).
var sfID = regexp.MustCompile(`^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$`)

// Get reads a quote, or the account a quote belongs to. The account is
// read only so the quote rules find its Salesforce Account: its
// crmAccountId is its customId when that is a Salesforce id
// (PROVISIONAL: MonetizeNow's Salesforce package finds records by
// association or customId; no public source says which field holds the
// Account id). Balances and transactions are not read from MonetizeNow.
func (c *Client) Get(ctx context.Context, t billsync.ObjectType, id string) (billsync.Entity, error) {
	switch t {
	case billsync.ObjectQuote:
		return c.getQuote(ctx, id)
	case billsync.ObjectAccount:
		return c.getAccount(ctx, id)
	case billsync.ObjectBalance, billsync.ObjectBalanceTransaction:
		return nil, notSynced(t)
	}
	return nil, unknownType(t)
}

func (c *Client) getAccount(ctx context.Context, id string) (billsync.Entity, error) {
	if err := validID("account", id); err != nil {
		return nil, err
	}
	var a account
	if err := c.get(ctx, "/api/accounts/"+url.PathEscape(id), nil, &a); err != nil {
		return nil, err
	}
	e := billsync.Entity{"id": a.ID, "name": a.AccountName, "currency": a.DefaultCurrency, "customId": a.CustomID}
	if sfID.MatchString(a.CustomID) {
		e["crmAccountId"] = a.CustomID
	}
	return e, nil
}

// List pages through quotes; the cursor is a page number. Accounts,
// balances and transactions are not listed: billsync syncs only quotes
// from MonetizeNow.
func (c *Client) List(ctx context.Context, t billsync.ObjectType, cursor string, limit int) ([]billsync.Entity, string, error) {
	switch t {
	case billsync.ObjectQuote:
		return c.listQuotes(ctx, cursor, limit)
	case billsync.ObjectAccount, billsync.ObjectBalance, billsync.ObjectBalanceTransaction:
		return nil, "", notSynced(t)
	}
	return nil, "", unknownType(t)
}

// Create is refused: billsync writes nothing to MonetizeNow.
func (c *Client) Create(_ context.Context, t billsync.ObjectType, _ billsync.Entity, _ string) (billsync.Entity, error) {
	return nil, readOnly(t)
}

// Update is refused, a quote's Opportunity link included: billsync keeps
// that link in its sync state and on the Salesforce Quote.
func (c *Client) Update(_ context.Context, t billsync.ObjectType, _ billsync.Entity) (billsync.Entity, error) {
	return nil, readOnly(t)
}

// Delete is refused.
func (c *Client) Delete(_ context.Context, t billsync.ObjectType, _ string) error {
	return readOnly(t)
}

func readOnly(t billsync.ObjectType) error {
	if !known(t) {
		return unknownType(t)
	}
	return refusal("billsync reads MonetizeNow and writes nothing to it; a %s is not changed there", t)
}

func notSynced(t billsync.ObjectType) error {
	return refusal("billsync syncs only quotes from MonetizeNow; it does not read its %ss", t)
}

func known(t billsync.ObjectType) bool {
	switch t {
	case billsync.ObjectAccount, billsync.ObjectBalance, billsync.ObjectBalanceTransaction, billsync.ObjectQuote:
		return true
	}
	return false
}

func unknownType(t billsync.ObjectType) error {
	return billsync.Errorf(billsync.EINVALID, "monetizenow: unknown object type %q", t)
}
