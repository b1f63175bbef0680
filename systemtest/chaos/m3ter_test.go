//go:build chaos

package chaos

// The chaos test with m3ter as the billing platform
// (BILLSYNC_CHAOS_BILLING=m3ter): the same kills, Salesforce faults and
// checks, with the m3ter emulator in place of the contract's. The driver
// works in m3ter as a person in m3ter's console does (another user than
// billsync's service user, so every write is news to billsync): accounts
// and balances created and edited (a PUT of the whole record at its
// version), balance transactions created (they move the balance's
// amount; m3ter never changes one). In Salesforce, the sales user edits
// accounts and balances (an amount edit becomes one m3ter transaction for
// the difference), edits a transaction now and then (m3ter cannot take
// it: logged unsupported and restored from m3ter, the default), and
// creates transactions (created in m3ter once, found again by the mark at
// the end of their description after a crash or a lost answer).
//
// m3ter's webhooks are hints (billsync re-reads what they name) and its
// events poll catches what a dead billsync missed, so there is no
// webhook-acceptance check here: the end check compares every m3ter
// record with Salesforce's, which is what a lost hint would break.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/m3terapi"
	"github.com/billsync/billsync/sandbox"
)

// chaosM3ter are the m3ter emulator's faults, on the organization's API
// (/organizations/…) in m3ter's error body (m3teremu.FaultFormat, which
// the sandbox passes): busy and rate-limited answers, access tokens
// ended early (billsync must fetch a new one and retry), and writes
// applied whose answer is lost (a retried PUT then meets a newer
// version; a retried transaction create must find the first).
const chaosM3ter = "seed=%d;" +
	"expire:path=/organizations/,rate=0.2%%,hook=expire_tokens;" +
	"busy:path=/organizations/,rate=2%%,status=503;" +
	"limited:path=/organizations/,rate=1%%,status=429;" +
	"lost_answer:path=/organizations/,rate=0.5%%,status=500,after"

// m3terChaos is the m3ter side of a run.
type m3terChaos struct {
	// console writes and reads m3ter as a person in its console, past
	// the faults and unpaced: the driver, and the check's lister.
	console *m3terapi.Client
	config  string // billsync's config file: m3ter's organization
}

// setupM3ter readies an m3ter run: a direct line to the emulator for the
// driver and the check, and the config file billsync needs for m3ter's
// organization (billing.options, which only a config file carries).
func (c *chaos) setupM3ter() {
	t, sb := c.t, c.h.sb
	direct := httptest.NewServer(sb.M3ter.Handler())
	t.Cleanup(direct.Close)
	console, err := m3terapi.NewClient(billsync.BillingOptions{URL: direct.URL, Token: sandbox.M3terConsoleToken,
		Options: map[string]string{"orgId": sb.M3ter.OrgID(), "rateLimit": "10000"}})
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "billsync-m3ter.yaml")
	var y strings.Builder
	y.WriteString("billing:\n  options:\n")
	for k, v := range sandbox.M3terOptions() {
		fmt.Fprintf(&y, "    %s: %q\n", k, v)
	}
	if err := os.WriteFile(conf, []byte(y.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	c.m3ter = &m3terChaos{console: console, config: conf}
}

// m3terEnv is billsync's environment for m3ter.
func (c *chaos) m3terEnv() []string {
	return []string{"BILLSYNC_BILLING_PLATFORM=" + billsync.PlatformM3ter, "BILLSYNC_BILLING_TOKEN=" + sandbox.M3terToken,
		"BILLSYNC_BILLING_WEBHOOK_SECRET=" + c.webhookSecret(), "BILLSYNC_CONFIG=" + c.m3ter.config,
		// The events poll finds what webhooks sent to a dead billsync
		// missed; a short interval keeps the last run's catch-up short.
		"BILLSYNC_BILLING_POLL_INTERVAL=5s"}
}

// m3terOps are the driver's moves with m3ter, with their weights.
var m3terOps = []struct {
	name   string
	weight int
	f      opFunc
}{
	{"m3ter create account", 4, (*chaos).m3terCreateAccount},
	{"m3ter create balance", 6, (*chaos).m3terCreateBalance},
	{"m3ter create transaction", 14, (*chaos).m3terCreateTransaction},
	{"m3ter update account", 9, (*chaos).m3terUpdateAccount},
	{"m3ter update balance", 8, (*chaos).m3terUpdateBalance},
	{"salesforce update account", 9, (*chaos).sfUpdateAccount},
	{"salesforce update balance", 9, (*chaos).sfUpdateBalance},
	{"salesforce update transaction", 3, (*chaos).sfUpdateTransaction},
	{"salesforce create transaction", 6, (*chaos).sfCreateTransaction},
	{"same field on both sides", 6, (*chaos).m3terBothSides},
}

func (c *chaos) m3terCreate(t billsync.ObjectType, e billsync.Entity) (billsync.Entity, error) {
	var got billsync.Entity
	err := c.retry(func() (err error) {
		got, err = c.m3ter.console.Create(c.ctx, t, e, "")
		return err
	})
	return got, err
}

// m3terUpdate reads, changes and writes a record at the version it read,
// again when m3ter holds a newer one (billsync wrote it meanwhile).
func (c *chaos) m3terUpdate(t billsync.ObjectType, id string, f func(billsync.Entity)) error {
	return c.retry(func() error {
		cur, err := c.m3ter.console.Get(c.ctx, t, id)
		if err != nil {
			return err
		}
		f(cur)
		_, err = c.m3ter.console.Update(c.ctx, t, cur)
		return err
	})
}

func (c *chaos) m3terCreateAccount(rng *rand.Rand, n int64) (int, error) {
	e, err := c.m3terCreate(billsync.ObjectAccount, billsync.Entity{
		"code": fmt.Sprintf("CH%06d", n), "name": fmt.Sprintf("Chaos account %d", n),
		"emailAddress": fmt.Sprintf("ap%d@chaos.example", n), "currency": "USD"})
	if err != nil {
		return 0, err
	}
	c.add(&c.accounts, e.ID())
	return 1, nil
}

func (c *chaos) m3terCreateBalance(rng *rand.Rand, n int64) (int, error) {
	acc := c.pickLive(rng, &c.accounts)
	if acc == "" {
		return c.m3terCreateAccount(rng, n)
	}
	e, err := c.m3terCreate(billsync.ObjectBalance, billsync.Entity{
		"accountId": acc, "code": fmt.Sprintf("B%06d", n), "name": fmt.Sprintf("Balance %d", n),
		"description": "prepaid", "currency": "USD", "startDate": "2026-01-01", "endDate": "2026-12-31"})
	if err != nil {
		return 0, err
	}
	c.add(&c.balances, e.ID())
	return 1, nil
}

// m3terCreateTransaction adds a transaction to a balance. m3ter takes no
// idempotency key: a retry after a lost answer adds a second one, which
// is as real as the first and must reach Salesforce too.
func (c *chaos) m3terCreateTransaction(rng *rand.Rand, n int64) (int, error) {
	bal := c.pickLive(rng, &c.balances)
	if bal == "" {
		return c.m3terCreateBalance(rng, n)
	}
	e, err := c.m3terCreate(billsync.ObjectBalanceTransaction, billsync.Entity{
		"balanceId": bal, "amount": money(rng, true), "description": fmt.Sprintf("usage %d", n), "appliedDate": "2026-11-01"})
	if err != nil {
		return 0, err
	}
	c.add(&c.txs, e.ID())
	return 1, nil
}

func (c *chaos) m3terUpdateAccount(rng *rand.Rand, n int64) (int, error) {
	id := c.pickLive(rng, &c.accounts)
	if id == "" {
		return 0, errSkip
	}
	return 1, c.m3terUpdate(billsync.ObjectAccount, id, func(e billsync.Entity) {
		if rng.IntN(2) == 0 {
			e["name"] = fmt.Sprintf("Account %d (m3ter)", n)
		} else {
			e["emailAddress"] = fmt.Sprintf("m3ter%d@chaos.example", n)
		}
	})
}

// m3terUpdateBalance edits a balance's name or description; its amount
// is m3ter's, moved by transactions only.
func (c *chaos) m3terUpdateBalance(rng *rand.Rand, n int64) (int, error) {
	id := c.pickLive(rng, &c.balances)
	if id == "" {
		return 0, errSkip
	}
	return 1, c.m3terUpdate(billsync.ObjectBalance, id, func(e billsync.Entity) {
		delete(e, "amount")
		if rng.IntN(2) == 0 {
			e["name"] = fmt.Sprintf("Balance %d (m3ter)", n)
		} else {
			e["description"] = fmt.Sprintf("described in m3ter %d", n)
		}
	})
}

// m3terBothSides edits the same field in m3ter and in Salesforce a
// moment apart: an account's name, or a balance's description.
func (c *chaos) m3terBothSides(rng *rand.Rand, n int64) (int, error) {
	if rng.IntN(2) == 0 {
		bid, sid := c.synced(rng, &c.accounts, "BillingAccount__c")
		if bid == "" {
			return 0, errSkip
		}
		if err := c.m3terUpdate(billsync.ObjectAccount, bid, func(e billsync.Entity) { e["name"] = fmt.Sprintf("Both %d (m3ter)", n) }); err != nil {
			return 0, err
		}
		return 2, c.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sid, "Name": fmt.Sprintf("Both %d (salesforce)", n)})
	}
	bid, sid := c.synced(rng, &c.balances, "BillingBalance__c")
	if bid == "" {
		return 0, errSkip
	}
	if err := c.salesUpdate("BillingBalance__c", billsync.SObject{"Id": sid, "Description__c": fmt.Sprintf("both %d (salesforce)", n)}); err != nil {
		return 0, err
	}
	return 2, c.m3terUpdate(billsync.ObjectBalance, bid, func(e billsync.Entity) {
		delete(e, "amount")
		e["description"] = fmt.Sprintf("both %d (m3ter)", n)
	})
}

// m3terAll lists every record of a type as billsync's adapter reads
// m3ter, with the console's credentials: the state the check compares
// with Salesforce's.
func (c *chaos) m3terAll(t billsync.ObjectType) []billsync.Entity {
	var all []billsync.Entity
	cursor := ""
	for {
		page, next, err := c.m3ter.console.List(context.Background(), t, cursor, 100)
		if err != nil {
			c.t.Fatalf("list %s in m3ter: %v", t, err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		cursor = next
	}
}
