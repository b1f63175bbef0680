package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/config"
	"github.com/billsync/billsync/sandbox"
)

func newSandboxCmd(g *globals) *cobra.Command {
	opts := sandbox.Options{Seed: true, StartApp: startSandboxApp}
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
			opts.StartApp = sandboxPhases(g.out, opts.Billing, opts.Seed)
			fmt.Fprintf(g.out, "starting the Salesforce emulator at %s (state in %s)\n", opts.SalesforceAddr, opts.Data)
			fmt.Fprintf(g.out, "starting the %s billing emulator at %s\n", opts.Billing, opts.BillingAddr)
			if opts.Quotes != "" {
				fmt.Fprintf(g.out, "starting the %s quote source emulator at %s\n", opts.Quotes, opts.QuotesAddr)
			}
			s, err := sandbox.Start(cmd.Context(), opts, log)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "console at %s/console/ — log in with token %s\n", s.AppURL(), sandbox.AdminToken)
			if err := s.WriteBanner(g.out); err != nil {
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
	f.StringVar(&opts.Billing, "billing", "contract", "the billing platform to emulate: contract (billsync's own billing API), stripe, m3ter or monetizenow (quotes only)")
	f.StringVar(&opts.Quotes, "quotes", "", "a second platform to emulate as the quote source beside --billing m3ter or contract: monetizenow (billing.quotes.platform)")
	f.StringVar(&opts.QuotesAddr, "quotes-addr", "127.0.0.1:8083", "the quote source emulator's listen address (with --quotes)")
	f.StringVar(&opts.SalesforceFaults, "salesforce-faults", "", "faults for the Salesforce emulator; "+faultsHelp)
	f.StringVar(&opts.BillingFaults, "billing-faults", "", "faults for the billing emulator; "+faultsHelp)
	f.StringVar(&opts.Stream, "stream", "cometd", "how billsync hears Salesforce: cometd (the Streaming API) or pubsub (the gRPC Pub/Sub API, served by the emulator on a port of its own)")
	f.StringVar(&opts.ChangeSource, "change-source", "trigger", "what billsync listens to: trigger (the Apex trigger's platform event) or cdc (Change Data Capture, no Apex; over either --stream)")
	return cmd
}

// sandboxPhases starts billsync as startSandboxApp does, printing a line
// before and after each step the sandbox takes from there on: a first
// start (a fresh store, the demo seeded) takes long enough to look hung
// without them.
func sandboxPhases(out io.Writer, billing string, seed bool) sandbox.StartFunc {
	return func(ctx context.Context, ac sandbox.AppConfig, log *slog.Logger) (sandbox.App, error) {
		fmt.Fprintf(out, "Salesforce emulator up at %s, %s billing emulator up at %s\n", ac.SalesforceURL, billing, ac.BillingURL)
		fmt.Fprintf(out, "opening the store in %s and starting billsync\n", ac.Data)
		app, err := startSandboxApp(ctx, ac, log)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "billsync listening at http://%s\n", ac.Addr)
		if seed {
			fmt.Fprintln(out, "seeding the sample accounts and quotes (on a fresh start)")
		}
		return app, nil
	}
}

// startSandboxApp is the sandbox's (and the in-process bench's) way to
// start billsync: the App that serve runs, configured for the emulators.
func startSandboxApp(ctx context.Context, ac sandbox.AppConfig, log *slog.Logger) (sandbox.App, error) {
	app, err := StartApp(ctx, sandboxConfig(ac), log)
	if err != nil {
		return nil, err // not a nil *App in a non-nil interface
	}
	return app, nil
}

// sandboxConfig is billsync's configuration against a sandbox's emulators.
func sandboxConfig(ac sandbox.AppConfig) Config {
	cfg := DefaultConfig()
	cfg.Addr, cfg.Data = ac.Addr, ac.Data
	if ac.Workers > 0 {
		cfg.Workers = ac.Workers
	}
	if ac.Poll > 0 {
		cfg.Poll = ac.Poll
	}
	if ac.BatchWait > 0 {
		cfg.BatchWait = ac.BatchWait
	}
	cfg.Salesforce = SalesforceConfig{LoginURL: ac.SalesforceURL, Grant: ac.Grant, ClientID: ac.ClientID,
		ClientSecret: ac.ClientSecret, Username: ac.Username, Password: ac.Password, APIVersion: ac.APIVersion,
		Stream: ac.Stream, PubSubAddr: ac.PubSubAddr, PubSubInsecure: ac.PubSubAddr != "",
		ChangeSource: cmp.Or(ac.ChangeSource, config.ChangeSourceTrigger)}
	cfg.Salesforce.BulkIngestThreshold = ac.BulkIngestThreshold
	cfg.Billing.Platform = billsync.PlatformContract
	if ac.BillingPlatform != "" {
		cfg.Billing.Platform = ac.BillingPlatform
		// The emulator's webhooks and the drafts poll come quickly.
		cfg.Billing.PollInterval = 5 * time.Second
	}
	cfg.Billing.URL, cfg.Billing.Token, cfg.Billing.WebhookSecret = ac.BillingURL, ac.BillingToken, ac.WebhookSecret
	cfg.Billing.Options = ac.BillingOptions
	if q := ac.Quotes; q.Platform != "" {
		cfg.Billing.Quotes = config.QuotesConfig{Platform: q.Platform, URL: q.URL, Token: q.Token, WebhookSecret: q.WebhookSecret,
			AccountLink: q.AccountLink, PollInterval: 5 * time.Second}
	}
	if len(ac.Settings) > 0 {
		cfg.Settings = ac.Settings
	}
	cfg.AdminTokens = map[string]string{ac.AdminName: ac.AdminToken}
	return cfg
}
