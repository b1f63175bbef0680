//go:build chaos

package chaos

// The chaos test with Stripe as the billing platform
// (BILLSYNC_CHAOS_BILLING=stripe): the same kills, Salesforce faults and
// checks, with the Stripe emulator in place of the contract's. The
// driver works in Stripe as its users do, with Stripe's own Go client:
// customers created and edited, customer balance transactions created
// (they move the customer's balance) and their descriptions edited; in
// Salesforce, the sales user edits accounts, sets balances (billsync
// adjusts Stripe's balance by the difference), edits transaction
// descriptions and, now and then, an amount Stripe cannot change (logged
// unsupported and restored from Stripe, the default), and creates
// transactions (created in Stripe once).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	stripego "github.com/stripe/stripe-go/v85"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/sandbox"
	"github.com/billsync/billsync/stripeapi"
)

// chaosStripe are the Stripe emulator's faults: Stripe's own error
// bodies (faults.StripeFormat), its rate limit among them, so billsync's
// backoff and its idempotency keys on retried writes are exercised.
const chaosStripe = "seed=%d;" +
	"busy:path=/v1/,rate=2%%,status=503;" +
	"limited:path=/v1/,rate=1%%,status=429;" +
	"lost_answer:path=/v1/,rate=0.5%%,status=500,after"

// stripeChaos is the Stripe side of a run.
type stripeChaos struct {
	sc  *stripego.Client // Stripe's Go client past the faults: the driver
	api *stripeapi.Client
	wh  *stripeapi.Webhooks
	// accepted holds the body of every event billsync answered 2xx, by
	// event id: the check decodes it into the changes billsync owes.
	accepted sync.Map
	balances map[string]bool // balance ids in chaos.balances (under chaos.mu)
	logged   map[string]bool // customers whose transactions were logged (under chaos.mu)
}

// setupStripe readies a Stripe run: a direct line to the emulator for the
// driver and the check, and the webhook endpoint pointed at the
// recording proxy, as a person would edit it in Stripe's dashboard.
func (c *chaos) setupStripe() {
	t, sb := c.t, c.h.sb
	direct := httptest.NewServer(sb.Stripe.Handler())
	t.Cleanup(direct.Close)
	s := &stripeChaos{balances: map[string]bool{}}
	s.sc = stripego.NewClient(sandbox.StripeKey, stripego.WithBackends(stripego.NewBackendsWithConfig(&stripego.BackendConfig{
		URL: stripego.String(direct.URL), MaxNetworkRetries: stripego.Int64(0), LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull}})))
	var err error
	// The check lists every object through billsync's adapter, unpaced.
	if s.api, err = stripeapi.NewClient(billsync.BillingOptions{URL: direct.URL, Token: sandbox.StripeKey,
		Options: map[string]string{"rateLimit": "10000"}}); err != nil {
		t.Fatal(err)
	}
	if s.wh, err = stripeapi.NewWebhooks(c.webhookSecret(), nil, ""); err != nil {
		t.Fatal(err)
	}
	c.stripe = s
	proxy := c.stripeProxy()
	t.Cleanup(proxy.Close)
	n := 0
	for ep, err := range s.sc.V1WebhookEndpoints.List(c.ctx, &stripego.WebhookEndpointListParams{}).All(c.ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.sc.V1WebhookEndpoints.Update(c.ctx, ep.ID, &stripego.WebhookEndpointUpdateParams{URL: stripego.String(proxy.URL + "/webhooks/stripe")}); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("the Stripe emulator has %d webhook endpoints, want the sandbox's one", n)
	}
}

func (c *chaos) webhookSecret() string { return c.h.sb.AppConfig(c.h.sb.AppAddr).WebhookSecret }

// stripeProxy forwards Stripe's webhooks to whichever billsync is
// running, keeping each event billsync accepted.
func (c *chaos) stripeProxy() *httptest.Server {
	target, _ := url.Parse("http://" + c.h.sb.AppAddr)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = nil
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		http.Error(w, "billsync is down: "+err.Error(), http.StatusBadGateway)
	}
	type bodyKey struct{}
	direct := rp.Director
	rp.Director = func(r *http.Request) {
		direct(r)
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		*r = *r.WithContext(context.WithValue(r.Context(), bodyKey{}, b))
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode/100 != 2 {
			return nil
		}
		b, _ := resp.Request.Context().Value(bodyKey{}).([]byte)
		var ev struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(b, &ev) == nil && ev.ID != "" {
			c.stripe.accepted.Store(ev.ID, b)
		}
		return nil
	}
	return httptest.NewServer(rp)
}

// stripeOps are the driver's moves with Stripe, with their weights.
var stripeOps = []struct {
	name   string
	weight int
	f      opFunc
}{
	{"stripe create customer", 5, (*chaos).stripeCreateCustomer},
	{"stripe create transaction", 16, (*chaos).stripeCreateTransaction},
	{"stripe update customer", 10, (*chaos).stripeUpdateCustomer},
	// No "stripe update transaction": Stripe raises no event when a
	// balance transaction's description changes, so billsync cannot see
	// that edit (see stripeUpdateTransaction).
	{"salesforce update account", 9, (*chaos).sfUpdateAccount},
	{"salesforce set balance", 8, (*chaos).sfSetBalance},
	{"salesforce update transaction", 6, (*chaos).sfUpdateStripeTransaction},
	{"salesforce create transaction", 6, (*chaos).sfCreateTransaction},
	{"same field on both sides", 6, (*chaos).stripeBothSides},
}

// minor is a random amount in Stripe's minor units, never zero; negative
// (credit) a third of the time.
func minor(rng *rand.Rand) int64 {
	v := int64(rng.IntN(1_000_000) + 1)
	if rng.IntN(3) == 0 {
		return -v
	}
	return v
}

func (c *chaos) stripeCreateCustomer(rng *rand.Rand, n int64) (int, error) {
	cu, err := c.stripe.sc.V1Customers.Create(c.ctx, &stripego.CustomerCreateParams{
		Name: stripego.String(fmt.Sprintf("Chaos customer %d", n)), Email: stripego.String(fmt.Sprintf("ap%d@chaos.example", n)),
		Metadata: map[string]string{"billsync_code": fmt.Sprintf("CH%06d", n)}})
	if err != nil {
		return 0, err
	}
	c.add(&c.accounts, cu.ID)
	return 1, nil
}

func (c *chaos) stripeCreateTransaction(rng *rand.Rand, n int64) (int, error) {
	cus := c.pickLive(rng, &c.accounts)
	if cus == "" {
		return c.stripeCreateCustomer(rng, n)
	}
	tx, err := c.stripe.sc.V1CustomerBalanceTransactions.Create(c.ctx, &stripego.CustomerBalanceTransactionCreateParams{
		Customer: stripego.String(cus), Amount: stripego.Int64(minor(rng)), Currency: stripego.String("usd"),
		Description: stripego.String(fmt.Sprintf("usage %d", n))})
	if err != nil {
		return 0, err
	}
	c.add(&c.txs, cus+"."+tx.ID)
	c.mu.Lock()
	// The customer's first transaction gives it its balance.
	if bal := cus + ".usd"; !c.stripe.balances[bal] {
		c.stripe.balances[bal] = true
		c.balances = append(c.balances, bal)
	}
	c.mu.Unlock()
	return 1, nil
}

func (c *chaos) stripeUpdateCustomer(rng *rand.Rand, n int64) (int, error) {
	id := c.pickLive(rng, &c.accounts)
	if id == "" {
		return 0, errSkip
	}
	p := &stripego.CustomerUpdateParams{}
	if rng.IntN(2) == 0 {
		p.Name = stripego.String(fmt.Sprintf("Account %d (stripe)", n))
	} else {
		p.Email = stripego.String(fmt.Sprintf("stripe%d@chaos.example", n))
	}
	_, err := c.stripe.sc.V1Customers.Update(c.ctx, id, p)
	return 1, err
}

// stripeUpdateTransaction edits a transaction's description in Stripe.
// It is not among stripeOps: Stripe sends no event for it and billsync
// does not poll transactions, so the edit never reaches Salesforce (a
// chaos run with it reports the description as a mismatch). Kept for
// the day billsync learns of such edits.
func (c *chaos) stripeUpdateTransaction(rng *rand.Rand, n int64) (int, error) {
	id := c.pickLive(rng, &c.txs)
	if id == "" {
		return 0, errSkip
	}
	cus, tx, _ := strings.Cut(id, ".")
	_, err := c.stripe.sc.V1CustomerBalanceTransactions.Update(c.ctx, tx, &stripego.CustomerBalanceTransactionUpdateParams{
		Customer: stripego.String(cus), Description: stripego.String(fmt.Sprintf("usage %d (stripe)", n))})
	return 1, err
}

// sfSetBalance sets a balance's amount in Salesforce: billsync moves
// Stripe's balance by the difference with one adjustment transaction.
func (c *chaos) sfSetBalance(rng *rand.Rand, n int64) (int, error) {
	_, id := c.synced(rng, &c.balances, "BillingBalance__c")
	if id == "" {
		return 0, errSkip
	}
	return 1, c.salesUpdate("BillingBalance__c", billsync.SObject{"Id": id, "Amount__c": json.Number(money(rng, true))})
}

// sfUpdateStripeTransaction edits a transaction's description (Stripe
// takes it) or, one time in five, its amount (Stripe cannot: billsync
// logs it unsupported and restores Stripe's amount in Salesforce).
func (c *chaos) sfUpdateStripeTransaction(rng *rand.Rand, n int64) (int, error) {
	_, id := c.synced(rng, &c.txs, "BillingBalanceTransaction__c")
	if id == "" {
		return 0, errSkip
	}
	rec := billsync.SObject{"Id": id}
	if rng.IntN(5) == 0 {
		rec["Amount__c"] = json.Number(money(rng, true))
	} else {
		rec["Description__c"] = fmt.Sprintf("usage %d (salesforce)", n)
	}
	return 1, c.salesUpdate("BillingBalanceTransaction__c", rec)
}

// stripeBothSides renames a customer in Stripe and its account in
// Salesforce a moment apart: a conflict without versions, which billsync
// detects by content and latest-wins settles.
func (c *chaos) stripeBothSides(rng *rand.Rand, n int64) (int, error) {
	bid, sid := c.synced(rng, &c.accounts, "BillingAccount__c")
	if bid == "" {
		return 0, errSkip
	}
	if _, err := c.stripe.sc.V1Customers.Update(c.ctx, bid, &stripego.CustomerUpdateParams{Name: stripego.String(fmt.Sprintf("Both %d (stripe)", n))}); err != nil {
		return 0, err
	}
	return 2, c.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sid, "Name": fmt.Sprintf("Both %d (salesforce)", n)})
}

// stripeAll lists every record of a type as billsync's adapter reads
// Stripe: the state the check compares with Salesforce's.
func (c *chaos) stripeAll(t billsync.ObjectType) []billsync.Entity {
	var all []billsync.Entity
	cursor := ""
	for {
		page, next, err := c.stripe.api.List(context.Background(), t, cursor, 100)
		if err != nil {
			c.t.Fatalf("list %s in Stripe: %v", t, err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		cursor = next
	}
}

// checkStripeWebhooks demands a finished sync-log entry or a dead letter
// for every change of every event billsync accepted: the changes are
// those billsync's own decoder makes of the event (none for an echo of
// its own write that moved no balance; one per balance it moved).
func (c *chaos) checkStripeWebhooks(st *chaosStore, rep *chaosReport, report func(string, ...any)) {
	c.stripe.accepted.Range(func(k, v any) bool {
		rep.WebhooksChecked++
		changes, err := c.stripe.wh.Decode(k.(string), v.([]byte), time.Now())
		if err != nil {
			report("accepted Stripe event %s does not decode: %v", k, err)
			rep.Lost++
			return true
		}
		for _, ch := range changes {
			if !st.logged[ch.EventID] && !st.deadEvents[ch.EventID] {
				rep.Lost++
				report("lost: accepted Stripe event %s: change %s (%s %s) has no finished sync-log entry and no dead letter", k, ch.EventID, ch.Object, ch.RecordID)
			}
		}
		return true
	})
}

// logStripeTransactions logs, once per customer, its balance transactions
// newest first as Stripe lists them, each with whether billsync has sync
// state for it and whether Salesforce has it: billsync finds a new
// transaction by listing newest first down to the first one it knows.
func (c *chaos) logStripeTransactions(st *chaosStore, cus string) {
	c.mu.Lock()
	if c.stripe.logged == nil {
		c.stripe.logged = map[string]bool{}
	}
	done := c.stripe.logged[cus]
	c.stripe.logged[cus] = true
	c.mu.Unlock()
	if done || cus == "" {
		return
	}
	inSF := map[string]bool{}
	for _, r := range c.h.sb.SF.Records("BillingBalanceTransaction__c") {
		inSF[r.Str("BillingId__c")] = true
	}
	var b strings.Builder
	ctx := context.Background()
	for tx, err := range c.stripe.sc.V1CustomerBalanceTransactions.List(ctx, &stripego.CustomerBalanceTransactionListParams{Customer: stripego.String(cus)}).All(ctx) {
		if err != nil {
			c.t.Logf("listing the transactions of %s: %v", cus, err)
			return
		}
		id := cus + "." + tx.ID
		_, serr := st.state.SyncState(ctx, billsync.ObjectBalanceTransaction, id)
		fmt.Fprintf(&b, "\n  %s created %s amount %d %q: sync state %v, in Salesforce %v", tx.ID,
			time.Unix(tx.Created, 0).UTC().Format(time.TimeOnly), tx.Amount, tx.Description, serr == nil, inSF[id])
	}
	c.t.Logf("Stripe transactions of %s, newest first:%s", cus, b.String())
}
