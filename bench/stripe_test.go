package bench

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	stripeemu "github.com/billsync/billsync/emulate/stripe"
)

// The Stripe workload writes one account of the shape through Stripe's
// API as many times as the contract's shape does, registers what billsync
// must show for it (the customer, its balance with Stripe's arithmetic,
// each transaction), counts none of its own calls as billsync's, and the
// observer settles once Salesforce holds those values.
func TestStripeSideAccount(t *testing.T) {
	emu, err := stripeemu.New(stripeemu.Options{SecretKey: "sk_test_bench"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	side := newStripeSide(emu, srv.URL, "sk_test_bench")
	defer side.install()()
	obs := newSFObserver(nil)

	shape := Shape{Accounts: 1, Balances: 1, Transactions: 2, Rounds: 1, Clients: 1}
	n, err := side.account(context.Background(), obs, shape, "T00001")
	if err != nil {
		t.Fatal(err)
	}
	if n != shape.Changes() {
		t.Errorf("%d writes, want the contract shape's %d", n, shape.Changes())
	}
	if got := side.billsyncCalls(); got != 0 {
		t.Errorf("%d of the workload's own Stripe calls counted as billsync's", got)
	}

	var cus string
	accounts, balances, txs := 0, 0, 0
	for id, tr := range obs.records {
		switch tr.obj.Type {
		case billsync.ObjectAccount:
			accounts++
			cus = id
		case billsync.ObjectBalance:
			balances++
		case billsync.ObjectBalanceTransaction:
			txs++
		}
	}
	// One opening credit, two transactions, one top-up.
	if accounts != 1 || balances != 1 || txs != 4 {
		t.Fatalf("observer tracks %d accounts, %d balances, %d transactions; want 1, 1, 4", accounts, balances, txs)
	}
	acc := obs.records[cus]
	if last := acc.writes[len(acc.writes)-1].vals; last["name"] != "Realistic T00001 (round 1)" || last["currency"] != "USD" || last["code"] != "T00001" {
		t.Errorf("account's last values %v", last)
	}
	// Credit 100.00 − 1.25 − 2.25 + 1.00 (the top-up), as Stripe holds it.
	bal := obs.records[cus+".usd"]
	if bal == nil {
		t.Fatalf("no balance %s.usd", cus)
	}
	if got := bal.writes[len(bal.writes)-1].vals["amount"]; got != "97.5" {
		t.Errorf("balance amount %q, want 97.5 (canonical)", got)
	}
	res, err := side.sc.V1Customers.Retrieve(context.Background(), cus, nil)
	if err != nil || res.Balance != -9750 {
		t.Errorf("Stripe holds balance %v (%v), want -9750", res.Balance, err)
	}

	if done, total, _ := obs.progress(); done != 0 || total != 6 {
		t.Errorf("before Salesforce holds anything: %d of %d done", done, total)
	}
	// Salesforce receives each record's last values, as billsync would
	// write them.
	for id, tr := range obs.records {
		rec := billsync.SObject{tr.obj.ExternalID: id}
		for k, v := range tr.writes[len(tr.writes)-1].vals {
			f, _ := tr.obj.Field(k)
			rec[f.Salesforce] = f.SalesforceValue(v)
		}
		obs.onWrite(sfemu.Write{Op: "upsert", Object: tr.obj.SObject, Records: []billsync.SObject{rec}})
	}
	if done, total, _ := obs.progress(); done != total {
		t.Errorf("after Salesforce holds every last value: %d of %d done", done, total)
	}
	// The balance's writes are Stripe's doing, not the client's: left out.
	if got := len(obs.latencies()); got != n {
		t.Errorf("%d landed client writes, want %d", got, n)
	}
	for _, tr := range obs.records {
		for _, w := range tr.writes {
			if tr.obj.Type == billsync.ObjectBalance && !w.derived {
				t.Error("a balance write counted as the client's")
			}
		}
	}
	if !strings.HasPrefix(cus, "cus_") {
		t.Errorf("account id %q is not a Stripe customer id", cus)
	}
}
