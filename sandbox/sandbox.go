package sandbox

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"text/template"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	billingemu "github.com/billsync/billsync/emulate/billing"
	"github.com/billsync/billsync/emulate/faults"
	m3teremu "github.com/billsync/billsync/emulate/m3ter"
	mnemu "github.com/billsync/billsync/emulate/monetizenow"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	stripeemu "github.com/billsync/billsync/emulate/stripe"
)

// The sandbox's fixed credentials (documented in README; never use them
// outside the sandbox).
const (
	BillingToken = "sandbox-billing-token"
	AdminName    = "sandbox-admin"
	AdminToken   = "sandbox-admin-token"
	Tenant       = "sandbox-tenant"
)

// WebhookSecret is "whsec_" + base64 of a fixed key.
var WebhookSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("billsync-sandbox-webhook-key-0001"))

// App is billsync running in this process, as StartFunc returns it.
type App interface {
	// Err delivers the first fatal error of a background loop.
	Err() <-chan error
	// Close stops billsync and closes its store.
	Close() error
}

// StartFunc starts billsync in this process with cfg and returns once it
// listens on cfg.Addr. The command wires it (billsync's own start-up
// lives in package main, which this package must not import).
type StartFunc func(ctx context.Context, cfg AppConfig, log *slog.Logger) (App, error)

// AppConfig is what billsync needs to run against the sandbox's
// emulators. The command turns it into billsync's configuration; the
// bench into a child process's BILLSYNC_* environment.
type AppConfig struct {
	Addr string // where billsync listens
	Data string // billsync's state directory
	// Workers, Poll and BatchWait are Options' knobs; zero keeps
	// billsync's default.
	Workers   int
	Poll      time.Duration
	BatchWait time.Duration
	// BulkIngestThreshold is salesforce.bulkIngestThreshold; zero keeps
	// billsync's default, negative turns Bulk ingest off (the bench
	// measures the initial load both ways).
	BulkIngestThreshold int

	SalesforceURL          string // the Salesforce emulator's login URL
	Grant                  string
	ClientID, ClientSecret string // the emulator's connected app
	Username, Password     string // the integration user
	APIVersion             string
	// Stream is salesforce.stream; PubSubAddr the emulator's Pub/Sub API,
	// which speaks plaintext gRPC (salesforce.pubsubInsecure).
	Stream       string
	PubSubAddr   string
	ChangeSource string // salesforce.changeSource; "" is the trigger

	BillingPlatform string // "" is the billing contract
	BillingURL      string
	BillingToken    string
	WebhookSecret   string
	BillingOptions  map[string]string // billing.options
	// Quotes is billing.quotes: the quote source beside BillingPlatform.
	Quotes QuotesAppConfig
	// Settings seed billsync's settings on its first start (settings:).
	Settings map[string]any

	AdminName, AdminToken string // billsync's admin token and the name its audit records
}

// Options says where the sandbox's three parties listen.
type Options struct {
	Addr           string // billsync
	SalesforceAddr string
	BillingAddr    string
	Data           string // "" = a fresh temporary state
	Seed           bool   // create sample accounts, balances and transactions on a fresh start
	NoApp          bool   // start only the emulators (tests run billsync as a child process)
	// StartApp starts billsync in this process; it is needed unless NoApp.
	StartApp StartFunc
	// WebhookRetry is the billing emulator's redelivery backoff; the
	// sandbox default doubles from 250 ms up to 2 s, so a restarted
	// billsync catches up quickly.
	WebhookRetry func(attempt int) time.Duration
	// SalesforceFaults and BillingFaults are fault specs for the emulators
	// (see faults.Parse); they can also be changed at run time.
	SalesforceFaults, BillingFaults string
	Workers                         int
	Poll                            time.Duration // the runner's idle poll (tests set it long to prove wake-ups)
	BatchWait                       time.Duration // how long a Salesforce write waits for company (default 50 ms)
	// Billing is the billing platform the sandbox emulates: "contract"
	// (the default) or "stripe".
	Billing string
	// Quotes is a second platform emulated as the quote source beside
	// Billing (billing.quotes.platform): "" or "monetizenow", on QuotesAddr
	// ("" picks a free port).
	Quotes     string
	QuotesAddr string
	// Stream is how billsync hears Salesforce: "cometd" (the default) or
	// "pubsub", which serves the emulator's Pub/Sub API on PubSubAddr
	// ("" picks a free port) beside the REST one.
	Stream     string
	PubSubAddr string
	// ChangeSource is salesforce.changeSource: "trigger" (the default,
	// the Apex trigger's platform event) or "cdc" (Change Data Capture,
	// which the emulator publishes for the synced objects).
	ChangeSource string
}

// Sandbox is the emulated Salesforce org, the emulated billing platform
// and billsync between them, all in one process.
type Sandbox struct {
	SF      *sfemu.Emulator
	Billing *billingemu.Emulator // nil when the sandbox emulates Stripe
	Stripe  *stripeemu.Emulator  // nil unless Options.Billing is stripe
	M3ter   *m3teremu.Emulator   // nil unless Options.Billing is m3ter
	// MonetizeNow is nil unless Options.Billing or Options.Quotes is
	// monetizenow; QuotesURL is where it listens beside another platform.
	MonetizeNow *mnemu.Emulator
	QuotesURL   string
	// QuotesFaults injects faults in front of the quote source's emulator.
	QuotesFaults *faults.Injector
	App          App // nil with NoApp
	SFURL        string
	BillingURL   string
	// SFFaults and BillingFaults inject faults in front of the emulators.
	SFFaults, BillingFaults *faults.Injector
	Demo                    *sfemu.Demo
	AppAddr                 string // where billsync listens (or will, with NoApp)
	// PubSubAddr is where the emulator's Pub/Sub API listens; "" unless
	// Options.Stream is pubsub.
	PubSubAddr string

	opts          Options
	log           *slog.Logger
	webhookSecret string // what billsync verifies billing webhooks with
	quotesSecret  string // the quote source's webhook URL token
	servers       []*http.Server
	pubsub        *pubsubServer // nil unless Options.Stream is pubsub
	cancel        context.CancelFunc
}

// Start starts the emulators, then billsync wired to them.
func Start(ctx context.Context, opts Options, log *slog.Logger) (*Sandbox, error) {
	if !opts.NoApp && opts.StartApp == nil {
		return nil, errors.New("sandbox: Options.StartApp is needed to run billsync (or set NoApp)")
	}
	if opts.Data == "" {
		dir, err := os.MkdirTemp("", "billsync-sandbox-")
		if err != nil {
			return nil, err
		}
		opts.Data = dir
	}
	if opts.WebhookRetry == nil {
		opts.WebhookRetry = func(attempt int) time.Duration {
			return min(250*time.Millisecond<<min(attempt-1, 4), 2*time.Second)
		}
	}
	s := &Sandbox{opts: opts, log: log}
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	fail := func(err error) (*Sandbox, error) { s.Close(); return nil, err }

	sfLn, err := net.Listen("tcp", opts.SalesforceAddr)
	if err != nil {
		return fail(fmt.Errorf("salesforce emulator: %w", err))
	}
	billLn, err := net.Listen("tcp", opts.BillingAddr)
	if err != nil {
		sfLn.Close()
		return fail(fmt.Errorf("billing emulator: %w", err))
	}
	appLn, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		sfLn.Close()
		billLn.Close()
		return fail(fmt.Errorf("billsync: %w", err))
	}
	appAddr := appLn.Addr().String()
	appLn.Close() // billsync binds it itself below; the port was free a moment ago

	s.SFURL = "http://" + sfLn.Addr().String()
	s.BillingURL = "http://" + billLn.Addr().String()
	sub := func(name string) string { return filepath.Join(opts.Data, name) }
	// billsync on Change Data Capture needs no Apex: the org has no
	// trigger, so nothing there refuses a write decided before an edit.
	if s.SF, err = sfemu.New(sfemu.Options{DataDir: sub("salesforce"), Logger: log.With("party", "salesforce"), MultiCurrency: true,
		NoTrigger: opts.ChangeSource == "cdc"}); err != nil {
		return fail(err)
	}
	s.SF.SetBaseURL(s.SFURL)
	sfHandler, inj, err := WithFaults(s.SF.Handler(), opts.SalesforceFaults, faults.SalesforceFormat, SalesforceHooks(s.SF), s.log.With("party", "salesforce"))
	if err != nil {
		return fail(err)
	}
	s.SFFaults = inj
	s.serve(sfLn, sfHandler)
	if s.Demo, err = s.SF.SeedDemo(); err != nil {
		return fail(err)
	}
	switch opts.Stream {
	case "", StreamCometD:
	case StreamPubSub:
		if err := s.startPubSub(opts.PubSubAddr); err != nil {
			billLn.Close()
			return fail(err)
		}
	default:
		billLn.Close()
		return fail(fmt.Errorf("sandbox: stream %q: want cometd or pubsub", opts.Stream))
	}

	switch opts.Billing {
	case "", billsync.PlatformContract:
		err = s.startContract(ctx, billLn, appAddr)
	case billsync.PlatformStripe:
		err = s.startStripe(ctx, billLn, appAddr)
	case billsync.PlatformM3ter:
		err = s.startM3ter(ctx, billLn, appAddr)
	case billsync.PlatformMonetizeNow:
		err = s.startMonetizeNow(ctx, billLn, appAddr)
	default:
		billLn.Close()
		err = fmt.Errorf("sandbox: billing %q: want contract, stripe, m3ter or monetizenow", opts.Billing)
	}
	if err != nil {
		return fail(err)
	}
	if err := s.startQuotes(ctx, appAddr); err != nil {
		return fail(err)
	}

	s.AppAddr = appAddr
	if !opts.NoApp {
		if err := s.StartApp(ctx, appAddr); err != nil {
			return fail(err)
		}
	}
	if opts.Seed {
		seed := s.seed
		switch {
		case s.quotesBeside():
			seed = s.seedCombined
		case s.Stripe != nil:
			seed = s.seedStripe
		case s.M3ter != nil:
			seed = s.seedM3ter
		case s.MonetizeNow != nil && !s.quotesBeside():
			seed = s.seedMonetizeNow
		}
		if err := seed(ctx); err != nil {
			return fail(fmt.Errorf("seeding: %w", err))
		}
	}
	return s, nil
}

// startContract runs the billing contract's emulator on ln.
func (s *Sandbox) startContract(ctx context.Context, ln net.Listener, appAddr string) error {
	var err error
	if s.Billing, err = billingemu.New(billingemu.Options{
		Token: BillingToken, TenantID: Tenant, WebhookSecret: WebhookSecret,
		WebhookURL: "http://" + appAddr + "/webhooks/billing", DataDir: filepath.Join(s.opts.Data, "billing"),
		RetryBackoff: s.opts.WebhookRetry,
		Workers:      32, // deliveries in parallel across accounts, as a real platform's fan-out
		Logger:       s.log.With("party", "billing"),
	}); err != nil {
		ln.Close()
		return err
	}
	h, inj, err := WithFaults(s.Billing.Handler(), s.opts.BillingFaults, faults.BillingFormat, nil, s.log.With("party", "billing"))
	if err != nil {
		ln.Close()
		return err
	}
	s.BillingFaults = inj
	s.serve(ln, h)
	s.Billing.Start(ctx)
	s.webhookSecret = WebhookSecret
	return nil
}

// AppConfig is what billsync needs to listen on addr against the
// sandbox's emulators, with its state under the sandbox's data directory.
func (s *Sandbox) AppConfig(addr string) AppConfig {
	ac := AppConfig{
		Addr: addr, Data: filepath.Join(s.opts.Data, "billsync"),
		Workers: s.opts.Workers, Poll: s.opts.Poll, BatchWait: s.opts.BatchWait,
		SalesforceURL: s.SFURL, Grant: "password", ClientID: sfemu.DefaultClientID, ClientSecret: sfemu.DefaultClientSecret,
		Username: sfemu.IntegrationUsername, Password: sfemu.IntegrationPassword, APIVersion: "62.0",
		BillingURL: s.BillingURL, BillingToken: BillingToken, WebhookSecret: s.webhookSecret,
		AdminName: AdminName, AdminToken: AdminToken,
		Stream: StreamCometD, ChangeSource: s.opts.ChangeSource,
	}
	if s.pubsub != nil {
		ac.Stream, ac.PubSubAddr = StreamPubSub, s.PubSubAddr
	}
	switch {
	case s.Stripe != nil:
		ac.BillingPlatform, ac.BillingToken = billsync.PlatformStripe, StripeKey
	case s.M3ter != nil:
		ac.BillingPlatform, ac.BillingToken, ac.BillingOptions = billsync.PlatformM3ter, M3terToken, M3terOptions()
	case s.MonetizeNow != nil && !s.quotesBeside():
		ac.BillingPlatform, ac.BillingToken, ac.Settings = billsync.PlatformMonetizeNow, MonetizeNowKey, MonetizeNowSettings()
	}
	s.quotesAppConfig(&ac)
	return ac
}

// AppURL is where billsync listens (or will, with NoApp).
func (s *Sandbox) AppURL() string { return "http://" + s.AppAddr }

// StartApp (re)starts billsync on addr against the running emulators.
func (s *Sandbox) StartApp(ctx context.Context, addr string) error {
	if s.opts.StartApp == nil {
		return errors.New("sandbox: Options.StartApp is needed to run billsync")
	}
	app, err := s.opts.StartApp(ctx, s.AppConfig(addr), s.log.With("party", "billsync"))
	if err != nil {
		return err
	}
	s.App = app
	return nil
}

func (s *Sandbox) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sandbox server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// Close stops billsync, then the emulators.
func (s *Sandbox) Close() error {
	var errs []error
	if s.App != nil {
		errs = append(errs, s.App.Close())
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.pubsub != nil {
		s.pubsub.stop()
	}
	for _, srv := range s.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		// A connection a client opened and gave up on before sending a
		// request (billsync cancelling a call as it stopped) counts as
		// active for five seconds: past that, the emulator just closes.
		if err := srv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, srv.Close())
		} else {
			errs = append(errs, err)
		}
		cancel()
	}
	if s.Billing != nil {
		errs = append(errs, s.Billing.Close())
	}
	if s.MonetizeNow != nil {
		errs = append(errs, s.MonetizeNow.Close())
	}
	if s.M3ter != nil {
		errs = append(errs, s.M3ter.Close())
	}
	if s.Stripe != nil {
		errs = append(errs, s.Stripe.Close())
	}
	if s.SF != nil {
		errs = append(errs, s.SF.Close())
	}
	return errors.Join(errs...)
}

// seed creates a few accounts with balances and transactions in billing,
// once: billsync syncs them to Salesforce like any other change.
func (s *Sandbox) seed(ctx context.Context) error {
	existing, _, err := billingapi.New(s.BillingURL, BillingToken, nil).List(ctx, billsync.ObjectAccount, "", 1)
	if err != nil || len(existing) > 0 {
		return err
	}
	accounts := []struct{ code, name, email string }{
		{"ACME", "Acme Corporation", "billing@acme.example"},
		{"GLOBEX", "Globex", "ap@globex.example"},
		{"INITECH", "Initech", "finance@initech.example"},
	}
	for i, a := range accounts {
		acct := billsync.Entity{"code": a.code, "name": a.name, "emailAddress": a.email, "currency": "USD"}
		if crm := s.crmAccountFor(a.code); crm != "" {
			acct["crmAccountId"] = crm
		}
		acc, err := s.Billing.Create(billsync.ObjectAccount, acct)
		if err != nil {
			return err
		}
		bal, err := s.Billing.Create(billsync.ObjectBalance, billsync.Entity{
			"accountId": acc.ID(), "code": "PREPAID", "name": a.name + " prepaid credit", "description": "Prepaid usage credit",
			"amount": fmt.Sprintf("%d.00", 1000*(i+1)), "currency": "USD", "startDate": "2026-01-01", "endDate": "2026-12-31"})
		if err != nil {
			return err
		}
		for j, amt := range []string{"250.00", "-42.50"} {
			if _, err := s.Billing.Create(billsync.ObjectBalanceTransaction, billsync.Entity{
				"balanceId": bal.ID(), "amount": amt, "description": fmt.Sprintf("Seed transaction %d", j+1),
				"appliedDate": "2026-11-01"}); err != nil {
				return err
			}
		}
	}
	return s.SeedQuotes(ctx, s.Demo)
}

var banner = template.Must(template.New("banner").Parse(`
billsync sandbox is running. Press Ctrl-C to stop.

  billsync          {{.App}}   (webhooks: {{.App}}{{.WebhookPath}}, admin API: {{.App}}/api/v1/)
  Salesforce (emu)  {{.SF}}
{{with .PubSub}}  Pub/Sub API (emu) {{.}}   (gRPC, plaintext)
{{end}}{{with .PubSubTLS}}  Pub/Sub API (emu) {{.}}
{{end}}  {{.Platform}} (emu){{.Pad}}{{.Billing}}
  state             {{.Data}}

Credentials (sandbox only):
  billsync admin token         {{.AdminToken}}   (name: {{.AdminName}})
  {{.TokenName}}{{.BillingToken}}
  {{.SecretName}}{{.WebhookSecret}}
  Salesforce connected app     client_id={{.ClientID}} client_secret={{.ClientSecret}}
  Salesforce integration user  {{.IntUser}} / {{.IntPass}}
  Salesforce sales user        {{.SalesUser}} / {{.SalesPass}}

Try it (see README.md for more):
  {{.TryBilling}}
  curl -s -H 'Authorization: Bearer {{.AdminToken}}' '{{.App}}/api/v1/logs?limit=5'
`))

// WriteBanner prints where the sandbox's parties listen and their
// credentials, for a person about to try it.
func (s *Sandbox) WriteBanner(w io.Writer) error {
	ac := s.AppConfig(s.AppAddr)
	v := map[string]string{"Platform": "billing", "Pad": "     ", "WebhookPath": "/webhooks/billing",
		"TokenName": "billing API token            ", "SecretName": "billing webhook secret       ", "ListPath": "/api/v1/accounts"}
	switch {
	case s.Stripe != nil:
		v = map[string]string{"Platform": "Stripe", "Pad": "      ", "WebhookPath": "/webhooks/stripe",
			"TokenName": "Stripe secret key            ", "SecretName": "Stripe webhook secret        ", "ListPath": "/v1/customers"}
	case s.M3ter != nil:
		v = map[string]string{"Platform": "m3ter", "Pad": "       ", "WebhookPath": "/webhooks/m3ter/<token>",
			"TokenName": "m3ter access key:secret      ", "SecretName": "m3ter webhook URL token      ", "ListPath": "/organizations/" + m3teremu.DefaultOrgID + "/accounts"}
	case s.MonetizeNow != nil && !s.quotesBeside():
		v = map[string]string{"Platform": "MonetizeNow", "Pad": " ", "WebhookPath": "/webhooks/monetizenow/<token>",
			"TokenName": "MonetizeNow API key          ", "SecretName": "MonetizeNow webhook token    ", "ListPath": "/api/quotes"}
	}
	try := "curl -s -H 'Authorization: Bearer " + ac.BillingToken + "' " + s.BillingURL + v["ListPath"]
	if s.MonetizeNow != nil && !s.quotesBeside() {
		try = "curl -s -H 'x-api-key: " + ac.BillingToken + "' " + s.BillingURL + v["ListPath"]
	}
	if s.M3ter != nil {
		// m3ter wants an OAuth token first; this is the console user's.
		try = "curl -s -u " + M3terConsoleToken + " -H 'Content-Type: application/json' -d '{\"grant_type\":\"client_credentials\"}' " + s.BillingURL + "/oauth/token"
	}
	if addr, ca := s.PubSubTLS(); addr != "" {
		v["PubSubTLS"] = addr + "   (gRPC over TLS; its certificate, for clients to trust: " + ca + ")"
	}
	if err := banner.Execute(w, map[string]string{
		"TryBilling": try, "PubSubTLS": v["PubSubTLS"],
		"Platform": v["Platform"], "Pad": v["Pad"], "WebhookPath": v["WebhookPath"], "TokenName": v["TokenName"],
		"SecretName": v["SecretName"], "ListPath": v["ListPath"],
		"App": s.AppURL(), "SF": s.SFURL, "PubSub": s.PubSubAddr, "Billing": s.BillingURL, "Data": s.opts.Data,
		"AdminToken": AdminToken, "AdminName": AdminName, "BillingToken": ac.BillingToken,
		"WebhookSecret": ac.WebhookSecret, "ClientID": sfemu.DefaultClientID, "ClientSecret": sfemu.DefaultClientSecret,
		"IntUser": sfemu.IntegrationUsername, "IntPass": sfemu.IntegrationPassword,
		"SalesUser": sfemu.SalesUsername, "SalesPass": sfemu.SalesPassword,
	}); err != nil {
		return err
	}
	return s.writeQuotesBanner(w)
}
