package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/billsync/billsync"
	m3teremu "github.com/billsync/billsync/emulate/m3ter"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/sandbox"
)

// The m3ter workload writes one account of the shape as a person in
// m3ter's console as many times as the contract's shape does, registers
// what billsync must show for it (the account, its balance with m3ter's
// derived amount, each transaction by "<balance>.<transaction>"), counts
// none of its own calls as billsync's, and the observer settles once
// Salesforce holds those values.
func TestM3terSideAccount(t *testing.T) {
	emu, err := m3teremu.New(m3teremu.Options{OrgID: m3teremu.DefaultOrgID, AccessKeyID: m3teremu.DefaultAccessKeyID,
		APISecret: m3teremu.DefaultAPISecret, ServiceUserID: m3teremu.DefaultServiceUserID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	key, secret, _ := strings.Cut(sandbox.M3terConsoleToken, ":")
	emu.AddCredentials(key, secret, "00000000-0000-4000-8000-00000c0450e1")
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	side, err := newM3terSide(emu, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	stop, err := side.install(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
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
		t.Errorf("%d of the workload's own m3ter calls counted as billsync's", got)
	}
	// A request through the proxy is billsync's.
	resp, err := http.Get(side.proxyURL() + "/organizations/" + m3teremu.DefaultOrgID + "/accounts")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := side.billsyncCalls(); got != 1 {
		t.Errorf("%d calls counted after one through the proxy", got)
	}

	var acct, bal string
	accounts, balances, txs := 0, 0, 0
	for id, tr := range obs.records {
		switch tr.obj.Type {
		case billsync.ObjectAccount:
			accounts++
			acct = id
		case billsync.ObjectBalance:
			balances++
			bal = id
		case billsync.ObjectBalanceTransaction:
			txs++
			if !strings.Contains(id, ".") {
				t.Errorf("transaction id %q is not <balance>.<transaction>", id)
			}
		}
	}
	// Two transactions, then a new one for each in the round.
	if accounts != 1 || balances != 1 || txs != 4 {
		t.Fatalf("observer tracks %d accounts, %d balances, %d transactions; want 1, 1, 4", accounts, balances, txs)
	}
	if last := obs.records[acct].writes[len(obs.records[acct].writes)-1].vals; last["name"] != "Realistic T00001 (round 1)" || last["code"] != "T00001" {
		t.Errorf("account's last values %v", last)
	}
	// 1.25 + 2.25 − 1.00 − 1.01, as m3ter derives it.
	bt := obs.records[bal]
	last := bt.writes[len(bt.writes)-1].vals
	if last["amount"] != "1.49" || last["name"] != "Balance 0 of T00001 (round 1)" {
		t.Errorf("balance's last values %v, want amount 1.49 and the round's name", last)
	}
	if got, err := side.console.Get(context.Background(), billsync.ObjectBalance, bal); err != nil || got.Str("amount") != "1.49" {
		t.Errorf("m3ter holds amount %v (%v), want 1.49", got.Str("amount"), err)
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
	// The balance's amount moves are m3ter's doing, not the client's:
	// left out.
	if got := len(obs.latencies()); got != n {
		t.Errorf("%d landed client writes, want %d", got, n)
	}
}
