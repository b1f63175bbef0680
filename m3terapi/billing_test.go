package m3terapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/billsync/billsync"
)

const sfAccount = "001000000000001AAA"

func TestAccountShape(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	r := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test", "currency": "USD",
		"address":      map[string]any{"addressLine1": "1 Main St", "country": "US"},
		"customFields": map[string]any{"crmAccountId": sfAccount, "region": "EMEA", "seats": json.Number("12")}})
	e, err := c.Get(ctx(t), billsync.ObjectAccount, r.str("id"))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"id": r.str("id"), "code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test",
		"currency": "USD", "crmAccountId": sfAccount, "version": "1", "customFields.region": "EMEA", "customFields.seats": "12",
		"lastModifiedBy": otherUser} {
		if got := e.PathStr(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if _, ok := e.Path("customFields.crmAccountId"); ok {
		t.Error("crmAccountId is the entity's own field, not a custom field as well")
	}
}

func TestAccountUpdatePutsTheWholeObject(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	r := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test",
		"address": map[string]any{"addressLine1": "1 Main St"}, "billEpoch": "2026-01-01",
		"customFields": map[string]any{"region": "EMEA", "tier": "gold"}})
	e, err := c.Get(ctx(t), billsync.ObjectAccount, r.str("id"))
	if err != nil {
		t.Fatal(err)
	}
	e["name"] = "Acme Corp"
	e["crmAccountId"] = sfAccount
	e.SetPath("customFields.region", "APAC")
	delete(e["customFields"].(map[string]any), "tier") // a field billsync does not map
	got, err := c.Update(ctx(t), billsync.ObjectAccount, e)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version() != 2 || got.Str("name") != "Acme Corp" || got.Str("crmAccountId") != sfAccount {
		t.Errorf("updated = %v", got)
	}
	have := fk.account(r.str("id"))
	cf := have.customFields()
	if cf["region"] != "APAC" || cf["tier"] != "gold" || cf["crmAccountId"] != sfAccount {
		t.Errorf("customFields = %v: want region APAC, tier kept, crmAccountId stored", cf)
	}
	if have.str("billEpoch") != "2026-01-01" || !strings.Contains(have.str("address"), "1 Main St") {
		t.Errorf("fields billsync does not map were wiped: %v", have)
	}
	puts := 0
	for _, q := range fk.requests() {
		if q.Method == http.MethodPut {
			puts++
			if q.Body.str("version") != "1" {
				t.Errorf("PUT version = %q, want the version read (1)", q.Body.str("version"))
			}
			for _, k := range []string{"id", "dtCreated", "lastModifiedBy"} {
				if _, ok := q.Body[k]; ok {
					t.Errorf("PUT carries read-only %s", k)
				}
			}
		}
	}
	if puts != 1 {
		t.Errorf("PUTs = %d, want 1", puts)
	}
}

func TestProvisionalStaleVersionIs409(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	r := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})
	e, err := c.Get(ctx(t), billsync.ObjectAccount, r.str("id"))
	if err != nil {
		t.Fatal(err)
	}
	fk.edit("account", r.str("id"), func(x record) { x["name"] = "Renamed in m3ter" })
	e["name"] = "Renamed in Salesforce"
	_, err = c.Update(ctx(t), billsync.ObjectAccount, e)
	assertConflict(t, err)
	if n := fk.count(http.MethodPut, r.str("id")); n != 0 {
		t.Errorf("PUTs = %d: a version known stale is not sent", n)
	}
	if fk.account(r.str("id")).str("name") != "Renamed in m3ter" {
		t.Error("the m3ter edit was overwritten")
	}

	// The race m3ter itself catches: the version moves between billsync's
	// read and its PUT. The 409 is passed on once, never retried.
	e, _ = c.Get(ctx(t), billsync.ObjectAccount, r.str("id"))
	e["name"] = "Again"
	fk.addFault(fault{method: http.MethodPut, suffix: r.str("id"), status: 409, body: `{"message":"version mismatch"}`})
	_, err = c.Update(ctx(t), billsync.ObjectAccount, e)
	assertConflict(t, err)
	if n := fk.count(http.MethodPut, r.str("id")); n != 1 {
		t.Errorf("PUTs = %d, want 1: a conflict is never retried", n)
	}
}

func TestProvisionalStaleVersionAs400IsAConflict(t *testing.T) {
	fk := newFake(t)
	fk.versionCode = http.StatusBadRequest
	c, _ := fk.client(t, nil)
	r := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})
	e, _ := c.Get(ctx(t), billsync.ObjectAccount, r.str("id"))
	e["name"] = "x"
	fk.addFault(fault{method: http.MethodPut, suffix: r.str("id"), status: 400, body: `{"message":"Version 1 does not match the current version 2"}`})
	_, err := c.Update(ctx(t), billsync.ObjectAccount, e)
	assertConflict(t, err)
}

func assertConflict(t *testing.T, err error) {
	t.Helper()
	var re *billsync.RemoteError
	if billsync.ErrorCode(err) != billsync.ECONFLICT || !errors.As(err, &re) || re.StatusCode != 409 || billsync.IsTransient(err) {
		t.Fatalf("err = %v, want the engine's version conflict (a 409, not transient)", err)
	}
}

func TestUpdateWithoutVersionRefused(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	r := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})
	_, err := c.Update(ctx(t), billsync.ObjectAccount, billsync.Entity{"id": r.str("id"), "name": "x"})
	if billsync.ErrorCode(err) != billsync.EINVALID {
		t.Fatalf("err = %v, want EINVALID", err)
	}
}

func seedBalance(fk *fakeM3ter, acct string) record {
	return fk.seedBalance(record{"accountId": acct, "code": "PREPAID", "name": "Prepaid", "currency": "USD",
		"startDate": "2026-01-01T00:00:00Z", "endDate": "2026-12-31T00:00:00Z", "rolloverAmount": json.Number("5")})
}

func TestMoneyIsExact(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	acct := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})
	bal := seedBalance(fk, acct.str("id"))
	bid := bal.str("id")
	for _, amt := range []string{"0.1", "0.2"} {
		if _, err := c.Create(ctx(t), billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bid, "amount": amt}, ""); err != nil {
			t.Fatal(err)
		}
	}
	b, err := c.Get(ctx(t), billsync.ObjectBalance, bid)
	if err != nil {
		t.Fatal(err)
	}
	if got := billsync.MustMoney(b.Str("amount")); !got.Equal(billsync.MustMoney("0.3")) {
		t.Errorf("0.1 + 0.2 = %s, want exactly 0.3", b.Str("amount"))
	}
	for _, amt := range []string{"12345678901234567.89", "-5.25", "-0.01"} {
		tx, err := c.Create(ctx(t), billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bid, "amount": amt, "description": "big"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if tx.Str("amount") != amt {
			t.Errorf("transaction amount = %q, want %q", tx.Str("amount"), amt)
		}
	}
	// What went on the wire is the digits, as a JSON number.
	for _, q := range fk.requests() {
		if q.Method == http.MethodPost && strings.HasSuffix(q.Path, "/transactions") {
			if _, ok := q.Body["amount"].(json.Number); !ok {
				t.Errorf("amount sent as %T, want a JSON number", q.Body["amount"])
			}
		}
	}
	b, _ = c.Get(ctx(t), billsync.ObjectBalance, bid)
	if b.Str("amount") != "12345678901234562.93" {
		t.Errorf("balance = %s, want 12345678901234562.93", b.Str("amount"))
	}
	// m3ter may write a number with an exponent; it is read exactly.
	fk.edit("balance", bid, func(x record) { x["amount"] = json.Number("1.5E+3") })
	b, _ = c.Get(ctx(t), billsync.ObjectBalance, bid)
	if !billsync.MustMoney(b.Str("amount")).Equal(billsync.MustMoney("1500")) {
		t.Errorf("1.5E+3 read as %s", b.Str("amount"))
	}
}

func TestBalanceShapeAndDates(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	acct := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})
	bal := seedBalance(fk, acct.str("id"))
	fk.edit("balance", bal.str("id"), func(x record) { x["endDate"] = "2026-12-31T18:30:00Z" })
	b, err := c.Get(ctx(t), billsync.ObjectBalance, bal.str("id"))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"accountId": acct.str("id"), "code": "PREPAID", "name": "Prepaid", "currency": "USD",
		"startDate": "2026-01-01", "endDate": "2026-12-31", "amount": "0", "version": "2"} {
		if got := b.Str(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// A rename keeps the time of day m3ter holds on an unchanged date,
	// and the fields billsync does not map.
	b["name"] = "Prepaid 2026"
	if _, err := c.Update(ctx(t), billsync.ObjectBalance, b); err != nil {
		t.Fatal(err)
	}
	have := fk.balance(bal.str("id"))
	if have.str("endDate") != "2026-12-31T18:30:00Z" || have.str("rolloverAmount") != "5" || have.str("name") != "Prepaid 2026" {
		t.Errorf("balance after rename = %v", have)
	}
	b, _ = c.Get(ctx(t), billsync.ObjectBalance, bal.str("id"))
	b["endDate"] = "2027-06-30"
	if _, err := c.Update(ctx(t), billsync.ObjectBalance, b); err != nil {
		t.Fatal(err)
	}
	if got := fk.balance(bal.str("id")).str("endDate"); got != "2027-06-30T00:00:00Z" {
		t.Errorf("endDate = %q, want midnight UTC of the new date", got)
	}
}

func TestBalanceAmountEditBecomesATransaction(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	acct := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})
	bid := seedBalance(fk, acct.str("id")).str("id")
	fk.addTxn(bid, "10", "opening")
	b, _ := c.Get(ctx(t), billsync.ObjectBalance, bid)
	b["amount"] = "25.50"
	got, err := c.Update(ctx(t), billsync.ObjectBalance, b)
	if err != nil {
		t.Fatal(err)
	}
	if !billsync.MustMoney(got.Str("amount")).Equal(billsync.MustMoney("25.50")) {
		t.Errorf("amount after update = %s", got.Str("amount"))
	}
	txns := fk.transactions(bid)
	if len(txns) != 2 || txns[1].str("amount") != "15.50" {
		t.Fatalf("transactions = %v, want one for the difference 15.50", txns)
	}
	if n := fk.count(http.MethodPut, bid); n != 0 {
		t.Errorf("PUTs = %d: only the amount changed, and m3ter derives it", n)
	}
	// Repeating the write (a retry after a lost answer) adds nothing.
	b, _ = c.Get(ctx(t), billsync.ObjectBalance, bid)
	b["amount"] = "25.5"
	if _, err := c.Update(ctx(t), billsync.ObjectBalance, b); err != nil {
		t.Fatal(err)
	}
	if len(fk.transactions(bid)) != 2 {
		t.Error("a repeated amount write added a transaction")
	}
	// A stale version is a conflict, amount or not.
	b["amount"] = "30"
	b["version"] = json.Number("1")
	_, err = c.Update(ctx(t), billsync.ObjectBalance, b)
	assertConflict(t, err)
}

func TestBalanceAmountUnsupported(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, map[string]string{"balanceAmount": "unsupported"})
	acct := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})
	bid := seedBalance(fk, acct.str("id")).str("id")
	b, _ := c.Get(ctx(t), billsync.ObjectBalance, bid)
	b["name"] = "Renamed"
	if _, err := c.Update(ctx(t), billsync.ObjectBalance, b); err != nil {
		t.Fatalf("a rename with the amount as read: %v", err)
	}
	b, _ = c.Get(ctx(t), billsync.ObjectBalance, bid)
	b["amount"] = "99"
	_, err := c.Update(ctx(t), billsync.ObjectBalance, b)
	if billsync.ErrorCode(err) != billsync.EINVALID || !strings.Contains(err.Error(), "balanceAmount") {
		t.Fatalf("err = %v, want a refusal naming billing.options.balanceAmount", err)
	}
	if len(fk.transactions(bid)) != 0 {
		t.Error("a transaction was written")
	}
}

func TestTransactionsAreAppendOnly(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	acct := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})
	bid := seedBalance(fk, acct.str("id")).str("id")
	tx := fk.addTxn(bid, "10", "opening")
	id := transactionID(bid, tx.str("id"))
	e, err := c.Get(ctx(t), billsync.ObjectBalanceTransaction, id)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"id": id, "balanceId": bid, "accountId": acct.str("id"), "currency": "USD",
		"amount": "10", "description": "opening", "appliedDate": "2026-03-01"} {
		if got := e.Str(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if _, err := c.Update(ctx(t), billsync.ObjectBalanceTransaction, e); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("update: %v, want a refusal", err)
	}
	if err := c.Delete(ctx(t), billsync.ObjectBalanceTransaction, id); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("delete: %v, want a refusal", err)
	}
	if _, err := c.Get(ctx(t), billsync.ObjectBalanceTransaction, bid+".txn-none"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("missing transaction: %v, want ENOTFOUND", err)
	}
}

func TestRecentTransactionsNewestFirst(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	acct := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})
	bid := seedBalance(fk, acct.str("id")).str("id")
	var ids []string
	for i := range 5 {
		ids = append(ids, transactionID(bid, fk.addTxn(bid, itoa(i+1), "t").str("id")))
	}
	var got []string
	cursor := ""
	for {
		page, next, err := c.RecentTransactions(ctx(t), bid, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			got = append(got, e.ID())
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v, want newest first %v", got, want)
	}
}

func TestListTransactionsAcrossBalances(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	acct := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})
	b1 := seedBalance(fk, acct.str("id")).str("id")
	b2 := fk.seedBalance(record{"accountId": acct.str("id"), "code": "B2", "name": "Second", "currency": "EUR",
		"startDate": "2026-01-01T00:00:00Z", "endDate": "2026-12-31T00:00:00Z"}).str("id")
	fk.seedBalance(record{"accountId": acct.str("id"), "code": "B3", "name": "Empty", "currency": "EUR",
		"startDate": "2026-01-01T00:00:00Z", "endDate": "2026-12-31T00:00:00Z"})
	for range 3 {
		fk.addTxn(b1, "1", "a")
	}
	fk.addTxn(b2, "2", "b")
	n, cursor, calls := 0, "", 0
	for {
		page, next, err := c.List(ctx(t), billsync.ObjectBalanceTransaction, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		for _, e := range page {
			n++
			if e.Str("balanceId") == b2 && e.Str("currency") != "EUR" {
				t.Errorf("transaction of %s in %s", b2, e.Str("currency"))
			}
		}
		if next == "" {
			break
		}
		if calls > 20 {
			t.Fatal("the listing does not end")
		}
		cursor = next
	}
	if n != 4 {
		t.Errorf("listed %d transactions, want 4", n)
	}
}

// The engine stamps customFields.salesforceId on a record it creates
// from Salesforce; m3ter takes no idempotency key, so a create repeated
// after a crash (or a lost answer) must find the first one's record.
func TestCreateFromSalesforceHappensOnce(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	acctE := billsync.Entity{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test", "currency": "USD", "crmAccountId": sfAccount,
		"customFields": map[string]any{"salesforceId": "a01000000000001AAA"}}
	// The first create is made but its answer is lost.
	fk.addFault(fault{method: http.MethodPost, suffix: "/accounts", status: 504, body: `{"message":"gateway timeout"}`, apply: true})
	if _, err := c.Create(ctx(t), billsync.ObjectAccount, acctE, "key-1"); !billsync.IsTransient(err) {
		t.Fatalf("first create: %v, want a transient failure", err)
	}
	a, err := c.Create(ctx(t), billsync.ObjectAccount, acctE, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	if n := fk.count(http.MethodPost, "/accounts"); n != 1 {
		t.Errorf("account POSTs = %d, want 1", n)
	}
	if a.Str("crmAccountId") != sfAccount || a.PathStr("customFields.salesforceId") != "a01000000000001AAA" {
		t.Errorf("account = %v", a)
	}
	// Another Salesforce record with the same code is not this create's:
	// m3ter is asked, and answers that the code is taken.
	other := acctE.Clone()
	other.SetPath("customFields.salesforceId", "a01000000000002AAA")
	if _, err := c.Create(ctx(t), billsync.ObjectAccount, other, "key-9"); billsync.ErrorCode(err) != billsync.EINVALID ||
		!strings.Contains(err.Error(), "already in use") {
		t.Errorf("same code, other record: %v", err)
	}

	balE := billsync.Entity{"accountId": a.ID(), "name": "Prepaid", "code": "P1", "currency": "USD", "startDate": "2026-01-01",
		"endDate": "2026-12-31", "amount": "100.00", "customFields": map[string]any{"salesforceId": "a02000000000001AAA"}}
	// The balance is made, then billsync stops before its amount.
	fk.addFault(fault{method: http.MethodPost, suffix: "/transactions", status: 503, body: `{"message":"unavailable"}`})
	if _, err := c.Create(ctx(t), billsync.ObjectBalance, balE, "key-2"); !billsync.IsTransient(err) {
		t.Fatalf("first balance create: %v, want a transient failure", err)
	}
	b, err := c.Create(ctx(t), billsync.ObjectBalance, balE, "key-2")
	if err != nil {
		t.Fatal(err)
	}
	if n := fk.count(http.MethodPost, "/balances"); n != 1 {
		t.Errorf("balance POSTs = %d, want 1", n)
	}
	if b.Str("amount") != "100.00" && !billsync.MustMoney(b.Str("amount")).Equal(billsync.MustMoney("100")) {
		t.Errorf("balance amount = %s, want 100", b.Str("amount"))
	}
	if len(fk.transactions(b.ID())) != 1 {
		t.Errorf("transactions = %v, want the one bringing it to 100", fk.transactions(b.ID()))
	}
	if b.Str("startDate") != "2026-01-01" || fk.balance(b.ID()).str("startDate") != "2026-01-01T00:00:00Z" {
		t.Errorf("startDate = %q in billsync, %q in m3ter", b.Str("startDate"), fk.balance(b.ID()).str("startDate"))
	}

	txE := billsync.Entity{"balanceId": b.ID(), "accountId": a.ID(), "amount": "-12.34", "description": "Refund",
		"appliedDate": "2026-02-15", "customFields": map[string]any{"salesforceId": "a03000000000001AAA"}}
	fk.addFault(fault{method: http.MethodPost, suffix: "/transactions", status: 500, body: `{"message":"oops"}`, apply: true})
	if _, err := c.Create(ctx(t), billsync.ObjectBalanceTransaction, txE, "key-3"); !billsync.IsTransient(err) {
		t.Fatalf("first transaction create: %v, want a transient failure", err)
	}
	tx, err := c.Create(ctx(t), billsync.ObjectBalanceTransaction, txE, "key-3")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(fk.transactions(b.ID())); got != 2 {
		t.Errorf("transactions = %d, want 2 (the amount's and this one, once)", got)
	}
	if tx.Str("description") != "Refund" || tx.PathStr("customFields.salesforceId") != "a03000000000001AAA" ||
		tx.Str("amount") != "-12.34" || tx.Str("appliedDate") != "2026-02-15" {
		t.Errorf("transaction = %v", tx)
	}
	if amt := fk.balance(b.ID()).str("amount"); !billsync.MustMoney(amt).Equal(billsync.MustMoney("87.66")) {
		t.Errorf("balance = %s, want 87.66", amt)
	}
}

func TestCreateValidatesWhatM3terRequires(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	_, err := c.Create(ctx(t), billsync.ObjectAccount, billsync.Entity{"name": "No email", "customFields": map[string]any{"salesforceId": "a01000000000001AAA"}}, "")
	if billsync.ErrorCode(err) != billsync.EINVALID || !strings.Contains(err.Error(), "code, emailAddress") {
		t.Errorf("account: %v", err)
	}
	_, err = c.Create(ctx(t), billsync.ObjectBalance, billsync.Entity{"name": "B", "code": "B", "accountId": "acc-1"}, "")
	if billsync.ErrorCode(err) != billsync.EINVALID || !strings.Contains(err.Error(), "currency, endDate") {
		t.Errorf("balance: %v", err)
	}
	if len(fk.requests()) != 0 {
		t.Errorf("requests were sent: %v", fk.requests())
	}
}

func TestDeleteAccountAndBalance(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	acct := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})
	bid := seedBalance(fk, acct.str("id")).str("id")
	if err := c.Delete(ctx(t), billsync.ObjectBalance, bid); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx(t), billsync.ObjectAccount, acct.str("id")); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx(t), billsync.ObjectAccount, acct.str("id")); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("second delete: %v, want ENOTFOUND", err)
	}
}

func TestTenantLearnsTheServiceUser(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	org, err := c.Tenant(ctx(t))
	if err != nil || org != fakeOrg {
		t.Fatalf("Tenant = %q, %v", org, err)
	}
	if c.ServiceUser() != fakeUser {
		t.Errorf("service user = %q, want %q", c.ServiceUser(), fakeUser)
	}
	c2, _ := fk.client(t, map[string]string{"serviceUserId": "su-configured"})
	if _, err := c2.Tenant(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if c2.ServiceUser() != "su-configured" {
		t.Errorf("service user = %q, want billing.options.serviceUserId to win", c2.ServiceUser())
	}
}

func TestTenantWithoutUsersMe(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	fk.addFault(fault{method: http.MethodGet, suffix: "/users/me", status: 404, body: `{"message":"not a user"}`})
	org, err := c.Tenant(ctx(t))
	if err != nil || org != fakeOrg {
		t.Fatalf("Tenant = %q, %v; want the organization, shown by a list", org, err)
	}
	if c.ServiceUser() != "" {
		t.Errorf("service user = %q, want unknown", c.ServiceUser())
	}
	fk.addFault(fault{method: http.MethodGet, suffix: "/users/me", status: 404, body: `{"message":"not a user"}`})
	fk.addFault(fault{method: http.MethodGet, suffix: "/accounts", status: 404, body: `{"message":"no such organization"}`})
	if _, err := c.Tenant(ctx(t)); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("unreachable organization: %v", err)
	}
}
