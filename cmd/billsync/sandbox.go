package main

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

	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	billingemu "github.com/billsync/billsync/emulate/billing"
	"github.com/billsync/billsync/emulate/faults"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
)

// The sandbox's fixed credentials (documented in README; never use them
// outside the sandbox).
const (
	sandboxBillingToken = "sandbox-billing-token"
	sandboxAdminName    = "sandbox-admin"
	sandboxAdminToken   = "sandbox-admin-token"
	sandboxTenant       = "sandbox-tenant"
)

// sandboxWebhookSecret is "whsec_" + base64 of a fixed key.
var sandboxWebhookSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("billsync-sandbox-webhook-key-0001"))

// SandboxOptions says where the sandbox's three parties listen.
type SandboxOptions struct {
	Addr           string // billsync
	SalesforceAddr string
	BillingAddr    string
	Data           string // "" = a fresh temporary state
	Seed           bool   // create sample accounts, balances and transactions on a fresh start
	NoApp          bool   // start only the emulators (tests run billsync as a child process)
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
}

// Sandbox is the emulated Salesforce org, the emulated billing platform
// and billsync between them, all in one process.
type Sandbox struct {
	SF         *sfemu.Emulator
	Billing    *billingemu.Emulator
	App        *App
	SFURL      string
	BillingURL string
	// SFFaults and BillingFaults inject faults in front of the emulators.
	SFFaults, BillingFaults *faults.Injector
	Demo                    *sfemu.Demo
	AppAddr                 string // where billsync listens (or will, with NoApp)

	opts    SandboxOptions
	log     *slog.Logger
	servers []*http.Server
	cancel  context.CancelFunc
}

// StartSandbox starts the emulators, then billsync wired to them.
func StartSandbox(ctx context.Context, opts SandboxOptions, log *slog.Logger) (*Sandbox, error) {
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
	if s.SF, err = sfemu.New(sfemu.Options{DataDir: sub("salesforce"), Logger: log.With("party", "salesforce"), MultiCurrency: true}); err != nil {
		return fail(err)
	}
	s.SF.SetBaseURL(s.SFURL)
	sfHandler, inj, err := withFaults(s.SF.Handler(), opts.SalesforceFaults, faults.SalesforceFormat, sfHooks(s.SF))
	if err != nil {
		return fail(err)
	}
	s.SFFaults = inj
	s.serve(sfLn, sfHandler)
	if s.Demo, err = s.SF.SeedDemo(); err != nil {
		return fail(err)
	}

	if s.Billing, err = billingemu.New(billingemu.Options{
		Token: sandboxBillingToken, TenantID: sandboxTenant, WebhookSecret: sandboxWebhookSecret,
		WebhookURL: "http://" + appAddr + "/webhooks/billing", DataDir: sub("billing"), RetryBackoff: opts.WebhookRetry,
		Workers: 32, // deliveries in parallel across accounts, as a real platform's fan-out
		Logger:  log.With("party", "billing"),
	}); err != nil {
		return fail(err)
	}
	billHandler, inj, err := withFaults(s.Billing.Handler(), opts.BillingFaults, faults.BillingFormat, nil)
	if err != nil {
		return fail(err)
	}
	s.BillingFaults = inj
	s.serve(billLn, billHandler)
	s.Billing.Start(ctx)

	s.AppAddr = appAddr
	if !opts.NoApp {
		if err := s.StartApp(ctx, appAddr); err != nil {
			return fail(err)
		}
	}
	if opts.Seed {
		if err := s.seed(ctx); err != nil {
			return fail(fmt.Errorf("seeding: %w", err))
		}
	}
	return s, nil
}

// AppConfig is billsync's configuration against the sandbox's emulators.
func (s *Sandbox) AppConfig(addr string) Config {
	cfg := DefaultConfig()
	cfg.Addr = addr
	cfg.Data = filepath.Join(s.opts.Data, "billsync")
	if s.opts.Workers > 0 {
		cfg.Workers = s.opts.Workers
	}
	if s.opts.Poll > 0 {
		cfg.Poll = s.opts.Poll
	}
	if s.opts.BatchWait > 0 {
		cfg.BatchWait = s.opts.BatchWait
	}
	cfg.Salesforce = SalesforceConfig{LoginURL: s.SFURL, Grant: "password", ClientID: sfemu.DefaultClientID,
		ClientSecret: sfemu.DefaultClientSecret, Username: sfemu.IntegrationUsername, Password: sfemu.IntegrationPassword, APIVersion: "62.0"}
	cfg.Billing = BillingConfig{URL: s.BillingURL, Token: sandboxBillingToken, WebhookSecret: sandboxWebhookSecret}
	cfg.AdminTokens = map[string]string{sandboxAdminName: sandboxAdminToken}
	return cfg
}

// StartApp (re)starts billsync on addr against the running emulators.
func (s *Sandbox) StartApp(ctx context.Context, addr string) error {
	cfg := s.AppConfig(addr)
	app, err := StartApp(ctx, cfg, s.log.With("party", "billsync"))
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
	for _, srv := range s.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, srv.Shutdown(ctx))
		cancel()
	}
	if s.Billing != nil {
		errs = append(errs, s.Billing.Close())
	}
	if s.SF != nil {
		errs = append(errs, s.SF.Close())
	}
	return errors.Join(errs...)
}

// seed creates a few accounts with balances and transactions in billing,
// once: billsync syncs them to Salesforce like any other change.
func (s *Sandbox) seed(ctx context.Context) error {
	existing, _, err := billingapi.New(s.BillingURL, sandboxBillingToken, nil).List(ctx, billsync.ObjectAccount, "", 1)
	if err != nil || len(existing) > 0 {
		return err
	}
	accounts := []struct{ code, name, email string }{
		{"ACME", "Acme Corporation", "billing@acme.example"},
		{"GLOBEX", "Globex", "ap@globex.example"},
		{"INITECH", "Initech", "finance@initech.example"},
	}
	for i, a := range accounts {
		acc, err := s.Billing.Create(billsync.ObjectAccount, billsync.Entity{
			"code": a.code, "name": a.name, "emailAddress": a.email, "currency": "USD"})
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
	return s.seedQuotes(ctx, s.Demo)
}

var sandboxBanner = template.Must(template.New("banner").Parse(`
billsync sandbox is running. Press Ctrl-C to stop.

  billsync          {{.App}}   (webhooks: {{.App}}/webhooks/billing, admin API: {{.App}}/api/v1/)
  Salesforce (emu)  {{.SF}}
  billing (emu)     {{.Billing}}
  state             {{.Data}}

Credentials (sandbox only):
  billsync admin token         {{.AdminToken}}   (name: {{.AdminName}})
  billing API token            {{.BillingToken}}
  billing webhook secret       {{.WebhookSecret}}
  Salesforce connected app     client_id={{.ClientID}} client_secret={{.ClientSecret}}
  Salesforce integration user  {{.IntUser}} / {{.IntPass}}
  Salesforce sales user        {{.SalesUser}} / {{.SalesPass}}

Try it (see README.md for more):
  curl -s -H 'Authorization: Bearer {{.BillingToken}}' {{.Billing}}/api/v1/accounts
  curl -s -H 'Authorization: Bearer {{.AdminToken}}' '{{.App}}/api/v1/logs?limit=5'
`))

func printSandbox(w io.Writer, s *Sandbox) error {
	return sandboxBanner.Execute(w, map[string]string{
		"App": s.App.URL, "SF": s.SFURL, "Billing": s.BillingURL, "Data": s.opts.Data,
		"AdminToken": sandboxAdminToken, "AdminName": sandboxAdminName, "BillingToken": sandboxBillingToken,
		"WebhookSecret": sandboxWebhookSecret, "ClientID": sfemu.DefaultClientID, "ClientSecret": sfemu.DefaultClientSecret,
		"IntUser": sfemu.IntegrationUsername, "IntPass": sfemu.IntegrationPassword,
		"SalesUser": sfemu.SalesUsername, "SalesPass": sfemu.SalesPassword,
	})
}

func newSandboxCmd(g *globals) *cobra.Command {
	opts := SandboxOptions{Seed: true}
	var noSeed bool
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run billsync between an emulated Salesforce org and an emulated billing platform",
		Long: `Start the Salesforce emulator, the billing emulator and billsync wired to them,
seed a few accounts with balances and transactions, print the URLs and
credentials, and run until interrupted. State is kept under --data, so a
restart continues where it stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Seed = !noSeed
			log := g.logger()
			s, err := StartSandbox(cmd.Context(), opts, log)
			if err != nil {
				return err
			}
			if err := printSandbox(g.out, s); err != nil {
				s.Close()
				return err
			}
			select {
			case <-cmd.Context().Done():
			case err := <-s.App.Err():
				s.Close()
				return err
			}
			log.Info("shutting down")
			return s.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Addr, "addr", "127.0.0.1:8080", "billsync's listen address (webhooks, admin API, health, metrics)")
	f.StringVar(&opts.SalesforceAddr, "salesforce-addr", "127.0.0.1:8081", "the Salesforce emulator's listen address")
	f.StringVar(&opts.BillingAddr, "billing-addr", "127.0.0.1:8082", "the billing emulator's listen address")
	f.StringVar(&opts.Data, "data", "./billsync-sandbox", "directory for the state of all three parties")
	f.IntVar(&opts.Workers, "workers", 1000, "partitions billsync syncs in parallel")
	f.BoolVar(&noSeed, "no-seed", false, "do not create the sample accounts and quotes")
	f.StringVar(&opts.SalesforceFaults, "salesforce-faults", "", "faults for the Salesforce emulator; "+faultsHelp)
	f.StringVar(&opts.BillingFaults, "billing-faults", "", "faults for the billing emulator; "+faultsHelp)
	return cmd
}
