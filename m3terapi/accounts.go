package m3terapi

import (
	"context"
	"strings"

	"github.com/billsync/billsync"
)

// accountOf is an m3ter account in the contract's account shape; the
// Salesforce Account id billsync keeps in customFields is crmAccountId.
func accountOf(r record) billsync.Entity {
	cf := r.customFields()
	crm := billsync.ValueString(cf[cfCRMAccount])
	delete(cf, cfCRMAccount)
	e := billsync.Entity{
		"id":           r.str("id"),
		"code":         r.str("code"),
		"name":         r.str("name"),
		"emailAddress": r.str("emailAddress"),
		"currency":     r.str("currency"),
		"crmAccountId": crm,
		"customFields": cf,
	}
	stamp(e, r)
	return e
}

// accountCustom is the customFields an account entity stands for.
func accountCustom(have map[string]any, e billsync.Entity) map[string]any {
	cf := mergeCustom(have, e)
	if v, ok := e["crmAccountId"]; ok {
		if s := billsync.ValueString(v); s != "" {
			cf[cfCRMAccount] = s
		} else {
			delete(cf, cfCRMAccount)
		}
	}
	return cf
}

func (c *Client) readAccount(ctx context.Context, id string) (record, error) {
	if err := validID("account", id); err != nil {
		return nil, err
	}
	var r record
	if err := c.get(ctx, c.orgPath("accounts", id), nil, &r); err != nil {
		return nil, err
	}
	return r, nil
}

func validID(kind, id string) error {
	if id == "" || strings.ContainsAny(id, "/?#") {
		return billsync.Errorf(billsync.EINVALID, "m3ter: %s id %q is not valid", kind, id)
	}
	return nil
}

// createAccount creates an account, or returns the one an earlier try of
// the same create made (see findAccount). m3ter requires code, name and
// emailAddress; they are checked before the call. (A code is not made up
// for a record that has none: billsync would then hold a value Salesforce
// does not, and the next Salesforce edit would try to blank it.)
func (c *Client) createAccount(ctx context.Context, e billsync.Entity) (billsync.Entity, error) {
	sfID := salesforceID(e)
	code := e.Str("code")
	var missing []string
	for k, v := range map[string]string{"code": code, "name": e.Str("name"), "emailAddress": e.Str("emailAddress")} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "m3ter: an account needs %s", strings.Join(sortedStrings(missing), ", "))
	}
	if sfID != "" {
		if r, err := c.findAccount(ctx, code, sfID); err != nil || r != nil {
			if err != nil {
				return nil, err
			}
			return accountOf(r), nil
		}
	}
	body := record{"code": code, "name": e.Str("name"), "emailAddress": e.Str("emailAddress"),
		"customFields": accountCustom(nil, e)}
	if cur := e.Str("currency"); cur != "" {
		body["currency"] = cur
	}
	var r record
	if err := c.post(ctx, c.orgPath("accounts"), body, &r); err != nil {
		return nil, err
	}
	return accountOf(r), nil
}

// findAccount is the account with this code that an earlier create from
// Salesforce record sfID made, nil when there is none. m3ter takes no
// idempotency key: without this, a crash (or a lost answer) between the
// create and billsync saving the new id would create the account twice
// when the change is retried. An account with the code but another
// Salesforce id is not this create's: the POST goes ahead and m3ter
// answers that the code is taken.
func (c *Client) findAccount(ctx context.Context, code, sfID string) (record, error) {
	rs, err := c.accountsByCode(ctx, code)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.str("code") == code && billsync.ValueString(r.customFields()[cfSalesforceID]) == sfID {
			return r, nil
		}
	}
	return nil, nil
}

// updateAccount reads the account, lays the entity's fields over it and
// PUTs the whole object back with the version the engine read: m3ter's
// PUT replaces the object, so anything left out would be wiped.
func (c *Client) updateAccount(ctx context.Context, e billsync.Entity) (billsync.Entity, error) {
	r, err := c.readAccount(ctx, e.ID())
	if err != nil {
		return nil, err
	}
	if err := checkVersion("account", r, e); err != nil {
		return nil, err
	}
	body := r.forPut()
	for _, k := range []string{"code", "name", "emailAddress", "currency"} {
		setOrDelete(body, e, k)
	}
	setCustom(body, r, accountCustom(r.customFields(), e))
	body["version"] = e.Version()
	var out record
	if err := c.put(ctx, c.orgPath("accounts", e.ID()), body, &out); err != nil {
		return nil, err
	}
	return accountOf(out), nil
}

// checkVersion refuses a write of a record that moved on since the
// engine read it, as m3ter would: the engine reads it again and decides
// anew. A write without a version is refused outright, since m3ter's PUT
// requires one and guessing it would overwrite blindly.
func checkVersion(kind string, r record, e billsync.Entity) error {
	if e.Version() <= 0 {
		return billsync.Errorf(billsync.EINVALID, "m3ter: an update of %s %s needs the version it was read at", kind, e.ID())
	}
	if have := r.version(); have != e.Version() {
		return staleVersion(kind, e.ID(), have, e.Version())
	}
	return nil
}

func (c *Client) listAccounts(ctx context.Context, cursor string, limit int) ([]billsync.Entity, string, error) {
	var p page[record]
	if err := c.get(ctx, c.orgPath("accounts"), pageQuery(cursor, limit, 100), &p); err != nil {
		return nil, "", err
	}
	out := make([]billsync.Entity, 0, len(p.Data))
	for _, r := range p.Data {
		out = append(out, accountOf(r))
	}
	return out, p.next(), nil
}
