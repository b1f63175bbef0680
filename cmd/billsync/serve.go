package main

import (
	"github.com/spf13/cobra"
)

func newServeCmd(g *globals) *cobra.Command {
	var (
		configPath string
		flags      Config
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run billsync against a real (or emulated) Salesforce org and billing platform",
		Long: `Run billsync: receive billing webhooks, follow the Salesforce event stream,
and sync both ways. Configuration comes from --config (YAML), then BILLSYNC_*
environment variables, then these flags (flags win). billsync.example.yaml in
the source tree annotates every key with its default.

  config key                      environment variable                    flag
  addr                            BILLSYNC_ADDR                           --addr
  data                            BILLSYNC_DATA                           --data
  database                        BILLSYNC_DATABASE
  databasePasswordFile            BILLSYNC_DATABASE_PASSWORD_FILE (or BILLSYNC_DATABASE_PASSWORD)
  mapping                         BILLSYNC_MAPPING                        --mapping
  workers                         BILLSYNC_WORKERS                        --workers
  bulkWorkers                     BILLSYNC_BULK_WORKERS
  profiling                       BILLSYNC_PROFILING                      --profiling
  runLength                       BILLSYNC_RUN_LENGTH
  batchWait                       BILLSYNC_BATCH_WAIT
  apiBudgetShare
  claimLease                      BILLSYNC_CLAIM_LEASE
  subscriptionLease               BILLSYNC_SUBSCRIPTION_LEASE
  poll
  logRetention
  salesforce.loginUrl             BILLSYNC_SALESFORCE_LOGIN_URL           --salesforce-login-url
  salesforce.grant                BILLSYNC_SALESFORCE_GRANT
  salesforce.clientId             BILLSYNC_SALESFORCE_CLIENT_ID
  salesforce.clientSecret         BILLSYNC_SALESFORCE_CLIENT_SECRET
  salesforce.clientSecretFile     BILLSYNC_SALESFORCE_CLIENT_SECRET_FILE
  salesforce.username             BILLSYNC_SALESFORCE_USERNAME
  salesforce.password             BILLSYNC_SALESFORCE_PASSWORD
  salesforce.passwordFile         BILLSYNC_SALESFORCE_PASSWORD_FILE
  salesforce.privateKeyFile       BILLSYNC_SALESFORCE_PRIVATE_KEY_FILE
  salesforce.apiVersion           BILLSYNC_SALESFORCE_API_VERSION
  salesforce.stream               BILLSYNC_SALESFORCE_STREAM (pubsub | cometd)
  salesforce.changeSource         BILLSYNC_SALESFORCE_CHANGE_SOURCE (trigger | cdc)
  salesforce.pubsubAddr           BILLSYNC_SALESFORCE_PUBSUB_ADDR
  salesforce.pubsubInsecure       BILLSYNC_SALESFORCE_PUBSUB_INSECURE (emulator only)
  salesforce.bulkThreshold        BILLSYNC_SALESFORCE_BULK_THRESHOLD
  salesforce.bulkIngestThreshold  BILLSYNC_SALESFORCE_BULK_INGEST_THRESHOLD
  billing.platform                BILLSYNC_BILLING_PLATFORM
  billing.url                     BILLSYNC_BILLING_URL                    --billing-url
  billing.token                   BILLSYNC_BILLING_TOKEN
  billing.tokenFile               BILLSYNC_BILLING_TOKEN_FILE
  billing.webhookSecret           BILLSYNC_BILLING_WEBHOOK_SECRET
  billing.webhookSecretFile       BILLSYNC_BILLING_WEBHOOK_SECRET_FILE
  billing.recordUrl               BILLSYNC_BILLING_RECORD_URL
  billing.pollInterval            BILLSYNC_BILLING_POLL_INTERVAL
  billing.options
  billing.quotes.platform         BILLSYNC_BILLING_QUOTES_PLATFORM (monetizenow: the quote source beside billing.platform)
  billing.quotes.url              BILLSYNC_BILLING_QUOTES_URL
  billing.quotes.token            BILLSYNC_BILLING_QUOTES_TOKEN
  billing.quotes.tokenFile        BILLSYNC_BILLING_QUOTES_TOKEN_FILE
  billing.quotes.webhookSecret    BILLSYNC_BILLING_QUOTES_WEBHOOK_SECRET
  billing.quotes.webhookSecretFile BILLSYNC_BILLING_QUOTES_WEBHOOK_SECRET_FILE
  billing.quotes.accountLink      BILLSYNC_BILLING_QUOTES_ACCOUNT_LINK (salesforceId | code)
  billing.quotes.pollInterval     BILLSYNC_BILLING_QUOTES_POLL_INTERVAL
  billing.quotes.options
  alerts.webhookUrl               BILLSYNC_ALERTS_WEBHOOK_URL
  alerts.webhookUrlFile           BILLSYNC_ALERTS_WEBHOOK_URL_FILE
  alerts.interval                 BILLSYNC_ALERTS_INTERVAL
  alerts.streamDownFor            BILLSYNC_ALERTS_STREAM_DOWN_FOR
  alerts.pendingAge               BILLSYNC_ALERTS_PENDING_AGE
  alerts.deadLetterWindow         BILLSYNC_ALERTS_DEAD_LETTER_WINDOW
  alerts.budgetShare              BILLSYNC_ALERTS_BUDGET_SHARE
  adminTokens                     BILLSYNC_ADMIN_TOKENS (name=token,…)
  readTokens                      BILLSYNC_READ_TOKENS
  adminTokenFiles                 BILLSYNC_ADMIN_TOKEN_FILES (name=/path,…)
  readTokenFiles                  BILLSYNC_READ_TOKEN_FILES
  settings                        (seeds the run-time settings on the first start)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := LoadConfig(configPath)
			if err != nil {
				return err
			}
			overlayFlags(cmd, &cfg, flags)
			log := g.logger()
			app, err := StartApp(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			log.Info("billsync serving", "url", app.URL, "data", cfg.Data)
			select {
			case <-cmd.Context().Done():
			case err := <-app.Err():
				app.Close()
				return err
			}
			log.Info("shutting down")
			return app.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", envOr("BILLSYNC_CONFIG", ""), "YAML config file (env BILLSYNC_CONFIG)")
	f.StringVar(&flags.Addr, "addr", "", "listen address for webhooks, admin API, health and metrics (default 127.0.0.1:8080; env BILLSYNC_ADDR)")
	f.StringVar(&flags.Data, "data", "", "directory of the embedded store (default ./billsync-data; env BILLSYNC_DATA)")
	f.StringVar(&flags.Mapping, "mapping", "", "YAML mapping file (default: the built-in mapping; env BILLSYNC_MAPPING)")
	f.IntVar(&flags.Workers, "workers", 0, "partitions synced in parallel; their Salesforce writes share calls (default 1000; env BILLSYNC_WORKERS)")
	f.BoolVar(&flags.Profiling, "profiling", false, "serve Go's runtime profiles at /debug/pprof/ to admin tokens (env BILLSYNC_PROFILING)")
	f.BoolVar(&flags.Rebind, "rebind", false, "allow syncing with a Salesforce org or billing tenant other than the one the store is bound to")
	f.StringVar(&flags.Salesforce.LoginURL, "salesforce-login-url", "", "Salesforce login URL (default https://login.salesforce.com)")
	f.StringVar(&flags.Billing.URL, "billing-url", "", "billing platform base URL")
	return cmd
}

// overlayFlags applies the flags that were set on the command line.
func overlayFlags(cmd *cobra.Command, cfg *Config, f Config) {
	set := cmd.Flags().Changed
	if set("addr") {
		cfg.Addr = f.Addr
	}
	if set("data") {
		cfg.Data = f.Data
	}
	if set("mapping") {
		cfg.Mapping = f.Mapping
	}
	if set("workers") {
		cfg.Workers = f.Workers
	}
	if set("profiling") {
		cfg.Profiling = f.Profiling
	}
	if set("rebind") {
		cfg.Rebind = f.Rebind
	}
	if set("salesforce-login-url") {
		cfg.Salesforce.LoginURL = f.Salesforce.LoginURL
	}
	if set("billing-url") {
		cfg.Billing.URL = f.Billing.URL
	}
}
