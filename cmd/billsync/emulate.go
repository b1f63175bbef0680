package main

import (
	"github.com/spf13/cobra"

	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/sandbox"
)

func newEmulateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Run an emulator of the outside world (Salesforce org or billing platform)",
	}
	cmd.AddCommand(newEmulateSalesforceCmd(g), newEmulateBillingCmd(g), newEmulateStripeCmd(g), newEmulateM3terCmd(g), newEmulateMonetizeNowCmd(g))
	return cmd
}

func newEmulateSalesforceCmd(g *globals) *cobra.Command {
	var o sandbox.SalesforceOptions
	cmd := &cobra.Command{
		Use:   "salesforce",
		Short: "Run the Salesforce emulator (REST API, OAuth, SOQL, CometD streaming)",
		Long: `Run the Salesforce emulator: the REST API (OAuth password, client-credentials
and JWT grants; sObjects, upsert, sObject Collections, SOQL, describe) and the
CometD streaming API with replay, on the schema shipped in salesforce/.

Users: ` + sfemu.IntegrationUsername + ` / ` + sfemu.IntegrationPassword + ` (integration user)
       ` + sfemu.SalesUsername + ` / ` + sfemu.SalesPassword + ` (a sales user)
Connected app: client id ` + sfemu.DefaultClientID + `, secret ` + sfemu.DefaultClientSecret,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sandbox.ServeSalesforce(cmd.Context(), o, g.logger())
		},
	}
	cmd.Flags().StringVar(&o.Addr, "addr", "127.0.0.1:8081", "listen address")
	cmd.Flags().StringVar(&o.Data, "data", "", "directory to keep the org's state in (default: memory only)")
	cmd.Flags().StringVar(&o.BaseURL, "base-url", "", "URL clients reach the emulator at (default http://<addr>)")
	cmd.Flags().BoolVar(&o.Demo, "demo", false, "seed demo data: sales reps, accounts, products, the standard and an Enterprise price book")
	cmd.Flags().BoolVar(&o.MultiCurrency, "multi-currency", false, "emulate a multi-currency org (CurrencyIsoCode on every object; USD, EUR, GBP)")
	cmd.Flags().StringVar(&o.Faults, "faults", "", faultsHelp)
	return cmd
}

func newEmulateBillingCmd(g *globals) *cobra.Command {
	var o sandbox.BillingOptions
	cmd := &cobra.Command{
		Use:   "billing",
		Short: "Run the billing platform emulator (REST API and signed webhooks)",
		Long: `Run the billing emulator: the billing contract's REST API (accounts, balances,
balance transactions, quotes; optimistic locking by version) and Standard
Webhooks delivery to --webhook-url, retried with backoff.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sandbox.ServeBilling(cmd.Context(), o, g.logger())
		},
	}
	cmd.Flags().StringVar(&o.Addr, "addr", "127.0.0.1:8082", "listen address")
	cmd.Flags().StringVar(&o.Data, "data", "", "directory to keep the platform's state in (default: memory only)")
	cmd.Flags().StringVar(&o.WebhookURL, "webhook-url", "", "where to deliver webhooks, e.g. http://127.0.0.1:8080/webhooks/billing (default: none)")
	cmd.Flags().StringVar(&o.WebhookSecret, "webhook-secret", sandbox.WebhookSecret, "Standard Webhooks signing secret (whsec_…)")
	cmd.Flags().StringVar(&o.Token, "token", sandbox.BillingToken, "bearer token the REST API accepts")
	cmd.Flags().StringVar(&o.Tenant, "tenant", "sandbox-tenant", "tenant id the API reports")
	cmd.Flags().StringVar(&o.Faults, "faults", "", faultsHelp)
	return cmd
}

const faultsHelp = `a fault spec such as "lock:rate=0.02,status=400,code=UNABLE_TO_LOCK_ROW;slow:latency=50ms,jitter=20ms;drop:rate=0.01,drop";
change at run time with GET/PUT /_emulator/faults (see README, "Fault injection")`
