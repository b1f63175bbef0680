package m3terapi

import (
	"context"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/billsync/billsync"
)

// A balance transaction lives under its balance in m3ter
// (…/balances/{balanceId}/transactions) and has no GET of its own, so
// billsync names it "<balance id>.<transaction id>": whoever holds the id
// can find it.

func transactionID(balanceID, id string) string { return balanceID + "." + id }

func splitTransactionID(id string) (balanceID, txnID string, err error) {
	b, t, ok := strings.Cut(id, ".")
	if !ok || b == "" || t == "" || strings.ContainsAny(id, "/?#") {
		return "", "", billsync.Errorf(billsync.EINVALID, "m3ter: balance transaction id %q is not <balance id>.<transaction id>", id)
	}
	return b, t, nil
}

// m3ter's transaction has no customFields, so the Salesforce id of a
// transaction created from Salesforce rides at the end of its
// description, where it can be found again before a create is repeated
// (m3ter takes no idempotency key) and where the engine finds it as
// customFields.salesforceId to link the twin. A transaction cannot
// change, so the mark stays as written; billsync strips it when it reads.
var sfMark = regexp.MustCompile(`\s*\[billsync sf:([A-Za-z0-9]{15,18})\]$`)

func markDescription(desc, sfID string) string {
	mark := "[billsync sf:" + sfID + "]"
	if desc == "" {
		return mark
	}
	return desc + " " + mark
}

func unmarkDescription(desc string) (string, string) {
	m := sfMark.FindStringSubmatchIndex(desc)
	if m == nil {
		return desc, ""
	}
	return desc[:m[0]], desc[m[2]:m[3]]
}

// transactionOf is an m3ter transaction in the contract's shape: the
// balance it belongs to (whose account and currency it carries) and its
// amount as an exact decimal.
func transactionOf(bal record, r record) (billsync.Entity, error) {
	amt, err := amountOf(r["amount"])
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "m3ter: transaction %s: amount: %v", r.str("id"), err)
	}
	desc, sfID := unmarkDescription(r.str("description"))
	cf := map[string]any{}
	if sfID != "" {
		cf[cfSalesforceID] = sfID
	}
	e := billsync.Entity{
		"id":              transactionID(bal.str("id"), r.str("id")),
		"balanceId":       bal.str("id"),
		"accountId":       bal.str("accountId"),
		"currency":        bal.str("currency"),
		"amount":          amt,
		"description":     desc,
		"appliedDate":     dateOf(r.str("appliedDate")),
		"transactionDate": r.str("transactionDate"),
		"customFields":    cf,
	}
	stamp(e, r)
	return e, nil
}

func transactionsOf(bal record, rs []record) ([]billsync.Entity, error) {
	out := make([]billsync.Entity, 0, len(rs))
	for _, r := range rs {
		e, err := transactionOf(bal, r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// listTxns is one page of a balance's transactions, newest first.
func (c *Client) listTxns(ctx context.Context, balanceID, token string, limit int) (page[record], error) {
	var p page[record]
	err := c.get(ctx, c.orgPath("balances", balanceID, "transactions"), pageQuery(token, limit, 200), &p)
	return p, err
}

// RecentTransactions pages through the transactions of a balance, newest
// first (m3ter's own order); the cursor is m3ter's nextToken.
func (c *Client) RecentTransactions(ctx context.Context, balanceID, cursor string, limit int) ([]billsync.Entity, string, error) {
	bal, err := c.readBalance(ctx, balanceID)
	if err != nil {
		return nil, "", err
	}
	p, err := c.listTxns(ctx, balanceID, cursor, limit)
	if err != nil {
		return nil, "", err
	}
	out, err := transactionsOf(bal, p.Data)
	if err != nil {
		return nil, "", err
	}
	return out, p.next(), nil
}

// maxFindPages bounds the walk through a balance's transactions when
// looking for one: 50 pages of 200.
const maxFindPages = 50

// findTxn walks a balance's transactions, newest first, for the first one
// match accepts; nil when none does.
func (c *Client) findTxn(ctx context.Context, balanceID string, match func(record) bool) (record, error) {
	token := ""
	for range maxFindPages {
		p, err := c.listTxns(ctx, balanceID, token, 200)
		if err != nil {
			return nil, err
		}
		for _, r := range p.Data {
			if match(r) {
				return r, nil
			}
		}
		if token = p.next(); token == "" || len(p.Data) == 0 {
			return nil, nil
		}
	}
	return nil, nil
}

func (c *Client) getTransaction(ctx context.Context, id string) (billsync.Entity, error) {
	bid, tid, err := splitTransactionID(id)
	if err != nil {
		return nil, err
	}
	bal, err := c.readBalance(ctx, bid)
	if err != nil {
		return nil, err
	}
	r, err := c.findTxn(ctx, bid, func(r record) bool { return r.str("id") == tid })
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, notFound("m3ter balance %s has no transaction %s", bid, tid)
	}
	return transactionOf(bal, r)
}

// createTransaction adds a transaction to the entity's balance. One
// created from Salesforce carries its Salesforce id (see sfMark), and an
// earlier try of the same create is looked for first: without that, a
// crash between the create and billsync saving the new id would add the
// amount to the balance twice.
func (c *Client) createTransaction(ctx context.Context, e billsync.Entity) (billsync.Entity, error) {
	bid := e.Str("balanceId")
	if bid == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "m3ter: a balance transaction needs balanceId")
	}
	amt, err := billsync.ParseMoney(e.Str("amount"))
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "m3ter: transaction amount %q is not a decimal amount", e.Str("amount"))
	}
	bal, err := c.readBalance(ctx, bid)
	if err != nil {
		return nil, err
	}
	if cur := e.Str("currency"); cur != "" && !strings.EqualFold(cur, bal.str("currency")) {
		return nil, refusal("m3ter balance %s is in %s; a transaction in %s cannot be added to it", bid, bal.str("currency"), cur)
	}
	desc := e.Str("description")
	sfID := salesforceID(e)
	if sfID != "" {
		if sfMark.MatchString("[billsync sf:" + sfID + "]") {
			desc = markDescription(desc, sfID)
			r, err := c.findTxn(ctx, bid, func(r record) bool {
				_, id := unmarkDescription(r.str("description"))
				return id == sfID
			})
			if err != nil {
				return nil, err
			}
			if r != nil {
				return transactionOf(bal, r)
			}
		}
	}
	body := record{"amount": number(amt)}
	if desc != "" {
		body["description"] = desc
	}
	if d := e.Str("appliedDate"); d != "" {
		body["appliedDate"] = dateTimeFor(d, "")
	}
	if d := e.Str("transactionDate"); d != "" {
		body["transactionDate"] = dateTimeFor(d, "")
	}
	var r record
	if err := c.post(ctx, c.orgPath("balances", bid, "transactions"), body, &r); err != nil {
		return nil, err
	}
	return transactionOf(bal, r)
}

// listTransactions walks the balances and each one's transactions. The
// cursor holds the balances page (b, m3ter's token), the balance's index
// on it (i) and the transactions token (t); a page never spans two
// balances and may be empty.
func (c *Client) listTransactions(ctx context.Context, cursor string, limit int) ([]billsync.Entity, string, error) {
	cur, err := url.ParseQuery(cursor)
	if err != nil {
		return nil, "", billsync.Errorf(billsync.EINVALID, "m3ter: transaction cursor %q is not one billsync gave", cursor)
	}
	idx, _ := strconv.Atoi(cur.Get("i"))
	var bals page[record]
	if err := c.get(ctx, c.orgPath("balances"), pageQuery(cur.Get("b"), 100, 100), &bals); err != nil {
		return nil, "", err
	}
	if idx >= len(bals.Data) {
		if nt := bals.next(); nt != "" && len(bals.Data) > 0 {
			return []billsync.Entity{}, url.Values{"b": {nt}, "i": {"0"}}.Encode(), nil
		}
		return []billsync.Entity{}, "", nil
	}
	bal := bals.Data[idx]
	p, err := c.listTxns(ctx, bal.str("id"), cur.Get("t"), limit)
	if err != nil {
		return nil, "", err
	}
	out, err := transactionsOf(bal, p.Data)
	if err != nil {
		return nil, "", err
	}
	next := url.Values{"b": {cur.Get("b")}}
	if t := p.next(); t != "" && len(p.Data) > 0 {
		next.Set("i", strconv.Itoa(idx))
		next.Set("t", t)
	} else {
		next.Set("i", strconv.Itoa(idx+1))
	}
	return out, next.Encode(), nil
}
