package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/sandbox"
	"github.com/billsync/billsync/stripeapi"
)

func newStripeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stripe",
		Short: "Set up Stripe as the billing platform",
	}
	cmd.AddCommand(newStripeSetupCmd(g))
	return cmd
}

func newStripeSetupCmd(g *globals) *cobra.Command {
	var (
		configPath, endpoint, secretFile string
		timeout                          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Create (or check) billsync's webhook endpoint in Stripe and store its signing secret",
		Long: `Create billsync's webhook endpoint in Stripe through its API, with exactly the
events billsync needs and a pinned API version, or check and repair an
existing one. Stripe shows an endpoint's signing secret only when it creates
it: setup writes it to --secret-file (default: stripe-webhook-secret in the
data directory, which serve reads when billing.webhookSecret is empty). An
endpoint whose secret is not stored is replaced, since its secret cannot be
read again.

Uses billing.token (a secret or restricted key) and billing.url from the
configuration, read as by serve.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := LoadConfig(configPath)
			if err != nil {
				return err
			}
			if cfg.Billing.Platform != billsync.PlatformStripe {
				return fmt.Errorf("billing.platform is %q: set it to stripe (env BILLSYNC_BILLING_PLATFORM=stripe)", cfg.Billing.Platform)
			}
			if u, err := url.Parse(endpoint); err != nil || u.Scheme == "" || u.Host == "" {
				return fmt.Errorf("--url %q: want the public URL Stripe reaches billsync at, e.g. https://billsync.example.com/webhooks/stripe", endpoint)
			}
			if secretFile == "" {
				secretFile = stripeSecretPath(cfg.Data)
			}
			c, err := stripeapi.NewClient(billsync.BillingOptions{URL: cfg.Billing.URL, Token: cfg.Billing.Token, Options: cfg.Billing.Options})
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			stored := cfg.Billing.WebhookSecret
			if stored == "" {
				stored = readTrimmed(secretFile)
			}
			res, err := c.EnsureWebhookEndpoint(ctx, endpoint, stored)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(stripeEndpointPath(cfg.Data), []byte(endpoint+"\n"), 0o600); err != nil {
				return fmt.Errorf("storing the endpoint's URL for doctor: %w", err)
			}
			if res.Message != "" {
				fmt.Fprintln(g.out, res.Message)
			}
			if res.Secret == "" {
				fmt.Fprintf(g.out, "webhook endpoint %s is ready; its signing secret is the one already stored\n", res.ID)
				return nil
			}
			if err := os.MkdirAll(filepath.Dir(secretFile), 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(secretFile, []byte(res.Secret+"\n"), 0o600); err != nil {
				return fmt.Errorf("storing the signing secret: %w", err)
			}
			fmt.Fprintf(g.out, "webhook endpoint %s is ready; its signing secret is stored in %s\n", res.ID, secretFile)
			if cfg.Billing.WebhookSecret != "" {
				fmt.Fprintln(g.out, "billing.webhookSecret is set in the configuration and overrides that file: replace it with the new secret")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", envOr("BILLSYNC_CONFIG", ""), "YAML config file (env BILLSYNC_CONFIG)")
	f.StringVar(&endpoint, "url", "", "the public URL Stripe delivers webhooks to, ending in /webhooks/stripe (required)")
	f.StringVar(&secretFile, "secret-file", "", "where to store the endpoint's signing secret (default: stripe-webhook-secret in the data directory)")
	f.DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

// stripeSecretPath is where `stripe setup` stores the webhook signing
// secret by default, and where serve looks for it.
func stripeSecretPath(data string) string { return filepath.Join(data, "stripe-webhook-secret") }

// stripeEndpointPath keeps the URL setup registered, so that doctor can
// check that endpoint without being told it again.
func stripeEndpointPath(data string) string { return filepath.Join(data, "stripe-webhook-url") }

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// withStoredWebhookSecret fills billing.webhookSecret from what the
// platform's setup command stored (Stripe: the signing secret; m3ter: the
// token of the delivery URL) when the configuration leaves it empty.
func withStoredWebhookSecret(cfg *Config) {
	if cfg.Billing.WebhookSecret != "" {
		return
	}
	switch cfg.Billing.Platform {
	case billsync.PlatformStripe:
		cfg.Billing.WebhookSecret = readTrimmed(stripeSecretPath(cfg.Data))
	case billsync.PlatformM3ter:
		// The token in the delivery URL billsync m3ter setup registered.
		cfg.Billing.WebhookSecret = m3terHookToken(cfg.Data)
	}
}

func newEmulateStripeCmd(g *globals) *cobra.Command {
	var o sandbox.StripeOptions
	cmd := &cobra.Command{
		Use:   "stripe",
		Short: "Run the Stripe emulator (customers, balance transactions, products, prices, quotes, events, signed webhooks)",
		Long: `Run the Stripe emulator: Stripe's REST API for what billsync syncs (customers
and their balance transactions, products, prices, quotes with line items and
their finalize/accept/cancel, events, webhook endpoints), form-encoded
parameters, expand[], list pagination, idempotency keys and Stripe's error
shape, and webhook delivery signed with Stripe-Signature to the endpoints
created through its API. Checked in its tests against Stripe's own API
description and its official clients.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sandbox.ServeStripe(cmd.Context(), o, g.logger())
		},
	}
	cmd.Flags().StringVar(&o.Addr, "addr", "127.0.0.1:8082", "listen address")
	cmd.Flags().StringVar(&o.Data, "data", "", "directory to keep the emulator's state in (default: memory only)")
	cmd.Flags().StringVar(&o.Key, "key", sandbox.StripeKey, "secret key the API accepts")
	cmd.Flags().StringVar(&o.Faults, "faults", "", faultsHelp)
	return cmd
}
