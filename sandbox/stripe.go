package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/faults"
	stripeemu "github.com/billsync/billsync/emulate/stripe"
	"github.com/billsync/billsync/stripeapi"
)

// StripeKey is the sandbox Stripe emulator's secret key (sandbox only).
const StripeKey = "sk_test_billsync_sandbox_key"

// startStripe runs the Stripe emulator on ln in place of the billing
// contract's, and registers billsync's webhook endpoint with it the way
// `billsync stripe setup` does with Stripe, keeping the signing secret
// Stripe answers with for billsync's configuration.
func (s *Sandbox) startStripe(ctx context.Context, ln net.Listener, appAddr string) error {
	var err error
	if s.Stripe, err = stripeemu.New(stripeemu.Options{
		SecretKey: StripeKey, DataDir: filepath.Join(s.opts.Data, "stripe"), RetryBackoff: s.opts.WebhookRetry,
		Logger: s.log.With("party", "stripe"),
	}); err != nil {
		return err
	}
	h, inj, err := WithFaults(s.Stripe.Handler(), s.opts.BillingFaults, faults.StripeFormat, nil, s.log.With("party", "stripe"))
	if err != nil {
		return err
	}
	s.BillingFaults = inj
	s.serve(ln, h)
	s.Stripe.Start(ctx)
	c, err := s.stripeClient()
	if err != nil {
		return err
	}
	// A restarted sandbox finds its endpoint and the secret it kept.
	secret := readSecret(filepath.Join(s.opts.Data, "stripe-webhook-secret"))
	res, err := c.EnsureWebhookEndpoint(ctx, "http://"+appAddr+"/webhooks/stripe", secret)
	if err != nil {
		return fmt.Errorf("registering billsync's webhook endpoint with the Stripe emulator: %w", err)
	}
	if res.Secret != "" {
		secret = res.Secret
	}
	s.webhookSecret = secret
	return writeSecret(filepath.Join(s.opts.Data, "stripe-webhook-secret"), secret)
}

// stripeClient is billsync's Stripe adapter pointed at the emulator, past
// the faults.
func (s *Sandbox) stripeClient() (*stripeapi.Client, error) {
	return stripeapi.NewClient(billsync.BillingOptions{URL: s.BillingURL, Token: StripeKey})
}

// seedStripe creates customers with balances and transactions, products,
// prices and quotes in the Stripe emulator, once. Customers are linked to
// the demo Salesforce Accounts (so quotes validate); billsync syncs all
// of it to Salesforce like any other change.
func (s *Sandbox) seedStripe(ctx context.Context) error {
	api := stripeForm{base: s.BillingURL, key: StripeKey}
	var list struct{ Data []map[string]any }
	if err := api.do(ctx, http.MethodGet, "/v1/customers?limit=1", nil, &list); err != nil || len(list.Data) > 0 {
		return err
	}
	customers := []struct{ code, name, email, sfName string }{
		{"ACME", "Acme Corporation", "billing@acme.example", "Acme Corporation"},
		{"GLOBEX", "Globex", "ap@globex.example", "Globex"},
		{"INITECH", "Initech", "finance@initech.example", ""},
	}
	ids := map[string]string{}
	for i, c := range customers {
		p := url.Values{"name": {c.name}, "email": {c.email}, "metadata[billsync_code]": {c.code}}
		if sfID := s.Demo.Accounts[c.sfName]; c.sfName != "" && sfID != "" {
			p.Set("metadata[billsync_crm_account_id]", sfID)
		}
		var cus struct{ ID string }
		if err := api.do(ctx, http.MethodPost, "/v1/customers", p, &cus); err != nil {
			return err
		}
		ids[c.code] = cus.ID
		// Credit is negative in Stripe: 1,000.00 USD of credit, then a
		// charge of 42.50 against it.
		for j, amt := range []int{-100000 * (i + 1), 4250} {
			if err := api.do(ctx, http.MethodPost, "/v1/customers/"+cus.ID+"/balance_transactions", url.Values{
				"amount": {strconv.Itoa(amt)}, "currency": {"usd"}, "description": {fmt.Sprintf("Seed transaction %d", j+1)},
			}, nil); err != nil {
				return err
			}
		}
	}
	return s.seedStripeQuotes(ctx, api, ids)
}

// seedStripeQuotes creates a product catalogue and two quotes on Acme: a
// draft (polled, Stripe sends no quote.updated) and one finalized and
// accepted, whose status moves the Opportunity's stage.
func (s *Sandbox) seedStripeQuotes(ctx context.Context, api stripeForm, ids map[string]string) error {
	prices := map[string]string{}
	for _, p := range []struct {
		code, name string
		params     url.Values
	}{
		// The codes of the demo org's products, so the lines find their
		// price-book entries.
		{"PLAT-SUB", "Platform subscription", url.Values{"unit_amount": {"100000"}, "recurring[interval]": {"month"}}},
		{"ONBOARD", "Onboarding", url.Values{"unit_amount": {"185000"}}},
		{"API-USAGE", "API usage", url.Values{"unit_amount_decimal": {"4"}, "recurring[interval]": {"month"}, "recurring[usage_type]": {"metered"}}},
	} {
		var prod struct{ ID string }
		if err := api.do(ctx, http.MethodPost, "/v1/products", url.Values{"name": {p.name}, "metadata[billsync_code]": {p.code}}, &prod); err != nil {
			return err
		}
		p.params.Set("product", prod.ID)
		p.params.Set("currency", "usd")
		var pr struct{ ID string }
		if err := api.do(ctx, http.MethodPost, "/v1/prices", p.params, &pr); err != nil {
			return err
		}
		prices[p.code] = pr.ID
	}
	type line struct {
		code string
		qty  int
	}
	quote := func(desc string, lines ...line) (string, error) {
		p := url.Values{"customer": {ids["ACME"]}, "description": {desc},
			"expires_at": {strconv.FormatInt(time.Now().AddDate(0, 0, 30).Unix(), 10)}}
		for i, l := range lines {
			p.Set(fmt.Sprintf("line_items[%d][price]", i), prices[l.code])
			p.Set(fmt.Sprintf("line_items[%d][quantity]", i), strconv.Itoa(l.qty))
		}
		var q struct{ ID string }
		return q.ID, api.do(ctx, http.MethodPost, "/v1/quotes", p, &q)
	}
	if _, err := quote("Acme expansion (draft)", line{"PLAT-SUB", 10}, line{"API-USAGE", 1}); err != nil {
		return err
	}
	id, err := quote("Acme onboarding", line{"PLAT-SUB", 1}, line{"ONBOARD", 1})
	if err != nil {
		return err
	}
	for _, step := range []string{"finalize", "accept"} {
		if err := api.do(ctx, http.MethodPost, "/v1/quotes/"+id+"/"+step, url.Values{}, nil); err != nil {
			return err
		}
	}
	return nil
}

func readSecret(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func writeSecret(path, secret string) error { return os.WriteFile(path, []byte(secret+"\n"), 0o600) }

// stripeForm calls a Stripe API as its users do: form-encoded parameters
// and the secret key as a bearer token.
type stripeForm struct{ base, key string }

func (f stripeForm) do(ctx context.Context, method, path string, p url.Values, out any) error {
	var body io.Reader
	if p != nil {
		body = strings.NewReader(p.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, f.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+f.key)
	if p != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		return billsync.Errorf(billsync.EINTERNAL, "stripe emulator: %s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// StripeOptions are the knobs of one Stripe emulator run alone.
type StripeOptions struct {
	Addr   string
	Data   string // "" keeps the emulator's state in memory
	Key    string // the secret key it accepts
	Faults string // a faults.Parse spec
}

// ServeStripe runs the Stripe emulator alone, as `billsync emulate
// stripe` does, until ctx ends. Webhook endpoints are created through
// its API, as with Stripe (`billsync stripe setup` does it).
func ServeStripe(ctx context.Context, o StripeOptions, log *slog.Logger) error {
	emu, err := stripeemu.New(stripeemu.Options{SecretKey: o.Key, DataDir: o.Data, Logger: log})
	if err != nil {
		return err
	}
	defer emu.Close()
	emu.Start(ctx)
	h, _, err := WithFaults(emu.Handler(), o.Faults, faults.StripeFormat, nil, log)
	if err != nil {
		return err
	}
	return serveUntilDone(ctx, log, "stripe emulator", o.Addr, "", nil, h)
}
